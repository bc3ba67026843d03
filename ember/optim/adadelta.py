"""Adadelta: steps scaled by the ratio of running RMS of past updates to running RMS of gradients."""
from .. import kernels as K
from .adam import _AdaptiveOptimizer


class Adadelta(_AdaptiveOptimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return {"square_avg": 0.0, "acc_delta": 0.0}

    def _update(self, group, param, grad, buffers, scalars):
        K.adadelta_step(param, grad, buffers["square_avg"], buffers["acc_delta"], group["lr"], group["rho"],
                        group["eps"], group["weight_decay"], group["maximize"])
