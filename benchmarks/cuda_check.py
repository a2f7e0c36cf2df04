"""CUDA checks of the simulation kernels: equivalence with flyvis and the Triton kernel's tile sizes.

Run on a machine with a CUDA GPU (from the repository root, package importable)::

    python benchmarks/cuda_check.py [--json results.json]

1. Both CUDA kernels ("triton", the default, and "torch", the cuSPARSE fallback) simulate the two
   flyvis reference settings of ``tests/fixtures/simulation/responses.npz`` (the same check as
   ``tests/test_network.py::test_equivalent_to_flyvis`` on CPU); prints the max |difference|,
   which must be <= 1e-4, and whether the NaN padding matches.
2. Cost per sample-step of the Triton kernel for several tile sizes (target positions x samples
   per program) at a few batch sizes, to choose the defaults in ``flycluster.gpu``.

Exits non-zero when an equivalence check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "simulation" / "responses.npz"


def equivalence(connectome, kernels) -> tuple[list[dict], bool]:
    from flycluster.network import Network

    data = np.load(FIXTURES)
    params = {k[len("param_"):]: data[k] for k in data.files if k.startswith("param_")}
    rows, ok = [], True
    for kernel in kernels:
        net = Network(connectome, params, device="cuda", kernel=kernel, source="fixture")
        for setting in ("a", "b"):
            dt, t_pre, t_fade_in = data[f"settings_{setting}"]
            expected = data[f"responses_{setting}"]
            start = time.perf_counter()
            out = net.simulate(data[f"movie_{setting}"], float(dt), t_pre=float(t_pre), t_fade_in=float(t_fade_in))
            seconds = time.perf_counter() - start
            nan_same = bool(np.array_equal(np.isnan(out), np.isnan(expected)))
            diff = float(np.nanmax(np.abs(out - expected)))
            passed = nan_same and diff <= 1e-4
            ok &= passed
            rows.append({"kernel": kernel, "class": type(net._kernel(float(dt))).__name__, "setting": setting,
                         "max_abs_diff": diff, "nan_pattern_equal": nan_same, "passed": passed, "seconds": seconds})
            print(f"equivalence {kernel:6s} setting {setting}: max |diff| {diff:.2e}, NaN pattern "
                  f"{'equal' if nan_same else 'DIFFERS'} -> {'ok' if passed else 'FAILED'} ({seconds:.2f} s)",
                  flush=True)
    return rows, ok


def tile_sweep(connectome, tiles, batch_sizes, n_frames=40) -> list[dict]:
    from flycluster import gpu
    from flycluster.network import Network

    params = Network.initial(connectome).state_dict()
    rng = np.random.default_rng(0)
    rows = []
    for block_p, block_b in tiles:
        gpu.BLOCK_P, gpu.BLOCK_B = block_p, block_b
        net = Network(connectome, params, device="cuda", kernel="triton")
        for batch in batch_sizes:
            movie = rng.random((batch, n_frames, net.n_hexals), dtype=np.float32)
            net.simulate(movie[:, :2], 0.01, batch_size=batch, progress=False)  # compile, warm up
            best = np.inf
            for _ in range(2):
                start = time.perf_counter()
                net.simulate(movie, 0.01, batch_size=batch, progress=False)
                best = min(best, time.perf_counter() - start)
            per = 1e6 * best / (batch * n_frames)
            rows.append({"block_p": block_p, "block_b": block_b, "batch_size": batch, "us_per_sample_step": per})
            print(f"triton tiles {block_p:3d} x {block_b:3d}, batch {batch:5d}: {per:7.3f} us per sample-step "
                  f"({best:.3f} s for {batch} x {n_frames})", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectome", default=None)
    parser.add_argument("--tiles", nargs="+", default=["32x32", "32x64", "16x64", "32x128", "64x32", "16x32"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 2268])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    import triton

    from flycluster.connectome import load_connectome

    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "triton": triton.__version__}
    print("machine:", json.dumps(info), flush=True)
    connectome = load_connectome(args.connectome, extent=15)
    rows, ok = equivalence(connectome, ["triton", "torch"])
    tiles = [tuple(int(x) for x in t.split("x")) for t in args.tiles]
    sweep = tile_sweep(connectome, tiles, args.batch_sizes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "equivalence": rows, "tile_sweep": sweep}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
