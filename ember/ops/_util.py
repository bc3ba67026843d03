"""Small helpers shared by the op families."""
import functools

from .._dtype import infer_dtype
from .._tensor import Tensor, _wrap_dim
from .. import kernels as K


def is_tensor(x):
    return isinstance(x, Tensor)


def as_tensor_like(value, other=None, dtype=None):
    """A Python number as a 0-d tensor (dtype inferred like PyTorch unless given)."""
    if isinstance(value, Tensor):
        return value
    d = dtype if dtype is not None else infer_dtype(value)
    return Tensor._make(K.asarray(value, dtype=d.np))


def wrap_dim(dim, ndim):
    return _wrap_dim(dim, ndim)


def wrap_dims(dim, ndim):
    """dim given as None, an int or a sequence -> sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        return (_wrap_dim(dim, ndim),)
    dims = tuple(_wrap_dim(d, ndim) for d in dim)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return tuple(sorted(dims)) if dims else tuple(range(ndim))


def shape_arg(size):
    """Sizes passed as varargs or as one sequence -> tuple of ints."""
    if len(size) == 1 and not isinstance(size[0], int):
        size = size[0]
    return tuple(int(s) for s in size)


def numpy_names(fn):
    """Accept NumPy's `axis`/`keepdims` spellings for `dim`/`keepdim`, as PyTorch does."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:
            if "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)

    return wrapper
