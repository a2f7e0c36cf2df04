"""Every simulation kernel of a network's Euler steps, and :func:`make_kernel`, which picks one.

All kernels compute the same step (:mod:`flycluster.kernels.sparse` writes out the math) behind one
interface: ``run(v0, movie, n_fade, ramp)`` -> (samples, frames, n_cell_types) central voltages,
``relax(v0, n_steps, luminance)`` -> (n_nodes,) voltages, and ``default_batch_size``.

========  ===========================================  =======================================
name      class (module)                               where
========  ===========================================  =======================================
native    :class:`NativeKernel` (:mod:`.native`,       CPU default: ``csrc/stencil.c`` compiled
          layout :mod:`.stencil`)                      at first use
triton    :class:`TritonKernel` (:mod:`.gpu`)          CUDA default (the same stencil)
scipy     :class:`ScipyKernel` (:mod:`.sparse`)        CPU fallback: scipy CSR products
torch     :class:`TorchKernel` (:mod:`.sparse`)        CUDA fallback (cuSPARSE), any device
========  ===========================================  =======================================
"""

from flycluster.kernels.gpu import TritonKernel, TritonUnavailable
from flycluster.kernels.native import NativeKernel, NativeUnavailable
from flycluster.kernels.select import (
    KERNELS,
    check_kernel,
    make_kernel,
    sparse_arrays,
    stencil_arrays,
    step_gain,
    warn_fallback_once,
)
from flycluster.kernels.sparse import ScipyKernel, TorchKernel
from flycluster.kernels.stencil import StencilLayout

__all__ = [
    "KERNELS", "make_kernel", "check_kernel", "step_gain", "stencil_arrays", "sparse_arrays",
    "warn_fallback_once", "NativeKernel", "NativeUnavailable", "TritonKernel", "TritonUnavailable",
    "ScipyKernel", "TorchKernel", "StencilLayout",
]
