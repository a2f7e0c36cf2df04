"""The flyvis connectome: fetch the json, validate it, build nodes and edges for any extent.

The data file is ``fib25-fib19_v2.2.json`` from the flyvis 1.2.0 wheel (MIT licence). It lists
65 cell types (``nodes``, each with a ``pattern`` ``["stride", [su, sv]]``) and 605 synapse
specifications (``edges``: ``src``, ``tar``, ``alpha`` = sign, ``offsets`` = ``[[[du, dv],
n_syn], ...]``). From it we build, exactly as flyvis's ``ConnectomeFromAvgFilters`` does:

- nodes: for each cell type in json order, every hexagonal column ``(u, v)`` with
  ``|u|, |v|, |u + v| <= extent`` in u-major order whose coordinates are multiples of the
  type's strides (721 nodes per stride-1 type and 123 per Lawf type at extent 15);
- edges: the offsets of a spec with >= 3 offsets are completed by the integer points of their
  convex hull (``n_syn = 1`` for the added points); then every source node of type ``src``
  connects to the node of type ``tar`` at ``(u + du, v + dv)`` where that node exists,
  iterating offsets (outer) and source nodes (inner) in order.

At extent 15 this gives 45,669 nodes, 1,513,231 edges, 65 central cells and 604 edge types.
The build is vectorised (about a second) and its result is cached as an ``.npz`` keyed by the
json's sha256 and the extent, in the flycluster cache directory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from flycluster.errors import ConnectomeError
from flycluster.io_utils import atomic_path

CONNECTOME_FILE_NAME = "fib25-fib19_v2.2.json"
#: sha256 of ``flyvis/connectome/fib25-fib19_v2.2.json`` in the flyvis 1.2.0 wheel.
CONNECTOME_SHA256 = "bfbb0766251ff09e22723d0ebbf7b14793e70b3ae8ad0eea64eac9d28223351a"
#: pip requirement whose wheel ships the connectome json.
FLYVIS_REQUIREMENT = "flyvis==1.2.0"
WHEEL_MEMBER = "flyvis/connectome/fib25-fib19_v2.2.json"
#: version of the node/edge cache layout; bump when the cached arrays change meaning.
_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """Directory for downloaded and derived files: ``$FLYCLUSTER_CACHE``, else the user cache folder
    of the platform (``platformdirs.user_cache_dir("flycluster")``: ``$XDG_CACHE_HOME/flycluster``,
    by default ``~/.cache/flycluster`` on Linux)."""
    env = os.environ.get("FLYCLUSTER_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("flycluster", appauthor=False))


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- fetching ---------------------------------------------------------------------------------


def extract_connectome_from_wheel(wheel, dest_dir, expected_sha256: str = CONNECTOME_SHA256) -> Path:
    """Extract the connectome json from a flyvis wheel into ``dest_dir``, checking its sha256.

    Parameters
    ----------
    wheel : path to a ``flyvis-*.whl`` file (a zip archive).
    dest_dir : folder to write ``fib25-fib19_v2.2.json`` into (created if needed).
    expected_sha256 : hex digest the extracted bytes must have.

    Returns
    -------
    Path of the written json. The file appears only once complete and verified.
    """
    wheel = Path(wheel)
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(WHEEL_MEMBER)
    except KeyError:
        raise ConnectomeError(f"{wheel}: the wheel has no member {WHEEL_MEMBER!r}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConnectomeError(f"{wheel}: not a readable wheel (zip) file: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ConnectomeError(
            f"{wheel}!{WHEEL_MEMBER}: sha256 {digest} does not match the expected "
            f"{expected_sha256}; refusing to use an unknown connectome"
        )
    dest = Path(dest_dir) / CONNECTOME_FILE_NAME
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return dest


def fetch_connectome(dest_dir=None, requirement: str = FLYVIS_REQUIREMENT) -> Path:
    """Return the path of ``fib25-fib19_v2.2.json`` in ``dest_dir``, downloading it if needed.

    The json ships inside the flyvis wheel. When it is not already present (with the right
    sha256) in ``dest_dir``, the wheel is downloaded with ``pip download --no-deps`` from the
    package index pip is configured with (nothing is installed), the json is extracted,
    verified against :data:`CONNECTOME_SHA256` and written atomically.

    Parameters
    ----------
    dest_dir : folder for the json; default :func:`default_cache_dir`.
    requirement : pip requirement of the wheel (default ``flyvis==1.2.0``).
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else default_cache_dir()
    dest = dest_dir / CONNECTOME_FILE_NAME
    if dest.is_file():
        if file_sha256(dest) == CONNECTOME_SHA256:
            return dest
        warnings.warn(f"{dest}: sha256 mismatch, downloading it again", stacklevel=2)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flycluster-wheel-", dir=dest_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
               "--only-binary", ":all:", "--disable-pip-version-check", "-q", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ConnectomeError(
                f"could not download the {requirement} wheel to obtain {CONNECTOME_FILE_NAME} "
                f"(command: {' '.join(cmd)}; exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
                "\nGive the path of the json instead (connectome=...)."
            )
        return extract_connectome_from_wheel(wheels[0], dest_dir)


def resolve_connectome_path(path=None) -> Path:
    """The connectome json to use: ``path`` if given (must exist), else :func:`fetch_connectome`."""
    if path is None:
        return fetch_connectome()
    path = Path(path)
    if path.is_dir():
        path = path / CONNECTOME_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"connectome file {path} does not exist")
    return path


# -- schema -----------------------------------------------------------------------------------


def _schema_error(path, where, expected):
    return ConnectomeError(f"{path}: {where}: expected {expected}")


def parse_connectome_spec(spec: dict, path="<connectome>") -> dict:
    """Validate the json structure and return the parts we use.

    Returns a dict with ``cell_types`` (list of str), ``strides`` (int array (types, 2)),
    ``input_cell_types``, ``output_cell_types`` and ``edges`` (list of dicts with ``src``,
    ``tar``, ``sign`` (+-1), ``offsets`` (int array (n, 2)), ``n_syn`` (float array (n,))).
    Raises :class:`ConnectomeError` naming the file and key that does not fit.
    """
    if not isinstance(spec, dict):
        raise _schema_error(path, "top level", "a json object")
    for key in ("nodes", "edges", "input_units"):
        if key not in spec:
            raise _schema_error(path, f"key {key!r} missing", "keys 'nodes', 'edges', 'input_units'")
    if not isinstance(spec["nodes"], list) or not spec["nodes"]:
        raise _schema_error(path, "'nodes'", "a non-empty list of cell types")
    cell_types, strides = [], []
    for i, node in enumerate(spec["nodes"]):
        where = f"nodes[{i}]"
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            raise _schema_error(path, where, "an object with a string 'name'")
        pattern = node.get("pattern")
        if not (isinstance(pattern, list) and len(pattern) == 2):
            raise _schema_error(path, f"{where} ({node['name']}).pattern",
                                '["stride", [su, sv]], ["tile", n] or ["single", null]')
        kind, args = pattern
        if kind == "stride" and isinstance(args, list) and len(args) == 2 and all(
                isinstance(a, int) and a >= 1 for a in args):
            strides.append(tuple(args))
        elif kind == "tile" and isinstance(args, int) and args >= 1:
            strides.append((args, args))
        elif kind == "single":
            strides.append((0, 0))  # marker: one node at (0, 0)
        else:
            raise _schema_error(path, f"{where} ({node['name']}).pattern",
                                '["stride", [su, sv]] with positive ints, ["tile", n] or ["single", null]')
        cell_types.append(node["name"])
    if len(set(cell_types)) != len(cell_types):
        raise _schema_error(path, "nodes", "unique cell type names")
    known = set(cell_types)
    inputs = spec["input_units"]
    if not isinstance(inputs, list) or not inputs or not set(inputs) <= known:
        raise _schema_error(path, "'input_units'", "a non-empty list of cell type names from 'nodes'")
    outputs = spec.get("output_units", [])
    if not isinstance(spec["edges"], list) or not spec["edges"]:
        raise _schema_error(path, "'edges'", "a non-empty list of synapse specifications")
    edges = []
    for i, e in enumerate(spec["edges"]):
        where = f"edges[{i}]"
        if not isinstance(e, dict):
            raise _schema_error(path, where, "an object")
        for key in ("src", "tar", "alpha", "offsets"):
            if key not in e:
                raise _schema_error(path, f"{where}.{key} missing", "keys src, tar, alpha, offsets")
        if e["src"] not in known or e["tar"] not in known:
            raise _schema_error(path, f"{where} ({e['src']}->{e['tar']})", "src and tar among the 'nodes' names")
        if e["alpha"] not in (1, -1):
            raise _schema_error(path, f"{where}.alpha ({e['src']}->{e['tar']})", "+1 or -1")
        offs = e["offsets"]
        try:
            pts = np.array([o[0] for o in offs], dtype=np.int64).reshape(-1, 2)
            n_syn = np.array([o[1] for o in offs], dtype=np.float64)
            ok = len(offs) > 0 and all(len(o) == 2 and len(o[0]) == 2 for o in offs)
        except (TypeError, ValueError, IndexError):
            ok = False
        if not ok or not np.all(np.isfinite(n_syn)) or np.any(n_syn <= 0):
            raise _schema_error(path, f"{where}.offsets ({e['src']}->{e['tar']})",
                                "a non-empty list of [[du, dv], n_syn > 0]")
        edges.append(dict(src=e["src"], tar=e["tar"], sign=int(e["alpha"]), offsets=pts,
                          n_syn=n_syn, offsets_raw=offs))
    return dict(cell_types=cell_types, strides=np.array(strides, dtype=np.int64),
                input_cell_types=list(inputs), output_cell_types=list(outputs), edges=edges)


# -- construction -----------------------------------------------------------------------------


def hex_columns(extent: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of all hexagonal columns within ``extent``, u-major, as flyvis orders them.

    Returns two int64 arrays of length ``3 * extent * (extent + 1) + 1``.
    """
    us, vs = [], []
    for u in range(-extent, extent + 1):
        v = np.arange(max(-extent, -extent - u), min(extent, extent - u) + 1)
        us.append(np.full(len(v), u))
        vs.append(v)
    return np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64)


def fill_convex_hull(offsets: np.ndarray, n_syn: np.ndarray, n_syn_fill: float = 1.0):
    """Add the integer offsets inside the convex hull of ``offsets`` that are not listed.

    Same rule as flyvis: hull of the slightly inflated points (qhull option ``QJ``), interior
    test with ``matplotlib.path.Path.contains_points`` on the bounding-box grid (u-major).
    Returns (offsets (n', 2) int64, n_syn (n',) float64) with the added points appended.
    """
    from matplotlib.path import Path as MplPath
    from scipy.spatial import ConvexHull

    hull = ConvexHull((1 + 1e-6) * offsets, False, "QJ")
    polygon = MplPath(offsets[hull.vertices])
    gu, gv = np.mgrid[offsets[:, 0].min(): offsets[:, 0].max() + 1,
                      offsets[:, 1].min(): offsets[:, 1].max() + 1]
    grid = np.stack([gu.ravel(), gv.ravel()], axis=1)
    inside = grid[polygon.contains_points(grid)]
    known = {tuple(p) for p in offsets.tolist()}
    added = np.array([p for p in inside.tolist() if tuple(p) not in known], dtype=np.int64).reshape(-1, 2)
    return (np.concatenate([offsets, added]),
            np.concatenate([n_syn, np.full(len(added), float(n_syn_fill))]))


def _build_arrays(parsed: dict, extent: int, n_syn_fill: float = 1.0) -> dict:
    cell_types = parsed["cell_types"]
    n_types = len(cell_types)
    type_of = {t: i for i, t in enumerate(cell_types)}
    cu, cv = hex_columns(extent)
    node_type, node_u, node_v = [], [], []
    for t, (su, sv) in enumerate(parsed["strides"]):
        if su == 0:  # "single": one node at the centre
            keep_u, keep_v = np.zeros(1, np.int64), np.zeros(1, np.int64)
        else:
            keep = (cu % su == 0) & (cv % sv == 0)
            keep_u, keep_v = cu[keep], cv[keep]
        node_type.append(np.full(len(keep_u), t))
        node_u.append(keep_u)
        node_v.append(keep_v)
    node_type = np.concatenate(node_type).astype(np.int64)
    node_u = np.concatenate(node_u)
    node_v = np.concatenate(node_v)
    n_nodes = len(node_type)

    # Dense lookup (type, u, v) -> node index (-1 where absent); u, v in [-2e, 2e] after offsets.
    side = 2 * extent + 1
    lookup = np.full((n_types, side, side), -1, dtype=np.int64)
    lookup[node_type, node_u + extent, node_v + extent] = np.arange(n_nodes)
    type_nodes = [np.flatnonzero(node_type == t) for t in range(n_types)]

    src_l, tgt_l, nsyn_l, etype_l, du_l, dv_l = [], [], [], [], [], []
    edge_type_keys, edge_type_sign = [], []
    for spec in parsed["edges"]:
        offsets, n_syn = spec["offsets"], spec["n_syn"]
        if n_syn_fill > 0 and len(offsets) >= 3:
            offsets, n_syn = fill_convex_hull(offsets, n_syn, n_syn_fill)
        s_type, t_type = type_of[spec["src"]], type_of[spec["tar"]]
        src_nodes = type_nodes[s_type]
        su, sv = node_u[src_nodes], node_v[src_nodes]
        tu = su[None, :] + offsets[:, 0:1]
        tv = sv[None, :] + offsets[:, 1:2]
        inside = (np.abs(tu) <= extent) & (np.abs(tv) <= extent)
        tgt = np.full(tu.shape, -1, dtype=np.int64)
        tgt[inside] = lookup[t_type, tu[inside] + extent, tv[inside] + extent]
        valid = tgt >= 0
        if not valid.any():
            continue  # e.g. Lawf1 -> Lawf1: no pair of nodes at the listed offsets
        rows, cols = np.nonzero(valid)  # row-major: offsets outer, source nodes inner
        et = len(edge_type_keys)
        edge_type_keys.append((spec["src"], spec["tar"]))
        edge_type_sign.append(spec["sign"])
        src_l.append(src_nodes[cols])
        tgt_l.append(tgt[rows, cols])
        nsyn_l.append(n_syn[rows])
        etype_l.append(np.full(len(rows), et, dtype=np.int64))
        du_l.append(offsets[rows, 0])
        dv_l.append(offsets[rows, 1])
    return dict(
        node_type=node_type, node_u=node_u, node_v=node_v,
        edge_source=np.concatenate(src_l), edge_target=np.concatenate(tgt_l),
        edge_n_syn=np.concatenate(nsyn_l).astype(np.float32),
        edge_type=np.concatenate(etype_l), edge_du=np.concatenate(du_l),
        edge_dv=np.concatenate(dv_l),
        edge_type_source=np.array([type_of[s] for s, _ in edge_type_keys], dtype=np.int64),
        edge_type_target=np.array([type_of[t] for _, t in edge_type_keys], dtype=np.int64),
        edge_type_sign=np.array(edge_type_sign, dtype=np.float32),
    )


@dataclass(frozen=True, eq=False)
class Connectome:
    """Nodes and edges of the flyvis connectome at one extent (all arrays numpy, read-only).

    Attributes
    ----------
    path : the json it was built from; ``sha256`` its digest.
    extent : radius of the hexagonal array in columns.
    cell_types : the cell type names in json order (65).
    input_cell_types : the photoreceptor types R1..R8 that receive the movie.
    node_type, node_u, node_v : (n_nodes,) type index and hex coordinates of each node.
    edge_source, edge_target : (n_edges,) node indices; ``edge_n_syn`` (float32) synapse count;
        ``edge_type`` index into the edge types; ``edge_du``, ``edge_dv`` = target - source.
    edge_type_source, edge_type_target, edge_type_sign : (n_edge_types,) per (src, tar) type.
    """

    path: Path
    sha256: str
    extent: int
    cell_types: tuple
    input_cell_types: tuple
    output_cell_types: tuple
    node_type: np.ndarray
    node_u: np.ndarray
    node_v: np.ndarray
    edge_source: np.ndarray
    edge_target: np.ndarray
    edge_n_syn: np.ndarray
    edge_type: np.ndarray
    edge_du: np.ndarray
    edge_dv: np.ndarray
    edge_type_source: np.ndarray
    edge_type_target: np.ndarray
    edge_type_sign: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.node_type)

    @property
    def n_edges(self) -> int:
        return len(self.edge_source)

    @property
    def n_edge_types(self) -> int:
        return len(self.edge_type_source)

    @property
    def n_hexals(self) -> int:
        """Columns of the eye = nodes per stride-1 cell type = ``3 e (e + 1) + 1``."""
        return 3 * self.extent * (self.extent + 1) + 1

    @cached_property
    def central_cells_index(self) -> np.ndarray:
        """(n_cell_types,) node index of the cell at u = v = 0 of each type, in type order."""
        idx = np.flatnonzero((self.node_u == 0) & (self.node_v == 0))
        assert np.array_equal(self.node_type[idx], np.arange(len(self.cell_types)))
        return idx

    def nodes_of(self, cell_type: str) -> np.ndarray:
        """Node indices of one cell type (in the u-major order of its columns)."""
        try:
            t = self.cell_types.index(cell_type)
        except ValueError:
            raise KeyError(f"unknown cell type {cell_type!r}; known: {', '.join(self.cell_types)}") from None
        return np.flatnonzero(self.node_type == t)

    @cached_property
    def input_index(self) -> np.ndarray:
        """(n_input_types, n_hexals) node index of each input type's node at each hexal."""
        rows = [self.nodes_of(t) for t in self.input_cell_types]
        if any(len(r) != self.n_hexals for r in rows):
            raise ConnectomeError(f"{self.path}: input cell types must have stride 1 (one node per column)")
        return np.stack(rows)

    @cached_property
    def input_types(self) -> np.ndarray:
        """(n_input_types,) int64 cell-type index of each input type (R1..R8), rows of ``input_index``."""
        return self.node_type[self.input_index[:, 0]].astype(np.int64)

    @cached_property
    def input_distance(self) -> np.ndarray:
        """(n_cell_types,) synaptic steps from the input nodes to each type's central cell.

        0 for the input types, 1 for cells with a synapse from an input node, and so on
        (-1 if unreachable). A NaN in the input reaches a central cell that many Euler steps
        later, which is how flyvis's responses to NaN-padded frames turn NaN.
        """
        import scipy.sparse as sp

        adjacency = sp.csr_matrix((np.ones(self.n_edges, dtype=np.int32), (self.edge_target, self.edge_source)),
                                  shape=(self.n_nodes, self.n_nodes))
        dist = np.full(self.n_nodes, -1, dtype=np.int64)
        frontier = np.zeros(self.n_nodes, dtype=bool)
        frontier[self.input_index.ravel()] = True
        step = 0
        while frontier.any():
            dist[frontier] = step
            reached = (adjacency @ frontier.astype(np.int32)) > 0
            frontier = reached & (dist < 0)
            step += 1
        return dist[self.central_cells_index]

    def input_edge_types(self, cell_type: str) -> dict[str, int]:
        """``{source type: edge type index}`` of the edge types into ``cell_type``, in
        edge-type order (self-connections included). Unknown types raise KeyError."""
        if cell_type not in self.cell_types:
            raise KeyError(f"unknown cell type {cell_type!r}; known: {', '.join(self.cell_types)}")
        target = self.cell_types.index(cell_type)
        return {self.cell_types[s]: e for e, (s, t) in
                enumerate(zip(self.edge_type_source, self.edge_type_target)) if t == target}

    def edge_type_names(self) -> list[tuple[str, str]]:
        """(source type, target type) of each edge type, in edge-type order."""
        return [(self.cell_types[s], self.cell_types[t])
                for s, t in zip(self.edge_type_source, self.edge_type_target)]

    @cached_property
    def syn_count_groups(self):
        """Grouping of edges by (source type, target type, dv, du), as flyvis's ``edges_syn_count``.

        Returns (group index per edge (n_edges,), number of groups, (n_groups,) edge type of
        each group, (n_groups,) mean n_syn of each group, float64). Groups are numbered by
        first appearance in edge order.
        """
        key = (self.edge_type * (4 * self.extent + 1) + (self.edge_dv + 2 * self.extent)) * (
            4 * self.extent + 1) + (self.edge_du + 2 * self.extent)
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # groups by first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        group = rank[inverse]
        n = len(uniq)
        total = np.bincount(group, weights=self.edge_n_syn.astype(np.float64), minlength=n)
        mean = total / np.bincount(group, minlength=n)
        return (group, n, self.edge_type[first[order]], mean)


def _cache_file(sha256: str, extent: int, n_syn_fill: float) -> Path:
    return default_cache_dir() / "connectome" / (
        f"{sha256[:16]}-extent{extent}-fill{n_syn_fill:g}-v{_CACHE_VERSION}.npz")


_ARRAY_FIELDS = ("node_type", "node_u", "node_v", "edge_source", "edge_target", "edge_n_syn",
                 "edge_type", "edge_du", "edge_dv", "edge_type_source", "edge_type_target",
                 "edge_type_sign")


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, sha256: str, extent: int, n_syn_fill: float, use_cache: bool) -> Connectome:
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConnectomeError(f"{path}: not a readable json file: {exc}") from exc
    parsed = parse_connectome_spec(spec, path)
    arrays = None
    cache = _cache_file(sha256, extent, n_syn_fill)
    if use_cache and cache.is_file():
        with contextlib.suppress(Exception):
            with np.load(cache) as npz:
                arrays = {k: npz[k] for k in _ARRAY_FIELDS}
    if arrays is None:
        arrays = _build_arrays(parsed, extent, n_syn_fill)
        if use_cache:
            with contextlib.suppress(OSError):
                with atomic_path(cache) as tmp:
                    np.savez(tmp, **arrays)
    for a in arrays.values():
        a.setflags(write=False)
    return Connectome(path=Path(path), sha256=sha256, extent=extent,
                      cell_types=tuple(parsed["cell_types"]),
                      input_cell_types=tuple(parsed["input_cell_types"]),
                      output_cell_types=tuple(parsed["output_cell_types"]), **arrays)


def load_connectome(path=None, extent: int = 15, n_syn_fill: float = 1.0, use_cache: bool = True) -> Connectome:
    """Build (or read from cache) the connectome's nodes and edges.

    Parameters
    ----------
    path : the json file (or a folder holding ``fib25-fib19_v2.2.json``); default: fetched
        from the flyvis wheel into :func:`default_cache_dir` (see :func:`fetch_connectome`).
    extent : radius of the hexagonal eye in columns, >= 1 (flyvis uses 15).
    n_syn_fill : synapse count given to offsets added inside the convex hull (flyvis: 1).
    use_cache : read/write the ``.npz`` cache of the built arrays.

    Returns
    -------
    Connectome. Identical calls in one process return the same object.
    """
    if isinstance(extent, bool) or not isinstance(extent, (int, np.integer)) or extent < 1:
        raise ConnectomeError(f"extent must be an integer >= 1 (columns of the eye's radius), got {extent!r}")
    path = resolve_connectome_path(path).resolve()
    return _load_cached(str(path), file_sha256(path), int(extent), float(n_syn_fill), bool(use_cache))


def copy_connectome(dest_dir, path=None) -> Path:
    """Copy the (verified or user-given) connectome json into ``dest_dir`` atomically; return its path."""
    src = resolve_connectome_path(path)
    dest = Path(dest_dir) / CONNECTOME_FILE_NAME
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest
