"""Connectome: fetch, schema checks, node/edge construction identical to flyvis, caching."""

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from flycluster.connectome import (
    CONNECTOME_SHA256,
    WHEEL_MEMBER,
    extract_connectome_from_wheel,
    file_sha256,
    hex_columns,
    load_connectome,
)
from flycluster.errors import ConnectomeError

FIXTURES = Path(__file__).parent / "fixtures" / "simulation"


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_fetched_file_is_the_flyvis_connectome(connectome_path):
    assert connectome_path.name == "fib25-fib19_v2.2.json"
    assert file_sha256(connectome_path) == CONNECTOME_SHA256


def test_extent15_nodes_and_edges_identical_to_flyvis(connectome_path):
    ref = json.loads((FIXTURES / "connectome_extent15.json").read_text())
    c = load_connectome(connectome_path, extent=15)
    assert (c.n_nodes, c.n_edges, len(c.central_cells_index)) == (45669, 1513231, 65)
    assert (ref["n_nodes"], ref["n_edges"], ref["n_central"]) == (45669, 1513231, 65)
    assert list(c.cell_types) == ref["cell_types"]
    assert c.n_edge_types == 604 and c.syn_count_groups[1] == 2355
    ours = {"node_type": c.node_type, "node_u": c.node_u, "node_v": c.node_v,
            "edge_source": c.edge_source, "edge_target": c.edge_target,
            "edge_n_syn": c.edge_n_syn.astype(np.float32), "edge_du": c.edge_du, "edge_dv": c.edge_dv,
            "central_cells_index": c.central_cells_index}
    for key, digest in ref["sha256"].items():
        dtype = np.float32 if key == "edge_n_syn" else np.int64
        assert _digest(np.asarray(ours[key], dtype=dtype)) == digest, key
    # 721 nodes per stride-1 type, 123 per Lawf type
    counts = np.bincount(c.node_type)
    assert counts[c.cell_types.index("Lawf1")] == 123 and counts[c.cell_types.index("T4c")] == 721


def test_extent3_arrays_equal_flyvis_without_cache(connectome_path):
    ref = np.load(FIXTURES / "connectome_extent3.npz")
    c = load_connectome(connectome_path, extent=3, use_cache=False)
    for key in ("node_type", "node_u", "node_v", "edge_source", "edge_target", "edge_du", "edge_dv",
                "central_cells_index"):
        ours = c.central_cells_index if key == "central_cells_index" else getattr(c, key)
        np.testing.assert_array_equal(ours, ref[key].astype(np.int64), err_msg=key)
    np.testing.assert_array_equal(c.edge_n_syn, ref["edge_n_syn"])


def test_build_and_cache_round_trip(connectome_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FLYCLUSTER_CACHE", str(tmp_path))
    built = load_connectome(connectome_path, extent=14)  # not in the process cache: a real build
    cache_files = list((tmp_path / "connectome").glob("*extent14*.npz"))
    assert len(cache_files) == 1
    from flycluster import connectome as module

    module._load_cached.cache_clear()
    cached = load_connectome(connectome_path, extent=14)
    assert cached is not built
    np.testing.assert_array_equal(cached.edge_source, built.edge_source)
    np.testing.assert_array_equal(cached.edge_n_syn, built.edge_n_syn)
    u, v = hex_columns(14)
    lawf_nodes = np.sum((u % 3 == 0) & (v % 2 == 0))
    assert cached.n_nodes == 63 * len(u) + 2 * lawf_nodes


def test_hex_columns_u_major_order():
    u, v = hex_columns(2)
    assert len(u) == 19
    assert list(zip(u[:3], v[:3])) == [(-2, 0), (-2, 1), (-2, 2)]
    assert list(zip(u[-3:], v[-3:])) == [(2, -2), (2, -1), (2, 0)]
    assert np.all(np.abs(u + v) <= 2)


def test_input_distance_is_synaptic_distance_from_photoreceptors(connectome_path):
    c = load_connectome(connectome_path, extent=15)
    dist = dict(zip(c.cell_types, c.input_distance))
    assert all(dist[f"R{i}"] == 0 for i in range(1, 9))
    assert dist["L1"] == 1 and dist["Mi1"] == 1 and dist["T4c"] == 2 and dist["T5c"] == 3


def test_input_edge_types(connectome_path):
    c = load_connectome(connectome_path, extent=15)
    inputs = c.input_edge_types("T4c")
    names = c.edge_type_names()
    assert inputs == {s: e for e, (s, t) in enumerate(names) if t == "T4c"}
    assert list(inputs.values()) == sorted(inputs.values())
    assert {"Mi1", "Tm3", "Mi4", "Mi9", "T4c"} <= set(inputs)  # T4c -> T4c: self included
    assert c.edge_type_sign[inputs["Mi9"]] == -1 and c.edge_type_sign[inputs["Mi1"]] == 1
    assert sum(len(c.input_edge_types(t)) for t in c.cell_types) == c.n_edge_types
    with pytest.raises(KeyError, match="unknown cell type 'T4e'"):
        c.input_edge_types("T4e")


def _fake_wheel(path, member, data):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
    return path


def test_extract_from_wheel_checks_sha256(connectome_path, tmp_path):
    good = _fake_wheel(tmp_path / "good.whl", WHEEL_MEMBER, connectome_path.read_bytes())
    out = extract_connectome_from_wheel(good, tmp_path / "out")
    assert out.read_bytes() == connectome_path.read_bytes()
    bad = _fake_wheel(tmp_path / "bad.whl", WHEEL_MEMBER, b'{"nodes": []}')
    with pytest.raises(ConnectomeError, match="sha256"):
        extract_connectome_from_wheel(bad, tmp_path / "out2")
    assert not (tmp_path / "out2" / "fib25-fib19_v2.2.json").exists()
    empty = _fake_wheel(tmp_path / "other.whl", "flyvis/other.txt", b"x")
    with pytest.raises(ConnectomeError, match="no member"):
        extract_connectome_from_wheel(empty, tmp_path / "out3")
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(ConnectomeError, match="not a readable wheel"):
        extract_connectome_from_wheel(tmp_path / "junk.whl", tmp_path / "out4")


def _minimal_spec():
    return {
        "nodes": [{"name": "R1", "pattern": ["stride", [1, 1]]}, {"name": "A", "pattern": ["stride", [1, 1]]},
                  {"name": "B", "pattern": ["stride", [2, 1]]}],
        "edges": [{"src": "R1", "tar": "A", "alpha": 1, "offsets": [[[0, 0], 3.0], [[1, 0], 1.0], [[0, 1], 2.0]]},
                  {"src": "A", "tar": "B", "alpha": -1, "offsets": [[[0, 0], 5.0]]}],
        "input_units": ["R1"], "output_units": ["B"],
    }


def test_small_custom_connectome_builds(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_minimal_spec()))
    c = load_connectome(path, extent=1, use_cache=False)
    # 7 columns for R1 and A; B keeps u % 2 == 0: (0,-1), (0,0), (0,1)
    assert c.n_nodes == 7 + 7 + 3
    # R1->A: offset (0,0) 7 edges, (1,0) 4 edges (u+1 <= 1 and |u+1+v| <= 1), (0,1) 4 edges; hull adds none
    assert np.sum(c.edge_type == 0) == 7 + 4 + 4
    assert list(c.input_distance) == [0, 1, 2]


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.pop("nodes"), "'nodes' missing"),
    (lambda s: s.update(nodes=[]), "non-empty list of cell types"),
    (lambda s: s["nodes"][1].update(pattern=["hex", 3]), r"nodes\[1\] \(A\)\.pattern"),
    (lambda s: s["nodes"].append({"name": "A", "pattern": ["stride", [1, 1]]}), "unique cell type names"),
    (lambda s: s.update(input_units=["Q"]), "input_units"),
    (lambda s: s["edges"][0].update(src="Q"), r"edges\[0\]"),
    (lambda s: s["edges"][1].update(alpha=0), r"edges\[1\]\.alpha"),
    (lambda s: s["edges"][0].update(offsets=[]), r"edges\[0\]\.offsets"),
    (lambda s: s["edges"][0].update(offsets=[[[0, 0], -1]]), r"edges\[0\]\.offsets"),
    (lambda s: s["edges"][0].pop("tar"), r"edges\[0\]\.tar missing"),
])
def test_schema_errors_name_the_key(tmp_path, mutate, message):
    spec = _minimal_spec()
    mutate(spec)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ConnectomeError, match=message) as info:
        load_connectome(path, extent=2, use_cache=False)
    assert "bad.json" in str(info.value)


def test_unreadable_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConnectomeError, match="broken.json: not a readable json"):
        load_connectome(path)
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        load_connectome(tmp_path / "nothere.json")


@pytest.mark.parametrize("extent", [0, -3, 1.5, True, "15"])
def test_extent_must_be_a_positive_integer(connectome_path, extent):
    with pytest.raises(ConnectomeError, match="extent must be an integer >= 1"):
        load_connectome(connectome_path, extent=extent)
