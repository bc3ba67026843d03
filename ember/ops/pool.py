"""Pooling: max/avg pooling in 1-d and 2-d, adaptive pooling, and max unpooling.

The 2-d ops work on (N, C, H, W) or unbatched (C, H, W) inputs directly; the 1-d ones run
the 2-d op on a (.., 1, L) view, as PyTorch does (so their grad_fn is SqueezeBackward1).
Argument checks follow PyTorch's texts; the kernels are in kernels/conv.py.
"""
from .. import kernels as K
from ..autograd.function import Function, _type_word
from ._util import Tensor


class MaxPool2d(Function):
    _name = "MaxPool2DWithIndicesBackward0"

    def forward(self, x, kernel_size, stride, padding, dilation, out_size, return_indices):
        out, indices = K.max_pool2d(x, kernel_size, stride, padding, dilation, out_size)
        self.save_for_backward(indices)
        self.shape = x.shape
        # windows that share no element let backward scatter instead of summing
        self.overlapping = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))
        return (out, indices) if return_indices else out

    def backward(self, grad):
        (indices,) = self.saved_tensors
        return K.max_pool2d_backward(grad, indices, self.shape, self.overlapping)


class AvgPool2d(Function):
    _name = "AvgPool2DBackward0"

    def forward(self, x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override):
        self.shape = x.shape
        self.args = (kernel_size, stride, padding, count_include_pad, divisor_override)
        return K.avg_pool2d(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override)

    def backward(self, grad):
        return K.avg_pool2d_backward(grad, self.shape, *self.args)


class AdaptiveAvgPool2d(Function):
    _name = "AdaptiveAvgPool2DBackward0"

    def forward(self, x, out_size):
        self.shape = x.shape
        return K.adaptive_avg_pool2d(x, out_size)

    def backward(self, grad):
        return K.adaptive_avg_pool2d_backward(grad, self.shape)


class AdaptiveMaxPool2d(Function):
    _name = "AdaptiveMaxPool2DBackward0"

    def forward(self, x, out_size, return_indices):
        out, indices = K.adaptive_max_pool2d(x, out_size)
        self.save_for_backward(indices)
        self.shape = x.shape
        return (out, indices) if return_indices else out

    def backward(self, grad):
        (indices,) = self.saved_tensors
        return K.max_pool2d_backward(grad, indices, self.shape, True)


class MaxUnpool2d(Function):
    _name = "MaxUnpool2DBackward0"

    def forward(self, x, indices, out_size):
        self.save_for_backward(indices)
        return K.max_unpool2d(x, indices, out_size)

    def backward(self, grad):
        (indices,) = self.saved_tensors
        return K.max_unpool2d_backward(grad, indices), None


# -- argument checks ------------------------------------------------------------------------
_PAIR_RULES = {
    "kernel_size": "must either be a single int, or a tuple of two ints",
    "stride": "must either be omitted, a single int, or a tuple of two ints",
    "padding": "must either be a single int, or a tuple of two ints",
    "dilation": "must be either a single int, or a tuple of two ints",
}


def _pair(value, fn, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) not in (1, 2):
        raise RuntimeError(f"{fn}: {name} {_PAIR_RULES[name]}")
    return value * 2 if len(value) == 1 else value


def _as_seq(value):
    return (value,) if isinstance(value, int) else value


def _check_tensor(value, fn):
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(value).__name__}")


def _pool_out(size, k, s, p, d, ceil_mode):
    """Output length of a pooling window sweep; with ceil_mode the last window must start
    inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _check_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling shape checks; returns the output (H, W)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    if sh == 0 or sw == 0:
        raise RuntimeError("stride should not be zero")
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if sh < 0 or sw < 0:
        raise RuntimeError(f"stride should be greater than zero, but got dH: {sh} dW: {sw}")
    if dh <= 0 or dw <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilationH: {dh} dilationW: {dw}")
    for k, p, d in zip(kernel_size, padding, dilation):
        if p < 0:
            raise RuntimeError(f"pad must be non-negative, but got pad: {p}")
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k} "
                f"and dilation={d}"
            )
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got:{list(input.shape)}"
        )
    c, h, w = input.shape[-3:]
    out = tuple(_pool_out(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip((h, w), kernel_size, stride, padding, dilation))
    if out[0] < 1 or out[1] < 1:
        raise RuntimeError(
            f"Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{out[0]}x{out[1]}). "
            "Output size is too small"
        )
    return out


def _not_implemented_for_ints(input, fn):
    if not input.is_floating_point():
        raise NotImplementedError(f"\"{fn}\" not implemented for '{_type_word(input.dtype)}'")


# -- max pooling ----------------------------------------------------------------------------
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over kernel_size windows of the last two dims; stride defaults to kernel_size.

    With return_indices=True also returns, per output, the flat index (h * W + w) of the
    chosen element in its H*W plane (the argument max_unpool2d takes).
    """
    _check_tensor(input, "max_pool2d")
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    kernel_size = _pair(kernel_size, "max_pool2d", "kernel_size")
    stride = kernel_size if stride is None or not len(_as_seq(stride)) else _pair(stride, "max_pool2d", "stride")
    padding = _pair(padding, "max_pool2d", "padding")
    dilation = _pair(dilation, "max_pool2d", "dilation")
    out_size = _check_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)
    return MaxPool2d.apply(input, kernel_size, stride, padding, dilation, out_size, return_indices)


def _single(value, fn, name):
    if isinstance(value, int):
        return value
    value = tuple(value)
    if len(value) != 1:
        raise RuntimeError(
            f"{fn}() {name} must be an int, list of ints or tuple of ints of size 1 but got size {len(value)}"
        )
    return value[0]


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over kernel_size windows of the last dim of (N, C, L) or (C, L) input."""
    _check_tensor(input, "max_pool1d")
    if input.ndim not in (2, 3) or 0 in input.shape[-2:]:
        raise RuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got:{list(input.shape)}"
        )
    k = _single(kernel_size, "max_pool1d", "kernel_size")
    s = k if stride is None or not len(_as_seq(stride)) else _single(stride, "max_pool1d", "stride")
    p = _single(padding, "max_pool1d", "padding")
    d = _single(dilation, "max_pool1d", "dilation")
    for name, value, least in (("kernel_size", k, 1), ("stride", s, 1), ("dilation", d, 1)):
        if value < least:
            raise RuntimeError(f"max_pool1d() {name} must be greater than zero, but got {value}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(
            f"max_pool1d() padding should be at most half of kernel size, but got padding={p} and kernel_size={k}"
        )
    length = _pool_out(input.shape[-1], k, s, p, d, ceil_mode)
    if length < 1:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {length}")
    out = MaxPool2d.apply(input.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), (1, length), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size: window i spans [floor(i*H/oh), ceil((i+1)*H/oh))."""
    _check_tensor(input, "adaptive_max_pool2d")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    out_size = _adaptive_size(input, output_size)
    if len(out_size) != 2:
        raise RuntimeError("adaptive_max_pool2d(): internal error: output_size.size() must be 2")
    if min(out_size) < 0:
        shape = list(input.shape[:-2]) + list(out_size)
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(out_size)}: {shape}")
    _check_adaptive_input(input, "adaptive_max_pool2d")
    _not_implemented_for_ints(input, "adaptive_max_pool2d")
    return AdaptiveMaxPool2d.apply(input, out_size, return_indices)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: places each input value at its index in zeros of the output size."""
    _check_tensor(input, "max_unpool2d")
    kernel_size = _pair(kernel_size, "max_unpool2d", "kernel_size")
    stride = kernel_size if stride is None else _pair(stride, "max_unpool2d", "stride")
    padding = _pair(padding, "max_unpool2d", "padding")
    default = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(input.shape[-2:], stride, padding, kernel_size)]
    if output_size is None:
        out_size = tuple(default)
    else:
        if len(output_size) == 4:
            output_size = output_size[2:]
        if len(output_size) != 2:
            raise ValueError(
                f"output_size should be a sequence containing 2 or 4 elements, but it has a length of "
                f"'{len(output_size)}'"
            )
        for d, (size, n, s) in enumerate(zip(output_size, default, stride)):
            if not n - s < size < n + s:
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {n - s} and {n + s})')
        out_size = tuple(output_size)
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with {input.ndim} dimensions."
        )
    if indices.dtype.name != "int64":
        raise RuntimeError(f"elements in indices should be type int64 but got: {_type_word(indices.dtype)}")
    if indices.shape != input.shape:
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) but got "
            f"indices tensor with shape: {list(indices.shape)}"
        )
    flat = indices._data.reshape(-1)
    bad = (flat < 0) | (flat >= out_size[0] * out_size[1])
    if K.any(bad):
        raise RuntimeError(
            f"Found an invalid max index: {flat[K.argmax(bad)]} (output volumes are of size "
            f"{out_size[0]}x{out_size[1]})"
        )
    return MaxUnpool2d.apply(input, indices, out_size)


# -- average pooling ------------------------------------------------------------------------
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over kernel_size windows of the last two dims; stride defaults to kernel_size.

    count_include_pad counts zero padding in the divisor; divisor_override replaces it.
    """
    _check_tensor(input, "avg_pool2d")
    if input.ndim < 3:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-max(input.ndim, 1)}, "
            f"{max(input.ndim, 1) - 1}], but got -3)"
        )
    kernel_size = _pair(kernel_size, "avg_pool2d", "kernel_size")
    stride = kernel_size if stride is None or not len(_as_seq(stride)) else _pair(stride, "avg_pool2d", "stride")
    padding = _pair(padding, "avg_pool2d", "padding")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    out_size = _check_pool2d(input, kernel_size, stride, padding, (1, 1), ceil_mode)
    return AvgPool2d.apply(input, kernel_size, stride, padding, out_size, count_include_pad, divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over kernel_size windows of the last dim of (N, C, L) or (C, L) input."""
    _check_tensor(input, "avg_pool1d")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 'self' "
            "(while checking arguments for avg_pool1d)"
        )

    def one(value, name):
        value = _as_seq(value)
        if len(value) != 1:
            raise RuntimeError(f"avg_pool1d() argument '{name}' should contain one int (got {len(value)})")
        return value[0]

    k = one(kernel_size, "kernel_size")
    s = k if stride is None or not len(_as_seq(stride)) else one(stride, "stride")
    p = one(padding, "padding")
    return avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_size(input, output_size):
    """int or sequence with None entries (keep the input's size) -> tuple."""
    if isinstance(output_size, int):
        return (output_size, output_size)
    sizes = input.shape[-len(output_size):] if len(output_size) <= input.ndim else (None,) * len(output_size)
    return tuple(n if v is None else v for v, n in zip(output_size, sizes))


def _check_adaptive_input(input, fn):
    for dim in range(1 if input.ndim == 4 else 0, input.ndim):
        if input.shape[dim] == 0:
            raise RuntimeError(
                f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
                f"{list(input.shape)} with dimension {dim} being empty"
            )


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (int, pair, or pair with None keeping that dim)."""
    _check_tensor(input, "adaptive_avg_pool2d")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    out_size = _adaptive_size(input, output_size)
    if len(out_size) != 2:
        raise RuntimeError("adaptive_avg_pool2d: output_size must be 2")
    if min(out_size) < 0:
        raise RuntimeError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received "
            f"{{{out_size[0]}, {out_size[1]}}}"
        )
    _check_adaptive_input(input, "adaptive_avg_pool2d")
    _not_implemented_for_ints(input, "adaptive_avg_pool2d")
    if out_size == (1, 1):  # global average pooling is a mean, as in PyTorch (MeanBackward1)
        return input.mean((-1, -2), keepdim=True)
    return AdaptiveAvgPool2d.apply(input, out_size)
