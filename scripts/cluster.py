"""Rule cluster: UMAP embedding + Gaussian mixtures of one cell type's naturalistic responses."""

from _job import start

log = start(snakemake)  # noqa: F821

from flycluster.clustering import cluster_cell_type, write_clustering  # noqa: E402
from flycluster.responses import read_cell_type  # noqa: E402

cell_type = snakemake.wildcards.cell_type
params = snakemake.params
responses = read_cell_type(list(snakemake.input.responses), cell_type)
ds = cluster_cell_type(responses, task_error=responses["task_error"].values,
                       umap_kwargs=dict(params.umap), gmm_kwargs=dict(params.gmm),
                       nonfinite=params.nonfinite, threads=snakemake.threads, cell_type=cell_type)
ds.attrs["stimulus_set"] = responses.attrs["stimulus_set"]
write_clustering(ds, snakemake.output[0])
log.info("%s: %d networks, %d masked, %d clusters", cell_type, ds.sizes["network"],
         int((~ds["mask"].values).sum()), ds.attrs["n_clusters"])
