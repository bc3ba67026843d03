"""Adamax: Adam with the infinity norm in place of the second moment."""
from .. import kernels as K
from .adam import _AdaptiveOptimizer, _check_betas


class Adamax(_AdaptiveOptimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return {"exp_avg": 0.0, "exp_inf": 0.0}

    def _update(self, group, param, grad, buffers, scalars):
        beta1, beta2 = group["betas"]
        K.adamax_step(param, grad, buffers["exp_avg"], buffers["exp_inf"], float(scalars["step"].flat[0]),
                      group["lr"], beta1, beta2, group["eps"], group["weight_decay"], group["maximize"])
