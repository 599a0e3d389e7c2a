"""The kernels' CUDA sources run on the CPU, for machines without a GPU.

Each ``kernels/<module>.cu`` is compiled as host C++ (g++) behind a small shim for the CUDA
built-ins the sources use (``blockIdx``/``blockDim``/``threadIdx``, ``atomicMin``, the bit
casts), and every launch runs all of its threads one after another. Installed in place of
CuPy (numpy arrays stand in for device arrays; ``empty`` is poisoned like the GPU tests'),
the kernels' real ``device="cuda"`` code paths run unchanged, Python glue included.

What this checks: the kernels' index arithmetic, borders, tie rules and logic against the
CPU twins. What it cannot see: races, the memory model, launch limits and the device's
floating point (e.g. FMA contraction) - ``test_warp_gpu.py`` on a real GPU covers those.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

KERNELS = Path(__file__).resolve().parents[1] / "kernels"

SHIM = r"""
#include <cmath>
#include <cstring>
struct fw_dim3 { unsigned x, y, z; };
static fw_dim3 blockIdx, blockDim, threadIdx, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __constant__ static
#define __restrict__
// CUDA's integer min/max accept mixed types; std::min does not
template <class A, class B> static inline auto min(A a, B b) -> decltype(a + b) { return a < b ? a : b; }
template <class A, class B> static inline auto max(A a, B b) -> decltype(a + b) { return a > b ? a : b; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
template <class T> static inline T atomicMin(T* a, T v) {  // threads run one at a time
    T old = *a;
    if (v < old) *a = v;
    return old;
}
"""

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


def _launchers(source: str) -> str:
    """A ``fw_launch_<kernel>(grid, block, params...)`` per kernel: every thread in turn."""
    out = []
    for name, params in _KERNEL.findall(source):
        names = [re.findall(r"\w+", p)[-1] for p in params.split(",")]
        out.append(
            f'extern "C" void fw_launch_{name}(unsigned grid, unsigned block, {params}) {{\n'
            f"    gridDim.x = grid; blockDim.x = block;\n"
            f"    for (unsigned b = 0; b < grid; ++b) for (unsigned t = 0; t < block; ++t) {{\n"
            f"        blockIdx.x = b; threadIdx.x = t; {name}({', '.join(names)});\n"
            f"    }}\n}}\n")
    return "\n".join(out)


def available() -> str | None:
    """None when the emulator can run here, else why not."""
    return None if shutil.which("g++") else "g++ not on PATH"


_libs: dict[str, ctypes.CDLL] = {}


def _library(module: str, build_dir: Path) -> ctypes.CDLL:
    if module in _libs:
        return _libs[module]
    source = (KERNELS / f"{module}.cu").read_text()
    text = SHIM + f'#include "{module}.cu"\n' + _launchers(source)
    # the tag covers every .cu (includes too): dlopen returns an already loaded path as is
    sources = "".join(p.read_text() for p in sorted(KERNELS.glob("*.cu")))
    tag = hashlib.sha1((text + sources).encode()).hexdigest()[:12]
    cpp = build_dir / f"{module}_{tag}.cpp"
    lib = build_dir / f"{module}_{tag}.so"
    cpp.write_text(text)
    proc = subprocess.run(["g++", "-O1", "-std=c++17", "-shared", "-fPIC", f"-I{KERNELS}", "-o", str(lib), str(cpp)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.cu does not compile as host C++:\n{proc.stderr}")
    _libs[module] = ctypes.CDLL(str(lib))
    return _libs[module]


_CTYPES = {np.int32: ctypes.c_int32, np.int64: ctypes.c_int64, np.uint32: ctypes.c_uint32,
           np.uint64: ctypes.c_uint64, np.float32: ctypes.c_float, np.float64: ctypes.c_double}


def _arg(a):
    if isinstance(a, np.ndarray):
        if not a.flags.c_contiguous:
            raise TypeError("kernel arrays must be C-contiguous")
        return ctypes.c_void_p, a.ctypes.data
    t = _CTYPES.get(type(a))
    if t is None:
        raise TypeError(f"kernel argument of type {type(a).__name__}: pass a sized numpy scalar")
    return t, a


def cuda_function(build_dir: Path):
    """A stand-in for ``_dispatch.cuda_function``: ``f(module, kernel)(grid, block, args)``."""
    def get(module: str, kernel: str):
        fn = getattr(_library(module, build_dir), f"fw_launch_{kernel}")

        def launch(grid, block, args):
            pairs = [_arg(a) for a in args]
            fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [t for t, _ in pairs]
            fn.restype = None
            fn(int(np.prod(grid)), int(np.prod(block)), *[v for _, v in pairs])

        return launch
    return get


def poisoned(empty):
    """``empty`` whose buffers come filled with NaN (floats) or a sentinel (integers), so an
    element a kernel never writes shows up in the comparison."""
    def poisoned_empty(shape, dtype=float, *args, **kwargs):
        a = empty(shape, dtype, *args, **kwargs)
        dt = np.dtype(dtype)
        a.fill(np.nan if dt.kind == "f" else np.iinfo(dt).max // 3)
        return a
    return poisoned_empty


def _fake_cuda() -> types.SimpleNamespace:
    """``cupy.cuda``'s timing API as the benchmark uses it (host clock; launches are synchronous)."""
    import time

    class Event:
        def record(self):
            self.t = time.perf_counter()

        def synchronize(self):
            pass

    class Device:
        def synchronize(self):
            pass

    return types.SimpleNamespace(Event=Event, Device=Device,
                                 get_elapsed_time=lambda s, e: 1000.0 * (e.t - s.t))


def fake_cupy() -> types.ModuleType:
    """numpy standing in for CuPy's array API as the kernels use it (``empty`` poisoned)."""
    cp = types.ModuleType("cupy")
    cp.asarray = lambda a, dtype=None: np.array(a, dtype=dtype, copy=True, order="C")
    cp.asnumpy = lambda a: np.array(a, copy=True)
    cp.empty = poisoned(np.empty)
    cp.full = np.full
    cp.zeros = np.zeros
    cp.empty_like = lambda a, dtype=None: cp.empty(np.shape(a), a.dtype if dtype is None else dtype)
    cp.cuda = _fake_cuda()
    cp.ndarray = np.ndarray
    for name in ("float32", "float64", "int32", "int64", "uint32", "uint64", "uint8"):
        setattr(cp, name, getattr(np, name))
    return cp


def install(monkeypatch, build_dir: Path) -> None:
    """Route every kernel module's CUDA path to the emulator for one test."""
    from facewarp.kernels import raster, reswarp, sampling, triwarp

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    get = cuda_function(build_dir)
    for mod in (raster, reswarp, sampling, triwarp):
        monkeypatch.setattr(mod, "use_cuda", lambda device="auto": device == "cuda")
        monkeypatch.setattr(mod, "cuda_function", get)
