"""The summary table, ``results/{ensemble}/summary.csv``: one row per cell type (made by
:func:`flycluster.summary.summary_table`; the columns are listed there)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flycluster.io_utils import atomic_path

#: columns every summary table has (stability and planted columns are added when present)
REQUIRED_COLUMNS = ("cell_type", "n_networks", "n_masked", "n_clusters", "bic_gain", "cluster_sizes",
                    "cluster_task_errors")


def write_summary(table: pd.DataFrame, path) -> Path:
    """Write the summary csv atomically (floats with 6 significant digits)."""
    path = Path(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"summary table to write to {path} lacks columns {missing}")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return path


def read_summary(path) -> pd.DataFrame:
    """Read a summary csv written by :func:`write_summary` (``cell_type`` and the joined
    per-cluster columns as strings)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"summary file {path} does not exist")
    table = pd.read_csv(path, dtype={"cell_type": str, "cluster_sizes": str, "cluster_task_errors": str},
                        keep_default_na=False, na_values=["", "nan", "NaN"])
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"summary file {path} lacks columns {missing}")
    return table
