"""Rule dsi: direction selectivity index of every cell type, network and edge intensity
(results/{ensemble}/dsi.nc)."""

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.ensemble_indices import ensemble_dsi, write_index

    dsi = ensemble_dsi(list(snakemake.input))
    write_index(dsi, snakemake.output[0])
    log.info("DSI of %d cell types x %d networks x %d intensities", dsi.sizes["cell_type"],
             dsi.sizes["network"], dsi.sizes["intensity"])


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
