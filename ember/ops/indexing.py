"""Indexing: __getitem__/__setitem__, gather/scatter, index_select, masked_fill."""
from .. import kernels as K
from .._dtype import bool_, int64, result_type_of
from ..autograd import grad_mode
from ..autograd.function import Function
from ._util import Tensor, as_tensor_like, wrap_dim


# -- __getitem__ ----------------------------------------------------------------------------
def _normalize_index(index):
    """Tensors in an index become arrays; returns (index, is_basic)."""
    if not isinstance(index, tuple):
        index = (index,)
    out, basic = [], True
    for item in index:
        if isinstance(item, Tensor):
            arr = item._data
            if arr.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(arr)
            basic = False
        elif isinstance(item, (list, bool)) or hasattr(item, "__array__"):
            out.append(K.asarray(item) if isinstance(item, list) else item)
            basic = False
        elif item is None or item is Ellipsis or isinstance(item, (int, slice)):
            out.append(item)
        elif hasattr(item, "__index__"):
            out.append(item.__index__())
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices"
            )
    return tuple(out), basic


def _view_name(index):
    """PyTorch names a basic-index node after the last op it applies."""
    for item in reversed(index):
        if isinstance(item, int):
            return "SelectBackward0"
        if item is None:
            return "UnsqueezeBackward0"
        if isinstance(item, slice) and item != slice(None):
            return "SliceBackward0"
    return "AliasBackward0"


def _check_bounds(index, shape):
    # NumPy and PyTorch agree on the error type; the message names the size like PyTorch's
    dim = 0
    for item in index:
        if item is Ellipsis:
            dim = len(shape) - sum(1 for i in index if i is not None and i is not Ellipsis) + dim
            continue
        if item is None:
            continue
        if isinstance(item, int) and dim < len(shape):
            n = shape[dim]
            if not -n <= item < n:
                raise IndexError(f"index {item} is out of bounds for dimension {dim} with size {n}")
        dim += 1


class BasicIndex(Function):
    """Indexing with ints, slices, None and Ellipsis: a view."""

    _name = "SliceBackward0"
    is_view = True

    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        out = K.zeros(self.shape, g.dtype)
        out[self.index] = g
        return out


class AdvancedIndex(Function):
    """Indexing with integer or boolean arrays: a copy."""

    _name = "IndexBackward0"

    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        out = K.zeros(self.shape, g.dtype)
        index = self.index
        if len(index) == 1 and getattr(index[0], "dtype", None) == bool_.np:
            out[index] = g  # a mask selects each element at most once
        else:
            K.add.at(out, index, g)  # integer indices may repeat: gradients add up
        return out


def _split_ints(index):
    """PyTorch applies integer indices as selections before any tensor index, so an int
    never joins the tensors in NumPy's advanced-index broadcasting (which would move the
    indexed dims to the front). Returns (basic part, advanced part on its result)."""
    first, second = [], []
    for item in index:
        if isinstance(item, int) and not isinstance(item, bool):
            first.append(item)
        elif isinstance(item, (slice, type(Ellipsis))):
            first.append(item)
            second.append(item if item is Ellipsis else slice(None))
        elif item is None:
            first.append(None)
            second.append(slice(None))
        else:  # an array: a bool mask spans as many dims as it has
            n = K.ndim(item) if getattr(item, "dtype", None) == bool_.np else 1
            first.extend([slice(None)] * n)
            second.append(item)
    return tuple(first), tuple(second)


def getitem(x, index):
    if type(index) is int:  # x[i]: the most common index, checked directly
        n = x._data.shape[0] if x._data.ndim else None
        if n is None:
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of bounds for dimension 0 with size {n}")
        out = BasicIndex.apply(x, (index,))
        if out.grad_fn is not None:
            out.grad_fn._name = "SelectBackward0"
        return out
    index, basic = _normalize_index(index)
    if not basic and any(isinstance(i, int) and not isinstance(i, bool) for i in index):
        first, second = _split_ints(index)
        return getitem(getitem(x, first), second)
    if basic:
        _check_bounds(index, x._data.shape)
        out = BasicIndex.apply(x, index)
        if out.grad_fn is not None:
            out.grad_fn._name = _view_name(index)
        return out
    try:
        return AdvancedIndex.apply(x, index)
    except IndexError as e:
        raise IndexError(str(e).replace("axis", "dimension")) from None


# -- __setitem__ ----------------------------------------------------------------------------
def _fit(value, target):
    """PyTorch lets a value carry extra leading 1-dims (y[1] = v with v of shape (1,))."""
    nd = K.ndim(value)
    if nd > target.ndim and all(n == 1 for n in K.shape(value)[: nd - target.ndim]):
        return K.reshape(value, K.shape(value)[nd - target.ndim:])
    return value


class IndexPut(Function):
    """x[index] = value, computed out of place (the in-place machinery writes it back)."""

    _name = "CopySlices"

    def forward(self, x, value, index):
        out = x.copy()
        out[index] = _fit(value, out[index])
        self.index = index
        self.value_shape = K.shape(value)
        return out

    def backward(self, g):
        gx = g.copy()
        gx[self.index] = 0
        gv = g[self.index] if self._inputs[1] else None
        return gx, gv


def setitem(x, index, value):
    index, _ = _normalize_index(index)
    if isinstance(value, Tensor) and value._data.dtype != x._data.dtype:
        value = value.to(x.dtype)
    record = grad_mode.enabled and (x._rg or (isinstance(value, Tensor) and value._rg))
    if not record:
        arr = x._data
        if not arr.flags.writeable:
            raise RuntimeError(
                "unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
                "single memory location. Please clone() the tensor before performing the operation."
            )
        arr[index] = _fit(value._data, arr[index]) if isinstance(value, Tensor) else value
        x._vc[0] += 1
        return
    IndexPut.apply_(x, value, index)


# -- gather / scatter -----------------------------------------------------------------------
def _grid(index, dim):
    """Full coordinate arrays addressing `index`'s positions, with `index` along dim."""
    coords = list(K.indices(index.shape, sparse=True))
    coords[dim] = index
    return tuple(coords)


def _check_index(name, x, dim, index):
    if index._data.dtype != int64.np:
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    if index._data.ndim != x._data.ndim and not (index._data.ndim <= 1 and x._data.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input tensor")


class Gather(Function):
    def forward(self, x, dim, index):
        self.shape, self.coords = x.shape, _grid(index, dim)
        return x[self.coords]

    def backward(self, g):
        out = K.zeros(self.shape, g.dtype)
        K.add.at(out, self.coords, g)
        return out


class Scatter(Function):
    def forward(self, x, dim, index, src):
        coords = _grid(index, dim)
        out = x.copy()
        if hasattr(src, "shape") and src.ndim:
            src = src[tuple(slice(0, n) for n in index.shape)]
        out[coords] = src
        self.coords = coords
        return out

    def backward(self, g):
        gx = g.copy()
        gx[self.coords] = 0
        return gx, None, None, (g[self.coords] if self._inputs[3] else None)


class ScatterAdd(Function):
    def forward(self, x, dim, index, src):
        coords = _grid(index, dim)
        out = x.copy()
        K.add.at(out, coords, src[tuple(slice(0, n) for n in index.shape)])
        self.coords, self.src_shape, self.index_shape = coords, src.shape, index.shape
        return out

    def backward(self, g):
        gsrc = None
        if self._inputs[3]:
            gsrc = K.zeros(self.src_shape, g.dtype)
            gsrc[tuple(slice(0, n) for n in self.index_shape)] = g[self.coords]
        return g, None, None, gsrc


class IndexSelect(Function):
    def forward(self, x, dim, index):
        self.shape, self.dim, self.index = x.shape, dim, index
        return K.take(x, index, axis=dim)

    def backward(self, g):
        out = K.zeros(self.shape, g.dtype)
        moved = K.moveaxis(out, self.dim, 0)  # a view: adding into it fills `out`
        K.add.at(moved, self.index, K.moveaxis(g, self.dim, 0))
        return out


class MaskedFill(Function):
    def forward(self, x, mask, value):
        self.save_for_backward(mask)
        return K.where(mask, K.asarray(value, dtype=x.dtype), x)

    def backward(self, g):
        (mask,) = self.saved_tensors
        zero = g.dtype.type(0)
        gv = K.where(mask, g, zero).sum() if self._inputs[2] else None
        return K.where(mask, zero, g), None, gv


def gather(input, dim, index, *, sparse_grad=False):
    _check_index("gather", input, dim, index)
    d = wrap_dim(dim, input._data.ndim)
    for k, n in enumerate(index._data.shape):
        if k != d and n > input._data.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to be smaller than "
                f"self {list(input.shape)} apart from dimension {d}"
            )
    return Gather.apply(input, d, index)


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    if reduce is not None:
        raise NotImplementedError("scatter with reduce= is not supported by ember; use scatter_add")
    _check_index("scatter", input, dim, index)
    src = value if src is None else src
    if isinstance(src, Tensor) and src._data.dtype != input._data.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    return Scatter.apply(input, wrap_dim(dim, input._data.ndim), index, src)


def scatter_add(input, dim, index, src):
    _check_index("scatter_add", input, dim, index)
    if src._data.dtype != input._data.dtype:
        raise RuntimeError("scatter_add(): Expected self.dtype to be equal to src.dtype")
    return ScatterAdd.apply(input, wrap_dim(dim, input._data.ndim), index, src)


def index_select(input, dim, index):
    if index._data.dtype.kind not in "iu" or index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector of integers")
    d = wrap_dim(dim, input._data.ndim)
    return IndexSelect.apply(input, d, index._data.reshape(-1))


def masked_fill(input, mask, value):
    if mask._data.dtype != bool_.np:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype.name}")
    if isinstance(value, Tensor) and value._data.ndim != 0:
        raise RuntimeError(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value._data.ndim} dimension(s)."
        )
    return MaskedFill.apply(input, mask, value)


def masked_select(input, mask):
    return getitem(input.expand_as(mask) if input.shape != mask.shape else input, mask)


def nonzero(input, *, as_tuple=False):
    idx = K.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._make(i.astype(int64.np)) for i in idx)
    return Tensor._make(K.stack(idx, axis=1).astype(int64.np) if idx else K.zeros((0, 0), int64.np))
