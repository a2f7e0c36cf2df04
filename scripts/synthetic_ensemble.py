"""Rule synthetic_ensemble: write a seeded synthetic (or planted) ensemble in flyvis format."""

from _job import start

log = start(snakemake)  # noqa: F821

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from flycluster.connectome import load_connectome  # noqa: E402
from flycluster.synthetic import write_planted_ensemble, write_synthetic_ensemble  # noqa: E402

params = snakemake.params
connectome = load_connectome(snakemake.input.connectome, extent=params.extent)
if params.kind == "planted":
    planted = dict(params.planted)
    dest = write_planted_ensemble(params.dest, params.n_networks, planted.pop("n_groups"),
                                  planted.pop("cell_types"), connectome,
                                  random_state=params.random_state, **planted)
    shutil.copyfile(Path(params.dest) / "planted_groups.csv", snakemake.output.planted_groups[0])
else:
    write_synthetic_ensemble(params.dest, params.n_networks, connectome,
                             random_state=params.random_state, **dict(params.options))
log.info("%s ensemble of %d networks in %s", params.kind, params.n_networks, params.dest)
