"""Evaluate trained networks: validation flow loss against the untrained start, T4/T5 tuning.

For every network folder (or every network of an ensemble folder): the validation loss of its
best checkpoint relative to its first (untrained) checkpoint, and for T4a-d (ON edges) and
T5a-d (OFF edges) the correlation of the moving-edge tuning curve with Maisak et al. 2013,
the DSI and whether the preferred direction is within 45 deg of the measured one, for the best
and the untrained checkpoint (flycluster.training.evaluate). Writes a CSV (one row per network,
checkpoint and cell type) and a markdown file (summary + per-network table); prints the summary.

    python tools/evaluate_ensemble.py resources/ensembles/train/* --out results/train/evaluation
    python tools/evaluate_ensemble.py /tmp/net/000 --speeds 19 25 --t-pre 0.25 --t-post 0.25

Networks trained at extent >= 4 can be evaluated from their work folder directly; published
folders are at the analysis extent already.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _which(text: str):
    if text in ("best", "start", "last"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected best, start, last or an integer checkpoint index, got {text!r}") from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="network folders or ensemble folders")
    p.add_argument("--out", default="evaluation", help="output prefix (.csv and .md)")
    p.add_argument("--extent", type=int, default=15, help="simulation extent (flyvis 15)")
    p.add_argument("--speeds", type=float, nargs="*", default=None,
                   help="moving-edge speeds (columns/s; default flyvis's 6)")
    p.add_argument("--t-pre", type=float, default=None)
    p.add_argument("--t-post", type=float, default=None)
    p.add_argument("--checkpoints", nargs="+", default=["best", "start"], type=_which,
                   help="best, start, last or checkpoint indices (0 = first, -1 = last) "
                        "to follow the tuning over training (default: best start)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workdir", default=None, help="keep stimulus and responses here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from flycluster.checkpoints import CHECKPOINT_DIR
    from flycluster.training.evaluate import (
        evaluate_networks,
        markdown_table,
        summarize,
        summarize_networks,
    )

    folders = []
    for f in map(Path, args.folders):
        if (f / CHECKPOINT_DIR).is_dir():
            folders.append(f)
        else:
            folders += sorted(d for d in f.iterdir() if (d / CHECKPOINT_DIR).is_dir())
    if not folders:
        raise SystemExit(f"no network folders (with {CHECKPOINT_DIR}/) in {args.folders}")
    edges = {k: v for k, v in {"speeds": args.speeds, "t_pre": args.t_pre,
                               "t_post": args.t_post}.items() if v is not None}
    t0 = time.time()
    table = evaluate_networks(folders, extent=args.extent, edges=edges, workdir=args.workdir,
                              checkpoints=args.checkpoints)
    summary = summarize(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False)
    cols = ["network", "checkpoint", "checkpoint_iterations", "cell_type", "correlation", "dsi",
            "preferred_direction", "direction_error", "direction_within_45", "loss_start",
            "loss_best", "loss_ratio", "iterations"]
    text = (f"# Evaluation of {len(folders)} network(s)\n\nmoving edges: {edges or 'flyvis defaults'}"
            f", extent {args.extent}; {time.time() - t0:.0f} s\n\n## Summary\n\n"
            + markdown_table(summary) + "\n\n## Per network\n\n"
            + markdown_table(summarize_networks(table)) + "\n\n## Per network and cell type\n\n"
            + markdown_table(table[cols]) + "\n")
    out.with_suffix(".md").write_text(text)
    print(markdown_table(summary))
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
