"""The op table driving tests/test_ops.py: every op ember must match PyTorch on.

An OpInfo says how to call an op with either module (`op(T, *args, **kwargs)`, T being
`ember` or `torch`), which sample inputs to call it on, in which dtypes, and what to
expect (differentiable or not, tolerances, skips). Sample inputs hold NumPy data; the
harness turns every ndarray among a sample's args and kwargs into a tensor of each
module, and every `View` into a non-contiguous view of such a tensor. Anything else
(Python numbers, lists, dims, key-building lambdas) is passed through unchanged.
"""
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

F16, F32, F64, I64, I32, BOOL = "float16", "float32", "float64", "int64", "int32", "bool"

# Default tolerances (rtol, atol). Integer and bool results are always compared exactly.
FWD_TOL = {F16: (1e-3, 1e-3), F32: (1e-5, 1e-6), F64: (1e-7, 1e-10)}
GRAD_TOL = {F16: (1e-3, 1e-3), F32: (1e-4, 1e-5), F64: (1e-7, 1e-9)}
# Sums of many terms (reductions, matmul, softmax...) are accumulated in a different order
# by NumPy and PyTorch, so near-zero results need an absolute slack.
SUM_TOL = {F32: (1e-5, 1e-5), F64: (1e-7, 1e-9)}


@dataclass
class View:
    """A non-contiguous input: the harness makes a leaf tensor of `base` and passes
    `fn(leaf)` to the op; gradients are compared on the leaf."""
    base: np.ndarray
    fn: Callable


@dataclass
class SampleInput:
    name: str
    args: tuple
    kwargs: dict
    gradcheck: bool = True  # False for samples placed on a kink on purpose


def S(name, *args, gc=True, **kwargs):
    return SampleInput(name, args, kwargs, gc)


@dataclass
class Skip:
    """A documented skip. None matches everything."""
    reason: str
    test: str = None  # "forward", "gradient" or "gradcheck"
    dtype: str = None
    sample: str = None

    def matches(self, test, dtype, sample):
        return all(want is None or want == got
                   for want, got in ((self.test, test), (self.dtype, dtype), (self.sample, sample)))


@dataclass
class OpInfo:
    name: str
    op: Callable
    samples: Callable  # samples(make: Maker) -> iterable of SampleInput
    dtypes: tuple = (F32,)
    domain: dict = field(default_factory=dict)  # Maker keywords, see Maker
    differentiable: bool = True
    tol: dict = field(default_factory=dict)  # output dtype -> (rtol, atol), overrides FWD_TOL
    grad_tol: dict = field(default_factory=dict)  # gradient dtype -> (rtol, atol), overrides GRAD_TOL
    fields: tuple = ()  # attribute names of a named-tuple output, e.g. ("values", "indices")
    skips: tuple = ()

    def fwd_tol(self, dtype):
        return self.tol.get(dtype, FWD_TOL.get(dtype, (0, 0)))

    def bwd_tol(self, dtype):
        return self.grad_tol.get(dtype, GRAD_TOL.get(dtype, (0, 0)))


class Maker:
    """Draws sample data of one dtype inside an op's input domain.

    Domain keywords (an OpInfo's `domain`, overridable per call):
      low, high    range of float data (default -2..2)
      ilow, ihigh  inclusive range of integer data (default -5..5)
      avoid        points float data keeps `margin` away from (the kinks of abs, relu, clamp)
      period       the avoided points repeat with this period (floor: every integer)
      nonzero      keep away from 0 (divisors): |x| >= 0.25 for floats, != 0 for ints
      distinct     every float value drawn is distinct in value and in magnitude by at
                   least 1e-3, so max/min/argmax/norm(inf) see no ties (integer data:
                   distinct within one call)
      ints         integer-valued floats, so comparisons see equal elements
    """

    def __init__(self, rng, dtype, **domain):
        self.rng, self.dtype, self.domain = rng, np.dtype(dtype), domain
        self._pool = np.empty(0)

    @property
    def is_float(self):
        return self.dtype.kind == "f"

    def __call__(self, *shape, **override):
        d = {**self.domain, **override}
        rng, n = self.rng, math.prod(shape)
        if self.dtype == np.bool_:
            v = rng.random(n) < 0.5
        elif not self.is_float and d.get("distinct"):
            v = rng.permutation(np.arange(-60, 60))[:n]
        elif not self.is_float or d.get("ints"):
            lo, hi = d.get("ilow", -5), d.get("ihigh", 5)
            v = rng.integers(lo, hi + 1, n)
            while d.get("nonzero") and (v == 0).any():
                v[v == 0] = rng.integers(lo, hi + 1, int((v == 0).sum()))
        elif d.get("distinct"):
            v = self._distinct(n) * (1 if d.get("low", -1) >= 0 else rng.choice([-1, 1], n))
        else:
            v = self._uniform(n, d)
        return np.asarray(v.astype(self.dtype).reshape(shape))

    def _uniform(self, n, d):
        lo, hi = d.get("low", -2.0), d.get("high", 2.0)
        avoid, period = list(d.get("avoid", ())), d.get("period")
        margin = d.get("margin", 0.05)
        v = self.rng.uniform(lo, hi, n)
        for _ in range(1000):  # resample what falls too close to an avoided point
            bad = np.abs(v) < 0.25 if d.get("nonzero") else np.zeros(n, bool)
            for p in avoid:
                dist = np.abs(v - p) if period is None else np.abs((v - p + period / 2) % period - period / 2)
                bad |= dist < margin
            if not bad.any():
                return v
            v[bad] = self.rng.uniform(lo, hi, int(bad.sum()))
        raise ValueError(f"domain {d} too narrow")

    def _distinct(self, n):
        # magnitudes 0.1, 0.101, ..., 3.999 without replacement (reshuffled when used up)
        if len(self._pool) < n:
            self._pool = self.rng.permutation(np.arange(100, 4000)) / 1000
        v, self._pool = self._pool[:n], self._pool[n:]
        return v

    def array(self, values):
        """Explicit data (special values, kinks) in this dtype."""
        return np.asarray(values).astype(self.dtype)

    def nc(self, *shape, how="t", **override):
        """A non-contiguous input of `shape`: the transpose of a contiguous tensor
        (how="t"), or every other element along the last dim (how="step")."""
        if how == "t":
            return View(self(*shape[:-2], shape[-1], shape[-2], **override), lambda t: t.transpose(-1, -2))
        return View(self(*shape[:-1], 2 * shape[-1], **override), lambda t: t[..., ::2])

    def index(self, high, *shape):
        """int64 indices in [0, high), duplicates allowed."""
        return np.asarray(self.rng.integers(0, high, shape), dtype=np.int64)

    def unique_index(self, high, shape, dim):
        """int64 indices in [0, high) that never repeat along `dim` (scatter targets)."""
        full = list(shape)
        full[dim] = high
        order = np.argsort(self.rng.random(full), axis=dim)
        return np.take(order, range(shape[dim]), axis=dim).astype(np.int64)

    def mask(self, *shape):
        return np.asarray(self.rng.random(shape) < 0.5)


def idx(*values):
    return np.array(values, dtype=np.int64)


# ----------------------------------------------------------------------------- samples


def unary(make):
    yield S("2d", make(3, 4))
    yield S("3d", make(2, 3, 4))
    yield S("0d", make())
    yield S("empty", make(0))
    yield S("empty_3d", make(2, 0, 3))
    yield S("noncontig", make.nc(4, 3))
    yield S("noncontig_step", make.nc(3, 4, how="step"))


def one(make):
    """A single small sample, for variants of ops covered in full elsewhere."""
    yield S("2d", make(3, 4))


def with_values(*values, gc=False):
    """unary() plus a sample of explicit values (kinks, special values)."""
    def gen(make):
        yield from unary(make)
        vals = values if make.is_float else [v for v in values if np.isfinite(v)]
        yield S("special", make.array(vals), gc=gc)
    return gen


def binary(make, scalars=True, empty=True):
    yield S("same", make(3, 4), make(3, 4))
    yield S("broadcast", make(3, 1), make(1, 4))
    yield S("broadcast_rank", make(2, 3, 4), make(4))
    yield S("0d_right", make(3, 4), make())
    yield S("0d_left", make(), make(3, 4))
    yield S("0d_both", make(), make())
    if scalars:
        yield S("scalar_int", make(3, 4), 2)
        yield S("scalar_float", make(3, 4), 1.5)
    if empty:
        yield S("empty", make(0), make(0))
        yield S("empty_broadcast", make(2, 0, 3), make(3))
    yield S("noncontig", make.nc(3, 4), make.nc(3, 4, how="step"))


def tensor_binary(make):
    yield from binary(make, scalars=False)


def scalar_left(make):
    """For reflected operators: (tensor, python scalar), the op puts the scalar left."""
    yield S("int", make(3, 4), 3)
    yield S("float", make(3, 4), 2.5)
    yield S("0d", make(), 3)
    yield S("empty", make(0), 2.5)
    yield S("noncontig", make.nc(4, 3), 3)


def pow_samples(make):
    if make.is_float:
        base = dict(low=0.5, high=2.0)
        yield S("square", make(3, 4), 2)
        yield S("sqrt", make(3, 4, **base), 0.5)
        yield S("negative_exp", make(3, 4, nonzero=True), -1)
        yield S("float_exp", make(3, 4, **base), 1.7)
        yield S("tensor_tensor", make(3, 4, **base), make(3, 4))
        yield S("broadcast", make(3, 1, **base), make(1, 4))
        yield S("0d_exp", make(3, 4, **base), make())
        yield S("empty", make(0), 2)
        yield S("noncontig", make.nc(3, 4, **base), make.nc(3, 4, how="step"))
    else:  # negative integer exponents are an error in PyTorch
        yield S("square", make(3, 4), 2)
        yield S("tensor_tensor", make(3, 4), make(3, 4, ilow=0, ihigh=3))
        yield S("broadcast", make(3, 1), make(1, 4, ilow=0, ihigh=3))
        yield S("float_exp", make(3, 4, ilow=1), 1.5)


def rpow_samples(make):
    """(tensor exponent, python base) for scalar ** tensor."""
    if make.is_float:
        yield S("int_base", make(3, 4), 2)
        yield S("float_base", make(3, 4), 1.5)
        yield S("0d", make(), 2.5)
        yield S("noncontig", make.nc(4, 3), 2)
    else:
        yield S("int_base", make(3, 4, ilow=0), 2)
        yield S("float_base", make(3, 4), 1.5)


def reduction(*kinds):
    """Samples of a reduction; `kinds` names the calling forms the op supports."""
    def gen(make):
        x = make(2, 3, 4)
        if "full" in kinds:
            yield S("full", x)
        yield S("dim", x, dim=1)
        yield S("dim_neg", x, dim=-1)
        yield S("keepdim", x, dim=1, keepdim=True)
        if "tuple" in kinds:
            yield S("dim_tuple", x, dim=(0, 2))
            yield S("dim_tuple_keepdim", x, dim=(0, -1), keepdim=True)
        if "none" in kinds:
            yield S("dim_none", x, dim=None)
        if "empty_tuple" in kinds:  # PyTorch reduces over every dim when given dim=()
            yield S("dim_empty_tuple", x, dim=())
        if "full" in kinds:
            yield S("0d", make())
        yield S("0d_dim", make(), dim=0)
        if "empty" in kinds:  # reducing over a zero-size dim
            if "full" in kinds:
                yield S("empty", make(0))
            yield S("empty_reduced_dim", make(2, 0, 3), dim=1)
        yield S("empty_kept_dim", make(2, 0, 3), dim=-1)
        yield S("noncontig", make.nc(4, 3), dim=0)
    return gen


def var_samples(make):
    x = make(2, 3, 4)
    yield S("full", x)
    yield S("biased", x, unbiased=False)
    yield S("dim", x, dim=1)
    yield S("dim_biased_keepdim", x, dim=1, unbiased=False, keepdim=True)
    yield S("dim_tuple", x, dim=(0, 2))
    yield S("correction0", x, dim=-1, correction=0)
    yield S("correction1", x, dim=(0, 1), correction=1)
    yield S("correction2_keepdim", x, dim=(0, 2), correction=2, keepdim=True)
    yield S("noncontig", make.nc(4, 3), dim=0)


def norm_samples(make):
    x = make(3, 4)
    yield S("2", x)
    yield S("1", x, p=1)
    yield S("inf", x, p=float("inf"))
    yield S("fro", x, p="fro")
    yield S("dim", x, dim=1)
    yield S("1_dim_keepdim", x, p=1, dim=0, keepdim=True)
    yield S("inf_dim", x, p=float("inf"), dim=-1)
    yield S("dim_tuple", make(2, 3, 4), p=2, dim=(0, 2))
    yield S("1d", make(5))
    yield S("noncontig", make.nc(4, 3), dim=0)


def softmax_samples(make):
    yield S("dim1", make(3, 4), dim=1)
    yield S("dim0", make(3, 4), dim=0)
    yield S("dim_neg_3d", make(2, 3, 4), dim=-1)
    # huge logits overflow exp() unless the max is subtracted first
    yield S("large", make(3, 4) * 200 + 500, dim=1)
    yield S("0d", make(), dim=0)
    yield S("empty", make(2, 0, 3), dim=-1)
    yield S("noncontig", make.nc(4, 3), dim=1)


def logsumexp_samples(make):
    yield from reduction("tuple")(make)
    yield S("large", make(3, 4) * 200 + 500, dim=1)


def cumsum_samples(make):
    yield S("dim0", make(3, 4), dim=0)
    yield S("dim_neg", make(2, 3, 4), dim=-1)
    yield S("dim1", make(2, 3, 4), dim=1)
    yield S("0d", make(), dim=0)
    yield S("empty", make(2, 0, 3), dim=1)
    yield S("noncontig", make.nc(4, 3), dim=1)


def clamp_samples(make):
    x = make(3, 4)  # the domain keeps x away from the bounds
    yield S("min", x, min=-0.5)
    yield S("max", x, max=0.5)
    yield S("both", x, min=-0.5, max=0.5)
    yield S("int_bounds", x, min=-1, max=1)
    yield S("0d", make(), min=-0.5, max=0.5)
    yield S("empty", make(0), min=0.0)
    yield S("noncontig", make.nc(4, 3), min=-0.5, max=0.5)
    # on the bounds PyTorch passes the gradient through (the bounds are inclusive)
    yield S("on_bounds", make.array([-0.5, 0.5, 0.0, 1.0, -1.0]), min=-0.5, max=0.5, gc=False)


def clamp_tensor_samples(make):
    # distinct magnitudes: x never ties a bound; min < 0 < max except where said
    def lo(*shape):
        return np.asarray(-make(*shape, low=0.0))  # stays an array when 0-d

    def hi(*shape):
        return make(*shape, low=0.0)

    yield S("both", make(3, 4), min=lo(3, 4), max=hi(3, 4))
    yield S("min_only", make(3, 4), min=lo(3, 4))
    yield S("max_only", make(3, 4), max=hi(3, 4))
    yield S("broadcast", make(3, 4), min=lo(4), max=hi(3, 1))
    yield S("0d_bounds", make(3, 4), min=lo(), max=hi())
    # PyTorch: where min > max the result is max, and so is where the gradient goes
    yield S("min_above_max", make(3, 4), min=hi(3, 4), max=lo(3, 4))


def where_samples(make):
    yield S("same", make.mask(3, 4), make(3, 4), make(3, 4))
    yield S("broadcast", make.mask(3, 1), make(1, 4), make(3, 4))
    yield S("broadcast_cond", make.mask(4), make(3, 4), make(3, 1))
    yield S("scalar_other", make.mask(3, 4), make(3, 4), 0.0)
    yield S("scalar_first", make.mask(3, 4), 2, make(3, 4))
    yield S("0d", make.mask(), make(), make(3))
    yield S("empty", make.mask(0), make(0), make(0))
    yield S("noncontig", make.mask(3, 4), make.nc(3, 4), make.nc(3, 4, how="step"))


def lerp_samples(make):
    yield S("scalar_weight", make(3, 4), make(3, 4), 0.3)
    yield S("broadcast_scalar_weight", make(3, 1), make(1, 4), 0.7)
    yield S("tensor_weight", make(3, 4), make(3, 4), make(3, 4))
    yield S("broadcast_tensor_weight", make(3, 4), make(4), make(3, 1))
    yield S("0d_weight", make(3, 4), make(3, 4), make())
    yield S("noncontig", make.nc(3, 4), make.nc(3, 4, how="step"), 0.4)


def special_values(make):
    yield S("special", make.array([np.nan, np.inf, -np.inf, 0.0, 1.5, -2.0, np.nan]))
    yield S("2d", make(3, 4))
    yield S("0d_nan", make.array(np.nan))
    yield S("empty", make(0))


def all_any_samples(make):
    yield from reduction("full", "tuple", "empty")(make)
    yield S("all_nonzero", make.array(np.ones((3, 4))))


# ---- shape and indexing


def view_samples(make):
    x = make(3, 4)
    yield S("flat", x, -1)
    yield S("2d", x, 4, 3)
    yield S("infer", make(2, 3, 4), 2, -1)
    yield S("tuple", x, (6, 2))
    yield S("add_dims", x, 1, 3, 1, 4)
    yield S("0d_to_1d", make(), 1)
    yield S("to_0d", make(1), ())
    yield S("empty", make(2, 0, 3), 3, 0)


def reshape_samples(make):
    yield from view_samples(make)
    yield S("noncontig", make.nc(4, 3), -1)  # needs a copy
    yield S("noncontig_step", make.nc(2, 3, how="step"), 3, 2)


def flatten_samples(make):
    x = make(2, 3, 4)
    yield S("all", x)
    yield S("start1", x, start_dim=1)
    yield S("end_neg2", x, end_dim=-2)
    yield S("middle", make(2, 3, 4, 2), start_dim=1, end_dim=2)
    yield S("1d", make(5))
    yield S("0d", make())
    yield S("empty", make(2, 0, 3), start_dim=1)
    yield S("noncontig", make.nc(4, 3))


def unflatten_samples(make):
    yield S("middle", make(3, 4, 5), 1, (2, 2))
    yield S("neg_dim", make(3, 4, 5), -1, (5, 1))
    yield S("infer", make(3, 4), 1, (2, -1))
    yield S("noncontig", make.nc(3, 4), 0, (3, 1))


def squeeze_samples(make):
    x = make(1, 3, 1, 4)
    yield S("all", x)
    yield S("dim", x, 2)
    yield S("dim_neg", x, -4)
    yield S("dim_not_one", x, 1)  # a no-op
    yield S("dim_tuple", x, (0, 2))
    yield S("0d", make())
    yield S("1_elem", make(1, 1))
    yield S("noncontig", make.nc(1, 3, 1, how="step"), -1)


def unsqueeze_samples(make):
    x = make(3, 4)
    yield S("front", x, 0)
    yield S("back", x, -1)
    yield S("middle", x, 1)
    yield S("neg_middle", x, -2)
    yield S("0d", make(), 0)
    yield S("empty", make(0), 1)
    yield S("noncontig", make.nc(4, 3), 1)


def permute_samples(make):
    x = make(2, 3, 4)
    yield S("rotate", x, 2, 0, 1)
    yield S("tuple", x, (1, 0, 2))
    yield S("neg", x, -1, 0, 1)
    yield S("identity", x, 0, 1, 2)
    yield S("empty", make(2, 0, 3), 2, 1, 0)
    yield S("noncontig", make.nc(4, 3), 1, 0)


def transpose_samples(make):
    yield S("outer", make(2, 3, 4), 0, 2)
    yield S("neg", make(2, 3, 4), -1, -2)
    yield S("same_dim", make(3, 4), 1, 1)
    yield S("1d", make(5), 0, 0)
    yield S("noncontig", make.nc(4, 3), 0, 1)


def t_samples(make):
    yield S("2d", make(3, 4))
    yield S("1d", make(5))
    yield S("0d", make())
    yield S("empty", make(0, 3))
    yield S("noncontig", make.nc(4, 3))


def T_samples(make):  # x.T on other than 2-D is deprecated in PyTorch
    yield S("2d", make(3, 4))
    yield S("empty", make(0, 3))
    yield S("noncontig", make.nc(4, 3))


def expand_samples(make):
    yield S("columns", make(3, 1), 3, 4)
    yield S("minus_one", make(3, 1), -1, 4)
    yield S("new_dims", make(3, 1), 2, 3, 4)
    yield S("tuple", make(1, 4), (3, 4))
    yield S("0d", make(), 2, 3)
    yield S("to_empty", make(1), 0)
    yield S("noncontig", make.nc(1, 3, how="step"), 2, 3)


def expand_as_samples(make):
    # `other` only lends its shape: its gradient stays None
    yield S("columns", make(3, 1), make(3, 4))
    yield S("new_dims", make(4), make(2, 3, 4))
    yield S("0d", make(), make(2, 2))


def repeat_samples(make):
    yield S("2d", make(3, 4), 2, 3)
    yield S("new_dim", make(3, 4), 2, 1, 1)
    yield S("tuple", make(2, 2), (1, 3))
    yield S("0d", make(), 3)
    yield S("zero", make(3, 4), 0, 1)
    yield S("noncontig", make.nc(4, 3), 2, 2)


def cat_samples(make):
    yield S("dim0", make(2, 3), make(4, 3))
    yield S("dim1", make(2, 3), make(2, 1), dim=1)
    yield S("dim_neg_three", make(2, 3, 1), make(2, 3, 2), make(2, 3, 1), dim=-1)
    yield S("one", make(2, 3))
    yield S("empty_dim", make(2, 0, 3), make(2, 2, 3), dim=1)
    # PyTorch still accepts a 1-D empty tensor next to tensors of any shape
    yield S("legacy_empty_1d", make(0), make(2, 3))
    yield S("noncontig", make.nc(3, 4), make.nc(3, 4, how="step"), dim=1)


def stack_samples(make):
    yield S("dim0", make(2, 3), make(2, 3))
    yield S("dim1", make(2, 3), make(2, 3), make(2, 3), dim=1)
    yield S("dim_neg", make(2, 3), make(2, 3), dim=-1)
    yield S("0d", make(), make())
    yield S("empty", make(0, 2), make(0, 2), dim=1)
    yield S("noncontig", make.nc(3, 4), make.nc(3, 4, how="step"))


def split_samples(make):
    yield S("int_even", make(6, 3), 2)
    yield S("int_uneven", make(5, 3), 2)
    yield S("int_larger", make(3, 2), 4)
    yield S("sizes", make(5, 3), [1, 3, 1])
    yield S("sizes_dim", make(3, 5), [2, 3], dim=1)
    yield S("int_dim_neg", make(2, 3, 5), 2, dim=-1)
    yield S("noncontig", make.nc(4, 3), 2, dim=1)


def chunk_samples(make):
    yield S("even", make(6, 3), 3)
    yield S("uneven", make(5, 3), 3)
    yield S("fewer_than_asked", make(5, 2), 4)  # PyTorch makes 3 chunks of 2, 2, 1
    yield S("dim_neg", make(2, 7), 3, dim=-1)
    yield S("noncontig", make.nc(4, 3), 2, dim=1)


def narrow_samples(make):
    yield S("dim0", make(4, 3), 0, 1, 2)
    yield S("dim_neg", make(4, 3), -1, 0, 2)
    yield S("neg_start", make(4, 3), 0, -2, 2)
    yield S("zero_length", make(4, 3), 1, 1, 0)
    yield S("noncontig", make.nc(4, 3), 1, 1, 2)


def flip_samples(make):
    yield S("dim0", make(3, 4), (0,))
    yield S("both", make(3, 4), (0, 1))
    yield S("list_neg", make(2, 3, 4), [-1])
    yield S("outer", make(2, 3, 4), (0, 2))
    yield S("empty", make(0, 3), (0,))
    yield S("noncontig", make.nc(4, 3), (1,))


def gather_samples(make):
    x = make(3, 4)
    yield S("dim1", x, 1, make.index(4, 3, 2))  # duplicates: gradients accumulate
    yield S("dim0", x, 0, make.index(3, 2, 4))
    yield S("dim_neg_narrow", x, -1, make.index(4, 2, 3))  # index smaller than x on dim 0
    yield S("3d", make(2, 3, 4), 2, make.index(4, 2, 3, 5))
    yield S("empty_index", x, 1, make.index(4, 3, 0))
    yield S("noncontig", make.nc(3, 4), 0, make.index(3, 3, 4))


def scatter_samples(make):
    # targets never repeat along dim: which duplicate write wins is unspecified
    x = make(3, 5)
    yield S("dim1", x, 1, make.unique_index(5, (3, 2), 1), make(3, 2))
    yield S("dim0", x, 0, make.unique_index(3, (2, 5), 0), make(2, 5))
    yield S("src_larger", x, 1, make.unique_index(5, (2, 3), 1), make(3, 4))
    yield S("value", x, -1, make.unique_index(5, (3, 2), 1), 2.5)
    yield S("noncontig", make.nc(3, 5), 1, make.unique_index(5, (3, 2), 1), make.nc(3, 2))


def scatter_add_samples(make):
    x = make(3, 5)
    yield S("dim1", x, 1, make.index(5, 3, 4), make(3, 4))  # duplicates add up
    yield S("dim0", x, 0, make.index(3, 4, 5), make(4, 5))
    yield S("src_larger", x, -1, make.index(5, 2, 3), make(3, 4))
    yield S("noncontig", make.nc(3, 5), 0, make.index(3, 2, 5), make.nc(2, 5))


def index_select_samples(make):
    yield S("dim0", make(4, 3), 0, idx(0, 2, 2, 3))
    yield S("dim_neg", make(2, 3, 4), -1, idx(3, 0))
    yield S("empty_index", make(4, 3), 1, idx())
    yield S("noncontig", make.nc(4, 3), 1, idx(1, 1, 0))


def masked_fill_samples(make):
    yield S("scalar", make(3, 4), make.mask(3, 4), -1.0)
    yield S("int_value", make(3, 4), make.mask(3, 4), 2)
    yield S("broadcast_mask", make(3, 4), make.mask(4), 0.5)
    yield S("0d_tensor_value", make(3, 4), make.mask(3, 1), make())  # the value gets a gradient
    yield S("empty", make(0, 3), make.mask(0, 3), 1.0)
    yield S("noncontig", make.nc(3, 4), make.mask(3, 4), 0.0)


def getitem_samples(make):
    x = make(4, 5, 3)

    def K(name, key, *index_arrays):  # key(*index tensors) builds the subscript
        return S(name, x, *index_arrays, key=key)

    yield K("int", lambda: 1)
    yield K("neg_int", lambda: -1)
    yield K("int_int", lambda: (1, -2))
    yield K("slice", lambda: slice(1, 3))
    yield K("slice_step", lambda: slice(None, None, 2))
    yield K("slices_steps", lambda: (slice(1, None, 2), slice(None, None, 3), slice(1, None)))
    yield K("slice_neg_bounds", lambda: slice(-3, -1))
    yield K("slice_past_end", lambda: slice(2, 10))
    yield K("slice_empty", lambda: slice(3, 1))
    yield K("none", lambda: None)
    yield K("none_mid", lambda: (slice(None), None, 1))
    yield K("ellipsis", lambda: (..., 0))
    yield K("ellipsis_none_step", lambda: (..., None, slice(None, None, 2)))
    yield K("int_ellipsis_int", lambda: (1, ..., -1))
    yield K("mask_full", lambda m: m, make.mask(4, 5, 3))
    yield K("mask_dim0", lambda m: m, make.mask(4))
    yield K("mask_2d", lambda m: m, make.mask(4, 5))
    yield K("slice_mask", lambda m: (slice(None), m), make.mask(5))
    yield K("mask_int", lambda m: (m, 1), make.mask(4))
    yield K("tensor", lambda i: i, idx(0, 2, 2, -1))  # duplicates: gradients accumulate
    yield K("tensor_2d", lambda i: i, make.index(4, 2, 3))
    yield K("tensor_0d", lambda i: i, idx(2).reshape(()))
    yield K("list", lambda: [0, 2, 2])
    yield K("two_tensors_broadcast", lambda i, j: (i, j), make.index(4, 2, 1), make.index(5, 3))
    yield K("slice_tensor", lambda i: (slice(None), i), idx(4, 0, 1))
    yield K("int_slice_tensor", lambda i: (1, slice(None), i), idx(2, 0))
    yield K("tensor_slice", lambda i: (i, slice(1, 3)), idx(3, 1))
    yield K("ellipsis_tensor", lambda i: (..., i), idx(0, 2))
    # advanced indices split by a slice: PyTorch (like NumPy) moves their dim to the front
    yield K("separated_tensors", lambda i, j: (i, slice(None), j), idx(0, 3), idx(1, 2))
    yield K("none_tensor", lambda i: (None, i), idx(1, 1))
    yield S("0d_none", make(), key=lambda: None)
    yield S("0d_ellipsis", make(), key=lambda: ...)
    yield S("noncontig", make.nc(4, 6, how="step"), key=lambda: (slice(1, None), slice(None, None, 2)))
    yield S("noncontig_tensor", make.nc(4, 3), idx(2, 0), key=lambda i: (slice(None), i))


# ---- linear algebra


def matmul_samples(make):
    yield S("1d_1d", make(4), make(4))
    yield S("2d_1d", make(3, 4), make(4))
    yield S("1d_2d", make(4), make(4, 5))
    yield S("2d_2d", make(3, 4), make(4, 5))
    yield S("3d_2d", make(2, 3, 4), make(4, 5))
    yield S("2d_3d", make(3, 4), make(2, 4, 5))
    yield S("3d_3d", make(2, 3, 4), make(2, 4, 5))
    yield S("3d_1d", make(2, 3, 4), make(4))
    yield S("1d_3d", make(4), make(2, 4, 5))
    yield S("batch_broadcast", make(2, 1, 3, 4), make(3, 4, 5))
    yield S("empty_inner", make(3, 0), make(0, 2))  # all zeros
    yield S("empty_rows", make(0, 4), make(4, 2))
    yield S("noncontig", make.nc(3, 4), make.nc(4, 5, how="step"))


def mm_samples(make):
    yield S("2d", make(3, 4), make(4, 5))
    yield S("empty_inner", make(3, 0), make(0, 2))
    yield S("noncontig", make.nc(3, 4), make.nc(4, 5))


def bmm_samples(make):
    yield S("3d", make(2, 3, 4), make(2, 4, 5))
    yield S("empty_batch", make(0, 3, 4), make(0, 4, 2))
    yield S("noncontig", make.nc(2, 3, 4), make.nc(2, 4, 5, how="step"))


def addmm_samples(make):
    yield S("plain", make(3, 5), make(3, 4), make(4, 5))
    yield S("beta_alpha", make(3, 5), make(3, 4), make(4, 5), beta=0.5, alpha=2.0)
    yield S("broadcast_bias", make(5), make(3, 4), make(4, 5), alpha=-1.5)
    yield S("0d_bias", make(), make(3, 4), make(4, 5), beta=2)
    # beta=0 ignores the bias, NaNs included
    yield S("beta0_nan", make.array(np.full((3, 5), np.nan)), make(3, 4), make(4, 5), beta=0, gc=False)
    yield S("noncontig", make.nc(3, 5), make.nc(3, 4), make(4, 5))


def outer_samples(make):
    yield S("plain", make(3), make(4))
    yield S("empty", make(0), make(4))
    yield S("noncontig", make.nc(3, how="step"), make(2))


def dot_samples(make):
    yield S("plain", make(5), make(5))
    yield S("empty", make(0), make(0))
    yield S("noncontig", make.nc(4, how="step"), make(4))


def convert_samples(make):
    yield S("2d", make(3, 4))
    yield S("0d", make())
    yield S("empty", make(0))
    yield S("noncontig", make.nc(4, 3))
    yield S("special", make.array([0, 1, -1, 0]), gc=False)


# ----------------------------------------------------------------------------- the table

ARITH = (F32, F64, I64)
UNARY_FLOAT = (F32, F64)
KINK = dict(avoid=(0.0,))
NO_GRAD = dict(differentiable=False)
DISTINCT = dict(distinct=True)

OPS = []


def register(name, op, samples, **kw):
    OPS.append(OpInfo(name, op, samples, **kw))


# ---- arithmetic: functions, operators, reflected operators
register("add", lambda T, x, y: T.add(x, y), binary, dtypes=ARITH + (F16,))
register("add_alpha", lambda T, x, y: T.add(x, y, alpha=2), binary, dtypes=(F32, I64))
register("sub", lambda T, x, y: T.sub(x, y), binary, dtypes=ARITH + (F16,))
register("mul", lambda T, x, y: T.mul(x, y), binary, dtypes=ARITH + (F16,))
register("div", lambda T, x, y: T.div(x, y), binary, dtypes=ARITH + (F16,), domain=dict(nonzero=True))
register("floor_divide", lambda T, x, y: T.floor_divide(x, y), binary, dtypes=ARITH,
    domain=dict(nonzero=True), **NO_GRAD)  # PyTorch has no derivative for floor_divide
register("remainder", lambda T, x, y: T.remainder(x, y), binary, dtypes=ARITH, domain=dict(nonzero=True))
register("op_add", lambda T, x, y: x + y, binary, dtypes=ARITH)
register("op_sub", lambda T, x, y: x - y, binary, dtypes=ARITH)
register("op_mul", lambda T, x, y: x * y, binary, dtypes=ARITH)
register("op_truediv", lambda T, x, y: x / y, binary, dtypes=ARITH, domain=dict(nonzero=True))
register("op_floordiv", lambda T, x, y: x // y, binary, dtypes=ARITH, domain=dict(nonzero=True), **NO_GRAD)
register("op_mod", lambda T, x, y: x % y, binary, dtypes=ARITH, domain=dict(nonzero=True))
register("op_pow", lambda T, x, y: x ** y, pow_samples, dtypes=ARITH)
register("op_matmul", lambda T, x, y: x @ y, matmul_samples, dtypes=(F32, I64), tol=SUM_TOL)
register("op_radd", lambda T, x, s: s + x, scalar_left, dtypes=ARITH)
register("op_rsub", lambda T, x, s: s - x, scalar_left, dtypes=ARITH)
register("op_rmul", lambda T, x, s: s * x, scalar_left, dtypes=ARITH)
register("op_rtruediv", lambda T, x, s: s / x, scalar_left, dtypes=ARITH, domain=dict(nonzero=True))
register("op_rfloordiv", lambda T, x, s: s // x, scalar_left, dtypes=ARITH, domain=dict(nonzero=True), **NO_GRAD)
register("op_rmod", lambda T, x, s: s % x, scalar_left, dtypes=ARITH, domain=dict(nonzero=True),
    **NO_GRAD)  # PyTorch has no derivative for remainder(Scalar, Tensor)
register("op_rpow", lambda T, x, s: s ** x, rpow_samples, dtypes=ARITH)
register("op_neg", lambda T, x: -x, unary, dtypes=ARITH)
register("neg", lambda T, x: T.neg(x), one, dtypes=(F32,))
register("pow", lambda T, x, y: T.pow(x, y), pow_samples, dtypes=ARITH)
register("pow_scalar_base", lambda T, x, s: T.pow(s, x), rpow_samples, dtypes=ARITH)

# ---- unary elementwise
register("abs", lambda T, x: T.abs(x), with_values(0.0, -1.0, 2.0), dtypes=(F32, F64, I64), domain=KINK)
register("exp", lambda T, x: T.exp(x), unary, dtypes=(F32, F64, I64, F16), tol={F16: (2e-3, 1e-3)})
register("log", lambda T, x: T.log(x), with_values(0.0, -1.0, 1.0, np.inf), dtypes=UNARY_FLOAT + (I64,),
    domain=dict(low=0.1, high=3.0, ilow=1))
register("log1p", lambda T, x: T.log1p(x), unary, dtypes=UNARY_FLOAT, domain=dict(low=-0.9, high=3.0))
register("expm1", lambda T, x: T.expm1(x), unary, dtypes=UNARY_FLOAT)
register("sqrt", lambda T, x: T.sqrt(x), unary, dtypes=UNARY_FLOAT + (I64,), domain=dict(low=0.1, high=3.0, ilow=0))
register("rsqrt", lambda T, x: T.rsqrt(x), unary, dtypes=UNARY_FLOAT, domain=dict(low=0.1, high=3.0))
register("sin", lambda T, x: T.sin(x), unary, dtypes=UNARY_FLOAT + (I64,), domain=dict(low=-4.0, high=4.0))
register("cos", lambda T, x: T.cos(x), unary, dtypes=UNARY_FLOAT, domain=dict(low=-4.0, high=4.0))
register("tanh", lambda T, x: T.tanh(x), unary, dtypes=UNARY_FLOAT)
register("sigmoid", lambda T, x: T.sigmoid(x), with_values(-100.0, 100.0, 0.0), dtypes=UNARY_FLOAT + (I64,))
register("relu", lambda T, x: T.relu(x), with_values(0.0, -1.0, 1.0), dtypes=UNARY_FLOAT + (I64,), domain=KINK)
register("sign", lambda T, x: T.sign(x), with_values(0.0, -0.0, -3.0, 2.0), dtypes=UNARY_FLOAT + (I64,), domain=KINK)
register("floor", lambda T, x: T.floor(x), with_values(-1.5, -1.0, 1.0, 2.5), dtypes=UNARY_FLOAT + (I64,),
    domain=dict(avoid=(0.0,), period=1.0, low=-4.0, high=4.0))
register("ceil", lambda T, x: T.ceil(x), with_values(-1.5, -1.0, 1.0, 2.5), dtypes=UNARY_FLOAT,
    domain=dict(avoid=(0.0,), period=1.0, low=-4.0, high=4.0))
register("trunc", lambda T, x: T.trunc(x), with_values(-1.5, -1.0, 1.0, 2.5), dtypes=UNARY_FLOAT,
    domain=dict(avoid=(0.0,), period=1.0, low=-4.0, high=4.0))
# halves round to even in PyTorch, as in NumPy
register("round", lambda T, x: T.round(x), with_values(-2.5, -1.5, -0.5, 0.5, 1.5, 2.5), dtypes=UNARY_FLOAT + (I64,),
    domain=dict(avoid=(0.5,), period=1.0, low=-4.0, high=4.0))
register("reciprocal", lambda T, x: T.reciprocal(x), unary, dtypes=UNARY_FLOAT + (I64,), domain=dict(nonzero=True))
# the method forms, once each
for _name in ("abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "sign", "floor",
              "ceil", "round", "trunc", "reciprocal", "neg", "log1p", "expm1"):
    register(f"{_name}_method", lambda T, x, _n=_name: getattr(x, _n)(), one,
        domain=dict(low=0.2, high=3.0, avoid=(0.0, 0.5), period=1.0))  # off floor's and round's kinks

# ---- clamping, selection, interpolation
CLAMP_DOMAIN = dict(avoid=(-1.0, -0.5, 0.0, 0.5, 1.0))
register("clamp", lambda T, x, **kw: T.clamp(x, **kw), clamp_samples, dtypes=(F32, F64), domain=CLAMP_DOMAIN)
register("clamp_int", lambda T, x, **kw: T.clamp(x, **kw), lambda m: [S("both", m(3, 4), min=-1, max=2),
                                                                 S("float_bound", m(3, 4), min=0.5)], dtypes=(I64,),
    **NO_GRAD)  # integer data; float clamping is covered above
register("clip", lambda T, x, **kw: x.clip(**kw), clamp_samples, domain=CLAMP_DOMAIN)
register("clamp_tensor", lambda T, x, **kw: T.clamp(x, **kw), clamp_tensor_samples, dtypes=(F32, F64), domain=DISTINCT)
register("maximum", lambda T, x, y: T.maximum(x, y), tensor_binary, dtypes=(F32, F64, I64), domain=DISTINCT)
register("minimum", lambda T, x, y: T.minimum(x, y), tensor_binary, dtypes=(F32, F64, I64), domain=DISTINCT)
register("where", lambda T, c, x, y: T.where(c, x, y), where_samples, dtypes=(F32, F64, I64))
register("lerp", lambda T, x, y, w: T.lerp(x, y, w), lerp_samples, dtypes=(F32, F64))

# ---- comparisons and logic (bool results)
CMP = dict(samples=binary, dtypes=(F32, I64), domain=dict(ints=True, ilow=-2, ihigh=2), **NO_GRAD)
for _name, _fn in (("eq", lambda T, x, y: T.eq(x, y)), ("ne", lambda T, x, y: T.ne(x, y)),
                   ("lt", lambda T, x, y: T.lt(x, y)), ("le", lambda T, x, y: T.le(x, y)),
                   ("gt", lambda T, x, y: T.gt(x, y)), ("ge", lambda T, x, y: T.ge(x, y)),
                   ("op_eq", lambda T, x, y: x == y), ("op_ne", lambda T, x, y: x != y),
                   ("op_lt", lambda T, x, y: x < y), ("op_le", lambda T, x, y: x <= y),
                   ("op_gt", lambda T, x, y: x > y), ("op_ge", lambda T, x, y: x >= y)):
    register(_name, _fn, **CMP)
register("op_rlt", lambda T, x, s: s < x, scalar_left, dtypes=(F32, I64), **NO_GRAD)
LOGIC = dict(dtypes=(BOOL, F32, I64), domain=dict(ints=True, ilow=0, ihigh=1), **NO_GRAD)
register("logical_and", lambda T, x, y: T.logical_and(x, y), tensor_binary, **LOGIC)  # no Python scalars in PyTorch
register("logical_or", lambda T, x, y: T.logical_or(x, y), tensor_binary, **LOGIC)
register("logical_not", lambda T, x: T.logical_not(x), unary, **LOGIC)
for _name in ("isnan", "isinf", "isfinite"):
    register(_name, lambda T, x, _n=_name: getattr(T, _n)(x), special_values, dtypes=(F32, F64), **NO_GRAD)
register("isfinite_int", lambda T, x: T.isfinite(x), one, dtypes=(I64,), **NO_GRAD)

# ---- reductions
register("sum", lambda T, x, **kw: x.sum(**kw), reduction("full", "tuple", "none", "empty", "empty_tuple"),
    dtypes=(F32, F64, I32, BOOL), tol=SUM_TOL)  # ints and bools sum to int64
register("sum_fn", lambda T, x, **kw: T.sum(x, **kw), reduction("full", "tuple"), tol=SUM_TOL)
register("mean", lambda T, x, **kw: T.mean(x, **kw), reduction("full", "tuple", "none", "empty"),
    dtypes=(F32, F64), tol=SUM_TOL)
register("mean_method", lambda T, x, **kw: x.mean(**kw), reduction("full"), tol=SUM_TOL)
register("prod", lambda T, x, **kw: x.prod(**kw), reduction("full", "empty"), dtypes=(F32, F64, I64),
    domain=dict(low=0.5, high=1.5, ilow=-2, ihigh=2), tol=SUM_TOL)
# a zero factor: the gradient is not prod/x there
register("prod_with_zero", lambda T, x, **kw: T.prod(x, **kw),
    lambda m: [S("full", m.array([[1.5, 0.0, 2.0], [0.5, 1.0, -1.0]])),
               S("dim", m.array([[1.5, 0.0, 2.0], [0.0, 1.0, 0.0]]), dim=1),
               S("two_zeros", m.array([0.0, 2.0, 0.0]))], dtypes=(F32, F64), tol=SUM_TOL)
for _name in ("max", "min"):
    register(f"{_name}_full", lambda T, x, _n=_name: getattr(x, _n)(),
        lambda m: [S("2d", m(3, 4)), S("0d", m()), S("noncontig", m.nc(4, 3))],
        dtypes=(F32, F64, I64), domain=DISTINCT)
    register(f"{_name}_dim", lambda T, x, *a, _n=_name, **kw: getattr(T, _n)(x, *a, **kw),
        lambda m: [S("dim", m(3, 4), 1), S("dim_neg_keepdim", m(2, 3, 4), -1, keepdim=True),
                   S("dim_kw", m(2, 3, 4), dim=0), S("0d", m(), 0), S("empty_kept_dim", m(2, 0, 3), 2),
                   S("noncontig", m.nc(4, 3), 0)],
        dtypes=(F32, F64, I64), domain=DISTINCT, fields=("values", "indices"))
    register(f"{_name}_binary", lambda T, x, y, _n=_name: getattr(T, _n)(x, y), tensor_binary, domain=DISTINCT)
for _name in ("amax", "amin"):
    register(_name, lambda T, x, _n=_name, **kw: getattr(x, _n)(**kw), reduction("tuple"), dtypes=(F32, F64, I64),
        domain=DISTINCT)
for _name in ("argmax", "argmin"):
    register(_name, lambda T, x, _n=_name, **kw: getattr(T, _n)(x, **kw), reduction("full", "none"),
        dtypes=(F32, I64), domain=DISTINCT, **NO_GRAD)
register("var", lambda T, x, **kw: x.var(**kw), var_samples, dtypes=(F32, F64), tol=SUM_TOL,
    grad_tol={F32: (1e-4, 1e-5)})
register("std", lambda T, x, **kw: T.std(x, **kw), var_samples, dtypes=(F32, F64), tol=SUM_TOL)
# distinct magnitudes: no ties for p=inf, nothing at 0 for p=1
register("norm", lambda T, x, **kw: x.norm(**kw), norm_samples, dtypes=(F32, F64), domain=DISTINCT, tol=SUM_TOL)
register("norm_fn", lambda T, x, *a: T.norm(x, *a), lambda m: [S("p_dim", m(3, 4), 2, 1)], tol=SUM_TOL)
register("logsumexp", lambda T, x, **kw: T.logsumexp(x, **kw), logsumexp_samples, dtypes=(F32, F64), tol=SUM_TOL)
register("softmax", lambda T, x, **kw: T.softmax(x, **kw), softmax_samples, dtypes=(F32, F64), tol=SUM_TOL)
register("softmax_method", lambda T, x: x.softmax(-1), one, tol=SUM_TOL)
register("log_softmax", lambda T, x, **kw: T.log_softmax(x, **kw), softmax_samples, dtypes=(F32, F64), tol=SUM_TOL)
register("log_softmax_method", lambda T, x: x.log_softmax(dim=0), one, tol=SUM_TOL)
register("cumsum", lambda T, x, **kw: x.cumsum(**kw), cumsum_samples, dtypes=(F32, F64, I64), tol=SUM_TOL)
register("cumsum_fn", lambda T, x, **kw: T.cumsum(x, **kw), cumsum_samples, dtypes=(I32, BOOL))  # -> int64
ALL_ANY = dict(dtypes=(BOOL, F32, I64), domain=dict(ints=True, ilow=0, ihigh=2), **NO_GRAD)
register("all", lambda T, x, **kw: x.all(**kw), all_any_samples, **ALL_ANY)
register("any", lambda T, x, **kw: T.any(x, **kw), all_any_samples, **ALL_ANY)

# ---- shape and indexing
SHAPE = (F32, I64)
register("view", lambda T, x, *s: x.view(*s), view_samples, dtypes=SHAPE)
register("reshape", lambda T, x, *s: x.reshape(*s), reshape_samples, dtypes=SHAPE)
register("reshape_fn", lambda T, x, *s: T.reshape(x, s), lambda m: [S("2d", m(3, 4), 2, 6), S("nc", m.nc(4, 3), 12)])
register("flatten", lambda T, x, **kw: x.flatten(**kw), flatten_samples, dtypes=SHAPE)
register("flatten_fn", lambda T, x, *a: T.flatten(x, *a), lambda m: [S("0_1", m(2, 3, 4), 0, 1)])
register("unflatten", lambda T, x, *a: x.unflatten(*a), unflatten_samples)
register("squeeze", lambda T, x, *a: x.squeeze(*a), squeeze_samples, dtypes=SHAPE)
register("unsqueeze", lambda T, x, d: x.unsqueeze(d), unsqueeze_samples, dtypes=SHAPE)
register("unsqueeze_fn", lambda T, x, d: T.unsqueeze(x, d), lambda m: [S("middle", m(3, 4), 1)])
register("permute", lambda T, x, *d: x.permute(*d), permute_samples, dtypes=SHAPE)
register("permute_fn", lambda T, x, *d: T.permute(x, d), lambda m: [S("rotate", m(2, 3, 4), 1, 2, 0)])
register("transpose", lambda T, x, a, b: x.transpose(a, b), transpose_samples, dtypes=SHAPE)
register("transpose_fn", lambda T, x, a, b: T.transpose(x, a, b), lambda m: [S("2d", m(3, 4), 0, 1)])
register("t", lambda T, x: x.t(), t_samples, dtypes=SHAPE)
register("T", lambda T, x: x.T, T_samples, dtypes=SHAPE)
register("expand", lambda T, x, *s: x.expand(*s), expand_samples, dtypes=SHAPE)
register("expand_as", lambda T, x, y: x.expand_as(y), expand_as_samples)
register("repeat", lambda T, x, *s: x.repeat(*s), repeat_samples, dtypes=SHAPE)
register("cat", lambda T, *xs, **kw: T.cat(list(xs), **kw), cat_samples, dtypes=SHAPE)
register("stack", lambda T, *xs, **kw: T.stack(xs, **kw), stack_samples, dtypes=SHAPE)  # a tuple, not a list
register("split", lambda T, x, s, **kw: x.split(s, **kw), split_samples, dtypes=SHAPE)
register("split_fn", lambda T, x, s, **kw: T.split(x, s, **kw), lambda m: [S("sizes", m(5, 3), [2, 3])])
register("chunk", lambda T, x, n, **kw: x.chunk(n, **kw), chunk_samples, dtypes=SHAPE)
register("chunk_fn", lambda T, x, n, **kw: T.chunk(x, n, **kw), lambda m: [S("dim1", m(2, 5), 2, dim=1)])
register("narrow", lambda T, x, *a: x.narrow(*a), narrow_samples, dtypes=SHAPE)
register("narrow_fn", lambda T, x, *a: T.narrow(x, *a), lambda m: [S("dim1", m(3, 4), 1, 1, 2)])
register("flip", lambda T, x, d: x.flip(d), flip_samples, dtypes=SHAPE)
register("flip_fn", lambda T, x, d: T.flip(x, d), lambda m: [S("both", m(3, 4), (0, 1))])
register("gather", lambda T, x, d, i: T.gather(x, d, i), gather_samples, dtypes=SHAPE)
register("gather_method", lambda T, x, d, i: x.gather(d, i), lambda m: [S("dim0", m(3, 4), 0, m.index(3, 2, 4))])
SRC_LARGER = (Skip("PyTorch's backward rejects a src larger than index", test="gradient", sample="src_larger"),)
register("scatter", lambda T, x, d, i, s: x.scatter(d, i, s), scatter_samples, dtypes=SHAPE, skips=SRC_LARGER)
register("scatter_fn", lambda T, x, d, i, s: T.scatter(x, d, i, s),
    lambda m: [S("dim1", m(3, 5), 1, m.unique_index(5, (3, 2), 1), m(3, 2))])
register("scatter_add", lambda T, x, d, i, s: x.scatter_add(d, i, s), scatter_add_samples, dtypes=SHAPE,
    skips=SRC_LARGER)
register("scatter_add_fn", lambda T, x, d, i, s: T.scatter_add(x, d, i, s),
    lambda m: [S("dim1", m(3, 5), 1, m.index(5, 3, 4), m(3, 4))])
register("index_select", lambda T, x, d, i: T.index_select(x, d, i), index_select_samples, dtypes=SHAPE)
register("index_select_method", lambda T, x, d, i: x.index_select(d, i), lambda m: [S("dim1", m(3, 4), 1, idx(3, 3))])
register("masked_fill", lambda T, x, m, v: x.masked_fill(m, v), masked_fill_samples, dtypes=SHAPE)
register("masked_fill_fn", lambda T, x, m, v: T.masked_fill(x, m, v), lambda mk: [S("2d", mk(3, 4), mk.mask(3, 4), 7.0)])
register("getitem", lambda T, x, *ix, key: x[key(*ix)], getitem_samples, dtypes=SHAPE)

# ---- linear algebra
register("matmul", lambda T, x, y: T.matmul(x, y), matmul_samples, dtypes=(F32, F64, I64), tol=SUM_TOL)
register("mm", lambda T, x, y: T.mm(x, y), mm_samples, dtypes=(F32, F64), tol=SUM_TOL)
register("mm_method", lambda T, x, y: x.mm(y), lambda m: [S("2d", m(2, 3), m(3, 2))], tol=SUM_TOL)
register("bmm", lambda T, x, y: T.bmm(x, y), bmm_samples, dtypes=(F32, F64), tol=SUM_TOL)
register("addmm", lambda T, b, x, y, **kw: T.addmm(b, x, y, **kw), addmm_samples, dtypes=(F32, F64), tol=SUM_TOL)
register("outer", lambda T, x, y: T.outer(x, y), outer_samples, dtypes=(F32, F64, I64))
register("dot", lambda T, x, y: T.dot(x, y), dot_samples, dtypes=(F32, F64, I64), tol=SUM_TOL)

# ---- copies and conversions
register("clone", lambda T, x: x.clone(), unary, dtypes=SHAPE)
register("contiguous", lambda T, x: x.contiguous(), unary, dtypes=SHAPE)
register("detach", lambda T, x: x.detach(), unary, **NO_GRAD)  # the output does not require grad
CONV = dict(samples=convert_samples, dtypes=(F32, F64, I64, BOOL), domain=dict(avoid=(0.0,), period=1.0))
# a float64 -> float32/float16 output is too coarse for gradcheck's finite differences
LOSSY = (Skip("float64 input rounded to a lower precision defeats finite differences", test="gradcheck"),)
register("float", lambda T, x: x.float(), skips=LOSSY, **CONV)
register("double", lambda T, x: x.double(), **CONV)
register("half", lambda T, x: x.half(), skips=LOSSY, tol={F16: (1e-3, 1e-3)}, **CONV)
register("to_float64", lambda T, x: x.to(T.float64), **CONV)
register("to_dtype_kw", lambda T, x: x.to(dtype=T.float32), skips=LOSSY, **CONV)
register("long", lambda T, x: x.long(), **CONV, **NO_GRAD)  # floats truncate toward zero
register("int", lambda T, x: x.int(), **CONV, **NO_GRAD)
register("bool", lambda T, x: x.bool(), **CONV, **NO_GRAD)
register("to_int32", lambda T, x: x.to(T.int32), **CONV, **NO_GRAD)

assert len({o.name for o in OPS}) == len(OPS), "duplicate op names"
