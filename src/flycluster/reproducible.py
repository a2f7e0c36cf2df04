"""Portable mode: pin every run-time CPU dispatch, so result files do not depend on the CPU.

Four libraries choose their machine code for the CPU they run on, and each choice changes the
last bits of floating-point results: numba (UMAP, pynndescent) compiles for the host CPU, numpy
dispatches its ufuncs and reductions to AVX2 or AVX-512 loops, OpenBLAS picks kernels per CPU
family, and the native simulation kernel is compiled with ``-march=native`` and fused
multiply-adds. UMAP's 1500 epochs amplify such differences to ~1e-4 in the embedding (labels and
the chosen k did not change in our measurements; docs/reproducibility.md has the numbers).

The portable mode fixes each of them to one target that every x86-64 CPU runs:

======================================  ==========================================================
``NUMBA_CPU_NAME=generic``              numba compiles for the generic x86-64 target
``NPY_DISABLE_CPU_FEATURES=...``        numpy uses its x86-64-v2 baseline loops
``OPENBLAS_CORETYPE=Nehalem``           OpenBLAS uses its SSE kernels
``FLYCLUSTER_NATIVE_FP_CONTRACT=off``   the native kernel rounds every multiply and add
======================================  ==========================================================

These variables must be in the environment *before* numpy or numba is imported, so they are set
for the jobs a workflow starts (the workflow's ``portable: true``), or by hand::

    env $(python -m flycluster.reproducible) snakemake --cores 2

(``python -m flycluster.reproducible`` prints the assignments). Inside a process, use
:func:`portable_environment` to build the environment of a subprocess.
"""

from __future__ import annotations

import os
from typing import Mapping

#: numpy 2.x dispatch targets above the x86-64-v2 baseline (unknown names are ignored by numpy)
NUMPY_DISPATCH_ABOVE_BASELINE = "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR"

#: the environment of the portable mode
PORTABLE_ENV: dict[str, str] = {
    "NUMBA_CPU_NAME": "generic",
    "NPY_DISABLE_CPU_FEATURES": NUMPY_DISPATCH_ABOVE_BASELINE,
    "OPENBLAS_CORETYPE": "Nehalem",
    "FLYCLUSTER_NATIVE_FP_CONTRACT": "off",
}
#: variables that would undo a setting of PORTABLE_ENV if left in the environment
_CONFLICTING = ("NUMBA_CPU_FEATURES", "FLYCLUSTER_NATIVE_MARCH")


def portable_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with the portable mode's settings applied.

    Variables that would override them (``NUMBA_CPU_FEATURES``) are removed.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _CONFLICTING}
    env.update(PORTABLE_ENV)
    return env


def portable_mode_active(environ: Mapping[str, str] | None = None) -> bool:
    """Whether every setting of the portable mode is in effect in ``environ`` (default: this process)."""
    environ = os.environ if environ is None else environ
    return all(environ.get(k) == v for k, v in PORTABLE_ENV.items()) and not any(
        k in environ for k in _CONFLICTING)


def cpu_mode(environ: Mapping[str, str] | None = None) -> str:
    """``"portable"`` or ``"native"``: recorded in result files as the ``cpu_mode`` attribute."""
    return "portable" if portable_mode_active(environ) else "native"


def main() -> None:
    """Print the portable mode's variables as ``NAME=value`` words for ``env $(...)``."""
    print(" ".join(f"{k}={v}" for k, v in PORTABLE_ENV.items()))


if __name__ == "__main__":
    main()
