"""What sets a trained T4/T5 cell's direction tuning: its moving-edge tuning with each of its
inputs removed in turn (flycluster.training.mechanism.knockout_tuning).

Usage (from the repository root, package importable)::

    python tools/knockout_tuning.py NETWORK_FOLDER --cell-types T4c T4d T5c --checkpoint -1
    python tools/knockout_tuning.py NETWORK_FOLDER --cell-types T4c \\
        --time-constants Mi1=0.02 Tm3=0.02 Mi4=0.1 Mi9=0.1 --out results/knockouts

``--checkpoint``: best (lowest validation loss), start, last or a position (negative from
the end). ``--time-constants``: give every variant these time constants (s) as well.
``--speeds``: moving-edge speeds (columns/s; flyvis's six by default, fewer for a quick
look). Writes ``<out>.csv`` and ``<out>.md`` when ``--out`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _checkpoint_arg(text: str):
    return text if text in ("best", "start", "last") else int(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="network folder (any extent >= 4)")
    p.add_argument("--cell-types", nargs="+", required=True, help="T4a-d / T5a-d")
    p.add_argument("--checkpoint", type=_checkpoint_arg, default="best")
    p.add_argument("--time-constants", nargs="*", default=[], metavar="TYPE=SECONDS")
    p.add_argument("--speeds", nargs="*", type=float, default=None)
    p.add_argument("--extent", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="output prefix (.csv and .md)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from flycluster.errors import CheckpointError
    from flycluster.training.evaluate import checkpoint_file, markdown_table
    from flycluster.training.mechanism import knockout_tuning

    taus = {}
    for item in args.time_constants:
        name, sep, value = item.partition("=")
        try:
            taus[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise SystemExit(f"--time-constants {item!r}: expected TYPE=SECONDS")
    try:
        path = checkpoint_file(Path(args.folder), args.checkpoint)
        table = knockout_tuning(path, args.cell_types, extent=args.extent,
                                edges=None if args.speeds is None else {"speeds": args.speeds},
                                time_constants=taus or None)
    except (CheckpointError, KeyError, ValueError) as e:
        raise SystemExit(str(e).strip('"')) from None
    table.insert(0, "checkpoint", str(path))
    text = markdown_table(table.drop(columns="checkpoint"))
    print(f"{path}" + (f", time constants {taus}" if taus else "") + "\n" + text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out.with_suffix(".csv"), index=False)
        out.with_suffix(".md").write_text(
            f"# T4/T5 tuning with one input removed\n\nCheckpoint `{path}`"
            + (f"; every variant with time constants {taus} s" if taus else "")
            + ".\n\n" + text + "\n")
        print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
