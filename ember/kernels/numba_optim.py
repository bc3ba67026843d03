"""Numba twins of optim.py's sgd_step and adam_step: one fused pass over the flat arrays,
bit-identical to the NumPy rules (a nan's sign and payload aside: LLVM does not keep them).

Identity holds because each element goes through the same IEEE operations in the same
order and precision: the Python-float hyperparameters are rounded to the array's dtype
first (as NumPy does when a Python scalar meets a float32 array), there is no fastmath
(so no fused multiply-add or reassociation), and float32 sqrt and division are correctly
rounded in both. error_model="numpy" drops Python's zero-division test from every
division (NumPy's semantics, inf or nan): without it the loop does not vectorise. The
loops run on one thread: on the flat arrays of small networks a second thread did not
pay for starting it.
"""
import numpy as np

from . import optim as _ref
from ._numba import njit

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _fits(*arrays):
    """Same-shape, same-dtype, C-contiguous float arrays (anything else takes the reference)."""
    first = arrays[0]
    return first.dtype in _FLOATS and all(
        a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays)


# -- SGD --------------------------------------------------------------------------------------
@njit
def _sgd(param, grad, buf, lr, momentum, keep, weight_decay, decay, heavy_ball, nesterov, maximize, first):
    """The reference's steps per element; the flags are loop-invariant, so the compiler
    unswitches them and vectorises each variant."""
    for i in range(param.size):
        g = -grad[i] if maximize else grad[i]
        if decay:
            g = g + weight_decay * param[i]
        if heavy_ball:
            if first:
                b = g
            else:
                b = buf[i] * momentum
                b = b + keep * g  # keep * g == g exactly when keep is 1 (no dampening)
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] = param[i] - lr * g


def sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    if not _fits(param, grad, *(() if momentum == 0 else (buf,))):
        return _ref.sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first)
    t = param.dtype.type
    keep = t(1 - dampening) if dampening != 0 else t(1)
    _sgd(param.reshape(-1), grad.reshape(-1), (param if momentum == 0 else buf).reshape(-1), t(lr), t(momentum),
         keep, t(weight_decay), weight_decay != 0, momentum != 0, bool(nesterov), bool(maximize), bool(first))


# -- Adam -------------------------------------------------------------------------------------
@njit(error_model="numpy")
def _adam(param, grad, exp_avg, exp_avg_sq, max_sq, amsgrad, maximize, coupled_decay, weight_decay, shrink,
          w1, near, one_minus_w1, beta2, one_minus_beta2, root_correction2, eps, step_size):
    """Reference order per element: effective gradient, lerp of the first moment, decay plus
    (1 - beta2) g g for the second, optional running max, then the bias-corrected step.
    The options pick values (selects), not code paths, so the loop stays vectorisable."""
    for i in range(param.size):
        p = param[i] * shrink  # AdamW's decoupled decay; shrink is exactly 1 otherwise
        g = -grad[i] if maximize else grad[i]
        if coupled_decay:  # param * wd - grad is param * wd + (-grad), exactly
            g = p * weight_decay + g
        m = exp_avg[i]
        d = g - m
        m = m + d * w1 if near else g - d * one_minus_w1  # _lerp_'s two forms
        exp_avg[i] = m
        sq = exp_avg_sq[i] * beta2
        sq = sq + (g * one_minus_beta2) * g
        exp_avg_sq[i] = sq
        if amsgrad:
            top = max_sq[i]
            sq = top if top >= sq or top != top else sq  # np.maximum: a nan wins
            max_sq[i] = sq
        param[i] = p + (m * step_size) / (np.sqrt(sq) / root_correction2 + eps)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
              amsgrad, maximize, decoupled_weight_decay):
    state = (exp_avg, exp_avg_sq) + ((max_exp_avg_sq,) if amsgrad else ())
    if not _fits(param, grad, *state):
        return _ref.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                              weight_decay, amsgrad, maximize, decoupled_weight_decay)
    t = param.dtype.type
    decoupled = weight_decay != 0 and decoupled_weight_decay
    w1 = t(1 - beta1)
    flat = [a.reshape(-1) for a in state]
    _adam(param.reshape(-1), grad.reshape(-1), flat[0], flat[1], flat[-1], bool(amsgrad), bool(maximize),
          weight_decay != 0 and not decoupled, t(weight_decay), t(1 - lr * weight_decay) if decoupled else t(1),
          w1, bool(abs(w1) < 0.5), t(1) - w1, t(beta2), t(1 - beta2), t((1 - beta2 ** step) ** 0.5), t(eps),
          t(-lr / (1 - beta1 ** step)))
