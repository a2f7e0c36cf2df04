"""Rule figures: embedding and cluster traces of one cell type."""

from _job import start

log = start(snakemake)  # noqa: F821

from flycluster import plots  # noqa: E402

raise NotImplementedError("waiting for flycluster.plots")
