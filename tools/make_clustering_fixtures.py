"""Reference fixtures for tests/test_clustering.py and tests/test_tuning.py, made with flyvis.

Run with the flyvis reference environment (never a flycluster dependency):

    FLYVIS_ROOT_DIR=/tmp/flyvis-root /tmp/flyvis-ref/bin/python tools/make_clustering_fixtures.py

Writes into tests/fixtures/clustering/:

- ``umap_gmm.npz``: a seeded response-like matrix X (26 networks x 400 features: three planted
  groups of differently shaped waveforms, each network scaled/offset/noised, plus one constant
  network), task errors, and what flyvis 1.2.0 makes of it with the seed notebook's settings
  (``umap_embedding`` -> ``Embedding`` min-max scaling -> ``gaussian_mixture`` ->
  ``task_error_sort_labels``): scaled embedding, mask, raw and sorted labels, BIC per k, the
  chosen k and the mixture's weights/means/covariances; and (``paper_*``) the raw labels, BIC
  and k of ``gaussian_mixture`` with the paper's ``range_n_clusters=[2, 3, 3, 4, 5]``.
- ``moving_edges.npz``: synthetic moving-edge responses (3 networks x 144 samples x 135 frames,
  flyvis sample order angle/width/intensity/speed, NaN after each sample's end) and flyvis'
  ``peak_responses``, ``direction_selectivity_index`` and ``preferred_direction`` of them.
- ``maisak_tuning.json``: flyvis' ``groundtruth_utils.tuning_curves`` and
  ``preferred_directions`` (Maisak et al. 2013, Fig. 3g,h).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "clustering"

UMAP_KWARGS = {"min_dist": 0.105, "spread": 9.0, "n_neighbors": 5, "random_state": 42,
               "n_epochs": 1500}
GMM_KWARGS = {"range_n_clusters": [1, 2, 3, 4, 5], "n_init": 100, "max_iter": 1000,
              "random_state": 42, "tol": 0.001}


def planted_matrix(random_state=0):
    """(26, 400) float32: groups of 8, 9, 8 networks around three waveforms + one constant."""
    rng = np.random.RandomState(random_state)
    t = np.linspace(0, 1, 400)
    groups = np.repeat([0, 1, 2], [8, 9, 8])
    bases = []
    for g in range(3):
        freqs = rng.uniform(1, 6, size=4)
        phases = rng.uniform(0, 2 * np.pi, size=4)
        bases.append(sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases)))
    rows = []
    for g in groups:
        noise = np.convolve(rng.randn(440), np.ones(40) / 40, mode="valid")[:400]
        rows.append(rng.uniform(0.5, 2) * (bases[g] + 1.5 * noise) + rng.uniform(-1, 1))
    rows.append(np.full(400, 0.5))  # exactly representable: std == 0
    X = np.array(rows, dtype=np.float32)
    group = np.append(groups, -1)
    # task errors: group 2 best, then group 0, then group 1; the constant network in between
    task_error = np.array([0.5, 0.7, 0.3])[groups] + rng.uniform(0, 0.05, len(groups))
    task_error = np.append(task_error, 0.45)
    return X, group, task_error


def umap_gmm_fixture():
    from flyvis.analysis.clustering import Embedding, gaussian_mixture, task_error_sort_labels, umap_embedding

    X, group, task_error = planted_matrix()
    embedding, mask, reducer = umap_embedding(X, **UMAP_KWARGS)
    emb = Embedding(embedding, mask, reducer)  # the setter min-max scales
    labels, gm, bic, ks = gaussian_mixture(emb.embedding, emb.mask, **GMM_KWARGS)
    sorted_labels = task_error_sort_labels(task_error, labels)
    # the stored paper results' range, with its duplicate k = 3
    paper_labels, paper_gm, paper_bic, paper_ks = gaussian_mixture(
        emb.embedding, emb.mask, **{**GMM_KWARGS, "range_n_clusters": [2, 3, 3, 4, 5]})
    np.savez_compressed(
        OUT / "umap_gmm.npz", X=X, planted_group=group, task_error=task_error,
        embedding=emb.embedding, mask=emb.mask, labels_raw=labels, labels=sorted_labels,
        bic=np.asarray(bic), range_n_clusters=np.asarray(ks), n_clusters=gm.n_components,
        weights=gm.weights_, means=gm.means_, covariances=gm.covariances_,
        paper_labels_raw=paper_labels, paper_bic=np.asarray(paper_bic),
        paper_range_n_clusters=np.asarray(paper_ks), paper_n_clusters=paper_gm.n_components)
    print("umap_gmm: k =", gm.n_components, "labels", sorted_labels, "bic", np.round(bic, 2))


def moving_edge_dataset(random_state=1, n_networks=3, dt=1 / 25):
    """flyvis-layout moving-edge responses of one cell type with a seeded tuning per network."""
    rng = np.random.RandomState(random_state)
    angles = np.arange(0, 360, 30)
    speeds = np.array([2.4, 4.8, 9.7, 13, 19, 25])
    widths, intensities = [80], [0, 1]
    grid = np.array([(a, w, i, s) for a in angles for w in widths for i in intensities
                     for s in speeds], dtype=float)
    t_stim = 21 * 2.25 / (5.8 * grid[:, 3])
    t_pre, t_post = 1.0, 1.0
    n_frames = int(np.ceil((t_pre + t_stim.max() + t_post) / dt))
    time = np.arange(n_frames) * dt - t_pre
    pref = rng.uniform(0, 360, n_networks)
    kappa = rng.uniform(0.5, 3, n_networks)
    gain = rng.uniform(0.5, 2, (n_networks, 2))  # per intensity
    resp = np.zeros((n_networks, len(grid), n_frames, 1), dtype=np.float32)
    for n in range(n_networks):
        for s, (angle, _, intensity, speed) in enumerate(grid):
            amp = gain[n, int(intensity)] * np.exp(kappa[n] * (np.cos(np.deg2rad(angle - pref[n])) - 1))
            peak_t = rng.uniform(0.1, 0.9) * t_stim[s]
            trace = amp * np.exp(-0.5 * ((time - peak_t) / (0.05 + 0.1 * t_stim[s])) ** 2)
            trace = trace - 0.3 * amp + 0.05 * rng.randn(n_frames)
            # a large response after the edge has passed: outside the peak window
            trace = trace + 3.0 * np.exp(-0.5 * ((time - t_stim[s] - 0.3) / 0.05) ** 2)
            trace[time > t_stim[s] + t_post] = np.nan
            resp[n, s, :, 0] = trace
    ds = xr.Dataset(
        {"responses": (("network_id", "sample", "frame", "neuron"), resp)},
        coords={"angle": ("sample", grid[:, 0]), "width": ("sample", grid[:, 1]),
                "intensity": ("sample", grid[:, 2]), "speed": ("sample", grid[:, 3]),
                "t_stim": ("sample", t_stim), "time": ("frame", time),
                "cell_type": ("neuron", ["T4c"])},
        attrs={"config": {"offsets": [-10, 11], "dt": dt, "t_pre": t_pre, "t_post": t_post}},
    )
    return ds


def tuning_fixture():
    from flyvis.analysis import moving_bar_responses as mbr

    ds = moving_edge_dataset()
    peak = mbr.peak_responses(ds)
    dsi = mbr.direction_selectivity_index(ds)
    pd = mbr.preferred_direction(ds)
    np.savez_compressed(
        OUT / "moving_edges.npz", responses=ds["responses"].values[..., 0],
        angle=ds["angle"].values, width=ds["width"].values, intensity=ds["intensity"].values,
        speed=ds["speed"].values, t_stim=ds["t_stim"].values, time=ds["time"].values,
        peak=peak.transpose("network_id", "sample", "neuron").values[..., 0],
        dsi=dsi.transpose("network_id", "intensity").values,
        dsi_intensity=dsi["intensity"].values,
        preferred_direction=pd.squeeze().transpose("network_id", "intensity").values,
        pd_intensity=pd["intensity"].values)
    print("tuning: dsi", np.round(dsi.values, 3))


def groundtruth_fixture():
    from flyvis.utils import groundtruth_utils as gt

    data = {"tuning_curves": {k: list(map(float, v)) for k, v in gt.tuning_curves.items()},
            "preferred_directions": dict(gt.preferred_directions),
            "angles": list(range(0, 360, 30))}
    (OUT / "maisak_tuning.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    groundtruth_fixture()
    tuning_fixture()
    umap_gmm_fixture()
