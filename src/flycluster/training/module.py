"""A flyvis network as a differentiable ``torch.nn.Module`` (for training).

:class:`NetworkModule` holds flyvis's parameters under flyvis's state-dict names:

========================  ======  =========  ==============================================
name                      size    trainable  role
========================  ======  =========  ==============================================
``nodes_bias``            65      yes        resting potential b of each cell type
``nodes_time_const``      65      yes        membrane time constant tau (s) of each type
``edges_syn_strength``    604     yes        strength per (source, target) type, >= 0
``edges_sign``            604     no         +-1 per edge type (buffer)
``edges_syn_count``       2355    no         log synapse count per (src, tgt, dv, du) (buffer)
========================  ======  =========  ==============================================

``forward(movie, dt, state=None)`` integrates flyvis's PPNeuronIGRSynapses dynamics with explicit
Euler steps, exactly as flyvis's ``Network.forward``::

    w_e = sign * exp(syn_count) * strength                  (per edge, from its groups)
    V_i <- V_i + 1 / max(tau_i, dt) * (-V_i + b_i + sum_{e -> i} w_e relu(V_src(e)) + x_i(t)) * dt

with the movie on the photoreceptors R1..R8 (x_i = luminance of node i's hexal) and 0 elsewhere.
Output frame t is the state after integrating movie frame t. Like flyvis's ``Network.clamp``,
every forward call first clamps ``edges_syn_strength`` at 0 *in place* (``param.data.clamp_(0)``:
no effect on the gradient, which is taken at the clamped value); nothing else is clamped (flyvis's
bias has no clamp and no symmetry constraint; tau enters only through ``max(tau, dt)``, whose
gradient is 0 where tau < dt and split in half where tau == dt, as ``torch.maximum``'s).

Three backends compute the same thing:

- ``"torch"``: the reference. Every step gathers relu(V) of every edge's source and scatters
  the currents to the targets (``index_add``); gradients come from autograd. Any dtype (float32,
  float64) and device; it also gives gradients for the movie and the initial state.
- ``"native"``: :class:`flycluster.adjoint.StencilSimulation`, the stencil kernel with a hand-written
  adjoint in C (``csrc/stencil_adjoint.c``): the forward pass stores the states, the backward pass
  runs the transposed stencil backwards in time and sums the weight gradients over positions.
  float32 on CPU only; the initial state gets its gradient, the movie does not.
- ``"triton"``: :class:`flycluster.kernels.gpu_adjoint.TritonSimulation`, the same stencil and
  adjoint as Triton kernels for CUDA devices (and for Triton's CPU interpreter with
  ``TRITON_INTERPRET=1``, which the tests use). float32 only; no movie gradient.

``backend="auto"`` (default) uses native for float32 CPU inputs and triton for float32 CUDA inputs
that need no movie gradient, when the C library can be built or triton can compile; otherwise the
torch reference, with one warning.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from flycluster.parameters import PARAMETER_KEYS, validate_state_dict

#: backends of :class:`NetworkModule`
BACKENDS = ("auto", "torch", "native", "triton")
#: the trainable parameters, as named in flyvis's state dict
TRAINABLE = ("nodes_bias", "nodes_time_const", "edges_syn_strength")
#: the fixed parameters (buffers)
FIXED = ("edges_sign", "edges_syn_count")
#: luminance of flyvis's grey steady state
GREY = 0.5


def _check_dt(dt) -> float:
    numeric = isinstance(dt, (int, float, np.floating, np.integer)) and not isinstance(dt, bool)
    if not numeric or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
    return float(dt)


class NetworkModule(nn.Module):
    """Differentiable flyvis network; see the module docstring for the dynamics.

    Build it with :meth:`flycluster.network.Network.module` or directly.

    Parameters
    ----------
    connectome : :class:`flycluster.connectome.Connectome` (any extent).
    state_dict : flyvis parameters (keys :data:`flycluster.parameters.PARAMETER_KEYS`), copied.
    backend : "auto", "torch" or "native" (see the module docstring).

    Attributes
    ----------
    nodes_bias, nodes_time_const, edges_syn_strength : ``nn.Parameter`` (float32 unless converted
        with ``.double()``).
    edges_sign, edges_syn_count : buffers.
    n_nodes, n_hexals : nodes of the network and hexals per movie frame.
    """

    def __init__(self, connectome, state_dict, backend: str = "auto", source: str = "<state dict>"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
        self.backend = backend
        self.connectome = connectome
        params = validate_state_dict(state_dict, connectome, source=source)
        for key in TRAINABLE:
            setattr(self, key, nn.Parameter(params[key].detach().clone().float()))
        for key in FIXED:
            self.register_buffer(key, params[key].detach().clone().float())
        c = connectome
        group = c.syn_count_groups[0]
        index = {
            "node_type": c.node_type, "edge_source": c.edge_source, "edge_target": c.edge_target,
            "edge_type": c.edge_type, "edge_group": group, "input_index": np.asarray(c.input_index).ravel(),
        }
        for key, value in index.items():
            self.register_buffer("_" + key, torch.from_numpy(np.array(value, dtype=np.int64)), persistent=False)
        self.n_nodes = int(c.n_nodes)
        self.n_hexals = int(c.n_hexals)
        self.n_input_types = int(np.asarray(c.input_index).shape[0])
        self._stencil = None  # flycluster.adjoint.StencilSimulation, built on first native use
        self._triton = {}  # flycluster.kernels.gpu_adjoint.TritonSimulation of each device, built on first use
        self._warned = False

    # -- parameters -------------------------------------------------------------------------------

    def clamp(self) -> None:
        """Clamp the parameters in place as flyvis's ``Network.clamp``: strengths at >= 0."""
        with torch.no_grad():
            if self.edges_syn_strength.requires_grad:  # flyvis clamps trainable parameters only
                self.edges_syn_strength.clamp_(min=0)

    def edge_weights(self) -> torch.Tensor:
        """(n_edges,) w = sign x exp(syn_count) x strength of every edge (differentiable)."""
        return self.weights_of(self._edge_type, self._edge_group)

    def weights_of(self, edge_type: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """sign x exp(syn_count) x strength (flyvis's per-edge product, in its order) for each pair of
        edge type and ``edges_syn_count`` group: every edge (:meth:`edge_weights`) or every stencil
        term (the adjoints). Differentiable."""
        return self.edges_sign[edge_type] * torch.exp(self.edges_syn_count)[group] * self.edges_syn_strength[edge_type]

    def inv_tau(self, dt: float) -> torch.Tensor:
        """(n_types,) 1 / max(tau, dt) as flyvis computes it (``torch.maximum`` with a tensor dt;
        differentiable)."""
        tau = self.nodes_time_const
        return 1 / torch.maximum(tau, torch.tensor(dt, dtype=tau.dtype, device=tau.device))

    def flyvis_state_dict(self) -> dict[str, torch.Tensor]:
        """The five parameters in flyvis's state-dict format (float32 CPU copies)."""
        return {k: getattr(self, k).detach().float().cpu().clone() for k in PARAMETER_KEYS}

    # -- simulation -------------------------------------------------------------------------------

    def initial_state(self, batch: int) -> torch.Tensor:
        """(batch, n_nodes) flyvis's default state: V = bias (differentiable in the bias)."""
        return self.nodes_bias[self._node_type].unsqueeze(0).expand(batch, self.n_nodes)

    def _check_movie(self, movie) -> torch.Tensor:
        if not isinstance(movie, torch.Tensor):
            movie = torch.as_tensor(np.asarray(movie))
        if movie.ndim != 3 or movie.shape[2] != self.n_hexals:
            raise ValueError(f"movie must be a tensor (samples, frames, {self.n_hexals}) (hexals of extent "
                             f"{self.connectome.extent}), got shape {tuple(movie.shape)}")
        if not movie.is_floating_point():
            raise ValueError(f"movie must be a float tensor, got {movie.dtype}")
        return movie.to(self.nodes_bias.dtype)

    def _check_state(self, state, batch: int) -> torch.Tensor:
        if state is None:
            return self.initial_state(batch)
        if not isinstance(state, torch.Tensor):
            state = torch.as_tensor(np.asarray(state))
        if state.ndim == 1:
            state = state.unsqueeze(0)
        if state.ndim != 2 or state.shape[1] != self.n_nodes or state.shape[0] not in (1, batch):
            raise ValueError(f"state must have shape (n_nodes,) or ({batch}, {self.n_nodes}) "
                             f"(samples, n_nodes), got {tuple(state.shape)}")
        return state.to(self.nodes_bias.dtype).expand(batch, self.n_nodes)

    def _fast_backend(self, movie: torch.Tensor) -> str | None:
        """"native" or "triton" when that adjoint can run this call, None for the torch reference
        (backend="auto" warns once when the adjoint of the device cannot be used)."""
        if self.backend == "torch":
            return None
        on_cuda = movie.device.type == "cuda"
        want = self.backend if self.backend != "auto" else ("triton" if on_cuda else "native")
        reasons = []
        if movie.dtype != torch.float32 or self.nodes_bias.dtype != torch.float32:
            reasons.append("it runs in float32 only")
        if want == "native" and (on_cuda or self.nodes_bias.device.type != "cpu"):
            reasons.append("it runs on the CPU only")
        if want == "triton" and not on_cuda:
            from flycluster.kernels.gpu import interpret_mode

            if not interpret_mode():
                reasons.append("it runs on CUDA devices only (or in Triton's interpreter, TRITON_INTERPRET=1)")
        if movie.requires_grad and torch.is_grad_enabled():
            reasons.append("it gives no gradient for the movie")
        if not reasons:
            try:
                self._simulation(want, movie.device)
                return want
            except Exception as exc:  # no compiler or no triton, or a connectome that is not a stencil
                reasons.append(str(exc))
                if self.backend == "auto" and not self._warned:
                    self._warned = True
                    name, advice = (("native adjoint", "Install a C compiler (gcc or clang)") if want == "native" else
                                    ("Triton adjoint", "Install triton (PyTorch's CUDA builds for Linux include it)"))
                    warnings.warn(f"flycluster's {name} is unavailable ({exc}); training with the torch reference, "
                                  f"which is much slower. {advice} for the fast path.", stacklevel=3)
        if self.backend != "auto":
            raise RuntimeError(f"the {want} backend cannot run this call: " + "; ".join(reasons))
        return None

    def _simulation(self, backend: str, device=None):
        """The adjoint's precomputed stencil: native (CPU, built once) or Triton (one per device)."""
        if backend == "native":
            if self._stencil is None:
                from flycluster.adjoint import StencilSimulation

                self._stencil = StencilSimulation(self.connectome)
            return self._stencil
        device = torch.device(device)
        if device not in self._triton:
            from flycluster.kernels.gpu_adjoint import TritonSimulation

            self._triton[device] = TritonSimulation(self.connectome, device=device)
        return self._triton[device]

    def forward(self, movie, dt: float, state=None) -> torch.Tensor:
        """Activity of all nodes, ``(samples, frames, n_nodes)``, flyvis node order.

        Parameters
        ----------
        movie : float tensor (samples, frames, n_hexals), luminance fed to R1..R8 (flyvis u-major
            hexal order; 721 hexals at extent 15).
        dt : Euler step (s), one movie frame per step.
        state : initial voltages (samples, n_nodes) or (n_nodes,); None: V = bias (flyvis's default,
            through which the bias gets a gradient too). :meth:`steady_state` gives flyvis's grey start.
        """
        dt = _check_dt(dt)
        self.clamp()
        movie = self._check_movie(movie)
        batch = movie.shape[0]
        v0 = self._check_state(state, batch)
        backend = self._fast_backend(movie)
        if backend == "native":
            from flycluster.adjoint import simulate_native

            return simulate_native(self._simulation("native"), self, v0, movie, dt)
        if backend == "triton":
            from flycluster.kernels.gpu_adjoint import simulate_triton

            return simulate_triton(self._simulation("triton", movie.device), self, v0, movie, dt)
        return self._forward_torch(v0, movie, dt)

    def _forward_torch(self, v: torch.Tensor, movie: torch.Tensor, dt: float) -> torch.Tensor:
        """The autograd reference: gather / index_add per Euler step."""
        weight = self.edge_weights()
        bias = self.nodes_bias[self._node_type]
        inv_tau = self.inv_tau(dt)[self._node_type]  # multiplied by dt after the bracket, as flyvis
        src, tgt, inputs = self._edge_source, self._edge_target, self._input_index
        batch = movie.shape[0]
        out = []
        for t in range(movie.shape[1]):
            x = movie.new_zeros(batch, self.n_nodes)
            x = x.index_copy(1, inputs, movie[:, t].repeat(1, self.n_input_types))
            current = movie.new_zeros(batch, self.n_nodes).index_add(1, tgt, weight * torch.relu(v)[:, src])
            v = v + inv_tau * (-v + bias + current + x) * dt
            out.append(v)
        return torch.stack(out, dim=1)

    def steady_state(self, t_pre: float, dt: float, batch: int, value: float = GREY, grad: bool = False):
        """flyvis's ``Network.steady_state``: state after ``int(t_pre / dt)`` steps of constant
        luminance ``value`` from V = bias, (batch, n_nodes); None when ``t_pre <= 0`` (then
        :meth:`forward` starts from the bias, as flyvis does). Without gradient unless ``grad``."""
        dt = _check_dt(dt)
        if t_pre is None or t_pre <= 0 or value is None:
            return None
        n_steps = int(t_pre / dt)
        if n_steps == 0:  # flyvis integrates an empty stimulus and fails; start from the bias
            return self.initial_state(batch).clone()
        with torch.set_grad_enabled(grad):
            self.clamp()
            movie = torch.full((1, n_steps, self.n_hexals), float(value), dtype=self.nodes_bias.dtype,
                               device=self.nodes_bias.device)
            last = self.forward(movie, dt)[:, -1]
        return last.expand(batch, self.n_nodes).clone() if not grad else last.expand(batch, self.n_nodes)

    def resting_potentials(self, t_pre: float = 0.5, dt: float = 0.02, value: float = GREY) -> dict:
        """Voltage of every cell type's central cell in the steady state of :meth:`steady_state`
        (``t_pre`` s of constant luminance ``value``): ``{cell type: V}`` in the connectome's
        type order. A type at V <= 0 is silent there: relu(V) = 0, so no gradient reaches its
        parameters through its own activity."""
        state = self.steady_state(t_pre, dt, 1, value)
        if state is None:
            state = self.initial_state(1)
        index = torch.as_tensor(np.asarray(self.connectome.central_cells_index),
                                device=state.device)
        volts = state[0, index].detach().cpu().double().numpy()
        return dict(zip(self.connectome.cell_types, map(float, volts)))

    def extra_repr(self) -> str:
        return (f"extent={self.connectome.extent}, n_nodes={self.n_nodes}, n_edges={self.connectome.n_edges}, "
                f"backend={self.backend!r}")


def network_module(network, backend: str = "auto") -> NetworkModule:
    """:class:`NetworkModule` with the parameters and connectome of a :class:`flycluster.network.Network`."""
    return NetworkModule(network.connectome, network.state_dict(), backend=backend, source=network.source)


__all__ = ["NetworkModule", "network_module", "BACKENDS", "TRAINABLE", "FIXED"]
