"""Pickles as flyvis stores its published clusterings, for tests/test_published.py.

Run with the flyvis reference environment (never a flycluster dependency):

    FLYVIS_ROOT_DIR=/tmp/flyvis-root /tmp/flyvis-ref/bin/python tools/make_published_fixtures.py

flyvis's ``umap_and_clustering/<cell type>.pickle`` (downloaded with
``flyvis download-pretrained``) holds the object ``compute_umap_and_clustering`` returns and
``EnsembleView.clustering`` unpickles: a ``GaussianMixtureClustering`` made by
``EnsembleEmbedding.from_cell_type`` (= ``Embedding(*umap_embedding(X, **embedding_kwargs))``)
and ``.cluster.gaussian_mixture(**gm_kwargs)``. flyvis 1.2.0 has no code that writes the files,
so this script builds the same objects with flyvis's own functions and ``pickle.dump``s them
(Python's default protocol 4).

Writes into tests/fixtures/published/:

- ``umap_and_clustering/T4c.pickle``: 12 networks x 60 features, three planted groups, the
  paper's ``gm_kwargs`` (``range_n_clusters=[2, 3, 3, 4, 5]``, n_init 10 to stay cheap).
- ``umap_and_clustering/Mi1.pickle``: 12 networks, one of them constant (masked), the
  notebook's range 1..5; pickled with flyvis's classes under their former
  module name ``flyvision.analysis.clustering`` (the name of the package when the paper's
  results were made).
- ``expected.npz``: per cell type, what flyvis's objects hold (labels, mask, scaled
  embedding, BIC scores, k tried, chosen k, range_n_clusters) and the planted groups.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "published"
EMBEDDING_KWARGS = {"min_dist": 0.105, "spread": 9.0, "n_neighbors": 5, "random_state": 42,
                    "n_epochs": 1500}


def planted(n_per_group=(4, 4, 4), n_features=60, constant=None, random_state=0):
    rng = np.random.RandomState(random_state)
    t = np.linspace(0, 1, n_features)
    groups = np.repeat(np.arange(len(n_per_group)), n_per_group)
    bases = [np.sin(2 * np.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6)) for _ in n_per_group]
    X = np.array([rng.uniform(0.5, 2) * (bases[g] + 0.15 * rng.randn(n_features))
                  + rng.uniform(-1, 1) for g in groups], dtype=np.float32)
    if constant is not None:
        X[constant] = 0.25
        groups = groups.copy()
        groups[constant] = -1
    return X, groups


def make(X, gm_kwargs):
    from flyvis.analysis.clustering import Embedding, umap_embedding

    embedding = Embedding(*umap_embedding(X, **EMBEDDING_KWARGS))
    return embedding.cluster.gaussian_mixture(**gm_kwargs)


def main():
    import flyvis.analysis.clustering as fc

    folder = OUT / "umap_and_clustering"
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    cases = {
        "T4c": (planted(random_state=1), {"range_n_clusters": [2, 3, 3, 4, 5], "n_init": 10,
                                          "max_iter": 1000, "random_state": 42, "tol": 0.001}),
        "Mi1": (planted(constant=5, random_state=2),
                {"range_n_clusters": [1, 2, 3, 4, 5], "n_init": 10, "max_iter": 1000,
                 "random_state": 42, "tol": 0.001}),
    }
    for cell_type, ((X, groups), gm_kwargs) in cases.items():
        clustering = make(X, gm_kwargs)
        path = folder / f"{cell_type}.pickle"
        if cell_type == "Mi1":
            # the paper-era package name: classes pickled as flyvision.analysis.clustering.*
            sys.modules["flyvision"] = type(sys)("flyvision")
            sys.modules["flyvision.analysis"] = type(sys)("flyvision.analysis")
            sys.modules["flyvision.analysis.clustering"] = fc
            saved = {}
            for cls in (fc.GaussianMixtureClustering, fc.Embedding):
                saved[cls] = cls.__module__
                cls.__module__ = "flyvision.analysis.clustering"
            try:
                data = pickle.dumps(clustering, protocol=4)
            finally:
                for cls, module in saved.items():
                    cls.__module__ = module
        else:
            data = pickle.dumps(clustering)
        path.write_bytes(data)
        # the pickle loads back with flyvis (as EnsembleView.clustering does)
        back = pickle.loads(data)
        assert np.array_equal(back.labels, clustering.labels)
        expected[f"{cell_type}_labels"] = np.asarray(clustering.labels)
        expected[f"{cell_type}_mask"] = np.asarray(clustering.embedding.mask)
        expected[f"{cell_type}_embedding"] = np.asarray(clustering.embedding.embedding)
        expected[f"{cell_type}_scores"] = np.asarray(clustering.scores, dtype=np.float64)
        expected[f"{cell_type}_n_clusters"] = np.asarray(clustering.n_clusters)
        expected[f"{cell_type}_k"] = np.asarray(clustering.gm.n_components)
        expected[f"{cell_type}_range_n_clusters"] = np.asarray(gm_kwargs["range_n_clusters"])
        expected[f"{cell_type}_groups"] = groups
        expected[f"{cell_type}_X"] = X
        print(cell_type, "k =", clustering.gm.n_components, "labels", clustering.labels,
              "pickle bytes", len(data), "reducer", type(clustering.embedding.reducer))
    np.savez_compressed(OUT / "expected.npz", **expected)


if __name__ == "__main__":
    main()
