"""Rule stimulus_preview: frames of a stimulus set on the hexagonal lattice (PNG strip, GIF)."""

from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.plots.preview import write_stimulus_preview
    from flycluster.stimuli import read_stimulus

    p = dict(snakemake.params.preview)
    ds = read_stimulus(snakemake.input[0])
    paths = write_stimulus_preview(ds, Path(snakemake.output.png).with_suffix(""),
                                   n_frames=p["n_frames"], gif=p["gif"],
                                   gif_max_frames=p["gif_max_frames"], fps=p["fps"])
    log.info("preview of %s: %s", snakemake.wildcards.stimulus_set, ", ".join(map(str, paths)))


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
