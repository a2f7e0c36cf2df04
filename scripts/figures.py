"""Rule figures: embedding and cluster traces of one cell type (PNG + PDF)."""

from _job import start

log = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

from flycluster.clustering import read_clustering  # noqa: E402
from flycluster.plots import plot_cluster_traces, plot_embedding, save_figure  # noqa: E402
from flycluster.responses import read_cell_type, read_norms  # noqa: E402

cell_type = snakemake.wildcards.cell_type
out = snakemake.output
dpi = snakemake.params.dpi
clustering = read_clustering(snakemake.input.clustering)
save_figure(plot_embedding(clustering), Path(out.embedding).with_suffix(""), dpi=dpi)

responses = read_cell_type(list(snakemake.input.responses), cell_type)
norm = read_norms(snakemake.input.norms).sel(cell_type=cell_type).reset_coords(drop=True)
sample = min(snakemake.params.trace_sample, responses.sizes["sample"] - 1)
save_figure(plot_cluster_traces(responses, clustering, samples=(sample,), norm=norm),
            Path(out.traces).with_suffix(""), dpi=dpi)
log.info("%s: figures written", cell_type)
