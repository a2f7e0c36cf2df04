"""Rule tuning: polar direction tuning per cluster from the moving edges (PNG + PDF)."""

from _job import start

log = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

from flycluster.formats.clustering import read_clustering  # noqa: E402
from flycluster.formats.responses import read_cell_type  # noqa: E402
from flycluster.plots import plot_cluster_tuning, save_figure  # noqa: E402

cell_type = snakemake.wildcards.cell_type
clustering = read_clustering(snakemake.input.clustering)
responses = read_cell_type(list(snakemake.input.responses), cell_type)
save_figure(plot_cluster_tuning(responses, clustering, cell_type=cell_type),
            Path(snakemake.output.tuning).with_suffix(""), dpi=snakemake.params.dpi)
log.info("%s: tuning figure written", cell_type)
