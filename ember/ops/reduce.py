"""Reductions (sum, mean, max, var, norm, ...), softmax family and cumsum."""
import builtins  # this module defines sum/max/min/all/any, shadowing the builtins
import collections

from .. import kernels as K
from .._dtype import get_default_dtype, int64
from ..autograd.function import Function
from ._util import Tensor, numpy_names, wrap_dim, wrap_dims


def _axes(dim, ndim):
    """Reduction axes; 0-d tensors accept dim 0/-1 and reduce nothing."""
    return tuple(d for d in wrap_dims(dim, ndim) if d < ndim)


def _expand_back(g, shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdim and axes:  # expand_dims(g, axes), without NumPy's Python-level axis checks
        kept = list(shape)
        for a in axes:  # sorted, non-negative, distinct
            kept[a] = 1
        g = g.reshape(kept)
    return K.broadcast_to(g, shape)


def _int_result(x, dtype):
    # integer and bool sums accumulate in int64, as in PyTorch
    if dtype is not None:
        return dtype
    return int64.np if x.dtype.kind in "iub" else None


class Sum(Function):
    def forward(self, x, dim=None, keepdim=False, dtype=None):
        self.shape, self.keepdim = x.shape, keepdim
        if dim is None and not keepdim:  # the common full reduction, without axis bookkeeping
            self.axes = ()
            return K.add.reduce(x, None, _int_result(x, dtype))  # x.sum(), less one Python frame
        axes = _axes(dim, x.ndim)
        self.axes = axes
        if dim is not None:
            self._name = "SumBackward1"
        return K.sum(x, axis=axes, keepdims=keepdim, dtype=_int_result(x, dtype))

    def backward(self, g):
        return K.broadcast_to(g, self.shape) if not self.axes else _expand_back(g, self.shape, self.axes, self.keepdim)


class Mean(Function):
    def forward(self, x, dim=None, keepdim=False, dtype=None):
        axes = _axes(dim, x.ndim)
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.count = 1
        for a in axes:
            self.count *= x.shape[a]
        if dim is not None:
            self._name = "MeanBackward1"
        # sum / count rather than np.mean: an empty mean is nan without a NumPy warning;
        # float16 accumulates in float32, like PyTorch
        acc = dtype if dtype is not None else (K.float32 if x.dtype == K.float16 else None)
        out = K.add.reduce(x, axes, acc, keepdims=keepdim) / (self.count or K.nan)  # np.sum, less a frame
        return K.asarray(out).astype(x.dtype if dtype is None else dtype, copy=False)

    def backward(self, g):
        return _expand_back(g / self.count, self.shape, self.axes, self.keepdim)


class Prod(Function):
    def forward(self, x, dim=None, keepdim=False, dtype=None):
        self.save_for_backward(x)
        self.dim, self.keepdim = dim, keepdim
        if dim is not None:
            self._name = "ProdBackward1"
        axis = None if dim is None else (wrap_dim(dim, x.ndim) if x.ndim else None)
        self.axis = axis
        return K.prod(x, axis=axis, keepdims=keepdim, dtype=_int_result(x, dtype))

    def backward(self, g):
        (x,) = self.saved_tensors
        if x.size == 0:
            return K.zeros(x.shape, x.dtype)
        # product of all the other elements, without dividing (exact with zeros):
        # exclusive cumulative products from the left and from the right
        axis = self.axis
        flat = x.reshape(-1) if axis is None else K.moveaxis(x, axis, -1)
        ones = K.ones(flat.shape[:-1] + (1,), flat.dtype)
        left = K.cumprod(K.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = K.cumprod(K.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = left * right
        if axis is None:
            return g * others.reshape(x.shape)
        if not self.keepdim:
            g = K.expand_dims(g, axis)
        return g * K.moveaxis(others, -1, axis)


class _AmaxAmin(Function):
    pick = None

    def forward(self, x, dim=(), keepdim=False):
        axes = _axes(dim if dim != () else None, x.ndim)
        out = type(self).pick(x, axis=axes, keepdims=True)
        self.save_for_backward(x, out)
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        x, out = self.saved_tensors
        mask = x == out
        count = mask.sum(axis=self.axes, keepdims=True)
        if not self.keepdim:
            g = K.expand_dims(g, self.axes)
        return g * mask / count


class _Extreme(_AmaxAmin):
    """max/min over all elements: amax/amin over every dim (ties share the gradient evenly),
    with PyTorch's error for an empty input."""

    def forward(self, x):
        if x.size == 0:
            raise RuntimeError(
                f"{self._kind}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        return super().forward(x, None)


class MaxAll(_Extreme):
    _name = "MaxBackward1"
    _kind = "max"
    pick = staticmethod(K.max)


class MinAll(_Extreme):
    _name = "MinBackward1"
    _kind = "min"
    pick = staticmethod(K.min)


class _ExtremeDim(Function):
    """max/min along a dim: (values, indices); the gradient goes to the chosen index."""

    arg = None

    def forward(self, x, dim, keepdim=False):
        axis = wrap_dim(dim, x.ndim)
        self.shape = x.shape
        if x.ndim == 0:
            return x.copy(), K.zeros((), int64.np)
        if x.shape[axis] == 0:
            raise IndexError(
                f"{self._kind}(): Expected reduction dim {axis} to have non-zero size."
            )
        idx = K.expand_dims(type(self).arg(x, axis=axis), axis)
        values = K.take_along_axis(x, idx, axis)
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        self.save_for_backward(idx)
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return values, idx.astype(int64.np, copy=False)

    def backward(self, g):
        if not self.shape:
            return g
        (idx,) = self.saved_tensors
        if not self.keepdim:
            g = K.expand_dims(g, self.axis)
        out = K.zeros(self.shape, g.dtype)
        K.put_along_axis(out, idx, g, self.axis)
        return out


class MaxDim(_ExtremeDim):
    _name = "MaxBackward0"
    _kind = "max"
    arg = staticmethod(K.argmax)


class MinDim(_ExtremeDim):
    _name = "MinBackward0"
    _kind = "min"
    arg = staticmethod(K.argmin)


class Amax(_AmaxAmin):
    pick = staticmethod(K.max)


class Amin(_AmaxAmin):
    pick = staticmethod(K.min)


class ArgMax(Function):
    differentiable = False

    def forward(self, x, dim=None, keepdim=False):
        if dim is None:
            out = K.argmax(x.reshape(-1))
            return K.asarray(out).reshape((1,) * x.ndim) if keepdim else K.asarray(out)
        axis = wrap_dim(dim, x.ndim)
        return K.argmax(x, axis=axis, keepdims=keepdim) if x.ndim else K.zeros((), int64.np)


class ArgMin(Function):
    differentiable = False

    def forward(self, x, dim=None, keepdim=False):
        if dim is None:
            out = K.argmin(x.reshape(-1))
            return K.asarray(out).reshape((1,) * x.ndim) if keepdim else K.asarray(out)
        axis = wrap_dim(dim, x.ndim)
        return K.argmin(x, axis=axis, keepdims=keepdim) if x.ndim else K.zeros((), int64.np)


class Var(Function):
    def forward(self, x, dim=None, correction=1, keepdim=False):
        axes = _axes(dim, x.ndim)
        self.n = 1
        for a in axes:
            self.n *= x.shape[a]
        centered = x - K.mean(x, axis=axes, keepdims=True)
        self.save_for_backward(centered)
        self.axes, self.keepdim, self.correction = axes, keepdim, correction
        denom = builtins.max(self.n - correction, 0)
        out = K.sum(centered * centered, axis=axes, keepdims=keepdim) / x.dtype.type(denom)
        return out.astype(x.dtype, copy=False)

    def backward(self, g):
        (centered,) = self.saved_tensors
        if not self.keepdim:
            g = K.expand_dims(g, self.axes)
        return g * centered * (2 / centered.dtype.type(builtins.max(self.n - self.correction, 0)))


class Std(Function):
    def forward(self, x, dim=None, correction=1, keepdim=False):
        axes = _axes(dim, x.ndim)
        self.n = 1
        for a in axes:
            self.n *= x.shape[a]
        centered = x - K.mean(x, axis=axes, keepdims=True)
        denom = builtins.max(self.n - correction, 0)
        out = K.sqrt(K.sum(centered * centered, axis=axes, keepdims=True) / x.dtype.type(denom)).astype(x.dtype)
        self.save_for_backward(centered, out)
        self.axes, self.keepdim, self.correction = axes, keepdim, correction
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        centered, out = self.saved_tensors
        if not self.keepdim:
            g = K.expand_dims(g, self.axes)
        denom = centered.dtype.type(builtins.max(self.n - self.correction, 0))
        return g * centered / (denom * out)


class Norm(Function):
    """Vector p-norm over the given dims (all by default)."""

    _name = "LinalgVectorNormBackward0"

    def forward(self, x, p=2, dim=None, keepdim=False):
        axes = _axes(dim, x.ndim)
        a = K.abs(x)
        if p == float("inf"):
            out = K.max(a, axis=axes, keepdims=True) if a.size else K.zeros([1] * x.ndim, x.dtype)
        elif p == -float("inf"):
            out = K.min(a, axis=axes, keepdims=True)
        elif p == 0:
            out = K.sum(a != 0, axis=axes, keepdims=True).astype(x.dtype)
        elif p == 1:
            out = K.sum(a, axis=axes, keepdims=True)
        elif p == 2:
            out = K.sqrt(K.sum(x * x, axis=axes, keepdims=True))
        else:
            out = K.sum(a ** p, axis=axes, keepdims=True) ** (1.0 / p)
        out = out.astype(x.dtype, copy=False)
        self.save_for_backward(x, out)
        self.p, self.axes, self.keepdim = p, axes, keepdim
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        x, out = self.saved_tensors
        p = self.p
        if not self.keepdim:
            g = K.expand_dims(g, self.axes)
        if p == 0:
            return g * 0 * x
        if p == 1:
            return g * K.sign(x)
        if p in (float("inf"), -float("inf")):
            mask = K.abs(x) == out
            return g * K.sign(x) * mask / mask.sum(axis=self.axes, keepdims=True)
        safe = K.where(out == 0, 1, out)
        if p == 2:
            # NOTE: the subgradient at the zero vector is 0, like PyTorch
            return K.where(out == 0, 0, g * x / safe).astype(x.dtype)
        grad = g * x * K.abs(x) ** (p - 2) / safe ** (p - 1)
        return K.where(out == 0, 0, grad).astype(x.dtype)


class LogSumExp(Function):
    def forward(self, x, dim, keepdim=False):
        axes = _axes(dim, x.ndim)
        m = K.max(x, axis=axes, keepdims=True) if x.size else K.zeros([1] * x.ndim, x.dtype)
        m = K.where(K.isfinite(m), m, 0)
        out = (m + K.log(K.sum(K.exp(x - m), axis=axes, keepdims=True))).astype(x.dtype)
        self.save_for_backward(x, out)
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        x, out = self.saved_tensors
        if not self.keepdim:
            g = K.expand_dims(g, self.axes)
        return g * K.exp(x - out)


class Softmax(Function):
    def forward(self, x, dim):
        axis = wrap_dim(dim, x.ndim) if x.ndim else None
        out = K.softmax(x, axis)
        self.save_for_backward(out)
        self.axis = axis
        return out

    def backward(self, g):
        (out,) = self.saved_tensors
        return out * (g - K.sum(g * out, axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x, dim):
        axis = wrap_dim(dim, x.ndim) if x.ndim else None
        out = K.log_softmax(x, axis)
        self.save_for_backward(out)
        self.axis = axis
        return out

    def backward(self, g):
        (out,) = self.saved_tensors
        return g - K.exp(out) * K.sum(g, axis=self.axis, keepdims=True)


class Cumsum(Function):
    def forward(self, x, dim, dtype=None):
        axis = wrap_dim(dim, x.ndim)
        self.axis = axis
        if x.ndim == 0:
            return x.astype(_int_result(x, dtype) or x.dtype)
        return K.cumsum(x, axis=axis, dtype=_int_result(x, dtype))

    def backward(self, g):
        if g.ndim == 0:
            return g
        rev = K.flip(g, self.axis)
        return K.flip(K.cumsum(rev, axis=self.axis), self.axis)


class All(Function):
    differentiable = False

    def forward(self, x, dim=None, keepdim=False):
        out = K.all(x, axis=_axes(dim, x.ndim), keepdims=keepdim)
        return out.astype(x.dtype) if x.dtype == K.uint8 else out


class Any(Function):
    differentiable = False

    def forward(self, x, dim=None, keepdim=False):
        out = K.any(x, axis=_axes(dim, x.ndim), keepdims=keepdim)
        return out.astype(x.dtype) if x.dtype == K.uint8 else out


# -- functional wrappers ------------------------------------------------------------------
def _dt(dtype):
    return None if dtype is None else dtype.np


@numpy_names
def sum(input, dim=None, keepdim=False, *, dtype=None):
    return Sum.apply(input, dim, keepdim, None if dtype is None else dtype.np)


@numpy_names
def mean(input, dim=None, keepdim=False, *, dtype=None):
    d = dtype or input.dtype
    if not d.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {d.legacy[6:-6]}"
        )
    return Mean.apply(input, dim, keepdim, _dt(dtype))


@numpy_names
def prod(input, dim=None, keepdim=False, *, dtype=None):
    return Prod.apply(input, dim, keepdim, _dt(dtype))


_named = {}


def _return_type(name):
    """PyTorch's named (values, indices) tuples, e.g. torch.return_types.max."""
    if name not in _named:
        base = collections.namedtuple(name, ["values", "indices"])

        class ReturnType(base):
            __slots__ = ()

            def __repr__(self):
                return f"torch.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})"

        ReturnType.__name__ = ReturnType.__qualname__ = name
        _named[name] = ReturnType
    return _named[name]


def _extreme(all_cls, dim_cls, binary, name):
    def op(input, dim=None, keepdim=False, *, out=None):
        if isinstance(dim, Tensor):  # max(a, b): the elementwise form
            return binary(input, dim)
        if dim is None:
            return all_cls.apply(input)
        return _return_type(name)(*dim_cls.apply(input, dim, keepdim))

    op.__name__ = name
    return numpy_names(op)


def _maximum(a, b):
    from .elementwise import maximum

    return maximum(a, b)


def _minimum(a, b):
    from .elementwise import minimum

    return minimum(a, b)


max = _extreme(MaxAll, MaxDim, _maximum, "max")
min = _extreme(MinAll, MinDim, _minimum, "min")


@numpy_names
def amax(input, dim=(), keepdim=False):
    return Amax.apply(input, dim, keepdim)


@numpy_names
def amin(input, dim=(), keepdim=False):
    return Amin.apply(input, dim, keepdim)


@numpy_names
def argmax(input, dim=None, keepdim=False):
    return ArgMax.apply(input, dim, keepdim)


@numpy_names
def argmin(input, dim=None, keepdim=False):
    return ArgMin.apply(input, dim, keepdim)


def _correction(dim, unbiased, correction):
    if isinstance(dim, bool):  # var(x, False): the unbiased-only overload
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


@numpy_names
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, correction = _correction(dim, unbiased, correction)
    return Var.apply(input, dim, correction, keepdim)


@numpy_names
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, correction = _correction(dim, unbiased, correction)
    return Std.apply(input, dim, correction, keepdim)


@numpy_names
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@numpy_names
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@numpy_names
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if not input.is_floating_point():
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {input.dtype.legacy[6:-6]}"
        )
    if p == "fro" or p is None:
        p = 2
    elif p == "nuc" or isinstance(p, str):
        raise NotImplementedError(f"norm with p='{p}' is not supported by ember")
    x = input if dtype is None else input.to(dtype)
    return Norm.apply(x, float(p), dim, keepdim)


@numpy_names
def logsumexp(input, dim, keepdim=False):
    x = input if input.is_floating_point() else input.to(get_default_dtype())
    return LogSumExp.apply(x, dim, keepdim)


@numpy_names
def softmax(input, dim, dtype=None):
    x = input if dtype is None else input.to(dtype)
    return Softmax.apply(x, dim)


@numpy_names
def log_softmax(input, dim, dtype=None):
    x = input if dtype is None else input.to(dtype)
    return LogSoftmax.apply(x, dim)


@numpy_names
def cumsum(input, dim, *, dtype=None):
    return Cumsum.apply(input, dim, _dt(dtype))


@numpy_names
def all(input, dim=None, keepdim=False):
    return All.apply(input, dim, keepdim)


@numpy_names
def any(input, dim=None, keepdim=False):
    return Any.apply(input, dim, keepdim)
