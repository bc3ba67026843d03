"""The autograd side of Module.register_full_backward_hook and register_full_backward_pre_hook.

A module call with backward hooks passes its Tensor arguments, and hands back its
Tensor outputs, through an identity step whose backward sees the gradients of the
whole group at once: the outputs' group runs the pre-hooks (on grad_output), the
inputs' group runs the full hooks (on grad_input, grad_output).

PyTorch does this with one multi-output node, BackwardHookFunctionBackward. An ember
node has a single output, so a group is built from two kinds of nodes:

  BackwardHookFunctionBackward  one per wrapped tensor, its grad_fn. Its backward files
                                the gradient it got with the group and passes a
                                placeholder on to the group's _Gather.
  _Gather                       one per group; its inputs are the history of the wrapped
                                tensors. Recorded before the per-tensor nodes and after
                                everything they wrap, it is run by the engine (newest
                                pending node first) only after every per-tensor node
                                that gets a gradient has run, so it sees them all; it
                                calls the hooks once and sends the gradients on.
"""
import warnings

import numpy as np

from ..._tensor import Tensor
from ...autograd import function as _function
from ...autograd import grad_mode

_PLACEHOLDER = np.zeros(())

# The facts of PyTorch's messages (which output, which case), in ember's words
_VIEW_INPLACE = (
    "Output {} of BackwardHookFunction is a view and is being modified inplace. It passes a module's tensor "
    "through a backward hook unchanged, so changing it in place would bypass the hook's gradient bookkeeping "
    "and give wrong gradients; clone it first (out = out.clone()) or use an out-of-place operation."
)
_MULTI_VIEW_INPLACE = (
    "Output {} of BackwardHookFunction is a view and is being modified inplace. It is one of several tensors "
    "a module's backward hook passes through together, and such outputs may not be changed in place; use "
    "an out-of-place operation instead."
)


class _Gather(_function.Node):
    _name = "BackwardHookFunctionBackward"

    def __init__(self, tensors, on_grads):
        self._inputs = [_function._edge(t) for t in tensors]  # before taking a sequence number
        self._seq = next(_function._seq)
        self.grads = [None] * len(tensors)
        self._on_grads = on_grads

    def backward(self, placeholder):
        grads, self.grads = self.grads, [None] * len(self.grads)
        return tuple(self._on_grads(grads))


class BackwardHookFunctionBackward(_function.Node):
    _name = "BackwardHookFunctionBackward"

    def __init__(self, gather, index, inplace_error):
        self._gather, self._index = gather, index
        self._inputs = ((gather, _PLACEHOLDER.shape, _PLACEHOLDER.dtype),)
        self._inplace_error = inplace_error  # why the tensor may not be modified in place
        self._seq = next(_function._seq)

    @property
    def next_functions(self):
        return self._gather.next_functions  # PyTorch's one node leads to every wrapped tensor's history

    def backward(self, grad):
        self._gather.grads[self._index] = grad
        return _PLACEHOLDER


def _wrap(tensors, on_grads):
    """Identity on `tensors`, the ones requiring grad recorded as one group."""
    gather = _Gather(tensors, on_grads)
    message = _MULTI_VIEW_INPLACE if sum(t._rg for t in tensors) > 1 else _VIEW_INPLACE
    out = []
    for i, t in enumerate(tensors):
        if t._rg:
            w = Tensor._make(t._data, True)
            w._vc = t._vc  # shares memory and version counter, like a view
            w.grad_fn = BackwardHookFunctionBackward(gather, i, message.format(i))
            t = w
        out.append(t)
    return out


def _type_of(dtype):
    return Tensor._make(np.zeros((), dtype)).type()


def _checked(value, shape, dtype):
    """A gradient returned by a hook, as an array, after PyTorch's checks."""
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(value).__name__}'")
    if value._data.shape != shape:
        raise RuntimeError("hook 'hook' has changed the size of value")
    if value._data.dtype != dtype:
        raise RuntimeError(
            f"hook 'hook' has changed the type of value (was {_type_of(dtype)} got {value.type()})"
        )
    return value._data


class BackwardHook:
    """The backward hooks of one module call: wraps its inputs and outputs, then runs
    the pre-hooks when grad_output is known and the full hooks when grad_input is."""

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.inputs = None  # (position, shape, dtype, requires_grad) of each Tensor argument; None: none requires grad

    def setup_input_hook(self, args):
        self.n_inputs = len(args)
        where = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in where]
        if not (grad_mode.enabled and any(t._rg for t in tensors)):
            return args
        self.inputs = [(i, t._data.shape, t._data.dtype, t._rg) for i, t in zip(where, tensors)]
        args = list(args)
        for i, t in zip(where, _wrap(tensors, self._input_grads)):
            args[i] = t
        return tuple(args)

    def setup_output_hook(self, result):
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        where = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]
        tensors = [outs[i] for i in where]
        if not (grad_mode.enabled and any(t._rg for t in tensors)):
            return result
        self.n_outputs = len(outs)
        self.outputs = [(i, t._data.shape, t._data.dtype, t._rg) for i, t in zip(where, tensors)]
        outs = list(outs)
        for i, t in zip(where, _wrap(tensors, self._output_grads)):
            outs[i] = t
        if single:
            return outs[0]
        return tuple(outs) if type(result) is tuple else type(result)(*outs)

    def _output_grads(self, grads):
        grad_outputs = [None] * self.n_outputs
        for (i, *_), g in zip(self.outputs, grads):
            if g is not None:
                grad_outputs[i] = Tensor._make(g)
        grad_outputs = tuple(grad_outputs)
        for hook in self.pre_hooks:
            result = hook(self.module, grad_outputs)
            if result is None:
                continue
            if len(result) != len(grad_outputs):
                raise RuntimeError(
                    "Backward pre hook returned an invalid number of grad_output, "
                    f"got {len(result)}, but expected {len(grad_outputs)}"
                )
            grad_outputs = result
        self.grad_outputs = grad_outputs
        if self.inputs is None:  # no input requires grad: the full hooks run now
            warnings.warn(
                "no input of this module requires a gradient, so its full backward hooks run as soon as the "
                "gradients of its outputs are known, with grad_input all None"
            )
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError(
                        "a full backward hook on a module none of whose inputs requires a gradient has no "
                        "grad_input to replace: it must return None (or a tuple of Nones)"
                    )
            self.grad_outputs = None
        return [_checked(grad_outputs[i], shape, dtype) if rg else None for i, shape, dtype, rg in self.outputs]

    def _input_grads(self, grads):
        # like PyTorch, an input reached by no gradient gets zeros
        grads = [np.zeros(shape, dtype) if g is None else g for g, (_, shape, dtype, _) in zip(grads, self.inputs)]
        if self.grad_outputs is None:  # the gradient did not come through the module's outputs
            return [g if rg else None for g, (*_, rg) in zip(grads, self.inputs)]
        grad_inputs = [None] * self.n_inputs
        for (i, *_), g in zip(self.inputs, grads):
            grad_inputs[i] = Tensor._make(g)
        grad_inputs = tuple(grad_inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is None:
                continue
            if len(result) != len(grad_inputs):
                raise RuntimeError(
                    "Backward hook returned an invalid number of grad_input, "
                    f"got {len(result)}, but expected {len(grad_inputs)}"
                )
            grad_inputs = result
        self.grad_outputs = None
        return [_checked(grad_inputs[i], shape, dtype) if rg else None for i, shape, dtype, rg in self.inputs]
