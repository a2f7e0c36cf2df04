"""Which kernel simulates a network: :func:`make_kernel`, its fallback rules and the one warning.

The kernels take arrays already scaled for the step ``dt`` (a = dt / max(tau, dt) per node);
:func:`step_gain`, :func:`stencil_arrays` and :func:`sparse_arrays` compute them from a network's
parameters (per-edge weights, per-node time constants and biases).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from flycluster.kernels.gpu import TritonKernel, TritonUnavailable
from flycluster.kernels.native import NativeKernel, NativeUnavailable
from flycluster.kernels.sparse import ScipyKernel, TorchKernel, scaled_edge_weights, shared_pool, weight_matrix
from flycluster.kernels.stencil import StencilLayout

#: kernel names: "auto" = native on CPU (scipy where it cannot be built), triton on CUDA
#: (torch where triton is missing)
KERNELS = ("auto", "native", "scipy", "triton", "torch")
#: kernels that run on the CPU only
CPU_ONLY = ("native", "scipy")

_WARNED: set = set()


def check_kernel(kernel: str, device=None) -> None:
    """Raise ``ValueError`` unless ``kernel`` is one of :data:`KERNELS` and can run on ``device``
    (None: check the name only)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(map(repr, KERNELS))}, got {kernel!r}")
    if device is not None and kernel in CPU_ONLY and torch.device(device).type != "cpu":
        raise ValueError(f"kernel={kernel!r} runs on the CPU only; use kernel='auto', 'triton' or 'torch' on CUDA")


def step_gain(node_tau: np.ndarray, dt: float) -> np.ndarray:
    """(n_nodes,) float32 a = dt / max(tau, dt) of every node (tau in s)."""
    return (np.float32(dt) / np.maximum(node_tau, np.float32(dt))).astype(np.float32)


def stencil_arrays(connectome, edge_weight, node_tau, node_bias, dt: float) -> tuple:
    """What the stencil kernels take: (layout, term weights (n_terms,), decay, drive, input gain
    (n_types,) each), all float32 and scaled for step ``dt`` (see :mod:`flycluster.kernels.stencil`).

    ``edge_weight`` (n_edges,), ``node_tau`` and ``node_bias`` (n_nodes,): the network's parameters
    per edge and node (sign x exp(syn_count) x strength; s; V). Raises ``ValueError`` when the
    parameters are not translation invariant."""
    c = connectome
    layout = StencilLayout.of(c)
    node_gain = step_gain(node_tau, dt)
    first = np.unique(c.node_type, return_index=True)[1]  # one node per cell type (all share tau, bias)
    gain, bias = node_gain[first], node_bias[first]
    edge_weight = scaled_edge_weights(edge_weight, c.edge_target, node_gain)
    input_gain = np.zeros_like(gain)
    input_gain[c.input_types] = gain[c.input_types]
    return (layout, layout.term_weights(edge_weight), (1 - gain).astype(np.float32),
            (gain * bias).astype(np.float32), input_gain)


def sparse_arrays(connectome, edge_weight, node_tau, node_bias, dt: float) -> tuple:
    """What the sparse kernels take: (CSR weights (n_nodes, n_nodes) rows scaled by a, decay (n_nodes,),
    drive (n_nodes,), input gain (n_input_types, n_hexals), input node index, central node index)."""
    c = connectome
    gain = step_gain(node_tau, dt)
    weights = weight_matrix(c.edge_source, c.edge_target, edge_weight, c.n_nodes, gain)
    return (weights, (1 - gain).astype(np.float32), (gain * node_bias).astype(np.float32),
            gain[c.input_index], c.input_index, c.central_cells_index)


def make_kernel(kernel: str, device, connectome, edge_weight, node_tau, node_bias, dt: float,
                n_threads: int | None = None):
    """The kernel that simulates a network with step ``dt`` (s).

    Parameters
    ----------
    kernel : one of :data:`KERNELS`. "auto": native on CPU, triton on CUDA; where the fast kernel
        cannot run (no C compiler, no triton, parameters that are not translation invariant) the
        sparse fallback (scipy on CPU, torch on CUDA) with one warning per process and kernel. A
        kernel named explicitly raises instead of falling back.
    device : torch device ("cpu" or "cuda[:i]"); "triton" on CPU only with ``TRITON_INTERPRET=1``.
    connectome : :class:`flycluster.connectome.Connectome`.
    edge_weight : (n_edges,) float32 sign x exp(syn_count) x strength of every edge.
    node_tau, node_bias : (n_nodes,) float32 time constant (s) and bias (V) of every node.
    dt : integration step (s).
    n_threads : CPU worker threads (default ``torch.get_num_threads()``).

    Returns
    -------
    A :class:`~flycluster.kernels.native.NativeKernel`, :class:`~flycluster.kernels.gpu.TritonKernel`,
    :class:`~flycluster.kernels.sparse.ScipyKernel` or :class:`~flycluster.kernels.sparse.TorchKernel`.
    """
    device = torch.device(device)
    check_kernel(kernel, device)
    arrays = (connectome, edge_weight, node_tau, node_bias, dt)
    n_threads = int(n_threads or torch.get_num_threads())
    if device.type == "cpu" and kernel in ("auto", "native"):
        made = _stencil_kernel(kernel, "native", "scipy", arrays, device, n_threads)
    elif kernel == "triton" or (device.type == "cuda" and kernel == "auto"):
        made = _stencil_kernel(kernel, "triton", "torch", arrays, device, n_threads)
    else:
        made = None
    if made is not None:
        return made
    if device.type == "cpu" and kernel != "torch":
        return ScipyKernel(*sparse_arrays(*arrays), n_threads=n_threads)
    return TorchKernel(*sparse_arrays(*arrays), device=device)


def _stencil_kernel(kernel: str, name: str, fallback: str, arrays: tuple, device, n_threads: int):
    """The ``name`` ("native" or "triton") stencil kernel, or None (with one warning) where it
    cannot run and ``kernel`` is "auto"."""
    try:
        args = stencil_arrays(*arrays)
        if name == "triton":
            return TritonKernel(*args, device=device)
        return NativeKernel(*args, n_threads=n_threads, pool=shared_pool(n_threads) if n_threads > 1 else None)
    except (NativeUnavailable, TritonUnavailable, ValueError) as exc:
        if kernel == name:
            raise
        warn_fallback_once(name, fallback, exc)
        return None


def warn_fallback_once(kernel: str, fallback: str, reason) -> None:
    """One warning per process and kernel that the fast kernel is unavailable, with the reason."""
    if kernel in _WARNED:
        return
    _WARNED.add(kernel)
    if isinstance(reason, ValueError):  # the parameters, not the installation
        advice = "the stencil kernels need translation-invariant parameters, as flyvis's are"
    elif kernel == "native":
        advice = ("install a C compiler (gcc or clang) for the fast kernel, or set FLYCLUSTER_NATIVE=0 to use "
                  "scipy without this warning")
    else:
        advice = "install triton (it ships with PyTorch's CUDA builds on Linux) for the fast kernel"
    warnings.warn(f"flycluster's {kernel} kernel is unavailable ({reason}); simulating with the {fallback} "
                  f"kernel, which is slower. To fix: {advice}.", stacklevel=5)
