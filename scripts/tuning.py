"""Rule tuning: the moving-edge and flash figures of one cell type (PNG + PDF each): polar
direction tuning per cluster, of the whole ensemble beside each cluster, the responses to
figures.edge_trace per cluster, and (with a flash set) the FRI of the type and its inputs per
cluster."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.formats.clustering import read_clustering
    from flycluster.formats.responses import read_cell_type
    from flycluster.plots import plot_cluster_tuning, save_figure
    from flycluster.plots.edge_traces import plot_edge_traces, plot_ensemble_tuning

    cell_type = snakemake.wildcards.cell_type
    out, dpi = snakemake.output, snakemake.params.dpi
    clustering = read_clustering(snakemake.input.clustering)
    responses = read_cell_type(list(snakemake.input.responses), cell_type)
    save_figure(plot_cluster_tuning(responses, clustering, cell_type=cell_type),
                Path(out.tuning).with_suffix(""), dpi=dpi)
    save_figure(plot_ensemble_tuning(responses, clustering, cell_type=cell_type),
                Path(out.tuning_ensemble).with_suffix(""), dpi=dpi)
    edge = dict(snakemake.params.edge_trace)
    save_figure(plot_edge_traces(responses, clustering, cell_type=cell_type, **edge),
                Path(out.edge_traces).with_suffix(""), dpi=dpi)
    if "fri" in out.keys():
        from flycluster.connectome import load_connectome
        from flycluster.ensemble_indices import read_index
        from flycluster.plots.fri import input_cell_types, plot_cluster_fri

        connectome = load_connectome(snakemake.input.connectome,
                                     extent=snakemake.params.extent)
        inputs = input_cell_types(connectome.edge_type_names(), cell_type)
        fri = read_index(snakemake.input.fri, "fri")
        save_figure(plot_cluster_fri(fri, clustering, cell_type=cell_type, input_types=inputs),
                    Path(out.fri).with_suffix(""), dpi=dpi)
    log.info("%s: tuning, ensemble tuning, edge trace%s figures written", cell_type,
             " and FRI" if "fri" in out.keys() else "")


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
