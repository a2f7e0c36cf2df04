"""Rule norms: response norm per (network, cell type) from the naturalistic responses."""

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.formats.norms import write_norms
    from flycluster.responses import response_norms

    norms = response_norms(list(snakemake.input))
    write_norms(norms, snakemake.output[0])
    log.info("norms of %d networks x %d cell types", *norms.shape)


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
