"""What the ember commands share: the datasets (decoded once into normalised float32
tensors), evaluation and its printed report, checkpoint I/O, the progress line, and
CLIError, the one exception `ember.cli.main` turns into a message instead of a traceback."""
import argparse
import io
import json
import math
import os
import platform
import sys
import time

import numpy as np

import ember
import ember.nn.functional as F
from ember.vision import datasets, models

CHECKPOINT_FORMAT = "ember-train-checkpoint"
CHECKPOINT_VERSION = 1
FASHION_MNIST_INSTALL = "apt-get update && apt-get install -y dataset-fashion-mnist"
MPI_INSTALL = "apt-get install -y openmpi-bin libopenmpi-dev && pip install mpi4py"


class CLIError(Exception):
    """A problem the user can fix (bad input, missing file): printed as one message, exit status `code`."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


# -- argument types ------------------------------------------------------------------------------
def int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def float_in(low, high, low_open=False, high_open=True):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and \
            (high is None or (value < high if high_open else value <= high))
        if not ok:
            span = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"must be in {span}, got {text}")
        return value
    return parse


# -- datasets ------------------------------------------------------------------------------------
class DatasetSpec:
    def __init__(self, title, cls, default_dir, channels, side, mean, std, hint):
        self.title, self.cls, self.default_dir = title, cls, default_dir
        self.channels, self.side, self.mean, self.std, self.hint = channels, side, mean, std, hint


# mean/std are the usual per-channel statistics of each training set (pixels scaled to [0, 1])
DATASETS = {
    "fashion-mnist": DatasetSpec(
        "Fashion-MNIST", datasets.FashionMNIST, "/usr/share/datasets/fashion-mnist", 1, 28, (0.2860,), (0.3530,),
        f"Install it with:\n  {FASHION_MNIST_INSTALL}\nor pass --data-dir DIR holding the four IDX files."),
    "mnist": DatasetSpec(
        "MNIST", datasets.MNIST, "data", 1, 28, (0.1307,), (0.3081,),
        "Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
        "t10k-labels-idx1-ubyte.gz in DIR (or DIR/MNIST/raw) and pass --data-dir DIR."),
    "cifar10": DatasetSpec(
        "CIFAR-10", datasets.CIFAR10, "data", 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
        "Extract cifar-10-python.tar.gz (or the binary version) into DIR and pass --data-dir DIR."),
}


def dataset_meta(name):
    """The facts about a dataset that a checkpoint records, so evaluate/predict need no data files."""
    spec = DATASETS[name]
    return {"in_channels": spec.channels, "side": spec.side, "mean": list(spec.mean), "std": list(spec.std)}


def load_split(name, data_dir, train):
    """(images, labels, class names) of one split: images an (N, C, H, W) float32 tensor,
    normalised with the dataset's mean and std, labels int64."""
    spec = DATASETS[name]
    data_dir = data_dir or spec.default_dir
    split = "training" if train else "test"
    try:
        ds = spec.cls(data_dir, train=train)
    except RuntimeError as e:
        if "not found" not in str(e):
            raise
        raise CLIError(f"{spec.title} {split} data not found in {data_dir}.\n{spec.hint}") from None
    except (ValueError, OSError) as e:  # a damaged file: the reader's message names it
        raise CLIError(f"cannot read the {spec.title} {split} data: {e}") from None
    if isinstance(ds.data, ember.Tensor):  # MNIST-style: (N, H, W) uint8 tensor
        images = ds.data.numpy()[:, None]
    else:  # CIFAR: (N, H, W, C) uint8 array
        images = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))
    labels = np.asarray(ds.targets.numpy() if isinstance(ds.targets, ember.Tensor) else ds.targets, np.int64)
    return ember.from_numpy(normalize(images, spec.mean, spec.std)), ember.from_numpy(labels), list(ds.classes)


def normalize(images, mean, std):
    """uint8 (N, C, H, W) images as float32, scaled to [0, 1] then standardised per channel."""
    mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    out = images.astype(np.float32)
    out *= np.float32(1 / 255)
    out -= mean
    out /= std
    return out


# -- models and evaluation -----------------------------------------------------------------------
def build_model(config):
    return models.create(config["model"], config["in_channels"], config["side"], len(config["classes"]))


def evaluate(model, images, labels, batch_size=1000):
    """(mean cross-entropy, accuracy, predicted labels as a NumPy array) in eval mode."""
    total, preds = loss_sum_and_predictions(model, images, labels, batch_size)
    n = max(len(images), 1)
    return total / n, float((preds == labels.numpy()).sum()) / n, preds


def loss_sum_and_predictions(model, images, labels, batch_size=1000):
    """(summed cross-entropy, predicted labels as a NumPy array) in eval mode."""
    was_training = model.training
    model.eval()
    total, preds = 0.0, []
    with ember.no_grad():
        for i in range(0, len(images), batch_size):
            out = model(images[i:i + batch_size])
            total += F.cross_entropy(out, labels[i:i + batch_size], reduction="sum").item()
            preds.append(out.argmax(1).numpy())
    model.train(was_training)
    return total, np.concatenate(preds) if preds else np.zeros(0, np.int64)


def confusion_matrix(targets, preds, num_classes):
    """counts[i, j]: samples of true class i predicted as class j."""
    return np.bincount(targets * num_classes + preds, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(confusion):
    totals = confusion.sum(1)
    return np.divide(np.diag(confusion), totals, out=np.zeros(len(totals)), where=totals > 0)


def test_report(confusion, classes, loss, title="Test"):
    """The end-of-run summary: accuracy, per-class accuracy and the confusion matrix with class names."""
    n, correct = int(confusion.sum()), int(np.trace(confusion))
    acc = per_class_accuracy(confusion)
    width = max(len(c) for c in classes)
    lines = [f"{title} accuracy: {100 * correct / max(n, 1):.2f}% ({correct}/{n}), loss {loss:.4f}", "",
             "Per-class accuracy:"]
    lines += [f"  {i:>2} {name:<{width}}  {100 * a:6.2f}%" for i, (name, a) in enumerate(zip(classes, acc))]
    cell = max(4, len(str(int(confusion.max()))) + 1)
    lines += ["", "Confusion matrix (rows: true class, columns: predicted class):",
              " " * (width + 5) + "".join(f"{j:>{cell}}" for j in range(len(classes)))]
    for i, name in enumerate(classes):
        lines.append(f"  {i:>2} {name:<{width}}" + "".join(f"{int(v):>{cell}}" for v in confusion[i]))
    return "\n".join(lines)


# -- checkpoints and files -----------------------------------------------------------------------
def save_checkpoint(obj, path):
    ember.save(obj, path)  # writes a temporary file and renames it: never a half-written checkpoint


def read_checkpoint_bytes(path):
    """The bytes of a checkpoint file (a distributed run reads it on rank 0 only and shares them)."""
    if not os.path.isfile(path):
        raise CLIError(f"checkpoint not found: {path}")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CLIError(f"cannot read checkpoint {path}: {e}") from None


def load_checkpoint(path, data=None):
    """A checkpoint written by `ember train`, from `path` or from `data`, the bytes of the file
    at `path`; any problem becomes a CLIError naming the file."""
    if data is None and not os.path.isfile(path):
        raise CLIError(f"checkpoint not found: {path}")
    try:
        ckpt = ember.load(path if data is None else io.BytesIO(data))
    except Exception as e:  # a damaged file can fail in many ways: all mean "not a usable checkpoint"
        raise CLIError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CLIError(f"{path} is not a checkpoint written by `ember train`")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CLIError(f"{path}: unsupported checkpoint version {ckpt.get('version')!r}")
    return ckpt


def model_from_checkpoint(ckpt, path):
    config = ckpt["config"]
    try:
        model = build_model(config)
        model.load_state_dict(ckpt["model"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise CLIError(f"checkpoint {path} does not match its model '{config.get('model')}': {e}") from None
    model.eval()
    return model


def write_json(obj, path):
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def versions():
    return {"ember": ember.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


# -- progress ------------------------------------------------------------------------------------
try:
    from tqdm import tqdm as _tqdm
except ImportError:
    _tqdm = None


class Progress:
    """A per-epoch progress bar with running loss, accuracy and samples/s: tqdm when it is
    installed, else a plain line redrawn in place. Shown only on a terminal, and only when `show`
    (a distributed run shows it on rank 0 alone)."""

    def __init__(self, total, desc, stream=None, show=True):
        self.stream = stream or sys.stderr
        self.total, self.desc, self.count = total, desc, 0
        self.enabled = show and self.stream.isatty()
        self.bar = None
        if self.enabled and _tqdm is not None:
            self.bar = _tqdm(total=total, desc=desc, unit="batch", leave=False, file=self.stream, dynamic_ncols=True)
        self._last_draw = 0.0

    def update(self, loss, acc, rate):
        self.count += 1
        if not self.enabled:
            return
        stats = f"loss {loss:.4f} acc {100 * acc:.2f}% {rate:,.0f} samples/s"
        if self.bar is not None:
            self.bar.set_postfix_str(stats, refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and self.count < self.total:
            return
        self._last_draw = now
        filled = 20 * self.count // max(self.total, 1)
        line = f"{self.desc} [{'#' * filled}{'.' * (20 - filled)}] {self.count}/{self.total} {stats}"
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
