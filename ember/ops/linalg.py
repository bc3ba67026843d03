"""Matrix products: matmul (all of PyTorch's cases), mm, bmm, addmm, mv, dot, outer."""
from .. import kernels as K
from ..autograd.function import Function


def _swap(a):
    return K.swapaxes(a, -1, -2)


class Mm(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return K.matmul(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        need = self._inputs
        return (K.matmul(g, b.T) if need[0] else None), (_grad_mat2(a, b, g) if need[1] else None)


def _grad_mat2(a, b, g):
    """a.T @ g in b's memory order. For b = w.t() (nn.Linear's weight) that is (g.T @ a).T: the
    gradient then reaches w C-ordered, and AccumulateGrad keeps it without a copy."""
    if b.flags.f_contiguous and not b.flags.c_contiguous:
        return K.matmul(g.T, a).T
    return K.matmul(a.T, g)


class Bmm(Mm):
    def backward(self, g):
        a, b = self.saved_tensors
        need = self._inputs
        return (g @ _swap(b) if need[0] else None), (_swap(a) @ g if need[1] else None)


class Mv(Function):
    def forward(self, a, v):
        self.save_for_backward(a, v)
        return K.matmul(a, v)

    def backward(self, g):
        a, v = self.saved_tensors
        return K.outer(g, v), a.T @ g


class Dot(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return K.dot(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        return g * b, g * a


class Matmul(Function):
    """The batched and 1-d-promoted cases of matmul, NumPy's rules (which PyTorch shares)."""

    _name = "UnsafeViewBackward0"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return K.matmul(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        # promote 1-d operands the way forward did, then undo it on the gradients
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = K.expand_dims(g, -2)
        if b.ndim == 1:
            g = K.expand_dims(g, -1)
        ga = gb = None
        if self._inputs[0]:
            ga = g @ _swap(b2)
            if a.ndim == 1:
                ga = ga.reshape(-1, a.shape[0]).sum(axis=0)
        if self._inputs[1]:
            gb = _swap(a2) @ g
            if b.ndim == 1:
                gb = gb.reshape(-1, b.shape[0]).sum(axis=0)
        return ga, gb


class Addmm(Function):
    def forward(self, c, a, b, beta=1, alpha=1):
        self.save_for_backward(a, b)
        self.beta, self.alpha = beta, alpha
        prod = K.matmul(a, b)
        if alpha != 1:
            prod *= alpha
        if beta == 0:
            return prod  # PyTorch ignores c entirely (even nan) when beta is 0
        return prod + (c if beta == 1 else beta * c)

    def backward(self, g):
        a, b = self.saved_tensors
        need = self._inputs
        gs = g if self.alpha == 1 else g * self.alpha
        return (
            (g if self.beta == 1 else g * self.beta) if need[0] else None,
            K.matmul(gs, b.T) if need[1] else None,
            _grad_mat2(a, b, gs) if need[2] else None,
        )


class Outer(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return K.outer(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        return g @ b, g.T @ a


# -- functional wrappers ------------------------------------------------------------------
def _same_dtype(a, b, what="m1 and m2"):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"expected {what} to have the same dtype, but got: {_short(a)} != {_short(b)}"
        )


def _short(t):
    return {"float32": "float", "float64": "double", "int64": "long int", "int32": "int"}.get(t.dtype.name, t.dtype.name)


def _dims(shape):
    return "x".join(str(s) for s in shape)


def mm(input, mat2):
    if input._data.ndim != 2:
        raise RuntimeError(f"self must be a matrix")
    if mat2._data.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix")
    if input._data.shape[1] != mat2._data.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(input._data.shape)} and {_dims(mat2._data.shape)})"
        )
    if input._data.dtype != mat2._data.dtype:
        _same_dtype(input, mat2, "self and mat2")
    return Mm.apply(input, mat2)


def bmm(input, mat2):
    a, b = input._data, mat2._data
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor" if a.ndim != 3 else "batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, {a.shape[2]}] "
            f"but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    _same_dtype(input, mat2, "self and mat2")
    return Bmm.apply(input, mat2)


def mv(input, vec):
    if input._data.ndim != 2 or vec._data.ndim != 1 or input._data.shape[1] != vec._data.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({input._data.shape[0]}), mat ({_dims(input._data.shape)}), "
            f"vec ({vec._data.shape[0]})"
        )
    _same_dtype(input, vec, "self and vec")
    return Mv.apply(input, vec)


def dot(input, other):
    a, b = input._data, other._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have the same "
            f"number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively"
        )
    _same_dtype(input, other, "both vectors")
    return Dot.apply(input, other)


inner = dot


def matmul(input, other):
    a, b = input._data, other._data
    na, nb = a.ndim, b.ndim
    if na == 0 or nb == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D")
    if na == 2 and nb == 2:
        if a.shape[1] == b.shape[0] and a.dtype == b.dtype:
            return Mm.apply(input, other)  # what mm() does once its checks pass
        return mm(input, other)
    if na == 1 and nb == 1:
        return dot(input, other)
    if na == 2 and nb == 1:
        return mv(input, other)
    _same_dtype(input, other, "both arguments to matmul")
    k_a = a.shape[-1]
    k_b = b.shape[0] if nb == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims((-1, k_a) if na > 2 else a.shape if na > 1 else (1, k_a))} "
            f"and {_dims(b.shape[-2:] if nb > 1 else b.shape)})"
            if nb <= 2 else f"Expected size for first two dimensions of batch2 tensor to be: [{b.shape[0]}, {k_a}] "
            f"but got: [{b.shape[0]}, {k_b}]."
        )
    try:
        return Matmul.apply(input, other)
    except ValueError:
        raise RuntimeError(
            f"The size of the batch dimensions of {list(a.shape)} and {list(b.shape)} must match (broadcast)"
        ) from None


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    if mat1._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError("mat1 must be a matrix" if mat1._data.ndim != 2 else "mat2 must be a matrix")
    if mat1._data.shape[1] != mat2._data.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(mat1._data.shape)} and {_dims(mat2._data.shape)})"
        )
    _same_dtype(mat1, mat2)
    return Addmm.apply(input, mat1, mat2, beta, alpha)


def outer(input, vec2):
    _same_dtype(input, vec2, "both vectors")
    return Outer.apply(input, vec2)


ger = outer
