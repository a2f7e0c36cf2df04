"""Speed cost of the portable mode (flycluster.reproducible): native vs portable, side by side.

Each mode runs in its own process (the settings must precede numpy's and numba's import), with
warm caches (a first untimed pass compiles numba's functions and the native kernel), then times:

- ``cluster``: one cell type of the default run's size (12 networks x 48 samples x 80 frames),
  UMAP + the mixture search, as the workflow's cluster job does it;
- ``simulate``: the native kernel on 8 samples x 80 frames at extent 15 with a 2 s fade-in
  (the default naturalistic set's settings).

CPU time of the process (``time.process_time``) is reported next to wall time, because a busy
machine inflates wall time. The last line reads
``portable mode: cluster Nx, simulate Mx the CPU time of the native mode``.

Usage: ``python benchmarks/portable_mode.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

from flycluster.reproducible import portable_environment

WORKER = r"""
import json, sys, time
import numpy as np
from flycluster.clustering import cluster_cell_type
from flycluster.connectome import fetch_connectome, load_connectome
from flycluster.network import Network
from flycluster.parameters import initial_state_dict

repeats = int(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.standard_normal((12, 48 * 80)).astype(np.float32)
X[:6] += np.sin(np.arange(48 * 80) / 50.0).astype(np.float32)
network = Network(load_connectome(fetch_connectome(), extent=15),
                  initial_state_dict(load_connectome(fetch_connectome(), extent=15)))
movie = rng.uniform(0, 1, (8, 80, 721)).astype(np.float32)

def cluster():
    cluster_cell_type(X, task_error=np.linspace(0, 1, 12))

def simulate():
    network.simulate(movie, 0.01, t_fade_in=2.0)

result = {}
for name, fn in (("cluster", cluster), ("simulate", simulate)):
    fn()  # compile and warm
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    result[name] = {"cpu_s": min(cpu), "wall_s": min(wall)}
print(json.dumps(result))
"""


def run_mode(env: dict, repeats: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER, str(repeats)], env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES",
                         "OPENBLAS_CORETYPE", "FLYCLUSTER_NATIVE_MARCH", "FLYCLUSTER_NATIVE_FP_CONTRACT")}
    base.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    results = {"native": run_mode(base, args.repeats),
               "portable": run_mode(portable_environment(base), args.repeats)}
    for mode, res in results.items():
        print(f"{mode:9s} " + "  ".join(f"{job} {r['cpu_s']:.2f} s CPU ({r['wall_s']:.2f} s wall)"
                                        for job, r in res.items()))
    ratio = {job: results["portable"][job]["cpu_s"] / results["native"][job]["cpu_s"] for job in results["native"]}
    print(f"portable mode: cluster {ratio['cluster']:.2f}x, simulate {ratio['simulate']:.2f}x the CPU time "
          f"of the native mode")


if __name__ == "__main__":
    main()
