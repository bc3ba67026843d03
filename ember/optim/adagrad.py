"""Adagrad: per-element learning rates from the accumulated sum of squared gradients."""
import numpy as np

from .. import kernels as K
from .._tensor import Tensor
from .adam import _AdaptiveOptimizer, _check_fused, _scalar_dtype


class Adagrad(_AdaptiveOptimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        _check_fused(foreach, fused, differentiable)
        # unlike the other optimizers, PyTorch's Adagrad creates every parameter's state up front
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"step": Tensor._make(np.array(0.0, _scalar_dtype())),
                                 "sum": Tensor._make(np.full_like(p._data, initial_accumulator_value))}

    def _buffers(self, group):
        return {"sum": group["initial_accumulator_value"]}

    def _update(self, group, param, grad, buffers, scalars):
        K.adagrad_step(param, grad, buffers["sum"], float(scalars["step"].flat[0]), group["lr"], group["lr_decay"],
                       group["weight_decay"], group["eps"], group["maximize"])
