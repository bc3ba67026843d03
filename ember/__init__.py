"""ember: a small deep-learning framework with PyTorch's API, computing on NumPy.

    import ember as torch

runs PyTorch-style code: tensors with define-by-run autograd, and (in later
modules) nn, optim and data loading.
"""
from . import _dtype
from ._dtype import (
    bool_ as bool, dtype, float16, float32, float64, get_default_dtype, int8, int16, int32, int64,
    set_default_dtype, uint8,
)
from ._tensor import Size, Tensor, device
from . import _tensor_methods  # noqa: F401  (binds methods and operators onto Tensor)
from ._tensor_str import get_printoptions, set_printoptions
from ._creation import (
    Generator, arange, as_tensor, bernoulli, default_generator, empty, empty_like, eye, from_numpy, full,
    full_like, get_rng_state, initial_seed, linspace, logspace, manual_seed, multinomial, normal, ones,
    ones_like, rand, rand_like, randint, randint_like, randn, randn_like, randperm, seed, set_rng_state, tensor,
    zeros, zeros_like,
)
from .ops.elementwise import (
    abs, absolute, add, allclose, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clip, cos, div,
    divide, eq, equal, exp, expm1, floor, floor_divide, ge, greater, greater_equal, gt, isclose, isfinite, isinf,
    isnan, le, lerp, less, less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, lt,
    maximum, minimum, mul, multiply, ne, neg, negative, not_equal, pow, reciprocal, relu, remainder, round,
    rsqrt, rsub, sigmoid, sign, sin, sqrt, sub, subtract, tanh, true_divide, trunc, where,
)
from .ops.reduce import (
    all, amax, amin, any, argmax, argmin, cumsum, log_softmax, logsumexp, max, mean, min, norm, prod,
    softmax, std, std_mean, sum, var, var_mean,
)
from .ops.shape import (
    broadcast_to, cat, chunk, clone, concat, concatenate, flatten, flip, hstack, narrow, permute, reshape,
    split, squeeze, stack, swapaxes, swapdims, t, transpose, unbind, unflatten, unsqueeze, vstack,
)
from .ops.indexing import gather, index_select, masked_fill, masked_select, nonzero, scatter, scatter_add
from .ops.linalg import addmm, bmm, dot, ger, inner, matmul, mm, mv, outer
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from . import nn, optim, utils
from .serialization import load, save
from ._threads import get_num_interop_threads, get_num_threads, set_num_interop_threads, set_num_threads

# PyTorch's dtype aliases
float = float32
double = float64
half = float16
long = int64
int = int32
short = int16

__version__ = "0.1.0"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def is_floating_point(input):
    return input.is_floating_point()


def result_type(tensor1, tensor2):
    return _dtype.result_type_of((tensor1, tensor2))


def promote_types(type1, type2):
    return _dtype.promote_types(type1, type2)


def can_cast(from_, to):
    return _dtype.can_cast(from_, to)


def detach(input):
    return input.detach()
