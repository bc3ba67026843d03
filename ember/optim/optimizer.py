"""Optimizer: param_groups, lazily created per-parameter state, state_dict.

Fast updates: a step updates all parameters of a group with a few whole-array
operations instead of a Python loop over parameters. On the first step each
group's parameters (when they are contiguous and share a dtype) are moved into
one flat array, each Parameter keeping a view of its slice; per-parameter state
(momentum, moments) is laid out the same way. The step then gathers the
gradients into one flat array and runs the update once per group. A group the
flat path cannot take (mixed dtypes, a missing gradient, a parameter whose
array was replaced) falls back to updating parameter by parameter with the same
kernel, so both paths compute the same numbers.
"""
import copy
from collections import defaultdict

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._flat = {}  # id(group) -> _FlatGroup
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + params.type()
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._flat = {}

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
            lines.append("")
        if len(lines) > 1:
            lines.pop()  # no blank line before the closing parenthesis
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors "
                "in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            import warnings

            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an "
                "error", stacklevel=3,
            )
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.detach_()
                        p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    # -- state_dict ---------------------------------------------------------------------
    def state_dict(self):
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        state_dict = copy.deepcopy(state_dict)
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(groups, saved_groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
                )
        id_map = {old: p for g, sg in zip(groups, saved_groups) for old, p in zip(sg["params"], g["params"])}
        self.state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                p = id_map[key]
                self.state[p] = {k: _cast_like(v, p, k) for k, v in value.items()}
        for g, sg in zip(groups, saved_groups):
            g.update({k: v for k, v in sg.items() if k != "params"})
        self._flat = {}  # flat buffers are rebuilt from the loaded state on the next step

    # -- helpers for subclasses ---------------------------------------------------------
    def _flat_group(self, group, state_names):
        """The group's flat view (params, grads, state), or None if it can't be used this step."""
        params = group["params"]
        if not params or any(p._grad is None for p in params):
            return None
        flat = self._flat.get(id(group))
        if flat is None or not flat.valid(params):
            flat = _FlatGroup.build(params, self.state, state_names)
            if flat is None:
                return None
            self._flat[id(group)] = flat
        flat.gather_grads(params)
        return flat


def _cast_like(value, param, key):
    if isinstance(value, Tensor) and key != "step" and value.is_floating_point():
        return Tensor._make(value._data.astype(param._data.dtype))
    return value


class _FlatGroup:
    """One flat array holding a group's parameters (each Parameter keeps a view into it),
    the same layout for every state buffer, and a flat buffer the gradients are gathered into."""

    def __init__(self, params, data, views, state):
        self.data = data
        self.views = views
        self.state = state  # name -> flat array
        self.grad = np.empty_like(data)
        self.offsets = np.cumsum([0] + [p._data.size for p in params])

    @classmethod
    def build(cls, params, opt_state, state_names):
        dtype = params[0]._data.dtype
        if any(p._data.dtype != dtype or not p._data.flags.c_contiguous for p in params):
            return None
        if len({id(p) for p in params}) != len(params):
            return None
        data = np.concatenate([p._data.ravel() for p in params]) if params else np.empty(0, dtype)
        views, start = [], 0
        for p in params:
            n = p._data.size
            view = data[start:start + n].reshape(p._data.shape)
            p._data = view  # the Parameter now lives in the flat array (same values)
            views.append(view)
            start += n
        state = {}
        for name in state_names:
            parts = [opt_state[p].get(name) if p in opt_state else None for p in params]
            if any(isinstance(v, Tensor) for v in parts):
                buf = np.zeros_like(data)
                for v, p, (a, b) in zip(parts, params, _spans(params)):
                    if isinstance(v, Tensor):
                        buf[a:b] = v._data.ravel()
                state[name] = buf
        flat = cls(params, data, views, state)
        for name, buf in state.items():
            flat.bind_state(params, opt_state, name)
        return flat

    def valid(self, params):
        return len(params) == len(self.views) and all(p._data is v for p, v in zip(params, self.views))

    def gather_grads(self, params):
        np.concatenate([p._grad._data.reshape(-1) for p in params], out=self.grad)

    def bind_state(self, params, opt_state, name):
        """Expose slices of a flat state buffer as each parameter's state tensor."""
        buf = self.state[name]
        for p, (a, b) in zip(params, _spans(params)):
            opt_state[p][name] = Tensor._make(buf[a:b].reshape(p._data.shape))

    def new_state(self, params, opt_state, name, fill=0.0):
        self.state[name] = np.full_like(self.data, fill)
        self.bind_state(params, opt_state, name)
        return self.state[name]


def _spans(params):
    start = 0
    for p in params:
        n = p._data.size
        yield start, start + n
        start += n


def _use_closure(closure):
    if closure is None:
        return None
    with grad_mode.enable_grad():
        return closure()


__all__ = ["Optimizer", "required"]
