"""Numba twins of nn.py kernels (same signatures): cross-entropy, ReLU backward, batch norm.

Parallel loops split independent outputs (elements, rows, channels); each reduction runs
in one thread in a fixed order, so results do not depend on the thread count. Sums over
many elements accumulate in float64 (per spatial position, then across them): without
fastmath a single running sum cannot be vectorised, and float64 plus a shift keeps the
one-pass variance accurate well below float32 rounding. Only float32/float64 data
is compiled; other cases (and the rarely used weighted or label-smoothed cross-entropy)
take the NumPy reference.
"""
from . import _numba  # noqa: F401,I001  (first: it sets Numba's environment before Numba loads)
import numpy as np
from numba import uintp

from . import nn as _ref
from ._numba import njit, prange

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_PARALLEL_MIN = 1 << 15  # below this many elements a thread launch costs more than it saves


# -- cross-entropy (class-index targets) --------------------------------------------------------
@njit
def _cross_entropy_rows(x, target, ignore_index, zero, loss, logp, w_t):
    """log_softmax of each row of x (M, C) into logp, NLL into loss, row weights into w_t.
    Returns the first row whose target is out of range (nothing written), or -1."""
    rows, classes = x.shape
    for i in range(rows):
        t = target[i]
        if t != ignore_index and (t < 0 or t >= classes):
            return i
    for i in range(rows):
        top = x[i, 0]
        for j in range(1, classes):
            v = x[i, j]
            if v > top or v != v:  # max, nan if any
                top = v
        if not np.isfinite(top):  # shift by 0 when the max is +-inf or nan, as the reference does
            top = zero
        total = 0.0  # float64
        for j in range(classes):
            total += np.exp(x[i, j] - top)
        lse = np.log(total)
        for j in range(classes):
            logp[i, j] = (x[i, j] - top) - lse
        valid = target[i] != ignore_index
        w_t[i] = 1 if valid else 0
        loss[i] = -w_t[i] * logp[i, target[i] if valid else 0]
    return -1


def cross_entropy_forward(x, target, weight, ignore_index, label_smoothing):
    if weight is not None or label_smoothing > 0 or x.dtype not in _FLOATS or x.size == 0:
        return _ref.cross_entropy_forward(x, target, weight, ignore_index, label_smoothing)
    x = np.ascontiguousarray(x)
    target = np.ascontiguousarray(target, np.int64)
    loss = np.empty(x.shape[0], x.dtype)
    logp = np.empty(x.shape, x.dtype)
    w_t = np.empty(x.shape[0], x.dtype)
    bad = _cross_entropy_rows(x, target, ignore_index, x.dtype.type(0), loss, logp, w_t)
    if bad >= 0:
        raise IndexError(f"Target {int(target[bad])} is out of bounds.")
    return loss, logp, w_t


@njit
def _cross_entropy_grad_rows(coef, logp, target, w_t, ignore_index, out):
    """out (M, C) <- softmax * (coef * w_t) per row, minus coef * w_t at the target."""
    rows, classes = logp.shape
    for i in range(rows):
        cw = coef[i] * w_t[i]
        for j in range(classes):
            out[i, j] = np.exp(logp[i, j]) * cw
        t = target[i] if target[i] != ignore_index else 0
        out[i, t] -= cw


def cross_entropy_backward(coef, logp, target, w_t, weight, ignore_index, label_smoothing):
    if (weight is not None or label_smoothing > 0 or logp.dtype not in _FLOATS or coef.dtype != logp.dtype
            or logp.size == 0):
        return _ref.cross_entropy_backward(coef, logp, target, w_t, weight, ignore_index, label_smoothing)
    out = np.empty(logp.shape, logp.dtype)
    _cross_entropy_grad_rows(np.ascontiguousarray(coef), np.ascontiguousarray(logp),
                             np.ascontiguousarray(target, np.int64), np.ascontiguousarray(w_t), ignore_index, out)
    return out


# -- ReLU backward ------------------------------------------------------------------------------
@njit
def _relu_grad(g, out, res):
    for i in range(g.size):
        res[i] = g[i] if out[i] > 0 else g[i] * 0  # g * 0 keeps the reference's signed zeros and nans


@njit(parallel=True)
def _relu_grad_parallel(g, out, res):
    for i in prange(g.size):
        res[i] = g[i] if out[i] > 0 else g[i] * 0


def relu_backward(grad, out):
    """One pass, no mask array; same values as the reference, bit for bit."""
    if (grad.shape != out.shape or grad.dtype != out.dtype or grad.dtype not in _FLOATS
            or not (grad.flags.c_contiguous and out.flags.c_contiguous)):
        return _ref.relu_backward(grad, out)
    res = np.empty(grad.shape, grad.dtype)
    kernel = _relu_grad_parallel if grad.size >= _PARALLEL_MIN else _relu_grad
    kernel(grad.reshape(-1), out.reshape(-1), res.reshape(-1))
    return res


# -- batch normalisation ------------------------------------------------------------------------
def _channels(a):
    """(N, C, *S) -> C-contiguous (N, C, S)."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


@njit(parallel=True)
def _channel_moments(x, mean, var):
    """Per channel of x (N, C, S): mean and biased variance in one pass. The data is shifted
    by the channel's first element (close to the mean, so E[d^2] - E[d]^2 cancels little)
    and summed in float64 per spatial position (a loop without a carried dependency, so it
    vectorises; one (2, S) buffer, as the compiler cannot prove two arrays apart)."""
    n, c, s = x.shape
    count = n * s
    for ch in prange(c):
        shift = np.float64(x[0, ch, 0])
        acc = np.zeros((2, s))
        for i in range(n):
            for k in range(s):
                d = np.float64(x[i, ch, k]) - shift
                acc[0, k] += d
                acc[1, k] += d * d
        total = 0.0
        total2 = 0.0
        for k in range(s):
            total += acc[0, k]
            total2 += acc[1, k]
        mu = total / count
        mean[ch] = shift + mu
        var[ch] = max(total2 / count - mu * mu, 0.0)


@njit(parallel=True)
def _normalize(x, mean, invstd, weight, bias, has_weight, has_bias, out):
    """out = (x - mean) * invstd [* weight] [+ bias] per channel, in the reference's order."""
    n, c, s = x.shape
    for q in prange(n * c):
        i, ch = uintp(q // c), uintp(q % c)  # unsigned: no negative-index test per access
        m, inv, w, b = mean[ch], invstd[ch], weight[ch], bias[ch]
        row, res = x[i, ch], out[i, ch]
        for k in range(s):
            v = (row[k] - m) * inv
            if has_weight:
                v = v * w
            if has_bias:
                v = v + b
            res[k] = v


def batch_norm_forward(x, weight, bias, running_mean, running_var, training, eps):
    if x.dtype not in _FLOATS or x.size == 0 or x.ndim < 2:
        return _ref.batch_norm_forward(x, weight, bias, running_mean, running_var, training, eps)
    x3 = _channels(x)
    if training:
        mean = np.empty(x.shape[1], x.dtype)
        var = np.empty(x.shape[1], x.dtype)
        _channel_moments(x3, mean, var)
    else:
        mean, var = running_mean, running_var
    invstd = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    out = np.empty(x3.shape, x.dtype)
    m, inv = np.ascontiguousarray(mean, x.dtype), np.ascontiguousarray(invstd)
    _normalize(x3, m, inv, inv if weight is None else np.ascontiguousarray(weight),
               inv if bias is None else np.ascontiguousarray(bias), weight is not None, bias is not None, out)
    return out.reshape(x.shape), mean, var, invstd


@njit(parallel=True)
def _channel_grad_sums(g, x, mean, invstd, sum_g, sum_gxhat):
    """Per channel: sum of g and of g * xhat (xhat = (x - mean) * invstd), float64."""
    n, c, s = x.shape
    for ch in prange(c):
        acc = np.zeros((2, s))
        m, inv = mean[ch], invstd[ch]
        for i in range(n):
            for k in range(s):
                gv = np.float64(g[i, ch, k])
                acc[0, k] += gv
                acc[1, k] += gv * ((x[i, ch, k] - m) * inv)
        total = 0.0
        total2 = 0.0
        for k in range(s):
            total += acc[0, k]
            total2 += acc[1, k]
        sum_g[ch] = total
        sum_gxhat[ch] = total2


@njit(parallel=True)
def _normalize_grad(g, x, mean, invstd, weight, has_weight, training, mean_g, mean_gx, out):
    """out = (g * weight - mean_g - xhat * mean_gx) * invstd (training) or g * weight * invstd (eval)."""
    n, c, s = x.shape
    for q in prange(n * c):
        i, ch = uintp(q // c), uintp(q % c)
        m, inv, w, mg, mgx = mean[ch], invstd[ch], weight[ch], mean_g[ch], mean_gx[ch]
        grow, xrow, res = g[i, ch], x[i, ch], out[i, ch]
        for k in range(s):
            gx = grow[k]
            if has_weight:
                gx = gx * w
            if training:
                gx = (gx - mg - ((xrow[k] - m) * inv) * mgx) * inv
            else:
                gx = gx * inv
            res[k] = gx


def batch_norm_backward(grad, x, weight, mean, invstd, training, needs):
    if x.dtype not in _FLOATS or grad.dtype != x.dtype or x.size == 0 or x.ndim < 2:
        return _ref.batch_norm_backward(grad, x, weight, mean, invstd, training, needs)
    g3, x3 = _channels(grad), _channels(x)
    mean, invstd = np.ascontiguousarray(mean, x.dtype), np.ascontiguousarray(invstd, x.dtype)
    gx = gw = gb = None
    sums = None
    if needs[1] or needs[2] or (needs[0] and training):
        sums = np.empty(x.shape[1]), np.empty(x.shape[1])
        _channel_grad_sums(g3, x3, mean, invstd, *sums)
    if needs[0]:
        w = invstd if weight is None else np.ascontiguousarray(weight)
        mean_g = mean_gx = invstd  # unused in eval
        if training:
            count = x3.shape[0] * x3.shape[2]
            scale = 1.0 if weight is None else w.astype(np.float64)
            mean_g = (scale * sums[0] / count).astype(x.dtype)
            mean_gx = (scale * sums[1] / count).astype(x.dtype)
        out = np.empty(x3.shape, x.dtype)
        _normalize_grad(g3, x3, mean, invstd, w, weight is not None, bool(training), mean_g, mean_gx, out)
        gx = out.reshape(x.shape)
    if needs[1]:
        gw = sums[1].astype(x.dtype)
    if needs[2]:
        gb = sums[0].astype(x.dtype)
    return gx, gw, gb
