"""Rule summary: table and figure across cell types."""

from _job import start

log = start(snakemake)  # noqa: F821

from flycluster.summary import save_figure, summary_figure, summary_table, write_summary  # noqa: E402

planted = snakemake.input.planted_groups[0] if snakemake.input.planted_groups else None
table = summary_table(list(snakemake.input.clustering), planted,
                      planted_cell_types=snakemake.params.planted_cell_types)
write_summary(table, snakemake.output.table)
save_figure(summary_figure(table), snakemake.output.figure, snakemake.output.figure_pdf,
            dpi=snakemake.params.dpi)
log.info("summary of %d cell types", len(table))
