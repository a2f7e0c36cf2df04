"""Fast backpropagation through the Euler steps on CUDA: the stencil and its adjoint as Triton kernels.

The GPU counterpart of :mod:`flycluster.adjoint` (the C adjoint for CPUs): the same math, the same
grids as :mod:`flycluster.kernels.gpu` (every cell type's voltages on its own zero-padded hexagonal
grid, ``(n_positions, lanes)`` float32 with the samples contiguous), kept on the device.

Forward, one Triton launch per Euler step (tiles of target positions of one cell type)::

    u[p]  = -V[p] + b[t] + sum_{terms k of t} w[k] relu(V[p + delta_k]) + x[p]
    V'[p] = V[p] + (inv[t] u[p]) dt                  inv = 1 / max(tau, dt)

keeping every state V and bracket u. Backward, with g = dL/dV' and h = inv dt g:

- the state gradient, one launch per step (tiles of *source* positions), through the transposed
  stencil: the terms grouped by source type with mirrored offsets, masked by relu'(V)::

      dL/dV[p] = (1 - inv dt) g[p] + [V[p] > 0] sum_{terms k of p's type as source} w[k] h[p - delta_k]

- the term weights, one launch after the time loop: program (tile, j, lane block) sums
  ``h[p] relu(V[p + delta_k])`` over the tile's positions, all steps and its lanes for every
  ``ksplit``-th term k of the tile's type; each sum goes to its own slot and the slots are added
  in float64 (deterministic: no atomics);
- bias and ``inv``: sums of h and of ``g u dt`` over each cell type's positions (torch reductions
  in float64).

As in :mod:`flycluster.adjoint`, torch autograd maps the term weights to ``edges_syn_strength`` and
``inv`` to ``nodes_time_const``. float32 only; the initial state gets its gradient, the movie does
not. With ``TRITON_INTERPRET=1`` the kernels run on the CPU through numpy, which the tests use to
check them against the C adjoint and flyvis's gradients without a GPU.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from flycluster.kernels import gpu
from flycluster.kernels.gpu import TritonUnavailable, build_tiles, interpret_mode, pad_terms, tile_hexals
from flycluster.kernels.stencil import StencilLayout

#: defaults: target positions per tile (block_p), samples per program at most (block_b; the batch
#: rounded up to a power of two when smaller), terms loaded together (unroll), programs per tile of the weight
#: gradient (ksplit), warps per program
CONFIG = {"block_p": 64, "block_b": 32, "unroll": 4, "ksplit": 4, "num_warps": 4}

_JITTED: dict = {}


def _kernels():
    """The three jitted kernels (created on first use, so ``TRITON_INTERPRET`` set by then applies)."""
    key = interpret_mode()
    if key in _JITTED:
        return _JITTED[key]
    gpu._step_kernel()  # imports triton into gpu's globals, or raises TritonUnavailable
    triton, tl = gpu.triton, gpu.tl
    globals().update(triton=triton, tl=tl)  # the interpreter patches the ``tl`` of the kernels' globals

    # Every program starts alike: its tile's positions (``tile_pos``: unused slots repeat the tile's
    # first position, so that every load is in bounds without a mask; the first ``tile_count`` slots
    # are used) and the offsets ``base`` of its (BLOCK_P, BLOCK_B) block in a grid. (Written out in
    # each kernel: a nested call costs Triton's interpreter, which the tests use, ~25 % more time.)

    @triton.jit
    def stencil_sum(X, k0, k1, delta, weight, stride, RELU: tl.constexpr, BLOCK_P: tl.constexpr,
                    BLOCK_B: tl.constexpr, UNROLL: tl.constexpr, WHILE_LOOP: tl.constexpr):
        # sum_k weight[k] X[p + delta[k]] (relu(X) with RELU) over the terms k0..k1 (X: the block's
        # pointers; k1 - k0 is a multiple of UNROLL, padded with zero-weight terms)
        acc = tl.zeros((BLOCK_P, BLOCK_B), dtype=tl.float32)
        if WHILE_LOOP:  # Triton's interpreter cannot loop over range(tensor, tensor) with numpy >= 2.4
            k = k0
            while k < k1:
                for u in tl.static_range(UNROLL):
                    x = tl.load(X + tl.load(delta + k + u).to(tl.int64) * stride)
                    if RELU:
                        x = tl.maximum(x, 0.0)
                    acc += tl.load(weight + k + u) * x
                k += UNROLL
        else:  # the same body
            for k in range(k0, k1, UNROLL):
                for u in tl.static_range(UNROLL):
                    x = tl.load(X + tl.load(delta + k + u).to(tl.int64) * stride)
                    if RELU:
                        x = tl.maximum(x, 0.0)
                    acc += tl.load(weight + k + u) * x
        return acc

    globals().update(stencil_sum=stencil_sum)  # the kernels find them there

    @triton.jit
    def forward_step(V, Vn, U, frame, tile_pos, tile_count, tile_hex, tile_type, term_ptr, term_delta, term_w,
                     inv, bias, dt, stride,
                     BLOCK_P: tl.constexpr, BLOCK_B: tl.constexpr, UNROLL: tl.constexpr, WHILE_LOOP: tl.constexpr):
        tile = tl.program_id(0)
        lanes = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
        slot = tl.arange(0, BLOCK_P)
        used = (slot < tl.load(tile_count + tile))[:, None]
        base = tl.load(tile_pos + tile * BLOCK_P + slot).to(tl.int64)[:, None] * stride + lanes[None, :]
        t = tl.load(tile_type + tile)
        acc = stencil_sum(V + base, tl.load(term_ptr + t), tl.load(term_ptr + t + 1), term_delta, term_w, stride,
                          True, BLOCK_P, BLOCK_B, UNROLL, WHILE_LOOP)
        v = tl.load(V + base)
        hexal = tl.load(tile_hex + tile * BLOCK_P + slot)  # -1: no movie input
        has_input = (hexal >= 0)[:, None]
        lum = tl.load(frame + tl.where(hexal >= 0, hexal, 0).to(tl.int64)[:, None] * stride + lanes[None, :],
                      mask=has_input, other=0.0)
        u_new = -v + tl.load(bias + t) + acc + lum  # lum is 0 off the photoreceptors
        tl.store(U + base, u_new, mask=used)
        tl.store(Vn + base, v + (tl.load(inv + t) * u_new) * dt, mask=used)

    @triton.jit
    def backward_step(G, H, Vp, Gp, tile_pos, tile_count, tile_type, tterm_ptr, tterm_delta, tterm_w, decay, stride,
                      BLOCK_P: tl.constexpr, BLOCK_B: tl.constexpr, UNROLL: tl.constexpr, WHILE_LOOP: tl.constexpr):
        tile = tl.program_id(0)
        lanes = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
        slot = tl.arange(0, BLOCK_P)
        used = (slot < tl.load(tile_count + tile))[:, None]
        base = tl.load(tile_pos + tile * BLOCK_P + slot).to(tl.int64)[:, None] * stride + lanes[None, :]
        t = tl.load(tile_type + tile)  # the source type of the tile's positions
        acc = stencil_sum(H + base, tl.load(tterm_ptr + t), tl.load(tterm_ptr + t + 1), tterm_delta, tterm_w,
                          stride, False, BLOCK_P, BLOCK_B, UNROLL, WHILE_LOOP)
        v = tl.load(Vp + base)
        tl.store(Gp + base, tl.load(decay + t) * tl.load(G + base) + tl.where(v > 0, acc, 0.0), mask=used)

    @triton.jit
    def weight_gradient(H, V, partial, tile_pos, tile_count, tile_type, tile_rank, term_ptr, term_delta, n_steps,
                        step, stride, max_rank, n_lane_blocks,
                        BLOCK_P: tl.constexpr, BLOCK_B: tl.constexpr, KSPLIT: tl.constexpr,
                        WHILE_LOOP: tl.constexpr):
        tile = tl.program_id(0)
        j = tl.program_id(1)
        lane_block = tl.program_id(2)
        lanes = lane_block * BLOCK_B + tl.arange(0, BLOCK_B)
        slot = tl.arange(0, BLOCK_P)
        used = (slot < tl.load(tile_count + tile))[:, None]
        base = tl.load(tile_pos + tile * BLOCK_P + slot).to(tl.int64)[:, None] * stride + lanes[None, :]
        t = tl.load(tile_type + tile)
        rank = tl.load(tile_rank + tile)
        k = tl.load(term_ptr + t) + j
        k1 = tl.load(term_ptr + t + 1)
        while k < k1:
            h_ptr = H + base
            v_ptr = V + base + tl.load(term_delta + k).to(tl.int64) * stride
            acc = tl.zeros((BLOCK_P, BLOCK_B), dtype=tl.float32)
            # over the steps: H[i] = h of step i + 1, V[i] the state it started from
            if WHILE_LOOP:  # the interpreter cannot loop over range(n_steps) with numpy >= 2.4
                i = 0
                while i < n_steps:
                    acc += tl.load(h_ptr) * tl.maximum(tl.load(v_ptr), 0.0)
                    h_ptr += step
                    v_ptr += step
                    i += 1
            else:  # the same body (a compiled while loop cannot count from the constant 0)
                for _ in range(0, n_steps):
                    acc += tl.load(h_ptr) * tl.maximum(tl.load(v_ptr), 0.0)
                    h_ptr += step
                    v_ptr += step
            total = tl.sum(tl.where(used, acc, 0.0))  # unused slots repeat a used position: not counted
            tl.store(partial + (k.to(tl.int64) * max_rank + rank) * n_lane_blocks + lane_block, total)
            k += KSPLIT

    _JITTED[key] = (forward_step, backward_step, weight_gradient)
    return _JITTED[key]


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


class TritonSimulation:
    """The stencil and its transpose for the Triton kernels, on one device.

    Parameters
    ----------
    connectome : :class:`flycluster.connectome.Connectome` (any extent).
    device : a CUDA device (or "cpu" with ``TRITON_INTERPRET=1``, for tests).
    **config : overrides of :data:`CONFIG`.

    Attributes
    ----------
    layout : :class:`flycluster.kernels.stencil.StencilLayout`.
    term_type, term_group : (n_terms,) int64 tensors on the device: edge type and flyvis
        ``edges_syn_count`` group of each term (as :class:`flycluster.adjoint.StencilSimulation`).
    """

    def __init__(self, connectome, device="cuda", **config):
        self.device = torch.device(device)
        if self.device.type != "cuda" and not interpret_mode():
            raise TritonUnavailable("the Triton adjoint needs a CUDA device (or TRITON_INTERPRET=1 to test it on CPU)")
        unknown = set(config) - set(CONFIG)
        if unknown:
            raise ValueError(f"unknown Triton adjoint options {sorted(unknown)}; known: {sorted(CONFIG)}")
        self.config = {**CONFIG, **config}
        self.kernels = _kernels()
        c = connectome
        lay = StencilLayout.of(c)
        self.layout = lay
        n_types = len(c.cell_types)
        self.n_types, self.n_terms, self.n_nodes = n_types, lay.n_terms, int(c.n_nodes)
        term_tgt = np.asarray(lay.term_target, np.int64)
        if np.any(np.diff(term_tgt) < 0):
            raise ValueError("stencil terms are not ordered by target type")
        term_src = np.asarray(c.edge_type_source, np.int64)[lay.term_type]
        unroll = int(self.config["unroll"])
        self.block_p = int(self.config["block_p"])
        # forward: every term (also those whose weight is 0 now: their gradient is not), padded per target
        # type; the padding terms are the last of their group and carry weight 0
        term_ptr, term_delta, _ = pad_terms(term_tgt, lay.term_delta, np.zeros(lay.n_terms, np.float32), n_types,
                                            unroll)
        self._fwd_index = self._padded_index(term_tgt, term_ptr, n_types)
        # backward: the same terms grouped by source type, offsets mirrored
        tterm_ptr, tterm_delta, _ = pad_terms(term_src, -lay.term_delta, np.zeros(lay.n_terms, np.float32), n_types,
                                              unroll)
        self._bwd_index = self._padded_index(term_src, tterm_ptr, n_types)
        tile_pos, tile_type = build_tiles(lay, self.block_p)
        rank = np.zeros(len(tile_type), np.int32)
        for t in range(n_types):
            mine = np.flatnonzero(tile_type == t)
            rank[mine] = np.arange(len(mine))
        self.max_rank = int(rank.max()) + 1
        tile_hex = tile_hexals(lay, tile_pos, tile_type, np.isin(np.arange(n_types), c.input_types))
        tile_count = (tile_pos >= 0).sum(axis=1)
        tile_pos = np.where(tile_pos >= 0, tile_pos, tile_pos[:, :1])  # build_tiles fills slots from the first

        def dev(array, dtype):
            return torch.as_tensor(np.ascontiguousarray(array, dtype=dtype)).to(self.device)

        self.tile_pos, self.tile_hex = dev(tile_pos, np.int32), dev(tile_hex, np.int32)
        self.tile_count = dev(tile_count, np.int32)
        self.tile_type, self.tile_rank = dev(tile_type, np.int32), dev(rank, np.int32)
        self.term_ptr, self.term_delta = dev(term_ptr, np.int32), dev(term_delta, np.int32)
        self.unpadded_ptr = dev(np.searchsorted(term_tgt, np.arange(n_types + 1)), np.int32)
        self.unpadded_delta = dev(lay.term_delta, np.int32)
        self.tterm_ptr, self.tterm_delta = dev(tterm_ptr, np.int32), dev(tterm_delta, np.int32)
        self.n_tiles = len(tile_type)
        self.node_position = dev(lay.node_position, np.int64)
        self.hex_position = dev(lay.hex_position, np.int64)
        # the cell type of every grid position (positions past the last type's grid hold no node)
        self.n_grid = n_types * lay.type_stride
        group = c.syn_count_groups[0]
        self.term_type = dev(lay.term_type, np.int64)
        self.term_group = dev(np.asarray(group, np.int64)[lay.term_first_edge], np.int64)
        if self.device.type == "cuda":  # compile now: a GPU Triton cannot target means the fallback, not a crash later
            try:
                self._warm_up()
            except Exception as exc:  # triton raises several types (compilation, out of resources, driver)
                name = torch.cuda.get_device_name(self.device)
                raise TritonUnavailable(f"Triton could not compile or run the adjoint on {name}: "
                                        f"{type(exc).__name__}: {str(exc)[:300]}") from exc

    def _warm_up(self) -> None:
        """One forward and backward pass of 2 frames for one sample (the steady state's lane block) and
        for 4 (a training batch's), which compiles the kernels for both."""
        for batch in (1, 4):
            v0 = torch.zeros((batch, self.n_nodes), dtype=torch.float32, device=self.device)
            movie = torch.full((batch, 2, len(self.layout.hex_position)), 0.5, dtype=torch.float32, device=self.device)
            ones = torch.ones(self.n_types, dtype=torch.float32, device=self.device)
            term_w = torch.zeros(self.n_terms, dtype=torch.float32, device=self.device)
            out, saved = self.forward(v0, movie, term_w, ones, ones, 0.02)
            self.backward(saved, torch.ones_like(out))
        torch.cuda.synchronize(self.device)

    def _padded_index(self, key: np.ndarray, ptr: np.ndarray, n_types: int) -> torch.Tensor:
        """(n_padded,) index into ``[weights..., 0]`` placing each term in its padded group (pad_terms's
        order: the terms of a group in their order, then the padding terms pointing at the trailing 0)."""
        index = np.full(ptr[-1], len(key), np.int64)
        for t in range(n_types):
            mine = np.flatnonzero(key == t)
            index[ptr[t]: ptr[t] + len(mine)] = mine
        return torch.as_tensor(index).to(self.device)

    def _padded(self, term_w: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return torch.cat([term_w, term_w.new_zeros(1)])[index].contiguous()

    def _launch(self):
        return torch.cuda.device(self.device) if self.device.type == "cuda" else nullcontext()

    def _blocks(self, batch: int):
        """(block_b, lanes): samples per program and per grid row (the batch rounded up to whole blocks)."""
        block_b = min(int(self.config["block_b"]), _next_power_of_two(batch))
        return block_b, -(-batch // block_b) * block_b

    def _per_type(self, grid: torch.Tensor) -> torch.Tensor:
        """(n_types,) float64 sums over every cell type's positions of a (n_positions,) float64 array."""
        return grid[: self.n_grid].view(self.n_types, self.layout.type_stride).sum(1)

    def forward(self, v0: torch.Tensor, movie: torch.Tensor, term_w: torch.Tensor, inv: torch.Tensor,
                bias: torch.Tensor, dt: float):
        """Integrate; returns (activity (B, T, n_nodes) tensor, saved tensors for :meth:`backward`).

        v0 : (B, n_nodes) initial voltages; movie : (B, T, n_hexals); term_w : (n_terms,) weights
        sign x exp(count) x strength; inv, bias : (n_types,). All float32 on this device.
        """
        forward_step = self.kernels[0]
        batch, n_frames, n_hex = movie.shape
        block_b, lanes = self._blocks(batch)
        npos = self.layout.n_positions
        f32 = dict(dtype=torch.float32, device=self.device)
        V = torch.zeros((n_frames + 1, npos, lanes), **f32)
        U = torch.zeros((n_frames, npos, lanes), **f32)
        V[0, self.node_position, :batch] = v0.detach().to(**f32).t()
        frames = torch.zeros((n_frames, n_hex, lanes), **f32)
        frames[:, :, :batch] = movie.detach().to(**f32).permute(1, 2, 0)
        w = self._padded(term_w.detach().to(**f32), self._fwd_index)
        inv, bias = inv.detach().to(**f32).contiguous(), bias.detach().to(**f32).contiguous()
        c = self.config
        grid = (self.n_tiles, lanes // block_b)
        with self._launch():
            for t in range(n_frames):
                forward_step[grid](V[t], V[t + 1], U[t], frames[t], self.tile_pos, self.tile_count, self.tile_hex,
                                   self.tile_type, self.term_ptr, self.term_delta, w, inv, bias, float(dt), lanes,
                                   BLOCK_P=self.block_p, BLOCK_B=block_b, UNROLL=int(c["unroll"]),
                                   WHILE_LOOP=interpret_mode(), num_warps=int(c["num_warps"]))
        out = V[1:, self.node_position, :batch].permute(2, 0, 1).contiguous()
        return out, (V, U, inv, batch, float(dt), term_w.detach().to(**f32))

    def backward(self, saved, grad_out: torch.Tensor):
        """Gradients (initial state (B, n_nodes), term weights (n_terms,), inv (n_types,), bias
        (n_types,); the last three float64) for ``grad_out`` (B, T, n_nodes)."""
        _, backward_step, weight_gradient = self.kernels
        V, U, inv, batch, dt, term_w = saved
        n_frames, npos, lanes = U.shape
        block_b, _ = self._blocks(batch)
        f32 = dict(dtype=torch.float32, device=self.device)
        tw = self._padded(term_w, self._bwd_index)
        a_type = inv * dt
        a = torch.zeros(npos, **f32)  # inv dt of every position's type (G is 0 where no node sits)
        a[: self.n_grid] = a_type.repeat_interleave(self.layout.type_stride)
        decay = (1 - a_type).contiguous()
        gout = grad_out.detach().to(**f32)
        G = torch.zeros((n_frames + 1, npos, lanes), **f32)  # G[t] = dL/dV[t]
        H = torch.zeros((n_frames, npos, lanes), **f32)  # H[t - 1] = inv dt G[t]
        G[n_frames, self.node_position, :batch] = gout[:, n_frames - 1].t()
        c = self.config
        grid = (self.n_tiles, lanes // block_b)
        with self._launch():
            for t in range(n_frames, 0, -1):
                torch.mul(G[t], a[:, None], out=H[t - 1])
                backward_step[grid](G[t], H[t - 1], V[t - 1], G[t - 1], self.tile_pos, self.tile_count,
                                    self.tile_type, self.tterm_ptr, self.tterm_delta, tw, decay, lanes,
                                    BLOCK_P=self.block_p, BLOCK_B=block_b, UNROLL=int(c["unroll"]),
                                    WHILE_LOOP=interpret_mode(), num_warps=int(c["num_warps"]))
                if t >= 2:  # the output's gradient of this state (node positions are distinct)
                    G[t - 1, self.node_position, :batch] += gout[:, t - 2].t()
            n_lane_blocks = lanes // block_b
            ksplit = int(c["ksplit"])
            partial = torch.zeros((self.n_terms, self.max_rank, n_lane_blocks), **f32)
            weight_gradient[(self.n_tiles, ksplit, n_lane_blocks)](
                H, V, partial, self.tile_pos, self.tile_count, self.tile_type, self.tile_rank, self.unpadded_ptr,
                self.unpadded_delta, n_frames, npos * lanes, lanes, self.max_rank, n_lane_blocks,
                BLOCK_P=self.block_p, BLOCK_B=block_b, KSPLIT=ksplit, WHILE_LOOP=interpret_mode(),
                num_warps=int(c["num_warps"]))
        gw = partial.double().sum((1, 2))
        gb = self._per_type(H.sum(0, dtype=torch.float64).sum(1))
        ginv = self._per_type((G[1:] * U).sum(0, dtype=torch.float64).sum(1)) * dt
        g0 = G[0, self.node_position, :batch].t().contiguous()
        return g0, gw, ginv, gb


class TritonSimulate(torch.autograd.Function):
    """Activity (B, T, n_nodes) from (initial state, movie, term weights, inv, bias); the backward
    pass is the Triton adjoint. No gradient for the movie."""

    @staticmethod
    def forward(ctx, sim, v0, movie, term_w, inv, bias, dt):
        out, saved = sim.forward(v0, movie, term_w, inv, bias, dt)
        ctx.sim = sim
        ctx.saved = saved if any(ctx.needs_input_grad) else None
        ctx.dtypes = (v0.dtype, term_w.dtype)
        return out.to(v0.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.saved is None:
            raise RuntimeError("no saved state for the Triton backward pass")
        g0, gw, ginv, gb = ctx.sim.backward(ctx.saved, grad_out)
        dtype = ctx.dtypes[1]
        return None, g0.to(ctx.dtypes[0]), None, gw.to(dtype), ginv.to(dtype), gb.to(dtype), None


def simulate_triton(sim: TritonSimulation, module, v0: torch.Tensor, movie: torch.Tensor, dt: float) -> torch.Tensor:
    """The forward of :class:`flycluster.training.NetworkModule` on the Triton kernels (the term
    weights and ``inv`` computed with torch, so that autograd carries their gradients on)."""
    term_w = module.weights_of(sim.term_type, sim.term_group)
    return TritonSimulate.apply(sim, v0, movie, term_w, module.inv_tau(dt), module.nodes_bias, dt)


__all__ = ["TritonSimulation", "TritonSimulate", "simulate_triton", "CONFIG"]
