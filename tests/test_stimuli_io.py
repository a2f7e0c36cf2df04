"""Stimulus files (write, read, validation) and the build_stimulus_set entry point."""

import subprocess
import sys

import numpy as np
import pytest

from flycluster.errors import ConfigError, StimulusError
from flycluster.stimuli import build_stimulus_set, flashes, read_stimulus, write_stimulus
from flycluster.stimuli.build import check_spec


@pytest.fixture()
def flash_file(tmp_path):
    ds = flashes(radius=[-1], t_stim=0.05, t_pre=0.05, dt=0.01)
    return ds, write_stimulus(ds, tmp_path / "flashes.nc")


def test_round_trip_keeps_everything(flash_file, tmp_path):
    ds, path = flash_file
    back = read_stimulus(path)
    np.testing.assert_array_equal(back.stimulus.values, ds.stimulus.values)
    assert back.stimulus.dtype == np.float32 and back.stimulus.dims == ("sample", "frame", "hexal")
    for key in ("stimulus_set", "kind", "dt", "t_pre", "t_fade_in", "extent"):
        assert back.attrs[key] == ds.attrs[key], key
    np.testing.assert_allclose(back.time.values, np.arange(15) * 0.01 - 0.05)
    assert back.u.values.tolist() == ds.u.values.tolist()
    assert back.intensity.values.tolist() == [0.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["flashes.nc"]  # no temporary left over


def test_moving_edge_file_keeps_nan_padding_and_t_stim(tmp_path):
    ds = build_stimulus_set("edges", {"kind": "moving_edges", "angles": [0], "speeds": [10, 20],
                                      "intensities": [1], "t_pre": 0.1, "t_post": 0.1,
                                      "extent": 4})
    back = read_stimulus(write_stimulus(ds, tmp_path / "edges.nc"))
    np.testing.assert_array_equal(np.isnan(back.stimulus.values), np.isnan(ds.stimulus.values))
    assert np.isnan(back.stimulus.values[1, -1]).all() and not np.isnan(back.stimulus[0]).any()
    np.testing.assert_allclose(back.t_stim.values, 21 * 2.25 / (5.8 * np.array([10, 20])))


def _bypass(ds, path):
    ds.to_netcdf(path)
    return path


def test_read_rejects_bad_files_naming_file_and_problem(flash_file, tmp_path):
    ds, _ = flash_file
    with pytest.raises(StimulusError, match="does not exist"):
        read_stimulus(tmp_path / "missing.nc")
    path = _bypass(ds.isel(hexal=slice(0, 700)), tmp_path / "lattice.nc")
    with pytest.raises(StimulusError) as err:
        read_stimulus(path)
    assert str(path) in str(err.value) and "700 hexals" in str(err.value)
    assert "721" in str(err.value)
    bright = ds.copy(deep=True)
    bright["stimulus"][:] = 1.5
    with pytest.raises(StimulusError, match=r"\[0, 1\]"):
        read_stimulus(_bypass(bright, tmp_path / "bright.nc"))
    holes = ds.copy(deep=True)
    holes["stimulus"][0, 2] = np.nan
    with pytest.raises(StimulusError, match="trailing"):
        read_stimulus(_bypass(holes, tmp_path / "holes.nc"))
    no_dt = ds.copy()
    del no_dt.attrs["dt"]
    with pytest.raises(StimulusError, match="'dt'"):
        read_stimulus(_bypass(no_dt, tmp_path / "no_dt.nc"))
    shuffled = ds.assign_coords(u=("hexal", ds.u.values[::-1]))
    with pytest.raises(StimulusError, match="u-major"):
        read_stimulus(_bypass(shuffled, tmp_path / "order.nc"))
    (tmp_path / "junk.nc").write_text("not a netCDF file")
    with pytest.raises(StimulusError, match="junk.nc"):
        read_stimulus(tmp_path / "junk.nc")
    with pytest.raises(StimulusError, match="to write"):
        write_stimulus(bright, tmp_path / "never.nc")
    assert not (tmp_path / "never.nc").exists()


def test_spec_errors_name_the_key():
    """Specs are checked by their kind's sub-schema (flycluster/config.schema.yaml), the one
    the workflow's config uses; each message names the set and the key."""
    with pytest.raises(ConfigError, match=r"stimuli\.x\.kind: 'movie' is not one of"):
        check_spec("x", {"kind": "movie"})
    with pytest.raises(ConfigError) as err:
        check_spec("edges", {"kind": "moving_edges", "speed": [1]})
    assert "'speed' was unexpected" in str(err.value) and "speeds" in str(err.value)
    with pytest.raises(ConfigError, match=r"stimuli\.p\.n_movies: 2\.5 is not of type 'integer'"):
        check_spec("p", {"kind": "photos", "n_movies": 2.5})
    with pytest.raises(ConfigError, match=r"stimuli\.e\.angles: 90 is not of type 'array'"):
        check_spec("e", {"kind": "moving_edges", "angles": 90})
    with pytest.raises(ConfigError, match="'root' is a required property.*sintel.is.tue.mpg.de"):
        check_spec("s", {"kind": "sintel"})
    with pytest.raises(ConfigError, match=r"stimuli\.p\.n_rotations\.0: 6 is not one of"):
        check_spec("p", {"kind": "photos", "n_rotations": [6]})
    with pytest.raises(ConfigError, match=r"stimuli\.f\.dt: 0 is less than or equal to the minimum"):
        check_spec("f", {"kind": "flashes", "dt": 0})
    kind, params = check_spec("f", {"kind": "flashes", "radius": [2]})
    assert kind == "flashes" and params["radius"] == [2] and params["dt"] == 0.005


def test_build_flashes_from_spec_and_seed_type():
    ds = build_stimulus_set("flash", {"kind": "flashes", "radius": [2], "extent": 4,
                                      "dynamic_range": [0.2, 0.8]})
    assert ds.attrs["stimulus_set"] == "flash" and ds.stimulus.shape == (2, 600, 61)
    assert ds.baseline.values.tolist() == [0.5, 0.5]
    np.testing.assert_allclose(np.unique(ds.stimulus.values[1, 300]), [0.5, 0.8], rtol=1e-6)
    with pytest.raises(ConfigError, match="random_state"):
        build_stimulus_set("flash", {"kind": "flashes"}, random_state="0")


def test_import_is_light():
    code = ("import sys, flycluster.stimuli as s; f = s.build_stimulus_set; "
            "print(sorted(m for m in ('torch', 'xarray', 'scipy', 'skimage', 'PIL') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
