"""The one seam between ember's ops and the array engine.

`ops/` reaches arrays only through this namespace (`from .. import kernels as K`):
NumPy passthroughs for plain array functions, plus the kernels that deserve a
definition of their own (`reference.py`, vectorised NumPy). A faster backend
(Numba, or CuPy for another device) replaces names here and nowhere else.
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
