"""Rule cluster: UMAP embedding + Gaussian mixtures of one cell type's naturalistic responses,
the stability of that clustering to the UMAP seed and to leaving networks out, then the cell
type's embedding and trace figures (PNG + PDF), drawn from the written clustering file."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.clustering import (
        add_stability,
        cluster_cell_type,
        cluster_stability,
        small_cluster_warning,
    )
    from flycluster.formats.clustering import read_clustering, write_clustering
    from flycluster.formats.norms import read_norms
    from flycluster.formats.responses import read_cell_type
    from flycluster.plots import plot_cluster_traces, plot_embedding, save_figure

    cell_type = snakemake.wildcards.cell_type
    params = snakemake.params
    out = snakemake.output
    responses = read_cell_type(list(snakemake.input.responses), cell_type)
    umap_kwargs, gmm_kwargs = dict(params.umap), dict(params.gmm)
    ds = cluster_cell_type(responses, task_error=responses["task_error"].values,
                           umap_kwargs=umap_kwargs, gmm_kwargs=gmm_kwargs,
                           nonfinite=params.nonfinite, threads=snakemake.threads,
                           cell_type=cell_type)
    stability = dict(params.stability)
    if stability["enabled"]:
        ds = add_stability(ds, cluster_stability(
            responses, ds, n_seed_repeats=stability["n_seed_repeats"],
            n_leave_out_repeats=stability["n_leave_out_repeats"],
            leave_out_fraction=stability["leave_out_fraction"],
            random_state=stability["random_state"], umap_kwargs=umap_kwargs,
            gmm_kwargs=gmm_kwargs, repeat_umap_kwargs=dict(stability["repeat_umap"]),
            repeat_gmm_kwargs=dict(stability["repeat_gmm"]),
            nonfinite=params.nonfinite, threads=snakemake.threads))
    ds.attrs["stimulus_set"] = responses.attrs["stimulus_set"]
    write_clustering(ds, out.clustering)
    log.info("%s: %d networks, %d masked, %d clusters, stability ARI %s", cell_type,
             ds.sizes["network"], int((~ds["clustered"].values.astype(bool)).sum()),
             ds.attrs["n_clusters"],
             float(ds["stability_ari"]) if "stability_ari" in ds else "n/a")
    warning = small_cluster_warning(ds)
    if warning:
        log.warning("%s", warning)

    # figures: from the file as written (what the embedding shows is what is stored)
    clustering = read_clustering(out.clustering)
    save_figure(plot_embedding(clustering), Path(out.embedding).with_suffix(""), dpi=params.dpi)
    norm = read_norms(snakemake.input.norms).sel(cell_type=cell_type).reset_coords(drop=True)
    sample = min(params.trace_sample, responses.sizes["sample"] - 1)
    save_figure(plot_cluster_traces(responses, clustering, samples=(sample,), norm=norm),
                Path(out.traces).with_suffix(""), dpi=params.dpi)
    log.info("%s: figures written", cell_type)


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
