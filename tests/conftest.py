import os

import matplotlib

matplotlib.use("Agg")

os.environ.setdefault("OMP_NUM_THREADS", "2")
# without CUDA, run the Triton kernel in Triton's interpreter (tests/test_gpu.py); this has to be
# set before triton is first imported, which decorates its own language functions accordingly
import torch  # noqa: E402

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def connectome_path():
    """Path of fib25-fib19_v2.2.json, fetched once (pip download of the flyvis wheel, sha256
    checked) into $FLYCLUSTER_CACHE or ~/.cache/flycluster and reused by later sessions."""
    from flycluster.connectome import fetch_connectome

    return fetch_connectome()
