"""One entry point for the workflow: a stimulus set from a config dict.

``build_stimulus_set(name, spec, random_state=0)``; ``spec["kind"]`` is one of :data:`KINDS`;
the other keys are that kind's parameters, described (type, range, default, unit) by the
kind's sub-schema in ``flycluster/config.schema.yaml``, the same one that checks the
workflow's config. Unknown keys and wrong types raise :class:`~flycluster.errors.ConfigError`
naming the key.
"""

from __future__ import annotations

from flycluster.errors import ConfigError

__all__ = ["KINDS", "build_stimulus_set", "check_spec"]

#: The stimulus kinds; each has its sub-schema (keys, types, ranges, defaults, units) under
#: ``$defs/<kind>`` of the configuration schema (:mod:`flycluster.config_schema`).
KINDS = ("photos", "sintel", "moving_edges", "flashes", "file")


def check_spec(name: str, spec: dict) -> tuple[str, dict]:
    """Validate a stimulus spec against its kind's sub-schema; return (kind, parameters with
    the schema's defaults filled in, ``kind`` removed).

    Raises
    ------
    flycluster.errors.ConfigError
        Naming the stimulus set, the key and what was expected.
    """
    from flycluster.config_schema import apply_schema

    try:
        params = apply_schema(spec, "stimulus_set", where=("stimuli", name))
    except ConfigError as err:
        raise ConfigError(f"stimulus set {name!r}: {err}") from err
    kind = params.pop("kind")
    return kind, params


def build_stimulus_set(name: str, spec: dict, random_state: int = 0):
    """Build stimulus set ``name`` from ``spec``; returns an xarray.Dataset (stimulus-file layout).

    ``random_state`` seeds the photo set's self-motion; other kinds are deterministic. Kind
    ``file`` reads a user's movie (:func:`flycluster.stimuli.user_file.load_user_stimulus`).
    Write the result with :func:`flycluster.stimuli.io.write_stimulus`.
    """
    kind, p = check_spec(name, spec)
    if isinstance(random_state, bool) or not isinstance(random_state, int):
        raise ConfigError(f"stimulus set {name!r}: random_state must be an int, "
                          f"got {random_state!r}")
    provenance = {"kind": kind, **p, "random_state": random_state}
    if kind == "photos":
        from flycluster.stimuli.photos import photo_movies

        return photo_movies(p["images"], p["n_movies"], p["frames_per_movie"],
                            random_state=random_state, stimulus_set=name,
                            max_speed=p["max_speed"], max_rotation=p["max_rotation"],
                            max_looming=p["max_looming"], height=p["height"],
                            width=p["width"], clip_frames=p["clip_frames"],
                            vertical_splits=p["vertical_splits"],
                            center_crop_fraction=p["center_crop_fraction"],
                            flip_axes=p["flip_axes"], n_rotations=p["n_rotations"], dt=p["dt"],
                            t_fade_in=p["t_fade_in"], extent=p["extent"],
                            kernel_size=p["kernel_size"], spec=provenance)
    if kind == "sintel":
        from flycluster.stimuli.sintel import augmented_sintel

        return augmented_sintel(p["root"], p["scenes"], stimulus_set=name,
                                clip_frames=p["clip_frames"],
                                vertical_splits=p["vertical_splits"],
                                center_crop_fraction=p["center_crop_fraction"],
                                flip_axes=p["flip_axes"], n_rotations=p["n_rotations"],
                                dt=p["dt"], t_fade_in=p["t_fade_in"], extent=p["extent"],
                                kernel_size=p["kernel_size"], spec=provenance)
    if kind == "file":
        from flycluster.stimuli.user_file import load_user_stimulus

        return load_user_stimulus(p["path"], dt=p["dt"], stimulus_set=name, extent=p["extent"],
                                  t_pre=p["t_pre"], t_fade_in=p["t_fade_in"],
                                  kernel_size=p["kernel_size"])
    from flycluster.stimuli import edges

    if kind == "moving_edges":
        return edges.moving_edges(**p, stimulus_set=name, spec=provenance)
    return edges.flashes(**p, stimulus_set=name, spec=provenance)
