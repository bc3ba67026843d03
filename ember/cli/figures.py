"""The PNG figures of a training run, drawn with matplotlib when it is installed:
loss and accuracy curves, the test confusion matrix, and gradient flow (mean and
maximum absolute gradient of each layer's weights, sampled during training)."""
import os

import numpy as np

NAMES = ("loss.png", "accuracy.png", "confusion_matrix.png", "grad_flow.png")


def _figure_class():
    try:
        from matplotlib.figure import Figure  # draws without pyplot, so no GUI backend is involved
    except ImportError:
        return None
    return Figure


def save_all(out, history, monitor, confusion, classes, grad_flow):
    """(paths written, None) or ([], a line saying what was skipped and why)."""
    Figure = _figure_class()
    if Figure is None:
        return [], f"matplotlib is not installed: skipped {', '.join(NAMES)} (pip install matplotlib)"
    paths = [os.path.join(out, name) for name in NAMES]
    curves(Figure, history, monitor, "loss", paths[0])
    curves(Figure, history, monitor, "accuracy", paths[1])
    confusion_figure(Figure, confusion, classes, paths[2])
    grad_flow_figure(Figure, grad_flow, paths[3])
    return paths, None


def curves(Figure, history, monitor, what, path):
    epochs = [h["epoch"] for h in history]
    scale = 100 if what == "accuracy" else 1
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(epochs, [scale * h[f"train_{what}"] for h in history], "o-", label="train")
    ax.plot(epochs, [scale * h[f"{monitor}_{what}"] for h in history], "o-", label=monitor)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{what} (%)" if what == "accuracy" else "cross-entropy loss")
    ax.set_title(f"{what.capitalize()} per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100)


def confusion_figure(Figure, confusion, classes, path):
    n = len(classes)
    fig = Figure(figsize=(1.5 + 0.6 * n, 1 + 0.6 * n), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Test confusion matrix")
    threshold = confusion.max() / 2
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if confusion[i, j] > threshold else "black")
    fig.savefig(path, dpi=100)


def grad_flow_figure(Figure, grad_flow, path):
    """Left: mean and max |grad| per layer over all samples (bars); right: mean |grad| per
    layer against the training step, which shows vanishing or exploding gradients as they happen."""
    layers = grad_flow["layers"]
    mean, peak = np.asarray(grad_flow["mean"]), np.asarray(grad_flow["max"])
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    bars, lines = fig.subplots(1, 2)
    x = np.arange(len(layers))
    if len(mean):
        bars.bar(x, peak.max(0), color="c", alpha=0.4, label="max |grad|")
        bars.bar(x, mean.mean(0), color="b", alpha=0.8, label="mean |grad|")
        for k, name in enumerate(layers):
            lines.plot(grad_flow["step"], np.maximum(mean[:, k], 1e-12), label=name)
    bars.set_xticks(x, layers, rotation=45, ha="right")
    bars.set_yscale("log")
    bars.set_ylabel("absolute gradient")
    bars.set_title("Gradient flow per layer")
    bars.legend()
    lines.set_yscale("log")
    lines.set_xlabel("step")
    lines.set_ylabel("mean |grad|")
    lines.set_title("Mean gradient during training")
    lines.legend(fontsize=7)
    fig.savefig(path, dpi=100)
