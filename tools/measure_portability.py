"""How far flycluster's numbers move across instruction sets, and what the portable mode pins.

A study, not a test (docs/reproducibility.md reports its output). CI cannot choose its CPU, so
other machines are emulated on this one by changing every run-time CPU dispatch we know of:

- numba's code generation target (``NUMBA_CPU_NAME``): UMAP and pynndescent are numba code;
- numpy's SIMD dispatch (``NPY_DISABLE_CPU_FEATURES``): ufuncs such as ``exp`` and sums;
- OpenBLAS' kernel choice (``OPENBLAS_CORETYPE``): UMAP's spectral start, the mixtures' algebra;
- the native simulation kernel's compiler flags (``FLYCLUSTER_NATIVE_MARCH`` and
  ``FLYCLUSTER_NATIVE_FP_CONTRACT``).

Each variant runs in its own process on the committed flyvis fixtures: the clustering of
``tests/fixtures/clustering/umap_gmm.npz`` (notebook k range and paper k range), a short
stability run, and the native kernel on ``tests/fixtures/simulation/responses.npz``. The table
compares every variant with the host run and with the flyvis fixture (computed on another CPU).

Usage: ``python tools/measure_portability.py [--out DIR] [--variants NAME ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flycluster.reproducible import NUMPY_DISPATCH_ABOVE_BASELINE, PORTABLE_ENV

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_FIXTURE = ROOT / "tests" / "fixtures" / "clustering" / "umap_gmm.npz"
SIM_FIXTURE = ROOT / "tests" / "fixtures" / "simulation" / "responses.npz"

#: every numpy dispatch target above the x86-64-v2 baseline (numpy 2.x names)
NUMPY_ABOVE_V2 = NUMPY_DISPATCH_ABOVE_BASELINE
#: the settings of flycluster's portable mode
PORTABLE = dict(PORTABLE_ENV)

VARIANTS: dict[str, dict[str, str]] = {
    "host": {},
    "numba-generic": {"NUMBA_CPU_NAME": "generic"},
    "numba-haswell": {"NUMBA_CPU_NAME": "haswell"},
    "numpy-v2": {"NPY_DISABLE_CPU_FEATURES": NUMPY_ABOVE_V2},
    "blas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "native-v3": {"FLYCLUSTER_NATIVE_MARCH": "x86-64-v3"},
    "native-v2": {"FLYCLUSTER_NATIVE_MARCH": "x86-64-v2"},
    "avx2-machine": {"NUMBA_CPU_NAME": "haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4,AVX512_ICL,AVX512_SPR",
                     "OPENBLAS_CORETYPE": "Haswell", "FLYCLUSTER_NATIVE_MARCH": "x86-64-v3"},
    "portable": dict(PORTABLE),
    "portable-native-v2": {**PORTABLE, "FLYCLUSTER_NATIVE_MARCH": "x86-64-v2"},
    "portable-native-v3": {**PORTABLE, "FLYCLUSTER_NATIVE_MARCH": "x86-64-v3"},
    "portable-avx2-blas": {**PORTABLE, "OPENBLAS_CORETYPE": "Haswell"},
}


def worker(out: Path) -> None:
    """Compute everything once under the current environment and save it to ``out``."""
    from flycluster.clustering import cluster_cell_type, cluster_stability
    from flycluster.connectome import fetch_connectome, load_connectome
    from flycluster.network import Network

    result: dict[str, np.ndarray] = {}
    with np.load(CLUSTER_FIXTURE) as data:
        X, te = data["X"], data["task_error"]
    t0 = time.perf_counter()
    ds = cluster_cell_type(X, task_error=te, cell_type="T4c")
    result["cluster_seconds"] = np.float64(time.perf_counter() - t0)
    for name in ("embedding", "bic", "label", "means", "covariances"):
        result[name] = ds[name].values
    paper = cluster_cell_type(X, gmm_kwargs={"range_n_clusters": [2, 3, 3, 4, 5]})
    result["paper_bic"], result["paper_label"] = paper["bic"].values, paper["label"].values
    st = cluster_stability(X, ds, n_seed_repeats=2, n_leave_out_repeats=2,
                           leave_out_fraction=0.2, random_state=7)
    result["stability_ari_repeat"] = st["stability_ari_repeat"].values

    with np.load(SIM_FIXTURE) as data:
        ref = {k: data[k] for k in data.files}
    params = {k[len("param_"):]: v for k, v in ref.items() if k.startswith("param_")}
    network = Network(load_connectome(fetch_connectome(), extent=15), params, source="fixture")
    dt, t_pre, t_fade_in = ref["settings_b"]
    network.simulate(ref["movie_b"][:, :4], dt, t_pre=0.01)  # build and warm the kernel
    t0 = time.perf_counter()
    result["responses"] = network.simulate(ref["movie_b"], dt, t_pre=t_pre, t_fade_in=t_fade_in)
    result["simulate_seconds"] = np.float64(time.perf_counter() - t0)
    result["responses_flyvis_max_diff"] = np.float64(np.nanmax(np.abs(result["responses"] - ref["responses_b"])))
    np.savez(out, **result)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    both = np.isnan(a) & np.isnan(b)
    if (np.isnan(a) != np.isnan(b)).any():
        return float("inf")
    return float(np.max(np.abs(np.where(both, 0, a - b)), initial=0.0))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok]), initial=0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="folder for the per-variant .npz and table.json")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="flycluster-portability-"))
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="flycluster-portability-cache-"))
    runs = {}
    for name in args.variants:
        env = {k: v for k, v in os.environ.items()
               if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES",
                            "OPENBLAS_CORETYPE", "FLYCLUSTER_NATIVE_MARCH", "FLYCLUSTER_NATIVE_FP_CONTRACT")}
        # own caches per variant: numba and the native build never reuse another target's code
        env.update(VARIANTS[name], NUMBA_CACHE_DIR=str(cache / name / "numba"),
                   FLYCLUSTER_CACHE=str(cache / name), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        target = out / f"{name}.npz"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--worker", str(target)], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
        with np.load(target) as data:
            runs[name] = {k: data[k] for k in data.files}
    with np.load(CLUSTER_FIXTURE) as data:
        fixture = {k: data[k] for k in data.files}
    host = runs.get("host")
    rows = []
    for name, run in runs.items():
        row = {"variant": name, "env": VARIANTS[name]}
        if host is not None:
            row.update(
                embedding_vs_host=_diff(run["embedding"], host["embedding"]),
                bic_rel_vs_host=_rel(run["bic"], host["bic"]),
                paper_bic_rel_vs_host=_rel(run["paper_bic"], host["paper_bic"]),
                means_vs_host=_diff(run["means"], host["means"]),
                labels_equal_host=bool(np.array_equal(run["label"], host["label"])
                                       and np.array_equal(run["paper_label"], host["paper_label"])),
                stability_vs_host=_diff(run["stability_ari_repeat"], host["stability_ari_repeat"]),
                responses_vs_host=_diff(run["responses"], host["responses"]))
        row.update(
            embedding_vs_flyvis=_diff(run["embedding"], fixture["embedding"]),
            bic_rel_vs_flyvis=_rel(run["bic"], fixture["bic"]),
            labels_equal_flyvis=bool(np.array_equal(run["label"], fixture["labels"])),
            responses_vs_flyvis=float(run["responses_flyvis_max_diff"]),
            cluster_seconds=float(run["cluster_seconds"]),
            simulate_seconds=float(run["simulate_seconds"]))
        rows.append(row)
    (out / "table.json").write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                                "rows": rows}, indent=1))
    keys = [k for k in rows[0] if k not in ("variant", "env")] if rows else []
    print("| variant | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for row in rows:
        cells = [f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        print(f"| {row['variant']} | " + " | ".join(cells) + " |")
    print(f"results in {out}")


if __name__ == "__main__":
    main()
