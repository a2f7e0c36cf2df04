"""Rule stimulus_set: build one stimulus set from its config spec and write its file."""

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.stimuli import build_stimulus_set, write_stimulus

    name = snakemake.wildcards.stimulus_set
    ds = build_stimulus_set(name, dict(snakemake.params.spec),
                            random_state=snakemake.params.random_state)
    write_stimulus(ds, snakemake.output[0])
    log.info("stimulus set %s: %s", name, dict(ds.sizes))


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
