"""Results that hold on any CPU: the numba- and kernel-dependent code under a second CPU target,
the portable mode (flycluster.reproducible), and loosened tolerances that still catch bugs.

CI cannot choose its CPU, so a second machine is emulated: the clustering runs again in a
process with numba, numpy and OpenBLAS pinned to generic x86-64 targets, and the native kernel
is built for the x86-64-v2 baseline besides the host. docs/reproducibility.md has the numbers.
"""

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from flycluster import reproducible
from flycluster.clustering import cluster_cell_type
from flycluster.kernels import native
from tolerances import BIC_RTOL, EMBEDDING_ATOL, MEANS_ATOL

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_FIXTURE = ROOT / "tests" / "fixtures" / "clustering" / "umap_gmm.npz"
SIM_FIXTURE = ROOT / "tests" / "fixtures" / "simulation" / "responses.npz"
X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.fixture(scope="module")
def ref():
    with np.load(CLUSTER_FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _run(code: str, env: dict, tmp_path: Path) -> dict:
    """Run ``code`` (which saves ``OUT``) in a fresh process with ``env``; return what it saved."""
    out = tmp_path / f"out-{abs(hash(code + json.dumps(env, sort_keys=True)))}.npz"
    proc = subprocess.run([sys.executable, "-c", f"OUT = {str(out)!r}\n" + textwrap.dedent(code)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _env(**extra) -> dict:
    cache = Path(os.environ.get("FLYCLUSTER_CACHE") or Path.home() / ".cache" / "flycluster")
    env = {k: v for k, v in os.environ.items() if k not in (
        "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE",
        "FLYCLUSTER_NATIVE_MARCH", "FLYCLUSTER_NATIVE_FP_CONTRACT")}
    # numba's cache keys its entries by CPU target, so every target can share one folder
    env.update(NUMBA_CACHE_DIR=str(cache / "numba"), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


CLUSTER_CODE = f"""
    import numpy as np
    from flycluster.clustering import cluster_cell_type
    from flycluster.reproducible import cpu_mode
    with np.load({str(CLUSTER_FIXTURE)!r}) as data:
        ds = cluster_cell_type(data["X"], task_error=data["task_error"])
    np.savez(OUT, embedding=ds["embedding"].values, bic=ds["bic"].values, label=ds["label"].values,
             means=ds["means"].values, k=ds.attrs["n_clusters"], cpu_mode=cpu_mode())
"""


@pytest.mark.skipif(not X86, reason="the portable mode pins x86-64 targets")
def test_clustering_on_a_second_cpu_target_agrees_within_the_tolerances(ref, tmp_path):
    """numba for generic x86-64, numpy's baseline loops, OpenBLAS' SSE kernels: the same labels,
    k and mask as flyvis, and floats within the tolerances derived for another CPU."""
    portable = _run(CLUSTER_CODE, reproducible.portable_environment(_env()), tmp_path)
    assert str(portable["cpu_mode"]) == "portable"
    assert int(portable["k"]) == int(ref["n_clusters"]) == 3
    np.testing.assert_array_equal(portable["label"], ref["labels"])
    np.testing.assert_allclose(portable["embedding"], ref["embedding"], rtol=0, atol=EMBEDDING_ATOL)
    np.testing.assert_allclose(portable["bic"], ref["bic"], rtol=BIC_RTOL)
    raw_of_new = [int(np.unique(ref["labels_raw"][ref["labels"] == c])[0]) for c in range(3)]
    np.testing.assert_allclose(portable["means"], ref["means"][raw_of_new], rtol=0, atol=MEANS_ATOL)


@pytest.mark.parametrize("bug", [
    {"umap_kwargs": {"min_dist": 0.1}},
    {"umap_kwargs": {"n_epochs": 1499}},
    {"gmm_kwargs": {"random_state": 43}},
    {"gmm_kwargs": {"reg_covar": 1e-5}},
], ids=["min_dist", "n_epochs", "gmm_seed", "reg_covar"])
def test_loosened_tolerances_still_catch_plausible_bugs(ref, bug):
    """Each of these one-parameter slips keeps the planted labels, yet breaks a tolerance."""
    ds = cluster_cell_type(ref["X"], task_error=ref["task_error"], **bug)
    np.testing.assert_array_equal(ds["label"].values, ref["labels"])  # labels alone miss it
    embedding_error = np.nanmax(np.abs(ds["embedding"].values - ref["embedding"]))
    bic_error = np.max(np.abs(ds["bic"].values - ref["bic"]) / np.abs(ref["bic"]))
    assert embedding_error > EMBEDDING_ATOL or bic_error > 5 * BIC_RTOL, (embedding_error, bic_error)


SIMULATE_CODE = f"""
    import numpy as np
    from flycluster.kernels import native
    from flycluster.connectome import fetch_connectome, load_connectome
    from flycluster.network import Network
    with np.load({str(SIM_FIXTURE)!r}) as data:
        ref = {{k: data[k] for k in data.files}}
    params = {{k[len("param_"):]: v for k, v in ref.items() if k.startswith("param_")}}
    network = Network(load_connectome(fetch_connectome(), extent=15), params, source="fixture")
    assert type(network.kernel_for(0.005)).__name__ == "NativeKernel"
    movie = ref["movie_b"][[0, 2], :40]  # sample 1 has NaN padding
    out = network.simulate(movie, 0.005, t_pre=0.2)
    np.savez(OUT, responses=out, library=str(native.build_library()))
"""


@pytest.mark.skipif(not X86, reason="x86-64 targets")
@pytest.mark.skipif(native.find_compiler() is None, reason="needs a C compiler")
def test_native_kernel_without_fused_multiply_adds_is_identical_on_every_target(tmp_path):
    """With -ffp-contract=off (the portable mode) the kernel built for the x86-64-v2 baseline
    (SSE, no FMA) and for this CPU (-march=native) give bit-identical responses; the default
    build (fused multiply-adds) stays within 1e-5 of them."""
    runs = {}
    for name, extra in {
        "baseline-off": {"FLYCLUSTER_NATIVE_MARCH": "x86-64-v2", "FLYCLUSTER_NATIVE_FP_CONTRACT": "off"},
        "host-off": {"FLYCLUSTER_NATIVE_FP_CONTRACT": "off"},
        "host-default": {},
    }.items():
        runs[name] = _run(SIMULATE_CODE, _env(**extra), tmp_path)
    assert len({str(r["library"]) for r in runs.values()}) == 3  # three builds (cached by flags)
    baseline, host = runs["baseline-off"]["responses"], runs["host-off"]["responses"]
    assert np.isfinite(baseline).all() and np.std(baseline) > 0.01
    assert baseline.tobytes() == host.tobytes()
    np.testing.assert_allclose(runs["host-default"]["responses"], host, rtol=0, atol=1e-5)


def test_native_flags_follow_the_environment(monkeypatch):
    monkeypatch.delenv("FLYCLUSTER_NATIVE_MARCH", raising=False)
    monkeypatch.delenv("FLYCLUSTER_NATIVE_FP_CONTRACT", raising=False)
    assert native.flag_sets() == (("-O3", "-march=native", "-ffp-contract=fast"), ("-O3", "-ffp-contract=fast"))
    monkeypatch.setenv("FLYCLUSTER_NATIVE_MARCH", "x86-64-v2")
    monkeypatch.setenv("FLYCLUSTER_NATIVE_FP_CONTRACT", "off")
    assert native.flag_sets() == (("-O3", "-march=x86-64-v2", "-ffp-contract=off"),)  # no silent fallback
    monkeypatch.setenv("FLYCLUSTER_NATIVE_FP_CONTRACT", "sometimes")
    with pytest.raises(native.NativeUnavailable, match="FLYCLUSTER_NATIVE_FP_CONTRACT.*sometimes"):
        native.flag_sets()


def test_portable_environment_and_cpu_mode():
    env = reproducible.portable_environment({"PATH": "/bin", "NUMBA_CPU_FEATURES": "+avx2"})
    assert env["PATH"] == "/bin" and "NUMBA_CPU_FEATURES" not in env
    assert reproducible.cpu_mode(env) == "portable"
    assert reproducible.cpu_mode({**env, "OPENBLAS_CORETYPE": "Haswell"}) == "native"
    assert reproducible.cpu_mode({}) == "native"
    proc = subprocess.run([sys.executable, "-m", "flycluster.reproducible"], capture_output=True,
                          text=True, env=_env())
    words = dict(w.split("=", 1) for w in proc.stdout.split())
    assert words == reproducible.PORTABLE_ENV  # `env $(python -m flycluster.reproducible) ...` works
