"""flyvis's optic-flow decoder (``DecoderGAVP``) and its hexagonal convolution.

Structure (flyvis 1.2.0, ``task/decoder.py``; task config ``decoder.flow``: shape [8, 2],
kernel_size 5, const_weight 0.001, p_dropout 0.5, batch norm, Softplus, normalize_last):

1. input: ``relu`` of the activity of the connectome's output cell types (34 types, every
   hexal; ``output_node_index(connectome, cell_types)`` chooses other types, not flyvis),
   stored in a (2 e + 1) x (2 e + 1) map at ``[u - u_min, v - v_min]`` (zeros outside the
   hexagon). The map is gathered in one indexing step in channels-last memory order
   (``torch.channels_last``), which the CPU convolutions run ~1.5x faster on; values are the
   same as flyvis's (channels-first) map;
2. ``base``: HexConv(n_types -> 8, kernel 5, padding 2), BatchNorm2d(8), Softplus, Dropout(0.5);
3. ``decoder``: HexConv(8 -> 3, kernel 5, padding 2);
4. ``normalize_last``: out = out[:, :2] / (softplus(out[:, 2:]) + 1);
5. read back at the hexals -> (samples, frames, 2, n_hexals).

A HexConv is a Conv2d whose 5 x 5 kernel is masked to the 19 entries of a hexagon of radius 2
(|du|, |dv|, |du + dv| <= 2). Weights and biases start at 0.001 (then masked). flyvis masks
the weight in place before every forward; here the mask multiplies the weight inside the
forward, which gives the same outputs and keeps the masked entries at exactly 0 under Adam
(flyvis's masked entries drift between forwards but never act). Module and parameter names
are flyvis's, so ``state_dict()`` has flyvis's keys (``base.0.weight``, ``base.1.running_mean``,
``decoder.0.bias`` ...).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flycluster.stimuli.lattice import extent_from_n_hexals, hex_coordinates

__all__ = ["HexConv2d", "Dropout", "FlowDecoder", "output_node_index"]


class HexConv2d(nn.Conv2d):
    """Conv2d with a hexagonal kernel (odd ``kernel_size``) in axial (u, v) map storage."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5,
                 const_weight: float | None = 1e-3):
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        if const_weight is not None:
            with torch.no_grad():
                self.weight.fill_(const_weight)
                self.bias.fill_(const_weight)
        u, v = hex_coordinates(kernel_size // 2)
        mask = torch.zeros(kernel_size, kernel_size)
        mask[u - u.min(), v - v.min()] = 1.0
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same module, same ``p``; each element zeroed with probability ``p``, the
    rest scaled by ``1 / (1 - p)``) whose mask comes from ``torch.rand`` (uniform >= p) instead
    of ``bernoulli_``: the same distribution, ~2.5x faster on a CPU (bernoulli_ cost ~5 % of a
    training iteration). Masks are drawn from torch's global generator, as nn.Dropout's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0.0
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


def output_node_index(connectome, cell_types=None) -> np.ndarray:
    """(n_types, n_hexals) node index of each decoder input type at each hexal (u-major).

    ``cell_types``: the types the decoder reads, in this order; None (flyvis): the
    connectome's output cell types (``output_units``, 34 types). A name the connectome does
    not have raises ValueError naming it.
    """
    types = list(connectome.output_cell_types if cell_types is None else cell_types)
    if not types:
        raise ValueError("the connectome names no output cell types (output_units)"
                         if cell_types is None else "decoder cell types: expected at least one")
    unknown = [t for t in types if t not in connectome.cell_types]
    if unknown:
        raise ValueError(f"decoder cell types {unknown} are not cell types of the connectome")
    if len(set(types)) != len(types):
        raise ValueError(f"decoder cell types {types} name a type twice")
    rows = [np.asarray(connectome.nodes_of(t)) for t in types]
    bad = [t for t, r in zip(types, rows) if len(r) != connectome.n_hexals]
    if bad:
        raise ValueError(f"decoder cell types {bad} do not have one node per hexal")
    return np.stack(rows)


class FlowDecoder(nn.Module):
    """flyvis's ``DecoderGAVP`` for the flow task: activity -> (u, v) per hexal and frame.

    Parameters
    ----------
    output_index : int array (n_types, n_hexals)
        Node index of each output cell type at each hexal (:func:`output_node_index`).
    shape : channels of the hidden layers then the output (flyvis: [8, 2]).
    kernel_size, p_dropout, const_weight, batch_norm : as flyvis (5, 0.5, 0.001, True).
    rectify : read relu(activity), as flyvis (True); False reads the voltage itself (not
        flyvis), so that a cell at V <= 0 still passes a gradient.
    """

    def __init__(self, output_index, shape=(8, 2), kernel_size: int = 5, p_dropout: float = 0.5,
                 const_weight: float | None = 1e-3, batch_norm: bool = True,
                 rectify: bool = True):
        super().__init__()
        self.rectify = bool(rectify)
        output_index = np.asarray(output_index, dtype=np.int64)
        self.register_buffer("output_index", torch.from_numpy(output_index), persistent=False)
        self.extent = extent_from_n_hexals(output_index.shape[1])
        u, v = hex_coordinates(self.extent)
        self.register_buffer("_u", torch.from_numpy(u - u.min()), persistent=False)
        self.register_buffer("_v", torch.from_numpy(v - v.min()), persistent=False)
        self.size = 2 * self.extent + 1
        in_channels = output_index.shape[0]
        # (size, size, types) map -> node index; n_nodes (outside the hexagon) reads the zero
        # column appended in forward (index_select: its backward is ~2x faster than indexing's)
        grid_index = np.full((self.size, self.size, in_channels), -1, dtype=np.int64)
        grid_index[u - u.min(), v - v.min(), :] = output_index.T
        self.register_buffer("_grid_index", torch.from_numpy(grid_index.reshape(-1)),
                             persistent=False)
        self._last_node = int(output_index.max())
        base = []
        for c in shape[:-1]:
            if c == 0:
                continue
            base.append(HexConv2d(in_channels, c, kernel_size, const_weight))
            if batch_norm:
                base.append(nn.BatchNorm2d(c))
            base.append(nn.Softplus())
            if p_dropout:
                base.append(Dropout(p_dropout))
            in_channels = c
        self.base = nn.Sequential(*base)
        head = []
        if not base and batch_norm:
            head.append(nn.BatchNorm2d(in_channels))
        self.out_channels = int(shape[-1])
        head.append(HexConv2d(in_channels, self.out_channels + 1, kernel_size, const_weight))
        self.decoder = nn.Sequential(*head)

    def forward(self, activity: torch.Tensor) -> torch.Tensor:
        """activity (samples, frames, n_nodes) -> flow (samples, frames, 2, n_hexals)."""
        n_samples, n_frames, n_nodes = activity.shape
        if self._last_node >= n_nodes:
            raise ValueError(f"activity has {n_nodes} nodes; the decoder reads node "
                             f"{self._last_node}")
        flat = F.pad(activity.reshape(n_samples * n_frames, n_nodes), (0, 1))  # zero column
        types = self.output_index.shape[0]
        # (S*F, size, size, types) contiguous = an NCHW map in channels-last memory order
        index = torch.where(self._grid_index < 0, n_nodes, self._grid_index)
        grid = flat.index_select(1, index)
        if self.rectify:
            grid = torch.relu(grid)
        grid = grid.reshape(
            n_samples * n_frames, self.size, self.size, types).permute(0, 3, 1, 2)
        out = self.decoder(self.base(grid))
        out = out[:, : self.out_channels] / (F.softplus(out[:, self.out_channels:]) + 1)
        out = out[:, :, self._u, self._v]
        return out.reshape(n_samples, n_frames, self.out_channels, -1)
