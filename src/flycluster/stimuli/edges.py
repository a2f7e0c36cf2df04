"""Moving edges and flashes, as flyvis's MovingEdge and Flashes datasets.

Moving edges (``ensemble.moving_edge_responses()`` defaults): an edge of ``intensity`` on a
``bg_intensity`` background, rendered on a 775 x 775 px monitor (25 px per ommatidium) as a
bar ``width`` LEDs wide and ``height`` LEDs high (1 LED = 2.25 deg, 1 ommatidium = 5.8 deg)
whose left side stays at the left border (that is what makes it an edge), its right border
stepping through ``offsets`` LEDs around the centre; each frame is rotated counter-clockwise
by ``angle`` (PIL bilinear on an 8-bit image, as flyvis) and averaged per hexagon
(:class:`~flycluster.stimuli.render.HexEye`). Offsets are shown for ``t_stim = n_offsets *
2.25 / (5.8 * speed)`` seconds in total (speed in columns/s), preceded by ``t_pre`` s of
background and followed by ``t_post`` s of the last frame (``post_pad_mode="continue"``) or
of background (``"value"``); shorter samples end in NaN frames up to the slowest speed's
length. Sample order: product(angles, widths, intensities, speeds).

Flashes (``flash_responses()`` defaults): a disc of hex radius ``radius`` (-1: full field) at
each intensity of ``dynamic_range`` on a baseline of its mean; alternations 0 (baseline,
``t_pre`` s) and 1 (flash, ``t_stim`` s), default (0, 1, 0). Sample order:
product(intensities, radii).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import numpy as np

from flycluster.errors import ConfigError
from flycluster.stimuli.io import make_stimulus_dataset
from flycluster.stimuli.lattice import hex_coordinates, hex_distance, n_hexals
from flycluster.stimuli.render import HexEye

__all__ = ["LED_WIDTH_DEG", "OMMATIDIUM_WIDTH_DEG", "edge_t_stim", "render_edge_offsets",
           "moving_edges", "flashes"]

LED_WIDTH_DEG = 2.25  # Gruntman et al. 2018 monitor, flyvis's led_width
OMMATIDIUM_WIDTH_DEG = 5.8  # flyvis's omm_width


def _offsets_array(offsets) -> np.ndarray:
    offsets = np.asarray(offsets)
    if offsets.ndim == 1 and len(offsets) == 2:
        return np.arange(*offsets)
    if offsets.ndim != 1 or len(offsets) < 2 or not np.allclose(np.diff(offsets), 1):
        raise ConfigError(
            f"offsets must be (first, stop) or consecutive LED offsets, got {offsets.tolist()}"
        )
    return offsets


def edge_t_stim(speeds, n_offsets: int = 21) -> np.ndarray:
    """Stimulus duration (s) per speed (columns/s): n_offsets LEDs crossed at that speed."""
    led = np.radians(LED_WIDTH_DEG)
    omm = np.radians(OMMATIDIUM_WIDTH_DEG)
    return (n_offsets * led) / (np.asarray(speeds, dtype=float) * omm)


def _bar_image(size, width_px, height_px, loc_h_px, loc_v_px, intensity, bg, angle):
    # one bar, flyvis's pixel arithmetic (int truncations and Python slices included)
    img = np.ones((size, size)) * bg
    rows = slice(int(loc_v_px - height_px / 2), int(loc_v_px + height_px / 2) + 1)
    left = int(loc_h_px - width_px / 2)
    img[rows, slice(max(left, 0), left + width_px + 1)] = intensity
    if angle % 360 != 0:
        img = _rotate(img, angle)
    return img


def _rotate(img: np.ndarray, angle: float) -> np.ndarray:
    from PIL import Image

    h, w = img.shape
    diagonal = int(np.sqrt(h**2 + w**2))
    ph, pw = (diagonal - h) // 2, (diagonal - w) // 2
    # edge padding commutes with the 8-bit conversion, which is cheaper on the small image
    padded = np.pad((255 * img).astype("uint8"), ((ph, ph), (pw, pw)), mode="edge")
    rotated = np.asarray(Image.fromarray(padded).rotate(angle, Image.BILINEAR))
    return rotated[ph : rotated.shape[0] - ph, pw : rotated.shape[1] - pw] / 255.0


def render_edge_offsets(angle: float, width: float, intensity: float, offsets,
                        height: float = 80, bg_intensity: float = 0.5, extent: int = 15,
                        ppo: int = 25, bar_loc_horizontal_deg: float = 0.0,
                        eye: HexEye | None = None) -> np.ndarray:
    """One hexal frame per offset: float64 (n_offsets, n_hexals).

    ``width``, ``height`` and ``offsets`` in LEDs (2.25 deg); ``angle`` in degrees.
    """
    eye = eye or HexEye(extent, ppo)
    led = np.radians(LED_WIDTH_DEG)
    omm = np.radians(OMMATIDIUM_WIDTH_DEG)
    width_px = int(width * led / omm * eye.ppo)
    height_px = int(height * led / omm * eye.ppo)
    loc_v_px = int(eye.size * np.radians(90) / np.radians(180))
    out = np.empty((len(offsets), eye.n_hexals))
    for k, offset in enumerate(np.asarray(offsets) * led):
        theta = np.radians(bar_loc_horizontal_deg) + offset
        loc_h_px = int(eye.size * theta / np.radians(180))
        out[k] = eye(_bar_image(eye.size, width_px, height_px, loc_h_px, loc_v_px, intensity,
                                bg_intensity, angle))[0]
    return out


def _frame_sources(n_offsets, t_stim, t_pre, t_post, dt, n_total, post_pad_mode):
    """Source of each output frame: 0..n_offsets-1 (offset), n_offsets (bg), n_offsets+1 (NaN).

    Frame counts follow flyvis's ``resample`` and ``pad``: int(t / dt) truncations.
    """
    background, padding = n_offsets, n_offsets + 1
    src = _resample_offsets(n_offsets, t_stim, dt)
    if len(src) == 0:
        raise ConfigError(f"t_stim = {t_stim:.4g} s is shorter than dt = {dt} s: lower the speed "
                          "or dt")
    n_pre = int((t_stim + t_pre) / dt) - len(src)
    if n_pre > 0:
        src = np.concatenate([np.full(n_pre, background), src])
    n_post = int((t_stim + t_pre + t_post) / dt) - len(src)
    if n_post > 0:
        fill = src[-1] if post_pad_mode == "continue" else background
        src = np.concatenate([src, np.full(n_post, fill)])
    if n_total > len(src):
        src = np.concatenate([src, np.full(n_total - len(src), padding)])
    return src.astype(np.int64)


def _resample_offsets(n_offsets: int, t_stim: float, dt: float) -> np.ndarray:
    import torch

    # float32 linspace truncated to int, exactly flyvis's `resample`
    return torch.linspace(0, n_offsets - 1, int(t_stim / dt), dtype=torch.float32).long().numpy()


def moving_edges(angles=(0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330),
                 speeds=(2.4, 4.8, 9.7, 13, 19, 25), intensities=(0, 1), widths=(80,),
                 offsets=(-10, 11), height: float = 80, bg_intensity: float = 0.5,
                 t_pre: float = 1.0, t_post: float = 1.0, dt: float = 1 / 200,
                 post_pad_mode: str = "continue", extent: int = 15, ppo: int = 25,
                 stimulus_set: str = "moving_edges", spec: dict | None = None):
    """Moving-edge stimulus set as flyvis's ``MovingEdge`` (defaults of moving_edge_responses).

    Parameters
    ----------
    angles : degrees, direction of motion (0 = rightwards, counter-clockwise).
    speeds : columns (ommatidia) per second.
    intensities : edge luminance in [0, 1] (0 = OFF edge, 1 = ON edge).
    widths : bar widths in LEDs (2.25 deg); 80 spans the monitor, i.e. an edge.
    offsets : (first, stop) or list of consecutive LED offsets of the edge around the centre.
    height : edge height in LEDs.
    bg_intensity : background luminance.
    extent : lattice radius in columns; eyes smaller than flyvis's (15) see the central
        hexals of the extent-15 rendering, so the geometry (5.8 deg per column) is kept.
    ppo : monitor pixels per ommatidium (25).
    t_pre, t_post : grey before / hold after the motion, seconds.
    dt : time step, seconds.
    post_pad_mode : "continue" (hold last frame) or "value" (background) after the motion.

    Returns
    -------
    xarray.Dataset
        ``stimulus`` (sample, frame, hexal) float32 with coords angle, width, intensity, speed,
        t_stim (s) on sample and time = frame * dt - t_pre (s).
    """
    if post_pad_mode not in ("continue", "value"):
        raise ConfigError(f"post_pad_mode must be 'continue' or 'value', got {post_pad_mode!r}")
    if not dt > 0:
        raise ConfigError(f"dt must be > 0 seconds, got {dt}")
    offsets = _offsets_array(offsets)
    angles, widths = np.asarray(angles, dtype=float), np.asarray(widths, dtype=float)
    intensities, speeds = np.asarray(intensities, dtype=float), np.asarray(speeds, dtype=float)
    for name, arr in (("angles", angles), ("widths", widths), ("intensities", intensities),
                      ("speeds", speeds)):
        if arr.ndim != 1 or len(arr) == 0:
            raise ConfigError(f"{name} must be a non-empty list, got {arr.tolist()}")
    if (speeds <= 0).any():
        raise ConfigError(f"speeds must be > 0 columns/s, got {speeds.tolist()}")
    if ((intensities < 0) | (intensities > 1)).any() or not 0 <= bg_intensity <= 1:
        raise ConfigError("intensities and bg_intensity must lie in [0, 1]")
    t_stim = edge_t_stim(speeds, len(offsets))
    n_total = int((np.max(t_stim) + t_pre + t_post) / dt)
    # per speed, the source of every output frame: offset index, BACKGROUND or PADDING
    sources = [_frame_sources(len(offsets), t, t_pre, t_post, dt, n_total, post_pad_mode)
               for t in t_stim]
    # flyvis's monitor geometry (180 deg across the monitor) matches 5.8 deg per column only
    # for the 31-column (extent 15) monitor; a smaller eye sees the centre of that monitor.
    monitor_extent = max(int(extent), 15)
    eye = HexEye(monitor_extent, ppo)
    u, v = hex_coordinates(monitor_extent)
    subset = np.flatnonzero(hex_distance(u, v) <= extent)  # u-major order is kept
    groups = list(product(angles, widths, intensities))

    def render(group):
        a, w, i = group
        return render_edge_offsets(a, w, i, offsets, height, bg_intensity, monitor_extent, ppo,
                                   eye=eye)[:, subset]

    # PIL's rotation and numpy's gathers release the GIL: threads use the cores
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        rendered = np.stack(list(pool.map(render, groups)))
    n_frames = max(len(src) for src in sources)
    stimulus = np.full((len(groups) * len(speeds), n_frames, n_hexals(extent)), np.nan,
                       dtype=np.float32)
    coords = {k: [] for k in ("angle", "width", "intensity", "speed", "t_stim")}
    for g, (a, w, i) in enumerate(groups):
        # rows: offsets..., then background, then NaN
        lookup = np.concatenate([rendered[g], np.full((1, rendered.shape[2]), bg_intensity),
                                 np.full((1, rendered.shape[2]), np.nan)]).astype(np.float32)
        for s, (speed, t) in enumerate(zip(speeds, t_stim)):
            src = sources[s]
            stimulus[g * len(speeds) + s, : len(src)] = lookup[src]
            for key, value in zip(coords, (a, w, i, speed, t)):
                coords[key].append(value)
    return make_stimulus_dataset(stimulus, {k: np.asarray(v, dtype=float) for k, v in
                                            coords.items()},
                                 stimulus_set=stimulus_set, kind="moving_edges", dt=dt,
                                 t_pre=t_pre, t_fade_in=0.0, extent=extent, spec=spec)


def flashes(dynamic_range=(0, 1), radius=(-1, 6), t_stim: float = 1.0, t_pre: float = 1.0,
            dt: float = 1 / 200, alternations=(0, 1, 0), extent: int = 15,
            stimulus_set: str = "flashes", spec: dict | None = None):
    """Flash stimulus set as flyvis's ``Flashes`` (defaults of flash_responses).

    Parameters
    ----------
    dynamic_range : flash intensities in [0, 1]; the baseline is their mean (0.5).
    radius : hex radii of the flashed disc in columns; -1 = full field.
    t_stim : flash duration (alternation 1), seconds.
    t_pre : baseline duration (alternation 0), seconds; also the time offset of frame 0.
    dt : time step, seconds.
    alternations : sequence of 0 (baseline) / 1 (flash) periods, starting with 0.

    Returns
    -------
    xarray.Dataset with coords baseline, intensity, radius on sample.
    """
    intensities = np.asarray(dynamic_range, dtype=float)
    if intensities.ndim != 1 or len(intensities) == 0:
        raise ConfigError(f"dynamic_range must be a non-empty list, got {dynamic_range!r}")
    if ((intensities < 0) | (intensities > 1)).any():
        raise ConfigError(f"dynamic_range values must lie in [0, 1], got {intensities.tolist()}")
    alternations = [int(a) for a in alternations]
    if not alternations or alternations[0] != 0 or set(alternations) - {0, 1}:
        raise ConfigError(f"alternations must be 0/1 and start with 0, got {alternations}")
    if not dt > 0:
        raise ConfigError(f"dt must be > 0 seconds, got {dt}")
    baseline = float(intensities.sum() / 2)
    u, v = hex_coordinates(extent)
    dist = hex_distance(u, v)
    n_pre, n_on = int(t_pre / dt), int(t_stim / dt)
    samples, coords = [], {"baseline": [], "intensity": [], "radius": []}
    for intensity, rad in product(intensities, radius):
        rad = int(rad)
        if rad < -1:
            raise ConfigError(f"radius must be -1 (full field) or >= 0, got {rad}")
        frame_on = np.full(len(u), baseline)
        frame_on[dist <= rad if rad != -1 else slice(None)] = intensity
        frame_off = np.full(len(u), baseline)
        pieces = [np.repeat(frame_on[None], n_on, 0) if a == 1 else
                  np.repeat(frame_off[None], n_pre, 0) for a in alternations]
        samples.append(np.concatenate(pieces))
        coords["baseline"].append(baseline)
        coords["intensity"].append(intensity)
        coords["radius"].append(rad)
    return make_stimulus_dataset(np.stack(samples).astype(np.float32),
                                 {"baseline": np.asarray(coords["baseline"]),
                                  "intensity": np.asarray(coords["intensity"]),
                                  "radius": np.asarray(coords["radius"], dtype=np.int64)},
                                 stimulus_set=stimulus_set, kind="flashes", dt=dt, t_pre=t_pre,
                                 t_fade_in=0.0, extent=extent, spec=spec)
