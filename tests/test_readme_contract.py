"""Every command and example of the documentation works from README's own install.

Builds README's environment once (its install command, which installs only ``.[workflow]``)
in a copy of the repository, then runs each shell block and Python example of README.md,
config/README.md and docs/*.md in document order (tests/readme_contract.py says how, and how a
block that needs real data, a cluster or an hour is pointed at the tests' stand-ins). Then the
HTML report that README's report command builds is opened in headless Chromium
(tests/browser.py). Screenshots and per-block timings go to tests/artefacts/ (git-ignored).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

import readme_contract as rc

ROOT = rc.ROOT
ARTEFACTS = ROOT / "tests" / "artefacts"


def _collect():
    blocks, errors = [], []
    for doc in rc.documents():
        try:
            blocks += rc.extract_blocks(doc)
        except rc.MarkerError as exc:
            errors.append(str(exc))
    return blocks, errors


BLOCKS, PARSE_ERRORS = _collect()
RUNNABLE = [b for b in BLOCKS if b.kind in ("shell", "python", "yaml")]


def test_markers_are_valid():
    """Cheap, no environment: markers parse, fit their blocks, name known stand-ins."""
    errors = list(PARSE_ERRORS)
    for block in BLOCKS:
        try:
            rc.check_block(block)
        except rc.MarkerError as exc:
            errors.append(str(exc))
    assert not errors, "\n".join(errors)
    readme = [b for b in RUNNABLE if b.path == "README.md"]
    assert readme and readme[0].kind == "shell" and "pip install" in readme[0].text, (
        "README's first block must be its install command: the later blocks run in the "
        "environment it makes")


def test_marker_parsing_rejects_mistakes(tmp_path):
    doc = tmp_path / "README.md"
    cases = {
        '<!-- readme-test\nreplace: "a" "b"\n-->\n```bash\necho a\n```\n': "needs a 'why:'",
        '<!-- readme-test\nsetup: nope\nwhy: x\n-->\n```python\npass\n```\n': "unknown setup",
        '<!-- readme-test\nskip: yes\nwhy: x\n-->\n```bash\necho\n```\n': "unknown readme-test",
        '<!-- readme-test\nwhy: x\n-->\n```text\nhello\n```\n': "not run",
        '<!-- readme-test\nreplace: "a"\nwhy: x\n-->\n```bash\necho a\n```\n': "two quoted",
    }
    for text, message in cases.items():
        doc.write_text(text)
        with pytest.raises(rc.MarkerError, match=message):
            rc.extract_blocks(doc, tmp_path)
    doc.write_text('<!-- readme-test\nreplace: "zzz" "b"\nwhy: x\n-->\n\n```\necho a\n```\n'
                   "```python\nprint(1)\n```\n")
    stale, verbatim = rc.extract_blocks(doc, tmp_path)
    assert stale.kind == "shell" and stale.line == 6
    with pytest.raises(rc.MarkerError, match="does not occur"):
        stale.command()
    assert verbatim.kind == "python" and verbatim.command() == "print(1)\n"
    assert not verbatim.replaces and not verbatim.setups


@pytest.fixture(scope="session")
def contract(tmp_path_factory):
    base = tmp_path_factory.mktemp("readme_contract")
    clone = rc.copy_repository(base / "repo")
    print(f"\nREADME contract: repository copy {clone}")
    c = rc.Contract(clone, base / "scratch")
    yield c
    ARTEFACTS.mkdir(exist_ok=True)
    timings = {r.block.id: round(r.seconds, 1) for r in c.results.values()}
    (ARTEFACTS / "readme_contract_timings.json").write_text(json.dumps(timings, indent=1))
    print(f"\nREADME contract block timings (s): {json.dumps(timings, indent=1)}")


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs(contract, block):
    result = contract.run_through(block.id)
    assert result.returncode == 0, result.report()
    print(result.report()[:3000])


def _report_block():
    blocks = [b for b in RUNNABLE if b.kind == "shell" and "--report" in b.text]
    assert blocks, "README has no `snakemake --report` block"
    return blocks[0]


@pytest.fixture(scope="session")
def report(contract):
    """The report README's report command built in README's environment (tiny run)."""
    block = _report_block()
    result = contract.run_through(block.id)
    assert result.returncode == 0, result.report()
    path = contract.clone / block.command().split("--report", 1)[1].split()[0]
    assert path.is_file(), f"{path} was not written:\n{result.report()}"
    return path


@pytest.mark.slow
def test_report_in_chromium(report, contract):
    import browser

    browser.ensure_chromium_installed()
    # the report is the tiny run's (README's other blocks may have made other ensembles)
    name = yaml.safe_load((contract.clone / rc.TINY).read_text())["ensemble"]["name"]
    ensemble = contract.clone / "results" / name
    assert (ensemble / "summary.csv").is_file(), ensemble
    figures = sorted(str(p.relative_to(contract.clone))
                     for p in (ensemble / "figures").glob("*/*.png"))
    cell_types = sorted({Path(f).parent.name for f in figures})
    assert len(figures) >= 2 * len(cell_types) >= 2

    start = time.monotonic()
    walk = browser.walk_report(report)
    seen = walk["figures"]
    # every figure of the run is in the report, reachable by clicks from the first page,
    # and renders (decoded by the browser with a size, not a broken image)
    expected = figures + [str((ensemble / "summary.png").relative_to(contract.clone))]
    missing = [f for f in expected if f not in seen]
    assert not missing, f"figures not reachable from the first page: {missing}\n{walk}"
    broken = {f: seen[f] for f in expected if not (seen[f]["width"] > 0 and seen[f]["height"] > 0)}
    assert not broken, f"figures that do not render: {broken}"
    # first page: links to the summary and the cell types
    assert {"Summary", "Cell types"} <= set(walk["first_page_links"]), walk["first_page_links"]
    # captions name their cell type, and the labels group the figures by cell type
    for f in figures:
        cell_type = Path(f).parent.name
        assert f"<strong>{cell_type}</strong>" in seen[f]["caption"], (f, seen[f]["caption"])
        assert seen[f]["section"] == ["Cell types", cell_type], (f, seen[f]["section"])
    assert seen[expected[-1]]["section"][0] == "Summary"

    ARTEFACTS.mkdir(exist_ok=True)
    first = browser.screenshot(report, ARTEFACTS / "report_first_page.png")
    section = browser.screenshot(report, ARTEFACTS / f"report_{cell_types[-1]}.png",
                                 path=["Cell types", cell_types[-1]], show="embedding")
    for png in (first, section):
        assert browser.informative(png), f"{png} is blank"
    print(f"\nscreenshots: {first} {section} ({time.monotonic() - start:.1f} s in Chromium)")
