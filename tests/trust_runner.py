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
    """Environment for a workflow run: this venv's snakemake first on PATH (its jobs import the
    installed flycluster), one BLAS thread per job."""
    env = dict(os.environ)
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


# -- the shared reference run of the tiny planted config --------------------------------------

PLANTED_TINY = WORKFLOW_CONFIGS / "planted_tiny.yaml"
DEFAULT_PROFILE = ROOT / "profiles" / "default"
RUN_TIMEOUT = 420  # s, one full run of the tiny config on 2 cores (it takes about a minute)


def ensemble_name(configfile):
    return load_yaml(configfile)["ensemble"]["name"]


def local_cmd(workdir, configfile=PLANTED_TINY, *args, cores=2):
    """What a user runs locally (`snakemake --cores N`, default workflow profile)."""
    return snakemake_cmd(workdir, configfile, *args, cores=cores, profile=DEFAULT_PROFILE)


def reference_run(tmp_path_factory, configfile=PLANTED_TINY, name="reference"):
    """The workdir of one uninterrupted run of ``configfile``, made once per pytest session.

    test_planted, test_determinism and test_resume share it (a marker file under pytest's
    session base temp dir records it); a failed run is not retried, its log is re-raised.
    """
    base = tmp_path_factory.getbasetemp() / f"trust_{name}"
    work, log_path = base / "work", base / "run.log"
    if (base / "DONE").exists():
        return work
    if (base / "FAILED").exists():
        raise AssertionError(f"the {name} run failed earlier in this session:\n"
                             + log_path.read_text(errors="replace")[-4000:])
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    rc, log = run(local_cmd(work, configfile), log_path, timeout=RUN_TIMEOUT)
    if rc != 0:
        (base / "FAILED").touch()
        raise AssertionError(f"the {name} run of {configfile.name} failed (rc={rc}):\n{log[-4000:]}")
    (base / "DONE").write_text(f"{time.monotonic() - t0:.1f}\n")
    return work


def result_files(workdir, configfile=PLANTED_TINY):
    """Relative paths of every finished netCDF/csv under results/{ensemble}, sorted."""
    root = Path(workdir) / "results" / ensemble_name(configfile)
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".nc", ".csv")
             and not p.name.startswith(".")]
    return sorted(str(p.relative_to(workdir)) for p in files)


def compare_runs(work_a, work_b, configfile=PLANTED_TINY, embedding_atol=0.0):
    """Assert two runs hold the same results: same files; responses, masks, labels, BIC and
    summary identical; embeddings equal within ``embedding_atol`` (0 = bitwise).

    Returns the number of files compared.
    """
    import numpy as np
    import pandas as pd
    import xarray as xr

    files_a, files_b = result_files(work_a, configfile), result_files(work_b, configfile)
    assert files_a == files_b, (sorted(set(files_a) ^ set(files_b)))
    assert any("/responses/" in f for f in files_a) and any("/clustering/" in f for f in files_a)
    for rel in files_a:
        a, b = Path(work_a) / rel, Path(work_b) / rel
        if rel.endswith(".csv"):
            pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), check_exact=True,
                                          obj=rel)
            continue
        with xr.open_dataset(a) as da, xr.open_dataset(b) as db:
            da, db = da.load(), db.load()
        assert sorted(da.data_vars) == sorted(db.data_vars), rel
        for var in da.data_vars:
            x, y = da[var].values, db[var].values
            assert x.shape == y.shape, f"{rel}:{var} shapes {x.shape} != {y.shape}"
            if var == "embedding" and embedding_atol > 0:
                np.testing.assert_allclose(x, y, rtol=0, atol=embedding_atol,
                                           err_msg=f"{rel}:{var}")
            elif np.issubdtype(x.dtype, np.number) or x.dtype == bool:
                np.testing.assert_array_equal(x, y, err_msg=f"{rel}:{var}")
            else:
                assert (x == y).all(), f"{rel}:{var}"
    return len(files_a)
