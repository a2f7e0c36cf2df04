"""How many networks BIC needs before its number of clusters means something.

The clustering (flyvis's, :mod:`flycluster.clustering`) fits Gaussian mixtures with full
covariances to the 2-D UMAP embedding, min-max scaled, and keeps the k of lowest BIC. A
component fitted to 1 or 2 points is degenerate (its covariance collapses to ``reg_covar``), so
its likelihood, and BIC's reward for it, does not depend on the data. This study measures what
that does on data without any structure: ``n`` points from one 2-D Gaussian (scaled as the
embedding is), ``--draws`` seeded draws per ``n``, the default mixture search (k = 1..5,
n_init = 100, random_state = 42). Per ``n`` it reports how often BIC picks k > 1 (every such
answer is a false cluster), how often the chosen mixture has a cluster of fewer than 3 points,
and, for comparison, how often k > 1 is chosen when mixtures with such clusters are not
allowed (the lowest BIC among the k whose clusters all hold >= 3 points).

Usage (from the repository root, package importable; ~1 min per n on one core)::

    python benchmarks/small_ensemble_bic.py --n 9 12 16 20 30 50 --draws 10 \\
        --out benchmarks/results/small_ensemble_bic.md
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd

from flycluster.clustering import fit_mixtures, resolve_gmm_kwargs, small_clusters


def null_points(n: int, random_state: int) -> np.ndarray:
    """``n`` points of one standard 2-D Gaussian, min-max scaled to [0, 1] per column (as the
    UMAP embedding is before the mixtures): (n, 2) float64."""
    points = np.random.default_rng(random_state).normal(size=(n, 2))
    return (points - points.min(0)) / (points.max(0) - points.min(0))


def one_draw(points: np.ndarray, gmm_kwargs: dict, min_size: int = 3) -> dict:
    """BIC's choice on ``points``, with and without clusters smaller than ``min_size``."""
    fits = []
    for k in gmm_kwargs["range_n_clusters"]:
        if k > len(points):
            continue
        _, bic, model = fit_mixtures(points, {**gmm_kwargs, "range_n_clusters": [k]}, threads=1)
        small = small_clusters(model.predict(points), min_size) if k > 1 else {}
        fits.append((k, float(bic[0]), bool(small)))
    k_bic, _, small_bic = min(fits, key=lambda f: f[1])
    k_min_size = min((f for f in fits if not f[2]), key=lambda f: f[1])[0]
    return {"k_bic": k_bic, "small_cluster": small_bic, "k_without_small": k_min_size}


def study(ns, draws: int = 10, min_size: int = 3) -> pd.DataFrame:
    """One row per ``n``: draws, k chosen per draw, fraction of draws with k > 1 (false
    clusters), with a cluster < ``min_size``, and with k > 1 when such clusters are refused."""
    gmm_kwargs = resolve_gmm_kwargs({"min_cluster_size": 1})  # flyvis's search, per k
    rows = []
    for n in ns:
        t0 = time.perf_counter()
        found = pd.DataFrame([one_draw(null_points(n, seed), gmm_kwargs, min_size)
                              for seed in range(draws)])
        rows.append({"n_points": n, "draws": draws,
                     "k_bic": " ".join(map(str, found["k_bic"])),
                     "fraction_k_gt_1": float((found["k_bic"] > 1).mean()),
                     "fraction_small_cluster": float(found["small_cluster"].mean()),
                     "k_without_small": " ".join(map(str, found["k_without_small"])),
                     "fraction_k_gt_1_without_small": float((found["k_without_small"] > 1).mean())})
        print(f"n={n}: k {rows[-1]['k_bic']} | without clusters < {min_size}: "
              f"{rows[-1]['k_without_small']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[9, 12, 16, 20, 30, 50],
                        help="numbers of points (networks) to try")
    parser.add_argument("--draws", type=int, default=10, help="seeded draws per n (seeds 0..)")
    parser.add_argument("--min-size", type=int, default=3,
                        help="smallest cluster the comparison rule allows")
    parser.add_argument("--out", help="write the table here (Markdown; .csv beside it)")
    args = parser.parse_args(argv)
    table = study(args.n, args.draws, args.min_size)
    print(table.to_string(index=False))
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        table.to_csv(out.with_suffix(".csv"), index=False)
        out.with_suffix(".md").write_text(
            f"# BIC on structureless data (python {platform.python_version()})"
            f"\n\nCommand: `python benchmarks/small_ensemble_bic.py --n {' '.join(map(str, args.n))}"
            f" --draws {args.draws} --min-size {args.min_size}`\n\n"
            + table.to_markdown(index=False) + "\n")


if __name__ == "__main__":
    main()
