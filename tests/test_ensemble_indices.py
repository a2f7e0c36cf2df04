"""flycluster.ensemble_indices (rules fri and dsi): the indices of all cell types read from
response files equal flycluster.tuning's functions applied to each network's responses, and the
`file` stimulus kind builds through build_stimulus_set."""

import numpy as np
import pytest
import xarray as xr

from flycluster import tuning
from flycluster.ensemble_indices import ensemble_dsi, ensemble_fri, read_all_cell_types, read_index, write_index
from flycluster.formats.responses import response_dataset, write_responses
from flycluster.stimuli import build_stimulus_set, edges

CELL_TYPES = ["R1", "L1", "T4c"]


def _write(tmp_path, stimulus, seed):
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(3):
        values = rng.normal(size=(stimulus.sizes["sample"], stimulus.sizes["frame"],
                                  len(CELL_TYPES))).astype(np.float32)
        ds = response_dataset(values, stimulus, CELL_TYPES, network=f"{i:03d}",
                              checkpoint="chkpt_00000", task_error=0.1 * i)
        paths.append(write_responses(ds, tmp_path / f"{i:03d}.nc"))
    return paths


def _one(path, cell_type):
    with xr.open_dataset(path) as ds:
        return ds["responses"].sel(cell_type=cell_type).load()


def test_ensemble_fri_equals_the_per_network_fri(tmp_path):
    stimulus = edges.flashes(t_pre=0.5, t_stim=0.5, extent=2)
    paths = _write(tmp_path, stimulus, seed=0)
    fri = ensemble_fri(paths, radius=6, t_stim=0.5)
    assert fri.dims == ("network", "cell_type") and fri.shape == (3, 3)
    assert list(fri["network"].values) == ["000", "001", "002"]
    for i, path in enumerate(paths):
        for cell_type in CELL_TYPES:
            expected = tuning.flash_response_index(_one(path, cell_type), radius=6, t_stim=0.5,
                                                   dt=float(stimulus.attrs["dt"]))
            assert float(fri.sel(network=f"{i:03d}", cell_type=cell_type)) == float(expected)
    assert np.isfinite(fri.values).all() and (np.abs(fri.values) <= 1).all()
    write_index(fri, tmp_path / "fri.nc")
    xr.testing.assert_identical(read_index(tmp_path / "fri.nc", "fri"), fri)
    with pytest.raises(ValueError, match="has no variable 'dsi'"):
        read_index(tmp_path / "fri.nc", "dsi")


def test_ensemble_dsi_equals_the_per_network_dsi(tmp_path):
    stimulus = edges.moving_edges(angles=(0, 90, 180, 270), speeds=(19,), t_pre=0.1,
                                  t_post=0.1, extent=2)
    paths = _write(tmp_path, stimulus, seed=1)
    dsi = ensemble_dsi(paths)
    assert dsi.dims == ("network", "intensity", "cell_type") and dsi.shape == (3, 2, 3)
    responses = read_all_cell_types(paths)
    for cell_type in CELL_TYPES:
        expected = tuning.direction_selectivity_index(responses.sel(cell_type=cell_type))
        np.testing.assert_allclose(dsi.sel(cell_type=cell_type).values, expected.values)
    assert ((dsi >= 0) & (dsi <= 1)).all()


def test_files_of_different_sets_are_refused(tmp_path):
    a = _write(tmp_path, edges.flashes(t_pre=0.5, t_stim=0.5, extent=2), seed=0)[:1]
    (tmp_path / "b").mkdir()
    b = _write(tmp_path / "b", edges.flashes(t_pre=0.5, t_stim=0.5, extent=2,
                                             stimulus_set="other"), seed=0)[:1]
    with pytest.raises(ValueError, match="stimulus set 'other' differs"):
        read_all_cell_types(a + b)


def test_file_kind_builds_a_user_movie(tmp_path):
    movie = np.linspace(0, 1, 2 * 5 * 19, dtype=np.float32).reshape(2, 5, 19)  # extent 2
    np.save(tmp_path / "movie.npy", movie)
    ds = build_stimulus_set("mine", {"kind": "file", "path": str(tmp_path / "movie.npy"),
                                     "dt": 0.02, "extent": 2})
    assert ds.attrs["stimulus_set"] == "mine" and ds.sizes["sample"] == 2
    assert float(ds.attrs["dt"]) == 0.02
    np.testing.assert_allclose(ds["stimulus"].values, movie)
    from flycluster.errors import ConfigError

    with pytest.raises(ConfigError, match="'path' is a required property"):
        build_stimulus_set("mine", {"kind": "file", "dt": 0.02})
