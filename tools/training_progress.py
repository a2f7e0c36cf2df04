"""Where training runs stand: has each network left the initial plateau, and how far is it.

For every training (work) folder: iterations trained, the plateau of the training loss (mean
of 500 iterations over the first 5,000), the iteration at which it first fell 3.5 % below it
(flycluster.training.diagnostics.left_plateau; empty: still on it), the last 500 iterations'
mean, the validation loss at the start and at its best (and their ratio, the best's
iteration) and the output cell types silent at grey at the last checkpoint. One line per
folder; ``--out X`` also writes X.csv.

    python tools/training_progress.py resources/training/train/*
    python tools/training_progress.py runs/w* --out results/progress
"""

from __future__ import annotations

import argparse
from pathlib import Path


def progress(folder) -> dict:
    """One row of the table for a training folder."""
    import numpy as np
    import torch

    from flycluster.checkpoints import list_checkpoints, validation_losses
    from flycluster.training.diagnostics import left_plateau
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
    head = np.convolve(loss, np.ones(500) / 500, "valid")[:4501] if len(loss) >= 500 else loss
    return {"folder": str(folder), "iterations": int(len(loss)),
            "plateau_loss": round(float(np.median(head)), 1) if len(head) else float("nan"),
            "left_plateau_at": left_plateau(loss),
            "last_loss": round(float(tail.mean()), 1) if len(tail) else float("nan"),
            "val_start": round(float(val[0]), 2), "val_best": round(float(val[best]), 2),
            "val_ratio": round(float(val[best] / val[0]), 3),
            "best_iteration": int(iterations[best]) if len(iterations) == len(val) else None,
            "silent_at_grey": " ".join(last.get("silent_output_types", []))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="training (work) folders")
    p.add_argument("--out", default=None, help="also write <out>.csv")
    args = p.parse_args(argv)
    import pandas as pd

    from flycluster.errors import FlyclusterError

    rows = []
    for folder in args.folders:
        try:
            rows.append(progress(folder))
        except FlyclusterError as e:
            raise SystemExit(f"{folder}: {e}") from None
    table = pd.DataFrame(rows).astype({"left_plateau_at": "Int64", "best_iteration": "Int64"})
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(f"{args.out}.csv", index=False)
        print(f"wrote {args.out}.csv")


if __name__ == "__main__":
    main()
