"""Rule cluster: UMAP embedding + Gaussian mixtures of one cell type's naturalistic responses,
and the stability of that clustering to the UMAP seed and to leaving networks out."""

from _job import start

log = start(snakemake)  # noqa: F821

from flycluster.clustering import cluster_cell_type, write_clustering  # noqa: E402
from flycluster.responses import read_cell_type  # noqa: E402
from flycluster.stability import add_stability, cluster_stability  # noqa: E402

cell_type = snakemake.wildcards.cell_type
params = snakemake.params
responses = read_cell_type(list(snakemake.input.responses), cell_type)
umap_kwargs, gmm_kwargs = dict(params.umap), dict(params.gmm)
ds = cluster_cell_type(responses, task_error=responses["task_error"].values,
                       umap_kwargs=umap_kwargs, gmm_kwargs=gmm_kwargs,
                       nonfinite=params.nonfinite, threads=snakemake.threads, cell_type=cell_type)
stability = dict(params.stability)
if stability.pop("enabled"):
    ds = add_stability(ds, cluster_stability(
        responses, ds, n_seed_repeats=stability["n_seed_repeats"],
        n_leave_out_repeats=stability["n_leave_out_repeats"],
        leave_out_fraction=stability["leave_out_fraction"],
        random_state=stability["random_state"], umap_kwargs=umap_kwargs, gmm_kwargs=gmm_kwargs,
        repeat_umap_kwargs=stability["repeat_umap"] or None,
        repeat_gmm_kwargs=stability["repeat_gmm"] or None,  # None: the library's (n_init 10)
        nonfinite=params.nonfinite, threads=snakemake.threads))
ds.attrs["stimulus_set"] = responses.attrs["stimulus_set"]
write_clustering(ds, snakemake.output[0])
log.info("%s: %d networks, %d masked, %d clusters, stability ARI %s", cell_type,
         ds.sizes["network"], int((~ds["mask"].values.astype(bool)).sum()),
         ds.attrs["n_clusters"], float(ds["stability_ari"]) if "stability_ari" in ds else "n/a")
