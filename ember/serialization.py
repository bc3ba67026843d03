"""ember.save / ember.load: checkpoints that load without running code, plus torch-free
readers of PyTorch's .pt files and of safetensors files.

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

Loading is always safe, whatever `weights_only` says: JSON is data, PyTorch's pickles go
through an unpickler that admits only tensor rebuilding and plain containers, and every
size in a header is checked against the bytes actually present before anything is made.
"""
import base64
import collections
import io
import json
import math
import os
import pickle
import pickletools
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Hashable

import numpy as np

from . import _dtype
from ._tensor import Size, Tensor, device

__all__ = ["load", "load_safetensors", "save", "save_safetensors"]

FORMAT_VERSION = 1
_HEADER = "ember/header.json"
_DATA = "ember/data/"
_ALIGN = 64
_CHUNK = 1 << 24
_MAX_DEPTH = 200  # nesting of saved containers; deeper input is refused, not recursed into
_MAX_JSON = 1 << 28


def _parameter_cls():
    try:
        from .nn.parameter import Parameter
    except ImportError:
        return None
    return Parameter


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

    def write(self, fh, root):
        header = {"format": "ember", "version": FORMAT_VERSION, "byteorder": "little",
                  "storages": [{"nbytes": int(s.nbytes)} for s in self.storages], "tensors": self.tensors,
                  "root": root}
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(_HEADER, json.dumps(header, allow_nan=False, separators=(",", ":")))
            for i, arr in enumerate(self.storages):
                _write_storage(zf, f"{_DATA}{i}", arr)


def _extent(shape, strides, offset, itemsize):
    """[lo, hi) byte range that an array of this shape/strides at `offset` touches."""
    if any(n == 0 for n in shape):
        return offset, offset
    lo = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    hi = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0) + itemsize
    return lo, hi


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


def _atomic_write(path, write):
    """write(fh) into a temporary file beside `path`, fsync, then rename over `path`: a crash
    leaves either the old file or the new one, and no temporary file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save tensors, Parameters and nested dicts/lists/tuples of them (state_dicts, whole
    checkpoints) to a path or a binary file object, in ember's format (no pickle).

    Writing to a path is atomic. `pickle_module`/`pickle_protocol` are accepted for
    compatibility and unused."""
    saver = _Saver()
    root = saver.encode(obj)  # unsupported objects fail here, before the file is touched
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(f, lambda fh: saver.write(fh, root))
    else:
        saver.write(f, root)


# == loading: shared pieces ======================================================================
def _fail(source, msg):
    raise RuntimeError(f"{source}: {msg}")


def _check(cond, source, msg):
    if not cond:
        _fail(source, msg)


def _is_int(x, lo=0):
    return type(x) is int and x >= lo


def _native(arr):
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def _bfloat16_to_float32(raw):
    """bfloat16 is the top half of a float32: widening it is exact."""
    return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)


def _as_tensor(arr, requires_grad, source):
    t = Tensor._make(arr)
    if requires_grad:
        _check(arr.dtype.kind == "f", source, f"a {arr.dtype} tensor can't require grad")
        t.requires_grad_(True)
    return t


def _strided(buf, shape, strides, offset, dtype, source):
    """A view of the uint8/typed 1-D buffer `buf` after checking it stays inside it."""
    _check(isinstance(shape, (list, tuple)) and len(shape) <= 64 and all(_is_int(n) for n in shape),
           source, f"bad tensor shape {shape!r:.80}")
    _check(isinstance(strides, (list, tuple)) and len(strides) == len(shape)
           and all(_is_int(s, lo=-(1 << 62)) for s in strides), source, f"bad strides {strides!r:.80}")
    _check(_is_int(offset), source, f"bad storage offset {offset!r:.40}")
    lo, hi = _extent(shape, strides, offset, dtype.itemsize)
    _check(lo >= 0 and hi <= buf.nbytes and offset <= buf.nbytes, source,
           f"a tensor of shape {tuple(shape)} at byte {offset} reaches outside its storage of {buf.nbytes} bytes")
    return np.ndarray(tuple(shape), dtype, buffer=buf, offset=offset, strides=tuple(strides))


class _Archive:
    """A zip archive being loaded: entry sizes are checked against the archive before reading."""

    def __init__(self, fh, source, mmap_path):
        self.fh, self.source, self.mmap_path = fh, source, mmap_path
        self.size = fh.seek(0, io.SEEK_END)
        fh.seek(0)
        self.zf = zipfile.ZipFile(fh)
        self.names = set(self.zf.namelist())

    def read(self, name, nbytes=None, limit=None):
        """The bytes of entry `name` as a uint8 array (memory-mapped when asked and stored)."""
        _check(name in self.names, self.source, f"missing archive entry {name}")
        info = self.zf.getinfo(name)
        stored = info.compress_type == zipfile.ZIP_STORED
        bound = self.size if stored else self.size * 1100  # deflate expands at most ~1032x
        _check(info.file_size <= bound and (limit is None or info.file_size <= limit), self.source,
               f"entry {name} claims {info.file_size} bytes, more than the archive can hold")
        if nbytes is not None:
            _check(info.file_size == nbytes, self.source,
                   f"entry {name} holds {info.file_size} bytes, expected {nbytes}")
        if self.mmap_path and stored and info.file_size:
            self.fh.seek(info.header_offset)
            local = self.fh.read(30)
            _check(len(local) == 30 and local[:4] == b"PK\x03\x04", self.source, f"bad local header for {name}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            _check(start + info.file_size <= self.size, self.source, f"entry {name} runs past the end of the file")
            return np.memmap(self.mmap_path, np.uint8, "c", start, (info.file_size,))
        buf = bytearray(info.file_size)
        with self.zf.open(info) as src:
            view, got = memoryview(buf), 0
            while got < len(buf):
                n = src.readinto(view[got:got + _CHUNK])
                _check(n, self.source, f"entry {name} is truncated: {got} of {len(buf)} bytes")
                got += n
            src.read(1)  # reaching the end makes zipfile check the CRC
        return np.frombuffer(buf, np.uint8)


# == loading ember's format =======================================================================
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


# == loading PyTorch's formats ======================================================================
class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only the globals in `allowed` ((module, name) -> object);
    any other global raises pickle.UnpicklingError naming it.

    BUILD (which sets an object's state) is allowed only on fresh instances of
    `build_types`, never on a shared global; opcodes that make instances of a class
    (INST, OBJ, NEWOBJ) are refused. Python's pickle implementation is used because its
    BUILD can be checked; the pickles read here are small next to the tensors' bytes."""

    forbidden = frozenset({"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"})

    def __init__(self, file, allowed, why, build_types=(), **kwargs):
        super().__init__(file, **kwargs)
        self._allowed, self._why, self._build_types = allowed, why, tuple(build_types)

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}': {self._why}") from None

    def _load_build(self):
        target = self.stack[-2] if len(self.stack) > 1 else None
        if type(target) not in self._build_types:
            raise pickle.UnpicklingError(f"BUILD on a {type(target).__name__} is not allowed")
        pickle._Unpickler.load_build(self)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build


def _scan_pickle(stream, forbidden):
    """Walk the opcodes without running them, so that lengths and memo indices declared in
    the pickle are checked against the data before anything is allocated for them (the C
    unpickler would allocate a declared 4 GiB bytes object or memo table before reading)."""
    start, count = stream.tell(), 0
    for opcode, arg, _ in pickletools.genops(stream):
        count += 1
        if opcode.name in forbidden:
            raise pickle.UnpicklingError(f"opcode {opcode.name} is not allowed here")
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and arg > count:
            raise pickle.UnpicklingError(f"memo index {arg} is out of range")
    stream.seek(start)


def restricted_load(stream, unpickler, source):
    """unpickler.load() for a RestrictedUnpickler reading `stream` (seekable), after checking
    the pickle's opcodes and declared sizes; any failure on malformed data is a
    pickle.UnpicklingError naming the source."""
    try:
        _scan_pickle(stream, unpickler.forbidden)
        return unpickler.load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{source}: {e}") from e
    except Exception as e:  # wrong argument types to an allowed function, truncated stream, ...
        raise pickle.UnpicklingError(f"{source}: malformed pickle data ({type(e).__name__}: {e})") from e


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(text, "latin1")
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin1 text")
    return obj.encode("latin1")


def _no_size(cls):
    def make(*args):
        if args and isinstance(args[0], int):  # bytes(10**12) would allocate
            raise pickle.UnpicklingError(f"{cls.__name__}(int) is not allowed")
        return cls(*args)
    return make


SAFE_BUILTINS = {("_codecs", "encode"): _latin1_encode}
for _module in ("builtins", "__builtin__"):
    SAFE_BUILTINS.update({(_module, "dict"): dict, (_module, "list"): list, (_module, "tuple"): tuple,
                          (_module, "set"): set, (_module, "frozenset"): frozenset,
                          (_module, "bytes"): _no_size(bytes), (_module, "bytearray"): _no_size(bytearray)})


class _StorageType:
    """Stands for torch.FloatStorage & co.: the dtype its bytes hold (None: untyped bytes)."""

    def __init__(self, name, np_dtype):
        self.name, self.np = name, np_dtype
        self.itemsize = 1 if np_dtype is None else (2 if np_dtype == "bfloat16" else np.dtype(np_dtype).itemsize)


class _Storage:
    def __init__(self, array):
        self.array = array  # 1-D, native byte order


class _PendingStorage:
    """A storage whose bytes come later in the file (first pass over a legacy file)."""


class _TensorType:
    """Stands for torch.Tensor in _rebuild_from_type_v2."""


def _make_tensor(storage, storage_offset, size, stride, requires_grad, dtype=None):
    if isinstance(storage, _PendingStorage):
        return None
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor must be rebuilt from a storage")
    arr = storage.array
    if dtype is not None:  # _rebuild_tensor_v3: untyped bytes viewed as `dtype`
        if arr.dtype != np.uint8 or arr.size % dtype.itemsize:
            raise pickle.UnpicklingError(f"storage of {arr.nbytes} bytes can't hold {dtype} elements")
        arr = arr.view(dtype.np)
    item = arr.itemsize
    if not (_is_int(storage_offset) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise pickle.UnpicklingError("bad tensor metadata")
    view = _strided(arr, size, [s * item if _is_int(s) else s for s in stride], storage_offset * item, arr.dtype,
                    "tensor")
    if requires_grad not in (True, False):
        raise pickle.UnpicklingError("bad requires_grad flag")
    return _as_tensor(view, requires_grad, "tensor")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _make_tensor(storage, storage_offset, size, stride, False)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _make_tensor(storage, storage_offset, size, stride, requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    if not isinstance(dtype, _dtype.dtype):
        raise pickle.UnpicklingError("bad dtype in _rebuild_tensor_v3")
    return _make_tensor(storage, storage_offset, size, stride, requires_grad, dtype)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    if data is None:  # first pass over a legacy file
        return None
    if not isinstance(data, Tensor) or requires_grad not in (True, False):
        raise pickle.UnpicklingError("a Parameter must be rebuilt from a tensor")
    parameter = _parameter_cls()
    return parameter(data, requires_grad) if parameter is not None else data.requires_grad_(requires_grad)


_REBUILDERS = {name: fn for name, fn in (
    ("_rebuild_tensor", _rebuild_tensor), ("_rebuild_tensor_v2", _rebuild_tensor_v2),
    ("_rebuild_tensor_v3", _rebuild_tensor_v3), ("_rebuild_parameter", _rebuild_parameter),
    ("_rebuild_parameter_with_state", _rebuild_parameter))}


def _rebuild_from_type_v2(func, new_type, args, state):
    # torch uses this for tensors carrying Python attributes; the attributes are dropped
    if func not in _REBUILDERS.values() or new_type is not _TensorType or not isinstance(args, tuple):
        raise pickle.UnpicklingError("_rebuild_from_type_v2 may only rebuild plain tensors")
    return func(*args)


_TORCH_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
                   "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
_TORCH_GLOBALS = dict(SAFE_BUILTINS)
_TORCH_GLOBALS.update({("torch._utils", name): f for name, f in _REBUILDERS.items()})
_TORCH_GLOBALS.update({
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorType,
    ("torch", "Size"): Size,
    ("torch", "device"): lambda *args: device("cpu"),  # everything loads onto the CPU
    ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage", None),
    ("torch", "UntypedStorage"): _StorageType("UntypedStorage", None),
    ("collections", "OrderedDict"): collections.OrderedDict,
})
_TORCH_GLOBALS.update({("torch", name): _StorageType(name, t) for name, t in _TORCH_STORAGES.items()})
_TORCH_GLOBALS.update({("torch", d.name): d for d in _dtype.ALL})
_TORCH_GLOBALS[("torch", "bfloat16")] = _dtype.float32  # bfloat16 tensors load widened to float32
_TORCH_UNSUPPORTED = {name: name for name in ("uint16", "uint32", "uint64", "complex32", "complex64", "complex128",
                                               "float8_e4m3fn", "float8_e5m2")}
_TORCH_UNSUPPORTED.update({"ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
                           "QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32"})


class _TorchUnpickler(RestrictedUnpickler):
    def __init__(self, file, storages):
        # BUILD: torch pickles a state_dict's `_metadata` attribute onto its OrderedDict
        super().__init__(file, _TORCH_GLOBALS,
                         "ember loads only tensors, parameters and plain containers from PyTorch checkpoints "
                         "(never arbitrary pickled objects)", build_types=(collections.OrderedDict,),
                         encoding="utf-8")
        self._storages = storages

    def find_class(self, module, name):
        if module == "torch" and name in _TORCH_UNSUPPORTED:
            dtype = _TORCH_UNSUPPORTED[name]
            raise pickle.UnpicklingError(f"tensors of dtype torch.{dtype} are not supported by ember")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return self._storages(pid)


class _TorchStorages:
    """persistent_load for PyTorch checkpoints: ('storage', type, key, location, numel[, view])
    -> a _Storage over the record's bytes, checked against the declared size."""

    def __init__(self, read_record, big_endian, source):
        self.read_record, self.big_endian, self.source = read_record, big_endian, source
        self.cache, self.declared = {}, {}

    def __call__(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid[:5]
        if not (isinstance(stype, _StorageType) and isinstance(key, str) and _is_int(numel)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        self.declared.setdefault(key, (stype, numel))
        if (key, stype.name) not in self.cache:
            storage = self._build(stype, key, numel)
            if storage is None:
                return _PendingStorage()
            self.cache[(key, stype.name)] = storage
        storage = self.cache[(key, stype.name)]
        if len(pid) == 6 and pid[5] is not None and isinstance(storage, _Storage):  # legacy view: (key, offset, size)
            view = pid[5]
            if not (isinstance(view, tuple) and len(view) == 3 and _is_int(view[1]) and _is_int(view[2])
                    and view[1] + view[2] <= storage.array.size):
                raise pickle.UnpicklingError("bad storage view")
            storage = _Storage(storage.array[view[1]:view[1] + view[2]])
        return storage

    def _build(self, stype, key, numel):
        raw = self.read_record(key, numel * stype.itemsize)
        if raw is None:
            return None
        if stype.np is None:
            return _Storage(raw)
        if stype.np == "bfloat16":
            if self.big_endian:
                raw = raw.view(">u2").astype("<u2").view(np.uint8)
            warnings.warn(f"{self.source}: bfloat16 tensors were widened to float32 (ember has no bfloat16)")
            return _Storage(_bfloat16_to_float32(raw))
        return _Storage(_native(raw.view(np.dtype(stype.np).newbyteorder(">" if self.big_endian else "<"))))


def _load_torch_zip(archive, prefix):
    src = archive.source
    byteorder = "little"
    if prefix + "byteorder" in archive.names:
        byteorder = archive.read(prefix + "byteorder", limit=16).tobytes().decode("ascii", "replace").strip()
        _check(byteorder in ("little", "big"), src, f"unknown byte order {byteorder!r}")

    def read_record(key, nbytes):
        _check("/" not in key, src, f"bad storage key {key!r:.40}")
        return archive.read(f"{prefix}data/{key}", nbytes)

    stream = io.BytesIO(archive.read(prefix + "data.pkl").tobytes())
    storages = _TorchStorages(read_record, byteorder == "big", src)
    return restricted_load(stream, _TorchUnpickler(stream, storages), src)


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PREFIX = b"\x80\x02\x8a\x0a" + _LEGACY_MAGIC.to_bytes(10, "little")


def _load_torch_legacy(data, source):
    """PyTorch's pre-1.6 format: pickles of (magic, protocol 1001, system info), the object
    pickle, the list of storage keys, then each storage as <int64 numel><bytes>."""
    stream = io.BytesIO(data)
    plain = lambda: restricted_load(  # noqa: E731
        stream, RestrictedUnpickler(stream, SAFE_BUILTINS, "not part of a PyTorch checkpoint header"), source)
    magic, protocol, sys_info = plain(), plain(), plain()
    _check(magic == _LEGACY_MAGIC and protocol == 1001 and isinstance(sys_info, dict), source,
           "not a PyTorch legacy checkpoint (bad magic number or protocol version)")
    big_endian = sys_info.get("little_endian", True) is False
    start = stream.tell()
    # first pass: learn each storage's type and size (the bytes come after this pickle)
    first = _TorchStorages(lambda key, nbytes: None, big_endian, source)
    restricted_load(stream, _TorchUnpickler(stream, first), source)
    keys = plain()
    _check(isinstance(keys, list) and all(isinstance(k, str) for k in keys), source, "bad storage key list")
    records = {}
    for key in keys:
        _check(key in first.declared, source, f"storage {key!r:.40} is not used by any tensor")
        stype, numel = first.declared[key]
        head = stream.read(8)
        _check(len(head) == 8, source, f"truncated storage {key}")
        _check(int.from_bytes(head, "little") == numel, source, f"storage {key} size does not match its tensors")
        nbytes = numel * stype.itemsize
        chunk = stream.read(nbytes)
        _check(len(chunk) == nbytes, source, f"truncated storage {key}: {len(chunk)} of {nbytes} bytes")
        records[key] = np.frombuffer(bytearray(chunk), np.uint8)

    def read_record(key, nbytes):
        _check(key in records and records[key].size == nbytes, source, f"missing or mis-sized storage {key!r:.40}")
        return records[key]

    stream.seek(start)
    return restricted_load(stream, _TorchUnpickler(stream, _TorchStorages(read_record, big_endian, source)), source)


# == safetensors ==================================================================================
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


# == load ===========================================================================================
def _check_map_location(map_location):
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return  # everything lands on the CPU anyway
    device(str(map_location))  # a string or device must name the CPU


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Load what ember.save wrote, a PyTorch checkpoint (zip or legacy format; no torch
    needed) or a safetensors file, from a path or a binary file object.

    Loading is always safe: no code from the file runs, whatever `weights_only` says
    (`weights_only=False` does not enable arbitrary unpickling). Everything is loaded onto
    the CPU; `map_location` strings/devices must name the CPU, dicts and callables are
    accepted and have nothing to do. `mmap=True` (paths only) memory-maps storages
    copy-on-write instead of reading them."""
    _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        with open(path, "rb") as fh:
            return _load_stream(fh, path, path if mmap else None)
    if mmap:
        raise ValueError("f must be a file path in order to use the mmap argument")
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())
    return _load_stream(f, repr(getattr(f, "name", f)), None)


def _load_stream(fh, source, mmap_path):
    start = fh.tell()
    head = fh.read(len(_LEGACY_PREFIX))
    fh.seek(start)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _load_zip(fh, source, mmap_path)
    if head == _LEGACY_PREFIX:
        return _load_torch_legacy(fh.read(), source)
    if len(head) >= 9 and head[8:9] == b"{":
        buf = _file_bytes(mmap_path, True) if mmap_path else np.frombuffer(bytearray(fh.read()), np.uint8)
        return _read_safetensors(buf, source)
    _fail(source, "not an ember, PyTorch or safetensors checkpoint (unrecognised first bytes "
                  f"{head[:8]!r}); ember never unpickles arbitrary files")


def _load_zip(fh, source, mmap_path):
    try:
        archive = _Archive(fh, source, mmap_path)
        if _HEADER in archive.names:
            return _EmberReader(archive).load()
        pickles = sorted(n for n in archive.names if n.endswith("/data.pkl") and n.count("/") == 1)
        _check(pickles, source, f"a zip archive, but neither an ember checkpoint ({_HEADER}) "
                                "nor a PyTorch one (<name>/data.pkl)")
        return _load_torch_zip(archive, pickles[0][: -len("data.pkl")])
    except (RuntimeError, pickle.UnpicklingError):
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, EOFError, OSError, ValueError, KeyError,
            OverflowError, zlib.error) as e:
        raise RuntimeError(f"{source}: corrupt or truncated archive ({type(e).__name__}: {e})") from e
