"""safetensors files: a torch-free reader (any file of ember's dtypes) and a writer."""
import json
import math
import os
import warnings

import numpy as np

from .._tensor import Tensor
from ._common import _MAX_JSON, _atomic_write, _bfloat16_to_float32, _check, _fail, _is_int, _native

_ST_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
              "F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": "bfloat16"}


def _read_safetensors(buf, source):
    """{name: Tensor} from the bytes of a safetensors file (uint8 array); bfloat16 widens to float32."""
    _check(buf.size >= 8, source, "too short for a safetensors header")
    n = int.from_bytes(buf[:8].tobytes(), "little")
    _check(n <= buf.size - 8 and n <= _MAX_JSON, source,
           f"safetensors header length {n} exceeds the file ({buf.size} bytes)")
    try:
        header = json.loads(buf[8:8 + n].tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as e:
        _fail(source, f"unreadable safetensors header ({type(e).__name__}: {e})")
    _check(isinstance(header, dict), source, "safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None)
    _check(meta is None or (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())), source,
           "bad __metadata__")
    data, out, widened = buf[8 + n:], {}, False
    for name, info in header.items():
        dtype = info.get("dtype") if isinstance(info, dict) else None
        _check(dtype in _ST_DTYPES, source, f"tensor {name!r:.40}: missing or unsupported dtype {dtype!r:.20}")
        kind, shape, offsets = _ST_DTYPES[info["dtype"]], info.get("shape"), info.get("data_offsets")
        _check(isinstance(shape, list) and len(shape) <= 64 and all(_is_int(s) for s in shape), source,
               f"tensor {name!r:.40}: bad shape")
        _check(isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
               and offsets[0] <= offsets[1] <= data.size, source, f"tensor {name!r:.40}: data offsets outside the file")
        itemsize = 2 if kind == "bfloat16" else np.dtype(kind).itemsize
        count = math.prod(shape)
        span = offsets[1] - offsets[0]
        _check(count * itemsize == span, source,
               f"tensor {name!r:.40}: shape {shape} needs {count * itemsize} bytes, offsets span {span}")
        raw = data[offsets[0]:offsets[1]]
        if kind == "bfloat16":
            arr, widened = _bfloat16_to_float32(raw), True
        else:
            arr = _native(raw.view(np.dtype(kind).newbyteorder("<")))
        out[name] = Tensor._make(arr.reshape(shape))
    if widened:
        warnings.warn(f"{source}: bfloat16 tensors were widened to float32 (ember has no bfloat16)")
    return out


def _file_bytes(path, mmap):
    if mmap and os.path.getsize(path):
        return np.memmap(path, np.uint8, "c")
    with open(path, "rb") as f:
        return np.frombuffer(bytearray(f.read()), np.uint8)


def load_safetensors(path, mmap=False):
    """{name: Tensor} from a safetensors file (reads any file the format allows for ember's
    dtypes; bfloat16 is widened to float32). Needs no extra package."""
    path = os.fspath(path)
    return _read_safetensors(_file_bytes(path, mmap), path)


def save_safetensors(tensors, path, metadata=None):
    """Write {name: Tensor} to `path` as safetensors (atomically), readable by
    safetensors.torch.load_file. Needs the `safetensors` package."""
    try:
        from safetensors.numpy import save as st_save
    except ImportError:
        raise ImportError("save_safetensors needs the safetensors package: pip install safetensors") from None
    if not isinstance(tensors, dict) or not all(isinstance(k, str) for k in tensors):
        raise TypeError("save_safetensors expects a dict of {str: Tensor}")
    arrays = {}
    for name, t in tensors.items():
        if not isinstance(t, (Tensor, np.ndarray)):
            raise TypeError(f"save_safetensors: {name!r} is a {type(t).__name__}, not a Tensor")
        arrays[name] = np.ascontiguousarray(t.detach()._data if isinstance(t, Tensor) else t)
    if metadata is not None and not (isinstance(metadata, dict)
                                     and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("safetensors metadata must be a dict of {str: str}")
    data = st_save(arrays, metadata=metadata)
    _atomic_write(path, lambda fh: fh.write(data))
