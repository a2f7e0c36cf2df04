"""The CUDA kernel: the stencil of :mod:`flycluster.kernels.stencil` as one Triton kernel per Euler step.

Same math and layout as the native CPU kernel (``csrc/stencil.c``): every cell type's voltages on
its own zero-padded hexagonal grid, and the synaptic sum of the target at grid position p is
``sum_k w[k] * relu(V)[p + delta[k]]`` over the terms k of its cell type. Here the grids hold the
whole batch, ``(n_positions, batch)`` float32 with samples contiguous, and one Triton program
computes a *tile* of ``block_p`` target positions of one cell type for ``block_b`` samples: per term
it loads one ``(BLOCK_P, BLOCK_B)`` block of relu(V) (coalesced along the samples), scales and
accumulates it, then applies decay, drive and the movie input and writes V and relu(V).

Triton ships with PyTorch's CUDA builds on Linux. Where it is missing or cannot compile for the
GPU (or the parameters are not translation invariant), :func:`flycluster.kernels.make_kernel` uses
:class:`flycluster.kernels.sparse.TorchKernel` (cuSPARSE CSR products) instead, with one warning.
With ``TRITON_INTERPRET=1`` Triton runs the kernel on the CPU through numpy, which the tests use to
check it without a GPU.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import numpy as np
import torch

from flycluster.kernels.stencil import StencilLayout

#: defaults of the Triton kernel: target positions (block_p) x samples (block_b) per program, terms
#: loaded together (unroll), warps per program, software-pipeline stages, program order
CONFIG = {"block_p": 64, "block_b": 32, "unroll": 4, "num_warps": 4, "num_stages": 1, "lanes_first": False}


class TritonUnavailable(RuntimeError):
    """Triton cannot run here (the message says why)."""


def interpret_mode() -> bool:
    """True when ``TRITON_INTERPRET=1``: Triton kernels run on the CPU (slowly), for tests. It must be
    set before triton is first imported in the process."""
    return os.environ.get("TRITON_INTERPRET", "0").strip() == "1"


_JITTED: dict = {}
triton = tl = None  # imported on first use (not every flycluster process needs triton)


def _step_kernel():
    """The jitted step kernel (created on first use, so ``TRITON_INTERPRET`` set by then applies)."""
    global triton, tl  # module globals: the interpreter patches the ``tl`` of the kernel's globals
    key = interpret_mode()
    if key in _JITTED:
        return _JITTED[key]
    try:
        import triton
        import triton.language as tl
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise TritonUnavailable(f"triton is not installed ({exc})") from exc

    @triton.jit
    def stencil_step(R, Rn, V, frame, tile_pos, tile_hex, tile_type, term_ptr, term_delta, term_w,
                     decay, drive, in_gain, stride, ramp,
                     BLOCK_P: tl.constexpr, BLOCK_B: tl.constexpr, UNROLL: tl.constexpr, FADE: tl.constexpr,
                     LANES_FIRST: tl.constexpr, WHILE_LOOP: tl.constexpr):
        if LANES_FIRST:  # consecutive programs: the same tile, neighbouring lanes
            lane_block = tl.program_id(0)
            tile = tl.program_id(1)
        else:  # consecutive programs: neighbouring tiles, the same lanes
            tile = tl.program_id(0)
            lane_block = tl.program_id(1)
        lanes = lane_block * BLOCK_B + tl.arange(0, BLOCK_B)
        slot = tile * BLOCK_P + tl.arange(0, BLOCK_P)
        pos = tl.load(tile_pos + slot)  # grid position, -1: unused slot
        used = pos >= 0
        mask = used[:, None] & (lanes < stride)[None, :]
        pos = tl.where(used, pos, 0).to(tl.int64)
        t = tl.load(tile_type + tile)
        k0 = tl.load(term_ptr + t)
        k1 = tl.load(term_ptr + t + 1)  # k1 - k0: a multiple of UNROLL (zero-weight padding terms)
        acc = tl.zeros((BLOCK_P, BLOCK_B), dtype=tl.float32)
        if WHILE_LOOP:  # Triton's interpreter cannot loop over range(tensor, tensor) with numpy >= 2.4
            k = k0
            while k < k1:
                for u in tl.static_range(UNROLL):
                    src = pos + tl.load(term_delta + k + u)
                    acc += tl.load(term_w + k + u) * tl.load(R + src[:, None] * stride + lanes[None, :], mask=mask,
                                                             other=0.0)
                k += UNROLL
        else:  # the same body
            for k in range(k0, k1, UNROLL):
                for u in tl.static_range(UNROLL):
                    src = pos + tl.load(term_delta + k + u)
                    acc += tl.load(term_w + k + u) * tl.load(R + src[:, None] * stride + lanes[None, :], mask=mask,
                                                             other=0.0)
        here = pos[:, None] * stride + lanes[None, :]
        x = acc + tl.load(drive + t) + tl.load(decay + t) * tl.load(V + here, mask=mask, other=0.0)
        hexal = tl.load(tile_hex + slot)  # -1: no movie input
        has_input = (hexal >= 0)[:, None] & mask
        lum = tl.load(frame + tl.where(hexal >= 0, hexal, 0).to(tl.int64)[:, None] * stride + lanes[None, :],
                      mask=has_input, other=0.0)
        if FADE:
            lum = 0.5 + ramp * (lum - 0.5)
        x += tl.where(has_input, tl.load(in_gain + t) * lum, 0.0)
        tl.store(V + here, x, mask=mask)
        tl.store(Rn + here, tl.maximum(x, 0.0), mask=mask)

    _JITTED[key] = stencil_step
    return stencil_step


def build_tiles(layout: StencilLayout, block: int = 32):
    """Group every cell type's node positions into tiles of at most ``block`` positions.

    Consecutive runs of one type (hexagon rows; single nodes of sparse types) are packed greedily
    in grid order; a run longer than ``block`` is split.

    Returns
    -------
    tile_pos : (n_tiles, block) int64 grid positions, -1 in unused slots.
    tile_type : (n_tiles,) int32 cell type of each tile.
    """
    tiles, types = [], []
    current, current_type = [], -1
    for start, length, t in zip(layout.seg_start, layout.seg_len, layout.seg_type):
        run = list(range(int(start), int(start) + int(length)))
        while run:
            if current and (t != current_type or len(current) + min(len(run), block) > block):
                tiles.append(current)
                types.append(current_type)
                current = []
            take = run[: block - len(current)]
            run = run[len(take):]
            current, current_type = current + take, int(t)
    if current:
        tiles.append(current)
        types.append(current_type)
    tile_pos = np.full((len(tiles), block), -1, dtype=np.int64)
    for i, positions in enumerate(tiles):
        tile_pos[i, : len(positions)] = positions
    return tile_pos, np.asarray(types, dtype=np.int32)


def tile_hexals(layout: StencilLayout, tile_pos: np.ndarray, tile_type: np.ndarray, is_input: np.ndarray):
    """(n_tiles, block) hexal of every tile slot of an input (photoreceptor) type, -1 elsewhere.

    tile_pos, tile_type : from :func:`build_tiles`; is_input : (n_types,) bool.
    """
    hex_of = np.full(layout.type_stride, -1, dtype=np.int64)
    hex_of[layout.hex_position] = np.arange(len(layout.hex_position))
    within = np.where(tile_pos >= 0, tile_pos - tile_type[:, None].astype(np.int64) * layout.type_stride, 0)
    return np.where((tile_pos >= 0) & np.asarray(is_input)[tile_type][:, None], hex_of[within], -1)


def pad_terms(term_target, term_delta, term_weight, n_types: int, multiple: int):
    """Terms grouped by target type, each group padded with zero-weight terms (delta 0) to a
    multiple of ``multiple``. Returns (term_ptr (n_types + 1,), delta, weight)."""
    deltas, weights, ptr = [], [], [0]
    for t in range(n_types):
        mine = np.flatnonzero(term_target == t)
        n_pad = -len(mine) % multiple
        deltas += [term_delta[mine], np.zeros(n_pad, np.int64)]
        weights += [term_weight[mine], np.zeros(n_pad, np.float32)]
        ptr.append(ptr[-1] + len(mine) + n_pad)
    return np.asarray(ptr, np.int32), np.concatenate(deltas), np.concatenate(weights)


class TritonKernel:
    """Euler steps on CUDA with the Triton stencil kernel; the batch integrated at once.

    Parameters
    ----------
    layout : :class:`flycluster.kernels.stencil.StencilLayout` of the connectome.
    term_weight : (n_terms,) float32 weight of each term, already multiplied by a = dt / max(tau, dt)
        of its target type.
    decay, drive, input_gain : (n_types,) float32: 1 - a, a * bias, and a for the photoreceptor
        types (0 for the others).
    device : a CUDA device (or "cpu" with ``TRITON_INTERPRET=1``, for tests).
    **config : overrides of :data:`CONFIG` (tile size, unrolling, warps, pipeline stages).
    """

    default_batch_size = 1024

    def __init__(self, layout: StencilLayout, term_weight, decay, drive, input_gain, device="cuda", **config):
        self.device = torch.device(device)
        if self.device.type != "cuda" and not interpret_mode():
            raise TritonUnavailable("the Triton kernel needs a CUDA device (or TRITON_INTERPRET=1 to test it on CPU)")
        unknown = set(config) - set(CONFIG)
        if unknown:
            raise ValueError(f"unknown Triton kernel options {sorted(unknown)}; known: {sorted(CONFIG)}")
        self.config = {**CONFIG, **config}
        self.kernel = _step_kernel()
        self.layout = layout
        self.block_p, self.block_b = int(self.config["block_p"]), int(self.config["block_b"])
        n_types = len(decay)
        term_weight = np.asarray(term_weight, dtype=np.float32)
        keep = term_weight != 0  # clamped strengths: exact to skip, relu(V) is finite
        term_ptr, term_delta, term_w = pad_terms(layout.term_target[keep], layout.term_delta[keep], term_weight[keep],
                                                 n_types, int(self.config["unroll"]))
        tile_pos, tile_type = build_tiles(layout, self.block_p)
        tile_hex = tile_hexals(layout, tile_pos, tile_type, np.asarray(input_gain, dtype=np.float32) != 0)

        def dev(array, dtype):
            return torch.as_tensor(np.ascontiguousarray(array, dtype=dtype)).to(self.device)

        self.tile_pos = dev(tile_pos, np.int32)
        self.tile_hex = dev(tile_hex, np.int32)
        self.tile_type = dev(tile_type, np.int32)
        self.term_ptr = dev(term_ptr, np.int32)
        self.term_delta = dev(term_delta, np.int32)
        self.term_w = dev(term_w, np.float32)
        self.decay = dev(decay, np.float32)
        self.drive = dev(drive, np.float32)
        self.in_gain = dev(input_gain, np.float32)
        self.node_position = torch.as_tensor(layout.node_position).to(self.device)
        self.record_position = torch.as_tensor(layout.record_position).to(self.device)
        self.n_tiles = len(tile_type)
        if self.device.type == "cuda":  # compile now: a GPU Triton cannot target means the fallback, not a crash later
            try:
                v, r, rn = self._grids(np.zeros(len(layout.node_position), np.float32), self.block_b)
                frame = torch.full((len(layout.hex_position), self.block_b), 0.5, device=self.device)
                for ramp in (None, 0.5):  # both variants of the kernel
                    self._step(v, r, rn, frame, ramp)
                torch.cuda.synchronize(self.device)
            except Exception as exc:  # triton raises several types (compilation, out of resources, driver)
                name = torch.cuda.get_device_name(self.device)
                raise TritonUnavailable(f"Triton could not compile or run the kernel on {name}: "
                                        f"{type(exc).__name__}: {str(exc)[:300]}") from exc

    def _lanes(self, batch: int) -> int:
        """Lanes (samples) per grid row: the batch rounded up to whole lane blocks."""
        return -(-batch // self.block_b) * self.block_b

    def _grids(self, v0: np.ndarray, lanes: int):
        """V and relu(V) grids (n_positions, lanes) holding ``v0`` at every node, zero elsewhere."""
        v = torch.zeros((self.layout.n_positions, lanes), dtype=torch.float32, device=self.device)
        v[self.node_position] = torch.as_tensor(np.asarray(v0, dtype=np.float32)).to(self.device)[:, None]
        return v, torch.relu(v), torch.zeros_like(v)

    def _step(self, v, r, rn, frame, ramp: float | None) -> None:
        """One Euler step of the grids ``v`` (in place) and ``r`` = relu(v) -> ``rn``."""
        c = self.config
        lanes = v.shape[1]
        n_lane_blocks = lanes // self.block_b
        grid = (n_lane_blocks, self.n_tiles) if c["lanes_first"] else (self.n_tiles, n_lane_blocks)
        with torch.cuda.device(self.device) if self.device.type == "cuda" else nullcontext():  # e.g. cuda:1
            self.kernel[grid](r, rn, v, frame, self.tile_pos, self.tile_hex, self.tile_type, self.term_ptr,
                              self.term_delta, self.term_w, self.decay, self.drive, self.in_gain, lanes,
                              0.0 if ramp is None else float(ramp),
                              BLOCK_P=self.block_p, BLOCK_B=self.block_b, UNROLL=int(c["unroll"]),
                              FADE=ramp is not None, LANES_FIRST=bool(c["lanes_first"]),
                              WHILE_LOOP=interpret_mode(), num_warps=int(c["num_warps"]),
                              num_stages=int(c["num_stages"]))

    def run(self, v0: np.ndarray, movie: np.ndarray, n_fade: int = 0, ramp=None) -> np.ndarray:
        """Central-cell voltages (samples, frames, n_types) float32 for ``movie``.

        v0 : (n_nodes,) initial voltages of every sample. movie : (samples, frames, n_hexals) float32
        without NaN. The first ``n_fade`` steps feed ``0.5 + ramp[k] * (movie[:, 0] - 0.5)``.
        """
        batch, n_frames, n_hex = movie.shape
        lanes = self._lanes(batch)
        # (frames, hexals, lanes) on the device, transposed there; spare lanes see grey
        upload = torch.from_numpy(np.require(movie, np.float32, ["C", "W"])).to(self.device)  # W: torch wants it
        frames = torch.full((n_frames, n_hex, lanes), 0.5, dtype=torch.float32, device=self.device)
        frames[:, :, :batch] = upload.permute(1, 2, 0)
        del upload
        v, r, rn = self._grids(v0, lanes)
        out = torch.empty((n_frames, len(self.record_position), lanes), dtype=torch.float32, device=self.device)
        for k in range(n_fade):
            self._step(v, r, rn, frames[0], float(ramp[k]))
            r, rn = rn, r
        for f in range(n_frames):
            self._step(v, r, rn, frames[f], None)
            r, rn = rn, r
            torch.index_select(v, 0, self.record_position, out=out[f])
        return out[:, :, :batch].permute(2, 0, 1).contiguous().cpu().numpy()

    def relax(self, v0: np.ndarray, n_steps: int, luminance: float = 0.5) -> np.ndarray:
        """(n_nodes,) float32 voltages after ``n_steps`` steps of constant ``luminance`` from ``v0``."""
        lanes = self._lanes(1)
        v, r, rn = self._grids(v0, lanes)
        frame = torch.full((len(self.layout.hex_position), lanes), float(luminance), dtype=torch.float32,
                           device=self.device)
        for _ in range(n_steps):
            self._step(v, r, rn, frame, None)
            r, rn = rn, r
        return v[self.node_position, 0].cpu().numpy().astype(np.float32)
