"""The remaining functional ops of torch.nn.functional: dropout family, linear, bilinear,
embedding, one_hot, pad, normalize, interpolate, pixel_shuffle, cosine_similarity and
pairwise_distance.

Composites are written with ember ops (their graph nodes are PyTorch's: dropout is a
MulBackward0); ops whose PyTorch node is a single fused one (embedding, padding,
upsampling, pixel shuffle) are Functions here.
"""
import math
import warnings

from .. import kernels as K
from .._creation import _rng
from ..autograd import grad_mode
from ..autograd.function import Function
from .linalg import Addmm, addmm, matmul, mm
from .interpolate import interpolate  # noqa: F401  (torch.nn.functional's name, served here)
from .reduce import Norm
from .shape import Squeeze, T
from ._util import Tensor

# -- dropout ----------------------------------------------------------------------------------
# SELU's scale * alpha: alpha dropout sets dropped units to its negative saturation value
_SELU_NEG = 1.7580993408473766


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _check_float(input):
    if not input.is_floating_point():
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {input.dtype.legacy[6:-6]}"
        )


def _keep(input, p, channelwise):
    """Bernoulli(1 - p) keep mask from ember's generator: per element, or per (sample, channel)."""
    shape = input.shape
    if channelwise:
        shape = tuple(shape[:2]) + (1,) * (input.dim() - 2)
    return _rng(None).random(shape) < 1 - p


def _times(input, factor, inplace):
    factor = Tensor._make(factor)
    return input.mul_(factor) if inplace else input * factor


def _dropout(input, p, training, inplace, channelwise=False):
    _check_p(p)
    if not training or p == 0:
        return input
    _check_float(input)
    dtype = input._data.dtype
    if p == 1:
        return _times(input, K.zeros((1,) * input.dim(), dtype), inplace)
    keep = _keep(input, p, channelwise)
    return _times(input, keep.astype(dtype) / K.asarray(1 - p, dtype), inplace)


def _alpha_dropout(input, p, training, inplace, channelwise=False):
    """Dropped units take SELU's saturation value; an affine map a*x+b restores mean and variance."""
    _check_p(p)
    if not training or p == 0:
        return input
    _check_float(input)
    dtype = input._data.dtype
    if p == 1:
        return _times(input, K.zeros((1,) * input.dim(), dtype), inplace)
    keep = _keep(input, p, channelwise).astype(dtype)
    a = 1.0 / math.sqrt((_SELU_NEG ** 2 * p + 1) * (1 - p))
    b = Tensor._make(((keep - 1) * (_SELU_NEG * a) + _SELU_NEG * a * p).astype(dtype, copy=False))
    scaled = _times(input, (keep * a).astype(dtype, copy=False), inplace)
    return scaled.add_(b) if inplace else scaled + b


def _feature_dims(input):
    if input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _alpha_dropout(input, p, training, inplace)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    _feature_dims(input)
    return _alpha_dropout(input, p, training, inplace, channelwise=True)


def _unbatched_feature_dropout(input, p, training, inplace, batched):
    # unbatched input gets a batch dim of 1 around the call, as in PyTorch (SqueezeBackward1)
    if batched:
        return _dropout(input, p, training, inplace, channelwise=True)
    out = _dropout(input.unsqueeze(0), p, training, inplace, channelwise=True)
    return out.squeeze(0)


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if input.dim() not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that dropout1d "
            "exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, "
            "and an optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return _unbatched_feature_dropout(input, p, training, inplace, input.dim() == 3)


def _deprecated_rank(name, n, spatial, ranks):
    warnings.warn(
        f"{name}: Received a {n}-D input to {name}, which is deprecated and will result in an error in a "
        f"future release. To retain the behavior and silence this warning, please use dropout instead. Note "
        f"that {name} exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, a "
        f"channel dimension, and an optional batch dimension (i.e. {ranks} inputs).",
        stacklevel=3,
    )


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    n = input.dim()
    if n not in (3, 4):
        _deprecated_rank("dropout2d", n, 2, "3D or 4D")
    if n == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
            "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
            "will change in a future release to interpret the input as one without a batch dimension, i.e. "
            "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
            "dropout1d instead.",
            stacklevel=2,
        )
    _feature_dims(input)
    return _dropout(input, p, training, inplace, channelwise=True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    n = input.dim()
    if n not in (4, 5):
        _deprecated_rank("dropout3d", n, 3, "4D or 5D")
    _feature_dims(input)
    return _unbatched_feature_dropout(input, p, training, inplace, n != 4)


# -- linear, bilinear -----------------------------------------------------------------------------
def _type(t):
    return t.dtype.legacy[6:-6]


def _short(t):
    return {"float32": "float", "float64": "double"}.get(t.dtype.name, t.dtype.name)


class _SqueezeRow(Squeeze):
    _name = "SqueezeBackward4"  # PyTorch's node for the squeeze inside linear of a 1-d input


def _check_expand(bias, target):
    """bias must broadcast to target (the error PyTorch's expand gives)."""
    shape = list(bias.shape)
    lead = len(target) - len(shape)
    for i, own in enumerate(shape):
        s = target[lead + i] if lead + i >= 0 else None
        if lead + i < 0 or (own != s and own != 1):
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({own}) at non-singleton "
                f"dimension {lead + i}.  Target sizes: {list(target)}.  Tensor sizes: {shape}"
            )


def linear(input, weight, bias=None):
    """input @ weight.T + bias; a 2-D input with bias is exactly addmm (AddmmBackward0), as in PyTorch."""
    x, w = input._data, weight._data
    if (bias is not None and x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1]
            and x.dtype == w.dtype == bias._data.dtype and bias._data.shape == w.shape[:1]):
        return Addmm.apply(bias, input, T.apply(weight), 1, 1)  # nn.Linear's case, checks passed: addmm
    if input.dim() == 0 or weight.dim() == 0:
        raise RuntimeError(
            f"both arguments to linear need to be at least 1D, but they are {input.dim()}D and {weight.dim()}D"
        )
    if weight.dim() > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {weight.dim()}D")
    if weight.dim() == 1:
        if bias is not None:
            raise RuntimeError("mat2 must be a matrix, got 1-D tensor")
        return matmul(input, weight)
    in_features = input.shape[-1]
    rows = math.prod(input.shape[:-1])
    if in_features != weight.shape[1]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{in_features} and "
            f"{weight.shape[1]}x{weight.shape[0]})"
        )
    if bias is None:
        if input.dtype != weight.dtype:
            raise RuntimeError(
                f"expected m1 and m2 to have the same dtype, but got: {_short(input)} != {_short(weight)}"
            )
        if input.dim() == 1:  # as a 1-row matrix product, like PyTorch
            return _SqueezeRow.apply(mm(input.unsqueeze(0), weight.t()), (0,))
        return mm(input, weight.t()) if input.dim() == 2 else matmul(input, weight.t())
    if input.dtype != weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_type(input)} and {_type(weight)}")
    if bias.dtype != input.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_type(bias)} and {_type(input)}")
    _check_expand(bias, (rows, weight.shape[0]))
    if input.dim() == 2:
        return addmm(bias, input, weight.t())
    out = addmm(bias, input.reshape(rows, in_features), weight.t())
    return out.view(tuple(input.shape[:-1]) + (weight.shape[0],))


def bilinear(input1, input2, weight, bias=None):
    """out[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]."""
    if input1.dim() != input2.dim():
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.dim()} and {input2.dim()}")
    for i in range(input1.dim() - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match at dim {i}: got {input1.shape[i]} and "
                f"{input2.shape[i]}"
            )
    if weight.dim() != 3:
        raise RuntimeError(f"bilinear(): weight must be a 3-D tensor, but got a {weight.dim()}-D tensor")
    out_f, in1, in2 = weight.shape
    for name, got, expected in (("input1", input1.shape[-1], in1), ("input2", input2.shape[-1], in2),
                                ("bias", None if bias is None else bias.shape[0], out_f)):
        if got is not None and got != expected:
            raise RuntimeError(f"bilinear(): {name} size does not match weight size: got {got} but expected {expected}")
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # one matrix product: (B, in1) @ (in1, out*in2), then the in2 contraction elementwise
    t = x1.matmul(weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    out = (t * x2.unsqueeze(1)).sum(-1).reshape(tuple(input1.shape[:-1]) + (out_f,))
    return out if bias is None else out + bias


# -- embedding, one_hot -----------------------------------------------------------------------
class Embedding(Function):
    def forward(self, weight, indices, padding_idx, scale_grad_by_freq):
        self.save_for_backward(indices)
        self.num, self.padding_idx, self.scale = weight.shape[0], padding_idx, scale_grad_by_freq
        return K.take(weight, indices, axis=0)

    def backward(self, g):
        (indices,) = self.saved_tensors
        return K.embedding_backward(g, indices, self.num, self.padding_idx, self.scale), None, None, None


def _embedding_renorm(weight, indices, max_norm, norm_type):
    """Rescale, in place and outside autograd, the looked-up rows whose norm exceeds max_norm."""
    rows = K.unique(indices)
    w = weight._data
    norms = (K.abs(w[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    big = norms > max_norm
    if big.any():
        scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
        w[rows[big]] *= scale[:, None]
        weight._vc[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    if input._data.dtype.kind not in "i" or input._data.dtype.itemsize < 4:
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got {input.dtype.legacy} instead (while checking arguments for embedding)"
        )
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx = padding_idx % num
    if sparse:
        raise NotImplementedError("ember has no sparse gradients; use embedding with sparse=False")
    indices = input._data
    if indices.size and (indices.min() < 0 or indices.max() >= num):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        _embedding_renorm(weight, indices, max_norm, norm_type)
    return Embedding.apply(weight, input, padding_idx, scale_grad_by_freq)


def one_hot(tensor, num_classes=-1):
    if tensor._data.dtype != K.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    idx = tensor._data
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    if idx.size:
        if idx.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if idx.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    out = K.zeros(idx.shape + (num_classes,), K.int64)
    K.put_along_axis(out, idx[..., None], 1, axis=-1)
    return Tensor._make(out)


# -- pad --------------------------------------------------------------------------------------
class ConstantPadNd(Function):
    """Pads with a value; negative pads crop. `pads` holds (before, after) for every dim."""

    def forward(self, x, pads, value):
        self.shape = x.shape
        out = K.full(tuple(n + a + b for n, (a, b) in zip(x.shape, pads)), value, x.dtype)
        src = tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pads))
        dst = tuple(slice(max(a, 0), max(a, 0) + s.stop - s.start) for (a, b), s in zip(pads, src))
        out[dst] = x[src]
        self.src, self.dst = src, dst
        return out

    def backward(self, g):
        gx = K.zeros(self.shape, g.dtype)
        gx[self.src] = g[self.dst]
        return gx, None, None


class IndexPad(Function):
    """reflect / replicate / circular padding: a gather along each padded dim."""

    def forward(self, x, gathers, name):
        self._name = name
        self.gathers = gathers  # (axis, input size along it, source index of every output position)
        for axis, _, index in gathers:
            x = K.take(x, index, axis=axis)
        return x

    def backward(self, g):
        for axis, size, index in reversed(self.gathers):
            g = K.take_backward(g, index, axis, size)
        return g, None, None


def _pad_index(mode, n, before, after):
    """Source position of each output position along one dim of size n."""
    if mode == "circular":
        # PyTorch crops first (negative pads), then wraps around the cropped range
        lo, hi = max(-before, 0), n - max(-after, 0)
        j = K.arange(-max(before, 0), hi - lo + max(after, 0))
        return lo + j % (hi - lo)
    j = K.arange(-before, n + after)
    if mode == "replicate":
        return K.clip(j, 0, n - 1)
    return K.where(j < 0, -j, K.where(j > n - 1, 2 * (n - 1) - j, j))  # reflect


_PAD_NAMES = {"reflect": "ReflectionPad{}DBackward0", "replicate": "ReplicationPad{}DBackward0",
              "circular": "CopySlices"}  # PyTorch's circular padding writes slices in place


def pad(input, pad, mode="constant", value=None):
    """Pads the last len(pad) // 2 dims; pad lists (before, after) pairs starting from the last dim."""
    pad = [int(p) for p in pad]
    ndim = input.dim()
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but got padding "
            f"length {len(pad)} and input of dimension {ndim}"
        )
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]  # last dim first
    if mode == "constant":
        pads = [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]
        for n, (a, b) in zip(input.shape, pads):
            if n - max(-a, 0) - max(-b, 0) < 0:
                raise RuntimeError("narrow(): length must be non-negative.")
        return ConstantPadNd.apply(input, pads, 0 if value is None else value)
    if mode not in _PAD_NAMES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pairs)
    if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    gathers = []
    for i, (a, b) in enumerate(pairs):
        axis = ndim - 1 - i
        n = input.shape[axis]
        if mode == "reflect" and (a >= n or b >= n):
            raise RuntimeError(
                f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding input dimension, "
                f"but got: padding ({a}, {b}) at dimension {axis} of input {list(input.shape)}"
            )
        if mode == "circular" and (a > n or b > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        gathers.append((axis, n, _pad_index(mode, n, a, b)))
    return IndexPad.apply(input, gathers[::-1], _PAD_NAMES[mode].format(k))


# -- normalize, cosine_similarity, pairwise_distance -------------------------------------------
def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p over dim, eps)."""
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    if out is None:
        return input / denom
    with grad_mode.no_grad():  # out= results are outside autograd, as in PyTorch
        return out.copy_(input / denom)


def _broadcast_shape(a, b):
    shape = []
    for i in range(max(len(a), len(b))):
        x = a[len(a) - 1 - i] if i < len(a) else 1
        y = b[len(b) - 1 - i] if i < len(b) else 1
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension "
                f"{max(len(a), len(b)) - 1 - i}"
            )
        shape.append(max(x, y) if x != 0 and y != 0 else 0)
    return tuple(shape[::-1])


class _FloorValue(Function):
    """max(x, eps) in value, the identity in gradient: PyTorch clamps the norms of
    cosine_similarity in place on a clone, outside autograd."""

    _name = "CloneBackward0"

    def forward(self, x, eps):
        return K.maximum(x, K.asarray(eps, x.dtype))

    def backward(self, g):
        return g, None


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum over dim of (x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)), after broadcasting."""
    shape = _broadcast_shape(x1.shape, x2.shape)
    if tuple(x1.shape) != shape:
        x1 = x1.expand(shape)
    if tuple(x2.shape) != shape:
        x2 = x2.expand(shape)
    n1 = _FloorValue.apply(x1.norm(2, dim, keepdim=True), eps)
    n2 = _FloorValue.apply(x2.norm(2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


class _PNorm(Norm):
    _name = "NormBackward1"  # PyTorch records norm(p, dim) under this name


def pairwise_distance(x1, x2, p=2.0, eps=1e-06, keepdim=False):
    """p-norm of x1 - x2 + eps over the last dim."""
    diff = x1 - x2 + eps
    return _PNorm.apply(diff, float(p), -1 if diff.dim() else None, keepdim)


# -- interpolate: ops/interpolate.py -------------------------------------------------------------


# -- pixel shuffle ----------------------------------------------------------------------------
def _shuffle(x, r):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    *lead, c, h, w = x.shape
    n = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def _unshuffle(x, r):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    *lead, c, h, w = x.shape
    n = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


class PixelShuffle(Function):
    def forward(self, x, r):
        self.r = r
        return _shuffle(x, r)

    def backward(self, g):
        return _unshuffle(g, self.r), None


class PixelUnshuffle(Function):
    def forward(self, x, r):
        self.r = r
        return _unshuffle(x, r)

    def backward(self, g):
        return _shuffle(g, self.r), None


def _check_shuffle_rank(name, input):
    if input.dim() < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with {input.dim()} dimension(s)"
        )


def pixel_shuffle(input, upscale_factor):
    _check_shuffle_rank("pixel_shuffle", input)
    r = upscale_factor
    if input.shape[-3] % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
            f"upscale_factor, but input.size(-3)={input.shape[-3]} is not divisible by {r * r}"
        )
    return PixelShuffle.apply(input, r)


def pixel_unshuffle(input, downscale_factor):
    _check_shuffle_rank("pixel_unshuffle", input)
    r = downscale_factor
    for name, d in (("height", -2), ("width", -1)):
        if input.shape[d] % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                f"input.size({d})={input.shape[d]} is not divisible by {r}"
            )
    return PixelUnshuffle.apply(input, r)
