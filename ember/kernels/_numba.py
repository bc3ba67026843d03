"""Numba set-up shared by the compiled kernel modules (numba_*.py).

Imported only by those modules, so `import ember` never imports Numba. Kernels use
`from ._numba import njit, prange` and are compiled lazily on first call, cached on
disk (`cache=True`).
"""
import numba
from numba import prange  # noqa: F401


def njit(*args, parallel=False, **kwargs):
    """numba.njit with ember's defaults: on-disk cache, no fastmath (bitwise-stable results)."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    if args and callable(args[0]):
        return numba.njit(parallel=parallel, **kwargs)(args[0])
    return numba.njit(*args, parallel=parallel, **kwargs)
