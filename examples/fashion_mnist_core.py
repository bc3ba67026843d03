"""Train an MLP (784-128-64-10) on Fashion-MNIST with ember's core only: tensors,
autograd and a hand-written SGD step (nn, optim and data loaders come later).

    python examples/fashion_mnist_core.py [--data-dir DIR] [--epochs N]

Data: the four IDX files of Fashion-MNIST, as installed by the Debian package
`dataset-fashion-mnist` (apt-get install -y dataset-fashion-mnist).
"""
import argparse
import gzip
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (PyTorch-style code below)

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (optionally gzipped) as a NumPy array; a bad file names itself."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} data bytes for shape {dims}, found {len(body)}")
    return np.frombuffer(body, np.uint8).reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    sys.exit(f"{stem} not found in {data_dir}. Install it with:\n"
             "  apt-get update && apt-get install -y dataset-fashion-mnist")


def load(data_dir, split):
    images = read_idx(find(data_dir, f"{split}-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, f"{split}-labels-idx1-ubyte"))
    x = (images.reshape(len(images), -1).astype(np.float32) / 255.0 - 0.2860) / 0.3530
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def linear_params(fan_in, fan_out):
    # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    bound = 1 / math.sqrt(fan_in)
    w = torch.empty(fan_out, fan_in).uniform_(-bound, bound).requires_grad_()
    b = torch.empty(fan_out).uniform_(-bound, bound).requires_grad_()
    return w, b


def forward(params, x):
    (w1, b1), (w2, b2), (w3, b3) = params
    h = torch.addmm(b1, x, w1.t()).relu()
    h = torch.addmm(b2, h, w2.t()).relu()
    return torch.addmm(b3, h, w3.t())


def cross_entropy(logits, target):
    return -logits.log_softmax(dim=1).gather(1, target.unsqueeze(1)).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=DEFAULT_DIR)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    args = ap.parse_args()

    torch.manual_seed(0)
    x_train, y_train = load(args.data_dir, "train")
    x_test, y_test = load(args.data_dir, "t10k")
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    params = [linear_params(784, 128), linear_params(128, 64), linear_params(64, 10)]
    flat = [p for pair in params for p in pair]
    velocity = [torch.zeros_like(p) for p in flat]

    n = len(x_train)
    for epoch in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        order = torch.randperm(n)
        for i in range(0, n, args.batch_size):
            idx = order[i: i + args.batch_size]
            loss = cross_entropy(forward(params, x_train[idx]), y_train[idx])
            for p in flat:
                p.grad = None
            loss.backward()
            with torch.no_grad():  # SGD with momentum 0.9
                for p, v in zip(flat, velocity):
                    v.mul_(0.9).add_(p.grad)
                    p.sub_(v * args.lr)
            total += loss.item() * len(idx)
        with torch.no_grad():
            acc = (forward(params, x_test).argmax(dim=1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: train loss {total / n:.4f}  test accuracy {acc:.4f}  "
              f"({time.perf_counter() - start:.1f} s)")
    print(f"test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
