"""A real single-node SLURM cluster on localhost for tests: munge + slurmctld + slurmd.

Everything lives under one scratch folder; the three daemons run as foreground ``Popen``
children of the test process and are torn down in reverse order, even when a test fails.
Used as a context manager::

    with SlurmCluster(tmp_path / "slurm") as cluster:
        subprocess.run(["sinfo"], env=cluster.env(), check=True)
        ...
        cluster.completed_jobs()   # one dict per job SLURM ran to an end (jobcomp/filetxt)

Facts this relies on (see the recipe this was built from, verified with Debian's slurm-wlm
22.05 and munge 0.5):

- The snakemake SLURM plugin's job-step wrapper drops every ``SLURM_*`` variable (``SLURM_CONF``
  too) before its inner ``srun``, so the config must also be visible at
  ``/etc/slurm/slurm.conf``: the cluster makes that a symlink to its own file and removes it at
  the end. An existing regular file there (a real cluster's config) is never touched: the
  cluster refuses to start instead.
- Without slurmdbd ``sacct`` fails, so callers must query job status with ``squeue``
  (``MinJobAge`` is long here so finished jobs stay visible to it) and the job history is kept by
  ``JobCompType=jobcomp/filetxt`` in ``jobcomp.log``.
- Ports 6817/6818 are fixed: one such cluster per host at a time. A module-level lock file
  turns a second concurrent start into a clear error instead of a hang.

Requires root (the daemons run as root, as a CI machine does). Missing Debian packages are
installed with apt-get; where that is impossible the start fails with a message that says what
to install.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SLURM_PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")
REQUIRED_COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "srun")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
PORTS = (6817, 6818)
LOCK_FILE = Path("/tmp/flycluster-test-slurm.lock")


class SlurmSetupError(RuntimeError):
    """The local SLURM cluster could not be installed or started (message says why)."""


def _missing_commands():
    return [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]


def ensure_slurm_installed(timeout=600):
    """Install munge and SLURM from Debian's packages when any command is missing.

    Raises SlurmSetupError naming the missing commands and the apt-get command to run when the
    install is impossible (not root, no apt-get) or fails.
    """
    missing = _missing_commands()
    if not missing:
        return
    install = f"apt-get install -y {' '.join(SLURM_PACKAGES)}"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SlurmSetupError(
            f"SLURM test needs the commands {missing}; run as root on Debian/Ubuntu or install "
            f"them first: `{install}`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = []
    for cmd in (install, "apt-get update", install):
        proc = subprocess.run(cmd.split(), env=env, capture_output=True, text=True, timeout=timeout)
        log.append(f"$ {cmd}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        if cmd.startswith("apt-get install") and proc.returncode == 0 and not _missing_commands():
            return
    raise SlurmSetupError(
        f"could not install SLURM ({install}); still missing {_missing_commands()}.\n"
        + "\n".join(log))


def _port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _node_resources():
    """CPUs and RealMemory (MB) of this host as slurmd reports them (``slurmd -C``)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    cpus = int(re.search(r"CPUs=(\d+)", out).group(1))
    mem = int(re.search(r"RealMemory=(\d+)", out).group(1))
    return cpus, max(mem - 512, 512)


class SlurmCluster:
    """munged + slurmctld + slurmd on localhost, all state under ``root``.

    Parameters
    ----------
    root : Path
        Scratch folder (created). Holds the munge key and socket, slurm.conf, state, spool,
        daemon logs and ``jobcomp.log``.
    min_job_age : int
        Seconds a finished job stays visible to ``squeue`` (SLURM's MinJobAge); must be at least
        three times the plugin's ``slurm-init-seconds-before-status-checks``.
    start_timeout : float
        Seconds to wait for the node to report ``idle``.
    """

    def __init__(self, root, min_job_age=600, start_timeout=60.0):
        self.root = Path(root)
        self.min_job_age = int(min_job_age)
        self.start_timeout = float(start_timeout)
        self.conf = self.root / "slurm.conf"
        self.jobcomp = self.root / "jobcomp.log"
        self._procs = []  # (name, Popen) in start order
        self._lock = None
        self._made_symlink = False

    # -- environment -----------------------------------------------------------------------
    def env(self, base=None):
        """Environment for SLURM clients (sbatch, squeue, snakemake) talking to this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        ensure_slurm_installed()
        if os.geteuid() != 0:
            raise SlurmSetupError("the local SLURM test cluster runs its daemons as root")
        self._lock = open(LOCK_FILE, "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SlurmSetupError(
                f"another local SLURM test cluster is running on this host (lock {LOCK_FILE}); "
                "ports 6817/6818 allow one at a time") from None
        busy = [p for p in PORTS if _port_in_use(p)]
        if busy:
            raise SlurmSetupError(
                f"ports {busy} are in use (another slurmctld/slurmd?): the local SLURM test "
                "cluster needs 6817 and 6818 free")
        for sub in ("munge", "state", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self._write_conf()
        self._link_system_conf()
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait_idle()

    def _start_munge(self):
        m = self.root / "munge"
        os.chmod(m, 0o700)
        key = m / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        os.chmod(key, 0o400)
        self.munge_socket = m / "munge.socket"
        self._spawn("munged", [
            "munged", "-F", "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={m / 'munged.pid'}", f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--seed-file={m / 'munge.seed'}"])
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise SlurmSetupError(f"munged did not create {self.munge_socket} in 20 s; "
                                      f"see {self.root / 'log' / 'munged.log'}")
            time.sleep(0.1)

    def _write_conf(self):
        cpus, mem = _node_resources()
        r = self.root
        lines = {
            "ClusterName": "flycluster-test",
            "SlurmctldHost": "localhost",
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "StateSaveLocation": r / "state",
            "SlurmdSpoolDir": r / "spool",
            "SlurmctldPidFile": r / "run" / "slurmctld.pid",
            "SlurmdPidFile": r / "run" / "slurmd.pid",
            "SlurmctldLogFile": r / "log" / "slurmctld.log",
            "SlurmdLogFile": r / "log" / "slurmd.log",
            "SlurmctldPort": PORTS[0],
            "SlurmdPort": PORTS[1],
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            # memory is enforced as on a production cluster: every second the job's processes
            # are measured, and a step above its memory request (sbatch --mem) is killed
            # (state OUT_OF_MEMORY), so tests see what a too small mem_mb does
            "JobAcctGatherType": "jobacct_gather/linux",
            "JobAcctGatherFrequency": "task=1",
            "JobAcctGatherParams": "OverMemoryKill",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/filetxt",
            "JobCompLoc": self.jobcomp,
            "MpiDefault": "none",
            "SwitchType": "switch/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "ReturnToService": 2,
            "MinJobAge": self.min_job_age,
            "KillWait": 5,
        }
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        text += (f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN\n"
                 "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n")
        self.conf.write_text(text)
        self.cpus, self.real_memory_mb = cpus, mem

    def _link_system_conf(self):
        if SYSTEM_CONF.is_symlink():
            target = Path(os.readlink(SYSTEM_CONF))
            if target.exists() and target.resolve() != self.conf.resolve():
                raise SlurmSetupError(
                    f"{SYSTEM_CONF} already links to {target}, a config of another live test "
                    "cluster; refusing to replace it")
            SYSTEM_CONF.unlink()  # a stale link left by a killed test run
        elif SYSTEM_CONF.exists():
            raise SlurmSetupError(
                f"{SYSTEM_CONF} exists and is not a test symlink: this host has a real SLURM "
                "config, which the local test cluster will not overwrite")
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONF.symlink_to(self.conf)
        self._made_symlink = True

    def _spawn(self, name, cmd):
        log = open(self.root / "log" / f"{name}.stdout", "wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                stdin=subprocess.DEVNULL)
        log.close()
        self._procs.append((name, proc))

    def _check_alive(self):
        for name, proc in self._procs:
            if proc.poll() is not None:
                raise SlurmSetupError(
                    f"{name} exited with code {proc.returncode} during start; its output:\n"
                    + self.log_tail(name))

    def log_tail(self, name, n=3000):
        """Last ``n`` characters of a daemon's log files (for error messages)."""
        out = []
        for f in sorted((self.root / "log").glob(f"{name}*")):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-n:]}")
        return "\n".join(out)

    def _wait_idle(self):
        deadline = time.monotonic() + self.start_timeout
        state = ""
        while time.monotonic() < deadline:
            self._check_alive()
            proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True,
                                  text=True, env=self.env(), timeout=20)
            state = proc.stdout.strip()
            if proc.returncode == 0 and state == "idle":
                return
            time.sleep(0.3)
        raise SlurmSetupError(
            f"the local SLURM node did not become idle within {self.start_timeout:.0f} s "
            f"(sinfo says {state!r}):\n{self.log_tail('slurmctld')}\n{self.log_tail('slurmd')}")

    def stop(self):
        """Cancel every job, stop slurmd, slurmctld, munged; remove the /etc symlink."""
        alive = {name for name, p in self._procs if p.poll() is None}
        if "slurmctld" in alive:
            subprocess.run(["scancel", "--full", "--user", "root"], env=self.env(),
                           capture_output=True, timeout=20)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                q = subprocess.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%i"], env=self.env(),
                                   capture_output=True, text=True, timeout=20)
                if q.returncode != 0 or not q.stdout.strip():
                    break
                time.sleep(0.5)
        for name, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self._procs.clear()
        if self._made_symlink:
            if SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == self.conf:
                SYSTEM_CONF.unlink()
            self._made_symlink = False
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- queries ---------------------------------------------------------------------------
    def completed_jobs(self):
        """One dict per job that reached an end state, from SLURM's job completion log.

        Keys are SLURM's (``JobId``, ``Name``, ``JobState``, ``ExitCode``, ``NodeList``, ...).
        """
        if not self.jobcomp.exists():
            return []
        jobs = []
        for line in self.jobcomp.read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            if fields:
                jobs.append(fields)
        return jobs

    def active_jobs(self):
        """Job ids SLURM still has pending, running or completing."""
        q = subprocess.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%i"], env=self.env(),
                           capture_output=True, text=True, timeout=20, check=True)
        return q.stdout.split()
