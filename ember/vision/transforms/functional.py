"""The functions behind the transforms, as torchvision's transforms.functional: each works on
a PIL image (Pillow is optional) or an ember tensor (..., C, H, W).

    from ember.vision.transforms import functional as F
    F.rotate(F.to_tensor(img), 30)
"""
import math
import numbers
from collections.abc import Sequence
from enum import Enum

import numpy as np

from ... import _creation, _dtype
from ..._tensor import Tensor

try:
    from PIL import Image
except ImportError:
    Image = None


class InterpolationMode(Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# Pillow's resampling filter numbers
_PIL_FILTERS = {InterpolationMode.NEAREST: 0, InterpolationMode.NEAREST_EXACT: 0, InterpolationMode.LANCZOS: 1,
                InterpolationMode.BILINEAR: 2, InterpolationMode.BICUBIC: 3, InterpolationMode.BOX: 4,
                InterpolationMode.HAMMING: 5}


def _interpolation(mode):
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, int):  # a Pillow filter number, as torchvision still accepts
        return {0: InterpolationMode.NEAREST, 1: InterpolationMode.LANCZOS, 2: InterpolationMode.BILINEAR,
                3: InterpolationMode.BICUBIC, 4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING}[mode]
    raise TypeError("Argument interpolation should be of type InterpolationMode instead of "
                    f"{type(mode).__name__}")


def _require_pil(image=Image):
    """Pillow's Image module (`image`: the caller's reference to it), or an ImportError naming the fix."""
    if image is None:
        raise ImportError("this transform needs Pillow, which is not installed: pip install pillow")
    return image


def _is_pil(img):
    return Image is not None and isinstance(img, Image.Image)


def _size_hw(img):
    if _is_pil(img):
        return img.size[1], img.size[0]
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise TypeError(f"Tensor is not a torch image: it has {img.ndim} dimensions, expected >= 2")
        return img.shape[-2], img.shape[-1]
    raise TypeError(f"Unexpected type {type(img)}")


def _num_channels(img):
    if _is_pil(img):
        return len(img.getbands())
    return 1 if img.ndim == 2 else img.shape[-3]


# -- conversions ------------------------------------------------------------------------------
def _pil_to_array(pic):
    # Pillow's 32-bit integer, 16-bit and float modes keep their types; everything else is bytes
    nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(pic.mode, np.uint8)
    arr = np.array(pic, nptype, copy=True)
    if pic.mode == "1":
        arr = arr * np.uint8(255)
    return arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))


def to_tensor(pic):
    """HWC uint8 (PIL image or ndarray) -> CHW float in [0, 1]; other dtypes keep their values."""
    if _is_pil(pic):
        arr = _pil_to_array(pic)
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        d = _dtype.get_default_dtype().np
        return Tensor._make(chw.astype(d) / d.type(255))
    return _creation.from_numpy(chw)


def pil_to_tensor(pic):
    if not _is_pil(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    return _creation.from_numpy(np.ascontiguousarray(_pil_to_array(pic).transpose(2, 0, 1)))


def to_pil_image(pic, mode=None):
    """CHW tensor or HWC ndarray -> PIL image; floats are scaled by 255 (truncated) unless mode='F'."""
    Image = _require_pil()
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic.detach()._data
        arr = arr[None] if arr.ndim == 2 else arr
        if arr.shape[0] > 4:
            raise ValueError(f"pic should not have > 4 channels. Got {arr.shape[0]} channels.")
        arr = arr.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
        if arr.shape[-1] > 4:
            raise ValueError(f"pic should not have > 4 channels. Got {arr.shape[-1]} channels.")
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if arr.dtype.kind == "f" and mode != "F":
        arr = (arr * 255).astype(np.uint8)
    channels = arr.shape[2]
    if channels == 1:
        arr = arr[:, :, 0]
        expected = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16", np.dtype(np.int32): "I",
                    np.dtype(np.float32): "F"}.get(arr.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {arr.dtype}. Should be {expected}")
        mode = expected
    else:
        permitted = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}[channels]
        if mode is not None and mode not in permitted:
            raise ValueError(f"Only modes {permitted} are supported for {channels}D inputs")
        if mode is None and arr.dtype == np.uint8:
            mode = permitted[0]
    if mode is None:
        raise TypeError(f"Input type {arr.dtype} is not supported")
    arr = np.ascontiguousarray(arr)
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return Image.fromarray(arr)
    if mode == "I;16":
        arr = arr.astype("<u2")
    return Image.frombytes(mode, (arr.shape[1], arr.shape[0]), arr.tobytes())


# -- normalisation and dtype -----------------------------------------------------------------
def normalize(tensor, mean, std, inplace=False):
    """(tensor - mean) / std per channel, in the tensor's dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(
            f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = {tensor.size()}"
        )
    if not inplace:
        tensor = tensor.clone()
    mean = _creation.as_tensor(mean, dtype=tensor.dtype)
    std = _creation.as_tensor(std, dtype=tensor.dtype)
    if (std == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    if mean.ndim == 1:
        mean = mean.view(-1, 1, 1)
    if std.ndim == 1:
        std = std.view(-1, 1, 1)
    return tensor.sub_(mean).div_(std)


def _max_value(dtype):
    return 1.0 if dtype.is_floating_point else (1 if dtype is _dtype.bool_ else int(np.iinfo(dtype.np).max))


def convert_image_dtype(image, dtype=_dtype.float32):
    """Convert and rescale: ints span [0, max] of their type, floats [0, 1]."""
    if not isinstance(image, Tensor):
        raise TypeError("Input img should be Tensor Image")
    if image.dtype is dtype:
        return image
    if image.is_floating_point():
        if dtype.is_floating_point:
            return image.to(dtype)
        if (image.dtype is _dtype.float32 and dtype in (_dtype.int32, _dtype.int64)) or \
                (image.dtype is _dtype.float64 and dtype is _dtype.int64):
            raise RuntimeError(f"The cast from {image.dtype} to {dtype} cannot be performed safely.")
        # NOTE: max + 1 - eps so that 1.0 maps to max and [0, 1) spreads evenly over the integers
        return image.mul(_max_value(dtype) + 1.0 - 1e-3).to(dtype)
    input_max = float(_max_value(image.dtype))
    if dtype.is_floating_point:
        return image.to(dtype) / input_max
    output_max = float(_max_value(dtype))
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return (image // factor).to(dtype)
    factor = int((output_max + 1) // (input_max + 1))
    return image.to(dtype) * factor


def rgb_to_grayscale(img, num_output_channels=1):
    """ITU-R 601-2 luma: 0.2989 R + 0.587 G + 0.114 B."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if _is_pil(img):
        gray = img.convert("L")
        if num_output_channels == 3:
            arr = np.asarray(gray)
            gray = Image.fromarray(np.dstack([arr, arr, arr]))
        return gray
    if not isinstance(img, Tensor):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")
    c = _num_channels(img)
    if c not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {c}")
    if c == 3:
        r, g, b = img.unbind(dim=-3)
        gray = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)
    else:
        gray = img.clone()
    return gray.expand(img.shape) if num_output_channels == 3 else gray


# -- geometry -----------------------------------------------------------------------------------
def hflip(img):
    if _is_pil(img):
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img.flip(-1)


def vflip(img):
    if _is_pil(img):
        return img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return img.flip(-2)


def _padding_ltrb(padding):
    if isinstance(padding, numbers.Number):
        padding = [padding]
    if not isinstance(padding, Sequence) or len(padding) not in (1, 2, 4):
        n = len(padding) if isinstance(padding, Sequence) else type(padding).__name__
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {n} element tuple")
    if len(padding) == 1:
        return [int(padding[0])] * 4
    if len(padding) == 2:
        return [int(padding[0]), int(padding[1])] * 2
    return [int(p) for p in padding]


def _pad_array(arr, left, top, right, bottom, fill, mode, h_axis):
    """Pad the two axes h_axis, h_axis + 1 of arr; negative amounts crop."""
    w_axis = h_axis + 1
    index = [slice(None)] * arr.ndim
    index[h_axis] = slice(max(-top, 0), arr.shape[h_axis] - max(-bottom, 0))
    index[w_axis] = slice(max(-left, 0), arr.shape[w_axis] - max(-right, 0))
    arr = arr[tuple(index)]
    left, top, right, bottom = (max(p, 0) for p in (left, top, right, bottom))
    if mode != "constant":
        widths = [(0, 0)] * arr.ndim
        widths[h_axis], widths[w_axis] = (top, bottom), (left, right)
        return np.pad(arr, widths, mode={"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}[mode])
    shape = list(arr.shape)
    shape[h_axis] += top + bottom
    shape[w_axis] += left + right
    out = np.empty(shape, arr.dtype)
    out[...] = np.asarray(fill, dtype=np.float64).astype(arr.dtype)  # a number, or one value per channel (HWC)
    index[h_axis] = slice(top, top + arr.shape[h_axis])
    index[w_axis] = slice(left, left + arr.shape[w_axis])
    out[tuple(index)] = arr
    return out


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad the borders (left, top, right, bottom) with a constant or by edge/reflect/symmetric;
    negative amounts crop. On tensors the result is a new tensor outside autograd."""
    if not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _padding_ltrb(padding)
    if _is_pil(img):
        arr = np.asarray(img)
        if arr.ndim == 3 and isinstance(fill, numbers.Number):
            fill = [fill] * arr.shape[2]
        out = Image.fromarray(_pad_array(arr, left, top, right, bottom, fill, padding_mode, 0))
        if img.mode == "P":
            out.putpalette(img.getpalette())
        return out
    if not isinstance(img, Tensor):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")
    if not isinstance(fill, numbers.Number):
        raise TypeError("tensor padding takes a single number as fill")
    arr = img.detach()._data
    return Tensor._make(_pad_array(arr, left, top, right, bottom, fill, padding_mode, arr.ndim - 2))


def crop(img, top, left, height, width):
    """The (height, width) window at (top, left); parts outside the image are zeros."""
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    h, w = _size_hw(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        inside = img[..., max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)]
        ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                max(right - max(w, left), 0), max(bottom - max(h, top), 0)]
        return pad(inside, ltrb, fill=0)
    return img[..., top:bottom, left:right]


def center_crop(img, output_size):
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, Sequence) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    h, w = _size_hw(img)
    crop_h, crop_w = output_size
    if crop_w > w or crop_h > h:
        ltrb = [(crop_w - w) // 2 if crop_w > w else 0, (crop_h - h) // 2 if crop_h > h else 0,
                (crop_w - w + 1) // 2 if crop_w > w else 0, (crop_h - h + 1) // 2 if crop_h > h else 0]
        img = pad(img, ltrb, fill=0)
        h, w = _size_hw(img)
        if crop_w == w and crop_h == h:
            return img
    # NOTE: Python's round (half to even), as torchvision
    return crop(img, int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0)), crop_h, crop_w)


# -- resizing -----------------------------------------------------------------------------------
def _resized_size(h, w, size, max_size):
    if len(size) == 1:  # the smaller edge becomes size[0], keeping the aspect ratio
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size[0], int(size[0] * long / short)
        if max_size is not None:
            if max_size <= size[0]:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested size for "
                                 f"the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, "
                         "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    return tuple(size)


def _linear_weights(in_size, out_size, antialias):
    """(out_size, in_size) matrix of bilinear weights with half-pixel centres. With antialias
    and downscaling, the triangle filter widens by the scale (Pillow's resampling)."""
    scale = in_size / out_size
    out = np.zeros((out_size, in_size))
    if antialias and scale > 1:
        centers = (np.arange(out_size) + 0.5) * scale
        for i, center in enumerate(centers):
            lo = max(int(center - scale + 0.5), 0)
            hi = min(int(center + scale + 0.5), in_size)
            w = np.maximum(0.0, 1.0 - np.abs((np.arange(lo, hi) - center + 0.5) / scale))
            out[i, lo:hi] = w / w.sum()
        return out
    src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    frac = src - i0
    rows = np.arange(out_size)
    np.add.at(out, (rows, i0), 1.0 - frac)
    np.add.at(out, (rows, i1), frac)
    return out


def _nearest_index(in_size, out_size, exact):
    scale = in_size / out_size
    pos = (np.arange(out_size) + 0.5) * scale if exact else np.arange(out_size) * scale
    return np.minimum(np.floor(pos).astype(np.int64), in_size - 1)


def _resize_tensor(img, out_h, out_w, interpolation, antialias):
    h, w = img.shape[-2], img.shape[-1]
    if interpolation in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        exact = interpolation is InterpolationMode.NEAREST_EXACT
        rows = _creation.from_numpy(_nearest_index(h, out_h, exact))
        cols = _creation.from_numpy(_nearest_index(w, out_w, exact))
        return img.index_select(-2, rows).index_select(-1, cols)
    if interpolation is not InterpolationMode.BILINEAR:
        raise ValueError(f"tensors can be resized with nearest or bilinear interpolation, not "
                         f"{interpolation.value}; resize the PIL image instead")
    x = img if img.is_floating_point() else img.to(_dtype.float32)
    wh = _creation.from_numpy(_linear_weights(h, out_h, antialias).astype(x._data.dtype))
    ww = _creation.from_numpy(_linear_weights(w, out_w, antialias).T.astype(x._data.dtype))
    out = wh.matmul(x).matmul(ww)
    if not img.is_floating_point():
        out = out.round().to(img.dtype)  # round half to even, like torch.round
    return out


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    interpolation = _interpolation(interpolation)
    h, w = _size_hw(img)
    out_h, out_w = _resized_size(h, w, [size] if isinstance(size, int) else list(size), max_size)
    if (out_h, out_w) == (h, w):
        return img
    if _is_pil(img):
        return img.resize((out_w, out_h), _PIL_FILTERS[interpolation])
    return _resize_tensor(img, out_h, out_w, interpolation, antialias)


# -- rotation -----------------------------------------------------------------------------------
def _rotate_tensor(img, angle, interpolation, expand, center, fill):
    h, w = img.shape[-2], img.shape[-1]
    cx, cy = (0.0, 0.0) if center is None else (center[0] - w * 0.5, center[1] - h * 0.5)
    a = math.radians(angle)
    # inverse map, output -> input, in coordinates centred on the image (y points down)
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    shift = np.array([cx, cy]) - m @ np.array([cx, cy])
    oh, ow = h, w
    if expand:
        corners = np.array([[-0.5 * w, -0.5 * h], [-0.5 * w, 0.5 * h], [0.5 * w, 0.5 * h], [0.5 * w, -0.5 * h]])
        pts = corners @ m.T
        tol = 1e-4  # trims round-off so that 90-degree turns do not grow by a pixel
        size = np.ceil(np.trunc(pts.max(0) / tol) * tol) - np.floor(np.trunc(pts.min(0) / tol) * tol)
        ow, oh = int(size[0]), int(size[1])
    ys, xs = np.meshgrid(np.arange(oh) + 0.5 - oh * 0.5, np.arange(ow) + 0.5 - ow * 0.5, indexing="ij")
    src_x = m[0, 0] * xs + m[0, 1] * ys + shift[0] + w * 0.5 - 0.5
    src_y = m[1, 0] * xs + m[1, 1] * ys + shift[1] + h * 0.5 - 0.5
    arr = img.detach()._data
    data = arr.astype(np.float32) if arr.dtype.kind != "f" else arr
    fill = np.asarray(fill, data.dtype)
    if fill.ndim:  # one value per channel
        fill = fill.reshape(-1, 1, 1)

    def sample(yi, xi):
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        return np.where(ok, data[..., np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], 0), ok

    if interpolation is InterpolationMode.NEAREST:
        vals, ok = sample(np.rint(src_y).astype(np.int64), np.rint(src_x).astype(np.int64))
        out = np.where(ok, vals, fill)
    elif interpolation is InterpolationMode.BILINEAR:
        x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
        fx, fy = (src_x - x0).astype(data.dtype), (src_y - y0).astype(data.dtype)
        out, mask = 0, 0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                vals, ok = sample(y0 + dy, x0 + dx)
                out = out + vals * (wy * wx)
                mask = mask + ok * (wy * wx)
        out = out * mask + (1.0 - mask) * fill  # torchvision's blend with the fill colour
    else:
        raise ValueError(f"tensors can be rotated with nearest or bilinear interpolation, not {interpolation.value}")
    if arr.dtype.kind != "f":
        out = np.round(out)
    return Tensor._make(np.asarray(out).astype(arr.dtype))


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=None):
    """Rotate counter-clockwise by `angle` degrees about the centre (or `center`, (x, y))."""
    interpolation = _interpolation(interpolation)
    if _is_pil(img):
        if isinstance(fill, (list, tuple)):
            fill = tuple(int(f) for f in fill) if len(fill) > 1 else int(fill[0])
        return img.rotate(angle, resample=_PIL_FILTERS[interpolation], expand=expand, center=center,
                          fillcolor=fill)
    if not isinstance(img, Tensor):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")
    return _rotate_tensor(img, angle, interpolation, expand, center, 0 if fill is None else fill)
