"""Produce the flyvis reference fixture for the optic-flow task tests.

Run with the flyvis reference interpreter (flyvis 1.2.0 is NOT a dependency of flycluster):

    FLYVIS_ROOT_DIR=/tmp/flyvis-root-<name> /tmp/flyvis-ref/bin/python tools/make_training_fixtures.py

Writes ``tests/fixtures/training/flow_task.npz`` with, from flyvis's own code:

- ``sintel_*``: ``MultiTaskSintel(tasks=["flow"], ...)`` (the task config's dataset) on a
  fabricated MPI-Sintel folder with non-zero flow files (:func:`fabricate_flow_folder`): the
  rendered luminance and flow of every vertical split, and two samples through
  ``apply_augmentation`` with fixed flip / rotation / contrast / brightness and no noise;
- ``hexflip_*``, ``hexrot_*``: ``HexFlip`` (axes 1-3) and ``HexRotate`` (n 1-5) of a seeded
  (frames, 2, hexals) flow sequence at extent 3;
- ``decoder_*``: ``DecoderGAVP`` (flow task config) at extent 2 with seeded random weights:
  its state dict and its output for a seeded activity, in eval mode;
- ``l2norm``, ``schedule``: the loss of seeded tensors and ``HyperParamScheduler.stepwise``.

:func:`fabricate_flow_folder` needs only numpy and Pillow; the tests import it from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "training" / "flow_task.npz"
SINTEL_HEIGHT, SINTEL_WIDTH = 436, 1024
N_FRAMES = 22  # frame PNGs of the one fabricated scene (21 flow files)


def fabricated_flow(k: int) -> np.ndarray:
    """Deterministic flow field k (436, 1024, 2) float32 px/frame, integer arithmetic only."""
    rows = np.arange(SINTEL_HEIGHT)[:, None]
    cols = np.arange(SINTEL_WIDTH)[None, :]
    u = ((rows * 7 + cols * 3 + 11 * k) % 97 - 48) / 8.0
    v = ((rows * 5 - cols * 2 + 13 * k) % 89 - 44) / 8.0
    return np.stack(np.broadcast_arrays(u, v), axis=-1).astype(np.float32)


def fabricate_flow_folder(root: Path) -> Path:
    """One scene ``alley_1`` with :data:`N_FRAMES` frames and flow files, plus ``test/``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_stimulus_fixtures import fabricated_frame

    root = Path(root)
    final = root / "training" / "final" / "alley_1"
    flow = root / "training" / "flow" / "alley_1"
    final.mkdir(parents=True, exist_ok=True)
    flow.mkdir(parents=True, exist_ok=True)
    (root / "test").mkdir(parents=True, exist_ok=True)
    for k in range(N_FRAMES):
        Image.fromarray(fabricated_frame(0, k)).save(final / f"frame_{k + 1:04d}.png",
                                                     compress_level=1)
    for k in range(N_FRAMES - 1):
        with open(flow / f"frame_{k + 1:04d}.flo", "wb") as f:
            np.array([202021.25], "<f4").tofile(f)
            np.array([SINTEL_WIDTH, SINTEL_HEIGHT], "<i4").tofile(f)
            fabricated_flow(k).astype("<f4").tofile(f)
    return root


# two augmented samples: (flip axis, n_rot, contrast, brightness)
AUGMENTED = [(2, 1, 1.3, 0.05), (3, 4, 0.8, -0.1)]


def main():
    import tempfile

    import torch
    from flyvis.connectome import ConnectomeFromAvgFilters
    from flyvis.datasets.augmentation.hex import HexFlip, HexRotate
    from flyvis.datasets.sintel import MultiTaskSintel
    from flyvis.solver import HyperParamScheduler
    from flyvis.task.decoder import DecoderGAVP
    from flyvis.task.objectives import l2norm

    out = {}
    root = fabricate_flow_folder(Path(tempfile.mkdtemp()) / "sintel")
    ds = MultiTaskSintel(tasks=["flow"], boxfilter=dict(extent=15, kernel_size=13),
                         vertical_splits=3, n_frames=19, center_crop_fraction=0.7, dt=0.02,
                         augment=True, random_temporal_crop=True, interpolate=True, p_flip=0.5,
                         p_rot=0.5, contrast_std=0.2, brightness_std=0.1,
                         gaussian_white_noise=0.08, flip_axes=[0, 1, 2, 3], sintel_path=root)
    out["sintel_names"] = np.array(ds.arg_df.name.tolist())
    out["sintel_lum"] = np.stack([s["lum"][:, 0].numpy() for s in ds.cached_sequences])
    out["sintel_flow"] = np.stack([s["flow"].numpy() for s in ds.cached_sequences])
    ds.noise.std = 0  # the pixel noise is random per hexal: tested statistically, not here
    for i, (flip, n_rot, c, b) in enumerate(AUGMENTED):
        ds.temporal_crop.set_or_sample(start=0)
        sample = ds.apply_augmentation(ds.cached_sequences[i], n_rot=n_rot, flip_axis=flip,
                                       contrast_factor=c, brightness_factor=b,
                                       gaussian_white_noise=0)
        # apply_augmentation draws the crop start itself: record it
        out[f"aug{i}_start"] = np.array(ds.temporal_crop.start)
        out[f"aug{i}_lum"] = sample["lum"][:, 0].numpy()
        out[f"aug{i}_flow"] = sample["flow"].numpy()
    out["augmented"] = np.array(AUGMENTED)

    rng = np.random.default_rng(0)
    seq = torch.tensor(rng.normal(size=(3, 2, 37)), dtype=torch.float32)
    out["hex_seq"] = seq.numpy()
    for axis in (1, 2, 3):
        out[f"hexflip_{axis}"] = HexFlip(3, p_flip=0).transform(seq, axis=axis).numpy()
    for n in range(1, 6):
        out[f"hexrot_{n}"] = HexRotate(3, p_rot=0).transform(seq, n_rot=n).numpy()

    torch.manual_seed(0)
    connectome = ConnectomeFromAvgFilters(file="fib25-fib19_v2.2.json", extent=2, n_syn_fill=1)
    dec = DecoderGAVP(connectome, shape=[8, 2], kernel_size=5, const_weight=0.001, p_dropout=0.5)
    with torch.no_grad():
        for name, p in dec.named_parameters():
            p.copy_(torch.tensor(rng.normal(scale=0.3, size=tuple(p.shape)), dtype=torch.float32))
        dec.base[1].running_mean.copy_(torch.tensor(rng.uniform(0, 1, 8), dtype=torch.float32))
        dec.base[1].running_var.copy_(torch.tensor(rng.uniform(0.5, 2, 8), dtype=torch.float32))
    dec.eval()
    n_nodes = len(connectome.nodes.type[:])
    activity = torch.tensor(rng.normal(size=(2, 3, n_nodes)), dtype=torch.float32)
    with torch.no_grad():
        y = dec(activity)
        dec.base[0].filter_to_hex()
        dec.decoder[0].filter_to_hex()
    for k, v in dec.state_dict().items():
        out[f"decoder_state_{k}"] = v.numpy()
    out["decoder_activity"] = activity.numpy()
    out["decoder_out"] = y.numpy()
    out["decoder_output_types"] = np.array([t.decode() if isinstance(t, bytes) else t
                                            for t in connectome.output_cell_types[:]])

    a = torch.tensor(rng.normal(size=(3, 4, 2, 7)), dtype=torch.float32)
    b = torch.tensor(rng.normal(size=(3, 4, 2, 7)), dtype=torch.float32)
    out["l2norm_a"], out["l2norm_b"] = a.numpy(), b.numpy()
    out["l2norm"] = np.array(float(l2norm(a, b)))
    out["schedule"] = HyperParamScheduler.stepwise(1000, 1000, 5e-5, 5e-6, 10)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **out)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
