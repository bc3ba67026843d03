"""Normalisation: batch_norm, layer_norm, group_norm (fused ops), instance_norm and
local_response_norm (composites), with torch.nn.functional's signatures.

The fused ops save the input (as PyTorch does, so an in-place edit of it before
backward is caught) plus the per-group mean and 1/std, and recompute the
normalised input in backward.
"""
from .. import kernels as K
from ..autograd.function import Function
from ._util import Tensor
from .nn_misc import pad


def _save(node, x, weight, mean, invstd):
    # None is not an array to save: the weight goes last, only when given
    node.save_for_backward(x, mean, invstd, *(() if weight is None else (weight,)))


def _saved(node):
    x, mean, invstd, *weight = node.saved_tensors
    return x, (weight[0] if weight else None), mean, invstd


def _affine(xhat, weight, bias, shape):
    """xhat * weight + bias with the per-feature parameters reshaped to broadcast."""
    out = xhat
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _affine_grads(node, g, xhat, axes, weight_slot):
    """Gradients of weight and bias (positional inputs weight_slot, weight_slot+1)."""
    need = node._inputs
    gw = K.sum(g * xhat, axis=axes) if need[weight_slot] else None
    gb = K.sum(g, axis=axes) if need[weight_slot + 1] else None
    return gw, gb


class NativeBatchNorm(Function):
    """Statistics per channel (dim 1) over the batch and spatial dims.

    Returns (output, batch mean, biased batch variance); the extras feed the running
    statistics (in eval mode they are the running statistics themselves). The kernels do
    the whole op per channel (kernels/nn.py batch_norm_forward/backward).
    """

    def forward(self, x, weight, bias, running_mean, running_var, training, eps):
        out, mean, var, invstd = K.batch_norm_forward(x, weight, bias, running_mean, running_var, training, eps)
        _save(self, x, weight, mean, invstd)
        self.training = training
        return out, mean, var

    def backward(self, g):
        x, weight, mean, invstd = _saved(self)
        return K.batch_norm_backward(g, x, weight, mean, invstd, self.training,
                                    tuple(bool(e) for e in self._inputs[:3])) + (None,) * 4


class NativeLayerNorm(Function):
    """Statistics per sample over the last `n` dims."""

    def forward(self, x, weight, bias, n, eps):
        axes = tuple(range(x.ndim - n, x.ndim))
        mean, var = K.moments(x, axes)
        invstd = (1 / K.sqrt(var + eps)).astype(x.dtype, copy=False)
        _save(self, x, weight, mean, invstd)
        self.axes, self.n = axes, n
        return _affine((x - mean) * invstd, weight, bias, x.shape[x.ndim - n:])

    def backward(self, g):
        x, weight, mean, invstd = _saved(self)
        xhat = (x - mean) * invstd
        gx = None
        if self._inputs[0]:
            gxhat = g if weight is None else g * weight
            gx = K.normalize_backward(gxhat, xhat, invstd, self.axes)
        gw, gb = _affine_grads(self, g, xhat, tuple(range(x.ndim - self.n)), 1)
        return gx, gw, gb, None, None


class NativeGroupNorm(Function):
    """Statistics per sample and group of channels; weight and bias per channel."""

    def forward(self, x, weight, bias, groups, eps):
        grouped = x.reshape(x.shape[0], groups, -1)
        mean, var = K.moments(grouped, (2,))
        invstd = (1 / K.sqrt(var + eps)).astype(x.dtype, copy=False)
        _save(self, x, weight, mean, invstd)
        self.groups = groups
        self.shape = (1, -1) + (1,) * (x.ndim - 2)
        xhat = ((grouped - mean) * invstd).reshape(x.shape)
        return _affine(xhat, weight, bias, self.shape)

    def backward(self, g):
        x, weight, mean, invstd = _saved(self)
        grouped = x.reshape(x.shape[0], self.groups, -1)
        xhat = (grouped - mean) * invstd
        gx = None
        if self._inputs[0]:
            gxhat = g if weight is None else g * weight.reshape(self.shape)
            gxhat = gxhat.reshape(grouped.shape)
            gx = K.normalize_backward(gxhat, xhat, invstd, (2,)).reshape(x.shape)
        xhat = xhat.reshape(x.shape)
        gw, gb = _affine_grads(self, g, xhat, (0,) + tuple(range(2, x.ndim)), 1)
        return gx, gw, gb, None, None


# -- checks ---------------------------------------------------------------------------------
def _check_dtypes(input, *params):
    for p in params:
        if p is not None and p._data.dtype != input._data.dtype:
            if input._data.dtype == K.float32:
                raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _check_batch_size(size):
    if _numel(size[:1] + size[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def _update_running(stat, batch_value, momentum):
    """stat <- (1 - momentum) * stat + momentum * batch_value, in place (bumps its version)."""
    stat._data[...] = stat._data * (1 - momentum) + batch_value * momentum
    stat._vc[0] += 1


# -- functional API ---------------------------------------------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-05):
    size = input.size()
    if training:
        if input.dim() < 2:
            raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got 1)")
        _check_batch_size(size)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    if not training and running_mean is None:
        raise RuntimeError("running_mean must be defined in evaluation mode")
    if not isinstance(momentum, (int, float)):
        raise TypeError(
            f"batch_norm(): argument 'momentum' (position 7) must be float, not {type(momentum).__name__}"
        )
    channels = size[1] if input.dim() > 1 else 0
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {t.numel()}")
    _check_dtypes(input, weight, bias, running_mean, running_var)
    out, mean, var = NativeBatchNorm.apply(input, weight, bias, running_mean, running_var, training, eps)
    if training and running_mean is not None:
        count = input.numel() // channels
        if count > 0:
            _update_running(running_mean, mean._data, momentum)
            # the running variance follows the unbiased batch variance, like PyTorch
            _update_running(running_var, var._data * (count / (count - 1)), momentum)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-05):
    """batch_norm of each (sample, channel) slice; running statistics are averaged over the batch."""
    size = input.size()
    if use_input_stats and _numel(size[2:]) == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {size}")
    n, c = size[0], size[1]
    flat = input.reshape((1, n * c) + tuple(size[2:]))

    def per_instance(t, differentiable):
        if t is None:
            return None
        return t.repeat(n) if differentiable else Tensor._make(K.tile(t._data, n))

    out, mean, var = NativeBatchNorm.apply(
        flat, per_instance(weight, True), per_instance(bias, True), per_instance(running_mean, False),
        per_instance(running_var, False), use_input_stats, eps,
    )
    if use_input_stats and running_mean is not None:
        count = _numel(size[2:])
        _update_running(running_mean, mean._data.reshape(n, c).mean(axis=0), momentum)
        unbiased = var._data.reshape(n, c) * (count / (count - 1))
        _update_running(running_var, unbiased.mean(axis=0), momentum)
    return out.view(size)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    if isinstance(normalized_shape, int):
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int")
    shape = list(normalized_shape)
    if not shape:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
            "but got normalized_shape = []"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and list(t.shape) != shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{list(t.shape)} and normalized_shape = {shape}"
            )
    size = list(input.shape)
    if len(size) < len(shape) or size[len(size) - len(shape):] != shape:
        raise RuntimeError(
            f"Given normalized_shape={shape}, expected input with shape [*, {', '.join(map(str, shape))}], "
            f"but got input of size{size}"
        )
    _check_dtypes(input, weight, bias)
    return NativeLayerNorm.apply(input, weight, bias, len(shape), eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    size = list(input.shape)
    if num_groups == 0:
        raise ZeroDivisionError("integer division or modulo by zero")
    if size[1] % num_groups != 0:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{size} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dim() != 1 or t.numel() != size[1]):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in input, but got "
                f"{name} of shape {list(t.shape)} and input of shape {size}"
            )
    _check_dtypes(input, weight, bias)
    return NativeGroupNorm.apply(input, weight, bias, num_groups, eps)


def local_response_norm(input, size, alpha=0.0001, beta=0.75, k=1.0):
    """input / (k + alpha * mean of input**2 over `size` neighbouring channels) ** beta."""
    if input.dim() < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.dim()} dimensions)")
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    # zero-pad the channel dim so that each channel sees the window [c - size//2, c + (size-1)//2]
    padded = pad(input * input, (0, 0) * (input.dim() - 2) + (size // 2, (size - 1) // 2))
    window = padded.narrow(1, 0, channels)
    for j in range(1, size):
        window = window + padded.narrow(1, j, channels)
    div = (window / size * alpha + k) ** beta
    return input / div
