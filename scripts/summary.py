"""Rule summary: table and figure across cell types."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.formats.summary import write_summary
    from flycluster.plots import plot_summary, save_figure
    from flycluster.summary import summary_table

    planted = snakemake.input.planted_groups[0] if snakemake.input.planted_groups else None
    table = summary_table(list(snakemake.input.clustering), planted,
                          planted_cell_types=snakemake.params.planted_cell_types)
    if snakemake.input.published:  # flyvis's published clusterings (rule published)
        import pandas as pd

        published = pd.read_csv(snakemake.input.published[0])
        columns = ["published_k", "our_k", "ari", "n_compared", "same_k_range"]
        table = table.merge(published[["cell_type", *columns]], on="cell_type", how="left")
    write_summary(table, snakemake.output.table)
    save_figure(plot_summary(table, title=f"ensemble {snakemake.wildcards.ensemble}"),
                Path(snakemake.output.figure).with_suffix(""), dpi=snakemake.params.dpi)
    log.info("summary of %d cell types:\n%s", len(table), table.to_string())


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
