# Configuration, names known before anything runs, and input functions.
import os
import re

import flycluster.checkpoints as layout
import flycluster.config as fc
import flycluster.resources as fr
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
# Generated and trained ensembles live under resources/; a flyvis ensemble stays where it is,
# as does a shipped one (inside the installed package, flycluster/ensembles/).
ENSEMBLE_DIR = (
    f"resources/ensembles/{ENSEMBLE}"
    if GENERATED_ENSEMBLE or TRAINED_ENSEMBLE
    else fc.ensemble_folder(config)
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
FLASHES = config["analysis"]["flashes"]
PUBLISHED = config["ensemble"]["published_clusterings"]
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


def tuning_figures():
    """The figures rule tuning draws per tuning cell type (the FRI panel needs flashes)."""
    names = ["tuning", "tuning_ensemble", "edge_traces"]
    return names + ["fri"] if FLASHES else names


def cell_type_outputs(cell_type):
    """Everything made for one cell type: its clustering file and figures."""
    figures = f"results/{ENSEMBLE}/figures/{cell_type}"
    names = ["embedding", "traces"]
    if cell_type in TUNING_CELL_TYPES:
        names += tuning_figures()
    return [f"results/{ENSEMBLE}/clustering/{cell_type}.nc"] + [
        f"{figures}/{name}.{ext}" for name in names for ext in ("png", "pdf")
    ]


def user_file(wildcards):
    """The user's movie of a stimulus set of kind `file` (an input of rule stimulus_set)."""
    spec = config["stimuli"][wildcards.stimulus_set]
    return [spec["path"]] if spec["kind"] == "file" else []


def preview_outputs(stimulus_set):
    """The preview files of one stimulus set: PNG strip, and a GIF unless figures.preview.gif
    is false."""
    exts = ["png", "gif"] if config["figures"]["preview"]["gif"] else ["png"]
    return [f"results/stimuli/{stimulus_set}.{ext}" for ext in exts]


def ensemble_outputs():
    """Ensemble-level outputs of issue 12: FRI, DSI, their figure, the published side-by-side."""
    base = f"results/{ENSEMBLE}"
    outputs = []
    if FLASHES:
        outputs.append(f"{base}/fri.nc")
    if MOVING_EDGES:
        outputs.append(f"{base}/dsi.nc")
    if FLASHES and MOVING_EDGES:
        outputs += [f"{base}/figures/ensemble_fri_dsi.{ext}" for ext in ("png", "pdf")]
    if PUBLISHED:
        outputs.append(f"{base}/published.csv")
        outputs += [
            f"{base}/figures/{cell_type}/published.{ext}"
            for cell_type in CELL_TYPES
            for ext in ("png", "pdf")
        ]
    for stimulus_set in STIMULUS_SETS:
        outputs += preview_outputs(stimulus_set)
    return outputs


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
    return outputs + ensemble_outputs()


# What rule tuning reads and draws; the FRI panel only when a flash set is analysed.
TUNING_CAPTIONS = {
    "tuning": "direction tuning",
    "tuning_ensemble": "ensemble direction tuning",
    "edge_traces": "moving-edge traces",
    "fri": "flash response index",
}


def tuning_inputs():
    inputs = {
        "clustering": "results/{ensemble}/clustering/{cell_type}.nc",
        "responses": response_files(MOVING_EDGES),
    }
    if FLASHES:
        inputs.update(fri="results/{ensemble}/fri.nc", connectome=CONNECTOME)
    return inputs


def tuning_outputs():
    outputs = {}
    for name in tuning_figures():
        figure = f"results/{{ensemble}}/figures/{{cell_type}}/{name}"
        outputs[name] = report(
            f"{figure}.png",
            caption=f"../report/{name}.rst",
            category="Cell types",
            subcategory="{cell_type}",
            labels={"cell type": "{cell_type}", "figure": TUNING_CAPTIONS[name]},
        )
        outputs[f"{name}_pdf"] = f"{figure}.pdf"
    return outputs


# Memory (MB) and time (minutes) requests, per job, from the sizes of its inputs
# (flycluster.resources: coefficients measured at flow/0000 scale). A config value other than
# `auto` (simulate.mem_mb, cluster.runtime, ...) replaces the estimate of the first try. Every
# retry doubles both, so a job killed for memory (SLURM) is resubmitted with twice as much.
def job_resources(estimate, section=None):
    """`mem_mb` and `runtime` callables for a rule; `estimate(wildcards, input, threads)`
    gives the first try's flycluster.resources.Request."""

    def resource(key):
        def value(wildcards, input, threads, attempt):
            fixed = config[section][key] if section else "auto"
            first = (
                getattr(estimate(wildcards, input, threads), key)
                if fixed == "auto"
                else fixed
            )
            return fr.for_attempt(first, attempt)

        return value

    return {"mem_mb": resource("mem_mb"), "runtime": resource("runtime")}


def simulate_estimate(wildcards, input, threads):
    return fr.simulate_request(
        input.stimulus, device="cuda" if USE_GPU else "cpu", threads=threads
    )


def cluster_estimate(wildcards, input, threads):
    stability = config["stability"]
    repeats = (
        stability["n_seed_repeats"] + stability["n_leave_out_repeats"]
        if stability["enabled"]
        else 0
    )
    return fr.cluster_request(input.responses, n_repeats=repeats)


def responses_estimate(wildcards, input, threads):
    files = input.responses if hasattr(input, "responses") else list(input)
    return fr.responses_request(files)


def stimulus_estimate(wildcards, input, threads):
    return fr.stimulus_set_request(
        config["stimuli"][wildcards.stimulus_set], extent=config["connectome"]["extent"]
    )
