"""Readers of PyTorch's checkpoint formats (the zip archive of torch>=1.6 and the older
legacy stream) without torch: tensors are rebuilt from the pickles by allow-listed functions."""
import collections
import io
import pickle
import warnings

import numpy as np

from .. import _dtype
from .._tensor import Size, Tensor, device
from ._common import _as_tensor, _bfloat16_to_float32, _check, _is_int, _native, _parameter_cls, _strided
from ._unpickle import SAFE_BUILTINS, RestrictedUnpickler, restricted_load


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
