"""Numba twins of the pooling kernels in conv.py (same signatures, same results).

Each (N, C) plane is independent, so the compiled loops run in parallel over planes and
every output is computed by one thread in a fixed order: results do not depend on the
thread count. Only float32/float64 inputs are compiled (two specialisations per loop at
most); other dtypes, which the training path never sees, take the NumPy reference.
"""
import math

from . import _numba  # noqa: F401,I001  (first: it sets Numba's environment before Numba loads)
import numpy as np
from numba import uintp

from . import conv as _ref
from ._numba import njit, prange

# Indices computed as i * stride - pad + offset are signed, so Numba would emit a
# negative-index wraparound test on every access (and not vectorise); the loops below
# only form in-bounds indices and cast them to uintp, which skips that test. Likewise
# error_model="numpy" drops Python's zero-division test from divisions (the divisors
# are window sizes, never zero).

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _planes(a, shape):
    """a as a C-contiguous (planes, *shape) array (a copy only if a is not contiguous)."""
    return np.ascontiguousarray(a).reshape((-1,) + tuple(shape))


def _is_2x2(kernel_size, stride, padding, size, out_size):
    """Kernel 2, stride 2, no padding, and no extra ceil_mode window past the input."""
    return (tuple(kernel_size) == (2, 2) and tuple(stride) == (2, 2) and tuple(padding) == (0, 0)
            and 2 * out_size[0] <= size[0] and 2 * out_size[1] <= size[1])


# -- max pooling ------------------------------------------------------------------------------
@njit(parallel=True)
def _max_pool_planes(x, kh, kw, sh, sw, ph, pw, dh, dw, low, out, idx):
    """out/idx (P, oh, ow) <- max and flat argmax over each window of x (P, H, W), in one pass.

    Ties keep the first maximum in window order, a NaN beats everything and the last NaN
    wins; a window holding only -inf points at its first in-bounds element (= the reference)."""
    planes, h, w = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for p in prange(planes):
        for i in range(oh):
            h0 = i * sh - ph
            a0 = 0 if h0 >= 0 else (dh - 1 - h0) // dh  # first kernel row inside the input
            for j in range(ow):
                w0 = j * sw - pw
                b0 = 0 if w0 >= 0 else (dw - 1 - w0) // dw
                best = low
                arg = (h0 + a0 * dh) * w + w0 + b0 * dw
                for a in range(a0, kh):
                    r = h0 + a * dh
                    if r >= h:
                        break
                    for b in range(b0, kw):
                        c = w0 + b * dw
                        if c >= w:
                            break
                        v = x[p, uintp(r), uintp(c)]
                        if v > best or v != v:
                            best = v
                            arg = r * w + c
                out[p, i, j] = best
                idx[p, i, j] = arg


@njit(parallel=True)
def _max_pool_2x2(x, out, idx):
    """The common case (kernel 2, stride 2, no padding or dilation), unrolled; same rules."""
    planes, w = x.shape[0], x.shape[2]
    oh, ow = out.shape[1], out.shape[2]
    for p in prange(planes):
        for i in range(oh):
            r = 2 * i
            for j in range(ow):
                c = 2 * j
                best = x[p, r, c]
                arg = r * w + c
                v = x[p, r, c + 1]
                if v > best or v != v:
                    best = v
                    arg = r * w + c + 1
                v = x[p, r + 1, c]
                if v > best or v != v:
                    best = v
                    arg = (r + 1) * w + c
                v = x[p, r + 1, c + 1]
                if v > best or v != v:
                    best = v
                    arg = (r + 1) * w + c + 1
                out[p, i, j] = best
                idx[p, i, j] = arg


def max_pool2d(x, kernel_size, stride, padding, dilation, out_size):
    if x.dtype not in _FLOATS or x.size == 0:
        return _ref.max_pool2d(x, kernel_size, stride, padding, dilation, out_size)
    h, w = x.shape[-2:]
    xp = _planes(x, (h, w))
    out = np.empty((xp.shape[0],) + tuple(out_size), x.dtype)
    idx = np.empty(out.shape, np.int64)
    if tuple(dilation) == (1, 1) and _is_2x2(kernel_size, stride, padding, (h, w), out_size):
        _max_pool_2x2(xp, out, idx)
    else:
        _max_pool_planes(xp, *kernel_size, *stride, *padding, *dilation, x.dtype.type(-np.inf), out, idx)
    shape = x.shape[:-2] + tuple(out_size)
    return out.reshape(shape), idx.reshape(shape)


@njit(parallel=True)
def _scatter_planes(g, idx, overlapping, out):
    """out (P, H*W) <- zeros, then g (P, L) added at idx (P, L), plane by plane in index order."""
    planes, size = out.shape
    n = g.shape[1]
    for p in prange(planes):
        for q in range(size):
            out[p, q] = 0
        if overlapping:
            for k in range(n):
                out[p, idx[p, k]] += g[p, k]
        else:
            for k in range(n):
                out[p, idx[p, k]] = g[p, k]


def max_pool2d_backward(grad, indices, input_shape, overlapping):
    if grad.dtype not in _FLOATS or grad.size == 0:
        return _ref.max_pool2d_backward(grad, indices, input_shape, overlapping)
    count = grad.shape[-2] * grad.shape[-1]
    out = np.empty((math.prod(input_shape[:-2]), input_shape[-2] * input_shape[-1]), grad.dtype)
    _scatter_planes(_planes(grad, (count,)), _planes(indices, (count,)), bool(overlapping), out)
    return out.reshape(input_shape)


# -- average pooling --------------------------------------------------------------------------
def _divisor(size, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, dtype):
    """The reference's divisor as a fresh (oh, ow) array of the data's dtype (always writable
    and C-contiguous: one compiled specialisation)."""
    div = _ref._divisor(size, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, dtype)
    return np.array(np.broadcast_to(np.asarray(div, dtype), tuple(out_size)))


@njit
def _taps(a, stride, pad, size, out):
    """Range of outputs whose window reads, at kernel offset a, a position inside [0, size)."""
    return max(0, -((a - pad) // stride)), min(out, (size - 1 + pad - a) // stride + 1)


@njit(parallel=True, error_model="numpy")
def _avg_pool_planes(x, kh, kw, sh, sw, ph, pw, div, out):
    """out (P, oh, ow) <- window sums of x (P, H, W) divided by div (oh, ow). As in the
    reference, each plane adds one tap per kernel position in order; taps in the padding
    would add exact zeros, so they are skipped."""
    planes, h, w = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for p in prange(planes):
        for i in range(oh):
            for j in range(ow):
                out[p, i, j] = 0
        for a in range(kh):
            i0, i1 = _taps(a, sh, ph, h, oh)
            for b in range(kw):
                j0, j1 = _taps(b, sw, pw, w, ow)
                for i in range(i0, i1):
                    r = uintp(i * sh - ph + a)
                    for j in range(j0, j1):
                        out[p, i, j] += x[p, r, uintp(j * sw - pw + b)]
        for i in range(oh):
            for j in range(ow):
                out[p, i, j] /= div[i, j]


@njit(parallel=True, error_model="numpy")
def _avg_pool_2x2(x, div, out):
    """Kernel 2, stride 2, no padding: the same sums, in the same order, unrolled."""
    planes = x.shape[0]
    oh, ow = out.shape[1], out.shape[2]
    for p in prange(planes):
        for i in range(oh):
            r = 2 * i
            for j in range(ow):
                c = 2 * j
                out[p, i, j] = (((x[p, r, c] + x[p, r, c + 1]) + x[p, r + 1, c]) + x[p, r + 1, c + 1]) / div[i, j]


def avg_pool2d(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override):
    if x.dtype not in _FLOATS or x.size == 0:
        return _ref.avg_pool2d(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override)
    h, w = x.shape[-2:]
    div = _divisor((h, w), kernel_size, stride, padding, out_size, count_include_pad, divisor_override, x.dtype)
    xp = _planes(x, (h, w))
    out = np.empty((xp.shape[0],) + tuple(out_size), x.dtype)
    if _is_2x2(kernel_size, stride, padding, (h, w), out_size):
        _avg_pool_2x2(xp, div, out)
    else:
        _avg_pool_planes(xp, *kernel_size, *stride, *padding, div, out)
    return out.reshape(x.shape[:-2] + tuple(out_size))


@njit(parallel=True)
def _avg_pool_backward_planes(gd, kh, kw, sh, sw, ph, pw, out):
    """out (P, H, W) <- gd (P, oh, ow) (the gradient already divided) added at every window's
    tap, one kernel position at a time as in the reference."""
    planes, h, w = out.shape
    oh, ow = gd.shape[1], gd.shape[2]
    for p in prange(planes):
        for r in range(h):
            for c in range(w):
                out[p, r, c] = 0
        for a in range(kh):
            i0, i1 = _taps(a, sh, ph, h, oh)
            for b in range(kw):
                j0, j1 = _taps(b, sw, pw, w, ow)
                for i in range(i0, i1):
                    r = uintp(i * sh - ph + a)
                    for j in range(j0, j1):
                        out[p, r, uintp(j * sw - pw + b)] += gd[p, i, j]


@njit(parallel=True, error_model="numpy")
def _avg_pool_backward_2x2(g, div, out):
    """Kernel 2, stride 2, no padding: each input gets one share g / div (+ 0, as the
    reference's sum into zeros turns -0.0 into 0.0); a row or column left over is zero."""
    planes, h, w = out.shape
    oh, ow = g.shape[1], g.shape[2]
    for p in prange(planes):
        if 2 * oh < h or 2 * ow < w:
            for r in range(h):
                for c in range(w):
                    out[p, r, c] = 0
        for i in range(oh):
            r = 2 * i
            for j in range(ow):
                c = 2 * j
                v = g[p, i, j] / div[i, j] + 0
                out[p, r, c] = v
                out[p, r, c + 1] = v
                out[p, r + 1, c] = v
                out[p, r + 1, c + 1] = v


def avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, count_include_pad, divisor_override):
    if grad.dtype not in _FLOATS or grad.size == 0:
        return _ref.avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, count_include_pad,
                                        divisor_override)
    h, w = input_shape[-2:]
    out_size = grad.shape[-2:]
    div = _divisor((h, w), kernel_size, stride, padding, out_size, count_include_pad, divisor_override, grad.dtype)
    out = np.empty((math.prod(input_shape[:-2]), h, w), grad.dtype)
    if _is_2x2(kernel_size, stride, padding, (h, w), out_size):
        _avg_pool_backward_2x2(_planes(grad, out_size), div, out)
    else:
        _avg_pool_backward_planes(_planes(grad / div, out_size), *kernel_size, *stride, *padding, out)
    return out.reshape(input_shape)
