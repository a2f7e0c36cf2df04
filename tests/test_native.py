"""The native stencil kernel: layout, agreement with the scipy kernel, build cache, fallback."""

import warnings

import numpy as np
import pytest

from flycluster.connectome import load_connectome
from flycluster.kernels import native
from flycluster.kernels.stencil import StencilLayout
from flycluster.network import Network
from flycluster.synthetic import smooth_random_movie


@pytest.fixture(scope="module")
def connectome(connectome_path):
    return load_connectome(connectome_path, extent=15)


@pytest.fixture(scope="module")
def perturbed(connectome):
    """Parameters away from the initial values (random strengths, time constants, biases)."""
    sd = {k: v.numpy().copy() for k, v in Network.initial(connectome).state_dict().items()}
    rng = np.random.default_rng(3)
    for key in ("edges_syn_strength", "nodes_time_const"):
        sd[key] *= np.exp(0.3 * rng.standard_normal(sd[key].shape)).astype(np.float32)
    sd["nodes_bias"] += 0.2 * rng.standard_normal(sd["nodes_bias"].shape).astype(np.float32)
    return sd


def test_layout_reproduces_every_edge(connectome):
    """Each edge is one term; its source sits at target + delta on the grid, its term's keys match."""
    layout = StencilLayout.of(connectome)
    assert StencilLayout.of(connectome) is layout  # cached with the connectome
    assert layout.n_terms == 2355 and layout.pad == 6 and layout.width == 43
    pos = layout.node_position
    src, tgt = connectome.edge_source, connectome.edge_target
    np.testing.assert_array_equal(pos[src] - pos[tgt], layout.term_delta[layout.edge_term])
    np.testing.assert_array_equal(layout.term_type[layout.edge_term], connectome.edge_type)
    np.testing.assert_array_equal(layout.term_du[layout.edge_term], connectome.edge_du)
    # the segments cover every node exactly once, Lawf1/Lawf2 (sparse lattices) as single nodes
    covered = np.concatenate([np.arange(s, s + n) for s, n in zip(layout.seg_start, layout.seg_len)])
    np.testing.assert_array_equal(np.sort(covered), np.sort(pos))
    assert (layout.seg_len == 1).sum() == 2 * 123
    # the number of edges per term is the number of targets whose shifted source exists
    counts = np.bincount(layout.edge_term, minlength=layout.n_terms)
    occupied = np.zeros(layout.n_positions, bool)
    occupied[pos] = True
    for k in (0, 100, 2354):
        targets = pos[connectome.node_type == layout.term_target[k]]
        assert counts[k] == occupied[targets + layout.term_delta[k]].sum()


def test_layout_rejects_weights_that_are_not_shared(connectome):
    layout = StencilLayout.of(connectome)
    weights = np.ones(connectome.n_edges, np.float32)
    np.testing.assert_array_equal(layout.term_weights(weights), np.ones(layout.n_terms, np.float32))
    weights[7] = 2.0
    with pytest.raises(ValueError, match="1 edges differ in weight"):
        layout.term_weights(weights)


@pytest.mark.parametrize("dt,t_pre,t_fade_in", [(0.01, 0.0, 0.3), (0.005, 0.25, 0.0)])
def test_native_matches_scipy_kernel(connectome, perturbed, dt, t_pre, t_fade_in):
    """Same voltages within float32 rounding, NaN padding included; 13 samples = one partial chunk."""
    movie = smooth_random_movie(13, 25, random_state=1)
    movie[4, 17:] = np.nan
    fast = Network(connectome, perturbed, kernel="native").simulate(movie, dt, t_pre=t_pre, t_fade_in=t_fade_in)
    slow = Network(connectome, perturbed, kernel="scipy").simulate(movie, dt, t_pre=t_pre, t_fade_in=t_fade_in)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    assert np.nanmax(np.abs(fast - slow)) < 2e-5
    assert np.nanstd(slow) > 0.05  # not a trivial comparison


def test_chunking_and_threads_do_not_change_results(connectome, perturbed):
    """Samples in different chunks, batches and thread counts give bitwise identical voltages."""
    movie = smooth_random_movie(19, 12, random_state=2)
    net = Network(connectome, perturbed, kernel="native")
    together = net.simulate(movie, 0.01, t_fade_in=0.05, batch_size=19)
    apart = net.simulate(movie, 0.01, t_fade_in=0.05, batch_size=5)
    alone = net.simulate(movie[11:12], 0.01, t_fade_in=0.05)
    np.testing.assert_array_equal(together, apart)
    np.testing.assert_array_equal(together[11:12], alone)
    # a network without synapses and input, in one thread: every cell relaxes to its bias
    kernel = net.kernel_for(0.01)
    layout, arrays = kernel.layout, kernel._arrays
    unconnected = native.NativeKernel(layout, np.zeros(layout.n_terms, np.float32), arrays["decay"],
                                      arrays["drive"], np.zeros_like(arrays["in_gain"]), n_threads=1)
    assert unconnected.pool is None
    relaxed = unconnected.relax(np.zeros(connectome.n_nodes, np.float32), 3000)
    np.testing.assert_allclose(relaxed, net.node_bias, rtol=0, atol=1e-4)
    assert np.abs(net.node_bias).max() > 0.1


def test_build_is_cached_and_atomic(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYCLUSTER_CACHE", str(tmp_path))
    first = native.build_library()
    mtime = first.stat().st_mtime_ns
    assert first.parent == tmp_path / "native" and first.suffix == ".so"
    assert native.build_library() == first and first.stat().st_mtime_ns == mtime  # not rebuilt
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary left behind


def test_broken_compiler_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYCLUSTER_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    with pytest.raises(native.NativeUnavailable, match="compiling the native kernel failed"):
        native.build_library()
    assert not any((tmp_path / "native").iterdir())


def test_fallback_to_scipy_with_one_warning(connectome, perturbed, monkeypatch):
    monkeypatch.setenv("FLYCLUSTER_NATIVE", "0")
    monkeypatch.setattr("flycluster.kernels.select._WARNED", set())
    with pytest.raises(native.NativeUnavailable, match="FLYCLUSTER_NATIVE=0"):
        Network(connectome, perturbed, kernel="native").kernel_for(0.01)
    net = Network(connectome, perturbed)
    with pytest.warns(UserWarning, match="native kernel is unavailable.*install a C compiler"):
        kernel = net.kernel_for(0.01)
    assert type(kernel).__name__ == "ScipyKernel" and kernel.default_batch_size == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once per process
        Network(connectome, perturbed).kernel_for(0.02)


def test_grids_are_cache_line_aligned():
    for shape in ((120201, 8), (1849, 8), (3, 8)):
        grid = native.aligned_zeros(shape)
        assert grid.ctypes.data % 64 == 0 and grid.shape == shape and grid.dtype == np.float32
        assert not grid.any() and grid.flags.c_contiguous and grid.flags.writeable
