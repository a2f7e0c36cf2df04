"""Rule synthetic_ensemble: write a seeded synthetic (or planted) ensemble in flyvis format."""

from _job import start

log = start(snakemake)  # noqa: F821

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from flycluster.connectome import load_connectome  # noqa: E402
from flycluster.synthetic import write_planted_ensemble, write_synthetic_ensemble  # noqa: E402

params = snakemake.params
connectome = load_connectome(snakemake.input.connectome, extent=params.extent)
options = dict(params.options)
if params.kind == "planted":
    planted = dict(params.planted)
    n_groups, cell_types = planted.pop("n_groups"), planted.pop("cell_types")
    table = write_planted_ensemble(params.dest, params.n_networks, n_groups, cell_types,
                                   connectome, random_state=params.random_state, overwrite=True,
                                   **planted, **options)
    shutil.copyfile(Path(params.dest) / "planted_groups.csv", snakemake.output.planted_groups[0])
else:
    table = write_synthetic_ensemble(params.dest, params.n_networks, connectome,
                                     random_state=params.random_state, overwrite=True, **options)
log.info("%s ensemble in %s:\n%s", params.kind, params.dest, table.to_string())
