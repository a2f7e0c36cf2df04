"""The workflow configuration's JSON schema: where it lives and how it is applied.

The schema (``flycluster/config.schema.yaml``, shipped inside the package) is the one
description of every config key, its type, range and default, with a sub-schema per stimulus
kind (``$defs/photos``, ``sintel``, ``moving_edges``, ``flashes``) and per generated ensemble
kind (``$defs/synthetic_ensemble``, ``planted_ensemble``). :func:`apply_schema` validates a
config against it and fills in the defaults; the workflow calls it once, when it is parsed
(``workflow/rules/common.smk``), and :mod:`flycluster.config` then checks what spans keys.
:func:`flycluster.stimuli.build.check_spec` applies the stimulus sub-schema to one spec.

Every error is reported (not only the first), each naming its key as a dotted path
(``umap.n_neighbors``, ``stimuli.naturalistic.n_movies``) and what was expected. Nothing here
imports torch, umap or xarray.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources

import yaml

from flycluster.errors import ConfigError

__all__ = ["SCHEMA_FILE", "load_schema", "apply_schema", "defaults", "default_of"]

#: The schema file, inside the installed package (a ``pathlib.Path`` for a regular install).
SCHEMA_FILE = resources.files("flycluster") / "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    with SCHEMA_FILE.open() as fh:
        return yaml.safe_load(fh)


def load_schema() -> dict:
    """The configuration schema as a dict (a copy: change it freely)."""
    return copy.deepcopy(_schema())


def _resolve(schema: dict, root: dict) -> dict:
    """``schema`` with a local ``$ref`` (``#/$defs/<name>``) merged in; own keys win."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"only local references #/$defs/<name> are supported, got {ref!r}")
    target = _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def _validator_class(root: dict):
    """A jsonschema validator that fills ``default`` values (deep copies, ``$ref`` resolved)
    of absent properties before validating them."""
    import jsonschema

    base = jsonschema.validators.validator_for(root)
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, subschema):
        if validator.is_type(instance, "object"):
            for name, prop in properties.items():
                prop = _resolve(prop, root)
                if "default" in prop and name not in instance:
                    instance[name] = copy.deepcopy(prop["default"])
        yield from validate_properties(validator, properties, instance, subschema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def _dotted(parts) -> str:
    return ".".join(str(p) for p in parts)


def _describe(subschema, root) -> str:
    subschema = _resolve(subschema, root)
    if "enum" in subschema:
        return " or ".join(repr(v) for v in subschema["enum"])
    if subschema.get("type") == "array":
        items = _resolve(subschema.get("items", {}), root)
        return f"a list of {items.get('type', 'value')}s"
    return str(subschema.get("type", "a value"))


def _message(err, root, where) -> str:
    key = _dotted([*where, *err.absolute_path]) or "<top level>"
    if err.validator == "additionalProperties":
        allowed = sorted(_resolve(err.schema, root).get("properties", {}))
        return f"config key {key}: {err.message} (allowed keys: {', '.join(allowed)})"
    if err.validator == "oneOf":
        return (f"config key {key}: {err.instance!r} is not valid: expected "
                + " or ".join(_describe(s, root) for s in err.schema["oneOf"]))
    if err.validator == "required":
        missing = [name for name in err.validator_value if name not in err.instance]
        props = _resolve(err.schema, root).get("properties", {})
        about = [_resolve(props.get(name, {}), root).get("description", "") for name in missing]
        return f"config key {key}: {err.message}" + "".join(
            f" ({text.strip()})" for text in about if text)
    if err.validator == "propertyNames":
        return (f"config key {key}: name {err.instance!r} may hold only letters, digits, "
                "'_', '-' and '.'")
    return f"config key {key}: {err.message}"


def apply_schema(config, definition: str | None = None, where=()) -> dict:
    """Validate ``config`` against the schema; return a deep copy with the defaults filled in.

    Parameters
    ----------
    config : the configuration (a mapping), or one part of it with ``definition``.
    definition : a name under the schema's ``$defs`` (e.g. ``"stimulus_set"``) to apply that
        sub-schema only; None applies the whole schema.
    where : the keys leading to ``config`` in a whole configuration, used in the messages
        (e.g. ``("stimuli", "naturalistic")``).

    Raises
    ------
    flycluster.errors.ConfigError
        Listing every error, each naming its key (dotted path) and what was expected.
    """
    root = _schema()
    schema = root if definition is None else {**_resolve({"$ref": f"#/$defs/{definition}"}, root),
                                               "$defs": root["$defs"]}
    if not isinstance(config, dict):
        key = _dotted(where) or "the config"
        raise ConfigError(f"config key {key}: expected a mapping of keys to values, "
                          f"got {type(config).__name__} {config!r}")
    config = copy.deepcopy(config)
    validator = _validator_class(root)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = list(dict.fromkeys(_message(err, root, where) for err in errors))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return config


def defaults(definition: str | None = None) -> dict:
    """The defaults of the whole schema (what an empty config becomes), or of one ``$defs``
    sub-schema with no required key (e.g. ``defaults("umap")``, ``defaults("photos")``)."""
    return apply_schema({}, definition)


def default_of(*keys: str):
    """The default the schema declares for one key, e.g. ``default_of("ensemble", "n_networks")``
    (a copy; ``$ref`` sub-schemas are followed). Raises KeyError naming the dotted key if the
    schema has no such key or declares no default for it."""
    root = _schema()
    node = root
    for i, key in enumerate(keys):
        properties = _resolve(node, root).get("properties", {})
        if key not in properties:
            raise KeyError(f"the config schema has no key {_dotted(keys[:i + 1])}")
        node = properties[key]
    node = _resolve(node, root)
    if "default" not in node:
        raise KeyError(f"the config schema declares no default for {_dotted(keys)}")
    return copy.deepcopy(node["default"])
