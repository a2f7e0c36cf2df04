"""Workflow configuration: load, fill defaults, validate with messages that name the bad key.

The JSON schema lives in ``workflow/schemas/config.schema.yaml`` (types, ranges, defaults);
:func:`check_config` adds the checks a schema cannot express (cell type names, references
between keys, the ensemble directory). Both the Snakefile and the tests use these helpers;
nothing here imports torch, umap or xarray, so parsing the workflow stays fast.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path

import yaml

from flycluster.errors import ConfigError

#: The 65 cell types of the flyvis connectome (fib25-fib19_v2.2.json), in connectome order.
CELL_TYPES = (
    "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8",
    "L1", "L2", "L3", "L4", "L5", "Lawf1", "Lawf2", "Am", "C2", "C3",
    "CT1(Lo1)", "CT1(M10)",
    "Mi1", "Mi2", "Mi3", "Mi4", "Mi9", "Mi10", "Mi11", "Mi12", "Mi13", "Mi14", "Mi15",
    "T1", "T2", "T2a", "T3", "T4a", "T4b", "T4c", "T4d", "T5a", "T5b", "T5c", "T5d",
    "Tm1", "Tm2", "Tm3", "Tm4", "Tm5Y", "Tm5a", "Tm5b", "Tm5c", "Tm9", "Tm16", "Tm20",
    "Tm28", "Tm30", "TmY3", "TmY4", "TmY5a", "TmY9", "TmY10", "TmY13", "TmY14", "TmY15",
    "TmY18",
)

#: Names usable as file names and snakemake wildcards (stimulus sets, ensembles, networks).
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def default_schema_path() -> Path:
    """The schema of a source checkout (``<repo>/workflow/schemas/config.schema.yaml``)."""
    return Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_config(path, schema_path=None) -> dict:
    """Read a YAML config file and return it checked, with defaults filled in.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    flycluster.errors.ConfigError
        If a value has the wrong type or range; the message names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path) as fh:
        try:
            config = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    try:
        return check_config(config or {}, schema_path=schema_path)
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err}") from err


def _key(path_parts) -> str:
    return ".".join(str(p) for p in path_parts) or "<top level>"


def _validator_with_defaults(schema):
    """A jsonschema validator class that fills ``default`` values (deep copies) while validating."""
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, subschema):
        if validator.is_type(instance, "object"):
            for name, prop in properties.items():
                if "default" in prop and name not in instance:
                    instance[name] = copy.deepcopy(prop["default"])
        yield from validate_properties(validator, properties, instance, subschema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def validate_schema(config: dict, schema_path=None) -> dict:
    """Validate ``config`` against the JSON schema; return a copy with defaults filled in.

    The error names the key (dotted path, e.g. ``umap.n_neighbors``) and what was expected.
    """
    schema_path = Path(schema_path) if schema_path is not None else default_schema_path()
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    if not isinstance(config, dict):
        raise ConfigError(f"the config must be a mapping of keys to values, got {type(config).__name__}")
    config = copy.deepcopy(config)
    validator = _validator_with_defaults(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors:
            where = _key(err.absolute_path)
            if err.validator == "additionalProperties":
                lines.append(f"config key {where}: {err.message} (allowed keys: "
                             f"{', '.join(sorted(err.schema.get('properties', {})))})")
            elif err.validator == "oneOf":
                lines.append(f"config key {where}: {err.instance!r} is not valid: expected "
                             + " or ".join(_describe(s) for s in err.schema["oneOf"]))
            else:
                lines.append(f"config key {where}: {err.message}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return config


def _describe(subschema) -> str:
    if "enum" in subschema:
        return " or ".join(repr(v) for v in subschema["enum"])
    if subschema.get("type") == "array":
        return f"a list of {subschema.get('items', {}).get('type', 'values')}s"
    return str(subschema.get("type", "a value"))


def _check_names(names, key, known=CELL_TYPES):
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=3)
            hints.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ConfigError(f"config key {key}: unknown cell type(s) {', '.join(hints)}; "
                          f"known cell types: {', '.join(known)}")


def check_config(config: dict, schema_path=None, known_cell_types=CELL_TYPES) -> dict:
    """Schema validation plus cross-key checks; returns the completed config.

    Checks beyond the schema: cell type names (``cell_types``,
    ``figures.tuning_cell_types``, ``ensemble.planted.cell_types``), that ``analysis``
    names stimulus sets present under ``stimuli``, names usable as file names, the
    ensemble path for ``ensemble.kind: flyvis``, and that the ensemble has at least
    ``umap.n_neighbors + 2`` networks (UMAP's minimum).
    """
    config = validate_schema(config, schema_path)

    if config["cell_types"] != "all":
        _check_names(config["cell_types"], "cell_types", known_cell_types)
    if config["figures"]["tuning_cell_types"] != "all":
        _check_names(config["figures"]["tuning_cell_types"], "figures.tuning_cell_types",
                     known_cell_types)

    for name in config["stimuli"]:
        if not _NAME.match(name):
            raise ConfigError(f"config key stimuli.{name}: stimulus set names may hold only "
                              "letters, digits, '_', '-' and '.'")
    _check_stimulus_specs(config)
    for key in ("naturalistic", "moving_edges"):
        name = config["analysis"][key]
        if name is not None and name not in config["stimuli"]:
            raise ConfigError(f"config key analysis.{key}: stimulus set {name!r} is not defined "
                              f"under stimuli (defined: {', '.join(config['stimuli'])})")

    ensemble = config["ensemble"]
    n_neighbors = config["umap"]["n_neighbors"]
    if ensemble["kind"] == "flyvis":
        if not ensemble["path"]:
            raise ConfigError("config key ensemble.path: required when ensemble.kind is "
                              "'flyvis' (a flyvis ensemble directory, e.g. .../results/flow/0000)")
        n_networks = len(list_network_names(ensemble["path"], ensemble["loss_name"]))
        where = f"ensemble.path ({ensemble['path']})"
    else:
        n_networks = ensemble["n_networks"]
        where = "ensemble.n_networks"
        if ensemble["kind"] == "planted":
            _check_names(ensemble["planted"]["cell_types"], "ensemble.planted.cell_types",
                         known_cell_types)
            if ensemble["planted"]["n_groups"] > n_networks:
                raise ConfigError(f"config key ensemble.planted.n_groups: "
                                  f"{ensemble['planted']['n_groups']} groups need at least as "
                                  f"many networks (ensemble.n_networks = {n_networks})")
    if n_networks < n_neighbors + 2:
        raise ConfigError(f"config key {where}: {n_networks} networks, but UMAP with "
                          f"umap.n_neighbors = {n_neighbors} needs at least {n_neighbors + 2}")
    if config["umap"]["n_components"] > n_networks - 2:
        raise ConfigError(f"config key umap.n_components: {config['umap']['n_components']} "
                          f"components need at least {config['umap']['n_components'] + 2} "
                          f"networks ({where} gives {n_networks})")
    return config


def validation_loss_file(network_dir, loss_name="loss"):
    """``validation/<loss_name>.h5`` of a network folder, else ``validation/loss.h5`` (as
    flycluster.checkpoints falls back), else None."""
    for name in dict.fromkeys((loss_name, "loss")):
        path = Path(network_dir) / "validation" / f"{name}.h5"
        if path.is_file():
            return path
    return None


def _check_stimulus_specs(config):
    """Each stimulus spec against flycluster.stimuli (keys, types), and its lattice against
    the connectome's extent, so that a typo fails before any job runs."""
    from flycluster.stimuli.build import KIND_OF_SPEC, check_spec

    extent = config["connectome"]["extent"]
    for name, spec in config["stimuli"].items():
        try:
            kind, params = check_spec(name, spec)
        except ConfigError as err:
            raise ConfigError(f"config key stimuli.{name}: {err}") from err
        if params.get("extent", extent) != extent:
            raise ConfigError(f"config key stimuli.{name}.extent: {params['extent']} differs from "
                              f"connectome.extent = {extent}; the stimulus must cover the "
                              "network's eye (set both to the same radius)")
        expected = {"naturalistic": "naturalistic", "moving_edges": "moving_edges"}
        for key, want in expected.items():
            if config["analysis"][key] == name and KIND_OF_SPEC[kind] != want:
                raise ConfigError(f"config key analysis.{key}: stimulus set {name!r} is of kind "
                                  f"{kind!r}, expected a {want} set")


def list_network_names(ensemble_dir, loss_name="loss") -> list[str]:
    """Names of the network folders of a flyvis ensemble directory, sorted.

    A network folder holds ``chkpts/`` and ``validation/<loss_name>.h5`` (or ``loss.h5``). Only paths are
    inspected (no file is opened), so this is cheap enough for workflow parsing.

    Raises
    ------
    FileNotFoundError
        If the directory does not exist or holds no network folder.
    flycluster.errors.ConfigError
        If a network folder lacks its validation loss file.
    """
    root = Path(ensemble_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"ensemble directory {root} does not exist (config key ensemble.path)")
    names = []
    for sub in sorted(root.iterdir()):
        if not sub.is_dir() or not (sub / "chkpts").is_dir():
            continue
        if validation_loss_file(sub, loss_name) is None:
            raise ConfigError(f"network folder {sub} has no validation/{loss_name}.h5 (nor "
                              "validation/loss.h5), which picks its best checkpoint and gives "
                              "its task error (config key ensemble.loss_name)")
        if not _NAME.match(sub.name):
            raise ConfigError(f"network folder {sub}: names may hold only letters, digits, "
                              "'_', '-' and '.'")
        names.append(sub.name)
    if not names:
        raise FileNotFoundError(f"ensemble directory {root} holds no network folder (a folder "
                                "with chkpts/ and validation/); expected e.g. .../flow/0000/000")
    return names


def network_names(config: dict) -> list[str]:
    """The networks of the configured ensemble, known before anything runs.

    Synthetic and planted ensembles are named ``000 .. n_networks-1`` (as
    flycluster.synthetic writes them); a flyvis ensemble lists its directory.
    """
    ensemble = config["ensemble"]
    if ensemble["kind"] == "flyvis":
        return list_network_names(ensemble["path"], ensemble["loss_name"])
    return [f"{i:03d}" for i in range(ensemble["n_networks"])]


def selected_cell_types(config: dict, known_cell_types=CELL_TYPES) -> list[str]:
    """The cell types to cluster, in connectome order."""
    chosen = config["cell_types"]
    if chosen == "all":
        return list(known_cell_types)
    return [ct for ct in known_cell_types if ct in set(chosen)]


def tuning_cell_types(config: dict, known_cell_types=CELL_TYPES) -> list[str]:
    """The selected cell types that get a direction tuning figure (none without moving edges)."""
    if config["analysis"]["moving_edges"] is None:
        return []
    chosen = config["figures"]["tuning_cell_types"]
    selected = selected_cell_types(config, known_cell_types)
    if chosen == "all":
        return selected
    return [ct for ct in selected if ct in set(chosen)]


def target_name(cell_type: str) -> str:
    """The short snakemake target of a cell type: its name with other than [A-Za-z0-9_] -> '_'.

    ``T4c`` -> ``T4c``; ``CT1(M10)`` -> ``CT1_M10``.
    """
    return re.sub(r"[^A-Za-z0-9_]+", "_", cell_type).strip("_")
