"""Fast backpropagation through the Euler steps on CPU: the stencil kernel and its adjoint in C.

:class:`StencilSimulation` wraps ``csrc/stencil_adjoint.c`` (built at first use with the system C
compiler, cached like :mod:`flycluster.kernels.native`'s kernel, with the same flags, including
the portable mode's ``FLYCLUSTER_NATIVE_MARCH`` and ``FLYCLUSTER_NATIVE_FP_CONTRACT``). :class:`NativeSimulate` is the
``torch.autograd.Function``: its forward integrates the whole movie keeping every state (and the
bracket ``u = -V + b + W relu(V) + x`` of every step), its backward runs backwards in time:

- the state gradient goes through the *transposed* stencil: the terms grouped by source cell
  type with mirrored offsets (the source of term k for target p is ``p + delta_k``, so the target
  of a source s is ``s - delta_k``), masked by relu'(V);
- the gradient of each term's weight is the sum over target positions (and samples) of
  ``inv dt g`` times relu(V) of the source, accumulated in float64;
- bias and ``1 / max(tau, dt)`` get sums over each cell type's positions.

Torch autograd then maps the term weights to ``edges_syn_strength`` and ``inv`` to
``nodes_time_const`` (:func:`simulate_native`), so the chain rule of the parameterisation stays in
one place, shared with the torch reference of :mod:`flycluster.training.module`.
float32 only; the arrays are interleaved ``[position][sample]`` (see the C file).
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np
import torch

from flycluster.kernels import native
from flycluster.kernels.native import NativeUnavailable
from flycluster.kernels.stencil import StencilLayout

SOURCE = Path(__file__).with_name("csrc") / "stencil_adjoint.c"
#: must equal flycluster_adjoint_abi() of the compiled library
ABI = 5
#: floats read past a run by the C loops (4 vectors of 8): spare floats at the end of every array
_OVERREAD = 64


class _AModel(ctypes.Structure):
    _fields_ = [("n_seg", ctypes.c_int64), ("seg_start", ctypes.c_void_p), ("seg_len", ctypes.c_void_p),
                ("seg_type", ctypes.c_void_p), ("term_ptr", ctypes.c_void_p), ("term_delta", ctypes.c_void_p),
                ("term_w", ctypes.c_void_p), ("tterm_ptr", ctypes.c_void_p), ("tterm_delta", ctypes.c_void_p),
                ("tterm_w", ctypes.c_void_p), ("tterm_term", ctypes.c_void_p), ("inv", ctypes.c_void_p),
                ("bias", ctypes.c_void_p), ("in_gain", ctypes.c_void_p), ("type_stride", ctypes.c_int64),
                ("n_positions", ctypes.c_int64), ("batch", ctypes.c_int64), ("dt", ctypes.c_float),
                ("seg_node", ctypes.c_void_p), ("n_nodes", ctypes.c_int64)]


def build_library() -> Path:
    """Compile ``csrc/stencil_adjoint.c`` for this machine unless cached (the builder, compiler,
    flags and cache folder of :func:`flycluster.kernels.native.build_library`)."""
    return native.build_library(source=SOURCE, extra_flags=("-pthread",), what="adjoint kernel")


_LOCK = threading.Lock()
_LIBRARY: ctypes.CDLL | None = None


def load_library() -> ctypes.CDLL:
    """The compiled adjoint kernel (built on first use; raises :class:`NativeUnavailable`).
    ``FLYCLUSTER_NATIVE=0`` disables it, as it does the simulation kernel."""
    global _LIBRARY
    native.check_enabled()
    with _LOCK:
        if _LIBRARY is None:
            path = build_library()
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise NativeUnavailable(f"cannot load {path}: {exc}") from exc
            if lib.flycluster_adjoint_abi() != ABI:
                raise NativeUnavailable(f"{path} does not match this flycluster version (delete it to rebuild)")
            p, i64 = ctypes.c_void_p, ctypes.c_int64
            i32 = ctypes.c_int32
            lib.flycluster_adjoint_forward.argtypes = [ctypes.POINTER(_AModel), i64, p, p, p, p, i32, p]
            lib.flycluster_adjoint_forward.restype = ctypes.c_int
            lib.flycluster_adjoint_backward.argtypes = [ctypes.POINTER(_AModel), i64, p, p, p, p, p, p, p, p, p, i64,
                                                        i64, i32, p, p]
            lib.flycluster_adjoint_backward.restype = ctypes.c_int
            lib.flycluster_adjoint_scatter.argtypes = [p, i64, i64, i64, p, i64, p]
            lib.flycluster_adjoint_scatter.restype = None
            _LIBRARY = lib
        return _LIBRARY


def _ptr(array: np.ndarray) -> int:
    return array.ctypes.data


def _balanced_bounds(cost: np.ndarray, n_parts: int) -> np.ndarray:
    """(n_parts + 1,) int64 bounds splitting items of ``cost`` into contiguous runs of about equal sum."""
    total = np.cumsum(cost, dtype=np.float64)
    cuts = np.searchsorted(total, np.linspace(0, total[-1], n_parts + 1)[1:-1])
    return np.r_[0, np.maximum.accumulate(cuts), len(cost)].astype(np.int64)


class StencilSimulation:
    """The stencil (and transposed stencil) of one connectome, ready for the C kernels.

    Parameters
    ----------
    connectome : :class:`flycluster.connectome.Connectome` (any extent).
    n_threads : threads per call (default ``torch.get_num_threads()``).

    Attributes
    ----------
    layout : :class:`flycluster.kernels.stencil.StencilLayout`.
    term_type, term_group : (n_terms,) int64 edge type and flyvis ``edges_syn_count`` group of each
        term (the terms are exactly flyvis's syn-count groups, in the layout's order).

    The state grids of a call are taken from a small pool and returned after the backward pass
    (or at once when no gradient is needed): fresh 40 MB arrays per iteration at extent 15 cost
    more in page faults than the arithmetic. Only node positions are ever written, so positions
    without a node stay 0 across reuse.
    """

    def __init__(self, connectome, n_threads: int | None = None):
        self.lib = load_library()
        c = connectome
        lay = StencilLayout.of(c)
        self.layout = lay
        n_types = len(c.cell_types)
        self.n_types = n_types
        self.n_terms = lay.n_terms
        self.term_type = torch.from_numpy(np.ascontiguousarray(lay.term_type, dtype=np.int64))
        group = c.syn_count_groups[0]
        self.term_group = torch.from_numpy(np.asarray(group, np.int64)[lay.term_first_edge])
        term_src = np.asarray(c.edge_type_source, np.int64)[lay.term_type]
        term_tgt = np.asarray(lay.term_target, np.int64)
        if np.any(np.diff(term_tgt) < 0):
            raise ValueError("stencil terms are not ordered by target type")
        self.tterm_order = np.argsort(term_src, kind="stable")
        arrays = {
            "seg_start": np.ascontiguousarray(lay.seg_start, np.int64),
            "seg_len": np.ascontiguousarray(lay.seg_len, np.int32),
            "seg_type": np.ascontiguousarray(lay.seg_type, np.int32),
            "term_ptr": np.searchsorted(term_tgt, np.arange(n_types + 1)).astype(np.int32),
            "term_delta": np.ascontiguousarray(lay.term_delta, np.int64),
            "tterm_ptr": np.searchsorted(term_src[self.tterm_order], np.arange(n_types + 1)).astype(np.int32),
            "tterm_delta": np.ascontiguousarray(-lay.term_delta[self.tterm_order], np.int64),
            "tterm_term": self.tterm_order.astype(np.int32),
        }
        # node index of each segment's first position; a segment's nodes are consecutive (flyvis orders
        # nodes by type, then u, then v, as the grid is laid out)
        order = np.argsort(lay.node_position, kind="stable")
        first = np.searchsorted(lay.node_position[order], lay.seg_start)
        seg_node = order[first].astype(np.int64)
        runs = seg_node[:, None] + np.arange(int(lay.seg_len.max()))[None]
        mask = np.arange(int(lay.seg_len.max()))[None] < lay.seg_len[:, None]
        if not np.array_equal(lay.node_position[runs[mask]], (lay.seg_start[:, None] + np.arange(runs.shape[1]))[mask]):
            raise ValueError("the nodes of a grid segment are not consecutive node indices")
        arrays_extra = {"seg_node": np.ascontiguousarray(seg_node)}
        in_gain = np.zeros(n_types, np.float32)
        in_gain[c.input_types] = 1
        arrays["in_gain"] = in_gain
        arrays.update(arrays_extra)
        self._arrays = arrays
        seg_len = arrays["seg_len"].astype(np.float64)
        seg_type = arrays["seg_type"]
        # work per segment: its floats times the terms it sums (plus the elementwise part)
        self._cost = seg_len * (np.diff(arrays["term_ptr"])[seg_type] + 1)
        self._tcost = seg_len * (np.diff(arrays["tterm_ptr"])[seg_type] + 1)
        self.n_threads = int(n_threads or torch.get_num_threads())
        self._node_position = np.ascontiguousarray(lay.node_position, np.int64)
        self._hex_position = np.ascontiguousarray(lay.hex_position, np.int64)
        self.n_nodes = int(c.n_nodes)
        self._pool: dict = {}
        self._lock = threading.Lock()

    def _parts(self):
        n = max(1, min(64, self.n_threads, len(self._cost)))
        return _balanced_bounds(self._cost, n), _balanced_bounds(self._tcost, n), n

    def _model(self, term_w: np.ndarray, inv: np.ndarray, bias: np.ndarray, batch: int, dt: float):
        a = self._arrays
        keep = {"term_w": np.ascontiguousarray(term_w, np.float32),
                "tterm_w": np.ascontiguousarray(term_w[self.tterm_order], np.float32),
                "inv": np.ascontiguousarray(inv, np.float32), "bias": np.ascontiguousarray(bias, np.float32)}
        model = _AModel(len(a["seg_start"]), _ptr(a["seg_start"]), _ptr(a["seg_len"]), _ptr(a["seg_type"]),
                        _ptr(a["term_ptr"]), _ptr(a["term_delta"]), _ptr(keep["term_w"]), _ptr(a["tterm_ptr"]),
                        _ptr(a["tterm_delta"]), _ptr(keep["tterm_w"]), _ptr(a["tterm_term"]), _ptr(keep["inv"]),
                        _ptr(keep["bias"]), _ptr(a["in_gain"]), self.layout.type_stride,
                        self.layout.n_positions, int(batch), float(dt), _ptr(a["seg_node"]), self.n_nodes)
        return model, keep

    def _take(self, kind: str, n_steps: int, batch: int, stride: int | None = None) -> np.ndarray:
        """A float32 (n_steps, stride, batch) grid (stride: positions of a state), 0 wherever no node
        sits, with spare floats after the last (the C loops read past a run)."""
        stride = self.layout.n_positions if stride is None else stride
        key = (kind, n_steps, batch, stride)
        with self._lock:
            free = self._pool.get(key)
            if free:
                return free.pop()
        return np.zeros(n_steps * stride * batch + _OVERREAD, np.float32)

    def _give(self, kind: str, array: np.ndarray, n_steps: int, batch: int, stride: int | None = None):
        stride = self.layout.n_positions if stride is None else stride
        with self._lock:
            free = self._pool.setdefault((kind, n_steps, batch, stride), [])
            if len(free) < 2:
                free.append(array)

    def release(self, saved) -> None:
        """Return the grids of a forward pass that will not be backpropagated."""
        V, U, _, _, batch, n_frames = saved
        self._give("V", V, n_frames + 1, batch)
        self._give("U", U, n_frames, batch)

    def _scatter(self, grid: np.ndarray, offset: int, n_steps: int, stride: int, batch: int, positions, src):
        """grid[offset:] as (n_steps, stride, batch) at ``positions`` = src (batch, n_steps, len(positions))."""
        src = np.ascontiguousarray(src, np.float32)
        self.lib.flycluster_adjoint_scatter(_ptr(grid) + 4 * offset, n_steps, stride, batch, _ptr(positions),
                                            len(positions), _ptr(src))

    def forward(self, v0: torch.Tensor, movie: torch.Tensor, term_w, inv, bias, dt: float):
        """Integrate; returns (activity (B, T, n_nodes) tensor, saved arrays for :meth:`backward`)."""
        batch, n_frames, _ = movie.shape
        npos, stride = self.layout.n_positions, self.layout.type_stride
        model, keep = self._model(term_w, inv, bias, batch, dt)
        V = self._take("V", n_frames + 1, batch)
        U = self._take("U", n_frames, batch)
        self._scatter(V, 0, 1, npos, batch, self._node_position, v0.detach().float().numpy()[:, None, :])
        X = self._take("X", n_frames, batch, stride)
        self._scatter(X, 0, n_frames, stride, batch, self._hex_position, movie.detach().float().numpy())
        out = torch.empty((batch, n_frames, self.n_nodes), dtype=torch.float32)
        part, _, n = self._parts()
        rc = self.lib.flycluster_adjoint_forward(ctypes.byref(model), n_frames, _ptr(X), _ptr(V), _ptr(U),
                                                 out.data_ptr(), n, _ptr(part))
        self._give("X", X, n_frames, batch, stride)
        if rc != 0:
            raise RuntimeError(f"the native forward pass failed to start {n} threads")
        return out, (V, U, model, keep, batch, n_frames)

    def backward(self, saved, grad_out: torch.Tensor, release: bool = True):
        """Gradients (initial state (B, n_nodes) tensor, term weights (n_terms,), inv (n_types,),
        bias (n_types,) float64 numpy) for ``grad_out`` (B, T, n_nodes); returns the grids to the pool."""
        V, U, model, keep, batch, n_frames = saved
        npos = self.layout.n_positions
        gout = np.ascontiguousarray(grad_out.detach().float().numpy())
        G = self._take("G", 2, batch, npos + 32 // batch + 1)  # two grids, each with 4 * VW spare floats
        H = self._take("H", 1, batch)
        g0 = torch.empty((batch, self.n_nodes), dtype=torch.float32)
        gw = np.zeros(self.n_terms, np.float64)
        ginv = np.zeros(self.n_types, np.float64)
        gb = np.zeros(self.n_types, np.float64)
        part, tpart, n = self._parts()
        rc = self.lib.flycluster_adjoint_backward(ctypes.byref(model), n_frames, _ptr(V), _ptr(U), _ptr(gout), _ptr(G),
                                                  _ptr(H), g0.data_ptr(), _ptr(gw), _ptr(ginv), _ptr(gb),
                                                  self.n_terms, self.n_types, n, _ptr(part), _ptr(tpart))
        if release:
            self.release(saved)
        self._give("G", G, 2, batch, npos + 32 // batch + 1)
        self._give("H", H, 1, batch)
        if rc != 0:
            raise RuntimeError(f"the native backward pass failed to start {n} threads")
        return g0, gw, ginv, gb


class _ReturnToPool:
    """Gives a forward pass's grids back to the pool when the autograd graph holding it is freed
    (so that any number of backward passes with retain_graph=True read intact grids)."""

    def __init__(self, sim, saved):
        self.sim, self.saved = sim, saved

    def __del__(self):
        self.sim.release(self.saved)


class NativeSimulate(torch.autograd.Function):
    """Activity (B, T, n_nodes) from (initial state, movie, term weights, inv, bias); the backward
    pass is the C adjoint. No gradient for the movie."""

    @staticmethod
    def forward(ctx, sim, v0, movie, term_w, inv, bias, dt):
        out, saved = sim.forward(v0, movie, term_w.detach().numpy(), inv.detach().numpy(), bias.detach().numpy(), dt)
        if any(ctx.needs_input_grad):
            ctx.sim, ctx.saved = sim, saved
            ctx.pool_return = _ReturnToPool(sim, saved)
        else:  # no backward will come: the grids go back to the pool now
            sim.release(saved)
        ctx.dtypes = (v0.dtype, term_w.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        # a second backward pass (retain_graph=True, as the training loop's activity penalty
        # needs) reads the same grids: they return to the pool only when the graph is freed
        if ctx.saved is None:
            raise RuntimeError("no saved state for the native backward pass")
        g0, gw, ginv, gb = ctx.sim.backward(ctx.saved, grad_out, release=False)
        dtype = ctx.dtypes[1]
        return (None, g0.to(ctx.dtypes[0]), None, torch.from_numpy(gw).to(dtype), torch.from_numpy(ginv).to(dtype),
                torch.from_numpy(gb).to(dtype), None)


def simulate_native(sim: StencilSimulation, module, v0: torch.Tensor, movie: torch.Tensor, dt: float) -> torch.Tensor:
    """The forward of :class:`flycluster.training.NetworkModule` on the C kernel.

    The term weights ``sign x exp(syn_count) x strength`` (flyvis's per-edge product, one value per
    term) and ``inv = 1 / max(tau, dt)`` are computed with torch so that autograd carries their
    gradients to the module's parameters."""
    term_w = module.weights_of(sim.term_type, sim.term_group)
    return NativeSimulate.apply(sim, v0, movie, term_w, module.inv_tau(dt), module.nodes_bias, dt)


__all__ = ["StencilSimulation", "NativeSimulate", "simulate_native", "load_library", "build_library"]
