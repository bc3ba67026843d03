"""`ember train / evaluate / predict` on a tiny Fashion-MNIST-format data set written here:
output files, exact resumption, evaluation, prediction, every optimizer and schedule, and
clean error messages (never a traceback) for bad input."""
import contextlib
import gzip
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.cli import figures, main, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
QUICK = ["--model", "mlp", "--batch-size", "64"]

try:
    import matplotlib  # noqa: F401  (only whether it is there)
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False
try:
    from PIL import Image
except ImportError:
    Image = None


def write_idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def make_split(n, rng):
    """Noise plus a bright bar whose row depends on the class: easy to learn, not trivial."""
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 80, (n, 28, 28))
    for k in range(10):
        images[labels == k, 3 + 2 * k:5 + 2 * k, 4:24] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 512), ("t10k", 128)):
        images, labels = make_split(n, rng)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return str(root)


def cli(*argv):
    """Run `ember ARGV` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    rc, stdout, stderr = cli("train", *QUICK, "--epochs", 2, "--data-dir", data_dir, "--out", out)
    assert rc == 0, stderr
    return out, stdout


@pytest.fixture
def no_figures(monkeypatch):
    monkeypatch.setattr(figures, "save_all", lambda *a: ([], None))


def no_traceback(text):
    return "Traceback" not in text


# -- train ---------------------------------------------------------------------------------------
def test_train_prints_epochs_and_report(trained):
    _, stdout = trained
    assert "epoch   1/2" in stdout and "epoch   2/2" in stdout
    assert "test loss" in stdout and "lr " in stdout
    assert "Test accuracy:" in stdout and "Per-class accuracy:" in stdout and "Confusion matrix" in stdout
    for name in CLASSES:
        assert name in stdout


def test_train_output_files(trained):
    out, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("config", "versions", "history", "test", "best", "grad_flow", "monitor", "train_time_s"):
        assert key in metrics
    assert set(metrics["versions"]) >= {"ember", "numpy", "python"}
    assert metrics["config"]["model"] == "mlp" and metrics["config"]["epochs"] == 2
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "time_s"} <= set(metrics["history"][0])
    test = metrics["test"]
    assert np.array(test["confusion_matrix"]).sum() == 128
    assert list(test["per_class_accuracy"]) == CLASSES
    assert test["accuracy"] > 0.5  # the bars are easy to tell apart
    flow = metrics["grad_flow"]
    assert flow["layers"] == ["net.1.weight", "net.3.weight", "net.5.weight"]
    assert len(flow["mean"]) == len(flow["step"]) > 2 and len(flow["mean"][0]) == 3
    for name in ("best.pt", "last.pt"):
        ckpt = ember.load(out / name)
        assert ckpt["config"]["classes"] == CLASSES
        assert {"model", "optimizer", "scheduler", "rng", "epoch", "best"} <= set(ckpt)
        assert set(ckpt["rng"]) == {"ember", "loader", "augment"}
    assert ember.load(out / "last.pt")["epoch"] == 2
    pngs = [out / n for n in figures.NAMES]
    if HAVE_MPL:
        for png in pngs:
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert metrics["figures"] == list(figures.NAMES)
    else:
        assert not any(p.exists() for p in pngs)
        assert metrics["figures"] == []


@pytest.mark.parametrize("model, epochs, val_split", [("mlp", 3, 0.25), ("vgg", 2, 0.75)])
def test_resume_equals_uninterrupted_run(data_dir, tmp_path, monkeypatch, no_figures, model, epochs, val_split):
    # vgg: dropout draws from ember's global generator and batch norm keeps running statistics
    args = ["train", "--model", model, "--batch-size", 64, "--epochs", epochs, "--data-dir", data_dir,
            "--val-split", val_split, "--augment"]
    rc, _, _ = cli(*args, "--out", tmp_path / "whole")
    assert rc == 0

    calls = []
    original = train.Run.train_epoch

    def interrupted(self):
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C during the second epoch
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(train.Run, "train_epoch", interrupted)
    rc, _, err = cli(*args, "--out", tmp_path / "cut")
    assert rc == 130 and "--resume" in err
    assert ember.load(tmp_path / "cut" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(train.Run, "train_epoch", original)
    rc, stdout, err = cli("train", "--resume", tmp_path / "cut" / "last.pt")
    assert rc == 0, err
    assert "Resuming" in stdout and f"epoch   2/{epochs}" in stdout and f"epoch   1/{epochs}" not in stdout

    whole, cut = ember.load(tmp_path / "whole" / "last.pt"), ember.load(tmp_path / "cut" / "last.pt")
    for key, value in whole["model"].items():
        np.testing.assert_array_equal(cut["model"][key].numpy(), value.numpy(), err_msg=key)
    for key in ("ember", "loader", "augment"):
        np.testing.assert_array_equal(cut["rng"][key].numpy(), whole["rng"][key].numpy())
    m_whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    m_cut = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert m_cut["test"] == m_whole["test"]
    timeless = [{k: v for k, v in h.items() if k not in ("time_s", "samples_per_s")} for h in m_whole["history"]]
    assert [{k: v for k, v in h.items() if k not in ("time_s", "samples_per_s")} for h in m_cut["history"]] == timeless
    assert m_cut["grad_flow"] == m_whole["grad_flow"]


def write_cifar_binary(root, rng):
    """A tiny CIFAR-10 in the binary layout: records of <label byte><3072 pixel bytes>."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "batches.meta.txt").write_text("\n".join(
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]) + "\n")
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = np.arange(20) % 10
        pixels = rng.integers(0, 256, (20, 3072))
        pixels[:, :1024] = labels[:, None] * 25  # the red plane tells the class
        np.concatenate([labels[:, None], pixels], 1).astype(np.uint8).tofile(folder / name)


@pytest.mark.parametrize("dataset, model", [("mnist", "lenet3"), ("cifar10", "cifarnet")])
def test_other_datasets(data_dir, tmp_path, no_figures, dataset, model):
    root = data_dir if dataset == "mnist" else tmp_path
    if dataset == "cifar10":
        write_cifar_binary(tmp_path, np.random.default_rng(1))
    rc, stdout, err = cli("train", "--dataset", dataset, "--model", model, "--epochs", 1, "--augment",
                          "--batch-size", 32, "--data-dir", root, "--out", tmp_path / "out")
    assert rc == 0, err
    assert ("5 - five" if dataset == "mnist" else "automobile") in stdout
    config = ember.load(tmp_path / "out" / "last.pt")["config"]
    assert (config["in_channels"], config["side"]) == ((1, 28) if dataset == "mnist" else (3, 32))


def test_augment_shifts_and_flips():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3, 6, 6)).astype(np.float32)
    fill = np.full((1, 3, 1, 1), -9, np.float32)
    out = train.augment_batch(ember.from_numpy(x), rng, fill, 2, flip=True).numpy()
    assert out.shape == x.shape and out.dtype == np.float32
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-9)
    flips = 0
    for img, src in zip(out, padded):
        crops = [src[:, i:i + 6, j:j + 6] for i in range(5) for j in range(5)]
        plain = any(np.array_equal(img, c) for c in crops)
        mirrored = any(np.array_equal(img, c[:, :, ::-1]) for c in crops)
        assert plain or mirrored
        flips += mirrored and not plain
    assert 10 < flips < 54  # about half are mirrored


def test_workers_give_the_same_run(data_dir, tmp_path, no_figures):
    finals = []
    for workers in (0, 1):
        rc, _, err = cli("train", *QUICK, "--epochs", 1, "--data-dir", data_dir, "--workers", workers,
                         "--out", tmp_path / str(workers))
        assert rc == 0, err
        finals.append(ember.load(tmp_path / str(workers) / "last.pt")["model"])
    for key in finals[0]:
        np.testing.assert_array_equal(finals[0][key].numpy(), finals[1][key].numpy())


def test_early_stopping_with_val_split(data_dir, tmp_path, no_figures):
    # lr 1e-12 leaves every float32 weight unchanged, so the validation loss never falls again
    rc, stdout, err = cli("train", *QUICK, "--lr", 1e-12, "--epochs", 6, "--early-stopping", 1, "--val-split", 0.25,
                          "--data-dir", data_dir, "--out", tmp_path)
    assert rc == 0, err
    assert "384 training, 128 validation" in stdout and "val loss" in stdout
    assert "Early stopping after epoch 2" in stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["monitor"] == "val" and metrics["stopped_early"] and metrics["epochs_run"] == 2
    assert "val_accuracy" in metrics["history"][0] and metrics["best"]["epoch"] == 1
    assert ember.load(tmp_path / "best.pt")["epoch"] == 1


@pytest.mark.parametrize("optimizer", train.OPTIMIZERS)
def test_each_optimizer(data_dir, tmp_path, optimizer, no_figures):
    rc, stdout, err = cli("train", *QUICK, "--epochs", 1, "--optimizer", optimizer, "--data-dir", data_dir,
                          "--out", tmp_path)
    assert rc == 0, err
    lr = train.OPTIMIZER_DEFAULTS[optimizer][0]
    assert f"{optimizer} max lr {lr:g}" in stdout  # onecycle by default
    assert np.isfinite(json.loads((tmp_path / "metrics.json").read_text())["test"]["loss"])


@pytest.mark.parametrize("scheduler", train.SCHEDULERS)
def test_each_scheduler(data_dir, tmp_path, scheduler, no_figures):
    rc, _, err = cli("train", *QUICK, "--epochs", 2, "--scheduler", scheduler, "--data-dir", data_dir,
                     "--out", tmp_path)
    assert rc == 0, err
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    lrs = [(h["lr"], h["lr_end"]) for h in history]
    if scheduler == "none":
        assert lrs == [(0.05, 0.05)] * 2
    elif scheduler in ("step", "exponential"):  # epoch-wise: constant within an epoch, lower in the next
        assert lrs[0] == (0.05, 0.05) and lrs[1][0] == lrs[1][1] < 0.05
    elif scheduler in ("cosine", "onecycle"):  # step-wise: changes within every epoch
        assert all(a != b for a, b in lrs)
    ckpt = ember.load(tmp_path / "last.pt")
    assert (ckpt["scheduler"] is None) == (scheduler == "none")


# -- evaluate and predict --------------------------------------------------------------------------
def test_evaluate_matches_training_report(trained, data_dir):
    out, _ = trained
    rc, stdout, err = cli("evaluate", out / "last.pt", "--data-dir", data_dir)
    assert rc == 0, err
    accuracy = json.loads((out / "metrics.json").read_text())["test"]["accuracy"]
    assert f"Test accuracy: {100 * accuracy:.2f}%" in stdout
    assert "Confusion matrix" in stdout and "after epoch 2" in stdout


def test_predict_idx_entries(trained, data_dir):
    out, _ = trained
    images = os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")
    rc, stdout, err = cli("predict", out / "best.pt", f"idx:{images}:0", f"idx:{images}:7", "--top", 2)
    assert rc == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 2 and all("(true: " in line and line.count("%") == 2 for line in lines)
    assert any(name in lines[0] for name in CLASSES)


@pytest.mark.skipif(Image is None, reason="Pillow is not installed")
def test_predict_png_matches_idx(trained, data_dir, tmp_path):
    out, _ = trained
    images = os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")
    with gzip.open(images) as f:
        first = np.frombuffer(f.read()[16:16 + 784], np.uint8).reshape(28, 28)
    png = tmp_path / "item.png"
    Image.fromarray(first).resize((56, 56)).save(png)  # resized back to 28x28 by predict
    rc_idx, from_idx, _ = cli("predict", out / "last.pt", f"idx:{images}:0")
    rc_png, from_png, err = cli("predict", out / "last.pt", png)
    assert rc_idx == rc_png == 0, err
    assert from_png.split(": ", 1)[1].split(" ")[0] == from_idx.split(": ", 1)[1].split(" ")[0]


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    ([], "required"),
    (["bogus"], "invalid choice"),
    (["train", "--model", "alexnet"], "invalid choice"),
    (["train", "--dataset", "imagenet"], "invalid choice"),
    (["train", "--epochs", "0"], "at least 1"),
    (["train", "--batch-size", "many"], "expected an integer"),
    (["train", "--lr", "-1"], "must be in"),
    (["train", "--val-split", "1.5"], "must be in"),
    (["train", "--optimizer", "adam", "--momentum", "0.9"], "does not apply to adam"),
    (["train", "--optimizer", "nesterov", "--momentum", "0"], "nesterov needs"),
    (["evaluate"], "required"),
    (["predict", "x.pt"], "required"),
])
def test_bad_arguments(argv, message):
    rc, stdout, err = cli(*argv)
    assert rc == 2
    assert message in err and no_traceback(err + stdout)


def test_missing_or_damaged_data(data_dir, tmp_path):
    rc, _, err = cli("train", "--data-dir", tmp_path, "--out", tmp_path / "out")
    assert rc == 1 and no_traceback(err)
    assert "apt-get update && apt-get install -y dataset-fashion-mnist" in err and str(tmp_path) in err
    assert not (tmp_path / "out").exists()
    for name in os.listdir(data_dir):
        (tmp_path / name).write_bytes(open(os.path.join(data_dir, name), "rb").read())
    damaged = tmp_path / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:3000])
    rc, _, err = cli("train", "--data-dir", tmp_path, "--out", tmp_path / "out")
    assert rc == 1 and str(damaged) in err and no_traceback(err)


def test_bad_checkpoints(trained, tmp_path):
    out, _ = trained
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((out / "last.pt").read_bytes()[:5000])
    foreign = tmp_path / "weights.pt"
    ember.save({"w": ember.zeros(3)}, foreign)
    for command in ("evaluate", "predict"):
        for path in (garbage, truncated, foreign, tmp_path / "missing.pt"):
            rc, _, err = cli(command, path, *(["idx:x:0"] if command == "predict" else []))
            assert rc == 1 and str(path) in err and no_traceback(err), err
    rc, _, err = cli("train", "--resume", garbage)
    assert rc == 1 and str(garbage) in err and no_traceback(err)


def test_bad_predict_inputs(trained, data_dir, tmp_path):
    out, _ = trained
    images = os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    for spec, message in [(f"idx:{images}:128", "out of range"), ("idx:nowhere.gz:0", "not found"),
                          ("idx:broken", "expected idx:PATH:INDEX"), (tmp_path / "none.png", "not found"),
                          (not_image, str(not_image))]:
        rc, _, err = cli("predict", out / "last.pt", spec)
        assert rc != 0 and message in err and no_traceback(err), err


def test_python_dash_m_ember(data_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "ember", "train", *QUICK, "--epochs", "1", "--data-dir", data_dir],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Test accuracy:" in proc.stdout and no_traceback(proc.stderr)
    (run_dir,) = (tmp_path / "runs").iterdir()  # the default output folder
    assert run_dir.name.startswith("fashion-mnist-mlp-") and (run_dir / "last.pt").exists()
