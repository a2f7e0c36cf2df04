"""Memory and time requests of the workflow's jobs, from the sizes of their inputs.

A cluster scheduler (SLURM) kills a job that outgrows its memory request and one that outlives
its time request, so the workflow asks per job for what that job needs: the requests are
computed from the input files' dimensions (read from the netCDF headers: networks, samples,
frames, hexals, cell types) with per-rule coefficients measured on the flow/0000 rehearsal
(``python -m flycluster.rehearsal``; docs/performance.md, "flow/0000 at real size"), and a
safety margin. Every retry of a failed job (snakemake ``--retries``, the SLURM profile's
``retries``) doubles both requests, so a job killed for memory comes back with twice as much.

Units: memory in MB (snakemake ``mem_mb``), time in minutes (``runtime``).

The coefficients describe this project's measured peaks: a Python process with numpy, torch,
xarray (``BASE_MB``) plus the arrays a job holds at once, as multiples of the data it reads.
Measured on x86-64 Linux with torch's CPU build; a CUDA job holds the CUDA context in host
memory too (``CUDA_HOST_MB``, not measured here: no GPU was available when it was set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Request", "RETRY_FACTOR", "SAFETY", "netcdf_sizes", "for_attempt",
           "simulate_request", "cluster_request", "responses_request", "stimulus_set_request"]

#: each retry multiplies the memory and time requests by this
RETRY_FACTOR = 2
#: measured peaks are multiplied by this before they become requests
SAFETY = 1.5
#: memory request of a stimulus set other than sintel (MB)
SMALL_STIMULUS_MB = 2000
#: smallest requests (MB, minutes)
MIN_MEM_MB = 1000
MIN_RUNTIME = 10

#: resident memory of a job's Python process beside its data (MB), by rule family, from the
#: rehearsal's smallest jobs: simulate 545 (flashes: torch, the network), cluster 376 (7
#: networks: numba, umap, scikit-learn, matplotlib), fri/dsi/norms/tuning 161-268, stimulus
#: sets 410 (the reduced moving-edge set)
BASE_MB = {"simulate": 560, "cluster": 380, "responses": 200, "stimulus": 420}
#: host memory a CUDA job holds for the CUDA context and torch's CUDA libraries (MB; not
#: measured, a typical figure for torch 2.x)
CUDA_HOST_MB = 3000
#: simulate: CPU seconds per sample-step at the slowest we measured for one thread
#: (native kernel 0.066 ms per sample-step on 2 cores, x 2 for one core, x 2 for slower CPUs)
SIMULATE_S_PER_SAMPLE_STEP = 0.26e-3


@dataclass(frozen=True)
class Request:
    """What one job asks the scheduler for: ``mem_mb`` (MB) and ``runtime`` (minutes)."""

    mem_mb: int
    runtime: int

    def attempt(self, attempt: int) -> "Request":
        """The request of retry ``attempt`` (1 = first try): x RETRY_FACTOR per retry."""
        return Request(for_attempt(self.mem_mb, attempt), for_attempt(self.runtime, attempt))


def for_attempt(value: float, attempt: int) -> int:
    """``value * RETRY_FACTOR ** (attempt - 1)``, rounded up (attempt 1 is the first try)."""
    attempt = max(1, int(attempt))
    return int(math.ceil(value * RETRY_FACTOR ** (attempt - 1)))


def _mem(base_mb: float, data_mb: float) -> int:
    mb = SAFETY * (base_mb + data_mb)
    return max(MIN_MEM_MB, int(math.ceil(mb / 100) * 100))


def _minutes(seconds: float) -> int:
    return max(MIN_RUNTIME, int(math.ceil(SAFETY * seconds / 60)))


def netcdf_sizes(path) -> dict:
    """Dimension sizes and attributes of a netCDF file, from its header (no data read).

    Returns ``{"dims": {name: size}, "attrs": {name: value}}``.
    """
    import netCDF4

    with netCDF4.Dataset(str(path)) as ds:
        return {"dims": {name: len(dim) for name, dim in ds.dimensions.items()},
                "attrs": {name: ds.getncattr(name) for name in ds.ncattrs()}}


def simulate_request(stimulus, n_cell_types: int = 65, device: str = "cpu",
                     threads: int = 1) -> Request:
    """Request of one simulate job: one network on the stimulus file ``stimulus``.

    Memory: the whole movie (sample x frame x hexal float32), a grey-filled copy of a batch
    with NaN padding, and the central responses (sample x frame x cell type, float32) are
    held at once, beside the process (measured on 2 CPU cores: 1107 MB peak for the flow/0000
    Sintel set, a 523 MB movie; 1855 MB for flyvis's moving edges, a 448 MB movie with NaN
    padding, all 144 samples in one batch). Time: every sample-step (frames plus fade-in
    steps) at :data:`SIMULATE_S_PER_SAMPLE_STEP` per thread.
    """
    sizes = netcdf_sizes(stimulus)
    dims, attrs = sizes["dims"], sizes["attrs"]
    n_sample, n_frame, n_hexal = dims["sample"], dims["frame"], dims["hexal"]
    movie_mb = n_sample * n_frame * n_hexal * 4 / 2**20
    responses_mb = n_sample * n_frame * n_cell_types * 4 / 2**20
    base = BASE_MB["simulate"] + (CUDA_HOST_MB if device == "cuda" else 0)
    dt = float(attrs.get("dt", 0.01))
    fade_in_steps = float(attrs.get("t_fade_in", 0.0)) / dt if dt > 0 else 0.0
    steps = n_sample * (n_frame + fade_in_steps)
    seconds = 60 + steps * SIMULATE_S_PER_SAMPLE_STEP / max(1, int(threads))
    return Request(_mem(base, 2 * movie_mb + 2 * responses_mb), _minutes(seconds))


def _response_dims(paths) -> tuple[int, dict]:
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("a response-reading job needs at least one response file")
    return len(paths), netcdf_sizes(paths[0])["dims"]


def cluster_request(responses, n_repeats: int = 0) -> Request:
    """Request of one cluster job: one cell type of every network's naturalistic responses.

    Memory: the (network, sample x frame) feature matrix in float32 and float64 copies
    (UMAP's correlation metric, the figures' traces); measured 493 MB peak for 50 networks x
    181,440 features. Time: the UMAP fits and mixture searches (1 + ``n_repeats`` stability
    repeats); measured 25 s of CPU per cell type with 20 repeats on the rehearsal, so the
    request (~18 min there) leaves room for slow or shared cores.
    """
    n_networks, dims = _response_dims(responses)
    features_mb = n_networks * dims["sample"] * dims["frame"] * 4 / 2**20
    seconds = 120 + (1 + int(n_repeats)) * (10 + 0.5 * features_mb)
    return Request(_mem(BASE_MB["cluster"], 4 * features_mb), _minutes(seconds))


def responses_request(responses) -> Request:
    """Request of a job reading every cell type of every response file, one file at a time
    (norms, the FRI and DSI indices, tuning): one file in float64 with two temporaries."""
    n_files, dims = _response_dims(responses)
    file_mb = dims["sample"] * dims["frame"] * dims.get("cell_type", 65) * 4 / 2**20
    seconds = 60 + n_files * (2 + file_mb / 20)
    return Request(_mem(BASE_MB["responses"], 6 * file_mb), _minutes(seconds))


def stimulus_set_request(spec: dict, extent: int = 15) -> Request:
    """Request of the job that renders the stimulus set ``spec`` (a ``stimuli.<name>`` entry).

    A ``sintel`` set's size follows from its folder (frames per scene, the augmentation;
    2268 x 80 x 721 float32 = 523 MB for MPI-Sintel): rendering holds the movie and the
    rendered clips before augmentation. Every other kind renders small sets (the largest,
    flyvis's full moving-edge set, 144 x 1078 x 721 float32 = 448 MB) at a measured peak
    under 1 GB; they ask for :data:`SMALL_STIMULUS_MB`.
    """
    if spec.get("kind") != "sintel":
        return Request(SMALL_STIMULUS_MB, MIN_RUNTIME)
    from flycluster.stimuli.lattice import n_hexals

    n_sample = _sintel_samples(spec)
    n_frame = int(math.ceil(spec.get("clip_frames", 19) / (24 * spec.get("dt", 0.01))))
    movie_mb = n_sample * n_frame * n_hexals(spec.get("extent", extent)) * 4 / 2**20
    seconds = 60 + n_sample * 0.05
    return Request(_mem(BASE_MB["stimulus"], 3 * movie_mb), _minutes(seconds))


def _sintel_samples(spec: dict) -> int:
    """Samples of a sintel set from its folder, or flyvis's 2268 when it cannot be listed."""
    from flycluster.errors import StimulusError
    from flycluster.stimuli.sintel import augmented_sintel_size, scene_frame_counts

    try:
        counts = scene_frame_counts(spec["root"], spec.get("scenes"))
        return augmented_sintel_size(
            counts, spec.get("clip_frames", 19), spec.get("vertical_splits", 3),
            len(spec.get("flip_axes", (0, 1))), len(spec.get("n_rotations", range(6))))
    except (StimulusError, OSError, KeyError):
        return augmented_sintel_size()
