"""Rule tuning: polar direction tuning per cluster from the moving edges (PNG + PDF)."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.formats.clustering import read_clustering
    from flycluster.formats.responses import read_cell_type
    from flycluster.plots import plot_cluster_tuning, save_figure

    cell_type = snakemake.wildcards.cell_type
    clustering = read_clustering(snakemake.input.clustering)
    responses = read_cell_type(list(snakemake.input.responses), cell_type)
    save_figure(plot_cluster_tuning(responses, clustering, cell_type=cell_type),
                Path(snakemake.output.tuning).with_suffix(""), dpi=snakemake.params.dpi)
    log.info("%s: tuning figure written", cell_type)


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
