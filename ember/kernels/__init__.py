"""The one seam between ember's ops and the array engine.

`ops/` reaches arrays only through this namespace (`from .. import kernels as K`):
NumPy passthroughs for plain array functions, plus the kernels that deserve a
definition of their own (vectorised NumPy in `reference.py`, `conv.py`, `nn.py`,
`optim.py`: the definition of correct).

Compiled twins: a family file may list names in `_NUMBA_TWINS`, mapping each to the
module (`numba_conv`, ...) that holds a Numba version with the same signature. Those
names are bound here to a stub that, on its first call, imports the Numba module
(compiling or loading its on-disk cache), rebinds the name to the compiled function
(or to the NumPy reference when `EMBER_NUMBA=0` or Numba is unavailable) and calls it.
So `import ember` never imports Numba, and later calls pay no dispatch cost: ops look
kernels up as `K.name` at call time.
"""
from numpy import (  # noqa: F401  (re-exported for ops/)
    abs, add, all, allclose, any, argmax, argmin, argsort, array_equal, asarray, broadcast_to, ceil, clip,
    concatenate, cos, cumprod, cumsum, dot, exp, expand_dims, expm1, flip, floor, floor_divide, indices,
    isclose, isfinite, isinf, isnan, log, log1p, logical_and, logical_not, logical_or, logical_xor,
    max, maximum, mean, min, minimum, mod, moveaxis, ndim, nonzero, ones, outer, power, prod, put_along_axis,
    reshape, rint, round, shape, sign, sin, sqrt, stack, sum, swapaxes, take, take_along_axis, tanh, tile,
    trunc, uint8, where, zeros, float16, float32, nan,
)

from .reference import log_softmax, matmul, sigmoid, softmax  # noqa: F401
from .conv import *  # noqa: F401,F403  (convolution and pooling kernels)
from .nn import *  # noqa: F401,F403  (losses, normalisation and other nn kernels)
from .optim import *  # noqa: F401,F403  (optimizer update rules)

# PyTorch computes log(0) = -inf, 0/0 = nan and overflow to inf silently. NumPy would warn on
# every such op; an errstate() block per op costs more than many ops themselves, so ember
# sets NumPy's floating-point error mode once, at import.
import numpy as _np

_np.seterr(divide="ignore", invalid="ignore", over="ignore", under="ignore")


def numba_enabled():
    """False when EMBER_NUMBA=0 asks for the NumPy reference kernels, or Numba is missing."""
    import importlib.util
    import os

    return os.environ.get("EMBER_NUMBA", "1") != "0" and importlib.util.find_spec("numba") is not None


def _twin_stub(name, reference, module_name):
    def first_call(*args, **kwargs):
        fn = reference
        if numba_enabled():
            import importlib

            fn = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
        globals()[name] = fn
        return fn(*args, **kwargs)

    first_call.__name__ = name
    first_call.reference = reference
    return first_call


def _install_twins():
    from . import conv, nn, optim, reference

    for family in (reference, conv, nn, optim):
        for name, module_name in getattr(family, "_NUMBA_TWINS", {}).items():
            globals()[name] = _twin_stub(name, getattr(family, name), module_name)


_install_twins()
