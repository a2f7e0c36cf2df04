"""Cost of one training iteration through a flyvis network: flycluster vs flyvis, side by side.

One iteration as flyvis's solver does it, for the network part: a batch of 4 sequences of 19
frames at dt = 1/50 s on the extent-15 eye, integrated from the grey steady state (t_pre = 0.5 s,
computed once beforehand without gradient, as the solver does once per epoch), a scalar loss of
the activity of all nodes, ``loss.backward()`` through all 19 Euler steps, and an Adam step on the
trainable parameters (flyvis clamps the strengths in the next forward call; so does flycluster).
The decoder, which is the same small torch network for both, is left out: it is not what differs.

flycluster runs :class:`flycluster.training.NetworkModule` (``--backends``: ``native`` = the C
adjoint, the default on CPUs; ``triton`` = the Triton adjoint, with ``--device cuda``; ``torch`` =
the autograd reference); flyvis runs in a subprocess with the
given interpreter (flyvis is never imported here; it needs ``FLYVIS_ROOT_DIR`` or uses a
temporary one). Both use this machine's CPU with torch's default number of threads, measured in
one run; the best of ``--repeats`` iterations after a warm-up is reported, with wall and CPU
time (CPU time is less sensitive to other jobs sharing the cores). The last line reads
``flycluster X s per iteration, flyvis Y s per iteration, speed-up Nx``.

Usage (from the repository root, package importable)::

    python benchmarks/train.py --flyvis-python /path/to/flyvis-venv/bin/python
    python benchmarks/train.py --backends native torch --json train.json
    python benchmarks/train.py --device cuda --backends triton torch --flyvis-python ...

With ``--device cuda`` every iteration ends with ``torch.cuda.synchronize()``, and flyvis runs on
its own default device (CUDA where it sees one: flyvis picks it at import).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate import machine, peak_rss_mb  # noqa: E402

BATCH, FRAMES, DT, T_PRE, EXTENT, LR = 4, 19, 1 / 50, 0.5, 15, 5e-5

FLYVIS_SCRIPT = textwrap.dedent("""
    import json, sys, time, numpy as np, torch
    from flyvis.network import Network
    batch, frames, dt, t_pre, repeats, seed, lr, threads = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
        float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]))
    if threads > 0:
        torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    t0 = time.perf_counter(); net = Network(); build = time.perf_counter() - t0
    movie = torch.from_numpy(np.random.default_rng(seed).random((batch, frames, 1, 721)).astype(np.float32))
    state = net.steady_state(t_pre, dt, batch_size=batch, value=0.5)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    def iteration():
        optim.zero_grad()
        net.stimulus.zero(batch, frames)
        net.stimulus.add_input(movie)
        activity = net(net.stimulus(), dt, state=state)
        loss = (activity ** 2).mean()
        loss.backward()
        optim.step()
        sync()
    iteration()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        iteration()
        wall.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    print(json.dumps({"build_s": build, "wall_s": wall, "cpu_s": cpu, "torch_threads": torch.get_num_threads()}))
""")


def measure_ours(backend: str, repeats: int, seed: int = 0, connectome=None, device: str = "cpu") -> dict:
    import torch

    from flycluster.network import Network

    net = Network.initial(connectome=connectome, extent=EXTENT)
    module = net.module(backend=backend).to(device)
    movie = torch.from_numpy(np.random.default_rng(seed).random((BATCH, FRAMES, net.n_hexals)).astype(np.float32))
    movie = movie.to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    state = module.steady_state(T_PRE, DT, BATCH)
    optim = torch.optim.Adam(module.parameters(), lr=LR)

    def iteration():
        optim.zero_grad()
        activity = module(movie, DT, state=state)
        loss = (activity ** 2).mean()
        loss.backward()
        optim.step()
        sync()

    iteration()  # warm-up: builds the C library (or compiles the Triton kernels) and the stencil
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        iteration()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"backend": backend, "device": device, "wall_s": wall, "cpu_s": cpu,
            "torch_threads": torch.get_num_threads()}


def measure_flyvis(python: str, repeats: int, seed: int = 0, threads: int = 0) -> dict:
    env = dict(os.environ)
    env.setdefault("FLYVIS_ROOT_DIR", tempfile.mkdtemp(prefix="flyvis-root-"))
    args = [str(a) for a in (BATCH, FRAMES, DT, T_PRE, repeats, seed, LR, threads)]
    proc = subprocess.run([python, "-c", FLYVIS_SCRIPT, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"flyvis benchmark failed ({python}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(name: str, result: dict) -> None:
    print(f"{name:22s}: best {min(result['wall_s']):.4f} s per iteration (median {np.median(result['wall_s']):.4f} s), "
          f"CPU time best {min(result['cpu_s']):.4f} s, over {len(result['wall_s'])} iterations, "
          f"{result['torch_threads']} torch threads", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flyvis-python", default=None, help="python of a venv with flyvis 1.2.0 (side by side)")
    parser.add_argument("--backends", nargs="+", default=None, choices=["native", "triton", "torch"],
                        help="flycluster backends to measure; the first is compared with flyvis "
                             "(default: native on cpu, triton on cuda)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where flycluster trains")
    parser.add_argument("--repeats", type=int, default=10, help="timed iterations of flycluster")
    parser.add_argument("--flyvis-repeats", type=int, default=5, help="timed iterations of flyvis")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both (and the native kernel's threads); 0: torch's default")
    parser.add_argument("--connectome", default=None, help="connectome json (default: fetched)")
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args(argv)
    args.backends = args.backends or (["triton"] if args.device == "cuda" else ["native"])
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)

    info = machine()
    print("machine:", json.dumps(info), flush=True)
    print(f"flycluster on {args.device}; one iteration: batch {BATCH} x {FRAMES} frames at dt {DT} s, "
          f"extent {EXTENT}, from the grey steady "
          f"state ({T_PRE} s), loss = mean(activity**2), backward, Adam step", flush=True)
    results = {"machine": info, "flycluster": {}}
    for backend in args.backends:
        results["flycluster"][backend] = measure_ours(backend, args.repeats, connectome=args.connectome,
                                                      device=args.device)
        report(f"flycluster ({backend})", results["flycluster"][backend])
    first = results["flycluster"][args.backends[0]]
    ours = min(first["wall_s"])
    if args.flyvis_python:
        results["flyvis"] = fly = measure_flyvis(args.flyvis_python, args.flyvis_repeats, threads=args.threads)
        report("flyvis", fly)
        print(f"flyvis Network() built in {fly['build_s']:.1f} s", flush=True)
        # again after flyvis: other jobs on the machine change the load during a run
        again = measure_ours(args.backends[0], args.repeats, connectome=args.connectome, device=args.device)
        report(f"flycluster ({args.backends[0]}) again", again)
        first["wall_s"] += again["wall_s"]
        first["cpu_s"] += again["cpu_s"]
        ours = min(first["wall_s"])
        theirs = min(fly["wall_s"])
        results["speedup"] = theirs / ours
        results["speedup_cpu_time"] = min(fly["cpu_s"]) / min(first["cpu_s"])
        print(f"in CPU time: flycluster {min(first['cpu_s']):.4f} s, flyvis {min(fly['cpu_s']):.4f} s per iteration, "
              f"speed-up {results['speedup_cpu_time']:.1f}x", flush=True)
    results["peak_rss_mb"] = peak_rss_mb()
    results["load_average_1min_end"] = os.getloadavg()[0]
    print(f"peak memory (RSS) of this process: {results['peak_rss_mb']:.0f} MB; load average "
          f"{info['load_average_1min']:.1f} at start, {results['load_average_1min_end']:.1f} at end "
          f"on {info['cpu_count']} cores", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.flyvis_python:
        print(f"flycluster {ours:.4f} s per iteration, flyvis {theirs:.4f} s per iteration, "
              f"speed-up {results['speedup']:.1f}x", flush=True)
    else:
        print(f"flycluster {ours:.4f} s per iteration (run with --flyvis-python for the comparison)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
