"""Activation functions of torch.nn.functional.

Each PyTorch activation with a backward node of its own (EluBackward0, GeluBackward0, ...)
is one Function here; softsign, tanhshrink and softmin are composites, as in PyTorch.
`inplace=True` runs the op through Function.apply_, which writes the result into the
input and records the node like PyTorch's in-place form (some of those are named
`...Backward1`, hence the small `...Inplace` subclasses).
"""
import warnings

from .. import kernels as K
from ..autograd.function import Function
from . import elementwise as E
from . import reduce as R
from ._util import wrap_dim

# SELU's constants (Klambauer et al., 2017)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SIXTH = float(K.float32(1 / 6))


def _floating(input, name, dtype=None):
    """The kernels below compute in the input's float dtype; PyTorch has no integer versions."""
    d = input.dtype if dtype is None else dtype
    if not d.is_floating_point:
        raise NotImplementedError(f"\"{name}\" not implemented for '{d.legacy[6:-6]}'")


def _call(cls, inplace_cls, inplace, input, *args):
    return inplace_cls.apply_(input, *args) if inplace else cls.apply(input, *args)


# -- piecewise linear -------------------------------------------------------------------
class Hardtanh(Function):
    def forward(self, x, min_val, max_val):
        out = K.clip(x, min_val, max_val).astype(x.dtype, copy=False)  # integer tensors stay integer
        self.save_for_backward(out)
        self.min_val, self.max_val = min_val, max_val
        return out

    def backward(self, g):
        # NOTE: the output equals the bound wherever x was at or past it, so the output
        # gives PyTorch's strict min < x < max mask (zero gradient at the bounds)
        (out,) = self.saved_tensors
        return g * ((out > self.min_val) & (out < self.max_val))


class LeakyRelu(Function):
    def forward(self, x, negative_slope):
        self.save_for_backward(x)
        self.slope = negative_slope
        return K.where(x > 0, x, x * negative_slope)

    def backward(self, g):
        (x,) = self.saved_tensors
        return K.where(x > 0, g, g * self.slope)


class LeakyReluInplace(LeakyRelu):
    _name = "LeakyReluBackward1"

    def backward(self, g):
        if self.slope < 0:
            # PyTorch's in-place node sees only the output, which a negative slope makes ambiguous
            raise RuntimeError(
                "In-place leakyReLu backward calculation is triggered with a negative slope which is not "
                "supported. Call the out-of-place version (inplace=False) instead."
            )
        return super().backward(g)


class Threshold(Function):
    def forward(self, x, threshold, value):
        self.save_for_backward(x)
        self.threshold = threshold
        return K.where(x > threshold, x, K.asarray(value, x.dtype))

    def backward(self, g):
        (x,) = self.saved_tensors
        return g * (x > self.threshold)


class ThresholdInplace(Threshold):
    _name = "ThresholdBackward1"


class PreluKernel(Function):
    """where(x > 0, x, weight * x), weight holding one slope or one per channel (dim 1)."""

    def forward(self, x, weight):
        w = weight
        if weight.size > 1:
            w = weight.reshape((-1,) + (1,) * (x.ndim - 2))
        elif weight.ndim:
            w = weight.reshape(())
        self.save_for_backward(x, w)
        self.weight_shape = weight.shape
        return K.where(x > 0, x, w * x)

    def backward(self, g):
        x, w = self.saved_tensors
        neg = x <= 0
        gx = K.where(neg, g * w, g) if self._inputs[0] else None
        gw = None
        if self._inputs[1]:
            gxw = g * x * neg
            axes = tuple(i for i in range(x.ndim) if not (w.ndim and i == 1))
            gw = K.sum(gxw, axis=axes).reshape(self.weight_shape)
        return gx, gw


# -- exponential family ---------------------------------------------------------------------
class Elu(Function):
    """scale * x for x > 0, else scale * alpha * (exp(input_scale * x) - 1); SELU and CELU too."""

    def forward(self, x, alpha, scale=1.0, input_scale=1.0):
        self.save_for_backward(x)
        self.alpha, self.scale, self.input_scale = alpha, scale, input_scale
        neg = (scale * alpha) * K.expm1(x * input_scale)
        return K.where(x > 0, x * scale, neg).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_tensors
        slope = (self.scale * self.alpha * self.input_scale) * K.exp(x * self.input_scale)
        return g * K.where(x > 0, self.scale, slope).astype(g.dtype, copy=False)


class EluInplace(Elu):
    _name = "EluBackward1"


class Celu(Elu):
    def forward(self, x, alpha):
        return super().forward(x, alpha, 1.0, 1.0 / alpha)


class CeluInplace(Celu):
    _name = "CeluBackward1"


class Gelu(Function):
    def forward(self, x, approximate):
        self.save_for_backward(x)
        self.approximate = approximate
        return K.gelu(x, approximate)

    def backward(self, g):
        (x,) = self.saved_tensors
        return K.gelu_backward(g, x, self.approximate)


class Silu(Function):
    def forward(self, x):
        s = K.sigmoid(x)
        self.save_for_backward(x, s)
        return x * s

    def backward(self, g):
        x, s = self.saved_tensors
        return g * s * (1 + x * (1 - s))


class Mish(Function):
    """x * tanh(softplus(x))."""

    def forward(self, x):
        t = K.tanh(K.softplus(x))
        self.save_for_backward(x, t)
        return x * t

    def backward(self, g):
        x, t = self.saved_tensors
        return g * (t + x * K.sigmoid(x) * (1 - t * t))


class Hardswish(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * K.clip(x + 3, 0, 6) / 6

    def backward(self, g):
        (x,) = self.saved_tensors
        slope = K.where(x <= -3, 0, K.where(x >= 3, 1, (2 * x + 3) / 6))
        return g * slope.astype(g.dtype, copy=False)


class Hardsigmoid(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return K.clip(x + 3, 0, 6) / 6

    def backward(self, g):
        (x,) = self.saved_tensors
        # NOTE: PyTorch's slope is 1/6 rounded to float32, in float64 too
        return g * ((x > -3) & (x < 3)) * _SIXTH


class Softplus(Function):
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""

    def forward(self, x, beta, threshold):
        z = x * beta
        self.save_for_backward(z)
        self.threshold = threshold
        return K.where(z > threshold, x, K.softplus(z) / beta).astype(x.dtype, copy=False)

    def backward(self, g):
        (z,) = self.saved_tensors
        return K.where(z > self.threshold, g, g * K.sigmoid(z))


class LogSigmoid(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return -K.softplus(-x)

    def backward(self, g):
        (x,) = self.saved_tensors
        return g * K.sigmoid(-x)


class Glu(Function):
    """a * sigmoid(b), where a and b are the two halves of x along dim."""

    def forward(self, x, dim):
        axis = wrap_dim(dim, x.ndim)
        n = x.shape[axis]
        if n % 2:
            raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size {n}")
        lead = (slice(None),) * axis
        a, b = x[lead + (slice(0, n // 2),)], x[lead + (slice(n // 2, n),)]
        s = K.sigmoid(b)
        self.save_for_backward(a, s)
        self.axis = axis
        return a * s

    def backward(self, g):
        a, s = self.saved_tensors
        return K.concatenate([g * s, g * a * s * (1 - s)], axis=self.axis)


# -- functional forms ---------------------------------------------------------------------------
def relu(input, inplace=False):
    return E.Relu.apply_(input) if inplace else E.Relu.apply(input)


def relu_(input):
    return E.Relu.apply_(input)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _call(Hardtanh, Hardtanh, inplace, input, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    _floating(input, "leaky_relu_cpu")
    return _call(LeakyRelu, LeakyReluInplace, inplace, input, negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def threshold(input, threshold, value, inplace=False):
    return _call(Threshold, ThresholdInplace, inplace, input, threshold, value)


def threshold_(input, threshold, value):
    return _call(Threshold, ThresholdInplace, True, input, threshold, value)


def prelu(input, weight):
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(
            "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
            f"{weight.numel()} and channel size = {channels}."
        )
    if weight.dtype != input.dtype:
        raise RuntimeError(
            f"prelu: Type promoting not supported. Got {input.dtype.legacy[6:-6]} and {weight.dtype.legacy[6:-6]}"
        )
    return PreluKernel.apply(input, weight)


def elu(input, alpha=1.0, inplace=False):
    _floating(input, "elu_cpu")
    return _call(Elu, EluInplace, inplace, input, alpha)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    _floating(input, "elu_cpu")
    return _call(Elu, EluInplace, inplace, input, _SELU_ALPHA, _SELU_SCALE)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    _floating(input, "elu_cpu")
    return _call(Celu, CeluInplace, inplace, input, alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    _floating(input, "GeluKernelImpl")
    return Gelu.apply(input, approximate)


def silu(input, inplace=False):
    _floating(input, "silu_cpu")
    return _call(Silu, Silu, inplace, input)


def mish(input, inplace=False):
    _floating(input, "mish_cpu")
    return _call(Mish, Mish, inplace, input)


def hardswish(input, inplace=False):
    _floating(input, "hardswish_cpu")
    return _call(Hardswish, Hardswish, inplace, input)


def hardsigmoid(input, inplace=False):
    _floating(input, "hardsigmoid_cpu")
    return _call(Hardsigmoid, Hardsigmoid, inplace, input)


def softplus(input, beta=1.0, threshold=20.0):
    _floating(input, "softplus_cpu")
    return Softplus.apply(input, beta, threshold)


def logsigmoid(input):
    _floating(input, "log_sigmoid_cpu")
    return LogSigmoid.apply(input)


def softsign(input):
    return input / (1 + input.abs())


def tanhshrink(input):
    return input - input.tanh()


sigmoid = E.sigmoid
tanh = E.tanh


def glu(input, dim=-1):
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    return Glu.apply(input, dim)


def _implicit_dim(name, ndim):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an "
        "argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_dim("softmax", input.ndim)
    _floating(input, "softmax_lastdim_kernel_impl", dtype)
    return R.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_dim("log_softmax", input.ndim)
    _floating(input, "log_softmax_lastdim_kernel_impl", dtype)
    return R.log_softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_dim("softmin", input.ndim)
    _floating(input, "softmax_lastdim_kernel_impl", dtype)
    return R.softmax(-input, dim, dtype=dtype)
