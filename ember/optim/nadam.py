"""NAdam: Adam with Nesterov momentum and a warming-up momentum schedule."""
from .. import kernels as K
from .adam import _AdaptiveOptimizer, _check_betas


class NAdam(_AdaptiveOptimizer):
    _scalars = {"step": 0.0, "mu_product": 1.0}  # mu_product: running product of the momentum schedule

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_betas(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def _update(self, group, param, grad, buffers, scalars):
        beta1, beta2 = group["betas"]
        K.nadam_step(param, grad, buffers["exp_avg"], buffers["exp_avg_sq"], scalars["mu_product"],
                     float(scalars["step"].flat[0]), group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                     group["momentum_decay"], group["decoupled_weight_decay"], group["maximize"])
