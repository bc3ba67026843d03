"""Tensor: a NumPy array with autograd history.

Fields (slots, for fast access on the hot path):
  _data        the ndarray; views share memory with their base like PyTorch views
  _rg          requires_grad
  grad_fn      the Node that made it (None for leaves)
  _grad        the accumulated gradient Tensor or None
  _vc          version counter, a one-item list shared by a tensor and its views
  _base, _view_chain   for views: the tensor owning the memory, and how to re-apply
               the view to another array (needed for in-place ops on views)
  _accum       the AccumulateGrad node of a leaf, created on first use
"""
import numpy as np

from . import _dtype
from ._tensor_str import format_tensor
from .autograd import function as _function
from .autograd import grad_mode
from .autograd.engine import run_backward
from .autograd.function import AccumulateGrad


class Size(tuple):
    """torch.Size: a tuple of dimension lengths."""

    def __repr__(self):
        return f"torch.Size({list(self)})"

    __str__ = __repr__

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, i):
        out = tuple.__getitem__(self, i)
        return Size(out) if isinstance(i, slice) else out

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))


class device:
    """Where a tensor lives; ember computes on the CPU only."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        name = str(type)
        if ":" in name:
            name, idx = name.split(":", 1)
            index = int(idx)
        if name != "cpu":
            raise RuntimeError(
                f"ember computes on the CPU only; device '{type}' is not available "
                "(use device='cpu' or leave the device out)"
            )
        self.type, self.index = name, index

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self):
        return hash(self.type)


CPU = device("cpu")


def _check_device(dev):
    if dev is not None and not (dev is CPU):
        device(dev)


class Tensor:
    __slots__ = ("_data", "_rg", "grad_fn", "_grad", "_vc", "_base", "_view_chain", "_accum", "__weakref__", "__dict__")

    # -- construction -------------------------------------------------------------------
    def __init__(self, *args, **kwargs):
        # legacy constructor: Tensor(data) or Tensor(*sizes), default float dtype
        from ._creation import _array_from

        dt = _dtype.get_default_dtype()
        if len(args) == 1 and not isinstance(args[0], int):
            arr = _array_from(args[0], dt)
        else:
            shape = args[0] if len(args) == 1 else args
            arr = np.zeros(tuple(shape), dt.np)
        _init(self, arr, False)

    @staticmethod
    def _make(arr, requires_grad=False):
        """Wrap an ndarray without checks (the hot path of every op)."""
        t = object.__new__(Tensor)
        if type(arr) is not np.ndarray:
            arr = np.asarray(arr)
        t._data = arr
        t._rg = requires_grad
        t.grad_fn = None
        t._grad = None
        t._vc = [0]
        t._base = None
        t._view_chain = ()
        t._accum = None
        return t

    def _new_detached(self, arr):
        return Tensor._make(arr, False)

    # -- autograd attributes ------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a "
                    "computed variable in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach()."
                )
            return
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        if self.grad_fn is not None and self._grad is None and not self._retains_grad():
            import warnings

            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
                "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of size "
                    f"'{list(self.shape)}'. Please ensure that the gradient and the tensor are the same size"
                )
            if value.dtype is not self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{value.dtype.name}' to a tensor with dtype "
                    f"'{self.dtype.name}'. The gradient must match the tensor's dtype"
                )
        self._grad = value

    @property
    def data(self):
        """This tensor's memory without history; edits through it are not tracked."""
        return Tensor._make(self._data, False)

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    def detach(self):
        out = Tensor._make(self._data, False)
        out._vc = self._vc  # shares memory and version counter, like PyTorch
        return out

    def detach_(self):
        if self._base is not None and self._base._rg:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._rg = False
        return self

    def retain_grad(self):
        if self.grad_fn is None:
            if not self._rg:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return  # leaves keep their grad anyway
        import weakref

        node = self.grad_fn
        if node._retains is None:
            node._retains = []
        if not self._retains_grad():
            node._retains.append(weakref.ref(self))

    def _retains_grad(self):
        node = self.grad_fn
        return node is not None and node._retains is not None and any(r() is self for r in node._retains)

    @property
    def retains_grad(self):
        return self._retains_grad()

    def register_hook(self, hook):
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node = self.grad_fn if self.grad_fn is not None else self._accumulate_node()
        return node.register_prehook(hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(tensor) each time backward has accumulated a gradient into this leaf's .grad."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        node = self._accumulate_node()
        if node._post_hooks is None:
            node._post_hooks = []
        node._post_hooks.append(hook)
        from .autograd.function import _RemovableHandle

        return _RemovableHandle(node._post_hooks, hook)

    def _accumulate_node(self):
        if self._accum is None:
            self._accum = AccumulateGrad(self)
        return self._accum

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if gradient is None and inputs is None and not create_graph and self.grad_fn is not None \
                and self._data.size == 1:  # loss.backward(): straight to the engine
            one = np.array(1, self._data.dtype).reshape(self._data.shape)  # ones_like, 2x faster
            run_backward([self.grad_fn], [one], bool(retain_graph))
            return
        from .autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs)

    # -- shape and type -----------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    def dim(self):
        return self._data.ndim

    @property
    def ndim(self):
        return self._data.ndim

    def ndimension(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    nelement = numel

    @property
    def dtype(self):
        return _dtype._BY_NP[self._data.dtype]

    @property
    def device(self):
        return CPU

    @property
    def is_cuda(self):
        return False

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self, memory_format=None):
        return self._data.flags.c_contiguous

    def element_size(self):
        return self._data.itemsize

    def stride(self, dim=None):
        item = self._data.itemsize
        st = tuple(s // item for s in self._data.strides)
        if self._data.flags.c_contiguous:  # NumPy may report odd strides for size-1 dims
            st, acc = [], 1
            for n in reversed(self._data.shape):
                st.append(acc)
                acc *= max(n, 1)
            st = tuple(reversed(st))
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim)]

    @property
    def _version(self):
        return self._vc[0]

    def data_ptr(self):
        return self._data.__array_interface__["data"][0]

    def type(self, dtype=None):
        if dtype is None:
            return self.dtype.legacy
        return self.to(dtype)

    # -- conversion to Python and NumPy -------------------------------------------------
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, force=False):
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def _scalar(self, kind):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return kind(self._data.reshape(()).item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.reshape(()).item())

    def __complex__(self):
        return self._scalar(complex)

    def __hash__(self):
        return id(self)

    def __repr__(self, *, tensor_contents=None):
        name = self.grad_fn._name if self.grad_fn is not None else None
        return format_tensor(
            self._data, self.dtype.name, default_dtype_name=_dtype.get_default_dtype().name,
            requires_grad=self._rg, grad_fn_name=name,
        )

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        return format(repr(self), spec)

    def __reduce_ex__(self, proto):
        return (_rebuild, (self._data.copy(), self._rg))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment."
            )
        out = type(self).__new__(type(self))
        _init(out, self._data.copy(), self._rg)
        if self._grad is not None:
            out._grad = Tensor._make(self._grad._data.copy())
        out.__dict__.update({k: v for k, v in self.__dict__.items()})
        memo[id(self)] = out
        return out


def _rebuild(arr, rg):
    return Tensor._make(arr, rg)


def _init(t, arr, requires_grad):
    t._data = arr
    t._rg = requires_grad
    t.grad_fn = None
    t._grad = None
    t._vc = [0]
    t._base = None
    t._view_chain = ()
    t._accum = None


def _wrap_dim(dim, ndim):
    """A possibly negative dim as an index in range, with PyTorch's error otherwise."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


_function._tensor_cls = Tensor
