"""ember.save / ember.load: checkpoints that load without running code, plus torch-free
readers of PyTorch's .pt files and of safetensors files.

Loading is always safe, whatever `weights_only` says: JSON is data, PyTorch's pickles go
through an unpickler that admits only tensor rebuilding and plain containers, and every
size in a header is checked against the bytes actually present before anything is made.

This module holds the entry points and picks the reader from a file's first bytes; ember's
format is in _ember_format, PyTorch's in _torch_format (through the restricted unpickler of
_unpickle), safetensors in _safetensors.
"""
import io
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

from .._tensor import device
from ._common import _Archive, _atomic_write, _check, _fail
from ._ember_format import _HEADER, _EmberReader, _Saver, _write_storage
from ._safetensors import _file_bytes, _read_safetensors, load_safetensors, save_safetensors
from ._torch_format import _LEGACY_PREFIX, _load_torch_legacy, _load_torch_zip

# importable from here as before the split: the restricted unpickler (ember.vision.datasets
# reads CIFAR's pickles with it), the format version, and what the tests inspect
from ._ember_format import FORMAT_VERSION  # noqa: F401
from ._torch_format import _LEGACY_MAGIC, _TORCH_GLOBALS  # noqa: F401
from ._unpickle import SAFE_BUILTINS, RestrictedUnpickler, restricted_load  # noqa: F401

__all__ = ["load", "load_safetensors", "save", "save_safetensors"]


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save tensors, Parameters and nested dicts/lists/tuples of them (state_dicts, whole
    checkpoints) to a path or a binary file object, in ember's format (no pickle).

    Writing to a path is atomic. `pickle_module`/`pickle_protocol` are accepted for
    compatibility and unused."""
    saver = _Saver()
    root = saver.encode(obj)  # unsupported objects fail here, before the file is touched
    # _write_storage is looked up here, when called, so that a test can cut a save short by
    # patching ember.serialization._write_storage
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(f, lambda fh: saver.write(fh, root, _write_storage))
    else:
        saver.write(f, root, _write_storage)


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
