"""The native CPU kernel: ``csrc/stencil.c`` compiled at first use with the system C compiler.

The C source is built once per machine (CPU model and flags, compiler, source hash) into
``$FLYCLUSTER_CACHE/native/`` (default ``~/.cache/flycluster/native``) with ``-O3 -march=native``
(see :func:`flag_sets` for the portable alternative),
written under a temporary name and renamed, so concurrent jobs and nodes of a heterogeneous
cluster never load a half-written or foreign library. It is loaded with ctypes; the calls
release the GIL, so chunks of samples run in parallel threads.

When no compiler is found or the build fails, :func:`load_library` raises :class:`NativeUnavailable`
and :func:`flycluster.kernels.make_kernel` falls back to the scipy kernel with one warning. Set
``FLYCLUSTER_NATIVE=0`` to never try, ``CC`` to choose the compiler.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from flycluster.connectome import default_cache_dir
from flycluster.kernels.stencil import StencilLayout

#: the C source (``src/flycluster/csrc/stencil.c``, shipped as package data)
SOURCE = Path(__file__).resolve().parent.parent / "csrc" / "stencil.c"
#: must equal flycluster_stencil_abi() of the compiled library
ABI = 1
#: samples integrated together by one call (the vector width of the C code)
LANES = 8
COMMON_FLAGS = ("-std=gnu99", "-fPIC", "-shared")


def flag_sets() -> tuple[tuple[str, ...], ...]:
    """Compiler flags to try, in order (the first that compiles wins).

    ``FLYCLUSTER_NATIVE_MARCH`` (default ``native``) names the ``-march`` target; a target other
    than ``native`` is never replaced by a fallback. ``FLYCLUSTER_NATIVE_FP_CONTRACT`` (default
    ``fast``) is passed as ``-ffp-contract``: ``fast`` lets the compiler fuse multiply-adds where
    the target has FMA, so results depend on the CPU the library is built for; ``off`` keeps every
    multiply and add separately rounded, which gives the same numbers on every CPU (the portable
    mode, docs/reproducibility.md).
    """
    march = os.environ.get("FLYCLUSTER_NATIVE_MARCH", "").strip() or "native"
    contract = os.environ.get("FLYCLUSTER_NATIVE_FP_CONTRACT", "").strip() or "fast"
    if contract not in ("fast", "off", "on"):
        raise NativeUnavailable(f"FLYCLUSTER_NATIVE_FP_CONTRACT must be fast, on or off, got {contract!r}")
    common = (f"-ffp-contract={contract}",)
    if march != "native":
        return (("-O3", f"-march={march}", *common),)
    return (("-O3", "-march=native", *common), ("-O3", *common))
#: steps of the grey steady state per call (bounds the size of the constant input)
_RELAX_BLOCK = 128


class NativeUnavailable(RuntimeError):
    """The native kernel cannot be built or loaded here (the message says why)."""


class _Model(ctypes.Structure):
    _fields_ = [("n_seg", ctypes.c_int64), ("seg_start", ctypes.c_void_p), ("seg_len", ctypes.c_void_p),
                ("seg_type", ctypes.c_void_p), ("term_ptr", ctypes.c_void_p), ("term_delta", ctypes.c_void_p),
                ("term_w", ctypes.c_void_p), ("decay", ctypes.c_void_p), ("drive", ctypes.c_void_p),
                ("in_gain", ctypes.c_void_p), ("type_stride", ctypes.c_int64)]


def find_compiler() -> str | None:
    """The C compiler to use: ``$CC``, else ``cc``, ``gcc`` or ``clang`` on the PATH."""
    if os.environ.get("CC"):
        return shutil.which(os.environ["CC"]) or os.environ["CC"]
    return next((path for name in ("cc", "gcc", "clang") if (path := shutil.which(name))), None)


def _cpu_signature() -> str:
    """CPU model and feature flags (what ``-march=native`` compiles for)."""
    info = [platform.machine(), platform.system()]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    info.append(line.strip())
                if line.strip() == "":  # first processor only
                    break
    except OSError:
        info.append(platform.processor())
    return "\n".join(info)


def library_path(compiler: str, flags, cache_dir=None, source: Path = SOURCE) -> Path:
    """Cache path of ``source`` built by ``compiler`` with ``flags`` for this CPU."""
    digest = hashlib.sha256()
    for part in (source.read_bytes(), compiler.encode(), " ".join(flags).encode(), _cpu_signature().encode()):
        digest.update(part)
        digest.update(b"\0")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "native" / f"{source.stem}-{digest.hexdigest()[:16]}.so"


def build_library(cache_dir=None, source: Path = SOURCE, extra_flags=(), what: str = "native kernel") -> Path:
    """Compile ``source`` (default ``csrc/stencil.c``) for this machine unless cached; returns the
    library path. Every C kernel of flycluster is built here, with :func:`flag_sets`."""
    compiler = find_compiler()
    if compiler is None:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc or clang)")
    errors = []
    for flags in flag_sets():
        all_flags = (*flags, *COMMON_FLAGS, *extra_flags)
        target = library_path(compiler, all_flags, cache_dir, source)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp.so", dir=target.parent)
        os.close(fd)
        try:
            result = subprocess.run([compiler, *all_flags, str(source), "-o", tmp],
                                    capture_output=True, text=True, timeout=120)
            if result.returncode == 0:
                os.replace(tmp, target)
                return target
            errors.append(f"{compiler} {' '.join(all_flags)}: {result.stderr.strip()[-500:]}")
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{compiler} {' '.join(all_flags)}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise NativeUnavailable(f"compiling the {what} failed:\n" + "\n".join(errors))


def check_enabled() -> None:
    """Raise :class:`NativeUnavailable` when ``FLYCLUSTER_NATIVE=0`` (or false/no/off) is set."""
    if os.environ.get("FLYCLUSTER_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        raise NativeUnavailable("disabled by FLYCLUSTER_NATIVE=0")


_LOCK = threading.Lock()
_LIBRARY: ctypes.CDLL | None = None


def load_library() -> ctypes.CDLL:
    """The compiled kernel, built on first use (once per process; raises :class:`NativeUnavailable`)."""
    global _LIBRARY
    check_enabled()
    with _LOCK:
        if _LIBRARY is None:
            path = build_library()
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise NativeUnavailable(f"cannot load {path}: {exc}") from exc
            if lib.flycluster_stencil_abi() != ABI or lib.flycluster_stencil_lanes() != LANES:
                raise NativeUnavailable(f"{path} does not match this flycluster version (delete it to rebuild)")
            p = ctypes.c_void_p
            lib.flycluster_stencil_run.argtypes = [ctypes.POINTER(_Model), p, p, p, p, ctypes.c_int64, p,
                                                   ctypes.c_int64, p, ctypes.c_int64, p, ctypes.c_int64, p, p]
            lib.flycluster_stencil_run.restype = ctypes.c_int
            _LIBRARY = lib
        return _LIBRARY


def aligned_zeros(shape, align: int = 64) -> np.ndarray:
    """float32 zeros starting on an ``align``-byte boundary (a cache line). numpy's large arrays
    start 16 bytes into a page, which puts every other 32-byte row of a grid across two cache
    lines; aligned grids measured about 10% faster."""
    n_bytes = int(np.prod(shape)) * 4
    raw = np.zeros(n_bytes + align, dtype=np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset:offset + n_bytes].view(np.float32).reshape(shape)


def _ptr(array: np.ndarray) -> int:
    return array.ctypes.data


class NativeKernel:
    """Euler steps with the compiled stencil kernel; chunks of :data:`LANES` samples in threads.

    Parameters
    ----------
    layout : :class:`flycluster.kernels.stencil.StencilLayout` of the connectome.
    term_weight : (n_terms,) float32 weight of each term, already multiplied by a = dt / max(tau, dt)
        of its target type.
    decay, drive, input_gain : (n_types,) float32: 1 - a, a * bias, and a for the photoreceptor
        types (0 for the others).
    n_threads : worker threads (chunks run in parallel).
    pool : a ``concurrent.futures`` executor with ``n_threads`` workers (None: run in this thread).
    """

    default_batch_size = 128  # 16 chunks shared by the threads

    def __init__(self, layout: StencilLayout, term_weight, decay, drive, input_gain, n_threads=1, pool=None):
        self.lib = load_library()
        self.layout = layout
        self.n_types = len(decay)
        self.n_threads = max(1, int(n_threads))
        self.pool = pool if self.n_threads > 1 else None
        term_weight = np.asarray(term_weight, dtype=np.float32)
        keep = term_weight != 0  # clamped strengths: exact to skip, relu(V) is finite
        self._arrays = {
            "seg_start": np.ascontiguousarray(layout.seg_start, dtype=np.int64),
            "seg_len": np.ascontiguousarray(layout.seg_len, dtype=np.int32),
            "seg_type": np.ascontiguousarray(layout.seg_type, dtype=np.int32),
            "term_ptr": np.searchsorted(layout.term_target[keep], np.arange(self.n_types + 1)).astype(np.int32),
            "term_delta": np.ascontiguousarray(layout.term_delta[keep], dtype=np.int64),
            "term_w": np.ascontiguousarray(term_weight[keep]),
            "decay": np.ascontiguousarray(decay, dtype=np.float32),
            "drive": np.ascontiguousarray(drive, dtype=np.float32),
            "in_gain": np.ascontiguousarray(input_gain, dtype=np.float32),
        }
        a = self._arrays
        self.model = _Model(len(a["seg_start"]), *(_ptr(a[k]) for k in (
            "seg_start", "seg_len", "seg_type", "term_ptr", "term_delta", "term_w", "decay", "drive", "in_gain")),
            layout.type_stride)
        self.hex_position = np.ascontiguousarray(layout.hex_position, dtype=np.int64)
        self._local = threading.local()
        self.record_position = np.ascontiguousarray(layout.record_position, dtype=np.int64)

    def _buffers(self):
        """This thread's grids (V, relu(V), next relu(V), input), reused by its chunks: only node
        positions are ever written, so the zeros off the lattice stay zeros."""
        buffers = getattr(self._local, "grids", None)
        if buffers is None:
            layout = self.layout
            buffers = (aligned_zeros((layout.n_positions, LANES)), aligned_zeros((layout.n_positions, LANES)),
                       aligned_zeros((layout.n_positions, LANES)), aligned_zeros((layout.type_stride, LANES)))
            self._local.grids = buffers
        return buffers

    def _chunk(self, v0: np.ndarray, frames: np.ndarray, n_fade: int, ramp: np.ndarray, record: bool):
        """Integrate one chunk. frames: (n_frames, n_hexals, LANES). Returns (out, V grid, relu grid)."""
        v, r, rn, x = self._buffers()
        nodes = self.layout.node_position
        v[nodes] = v0[:, None]
        r[nodes] = np.maximum(v0, 0)[:, None]
        n_frames = frames.shape[0]
        n_record = len(self.record_position) if record else 0
        out = np.empty((n_frames, n_record, LANES), dtype=np.float32)
        swapped = self.lib.flycluster_stencil_run(
            ctypes.byref(self.model), _ptr(v), _ptr(r), _ptr(rn), _ptr(x), frames.shape[1], _ptr(self.hex_position),
            n_fade, _ptr(ramp), n_frames, _ptr(frames), n_record, _ptr(self.record_position), _ptr(out))
        return out, v, (rn if swapped else r)

    def run(self, v0: np.ndarray, movie: np.ndarray, n_fade: int = 0, ramp=None) -> np.ndarray:
        """Central-cell voltages (samples, frames, n_types) float32 for ``movie``.

        v0 : (n_nodes,) initial voltages of every sample. movie : (samples, frames, n_hexals) float32
        without NaN. The first ``n_fade`` steps feed ``0.5 + ramp[k] * (movie[:, 0] - 0.5)``.
        """
        n_samples, n_frames, n_hex = movie.shape
        ramp = np.ascontiguousarray(ramp if n_fade else np.zeros(1), dtype=np.float32)
        v0 = np.asarray(v0, dtype=np.float32)
        out = np.empty((n_samples, n_frames, self.n_types), dtype=np.float32)

        def chunk(start: int) -> None:
            stop = min(start + LANES, n_samples)
            frames = np.full((n_frames, n_hex, LANES), 0.5, dtype=np.float32)  # spare lanes: grey
            frames[:, :, : stop - start] = movie[start:stop].transpose(1, 2, 0)
            block, _, _ = self._chunk(v0, frames, n_fade, ramp, record=True)
            out[start:stop] = block[:, :, : stop - start].transpose(2, 0, 1)

        starts = range(0, n_samples, LANES)
        if self.pool is None or len(starts) == 1:
            for start in starts:
                chunk(start)
        else:
            list(self.pool.map(chunk, starts))
        return out

    def relax(self, v0: np.ndarray, n_steps: int, luminance: float = 0.5) -> np.ndarray:
        """(n_nodes,) float32 voltages after ``n_steps`` steps of constant ``luminance`` from ``v0``."""
        layout = self.layout
        n_hex = len(self.hex_position)
        v = np.asarray(v0, dtype=np.float32)
        ramp = np.zeros(1, dtype=np.float32)
        done = 0
        while done < n_steps:
            block = min(_RELAX_BLOCK, n_steps - done)
            frames = np.full((block, n_hex, LANES), luminance, dtype=np.float32)
            _, grid, _ = self._chunk(v, frames, 0, ramp, record=False)
            v = layout.from_grid(grid)[:, 0].copy()
            done += block
        return v
