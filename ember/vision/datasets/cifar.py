"""CIFAR10 and CIFAR100, from the python version (pickled batches) or the binary version.

The pickled batches are read by a restricted unpickler: it admits only the globals those
files contain (NumPy array and dtype reconstruction, a few builtins) and rebuilds arrays
itself from validated bytes, so a hostile file cannot run code; anything else raises
pickle.UnpicklingError naming the refused global.
"""
import io
import operator
import os
import pickle

import numpy as np

from ...serialization import SAFE_BUILTINS, RestrictedUnpickler, restricted_load
from .utils import VisionDataset, download_and_extract_archive, to_image

_IMAGE_BYTES = 3 * 32 * 32


# -- restricted unpickling of the python batches ----------------------------------------------
class _NDArrayType:
    """Stands for numpy.ndarray inside a batch file."""


class _Dtype:
    """A NumPy dtype rebuilt from pickle data; only plain numeric dtypes are accepted."""

    def __init__(self, spec, align=False, copy=False):
        if isinstance(spec, bytes):
            spec = spec.decode("latin1")
        if not isinstance(spec, str) or len(spec) > 8:
            raise pickle.UnpicklingError(f"unsupported dtype specification {spec!r}")
        try:
            dt = np.dtype(spec)
        except TypeError as e:
            raise pickle.UnpicklingError(f"unsupported dtype specification {spec!r}") from e
        if dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None:
            raise pickle.UnpicklingError(f"dtype {dt} is not allowed in a CIFAR batch (only numbers)")
        self.dtype = dt

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 5 or any(x is not None for x in state[2:5]):
            raise pickle.UnpicklingError("structured or sub-array dtypes are not allowed in a CIFAR batch")
        order = state[1].decode("latin1") if isinstance(state[1], bytes) else state[1]
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


def _as_bytes(raw):
    if isinstance(raw, str):  # Python 2 pickles read as latin1
        raw = raw.encode("latin1")
    if not isinstance(raw, (bytes, bytearray, memoryview, pickle.PickleBuffer)):
        raise pickle.UnpicklingError(f"array data must be bytes, got {type(raw).__name__}")
    return memoryview(raw).cast("B")


def _make_array(raw, dtype, shape, fortran=False):
    if not isinstance(dtype, _Dtype):
        raise pickle.UnpicklingError("array dtype was not rebuilt by numpy.dtype")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"bad array shape {shape!r}")
    raw = _as_bytes(raw)
    expected = int(np.prod(shape, dtype=object)) * dtype.dtype.itemsize
    if len(raw) != expected:
        raise pickle.UnpicklingError(f"array of shape {shape} needs {expected} bytes of data, found {len(raw)}")
    arr = np.frombuffer(raw, dtype.dtype).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.dtype.newbyteorder("="))  # a writable native-order copy


class _Array:
    """numpy.core.multiarray._reconstruct(ndarray, ...) followed by BUILD with the state."""

    array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("bad ndarray state")
        shape, dtype, fortran, raw = state[-4:]
        self.array = _make_array(raw, dtype, shape, bool(fortran))


def _reconstruct(cls, shape, typecode):
    if cls is not _NDArrayType:
        raise pickle.UnpicklingError("_reconstruct may only rebuild numpy.ndarray")
    return _Array()


def _frombuffer(buf, dtype, shape, order):
    return _make_array(buf, dtype, tuple(shape), order == "F")


_BATCH_GLOBALS = dict(SAFE_BUILTINS)
_BATCH_GLOBALS.update({
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDArrayType,
    ("numpy", "dtype"): _Dtype,
})


def _text(x):
    return x.decode("latin1") if isinstance(x, bytes) else x


def load_batch(path):
    """The dict in a CIFAR python batch, with str keys and NumPy arrays for array values."""
    with open(path, "rb") as f:
        raw = f.read()
    why = "CIFAR batches may only contain NumPy arrays, lists, dicts and strings"
    stream = io.BytesIO(raw)
    # BUILD sets the state of NumPy's arrays and dtypes, here of their stand-ins
    unpickler = RestrictedUnpickler(stream, _BATCH_GLOBALS, why, build_types=(_Array, _Dtype), encoding="bytes")
    obj = restricted_load(stream, unpickler, path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, found {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if isinstance(value, _Array):
            value = value.array
        out[_text(key)] = value
    return out


def _labels(value, n, n_classes, path, key):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise ValueError(f"{path}: '{key}' must be a list of ints")
    if len(value) != n:
        raise ValueError(f"{path}: label count mismatch: {len(value)} labels for {n} images")
    bad = [i for i, v in enumerate(value) if not 0 <= v < n_classes]
    if bad:
        raise ValueError(f"{path}: label {value[bad[0]]} at index {bad[0]} is out of range for {n_classes} classes")
    return value


# -- the datasets -------------------------------------------------------------------------------
class CIFAR10(VisionDataset):
    """CIFAR-10: `data` is a uint8 NumPy array (N, 32, 32, 3), `targets` a list of ints."""

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names", "md5": "5ff9c542aee3614f3951f8cda6e48888"}
    # the binary version: records of <label byte><3072 pixel bytes>
    binary_folder = "cifar-10-batches-bin"
    binary_train = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
    binary_test = ["test_batch.bin"]
    binary_meta = "batches.meta.txt"
    binary_label_bytes = 1  # the label is the last of these bytes

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if self._python_exists():
            self._load_python()
        elif self._binary_exists():
            self._load_binary()
        else:
            raise RuntimeError(
                f"Dataset not found: {type(self).__name__} looked for the python version in "
                f"{os.path.join(self.root, self.base_folder)} and the binary version in "
                f"{os.path.join(self.root, self.binary_folder)}. Use download=True to download it."
            )
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    # -- python version
    def _python_files(self):
        names = [n for n, _ in (self.train_list if self.train else self.test_list)] + [self.meta["filename"]]
        return [os.path.join(self.root, self.base_folder, n) for n in names]

    def _python_exists(self):
        return all(os.path.isfile(p) for p in self._python_files())

    def _load_python(self):
        *batches, meta_path = self._python_files()
        meta = load_batch(meta_path)
        names = meta.get(self.meta["key"])
        if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
            raise ValueError(f"{meta_path}: '{self.meta['key']}' must be a non-empty list of class names")
        self.classes = [_text(n) for n in names]
        data, targets = [], []
        for path in batches:
            entry = load_batch(path)
            images = entry.get("data")
            if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
                    or images.shape[1] != _IMAGE_BYTES:
                desc = f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray) \
                    else type(images).__name__
                raise ValueError(f"{path}: 'data' must be a uint8 array of shape (N, {_IMAGE_BYTES}), found {desc}")
            key = "labels" if "labels" in entry else "fine_labels"
            targets += _labels(entry.get(key), len(images), len(self.classes), path, key)
            data.append(images)
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))
        self.targets = targets

    # -- binary version
    def _binary_files(self):
        names = (self.binary_train if self.train else self.binary_test) + [self.binary_meta]
        return [os.path.join(self.root, self.binary_folder, n) for n in names]

    def _binary_exists(self):
        return all(os.path.isfile(p) for p in self._binary_files())

    def _load_binary(self):
        *batches, meta_path = self._binary_files()
        with open(meta_path, encoding="utf-8") as f:
            self.classes = [line.strip() for line in f if line.strip()]
        data, targets = [], []
        for path in batches:
            images, labels = read_binary_batch(path, self.binary_label_bytes, len(self.classes))
            data.append(images)
            targets += labels.tolist()
        self.data = np.concatenate(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))
        self.targets = targets

    def download(self):
        """Download and extract the python version into root, unless its files are there."""
        if self._python_exists():
            return
        download_and_extract_archive([self.url.rsplit("/", 1)[0] + "/"], self.filename, self.root, md5=self.tgz_md5)

    def __getitem__(self, index):
        index = operator.index(index)
        img, target = to_image(self.data[index]), self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


def read_binary_batch(path, label_bytes, n_classes):
    """Images (N, 3072) and labels (N,) from a CIFAR binary batch; the label is the last of
    the `label_bytes` bytes that precede each image (CIFAR-100 stores coarse, fine)."""
    record = label_bytes + _IMAGE_BYTES
    size = os.path.getsize(path)
    if size == 0 or size % record:
        raise ValueError(
            f"{path}: expected a whole number of {record}-byte records, found {size} bytes "
            f"({size % record} bytes left over)"
        )
    records = np.fromfile(path, np.uint8).reshape(-1, record)
    labels = records[:, label_bytes - 1]
    bad = np.flatnonzero(labels >= n_classes)
    if bad.size:
        raise ValueError(f"{path}: label {labels[bad[0]]} in record {bad[0]} is out of range for {n_classes} classes")
    return records[:, label_bytes:], labels.astype(np.int64)


class CIFAR100(CIFAR10):
    """CIFAR-100 with its 100 fine labels."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names", "md5": "7973b15100ade9c7d40fb424638fde48"}
    binary_folder = "cifar-100-binary"
    binary_train = ["train.bin"]
    binary_test = ["test.bin"]
    binary_meta = "fine_label_names.txt"
    binary_label_bytes = 2  # <coarse label><fine label>
