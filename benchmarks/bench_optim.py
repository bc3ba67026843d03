"""Optimizer step time: ember against PyTorch on LeNet's and a 10-layer MLP's parameters.

    python benchmarks/bench_optim.py [--threads N] [--repeats N]

Only the optimizer.step() is timed (gradients are set once, fixed). Steps alternate
between the frameworks in blocks; medians and the ember/torch ratio are printed.
"""
import argparse
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--repeats", type=int, default=200)
ARGS = ap.parse_args()
if ARGS.threads:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402

if ARGS.threads:
    torch.set_num_threads(ARGS.threads)

LENET = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,), (10, 84), (10,)]
MLP10 = [s for _ in range(10) for s in ((256, 256), (256,))]
OPTIMIZERS = [("SGD momentum", "SGD", dict(lr=0.01, momentum=0.9)), ("Adam", "Adam", dict(lr=1e-3))]


def params_with_grads(T, shapes):
    rng = np.random.default_rng(0)
    params = []
    for s in shapes:
        p = T.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
        p.grad = T.tensor(rng.standard_normal(s).astype(np.float32))
        params.append(p)
    return params


def main():
    print(f"torch threads {torch.get_num_threads()}, repeats {ARGS.repeats}")
    print(f"{'parameters':<12}{'optimizer':<14}{'n params':>10}{'ember us':>10}{'torch us':>10}{'ratio':>8}")
    for label, shapes in (("LeNet", LENET), ("MLP 10x256", MLP10)):
        n = sum(int(np.prod(s)) for s in shapes)
        for name, cls, kw in OPTIMIZERS:
            steps, times = {}, {ember: [], torch: []}
            for T in (ember, torch):
                opt = getattr(T.optim, cls)(params_with_grads(T, shapes), **kw)
                opt.step()  # warm-up: creates state
                steps[T] = opt.step
            for _ in range(ARGS.repeats // 10):
                for T in (ember, torch):
                    for _ in range(10):
                        t = time.perf_counter()
                        steps[T]()
                        times[T].append(time.perf_counter() - t)
            e, t = np.median(times[ember]) * 1e6, np.median(times[torch]) * 1e6
            print(f"{label:<12}{name:<14}{n:>10}{e:>10.1f}{t:>10.1f}{e / t:>8.2f}")


if __name__ == "__main__":
    main()
