"""Produce the flyvis reference fixtures for the stimulus tests.

Run with the flyvis reference interpreter (flyvis 1.2.0 is NOT a dependency of flycluster):

    FLYVIS_ROOT_DIR=/tmp/flyvis-root-<name> /tmp/flyvis-ref/bin/python \
        tools/make_stimulus_fixtures.py [--only boxeye,flashes,edges,sintel]

Writes small ``.npz`` files into ``tests/fixtures/stimuli/``:

- ``boxeye.npz``: flyvis ``BoxEye(15, 13)`` applied to a seeded random image, to a fabricated
  Sintel-like RGB frame converted to grey, and to a small image that BoxEye must upscale.
- ``flashes.npz``: flyvis ``Flashes`` with the defaults of ``flash_responses``.
- ``edges.npz``: flyvis ``MovingEdge`` as ``moving_edge_responses`` configures it, for a few
  (angle, intensity) groups and all six speeds, plus the sample table of the full 144-sample set.
- ``sintel.npz``: flyvis ``AugmentedSintel`` (as in the seed notebook) on a fabricated folder of
  PNGs in the MPI-Sintel layout (see :func:`fabricate_sintel_folder`): sample table of every
  sample, per-sample mean/std of all samples and the full stimulus of a few samples.

:func:`fabricate_sintel_folder` and :func:`fabricated_images` only need numpy and Pillow, so the
tests import them from this file to rebuild exactly the same inputs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "stimuli"

# scene name -> number of frame PNGs; chosen to exercise flyvis's temporal split
# (3, 1 and 2 clips of 19 frames) and the skipping of scenes with fewer than 20 files.
FABRICATED_SCENES = {"alley_1": 50, "ambush_6": 20, "bamboo_9": 5, "market_6": 40}
SINTEL_HEIGHT, SINTEL_WIDTH = 436, 1024

# samples of the fabricated AugmentedSintel stored in full
SINTEL_FULL_SAMPLES = [0, 7, 29, 41, 66, 100, 131, 215]

# (angle, intensity) groups of the moving-edge fixture (flyvis renders ~110 s per group)
EDGE_GROUPS = [(0, 1), (30, 0), (240, 1)]


def fabricated_frame(scene_index: int, frame_index: int) -> np.ndarray:
    """Deterministic RGB uint8 frame (436, 1024, 3) with blocks, gradients and a moving disc.

    Integer arithmetic and numpy's PCG64 integer stream only, so both interpreters produce
    identical pixels.
    """
    rng = np.random.default_rng(1000 + scene_index)
    blocks = rng.integers(0, 256, size=(56, 130, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)  # (448, 1040, 3)
    shift = 5 * frame_index
    texture = texture[4 : 4 + SINTEL_HEIGHT, (shift % 16) : (shift % 16) + SINTEL_WIDTH]
    rows = np.arange(SINTEL_HEIGHT)[:, None]
    cols = np.arange(SINTEL_WIDTH)[None, :]
    gradient = ((rows * 3 + cols * 2 + 7 * frame_index) % 256).astype(np.int64)
    out = (texture.astype(np.int64) + gradient[..., None]) // 2
    centre_r = 218 + (frame_index * 4) % 120 - 60
    centre_c = 512 + (frame_index * 9 + 40 * scene_index) % 400 - 200
    disc = (rows - centre_r) ** 2 + (cols - centre_c) ** 2 < 70**2
    out[disc] = (230, 200, 30)
    return out.astype(np.uint8)


def fabricate_sintel_folder(root: Path, with_flow: bool = False) -> Path:
    """Write ``root/training/final/<scene>/frame_XXXX.png`` for :data:`FABRICATED_SCENES`.

    With ``with_flow`` also the dummy ``training/flow`` files and the ``test`` folder that
    flyvis's loader insists on (zero flow, 8 x 600 px; flyvis renders flow but we ignore it).
    """
    root = Path(root)
    for s, (scene, n_frames) in enumerate(FABRICATED_SCENES.items()):
        scene_dir = root / "training" / "final" / scene
        scene_dir.mkdir(parents=True, exist_ok=True)
        for k in range(n_frames):
            Image.fromarray(fabricated_frame(s, k)).save(scene_dir / f"frame_{k + 1:04d}.png",
                                                         compress_level=1)
        if with_flow:
            flow_dir = root / "training" / "flow" / scene
            flow_dir.mkdir(parents=True, exist_ok=True)
            for k in range(n_frames - 1):
                with open(flow_dir / f"frame_{k + 1:04d}.flo", "wb") as f:
                    np.array([202021.25], np.float32).tofile(f)
                    np.array([600, 8], np.int32).tofile(f)
                    np.zeros((8, 600, 2), np.float32).tofile(f)
    if with_flow:
        (root / "test").mkdir(parents=True, exist_ok=True)
    return root


def fabricated_images() -> dict[str, np.ndarray]:
    """Grey float32 test images for BoxEye: name -> (H, W) in [0, 1]."""
    rng = np.random.default_rng(0)
    random_image = rng.integers(0, 256, size=(436, 417), dtype=np.uint8).astype(np.float32) / 255
    frame = Image.fromarray(fabricated_frame(2, 3)).convert("L")
    sintel_like = np.asarray(frame, dtype=np.float32)[:, 154:571] / 255
    small = rng.integers(0, 256, size=(120, 200), dtype=np.uint8).astype(np.float32) / 255
    return {"random": random_image, "sintel_like": sintel_like, "small": small}


# --------------------------------------------------------------------------- flyvis side


def make_boxeye():
    import torch
    from flyvis.datasets.rendering import BoxEye

    eye = BoxEye(extent=15, kernel_size=13)
    out = {}
    for name, image in fabricated_images().items():
        hexals = eye(torch.tensor(image[None, None]))  # (1, 1, 1, 721)
        out[name] = hexals.reshape(-1).cpu().numpy().astype(np.float32)
    np.savez_compressed(FIXTURE_DIR / "boxeye.npz", **out)


def make_flashes():
    from flyvis.datasets.flashes import Flashes

    d = Flashes(dynamic_range=[0, 1], t_stim=1, t_pre=1.0, dt=1 / 200, radius=(-1, 6),
                alternations=(0, 1, 0))
    np.savez_compressed(
        FIXTURE_DIR / "flashes.npz",
        stimulus=np.array(d.flashes_dir.flashes[:], dtype=np.float32),
        baseline=d.arg_df.baseline.values.astype(float),
        intensity=d.arg_df.intensity.values.astype(float),
        radius=d.arg_df.radius.values.astype(int),
    )


def make_edges():
    from flyvis.datasets.moving_bar import MovingEdge

    config = dict(offsets=(-10, 11), speeds=(2.4, 4.8, 9.7, 13, 19, 25), height=80,
                  post_pad_mode="continue", dt=1 / 200, t_pre=1.0, t_post=1.0)
    full = MovingEdge(intensities=[0, 1], build_stim_on_init=False, **config)
    out = {f"table_{c}": full.arg_df[c].values.astype(float) for c in full.arg_df.columns}
    for angle, intensity in EDGE_GROUPS:
        d = MovingEdge(intensities=[intensity], angles=[angle], **config)
        stim = np.stack([d[i].cpu().numpy() for i in range(len(d))]).astype(np.float32)
        out[f"stimulus_{angle}_{intensity}"] = stim
        out[f"speed_{angle}_{intensity}"] = d.arg_df.speed.values.astype(float)
        out[f"t_stim_{angle}_{intensity}"] = d.arg_df.t_stim.values.astype(float)
        out[f"offsets_{angle}_{intensity}"] = np.asarray(d.wrap.offsets[:], dtype=np.float64)
    np.savez_compressed(FIXTURE_DIR / "edges.npz", **out)


def make_sintel():
    import flyvis
    from flyvis.datasets.sintel import AugmentedSintel

    sintel_dir = Path(flyvis.sintel_dir)
    if sintel_dir.exists():
        shutil.rmtree(sintel_dir)
    fabricate_sintel_folder(sintel_dir, with_flow=True)
    d = AugmentedSintel(tasks=["lum"], interpolate=False,
                        boxfilter={"extent": 15, "kernel_size": 13}, temporal_split=True,
                        dt=1 / 100)
    stims = np.stack([d[i]["lum"].cpu().numpy()[:, 0] for i in range(len(d))])  # (N, T, 721)
    table = d.arg_df
    np.savez_compressed(
        FIXTURE_DIR / "sintel.npz",
        name=np.array([str(n) for n in table.name], dtype=str),
        **{c: table[c].values.astype(int) for c in table.columns if c != "name"},
        mean=stims.astype(np.float64).mean(axis=(1, 2)),
        std=stims.astype(np.float64).std(axis=(1, 2)),
        full_index=np.array(SINTEL_FULL_SAMPLES),
        full=stims[SINTEL_FULL_SAMPLES].astype(np.float32),
        shape=np.array(stims.shape),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="boxeye,flashes,edges,sintel")
    args = parser.parse_args(argv)
    if "FLYVIS_ROOT_DIR" not in os.environ:
        sys.exit("set FLYVIS_ROOT_DIR to a scratch folder first")
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    jobs = {"boxeye": make_boxeye, "flashes": make_flashes, "edges": make_edges,
            "sintel": make_sintel}
    for name in args.only.split(","):
        print(f"making {name} ...", flush=True)
        jobs[name]()


if __name__ == "__main__":
    main()
