"""NumPy reference kernels (nn); exported names are listed in __all__."""
__all__ = []

# -- normalisation, gathers along an axis, embedding (ember/ops/normalization.py, nn_misc.py) --
import numpy as _np
from numpy import arange, float64, full, int64, unique  # noqa: E402,F401  (re-exported for ops/)

__all__ += ["arange", "float64", "full", "int64", "unique", "moments", "normalize_backward", "take_backward",
            "embedding_backward"]


def moments(x, axes):
    """Mean and biased variance of x over axes, kept as size-1 dims (two passes, for accuracy)."""
    count = 1
    for a in axes:
        count *= x.shape[a]
    mean = x.sum(axis=axes, keepdims=True) / max(count, 1)
    centred = x - mean
    var = (centred * centred).sum(axis=axes, keepdims=True) / max(count, 1)
    return mean.astype(x.dtype, copy=False), var.astype(x.dtype, copy=False)


def normalize_backward(gxhat, xhat, invstd, axes):
    """Gradient through xhat = (x - mean(x)) * invstd with the statistics taken over axes."""
    count = 1
    for a in axes:
        count *= xhat.shape[a]
    mean_g = gxhat.sum(axis=axes, keepdims=True) / count
    mean_gx = (gxhat * xhat).sum(axis=axes, keepdims=True) / count
    return (gxhat - mean_g - xhat * mean_gx) * invstd


def take_backward(grad, index, axis, size):
    """The gradient of numpy.take(x, index, axis) for an x with `size` entries along axis."""
    moved = _np.moveaxis(grad, axis, 0)
    out = _np.zeros((size,) + moved.shape[1:], grad.dtype)
    _np.add.at(out, index, moved)
    return _np.moveaxis(out, 0, axis)


def embedding_backward(grad, indices, num_weights, padding_idx, scale_grad_by_freq):
    """Rows of grad summed into a (num_weights, dim) gradient; the padding row gets none."""
    indices = indices.reshape(-1)
    grad = grad.reshape(indices.size, -1)
    if scale_grad_by_freq:
        counts = _np.bincount(indices, minlength=num_weights)
        grad = grad / counts[indices, None].astype(grad.dtype)
    out = _np.zeros((num_weights, grad.shape[1]), grad.dtype)
    _np.add.at(out, indices, grad)
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


# -- activations and losses (ember/ops/activation.py, ember/ops/loss.py) --
import math as _math  # noqa: E402

from .reference import log_softmax as _log_softmax  # noqa: E402

__all__ += [
    "erf", "erfc", "gelu", "gelu_backward", "nll_loss_forward", "nll_loss_backward", "cross_entropy_forward",
    "cross_entropy_backward", "softplus", "check_targets", "relu_backward",
]

# erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)): 34 terms reach double precision for |x| < 2
_ERF_SERIES = [2 / _math.sqrt(_math.pi) * (-1) ** n / (_math.factorial(n) * (2 * n + 1)) for n in range(34)]


def _erf_series(x):
    z = x * x
    acc = _np.full_like(x, _ERF_SERIES[-1])
    for c in reversed(_ERF_SERIES[:-1]):
        acc *= z
        acc += c
    acc *= x
    return acc


def _erfc_fraction(x):
    """erfc(x) for x >= 2 from its continued fraction (60 levels give double precision there);
    computed directly, so the tiny tail keeps its relative accuracy."""
    t = _np.zeros_like(x)
    for k in range(60, 0, -1):
        t = (k / 2) / (x + t)
    return _np.exp(-x * x) / (_math.sqrt(_math.pi) * (x + t))


def _far(x):
    """Flat indices and values of the entries the series does not cover (|x| >= 2, and nan)."""
    far = _np.flatnonzero(~(_np.abs(x) < 2))
    return far, x.reshape(-1)[far]


def erfc(x):
    """Complementary error function, in float64 whatever x's dtype (NumPy has none)."""
    x = _np.asarray(x, _np.float64)
    out = 1 - _erf_series(_np.clip(x, -2, 2))
    far, v = _far(x)
    if far.size:
        tail = _erfc_fraction(_np.abs(v))
        _np.put(out, far, _np.where(v > 0, tail, 2 - tail))
    return out


def erf(x):
    x = _np.asarray(x, _np.float64)
    out = _erf_series(_np.clip(x, -2, 2))
    far, v = _far(x)
    if far.size:
        _np.put(out, far, _np.sign(v) * (1 - _erfc_fraction(_np.abs(v))))
    return out


_SQRT_2_PI = _math.sqrt(2 / _math.pi)


def _gelu_tanh_gate(x):
    """s = 0.5 (1 + tanh(u)) = sigmoid(2u), s (1 - s) and du/dx, from e = exp(-2|u|) so that
    neither 1 + tanh(u) nor 1 - s cancels (float32 loses both where |u| is a few units)."""
    u = _SQRT_2_PI * (x + 0.044715 * x * x * x)
    e = _np.exp(-2 * _np.abs(u))
    d = 1 + e
    return _np.where(u >= 0, 1, e) / d, e / (d * d), _SQRT_2_PI * (1 + 3 * 0.044715 * x * x)


def gelu(x, approximate):
    """x * Phi(x) ('none', Phi the standard normal CDF) or its tanh approximation ('tanh')."""
    if approximate == "tanh":
        return x * _gelu_tanh_gate(x)[0]
    return (x * (0.5 * erfc(x * -_math.sqrt(0.5)))).astype(x.dtype)


def gelu_backward(g, x, approximate):
    if approximate == "tanh":
        s, s1s, du = _gelu_tanh_gate(x)
        return g * (s + 2 * x * s1s * du)
    cdf = (0.5 * erfc(x * -_math.sqrt(0.5))).astype(x.dtype)
    pdf = _np.exp(-0.5 * x * x) / _math.sqrt(2 * _math.pi)
    return g * (cdf + x * pdf)


def softplus(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return _np.maximum(x, 0) + _np.log1p(_np.exp(-_np.abs(x)))


def nll_loss_forward(logp, target, weight, ignore_index):
    """Per-row -weight[t] * logp[i, t] for logp (M, C) and class indices target (M,).

    Returns the losses and the per-row weights w_t (0 where target == ignore_index)."""
    valid = target != ignore_index
    safe = _np.where(valid, target, 0)
    picked = _np.take_along_axis(logp, safe[:, None], 1)[:, 0]
    w_t = valid.astype(logp.dtype) if weight is None else _np.where(valid, weight[safe], 0).astype(logp.dtype)
    return -w_t * picked, w_t


def nll_loss_backward(coef, target, w_t, ignore_index, num_classes):
    """d/d logp of sum_i coef_i * loss_i: -coef_i * w_t at (i, target_i), zero elsewhere."""
    out = _np.zeros((target.shape[0], num_classes), coef.dtype)
    safe = _np.where(target != ignore_index, target, 0)
    out[_np.arange(target.shape[0]), safe] = -coef * w_t
    return out


def check_targets(target, num_classes, ignore_index):
    """IndexError naming the first class index outside [0, num_classes) that is not ignore_index."""
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bad.any():
        raise IndexError(f"Target {int(target[bad][0])} is out of bounds.")


def cross_entropy_forward(x, target, weight, ignore_index, label_smoothing):
    """log_softmax over the rows of x (M, C), then nll_loss_forward, mixed with the uniform
    smoothing term when label_smoothing > 0. Returns losses (M,), logp and w_t.
    Checks the targets first (check_targets)."""
    check_targets(target, x.shape[1], ignore_index)
    logp = _log_softmax(x, 1)
    loss, w_t = nll_loss_forward(logp, target, weight, ignore_index)
    if label_smoothing > 0:
        valid = target != ignore_index
        per_row = logp.sum(1) if weight is None else logp @ weight
        smooth = -per_row * valid / x.shape[1]
        loss = (1 - label_smoothing) * loss + label_smoothing * smooth
    return loss, logp, w_t


def cross_entropy_backward(coef, logp, target, w_t, weight, ignore_index, label_smoothing):
    """d/dx of sum_i coef_i * loss_i for cross_entropy_forward's losses: softmax times the row
    total of the log-probability gradient, minus that gradient."""
    m, c = logp.shape
    valid = target != ignore_index
    safe = _np.where(valid, target, 0)
    cw = (1 - label_smoothing) * coef * w_t
    total = cw
    if label_smoothing > 0:
        spread = (label_smoothing / c) * coef * valid
        total = cw + spread * (c if weight is None else weight.sum())
    out = _np.exp(logp) * total[:, None]
    out[_np.arange(m), safe] -= cw
    if label_smoothing > 0:
        out -= spread[:, None] * (1 if weight is None else weight[None, :])
    return out.astype(logp.dtype, copy=False)


def relu_backward(grad, out):
    """grad * (out > 0) for a ReLU output out: the gradient at exactly 0 is 0, like PyTorch's."""
    return grad * (out > 0)


# -- batch normalisation (ember/ops/normalization.py) --
__all__ += ["batch_norm_forward", "batch_norm_backward"]


def batch_norm_forward(x, weight, bias, running_mean, running_var, training, eps):
    """x (N, C, *S) normalised per channel, then scaled by weight and shifted by bias (each
    optional, (C,)). Training uses the batch mean and biased variance, eval the running ones.
    Returns (out, mean (C,), var (C,), invstd (C,))."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = moments(x, (0,) + tuple(range(2, x.ndim)))
        mean, var = mean.reshape(-1), var.reshape(-1)
    else:
        mean, var = running_mean, running_var
    invstd = (1 / _np.sqrt(var + eps)).astype(x.dtype, copy=False)
    out = (x - mean.reshape(shape)) * invstd.reshape(shape)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out, mean, var, invstd


def batch_norm_backward(grad, x, weight, mean, invstd, training, needs):
    """Gradients (input, weight, bias) of batch_norm_forward's output, given its mean and
    invstd (C,); needs says which to compute (None for the others)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    gx = gw = gb = None
    if needs[0]:
        gxhat = grad if weight is None else grad * weight.reshape(shape)
        if training:
            gx = normalize_backward(gxhat, xhat, invstd.reshape(shape), axes)
        else:
            gx = gxhat * invstd.reshape(shape)
    if needs[1]:
        gw = (grad * xhat).sum(axis=axes)
    if needs[2]:
        gb = grad.sum(axis=axes)
    return gx, gw, gb


# compiled twins with the same signatures (kernels/__init__.py binds them on first call)
_NUMBA_TWINS = {
    "cross_entropy_forward": "numba_nn", "cross_entropy_backward": "numba_nn", "relu_backward": "numba_nn",
    "batch_norm_forward": "numba_nn", "batch_norm_backward": "numba_nn",
}
