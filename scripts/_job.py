"""What every rule script does first: log to the rule's log file, limit threads, cache numba.

Imported by the scripts next to it (snakemake puts the script folder on sys.path). The
scripts import flycluster from the environment they run in (the active one, or a conda
environment of envs/, which installs it).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")


def start(snakemake):
    """Set up a rule job; returns a logger writing to ``snakemake.log[0]``.

    Call it before importing flycluster's heavy modules (numpy, torch, numba read the thread
    variables when they are first imported):

    - stdout/stderr and the logger go to the rule's log file;
    - BLAS/OpenMP/numba/torch threads are limited to the job's ``threads`` (sklearn's
      GaussianMixture with n_init=100 is several times faster single-threaded on small data);
    - numba compiles umap's functions once per machine: its cache is shared by all jobs and
      runs (``NUMBA_CACHE_DIR``, default ``$FLYCLUSTER_CACHE/numba`` or
      ``~/.cache/flycluster/numba``, next to the connectome cache);
    - at exit the log's last line gives the job's wall time, CPU time and peak memory
      (the kernel's high-water mark of the process's resident set, exact even for short jobs,
      which snakemake's sampling ``benchmark:`` files miss); docs/performance.md's per-rule
      table comes from these lines (``tools/job_usage.py``).
    """
    threads = max(1, int(snakemake.threads))
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    cache = os.environ.get("FLYCLUSTER_CACHE") or str(Path.home() / ".cache" / "flycluster")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(cache, "numba")))
    os.environ.setdefault("MPLBACKEND", "Agg")

    if snakemake.log:
        log_file = open(snakemake.log[0], "w", buffering=1)
        sys.stdout = sys.stderr = log_file
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    _report_usage_at_exit(f"flycluster.rule.{snakemake.rule}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return logging.getLogger(f"flycluster.rule.{snakemake.rule}")


def _report_usage_at_exit(name):
    import atexit
    import resource
    import time

    t0 = time.perf_counter()

    def report():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb = max(usage.ru_maxrss, children.ru_maxrss) / 1024  # Linux: kB
        cpu = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
        logging.getLogger(name).info(
            "job usage: wall %.1f s, cpu %.1f s, peak memory %.0f MB",
            time.perf_counter() - t0, cpu, peak_mb)

    atexit.register(report)
