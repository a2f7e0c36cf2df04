"""The Triton (CUDA) stencil kernel: on CUDA where torch sees a GPU, else on the CPU in Triton's
interpreter (TRITON_INTERPRET=1, set by conftest.py before triton is imported).

The interpreter executes the same kernel code with numpy, so these tests check its indexing,
masks, tiling, fade-in and input handling without a GPU; ``benchmarks/cuda_check.py`` also checks
it on CUDA against the flyvis fixtures.
"""

import numpy as np
import pytest
import torch

from flycluster.connectome import load_connectome
from flycluster.kernels import gpu, select
from flycluster.kernels.stencil import StencilLayout
from flycluster.network import Network
from flycluster.synthetic import smooth_random_movie

triton = pytest.importorskip("triton", reason="triton is installed with the test extra on Linux x86-64")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: in the interpreter


@pytest.fixture(scope="module")
def small(connectome_path):
    """Extent-1 connectome (7 columns) and perturbed parameters: fast enough for the interpreter."""
    c = load_connectome(connectome_path, extent=1)
    sd = {k: v.numpy().copy() for k, v in Network.initial(c).state_dict().items()}
    rng = np.random.default_rng(5)
    for key in ("edges_syn_strength", "nodes_time_const"):
        sd[key] *= np.exp(0.3 * rng.standard_normal(sd[key].shape)).astype(np.float32)
    sd["nodes_bias"] += 0.2 * rng.standard_normal(sd["nodes_bias"].shape).astype(np.float32)
    return c, sd


@pytest.mark.parametrize("block", [4, 32])
def test_tiles_cover_every_node_once(connectome_path, block):
    c = load_connectome(connectome_path, extent=15)
    layout = StencilLayout.of(c)
    tile_pos, tile_type = gpu.build_tiles(layout, block)
    used = tile_pos[tile_pos >= 0]
    np.testing.assert_array_equal(np.sort(used), np.sort(layout.node_position))
    # one cell type per tile, and the tile's type is that of its positions
    types = np.where(tile_pos >= 0, tile_pos // layout.type_stride, -1)
    assert all(set(row[row >= 0]) == {t} for row, t in zip(types, tile_type))
    if block == 32:  # hexagon rows (16-31 nodes) and the 123 nodes of Lawf1 / Lawf2 packed
        assert len(tile_type) < 0.95 * len(layout.seg_start)
        assert (tile_pos >= 0).sum(axis=1).min() >= 16 or (tile_pos >= 0).sum(axis=1).min() == 123 % 32


def test_needs_cuda_or_the_interpreter(small, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    c, sd = small
    with pytest.raises(gpu.TritonUnavailable, match="needs a CUDA device"):
        Network(c, sd, kernel="triton").kernel_for(0.01)


@pytest.mark.parametrize("config", [
    # cell types over several tiles, term groups padded to multiples of 3, 3 spare lanes
    {"block_p": 4, "block_b": 8, "unroll": 3, "lanes_first": True},
    {"block_b": 4},  # otherwise the defaults; 5 samples in two lane blocks
])
def test_interpreted_kernel_matches_native(small, monkeypatch, config):
    """Steady state, fade-in, movie and NaN padding, against the native kernel (the interpreter
    takes about 50 ms per program and step, hence few steps)."""
    monkeypatch.setattr(gpu, "CONFIG", {**gpu.CONFIG, **config})
    c, sd = small
    movie = smooth_random_movie(5, 2, extent=1, random_state=2)
    movie[3, 1:] = np.nan
    settings = dict(t_pre=0.01, t_fade_in=0.02)
    net = Network(c, sd, kernel="triton", device=DEVICE)
    kernel = net.kernel_for(0.01)
    assert isinstance(kernel, gpu.TritonKernel) and kernel.config == gpu.CONFIG
    fast = net.simulate(movie, 0.01, **settings)
    native = Network(c, sd, kernel="native")
    ref = native.simulate(movie, 0.01, **settings)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    assert np.isnan(fast[3, 1]).any() and not np.isnan(fast[[0, 1, 2, 4]]).any()
    assert np.nanmax(np.abs(fast - ref)) < 2e-6
    assert np.nanstd(ref) > 0.05
    # the steady state as well (all nodes, not only the central cells)
    np.testing.assert_allclose(net.steady_state(0.01, 0.01), native.steady_state(0.01, 0.01), atol=2e-6)
    assert np.abs(net.steady_state(0.01, 0.01) - net.steady_state(0.0, 0.01)).max() > 1e-3  # one step moved it


def test_padded_terms_keep_every_term_once():
    target = np.array([0, 0, 0, 2, 2, 1])
    delta = np.arange(6, dtype=np.int64) + 10
    weight = np.arange(6, dtype=np.float32) + 1
    ptr, d, w = gpu.pad_terms(target, delta, weight, n_types=3, multiple=4)
    np.testing.assert_array_equal(ptr, [0, 4, 8, 12])
    np.testing.assert_array_equal(d, [10, 11, 12, 0, 15, 0, 0, 0, 13, 14, 0, 0])
    np.testing.assert_array_equal(w, [1, 2, 3, 0, 6, 0, 0, 0, 4, 5, 0, 0])


def test_unknown_option_is_rejected(small, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    layout = StencilLayout.of(small[0])
    with pytest.raises(ValueError, match="unknown Triton kernel options \\['block'\\]"):
        gpu.TritonKernel(layout, np.ones(layout.n_terms, np.float32), np.ones(65, np.float32), np.zeros(65, np.float32),
                         np.zeros(65, np.float32), device="cpu", block=3)


def test_fallback_warning_names_the_cause(small, monkeypatch):
    """kernel='auto' on CUDA without triton, or with parameters that are not translation invariant:
    one warning each, with advice that fits the cause."""
    monkeypatch.setattr(select, "_WARNED", set())
    with pytest.warns(UserWarning, match="triton kernel is unavailable .*no module.*install triton"):
        select.warn_fallback_once("triton", "torch", gpu.TritonUnavailable("no module named triton"))
    monkeypatch.setattr(select, "_WARNED", set())
    with pytest.warns(UserWarning, match="native kernel is unavailable .*translation-invariant parameters"):
        select.warn_fallback_once("native", "scipy", ValueError("3 edges differ in weight"))
