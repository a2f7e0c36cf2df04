"""Flash response index: equal to flyvis's on responses flyvis computed FRIs of
(tests/fixtures/fri/fri.npz, made by tools/make_fri_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from flycluster import tuning as tn
from flycluster.formats.responses import read_cell_type, response_dataset, write_responses
from flycluster.stimuli import flashes

FIXTURE = Path(__file__).parent / "fixtures" / "fri" / "fri.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def stimulus():
    # flycluster's flash set with flyvis's defaults (a small lattice: only coords matter here)
    return flashes(extent=1)


def _stored(responses, cell_types, stimulus):
    """Responses as flycluster stores them: one response dataset per network, stacked."""
    per_net = [response_dataset(r, stimulus, cell_types, network=f"{n:03d}", checkpoint="",
                                task_error=0.1 * n)["responses"]
               for n, r in enumerate(responses)]
    da = xr.concat(per_net, dim="network")
    return da.assign_coords(network=[f"{n:03d}" for n in range(len(responses))])


@pytest.mark.parametrize("case", ["synthetic", "network"])
@pytest.mark.parametrize("radius", [6, -1])
@pytest.mark.parametrize("nonnegative", [True, False])
def test_fri_equals_flyvis(ref, stimulus, case, radius, nonnegative):
    responses = ref[f"{case}_responses"]
    cell_types = [str(c) for c in ref[f"cell_types_{case}"]]
    da = _stored(responses, cell_types, stimulus)
    assert da.dims == ("network", "sample", "frame", "cell_type")
    fri = tn.flash_response_index(da, radius=radius, nonnegative=nonnegative)
    assert fri.dims == ("network", "cell_type") and fri.name == "fri"
    assert fri["cell_type"].values.tolist() == cell_types
    expected = ref[f"{case}_fri_r{radius}{'' if nonnegative else '_neg'}"]
    np.testing.assert_array_equal(fri.values, expected)
    if nonnegative:
        assert (np.abs(fri.values) <= 1).all()


def test_sample_order_matches_flyvis(stimulus):
    assert stimulus["intensity"].values.tolist() == [0, 0, 1, 1]
    assert stimulus["radius"].values.tolist() == [-1, 6, -1, 6]
    assert stimulus.attrs["dt"] == 1 / 200 and stimulus.sizes["frame"] == 600


def test_window_edges_decide(ref, stimulus):
    """flyvis's window -dt <= time <= t_stim, compared exactly: frame 199 has time
    199 * 0.005 - 1 = -0.0050000000000000044 < -0.005 and is left out (as flyvis's query
    does); frames 200 (t = 0) to 400 (t = 1.0 s) are in."""
    da = _stored(np.zeros((1, 4, 600, 1), np.float32), ["X"], stimulus)
    assert da["time"].values[199] < -0.005 and da["time"].values[400] == 1.0
    base = da.copy()
    da[0, 3, 199, 0] = 5.0  # ON sample, radius 6: outside the window
    assert float(tn.flash_response_index(da)[0, 0]) == 0.0
    assert float(tn.flash_response_index(da, dt=0.0050000000000001)[0, 0]) == 1.0  # wider
    da[0, 3, 200, 0] = 1.0  # inside: ON peak 1 over an OFF peak of 0 -> FRI 1
    assert float(tn.flash_response_index(da)[0, 0]) == pytest.approx(1.0)
    # without a dt attribute the time step is used, rounded: same window
    assert "dt" not in da.attrs
    base[0, 1, 400, 0] = 1.0  # OFF sample, last frame of the flash (time 1.0 s)
    assert float(tn.flash_response_index(base)[0, 0]) == pytest.approx(-1.0)
    base[0, 1, 400, 0] = 0.0
    base[0, 1, 401, 0] = 1.0  # after the flash: ignored
    assert float(tn.flash_response_index(base)[0, 0]) == 0.0


def test_from_response_files_and_all_radii(ref, stimulus, tmp_path):
    responses = ref["synthetic_responses"]
    cell_types = [str(c) for c in ref["cell_types_synthetic"]]
    paths = []
    for n, r in enumerate(responses):
        ds = response_dataset(r, stimulus, cell_types, network=f"{n:03d}", checkpoint="",
                              task_error=0.0)
        paths.append(write_responses(ds, tmp_path / f"{n:03d}.nc"))
    one = read_cell_type(paths, "X3")  # (network, sample, frame)
    fri = tn.flash_response_index(one, radius=None)
    assert fri.dims == ("radius", "network") and fri["radius"].values.tolist() == [-1, 6]
    np.testing.assert_array_equal(fri.sel(radius=6).values, ref["synthetic_fri_r6"][:, 3])
    np.testing.assert_array_equal(fri.sel(radius=-1).values, ref["synthetic_fri_r-1"][:, 3])
    constant = tn.flash_response_index(read_cell_type(paths, "const"))
    assert (constant.values == 0).all()


def test_errors(stimulus):
    da = _stored(np.zeros((1, 4, 600, 1), np.float32), ["X"], stimulus)
    with pytest.raises(ValueError, match=r"no flash sample with radius 3; radii present: "
                                         r"\[-1, 6\]"):
        tn.flash_response_index(da, radius=3)
    with pytest.raises(ValueError, match=r"lack \['intensity'\]"):
        tn.flash_response_index(da.drop_vars("intensity"))
    with pytest.raises(ValueError, match="exactly one sample of intensity 0.5"):
        tn.flash_response_index(da, on_intensity=0.5)
    with pytest.raises(TypeError):
        tn.flash_response_index(da.values)


def test_known_polarity_is_flyvis_table(ref):
    table = dict(zip(ref["polarity_types"].tolist(), ref["polarity_values"].tolist()))
    assert table == tn.KNOWN_POLARITY
    assert len(table) == 65
    pol = tn.known_polarity(["T4c", "Tm9", "Mi4", "TmY18", "unknown"])
    assert pol.values.tolist() == [1, -1, 1, 0, 0]
    ds = tn.known_direction_selectivity(["T4c", "T5a", "Mi1", "TmY18"])
    assert ds.values.tolist() == [1, 1, 0, -1]
