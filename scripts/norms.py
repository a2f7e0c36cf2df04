"""Rule norms: response norm per (network, cell type) from the naturalistic responses."""

from _job import start

log = start(snakemake)  # noqa: F821

from flycluster.formats.norms import write_norms  # noqa: E402
from flycluster.responses import response_norms  # noqa: E402

norms = response_norms(list(snakemake.input))
write_norms(norms, snakemake.output[0])
log.info("norms of %d networks x %d cell types", *norms.shape)
