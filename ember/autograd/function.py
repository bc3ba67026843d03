"""Function: an op defined once, forward and gradient rule side by side.

An op subclasses Function and writes `forward(self, *arrays)` and
`backward(self, grad)` on NumPy arrays; `self` is the node recorded in the
graph (PyTorch's ctx), named like PyTorch's (`MulBackward0`). `apply` wraps
Tensors around it: it unwraps inputs, runs forward, and records a node only when
grad mode is on and some input requires grad.

Node._inputs holds one entry per positional argument of forward:
  False          the argument is not a Tensor (a Python number, a shape, ...)
  None           a Tensor that needs no gradient
  (node, shape, numpy dtype)  where the gradient goes, and the shape/dtype the
                 engine reduces it to (ops return gradients in broadcast shape).
"""
import itertools
import sys

import numpy as np

from . import grad_mode

_seq = itertools.count()


class Node:
    """A recorded backward step. Subclasses set `_name` or get `<Class>Backward0`."""

    _name = "Node"
    _inputs = ()
    _saved = ()
    _saved_versions = None
    _freed = False
    _pre_hooks = None
    _retains = None  # weakrefs to non-leaf tensors that called retain_grad()
    _inplace_error = None  # set where the node's output may not be modified in place: the message
    _seq = 0

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "_name" not in cls.__dict__:
            cls._name = cls.__name__ + "Backward0"

    def name(self):
        return self._name

    def __repr__(self):
        return f"<{self._name} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        return tuple((None if e is None else e[0], 0) for e in self._inputs if e is not False)

    @property
    def needs_input_grad(self):
        return tuple(type(e) is tuple for e in self._inputs)

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward."
            )
        if self._saved_versions:
            for counter, version, arr, where in self._saved_versions:
                if counter[0] != version:
                    which = f", which is output 0 of {where}," if where else ""
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been modified "
                        f"by an inplace operation: [{_type_name(arr)} {list(arr.shape)}]{which} "
                        f"is at version {counter[0]}; expected version {version} instead. Hint: "
                        "the operation that failed to compute its gradient is the one named above."
                    )
        return self._saved

    def release(self):
        """Drops saved arrays after a backward that does not retain the graph."""
        if self._saved:
            self._saved = ()
            self._freed = True
            self._saved_versions = None

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) after this node ran; kept for API parity."""
        raise NotImplementedError("Node.register_hook is not supported; use Tensor.register_hook")

    def register_prehook(self, fn):
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(fn)
        return _RemovableHandle(self._pre_hooks, fn)


class _RemovableHandle:
    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class AccumulateGrad(Node):
    """The node of a leaf tensor that requires grad: sums incoming gradients into .grad."""

    _name = "AccumulateGrad"
    _post_hooks = None  # hook(leaf) after each accumulation: Tensor.register_post_accumulate_grad_hook

    def __init__(self, leaf):
        import weakref

        self._leaf = weakref.ref(leaf)
        self._seq = next(_seq)

    @property
    def variable(self):
        return self._leaf()

    def name(self):
        return "torch::autograd::AccumulateGrad"  # PyTorch's name() differs from its repr here

    def accumulate(self, g):
        leaf = self._leaf()
        if leaf is None:
            return
        if leaf._grad is None:
            # Keep the array itself only when nothing else can see it (the engine's and
            # this frame's references, plus getrefcount's own); otherwise store a copy,
            # since an op may hand the same gradient array to several inputs.
            base = g.base
            if base is None:
                owned = g.flags.writeable and sys.getrefcount(g) <= 3
            else:
                # A view covering all of its base in the base's own layout (the transposed-back
                # weight gradient of x @ w.t()) may hand over the base, if only this view holds
                # it (the view's and this frame's references, plus getrefcount's own).
                owned = (
                    type(base) is np.ndarray and base.base is None and base.shape == g.shape
                    and base.strides == g.strides and base.dtype == g.dtype and base.flags.writeable
                    and sys.getrefcount(g) <= 3 and sys.getrefcount(base) <= 3
                )
                if owned:
                    g = base
            leaf._grad = leaf._new_detached(g if owned else g.copy())
        else:
            leaf._grad._data += g
            leaf._grad._vc[0] += 1


class Function(Node):
    """Base class of ember's ops. Subclasses define forward/backward on arrays."""

    is_view = False  # True for ops whose output shares memory with input 0
    differentiable = True  # False for ops with integer/bool results (comparisons, argmax)

    def forward(self, *args):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        # The hot path of every op: one pass over the arguments, Tensor._make and _edge
        # inlined (a Python call costs about as much as a small NumPy op).
        Tensor = _tensor_cls
        record = False
        arrays = []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                if a._rg:
                    record = True
            else:
                arrays.append(a)
        node = cls()
        out = node.forward(*arrays, **kwargs)
        extra = None
        if type(out) is tuple:  # (differentiable output, non-differentiable extras...)
            out, extra = out[0], out[1:]
        if type(out) is not _ndarray:
            out = _asarray(out)
        result = _new_object(Tensor)
        result._data = out
        result._rg = False
        result.grad_fn = None
        result._grad = None
        result._base = None
        result._accum = None
        if cls.is_view:
            src = args[0]
            result._vc = src._vc
            if src._base is None:
                result._base = src
                result._view_chain = ((cls, args[1:], kwargs),)
            else:
                result._base = src._base
                result._view_chain = src._view_chain + ((cls, args[1:], kwargs),)
        else:
            result._vc = [0]
            result._view_chain = ()
        if record and grad_mode.enabled and cls.differentiable:
            result._rg = True
            result.grad_fn = node
            node._seq = next(_seq)
            inputs = []
            for a in args:
                if not isinstance(a, Tensor):
                    inputs.append(False)
                elif a._rg:  # _edge(a)
                    prev = a.grad_fn
                    if prev is None:
                        prev = a._accum if a._accum is not None else a._accumulate_node()
                    d = a._data
                    inputs.append((prev, d.shape, d.dtype))
                else:
                    inputs.append(None)
            node._inputs = inputs
            if node._saved:
                node._saved_versions = _saved_versions(node._saved, args, result)
        if extra is not None:
            return (result,) + tuple(Tensor._make(e, False) for e in extra)
        return result


    @classmethod
    def apply_(cls, self, *args, **kwargs):
        """The in-place form: self <- op(self, *args), with PyTorch's autograd rules.

        With a graph to record, the op runs out of place on a copy of self (so the
        arrays it saves stay intact) and self takes over its node. On a view, the
        base's history is rewritten through a CopySlices node, as in PyTorch.
        """
        Tensor = _tensor_cls
        record = grad_mode.enabled and cls.differentiable and (
            self._rg or any(isinstance(a, Tensor) and a._rg for a in args)
        )
        if not record:
            arrays = [a._data if isinstance(a, Tensor) else a for a in args]
            _write(self, cls().forward(self._data, *arrays, **kwargs), cls)
            return self
        if self.grad_fn is None and self._rg:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if self.grad_fn is not None and self.grad_fn._inplace_error is not None:
            raise RuntimeError(self.grad_fn._inplace_error)
        base = self._base
        if base is not None and base.grad_fn is None and base._rg:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place operation."
            )
        snapshot = Tensor._make(self._data.copy(), self._rg)
        snapshot.grad_fn = self.grad_fn
        out = cls.apply(snapshot, *args, **kwargs)
        _write(self, out._data, cls)
        if base is None:
            self.grad_fn = out.grad_fn
        else:
            base.grad_fn = CopySlices(base, self._view_chain, out.grad_fn)
            base._rg = True
            self.grad_fn = ViewOfBase(base, self._view_chain, self._data.shape)
        self._rg = True
        return self


def _write(t, arr, cls):
    """Store an op's result into t's memory, with PyTorch's casting and shape rules."""
    dst = t._data
    if arr.shape != dst.shape:
        raise RuntimeError(
            f"output with shape {list(dst.shape)} doesn't match the broadcast shape {list(arr.shape)}"
        )
    if arr.dtype != dst.dtype:
        from .._dtype import can_cast, from_numpy_dtype

        src_d, dst_d = from_numpy_dtype(arr.dtype), from_numpy_dtype(dst.dtype)
        if not can_cast(src_d, dst_d):
            raise RuntimeError(
                f"result type {_type_word(src_d)} can't be cast to the desired output type {_type_word(dst_d)}"
            )
    if not dst.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation."
        )
    dst[...] = arr
    t._vc[0] += 1


def _type_word(d):
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
            "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}[d.name]


def _replay_view(chain, arr):
    """Apply a recorded chain of view ops to another array of the base's shape."""
    Tensor = _tensor_cls
    for cls, rest, kwargs in chain:
        rest = [a._data if isinstance(a, Tensor) else a for a in rest]
        arr = cls().forward(arr, *rest, **kwargs)
    return arr


class CopySlices(Node):
    """The base's node after an in-place op on one of its views."""

    _name = "CopySlices"

    def __init__(self, base, chain, op_node):
        self._seq = next(_seq)
        self._chain = chain
        self._op = op_node
        self._view_shape = op_node._inputs[0][1] if op_node._inputs[0] else None
        self._inputs = [_edge(base)] + list(op_node._inputs[1:])

    def backward(self, grad):
        from .engine import unbroadcast

        grad = grad.copy()
        region = _replay_view(self._chain, grad)
        grads = self._op.backward(region.copy())
        if type(grads) is not tuple:
            grads = (grads,)
        g_self = grads[0]
        if g_self is None:
            region[...] = 0
        else:
            region[...] = unbroadcast(g_self, region.shape)
        return (grad,) + tuple(grads[1:])

    def release(self):
        self._op.release()


class ViewOfBase(Node):
    """A view's node after its base was rewritten by an in-place op."""

    _name = "AsStridedBackward0"

    def __init__(self, base, chain, shape):
        self._seq = next(_seq)
        self._chain = chain
        self._inputs = [_edge(base)]

    def backward(self, grad):
        shape, dtype = self._inputs[0][1], self._inputs[0][2]
        out = np.zeros(shape, dtype)
        _replay_view(self._chain, out)[...] = grad
        return out


def _edge(t):
    if not t._rg:
        return None
    node = t.grad_fn
    if node is None:
        node = t._accumulate_node()
    return (node, t._data.shape, t._data.dtype)


def _saved_versions(saved, args, result):
    """Remember the version of every Tensor whose array was saved, to catch in-place edits."""
    found = []
    for arr in saved:
        if arr is None:
            continue
        if arr is result._data:
            found.append((result._vc, result._vc[0], arr, result.grad_fn._name))
            continue
        for a in args:
            if isinstance(a, _tensor_cls) and a._data is arr:
                found.append((a._vc, a._vc[0], arr, a.grad_fn._name if a.grad_fn else None))
                break
    return found


def _type_name(arr):
    from .._dtype import from_numpy_dtype

    return from_numpy_dtype(arr.dtype).legacy

_tensor_cls = None  # set by ember._tensor to break the import cycle
_ndarray, _asarray, _new_object = np.ndarray, np.asarray, object.__new__
