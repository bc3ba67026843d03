"""ember.vision.datasets on small files written here in the official formats (IDX, CIFAR
python and binary batches, class folders), their corrupted variants, and downloads served
by a stand-in for urllib."""
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

import ember
import ember.vision
from ember.vision import datasets, transforms
from ember.vision.datasets import cifar, mnist, utils

try:
    from PIL import Image
except ImportError:
    Image = None
needs_pil = pytest.mark.skipif(Image is None, reason="Pillow is not installed")

RNG = np.random.default_rng(0)


# -- writers of the official formats ------------------------------------------------------------------
def idx_bytes(arr, code=0x08):
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + np.asarray(arr).astype(dtype).tobytes()


def write(path, data, gz=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)
    return path


def make_mnist(folder, n_train=7, n_test=3, gz=True, classes=10):
    """Four IDX files in `folder`; returns the arrays written."""
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, classes, n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), idx_bytes(images), gz)
        write(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), idx_bytes(labels), gz)
        out[prefix] = (images, labels)
    return out


def cifar_batch(n, labels_key=b"labels", classes=10, protocol=2, extra=None):
    d = {b"batch_label": b"training batch 1 of 5", b"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8),
         labels_key: [int(v) for v in RNG.integers(0, classes, n)],
         b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    d.update(extra or {})
    return d


def make_cifar10(root, n=4, protocol=2):
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    batches = {}
    for name, _ in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list:
        batches[name] = cifar_batch(n)
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batches[name], f, protocol=protocol)
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": n, b"num_vis": 3072}
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump(meta, f, protocol=protocol)
    return batches


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def as_hwc(flat):
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


# -- MNIST family --------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_torchvision_layout(tmp_path, gz):
    written = make_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = datasets.MNIST(str(tmp_path), train=train)
        images, labels = written[key]
        assert isinstance(ds.data, ember.Tensor) and ds.data.dtype == ember.uint8
        assert ds.data.shape == images.shape and ds.targets.dtype == ember.int64
        np.testing.assert_array_equal(ds.data.numpy(), images)
        np.testing.assert_array_equal(ds.targets.numpy(), labels)
        assert len(ds) == len(images)
        assert ds.class_to_idx["3 - three"] == 3 and len(ds.classes) == 10
        assert ds.raw_folder == os.path.join(str(tmp_path), "MNIST", "raw")


def test_plain_folder_and_subclasses(tmp_path):
    make_mnist(tmp_path)
    f = datasets.FashionMNIST(str(tmp_path))
    k = datasets.KMNIST(str(tmp_path), train=False)
    assert f.classes[0] == "T-shirt/top" and k.classes[-1] == "wo"
    assert len(f) == 7 and len(k) == 3
    assert isinstance(f, datasets.MNIST)


@needs_pil
def test_getitem_pil_and_transforms(tmp_path):
    images, labels = make_mnist(tmp_path)["train"]
    ds = datasets.MNIST(str(tmp_path))
    img, target = ds[2]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(img), images[2])
    assert target == int(labels[2]) and type(target) is int
    tf = datasets.MNIST(str(tmp_path), transform=transforms.ToTensor(), target_transform=lambda y: y + 100)
    x, y = tf[np.int64(2)]
    np.testing.assert_array_equal(x.numpy(), images[2][None] / np.float32(255))
    assert y == int(labels[2]) + 100


def test_getitem_without_pillow(tmp_path, monkeypatch):
    images, _ = make_mnist(tmp_path)["train"]
    monkeypatch.setattr(utils, "Image", None)
    ds = datasets.MNIST(str(tmp_path), transform=transforms.ToTensor())
    x, _ = ds[1]
    assert x.shape == (1, 28, 28)
    raw, _ = datasets.MNIST(str(tmp_path))[1]
    assert isinstance(raw, np.ndarray) and raw.dtype == np.uint8
    raw[:] = 0  # a copy: the dataset is untouched
    np.testing.assert_array_equal(ds.data.numpy()[1], images[1])


def test_repr(tmp_path):
    make_mnist(tmp_path)
    ds = datasets.MNIST(str(tmp_path), train=False)
    assert repr(ds) == f"Dataset MNIST\n    Number of datapoints: 3\n    Root location: {tmp_path}\n    Split: Test"
    ds = datasets.MNIST(str(tmp_path), transform=transforms.Compose([
        transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    assert repr(ds) == (
        f"Dataset MNIST\n    Number of datapoints: 7\n    Root location: {tmp_path}\n    Split: Train\n"
        "    StandardTransform\nTransform: Compose(\n               ToTensor()\n"
        "               Normalize(mean=(0.1307,), std=(0.3081,))\n           )"
    )


def test_missing_files_message(tmp_path):
    with pytest.raises(RuntimeError, match="download=True") as e:
        datasets.MNIST(str(tmp_path))
    assert str(tmp_path / "MNIST" / "raw") in str(e.value) and "train-images-idx3-ubyte" in str(e.value)
    with pytest.raises(RuntimeError, match="apt-get install dataset-fashion-mnist"):
        datasets.FashionMNIST(str(tmp_path))


def test_is_an_ember_dataset(tmp_path):
    data = pytest.importorskip("ember.utils.data")
    make_mnist(tmp_path)
    ds = datasets.MNIST(str(tmp_path), transform=transforms.ToTensor())
    assert isinstance(ds, data.Dataset)
    loader = data.DataLoader(ds, batch_size=4)
    x, y = next(iter(loader))
    assert tuple(x.shape) == (4, 1, 28, 28) and tuple(y.shape) == (4,)


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist():
    train = datasets.FashionMNIST("/usr/share/datasets/fashion-mnist")
    test = datasets.FashionMNIST("/usr/share/datasets/fashion-mnist", train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert train.data.shape == (60000, 28, 28)
    counts = np.bincount(train.targets.numpy(), minlength=10)
    assert counts.tolist() == [6000] * 10


# -- IDX validation -------------------------------------------------------------------------------
def _bad_dataset(tmp_path, image_bytes=None, label_bytes=None, gz=False):
    make_mnist(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    if image_bytes is not None:
        write(str(tmp_path / f"train-images-idx3-ubyte{suffix}"), image_bytes, gz)
    if label_bytes is not None:
        write(str(tmp_path / f"train-labels-idx1-ubyte{suffix}"), label_bytes, gz)
    return lambda: datasets.MNIST(str(tmp_path))


IMAGES = RNG.integers(0, 256, (7, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("images, labels, message", [
    (b"\x08\x03\x00\x00" + idx_bytes(IMAGES)[4:], None, "bad magic number"),
    (idx_bytes(IMAGES.astype(np.int32), 0x0C), None, r"wrong dtype code 0x0c"),
    (bytes([0, 0, 0x07, 3]) + idx_bytes(IMAGES)[4:], None, "unknown IDX dtype code 0x07"),
    (idx_bytes(IMAGES)[:-10], None, f"expected {7 * 28 * 28} bytes, found {7 * 28 * 28 - 10}"),
    (idx_bytes(IMAGES) + b"\0", None, "trailing bytes"),
    (idx_bytes(IMAGES)[:9], None, "truncated IDX header"),
    (b"", None, "truncated IDX header: expected 4 bytes, found 0"),
    (idx_bytes(IMAGES.reshape(7, 784)), None, "declares 2 dimensions, expected 3"),
    (None, idx_bytes(np.zeros(6, np.uint8)), "label count mismatch: 6 labels for the 7 images"),
    (None, idx_bytes(np.array([1, 2, 10, 0, 0, 0, 0], np.uint8)), "label 10 at index 2 is out of range"),
], ids=["magic", "dtype", "unknown-code", "truncated", "trailing", "short-header", "empty", "ndim", "count",
        "label-range"])
def test_corrupt_idx(tmp_path, images, labels, message, gz):
    load = _bad_dataset(tmp_path, images, labels, gz)
    with pytest.raises(ValueError, match=message) as e:
        load()
    assert "idx" in str(e.value)  # names the file


def test_corrupt_gzip_stream(tmp_path):
    make_mnist(tmp_path)
    good = gzip.compress(idx_bytes(IMAGES))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        datasets.MNIST(str(tmp_path))
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(ValueError, match="corrupt gzip"):
        datasets.MNIST(str(tmp_path))


def test_read_idx_other_types(tmp_path):
    arr = RNG.standard_normal((2, 3)).astype(np.float32)
    path = write(str(tmp_path / "x.idx"), idx_bytes(arr, 0x0D))
    out = mnist.read_idx(path)
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    ints = np.array([-5, 70000, 3], np.int32)
    np.testing.assert_array_equal(mnist.read_idx(write(str(tmp_path / "i.idx"), idx_bytes(ints, 0x0C))), ints)


# -- downloads ------------------------------------------------------------------------------------------
class FakeWeb:
    """Stands in for urllib.request.urlopen: serves bytes by URL and records the requests."""

    def __init__(self, files):
        self.files, self.requests = files, []

    def __call__(self, request, timeout=None):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        self.requests.append(url)
        if url not in self.files:
            raise urllib.error.URLError("no route to host (test)")
        return io.BytesIO(self.files[url])


def _mnist_payload():
    files, resources = {}, []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        arr = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8) if "images" in name else \
            RNG.integers(0, 10, 5, dtype=np.uint8)
        blob = gzip.compress(idx_bytes(arr))
        files[name + ".gz"] = blob
        resources.append((name + ".gz", hashlib.md5(blob).hexdigest()))
    return files, resources


def test_download_mnist(tmp_path, monkeypatch):
    files, resources = _mnist_payload()
    web = FakeWeb({"https://second.example/" + k: v for k, v in files.items()})
    monkeypatch.setattr(urllib.request, "urlopen", web)

    class Tiny(datasets.MNIST):
        mirrors = ["https://first.example/", "https://second.example/"]

    Tiny.resources = resources
    ds = Tiny(str(tmp_path), download=True)
    assert len(ds) == 5
    raw = tmp_path / "Tiny" / "raw"
    assert sorted(os.listdir(raw)) == sorted([n for n, _ in resources] + [n[:-3] for n, _ in resources])
    assert web.requests[0] == "https://first.example/train-images-idx3-ubyte.gz"  # tried first, then fell back
    n = len(web.requests)
    Tiny(str(tmp_path), download=True)  # already there: nothing is fetched
    assert len(web.requests) == n


def test_download_checksum_mismatch(tmp_path, monkeypatch):
    files, resources = _mnist_payload()
    monkeypatch.setattr(urllib.request, "urlopen", FakeWeb({"https://m.example/" + k: v for k, v in files.items()}))

    class Tiny(datasets.MNIST):
        mirrors = ["https://m.example/"]

    Tiny.resources = [(resources[0][0], "0" * 32)] + resources[1:]
    with pytest.raises(RuntimeError, match="checksum mismatch.*expected MD5 0{32}"):
        Tiny(str(tmp_path), download=True)
    assert os.listdir(tmp_path / "Tiny" / "raw") == []  # no partial or unverified file left


def test_download_all_mirrors_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", FakeWeb({}))
    with pytest.raises(RuntimeError, match="could not download train-images-idx3-ubyte.gz") as e:
        datasets.MNIST(str(tmp_path), download=True)
    assert "ossci-datasets" in str(e.value) and "no route to host" in str(e.value)


def test_download_cifar_archive(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_cifar10(str(src))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(src / "cifar-10-batches-py"), arcname="cifar-10-batches-py")
    blob = buf.getvalue()
    monkeypatch.setattr(urllib.request, "urlopen", FakeWeb({datasets.CIFAR10.url: blob}))
    monkeypatch.setattr(datasets.CIFAR10, "tgz_md5", hashlib.md5(blob).hexdigest())
    root = tmp_path / "root"
    ds = datasets.CIFAR10(str(root), train=False, download=True)
    assert len(ds) == 4 and ds.classes == CIFAR10_CLASSES
    assert not [n for n in os.listdir(root) if n.startswith(".")]  # staging folder removed


def test_tar_extraction_refuses_escapes(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    archive = tmp_path / "a.tar"
    archive.write_bytes(buf.getvalue())
    (tmp_path / "out").mkdir()
    with pytest.raises(RuntimeError, match="outside the target folder"):
        utils.extract_archive(str(archive), str(tmp_path / "out"))
    assert not (tmp_path / "evil.txt").exists()


# -- CIFAR ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_python(tmp_path, protocol):
    batches = make_cifar10(str(tmp_path), protocol=protocol)
    ds = datasets.CIFAR10(str(tmp_path))
    expected = np.concatenate([batches[n][b"data"] for n, _ in datasets.CIFAR10.train_list])
    assert isinstance(ds.data, np.ndarray) and ds.data.dtype == np.uint8 and ds.data.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(ds.data, as_hwc(expected))
    assert ds.targets == sum((batches[n][b"labels"] for n, _ in datasets.CIFAR10.train_list), [])
    assert ds.classes == CIFAR10_CLASSES and ds.class_to_idx["cat"] == 3
    test = datasets.CIFAR10(str(tmp_path), train=False, transform=transforms.ToTensor())
    x, y = test[1]
    np.testing.assert_array_equal(x.numpy(), as_hwc(batches["test_batch"][b"data"])[1].transpose(2, 0, 1) /
                                  np.float32(255))
    assert y == batches["test_batch"][b"labels"][1]
    assert repr(test).splitlines()[:4] == ["Dataset CIFAR10", "    Number of datapoints: 4",
                                           f"    Root location: {tmp_path}", "    Split: Test"]


@needs_pil
def test_cifar_getitem_is_rgb_image(tmp_path):
    make_cifar10(str(tmp_path))
    ds = datasets.CIFAR10(str(tmp_path))
    img, _ = ds[0]
    assert img.mode == "RGB" and img.size == (32, 32)
    np.testing.assert_array_equal(np.asarray(img), ds.data[0])


def test_cifar100_python(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train = cifar_batch(5, b"fine_labels", 100, extra={b"coarse_labels": [1, 2, 3, 4, 5]})
    for name, batch in (("train", train), ("test", cifar_batch(2, b"fine_labels", 100))):
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [f"class{i}".encode() for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": names, b"coarse_label_names": names[:20]}))
    ds = datasets.CIFAR100(str(tmp_path))
    assert ds.targets == train[b"fine_labels"] and len(ds.classes) == 100 and ds.classes[7] == "class7"
    np.testing.assert_array_equal(ds.data, as_hwc(train[b"data"]))


def test_cifar_binary_versions(tmp_path):
    c10 = tmp_path / "cifar-10-batches-bin"
    c10.mkdir()
    records = {}
    for name in datasets.CIFAR10.binary_train + datasets.CIFAR10.binary_test:
        labels = RNG.integers(0, 10, 3, dtype=np.uint8)
        images = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
        (c10 / name).write_bytes(np.concatenate([labels[:, None], images], 1).tobytes())
        records[name] = (labels, images)
    (c10 / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    ds = datasets.CIFAR10(str(tmp_path), train=False)
    labels, images = records["test_batch.bin"]
    assert ds.targets == labels.tolist() and ds.classes == CIFAR10_CLASSES
    np.testing.assert_array_equal(ds.data, as_hwc(images))
    assert len(datasets.CIFAR10(str(tmp_path))) == 15

    c100 = tmp_path / "cifar-100-binary"
    c100.mkdir()
    coarse, fine = np.array([3, 19], np.uint8), np.array([99, 0], np.uint8)
    images = RNG.integers(0, 256, (2, 3072), dtype=np.uint8)
    (c100 / "train.bin").write_bytes(np.concatenate([coarse[:, None], fine[:, None], images], 1).tobytes())
    (c100 / "fine_label_names.txt").write_text("\n".join(f"c{i}" for i in range(100)))
    ds = datasets.CIFAR100(str(tmp_path))
    assert ds.targets == [99, 0]
    np.testing.assert_array_equal(ds.data, as_hwc(images))

    (c100 / "train.bin").write_bytes(np.concatenate([coarse[:, None], fine[:, None], images], 1).tobytes()[:-5])
    with pytest.raises(ValueError, match=r"train.bin: expected a whole number of 3074-byte records"):
        datasets.CIFAR100(str(tmp_path))
    bad = np.concatenate([coarse[:, None], np.array([[100], [0]], np.uint8), images], 1)
    (c100 / "train.bin").write_bytes(bad.tobytes())
    with pytest.raises(ValueError, match="label 100 in record 0 is out of range for 100 classes"):
        datasets.CIFAR100(str(tmp_path))


def _corrupt_cifar(tmp_path, name, payload):
    make_cifar10(str(tmp_path))
    path = tmp_path / "cifar-10-batches-py" / name
    path.write_bytes(payload)
    return lambda: datasets.CIFAR10(str(tmp_path))


@pytest.mark.parametrize("batch, error, message", [
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, ValueError, r"shape \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, ValueError, "uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, ValueError, "label count mismatch: 1 labels for 2"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, ValueError, "label 10 at index 1 is out of range"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", 0]}, ValueError, "list of ints"),
    ([1, 2], ValueError, "expected a dict"),
    ({b"data": np.zeros((2, 3072), object), b"labels": [0, 1]}, pickle.UnpicklingError, "only numbers"),
], ids=["shape", "dtype", "count", "label-range", "label-type", "not-dict", "object-array"])
def test_corrupt_cifar_batches(tmp_path, batch, error, message):
    load = _corrupt_cifar(tmp_path, "data_batch_2", pickle.dumps(batch, protocol=2))
    with pytest.raises(error, match=message) as e:
        load()
    assert "data_batch_2" in str(e.value)


def test_cifar_truncated_pickle(tmp_path):
    good = pickle.dumps(cifar_batch(4), protocol=2)
    load = _corrupt_cifar(tmp_path, "data_batch_1", good[: len(good) // 2])
    with pytest.raises(pickle.UnpicklingError, match="data_batch_1"):
        load()


def test_cifar_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    load = _corrupt_cifar(tmp_path, "data_batch_3", payload)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global 'os.system'"):
        load()
    assert not marker.exists()


def test_cifar_build_on_a_global_is_refused(tmp_path):
    payload = b"\x80\x02cnumpy\nndarray\nN}X\x01\x00\x00\x00xK\x01s\x86b."
    load = _corrupt_cifar(tmp_path, "data_batch_1", payload)
    with pytest.raises(pickle.UnpicklingError, match="BUILD on a type is not allowed"):
        load()
    assert not hasattr(cifar._NDArrayType, "x")


def test_cifar_missing(tmp_path):
    with pytest.raises(RuntimeError, match="cifar-10-batches-py.*cifar-10-batches-bin.*download=True"):
        datasets.CIFAR10(str(tmp_path))


# -- class folders ----------------------------------------------------------------------------------------
def _make_folder(root, files):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@needs_pil
def test_image_folder(tmp_path):
    pixels = {}
    for cls, n in (("dog", 2), ("cat", 1)):
        for i in range(n):
            arr = RNG.integers(0, 256, (5, 4, 3), dtype=np.uint8)
            path = tmp_path / cls / ("sub" if i else "") / f"{i}.PNG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(path, format="PNG")
            pixels[str(path)] = arr
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "stray.png").write_bytes(b"")  # files in root are not classes
    ds = datasets.ImageFolder(str(tmp_path), transform=transforms.ToTensor())
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [os.path.relpath(p, tmp_path) for p, _ in ds.samples] == [
        os.path.join("cat", "0.PNG"), os.path.join("dog", "0.PNG"), os.path.join("dog", "sub", "1.PNG")]
    assert ds.targets == [0, 1, 1] and ds.imgs is ds.samples and ds.extensions == datasets.IMG_EXTENSIONS
    x, y = ds[2]
    np.testing.assert_array_equal(x.numpy(), pixels[ds.samples[2][0]].transpose(2, 0, 1) / np.float32(255))
    assert y == 1 and len(ds) == 3
    assert repr(ds).startswith(f"Dataset ImageFolder\n    Number of datapoints: 3\n    Root location: {tmp_path}\n"
                               "    StandardTransform\nTransform: ToTensor()")
    only_sub = datasets.ImageFolder(str(tmp_path), is_valid_file=lambda p: "sub" in p, allow_empty=True)
    assert only_sub.targets == [1] and only_sub.extensions is None


def test_dataset_folder_without_pillow(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "Image", None)
    arrays = {"a/x.npy": np.arange(3), "b/y.npy": np.ones(2)}
    for rel, arr in arrays.items():
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        np.save(tmp_path / rel, arr)
    ds = datasets.DatasetFolder(str(tmp_path), loader=np.load, extensions=(".npy",))
    np.testing.assert_array_equal(ds[0][0], np.arange(3))
    assert ds.targets == [0, 1] and ds.loader is np.load
    with pytest.raises(ImportError, match="pip install pillow"):
        datasets.folder.pil_loader(str(tmp_path / "a" / "x.npy"))
    with pytest.raises(ImportError, match="Pillow"):
        datasets.ImageFolder(str(tmp_path), is_valid_file=lambda p: True)[0]


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(tmp_path))
    _make_folder(tmp_path, {"a/1.png": b"", "b/readme.txt": b""})
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes b. Supported extensions are: .jp"):
        datasets.ImageFolder(str(tmp_path))
    assert len(datasets.ImageFolder(str(tmp_path), allow_empty=True)) == 1
    with pytest.raises(ValueError, match="Both extensions and is_valid_file cannot be None or not None"):
        datasets.DatasetFolder(str(tmp_path), loader=open, extensions=(".png",), is_valid_file=lambda p: True)
