"""What ember's readers and writers share: bounds-checked views of untrusted bytes, the
RuntimeError every malformed file raises, a zip reader that checks entry sizes before
reading, and atomic writes."""
import io
import os
import struct
import tempfile
import zipfile

import numpy as np

from .._tensor import Tensor

_CHUNK = 1 << 24
_MAX_JSON = 1 << 28


def _parameter_cls():
    try:
        from ..nn.parameter import Parameter
    except ImportError:
        return None
    return Parameter


def _extent(shape, strides, offset, itemsize):
    """[lo, hi) byte range that an array of this shape/strides at `offset` touches."""
    if any(n == 0 for n in shape):
        return offset, offset
    lo = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    hi = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0) + itemsize
    return lo, hi


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
