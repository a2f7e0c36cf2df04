"""One entry point for the workflow: a stimulus set from a config dict.

``build_stimulus_set(name, spec, random_state=0)``; ``spec["kind"]`` is one of
``photos``, ``sintel``, ``moving_edges``, ``flashes``; the other keys are that kind's
parameters (:data:`SPEC_KEYS` lists each with its type, default and unit). Unknown keys and
wrong types raise :class:`~flycluster.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from numbers import Real

from flycluster.errors import ConfigError

__all__ = ["SPEC_KEYS", "KIND_OF_SPEC", "build_stimulus_set", "check_spec"]

_ALL_ROT = [0, 1, 2, 3, 4, 5]
_ANGLES = [0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330]

# kind -> {key: (type name, default, description with unit)}
SPEC_KEYS: dict[str, dict[str, tuple[str, object, str]]] = {
    "photos": {
        "images": ("list[str]", ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins"],
                   "scikit-image photographs (astronaut, camera, coffee, chelsea, rocket, "
                   "coins, brick, grass, gravel, moon, hubble_deep_field, clock, motorcycle)"),
        "n_movies": ("int", 6, "movies; movie i shows images[i % len(images)]"),
        "frames_per_movie": ("int", 19, "frames per movie at 24 frames/s"),
        "max_speed": ("float", 8.0, "max translation, view px/frame (13 px = 1 column)"),
        "max_rotation": ("float", 2.0, "max rotation, deg/frame"),
        "max_looming": ("float", 0.02, "max zoom rate, 1/frame (> 0 approaching)"),
        "height": ("int", 436, "frame height, px"),
        "width": ("int", 1024, "frame width, px"),
        "clip_frames": ("int", 19, "frames per temporal clip"),
        "vertical_splits": ("int", 3, "column windows per frame"),
        "center_crop_fraction": ("float", 0.7, "fraction of columns kept before splitting"),
        "flip_axes": ("list[int]", [0, 1], "hex flips per clip (0 none, 1 (u,v)->(u+v,-v))"),
        "n_rotations": ("list[int]", [0, 2, 4], "60-degree rotations per clip"),
        "dt": ("float", 0.01, "output time step, s"),
        "t_fade_in": ("float", 2.0, "fade-in the simulation runs before each sample, s"),
        "extent": ("int", 15, "lattice radius, columns (15 -> 721 hexals)"),
        "kernel_size": ("int", 13, "BoxEye box side, px"),
    },
    "sintel": {
        "root": ("str", None, "folder containing training/final/<scene>/ (required)"),
        "scenes": ("list[str]", None, "scene names to include (default all)"),
        "clip_frames": ("int", 19, "frames per temporal clip"),
        "vertical_splits": ("int", 3, "column windows per frame"),
        "center_crop_fraction": ("float", 0.7, "fraction of columns kept before splitting"),
        "flip_axes": ("list[int]", [0, 1], "hex flips per clip"),
        "n_rotations": ("list[int]", _ALL_ROT, "60-degree rotations per clip"),
        "dt": ("float", 0.01, "output time step, s"),
        "t_fade_in": ("float", 2.0, "fade-in before each sample, s"),
        "extent": ("int", 15, "lattice radius, columns"),
        "kernel_size": ("int", 13, "BoxEye box side, px"),
    },
    "moving_edges": {
        "angles": ("list[float]", _ANGLES, "directions of motion, deg"),
        "speeds": ("list[float]", [2.4, 4.8, 9.7, 13, 19, 25], "speeds, columns/s"),
        "intensities": ("list[float]", [0, 1], "edge luminance (0 OFF, 1 ON)"),
        "widths": ("list[float]", [80], "bar width, LEDs of 2.25 deg (80 = edge)"),
        "offsets": ("list[float]", [-10, 11], "(first, stop) LED offsets or explicit list"),
        "height": ("float", 80, "edge height, LEDs of 2.25 deg"),
        "bg_intensity": ("float", 0.5, "background luminance"),
        "t_pre": ("float", 1.0, "grey before motion (and steady state), s"),
        "t_post": ("float", 1.0, "hold after motion, s"),
        "dt": ("float", 0.005, "time step, s"),
        "post_pad_mode": ("str", "continue", "'continue' (hold last frame) or 'value' (grey)"),
        "extent": ("int", 15, "lattice radius, columns"),
        "ppo": ("int", 25, "monitor pixels per ommatidium"),
    },
    "flashes": {
        "dynamic_range": ("list[float]", [0, 1], "flash intensities; baseline = their mean"),
        "radius": ("list[int]", [-1, 6], "disc radius, columns (-1 full field)"),
        "t_stim": ("float", 1.0, "flash duration, s"),
        "t_pre": ("float", 1.0, "baseline duration (and steady state), s"),
        "dt": ("float", 0.005, "time step, s"),
        "alternations": ("list[int]", [0, 1, 0], "0 baseline / 1 flash periods"),
        "extent": ("int", 15, "lattice radius, columns"),
    },
}
KIND_OF_SPEC = {"photos": "naturalistic", "sintel": "naturalistic",
                "moving_edges": "moving_edges", "flashes": "flashes"}


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_float(x):
    return isinstance(x, Real) and not isinstance(x, bool)


_CHECKS = {
    "int": _is_int,
    "float": _is_float,
    "str": lambda x: isinstance(x, str),
    "list[int]": lambda x: isinstance(x, (list, tuple)) and all(_is_int(i) for i in x),
    "list[float]": lambda x: isinstance(x, (list, tuple)) and all(_is_float(i) for i in x),
    "list[str]": lambda x: isinstance(x, (list, tuple)) and all(isinstance(i, str) for i in x),
}


def check_spec(name: str, spec: dict) -> tuple[str, dict]:
    """Validate a stimulus spec; return (kind, parameters with defaults filled in)."""
    where = f"stimulus set {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: spec must be a mapping, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in SPEC_KEYS:
        raise ConfigError(f"{where}: key 'kind' must be one of {sorted(SPEC_KEYS)}, got {kind!r}")
    schema = SPEC_KEYS[kind]
    params = {}
    for key, value in spec.items():
        if key == "kind":
            continue
        if key not in schema:
            raise ConfigError(f"{where}: unknown key {key!r} for kind {kind!r}; valid keys: "
                              f"{sorted(schema)}")
        type_name = schema[key][0]
        if value is None and schema[key][1] is None and key != "root":
            params[key] = None
            continue
        if not _CHECKS[type_name](value):
            raise ConfigError(f"{where}: key {key!r} must be {type_name} "
                              f"({schema[key][2]}), got {value!r}")
        params[key] = list(value) if isinstance(value, tuple) else value
    for key, (_, default, _) in schema.items():
        params.setdefault(key, default)
    if kind == "sintel" and not params["root"]:
        raise ConfigError(f"{where}: key 'root' is required for kind 'sintel' (folder with "
                          "training/final/; get MPI-Sintel-complete.zip from "
                          "http://sintel.is.tue.mpg.de)")
    if not params["dt"] > 0:
        raise ConfigError(f"{where}: key 'dt' must be > 0 seconds, got {params['dt']!r}")
    allowed = {"flip_axes": {0, 1, 2, 3}, "n_rotations": {0, 1, 2, 3, 4, 5}}
    for key, values in allowed.items():
        if key in params and (not params[key] or set(params[key]) - values):
            raise ConfigError(f"{where}: key {key!r} must be a non-empty list of values in "
                              f"{sorted(values)}, got {params[key]!r}")
    return kind, params


def build_stimulus_set(name: str, spec: dict, random_state: int = 0):
    """Build stimulus set ``name`` from ``spec``; returns an xarray.Dataset (stimulus-file layout).

    ``random_state`` seeds the photo set's self-motion; other kinds are deterministic.
    Write the result with :func:`flycluster.stimuli.io.write_stimulus`.
    """
    kind, p = check_spec(name, spec)
    if not _is_int(random_state):
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
    from flycluster.stimuli import edges

    if kind == "moving_edges":
        return edges.moving_edges(**p, stimulus_set=name, spec=provenance)
    return edges.flashes(**p, stimulus_set=name, spec=provenance)
