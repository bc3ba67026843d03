"""ember.autograd: backward(), grad(), grad modes and gradcheck."""
import numpy as np

from .function import Function, Node
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .engine import run_backward


def _tensor_cls():
    from .._tensor import Tensor

    return Tensor


def _root(t, i):
    if t.grad_fn is not None:
        return t.grad_fn
    if t._rg:
        return t._accumulate_node()
    raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")


def _initial_grads(outputs, grad_outputs):
    Tensor = _tensor_cls()
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            grads.append(np.ones_like(out._data))
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"gradient must be a Tensor or None, got {type(g).__name__}")
        if g.shape != out.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] has a shape of {out.shape}."
            )
        arr = g._data
        grads.append(arr if arr.dtype == out._data.dtype else arr.astype(out._data.dtype))
    return grads


def _as_tuple(x):
    Tensor = _tensor_cls()
    return (x,) if isinstance(x, Tensor) else tuple(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into the .grad of every leaf that requires grad."""
    if create_graph:
        raise NotImplementedError("ember does not support higher-order gradients (create_graph=True)")
    tensors = _as_tuple(tensors)
    grads = _initial_grads(tensors, grad_tensors)
    roots = [_root(t, i) for i, t in enumerate(tensors)]
    if inputs is None:
        run_backward(roots, grads, bool(retain_graph))
        return
    inputs = _as_tuple(inputs)
    found = grad(tensors, inputs, grad_tensors, retain_graph, allow_unused=True)
    for t, g in zip(inputs, found):
        if g is None:
            continue
        if t._grad is None:
            t._grad = t._new_detached(g._data.copy())
        else:
            t._grad._data += g._data


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of outputs with respect to inputs, returned instead of accumulated."""
    if create_graph:
        raise NotImplementedError("ember does not support higher-order gradients (create_graph=True)")
    if is_grads_batched:
        raise NotImplementedError("is_grads_batched=True is not supported by ember")
    Tensor = _tensor_cls()
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grads = _initial_grads(outputs, grad_outputs)
    roots = [_root(t, i) for i, t in enumerate(outputs)]
    capture, slots = {}, []
    for t in inputs:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        node = t.grad_fn if t.grad_fn is not None else t._accumulate_node()
        slots.append(capture.setdefault(node, len(capture)))
    captured = run_backward(roots, grads, bool(retain_graph), capture=capture)
    result = []
    for t, slot in zip(inputs, slots):
        g = captured[slot]
        if g is None:
            if materialize_grads:
                g = t._data * 0
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        result.append(None if g is None else Tensor._make(g))
    return tuple(result)


__all__ = ["Function", "Node", "backward", "grad", "gradcheck", "GradcheckError", "no_grad", "enable_grad",
           "set_grad_enabled", "inference_mode", "is_grad_enabled"]
