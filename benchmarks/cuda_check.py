"""CUDA checks of the simulation kernels: equivalence with flyvis and the Triton kernel's tile sizes.

Run on a machine with a CUDA GPU (from the repository root, package importable)::

    python benchmarks/cuda_check.py [--json results.json]

1. Both CUDA kernels ("triton", the default, and "torch", the cuSPARSE fallback) simulate the two
   flyvis reference settings of ``tests/fixtures/simulation/responses.npz`` (the same check as
   ``tests/test_network.py::test_equivalent_to_flyvis`` on CPU); prints the max |difference|,
   which must be <= 1e-4, and whether the NaN padding matches.
2. Cost per sample-step of the Triton kernel alone (no transfers) for variants of its launch
   configuration (tile size, unrolling, warps, pipeline stages, program order), one option at a
   time from the defaults in ``flycluster.kernels.gpu.CONFIG``; then the best of each combined, checked
   for equivalence again and written with ``--best-config`` (for ``simulate.py --triton-config``).

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
            rows.append({"kernel": kernel, "class": type(net.kernel_for(float(dt))).__name__, "setting": setting,
                         "max_abs_diff": diff, "nan_pattern_equal": nan_same, "passed": passed, "seconds": seconds})
            print(f"equivalence {kernel:6s} setting {setting}: max |diff| {diff:.2e}, NaN pattern "
                  f"{'equal' if nan_same else 'DIFFERS'} -> {'ok' if passed else 'FAILED'} ({seconds:.2f} s)",
                  flush=True)
    return rows, ok


def time_steps(connectome, config: dict, lanes: int, n_steps: int = 20, device: str = "cuda") -> float:
    """Microseconds per sample-step of the Triton kernel alone (no transfers), ``lanes`` samples."""
    from flycluster.kernels.gpu import TritonKernel
    from flycluster.network import Network

    net = Network(connectome, Network.initial(connectome).state_dict(), device=device, kernel="triton")
    kernel = TritonKernel(*net.stencil_arrays(0.01), device=device, **config)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    v, r, rn = kernel._grids(net.steady_state(0.0, 0.01), lanes)
    frame = torch.full((net.n_hexals, lanes), 0.5, dtype=torch.float32, device=device)
    for _ in range(2):  # compile, warm up
        kernel._step(v, r, rn, frame, None)
        r, rn = rn, r
    best = np.inf
    for _ in range(3):
        sync()
        start = time.perf_counter()
        for _ in range(n_steps):
            kernel._step(v, r, rn, frame, None)
            r, rn = rn, r
        sync()
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / (n_steps * lanes)


VARIANTS = {  # one option changed at a time from the defaults (flycluster.kernels.gpu.CONFIG)
    "unroll": [1, 2, 4, 8],
    "num_stages": [1, 2, 3],
    "num_warps": [2, 4, 8],
    "tile": [(16, 32), (32, 32), (64, 32), (128, 32), (16, 64), (32, 64), (64, 64), (16, 128), (32, 128)],
    "lanes_first": [False, True],
}


def sweep(connectome, lanes: int, **kwargs) -> tuple[list[dict], dict]:
    """Time every variant, then the best option of each kind combined; returns the rows and the
    fastest configuration of all timed."""
    from flycluster.kernels import gpu

    base = dict(gpu.CONFIG)
    rows, combined = [], dict(base)
    for option, values in VARIANTS.items():
        timed = []
        for value in values:
            config = dict(base)
            if option == "tile":
                config["block_p"], config["block_b"] = value
            else:
                config[option] = value
            try:
                us = time_steps(connectome, config, lanes, **kwargs)
            except Exception as exc:  # a configuration Triton cannot compile: report, go on
                print(f"  {option}={value}: failed ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
                continue
            timed.append((us, value))
            rows.append({"option": option, "value": value, "config": config, "lanes": lanes, "us_per_sample_step": us})
            print(f"  {option}={value}: {us:.3f} us per sample-step ({lanes} lanes)", flush=True)
        if timed:
            value = min(timed, key=lambda x: x[0])[1]
            if option == "tile":
                combined["block_p"], combined["block_b"] = value
            else:
                combined[option] = value
    us = time_steps(connectome, combined, lanes, **kwargs)
    rows.append({"option": "combined", "value": None, "config": combined, "lanes": lanes, "us_per_sample_step": us})
    print(f"  best of each option combined {combined}: {us:.3f} us per sample-step", flush=True)
    fastest = min(rows, key=lambda r: r["us_per_sample_step"])
    print(f"fastest: {fastest['config']} at {fastest['us_per_sample_step']:.3f} us per sample-step", flush=True)
    return rows, fastest["config"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectome", default=None)
    parser.add_argument("--lanes", type=int, default=2048, help="samples per step in the timing sweep")
    parser.add_argument("--no-sweep", action="store_true", help="only the equivalence checks")
    parser.add_argument("--json", default=None)
    parser.add_argument("--best-config", default=None, help="write the fastest configuration (json) here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    import triton

    from flycluster.connectome import load_connectome
    from flycluster.kernels import gpu

    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "triton": triton.__version__}
    print("machine:", json.dumps(info), flush=True)
    connectome = load_connectome(args.connectome, extent=15)
    rows, ok = equivalence(connectome, ["triton", "torch"])
    sweep_rows, best = sweep(connectome, args.lanes) if not args.no_sweep else ([], dict(gpu.CONFIG))
    if best != gpu.CONFIG:
        gpu.CONFIG.update(best)
        print("equivalence with the best configuration:", flush=True)
        more, ok_best = equivalence(connectome, ["triton"])
        rows += more
        ok &= ok_best
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "equivalence": rows, "sweep": sweep_rows, "best_config": best}, f, indent=1)
    if args.best_config:
        with open(args.best_config, "w") as f:
            json.dump(best, f)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
