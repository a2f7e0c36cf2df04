"""Headless Chromium for looking at HTML the workflow makes (the snakemake report).

No driver library: Debian's ``chromium`` is run with ``--headless``; what a page shows is read
back with ``--dump-dom`` from a copy of the page with a small script appended. The script
clicks through the page as a user would, waits (Chromium's virtual time, so no real sleeping)
and writes what it found as JSON into a ``<pre id="readme-contract">`` element. Screenshots are
taken the same way (``--screenshot``), after the script has clicked to the view wanted.

Chromium is installed with apt-get when missing (as root, as in CI), the way
tests/slurm_cluster.py installs SLURM; where that is impossible the error says what to install.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "chromium"
WINDOW = (1400, 900)


class BrowserSetupError(RuntimeError):
    """Chromium is missing and could not be installed (the message says how to)."""


def chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def ensure_chromium_installed(timeout=900):
    """Install Debian's chromium with apt-get when it is missing."""
    if chromium():
        return chromium()
    install = f"apt-get install -y --no-install-recommends {PACKAGE}"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BrowserSetupError(f"the report test needs Chromium; run as root on Debian/Ubuntu "
                                f"or install it first: `{install}`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = []
    for cmd in (install, "apt-get update", install):
        proc = subprocess.run(cmd.split(), env=env, capture_output=True, text=True,
                              timeout=timeout)
        log.append(f"$ {cmd}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        if cmd.startswith("apt-get install") and proc.returncode == 0 and chromium():
            return chromium()
    raise BrowserSetupError(f"could not install Chromium (`{install}`):\n" + "\n".join(log))


def run_chromium(url, *args, timeout=120, budget_ms=20000):
    """Run headless Chromium on ``url``; stdout (e.g. the DOM with --dump-dom)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [ensure_chromium_installed(), "--headless", "--no-sandbox", "--disable-gpu",
               "--no-first-run", "--disable-extensions", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               "--run-all-compositor-stages-before-draw", f"--virtual-time-budget={budget_ms}",
               *args, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr[-3000:]}")
    return proc.stdout


# The script appended to a copy of the report. Snakemake's report (a React app) keeps its data
# in the globals `categories` and `results`; links are <a href="#"> with click handlers.
WALK_JS = r"""
<script>
(function () {
  const TARGET = __TARGET__;          // null: walk every section; [category, sub]: go there
  const SHOW = __SHOW__;  // with TARGET: false, or show the first figure whose row has this text
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const linkTexts = () => [...document.querySelectorAll('a')]
      .map(a => a.textContent.trim()).filter(t => t);
  function click(text) {
    const els = [...document.querySelectorAll('a')].filter(a => a.textContent.trim() === text);
    if (!els.length) return false;
    els[els.length - 1].click();
    return true;
  }
  function home() {
    const first = document.querySelector('nav ol li a');
    if (first) first.click();
  }
  function shownFigure() {
    const byUri = {};
    for (const [p, r] of Object.entries(results)) if (r.data_uri) byUri[r.data_uri] = p;
    for (const img of document.querySelectorAll('img')) {
      const p = byUri[img.getAttribute('src')];
      if (p !== undefined) {
        const box = img.getBoundingClientRect();
        return {path: p, width: img.naturalWidth, height: img.naturalHeight,
                complete: img.complete, shown: box.width > 0 && box.height > 0};
      }
    }
    return null;
  }
  async function openSection(cat, sub) {
    home(); await sleep(300);
    const section = [cat];
    if (!click(cat)) return null;
    await sleep(300);
    if (sub !== null && click(sub)) { section.push(sub); await sleep(300); }
    return section;
  }
  async function walkRows(section, out, onlyFirst) {
    const rows = [...document.querySelectorAll('tr')].filter(tr => tr.querySelector('td a'))
        .filter(tr => !onlyFirst || tr.innerText.includes(onlyFirst));
    out.rows.push([section, rows.map(r => r.innerText.trim().split(/\s+/).join(' '))]);
    for (const row of rows) {
      row.querySelector('td a').click();
      await sleep(400);
      const fig = shownFigure();
      if (fig) {
        fig.caption = results[fig.path].caption || '';
        fig.section = section;
        fig.row = row.innerText.trim().split(/\s+/).join(' ');
        out.figures[fig.path] = fig;
        if (onlyFirst !== false) return true;
      }
    }
    return false;
  }
  async function walkSection(section, out, onlyFirst) {
    // a label with two values is a toggle (radio buttons) above the table: every value once
    if (await walkRows(section, out, onlyFirst)) return;
    const radios = [...document.querySelectorAll('input[type=radio]')];
    for (let i = 0; i < radios.length; i++) {
      const radio = [...document.querySelectorAll('input[type=radio]')][i];
      if (!radio || radio.checked) continue;
      radio.click();
      await sleep(300);
      if (await walkRows(section, out, onlyFirst)) return;
    }
  }
  window.addEventListener('load', async () => {
    await sleep(500);
    const out = {first_page_links: linkTexts(), figures: {}, sections: [], rows: []};
    try {
      if (TARGET === null) {
        for (const [cat, subs] of Object.entries(categories)) {
          const names = Object.keys(subs);
          for (const sub of names) {
            const section = await openSection(cat, names.length > 1 ? sub : null);
            out.sections.push(section);
            if (section) await walkSection(section, out, false);
          }
        }
      } else {
        const section = await openSection(TARGET[0], TARGET.length > 1 ? TARGET[1] : null);
        out.sections.push(section);
        if (section && SHOW !== false) await walkSection(section, out, SHOW);
      }
    } catch (err) { out.error = String(err); }
    const pre = document.createElement('pre');
    pre.id = 'readme-contract';
    pre.style.display = 'none';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
})();
</script>
"""


def _with_script(report, target=None, show=False):
    """A copy of ``report`` (next to it, so relative links still work) with WALK_JS appended."""
    text = Path(report).read_text(errors="replace")
    script = (WALK_JS.replace("__TARGET__", json.dumps(target))
              .replace("__SHOW__", json.dumps(show)))
    cut = text.rfind("</body>")
    cut = len(text) if cut < 0 else cut
    fd, name = tempfile.mkstemp(suffix=".html", prefix=".walk-", dir=Path(report).parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text[:cut] + script + text[cut:])
    return Path(name)


def walk_report(report):
    """Open ``report`` in Chromium and, from its first page, click into every section and every
    result row of the snakemake report; returns ``{"first_page_links": [...], "sections":
    [...], "figures": {path: {width, height (natural size, 0 = broken), complete, shown,
    caption, section, row}}}``."""
    page = _with_script(report)
    try:
        dom = run_chromium(page.as_uri(), "--dump-dom")
    finally:
        page.unlink()
    match = re.search(r'<pre id="readme-contract"[^>]*>(.*?)</pre>', dom, flags=re.S)
    if not match:
        raise AssertionError(f"the page script did not finish; DOM tail:\n{dom[-3000:]}")
    out = json.loads(html.unescape(match.group(1)))
    if "error" in out:
        raise AssertionError(f"the page script failed: {out['error']}")
    return out


def screenshot(report, dest, path=None, show=""):
    """PNG of the report's first page, or of the section ``path`` ([category, subcategory]),
    showing the first figure whose table row contains the text ``show`` ("" = any)."""
    dest = Path(dest)
    page = _with_script(report, target=path, show=show) if path else None
    try:
        run_chromium((page or Path(report)).as_uri(), f"--screenshot={dest}")
    finally:
        if page:
            page.unlink()
    return dest


def informative(png, min_colours=16):
    """True when a screenshot is not blank (has at least ``min_colours`` distinct colours)."""
    from PIL import Image

    with Image.open(png) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    return colours is None or len(colours) >= min_colours
