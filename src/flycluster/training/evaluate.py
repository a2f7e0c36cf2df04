"""How good is a trained network? Task loss against its untrained start, and T4/T5 tuning.

The measures of issue 10 item 5 (and of Lappalainen et al. 2024, Fig. 2d):

- ``loss_ratio``: validation flow loss of the analysed (best) checkpoint divided by that of
  the first checkpoint (written by ``train_flow`` before any training: the untrained start);
  < 1 = the task got better;
- per T4a-d (ON edges, intensity 1) and T5a-d (OFF edges, intensity 0):
  ``correlation`` = Pearson correlation over the 12 directions between the network's moving-edge
  tuning curve (peak responses averaged over speeds and widths,
  :func:`flycluster.tuning.angular_tuning`) and the tuning measured by Maisak et al. 2013
  (:func:`flycluster.tuning.known_tuning`); ``dsi`` = flyvis's direction selectivity index at
  that intensity (:func:`flycluster.tuning.direction_selectivity_index`); ``preferred_direction``
  (deg) and ``direction_error`` = its angular distance to the measured preferred direction
  (:data:`flycluster.tuning.PREFERRED_DIRECTIONS`); ``direction_within_45`` when <= 45 deg.
  A cell type that never depolarises (all peaks 0) has correlation NaN, DSI 0 and no
  preferred direction (NaN, not within 45 deg).

:func:`tuning_scores` works on responses (testable without simulation); :func:`evaluate_networks`
simulates moving edges for network folders and returns one table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from flycluster.tuning import (
    MAISAK_ANGLES,
    PREFERRED_DIRECTIONS,
    angular_distance,
    angular_tuning,
    direction_selectivity_index,
    known_tuning,
    preferred_direction,
    preferred_intensity,
)

__all__ = ["T4T5", "tuning_scores", "loss_ratio", "checkpoint_file", "network_labels",
           "evaluate_networks", "summarize", "summarize_networks", "markdown_table",
           "DSI_THRESHOLD"]

#: The cell types with a measured direction tuning (Maisak et al. 2013).
T4T5 = ("T4a", "T4b", "T4c", "T4d", "T5a", "T5b", "T5c", "T5d")
#: DSI above which a network's cell type counts as direction selective (flyvis's trained
#: ensembles: most T4/T5 above it).
DSI_THRESHOLD = 0.2


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


#: Peak responses (V above the pre-stimulus baseline) up to this are float32 round-off of a
#: cell that does not respond: its tuning curve counts as silent.
SILENT_PEAK = 1e-6


def tuning_scores(responses: xr.DataArray, cell_type: str) -> pd.DataFrame:
    """Tuning scores of one T4/T5 subtype in every network.

    Parameters
    ----------
    responses : DataArray (network, sample, frame)
        Moving-edge responses of ``cell_type`` (:func:`flycluster.formats.responses.
        read_cell_type` layout: sample coords angle, speed, intensity, width, t_stim; frame
        coord time); the angles must be 0, 30, ..., 330 deg (those of the measurement).
    cell_type : one of :data:`T4T5`.

    Returns
    -------
    DataFrame, one row per network: network, cell_type, intensity, correlation, dsi,
    preferred_direction (deg), known_direction (deg), direction_error (deg),
    direction_within_45.
    """
    if cell_type not in PREFERRED_DIRECTIONS:
        raise ValueError(f"no measured tuning for {cell_type!r}; expected one of {T4T5}")
    if "network" not in responses.dims:
        responses = responses.expand_dims(network=["0"])
    intensity = preferred_intensity(cell_type)
    curves = angular_tuning(responses, intensity=intensity)
    angles = np.asarray(curves["angle"].values, float)
    if not np.array_equal(np.sort(angles), MAISAK_ANGLES.astype(float)):
        raise ValueError(f"moving-edge angles {angles.tolist()} are not those of the measured "
                         f"tuning {MAISAK_ANGLES.tolist()} (degrees)")
    curves = curves.sortby("angle")
    known = known_tuning(cell_type).values
    dsi = direction_selectivity_index(responses).sel(intensity=intensity, drop=True)
    theta = preferred_direction(responses).sel(intensity=intensity, drop=True)
    expected = PREFERRED_DIRECTIONS[cell_type]
    rows = []
    for name in curves["network"].values:
        curve = curves.sel(network=name).values
        silent = not np.any(curve > SILENT_PEAK)
        # a curve without variation over the angles has no preferred direction (the angle of
        # its round-off would be taken for one)
        untuned = silent or np.ptp(curve) <= 1e-6 * np.max(np.abs(curve))
        direction = float("nan") if untuned else float(theta.sel(network=name))
        error = float(angular_distance(direction, expected)) if not untuned else float("nan")
        rows.append({"network": str(name), "cell_type": cell_type, "intensity": intensity,
                     "correlation": float("nan") if silent else _pearson(curve, known),
                     "dsi": 0.0 if silent else float(dsi.sel(network=name)),
                     "preferred_direction": direction, "known_direction": expected,
                     "direction_error": error,
                     "direction_within_45": bool(error <= 45.0) if not untuned else False})
    return pd.DataFrame(rows)


def loss_ratio(network_dir, loss_name: str = "loss") -> dict:
    """Validation loss of the best checkpoint against the first (untrained) one.

    Returns dict: loss_start, loss_best, loss_last, loss_ratio (best / start), n_checkpoints,
    iterations (trained iterations of the last checkpoint, if recorded).

    A folder written by :func:`~flycluster.training.export.export_network` keeps one checkpoint
    only; its untrained loss is read from ``_meta.yaml`` (``exported.validation_loss_start``),
    so that its ratio is the trained one and not 1.
    """
    from flycluster.checkpoints import read_meta, validation_losses

    losses = validation_losses(network_dir, loss_name)
    iterations = float("nan")
    it_file = Path(network_dir) / "validation" / "iteration.h5"
    if it_file.is_file():
        from flycluster.training.loop import _read_h5

        iterations = float(_read_h5(it_file)[-1])
    start = float(losses[0])
    if loss_name == "loss":
        exported = read_meta(network_dir).get("exported")
        if isinstance(exported, dict) and exported.get("validation_loss_start") is not None:
            start = float(exported["validation_loss_start"])
            if np.isnan(iterations) and exported.get("iterations") is not None:
                iterations = float(exported["iterations"])
    best = float(np.nanmin(losses))
    return {"loss_start": start, "loss_best": best, "loss_last": float(losses[-1]),
            "loss_ratio": best / start, "n_checkpoints": int(len(losses)),
            "iterations": iterations}


def checkpoint_file(folder: Path, which, loss_name: str = "loss") -> Path:
    """The checkpoint file of ``folder`` named by ``which`` (see :func:`evaluate_networks`)."""
    from flycluster.checkpoints import best_checkpoint, list_checkpoints

    if which == "best":
        return best_checkpoint(folder, loss_name)
    index = {"start": 0, "last": -1}.get(which, which)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"checkpoints: expected best, start, last or an integer index, "
                         f"got {which!r}")
    found = list_checkpoints(folder)
    if not -len(found) <= index < len(found):
        raise ValueError(f"{folder}: checkpoint index {index} out of range "
                         f"({len(found)} checkpoints)")
    return found[index]


def _trained_iterations(chkpt: Path) -> float:
    """Iterations trained when checkpoint ``chkpt`` was written (NaN if not recorded)."""
    import torch

    from flycluster.checkpoints import trained_iterations

    return trained_iterations(torch.load(chkpt, map_location="cpu", weights_only=False))


def network_labels(folders) -> list[str]:
    """A distinct label per network folder: its name, or, where names repeat (``runs/a/w3``,
    ``runs/b/w3``), as many parent folders joined by ``_`` as make them distinct
    (``a_w3``, ``b_w3``)."""
    folders = [Path(f) for f in folders]
    if len(set(folders)) != len(folders):
        raise ValueError(f"a network folder is given twice: {[str(f) for f in folders]}")
    for depth in range(1, max(len(f.parts) for f in folders) + 1):
        labels = ["_".join(f.parts[-depth:]).lstrip("/_") for f in folders]
        if len(set(labels)) == len(labels):
            return labels
    return [str(f) for f in folders]


def evaluate_networks(network_dirs, *, extent: int = 15, edges: dict | None = None,
                      checkpoints=("best", "start"), loss_name: str = "loss",
                      batch_size: int | None = None, workdir=None) -> pd.DataFrame:
    """Task loss and T4/T5 tuning scores of flyvis network folders.

    Parameters
    ----------
    network_dirs : sequence of network folders (``chkpts/``, ``validation/<loss_name>.h5``);
        any extent >= 4, or already at ``extent``.
    extent : lattice extent of the simulation (flyvis: 15).
    edges : moving-edge stimulus options (``$defs/moving_edges`` of the config schema, e.g.
        fewer speeds for a quick look); default flyvis's.
    checkpoints : which checkpoints to score: ``"best"`` (lowest validation loss, the one the
        analysis uses), ``"start"`` (the first one: the untrained network), ``"last"``, or an
        integer: the position in the folder's checkpoint list (``chkpt_NNNNN`` in order, negative
        from the end), to follow the tuning over training.
    workdir : folder for the stimulus and response files (default: a temporary folder).

    Returns
    -------
    DataFrame, one row per (network, checkpoint, cell type) with the columns of
    :func:`tuning_scores` plus ``checkpoint``, ``checkpoint_iterations`` (iterations trained
    when that checkpoint was written) and those of :func:`loss_ratio` (whose ``iterations``
    are the folder's last checkpoint's).
    """
    import tempfile

    from flycluster.connectome import load_connectome
    from flycluster.formats.responses import read_cell_type
    from flycluster.network import load_network
    from flycluster.responses import simulate_stimulus_file
    from flycluster.stimuli.build import build_stimulus_set
    from flycluster.stimuli.io import write_stimulus

    network_dirs = [Path(d) for d in network_dirs]
    names = network_labels(network_dirs)
    connectome = load_connectome(extent=extent)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        stimulus = root / "moving_edges.nc"
        if not stimulus.is_file():
            write_stimulus(build_stimulus_set("moving_edges", {"kind": "moving_edges",
                                                               "extent": extent,
                                                               **(edges or {})}), stimulus)
        frames = []
        for which in checkpoints:
            paths, trained = [], {}
            for folder, name in zip(network_dirs, names):
                chkpt = checkpoint_file(folder, which, loss_name)
                trained[name] = _trained_iterations(chkpt)
                out = root / str(which) / f"{name}.nc"
                if not out.is_file():
                    network = load_network(chkpt, connectome=connectome)
                    simulate_stimulus_file(network, stimulus, out, network_name=name,
                                           checkpoint=str(chkpt), batch_size=batch_size)
                paths.append(out)
            for cell_type in T4T5:
                table = tuning_scores(read_cell_type(paths, cell_type), cell_type)
                table.insert(1, "checkpoint", str(which))
                table.insert(2, "checkpoint_iterations", table["network"].map(trained))
                frames.append(table)
        scores = pd.concat(frames, ignore_index=True)
    losses = pd.DataFrame([{"network": name, **loss_ratio(d, loss_name)}
                           for d, name in zip(network_dirs, names)])
    return scores.merge(losses, on="network", how="left")


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint: median loss ratio, median correlation, fraction of (network, cell type)
    with DSI >= :data:`DSI_THRESHOLD`, fraction with the preferred direction within 45 deg,
    and the fraction of networks whose median DSI over the 8 types is >= the threshold."""
    rows = []
    for which, part in table.groupby("checkpoint", sort=False):
        per_network = part.groupby("network")["dsi"].median()
        rows.append({"checkpoint": which,
                     "n_networks": int(part["network"].nunique()),
                     "median_loss_ratio": float(part.groupby("network")["loss_ratio"].first()
                                                .median()),
                     "median_correlation": float(part["correlation"].median()),
                     "fraction_dsi_ge_0.2": float((part["dsi"] >= DSI_THRESHOLD).mean()),
                     "fraction_within_45": float(part["direction_within_45"].mean()),
                     "fraction_networks_median_dsi_ge_0.2":
                         float((per_network >= DSI_THRESHOLD).mean()),
                     "median_dsi": float(part["dsi"].median())})
    return pd.DataFrame(rows)


def summarize_networks(table: pd.DataFrame) -> pd.DataFrame:
    """Per network and checkpoint: loss ratio, median correlation with Maisak et al. over
    the 8 types, median DSI of T4a-d and of T5a-d, how many types have DSI >=
    :data:`DSI_THRESHOLD` and how many prefer a direction within 45 deg of Maisak's."""
    rows = []
    for (network, which), part in table.groupby(["network", "checkpoint"], sort=False):
        t4 = part["cell_type"].str.startswith("T4")
        rows.append({"network": network, "checkpoint": which,
                     "checkpoint_iterations": part["checkpoint_iterations"].iloc[0],
                     "loss_ratio": part["loss_ratio"].iloc[0],
                     "median_correlation": float(part["correlation"].median()),
                     "median_dsi_t4": float(part.loc[t4, "dsi"].median()),
                     "median_dsi_t5": float(part.loc[~t4, "dsi"].median()),
                     "n_dsi_ge_0.2": int((part["dsi"] >= DSI_THRESHOLD).sum()),
                     "n_within_45": int(part["direction_within_45"].sum()),
                     "n_types": int(len(part))})
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub markdown table of ``df`` (no extra dependency)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if not np.isfinite(v) else format(float(v), floatfmt)
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |",
             "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
