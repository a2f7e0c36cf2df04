"""Cost of simulating a flyvis network: flycluster vs flyvis, per sample-step, at extent 15.

A sample-step is one Euler step of one sample (one movie frame or one fade-in/steady-state step).
The flyvis ``flow/0000`` naturalistic set costs 2268 samples x (200 fade-in + 80 movie) steps
per network; the projection multiplies the measured cost per sample-step by that.

Usage (from the repository root, package importable)::

    python benchmarks/simulate.py                                  # flycluster only
    python benchmarks/simulate.py --flyvis-python /path/to/venv/bin/python   # side by side
    python benchmarks/simulate.py --full                           # also one full-size run
    python benchmarks/simulate.py --kernels native scipy           # the native kernel and the fallback
    python benchmarks/simulate.py --device cuda --kernels triton torch --batch-sizes 1024 2268 --full

flyvis runs in a subprocess with the given interpreter (flyvis is never imported here); it
needs ``FLYVIS_ROOT_DIR`` or uses a temporary one. Prints a table and, with ``--json``, writes
the numbers to a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

FULL_SAMPLES, FULL_STEPS = 2268, 200 + 80

FLYVIS_SCRIPT = textwrap.dedent("""
    import json, sys, time, numpy as np, torch
    import flyvis
    from flyvis.network import Network
    n_samples, n_frames, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sync = torch.cuda.synchronize if flyvis.device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter(); net = Network(); build = time.perf_counter() - t0
    movie = torch.from_numpy(np.random.default_rng(seed).random((n_samples, n_frames, 1, 721)).astype(np.float32))
    movie = movie.to(flyvis.device)
    with torch.no_grad():
        net.simulate(movie[:, :5], 0.01, initial_state=None)  # warm-up
        sync(); t0 = time.perf_counter(); c0 = time.process_time()
        net.simulate(movie, 0.01, initial_state=None)
        sync(); sim = time.perf_counter() - t0; cpu = time.process_time() - c0
    print(json.dumps({"build_s": build, "simulate_s": sim, "cpu_s": cpu, "samples": n_samples, "frames": n_frames,
                      "torch_threads": torch.get_num_threads(), "device": str(flyvis.device)}))
""")


def machine() -> dict:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(), "node": platform.node(),
            "load_average_1min": os.getloadavg()[0]}  # other jobs on the same cores skew timings
    import torch

    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure_ours(net, batch_sizes, n_frames, repeats, seed=0):
    rows = []
    rng = np.random.default_rng(seed)
    for batch in batch_sizes:
        movie = rng.random((batch, n_frames, net.n_hexals)).astype(np.float32)
        net.simulate(movie[:, :2], 0.01, batch_size=batch, progress=False)  # warm-up: kernel, threads
        best, best_cpu = np.inf, np.inf
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            net.simulate(movie, 0.01, batch_size=batch, progress=False)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - cpu_start)
        per = best / (batch * n_frames)
        cpu_per = best_cpu / (batch * n_frames)
        rows.append({"batch_size": batch, "seconds": best, "ms_per_sample_step": 1e3 * per,
                     "cpu_ms_per_sample_step": 1e3 * cpu_per})
        print(f"flycluster  batch {batch:4d}: {1e3 * per:7.4f} ms per sample-step "
              f"({best:.2f} s for {batch} x {n_frames} steps; CPU time {1e3 * cpu_per:.4f} ms)", flush=True)
    return rows


def measure_flyvis(python, n_samples, n_frames):
    env = dict(os.environ)
    env.setdefault("FLYVIS_ROOT_DIR", tempfile.mkdtemp(prefix="flyvis-root-"))
    proc = subprocess.run([python, "-c", FLYVIS_SCRIPT, str(n_samples), str(n_frames), "0"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"flyvis benchmark failed ({python}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["ms_per_sample_step"] = 1e3 * result["simulate_s"] / (n_samples * n_frames)
    result["cpu_ms_per_sample_step"] = 1e3 * result["cpu_s"] / (n_samples * n_frames)
    print(f"flyvis      batch {n_samples:4d}: {result['ms_per_sample_step']:7.4f} ms per sample-step "
          f"({result['simulate_s']:.2f} s for {n_samples} x {n_frames} steps; CPU time "
          f"{result['cpu_ms_per_sample_step']:.4f} ms; Network() built in {result['build_s']:.1f} s; "
          f"{result.get('device', 'cpu')})", flush=True)
    return result


def full_run(net, batch_size, seed=0):
    """One flow/0000-size network: 2268 samples x 80 frames, 2 s fade-in at dt = 1/100."""
    movie = np.random.default_rng(seed).random((FULL_SAMPLES, 80, net.n_hexals), dtype=np.float32)
    start = time.perf_counter()
    out = net.simulate(movie, 0.01, t_fade_in=2.0, batch_size=batch_size, progress=True)
    seconds = time.perf_counter() - start
    assert out.shape == (FULL_SAMPLES, 80, 65) and np.isfinite(out).all()
    return seconds


def main(argv=None) -> int:
    from flycluster.kernels import KERNELS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectome", default=None, help="connectome json (default: fetched)")
    parser.add_argument("--extent", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--kernels", nargs="+", default=["auto"], choices=KERNELS,
                        help="simulation kernels to time (the first one is compared with flyvis)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--frames", type=int, default=40, help="movie frames per timed run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--flyvis-python", default=None, help="python of a venv with flyvis 1.2.0")
    parser.add_argument("--flyvis-samples", type=int, nargs="+", default=[4],
                        help="flyvis batch sizes (samples per simulate call); the fastest is compared")
    parser.add_argument("--flyvis-frames", type=int, default=80)
    parser.add_argument("--full", action="store_true", help="also simulate one full flow/0000-size network")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--triton-config", default=None,
                        help="json file of Triton kernel options (benchmarks/cuda_check.py --best-config)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")  # simulate's progress
    if args.triton_config:
        from flycluster.kernels import gpu

        with open(args.triton_config) as f:
            gpu.CONFIG.update(json.load(f))

    from flycluster.connectome import load_connectome
    from flycluster.network import Network

    info = machine()
    print("machine:", json.dumps(info), flush=True)
    start = time.perf_counter()
    connectome = load_connectome(args.connectome, extent=args.extent)
    load_s = time.perf_counter() - start
    print(f"connectome loaded in {load_s:.2f} s ({connectome.n_nodes} nodes, {connectome.n_edges} edges)",
          flush=True)
    results = {"machine": info, "extent": args.extent, "connectome_load_s": load_s, "kernels": {}}
    if "triton" in args.kernels or (args.device == "cuda" and "auto" in args.kernels):
        from flycluster.kernels import gpu

        results["triton_config"] = dict(gpu.CONFIG)
        print("triton kernel options:", json.dumps(gpu.CONFIG), flush=True)
    params = Network.initial(connectome).state_dict()
    for name in args.kernels:
        start = time.perf_counter()
        candidate = Network(connectome, params, device=args.device, kernel=name, source="<initial parameters>")
        kernel = type(candidate.kernel_for(0.01)).__name__  # includes compiling the native kernel if not cached
        build_s = time.perf_counter() - start
        print(f"kernel {name!r} -> {kernel} on {candidate.device}, built in {build_s:.2f} s", flush=True)
        rows = measure_ours(candidate, args.batch_sizes, args.frames, args.repeats)
        results["kernels"][name] = {"class": kernel, "build_s": build_s, "rows": rows}
        if name == args.kernels[0]:
            net = candidate
            results.update(device=str(net.device), kernel=kernel, network_build_s=build_s, ours=rows)
    best = min(results["ours"], key=lambda r: r["ms_per_sample_step"])
    results["best_batch_size"] = best["batch_size"]
    projected = best["ms_per_sample_step"] * 1e-3 * FULL_SAMPLES * FULL_STEPS
    results["projected_full_network_s"] = projected
    print(f"projected flow/0000-size network ({FULL_SAMPLES} samples x {FULL_STEPS} steps) at batch "
          f"{best['batch_size']}: {projected:.0f} s ({projected / 60:.1f} min)", flush=True)
    if args.flyvis_python:
        runs = [measure_flyvis(args.flyvis_python, n, args.flyvis_frames) for n in args.flyvis_samples]
        fly = min(runs, key=lambda r: r["ms_per_sample_step"])
        results["flyvis"] = fly
        results["flyvis_runs"] = runs
        results["speedup"] = fly["ms_per_sample_step"] / best["ms_per_sample_step"]
        # CPU time (all threads) is less sensitive to other jobs sharing the cores than wall time
        results["speedup_cpu_time"] = fly["cpu_ms_per_sample_step"] / best["cpu_ms_per_sample_step"]
        fly_projected = fly["ms_per_sample_step"] * 1e-3 * FULL_SAMPLES * FULL_STEPS
        results["flyvis_projected_full_network_s"] = fly_projected
        print(f"flyvis projected flow/0000-size network: {fly_projected / 3600:.2f} h; "
              f"flycluster is {results['speedup']:.0f}x faster per sample-step (wall time), "
              f"{results['speedup_cpu_time']:.0f}x in CPU time", flush=True)
    if args.full:
        results["full_run_s"] = full_run(net, best["batch_size"])
        print(f"full flow/0000-size run: {results['full_run_s']:.0f} s", flush=True)
    results["peak_rss_mb"] = peak_rss_mb()
    if net.device.type == "cuda":
        import torch

        results["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    results["load_average_1min_end"] = os.getloadavg()[0]
    print(f"peak memory (RSS) of this process: {results['peak_rss_mb']:.0f} MB; load average "
          f"{info['load_average_1min']:.1f} at start, {results['load_average_1min_end']:.1f} at end "
          f"on {info['cpu_count']} cores", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
