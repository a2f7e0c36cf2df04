"""flycluster.tuning against flyvis' peak_responses, direction_selectivity_index and
preferred_direction on seeded synthetic moving-edge responses, and the Maisak ground truth."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from flycluster import tuning

FIXTURES = Path(__file__).parent / "fixtures" / "clustering"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES / "moving_edges.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def responses(ref):
    sample = {c: ("sample", ref[c]) for c in ("angle", "width", "intensity", "speed", "t_stim")}
    return xr.DataArray(ref["responses"], dims=("network", "sample", "frame"),
                        coords={"network": ["a", "b", "c"], "time": ("frame", ref["time"]),
                                **sample})


def test_peak_responses_match_flyvis(ref, responses):
    peak = tuning.peak_responses(responses)
    assert peak.dims == ("network", "sample")
    np.testing.assert_allclose(peak.values, ref["peak"], rtol=1e-6)
    # the large response after t_stim is outside the window: peaks stay below it
    assert peak.values.max() < 2.5 and (peak.values >= 0).all()


def test_dsi_and_preferred_direction_match_flyvis(ref, responses):
    dsi = tuning.direction_selectivity_index(responses)
    assert dsi.dims == ("network", "intensity")
    np.testing.assert_array_equal(dsi["intensity"].values, ref["dsi_intensity"])
    np.testing.assert_allclose(dsi.values, ref["dsi"], rtol=1e-6)
    pd = tuning.preferred_direction(responses)
    np.testing.assert_array_equal(pd["intensity"].values, ref["pd_intensity"])
    expected = np.rad2deg(ref["preferred_direction"]) % 360
    np.testing.assert_allclose(tuning.angular_distance(pd.values, expected), 0, atol=1e-4)


def test_tuning_curves_are_means_over_speed_and_width(ref, responses):
    curve = tuning.angular_tuning(responses, intensity=1)
    assert curve.dims == ("network", "angle")
    np.testing.assert_array_equal(curve["angle"].values, np.arange(0, 360, 30))
    sel = (ref["intensity"] == 1) & (ref["angle"] == 90)
    np.testing.assert_allclose(curve.sel(angle=90).values, ref["peak"][:, sel].mean(axis=1),
                               rtol=1e-6)
    normed = tuning.angular_tuning(responses, intensity=1, normalize=True)
    np.testing.assert_allclose(normed.max("angle").values, 1.0)
    with pytest.raises(ValueError, match="intensity 3"):
        tuning.angular_tuning(responses, intensity=3)


def test_a_clean_direction_selective_cell():
    """One network responding only to edges moving at 90 deg: DSI 1 (ON), 0 (OFF), PD 90."""
    angles = np.repeat(np.arange(0, 360, 30), 2)
    intensity = np.tile([0, 1], 12)
    time = np.linspace(-1, 2, 61)
    r = np.zeros((1, 24, 61))
    r[0, (angles == 90) & (intensity == 1), 30] = 2.0
    r[0, :, 5] = 7.0  # before the stimulus: ignored
    da = xr.DataArray(r, dims=("network", "sample", "frame"),
                      coords={"angle": ("sample", angles), "intensity": ("sample", intensity),
                              "speed": ("sample", np.full(24, 13.0)),
                              "width": ("sample", np.full(24, 80)),
                              "t_stim": ("sample", np.full(24, 1.0)), "time": ("frame", time)})
    dsi = tuning.direction_selectivity_index(da)
    np.testing.assert_allclose(dsi.sel(intensity=1).values, [1.0])
    np.testing.assert_allclose(dsi.sel(intensity=0).values, [0.0])
    assert float(tuning.preferred_direction(da).sel(intensity=1)[0]) == pytest.approx(90)
    with pytest.raises(ValueError, match=r"lack coordinates \['t_stim'\]"):
        tuning.peak_responses(da.drop_vars("t_stim"))


def test_maisak_ground_truth_is_flyvis(ref):
    data = json.loads((FIXTURES / "maisak_tuning.json").read_text())
    assert set(data["tuning_curves"]) == set(tuning.MAISAK_TUNING)
    for cell_type, values in data["tuning_curves"].items():
        np.testing.assert_allclose(tuning.MAISAK_TUNING[cell_type], values)
        known = tuning.known_tuning(cell_type)
        assert known.max() == 1.0 and known.dims == ("angle",)
        # the measured curve peaks near the preferred direction
        pd = data["preferred_directions"][cell_type]
        assert tuning.PREFERRED_DIRECTIONS[cell_type] == pd
        assert tuning.angular_distance(float(known["angle"][int(known.argmax("angle"))]),
                                       pd) <= 60
    assert tuning.known_tuning("Mi1") is None
    assert tuning.preferred_intensity("T4c") == 1 and tuning.preferred_intensity("T5a") == 0
    assert tuning.preferred_intensity("Mi1") is None


def test_tuning_summary(responses):
    ds = tuning.tuning_summary(responses, cell_type="T4c")
    assert ds["tuning"].dims == ("network", "intensity", "angle")
    assert ds.attrs["known_preferred_direction"] == 90 and ds.attrs["preferred_intensity"] == 1
    assert ds["known_tuning"].sizes["angle_known"] == 12
