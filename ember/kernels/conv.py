"""Convolution and pooling kernels: vectorised NumPy, arrays in and arrays out.

Layouts. Inputs are (N, C, *spatial) for convolution and (*lead, H, W) for pooling.
`padding` here is one (lo, hi) pair per spatial dim: 'same' padding can be uneven, and
a negative hi crops (the transposed convolution's backward needs that).

Convolution is one BLAS matrix product over an im2col buffer laid out as
(C, *kernel, N, *out): every kernel position is then a (C, N, *out) slab, which
col2im adds back with one strided add per kernel position (the only Python loop),
and groups are a leading batch dimension of the product rather than a loop.
Max pooling copies its windows once and reduces them (argmax keeps what backward needs);
average pooling adds one strided slab per kernel position; adaptive average pooling is
two matrix products.
"""
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "pad_spatial", "im2col", "col2im", "conv_forward", "conv_backward", "conv_transpose_forward",
    "conv_transpose_backward", "unfold_nd", "fold_nd", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
    "max_unpool2d", "max_unpool2d_backward",
]

# compiled twins with the same signatures (kernels/__init__.py binds them on first call)
_NUMBA_TWINS = {
    "conv_forward": "numba_conv", "conv_backward": "numba_conv",
    "max_pool2d": "numba_pool", "max_pool2d_backward": "numba_pool", "avg_pool2d": "numba_pool",
    "avg_pool2d_backward": "numba_pool",
}


# -- padding and sliding windows -------------------------------------------------------------
def pad_spatial(x, padding, value=0):
    """Pad the trailing len(padding) dims of x by (lo, hi) pairs with value; hi < 0 crops."""
    nd = len(padding)
    if not any(lo or hi for lo, hi in padding):
        return x
    sizes = x.shape[x.ndim - nd:]
    shape = x.shape[:x.ndim - nd] + tuple(s + lo + hi for s, (lo, hi) in zip(sizes, padding))
    out = np.full(shape, value, x.dtype) if value else np.zeros(shape, x.dtype)
    kept = [s + min(hi, 0) for s, (lo, hi) in zip(sizes, padding)]
    dst = tuple(slice(lo, lo + k) for (lo, _), k in zip(padding, kept))
    src = tuple(slice(0, k) for k in kept)
    out[(Ellipsis,) + dst] = x[(Ellipsis,) + src]
    return out


def _out_sizes(padded, kernel_size, stride, dilation):
    return tuple((p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, kernel_size, stride, dilation))


def _windows(xp, kernel_size, stride, dilation, out_size):
    """Read-only view (*lead, *kernel, *out) of the sliding windows of a padded array."""
    nd = len(kernel_size)
    step = xp.strides[xp.ndim - nd:]
    shape = xp.shape[:xp.ndim - nd] + tuple(kernel_size) + tuple(out_size)
    strides = (xp.strides[:xp.ndim - nd] + tuple(t * d for t, d in zip(step, dilation))
               + tuple(t * s for t, s in zip(step, stride)))
    return as_strided(xp, shape, strides, writeable=False)


def _tap(k, dilation, stride, out_size):
    """The slices of a padded array that kernel position k reads, one per output element."""
    return tuple(slice(i * d, i * d + s * (o - 1) + 1, s) for i, d, s, o in zip(k, dilation, stride, out_size))


def _to_columns(nd):
    """Axis order taking (N, C, *kernel, *out) to the column layout (C, *kernel, N, *out)."""
    return (1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd))


def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, *S) -> contiguous columns (C, *kernel, N, *out)."""
    xp = pad_spatial(x, padding)
    out_size = _out_sizes(xp.shape[2:], kernel_size, stride, dilation)
    view = _windows(xp, kernel_size, stride, dilation, out_size)  # (N, C, *kernel, *out)
    return np.ascontiguousarray(view.transpose(_to_columns(len(kernel_size))))


def col2im(cols, shape, kernel_size, stride, padding, dilation):
    """Columns (C, *kernel, N, *out), any strides -> (N, C, *S) = shape, summing overlaps."""
    nd = len(kernel_size)
    n, c, sizes = shape[0], shape[1], shape[2:]
    out_size = cols.shape[cols.ndim - nd:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(sizes, padding))
    acc = np.zeros((c, n) + padded, cols.dtype)
    for k in itertools.product(*(range(k) for k in kernel_size)):
        acc[(slice(None), slice(None)) + _tap(k, dilation, stride, out_size)] += cols[(slice(None),) + k]
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(sizes, padding))
    return np.ascontiguousarray(acc[(slice(None), slice(None)) + crop].swapaxes(0, 1))


# -- convolution -----------------------------------------------------------------------------
def conv_forward(x, weight, bias, stride, padding, dilation, groups):
    """x (N, C, *S), weight (O, C/groups, *K) -> (output (N, O, *out), columns for backward)."""
    cols = im2col(x, weight.shape[2:], stride, padding, dilation)
    return _apply_weight(weight, cols, bias, groups), cols


def _apply_weight(weight, cols, bias, groups):
    """weight (O, C/groups, *K) times columns (C, *K, N, *out) -> contiguous (N, O, *out) + bias."""
    nd = weight.ndim - 2
    o, rows = weight.shape[0], math.prod(weight.shape[1:])
    n, out_size = cols.shape[1 + nd], cols.shape[2 + nd:]
    count = n * math.prod(out_size)
    y = np.matmul(weight.reshape(groups, o // groups, rows), cols.reshape(groups, rows, count))
    y = y.reshape((o, n) + out_size).swapaxes(0, 1)
    out = np.empty((n, o) + out_size, y.dtype)
    if bias is None:
        out[...] = y
    else:  # the bias add rides on the copy that makes the output contiguous
        np.add(y, bias.reshape((o,) + (1,) * nd), out=out)
    return out


def conv_backward(grad, cols, weight, input_shape, stride, padding, dilation, groups, needs):
    """Gradients (input, weight, bias) of conv_forward; needs says which to compute."""
    o, rows = weight.shape[0], math.prod(weight.shape[1:])
    count = grad.shape[0] * math.prod(grad.shape[2:])
    g = np.ascontiguousarray(grad.swapaxes(0, 1)).reshape(groups, o // groups, count)
    gx = gw = gb = None
    if needs[0]:
        gcols = np.matmul(weight.reshape(groups, o // groups, rows).transpose(0, 2, 1), g)
        gcols = gcols.reshape((input_shape[1],) + weight.shape[2:] + (input_shape[0],) + grad.shape[2:])
        gx = col2im(gcols, input_shape, weight.shape[2:], stride, padding, dilation)
    if needs[1]:
        gw = np.matmul(g, cols.reshape(groups, rows, count).transpose(0, 2, 1)).reshape(weight.shape)
    if needs[2]:
        gb = g.reshape(o, count).sum(axis=1)
    return gx, gw, gb


def conv_transpose_forward(x, weight, bias, stride, padding, output_padding, dilation, groups):
    """x (N, Cin, *S), weight (Cin, O/groups, *K) -> (N, O, *out): conv_forward's input gradient."""
    kernel_size = weight.shape[2:]
    n, cin, sizes = x.shape[0], x.shape[1], x.shape[2:]
    o = weight.shape[1] * groups
    rows, count = math.prod(weight.shape[1:]), n * math.prod(sizes)
    x2 = np.ascontiguousarray(x.swapaxes(0, 1)).reshape(groups, cin // groups, count)
    cols = np.matmul(weight.reshape(groups, cin // groups, rows).transpose(0, 2, 1), x2)
    cols = cols.reshape((o,) + kernel_size + (n,) + sizes)
    out_size = tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1
                     for i, s, p, d, k, op in zip(sizes, stride, padding, dilation, kernel_size, output_padding))
    out = col2im(cols, (n, o) + out_size, kernel_size, stride, [(p, p) for p in padding], dilation)
    if bias is not None:
        out += bias.reshape((o,) + (1,) * len(out_size))
    return out


def conv_transpose_backward(grad, x, weight, stride, padding, output_padding, dilation, groups, needs):
    """Gradients (input, weight, bias) of conv_transpose_forward."""
    # The input gradient is a plain convolution of grad with the same weight, read as
    # (Cin, O/groups, *K). Cropping output_padding off the high side leaves exactly one
    # window per input position.
    pads = [(p, p - op) for p, op in zip(padding, output_padding)]
    cols = im2col(grad, weight.shape[2:], stride, pads, dilation)  # (O, *K, N, *S)
    gx = gw = gb = None
    if needs[0]:
        gx = _apply_weight(weight, cols, None, groups)
    if needs[1]:
        cin, rows = x.shape[1], math.prod(weight.shape[1:])
        count = x.shape[0] * math.prod(x.shape[2:])
        x2 = np.ascontiguousarray(x.swapaxes(0, 1)).reshape(groups, cin // groups, count)
        gw = np.matmul(x2, cols.reshape(groups, rows, count).transpose(0, 2, 1)).reshape(weight.shape)
    if needs[2]:
        gb = grad.sum(axis=(0,) + tuple(range(2, grad.ndim)))
    return gx, gw, gb


def unfold_nd(x, kernel_size, dilation, padding, stride):
    """(N, C, *S) -> (N, C * prod(kernel), L), PyTorch's unfold layout."""
    xp = pad_spatial(x, [(p, p) for p in padding])
    out_size = _out_sizes(xp.shape[2:], kernel_size, stride, dilation)
    view = _windows(xp, kernel_size, stride, dilation, out_size)  # (N, C, *kernel, *out)
    return np.ascontiguousarray(view).reshape(x.shape[0], x.shape[1] * math.prod(kernel_size), math.prod(out_size))


def fold_nd(cols, output_size, kernel_size, dilation, padding, stride):
    """(N, C * prod(kernel), L) -> (N, C, *output_size), summing overlaps: unfold_nd's adjoint."""
    n, c = cols.shape[0], cols.shape[1] // math.prod(kernel_size)
    out_size = _out_sizes([s + 2 * p for s, p in zip(output_size, padding)], kernel_size, stride, dilation)
    view = cols.reshape((n, c) + tuple(kernel_size) + out_size).transpose(_to_columns(len(kernel_size)))
    return col2im(view, (n, c) + tuple(output_size), kernel_size, stride, [(p, p) for p in padding], dilation)


# -- pooling ---------------------------------------------------------------------------------
def _pool_pads(size, kernel_size, stride, padding, dilation, out_size):
    """(lo, hi) per dim: hi also covers the last window, which ceil_mode may push past padding."""
    return [(p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
            for n, k, s, p, d, o in zip(size, kernel_size, stride, padding, dilation, out_size)]


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def max_pool2d(x, kernel_size, stride, padding, dilation, out_size):
    """Max over windows of the last two dims -> (values, int64 flat indices into each H*W plane).

    Ties keep the first maximum in window order and the last NaN wins, like PyTorch; a window
    holding only -inf points at its first in-bounds element.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel_size, stride, padding, dilation, out_size
    h, w = x.shape[-2:]
    low = _lowest(x.dtype)
    pads = _pool_pads((h, w), kernel_size, stride, padding, dilation, out_size)
    xp = pad_spatial(x, pads, low)
    # one copy of the windows as (*lead, kh*kw, oh, ow): faster than a loop over kernel positions
    cols = np.ascontiguousarray(_windows(xp, kernel_size, stride, dilation, out_size))
    cols = cols.reshape(x.shape[:-2] + (kh * kw, oh, ow))
    pos = cols.argmax(axis=-3)
    best = cols.max(axis=-3)
    if x.dtype.kind == "f" and np.isnan(best).any():  # argmax finds a window's first NaN
        last = kh * kw - 1 - cols[..., ::-1, :, :].argmax(axis=-3)
        pos = np.where(np.isnan(best), last, pos)
    if any(lo or hi for lo, hi in pads):
        # first in-bounds kernel offset of each window: ceil((pad - o * stride) / dilation), at least 0
        first_h = np.maximum(0, -((np.arange(oh) * sh - ph) // dh))
        first_w = np.maximum(0, -((np.arange(ow) * sw - pw) // dw))
        pos = np.where(best == low, first_h[:, None] * kw + first_w, pos)
    base = (np.arange(oh) * sh - ph)[:, None] * w + (np.arange(ow) * sw - pw)
    offsets = np.array([a * dh * w + b * dw for a in range(kh) for b in range(kw)], np.int64)
    return best, base + offsets[pos]


def max_pool2d_backward(grad, indices, input_shape, overlapping):
    """Route grad to the input elements named by indices (flat per H*W plane), summing repeats
    when windows overlap."""
    plane = input_shape[-2] * input_shape[-1]
    planes = math.prod(input_shape[:-2])
    g = grad.reshape(planes, grad.shape[-2] * grad.shape[-1])
    idx = indices.reshape(g.shape)
    if not overlapping:
        out = np.zeros((planes, plane), grad.dtype)
        np.put_along_axis(out, idx, g, axis=1)
        return out.reshape(input_shape)
    flat = (idx + (np.arange(planes) * plane)[:, None]).ravel()
    out = np.bincount(flat, weights=g.ravel(), minlength=planes * plane)
    return out.astype(grad.dtype, copy=False).reshape(input_shape)


def _avg_divisor(size, kernel_size, stride, padding, out_size, count_include_pad):
    """Per-dim window sizes: the divisor of avg_pool2d is their outer product."""
    start = np.arange(out_size) * stride - padding
    end = np.minimum(start + kernel_size, size + padding)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _divisor(size, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, dtype):
    if divisor_override is not None:
        return divisor_override
    dh, dw = (_avg_divisor(*args, count_include_pad) for args in zip(size, kernel_size, stride, padding, out_size))
    return (dh[:, None] * dw).astype(dtype if dtype.kind == "f" else np.float64)


def avg_pool2d(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override):
    h, w = x.shape[-2:]
    ones = (1, 1)
    xp = pad_spatial(x, _pool_pads((h, w), kernel_size, stride, padding, ones, out_size))
    acc = np.zeros(x.shape[:-2] + tuple(out_size), x.dtype)
    for k in itertools.product(*(range(k) for k in kernel_size)):
        acc += xp[(Ellipsis,) + _tap(k, ones, stride, out_size)]
    div = _divisor((h, w), kernel_size, stride, padding, out_size, count_include_pad, divisor_override, x.dtype)
    if x.dtype.kind != "f":  # integer pooling truncates, like C integer division
        return (acc / div).astype(x.dtype)
    acc /= div
    return acc


def avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, count_include_pad, divisor_override):
    h, w = input_shape[-2:]
    out_size, ones = grad.shape[-2:], (1, 1)
    pads = _pool_pads((h, w), kernel_size, stride, padding, ones, out_size)
    g = grad / _divisor((h, w), kernel_size, stride, padding, out_size, count_include_pad, divisor_override,
                        grad.dtype)
    acc = np.zeros(tuple(input_shape[:-2]) + (h + sum(pads[0]), w + sum(pads[1])), grad.dtype)
    for k in itertools.product(*(range(k) for k in kernel_size)):
        acc[(Ellipsis,) + _tap(k, ones, stride, out_size)] += g
    return np.ascontiguousarray(acc[..., pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + w])


def _adaptive_bounds(size, out):
    """Window i covers [floor(i * size / out), ceil((i + 1) * size / out))."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _adaptive_matrix(size, out, dtype):
    start, end = _adaptive_bounds(size, out)
    j = np.arange(size)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _separable(x, mh, mw):
    """mh @ x @ mw.T over the last two dims, as two large matrix products."""
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    planes = math.prod(lead)
    oh, ow = mh.shape[0], mw.shape[0]
    y = x.reshape(planes * h, w) @ mw.T
    y = np.ascontiguousarray(y.reshape(planes, h, ow).swapaxes(1, 2)).reshape(planes * ow, h) @ mh.T
    return np.ascontiguousarray(y.reshape(planes, ow, oh).swapaxes(1, 2)).reshape(lead + (oh, ow))


def adaptive_avg_pool2d(x, out_size):
    """Average pooling is separable: one averaging matrix per spatial dim."""
    (h, w), (oh, ow) = x.shape[-2:], out_size
    return _separable(x, _adaptive_matrix(h, oh, x.dtype), _adaptive_matrix(w, ow, x.dtype))


def adaptive_avg_pool2d_backward(grad, input_shape):
    (h, w), (oh, ow) = input_shape[-2:], grad.shape[-2:]
    return _separable(grad, _adaptive_matrix(h, oh, grad.dtype).T, _adaptive_matrix(w, ow, grad.dtype).T)


def adaptive_max_pool2d(x, out_size):
    """-> (values, flat indices into each H*W plane). Windows differ in size: each step reads
    offset j of every window, clamped to the window's last element (a repeat cannot win)."""
    (h, w), (oh, ow) = x.shape[-2:], out_size
    sh, eh = _adaptive_bounds(h, oh)
    sw, ew = _adaptive_bounds(w, ow)
    nan = x.dtype.kind == "f" and bool(np.isnan(x).any())
    best = idx = None
    for jh in range(int((eh - sh).max(initial=0))):
        rows = np.minimum(sh + jh, eh - 1)[:, None]
        for jw in range(int((ew - sw).max(initial=0))):
            cols = np.minimum(sw + jw, ew - 1)
            v = x[..., rows, cols]
            flat = rows * w + cols
            if best is None:
                best, idx = v, np.broadcast_to(flat, v.shape).copy()
                continue
            better = v > best
            if nan:
                better |= np.isnan(v)
            np.copyto(best, v, where=better)
            np.copyto(idx, flat, where=better)
    if best is None:  # an output size of 0
        shape = x.shape[:-2] + (oh, ow)
        return np.empty(shape, x.dtype), np.empty(shape, np.int64)
    return best, idx


def max_unpool2d(x, indices, out_size):
    """Scatter x into zeros of shape (*lead, *out_size) at flat per-plane indices."""
    planes, n = math.prod(x.shape[:-2]), x.shape[-2] * x.shape[-1]
    out = np.zeros((planes, out_size[0] * out_size[1]), x.dtype)
    np.put_along_axis(out, indices.reshape(planes, n), x.reshape(planes, n), axis=1)
    return out.reshape(x.shape[:-2] + tuple(out_size))


def max_unpool2d_backward(grad, indices):
    planes, n = math.prod(indices.shape[:-2]), indices.shape[-2] * indices.shape[-1]
    g = grad.reshape(planes, grad.shape[-2] * grad.shape[-1])
    return np.take_along_axis(g, indices.reshape(planes, n), axis=1).reshape(indices.shape)
