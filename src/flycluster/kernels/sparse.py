"""The sparse-matrix kernels: Euler steps of flyvis's PPNeuronIGRSynapses dynamics as CSR products.

For node i with time constant tau_i, bias b_i and input x_i(t) (the movie, on photoreceptors):

    V_i <- V_i + dt / max(tau_i, dt) * (-V_i + b_i + sum_{e: tgt(e)=i} w_e relu(V_src(e)) + x_i)

With a_i = dt / max(tau_i, dt) this is computed as

    V <- (1 - a) V + a b + a x + (diag(a) W) relu(V)

with the sparse weight matrix W (targets x sources, CSR) pre-scaled by a. The state is laid
out (nodes, samples) so that the sparse product reads contiguous rows of the batch.

Four kernels share this math and one interface (``run``, ``relax``, ``default_batch_size``), see
:mod:`flycluster.kernels`: the two stencil kernels (:class:`flycluster.kernels.native.NativeKernel`,
compiled C, the default on CPU, and :class:`flycluster.kernels.gpu.TritonKernel`, the default on
CUDA) and the two here: :class:`ScipyKernel` (kernel "scipy": scipy's CSR product accumulating in
place, split over row blocks in threads, numpy elementwise; the CPU fallback where no C compiler is
found) and :class:`TorchKernel` (kernel "torch": torch CSR ``addmm``; the CUDA fallback where triton
is missing, and usable on CPU, which the tests use to check all agree).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch

try:  # in-place y += A @ X, no allocation per step
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - very old/new scipy
    _csr_matvecs = None


def _nnz_balanced_blocks(indptr: np.ndarray, n_blocks: int) -> list[tuple[int, int]]:
    """Row ranges with about equal numbers of nonzeros."""
    n_rows = len(indptr) - 1
    cuts = np.searchsorted(indptr, np.linspace(0, indptr[-1], n_blocks + 1)[1:-1])
    bounds = [0, *sorted(set(int(c) for c in cuts if 0 < c < n_rows)), n_rows]
    return list(zip(bounds[:-1], bounds[1:]))


class _SteppingKernel:
    """``run`` and ``relax`` of the kernels that advance one step per Python call."""

    def run(self, v0: np.ndarray, movie: np.ndarray, n_fade: int = 0, ramp=None) -> np.ndarray:
        """Central-cell voltages (samples, frames, n_cell_types) float32 for ``movie``.

        v0 : (n_nodes,) initial voltages of every sample. movie : (samples, frames, n_hexals)
        float32 without NaN. The first ``n_fade`` steps feed ``0.5 + ramp[k] * (movie[:, 0] - 0.5)``.
        """
        frames = self.as_input(movie.transpose(1, 2, 0))  # (frames, hexals, samples)
        state = self.initial_state(v0, movie.shape[0])
        if n_fade:
            offset = frames[0] - 0.5
            for k in range(n_fade):
                self.step(state, float(ramp[k]) * offset + 0.5)
        block = self.new_output(movie.shape[1], movie.shape[0])
        for t in range(movie.shape[1]):
            self.step(state, frames[t])
            self.record(state, block, t)
        return np.ascontiguousarray(self.to_numpy(block).transpose(2, 0, 1))

    def relax(self, v0: np.ndarray, n_steps: int, luminance: float = 0.5) -> np.ndarray:
        """(n_nodes,) float32 voltages after ``n_steps`` steps of constant ``luminance`` from ``v0``."""
        state = self.initial_state(v0, 1)
        for _ in range(n_steps):
            self.step(state, np.float32(luminance))
        return self.voltages(state)[:, 0].astype(np.float32)


class ScipyKernel(_SteppingKernel):
    """Euler steps on CPU with scipy CSR products; state (n_nodes, batch) float32 numpy.

    The fallback where the native kernel (:mod:`flycluster.kernels.native`) cannot be built.

    Parameters
    ----------
    weights : scipy CSR (n_nodes, n_nodes), already scaled by a (row i by a_i), float32.
    decay : (n_nodes,) float32, 1 - a.
    drive : (n_nodes,) float32, a * b.
    input_gain : (n_input_types, n_hexals) float32, a of each input node.
    input_index : (n_input_types, n_hexals) node indices receiving the movie.
    central_index : (n_cell_types,) node indices recorded.
    n_threads : worker threads (default: os.cpu_count(), at most 8).
    """

    default_batch_size = 64  # the cost per sample-step flattens there

    def __init__(self, weights, decay, drive, input_gain, input_index, central_index, n_threads=None):
        self.n_nodes = weights.shape[0]
        # the constant drive a*b is one more column of the matrix, applied to a constant-1 row of
        # relu(V): one elementwise pass less per step
        w = sp.hstack([weights.tocsr(), sp.csr_matrix(drive.astype(np.float32)[:, None])], format="csr")
        w = w.astype(np.float32)
        w.sort_indices()
        self.n_threads = max(1, min(8, n_threads or os.cpu_count() or 1))
        # more blocks than threads: a thread delayed by other processes leaves its share to the others
        self.blocks = _nnz_balanced_blocks(w.indptr, 4 * self.n_threads if self.n_threads > 1 else 1)
        self.parts = []
        for r0, r1 in self.blocks:
            block = w[r0:r1]
            # csr_matvecs needs both index arrays in the same integer type
            self.parts.append((r0, r1, block.indptr.astype(np.intc), block.indices.astype(np.intc),
                               block.data, block))
        self.decay = decay.astype(np.float32)[:, None]
        self.input_gain = input_gain.astype(np.float32)
        flat = input_index.ravel()
        self.input_slice = (slice(int(flat[0]), int(flat[0]) + len(flat))
                            if np.array_equal(flat, np.arange(flat[0], flat[0] + len(flat))) else None)
        self.input_index = input_index
        self.central_index = central_index
        self.pool = shared_pool(self.n_threads) if self.n_threads > 1 else None

    def initial_state(self, v0: np.ndarray, batch: int) -> dict:
        """State dict with V = v0 (n_nodes,) or (n_nodes, batch) broadcast to the batch."""
        v = np.empty((self.n_nodes, batch), dtype=np.float32)
        v[...] = np.asarray(v0, dtype=np.float32).reshape(self.n_nodes, -1)
        relu = np.empty((self.n_nodes + 1, batch), dtype=np.float32)
        relu[-1] = 1.0
        return {"v": v, "next": np.empty_like(v), "relu": relu}

    def _map(self, fn):
        if self.pool is None:
            for i in range(len(self.parts)):
                fn(i)
        else:
            list(self.pool.map(fn, range(len(self.parts))))

    def step(self, state: dict, x) -> None:
        """Advance one step. ``x``: input luminance, scalar or (n_hexals, batch) float32."""
        v, nxt, relu = state["v"], state["next"], state["relu"]
        batch = v.shape[1]

        def elementwise(i):
            r0, r1 = self.parts[i][:2]
            np.maximum(v[r0:r1], 0.0, out=relu[r0:r1])
            np.multiply(v[r0:r1], self.decay[r0:r1], out=nxt[r0:r1])

        self._map(elementwise)
        x = np.asarray(x, dtype=np.float32)
        gain = self.input_gain[:, :, None] * (x if x.ndim == 2 else x.reshape(1, 1))[None]
        if self.input_slice is not None:
            nxt[self.input_slice].reshape(*self.input_gain.shape, batch)[...] += gain
        else:
            nxt[self.input_index.ravel()] += np.broadcast_to(gain, (*gain.shape[:2], batch)).reshape(-1, batch)

        def product(i):
            r0, r1, indptr, indices, data, block = self.parts[i]
            if _csr_matvecs is not None:
                _csr_matvecs(r1 - r0, self.n_nodes + 1, batch, indptr, indices, data, relu.ravel(), nxt[r0:r1].ravel())
            else:  # pragma: no cover
                nxt[r0:r1] += block @ relu

        self._map(product)
        state["v"], state["next"] = nxt, v

    def as_input(self, array: np.ndarray) -> np.ndarray:
        """Movie frames in the kernel's array type (numpy here)."""
        return np.ascontiguousarray(array, dtype=np.float32)

    def new_output(self, n_frames: int, batch: int) -> np.ndarray:
        """Buffer (frames, n_cell_types, batch) for the recorded central voltages."""
        return np.empty((n_frames, len(self.central_index), batch), dtype=np.float32)

    def record(self, state: dict, out, t: int) -> None:
        """Store the central cells' voltages of the current state as frame ``t`` of ``out``."""
        np.take(state["v"], self.central_index, axis=0, out=out[t])

    def to_numpy(self, out) -> np.ndarray:
        return out

    def voltages(self, state: dict) -> np.ndarray:
        """(n_nodes, batch) all voltages (a copy)."""
        return state["v"].copy()


_POOLS: dict[int, ThreadPoolExecutor] = {}


def shared_pool(n_threads: int) -> ThreadPoolExecutor:
    """A process-wide thread pool with ``n_threads`` workers (created on first use, then reused)."""
    if n_threads not in _POOLS:
        _POOLS[n_threads] = ThreadPoolExecutor(n_threads, thread_name_prefix="flycluster-csr")
    return _POOLS[n_threads]


class TorchKernel(_SteppingKernel):
    """Euler steps with torch (CSR ``addmm``); the same math as :class:`ScipyKernel` on any device."""

    default_batch_size = 1024

    def __init__(self, weights, decay, drive, input_gain, input_index, central_index, device="cpu"):
        self.device = torch.device(device)
        w = weights.tocsr().astype(np.float32)
        w.sort_indices()
        self.n_nodes = w.shape[0]
        index_dtype = torch.int32 if self.device.type == "cuda" else torch.int64
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
            self.weights = torch.sparse_csr_tensor(
                torch.from_numpy(w.indptr.astype(np.int64)).to(index_dtype),
                torch.from_numpy(w.indices.astype(np.int64)).to(index_dtype),
                torch.from_numpy(w.data), size=w.shape, device=self.device, check_invariants=False)
        self.decay = torch.from_numpy(decay.astype(np.float32))[:, None].to(self.device)
        self.drive = torch.from_numpy(drive.astype(np.float32))[:, None].to(self.device)
        self.input_gain = torch.from_numpy(input_gain.astype(np.float32)).to(self.device)
        self.input_index = torch.from_numpy(input_index.ravel().astype(np.int64)).to(self.device)
        self.central_index = torch.from_numpy(central_index.astype(np.int64)).to(self.device)

    def initial_state(self, v0, batch: int) -> dict:
        v0 = torch.as_tensor(np.asarray(v0, dtype=np.float32)).to(self.device)
        v = v0.reshape(self.n_nodes, -1).expand(self.n_nodes, batch).contiguous()
        return {"v": v}

    def as_input(self, array: np.ndarray) -> torch.Tensor:
        """Movie frames as a float32 tensor on the device (one transfer per batch)."""
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    def new_output(self, n_frames: int, batch: int) -> torch.Tensor:
        return torch.empty((n_frames, len(self.central_index), batch), dtype=torch.float32, device=self.device)

    def record(self, state: dict, out, t: int) -> None:
        torch.index_select(state["v"], 0, self.central_index, out=out[t])

    def to_numpy(self, out) -> np.ndarray:
        return out.cpu().numpy()

    def step(self, state: dict, x) -> None:
        v = state["v"]
        batch = v.shape[1]
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(self.device)
        x = x.reshape(1, 1) if x.ndim == 0 else x
        base = torch.addcmul(self.drive, v, self.decay)
        gain = (self.input_gain[:, :, None] * x[None]).expand(*self.input_gain.shape, batch)
        base.index_add_(0, self.input_index, gain.reshape(-1, batch))
        state["v"] = torch.addmm(base, self.weights, torch.relu(v))

    def voltages(self, state: dict) -> np.ndarray:
        return state["v"].cpu().numpy()


def scaled_edge_weights(weights, target, row_scale) -> np.ndarray:
    """(n_edges,) float32 ``weights`` times ``row_scale`` of each edge's target (product in float64)."""
    return (weights.astype(np.float64) * row_scale[target]).astype(np.float32)


def weight_matrix(source, target, weights, n_nodes, row_scale) -> sp.csr_matrix:
    """CSR (n_nodes, n_nodes) of ``weights`` at (target, source), rows scaled by ``row_scale``."""
    data = scaled_edge_weights(weights, target, row_scale)
    matrix = sp.csr_matrix((data, (target, source)), shape=(n_nodes, n_nodes))
    matrix.eliminate_zeros()  # clamped (zero) strengths: exact to skip, relu(V) is finite
    return matrix
