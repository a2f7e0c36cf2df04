"""Rule connectome: the flyvis connectome json (sha256-checked) or the one given in config."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.connectome import copy_connectome

    dest = copy_connectome(Path(snakemake.output[0]).parent, path=snakemake.params.source)
    log.info("connectome written to %s", dest)


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
