"""Training-step benchmark: ember against PyTorch on the seeds' networks, in one run.

    python benchmarks/run.py [--quick] [--threads N] [--only NAME[,NAME]] [--steps N]

Each workload is built once per framework from the same NumPy weights and data. A
step is what a training loop does: zero_grad, forward, cross-entropy, backward, and
an SGD-momentum update (inference rows: forward under no_grad). Steps run
alternately, a block of ember then a block of torch, so drift in machine speed hits
both alike. Printed per workload: median ms/step, samples/s, achieved GFLOP/s from
counted multiply-adds, that as a fraction of the float32 matrix-product peak measured
in the same run, and the ember/torch time ratio. Both losses must fall over the run.
Nothing here asserts on time.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few steps per workload (smoke test)")
    ap.add_argument("--threads", type=int, default=None, help="threads for BLAS, Numba and torch")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--steps", type=int, default=0, help="timed steps per framework (default 30, quick 3)")
    return ap.parse_args()


ARGS = parse()
if ARGS.threads:  # before NumPy/torch load: thread pools size themselves at import
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402

if ARGS.threads:
    torch.set_num_threads(ARGS.threads)


# -- workloads, written once against the PyTorch API --------------------------------------------
def mlp(T):
    nn = T.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def lenet(T):
    nn = T.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def cifarnet(T):
    nn = T.nn
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def vgg(T):
    nn = T.nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4096, 256), nn.ReLU(), nn.Linear(256, 10))


# name, model builder, input shape (C, H, W), batch, train?
WORKLOADS = [
    ("mlp-64", mlp, (1, 28, 28), 64, True),
    ("lenet-64", lenet, (1, 28, 28), 64, True),
    ("lenet-256", lenet, (1, 28, 28), 256, True),
    ("cifarnet-128", cifarnet, (3, 32, 32), 128, True),
    ("vgg-128", vgg, (3, 32, 32), 128, True),
    ("lenet-infer-1024", lenet, (1, 28, 28), 1024, False),
]


def count_macs(model, shape):
    """Multiply-adds of one forward pass per sample (convolutions and linear layers), from torch."""
    macs = []

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            k = m.weight[0].numel()
            macs.append(out.numel() * k)
        elif isinstance(m, torch.nn.Linear):
            macs.append(out.numel() * m.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros((1,) + shape))
    for h in handles:
        h.remove()
    return sum(macs)


def build(T, builder, shape, batch, seed=0):
    """The model with weights copied from a torch reference, plus a fixed batch."""
    torch.manual_seed(seed)
    ref = builder(torch)
    model = builder(T)
    if T is not torch:
        model.load_state_dict({k: ember.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    else:
        model = ref
    rng = np.random.default_rng(seed)
    x = T.tensor(rng.standard_normal((batch,) + shape).astype(np.float32))
    y = T.tensor(rng.integers(0, 10, batch).astype(np.int64))
    return model, x, y


def make_step(T, model, x, y, train):
    if not train:
        model.eval()

        def infer():
            with T.no_grad():
                return model(x)
        return infer, None
    opt = T.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = T.nn.CrossEntropyLoss()
    losses = []

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return step, losses


def matmul_peak():
    """Best float32 GFLOP/s of a large matrix product (NumPy's BLAS), the machine's practical peak."""
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ a
        best = max(best, 2 * 1024 ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def bench(name, builder, shape, batch, train, steps):
    runs = {}
    for T in (ember, torch):
        model, x, y = build(T, builder, shape, batch)
        fn, losses = make_step(T, model, x, y, train)
        fn()  # warm-up: first call compiles kernels / allocates
        runs[T] = (fn, losses, [])
    block = 3 if train else 2
    for _ in range(max(1, steps // block)):
        for T in (ember, torch):
            fn, _, times = runs[T]
            for _ in range(block):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
    out = {}
    for T in (ember, torch):
        fn, losses, times = runs[T]
        falls = losses is None or losses[-1] < losses[0]
        out[T] = (float(np.median(times)), falls)
    return out


def main():
    steps = ARGS.steps or (3 if ARGS.quick else 30)
    names = set(filter(None, ARGS.only.split(",")))
    peak = matmul_peak()
    print(f"ember {ember.__version__}  torch {torch.__version__}  numpy {np.__version__}  cores {os.cpu_count()}  "
          f"torch threads {torch.get_num_threads()}  threads arg {ARGS.threads}")
    print(f"float32 matmul peak (NumPy BLAS, 1024^3): {peak:.1f} GFLOP/s\n")
    head = f"{'workload':<18}{'ember ms':>10}{'torch ms':>10}{'ratio':>8}{'ember smp/s':>13}" \
           f"{'GFLOP/s':>9}{'%peak':>7}{'torch GF/s':>11}{'loss falls':>12}"
    print(head)
    print("-" * len(head))
    for name, builder, shape, batch, train in WORKLOADS:
        if names and name not in names:
            continue
        res = bench(name, builder, shape, batch, train, steps)
        (te, fe), (tt, ft) = res[ember], res[torch]
        flops = 2 * count_macs(builder(torch), shape) * batch * (3 if train else 1)  # backward ~ 2x forward
        gf_e, gf_t = flops / te / 1e9, flops / tt / 1e9
        falls = "-" if not train else ("ok" if fe and ft else f"FAIL e={fe} t={ft}")
        print(f"{name:<18}{te * 1e3:>10.2f}{tt * 1e3:>10.2f}{te / tt:>8.2f}{batch / te:>13.0f}"
              f"{gf_e:>9.1f}{100 * gf_e / peak:>6.0f}%{gf_t:>11.1f}{falls:>12}")


if __name__ == "__main__":
    main()
