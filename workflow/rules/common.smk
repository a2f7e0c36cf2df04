# Configuration, names known before anything runs, and input functions.
import os
import re

import flycluster.checkpoints as layout
import flycluster.config as fc
from flycluster.config_schema import apply_schema
from flycluster.reproducible import PORTABLE_ENV

# The schema (flycluster/config.schema.yaml) is applied once, here: types, ranges and
# defaults of every key, every mistake reported with its key. Then the checks that span keys
# (cell type names, references between keys, the ensemble folder). Both run before any job.
config.update(apply_schema(config))
fc.check_config(config)

# The portable mode pins numba, numpy, OpenBLAS and the native kernel to generic x86-64 code
# in every job; jobs inherit this environment, and these libraries read it at import.
if config["portable"]:
    os.environ.update(PORTABLE_ENV)

ENSEMBLE = config["ensemble"]["name"]
KIND = config["ensemble"]["kind"]
LOSS_NAME = config["ensemble"]["loss_name"]
GENERATED_ENSEMBLE = KIND in ("synthetic", "planted")
TRAINED_ENSEMBLE = KIND == "trained"
# Generated and trained ensembles live under resources/; a flyvis ensemble stays where it is.
ENSEMBLE_DIR = (
    f"resources/ensembles/{ENSEMBLE}"
    if GENERATED_ENSEMBLE or TRAINED_ENSEMBLE
    else config["ensemble"]["path"]
)
# Where train jobs keep their checkpoints while training (resumed after an interruption):
# outside every declared output, so snakemake never deletes it (workflow/rules/train.smk).
TRAINING_DIR = f"resources/training/{ENSEMBLE}"

CONNECTOME = "resources/connectome/fib25-fib19_v2.2.json"

# Synthetic networks are named 000..N-1 from the config, a flyvis ensemble lists its
# folder: either way the whole DAG is known upfront, without checkpoints.
NETWORKS = fc.network_names(config)
CELL_TYPES = fc.selected_cell_types(config)
TUNING_CELL_TYPES = fc.tuning_cell_types(config)
STIMULUS_SETS = fc.stimulus_sets(config)
NATURALISTIC = config["analysis"]["naturalistic"]
MOVING_EDGES = config["analysis"]["moving_edges"]
USE_GPU = config["simulate"]["device"] == "cuda"


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    ensemble=re.escape(ENSEMBLE),
    stimulus_set=_alternatives(STIMULUS_SETS),
    network=_alternatives(NETWORKS),
    cell_type=_alternatives(CELL_TYPES),


def network_dir(wildcards):
    return f"{ENSEMBLE_DIR}/{wildcards.network}"


def network_checkpoint(wildcards):
    """The checkpoint a network is simulated with. As an input of simulate, a replaced or
    touched checkpoint re-simulates that network. A generated ensemble is written
    with one checkpoint; a trained one has best_chkpt, the copy of its best checkpoint that
    the train rule writes (its index is unknown before training); a flyvis network's best
    checkpoint is the argmin of its validation loss (flycluster.checkpoints.best_checkpoint).
    """
    if TRAINED_ENSEMBLE:
        return f"{network_dir(wildcards)}/{layout.BEST_CHECKPOINT}"
    if GENERATED_ENSEMBLE:
        return str(layout.checkpoint_path(network_dir(wildcards)))
    return str(layout.best_checkpoint(network_dir(wildcards), LOSS_NAME))


def network_loss_file(wildcards):
    """The validation loss file of a network: it picks the best checkpoint and gives the
    task error (flycluster.checkpoints.loss_file)."""
    return str(
        layout.loss_file(
            network_dir(wildcards),
            LOSS_NAME,
            must_exist=not (GENERATED_ENSEMBLE or TRAINED_ENSEMBLE),
        )
    )


def generated_network_files(kind):
    """The checkpoints, or the loss files, that synthetic_ensemble writes (one per network)."""
    folders = [f"{ENSEMBLE_DIR}/{network}" for network in NETWORKS]
    if kind == "checkpoints":
        return [str(layout.checkpoint_path(folder)) for folder in folders]
    return [str(layout.loss_file(folder, must_exist=False)) for folder in folders]


def response_files(stimulus_set):
    """The response files of every network for one stimulus set (an input function)."""

    def files(wildcards):
        return expand(
            "results/{ensemble}/responses/{stimulus_set}/{network}.nc",
            ensemble=ENSEMBLE,
            stimulus_set=stimulus_set,
            network=NETWORKS,
        )

    return files


def planted_groups_file():
    """Ground truth of a planted ensemble (empty list for other kinds)."""
    if KIND == "planted":
        return [f"results/{ENSEMBLE}/planted_groups.csv"]
    return []


def cell_type_outputs(cell_type):
    """Everything made for one cell type: its clustering file and figures."""
    figures = f"results/{ENSEMBLE}/figures/{cell_type}"
    names = ["embedding", "traces"]
    if cell_type in TUNING_CELL_TYPES:
        names.append("tuning")
    return [f"results/{ENSEMBLE}/clustering/{cell_type}.nc"] + [
        f"{figures}/{name}.{ext}" for name in names for ext in ("png", "pdf")
    ]


def final_outputs():
    """What `snakemake` with no target makes."""
    outputs = [
        f"results/{ENSEMBLE}/norms.nc",
        f"results/{ENSEMBLE}/summary.csv",
        f"results/{ENSEMBLE}/summary.png",
        f"results/{ENSEMBLE}/summary.pdf",
    ]
    for cell_type in CELL_TYPES:
        outputs += cell_type_outputs(cell_type)
    return outputs
