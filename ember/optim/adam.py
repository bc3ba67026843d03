"""Adam and AdamW, and the machinery the adaptive optimizers share.

PyTorch keeps a 0-d `step` tensor (NAdam also `mu_product`) in each parameter's state, and
the update uses it as a number. The flat path needs one number per group, so those scalars
live in one small array per group with each parameter's state tensor a 0-d view of its entry:
the per-parameter fallback and state_dict() then see the same counts. A group whose counts
disagree (some parameters skipped earlier steps) takes the per-parameter path.
"""
import numpy as np

from .. import _dtype
from .. import kernels as K
from .._tensor import Tensor
from .optimizer import Optimizer, _use_closure


def _scalar_dtype():
    # PyTorch stores step counts in float64 only when that is the default dtype
    return np.float64 if _dtype.get_default_dtype() is _dtype.float64 else np.float32


def _value(v):
    return float(v._data) if isinstance(v, Tensor) else float(v)


def _flat_scalars(flat, params, state, inits):
    """name -> array with one entry per parameter (bound as the state's 0-d tensors), or None
    when the group's parameters don't all share the same values."""
    scalars = getattr(flat, "scalars", None)
    if scalars is None:
        have = [p in state and all(name in state[p] for name in inits) for p in params]
        if any(have) and not all(have):
            return None
        scalars = {}
        for name, init in inits.items():
            values = [_value(state[p][name]) if have[0] else init for p in params]
            scalars[name] = arr = np.array(values, _scalar_dtype())
            for i, p in enumerate(params):
                state[p][name] = Tensor._make(arr[i, ...])
        flat.scalars = scalars  # the _FlatGroup is rebuilt (and this with it) after load_state_dict
    for arr in scalars.values():
        if arr.min() != arr.max():
            return None
    return scalars


class _AdaptiveOptimizer(Optimizer):
    """An optimizer whose update is one elementwise kernel over the parameter, its gradient,
    per-element buffers and per-parameter scalars. Subclasses give the buffers (`_buffers`)
    and the kernel call (`_update`)."""

    _scalars = {"step": 0.0}  # 0-d state entries and their initial values, in PyTorch's state order

    def _buffers(self, group):
        """Buffer names (in PyTorch's state order) -> initial fill value, for this group's options."""
        raise NotImplementedError

    def _update(self, group, param, grad, buffers, scalars):
        """Run the kernel on arrays; `scalars['step']` was already incremented."""
        raise NotImplementedError

    def _init_state(self, p, buffers):
        """The parameter's state, completed with whatever is missing, in PyTorch's order
        (entries already there, possibly views into flat buffers, are kept)."""
        state = self.state[p]
        if all(name in state for name in self._scalars) and all(name in state for name in buffers):
            return state
        full = {}
        for name, init in self._scalars.items():
            full[name] = state[name] if name in state else Tensor._make(np.array(init, _scalar_dtype()))
        for name, fill in buffers.items():
            full[name] = state[name] if name in state else Tensor._make(np.full_like(p._data, fill))
        full.update((k, v) for k, v in state.items() if k not in full)
        self.state[p] = full
        return full

    def step(self, closure=None):
        loss = _use_closure(closure)
        for group in self.param_groups:
            params = group["params"]
            buffers = self._buffers(group)
            flat = self._flat_group(group, tuple(buffers))
            scalars = None if flat is None else _flat_scalars(flat, params, self.state, self._scalars)
            if scalars is not None:
                for name, fill in buffers.items():
                    if name not in flat.state:
                        flat.new_state(params, self.state, name, fill)
                scalars["step"] += 1
                self._update(group, flat.data, flat.grad, flat.state, scalars)
                continue
            for p in params:  # fallback: one parameter at a time, same kernel
                if p._grad is None:
                    continue
                state = self._init_state(p, buffers)
                state["step"]._data += 1
                self._update(group, p._data, p._grad._data, {n: state[n]._data for n in buffers},
                             {n: state[n]._data for n in self._scalars})
        return loss


def _check_fused(foreach, fused, differentiable):
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _check_betas(lr, eps, betas, weight_decay):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(_AdaptiveOptimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        _check_fused(foreach, fused, differentiable)

    def _buffers(self, group):
        names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")
        return dict.fromkeys(names, 0.0)

    def _update(self, group, param, grad, buffers, scalars):
        beta1, beta2 = group["betas"]
        K.adam_step(param, grad, buffers["exp_avg"], buffers["exp_avg_sq"], buffers.get("max_exp_avg_sq"),
                    float(scalars["step"].flat[0]), group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                    group["amsgrad"], group["maximize"], group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay (param *= 1 - lr * weight_decay before the Adam step)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
