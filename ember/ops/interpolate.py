"""torch.nn.functional.interpolate: resampling the spatial dims of (N, C, *spatial) tensors.

Every mode but area is separable: each spatial dim is resampled on its own, last dim first,
as a gather (nearest) or as a weighted sum of gathered taps: 2 for linear, 4 for bicubic, and
a window that widens with the downscale factor for antialias (PIL's filters, as PyTorch's).
Backward scatters the gradient back through the same taps and weights. area is adaptive
average pooling to the output size, as in PyTorch (ops/pool.py).

PyTorch computes the taps' weights in single precision for float32 (double for float64), and
its compiled kernels fuse some multiply-adds; _fma reproduces those, so bicubic float32
results round as PyTorch's do.
"""
import math
from collections import namedtuple

from .. import kernels as K
from ..autograd.function import Function, _type_word
from .pool import adaptive_avg_pool2d
from ._util import Tensor

# One resampled dim: output[o] = sum over k of input[index[k][o]] * weight[k][o] along `axis`,
# summed as PyTorch's kernel for `kind` does (nearest: a gather, weight None). `valid` (window
# only) marks, per tap, the outputs whose window holds it (None: all do).
_Plan = namedtuple("_Plan", "axis size index weight kind valid", defaults=(None,))


class Upsample(Function):
    def forward(self, x, plans, name):
        self._name = name
        self.plans = plans
        if not plans:  # antialias leaves dims of unchanged size alone
            return x.copy()
        dtype = x.dtype
        if dtype == K.float16:  # computed in single precision, as PyTorch's opmath
            x = x.astype(K.float32)
        for p in reversed(plans):
            x = _resample(x, p)
        return x.astype(dtype, copy=False)

    def backward(self, g):
        dtype = g.dtype
        if dtype == K.float16:
            g = g.astype(K.float32)
        for p in self.plans:
            if p.weight is None:
                g = K.take_backward(g, p.index[0], p.axis, p.size)
                continue
            out = None
            for i, w in zip(p.index, p.weight):
                part = K.take_backward(g * _along(w, p.axis, g), i, p.axis, p.size)
                out = part if out is None else out + part
            g = out
        return g.astype(dtype, copy=False), None, None


def _along(w, axis, x, cast=True):
    """Per-output values along `axis`, shaped to broadcast against x (in x's type with `cast`)."""
    shape = [1] * x.ndim
    shape[axis] = -1
    return (w.astype(x.dtype, copy=False) if cast else w).reshape(shape)


def _resample(x, p):
    if p.kind == "nearest":
        return K.take(x, p.index[0], axis=p.axis)

    def tap(k):
        return K.take(x, p.index[k], axis=p.axis), _along(p.weight[k], p.axis, x)

    (t0, w0), (t1, w1) = tap(0), tap(1)
    if p.kind == "linear":
        return t0 * w0 + t1 * w1
    if p.kind == "cubic":  # the first product fused into the second, then one fused step per tap
        out = _fma(t0, w0, t1 * w1)
        for k in (2, 3):
            out = _fma(*tap(k), out)
        return out
    # antialias window: the first product, then one fused step per tap inside each output's window
    out = t0 * w0
    for k in range(1, len(p.index)):
        step = _fma(t1, w1, out) if k == 1 else _fma(*tap(k), out)
        out = step if p.valid[k] is None else K.where(_along(p.valid[k], p.axis, x, cast=False), step, out)
    return out


def _fma(a, b, c):
    """a * b + c rounded once, elementwise, in a's float type (float32 or float64)."""
    a, b, c = K.asarray(a), K.asarray(b), K.asarray(c)
    if a.dtype != K.float64:
        return (a.astype(K.float64) * b + c).astype(a.dtype)
    # float64: exact error terms of the product (Dekker's split) and of the sum (Knuth's two-sum)
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    z = s - p
    r = s + (((p - (s - z)) + (c - z)) + e)
    return K.where(K.isfinite(r), r, s)  # inf and nan as the plain sum has them


def _split(a):
    t = a * 134217729.0  # 2**27 + 1
    hi = t - (t - a)
    return hi, a - hi


# -- source positions and weights, per dim ----------------------------------------------------
def _area_scale(n_in, n_out, align_corners, scale, ct):
    """Input pixels per output pixel (PyTorch's area_pixel_compute_scale), in type ct."""
    if align_corners:
        return ct(n_in - 1) / ct(n_out - 1) if n_out > 1 else ct(0)
    return ct(1.0 / scale) if scale and scale > 0 else ct(n_in) / ct(n_out)


def _nearest_index(n_in, n_out, scale, exact, shortcuts):
    if shortcuts:
        # PyTorch's 2-D nearest kernel maps same-size and doubled dims directly, whatever the scale
        if n_out == n_in:
            return K.arange(n_out)
        if n_out == 2 * n_in:
            return K.arange(n_out) >> 1
    # PyTorch computes source positions in single precision whatever the dtype
    dst = K.arange(n_out).astype(K.float32)
    s = K.float32(1.0 / scale) if scale else K.float32(n_in) / K.float32(n_out)
    src = K.floor((dst + K.float32(0.5)) * s if exact else dst * s)
    return K.minimum(src.astype(K.int64), n_in - 1)


def _linear_taps(n_in, n_out, scale, align_corners, ct):
    """Left and right neighbours and their weights, computed in type ct."""
    dst = K.arange(n_out).astype(ct)
    if n_in == n_out:  # PyTorch copies a dim whose size does not change, whatever the scale
        index = K.arange(n_out)
        return [index, index], [K.ones(n_out, ct), K.zeros(n_out, ct)]
    if align_corners:
        src = dst * _area_scale(n_in, n_out, True, scale, ct)
    else:
        s = _area_scale(n_in, n_out, False, scale, ct)
        # s * (dst + 0.5) - 0.5 rounded once, as PyTorch's fused multiply-add computes it
        src = (K.float64(s) * (dst + ct(0.5)).astype(K.float64) - 0.5).astype(ct)
        src = K.maximum(src, ct(0))
    i0 = K.minimum(K.floor(src).astype(K.int64), n_in - 1)
    i1 = K.minimum(i0 + 1, n_in - 1)
    w1 = K.clip(src - i0.astype(ct), ct(0), ct(1))
    return [i0, i1], [1 - w1, w1]


def _cubic_taps(n_in, n_out, scale, align_corners, ct):
    """Four neighbours floor(src) - 1 .. floor(src) + 2, clamped to the input, with the cubic
    convolution weights of a = -0.75 at distances 1 + t, t, 1 - t, 2 - t."""
    dst = K.arange(n_out).astype(ct)
    s = _area_scale(n_in, n_out, align_corners, scale, ct)
    src = dst * s if align_corners else _fma(K.full(n_out, s, ct), dst + ct(0.5), ct(-0.5))
    i0 = K.minimum(K.floor(src).astype(K.int64), n_in - 1)
    t = K.clip(src - i0.astype(ct), ct(0), ct(1))
    a, one = ct(-0.75), ct(1)

    def near(x):  # |x| <= 1
        return _fma(a + 2, x, -(a + 3)) * x * x + one

    def far(x):  # 1 < |x| < 2
        return _fma(_fma(a, x, -5 * a), x, 8 * a) * x - 4 * a

    u = one - t
    index = [K.clip(i0 + k, 0, n_in - 1) for k in (-1, 0, 1, 2)]
    return index, [far(t + one), near(t), near(u), far(u + one)]


def _bilinear_filter(x, ct):
    return K.where(x < 1, ct(1) - x, ct(0))


def _bicubic_filter(x, ct):
    """PIL's bicubic (a = -0.5), which PyTorch's antialias uses."""
    a, one = ct(-0.5), ct(1)
    near = _fma(_fma(a + 2, x, -(a + 3)) * x, x, one)
    far = _fma(_fma(_fma(a, x, -5 * a), x, 8 * a), x, -4 * a)
    return K.where(x < 1, near, K.where(x < 2, far, ct(0)))


def _lanczos_filter(x, ct):
    """Lanczos-3: sinc(x) * sinc(x / 3) for |x| < 3."""
    px = x.astype(K.float64) * math.pi
    w = K.where(px == 0, 1.0, 3 * K.sin(px) * K.sin(px / 3) / (px * px))
    return K.where(x < 3, w, 0.0).astype(ct)


_FILTERS = {"bilinear": (_bilinear_filter, 2), "bicubic": (_bicubic_filter, 4), "lanczos": (_lanczos_filter, 6)}


def _window_taps(n_in, n_out, scale, align_corners, ct, mode):
    """Antialias: each output averages the inputs within `support` of its centre, weighted by
    the mode's filter stretched by the downscale factor, the weights normalised to sum to 1."""
    filt, size = _FILTERS[mode]
    s = _area_scale(n_in, n_out, align_corners, scale, ct)
    support = ct(size / 2 * K.float64(s)) if s >= 1 else ct(size / 2)
    m = int(K.ceil(support)) * 2 + 1
    invscale = ct(1.0 / K.float64(s)) if s >= 1 else ct(1)
    centre = (K.float64(s) * (K.arange(n_out) + 0.5)).astype(ct)
    lo = K.maximum(K.trunc((centre - support).astype(K.float64) + 0.5).astype(K.int64), 0)
    hi = K.minimum(K.trunc((centre + support).astype(K.float64) + 0.5).astype(K.int64), n_in)
    count = K.clip(hi - lo, 0, m)
    j = K.arange(m)[:, None]
    x = ((((j + lo).astype(ct) - centre).astype(K.float64) + 0.5) * K.float64(invscale)).astype(ct)
    inside = j < count
    w = K.where(inside, filt(K.abs(x), ct), ct(0))
    total = w[0]
    for k in range(1, m):
        total = total + w[k]
    w = K.where(total != 0, w / K.where(total != 0, total, ct(1)), w)
    index = [K.minimum(lo + k, n_in - 1) for k in range(m)]
    valid = [None if inside[k].all() else inside[k] for k in range(m)]
    return index, list(w), valid


# -- area -------------------------------------------------------------------------------------
class AdaptiveAvgPool3d(Function):
    """Average pooling to (D, H, W): the 2-d kernel over (H, W), then over (D, W') with W' kept."""

    _name = "AdaptiveAvgPool3DBackward0"

    def forward(self, x, out_size):
        self.shape = x.shape
        od, oh, ow = out_size
        y = K.adaptive_avg_pool2d(x, (oh, ow))
        y = K.adaptive_avg_pool2d(K.moveaxis(y, -3, -1), (ow, od))
        return K.moveaxis(y, -1, -3)

    def backward(self, g):
        g = K.moveaxis(g, -3, -1)
        g = K.adaptive_avg_pool2d_backward(g, g.shape[:-1] + (self.shape[-3],))
        g = K.moveaxis(g, -1, -3)
        return K.adaptive_avg_pool2d_backward(g, self.shape), None


def _adaptive_avg_pool3d(input, out_size):
    if min(out_size) < 0:
        od, oh, ow = out_size
        raise RuntimeError(
            "adaptive_avg_pool3d: elements of output_size must be greater than or equal to 0 but received "
            f"{{{od}, {oh},{ow}}}"
        )
    for dim in range(1, input.dim()):
        if input.shape[dim] == 0:
            raise RuntimeError(
                "adaptive_avg_pool3d(): Expected input to have non-zero size for non-batch dimensions, but input "
                f"has sizes {list(input.shape)} with dimension {dim} being empty"
            )
    if not input.is_floating_point():
        raise NotImplementedError(f"\"adaptive_avg_pool3d_cpu\" not implemented for '{_type_word(input.dtype)}'")
    if tuple(out_size) == (1, 1, 1):  # a mean, as in PyTorch (MeanBackward1)
        return input.mean((-1, -2, -3), keepdim=True)
    return AdaptiveAvgPool3d.apply(input, tuple(out_size))


def _area(input, output_size):
    """PyTorch's area mode: adaptive average pooling (1-d as 2-d over a (.., 1, L) view)."""
    if input.dim() == 3:
        return adaptive_avg_pool2d(input.unsqueeze(-2), (1, output_size[0])).squeeze(-2)
    if input.dim() == 4:
        return adaptive_avg_pool2d(input, list(output_size))
    return _adaptive_avg_pool3d(input, list(output_size))


# -- interpolate ------------------------------------------------------------------------------
_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "lanczos", "area", "nearest-exact")
_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5}
_NAMES = {"nearest": "Nearest", "nearest-exact": "NearestExact", "linear": "Linear", "bilinear": "Bilinear",
          "bicubic": "Bicubic", "trilinear": "Trilinear", "lanczos": "Lanczos"}


def _is_int(v):
    if isinstance(v, Tensor):
        return not v.is_floating_point()
    return isinstance(v, int) or hasattr(v, "__index__")


def _output_size(input, dim, size, scale_factor, recompute, mode):
    """PyTorch's size / scale_factor rules -> (output sizes or None, scales or None)."""
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {spatial} and output size of {size}. Please provide input tensor in (N, C, d1, "
                    "d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            if not all(_is_int(s) for s in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], but "
                    f"got size with types {[type(s) for s in size]}"
                )
            output_size, scales = [int(s) for s in size], None
        else:
            output_size, scales = [int(size)] * dim, None
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {spatial} and scale_factor of shape {scale_factor}. Please provide input "
                    "tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        output_size = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:  # area needs sizes: the recompute path gives them
        recompute = True
    if output_size is None:
        # truncated toward zero, as PyTorch does (in Python when recomputing, in C++ otherwise)
        output_size = [int(n * s) for n, s in zip(spatial, scales)]
        if recompute:
            scales = None  # the kernels then derive each scale from the sizes
    return output_size, scales or [None] * dim


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resample to `size` or by `scale_factor`: nearest, nearest-exact, linear (3-D), bilinear and
    bicubic (4-D), trilinear (5-D), area (3-D to 5-D); antialias for bilinear, bicubic, lanczos."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    output_size, scales = _output_size(input, dim, size, scale_factor, recompute_scale_factor, mode)
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.dim() == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor "
            "as input"
        )
    if mode not in _MODES or not 1 <= dim <= 3 or (mode in ("bicubic", "lanczos") and dim != 2):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for the modes: "
            f"nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})"
        )
    if mode in _RANK and input.dim() != _RANK[mode]:
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs {_RANK[mode]}D input")
    if mode == "area":
        return _area(input, output_size)
    if mode == "lanczos":
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    spatial = list(input.shape[2:])
    if any(s <= 0 for s in spatial + output_size):
        names = ["D", "H", "W"][3 - dim:]
        inp = ", ".join(f"{k}: {n}" for k, n in zip(names, spatial))
        outp = ", ".join(f"{k}: {n}" for k, n in zip(names, output_size))
        joint = " and" if dim == 1 else ""
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input ({inp}){joint} output ({outp})"
        )
    if input.numel() == 0 and input.shape[1] == 0:
        raise RuntimeError(
            f"Non-empty {input.dim()}D data tensor expected but got a tensor with sizes {list(input.shape)}"
        )
    nearest = mode.startswith("nearest")
    if antialias and input.dtype.name not in ("float32", "float64"):
        raise NotImplementedError(f"\"compute_index_ranges_weights\" not implemented for '{_type_word(input.dtype)}'")
    if not input.is_floating_point():
        kind = "nearest" if nearest else "cubic" if mode == "bicubic" else "linear"
        raise NotImplementedError(
            f"\"compute_indices_weights_{kind}\" not implemented for '{_type_word(input.dtype)}'"
        )
    # weights in single precision for float16/float32, double for float64 (PyTorch's accumulate type)
    ct = K.float64 if input._data.dtype == K.float64 else K.float32
    plans = []
    for i, (n_in, n_out, s) in enumerate(zip(spatial, output_size, scales)):
        axis = 2 + i
        if nearest:
            index = _nearest_index(n_in, n_out, s, mode == "nearest-exact", mode == "nearest" and dim == 2)
            plans.append(_Plan(axis, n_in, [index], None, "nearest"))
        elif antialias:
            if n_in != n_out:  # PyTorch's antialias kernel skips dims that keep their size
                index, weight, valid = _window_taps(n_in, n_out, s, align_corners, ct, mode)
                plans.append(_Plan(axis, n_in, index, weight, "window", valid))
        elif mode == "bicubic":
            plans.append(_Plan(axis, n_in, *_cubic_taps(n_in, n_out, s, align_corners, ct), "cubic"))
        else:
            plans.append(_Plan(axis, n_in, *_linear_taps(n_in, n_out, s, align_corners, ct), "linear"))
    if input._data.dtype == K.float16:  # PyTorch stores the weights in the input's type
        plans = [p._replace(weight=[w.astype(K.float16) for w in p.weight]) if p.weight else p for p in plans]
    name = f"Upsample{_NAMES[mode]}{dim}D{'Aa' if antialias else ''}Backward0"
    return Upsample.apply(input, plans, name)
