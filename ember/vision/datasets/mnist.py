"""MNIST, FashionMNIST and KMNIST from IDX files (gzipped or not), as torchvision's.

Files are found in torchvision's layout (`root/MNIST/raw/train-images-idx3-ubyte[.gz]`)
or directly in `root` (e.g. Debian's `/usr/share/datasets/fashion-mnist`). Every file is
validated against its header before an array is made from it.
"""
import gzip
import operator
import os
import zlib

import numpy as np

from ... import _creation
from .utils import VisionDataset, download_and_extract_archive, read_exactly, to_image

# IDX type codes (http://yann.lecun.com/exdb/mnist/): data is big-endian
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path, expect_code=None, expect_ndim=None):
    """The array stored in an IDX file (gzipped when the name ends in .gz).

    Raises ValueError naming the file on a bad magic number, an unexpected type code or
    number of dimensions, truncated data or trailing bytes."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        try:
            return _read_idx(f, path, expect_code, expect_ndim)
        except (OSError, EOFError, zlib.error) as e:  # a damaged gzip stream
            raise ValueError(f"{path}: corrupt gzip data ({e})") from e


def _read_idx(f, path, expect_code, expect_ndim):
    head = bytes(read_exactly(f, 4, path, "IDX header"))
    if head[0] != 0 or head[1] != 0:
        raise ValueError(
            f"{path}: bad magic number 0x{head.hex()}: an IDX file starts with two zero bytes, "
            "a type code and the number of dimensions"
        )
    code, ndim = head[2], head[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02x} (known: 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)")
    if expect_code is not None and code != expect_code:
        raise ValueError(f"{path}: wrong dtype code 0x{code:02x}, expected 0x{expect_code:02x} (unsigned bytes)")
    if expect_ndim is not None and ndim != expect_ndim:
        raise ValueError(f"{path}: header declares {ndim} dimensions, expected {expect_ndim}")
    dims = tuple(int(d) for d in np.frombuffer(read_exactly(f, 4 * ndim, path, "IDX header"), ">u4"))
    dtype = _IDX_TYPES[code]
    nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    data = read_exactly(f, nbytes, path, f"IDX data of shape {dims}")
    if f.read(1):
        raise ValueError(f"{path}: trailing bytes after the {nbytes} bytes of data that the header declares")
    return np.frombuffer(data, dtype).astype(dtype.newbyteorder("="), copy=False).reshape(dims)


def read_image_file(path):
    return read_idx(path, expect_code=0x08, expect_ndim=3)


def read_label_file(path):
    return read_idx(path, expect_code=0x08, expect_ndim=1)


class MNIST(VisionDataset):
    """MNIST handwritten digits: `data` is a uint8 tensor (N, 28, 28), `targets` int64 (N,)."""

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    _install_hint = ""

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        paths = self._find_files()
        if paths is None:
            images, labels = self._split_files()
            raise RuntimeError(
                f"Dataset not found: {type(self).__name__} needs {images}[.gz] and {labels}[.gz], looked in "
                f"{self.raw_folder} and {self.root}. Use download=True to download it, or put the files in "
                f"one of those folders{self._install_hint}."
            )
        self.data, self.targets = self._load_data(*paths)

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def processed_folder(self):
        return os.path.join(self.root, type(self).__name__, "processed")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _split_files(self):
        prefix = "train" if self.train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _find_files(self):
        """(images, labels) paths from the first folder holding both, or None."""
        for folder in (self.raw_folder, self.root):
            paths = []
            for name in self._split_files():
                found = [p for p in (name, name + ".gz") if os.path.isfile(os.path.join(folder, p))]
                paths.append(os.path.join(folder, found[0]) if found else None)
            if all(paths):
                return paths
        return None

    def _check_exists(self):
        return self._find_files() is not None

    def _load_data(self, image_path, label_path):
        images = read_image_file(image_path)
        labels = read_label_file(label_path)
        if len(labels) != len(images):
            raise ValueError(f"{label_path}: label count mismatch: {len(labels)} labels for the {len(images)} "
                             f"images in {image_path}")
        bad = np.flatnonzero(labels >= len(self.classes))
        if bad.size:
            raise ValueError(f"{label_path}: label {labels[bad[0]]} at index {bad[0]} is out of range for "
                             f"{len(self.classes)} classes")
        return _creation.from_numpy(images), _creation.from_numpy(labels.astype(np.int64))

    def download(self):
        """Download (and gunzip) the four IDX files into raw_folder, unless already there."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            download_and_extract_archive(self.mirrors, filename, self.raw_folder, md5=md5)

    def __getitem__(self, index):
        index = operator.index(index)
        img = to_image(self.data._data[index])
        target = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST, same format as MNIST."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    _install_hint = (
        " (on Debian/Ubuntu: apt-get install dataset-fashion-mnist, then "
        "FashionMNIST('/usr/share/datasets/fashion-mnist'))"
    )


class KMNIST(MNIST):
    """Kuzushiji-MNIST (cursive Japanese), same format as MNIST."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
