"""Parameter: a Tensor that a Module registers as learnable when assigned to it."""
from .._creation import empty
from .._tensor import Tensor, _init


class Parameter(Tensor):
    """A leaf tensor sharing `data`'s memory (and version counter), requiring grad by default.

    Results of ops on a Parameter are plain Tensors; only the object itself is a Parameter.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a Tensor as data, got {type(data).__name__}")
        if requires_grad and not data.is_floating_point():
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        # a detached alias of `data`: same array, same version counter, no history
        _init(self, data._data, bool(requires_grad))
        self._vc = data._vc

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self._data.copy(), self._rg, dict(self.__dict__)))


def _rebuild_parameter(arr, requires_grad, attrs):
    p = Parameter(Tensor._make(arr), requires_grad)
    p.__dict__.update(attrs)
    return p


class _BufferMeta(type):
    # nn.Buffer(t) returns a plain Tensor with a marker, so isinstance checks the marker
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and getattr(obj, "_is_buffer", False)


class Buffer(metaclass=_BufferMeta):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute.

    `Buffer(t)` is a plain Tensor sharing t's memory; `persistent` decides whether the
    module puts it into state_dict.
    """

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = empty(0)
        t = Tensor._make(data._data, data._rg)
        t._vc = data._vc
        t.persistent = persistent
        t._is_buffer = True
        return t
