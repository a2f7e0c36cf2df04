"""Run the workflow with snakemake as a child process group, for the end-to-end trust tests.

Every run gets its own session (process group) so that a timeout, or a test that simulates a
crash, can SIGKILL snakemake together with every job it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
WORKFLOW_CONFIGS = ROOT / "tests" / "workflow_configs"


def workflow_env(extra=None):
    """Environment for a workflow run: the package importable, one BLAS thread per job."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PATH"] = str(SNAKEMAKE.parent) + os.pathsep + env.get("PATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env.setdefault("NUMBA_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "flycluster-numba-cache"))
    if extra:
        env.update(extra)
    return env


def snakemake_cmd(workdir, configfile, *args, cores=2, profile="none"):
    """The command line that runs the repository's Snakefile with its results under ``workdir``.

    ``profile``: a workflow profile folder, or "none" to run without the default profile.
    """
    cmd = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--workflow-profile", str(profile)]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    return cmd + [str(a) for a in args]


def start(cmd, log_path, env=None, cwd=None):
    """Start ``cmd`` in a new session with stdout+stderr to ``log_path``; returns the Popen."""
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                env=workflow_env() if env is None else env,
                                start_new_session=True, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def kill_tree(proc):
    """SIGKILL the whole process group of ``proc`` (snakemake and every job it spawned)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def run(cmd, log_path, timeout, env=None, cwd=None):
    """Run ``cmd`` to completion (SIGKILL of its process group after ``timeout`` s).

    Returns (returncode, log text); returncode is None when it was killed for the timeout.
    """
    proc = start(cmd, log_path, env=env, cwd=cwd)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        rc = None
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    # jobs may have started their own process groups under snakemake's: reap stragglers
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return rc, Path(log_path).read_text(errors="replace")


def wait_for(predicate, timeout, proc=None, interval=0.05):
    """Poll ``predicate()`` until true; False if ``timeout`` s pass or ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(predicate())
        time.sleep(interval)
    return False


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def write_yaml(data, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return path
