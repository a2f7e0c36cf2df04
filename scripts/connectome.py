"""Rule connectome: the flyvis connectome json (sha256-checked) or the one given in config."""

from _job import start

log = start(snakemake)  # noqa: F821 (snakemake is injected by the script directive)

from flycluster.connectome import copy_connectome  # noqa: E402
from pathlib import Path  # noqa: E402

dest = copy_connectome(Path(snakemake.output[0]).parent, path=snakemake.params.source)
log.info("connectome written to %s", dest)
