"""Factories (tensor, zeros, arange, randn, ...), random generators, dtype casts and
the in-place fill/copy/random ops."""
import numpy as np

from . import _dtype
from ._dtype import get_default_dtype, infer_dtype
from ._tensor import Tensor, _check_device
from .autograd import grad_mode
from .autograd.function import Function
from .ops._util import shape_arg


# -- random generators -----------------------------------------------------------------------
class Generator:
    """A seeded random stream (NumPy's PCG64). Streams are reproducible within ember
    but are not the same numbers PyTorch draws."""

    def __init__(self, device="cpu"):
        _check_device(device)
        self.device = device
        self.manual_seed(67280421310721)  # PyTorch's default seed value

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64  # PyTorch accepts negative seeds as their two's complement
        self._seed = seed
        self.np = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy % (1 << 63))
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        st = self.np.bit_generator.state
        words = [st["state"]["state"], st["state"]["inc"]]
        raw = b"".join(w.to_bytes(16, "little") for w in words)
        raw += bytes([st["has_uint32"]]) + int(st["uinteger"]).to_bytes(4, "little")
        raw += self._seed.to_bytes(8, "little")
        return Tensor._make(np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state):
        raw = bytes(np.asarray(new_state._data if isinstance(new_state, Tensor) else new_state, np.uint8))
        if len(raw) != 45:
            raise RuntimeError(f"Generator.set_state: expected a state of 45 bytes, got {len(raw)}")
        state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[0:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32],
            "uinteger": int.from_bytes(raw[33:37], "little"),
        }
        self.np.bit_generator.state = state
        self._seed = int.from_bytes(raw[37:45], "little")
        return self


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (ember's random numbers differ from PyTorch's)."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


def _rng(generator):
    return (generator or default_generator).np


# -- helpers ------------------------------------------------------------------------------
def _resolve(dtype):
    if dtype is None:
        return get_default_dtype()
    if isinstance(dtype, _dtype.dtype):
        return dtype
    return _dtype.from_numpy_dtype(dtype)


def _finish(arr, requires_grad, device=None):
    _check_device(device)
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _array_from(data, dtype=None):
    """A fresh array from Python data, NumPy arrays or Tensors, with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data._data
        return arr.astype(dtype.np) if dtype is not None else arr.copy()
    if isinstance(data, np.ndarray):
        d = dtype or _dtype.from_numpy_dtype(data.dtype)
        return np.array(data, dtype=d.np)
    if isinstance(data, (list, tuple)):
        d = dtype or infer_dtype(data) or get_default_dtype()
        try:
            arr = np.array(_unwrap(data), dtype=d.np)
        except ValueError as e:
            raise ValueError(f"expected sequence of equal-length lists to build a tensor ({e})") from None
        return arr
    if isinstance(data, np.generic):  # NumPy scalars keep their dtype (np.float64 is also a float)
        return np.array(data, dtype=(dtype or _dtype.from_numpy_dtype(data.dtype)).np)
    if isinstance(data, (bool, int, float)):
        d = dtype or infer_dtype(data)
        return np.array(data, dtype=d.np)
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _unwrap(data):
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_unwrap(x) for x in data]
    return data


# -- factories ------------------------------------------------------------------------------
def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of `data` (nested lists, numbers, NumPy arrays)."""
    if isinstance(data, Tensor):
        import warnings

        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() or "
            "sourceTensor.clone().detach().requires_grad_(True), rather than torch.tensor(sourceTensor).",
            UserWarning,
            stacklevel=2,
        )
    return _finish(_array_from(data, dtype and _resolve(dtype)), requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with a NumPy array or Tensor when the dtype allows."""
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype is dtype else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or _resolve(dtype).np == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(ndarray):
    """A tensor sharing memory with `ndarray`."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)  # raises for unsupported dtypes
    return Tensor._make(ndarray)


def _sized(fill):
    def factory(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False,
                memory_format=None):
        d = _resolve(dtype)
        return _finish(fill(shape_arg(size), d.np), requires_grad, device)

    return factory


zeros = _sized(np.zeros)
ones = _sized(np.ones)
empty = _sized(np.empty)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    d = _resolve(dtype) if dtype is not None else infer_dtype(fill_value)
    return _finish(np.full(shape_arg((size,)), fill_value, d.np), requires_grad, device)


def _like(fill):
    def factory(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
        d = dtype or input.dtype
        return _finish(fill(input._data.shape, _resolve(d).np), requires_grad, device)

    return factory


zeros_like = _like(np.zeros)
ones_like = _like(np.ones)
empty_like = _like(np.empty)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    d = _resolve(dtype or input.dtype)
    return _finish(np.full(input._data.shape, fill_value, d.np), requires_grad, device)


def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    vals = [_num(v) for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        d = get_default_dtype() if any(isinstance(v, float) for v in vals) else _dtype.int64
    else:
        d = _resolve(dtype)
    start, end, step = vals
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    n = max(int(np.ceil((end - start) / step)), 0)
    arr = (start + np.arange(n, dtype=np.float64 if d.is_floating_point else np.int64) * step).astype(d.np)
    return _finish(arr, requires_grad, device)


def _num(v):
    return v.item() if isinstance(v, Tensor) else v


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    d = _resolve(dtype)
    start, end = _num(start), _num(end)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    # symmetric construction (from both ends) keeps the last point exactly `end`
    i = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    arr = np.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step)
    if not d.is_floating_point:
        arr = np.trunc(arr)  # integer linspace truncates toward zero
    return _finish(arr.astype(d.np), requires_grad, device)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    lin = linspace(start, end, steps, dtype=_dtype.float64)
    d = _resolve(dtype)
    return _finish((base ** lin._data).astype(d.np), requires_grad, device)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    return _finish(np.eye(n, n if m is None else m, dtype=_resolve(dtype).np), requires_grad, device)


# -- random factories ------------------------------------------------------------------------
def _floats(gen_fn, size, d):
    # PCG64 draws float32/float64 natively; float16 is drawn as float32 then rounded
    native = d.np if d.np in (np.float32, np.float64) else np.float32
    return gen_fn(size, dtype=native).astype(d.np, copy=False)


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    d = _resolve(dtype)
    return _finish(_floats(_rng(generator).random, shape_arg(size), d), requires_grad, device)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    d = _resolve(dtype)
    return _finish(_floats(_rng(generator).standard_normal, shape_arg(size), d), requires_grad, device)


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return rand(input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return randn(input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randint(*args, size=None, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """randint(high, size) or randint(low, high, size)."""
    args = list(args)
    if size is None:
        size = args.pop()
    low, high = (0, args[0]) if len(args) == 1 else args
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    d = _resolve(dtype) if dtype is not None else _dtype.int64
    arr = _rng(generator).integers(low, high, size=shape_arg((size,)), dtype=np.int64).astype(d.np)
    return _finish(arr, requires_grad, device)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, input._data.shape, dtype=dtype or input.dtype)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    d = _resolve(dtype) if dtype is not None else _dtype.int64
    return _finish(_rng(generator).permutation(n).astype(d.np), requires_grad, device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    rng = _rng(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        if np.any(np.asarray(s) < 0):
            raise RuntimeError("normal expects all elements of std >= 0.0")
        ref = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        z = _floats(rng.standard_normal, shape, ref.dtype)
        return _finish((m + s * z).astype(ref._data.dtype), requires_grad, device)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    d = _resolve(dtype)
    z = _floats(rng.standard_normal, shape_arg((size,)) if size is not None else (), d)
    return _finish((mean + std * z).astype(d.np), requires_grad, device)


def bernoulli(input, p=None, *, generator=None):
    probs = input._data if p is None else np.full(input._data.shape, p)
    return Tensor._make((_rng(generator).random(input._data.shape) < probs).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None):
    rng = _rng(generator)
    probs = np.atleast_2d(input._data.astype(np.float64))
    rows = []
    for p in probs:
        rows.append(rng.choice(p.size, size=num_samples, replace=replacement, p=p / p.sum()))
    out = np.array(rows, dtype=np.int64)
    return Tensor._make(out if input._data.ndim == 2 else out[0])


# -- casts ------------------------------------------------------------------------------------
class ToCopy(Function):
    def forward(self, x, dtype):
        return x.astype(dtype)

    def backward(self, g):
        return g  # the engine casts the gradient back to the input's dtype


def _parse_to(args, kwargs):
    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    for a in args:
        if isinstance(a, _dtype.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, bool):
            pass  # non_blocking / copy positional flags
        elif a is not None:
            dev = a
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    _check_device(dev)
    return dtype, copy


def to(self, *args, **kwargs):
    dtype, copy = _parse_to(args, kwargs)
    if dtype is None or dtype is self.dtype:
        return self.clone() if copy else self
    if dtype.is_floating_point:
        return ToCopy.apply(self, dtype.np)
    return Tensor._make(self._data.astype(dtype.np))  # integer results carry no gradient


# -- in-place fills -----------------------------------------------------------------------------
class Fill(Function):
    """x.fill_(value) and the random fills: the old values get no gradient."""

    def forward(self, x, value):
        return np.broadcast_to(np.asarray(value, dtype=x.dtype), x.shape).copy()

    def backward(self, g):
        return g * 0, (g.sum() if self._inputs[1] else None)


class Copy(Function):
    def forward(self, x, src):
        self.src_dtype = getattr(src, "dtype", None)
        return np.broadcast_to(src, x.shape).astype(x.dtype)

    def backward(self, g):
        return g * 0, g


def fill_(self, value):
    return Fill.apply_(self, value)


def zero_(self):
    return Fill.apply_(self, 0)


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        src = tensor(src)
    try:
        np.broadcast_shapes(src._data.shape, self._data.shape)
    except ValueError:
        raise RuntimeError(
            f"The size of tensor a ({self._data.shape[-1] if self._data.ndim else 1}) must match the size of "
            f"tensor b ({src._data.shape[-1] if src._data.ndim else 1}) at non-singleton dimension "
            f"{max(self._data.ndim - 1, 0)}"
        ) from None
    return Copy.apply_(self, src)


def _random_fill(self, arr):
    return Fill.apply_(self, arr)


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    rng = _rng(generator)
    arr = a + (b - a) * _floats(rng.random, self._data.shape, _dtype.float64 if self._data.dtype == np.float64 else _dtype.float32)
    return _random_fill(self, arr)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    rng = _rng(generator)
    z = _floats(rng.standard_normal, self._data.shape, _dtype.float64 if self._data.dtype == np.float64 else _dtype.float32)
    return _random_fill(self, mean + std * z)


def bernoulli_(self, p=0.5, *, generator=None):
    return _random_fill(self, _rng(generator).random(self._data.shape) < p)


def random_(self, from_=0, to=None, *, generator=None):
    if to is None:
        from_, to = 0, from_ if from_ else 2 ** 24
    return _random_fill(self, _rng(generator).integers(from_, to, self._data.shape))


def exponential_(self, lambd=1.0, *, generator=None):
    return _random_fill(self, _rng(generator).exponential(1.0 / lambd, self._data.shape))


