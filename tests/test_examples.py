"""The end-to-end demo runs on small IDX files written here in the real format."""
import gzip
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_fashion_mnist(folder, n_train=256, n_test=64):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        # class-dependent bright square so the task is learnable
        images = rng.integers(0, 40, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c: 2 * c + 6, 4:24] = 250
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), labels)


def test_core_demo_learns_on_small_files(tmp_path):
    fake_fashion_mnist(tmp_path)
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "fashion_mnist_core.py"), "--data-dir", str(tmp_path),
         "--epochs", "3", "--batch-size", "32"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    acc = float(out.stdout.strip().splitlines()[-1].split()[-1])
    assert acc > 0.9, out.stdout


def test_core_demo_names_missing_files(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "fashion_mnist_core.py"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0
    assert "apt-get install -y dataset-fashion-mnist" in out.stderr


def test_core_demo_rejects_truncated_file(tmp_path):
    fake_fashion_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:1000]))
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "fashion_mnist_core.py"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0 and "train-images-idx3-ubyte.gz" in out.stderr and "expected" in out.stderr
