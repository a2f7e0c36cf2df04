"""Per-rule wall time, CPU time and peak memory of a workflow run, from its job logs.

Every rule script logs one line at exit (scripts/_job.py)::

    ... flycluster.rule.<rule> INFO job usage: wall 51.3 s, cpu 82.3 s, peak memory 1092 MB

This tool collects those lines under a logs folder and prints a Markdown table per rule: jobs,
wall time (sum, median, max), CPU time (sum) and peak memory (max, with the job that reached
it). docs/performance.md's flow/0000 table was made with it::

    python tools/job_usage.py logs/ [--csv usage.csv]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

LINE = re.compile(r"flycluster\.rule\.(?P<rule>\S+) INFO job usage: wall (?P<wall>[\d.]+) s, "
                  r"cpu (?P<cpu>[\d.]+) s, peak memory (?P<peak>[\d.]+) MB")


def collect(logs: Path) -> list[dict]:
    """One row per job log holding a usage line: rule, log, wall_s, cpu_s, peak_mb."""
    rows = []
    for path in sorted(Path(logs).rglob("*.log")):
        for match in LINE.finditer(path.read_text(errors="replace")):
            rows.append({"rule": match["rule"], "log": str(path.relative_to(logs)),
                         "wall_s": float(match["wall"]), "cpu_s": float(match["cpu"]),
                         "peak_mb": float(match["peak"])})
    return rows


def table(rows: list[dict]) -> str:
    by_rule: dict[str, list[dict]] = {}
    for row in rows:
        by_rule.setdefault(row["rule"], []).append(row)
    lines = ["| rule | jobs | wall sum (s) | wall median (s) | wall max (s) | CPU sum (s) "
             "| peak memory max (MB) | job at the peak |",
             "|---|---|---|---|---|---|---|---|"]
    for rule, jobs in sorted(by_rule.items(), key=lambda kv: -sum(j["wall_s"] for j in kv[1])):
        walls = [j["wall_s"] for j in jobs]
        top = max(jobs, key=lambda j: j["peak_mb"])
        lines.append(f"| {rule} | {len(jobs)} | {sum(walls):.0f} | {statistics.median(walls):.1f} "
                     f"| {max(walls):.1f} | {sum(j['cpu_s'] for j in jobs):.0f} "
                     f"| {top['peak_mb']:.0f} | {top['log']} |")
    total_wall = sum(r["wall_s"] for r in rows)
    total_cpu = sum(r["cpu_s"] for r in rows)
    lines.append(f"| all jobs | {len(rows)} | {total_wall:.0f} | | | {total_cpu:.0f} "
                 f"| {max(r['peak_mb'] for r in rows):.0f} | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", type=Path, help="a workflow's logs/ folder (or part of it)")
    parser.add_argument("--csv", type=Path, help="also write one row per job to this CSV file")
    args = parser.parse_args(argv)
    rows = collect(args.logs)
    if not rows:
        print(f"no 'job usage' lines under {args.logs}", file=sys.stderr)
        return 1
    print(table(rows))
    if args.csv:
        import csv

        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
