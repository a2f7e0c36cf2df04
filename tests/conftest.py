import os

import matplotlib

matplotlib.use("Agg")

os.environ.setdefault("OMP_NUM_THREADS", "2")
