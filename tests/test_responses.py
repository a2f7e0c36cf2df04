"""Response files: format, per-cell-type reads, norms."""

import netCDF4
import numpy as np
import pytest
import xarray as xr

from flycluster import responses
from flycluster.config import CELL_TYPES
from flycluster.formats import norms as formats_norms
from flycluster.formats import responses as formats_responses


def _stimulus(n_sample=3, n_frame=5, kind="moving_edges", stimulus_set="edges"):
    rng = np.random.default_rng(0)
    movie = rng.random((n_sample, n_frame, 721)).astype(np.float32)
    movie[1, -2:] = np.nan  # sample 1 is shorter: trailing NaN padding
    dt = 0.005
    return xr.Dataset(
        {"stimulus": (("sample", "frame", "hexal"), movie)},
        coords={
            "hexal": np.arange(721),
            "u": ("hexal", np.zeros(721, int)),
            "v": ("hexal", np.zeros(721, int)),
            "time": ("frame", np.arange(n_frame) * dt - 0.01),
            "angle": ("sample", np.array([0, 30, 60][:n_sample])),
            "name": ("sample", np.array(["a", "b", "c"][:n_sample], dtype=object)),
        },
        attrs={"stimulus_set": stimulus_set, "kind": kind, "dt": dt, "t_pre": 0.01,
               "t_fade_in": 0.0, "extent": 15},
    )


class FakeNetwork:
    """Responses = (cell type index + 1) * mean luminance, cumulated over frames (causal)."""

    cell_types = list(CELL_TYPES)

    def __init__(self, gain=1.0):
        self.gain = gain
        self.calls = []

    def simulate(self, movie, dt, t_pre=0.0, t_fade_in=0.0, batch_size=None):
        self.calls.append(dict(dt=dt, t_pre=t_pre, t_fade_in=t_fade_in, batch_size=batch_size))
        drive = np.cumsum(movie.mean(axis=-1), axis=1)  # NaN propagates forward, as in Euler
        scale = self.gain * (np.arange(len(self.cell_types)) + 1.0)
        return (drive[..., None] * scale).astype(np.float32)


def _write(tmp_path, name, gain, task_error, stimulus=None):
    stimulus = _stimulus() if stimulus is None else stimulus
    net = FakeNetwork(gain)
    movie = stimulus["stimulus"].values
    ds = formats_responses.response_dataset(net.simulate(movie, 0.005), stimulus, net.cell_types,
                                    network=name, checkpoint=f"/x/{name}/chkpt_00000",
                                    task_error=task_error)
    return formats_responses.write_responses(ds, tmp_path / f"{name}.nc")


def test_response_file_format(tmp_path):
    path = _write(tmp_path, "007", 2.0, 0.5)
    with xr.open_dataset(path) as ds:
        assert ds["responses"].dims == ("sample", "frame", "cell_type")
        assert ds["responses"].dtype == np.float32
        assert ds.sizes == {"sample": 3, "frame": 5, "cell_type": 65}
        assert list(ds["cell_type"].values) == list(CELL_TYPES)
        # sample parameters and time are copied; hexal coordinates are not
        assert list(ds["angle"].values) == [0, 30, 60]
        assert list(ds["name"].values) == ["a", "b", "c"]
        np.testing.assert_allclose(ds["time"].values, np.arange(5) * 0.005 - 0.01)
        assert "hexal" not in ds.coords and "u" not in ds.coords
        assert ds.attrs["network"] == "007"
        assert ds.attrs["checkpoint"] == "/x/007/chkpt_00000"
        assert ds.attrs["task_error"] == 0.5
        assert ds.attrs["stimulus_set"] == "edges"
        assert ds.attrs["dt"] == 0.005 and ds.attrs["t_pre"] == 0.01
        # trailing padding of the short sample stays NaN, the rest is finite
        r = ds["responses"].values
        assert np.isnan(r[1, -2:]).all() and np.isfinite(r[1, :-2]).all()
        np.testing.assert_allclose(r[0, :, 37], 38 * 2.0 * np.cumsum(
            _stimulus()["stimulus"].values[0].mean(-1)), rtol=1e-5)
    with netCDF4.Dataset(path) as nc:
        var = nc["responses"]
        assert var.chunking() == [3, 5, 1]  # one chunk per cell type
        assert var.filters()["zlib"] is True


def test_no_temporary_file_left(tmp_path):
    _write(tmp_path, "000", 1.0, 0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000.nc"]


def test_response_dataset_rejects_wrong_shape():
    stimulus = _stimulus()
    with pytest.raises(ValueError, match=r"network 003 .*expected \(sample, frame, cell_type\)"):
        formats_responses.response_dataset(np.zeros((3, 4, 65)), stimulus, CELL_TYPES, network="003",
                                   checkpoint="", task_error=0.0)


def test_read_cell_type_across_networks(tmp_path):
    paths = [_write(tmp_path, f"{i:03d}", gain=i + 1.0, task_error=0.1 * i) for i in range(4)]
    da = formats_responses.read_cell_type(paths, "T4c")
    assert da.dims == ("network", "sample", "frame")
    assert da.shape == (4, 3, 5)
    assert da.dtype == np.float32
    assert list(da["network"].values) == ["000", "001", "002", "003"]
    np.testing.assert_allclose(da["task_error"].values, [0.0, 0.1, 0.2, 0.3])
    assert list(da["angle"].values) == [0, 30, 60]
    assert da.attrs["cell_type"] == "T4c" and da.attrs["stimulus_set"] == "edges"
    index = CELL_TYPES.index("T4c")
    base = np.cumsum(_stimulus()["stimulus"].values.mean(-1), axis=1)
    for i in range(4):
        np.testing.assert_allclose(da.values[i], (i + 1.0) * (index + 1) * base, rtol=1e-5)


def test_read_cell_type_reads_the_bits_xarray_reads(tmp_path):
    """Files after the first are read with netCDF4 directly: same float32 bits (NaN padding
    included) as xarray, and a file written with other encodings goes through xarray."""
    paths = [_write(tmp_path, f"{i:03d}", gain=i + 0.3, task_error=0.1 * i) for i in range(3)]
    # a third encoding: float64 on disk with scale/offset, which the raw reader hands to xarray
    with xr.open_dataset(paths[2]) as ds:
        ds = ds.load()
    ds["responses"].encoding = {}
    scaled = tmp_path / "scaled" / "002.nc"
    scaled.parent.mkdir()
    ds.to_netcdf(scaled, encoding={"responses": {"dtype": "float32", "scale_factor": 1.0,
                                                 "add_offset": 0.0}})
    assert formats_responses._read_cell_type_raw(scaled, "T4c") is None
    for cell_type in ("R1", "T4c", "CT1(M10)"):
        da = formats_responses.read_cell_type(paths[:2] + [scaled], cell_type)
        for i, path in enumerate(paths):
            with xr.open_dataset(path) as ds:
                expected = ds["responses"].sel(cell_type=cell_type).values
            assert np.isnan(expected).any()  # the padded sample
            assert da.values[i].tobytes() == expected.astype(np.float32).tobytes()


def test_read_cell_type_errors(tmp_path):
    a = _write(tmp_path, "000", 1.0, 0.1)
    with pytest.raises(ValueError, match="no cell type 'T9z'"):
        formats_responses.read_cell_type([a], "T9z")
    other = tmp_path / "other"
    b = _write(other, "001", 1.0, 0.1, stimulus=_stimulus(stimulus_set="photos"))
    with pytest.raises(ValueError, match=r"001.nc .*does not match"):
        formats_responses.read_cell_type([a, b], "T4c")
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        formats_responses.read_cell_type([a, tmp_path / "missing.nc"], "T4c")
    dup = _write(other, "000", 1.0, 0.1)
    with pytest.raises(ValueError, match="same network twice"):
        formats_responses.read_cell_type([a, dup], "T4c")


def test_not_a_response_file_is_named_by_both_readers(tmp_path):
    """The xarray reader (first file) and the netCDF4 reader (later files) share one check."""
    a = _write(tmp_path, "000", 1.0, 0.1)
    bad = tmp_path / "bad.nc"
    with xr.open_dataset(a) as ds:
        ds = ds.load()
    ds.attrs = {}  # responses without the network / stimulus_set attributes
    ds.to_netcdf(bad)
    expected = (r"response file .*bad.nc is not a flycluster response file: it lacks attributes "
                r"\['network', 'stimulus_set'\]")
    with pytest.raises(ValueError, match=expected):
        formats_responses.read_cell_type([bad], "T4c")  # xarray path
    with pytest.raises(ValueError, match=expected):
        formats_responses.read_cell_type([a, bad], "T4c")  # netCDF4 path
    with pytest.raises(ValueError, match=r"norms file .*bad.nc is not a flycluster norms file: it lacks variables"):
        formats_norms.read_norms(bad)


def test_response_norms(tmp_path):
    paths = [_write(tmp_path, f"{i:03d}", gain=i + 1.0, task_error=0.1 * i) for i in range(3)]
    norms = responses.response_norms(paths)
    assert norms.dims == ("network", "cell_type")
    assert norms.shape == (3, 65)
    r = np.nan_to_num(np.cumsum(_stimulus()["stimulus"].values.mean(-1), axis=1), nan=0.0)
    base = np.sqrt(np.mean(r**2))
    for i in range(3):
        for j in (0, 37, 64):
            assert norms.values[i, j] == pytest.approx((i + 1) * (j + 1) * base, rel=1e-5)
    out = formats_norms.write_norms(norms, tmp_path / "norms.nc")
    back = formats_norms.read_norms(out)
    np.testing.assert_array_equal(back.values, norms.values)
    assert list(back["cell_type"].values) == list(CELL_TYPES)
    np.testing.assert_allclose(back["task_error"].values, [0.0, 0.1, 0.2])


def test_simulate_stimulus_file_with_a_real_network(tmp_path, connectome_path):
    """A network from a checkpoint on a stimulus file: the response file holds exactly what
    Network.simulate returns, labelled, with NaN after each sample's padding."""
    from flycluster.checkpoints import best_checkpoint, task_error, write_network_dir
    from flycluster.network import Network, load_network
    from flycluster.stimuli.io import make_stimulus_dataset, write_stimulus

    extent = 4
    net = Network.initial(connectome_path, extent=extent)
    network_dir = write_network_dir(tmp_path / "ens" / "005", net.state_dict(), 0.42)
    rng = np.random.default_rng(3)
    movie = rng.random((3, 12, 61)).astype(np.float32)
    movie[2, 9:] = np.nan
    stimulus = make_stimulus_dataset(
        movie, {"angle": [0, 90, 180], "width": [80] * 3, "intensity": [1, 1, 0],
                "speed": [19.0] * 3, "t_stim": [0.04] * 3},
        stimulus_set="edges", kind="moving_edges", dt=0.005, t_pre=0.02, t_fade_in=0.0,
        extent=extent)
    stim_path = write_stimulus(stimulus, tmp_path / "edges.nc")

    checkpoint = best_checkpoint(network_dir)
    loaded = load_network(checkpoint, connectome=connectome_path, extent=extent)
    out = responses.simulate_stimulus_file(
        loaded, stim_path, tmp_path / "responses" / "005.nc", network_name="005",
        checkpoint=str(checkpoint), task_error=task_error(network_dir), batch_size=2)
    expected = net.simulate(movie, dt=0.005, t_pre=0.02, t_fade_in=0.0)
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(ds["responses"].values, expected)
        assert ds.attrs["task_error"] == pytest.approx(0.42)
        assert ds.attrs["network"] == "005" and ds.attrs["kind"] == "moving_edges"
        assert list(ds["angle"].values) == [0, 90, 180]
        assert list(ds["cell_type"].values) == list(CELL_TYPES)
        # padding frames give NaN (photoreceptors at once, deeper types later, as flyvis)
        assert np.isnan(ds["responses"].sel(cell_type="R1").values[2, 9:]).all()
        assert np.isfinite(ds["responses"].values[2, :9]).all()
        assert np.isfinite(ds["responses"].values[:2]).all()
        # the responses depend on the stimulus (not a constant output)
        assert float(ds["responses"].sel(cell_type="R1").std()) > 0
