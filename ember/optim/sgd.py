"""Stochastic gradient descent, optionally with momentum, dampening, weight decay and Nesterov."""
from .. import kernels as K
from .optimizer import Optimizer, _use_closure


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = _use_closure(closure)
        for group in self.param_groups:
            args = (group["lr"], group["momentum"], group["dampening"], group["weight_decay"],
                    group["nesterov"], group["maximize"])
            flat = self._flat_group(group, ("momentum_buffer",))
            if flat is not None:
                buf = flat.state.get("momentum_buffer")
                first = buf is None
                if first and group["momentum"] != 0:
                    buf = flat.new_state(group["params"], self.state, "momentum_buffer")
                K.sgd_step(flat.data, flat.grad, buf, *args, first)
                continue
            for p in group["params"]:  # fallback: one parameter at a time, same kernel
                if p._grad is None:
                    continue
                state = self.state[p]
                buf = state.get("momentum_buffer")
                first = buf is None
                if first and group["momentum"] != 0:
                    buf = state["momentum_buffer"] = p._grad.detach().clone()
                K.sgd_step(p._data, p._grad._data, None if buf is None else buf._data, *args, first)
        return loss
