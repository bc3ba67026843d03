"""Random and mutated bytes into every reader: IDX, CIFAR python and binary batches,
ember.load (ember zip, PyTorch zip and legacy, safetensors). Each must either succeed or
raise one of the clean exception types below, promptly and without allocating much more
than the input (sizes declared in headers are checked before anything is allocated)."""
import gzip
import io
import json
import os
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember import serialization
from ember.serialization import load
from ember.vision import datasets
from ember.vision.datasets import cifar, mnist

CLEAN = (ValueError, RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError)
MAX_PEAK = 64 << 20  # bytes; every input here is a few kilobytes
# EMBER_FUZZ_EXAMPLES=5000 fuzzes deeper (and with fresh randomness) than the quick default
EXAMPLES = int(os.environ.get("EMBER_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="EMBER_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
pytestmark = pytest.mark.filterwarnings("ignore:.*bfloat16:UserWarning")


def clean(fn, *args):
    """Run a reader: success or a clean exception, with bounded memory."""
    tracemalloc.start()
    try:
        fn(*args)
    except CLEAN:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MAX_PEAK, f"reader allocated {peak} bytes"


@st.composite
def mutated(draw, data):
    """`data` with a few bytes flipped, a window overwritten by an extreme integer, a
    truncation or an insertion."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "int", "cut", "insert"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "int":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from([0, 1, 0x7F, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF, 2 ** 63 - 1, 2 ** 64 - 1]))
            data[at:at + width] = (value % (1 << 8 * width)).to_bytes(width, draw(st.sampled_from(["little", "big"])))
        elif op == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def write(path, data):
    path.write_bytes(data)
    return str(path)


# -- IDX ---------------------------------------------------------------------------------------------
IDX = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], ">u4").tobytes() + bytes(range(24))


@FUZZ
@given(data=st.one_of(st.binary(max_size=64), mutated(IDX)), gz=st.booleans())
def test_idx(folder, data, gz):
    name = "x-idx3-ubyte.gz" if gz else "x-idx3-ubyte"
    path = write(folder / name, gzip.compress(data) if gz else data)
    clean(mnist.read_idx, path)
    clean(mnist.read_image_file, path)


@FUZZ
@given(data=mutated(gzip.compress(IDX)))
def test_idx_damaged_gzip(folder, data):
    clean(mnist.read_idx, write(folder / "g-idx3-ubyte.gz", data))


# -- CIFAR ---------------------------------------------------------------------------------------------
def _batch(protocol):
    rng = np.random.default_rng(0)
    return pickle.dumps({b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [3, 9],
                         b"batch_label": b"x", b"filenames": [b"a.png", b"b.png"]}, protocol=protocol)


def _load_test_split(root):
    datasets.CIFAR10(str(root), train=False)


@pytest.fixture(scope="module")
def cifar_root(folder):
    root = folder / "cifar"
    (root / "cifar-10-batches-py").mkdir(parents=True)
    (root / "cifar-10-batches-py" / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [b"c%d" % i for i in range(10)]}))
    return root


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), mutated(_batch(2)), mutated(_batch(4)), mutated(_batch(5))))
def test_cifar_python_batch(cifar_root, data):
    path = write(cifar_root / "cifar-10-batches-py" / "test_batch", data)
    clean(cifar.load_batch, path)
    clean(_load_test_split, cifar_root)


@FUZZ
@given(data=st.binary(max_size=7000))
def test_cifar_binary_batch(folder, data):
    clean(cifar.read_binary_batch, write(folder / "batch.bin", data), 2, 100)


# -- ember.load -------------------------------------------------------------------------------------------
def _ember_file():
    base = ember.arange(6.0).reshape(2, 3)
    buf = io.BytesIO()
    serialization.save({"w": base, "row": base[1], "n": [1, 2.5, None, "s", b"b"], "i": ember.tensor([1, 2])}, buf)
    return buf.getvalue()


def _torch_file(zip_format):
    buf = io.BytesIO()
    base = torch.arange(6.0).reshape(2, 3)
    torch.save({"w": base, "t": base.t(), "p": torch.nn.Parameter(torch.ones(2)), "b": torch.tensor([True]),
                "h": torch.ones(1, dtype=torch.bfloat16), "n": (1, "x")}, buf,
               _use_new_zipfile_serialization=zip_format)
    return buf.getvalue()


def _safetensors_file():
    header = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "b": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]}, "__metadata__": {"k": "v"}}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes(24)


def _rezip(data, name, payload):
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for entry in src.namelist():
            zf.writestr(entry, payload if entry == name else src.read(entry))
    return out.getvalue()


EMBER, TORCH_ZIP, TORCH_LEGACY, SAFETENSORS = _ember_file(), _torch_file(True), _torch_file(False), _safetensors_file()
TORCH_PKL = next(n for n in zipfile.ZipFile(io.BytesIO(TORCH_ZIP)).namelist() if n.endswith("data.pkl"))
EMBER_HEADER = zipfile.ZipFile(io.BytesIO(EMBER)).read("ember/header.json")
PREFIXES = [b"PK\x03\x04", serialization._LEGACY_PREFIX, struct.pack("<Q", 2) + b"{}", b"\x80\x02"]


def _load_bytes(data):
    load(io.BytesIO(data))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.builds(lambda p, b: p + b, st.sampled_from(PREFIXES),
                                                          st.binary(max_size=300))))
def test_load_random_bytes(data):
    clean(_load_bytes, data)


@FUZZ
@given(data=st.one_of(mutated(EMBER), mutated(TORCH_ZIP), mutated(TORCH_LEGACY), mutated(SAFETENSORS)))
def test_load_mutated_files(data):
    clean(_load_bytes, data)


@FUZZ
@given(header=mutated(EMBER_HEADER))
def test_load_mutated_ember_header(header):
    clean(_load_bytes, _rezip(EMBER, "ember/header.json", header))  # the archive itself stays valid


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 65, 2 ** 65) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@FUZZ
@given(field=st.sampled_from(["storages", "tensors", "root", "version", "format"]), value=JSON,
       index=st.integers(0, 3))
def test_load_ember_header_values(field, value, index):
    header = json.loads(EMBER_HEADER)
    target = header[field] if isinstance(header[field], list) and header[field] else None
    if target is not None and isinstance(value, dict) and isinstance(target[index % len(target)], dict):
        target[index % len(target)].update(value)  # wrong types inside a record
    else:
        header[field] = value
    clean(_load_bytes, _rezip(EMBER, "ember/header.json", json.dumps(header).encode()))


@FUZZ
@given(pkl=mutated(zipfile.ZipFile(io.BytesIO(TORCH_ZIP)).read(TORCH_PKL)))
def test_load_mutated_torch_pickle(pkl):
    clean(_load_bytes, _rezip(TORCH_ZIP, TORCH_PKL, pkl))


@FUZZ
@given(entries=st.dictionaries(st.text(max_size=6), JSON, max_size=4), tail=st.binary(max_size=64))
def test_load_safetensors_headers(entries, tail):
    text = json.dumps(entries).encode()
    clean(_load_bytes, struct.pack("<Q", len(text)) + text + tail)
    clean(serialization._read_safetensors, np.frombuffer(struct.pack("<Q", len(text)) + text + tail, np.uint8), "x")


HOSTILE_PICKLES = [
    b"\x80\x02B\x00\x00\x00\xf0.",  # BINBYTES declaring 4 GiB
    b"\x80\x04\x8e" + (2 ** 62).to_bytes(8, "little") + b".",  # BINBYTES8
    b"\x80\x04\x8d" + (2 ** 40).to_bytes(8, "little") + b".",  # BINUNICODE8
    b"\x80\x05\x96" + (2 ** 33).to_bytes(8, "little") + b".",  # BYTEARRAY8
    b"\x80\x02Nr\x00\x00\x00\x10.",  # LONG_BINPUT at index 2**28: a 4 GiB memo table
    b"\x80\x02Np268435456\n.",  # PUT, same in text
    b"\x80\x02\x8b\x00\x00\x00\xf0.",  # LONG4 declaring 4 GiB of digits
]


@pytest.mark.parametrize("payload", HOSTILE_PICKLES)
def test_declared_pickle_sizes_are_checked_before_allocating(folder, payload):
    clean(cifar.load_batch, write(folder / "hostile", payload))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
    clean(_load_bytes, zipped.getvalue())


def test_fuzz_inputs_are_valid_to_begin_with():
    """The unmutated seeds load, so mutations start from real files."""
    assert load(io.BytesIO(EMBER))["n"] == [1, 2.5, None, "s", b"b"]
    with pytest.warns(UserWarning, match="bfloat16"):
        assert load(io.BytesIO(TORCH_ZIP))["n"] == (1, "x")
    with pytest.warns(UserWarning, match="bfloat16"):
        assert load(io.BytesIO(TORCH_LEGACY))["t"].shape == (3, 2)
    assert load(io.BytesIO(SAFETENSORS))["a"].shape == (2, 2)
    assert cifar.load_batch.__name__ and pickle.loads(_batch(5))[b"labels"] == [3, 9]
