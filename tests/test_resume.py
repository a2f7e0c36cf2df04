"""Crash and resume: kill -9 of snakemake and all its jobs, then the same command again.

One run of the tiny planted config is killed twice, with SIGKILL to its whole process group
(snakemake and every job it started): once during simulation (some response files written,
others in flight) and once during clustering. After each kill:

- every output present under its final name is complete (it opens and holds finite data):
  outputs are written to a temporary name and renamed;
- an output in flight that a non-atomic writer could have left half-written is caught by
  snakemake's incomplete marking: the test plants a truncated file under that name and the
  resumed run must redo it rather than take it as finished.

The resumed run must complete, leave every output finished before the crash untouched (same
mtime: reused, not recomputed), end with results identical to the uninterrupted reference run,
and a further run must have nothing to do.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import xarray as xr

import trust_runner as tr

ENSEMBLE = tr.ensemble_name(tr.PLANTED_TINY)


def incomplete_outputs(workdir):
    """Outputs snakemake has marked incomplete (jobs started, not finished), relative paths."""
    root = Path(workdir) / ".snakemake" / "incomplete"
    found = []
    if not root.is_dir():
        return found
    for dirpath, _, files in os.walk(root):
        for name in files:
            parts = Path(dirpath, name).relative_to(root).parts
            encoded = "".join(p.lstrip("@") for p in parts)
            try:
                found.append(base64.urlsafe_b64decode(encoded).decode())
            except (ValueError, UnicodeDecodeError):
                continue
    return found


def unfinished_job_outputs(log_path):
    """Outputs of the jobs a snakemake log shows started (``output: ...`` then ``jobid: N``)
    and not finished (no ``Finished jobid: N``): a job killed while snakemake was recording it
    as done can have some of its outputs' incomplete markers removed and others not, and is
    redone as a whole on resume, so none of its outputs counts as finished."""
    outputs, finished, pending = {}, set(), None
    for line in Path(log_path).read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("output: "):
            pending = [p.strip() for p in line[len("output: "):].split(",")]
        elif line.startswith("jobid: ") and pending is not None:
            outputs[line[len("jobid: "):]] = pending
            pending = None
        elif line.startswith("Finished jobid: "):
            finished.add(line[len("Finished jobid: "):].split()[0])
    return {p for job, paths in outputs.items() if job not in finished for p in paths}


def finished_outputs(workdir, log_path=None):
    """{relative path: mtime_ns} of every finished file under results/ and resources/.

    Finished: under its final name (not a temporary file), not marked incomplete by
    snakemake and, given the killed run's log, not an output of a job it shows unfinished. A
    job killed after renaming its output but before snakemake recorded the job as done leaves
    a complete file that is still marked incomplete (or, killed while snakemake removed the
    markers, some of its outputs marked and some not); snakemake redoes it.
    """
    out = {}
    incomplete = set(incomplete_outputs(workdir))
    if log_path is not None:
        incomplete |= unfinished_job_outputs(log_path)
    # os.walk, not rglob: folders may be renamed into place while a run writes them
    for top in ("results", "resources"):
        for dirpath, _, files in os.walk(Path(workdir) / top):
            for name in files:
                p = Path(dirpath, name)
                rel = str(p.relative_to(workdir))
                if any(part.startswith(".") for part in Path(rel).parts) \
                        or "/logs/" in f"/{rel}" or rel in incomplete:
                    continue
                try:
                    out[rel] = p.stat().st_mtime_ns
                except FileNotFoundError:
                    continue
    return out


def assert_complete_netcdf(path):
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    assert ds.data_vars, path
    if "responses" in ds:
        assert np.isfinite(ds["responses"].values).any(), path


def count(workdir, sub):
    """Finished (see finished_outputs) netCDF files under results/{ensemble}/{sub}."""
    prefix = f"results/{ENSEMBLE}/{sub}/"
    return sum(1 for p in finished_outputs(workdir) if p.startswith(prefix) and p.endswith(".nc"))


def unlock(workdir, log_path):
    """``snakemake --unlock``: a killed snakemake leaves its lock behind (by design), and the
    README tells users to run this before restarting after a crash."""
    rc, log = tr.run(tr.local_cmd(workdir, tr.PLANTED_TINY, "--unlock"), log_path, timeout=120)
    assert rc == 0, log[-3000:]


def in_flight_netcdf(workdir):
    """netCDF outputs of jobs snakemake has started and not yet recorded as done."""
    return [p for p in incomplete_outputs(workdir) if p.endswith(".nc")]


def crash_when(workdir, log_path, predicate, timeout=tr.RUN_TIMEOUT):
    """Start the local run, SIGKILL its process group as soon as ``predicate(workdir)`` holds
    while a job writing a netCDF file is in flight (between two jobs snakemake may briefly run
    none: a kill there would leave nothing half-done to test)."""
    proc = tr.start(tr.local_cmd(workdir), log_path)
    try:
        hit = tr.wait_for(lambda: predicate(workdir) and bool(in_flight_netcdf(workdir)),
                          timeout, proc=proc, interval=0.02)
        finished_early = proc.poll() is not None
    finally:
        tr.kill_tree(proc)
    assert hit and not finished_early, (
        f"the run ended (rc={proc.returncode}) before reaching the crash point:\n"
        + Path(log_path).read_text(errors="replace")[-3000:])


def check_after_crash(workdir):
    """Every file under its final name is complete (also those of jobs snakemake had not yet
    recorded as done); plant a truncated file for one in-flight output. Returns the planted
    file's (relative path, mtime_ns)."""
    for p in (Path(workdir) / "results").rglob("*.nc"):
        if not p.name.startswith("."):
            assert_complete_netcdf(p)
    in_flight = in_flight_netcdf(workdir)
    assert in_flight, "no job was in flight when the run was killed"
    target = Path(workdir) / in_flight[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # a truncated netCDF4/HDF5 header
    return in_flight[0], target.stat().st_mtime_ns


def test_kill_during_simulation_and_clustering_then_resume(tmp_path_factory, tmp_path):
    reference = tr.reference_run(tmp_path_factory)
    n_responses = count(reference, "responses")
    n_clusterings = count(reference, "clustering")
    work = tmp_path / "work"

    # crash 1: some response files written, others in flight
    crash_when(work, tmp_path / "crash1.log",
               lambda w: 1 <= count(w, "responses") < n_responses - 1)
    planted_1 = check_after_crash(work)
    before_1 = finished_outputs(work, tmp_path / "crash1.log")
    assert any("/responses/" in p for p in before_1)

    # crash 2: the resumed run gets as far as clustering and is killed there
    unlock(work, tmp_path / "unlock1.log")
    crash_when(work, tmp_path / "crash2.log",
               lambda w: 1 <= count(w, "clustering") < n_clusterings)
    planted_2 = check_after_crash(work)
    before_2 = finished_outputs(work, tmp_path / "crash2.log")

    unlock(work, tmp_path / "unlock2.log")
    rc, log = tr.run(tr.local_cmd(work), tmp_path / "resume.log", timeout=tr.RUN_TIMEOUT)
    assert rc == 0, log[-4000:]

    after = finished_outputs(work)
    for before, (planted, planted_mtime) in ((before_1, planted_1), (before_2, planted_2)):
        changed = [p for p, t in before.items() if after.get(p) != t]
        assert not changed, f"finished outputs were recomputed after the crash: {changed}"
        assert after[planted] != planted_mtime, f"{planted} (half-written) was not redone"
    assert not incomplete_outputs(work)
    tr.compare_runs(reference, work)

    rc, log = tr.run(tr.local_cmd(work, tr.PLANTED_TINY, "--dry-run"), tmp_path / "again.log",
                     timeout=120)
    assert rc == 0 and "Nothing to be done" in log, log[-3000:]
