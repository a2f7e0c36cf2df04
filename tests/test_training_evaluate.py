"""flycluster.training.evaluate on synthetic moving-edge responses with known answers."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flycluster.training.evaluate import markdown_table, summarize, tuning_scores
from flycluster.tuning import MAISAK_TUNING

ANGLES = np.arange(0, 360, 30)
SPEEDS = (13.0, 25.0)


def _responses(curves: dict, intensity: int, other: float = 0.0) -> xr.DataArray:
    """(network, sample, frame) responses whose peak at (angle, intensity) is curves[net][angle]
    for every speed; the other intensity peaks at ``other``."""
    samples = [(a, 80.0, i, s) for a in ANGLES for i in (0, 1) for s in SPEEDS]
    time = np.arange(-0.1, 0.5, 0.01)
    bump = np.exp(-((time - 0.1) / 0.03) ** 2)  # peak 1 at t = 0.1 s, inside [0, t_stim]
    data = np.zeros((len(curves), len(samples), len(time)), np.float32)
    for n, curve in enumerate(curves.values()):
        for k, (a, _, i, _) in enumerate(samples):
            peak = curve[list(ANGLES).index(a)] if i == intensity else other
            data[n, k] = peak * bump
    coords = {"network": list(curves), "time": ("frame", time)}
    for j, c in enumerate(("angle", "width", "intensity", "speed")):
        coords[c] = ("sample", np.array([s[j] for s in samples]))
    coords["t_stim"] = ("sample", np.full(len(samples), 0.3))
    return xr.DataArray(data, dims=("network", "sample", "frame"), coords=coords)


def test_known_tuning_scores():
    maisak = np.array(MAISAK_TUNING["T4c"])
    cosine = 1 + np.cos(np.radians(ANGLES - 90.0))          # DSI 0.5, preferred 90 deg exactly
    opposite = 1 + np.cos(np.radians(ANGLES - 270.0))
    curves = {"maisak": maisak, "cosine": cosine, "opposite": opposite,
              "flat": np.ones(12), "silent": np.zeros(12),
              "round_off": 1e-8 * cosine}  # float32 noise of a resting cell, aligned by chance
    table = tuning_scores(_responses(curves, intensity=1), "T4c").set_index("network")
    assert table.loc["maisak", "correlation"] == pytest.approx(1.0, abs=1e-6)
    z = (maisak * np.exp(1j * np.radians(ANGLES))).sum()
    assert table.loc["maisak", "dsi"] == pytest.approx(abs(z) / maisak.sum(), rel=1e-5)
    assert table.loc["maisak", "preferred_direction"] == pytest.approx(
        np.degrees(np.angle(z)) % 360, abs=1e-3)
    assert table.loc["maisak", "direction_within_45"]
    assert table.loc["cosine", "dsi"] == pytest.approx(0.5, abs=1e-6)
    assert table.loc["cosine", "preferred_direction"] == pytest.approx(90.0, abs=1e-3)
    assert table.loc["cosine", "direction_error"] == pytest.approx(0.0, abs=1e-3)
    assert table.loc["opposite", "direction_error"] == pytest.approx(180.0, abs=1e-3)
    assert not table.loc["opposite", "direction_within_45"]
    assert table.loc["opposite", "correlation"] == pytest.approx(
        -table.loc["cosine", "correlation"], abs=1e-6)
    assert table.loc["flat", "dsi"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(table.loc["flat", "correlation"])  # a flat curve has no shape to correlate
    assert np.isnan(table.loc["flat", "preferred_direction"])  # ... and no preferred direction
    assert not table.loc["flat", "direction_within_45"]
    assert np.isnan(table.loc["silent", "correlation"]) and table.loc["silent", "dsi"] == 0
    assert not table.loc["silent", "direction_within_45"]
    assert table.loc["round_off", "dsi"] == 0 and np.isnan(table.loc["round_off", "correlation"])
    assert not table.loc["round_off", "direction_within_45"]
    assert (table["intensity"] == 1).all() and (table["known_direction"] == 90).all()


def test_t5_uses_off_edges_and_dsi_normalises_by_the_stronger_polarity():
    cosine = 1 + np.cos(np.radians(ANGLES - 180.0))
    # OFF edges carry the tuning; ON edges respond 2 everywhere: sum over angles 24 > 12, so
    # flyvis's DSI (normalised by the larger polarity) is 6 / 24.
    table = tuning_scores(_responses({"n": cosine}, intensity=0, other=2.0), "T5a")
    assert table.loc[0, "intensity"] == 0
    assert table.loc[0, "dsi"] == pytest.approx(6 / 24, abs=1e-6)
    assert table.loc[0, "preferred_direction"] == pytest.approx(180.0, abs=1e-3)


def test_wrong_angles_and_cell_types_are_refused():
    r = _responses({"n": np.ones(12)}, intensity=1)
    with pytest.raises(ValueError, match="no measured tuning"):
        tuning_scores(r, "Mi1")
    with pytest.raises(ValueError, match="angles"):
        tuning_scores(r.assign_coords(angle=("sample", r["angle"].values + 15)), "T4c")


def test_summary_counts():
    rows = []
    for net, (ratio, dsis) in {"a": (0.9, [0.3] * 8), "b": (0.7, [0.1] * 6 + [0.5] * 2)}.items():
        for k, d in enumerate(dsis):
            rows.append({"network": net, "checkpoint": "best", "cell_type": f"T{k}",
                         "correlation": 0.1 * k, "dsi": d, "direction_within_45": k < 2,
                         "loss_ratio": ratio})
    s = summarize(pd.DataFrame(rows)).iloc[0]
    assert s["n_networks"] == 2
    assert s["median_loss_ratio"] == pytest.approx(0.8)
    assert s["fraction_dsi_ge_0.2"] == pytest.approx(10 / 16)
    assert s["fraction_networks_median_dsi_ge_0.2"] == pytest.approx(0.5)
    assert s["fraction_within_45"] == pytest.approx(4 / 16)
    assert s["median_correlation"] == pytest.approx(0.35)
    text = markdown_table(summarize(pd.DataFrame(rows)))
    assert text.splitlines()[0].startswith("| checkpoint |") and "0.800" in text


def test_checkpoints_by_name_and_position(tmp_path):
    from flycluster.training.evaluate import checkpoint_file

    chkpts = tmp_path / "000" / "chkpts"
    chkpts.mkdir(parents=True)
    for n in (0, 1, 2, 10):  # sorted by number, not by name
        (chkpts / f"chkpt_{n:05d}").write_bytes(b"")
    pick = {w: checkpoint_file(tmp_path / "000", w, "loss").name for w in ("start", "last", 1, -2, 3)}
    assert pick == {"start": "chkpt_00000", "last": "chkpt_00010", 1: "chkpt_00001",
                    -2: "chkpt_00002", 3: "chkpt_00010"}
    with pytest.raises(ValueError, match="index 4 out of range"):
        checkpoint_file(tmp_path / "000", 4, "loss")
    with pytest.raises(ValueError, match="expected best, start, last or an integer"):
        checkpoint_file(tmp_path / "000", "first", "loss")


def test_trained_iterations_of_a_checkpoint(tmp_path):
    import math

    import torch

    from flycluster.training.evaluate import _trained_iterations

    torch.save({"n_iterations_done": 750, "iteration": 749}, tmp_path / "a")
    torch.save({"iteration": 299}, tmp_path / "b")  # flyvis's record: index of the last one
    torch.save({"network": {}}, tmp_path / "c")
    assert _trained_iterations(tmp_path / "a") == 750
    assert _trained_iterations(tmp_path / "b") == 300
    assert math.isnan(_trained_iterations(tmp_path / "c"))


def test_network_labels_are_distinct():
    from flycluster.training.evaluate import network_labels

    assert network_labels(["runs/a/000", "runs/a/001"]) == ["000", "001"]
    assert network_labels(["runs/pen/w3", "runs/rect/w3", "runs/rect/w4"]) == \
        ["pen_w3", "rect_w3", "rect_w4"]
    assert network_labels(["/x/a/w3", "/y/a/w3"]) == ["x_a_w3", "y_a_w3"]
    with pytest.raises(ValueError, match="given twice"):
        network_labels(["runs/a/w3", "runs/a/w3"])


def test_summary_per_network():
    from flycluster.training.evaluate import summarize_networks

    rows = []
    types = ["T4a", "T4b", "T4c", "T4d", "T5a", "T5b", "T5c", "T5d"]
    for net, dsis in {"a": [0.3] * 4 + [0.1] * 4, "b": [0.0] * 4 + [0.25, 0.5, 0.05, 0.05]}.items():
        for k, (cell_type, d) in enumerate(zip(types, dsis)):
            rows.append({"network": net, "checkpoint": "best", "checkpoint_iterations": 100.0,
                         "cell_type": cell_type, "correlation": 0.1 * k, "dsi": d,
                         "direction_within_45": k % 2 == 0, "loss_ratio": 0.8})
    s = summarize_networks(pd.DataFrame(rows)).set_index("network")
    assert s.loc["a", "median_dsi_t4"] == pytest.approx(0.3)
    assert s.loc["a", "median_dsi_t5"] == pytest.approx(0.1)
    assert s.loc["b", "median_dsi_t4"] == 0 and s.loc["b", "median_dsi_t5"] == pytest.approx(0.15)
    assert s.loc["a", "n_dsi_ge_0.2"] == 4 and s.loc["b", "n_dsi_ge_0.2"] == 2
    assert s.loc["a", "n_within_45"] == 4 and s.loc["a", "n_types"] == 8
    assert s.loc["a", "median_correlation"] == pytest.approx(0.35)
