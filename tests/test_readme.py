"""The README's two commands are what users and CI run: keep .ci/run identical to the test one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_ci_runs_the_readme_test_command():
    commands = _readme_commands()
    test_commands = [c for c in commands if "pytest" in c]
    assert test_commands, "README has no test command in a ```bash block"
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith(("#", "set ", "cd "))]
    assert ci_lines == [test_commands[0].strip()]


def test_readme_run_command_runs_snakemake_on_default_config():
    run = [c for c in _readme_commands() if "snakemake --cores" in c]
    assert run, "README has no run command"
    assert "torch==2.13.0" in run[0]
    assert (ROOT / "config" / "config.yaml").exists()
