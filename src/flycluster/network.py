"""A flyvis network (connectome + parameters) and its simulation on movies.

``Network.simulate`` computes the voltages of the 65 central cells exactly as flyvis's
``Network.stimulus_response`` does (see :mod:`flycluster.kernels` for the Euler step):

1. grey steady state: ``int(t_pre / dt)`` steps of constant luminance 0.5 from V = bias
   (computed once per (t_pre, dt) and network, reused by every batch); V = bias if t_pre <= 0;
2. per-sample fade-in: ``n = int(t_fade_in / dt)`` steps with input
   ``0.5 + linspace(0, 1, n)[k] * (frame0 - 0.5)``;
3. the movie, one Euler step per frame; output frame t = state after integrating frame t.

Movies are (samples, frames, hexals) luminance in [0, 1], hexals in flyvis's u-major order
(:func:`flycluster.connectome.hex_columns`). Frames that are entirely NaN pad samples shorter
than the longest (as flyvis pads moving edges): from a sample's first NaN frame on its responses
are NaN, as in flyvis; the NaNs never enter the state, so they cannot reach other samples.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from flycluster.connectome import Connectome, load_connectome
from flycluster.errors import StimulusError
from flycluster.kernels import check_kernel, make_kernel, stencil_arrays
from flycluster.parameters import PARAMETER_KEYS, initial_state_dict, validate_state_dict

#: luminance of the grey screen used for the steady state and the fade-in baseline
GREY = 0.5
#: tolerance on the [0, 1] luminance range (rendering round-off)
_RANGE_TOLERANCE = 1e-5

logger = logging.getLogger(__name__)


def resolve_device(device) -> torch.device:
    """``torch.device`` to use: CUDA when asked for and present, else CPU (with a warning)."""
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn("CUDA was requested but is not available; simulating on the CPU", stacklevel=3)
        return torch.device("cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device}")
    return device


def _read_only(array: np.ndarray) -> np.ndarray:
    """A view of ``array`` that cannot be written."""
    view = array.view()
    view.flags.writeable = False
    return view


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class _Progress:
    """INFO records of logger ``flycluster.network``: samples done, rate, ETA; at most one every
    ``interval`` seconds (the rule scripts log INFO to the job's log file)."""

    def __init__(self, total: int, enabled: bool, label: str, interval: float = 10.0):
        self.total, self.enabled, self.label, self.interval = total, enabled, label, interval
        self.start = self.last = time.perf_counter()

    def update(self, done: int):
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < self.interval and done < self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else math.inf
        logger.info("%s: %d/%d samples (%.1f%%), %.2f samples/s, elapsed %s, ETA %s", self.label, done,
                    self.total, 100 * done / self.total, rate, _format_seconds(now - self.start),
                    _format_seconds(eta) if math.isfinite(eta) else "?")


class Network:
    """A connectome-constrained network with flyvis parameters, ready to simulate.

    Build with :func:`load_network` (from a checkpoint) or :meth:`from_state_dict`.

    Parameters
    ----------
    connectome : :class:`flycluster.connectome.Connectome`
    state_dict : flyvis parameters (see :mod:`flycluster.parameters`), validated here.
    device : "cpu" or "cuda" (CUDA falls back to CPU with a warning when absent).
    source : label for messages (the checkpoint path).
    kernel : "auto" (native on CPU, triton on CUDA, each falling back with a warning: to scipy
        where no C compiler is found, to torch where triton is missing), "native" or "scipy" (CPU
        only), "triton" (CUDA; on CPU only with ``TRITON_INTERPRET=1``, for tests) or "torch"
        (cuSPARSE on CUDA; any device).

    Attributes
    ----------
    connectome : :class:`flycluster.connectome.Connectome`
    device : torch.device the simulation runs on.
    source : where the parameters came from (checkpoint path or a label).
    """

    def __init__(self, connectome: Connectome, state_dict, device="cpu", source="<state dict>", kernel: str = "auto"):
        check_kernel(kernel)  # the name; the device once resolved
        self.connectome = connectome
        self.kernel = kernel
        self.source = str(source)
        self.device = resolve_device(device)
        check_kernel(kernel, self.device)
        self._params = validate_state_dict(state_dict, connectome, source=self.source)
        c = connectome
        p = {k: v.numpy() for k, v in self._params.items()}
        group, _, _, _ = c.syn_count_groups
        # flyvis: weight = sign * exp(syn_count) * strength, strength clamped at 0, float32
        strength = np.maximum(p["edges_syn_strength"], np.float32(0))
        self._edge_weight = (p["edges_sign"][c.edge_type] * np.exp(p["edges_syn_count"])[group]
                             * strength[c.edge_type]).astype(np.float32)
        self._node_bias = p["nodes_bias"][c.node_type].astype(np.float32)
        self._node_tau = p["nodes_time_const"][c.node_type].astype(np.float32)
        self._kernels: dict = {}
        self._steady: dict = {}

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_state_dict(cls, state_dict, connectome=None, extent: int = 15, device="cpu", source="<state dict>",
                        kernel: str = "auto"):
        """Network from a flyvis state dict (keys :data:`flycluster.parameters.PARAMETER_KEYS`).

        ``connectome`` is a :class:`Connectome`, a json path, or None (fetched, see
        :func:`flycluster.connectome.load_connectome`); ``extent`` applies unless a Connectome is given.
        """
        if not isinstance(connectome, Connectome):
            connectome = load_connectome(connectome, extent=extent)
        return cls(connectome, state_dict, device=device, source=source, kernel=kernel)

    @classmethod
    def initial(cls, connectome=None, extent: int = 15, device="cpu"):
        """An untrained flyvis network (the parameters of :func:`flycluster.parameters.initial_state_dict`)."""
        if not isinstance(connectome, Connectome):
            connectome = load_connectome(connectome, extent=extent)
        return cls(connectome, initial_state_dict(connectome), device=device, source="<flyvis initial parameters>")

    # -- properties ---------------------------------------------------------------------------

    @property
    def cell_types(self) -> list[str]:
        """The 65 cell type names in connectome order (the last axis of :meth:`simulate`)."""
        return list(self.connectome.cell_types)

    @property
    def central_cells(self) -> np.ndarray:
        """(65,) node index of the central (u = v = 0) cell of each type, connectome order."""
        return self.connectome.central_cells_index

    @property
    def n_hexals(self) -> int:
        """Hexals per movie frame (721 at extent 15)."""
        return self.connectome.n_hexals

    @property
    def edge_weights(self) -> np.ndarray:
        """(n_edges,) float32 weight of every edge: sign x exp(syn_count) x max(strength, 0)
        (read-only)."""
        return _read_only(self._edge_weight)

    @property
    def node_bias(self) -> np.ndarray:
        """(n_nodes,) float32 bias (resting voltage) of every node, V (read-only)."""
        return _read_only(self._node_bias)

    @property
    def node_time_constants(self) -> np.ndarray:
        """(n_nodes,) float32 membrane time constant of every node, s (read-only)."""
        return _read_only(self._node_tau)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters in flyvis's state-dict format (float32 CPU tensors, copies)."""
        return {k: v.clone() for k, v in self._params.items()}

    def module(self, backend: str = "auto"):
        """A differentiable copy of this network for training: a ``torch.nn.Module`` whose
        parameters are flyvis's (``nodes_bias``, ``nodes_time_const``, ``edges_syn_strength``
        trainable; ``edges_sign``, ``edges_syn_count`` buffers), see
        :class:`flycluster.training.NetworkModule` and docs/training.md."""
        from flycluster.training.module import network_module

        return network_module(self, backend=backend)

    # -- simulation ---------------------------------------------------------------------------

    def kernel_for(self, dt: float):
        """The kernel (see :mod:`flycluster.kernels`) that simulates this network with step ``dt`` (s),
        made by :func:`flycluster.kernels.make_kernel` on first use; the last one is kept."""
        key = float(dt)
        if key not in self._kernels:
            kernel = make_kernel(self.kernel, self.device, self.connectome, self._edge_weight, self._node_tau,
                                 self._node_bias, dt, n_threads=torch.get_num_threads())
            self._kernels = {key: kernel}  # keep one: kernels hold a weight matrix each
        return self._kernels[key]

    def stencil_arrays(self, dt: float) -> tuple:
        """What the stencil kernels take for step ``dt``: see :func:`flycluster.kernels.stencil_arrays`.

        Raises ``ValueError`` when the parameters are not translation invariant."""
        return stencil_arrays(self.connectome, self._edge_weight, self._node_tau, self._node_bias, dt)

    def relax(self, v0, n_steps: int, dt: float, luminance: float = GREY) -> np.ndarray:
        """(n_nodes,) float32 voltages after ``n_steps`` Euler steps of step ``dt`` (s) under constant
        ``luminance`` from the (n_nodes,) voltages ``v0``."""
        return self.kernel_for(dt).relax(np.array(v0, dtype=np.float32), int(n_steps), luminance)  # a writable copy

    def steady_state(self, t_pre: float, dt: float) -> np.ndarray:
        """(n_nodes,) float32 voltages after ``int(t_pre / dt)`` steps of grey (0.5) from V = bias.

        Returns the bias when ``t_pre <= 0``. Cached per (t_pre, dt).
        """
        key = (float(t_pre), float(dt))
        if key not in self._steady:
            n_steps = int(t_pre / dt) if t_pre > 0 else 0
            if n_steps == 0:
                self._steady[key] = self._node_bias.copy()
            else:
                self._steady[key] = self.kernel_for(dt).relax(self._node_bias, n_steps, GREY)
        return self._steady[key]

    def default_batch_size(self, dt: float = 0.01) -> int:
        """Samples per batch of the kernel that simulates with step ``dt``: 1024 on CUDA; on CPU 128
        for the native kernel (16 chunks of 8 samples shared by the threads), 64 for scipy's."""
        return self.kernel_for(dt).default_batch_size

    def simulate(self, movie, dt: float, t_pre: float = 0.0, t_fade_in: float = 0.0,
                 batch_size: int | None = None, progress: bool | None = None) -> np.ndarray:
        """Voltages of the central cells for every sample of ``movie``.

        Parameters
        ----------
        movie : array-like (samples, frames, hexals), luminance in [0, 1]; hexals in flyvis
            u-major order (721 at extent 15). Entirely-NaN frames pad shorter samples.
            Numpy arrays, torch tensors and xarray DataArrays are accepted; only one batch
            at a time is converted to float32.
        dt : integration time step (s), > 0; one movie frame per step.
        t_pre : duration (s) of the grey steady state before every sample (0: start at V = bias).
        t_fade_in : duration (s) of the per-sample contrast ramp of frame 0 (0: none).
        batch_size : samples integrated together (default :meth:`default_batch_size`).
        progress : log progress (INFO records of logger ``flycluster.network``, at most one per 10 s);
            default: when the run has more than one batch.

        Returns
        -------
        float32 numpy array (samples, frames, 65): central-cell voltages (cell types in
        :attr:`cell_types` order); NaN from each sample's first NaN frame on.
        """
        movie, first_nan = self._check_movie(movie)
        dt, t_pre, t_fade_in = self._check_times(dt, t_pre, t_fade_in)
        n_samples, n_frames, _ = movie.shape
        if batch_size is None:
            batch_size = self.default_batch_size(dt)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(min(batch_size, max(n_samples, 1)))
        if n_samples:  # equal batches rather than a small last one
            batch_size = math.ceil(n_samples / math.ceil(n_samples / batch_size))
        out = np.empty((n_samples, n_frames, len(self.cell_types)), dtype=np.float32)
        if n_samples == 0:
            return out
        kernel = self.kernel_for(dt)
        v0 = self.steady_state(t_pre, dt)
        n_fade = int(t_fade_in / dt) if t_fade_in > 0 else 0
        ramp = torch.linspace(0, 1, n_fade).tolist() if n_fade else None  # float32 values, as flyvis
        n_batches = math.ceil(n_samples / batch_size)
        report = _Progress(n_samples, n_batches > 1 if progress is None else bool(progress),
                           label=f"simulate {self.source}")
        with torch.no_grad():
            for start in range(0, n_samples, batch_size):
                stop = min(start + batch_size, n_samples)
                # (batch, frames, hexals); not copied when float32 without padding (kernels only read it)
                frames = np.asarray(movie[start:stop], dtype=np.float32)
                if (first_nan[start:stop] < n_frames).any():
                    frames = np.nan_to_num(frames, nan=GREY)  # a copy; padding frames are masked below
                out[start:stop] = kernel.run(v0, frames, n_fade, ramp)
                report.update(stop)
        self._mask_nan_padding(out, first_nan, n_fade)
        return out

    def _mask_nan_padding(self, out: np.ndarray, first_nan: np.ndarray, n_fade: int) -> None:
        """NaN where flyvis's responses are NaN: a NaN input frame reaches the central cell of
        a type as many steps later as its synaptic distance from the photoreceptors."""
        n_frames = out.shape[1]
        delay = self.connectome.input_distance  # (types,), -1: never reached
        frames = np.arange(n_frames)[:, None]
        for i in np.flatnonzero(first_nan < n_frames):
            # a NaN frame 0 also poisons the fade-in, which starts n_fade steps earlier
            start = -n_fade if (first_nan[i] == 0 and n_fade) else first_nan[i]
            nan = (frames - start >= delay[None, :]) & (delay[None, :] >= 0)
            out[i][nan] = np.nan

    # -- input checks ---------------------------------------------------------------------------

    def _check_times(self, dt, t_pre, t_fade_in):
        for name, value in (("dt", dt), ("t_pre", t_pre), ("t_fade_in", t_fade_in)):
            if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer))
                    or not math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        if dt <= 0:
            raise ValueError(f"dt must be > 0 s, got {dt}")
        if t_pre < 0 or t_fade_in < 0:
            raise ValueError(f"t_pre and t_fade_in must be >= 0 s, got t_pre={t_pre}, t_fade_in={t_fade_in}")
        if dt > 1 / 50:
            warnings.warn(f"dt={dt} s is large for Euler integration (flyvis warns above 1/50 s)", stacklevel=3)
        return float(dt), float(t_pre), float(t_fade_in)

    def _check_movie(self, movie):
        """Validate shape and values; return (movie as sliceable array, first NaN frame per sample)."""
        if isinstance(movie, torch.Tensor):
            movie = movie.detach().cpu().numpy()
        if hasattr(movie, "dims") and hasattr(movie, "values") and not isinstance(movie, np.ndarray):
            movie = movie.data  # xarray: numpy (or dask) array, sliced lazily per batch
        if not hasattr(movie, "shape") or not hasattr(movie, "__getitem__"):
            movie = np.asarray(movie, dtype=np.float32)
        shape = tuple(movie.shape)
        if len(shape) != 3 or shape[2] != self.n_hexals:
            raise StimulusError(
                f"movie must have shape (samples, frames, {self.n_hexals}) (hexals of extent "
                f"{self.connectome.extent}), got {shape}")
        if shape[1] < 1:
            raise StimulusError(f"movie must have at least one frame, got shape {shape}")
        n_samples, n_frames = shape[:2]
        first_nan = np.full(n_samples, n_frames, dtype=np.int64)
        chunk = max(1, int(2**25 // max(n_frames * shape[2], 1)))
        for start in range(0, n_samples, chunk):
            block = np.asarray(movie[start:start + chunk], dtype=np.float32)
            low, high = block.min(initial=np.inf), block.max(initial=-np.inf)  # NaN if any value is NaN
            if np.isnan(low) or np.isnan(high):  # padding frames (or a malformed frame): find them
                nan = np.isnan(block)
                frame_nan = nan.all(axis=2)
                partial = nan.any(axis=2) & ~frame_nan
                if partial.any():
                    s, f = np.argwhere(partial)[0]
                    raise StimulusError(
                        f"movie sample {start + s}, frame {f}: some hexals are NaN but not all; only "
                        "entirely-NaN frames (padding) are allowed")
                has = frame_nan.any(axis=1)
                first_nan[start:start + len(block)][has] = frame_nan[has].argmax(axis=1)
                low, high = np.nanmin(block, initial=np.inf), np.nanmax(block, initial=-np.inf)
            if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:  # infinities included
                raise StimulusError(
                    f"movie values must be luminances in [0, 1]; samples {start}..{start + len(block) - 1} "
                    f"span [{low:.4g}, {high:.4g}]")
        return movie, first_nan


def load_network(checkpoint, connectome=None, extent: int = 15, device="cpu", loss_name: str = "loss") -> Network:
    """Load a trained flyvis network.

    Parameters
    ----------
    checkpoint : a checkpoint file (``torch.save`` dict with a ``network`` state dict, or the
        state dict itself) or a flyvis network directory (``<model>/chkpts/chkpt_*``; the best
        checkpoint = argmin of ``validation/<loss_name>.h5``).
    connectome : :class:`Connectome`, json path, or None (fetched from the flyvis wheel).
    extent : eye radius in columns (flyvis: 15); ignored when a Connectome is given.
    device : "cpu" or "cuda" (falls back to CPU with a warning when CUDA is absent).
    loss_name : validation loss file used to pick the best checkpoint of a directory.
    """
    from flycluster.checkpoints import best_checkpoint, read_state_dict

    path = Path(checkpoint)
    if path.is_dir():
        path = best_checkpoint(path, loss_name=loss_name)
    state_dict = read_state_dict(path)
    if not isinstance(connectome, Connectome):
        connectome = load_connectome(connectome, extent=extent)
    return Network(connectome, state_dict, device=device, source=path)


__all__ = ["Network", "load_network", "resolve_device", "PARAMETER_KEYS"]
