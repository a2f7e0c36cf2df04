"""Rule synthetic_ensemble: write a seeded synthetic (or planted) ensemble in flyvis format."""

import shutil
from pathlib import Path

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.connectome import load_connectome
    from flycluster.synthetic import write_planted_ensemble, write_synthetic_ensemble

    params = snakemake.params
    connectome = load_connectome(snakemake.input.connectome, extent=params.extent)
    options = dict(params.options)
    if params.kind == "planted":
        n_groups, cell_types = options.pop("n_groups"), options.pop("cell_types")
        table = write_planted_ensemble(params.dest, params.n_networks, n_groups, cell_types,
                                       connectome, random_state=params.random_state,
                                       overwrite=True, **options)
        shutil.copyfile(Path(params.dest) / "planted_groups.csv",
                        snakemake.output.planted_groups[0])
    else:
        table = write_synthetic_ensemble(params.dest, params.n_networks, connectome,
                                         random_state=params.random_state, overwrite=True,
                                         **options)
    log.info("%s ensemble in %s:\n%s", params.kind, params.dest, table.to_string())


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
