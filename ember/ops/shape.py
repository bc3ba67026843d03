"""Shape ops: views (view, permute, expand, ...) and copies (cat, stack, repeat, flip)."""
from .. import kernels as K
from .._dtype import result_type_of
from ..autograd.function import Function
from ._util import Tensor, numpy_names, shape_arg, wrap_dim, wrap_dims


def _infer_shape(shape, numel):
    """Resolve one -1 in a requested shape, with PyTorch's errors."""
    if len(shape) == 1 and shape[0] == -1:  # view(-1), the usual flatten
        return (numel,)
    shape = list(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{_fmt(shape)}' is invalid for input of size {numel}")
        shape[shape.index(-1)] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{_fmt(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def _fmt(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


class View(Function):
    is_view = True

    def forward(self, x, shape):
        shape = _infer_shape(shape, x.size)
        self.in_shape = x.shape
        if x.flags.c_contiguous:
            return x.reshape(shape)  # always a view for C-contiguous arrays
        try:
            return K.reshape(x, shape, copy=False)
        except ValueError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one dimension "
                "spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from None

    def backward(self, g):
        return g.reshape(self.in_shape)


class ReshapeCopy(Function):
    """reshape of a tensor whose strides forbid a view: a copy, as in PyTorch."""

    _name = "UnsafeViewBackward0"

    def forward(self, x, shape):
        self.in_shape = x.shape
        return K.reshape(x, _infer_shape(shape, x.size)).copy()

    def backward(self, g):
        return g.reshape(self.in_shape)


class Unsqueeze(Function):
    is_view = True

    def forward(self, x, dim):
        self.dim = dim
        return K.expand_dims(x, dim)

    def backward(self, g):
        return g.squeeze(self.dim)


class Squeeze(Function):
    is_view = True

    def forward(self, x, dims):
        self.in_shape = x.shape
        return x.squeeze(axis=dims) if dims else x

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    is_view = True

    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(K.argsort(self.dims))


class Transpose(Function):
    is_view = True

    def forward(self, x, d0, d1):
        self.d0, self.d1 = d0, d1
        return K.swapaxes(x, d0, d1)

    def backward(self, g):
        return K.swapaxes(g, self.d0, self.d1)


class T(Function):
    is_view = True

    def forward(self, x):
        return x.T

    def backward(self, g):
        return g.T


class Expand(Function):
    is_view = True

    def forward(self, x, shape):
        return K.broadcast_to(x, shape)

    def backward(self, g):
        return g  # the engine sums the broadcast dims back to the input's shape


class Narrow(Function):
    """A contiguous range along one dim (narrow, split, chunk)."""

    _name = "SliceBackward0"
    is_view = True

    def forward(self, x, dim, start, stop):
        self.shape, self.dim, self.start, self.stop = x.shape, dim, start, stop
        index = (slice(None),) * dim + (slice(start, stop),)
        return x[index]

    def backward(self, g):
        out = K.zeros(self.shape, g.dtype)
        out[(slice(None),) * self.dim + (slice(self.start, self.stop),)] = g
        return out


class SplitPiece(Narrow):
    _name = "SplitBackward0"


class SplitWithSizesPiece(Narrow):
    _name = "SplitWithSizesBackward0"


class Unbind(Function):
    is_view = True

    def forward(self, x, dim, i):
        self.shape, self.dim, self.i = x.shape, dim, i
        return x[(slice(None),) * dim + (i,)]

    def backward(self, g):
        out = K.zeros(self.shape, g.dtype)
        out[(slice(None),) * self.dim + (self.i,)] = g
        return out


class Repeat(Function):
    def forward(self, x, reps):
        self.in_shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return K.tile(x.reshape(self.in_shape), reps)

    def backward(self, g):
        # split every axis into (repeat, size) and sum the repeats away
        split = []
        for r, n in zip(self.reps, self.in_shape):
            split += [r, n]
        return g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))


class Flip(Function):
    def forward(self, x, dims):
        self.dims = dims
        return K.flip(x, dims).copy()  # PyTorch's flip copies

    def backward(self, g):
        return K.flip(g, self.dims)


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


class Cat(Function):
    def forward(self, *xs, dim=0, dtype=None):
        if dtype is not None:
            xs = [x.astype(dtype, copy=False) for x in xs]
        # legacy rule: empty 1-d tensors are skipped (their gradient is empty too)
        skip = [x.shape == (0,) and any(y.ndim != 1 for y in xs) for x in xs]
        self.sizes = [None if s else x.shape[dim] for s, x in zip(skip, xs)]
        self.dim = dim
        kept = [x for s, x in zip(skip, xs) if not s]
        if not kept:
            return xs[0].copy()
        return K.concatenate(kept, axis=dim)

    def backward(self, g):
        out, start = [], 0
        for n in self.sizes:
            if n is None:
                out.append(K.zeros((0,), g.dtype))
                continue
            out.append(g[(slice(None),) * self.dim + (slice(start, start + n),)])
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, *xs, dim=0, dtype=None):
        if dtype is not None:
            xs = [x.astype(dtype, copy=False) for x in xs]
        self.dim = dim
        return K.stack(xs, axis=dim)

    def backward(self, g):
        return tuple(K.moveaxis(g, self.dim, 0))


# -- functional wrappers ------------------------------------------------------------------
def reshape(input, *shape):
    shape = shape_arg(shape)
    arr = input._data
    if arr.flags.c_contiguous:
        return View.apply(input, shape)
    try:
        K.reshape(arr, _infer_shape(shape, arr.size), copy=False)
        return View.apply(input, shape)
    except ValueError:
        return ReshapeCopy.apply(input, shape)


def view(input, *shape):
    if len(shape) == 1:
        if type(shape[0]) is int:  # view(-1): already the tuple of ints View takes
            return View.apply(input, shape)
        if not isinstance(shape[0], (int, tuple, list)):
            return input.to(shape[0])  # view(dtype) on same-size dtypes is rare; treat as a cast
    return View.apply(input, shape_arg(shape))


def view_as(input, other):
    return View.apply(input, tuple(other.shape))


def reshape_as(input, other):
    return reshape(input, tuple(other.shape))


@numpy_names
def flatten(input, start_dim=0, end_dim=-1):
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = wrap_dim(start_dim, nd), wrap_dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    shape = input._data.shape
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(input, shape[:s] + (n,) + shape[e + 1:])


def unflatten(input, dim, sizes):
    shape = input._data.shape
    d = wrap_dim(dim, len(shape))
    sizes = tuple(sizes)
    if sizes.count(-1) == 1:
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    n = 1
    for s in sizes:
        n *= s
    if n != shape[d]:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} ({shape[d]}) in the input tensor"
        )
    return View.apply(input, shape[:d] + sizes + shape[d + 1:])


@numpy_names
def squeeze(input, dim=None):
    shape = input._data.shape
    if dim is None:
        dims = tuple(i for i, n in enumerate(shape) if n == 1)
        return Squeeze.apply(input, dims)
    many = not isinstance(dim, int)
    dims = wrap_dims(dim, len(shape)) if many else (wrap_dim(dim, len(shape)),)
    dims = tuple(d for d in dims if d < len(shape) and shape[d] == 1)  # other sizes: no-op
    out = Squeeze.apply(input, dims)
    if out.grad_fn is not None:
        out.grad_fn._name = "SqueezeBackward2" if many else "SqueezeBackward1"
    return out


@numpy_names
def unsqueeze(input, dim):
    return Unsqueeze.apply(input, wrap_dim(dim, input._data.ndim + 1))


def permute(input, *dims):
    dims = shape_arg(dims)
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length of "
            f"the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to len(dims) = {len(dims)}"
        )
    return Permute.apply(input, tuple(wrap_dim(d, nd) for d in dims))


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return input
    return Transpose.apply(input, wrap_dim(dim0, nd), wrap_dim(dim1, nd))


swapaxes = swapdims = transpose


def t(input):
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return T.apply(input) if nd == 2 else input


def expand(input, *sizes):
    sizes = shape_arg(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(shape)}}}, size={list(sizes)}): the number of sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor ({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        own = shape[i - lead] if i >= lead else None
        if s == -1:
            if own is None:
                raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}")
            s = own
        elif own is not None and own != s and own != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({own}) at non-singleton "
                f"dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}"
            )
        target.append(s)
    return Expand.apply(input, tuple(target))


def expand_as(input, other):
    return expand(input, tuple(other.shape))


def broadcast_to(input, size):
    return expand(input, tuple(size))


@numpy_names
def narrow(input, dim, start, length):
    d = wrap_dim(dim, input._data.ndim)
    n = input._data.shape[d]
    start = int(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or start + length > n:
        raise IndexError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return Narrow.apply(input, d, start, start + length)


@numpy_names
def split(tensor, split_size_or_sections, dim=0):
    d = wrap_dim(dim, tensor._data.ndim)
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        bounds = [(i, min(i + step, n)) for i in range(0, n, step)] if n else [(0, 0)]
        return tuple(SplitPiece.apply(tensor, d, a, b) for a, b in bounds)
    sizes = list(split_size_or_sections)
    if sum(sizes) != n:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), "
            f"but got split_sizes={sizes}"
        )
    out, start = [], 0
    for s in sizes:
        out.append(SplitWithSizesPiece.apply(tensor, d, start, start + s))
        start += s
    return tuple(out)


@numpy_names
def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input._data.shape[wrap_dim(dim, input._data.ndim)]
    return split(input, max(-(-n // chunks), 1), dim)


@numpy_names
def unbind(input, dim=0):
    d = wrap_dim(dim, input._data.ndim)
    return tuple(Unbind.apply(input, d, i) for i in range(input._data.shape[d]))


def repeat(input, *sizes):
    sizes = shape_arg(sizes)
    if len(sizes) < input._data.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    return Repeat.apply(input, sizes)


def flip(input, dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return Flip.apply(input, tuple(wrap_dim(d, input._data.ndim) for d in dims))


def clone(input, *, memory_format=None):
    return Clone.apply(input)


def contiguous(input, memory_format=None):
    return input if input._data.flags.c_contiguous else Clone.apply(input)


def _check_same_rank(tensors, name):
    if not tensors:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")


@numpy_names
def cat(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    _check_same_rank(tensors, "cat")
    ref = next((t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)), tensors[0])
    nd = ref._data.ndim
    for i, t in enumerate(tensors):
        if t._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    d = wrap_dim(dim, nd)
    for i, t in enumerate(tensors):
        s = t._data.shape
        if s == (0,) and nd != 1:
            continue
        if len(s) != nd:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {nd} and {len(s)}"
            )
        for k in range(nd):
            if k != d and s[k] != ref._data.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {ref._data.shape[k]} "
                    f"but got size {s[k]} for tensor number {i} in the list."
                )
    dt = result_type_of(tensors)
    same = all(t._data.dtype == dt.np for t in tensors)
    return Cat.apply(*tensors, dim=d, dtype=None if same else dt.np)


concat = concatenate = cat  # noqa: E305


@numpy_names
def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    _check_same_rank(tensors, "stack")
    first = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and "
                f"{list(t._data.shape)} at entry {i}"
            )
    d = wrap_dim(dim, len(first) + 1)
    dt = result_type_of(tensors)
    same = all(t._data.dtype == dt.np for t in tensors)
    return Stack.apply(*tensors, dim=d, dtype=None if same else dt.np)


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors):
    return cat([t if t._data.ndim > 1 else reshape(t, (1, -1)) for t in tensors], 0)
