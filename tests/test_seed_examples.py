"""The seeds' example programs (examples/*.py) run end to end in --fast mode, each in a
subprocess, on small data written here in the real formats (IDX for MNIST, pickled
python batches for CIFAR-10, ember.save files for the regression data)."""
import gzip
import importlib.util
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, ROOT)
import ember  # noqa: E402
from ember.serialization import save  # noqa: E402

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# the lab's expected output (seed 000)
LENET_TEXT = """Net(
  (conv1): Conv2d(1, 6, kernel_size=(3, 3), stride=(1, 1))
  (conv2): Conv2d(6, 16, kernel_size=(3, 3), stride=(1, 1))
  (fc1): Linear(in_features=576, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)
"""


# one thread each: tiny data gains nothing from more, and a busy shared machine makes
# BLAS's spinning threads many times slower
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def run_example(name, *args, cwd, fast=True, ok=True):
    cmd = [sys.executable, os.path.join(EXAMPLES, name), *(["--fast"] if fast else []), *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=ENV)
    if ok:
        assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def check_plot(stdout, path):
    if HAVE_MATPLOTLIB:
        assert os.path.getsize(path) > 0
    else:
        assert f"matplotlib is not installed: plot {os.path.basename(path)} skipped" in stdout


# -- data in the real formats ------------------------------------------------------------------
def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_mnist(folder, n_train=640, n_test=200):
    """Four IDX files of 28x28 images with a class-dependent bright bar (learnable)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c: 2 * c + 6, 4:24] = 250
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), labels)


def fake_cifar10(root, per_batch=40, n_test=100):
    """cifar-10-batches-py/ with five training batches, a test batch and batches.meta."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_cases_per_batch": per_batch,
                     b"num_vis": 3072}, f)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 3, 32, 32))
        for i, c in enumerate(labels):  # a class-dependent bright stripe
            images[i, c % 3, 3 * c: 3 * c + 3, :] = 250
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels.tolist(),
                         b"data": images.reshape(n, 3072).astype(np.uint8), b"filenames": [b"img.png"] * n}, f)


# -- lenet_walkthrough.py ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def lenet_output(tmp_path_factory):
    return run_example("lenet_walkthrough.py", cwd=tmp_path_factory.mktemp("lenet")).stdout


def test_lenet_walkthrough_prints_the_labs_text(lenet_output):
    out = lenet_output
    assert LENET_TEXT in out
    assert "\n10\ntorch.Size([6, 1, 3, 3])\ntorch.Size([6])\n" in out
    for line in ("conv1: 60 parameters (weight [6, 1, 3, 3], bias [6])", "fc1: 69240 parameters",
                 "total trainable parameters: 81194"):
        assert line in out
    assert re.search(r"tensor\(\[\[.*\n.*\]\], grad_fn=<AddmmBackward0>\)", out)
    assert re.search(r"tensor\(\d\.\d{4}, grad_fn=<MseLossBackward0>\)", out)
    assert re.search(r"<MseLossBackward0 object at 0x[0-9a-f]+>\n<AddmmBackward0 object at 0x[0-9a-f]+>\n"
                     r"<AccumulateGrad object at 0x[0-9a-f]+>\n", out)
    assert ("AccumulateGrad -> ConvolutionBackward0 -> ReluBackward0 -> MaxPool2DWithIndicesBackward0 -> "
            "ConvolutionBackward0") in out and "ViewBackward0 -> AddmmBackward0" in out
    assert re.search(r"conv1.bias.grad before backward\nNone\nconv1.bias.grad after backward\ntensor\(\[", out)
    before, after = map(float, re.search(r"loss before the update (\S+), after (\S+)", out).groups())
    assert after < before
    steps = [float(v) for v in re.findall(r"step \d+: loss (\S+)", out)]
    assert len(steps) == 3 and steps[-1] < steps[0]


def test_lenet_walkthrough_text_matches_pytorch(lenet_output, tmp_path):
    """The same program under PyTorch prints the same text, up to the random numbers."""
    pytest.importorskip("torch")
    src = open(os.path.join(EXAMPLES, "lenet_walkthrough.py")).read()
    src = src.replace("import ember as torch", "import torch").replace("import ember.", "import torch.")
    (tmp_path / "lenet_torch.py").write_text(src)
    theirs = subprocess.run([sys.executable, "lenet_torch.py", "--fast"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=ENV)
    assert theirs.returncode == 0, theirs.stderr

    def masked(text):  # numbers and addresses differ (different RNGs); layout and names must not
        text = re.sub(r"0x[0-9a-f]+", "ADDR", text)
        return re.sub(r"\s+", " ", re.sub(r"\s*-?\d+\.\d+(e[+-]\d+)?", "#", text))
    assert masked(lenet_output) == masked(theirs.stdout)


# -- mnist_mlp.py ------------------------------------------------------------------------------
def test_mnist_mlp_on_mnist_files(tmp_path):
    fake_mnist(tmp_path / "data" / "MNIST" / "raw")  # torchvision's layout
    out = run_example("mnist_mlp.py", "--dataset", "mnist", "--data-dir", tmp_path / "data", cwd=tmp_path).stdout
    assert "dataset: mnist from" in out
    assert re.search(r"^Epoch \[1/2\], Batch \[10\], Loss: \d\.\d{4}$", out, re.M)
    assert re.search(r"^Epoch \[2/2\], Batch \[10\], Loss: \d\.\d{4}$", out, re.M)
    assert "MNIST training complete!" in out
    before = float(re.search(r"Test accuracy before training: (\S+)", out).group(1))
    final = float(re.search(r"Final accuracy: (\S+)", out).group(1))
    assert final > before
    check_plot(out, tmp_path / "mnist_mlp_loss.png")


def test_mnist_mlp_on_fashion_mnist_files(tmp_path):
    fake_mnist(tmp_path)  # Debian's layout: the files directly in the folder
    out = run_example("mnist_mlp.py", "--dataset", "fashion-mnist", "--data-dir", tmp_path, cwd=tmp_path).stdout
    assert "dataset: fashion-mnist" in out and "Epoch [2/2], Batch [10]" in out


def test_mnist_mlp_falls_back_to_fashion_mnist(tmp_path):
    out = run_example("mnist_mlp.py", "--data-dir", tmp_path, cwd=tmp_path, ok=False)
    assert f"MNIST not found in {tmp_path}" in out.stdout
    if os.path.isdir(FASHION_DIR):
        assert out.returncode == 0 and f"dataset: fashion-mnist from {FASHION_DIR}" in out.stdout
    else:  # names what it looked for
        assert out.returncode != 0 and "FashionMNIST" in out.stderr


# -- linear_regression.py ----------------------------------------------------------------------
def test_linear_regression_generates_its_data(tmp_path):
    out = run_example("linear_regression.py", "--data-dir", tmp_path / "data", cwd=tmp_path).stdout
    assert "generated" in out and (tmp_path / "data" / "X_reg.pt").exists() and (tmp_path / "data" / "y_reg.pt").exists()
    epochs = [float(v) for v in re.findall(r"epoch +\d+: MSE (\S+)", out)]
    assert epochs[-1] < epochs[0]
    check_plot(out, tmp_path / "linear_regression_loss.png")
    again = run_example("linear_regression.py", "--data-dir", tmp_path / "data", cwd=tmp_path).stdout
    assert "generated" not in again  # loaded, not made again


def test_linear_regression_against_least_squares(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.5 * rng.standard_normal((64, 1))).astype(np.float32)
    save(ember.from_numpy(X), str(tmp_path / "X_reg.pt"))
    save(ember.from_numpy(y), str(tmp_path / "y_reg.pt"))
    A = np.hstack([X, np.ones((64, 1))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    mse = np.mean((A @ coef - y) ** 2)
    out = run_example("linear_regression.py", "--data-dir", tmp_path, "--epochs", 100, "--lr", 0.01, fast=False,
                      cwd=tmp_path).stdout
    assert "loaded X [64, 3] and y [64, 1]" in out
    assert float(re.search(r"least-squares MSE: +(\S+)", out).group(1)) == pytest.approx(mse, abs=1e-4)
    sgd = float(re.search(r"SGD MSE \(final weights\): +(\S+)", out).group(1))
    assert mse - 1e-4 <= sgd < mse * 1.05  # SGD approaches, never beats, least squares


# -- cifar10_classifier.py ---------------------------------------------------------------------
def test_cifar10_classifier_compares_strategies(tmp_path):
    fake_cifar10(tmp_path / "data")
    out = run_example("cifar10_classifier.py", "--data-dir", tmp_path / "data", cwd=tmp_path).stdout
    assert "CIFAR-10: 200 training and 100 test images" in out
    assert re.search(r"^strategy +description +test acc +params +time \(s\)$", out, re.M)
    rows = {m.group(1): m for m in re.finditer(r"^(tutorial|augment|wide-bn) .*? (\d\.\d{4}) +(\d+) +(\d+\.\d)$",
                                               out, re.M)}
    assert set(rows) == {"tutorial", "augment", "wide-bn"}
    assert rows["tutorial"].group(3) == "62006"  # the tutorial Net's parameter count
    assert (tmp_path / "cifar_net.pth").exists() and "reloaded from cifar_net.pth" in out
    assert "Accuracy for class: airplane" in out
    check_plot(out, tmp_path / "cifar10_classifier.png")


def test_cifar10_classifier_without_data_says_how_to_get_it(tmp_path):
    out = run_example("cifar10_classifier.py", "--data-dir", tmp_path, cwd=tmp_path, ok=False)
    assert out.returncode != 0 and "--download" in out.stderr and "Dataset not found" in out.stderr


# -- optimizer_comparison.py -------------------------------------------------------------------
def test_optimizer_comparison_table(tmp_path):
    fake_mnist(tmp_path / "data")
    out = run_example("optimizer_comparison.py", "--dataset", "mnist", "--data-dir", tmp_path / "data",
                      cwd=tmp_path).stdout
    assert re.search(r"^optimizer +settings +final loss +test acc +time \(s\)$", out, re.M)
    for name in ("SGD", "Nesterov-SGD", "Adam", "RMSprop", "Adagrad"):
        row = re.search(rf"^{name} .*? (\d+\.\d{{4}}) +(\d\.\d{{4}}) +\d+\.\d$", out, re.M)
        assert row, name
        assert np.isfinite(float(row.group(1)))
    # ExponentialLR(gamma=0.9) once per epoch: the third epoch runs at 0.81 * lr
    assert re.search(r"SGD epoch 3/3: loss \S+ \(lr 0\.081\)", out)
    assert re.search(r"Adam epoch 3/3: loss \S+ \(lr 0\.00081\)", out)
    check_plot(out, tmp_path / "optimizer_comparison.png")


# -- rumelhart1986_symmetry.py -----------------------------------------------------------------
def test_rumelhart_symmetry_finds_a_solution(tmp_path):
    out = run_example("rumelhart1986_symmetry.py", cwd=tmp_path).stdout
    solved, runs = map(int, re.search(r"solved: (\d+)/(\d+)", out).groups())
    assert runs == 4 and solved >= 1
    stuck = int(re.search(r"stuck \(no solution within 3000 sweeps\): (\d+)", out).group(1))
    assert solved + stuck == runs
    ratios = [tuple(map(float, m)) for m in re.findall(r"pair ratios 1 : (\S+) : (\S+)", out)]
    assert len(ratios) == 2 * solved
    # every solution found is antisymmetric across the mirror, with distinct pair magnitudes
    assert all(float(a) < 0.05 for a in re.findall(r"antisymmetry (\S+)", out))
    assert all(1 < r1 < r2 for r1, r2 in ratios)
    assert "paper's pattern (opposite signs across the mirror, magnitudes 1:2:4)" in out
    check_plot(out, tmp_path / "rumelhart1986_symmetry.png")


def test_readme_lists_every_example():
    readme = open(os.path.join(EXAMPLES, "README.md")).read()
    for name in sorted(os.listdir(EXAMPLES)):
        if name.endswith(".py"):
            assert f"python examples/{name}" in readme, name
