"""The network as a stencil on padded hexagonal grids: the data layout of the native CPU kernel.

A flyvis network is translation invariant. Every edge of one *term* — an (edge type, du, dv)
triple — has the same weight (sign x exp(syn_count) x strength are shared by the edge type and its
offset), and its source is its target shifted by ``-(du, dv)`` in the source cell type's lattice;
the edges of a term are exactly the (target, source) pairs where both nodes exist. So with every
cell type's voltages on its own zero-padded square grid in axial coordinates, flattened as
``[type][u][v]``, the source of term k for the target at grid position p is ``p + delta[k]`` for
all p, with one ``delta`` per term. The sparse product of the Euler step becomes a stencil with no
per-edge index (``csrc/stencil.c``). Grid positions without a node hold 0 and are never written,
which also drops the edges to nodes outside the lattice exactly as flyvis does.

Grid of one cell type: ``width = 2 * extent + 1 + 2 * pad`` rows (u) of ``width`` columns (v),
``pad`` = the largest |du| or |dv| of any edge; node (u, v) sits at row ``u + extent + pad``,
column ``v + extent + pad``. Positions of type t start at ``t * width**2``; a few spare positions
at the end of the array let the kernel read past the last target of a row.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

#: spare grid positions after the last cell type (the kernel computes up to 8 targets at once)
_SPARE = 16
#: the layout of every connectome in use, kept as long as the connectome
_LAYOUTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class StencilLayout:
    """Where every node of a connectome sits on the padded grids, and the stencil's terms.

    Attributes (all numpy arrays are read-only views of the connectome's structure)
    ----------
    extent, pad, width : lattice extent, padding and grid width (positions per row).
    type_stride : grid positions per cell type (``width**2``).
    n_positions : length of a state array (types x type_stride + spare).
    node_position : (n_nodes,) int64 grid position of every node.
    seg_start, seg_len, seg_type : (n_segments,) runs of consecutive grid positions holding nodes
        of one cell type (a hexagon row, or a single node of a sparse type such as Lawf1).
    hex_position : (n_hexals,) int64 position of hexal h (flyvis u-major order) within one type's grid.
    record_position : (n_types,) int64 grid position of each type's central cell.
    term_type, term_du, term_dv : (n_terms,) the (edge type, du, dv) of each term, ordered by
        (target type, source type, du, dv).
    term_target : (n_terms,) target cell type of each term.
    term_delta : (n_terms,) int64 source minus target grid position.
    edge_term : (n_edges,) int64 term of every edge of the connectome.
    term_first_edge : (n_terms,) one edge of each term.
    """

    extent: int
    pad: int
    width: int
    type_stride: int
    n_positions: int
    node_position: np.ndarray
    seg_start: np.ndarray
    seg_len: np.ndarray
    seg_type: np.ndarray
    hex_position: np.ndarray
    record_position: np.ndarray
    term_type: np.ndarray
    term_du: np.ndarray
    term_dv: np.ndarray
    term_target: np.ndarray
    term_delta: np.ndarray
    edge_term: np.ndarray
    term_first_edge: np.ndarray

    @classmethod
    def from_connectome(cls, connectome) -> "StencilLayout":
        """Layout of a :class:`flycluster.connectome.Connectome` (about 0.3 s at extent 15)."""
        c = connectome
        extent = int(c.extent)
        n_types = len(c.cell_types)
        du, dv = np.asarray(c.edge_du, np.int64), np.asarray(c.edge_dv, np.int64)
        pad = int(max(np.abs(du).max(initial=0), np.abs(dv).max(initial=0)))
        width = 2 * extent + 1 + 2 * pad
        stride = width * width
        node_type = np.asarray(c.node_type, np.int64)
        u, v = np.asarray(c.node_u, np.int64), np.asarray(c.node_v, np.int64)
        if np.abs(u).max() > extent or np.abs(v).max() > extent:
            raise ValueError(f"node coordinates exceed the connectome extent {extent}")
        position = node_type * stride + (u + extent + pad) * width + (v + extent + pad)
        if len(np.unique(position)) != len(position):
            raise ValueError("two nodes of one cell type share a lattice position")
        # check the stencil property: source - target = -(du, dv) for every edge
        src, tgt = np.asarray(c.edge_source, np.int64), np.asarray(c.edge_target, np.int64)
        if not (np.array_equal(u[src] - u[tgt], -du) and np.array_equal(v[src] - v[tgt], -dv)):
            raise ValueError("edge offsets do not match the node positions (source = target - (du, dv))")

        ordered = np.sort(position)
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        starts, ends = np.r_[0, breaks], np.r_[breaks, len(ordered)]
        seg_start = ordered[starts].astype(np.int64)
        seg_len = (ends - starts).astype(np.int32)
        seg_type = (seg_start // stride).astype(np.int32)

        edge_type = np.asarray(c.edge_type, np.int64)
        keys, first_edge, edge_term = np.unique(np.stack([edge_type, du, dv], axis=1), axis=0,
                                                return_index=True, return_inverse=True)
        edge_term = edge_term.ravel()
        term_src = np.asarray(c.edge_type_source, np.int64)[keys[:, 0]]
        term_tgt = np.asarray(c.edge_type_target, np.int64)[keys[:, 0]]
        order = np.lexsort((keys[:, 2], keys[:, 1], term_src, term_tgt))
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        keys, first_edge, term_src, term_tgt = keys[order], first_edge[order], term_src[order], term_tgt[order]
        delta = (term_src - term_tgt) * stride - keys[:, 1] * width - keys[:, 2]

        inputs = np.asarray(c.input_index)  # (n_input_types, n_hexals) nodes fed the movie
        in_grid = position[inputs] - node_type[inputs] * stride
        if not np.all(in_grid == in_grid[0]):
            raise ValueError("the input cell types do not share one hexal order")
        hex_position = in_grid[0]
        return cls(extent=extent, pad=pad, width=width, type_stride=stride,
                   n_positions=n_types * stride + _SPARE, node_position=position,
                   seg_start=seg_start, seg_len=seg_len, seg_type=seg_type,
                   hex_position=hex_position.astype(np.int64),
                   record_position=position[np.asarray(c.central_cells_index)].astype(np.int64),
                   term_type=keys[:, 0], term_du=keys[:, 1], term_dv=keys[:, 2], term_target=term_tgt,
                   term_delta=delta.astype(np.int64), edge_term=rank[edge_term].astype(np.int64),
                   term_first_edge=first_edge.astype(np.int64))

    @classmethod
    def of(cls, connectome) -> "StencilLayout":
        """The layout of ``connectome``, built once and kept as long as the connectome."""
        layout = _LAYOUTS.get(connectome)
        if layout is None:
            layout = _LAYOUTS[connectome] = cls.from_connectome(connectome)
        return layout

    @property
    def n_terms(self) -> int:
        return len(self.term_delta)

    def term_weights(self, edge_weight: np.ndarray) -> np.ndarray:
        """(n_terms,) float32 weight of each term from the (n_edges,) per-edge weights.

        Raises ``ValueError`` when the edges of a term do not share one weight (parameters that are
        not translation invariant cannot run on the stencil).
        """
        edge_weight = np.asarray(edge_weight, dtype=np.float32)
        weights = edge_weight[self.term_first_edge]
        differs = weights[self.edge_term] != edge_weight
        if np.any(differs):
            raise ValueError(f"{int(differs.sum())} edges differ in weight from the other edges of their "
                             "(edge type, du, dv): the parameters are not translation invariant")
        return weights

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        """(n_nodes, lanes) node values of a grid."""
        return grid[self.node_position]
