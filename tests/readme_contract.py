"""The documentation as an executable contract: every shell block and Python example of
README.md, config/README.md and docs/*.md, run in the environment README's own install makes.

How blocks are found and run (tests/test_readme_contract.py runs them, in document order):

- Fenced blocks are classified by their info string: none, ``bash``, ``sh``, ``shell`` ->
  shell; ``python``, ``py`` -> Python; ``yaml``, ``yml`` -> parsed with ``yaml.safe_load``
  (config snippets are not run); anything else (``text``, ``console``, ``json``, ...) is not
  executed: label a block ``text`` when it is not a command.
- Shell blocks run with ``bash -e`` in a copy of the repository (the files git tracks or would
  track, as a fresh clone has), one after the other as a user follows the document, with the
  copy's ``.venv/bin`` first on PATH (what ``source .venv/bin/activate`` does). The first shell
  block of README is the install + run command, so it creates that ``.venv`` with only
  ``.[workflow]``: every later block sees nothing else (PYTHONPATH and the test session's own
  environment variables are not passed on).
- Python blocks run with ``.venv/bin/python`` in a scratch folder of their document (blocks of
  one document share it, in order).

A block runs verbatim unless an HTML comment directly above its fence (blank lines between are
allowed) says otherwise; GitHub does not render it::

    <!-- readme-test
    setup: NAME
    replace: "OLD" "NEW"
    covered-by: PATH
    why: one line that says why the block cannot run as written here
    -->

- ``setup: NAME`` runs a stand-in from SETUPS below first: for a Python block it is code run
  before the block in the same interpreter (it defines the names the example assumes, e.g.
  ``movie``); for a shell block it prepares files in the repository copy (e.g. points the
  flow/0000 config at a fabricated ensemble and Sintel folder, as README tells the user to).
- ``replace: "OLD" "NEW"`` replaces every occurrence of OLD in the block (shell-quoted
  strings); OLD must occur, so a marker that no longer fits its block fails.
- ``covered-by: PATH`` does not run the block here because PATH (in the repository) runs it
  verbatim, e.g. the test command, which .ci/run is; the block's text must occur in PATH.
- ``why:`` is required with any of them. Several ``replace:`` and ``setup:`` lines may be given.

The test prints every block as it was run, so what each marker changed is visible in the log.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = "tests/workflow_configs/tiny.yaml"
SHELL = {"", "bash", "sh", "shell"}
PYTHON = {"python", "py"}
YAML = {"yaml", "yml"}
DIRECTIVES = {"setup", "replace", "covered-by", "why"}


class MarkerError(ValueError):
    """A readme-test marker that does not parse or does not fit its block."""


def documents(root=ROOT):
    """The documents whose blocks are a contract, in the order they are run."""
    docs = [root / "README.md", root / "config" / "README.md"]
    docs += sorted((root / "docs").glob("*.md"))
    return [d for d in docs if d.is_file()]


@dataclass
class Block:
    path: str                   # document, relative to the repository
    line: int                   # line of the opening fence (1-based)
    lang: str                   # info string, lower case ("" for none)
    text: str                   # the block as written
    setups: list = field(default_factory=list)
    replaces: list = field(default_factory=list)   # [(old, new)]
    covered_by: str | None = None
    why: str | None = None

    @property
    def kind(self):
        if self.lang in SHELL:
            return "shell"
        if self.lang in PYTHON:
            return "python"
        if self.lang in YAML:
            return "yaml"
        return "other"

    @property
    def id(self):
        return f"{self.path}:{self.line}:{self.kind}"

    def command(self):
        """The block as it is run: the replacements applied (each OLD must occur)."""
        text = self.text
        for old, new in self.replaces:
            if old not in text:
                raise MarkerError(f"{self.id}: replace: {old!r} does not occur in the block")
            text = text.replace(old, new)
        return text


FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
MARKER = re.compile(r"<!--\s*readme-test\b(?P<body>.*?)-->", flags=re.S)


def parse_marker(body, where):
    """Directives of one marker body -> dict(setups, replaces, covered_by, why)."""
    out = {"setups": [], "replaces": [], "covered_by": None, "why": None}
    for raw in body.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in DIRECTIVES:
            raise MarkerError(f"{where}: unknown readme-test directive {line!r}; "
                              f"expected one of {sorted(DIRECTIVES)}")
        if key == "setup":
            if value not in SETUPS:
                raise MarkerError(f"{where}: unknown setup {value!r}; known: {sorted(SETUPS)}")
            out["setups"].append(value)
        elif key == "replace":
            parts = shlex.split(value)
            if len(parts) != 2:
                raise MarkerError(f'{where}: replace: needs two quoted strings, "OLD" "NEW"; '
                                  f"got {value!r}")
            out["replaces"].append(tuple(parts))
        elif key == "covered-by":
            out["covered_by"] = value
        else:
            out["why"] = value
    if not out["why"]:
        raise MarkerError(f"{where}: a readme-test marker needs a 'why:' line")
    return out


def extract_blocks(path, root=ROOT):
    """Every fenced block of one document, with the marker above it (if any)."""
    path = Path(path)
    rel = path.relative_to(root).as_posix()
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group("fence"), m.group("info").strip().split(" ")[0].lower()
        start, body = i, []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence)
                                     and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        block = Block(rel, start + 1, lang, textwrap.dedent("\n".join(body)) + "\n")
        # a marker ends on the last non-blank line above the fence
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and lines[j].strip().endswith("-->"):
            text = "\n".join(lines[:j + 1])
            k = text.rfind("<!--")
            marker = MARKER.fullmatch(text[k:]) if k >= 0 else None
            if marker:
                for key, value in parse_marker(marker.group("body"), block.id).items():
                    setattr(block, key, value)
                if block.kind in ("yaml", "other"):
                    raise MarkerError(f"{block.id}: a readme-test marker on a block that is "
                                      f"not run ({block.lang or 'no'} info string)")
        blocks.append(block)
    return blocks


def check_block(block, root=ROOT):
    """Static checks of one block's marker (no environment needed); raises MarkerError."""
    block.command()
    if block.covered_by is not None:
        target = root / block.covered_by
        if not target.is_file():
            raise MarkerError(f"{block.id}: covered-by: {block.covered_by} does not exist")
        if block.text.strip() not in target.read_text():
            raise MarkerError(f"{block.id}: covered-by: {block.covered_by} does not contain "
                              f"the block verbatim")
    for name in block.setups:
        if SETUPS[name].kind != block.kind:
            raise MarkerError(f"{block.id}: setup {name!r} is for {SETUPS[name].kind} blocks")


# -- stand-ins (setup: NAME) ----------------------------------------------------------------


@dataclass
class Setup:
    kind: str                   # "python" (code run before the block) or "shell" (prepares)
    doc: str                    # what it stands in for
    code: str = ""              # python: prelude
    prepare: object = None      # shell: function(contract) run before the block


def _flow_0000_standin(contract):
    """What README's flow/0000 section tells the user to do, on stand-ins: set ensemble.path
    and stimuli.sintel.root in config/flyvis_flow_0000.yaml. The ensemble is a folder in
    flyvis's layout (50 networks: chkpts/chkpt_00000 + validation/loss.h5, as the dry-run test
    of tests/test_workflow.py fabricates), the Sintel folder the fabricated one of
    tests/test_stimuli_sintel.py."""
    sys.path.insert(0, str(ROOT / "tests"))
    from stimulus_tool import load_fixture_tool

    base = contract.scratch / "flow_0000"
    ensemble = base / "flyvis" / "results" / "flow" / "0000"
    for i in range(50):
        (ensemble / f"{i:03d}" / "chkpts").mkdir(parents=True, exist_ok=True)
        (ensemble / f"{i:03d}" / "chkpts" / "chkpt_00000").write_bytes(b"")
        (ensemble / f"{i:03d}" / "validation").mkdir(exist_ok=True)
        (ensemble / f"{i:03d}" / "validation" / "loss.h5").write_bytes(b"")
    sintel = load_fixture_tool().fabricate_sintel_folder(base / "MPI-Sintel")
    path = contract.clone / "config" / "flyvis_flow_0000.yaml"
    config = yaml.safe_load(path.read_text())
    config["ensemble"]["path"] = str(ensemble)
    config["stimuli"]["sintel"]["root"] = str(sintel)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


SETUPS = {
    "flyvis_network": Setup("python", (
        "a network folder in flyvis's format at flow/0000/000 (a synthetic network, "
        "flycluster.synthetic) and `movie`, 2 seeded random movies of 30 frames on 721 hexals"),
        code=textwrap.dedent("""\
            import numpy as np
            from flycluster.synthetic import write_synthetic_ensemble
            write_synthetic_ensemble("flow/0000", n_networks=1, random_state=0)
            movie = np.random.default_rng(0).random((2, 30, 721), dtype=np.float32)
            """)),
    "frames": Setup("python", (
        "`frames`, 3 seeded random grey frames in Sintel's geometry (436 x 1024 px, [0, 1])"),
        code=textwrap.dedent("""\
            import numpy as np
            frames = np.random.default_rng(0).random((3, 436, 1024), dtype=np.float32)
            """)),
    "responses": Setup("python", (
        "`X`, responses of 12 networks (12, 4 samples, 25 frames: seeded smooth random traces "
        "in 3 groups) and `task_error` (12,)"),
        code=textwrap.dedent("""\
            import numpy as np
            rng = np.random.default_rng(0)
            t = np.linspace(0, 1, 25)
            base = np.stack([np.sin(2 * np.pi * (g + 1) * t + s) for g in range(3)
                             for s in range(4)]).reshape(3, 4, 25)
            X = np.concatenate([base[g] + 0.05 * rng.standard_normal((4, 4, 25))
                                for g in range(3)]).astype(np.float32)
            task_error = rng.random(12)
            """)),
    "issue12": Setup("python", (
        "`tuning`, `published`, `write_stimulus` imported; `responses`, seeded random flash "
        "responses of 3 networks on flyvis's flash set; a flyvis clustering pickle at "
        "flow/0000/umap_and_clustering/T4c.pickle (tests/fixtures/published) and `ours`, it read "
        "back; `my_movie.npy`, 2 random movies of 10 frames on 721 hexals; a results/stimuli folder"),
        code=textwrap.dedent("""\
            import os
            import shutil
            from pathlib import Path
            import numpy as np
            import xarray as xr
            from flycluster import published, tuning
            from flycluster.stimuli import flashes, write_stimulus
            clone = Path(os.environ["VIRTUAL_ENV"]).parent
            stim = flashes()
            rng = np.random.default_rng(0)
            coords = {k: v for k, v in stim.coords.items() if set(v.dims) <= {"sample", "frame"}}
            responses = xr.DataArray(
                rng.standard_normal((3, stim.sizes["sample"], stim.sizes["frame"])).astype(np.float32),
                dims=("network", "sample", "frame"), coords=coords)
            folder = Path("flow/0000/umap_and_clustering")
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(clone / "tests" / "fixtures" / "published" / "umap_and_clustering" / "T4c.pickle",
                        folder / "T4c.pickle")
            ours = published.read_flyvis_clustering(folder / "T4c.pickle")
            np.save("my_movie.npy", rng.random((2, 10, 721), dtype=np.float32))
            Path("results/stimuli").mkdir(parents=True, exist_ok=True)
            """)),
    "flow_0000_standin": Setup("shell", _flow_0000_standin.__doc__, prepare=_flow_0000_standin),
}


# -- running --------------------------------------------------------------------------------


def repository_files(root=ROOT):
    """Files a fresh clone would have (tracked + untracked-but-not-ignored), relative paths."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.lexists(root / p)]


def copy_repository(dest, root=ROOT):
    """Copy the repository's files (symlinks kept as links) to ``dest``: a fresh clone."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files = "\0".join(repository_files(root)).encode()
    pack = subprocess.Popen(["tar", "--null", "-T", "-", "-cf", "-"], cwd=root,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(["tar", "-xf", "-"], cwd=dest, stdin=pack.stdout)
    pack.stdin.write(files)
    pack.stdin.close()
    pack.stdout.close()
    assert unpack.wait() == 0 and pack.wait() == 0, "copying the repository failed"
    return dest


def user_env(clone, scratch=None):
    """The environment a user has after `source .venv/bin/activate` in the clone: this
    process's environment without what the test session or its venv add. With ``scratch``,
    numba's cache goes there (its entries are per install path, so a temporary clone's would
    only pile up in ~/.cache)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "TRITON_INTERPRET",
                        "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS", "PYTHONSTARTUP")}
    venv_bin = str(Path(clone) / ".venv" / "bin")
    test_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != test_bin]
    env["PATH"] = os.pathsep.join([venv_bin] + path)
    env["VIRTUAL_ENV"] = str(Path(clone) / ".venv")
    # bytecode is compiled on first import instead of at install: the same files installed,
    # a shorter install
    env["PIP_NO_COMPILE"] = "1"
    if scratch is not None:
        env["NUMBA_CACHE_DIR"] = str(Path(scratch) / "numba_cache")
    return env


@dataclass
class Result:
    block: Block
    command: str
    returncode: int
    output: str
    seconds: float

    def report(self):
        return (f"--- {self.block.id} ({self.seconds:.1f} s, exit {self.returncode}) ran:\n"
                f"{self.command}\n--- output (tail):\n{self.output[-6000:]}")


class Contract:
    """Runs the blocks of the documents in order, in one repository copy, each at most once."""

    def __init__(self, clone, scratch, timeout=900):
        self.clone, self.scratch = Path(clone), Path(scratch)
        self.timeout = timeout
        self.blocks = [b for doc in documents(self.clone) for b in extract_blocks(doc, self.clone)]
        self.results: dict[str, Result] = {}

    def runnable(self):
        return [b for b in self.blocks if b.kind in ("shell", "python", "yaml")]

    def run_through(self, block_id):
        """Run every block up to and including ``block_id`` (once each); its Result."""
        for block in self.runnable():
            if block.id not in self.results:
                self.results[block.id] = self._run(block)
            if block.id == block_id:
                return self.results[block_id]
        raise KeyError(block_id)

    def _run(self, block):
        start = time.monotonic()
        env = user_env(self.clone, self.scratch)
        command = block.command()
        if block.covered_by is not None:
            return Result(block, f"(run verbatim by {block.covered_by})", 0, "", 0.0)
        if block.kind == "yaml":
            try:
                yaml.safe_load(command)
            except yaml.YAMLError as exc:
                return Result(block, command, 1, str(exc), time.monotonic() - start)
            return Result(block, command, 0, "parsed", time.monotonic() - start)
        if block.kind == "shell":
            for name in block.setups:
                SETUPS[name].prepare(self)
            argv, cwd = ["bash", "-e", "-c", command], self.clone
        else:
            prelude = "".join(SETUPS[name].code for name in block.setups)
            command = prelude + command
            cwd = self.scratch / "python" / Path(block.path).with_suffix("").as_posix()
            cwd.mkdir(parents=True, exist_ok=True)
            argv = [str(self.clone / ".venv" / "bin" / "python"), "-c", command]
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=self.timeout,
                                  start_new_session=True)
            code, output = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as exc:
            code, output = -9, f"timed out after {self.timeout} s\n{exc.stdout or ''}"
        return Result(block, command, code, output, time.monotonic() - start)
