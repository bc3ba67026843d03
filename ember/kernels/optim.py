"""Optimizer update rules on (flat) arrays, in place. Each follows PyTorch's formula
step by step, so float32 results match its single-tensor implementation."""
import numpy as np

__all__ = ["sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "adadelta_step", "adamax_step", "nadam_step",
           "radam_step"]

# compiled twins, bit-identical (kernels/__init__.py binds them on first call)
_NUMBA_TWINS = {"sgd_step": "numba_optim", "adam_step": "numba_optim"}


def sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """SGD with momentum/dampening/weight decay/Nesterov. `buf` is the momentum buffer
    (ignored when momentum is 0); `first` says it holds no history yet."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if first:
            np.copyto(buf, g)
        else:
            buf *= momentum
            buf += (1 - dampening) * g if dampening != 0 else g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g



# The adaptive rules below share PyTorch's conventions: `maximize` negates the gradient before
# L2 weight decay is added; a Python scalar meets a float32 array as a float32 number; c * x * y
# and c * x / y group as PyTorch's addcmul/addcdiv do ((c * x) first); `step` (and NAdam's
# mu_product) are Python floats read from the 0-d state tensors. Each rule works in one scratch
# allocation with in-place ops: a chain of full-size temporaries costs more in fresh memory
# (page faults) than in arithmetic.

def _scratch(param, n):
    return np.empty((n,) + param.shape, param.dtype)


def _lerp_(start, end, weight, tmp):
    """start += weight * (end - start), in the two forms PyTorch uses to stay exact near weight 0 and 1."""
    w = start.dtype.type(weight)
    np.subtract(end, start, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        start += tmp
    else:
        tmp *= start.dtype.type(1) - w
        np.subtract(end, tmp, out=start)


def _effective_grad(param, grad, lr, weight_decay, decoupled, maximize, out):
    """The gradient with the maximize sign and weight decay applied: `grad` itself, or written to `out`.
    Decoupled weight decay shrinks `param` instead."""
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
    elif weight_decay != 0:
        np.multiply(param, weight_decay, out=out)
        if maximize:
            out -= grad
        else:
            out += grad
        return out
    return np.negative(grad, out=out) if maximize else grad


def _moments(exp_avg, exp_avg_sq, g, beta1, beta2, tmp):
    """First moment by lerp, second by decay plus (1 - beta2) * g * g."""
    _lerp_(exp_avg, g, 1 - beta1, tmp)
    exp_avg_sq *= beta2
    np.multiply(g, 1 - beta2, out=tmp)
    tmp *= g
    exp_avg_sq += tmp


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
              amsgrad, maximize, decoupled_weight_decay):
    """Adam / AdamW. `max_exp_avg_sq` is used only with amsgrad."""
    s = _scratch(param, 2)
    g = _effective_grad(param, grad, lr, weight_decay, decoupled_weight_decay, maximize, s[0])
    _moments(exp_avg, exp_avg_sq, g, beta1, beta2, s[1])
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denom = np.sqrt(max_exp_avg_sq if amsgrad else exp_avg_sq, out=s[1])
    denom /= (1 - beta2 ** step) ** 0.5
    denom += eps
    update = np.multiply(exp_avg, -lr / (1 - beta1 ** step), out=s[0])
    update /= denom
    param += update


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum,
                 centered, maximize):
    """RMSprop. `grad_avg` is used only when centered, `momentum_buffer` only with momentum > 0."""
    s = _scratch(param, 2)
    g = _effective_grad(param, grad, lr, weight_decay, False, maximize, s[0])
    square_avg *= alpha
    np.multiply(g, 1 - alpha, out=s[1])
    s[1] *= g
    square_avg += s[1]
    if centered:
        _lerp_(grad_avg, g, 1 - alpha, s[1])
        avg = np.multiply(grad_avg, grad_avg, out=s[1])
        np.subtract(square_avg, avg, out=avg)
        np.sqrt(avg, out=avg)
    else:
        avg = np.sqrt(square_avg, out=s[1])
    avg += eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += np.divide(g, avg, out=avg)
        param -= np.multiply(momentum_buffer, lr, out=avg)
    else:
        update = np.multiply(g, -lr, out=s[0])
        update /= avg
        param += update


def adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize):
    """Adagrad with learning-rate decay lr / (1 + (step - 1) * lr_decay)."""
    s = _scratch(param, 2)
    g = _effective_grad(param, grad, lr, weight_decay, False, maximize, s[0])
    state_sum += np.multiply(g, g, out=s[1])
    std = np.sqrt(state_sum, out=s[1])
    std += eps
    update = np.multiply(g, -lr / (1 + (step - 1) * lr_decay), out=s[0])
    update /= std
    param += update


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    """Adadelta: the step is sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g."""
    s = _scratch(param, 3)
    g = _effective_grad(param, grad, lr, weight_decay, False, maximize, s[0])
    square_avg *= rho
    np.multiply(g, 1 - rho, out=s[1])
    s[1] *= g
    square_avg += s[1]
    std = np.add(square_avg, eps, out=s[1])
    np.sqrt(std, out=std)
    delta = np.add(acc_delta, eps, out=s[2])
    np.sqrt(delta, out=delta)
    delta /= std
    delta *= g
    acc_delta *= rho
    np.multiply(delta, 1 - rho, out=s[1])
    s[1] *= delta
    acc_delta += s[1]
    param -= np.multiply(delta, lr, out=s[1])


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay, maximize):
    """Adamax: the second moment is the decayed infinity norm max(beta2 * exp_inf, |g| + eps)."""
    s = _scratch(param, 2)
    g = _effective_grad(param, grad, lr, weight_decay, False, maximize, s[0])
    _lerp_(exp_avg, g, 1 - beta1, s[1])
    exp_inf *= beta2
    norm = np.abs(g, out=s[1])
    norm += eps
    np.maximum(exp_inf, norm, out=exp_inf)
    update = np.multiply(exp_avg, -lr / (1 - beta1 ** step), out=s[0])
    update /= exp_inf
    param += update


def nadam_step(param, grad, exp_avg, exp_avg_sq, mu_product, step, lr, beta1, beta2, eps, weight_decay,
               momentum_decay, decoupled_weight_decay, maximize):
    """NAdam. `mu_product` (an array whose entries all hold the running product of the momentum
    schedule) is multiplied by this step's mu in place, in its own float32 precision."""
    s = _scratch(param, 2)
    g = _effective_grad(param, grad, lr, weight_decay, decoupled_weight_decay, maximize, s[0])
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    mu_product *= mu_product.dtype.type(mu)  # a float32 product, as PyTorch's 0-d float32 tensor
    product = float(mu_product.flat[0])
    _moments(exp_avg, exp_avg_sq, g, beta1, beta2, s[1])
    denom = np.divide(exp_avg_sq, 1 - beta2 ** step, out=s[1])
    np.sqrt(denom, out=denom)
    denom += eps
    update = np.multiply(g, -lr * (1.0 - mu) / (1.0 - product), out=s[0])
    update /= denom
    param += update
    np.multiply(exp_avg, -lr * mu_next / (1.0 - product * mu_next), out=update)
    update /= denom
    param += update


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
               decoupled_weight_decay, maximize):
    """RAdam: the Adam step rectified by the variance of the adaptive rate once the
    approximated simple-moving-average length exceeds 5, plain momentum SGD before."""
    s = _scratch(param, 2)
    g = _effective_grad(param, grad, lr, weight_decay, decoupled_weight_decay, maximize, s[0])
    _moments(exp_avg, exp_avg_sq, g, beta1, beta2, s[1])
    bias_correction2 = 1 - beta2 ** step
    update = np.divide(exp_avg, 1 - beta1 ** step, out=s[0])
    update *= lr
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive = np.sqrt(exp_avg_sq, out=s[1])
        adaptive += eps
        np.reciprocal(adaptive, out=adaptive)
        adaptive *= bias_correction2 ** 0.5
        update *= adaptive
        update *= rect
    param -= update
