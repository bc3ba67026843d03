"""Optimizer update rules on (flat) arrays, in place. Each follows PyTorch's formula
step by step, so float32 results match its single-tensor implementation."""
import numpy as np

__all__ = ["sgd_step"]


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
