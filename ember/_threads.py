"""Thread counts, under PyTorch's names: set_num_threads / get_num_threads.

ember computes with two thread pools: OpenBLAS's, inside NumPy's matrix products, and
Numba's, inside the compiled kernels (ember/kernels/numba_*.py) once one has run. Ops
run one after another and no ember kernel calls BLAS inside a parallel loop, so the
two pools never work at the same time: sizing both to n keeps at most n threads busy.

set_num_threads(n) sizes both. Importing Numba takes a large fraction of a second, so
ember never imports it for this: n is remembered and `kernels/_numba.py` applies it
when the first compiled kernel loads (or now, when Numba is already imported).

get_num_threads() is the value set, or else the default: OMP_NUM_THREADS (or
MKL_NUM_THREADS) when set, as in PyTorch, otherwise the number of cores this process
may run on (its CPU affinity, not the machine's core count). Until set_num_threads is
called ember leaves each library's own variable (OPENBLAS_NUM_THREADS,
NUMBA_NUM_THREADS) to that library.
"""
import operator
import os
import sys

_num_threads = None  # what set_num_threads asked for; None: the default
_num_interop_threads = None
_blas = None  # [(set_fn, get_fn)] for each OpenBLAS in the process, found on first use


def _cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity API (macOS, Windows)
        return os.cpu_count() or 1


def _env_threads():
    """The count asked for by OMP_NUM_THREADS / MKL_NUM_THREADS, or None."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").split(",")[0]  # OpenMP allows a per-level list "4,2"
        if value.strip().isdigit() and int(value) > 0:
            return int(value)
    return None


def default_num_threads():
    return _env_threads() or _cores()


def _positive_int(n, fn):
    if isinstance(n, bool) or not hasattr(type(n), "__index__"):
        raise RuntimeError(f"{fn} expects an int, but got {type(n).__name__}")
    n = operator.index(n)
    if n <= 0:
        raise RuntimeError(f"{fn} expects a positive integer")
    return n


def set_num_threads(n):
    """Sets the number of threads used by ember's matrix products (BLAS) and compiled kernels."""
    global _num_threads
    n = _positive_int(n, "set_num_threads")
    _num_threads = n
    for set_fn, _ in _openblas():
        set_fn(n)
    if "numba" in sys.modules:  # otherwise kernels/_numba.py applies it at import
        from .kernels import _numba

        _numba.apply_num_threads()


def get_num_threads():
    """The number of threads ember's BLAS and compiled kernels use."""
    return _num_threads if _num_threads is not None else default_num_threads()


def set_num_interop_threads(n):
    """Recorded for PyTorch parity: ember runs ops one at a time and has no inter-op pool."""
    global _num_interop_threads
    n = _positive_int(n, "set_num_interop_threads")
    if _num_interop_threads is not None:
        raise RuntimeError(
            "Error: cannot set number of interop threads after parallel work has started or "
            "set_num_interop_threads called"
        )
    _num_interop_threads = n


def get_num_interop_threads():
    return _num_interop_threads if _num_interop_threads is not None else _cores()


def blas_num_threads():
    """The thread count each OpenBLAS in the process reports (for tests and diagnostics)."""
    return [get_fn() for _, get_fn in _openblas()]


# -- finding OpenBLAS ---------------------------------------------------------------------
# NumPy's wheels bundle OpenBLAS built with a symbol prefix/suffix (scipy-openblas64:
# scipy_openblas_set_num_threads64_); SciPy's bundle their own copy. The libraries are
# found among those already loaded, and left alone when NumPy uses another BLAS.
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _openblas():
    global _blas
    if _blas is None:
        _blas = _find_openblas()
    return _blas


def _loaded_libraries():
    """Paths of the shared libraries mapped into this process whose name mentions OpenBLAS."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split(None, 5)
                if len(fields) == 6 and "openblas" in os.path.basename(fields[5]).lower():
                    paths.append(fields[5].strip())
    except OSError:  # no /proc (macOS): look where NumPy's wheels keep their libraries
        import glob

        import numpy

        root = os.path.dirname(numpy.__file__)
        for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*"):
            paths += glob.glob(os.path.join(root, pattern))
    return list(dict.fromkeys(paths))


def _find_openblas():
    import ctypes

    found = []
    for path in _loaded_libraries():
        try:  # RTLD_NOLOAD: only a library already loaded, never a second copy
            lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            set_fn, get_fn = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if set_fn is not None and get_fn is not None:
                set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
                get_fn.argtypes, get_fn.restype = [], ctypes.c_int
                found.append((set_fn, get_fn))
                break
    return found
