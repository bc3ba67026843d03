"""Tensor methods and operators, each bound to its op in one line."""
from . import _creation as C
from ._dtype import bool_, float16, float32, float64, int8, int16, int32, int64, uint8
from ._tensor import Tensor
from .ops import elementwise as E
from .ops import indexing as I
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .ops._util import as_tensor_like, is_tensor

_NUMBER = (int, float, bool)


def _operand(fn):
    """Binary operator: numbers and tensors are accepted, anything else is NotImplemented."""

    def op(self, other):
        if isinstance(other, Tensor) or isinstance(other, _NUMBER):
            return fn(self, other)
        if hasattr(other, "__array__") and not isinstance(other, type):
            return fn(self, C.as_tensor(other))
        return NotImplemented

    return op


def _reflected(fn):
    def op(self, other):
        if isinstance(other, _NUMBER):
            return fn(as_tensor_like(other), self)
        return NotImplemented

    return op


def _rdiv(self, other):
    # number / tensor: computed as number * reciprocal, recorded like PyTorch's
    if not isinstance(other, _NUMBER):
        return NotImplemented
    return E.div(as_tensor_like(other, dtype=None), self)


# -- in-place arithmetic: each records like its out-of-place op ---------------------------------
def _binary_inplace(cls, name):
    def op(self, other, **kw):
        alpha = kw.pop("alpha", 1)
        if alpha != 1:
            kw["alpha"] = alpha
        if isinstance(other, Tensor) and other._data.dtype != self._data.dtype:
            from ._dtype import result_type_of

            kw["dtype"] = result_type_of((self, other)).np
        return cls.apply_(self, other, **kw)

    op.__name__ = name
    return op


def _div_(self, other, *, rounding_mode=None):
    if not self.is_floating_point() and rounding_mode is None:
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {self.dtype.legacy[6:-6]}"
        )
    kw = {} if rounding_mode is None else {"rounding_mode": rounding_mode}
    if isinstance(other, Tensor) and other._data.dtype != self._data.dtype:
        from ._dtype import result_type_of

        kw["dtype"] = result_type_of((self, other)).np
    return E.Div.apply_(self, other, **kw)


def _pow_(self, exponent):
    if isinstance(exponent, Tensor):
        return E.PowTensor.apply_(self, exponent)
    return E.Pow.apply_(self, exponent)


def _clamp_(self, min=None, max=None):
    if is_tensor(min) or is_tensor(max):
        return E.ClampTensor.apply_(self, min, max)
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return E.Clamp.apply_(self, min, max)


def _unary_inplace(cls):
    def op(self):
        return cls.apply_(self)

    return op


def _setitem(self, index, value):
    I.setitem(self, index, value)


def _masked_fill_(self, mask, value):
    return I.MaskedFill.apply_(self, mask, value)


def _cuda(self, *args, **kwargs):
    C._check_device("cuda")


def _cast(d):
    def op(self, memory_format=None):
        return C.to(self, d)

    return op


def _new(factory):
    def op(self, *size, dtype=None, device=None, requires_grad=False):
        return factory(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    return op


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return C.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return C.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


_METHODS = {
    # arithmetic
    "add": E.add, "sub": E.sub, "subtract": E.sub, "mul": E.mul, "multiply": E.mul, "div": E.div,
    "divide": E.div, "true_divide": E.div, "floor_divide": E.floor_divide, "remainder": E.remainder,
    "pow": E.pow, "neg": E.neg, "negative": E.neg, "abs": E.abs, "absolute": E.abs,
    "exp": E.exp, "expm1": E.expm1, "log": E.log, "log1p": E.log1p, "sqrt": E.sqrt, "rsqrt": E.rsqrt,
    "sin": E.sin, "cos": E.cos, "tanh": E.tanh, "sigmoid": E.sigmoid, "relu": E.relu,
    "reciprocal": E.reciprocal, "sign": E.sign, "floor": E.floor, "ceil": E.ceil, "round": E.round,
    "trunc": E.trunc, "fix": E.trunc, "clamp": E.clamp, "clip": E.clamp, "maximum": E.maximum,
    "minimum": E.minimum, "lerp": E.lerp, "where": lambda self, condition, other: E.where(condition, self, other),
    "eq": E.eq, "ne": E.ne, "lt": E.lt, "le": E.le, "gt": E.gt, "ge": E.ge, "less": E.lt, "greater": E.gt,
    "logical_and": E.logical_and, "logical_or": E.logical_or, "logical_xor": E.logical_xor,
    "logical_not": E.logical_not, "bitwise_not": E.bitwise_not, "isnan": E.isnan, "isinf": E.isinf,
    "isfinite": E.isfinite, "allclose": E.allclose, "isclose": E.isclose, "equal": E.equal,
    # reductions
    "sum": R.sum, "mean": R.mean, "prod": R.prod, "max": R.max, "min": R.min, "amax": R.amax,
    "amin": R.amin, "argmax": R.argmax, "argmin": R.argmin, "var": R.var, "std": R.std, "norm": R.norm,
    "logsumexp": R.logsumexp, "softmax": R.softmax, "log_softmax": R.log_softmax, "cumsum": R.cumsum,
    "all": R.all, "any": R.any,
    # shape
    "view": S.view, "view_as": S.view_as, "reshape": S.reshape, "reshape_as": S.reshape_as,
    "flatten": S.flatten, "unflatten": S.unflatten, "squeeze": S.squeeze, "unsqueeze": S.unsqueeze,
    "permute": S.permute, "transpose": S.transpose, "swapaxes": S.transpose, "swapdims": S.transpose,
    "t": S.t, "expand": S.expand, "expand_as": S.expand_as, "broadcast_to": S.broadcast_to,
    "repeat": S.repeat, "split": S.split, "chunk": S.chunk, "unbind": S.unbind, "narrow": S.narrow,
    "flip": S.flip, "clone": S.clone, "contiguous": S.contiguous,
    # indexing
    "gather": I.gather, "scatter": I.scatter, "scatter_add": I.scatter_add, "index_select": I.index_select,
    "masked_fill": I.masked_fill, "masked_select": I.masked_select, "nonzero": I.nonzero,
    # linear algebra
    "matmul": L.matmul, "mm": L.mm, "bmm": L.bmm, "mv": L.mv, "dot": L.dot, "inner": L.dot, "outer": L.outer,
    "addmm": lambda self, mat1, mat2, *, beta=1, alpha=1: L.addmm(self, mat1, mat2, beta=beta, alpha=alpha),
    # dtype casts and factories
    "to": C.to, "float": _cast(float32), "double": _cast(float64), "half": _cast(float16),
    "long": _cast(int64), "int": _cast(int32), "short": _cast(int16), "char": _cast(int8),
    "byte": _cast(uint8), "bool": _cast(bool_), "cpu": lambda self, memory_format=None: self, "cuda": _cuda,
    "new_zeros": _new(C.zeros), "new_ones": _new(C.ones), "new_empty": _new(C.empty),
    "new_tensor": _new_tensor, "new_full": _new_full,
    # in-place
    "add_": _binary_inplace(E.Add, "add_"), "sub_": _binary_inplace(E.Sub, "sub_"),
    "mul_": _binary_inplace(E.Mul, "mul_"), "div_": _div_, "pow_": _pow_, "clamp_": _clamp_,
    "clip_": _clamp_, "relu_": _unary_inplace(E.Relu), "neg_": _unary_inplace(E.Neg),
    "exp_": _unary_inplace(E.Exp), "log_": _unary_inplace(E.Log), "sqrt_": _unary_inplace(E.Sqrt),
    "sigmoid_": _unary_inplace(E.Sigmoid), "tanh_": _unary_inplace(E.Tanh), "abs_": _unary_inplace(E.Abs),
    "floor_": _unary_inplace(E.Floor), "ceil_": _unary_inplace(E.Ceil), "round_": _unary_inplace(E.Round),
    "zero_": C.zero_, "fill_": C.fill_, "copy_": C.copy_, "uniform_": C.uniform_, "normal_": C.normal_,
    "bernoulli_": C.bernoulli_, "random_": C.random_, "exponential_": C.exponential_,
    "masked_fill_": _masked_fill_, "lerp_": lambda self, end, weight: E.Lerp.apply_(self, end, weight),
    # operators
    "__add__": _operand(E.add), "__radd__": _operand(E.add), "__sub__": _operand(E.sub),
    "__rsub__": _operand(lambda self, other: E.rsub(self, other)),
    "__mul__": _operand(E.mul), "__rmul__": _operand(E.mul), "__truediv__": _operand(E.div),
    "__rtruediv__": _rdiv, "__floordiv__": _operand(E.floor_divide),
    "__rfloordiv__": _reflected(E.floor_divide), "__mod__": _operand(E.remainder),
    "__rmod__": _reflected(E.remainder), "__pow__": _operand(E.pow),
    "__rpow__": lambda self, other: E.pow(other, self) if isinstance(other, _NUMBER) else NotImplemented,
    "__matmul__": _operand(L.matmul), "__rmatmul__": lambda self, other: NotImplemented,
    "__neg__": E.neg, "__pos__": lambda self: self, "__abs__": E.abs, "__invert__": E.bitwise_not,
    "__and__": _operand(E.bitwise_and), "__rand__": _operand(E.bitwise_and),
    "__or__": _operand(E.bitwise_or), "__ror__": _operand(E.bitwise_or),
    "__xor__": _operand(E.bitwise_xor), "__rxor__": _operand(E.bitwise_xor),
    "__eq__": _operand(E.eq), "__ne__": _operand(E.ne), "__lt__": _operand(E.lt), "__le__": _operand(E.le),
    "__gt__": _operand(E.gt), "__ge__": _operand(E.ge),
    "__iadd__": _binary_inplace(E.Add, "__iadd__"), "__isub__": _binary_inplace(E.Sub, "__isub__"),
    "__imul__": _binary_inplace(E.Mul, "__imul__"), "__itruediv__": _div_, "__ipow__": _pow_,
    "__getitem__": I.getitem, "__setitem__": _setitem,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)


def _T(self):
    return S.permute(self, tuple(reversed(range(self.ndim)))) if self.ndim > 1 else self


def _mT(self):
    return S.transpose(self, -2, -1)


Tensor.T = property(_T)
Tensor.mT = property(_mT)
Tensor.H = property(_T)
