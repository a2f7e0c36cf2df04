"""Rule cluster: UMAP embedding + Gaussian mixtures of one cell type's naturalistic responses."""

from _job import start

log = start(snakemake)  # noqa: F821

from flycluster.clustering import cluster_cell_type, write_clustering  # noqa: E402
from flycluster.responses import read_cell_type  # noqa: E402

cell_type = snakemake.wildcards.cell_type
responses = read_cell_type(list(snakemake.input.responses), cell_type)
features = responses.values.reshape(responses.sizes["network"], -1)
ds = cluster_cell_type(features, task_error=responses["task_error"].values,
                       umap_kwargs=dict(snakemake.params.umap), gmm_kwargs=dict(snakemake.params.gmm))
ds = ds.assign_coords(network=responses["network"].values)
ds.attrs.update(cell_type=cell_type, stimulus_set=responses.attrs["stimulus_set"])
write_clustering(ds, snakemake.output[0])
log.info("%s: %d clusters", cell_type, ds.attrs.get("n_clusters", -1))
