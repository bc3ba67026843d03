"""dtypes, PyTorch's type promotion and the default float dtype.

ember's dtype objects print like PyTorch's (`torch.float32`) so that programs
written for PyTorch print the same text.
"""
import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_rank", "legacy")

    def __init__(self, name, np_dtype, rank, legacy):
        self.name = name
        self.legacy = "torch." + legacy  # the old tensor-type name, as in t.type()
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize
        self._rank = rank  # position within its category, for promotion

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):  # pickles by name so it round-trips to the same object
        return (_by_name, (self.name,))


bool_ = dtype("bool", np.bool_, 0, "BoolTensor")
uint8 = dtype("uint8", np.uint8, 1, "ByteTensor")
int8 = dtype("int8", np.int8, 2, "CharTensor")
int16 = dtype("int16", np.int16, 3, "ShortTensor")
int32 = dtype("int32", np.int32, 4, "IntTensor")
int64 = dtype("int64", np.int64, 5, "LongTensor")
float16 = dtype("float16", np.float16, 1, "HalfTensor")
float32 = dtype("float32", np.float32, 2, "FloatTensor")
float64 = dtype("float64", np.float64, 3, "DoubleTensor")

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}


def _by_name(name):
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype):
    """The ember dtype of a NumPy dtype; raises TypeError for unsupported ones."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype).name}. The only "
            "supported types are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


_default = float32


def get_default_dtype():
    return _default


def set_default_dtype(d):
    global _default
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default = d


def _category(d):
    # bool < integer < floating: a higher category always wins in promotion
    return 2 if d.is_floating_point else (0 if d is bool_ else 1)


def promote_types(a, b):
    """PyTorch's promotion lattice (differs from NumPy's: int64 + float16 is float16)."""
    if a is b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    if ca == 2:
        return a if a._rank > b._rank else b
    return from_numpy_dtype(np.promote_types(a.np, b.np))  # ints and bool agree with NumPy


def _scalar_dtype(x):
    if isinstance(x, bool):
        return bool_
    if isinstance(x, int):
        return int64
    if isinstance(x, float):
        return float64
    raise TypeError(f"unsupported scalar type {type(x).__name__}")


def _combine(higher, lower):
    # a lower-priority operand only matters when its category is higher
    if higher is None:
        return lower
    if lower is None:
        return higher
    if _category(lower) > _category(higher):
        return promote_types(higher, lower)
    if higher is bool_ and lower is not bool_:
        return promote_types(higher, lower)
    return higher


def result_type_of(operands):
    """Result dtype of a mix of Tensors and Python scalars, PyTorch's three-tier rule:
    dimensioned tensors > zero-dim tensors > Python numbers (whose float kind maps to
    the default dtype)."""
    dim = zero = wrapped = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if d is not None and hasattr(x, "_data"):
            if x._data.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        else:
            d = _scalar_dtype(x)
            if d is float64:
                d = _default
            wrapped = d if wrapped is None else promote_types(wrapped, d)
    return _combine(dim, _combine(zero, wrapped))


def can_cast(from_, to):
    """PyTorch's rule: no float->int, no non-bool->bool (same category down is fine)."""
    return _category(from_) <= _category(to)


def infer_dtype(obj):
    """dtype PyTorch infers for nested Python data: bool < int64 < default float."""
    if isinstance(obj, np.generic):  # NumPy scalars keep their dtype (np.float64 is also a float)
        return from_numpy_dtype(obj.dtype)
    if isinstance(obj, bool):
        return bool_
    if isinstance(obj, int):
        return int64
    if isinstance(obj, float):
        return _default
    if isinstance(obj, (list, tuple)):
        best = None
        for item in obj:
            d = infer_dtype(item)
            if d is not None:
                best = d if best is None else promote_types(best, d)
        return best
    d = getattr(obj, "dtype", None)
    if d is not None:
        return d if isinstance(d, dtype) else from_numpy_dtype(d)
    raise TypeError(f"Could not infer dtype of {type(obj).__name__}")
