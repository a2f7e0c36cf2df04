"""Rule published: our clusterings against flyvis's published ones (ensemble.published_clusterings):
the comparison table (joined into summary.csv by rule summary) and both embeddings per cell type."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    import matplotlib.pyplot as plt

    from flycluster.formats.clustering import read_clustering
    from flycluster.plots import save_figure
    from flycluster.plots.published import plot_published_side_by_side
    from flycluster.published import published_comparison_table, read_flyvis_clustering

    p = snakemake.params
    folder = Path(p.folder)
    ours = {ct: read_clustering(path)
            for ct, path in zip(p.cell_types, snakemake.input.clustering)}
    table = published_comparison_table(ours, folder)
    tmp = Path(snakemake.output.table + ".tmp")
    table.to_csv(tmp)
    tmp.replace(snakemake.output.table)
    for ct, png in zip(p.cell_types, snakemake.output.figures):
        pickle = folder / f"{ct}.pickle"
        if pickle.is_file():
            fig = plot_published_side_by_side(ours[ct], read_flyvis_clustering(pickle, cell_type=ct),
                                              cell_type=ct)
        else:  # no published clustering of this type: say so in the figure
            fig, ax = plt.subplots(figsize=(4, 1.5))
            ax.axis("off")
            ax.text(0.5, 0.5, f"{ct}: no published clustering\n({pickle} not found)",
                    ha="center", va="center", fontsize=8)
        save_figure(fig, Path(png).with_suffix(""), dpi=p.dpi)
    log.info("published comparison:\n%s", table.to_string())


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
