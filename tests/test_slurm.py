"""The SLURM path for real: a single-node SLURM on localhost runs workflows through the profile.

The cluster (munge + slurmctld + slurmd, tests/slurm_cluster.py) is started once for this module
and torn down at its end. The runs use a test profile derived from the user-facing
``profiles/slurm/config.yaml`` that adds only what a one-node test cluster needs:
``squeue`` for job status (no slurmdbd here), a short wait before the first status check, no GPU
request (the test node has none), and kept job logs. The cluster enforces memory requests as a
production one does (a job above its ``--mem`` is killed), so the run also shows that the
rules' own requests (flycluster.resources) suffice and that a job killed for memory is
resubmitted with twice the request.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import trust_runner as tr
from slurm_cluster import SlurmCluster

pytestmark = pytest.mark.slurm

USER_PROFILE = tr.ROOT / "profiles" / "slurm" / "config.yaml"
SNAKEMAKE_TIMEOUT = 420  # s; a run that hangs (lost jobs) is SIGKILLed with its process group


def make_test_profile(dest):
    """Write the test profile (user profile + test-cluster settings) to ``dest``/config.yaml."""
    profile = tr.load_yaml(USER_PROFILE)
    profile.update({
        "jobs": 4,
        "latency-wait": 5,
        "keep-going": False,
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 4,
        "seconds-between-status-checks": 2,
        "slurm-keep-successful-logs": True,
        "slurm-no-account": True,
    })
    for rule, res in list(profile.get("set-resources", {}).items()):
        res.pop("gpu", None)  # the test node has no GPU
        if not res:
            del profile["set-resources"][rule]
    if not profile.get("set-resources"):
        profile.pop("set-resources", None)
    tr.write_yaml(profile, Path(dest) / "config.yaml")
    return Path(dest)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as c:
        yield c


def test_user_profile_requests_gpus_for_simulation_only():
    profile = tr.load_yaml(USER_PROFILE)
    assert profile["executor"] == "slurm"
    assert profile["set-resources"]["simulate"]["gpu"] == 1
    assert "gpu" not in profile["set-resources"].get("cluster", {})
    assert "gpu" not in profile.get("default-resources", {})
    assert profile["jobs"] >= 1 and profile["latency-wait"] >= 5
    # memory and time come from the rules (sized from their inputs, doubled per retry)
    assert profile["retries"] >= 1
    for rule in ("simulate", "cluster"):
        fixed = profile["set-resources"].get(rule, {})
        assert "mem_mb" not in fixed and "runtime" not in fixed, (rule, fixed)


SLURM_CONFIG = tr.WORKFLOW_CONFIGS / "slurm_trust.yaml"


def test_workflow_runs_through_the_slurm_profile(cluster, tmp_path):
    """The tiny config through the profile: outputs made, every job a completed SLURM job."""
    work = tmp_path / "work"
    profile = make_test_profile(tmp_path / "profile")
    cmd = tr.snakemake_cmd(work, SLURM_CONFIG, cores=None, profile=profile)
    rc, log = tr.run(cmd, tmp_path / "run.log", SNAKEMAKE_TIMEOUT,
                     env=cluster.env(tr.workflow_env()))
    assert rc == 0, f"workflow through SLURM failed (rc={rc}):\n{log[-5000:]}\n" \
                    f"{cluster.log_tail('slurmctld', 1500)}"
    name = tr.ensemble_name(SLURM_CONFIG)
    results = work / "results" / name
    for rel in ("summary.csv", "norms.nc", "clustering/T4c.nc", "figures/T4c/embedding.png"):
        assert (results / rel).is_file(), rel
    responses = sorted((results / "responses" / "naturalistic").glob("*.nc"))
    assert len(responses) == tr.load_yaml(SLURM_CONFIG)["ensemble"]["n_networks"]

    # every rule job went through sbatch: the plugin's per-job logs name SLURM job ids, and
    # SLURM's completion log lists each of them as COMPLETED on the node
    done = {j["JobId"]: j for j in cluster.completed_jobs()}
    slurm_logs = sorted((work / ".snakemake" / "slurm_logs").rglob("*.log"))
    by_rule = {}
    for path in slurm_logs:
        rule = path.relative_to(work / ".snakemake" / "slurm_logs").parts[0].removeprefix("rule_")
        by_rule.setdefault(rule, []).append(path.stem)
    assert len(by_rule.get("simulate", [])) == len(responses), by_rule
    for rule in ("synthetic_ensemble", "stimulus_set", "norms", "umap_jit", "summary"):
        assert len(by_rule.get(rule, [])) == 1, (rule, by_rule)
    for rule, job_ids in by_rule.items():
        for jid in job_ids:
            assert jid in done, f"{rule} job {jid} has no SLURM completion record"
            assert done[jid]["NodeList"] == "localhost", done[jid]
            if rule != "cluster":  # every other job's own request sufficed under enforcement
                assert done[jid]["JobState"] == "COMPLETED", done[jid]
    assert len(done) == sum(len(ids) for ids in by_rule.values()), (sorted(done), by_rule)
    assert not cluster.active_jobs()

    # the cluster job's first request (cluster.mem_mb in the config) is below what it needs:
    # SLURM killed it for memory, and each resubmission asked for twice as much until one
    # completed
    first_mb = tr.load_yaml(SLURM_CONFIG)["cluster"]["mem_mb"]
    tries = sorted(by_rule["cluster"], key=int)
    assert len(tries) >= 2, by_rule["cluster"]
    states = [done[jid]["JobState"] for jid in tries]
    assert states[:-1] == ["FAILED"] * (len(tries) - 1) and states[-1] == "COMPLETED", states
    requested = [int(re.search(r"mem=(\d+)M", done[jid]["Tres"])[1]) for jid in tries]
    assert requested == [first_mb * 2**i for i in range(len(tries))], requested
    killed = [p for p in slurm_logs if p.stem == tries[0]]
    assert killed and "exceeded memory limit" in killed[0].read_text(), killed
