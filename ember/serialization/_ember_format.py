"""ember's own checkpoint format: the writer and the reader.

ember's own format is a zip archive (entries stored uncompressed):

    ember/header.json   {"format": "ember", "version": 1, "byteorder": "little",
                         "storages": [{"nbytes": N}, ...],
                         "tensors": [{"kind": "tensor" | "parameter" | "ndarray", "storage": i,
                                      "dtype": "float32", "offset": bytes, "shape": [...],
                                      "strides": [bytes, ...], "requires_grad": false}, ...],
                         "root": <the saved object>}
    ember/data/<i>      the raw little-endian bytes of storage i (64-byte aligned in the file)

The saved object is JSON: None, bools, ints, finite floats, strings and lists as themselves;
everything else as a one-key object: {"tensor": i}, {"tuple": [...]}, {"dict": [[k, v], ...]},
{"odict": [...]}, {"set": [...]}, {"float": "nan"}, {"bytes": "<base64>"},
{"dtype": "float32"}, {"size": [...]}, {"device": "cpu"}. Tensors that are views of one
array share one storage, and one tensor object saved twice loads as one object.
"""
import base64
import collections
import json
import math
import struct
import zipfile
from collections.abc import Hashable

import numpy as np

from .. import _dtype
from .._tensor import Size, Tensor, device
from ._common import _CHUNK, _MAX_JSON, _as_tensor, _check, _extent, _fail, _is_int, _native, _parameter_cls, _strided

FORMAT_VERSION = 1
_HEADER = "ember/header.json"
_DATA = "ember/data/"
_ALIGN = 64
_MAX_DEPTH = 200  # nesting of saved containers; deeper input is refused, not recursed into


# == saving =====================================================================================
class _Saver:
    """Turns an object into the JSON description and the list of storages to write."""

    def __init__(self):
        self.tensors, self.storages = [], []
        self._tensor_index, self._storage_index = {}, {}
        self._keep = []  # keeps saved objects alive so their ids stay unique
        self._parameter = _parameter_cls()

    def encode(self, obj, depth=0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"ember.save: containers nested deeper than {_MAX_DEPTH} levels")
        if obj is None or isinstance(obj, (bool, str)):
            return str(obj) if isinstance(obj, str) else obj
        if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
            return int(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, (float, np.floating)):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, (Tensor, np.ndarray)):
            return {"tensor": self._tensor(obj)}
        if isinstance(obj, _dtype.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, Size):
            return {"size": [int(n) for n in obj]}
        if isinstance(obj, device):
            return {"device": str(obj)}
        if isinstance(obj, bytes):
            return {"bytes": base64.b64encode(obj).decode("ascii")}
        kind = type(obj)
        if kind is list:
            return [self.encode(x, depth + 1) for x in obj]
        if kind is tuple:
            return {"tuple": [self.encode(x, depth + 1) for x in obj]}
        if kind in (set, frozenset):
            return {"set": [self.encode(x, depth + 1) for x in obj]}
        if kind in (dict, collections.OrderedDict):
            items = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()]
            return {"dict" if kind is dict else "odict": items}
        raise TypeError(
            f"ember.save can't store an object of type {kind.__module__}.{kind.__qualname__}: it stores tensors, "
            "numbers, strings, bytes, None, dtypes and lists/tuples/dicts/sets of them (save model.state_dict(), "
            "not the model)"
        )

    def _tensor(self, obj):
        if id(obj) in self._tensor_index:
            return self._tensor_index[id(obj)]
        self._keep.append(obj)
        if isinstance(obj, Tensor):
            arr, requires_grad = obj._data, obj.requires_grad
            kind = "parameter" if self._parameter is not None and isinstance(obj, self._parameter) else "tensor"
        else:
            arr, requires_grad, kind = obj, False, "ndarray"
        dt = _dtype.from_numpy_dtype(arr.dtype.newbyteorder("="))  # TypeError for dtypes ember lacks
        storage, offset, strides = self._place(arr)
        self.tensors.append({"kind": kind, "storage": storage, "dtype": dt.name, "offset": offset,
                             "shape": list(arr.shape), "strides": strides, "requires_grad": bool(requires_grad)})
        self._tensor_index[id(obj)] = len(self.tensors) - 1
        return len(self.tensors) - 1

    def _place(self, arr):
        """(storage index, byte offset, byte strides) of arr: inside the array owning its memory
        when that can be written as is, so views of one array share one storage."""
        base = arr
        while isinstance(base.base, np.ndarray):
            base = base.base
        little = lambda a: a.dtype.byteorder in "<|" or (a.dtype.byteorder == "=" and np.little_endian)  # noqa: E731
        if arr.size and base.flags.c_contiguous and little(base) and little(arr):
            start = arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]
            lo, hi = _extent(arr.shape, arr.strides, start, arr.itemsize)
            if lo >= 0 and hi <= base.nbytes:
                if id(base) not in self._storage_index:
                    self._keep.append(base)
                    self._storage_index[id(base)] = len(self.storages)
                    self.storages.append(base)
                return self._storage_index[id(base)], start, list(arr.strides)
        own = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        self.storages.append(own)
        return len(self.storages) - 1, 0, list(own.strides)

    def write(self, fh, root, write_storage):
        header = {"format": "ember", "version": FORMAT_VERSION, "byteorder": "little",
                  "storages": [{"nbytes": int(s.nbytes)} for s in self.storages], "tensors": self.tensors,
                  "root": root}
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(_HEADER, json.dumps(header, allow_nan=False, separators=(",", ":")))
            for i, arr in enumerate(self.storages):
                write_storage(zf, f"{_DATA}{i}", arr)


def _write_storage(zf, name, arr):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = arr.nbytes
    zip64 = arr.nbytes * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule; it adds a 20-byte extra
    # pad the local header's extra field so the data starts on a 64-byte boundary (for mmap)
    data_at = zf.fp.tell() + 30 + len(name.encode()) + 4 + (20 if zip64 else 0)
    pad = -data_at % _ALIGN
    info.extra = struct.pack("<HH", 0x454D, pad) + b"\0" * pad  # 0x454D: ember's private padding id
    flat = arr.reshape(-1).view(np.uint8)
    with zf.open(info, "w", force_zip64=zip64) as out:
        for start in range(0, flat.size, _CHUNK):
            out.write(flat[start:start + _CHUNK])


# == loading ======================================================================================
class _EmberReader:
    def __init__(self, archive):
        self.archive, self.source = archive, archive.source
        self._storages, self._objects = {}, {}
        self._parameter = _parameter_cls()

    def load(self):
        src = self.source
        try:
            header = json.loads(self.archive.read(_HEADER, limit=_MAX_JSON).tobytes().decode("utf-8"))
        except (ValueError, RecursionError) as e:
            _fail(src, f"unreadable header ({type(e).__name__}: {e})")
        _check(isinstance(header, dict) and header.get("format") == "ember", src, "not an ember checkpoint header")
        version = header.get("version")
        _check(_is_int(version, 1), src, f"bad format version {version!r:.40}")
        _check(version <= FORMAT_VERSION, src,
               f"written by a newer ember (format {version}; this one reads up to {FORMAT_VERSION})")
        _check(header.get("byteorder") == "little", src, "unsupported byte order")
        self.storages, self.tensors = header.get("storages"), header.get("tensors")
        _check(isinstance(self.storages, list) and isinstance(self.tensors, list), src, "header lacks its tables")
        return self.decode(header.get("root"), 0)

    def storage(self, i):
        if i not in self._storages:
            _check(_is_int(i) and i < len(self.storages) and isinstance(self.storages[i], dict), self.source,
                   f"bad storage index {i!r:.40}")
            nbytes = self.storages[i].get("nbytes")
            _check(_is_int(nbytes), self.source, f"bad size for storage {i}")
            self._storages[i] = self.archive.read(f"{_DATA}{i}", nbytes)
        return self._storages[i]

    def tensor(self, i):
        if i in self._objects:
            return self._objects[i]
        src = self.source
        _check(_is_int(i) and i < len(self.tensors) and isinstance(self.tensors[i], dict), src,
               f"bad tensor index {i!r:.40}")
        rec = self.tensors[i]
        dt = _dtype._BY_NAME.get(rec.get("dtype")) if isinstance(rec.get("dtype"), str) else None
        _check(dt is not None, src, f"unknown dtype {rec.get('dtype')!r:.40}")
        arr = _native(_strided(self.storage(rec.get("storage")), rec.get("shape"), rec.get("strides"),
                               rec.get("offset"), dt.np.newbyteorder("<"), src))
        kind, requires_grad = rec.get("kind"), rec.get("requires_grad")
        _check(kind in ("tensor", "parameter", "ndarray") and isinstance(requires_grad, bool), src,
               f"bad tensor record {i}")
        if kind == "ndarray":
            obj = arr
        else:
            obj = _as_tensor(arr, requires_grad, src)
            if kind == "parameter" and self._parameter is not None:
                obj = self._parameter(obj, requires_grad)
        self._objects[i] = obj
        return obj

    def decode(self, x, depth):
        src = self.source
        _check(depth <= _MAX_DEPTH, src, f"containers nested deeper than {_MAX_DEPTH} levels")
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, list):
            return [self.decode(v, depth + 1) for v in x]
        _check(isinstance(x, dict) and len(x) == 1, src, f"unexpected entry {x!r:.60}")
        (tag, v), = x.items()
        if tag == "tensor":
            return self.tensor(v)
        if tag in ("tuple", "set", "dict", "odict"):
            _check(isinstance(v, list), src, f"bad {tag} entry")
            if tag == "tuple":
                return tuple(self.decode(e, depth + 1) for e in v)
            if tag == "set":
                return set(self._key(e, depth) for e in v)
            _check(all(isinstance(kv, list) and len(kv) == 2 for kv in v), src, f"bad {tag} entry")
            out = {} if tag == "dict" else collections.OrderedDict()
            for k, e in v:
                out[self._key(k, depth)] = self.decode(e, depth + 1)
            return out
        if tag == "float" and v in ("nan", "inf", "-inf"):
            return float(v)
        if tag == "bytes" and isinstance(v, str):
            try:
                return base64.b64decode(v, validate=True)
            except ValueError as e:
                _fail(src, f"bad bytes entry ({e})")
        if tag == "dtype" and v in _dtype._BY_NAME:
            return _dtype._BY_NAME[v]
        if tag == "size" and isinstance(v, list) and all(_is_int(n) for n in v):
            return Size(v)
        if tag == "device" and v == "cpu":
            return device("cpu")
        _fail(src, f"unexpected entry {x!r:.60}")

    def _key(self, k, depth):
        key = self.decode(k, depth + 1)
        _check(isinstance(key, Hashable), self.source, f"unhashable key {k!r:.40}")
        return key
