"""The Snakemake workflow: config schema and checks, lint and format, dry runs (default config,
as a module of another workflow), and an end-to-end run of a tiny config (outputs, nothing
left to do, rerunning one cell type, a replaced checkpoint re-simulating its network, report)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

import flycluster.checkpoints as layout
from flycluster import config as fc
from flycluster.config_schema import apply_schema, default_of, defaults, load_schema
from flycluster.errors import CheckpointError, ConfigError

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TINY = ROOT / "tests" / "workflow_configs" / "tiny.yaml"
DEFAULT = ROOT / "config" / "config.yaml"


def _env():
    """This venv's snakemake first on PATH; its jobs import the installed flycluster."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(SNAKEMAKE.parent), env.get("PATH", "")])
    return env


def snakemake(*args, workdir=None, configfile=None, timeout=600, check=True):
    """Run the repository's Snakefile (results under ``workdir``) with the default profile."""
    cmd = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"),
           "--workflow-profile", str(ROOT / "profiles" / "default")]
    if workdir is not None:
        cmd += ["--directory", str(workdir)]
    cmd += [str(a) for a in args]
    if configfile is not None:  # last: --configfile takes several values
        cmd += ["--configfile", str(configfile)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run or dry run, as {rule: count}."""
    match = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+(\d+)", output, flags=re.S)
    assert match, f"no job stats in:\n{output[-3000:]}"
    counts = {}
    for line in match.group(1).splitlines():
        name, count = line.split()
        counts[name] = int(count)
    assert sum(counts.values()) == int(match.group(2))
    return counts


# -- configuration -------------------------------------------------------------------------


def _default():
    with open(DEFAULT) as fh:
        return yaml.safe_load(fh)


def test_default_config_is_valid_and_complete():
    config = fc.load_config(DEFAULT)
    # the trained ensemble that comes with flycluster, all its networks
    assert config["ensemble"]["kind"] == "shipped"
    from flycluster.ensembles import shipped_ensemble

    folder = shipped_ensemble(config["ensemble"]["shipped"])
    names = sorted(p.name for p in folder.iterdir() if (p / "chkpts").is_dir())
    assert fc.network_names(config) == names and len(names) >= 7
    assert fc.selected_cell_types(config) == list(fc.CELL_TYPES)
    assert len(fc.CELL_TYPES) == 65
    assert set(config["stimuli"]) == {config["analysis"]["naturalistic"],
                                      config["analysis"]["moving_edges"],
                                      config["analysis"]["flashes"]}
    kinds = {spec["kind"] for spec in config["stimuli"].values()}
    assert kinds == {"photos", "moving_edges", "flashes"}
    # the notebook's edge (ON, 19 columns/s, 90 deg) is one of the default set's edges
    assert config["figures"]["edge_trace"] == {"intensity": 1, "speed": 19, "angle": 90,
                                               "width": None}
    assert 19 in config["stimuli"]["moving_edges"]["speeds"]
    assert config["figures"]["fri_radius"] in config["stimuli"]["flashes"]["radius"]
    assert config["ensemble"]["published_clusterings"] is None
    # the clustering parameters of flyvis's notebook 05, and our smallest cluster (not flyvis)
    assert config["umap"] == {"n_components": 2, "metric": "correlation", "n_neighbors": 5,
                              "min_dist": 0.105, "spread": 9.0, "n_epochs": 1500,
                              "random_state": 42}
    assert config["gmm"] == {"range_n_clusters": [1, 2, 3, 4, 5], "n_init": 100,
                             "max_iter": 1000, "tol": 0.001, "random_state": 42,
                             "min_cluster_size": 3}
    assert fc.tuning_cell_types(config) == ["T4a", "T4b", "T4c", "T4d",
                                            "T5a", "T5b", "T5c", "T5d"]


def test_cell_types_match_the_connectome():
    from flycluster.connectome import load_connectome

    assert tuple(load_connectome(extent=1).cell_types) == fc.CELL_TYPES


def _complete(config):
    """What the workflow does with a config: apply the schema, then the cross-key checks."""
    return fc.check_config(apply_schema(config))


def test_schema_defaults_are_filled():
    config = _complete({"stimuli": {"naturalistic": {"kind": "photos"},
                                    "moving_edges": {"kind": "moving_edges"},
                                    "flashes": {"kind": "flashes"}}})
    assert config["ensemble"]["name"] == "flow_t4t5"
    assert config["ensemble"]["kind"] == "shipped"
    assert config["umap"]["n_neighbors"] == 5 and config["gmm"]["n_init"] == 100
    assert config["simulate"]["device"] == "cpu"
    assert config["cell_types"] == "all"
    # the stimulus kinds' own defaults (flyvis's moving edges: 6 speeds, 1 s before and after)
    assert config["stimuli"]["moving_edges"]["speeds"] == [2.4, 4.8, 9.7, 13, 19, 25]
    assert config["stimuli"]["moving_edges"]["t_pre"] == 1.0
    assert config["stimuli"]["naturalistic"]["n_movies"] == 6
    # flyvis's flashes: 1 s grey, 1 s flash, 1 s grey at 1/200 s; ON/OFF, full field and r 6
    flashes = config["stimuli"]["flashes"]
    assert (flashes["t_pre"], flashes["t_stim"], flashes["dt"]) == (1.0, 1.0, 0.005)
    assert flashes["radius"] == [-1, 6] and flashes["dynamic_range"] == [0, 1]
    # the generated ensembles' kinds: planted defaults to smaller random perturbations
    assert config["ensemble"]["synthetic"]["strength_sigma"] == 0.25
    assert config["ensemble"]["planted"]["strength_sigma"] == 0.1
    # one key's declared default, read from the schema without filling a config
    assert default_of("ensemble", "n_networks") == config["ensemble"]["n_networks"] == 12
    assert default_of("gmm", "range_n_clusters") == [1, 2, 3, 4, 5]
    with pytest.raises(KeyError, match="no key ensemble.size"):
        default_of("ensemble", "size")


def test_default_config_states_exactly_the_schema_defaults():
    """config/config.yaml is the schema's defaults written out (one source of truth): the
    reconciled figures.dpi (150) and stability repeats (2 + 2) included."""
    assert fc.load_config(DEFAULT) == fc.check_config(defaults())
    assert defaults()["figures"]["dpi"] == 150
    assert defaults()["stability"]["n_seed_repeats"] == 2
    assert defaults()["stability"]["n_leave_out_repeats"] == 2
    assert defaults()["stability"]["repeat_gmm"] == {"n_init": 10}


def test_library_defaults_agree_with_the_schema():
    """Library functions keep their own defaults; where they describe the same thing as the
    schema (flyvis's notebook 05 parameters, the ensemble perturbations) they agree."""
    from flycluster import synthetic
    from flycluster.clustering import DEFAULT_GMM_KWARGS, DEFAULT_UMAP_KWARGS

    assert {k: DEFAULT_UMAP_KWARGS[k] for k in defaults("umap")} == defaults("umap")
    gmm = defaults("gmm")
    assert {k: DEFAULT_GMM_KWARGS[k] for k in gmm if k in DEFAULT_GMM_KWARGS} == {
        k: v for k, v in gmm.items() if k in DEFAULT_GMM_KWARGS}
    settings = synthetic.PerturbationSettings()
    for key, value in defaults("synthetic_ensemble").items():
        assert list(np.atleast_1d(getattr(settings, key))) == list(np.atleast_1d(value)), key
    planted = defaults("planted_ensemble")
    assert planted["effect_size"] == synthetic.EFFECT_SIZE
    assert planted["strength_sigma"] == synthetic.PLANTED_STRENGTH_SIGMA
    assert planted["time_const_sigma"] == synthetic.PLANTED_TIME_CONST_SIGMA
    assert planted["group_error_step"] == synthetic.GROUP_ERROR_STEP


def _objects(schema, path=()):
    """Every object sub-schema of the schema, with where it sits."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            yield path, schema
        for key, value in schema.items():
            yield from _objects(value, (*path, key))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _objects(value, (*path, i))


def test_schema_forbids_unknown_keys_everywhere_and_documents_stimulus_keys():
    schema = load_schema()
    for path, sub in _objects(schema):
        if path and path[-1] in ("if", "then") or "if" in path:
            continue  # the kind switch of stimulus_set; each kind's sub-schema is closed
        if path and path[-1] == "stimulus_set":
            continue
        if sub.get("type") == "object" and path != ("properties", "stimuli"):
            assert sub.get("additionalProperties") is False, path
    for kind in ("photos", "sintel", "moving_edges", "flashes", "file"):
        for key, prop in schema["$defs"][kind]["properties"].items():
            ref = prop.get("$ref", "").removeprefix("#/$defs/")
            text = prop.get("description") or schema["$defs"].get(ref, {}).get("description")
            assert key == "kind" or (text and len(text) > 5), (kind, key)


# One typo per section of the config, each stopped naming the section and the key.
TYPOS = [
    ((), "ensemble_kind"),
    (("ensemble",), "n_network"),
    (("ensemble", "synthetic"), "strenght_gain"),
    (("ensemble", "planted"), "effect"),
    (("connectome",), "extend"),
    (("stimuli", "naturalistic"), "n_movie"),
    (("stimuli", "moving_edges"), "speed"),
    (("stimuli", "flash"), "t_stimulus"),
    (("stimuli", "sintel"), "scene"),
    (("analysis",), "naturalistc"),
    (("simulate",), "batchsize"),
    (("umap",), "n_neighbours"),
    (("gmm",), "n_inits"),
    (("stability",), "n_seed_repeat"),
    (("stability", "repeat_umap"), "n_epoch"),
    (("stability", "repeat_gmm"), "ninit"),
    (("cluster",), "thread"),
    (("figures",), "dpi_png"),
    (("figures", "edge_trace"), "speeds"),
    (("figures", "preview"), "nframes"),
    (("stimuli", "flashes"), "radii"),
    (("stimuli", "mine"), "dtt"),
]


@pytest.mark.parametrize("section, typo", TYPOS, ids=[".".join(s) or "top" for s, _ in TYPOS])
def test_typo_in_any_section_names_the_key(section, typo):
    config = copy.deepcopy(_default())
    config["stimuli"]["flash"] = {"kind": "flashes"}
    config["stimuli"]["sintel"] = {"kind": "sintel", "root": "/data/MPI-Sintel"}
    config["stimuli"]["mine"] = {"kind": "file", "path": "my_movie.npy", "dt": 0.01}
    node = config
    for key in section:
        node = node.setdefault(key, {})
    node[typo] = 1
    where = ".".join(section) or "<top level>"
    with pytest.raises(ConfigError) as err:
        apply_schema(config)
    assert f"config key {where}: Additional properties are not allowed ('{typo}'" in str(err.value)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["umap"].update(n_neighbors="five"),
     r"config key umap\.n_neighbors: 'five' is not of type 'integer'"),
    (lambda c: c["gmm"].update(n_init=0), r"config key gmm\.n_init: 0 is less than the minimum"),
    (lambda c: c["simulate"].update(device="tpu"), r"config key simulate\.device: 'tpu' is not one of"),
    (lambda c: c.update(cell_types=["T4c", "T4x"]),
     r"config key cell_types: unknown cell type\(s\) 'T4x' \(did you mean"),
    (lambda c: c["figures"].update(tuning_cell_types=["T6a"]),
     r"config key figures\.tuning_cell_types: unknown cell type"),
    (lambda c: c["analysis"].update(naturalistic="sintel"),
     r"config key analysis\.naturalistic: stimulus set 'sintel' is not defined"),
    (lambda c: c["ensemble"].update(kind="synthetic", n_networks=6),
     r"config key ensemble\.n_networks: 6 networks, but UMAP with umap\.n_neighbors = 5 needs at least 7"),
    (lambda c: c["ensemble"].update(n_networks=20),
     r"config key ensemble\.n_networks: 20 is not used by the shipped kind, whose \d+ networks "
     r"are the folders of ensemble\.shipped \(flow_t4t5\); set ensemble\.kind"),
    (lambda c: c["ensemble"].update(shipped="flow_0000"),
     r"config key ensemble\.shipped: no shipped ensemble 'flow_0000' \(shipped: flow_t4t5\)"),
    (lambda c: c["ensemble"].update(kind="flyvis"), r"config key ensemble\.path: required"),
    (lambda c: c.update(umpa={}), r"config key <top level>: Additional properties are not allowed \('umpa'"),
    (lambda c: c.update(cell_types="some"), r"config key cell_types: 'some' is not valid: expected 'all' or a list"),
    (lambda c: c["figures"]["edge_trace"].update(speed=2.4),
     r"config key figures\.edge_trace\.speed: 2\.4 is not one of the speeds of stimulus set "
     r"'moving_edges' \(\[19, 25\]\)"),
    (lambda c: c["figures"].update(fri_radius=3),
     r"config key figures\.fri_radius: 3 is not one of the radii of stimulus set 'flashes'"),
    (lambda c: c["ensemble"].update(published_clusterings="/no/such/umap_and_clustering"),
     r"config key ensemble\.published_clusterings: /no/such/umap_and_clustering is not a folder"),
    (lambda c: c["stimuli"].update(mine={"kind": "file"}),
     r"config key stimuli\.mine: 'path' is a required property"),
    (lambda c: c["analysis"].update(flashes="moving_edges"),
     r"config key analysis\.flashes: stimulus set 'moving_edges' is of kind 'moving_edges', expected 'flashes'"),
])
def test_bad_config_names_the_key(change, message):
    config = copy.deepcopy(_default())
    change(config)
    with pytest.raises(ConfigError, match=message):
        _complete(config)


def test_flyvis_ensemble_listing(tmp_path):
    for name in ("000", "001"):
        (tmp_path / name / "chkpts").mkdir(parents=True)
        (tmp_path / name / "validation").mkdir()
        (tmp_path / name / "validation" / "loss.h5").write_bytes(b"")
    (tmp_path / "umap_and_clustering").mkdir()  # not a network folder
    assert layout.list_networks(tmp_path) == ["000", "001"]
    (tmp_path / "001" / "validation" / "other.h5").write_bytes(b"")
    assert layout.loss_file(tmp_path / "001", "other").name == "other.h5"
    assert layout.loss_file(tmp_path / "000", "other").name == "loss.h5"  # flyvis's fallback
    (tmp_path / "002" / "chkpts").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"002/validation/loss\.h5: validation loss file not"):
        layout.list_networks(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        layout.list_networks(tmp_path / "nope")
    config = copy.deepcopy(_default())
    config["ensemble"].update(kind="flyvis", path=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"config key ensemble\.path: ensemble directory .*nope"):
        _complete(config)


def test_ensemble_layout_imports_without_torch():
    """The workflow lists networks and picks checkpoints while it is parsed: no torch."""
    code = ("import sys, flycluster.checkpoints, flycluster.config; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_target_names():
    assert fc.target_name("T4c") == "T4c"
    assert fc.target_name("CT1(M10)") == "CT1_M10"
    names = [fc.target_name(ct) for ct in fc.CELL_TYPES]
    assert len(set(names)) == 65 and all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in names)


# -- snakemake: lint and dry runs ------------------------------------------------------------


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_ruff_is_clean():
    """One style for the Python code (pyproject's [tool.ruff]): line length, imports, errors."""
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run([str(ruff), "check", "src", "tests", "benchmarks", "tools", "scripts"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    snakefmt = Path(sys.executable).with_name("snakefmt")
    proc = subprocess.run([str(snakefmt), "--check", "Snakefile", "workflow"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_of_the_default_config(tmp_path):
    proc = snakemake("-n", "--quiet", "rules", "--cores", "2", workdir=tmp_path)
    counts = job_counts(proc.stdout)
    config = fc.load_config(DEFAULT)
    n_networks = len(fc.network_names(config))
    assert counts == {
        "connectome": 1, "stimulus_set": 3,
        "simulate": 3 * n_networks, "norms": 1, "umap_jit": 1, "cluster": 65, "tuning": 8,
        "summary": 1, "all": 1, "fri": 1, "dsi": 1, "ensemble_fri_dsi": 1,
        "stimulus_preview": 3,
    }


def test_dry_run_of_the_synthetic_control(tmp_path):
    """config/synthetic.yaml (the untrained control) generates its 12 networks."""
    proc = snakemake("-n", "--quiet", "rules", "--cores", "2", workdir=tmp_path,
                     configfile=ROOT / "config" / "synthetic.yaml")
    assert job_counts(proc.stdout) == {
        "connectome": 1, "synthetic_ensemble": 1, "stimulus_set": 3,
        "simulate": 3 * 12, "norms": 1, "umap_jit": 1, "cluster": 65, "tuning": 8,
        "summary": 1, "all": 1, "fri": 1, "dsi": 1, "ensemble_fri_dsi": 1,
        "stimulus_preview": 3,
    }


def test_readme_run_command_uses_the_default_profile(tmp_path):
    """`snakemake --cores 2` in the repository finds profiles/default next to the Snakefile
    without naming it."""
    assert (ROOT / "profiles" / "default").is_dir()
    assert not (ROOT / "profiles" / "default").is_symlink()
    proc = subprocess.run([str(SNAKEMAKE), "-n", "--cores", "2", "--directory", str(tmp_path)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Using workflow specific profile profiles/default" in proc.stdout + proc.stderr


def test_bad_config_stops_the_workflow_with_the_key(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["cell_types"] = ["T4c", "T4q"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "1", workdir=tmp_path, configfile=path, check=False)
    assert proc.returncode != 0
    assert "config key cell_types: unknown cell type(s) 'T4q'" in proc.stdout + proc.stderr


# -- end to end on a tiny config ---------------------------------------------------------------


PUBLISHED = ROOT / "tests" / "fixtures" / "published" / "umap_and_clustering"


def run_config(workdir) -> Path:
    """The tiny config of the tiny run: tiny.yaml with flyvis's published clusterings (the
    fixture pickles of T4c and Mi1, written by flyvis's own code) compared."""
    return workdir.parent / f"{workdir.name}.yaml"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    config = yaml.safe_load(TINY.read_text())
    config["ensemble"]["published_clusterings"] = str(PUBLISHED)
    run_config(workdir).write_text(yaml.safe_dump(config))
    proc = snakemake("--cores", "2", workdir=workdir, configfile=run_config(workdir),
                     timeout=900)
    config = fc.load_config(TINY, run_config(workdir))
    return workdir, config, proc


def test_tiny_run_outputs(tiny_run):
    workdir, config, proc = tiny_run
    results = workdir / "results" / "tiny"
    networks = [f"{i:03d}" for i in range(6)]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts == {"connectome": 1, "synthetic_ensemble": 1, "stimulus_set": 3,
                      "simulate": 18, "norms": 1, "umap_jit": 1, "cluster": 2, "tuning": 1,
                      "summary": 1, "all": 1, "fri": 1, "dsi": 1, "ensemble_fri_dsi": 1,
                      "stimulus_preview": 3, "published": 1}

    # response files: one per (network, stimulus set), labelled
    stim = xr.open_dataset(workdir / "resources" / "stimuli" / "naturalistic.nc")
    with xr.open_dataset(results / "responses" / "naturalistic" / "003.nc") as ds:
        assert ds["responses"].dims == ("sample", "frame", "cell_type")
        assert ds.sizes["sample"] == stim.sizes["sample"] and ds.sizes["frame"] == stim.sizes["frame"]
        assert ds.sizes["cell_type"] == 65
        assert ds.attrs["network"] == "003" and ds.attrs["stimulus_set"] == "naturalistic"
        assert ds.attrs["checkpoint"].endswith("chkpt_00000")
        assert ds.attrs["cpu_mode"] == "portable"  # portable: true reached the job
        assert np.isfinite(ds.attrs["task_error"])
        np.testing.assert_allclose(ds["time"].values, stim["time"].values)
        assert np.isfinite(ds["responses"].values).all()
        assert float(ds["responses"].std()) > 0
    stim.close()
    with xr.open_dataset(results / "responses" / "edges" / "000.nc") as ds:
        assert {"angle", "speed", "intensity"} <= set(ds.coords)

    norms = xr.open_dataset(results / "norms.nc")["norm"]
    assert norms.dims == ("network", "cell_type") and norms.shape == (6, 65)
    assert list(norms["network"].values) == networks
    assert (norms.values > 0).all()

    for cell_type in ("T4c", "Mi1"):
        with xr.open_dataset(results / "clustering" / f"{cell_type}.nc") as ds:
            assert list(ds["network"].values) == networks
            assert ds["embedding"].shape == (6, 2)
            k = ds.attrs["n_clusters"]
            assert 1 <= k <= 3
            labels = ds["label"].values[ds["clustered"].values.astype(bool)]
            assert set(labels) == set(range(k))
            assert list(ds["n_clusters"].values) == [1, 2, 3]
            assert ds.attrs["cell_type"] == cell_type and ds.attrs["umap_n_epochs"] == 200
            assert ds.attrs["gmm_n_init"] == 5 and ds.attrs["cpu_mode"] == "portable"
            assert np.isfinite(ds["task_error"].values).all()
            # stability of the clustering: 2 seed + 2 leave-out repeats
            assert list(ds["stability_kind"].values) == ["seed"] * 2 + ["leave_out"] * 2
            assert -1 <= float(ds["stability_ari"]) <= 1
        for name in ("embedding", "traces"):
            for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
                path = results / "figures" / cell_type / f"{name}.{ext}"
                assert path.read_bytes()[:4] == magic
    assert (results / "figures" / "T4c" / "tuning.pdf").is_file()
    assert not (results / "figures" / "Mi1" / "tuning.png").exists()
    # issue 12: moving-edge traces, ensemble tuning and FRI panel of the tuning cell type,
    # the published side-by-side of every cell type, the ensemble FRI/DSI figure
    for name in ("tuning_ensemble", "edge_traces", "fri"):
        for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            assert (results / "figures" / "T4c" / f"{name}.{ext}").read_bytes()[:4] == magic
        assert not (results / "figures" / "Mi1" / f"{name}.png").exists()
    for cell_type in ("T4c", "Mi1"):
        assert (results / "figures" / cell_type / "published.png").read_bytes()[:4] == b"\x89PNG"
    assert (results / "figures" / "ensemble_fri_dsi.png").read_bytes()[:4] == b"\x89PNG"
    with xr.open_dataset(results / "fri.nc") as ds:
        fri = ds["fri"]
        assert fri.dims == ("network", "cell_type") and fri.shape == (6, 65)
        assert list(fri["network"].values) == networks
        assert np.isfinite(fri.values).all() and (np.abs(fri.values) <= 1).all()
        assert fri.attrs["radius"] == 6 and fri.attrs["t_stim"] == 0.5
        assert float(fri.std()) > 0  # cell types differ in contrast preference
        # fly photoreceptors depolarise to light (KNOWN_POLARITY: ON) and the lamina's L1-L3
        # are OFF cells (they receive the photoreceptors' sign-inverting histamine synapses):
        # the connectome's signs give this in every network, even randomly perturbed
        assert (fri.sel(cell_type=["R1", "R2", "R3", "R4", "R5", "R6"]).values > 0).all()
        assert (fri.sel(cell_type=["L1", "L2", "L3"]).values < 0).all()
    with xr.open_dataset(results / "dsi.nc") as ds:
        dsi = ds["dsi"]
        assert dsi.dims == ("network", "intensity", "cell_type") and dsi.shape == (6, 2, 65)
        assert np.isfinite(dsi.values).all() and ((dsi >= 0) & (dsi <= 1)).all()
    for stimulus_set in ("naturalistic", "edges", "flashes"):
        assert (workdir / "results" / "stimuli" / f"{stimulus_set}.png").read_bytes()[:4] == b"\x89PNG"
        assert (workdir / "results" / "stimuli" / f"{stimulus_set}.gif").read_bytes()[:3] == b"GIF"

    table = pd.read_csv(results / "summary.csv")
    assert list(table["cell_type"]) == ["Mi1", "T4c"]  # connectome order
    assert (table["n_networks"] == 6).all()
    assert {"stability_ari", "bic_gain", "cluster_sizes"} <= set(table.columns)
    for row in table.itertuples():
        with xr.open_dataset(results / "clustering" / f"{row.cell_type}.nc") as ds:
            assert row.n_clusters == ds.attrs["n_clusters"]
    assert (results / "summary.png").read_bytes()[:4] == b"\x89PNG"
    # flyvis's published clusterings (fixture pickles of 12 networks named 000..011): the
    # comparison columns, over our 6 networks
    assert {"published_k", "our_k", "ari", "n_compared", "same_k_range"} <= set(table.columns)
    published = table.set_index("cell_type")
    from flycluster.published import read_flyvis_clustering

    for cell_type in ("T4c", "Mi1"):
        chosen = read_flyvis_clustering(PUBLISHED / f"{cell_type}.pickle").attrs["n_clusters"]
        assert published.loc[cell_type, "published_k"] == chosen
    assert (published["our_k"] == published["n_clusters"]).all()
    assert (published["n_compared"] > 0).all()
    assert not published.loc["T4c", "same_k_range"]  # flyvis's [2, 3, 3, 4, 5] vs our 1..3
    assert published["ari"].between(-1, 1).all() or published["ari"].isna().any()
    # logs and benchmarks of every rule, in one place
    logs = workdir / "logs"
    assert (logs / "tiny" / "cluster" / "T4c.log").is_file()
    assert (logs / "tiny" / "simulate" / "naturalistic" / "000.benchmark.tsv").is_file()
    assert (logs / "connectome.log").is_file() and (logs / "stimuli" / "edges.log").is_file()
    assert not (results / "logs").exists() and not (workdir / "resources" / "logs").exists()


def test_second_run_has_nothing_to_do(tiny_run):
    workdir, _, _ = tiny_run
    proc = snakemake("-n", "--cores", "2", workdir=workdir, configfile=run_config(workdir))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_rerun_one_cell_type(tiny_run):
    workdir, _, _ = tiny_run
    results = workdir / "results" / "tiny"
    others = [results / "clustering" / "Mi1.nc", results / "figures" / "Mi1" / "traces.png",
              results / "responses" / "naturalistic" / "000.nc", results / "norms.nc"]
    before = {p: p.stat().st_mtime_ns for p in others}
    t4c = results / "clustering" / "T4c.nc"
    with xr.open_dataset(t4c) as ds:
        labels_before = ds["label"].values.copy()

    # by its short target name, forcing its clustering to be recomputed
    proc = snakemake("--cores", "2", "T4c", "--forcerun", "cluster", workdir=workdir,
                     configfile=run_config(workdir))
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts == {"cluster": 1, "tuning": 1, "T4c": 1}  # cluster draws the figures too
    assert {p: p.stat().st_mtime_ns for p in others} == before
    with xr.open_dataset(t4c) as ds:  # same config, same seeds: same labels
        np.testing.assert_array_equal(ds["label"].values, labels_before)

    # by its output file
    t4c.unlink()
    proc = snakemake("--cores", "2", str(t4c.relative_to(workdir)), workdir=workdir,
                     configfile=run_config(workdir))
    assert job_counts(proc.stdout + proc.stderr) == {"cluster": 1}
    # the recomputed file is byte-identical (seeded), so snakemake (which compares checksums
    # of newer inputs) has nothing left to redo downstream
    proc = snakemake("-n", "--cores", "2", workdir=workdir, configfile=run_config(workdir))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report(tiny_run):
    workdir, _, _ = tiny_run
    report = workdir / "report.html"
    snakemake("--report", str(report), workdir=workdir, configfile=run_config(workdir))
    text = report.read_text(errors="replace")
    # every figure, captioned (the caption names its cell type), grouped by cell type
    for cell_type in ("T4c", "Mi1"):
        for name in ("embedding", "traces"):
            assert f"results/tiny/figures/{cell_type}/{name}.png" in text
    assert "results/tiny/figures/T4c/tuning.png" in text
    assert "Direction tuning of <strong>T4c</strong>" in text
    for name in ("tuning_ensemble", "edge_traces", "fri"):
        assert f"results/tiny/figures/T4c/{name}.png" in text
    assert "Responses of the central <strong>T4c</strong> cell to one moving edge" in text
    assert "Flash response index (FRI" in text and "of <strong>T4c</strong>" in text
    for cell_type in ("T4c", "Mi1"):
        assert f"results/tiny/figures/{cell_type}/published.png" in text
    assert "results/tiny/figures/ensemble_fri_dsi.png" in text
    assert "results/stimuli/flashes.png" in text and "results/stimuli/naturalistic.gif" in text
    assert "Stimulus set <strong>edges</strong>" in text
    assert '"cell type": "Mi1"' in text
    assert "results/tiny/summary.csv" in text and "results/tiny/summary.png" in text


def test_user_movie_runs_through_the_whole_dag(tiny_run, tmp_path):
    """A `file` stimulus set (the user's own .npy movie on the lattice) as the naturalistic
    set: built, previewed, simulated, normalised, clustered and summarised. Run in a copy of
    the tiny run, so only what depends on the movie is made."""
    import shutil

    workdir = tmp_path / "work"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    rng = np.random.default_rng(0)
    movie = rng.uniform(0.2, 0.8, size=(4, 30, 61)).astype(np.float32)  # extent 4: 61 hexals
    movie[3, 20:] = np.nan  # a shorter last sample (trailing NaN frames)
    np.save(workdir / "my_movie.npy", movie)
    config = yaml.safe_load(run_config(tiny_run[0]).read_text())
    config["stimuli"]["mine"] = {"kind": "file", "path": "my_movie.npy", "dt": 0.01,
                                 "t_fade_in": 0.5, "extent": 4}
    config["analysis"]["naturalistic"] = "mine"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("--cores", "2", workdir=workdir, configfile=path, timeout=600)
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts == {"stimulus_set": 1, "stimulus_preview": 1, "simulate": 6, "norms": 1,
                      "cluster": 2, "tuning": 1, "summary": 1, "published": 1, "all": 1}
    stim = xr.open_dataset(workdir / "resources" / "stimuli" / "mine.nc")
    with stim:
        assert stim.sizes["sample"] == 4 and stim.attrs["stimulus_set"] == "mine"
        assert list(stim["frames"].values) == [30, 30, 30, 20]
    with xr.open_dataset(workdir / "results" / "tiny" / "responses" / "mine" / "002.nc") as ds:
        assert ds["responses"].dims == ("sample", "frame", "cell_type")
        assert ds.sizes["sample"] == 4 and ds.attrs["stimulus_set"] == "mine"
        assert np.isfinite(ds["responses"].values[:3]).all()
    with xr.open_dataset(workdir / "results" / "tiny" / "clustering" / "T4c.nc") as ds:
        assert ds.attrs["stimulus_set"] == "mine" and ds["embedding"].shape == (6, 2)
    assert (workdir / "results" / "stimuli" / "mine.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(workdir / "results" / "tiny" / "summary.csv")
    assert list(table["cell_type"]) == ["Mi1", "T4c"] and (table["n_networks"] == 6).all()
    # the movie is an input of its set: a new movie rebuilds the set and what depends on it
    np.save(workdir / "my_movie.npy", 1 - movie)  # NaN frames stay where they were
    proc = snakemake("-n", "--cores", "2", workdir=workdir, configfile=path)
    assert job_counts(proc.stdout + proc.stderr)["stimulus_set"] == 1


def test_replaced_checkpoint_resimulates_its_network(tiny_run):
    """The checkpoint file is an input of simulate: replacing one network's checkpoint
    re-simulates that network on every stimulus set, and what depends on it. (A touch that
    leaves the content unchanged redoes nothing: snakemake compares the checksum it recorded.)"""
    workdir, _, _ = tiny_run
    ensemble = workdir / "resources" / "ensembles" / "tiny"
    checkpoint = ensemble / "003" / "chkpts" / "chkpt_00000"
    original, stat = checkpoint.read_bytes(), checkpoint.stat()
    try:
        # another network's parameters, written as a retrained checkpoint would be
        checkpoint.write_bytes((ensemble / "004" / "chkpts" / "chkpt_00000").read_bytes())
        proc = snakemake("-n", "--cores", "2", workdir=workdir, configfile=run_config(workdir))
    finally:
        checkpoint.write_bytes(original)
        os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    out = proc.stdout + proc.stderr
    assert job_counts(out) == {"simulate": 3, "norms": 1, "cluster": 2, "tuning": 1,
                               "summary": 1, "all": 1, "fri": 1, "dsi": 1,
                               "ensemble_fri_dsi": 1, "published": 1}
    simulated = set(re.findall(
        r"rule simulate:\n(?:    .*\n)*?    output: results/tiny/responses/(\w+)/(\d+)\.nc", out))
    assert simulated == {("naturalistic", "003"), ("edges", "003"), ("flashes", "003")}, out[-3000:]
    proc = snakemake("-n", "--cores", "2", workdir=workdir, configfile=run_config(workdir))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_best_checkpoint_of_a_flyvis_network_is_the_simulate_input(tmp_path):
    """For a flyvis ensemble the workflow picks each network's best checkpoint (argmin of its
    validation loss) when it builds the DAG: a new best checkpoint changes simulate's input."""
    import h5py

    ensemble = _fake_flyvis_ensemble(tmp_path / "flow", n=8)
    net = ensemble / "005"
    (net / "chkpts" / "chkpt_00001").write_bytes(b"")
    for losses in ([0.5, 0.2], [0.1, 0.2]):
        with h5py.File(net / "validation" / "loss.h5", "w") as f:
            f.create_dataset("data", data=losses)
        best = layout.best_checkpoint(net)
        assert best.name == f"chkpt_{int(np.argmin(losses)):05d}"
    config = yaml.safe_load(TINY.read_text())
    config["ensemble"] = {"name": "flow", "kind": "flyvis", "path": str(ensemble)}
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "1", "--printshellcmds",
                     "results/flow/responses/naturalistic/005.nc",
                     workdir=tmp_path / "work", configfile=path)
    out = proc.stdout + proc.stderr
    assert f"{net}/chkpts/chkpt_00000" in out and f"{net}/chkpts/chkpt_00001" not in out


def test_configfile_is_merged_into_the_default(tmp_path):
    """--configfile merges into config/config.yaml as snakemake documents: a file naming only
    the cell types and the ensemble size keeps every other default; the stimulus sets run are
    the ones analysis names (here the default's three)."""
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump({"cell_types": ["T4c"],
                                     "ensemble": {"kind": "synthetic", "n_networks": 8}}))
    merged = fc.load_config(DEFAULT, small)
    assert merged["cell_types"] == ["T4c"] and merged["ensemble"]["n_networks"] == 8
    assert merged["umap"] == fc.load_config(DEFAULT)["umap"]
    proc = snakemake("-n", "--quiet", "rules", "--cores", "2", workdir=tmp_path / "work",
                     configfile=small)
    assert job_counts(proc.stdout) == {
        "connectome": 1, "synthetic_ensemble": 1, "stimulus_set": 3, "simulate": 24,
        "norms": 1, "umap_jit": 1, "cluster": 1, "tuning": 1, "summary": 1, "all": 1,
        "fri": 1, "dsi": 1, "ensemble_fri_dsi": 1, "stimulus_preview": 3}


def test_usable_as_a_module_of_another_workflow(tmp_path):
    """Another repository uses the workflow with `module` (snakemake's documented way): its
    own config is passed in, the schema fills the rest, and the DAG is the same."""
    outer = tmp_path / "outer"
    (outer / "config").mkdir(parents=True)
    (outer / "config" / "config.yaml").write_text(yaml.safe_dump(
        {"ensemble": {"name": "mine", "kind": "synthetic", "n_networks": 7},
         "cell_types": ["T4c", "Mi1"]}))
    (outer / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        "module flycluster:\n"
        f'    snakefile:\n        "{ROOT / "Snakefile"}"\n'
        "    config:\n        config\n\n\n"
        "use rule * from flycluster as flycluster_*\n")
    proc = subprocess.run([str(SNAKEMAKE), "-n", "--quiet", "rules", "--cores", "2"],
                          cwd=outer, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert counts == {
        "flycluster_connectome": 1, "flycluster_synthetic_ensemble": 1,
        "flycluster_stimulus_set": 3, "flycluster_simulate": 21, "flycluster_norms": 1,
        "flycluster_umap_jit": 1, "flycluster_cluster": 2, "flycluster_tuning": 1,
        "flycluster_summary": 1, "flycluster_all": 1, "flycluster_fri": 1,
        "flycluster_dsi": 1, "flycluster_ensemble_fri_dsi": 1,
        "flycluster_stimulus_preview": 3}


def _fake_flyvis_ensemble(root, n=50):
    for i in range(n):
        (root / f"{i:03d}" / "chkpts").mkdir(parents=True)
        (root / f"{i:03d}" / "chkpts" / "chkpt_00000").write_bytes(b"")
        (root / f"{i:03d}" / "validation").mkdir()
        (root / f"{i:03d}" / "validation" / "loss.h5").write_bytes(b"")
    return root


def test_dry_run_of_the_flow_0000_config(tmp_path):
    """config/flyvis_flow_0000.yaml with its two paths set: 50 networks x 3 stimulus sets."""
    ensemble = _fake_flyvis_ensemble(tmp_path / "results" / "flow" / "0000")
    config = yaml.safe_load((ROOT / "config" / "flyvis_flow_0000.yaml").read_text())
    config["ensemble"]["path"] = str(ensemble)
    config["stimuli"]["sintel"]["root"] = str(tmp_path / "MPI-Sintel")
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(config))
    checked = fc.load_config(DEFAULT, path)  # what snakemake runs: merged into the default
    assert fc.network_names(checked) == [f"{i:03d}" for i in range(50)]
    assert fc.stimulus_sets(checked) == ["sintel", "moving_edges", "flashes"]
    assert checked["simulate"]["device"] == "cuda"
    proc = snakemake("-n", "--quiet", "rules", "--cores", "2", workdir=tmp_path / "work",
                     configfile=path)
    assert job_counts(proc.stdout) == {
        "connectome": 1, "stimulus_set": 3, "simulate": 150, "norms": 1, "umap_jit": 1,
        "cluster": 65, "tuning": 8, "summary": 1, "all": 1, "fri": 1, "dsi": 1,
        "ensemble_fri_dsi": 1, "stimulus_preview": 3}
