import os

import matplotlib

matplotlib.use("Agg")

os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def connectome_path():
    """Path of fib25-fib19_v2.2.json, fetched once (pip download of the flyvis wheel, sha256
    checked) into $FLYCLUSTER_CACHE or ~/.cache/flycluster and reused by later sessions."""
    from flycluster.connectome import fetch_connectome

    return fetch_connectome()
