"""RAdam: Adam with the variance of its adaptive learning rate rectified."""
from .. import kernels as K
from .adam import _AdaptiveOptimizer, _check_betas


class RAdam(_AdaptiveOptimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def _update(self, group, param, grad, buffers, scalars):
        beta1, beta2 = group["betas"]
        K.radam_step(param, grad, buffers["exp_avg"], buffers["exp_avg_sq"], float(scalars["step"].flat[0]),
                     group["lr"], beta1, beta2, group["eps"], group["weight_decay"], group["decoupled_weight_decay"],
                     group["maximize"])
