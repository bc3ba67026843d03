"""Numba set-up shared by the compiled kernel modules (numba_*.py).

Imported only by those modules (and by ember.set_num_threads once Numba is loaded), so
`import ember` never imports Numba. Kernels use `from ._numba import njit, prange`; they
compile lazily on first call and are cached on disk (`cache=True`). Before Numba loads,
this module settles three process-wide choices, each left to the user when they made it:

* Cache location. Numba writes its cache next to the source, in `kernels/__pycache__`.
  When that is not writable (a read-only install) and NUMBA_CACHE_DIR is unset, it is
  set to $XDG_CACHE_HOME/ember/numba (default ~/.cache/ember/numba). NUMBA_CACHE_DIR
  is global, so the user's own cached Numba functions go there too in that case.
* Threading layer. Without NUMBA_THREADING_LAYER, ember picks 'workqueue' over the
  default 'omp' (GNU OpenMP when TBB is missing): its idle workers sleep instead of
  spinning, so they do not steal cores from OpenBLAS or from other processes (with a
  second busy process on 2 cores, 'omp' made a kernel + BLAS loop 5x slower than
  'workqueue'), and it survives fork() (DataLoader workers), which GNU OpenMP does not.
  Its limit: it must not be entered by two Python threads at once (Numba aborts);
  programs that call ember from several threads concurrently should set
  NUMBA_THREADING_LAYER=omp (or tbb, with `pip install tbb`).
* Thread count: ember.set_num_threads(n) if it was called, else NUMBA_NUM_THREADS if
  set, else ember.get_num_threads() (OMP_NUM_THREADS or the usable cores); at most the
  pool size Numba launched. Numba's count is per Python thread: it applies to the thread
  that set it (the main thread, in a training script).

It also turns off Numba's coloured error messages unless the user asked for them: Numba
builds an error object while loading, which starts colorama, whose reset code then lands
in ember's output (and in every rank's output under mpiexec, which gives ranks a terminal).
"""
import os
import sys


def _cache_dir():
    """Where Numba should cache ember's kernels, or None for Numba's own choice."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    pycache = os.path.join(here, "__pycache__")
    if os.access(pycache if os.path.isdir(pycache) else here, os.W_OK):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ember", "numba")


_CACHE_DIR = _cache_dir()
if _CACHE_DIR is not None:
    os.environ["NUMBA_CACHE_DIR"] = _CACHE_DIR  # read by Numba's config at import
_numba_was_loaded = "numba" in sys.modules
os.environ.setdefault("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING", "1")

import numba  # noqa: E402
from numba import prange  # noqa: E402,F401
from numba.np.ufunc import parallel as _parallel  # noqa: E402

if _numba_was_loaded and _CACHE_DIR is not None:  # Numba read the environment already
    numba.config.CACHE_DIR = _CACHE_DIR
# The layer is chosen when Numba first launches its threads (in apply_num_threads below,
# at the latest), so setting the config here still counts.
if not os.environ.get("NUMBA_THREADING_LAYER") and not _parallel._is_initialized:
    numba.config.THREADING_LAYER = "workqueue"


def apply_num_threads():
    """Size Numba's pool (for the calling thread) to ember's thread count."""
    from .. import _threads

    if _threads._num_threads is None and os.environ.get("NUMBA_NUM_THREADS"):
        return  # the user sized Numba's pool themselves
    numba.set_num_threads(min(_threads.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


apply_num_threads()


def njit(*args, parallel=False, **kwargs):
    """numba.njit with ember's defaults: on-disk cache, no fastmath (bitwise-stable results)."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    if args and callable(args[0]):
        return numba.njit(parallel=parallel, **kwargs)(args[0])
    return numba.njit(*args, parallel=parallel, **kwargs)
