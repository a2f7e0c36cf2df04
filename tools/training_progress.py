"""Where training runs stand: has each network left the initial plateau, and how far is it.

For every training (work) folder: iterations trained, the plateau of the training loss (mean
of 500 iterations over the first 5,000), the iteration at which it first fell 3.5 % below it
(flycluster.training.diagnostics.left_plateau; empty: still on it), the last 500 iterations'
mean, the validation loss at the start and at its best (and their ratio, the best's
iteration) and the output cell types silent at grey at the last checkpoint. One line per
folder; ``--out X`` also writes X.csv.

``--tuning`` adds the median DSI of T4a-d and of T5a-d, the largest over the last three
checkpoints (``--window``), from moving edges at 19 columns/s simulated at each folder's own
(training) extent: networks whose T5 cells are not direction selective (median DSI <= 0.01)
at 5,250-6,750 iterations have stayed on the plateau so far, and those above have left it
(docs/training_studies.md, "Ways off the plateau", point 5, and "The shipped ensemble"), so
this screens networks trained with ``tools/train_network.py --stop-at 6750``.

    python tools/training_progress.py resources/training/train/*
    python tools/training_progress.py runs/w* --tuning --out results/progress
"""

from __future__ import annotations

import argparse
from pathlib import Path


def progress(folder) -> dict:
    """One row of the table for a training folder."""
    import numpy as np
    import torch

    from flycluster.checkpoints import list_checkpoints, validation_losses
    from flycluster.training.diagnostics import left_plateau, plateau_level
    from flycluster.training.loop import _read_h5

    folder = Path(folder)
    chkpts = list_checkpoints(folder)
    loss = _read_h5(folder / "loss.h5")
    loss = loss[np.isfinite(loss)]
    val = validation_losses(folder)
    iterations = _read_h5(folder / "validation" / "iteration.h5")
    best = int(np.nanargmin(val))
    last = torch.load(chkpts[-1], map_location="cpu", weights_only=False)
    tail = loss[-500:]
    return {"folder": str(folder), "iterations": int(len(loss)),
            "plateau_loss": round(plateau_level(loss), 1),
            "left_plateau_at": left_plateau(loss),
            "last_loss": round(float(tail.mean()), 1) if len(tail) else float("nan"),
            "val_start": round(float(val[0]), 2), "val_best": round(float(val[best]), 2),
            "val_ratio": round(float(val[best] / val[0]), 3),
            "best_iteration": int(iterations[best]) if len(iterations) == len(val) else None,
            "silent_at_grey": " ".join(last.get("silent_output_types", []))}


def early_tuning(folders, window: int = 3) -> dict:
    """{folder: (median DSI of T4a-d, of T5a-d)}, each the largest over the folder's last
    ``window`` checkpoints, at the folder's extent (moving edges at 19 columns/s).

    One checkpoint is not enough: a network's T5 median DSI jumps between consecutive
    checkpoints (network 2 of the seed campaign: 0.021, 0.015, 0.000 at 5,250, 6,000 and 6,750
    iterations; docs/training_studies.md)."""
    from flycluster.checkpoints import list_checkpoints
    from flycluster.training.diagnostics import folder_extent
    from flycluster.training.evaluate import evaluate_networks

    out = {}
    for folder in map(Path, folders):
        n = min(window, len(list_checkpoints(folder)))
        table = evaluate_networks([folder], extent=folder_extent(folder),
                                  edges={"speeds": [19.0]}, checkpoints=list(range(-n, 0)))
        t4 = table["cell_type"].str.startswith("T4")
        out[folder] = (float(table[t4].groupby("checkpoint")["dsi"].median().max()),
                       float(table[~t4].groupby("checkpoint")["dsi"].median().max()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="training (work) folders")
    p.add_argument("--out", default=None, help="also write <out>.csv")
    p.add_argument("--tuning", action="store_true",
                   help="add the median T4 and T5 DSI, largest over the last checkpoints (a screen)")
    p.add_argument("--window", type=int, default=3,
                   help="--tuning: how many of the last checkpoints (default 3)")
    args = p.parse_args(argv)
    if args.window < 1:
        raise SystemExit(f"--window: expected at least 1 checkpoint, got {args.window}")
    import pandas as pd

    from flycluster.errors import FlyclusterError

    rows = []
    for folder in args.folders:
        try:
            rows.append(progress(folder))
        except FlyclusterError as e:
            raise SystemExit(f"{folder}: {e}") from None
    table = pd.DataFrame(rows).astype({"left_plateau_at": "Int64", "best_iteration": "Int64"})
    if args.tuning:
        dsi = early_tuning(args.folders, args.window)
        table["median_dsi_t4"] = [round(dsi[Path(f)][0], 4) for f in args.folders]
        table["median_dsi_t5"] = [round(dsi[Path(f)][1], 4) for f in args.folders]
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(f"{args.out}.csv", index=False)
        print(f"wrote {args.out}.csv")


if __name__ == "__main__":
    main()
