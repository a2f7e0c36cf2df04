# Configuration checks, names known before anything runs, and input functions.
import re
from pathlib import Path

from snakemake.utils import validate

import flycluster.config as fc


SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

# Our checks first: their messages name the key and what was expected (and cover what a
# schema cannot: cell type names, references between keys, the ensemble folder). Then
# snakemake's own validation, which also fills in the schema defaults.
config.update(fc.check_config(config, schema_path=SCHEMA))
validate(config, schema=str(SCHEMA))

ENSEMBLE = config["ensemble"]["name"]
KIND = config["ensemble"]["kind"]
LOSS_NAME = config["ensemble"]["loss_name"]
GENERATED_ENSEMBLE = KIND in ("synthetic", "planted")
# Generated ensembles live under resources/; a flyvis ensemble stays where it is.
ENSEMBLE_DIR = (
    f"resources/ensembles/{ENSEMBLE}" if GENERATED_ENSEMBLE else config["ensemble"]["path"]
)
CONNECTOME = "resources/connectome/fib25-fib19_v2.2.json"

# Synthetic networks are named 000..N-1 from the config, a flyvis ensemble lists its
# folder: either way the whole DAG is known upfront, without checkpoints.
NETWORKS = fc.network_names(config)
CELL_TYPES = fc.selected_cell_types(config)
TUNING_CELL_TYPES = fc.tuning_cell_types(config)
STIMULUS_SETS = list(config["stimuli"])
NATURALISTIC = config["analysis"]["naturalistic"]
MOVING_EDGES = config["analysis"]["moving_edges"]
USE_GPU = config["simulate"]["device"] == "cuda"

# One GPU job at a time on a local machine unless --resources gpu=N says otherwise (the same
# cap as workflow/profiles/default, found through the link profiles/default, for runs that
# name another profile or none). Cluster executors are not capped.
if USE_GPU and workflow.local_exec and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", 1)


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    ensemble=re.escape(ENSEMBLE),
    stimulus_set=_alternatives(STIMULUS_SETS),
    network=_alternatives(NETWORKS),
    cell_type=_alternatives(CELL_TYPES),


def network_loss_file(wildcards):
    """The validation loss file of one network: it picks the best checkpoint.

    Generated ensembles write validation/loss.h5; a flyvis network folder may hold
    validation/<loss_name>.h5 (flycluster.checkpoints falls back to loss.h5 too).
    """
    folder = f"{ENSEMBLE_DIR}/{wildcards.network}"
    if GENERATED_ENSEMBLE:
        return f"{folder}/validation/loss.h5"
    return str(fc.validation_loss_file(folder, LOSS_NAME))


def network_dir(wildcards):
    return f"{ENSEMBLE_DIR}/{wildcards.network}"


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
