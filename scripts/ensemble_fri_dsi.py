"""Rule ensemble_fri_dsi: FRI and DSI of every cell type across the ensemble (PNG + PDF)."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.ensemble_indices import read_index
    from flycluster.plots import save_figure
    from flycluster.plots.fri import plot_ensemble_fri_dsi

    fri = read_index(snakemake.input.fri, "fri")
    dsi = read_index(snakemake.input.dsi, "dsi")
    save_figure(plot_ensemble_fri_dsi(fri, dsi), Path(snakemake.output.figure).with_suffix(""),
                dpi=snakemake.params.dpi)
    log.info("FRI/DSI figure of %d cell types written", fri.sizes["cell_type"])


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
