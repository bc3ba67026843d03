"""Elementwise ops: arithmetic, unary math, comparisons and logic.

Binary ops receive arrays already promoted when the operands' dtypes differ
(`dtype=` carries PyTorch's result type); Python numbers stay Python numbers,
which NumPy treats as weakly typed, like PyTorch does. Gradients are returned in
the broadcast shape; the engine reduces them to each input's shape and dtype.
"""
from .. import kernels as K
from .._dtype import bool_, float32, get_default_dtype, result_type_of
from ..autograd.function import Function
from ._util import Tensor, as_tensor_like, is_tensor


def _cast(x, dtype):
    if dtype is None or not hasattr(x, "dtype") or x.dtype == dtype:
        return x
    return x.astype(dtype)


# -- arithmetic ------------------------------------------------------------------------
class Add(Function):
    alpha = 1

    def forward(self, x, y, alpha=1, dtype=None):
        if dtype is not None:
            x, y = _cast(x, dtype), _cast(y, dtype)
        if alpha == 1:
            return x + y
        self.alpha = alpha
        return x + y * alpha

    def backward(self, g):
        return g, (g if self.alpha == 1 else g * self.alpha)


class Sub(Function):
    alpha = 1

    def forward(self, x, y, alpha=1, dtype=None):
        if dtype is not None:
            x, y = _cast(x, dtype), _cast(y, dtype)
        if alpha == 1:
            return x - y
        self.alpha = alpha
        return x - y * alpha

    def backward(self, g):
        return g, -g if self.alpha == 1 else -g * self.alpha


class Rsub(Function):
    """number - tensor: PyTorch records it as rsub(tensor, number)."""

    _name = "RsubBackward1"

    def forward(self, x, y, alpha=1, dtype=None):
        x = _cast(x, dtype)
        self.alpha = alpha
        return y - x * alpha

    def backward(self, g):
        return -g * self.alpha, None


class Mul(Function):
    def forward(self, x, y, dtype=None):
        if dtype is not None:
            x, y = _cast(x, dtype), _cast(y, dtype)
        self.save_for_backward(x, y)
        return x * y

    def backward(self, g):
        x, y = self.saved_tensors
        need = self._inputs
        return (g * y if need[0] else None), (g * x if need[1] else None)


class Div(Function):
    def forward(self, x, y, dtype=None, rounding_mode=None):
        if dtype is not None:
            x, y = _cast(x, dtype), _cast(y, dtype)
        if rounding_mode == "floor":
            return K.floor_divide(x, y)
        out = x / y
        if rounding_mode == "trunc":
            out = K.trunc(out)
        self.save_for_backward(y, out)
        self.rounding = rounding_mode
        return out

    def backward(self, g):
        if self.rounding is not None:
            return None, None
        y, out = self.saved_tensors
        gx = g / y
        return gx, (-gx * out if self._inputs[1] else None)


class Remainder(Function):
    """Python-style modulo: the result has the sign of the divisor."""

    def forward(self, x, y, dtype=None):
        x, y = _cast(x, dtype), _cast(y, dtype)
        self.save_for_backward(x, y)
        return K.mod(x, y)

    def backward(self, g):
        x, y = self.saved_tensors
        return g, (-g * K.floor_divide(x, y) if self._inputs[1] else None)


class FloorDivide(Function):
    differentiable = False

    def forward(self, x, y, dtype=None):
        return K.floor_divide(_cast(x, dtype), _cast(y, dtype))


class Pow(Function):
    """tensor ** number."""

    def forward(self, x, p, dtype=None):
        x = _cast(x, dtype)
        self.save_for_backward(x)
        self.p = p
        return x ** p

    def backward(self, g):
        (x,) = self.saved_tensors
        p = self.p
        if p == 0:
            return g * 0, None
        return g * p * x ** (p - 1), None


class PowTensor(Function):
    """tensor ** tensor."""

    _name = "PowBackward1"

    def forward(self, x, y, dtype=None):
        x, y = _cast(x, dtype), _cast(y, dtype)
        out = x ** y
        self.save_for_backward(x, y, out)
        return out

    def backward(self, g):
        x, y, out = self.saved_tensors
        gx = gy = None
        if self._inputs[0]:
            # NOTE: y * x**(y-1) is nan at x=0, y=0; PyTorch defines that gradient as 0
            gx = K.where(y == 0, 0.0, g * y * x ** (y - 1)).astype(out.dtype)
        if self._inputs[1]:
            # the gradient at x=0 is 0 for y>=0 (the limit), not 0*log(0)=nan
            gy = K.where((x == 0) & (y >= 0), 0.0, g * out * K.log(x)).astype(out.dtype)
        return gx, gy


class RPow(Function):
    """number ** tensor."""

    _name = "PowBackward2"

    def forward(self, x, base, dtype=None):
        x = _cast(x, dtype)
        out = K.power(K.asarray(base, dtype=x.dtype), x)
        self.save_for_backward(out)
        self.base = base
        return out

    def backward(self, g):
        (out,) = self.saved_tensors
        # NOTE: where out == 0 (base 0) out*log(base) is 0*-inf; the gradient there is 0
        grad = K.where(out == 0, 0.0, g * out * K.log(K.asarray(self.base, dtype=out.dtype)))
        return grad.astype(out.dtype), None


# -- unary math ------------------------------------------------------------------------
class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, x):
        out = K.exp(x)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g * self.saved_tensors[0]


class Expm1(Function):
    def forward(self, x):
        out = K.expm1(x)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g * (self.saved_tensors[0] + 1)


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return K.log(x)

    def backward(self, g):
        return g / self.saved_tensors[0]


class Log1p(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return K.log1p(x)

    def backward(self, g):
        return g / (self.saved_tensors[0] + 1)


class Sqrt(Function):
    def forward(self, x):
        out = K.sqrt(x)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g / (2 * self.saved_tensors[0])


class Rsqrt(Function):
    def forward(self, x):
        out = 1 / K.sqrt(x)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out = self.saved_tensors[0]
        return -0.5 * g * out * out * out


class Sin(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return K.sin(x)

    def backward(self, g):
        return g * K.cos(self.saved_tensors[0])


class Cos(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return K.cos(x)

    def backward(self, g):
        return -g * K.sin(self.saved_tensors[0])


class Tanh(Function):
    def forward(self, x):
        out = K.tanh(x)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out = self.saved_tensors[0]
        return g * (1 - out * out)


class Sigmoid(Function):
    def forward(self, x):
        out = K.sigmoid(x)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out = self.saved_tensors[0]
        return g * out * (1 - out)


class Relu(Function):
    def forward(self, x):
        out = K.maximum(x, 0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        # NOTE: the mask comes from out > 0, so the gradient at exactly 0 is 0 like PyTorch's
        return K.relu_backward(g, self.saved_tensors[0])


class Abs(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return K.abs(x)

    def backward(self, g):
        return g * K.sign(self.saved_tensors[0])


class Reciprocal(Function):
    def forward(self, x):
        out = 1 / x
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out = self.saved_tensors[0]
        return -g * out * out


class _Step(Function):
    """Piecewise-constant ops: the gradient is zero almost everywhere."""

    fn = None

    def forward(self, x):
        return type(self).fn(x)

    def backward(self, g):
        return g * 0


class Sign(_Step):
    fn = staticmethod(K.sign)


class Floor(_Step):
    fn = staticmethod(K.floor)


class Ceil(_Step):
    fn = staticmethod(K.ceil)


class Trunc(_Step):
    fn = staticmethod(K.trunc)


class Round(_Step):
    fn = staticmethod(K.rint)  # half to even, like PyTorch


class RoundDecimals(Function):
    _name = "RoundBackward1"

    def forward(self, x, decimals):
        return K.round(x, decimals)

    def backward(self, g):
        return g * 0


class Clamp(Function):
    """clamp with number bounds (either may be None)."""

    _name = "ClampBackward1"

    def forward(self, x, lo, hi, dtype=None):
        x = _cast(x, dtype)
        self.save_for_backward(x)
        self.lo, self.hi = lo, hi
        return K.clip(x, lo, hi)

    def backward(self, g):
        (x,) = self.saved_tensors
        mask = True
        if self.lo is not None:
            mask = x >= self.lo
        if self.hi is not None:
            mask = mask & (x <= self.hi)
        return g * mask


class ClampTensor(Function):
    """clamp with tensor bounds: min(max(x, lo), hi)."""

    _name = "ClampBackward0"

    def forward(self, x, lo, hi, dtype=None):
        x, lo, hi = _cast(x, dtype), _cast(lo, dtype), _cast(hi, dtype)
        self.save_for_backward(x, lo, hi)
        out = x if lo is None else K.maximum(x, lo)
        return out if hi is None else K.minimum(out, hi)

    def backward(self, g):
        x, lo, hi = self.saved_tensors
        below = (x < lo) if lo is not None else False
        above = (x > hi) if hi is not None else False
        if lo is not None and hi is not None:
            # min(max(x, lo), hi): hi wins wherever max(x, lo) exceeds it, even if x is below lo
            above = above | (lo > hi)
            below = below & ~above
        keep = ~(below | above) if (lo is not None or hi is not None) else True
        return g * keep, (g * below if lo is not None else None), (g * above if hi is not None else None)


class Maximum(Function):
    def forward(self, x, y, dtype=None):
        x, y = _cast(x, dtype), _cast(y, dtype)
        self.save_for_backward(x, y)
        return K.maximum(x, y)

    def backward(self, g):
        x, y = self.saved_tensors
        # ties split the gradient in half, as PyTorch does
        wx = (x > y) + 0.5 * (x == y)
        return g * wx.astype(g.dtype), g * (1 - wx).astype(g.dtype)


class Minimum(Function):
    def forward(self, x, y, dtype=None):
        x, y = _cast(x, dtype), _cast(y, dtype)
        self.save_for_backward(x, y)
        return K.minimum(x, y)

    def backward(self, g):
        x, y = self.saved_tensors
        wx = (x < y) + 0.5 * (x == y)
        return g * wx.astype(g.dtype), g * (1 - wx).astype(g.dtype)


class Where(Function):
    def forward(self, cond, x, y, dtype=None):
        x, y = _cast(x, dtype), _cast(y, dtype)
        self.save_for_backward(cond)
        out = K.where(cond, x, y)
        return out if dtype is None else out.astype(dtype, copy=False)

    def backward(self, g):
        (cond,) = self.saved_tensors
        zero = g.dtype.type(0)
        return None, K.where(cond, g, zero), K.where(cond, zero, g)


class Lerp(Function):
    def forward(self, start, end, weight, dtype=None):
        start, end, weight = _cast(start, dtype), _cast(end, dtype), _cast(weight, dtype)
        self.save_for_backward(start, end, weight)
        return start + weight * (end - start)

    def backward(self, g):
        start, end, weight = self.saved_tensors
        return g * (1 - weight), g * weight, (g * (end - start) if self._inputs[2] else None)


# -- comparisons and logic (no gradient) --------------------------------------------------
def _nondiff(fn):
    class Op(Function):
        differentiable = False

        def forward(self, *args, dtype=None):
            return fn(*args)

    return Op


Eq = _nondiff(lambda x, y: x == y)
Ne = _nondiff(lambda x, y: x != y)
Lt = _nondiff(lambda x, y: x < y)
Le = _nondiff(lambda x, y: x <= y)
Gt = _nondiff(lambda x, y: x > y)
Ge = _nondiff(lambda x, y: x >= y)
LogicalAnd = _nondiff(K.logical_and)
LogicalOr = _nondiff(K.logical_or)
LogicalXor = _nondiff(K.logical_xor)
LogicalNot = _nondiff(K.logical_not)
BitAnd = _nondiff(lambda x, y: x & y)
BitOr = _nondiff(lambda x, y: x | y)
BitXor = _nondiff(lambda x, y: x ^ y)
BitNot = _nondiff(lambda x: ~x)
IsNan = _nondiff(K.isnan)
IsInf = _nondiff(K.isinf)
IsFinite = _nondiff(K.isfinite)


# -- functional wrappers ------------------------------------------------------------------
def _binary(cls, a, b, **kw):
    """Call a binary op with PyTorch's type promotion; either side may be a number."""
    tb = type(b)
    if tb is type(a) and a._data.dtype == b._data.dtype:
        return cls.apply(a, b, **kw)  # the common case: nothing to promote
    if (tb is float and a._data.dtype.kind == "f") or (tb is int and a._data.dtype.kind in "fiu"):
        return cls.apply(a, b, **kw)  # a Python number never changes these dtypes
    dt = result_type_of((a, b))
    if is_tensor(a) and is_tensor(b):
        return cls.apply(a, b, dtype=dt.np, **kw)
    if not is_tensor(a):
        raise TypeError(f"expected a Tensor as first argument, got {type(a).__name__}")
    if a._data.dtype != dt.np:
        return cls.apply(a, b, dtype=dt.np, **kw)
    return cls.apply(a, b, **kw)


def _to_float(x):
    """Integer inputs of float-valued ops are computed in the default dtype, as in PyTorch."""
    if x._data.dtype.kind in "iub":
        return Tensor._make(x._data.astype(get_default_dtype().np))
    return x


def _unary(cls):
    def op(input):
        if input._data.dtype.kind in "iub":  # _to_float, inlined for the common float case
            input = _to_float(input)
        return cls.apply(input)

    op.__name__ = cls.__name__.lower()
    return op


def add(input, other, *, alpha=1, out=None):
    if not isinstance(input, Tensor):
        input, other = as_tensor_like(input, other), other
    return _binary(Add, input, other, alpha=alpha) if alpha != 1 else _binary(Add, input, other)


def _no_bool_sub(a, b):
    if _is_bool(a) or _is_bool(b):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )


def _is_bool(v):
    return type(v) is bool or (isinstance(v, Tensor) and v._data.dtype == bool_.np)


def sub(input, other, *, alpha=1, out=None):
    if not isinstance(input, Tensor):
        return rsub(other, input, alpha=alpha)
    _no_bool_sub(input, other)
    return _binary(Sub, input, other, alpha=alpha) if alpha != 1 else _binary(Sub, input, other)


def rsub(input, other, *, alpha=1):
    _no_bool_sub(input, other)
    if is_tensor(other):
        return sub(other, input, alpha=alpha)
    return _binary(Rsub, input, other, alpha=alpha)


def mul(input, other, *, out=None):
    if not isinstance(input, Tensor):
        input, other = other, input
    return _binary(Mul, input, other)


def div(input, other, *, rounding_mode=None, out=None):
    if not isinstance(input, Tensor):
        input = as_tensor_like(input, other)
    if rounding_mode is None:
        xd = input._data.dtype
        if xd.kind == "f" and (
            type(other) is float or type(other) is int or (isinstance(other, Tensor) and other._data.dtype == xd)
        ):
            return Div.apply(input, other)  # nothing to promote: the result keeps input's float dtype
        dt = result_type_of((input, other))
        if not dt.is_floating_point:  # true division of integers gives the default float
            dt = get_default_dtype()
        if input._data.dtype != dt.np or (is_tensor(other) and other._data.dtype != dt.np):
            return Div.apply(input, other, dtype=dt.np)
        return Div.apply(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
        )
    return _binary(Div, input, other, rounding_mode=rounding_mode)


true_divide = divide = div
multiply = mul
subtract = sub


def floor_divide(input, other):
    if not is_tensor(input):
        input = as_tensor_like(input, other)
    if result_type_of((input, other)) is bool_:
        raise NotImplementedError("\"div_floor_cpu\" not implemented for 'Bool'")
    return _binary(FloorDivide, input, other)


def remainder(input, other):
    if not is_tensor(input):
        input = as_tensor_like(input, other)
    return _binary(Remainder, input, other)


def pow(input, exponent):
    if not is_tensor(input):
        dt = result_type_of((input, exponent))
        x = exponent if exponent._data.dtype == dt.np else Tensor._make(exponent._data.astype(dt.np))
        if exponent._rg and x is not exponent:
            return RPow.apply(exponent, input, dtype=dt.np)
        return RPow.apply(x, input)
    if is_tensor(exponent):
        return _binary(PowTensor, input, exponent)
    return _binary(Pow, input, exponent)


def neg(input):
    return Neg.apply(input)


negative = neg


def abs(input):
    return Abs.apply(input)


absolute = abs
exp = _unary(Exp)
expm1 = _unary(Expm1)
log = _unary(Log)
log1p = _unary(Log1p)
sqrt = _unary(Sqrt)
rsqrt = _unary(Rsqrt)
sin = _unary(Sin)
cos = _unary(Cos)
tanh = _unary(Tanh)
sigmoid = _unary(Sigmoid)
reciprocal = _unary(Reciprocal)


def relu(input):
    return Relu.apply(input)


def sign(input):
    return Sign.apply(input)


def floor(input):
    return Floor.apply(input) if input.is_floating_point() else input.clone()


def ceil(input):
    return Ceil.apply(input) if input.is_floating_point() else input.clone()


def trunc(input):
    return Trunc.apply(input) if input.is_floating_point() else input.clone()


fix = trunc


def round(input, *, decimals=0):
    if not input.is_floating_point():
        return input.clone()
    return Round.apply(input) if decimals == 0 else RoundDecimals.apply(input, decimals)


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if is_tensor(min) or is_tensor(max):
        dt = result_type_of([t for t in (input, min, max) if t is not None])
        return ClampTensor.apply(input, min, max, dtype=dt.np)
    dt = result_type_of([t for t in (input, min, max) if t is not None])
    return Clamp.apply(input, min, max, dtype=None if dt.np == input._data.dtype else dt.np)


clip = clamp


def maximum(input, other):
    return _binary(Maximum, input, other)


def minimum(input, other):
    return _binary(Minimum, input, other)


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if condition._data.dtype != bool_.np:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {condition.dtype.name}")
    dt = result_type_of((input, other))
    if not is_tensor(input):
        input = as_tensor_like(input, other, dt)
    return Where.apply(condition, input, other, dtype=dt.np)


def lerp(input, end, weight):
    dt = result_type_of((input, end))
    return Lerp.apply(input, end, weight, dtype=None if input._data.dtype == dt.np == end._data.dtype else dt.np)


def _compare(cls):
    def op(input, other):
        if not is_tensor(input):
            input = as_tensor_like(input, other)
        return _binary(cls, input, other)

    return op


eq = _compare(Eq)
ne = not_equal = _compare(Ne)
lt = less = _compare(Lt)
le = less_equal = _compare(Le)
gt = greater = _compare(Gt)
ge = greater_equal = _compare(Ge)


def logical_and(input, other):
    return LogicalAnd.apply(input, other)


def logical_or(input, other):
    return LogicalOr.apply(input, other)


def logical_xor(input, other):
    return LogicalXor.apply(input, other)


def logical_not(input):
    return LogicalNot.apply(input)


def bitwise_and(input, other):
    return _binary(BitAnd, input, other)


def bitwise_or(input, other):
    return _binary(BitOr, input, other)


def bitwise_xor(input, other):
    return _binary(BitXor, input, other)


def bitwise_not(input):
    if input.is_floating_point():
        raise RuntimeError("bitwise_not is only implemented for integer and boolean tensors")
    return BitNot.apply(input)


def isnan(input):
    return IsNan.apply(input)


def isinf(input):
    return IsInf.apply(input)


def isfinite(input):
    return IsFinite.apply(input)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(K.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return Tensor._make(K.isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    return input.shape == other.shape and bool(K.array_equal(input._data, other._data))
