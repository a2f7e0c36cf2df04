"""A download-free rehearsal of flyvis's flow/0000 workload, at its real size.

flow/0000 is 50 trained networks analysed on augmented MPI-Sintel (23 scenes of 1024 x 436
PNGs, 2268 sequences x 80 frames), flyvis's full moving-edge set and flashes. Neither the
pretrained ensemble nor Sintel can be downloaded everywhere, yet a user sizing a cluster job
needs the real workload. :func:`write_rehearsal` writes stand-ins of the two inputs in their
real formats and sizes, so that ``config/flyvis_flow_0000.yaml`` runs on them unchanged:

- ``flow/0000/000 ... 049``: networks in flyvis's directory format (``chkpts/chkpt_00000``,
  ``validation/loss.h5``), the seeded synthetic networks of :mod:`flycluster.synthetic`;
- ``MPI-Sintel/training/final/<scene>/frame_0001.png ...``: the 23 scene names and frame
  counts of MPI-Sintel's training set (1064 frames; with flyvis's augmentation 2268
  sequences), 1024 x 436 RGB frames. Each scene is a camera panning over a procedural
  natural texture (1/f noise + dead leaves, :mod:`flycluster.training.textures`) with a
  foreground layer of occluding discs moving at another velocity (parallax), so the frames
  have natural-image statistics, motion and occlusion edges;
- ``rehearsal.yaml``: the two paths, to pass after the real config::

      snakemake --cores 2 --configfile config/flyvis_flow_0000.yaml <out>/rehearsal.yaml

Command line: ``python -m flycluster.rehearsal OUT [--networks 50] [--scenes 23]
[--max-frames N] [--random-state 0]``; fewer networks, scenes or frames give the reduced
variant the tests run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flycluster.errors import ConfigError
from flycluster.stimuli.sintel import SINTEL_FRAME_SHAPE, SINTEL_TRAINING_FRAMES

__all__ = ["write_sintel_standin", "write_rehearsal", "main"]


def _scene_frames(index: int, n_frames: int, shape, random_state: int):
    """Yield ``n_frames`` RGB uint8 frames (H, W, 3) of one stand-in scene."""
    from flycluster.training.textures import dead_leaves, natural_texture

    rng = np.random.default_rng([random_state, index])
    h, w = shape
    # background: camera pans at 2-10 px/frame in a random direction over a larger texture
    speed = rng.uniform(2.0, 10.0)
    angle = rng.uniform(0, 2 * np.pi)
    step = speed * np.array([np.sin(angle), np.cos(angle)])
    margin = int(np.ceil(speed * n_frames)) + 2
    big = (h + margin, w + margin)
    background = natural_texture(int(rng.integers(2**31)), shape=big)
    # foreground: sparse occluding discs moving at another velocity (parallax)
    leaves_rng = np.random.default_rng(rng.integers(2**31))
    n_discs = max(1, int(big[0] * big[1] / 40000))
    foreground = dead_leaves(big, n_leaves=n_discs, min_radius=15, max_radius=120,
                             rng=leaves_rng)
    mask = np.abs(foreground - foreground[0, 0]) > 1e-12  # pixels some disc covered
    fg_step = step * rng.uniform(1.5, 2.5)
    start = np.array([margin // 2, margin // 2], dtype=float)
    tint = rng.uniform(0.85, 1.15, size=3)  # a colour cast, so the grey conversion matters
    for k in range(n_frames):
        layers = []
        for s in (step, fg_step):
            r, c = np.clip(np.round(start + (k - n_frames / 2) * s).astype(int),
                           0, [big[0] - h, big[1] - w])
            layers.append((r, c))
        (r0, c0), (r1, c1) = layers
        frame = background[r0:r0 + h, c0:c0 + w].copy()
        m = mask[r1:r1 + h, c1:c1 + w]
        frame[m] = foreground[r1:r1 + h, c1:c1 + w][m]
        rgb = np.clip(frame[..., None] * tint * 255 + 0.5, 0, 255).astype(np.uint8)
        yield rgb


def write_sintel_standin(root, frame_counts=None, shape=SINTEL_FRAME_SHAPE,
                         random_state: int = 0, progress=None) -> Path:
    """Write a Sintel-layout folder ``root/training/final/<scene>/frame_XXXX.png``.

    Parameters
    ----------
    root : path
        The folder to create (the ``stimuli.<set>.root`` of a ``sintel`` stimulus set).
    frame_counts : dict, optional
        Scene name -> number of frames; default the real training set
        (:data:`SINTEL_TRAINING_FRAMES`).
    shape : (int, int)
        Frame (height, width) in pixels; default Sintel's (436, 1024).
    random_state : int
        Seed of every scene (scene ``i`` uses ``default_rng([random_state, i])``).
    progress : callable, optional
        Called with a line of text after each scene.

    Scenes are written to a temporary folder and renamed when complete, so an interrupted
    call leaves no half-written scene; scenes already present are kept.
    """
    from PIL import Image

    counts = SINTEL_TRAINING_FRAMES if frame_counts is None else dict(frame_counts)
    final = Path(root) / "training" / "final"
    final.mkdir(parents=True, exist_ok=True)
    for i, (scene, n_frames) in enumerate(counts.items()):
        dest = final / scene
        if dest.is_dir():
            continue
        t0 = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{scene}.", dir=final))
        try:
            for k, rgb in enumerate(_scene_frames(i, n_frames, shape, random_state)):
                Image.fromarray(rgb).save(tmp / f"frame_{k + 1:04d}.png", compress_level=1)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if progress is not None:
            progress(f"scene {i + 1}/{len(counts)} {scene}: {n_frames} frames "
                     f"in {time.perf_counter() - t0:.1f} s")
    return Path(root)


def write_rehearsal(out, n_networks: int = 50, n_scenes: int | None = None,
                    max_frames: int | None = None, shape=SINTEL_FRAME_SHAPE,
                    random_state: int = 0, connectome=None, progress=None) -> Path:
    """Write the rehearsal inputs under ``out`` and return the path of ``rehearsal.yaml``.

    ``out/flow/0000`` (``n_networks`` synthetic networks in flyvis's format), ``out/MPI-Sintel``
    (the first ``n_scenes`` training scenes, at most ``max_frames`` frames each) and
    ``out/rehearsal.yaml`` (``ensemble.path`` and ``stimuli.sintel.root``). Defaults give the
    real size. Parts already written are kept, so a rerun after an interruption continues.
    """
    import yaml

    from flycluster.stimuli.sintel import augmented_sintel_size
    from flycluster.synthetic import write_synthetic_ensemble

    for name, value, low in (("n_networks", n_networks, 1), ("n_scenes", n_scenes, 1),
                             ("max_frames", max_frames, 20)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < low):
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    out = Path(out)
    counts = dict(list(SINTEL_TRAINING_FRAMES.items())[:n_scenes])
    if max_frames is not None:
        counts = {k: min(v, max_frames) for k, v in counts.items()}
    ensemble = out / "flow" / "0000"
    if not ensemble.is_dir():
        if progress is not None:
            progress(f"writing {n_networks} networks to {ensemble}")
        write_synthetic_ensemble(ensemble, n_networks, connectome=connectome,
                                 random_state=random_state)
    sintel = write_sintel_standin(out / "MPI-Sintel", counts, shape, random_state, progress)
    overlay = {"ensemble": {"path": str(ensemble.resolve())},
               "stimuli": {"sintel": {"root": str(sintel.resolve())}}}
    path = out / "rehearsal.yaml"
    path.write_text("# flow/0000 rehearsal inputs (python -m flycluster.rehearsal); pass after\n"
                    "# config/flyvis_flow_0000.yaml: --configfile config/flyvis_flow_0000.yaml "
                    f"{path}\n# {len(counts)} scenes, {sum(counts.values())} frames, "
                    f"{augmented_sintel_size(counts)} Sintel sequences, {n_networks} networks\n"
                    + yaml.safe_dump(overlay, sort_keys=False))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flycluster.rehearsal",
        description="Write a flyvis-format 50-network ensemble and a Sintel-layout folder of "
                    "the real size (synthetic frames) for rehearsing config/flyvis_flow_0000.yaml.")
    parser.add_argument("out", help="folder to write (flow/0000, MPI-Sintel, rehearsal.yaml)")
    parser.add_argument("--networks", type=int, default=50, help="networks (default 50)")
    parser.add_argument("--scenes", type=int, default=None,
                        help="first N of the 23 Sintel training scenes (default all)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="at most this many frames per scene (>= 20; default all)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        path = write_rehearsal(args.out, args.networks, args.scenes, args.max_frames,
                               random_state=args.random_state,
                               progress=lambda line: print(line, flush=True))
    except ConfigError as e:
        parser.error(str(e))
    print(f"wrote {path} in {time.perf_counter() - t0:.0f} s; run:\n  snakemake --cores 2 "
          f"--configfile config/flyvis_flow_0000.yaml {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
