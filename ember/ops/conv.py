"""Convolution: conv1d/conv2d, their transposes, and unfold/fold (im2col/col2im as ops).

Each op checks its arguments the way PyTorch does (same exception types and texts),
then runs one Function whose forward and backward are the kernels in kernels/conv.py.
Unbatched inputs go through unsqueeze(0)/squeeze(0), as in PyTorch.
"""
from .. import kernels as K
from ..autograd.function import Function, _type_word
from ._util import Tensor
from .linalg import _short


class Convolution(Function):
    _name = "ConvolutionBackward0"

    def forward(self, x, weight, bias, stride, padding, dilation, groups):
        out, cols = K.conv_forward(x, weight, bias, stride, padding, dilation, groups)
        self.save_for_backward(x, weight, cols)
        self.args = (stride, padding, dilation, groups)
        return out

    def backward(self, grad):
        x, weight, cols = self.saved_tensors
        needs = tuple(bool(e) for e in self._inputs[:3])
        return K.conv_backward(grad, cols, weight, x.shape, *self.args, needs)

    @property
    def next_functions(self):
        # PyTorch lists a missing bias as (None, 0) as well
        return tuple((e[0] if e else None, 0) for e in self._inputs[:3])


class ConvTranspose(Convolution):
    _name = "ConvolutionBackward0"

    def forward(self, x, weight, bias, stride, padding, output_padding, dilation, groups):
        self.save_for_backward(x, weight)
        self.args = (stride, padding, output_padding, dilation, groups)
        return K.conv_transpose_forward(x, weight, bias, stride, padding, output_padding, dilation, groups)

    def backward(self, grad):
        x, weight = self.saved_tensors
        needs = tuple(bool(e) for e in self._inputs[:3])
        return K.conv_transpose_backward(grad, x, weight, *self.args, needs)


class Im2Col(Function):
    def forward(self, x, kernel_size, dilation, padding, stride):
        self.shape, self.args = x.shape, (kernel_size, dilation, padding, stride)
        if x.ndim == 3:  # unbatched
            return K.unfold_nd(x[None], *self.args)[0]
        return K.unfold_nd(x, *self.args)

    def backward(self, grad):
        if grad.ndim == 2:
            return K.fold_nd(grad[None], self.shape[-2:], *self.args)[0]
        return K.fold_nd(grad, self.shape[-2:], *self.args)


class Col2Im(Function):
    def forward(self, cols, output_size, kernel_size, dilation, padding, stride):
        self.args = (kernel_size, dilation, padding, stride)
        if cols.ndim == 2:  # unbatched
            return K.fold_nd(cols[None], output_size, *self.args)[0]
        return K.fold_nd(cols, output_size, *self.args)

    def backward(self, grad):
        if grad.ndim == 3:
            return K.unfold_nd(grad[None], *self.args)[0]
        return K.unfold_nd(grad, *self.args)


# -- argument checks ------------------------------------------------------------------------
def _check_tensor(value, fn, name, position):
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")


def _expand(value, n, name):
    """An int or a sequence of 1 or n ints -> n-tuple, with PyTorch's convolution message."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {n} values to match the "
            f"convolution dimensions, but got {name}={list(value)}"
        )
    return value


def _check_rank(input, nd, fn):
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {fn}, "
            f"but got input of size: {list(input.shape)}"
        )


def _check_common(x, weight, bias, stride, dilation, groups, transposed):
    """Checks shared by convolutions and their transposes; x is batched here."""
    if weight.ndim != x.ndim and len(stride) != 1:
        # PyTorch matches the (already expanded) stride against the weight's rank first
        raise RuntimeError(
            f"expected stride to be a single integer value or a list of {weight.ndim - 2} values to match the "
            f"convolution dimensions, but got stride={list(stride)}"
        )
    if weight.ndim != x.ndim:
        raise RuntimeError(
            f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight {list(weight.shape)}, "
            f"but got {x.ndim}-dimensional input of size {list(x.shape)} instead"
        )
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    w = list(weight.shape)
    if weight.shape[0] < groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {w} instead"
        )
    if weight.shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{w}] instead"
        )
    given = f"transposed=1, weight of size {w}" if transposed else f"groups={groups}, weight of size {w}"
    channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.shape[1] != channels:
        raise RuntimeError(
            f"Given {given}, expected input{list(x.shape)} to have {channels} channels, "
            f"but got {x.shape[1]} channels instead"
        )
    if bias is not None:
        out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
        if bias.ndim != 1 or bias.shape[0] != out_channels:
            prefix = "transposed=1, " if transposed else ""
            raise RuntimeError(
                f"Given {prefix}weight of size {w}, expected bias to be 1-dimensional with {out_channels} "
                f"elements, but got bias of size {list(bias.shape)} instead"
            )


def _check_dtypes(input, weight, bias):
    if input.dtype != weight.dtype:
        raise RuntimeError(f"expected scalar type {_type_word(input.dtype)} but found {_type_word(weight.dtype)}")
    if bias is not None and bias.dtype != input.dtype:
        raise RuntimeError(f"Input type ({_short(input)}) and bias type ({_short(bias)}) should be the same")


def _sizes(values):
    return " x ".join(str(v) for v in values)


def _padding(padding, nd, kernel_size, stride, dilation):
    """int, tuple, 'same' or 'valid' -> one (lo, hi) pair per spatial dim."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        # an odd total puts the extra element on the high side, like PyTorch
        totals = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
        return tuple((t // 2, t - t // 2) for t in totals)
    padding = _expand(padding, nd, "padding")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    return tuple((p, p) for p in padding)


def _conv(input, weight, bias, stride, padding, dilation, groups, nd, fn):
    _check_tensor(input, fn, "input", 1)
    _check_tensor(weight, fn, "weight", 2)
    _check_rank(input, nd, fn)
    batched = input.ndim == nd + 2
    if not batched:
        input = input.unsqueeze(0)
    stride = _expand(stride, nd, "stride")
    dilation = _expand(dilation, nd, "dilation")
    pads = _padding(padding, nd, weight.shape[2:], stride, dilation)
    _check_common(input, weight, bias, stride, dilation, groups, transposed=False)
    padded = [s + lo + hi for s, (lo, hi) in zip(input.shape[2:], pads)]
    extent = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
    if any(p < e for p, e in zip(padded, extent)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: ({_sizes(extent)}). "
            "Kernel size can't be greater than actual input size"
        )
    _check_dtypes(input, weight, bias)
    out = Convolution.apply(input, weight, bias, stride, pads, dilation, groups)
    return out if batched else out.squeeze(0)


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd, fn):
    _check_tensor(input, fn, "input", 1)
    _check_tensor(weight, fn, "weight", 2)
    if isinstance(padding, str):
        raise TypeError(f"{fn}(): argument 'padding' must be tuple of ints, not str")
    _check_rank(input, nd, fn)
    batched = input.ndim == nd + 2
    if not batched:
        input = input.unsqueeze(0)
    stride = _expand(stride, nd, "stride")
    dilation = _expand(dilation, nd, "dilation")
    padding = _expand(padding, nd, "padding")
    output_padding = _expand(output_padding, nd, "output_padding")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    _check_common(input, weight, bias, stride, dilation, groups, transposed=True)
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        # PyTorch runs 1-d transposes as 2-d ones, and reports them so
        two = lambda v, fill: ((fill,) * (2 - nd) + tuple(v))  # noqa: E731
        (oph, opw), (sh, sw), (dh, dw) = two(output_padding, 0), two(stride, 1), two(dilation, 1)
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {oph} output_padding_width: {opw} stride_height: {sh} stride_width: {sw} "
            f"dilation_height: {dh} dilation_width: {dw}"
        )
    sizes = input.shape[2:]
    out = [(i - 1) * s - 2 * p + d * (k - 1) + op + 1
           for i, s, p, d, k, op in zip(sizes, stride, padding, dilation, weight.shape[2:], output_padding)]
    if any(o < 1 for o in out):
        raise RuntimeError(
            f"Given input size per channel: ({_sizes(sizes)}). Calculated output size per channel: "
            f"({_sizes(out)}). Output size is too small"
        )
    _check_dtypes(input, weight, bias)
    result = ConvTranspose.apply(input, weight, bias, stride, padding, output_padding, dilation, groups)
    return result if batched else result.squeeze(0)


# -- public functions -----------------------------------------------------------------------
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution (cross-correlation) of (N, C, L) or (C, L) input with (O, C/groups, K) weight."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution of (N, C, H, W) or (C, H, W) input with (O, C/groups, kH, kW) weight.

    padding: an int, a pair, 'valid' (none) or 'same' (output size = input size, stride 1).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-d convolution: weight is (C, O/groups, K)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-d convolution (the gradient of conv2d with respect to its input): weight is
    (C, O/groups, kH, kW); output size (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d")


def _fold_pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise RuntimeError(f"It is expected {name} equals to 2, but got size {len(value)}")
    return value


def _fold_params(kernel_size, dilation, padding, stride):
    kernel_size, dilation = _fold_pair(kernel_size, "kernel_size"), _fold_pair(dilation, "dilation")
    padding, stride = _fold_pair(padding, "padding"), _fold_pair(stride, "stride")
    checks = ((kernel_size, 1, "kernel size", "kernel"), (stride, 1, "stride", "stride"),
              (dilation, 1, "dilation", "dilation"), (padding, 0, "padding", "pad"))
    for (h, w), least, what, short in checks:
        if h < least or w < least:
            rule = "non-negative" if least == 0 else "greater than zero"
            raise RuntimeError(f"{what} should be {rule}, but got {short}_height: {h} {short}_width: {w}")
    return kernel_size, dilation, padding, stride


def _blocks(size, kernel_size, dilation, padding, stride):
    return tuple((s + 2 * p - d * (k - 1) - 1) // st + 1
                 for s, k, d, p, st in zip(size, kernel_size, dilation, padding, stride))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks (im2col): (N, C, H, W) -> (N, C * kH * kW, L), L the number of blocks."""
    _check_tensor(input, "unfold", "input", 1)
    if input.ndim < 3:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-input.ndim}, {input.ndim - 1}], "
            f"but got {input.ndim})"
        )
    kernel_size, dilation, padding, stride = _fold_params(kernel_size, dilation, padding, stride)
    if input.ndim > 4 or 0 in input.shape[-3:]:
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions "
            f"for input, but got: {list(input.shape)}"
        )
    if not input.is_floating_point():
        raise NotImplementedError(f"\"im2col_out_cpu\" not implemented for '{_type_word(input.dtype)}'")
    size = input.shape[-2:]
    blocks = _blocks(size, kernel_size, dilation, padding, stride)
    if any(b < 1 for b in blocks):
        raise RuntimeError(
            f"Given input with spatial size {tuple(size)}, kernel_size={kernel_size}, dilation={dilation}, "
            f"padding={padding}, calculated shape of the array of sliding blocks as {blocks}, "
            "but its components must be at least one."
        )
    return Im2Col.apply(input, kernel_size, dilation, padding, stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks back into an image (col2im): (N, C * kH * kW, L) -> (N, C, *output_size)."""
    _check_tensor(input, "fold", "input", 1)
    output_size = _fold_pair(output_size, "output_size")
    kernel_size, dilation, padding, stride = _fold_params(kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3) or 0 in input.shape[-2:]:
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions "
            f"for input, but got: {list(input.shape)}"
        )
    channels, count = input.shape[-2:]
    if channels % (kernel_size[0] * kernel_size[1]):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
            f"input.size(1)={channels} and kernel_size={kernel_size}."
        )
    bh, bw = _blocks(output_size, kernel_size, dilation, padding, stride)
    if bh < 1 or bw < 1 or bh * bw != count:
        bh, bw = max(bh, 0), max(bw, 0)
        raise RuntimeError(
            f"Given output_size={output_size}, kernel_size={kernel_size}, dilation={dilation}, padding={padding}, "
            f"stride={stride}, expected size of input's dimension 2 to match the calculated number of sliding "
            f"blocks {bh} * {bw} = {bh * bw}, but got input.size(2)={count}."
        )
    return Col2Im.apply(input, output_size, kernel_size, dilation, padding, stride)
