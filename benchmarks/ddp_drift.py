"""How far 2-rank DDP drifts from one process on the same global batches, step by step.

    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec -n 2 python benchmarks/ddp_drift.py

Each rank trains LeNet-5 under DistributedDataParallel on its half (every other sample) of
each global batch of 128, and also a plain copy on the whole batch; both start from the
same weights and use SGD with momentum. Rank 0 prints the largest weight difference at a
few steps: float rounding (a mean over 128 taken as two means over 64) at first, then the
growth that any tiny perturbation of training shows. Uses Fashion-MNIST when installed
(/usr/share/datasets/fashion-mnist), otherwise random images.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import ember  # noqa: E402
import ember.distributed as dist  # noqa: E402
import ember.nn.functional as F  # noqa: E402
from ember.nn.parallel import DistributedDataParallel  # noqa: E402
from ember.vision import models  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def data(n):
    if os.path.isdir(FASHION):
        from ember.cli import _common
        x, y, _ = _common.load_split("fashion-mnist", FASHION, train=True)
        return x, y, "Fashion-MNIST"
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((n, 1, 28, 28)).astype(np.float32))
    return x, ember.from_numpy(rng.integers(0, 10, n)), "random images"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=128, help="global batch")
    args = p.parse_args()
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y, source = data(args.steps * args.batch)
    ember.manual_seed(0)
    mine = models.MODELS["lenet"]()
    ember.manual_seed(0)
    whole = models.MODELS["lenet"]()
    ddp = DistributedDataParallel(mine)
    opt = ember.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    ref = ember.optim.SGD(whole.parameters(), lr=0.05, momentum=0.9)
    order = np.random.default_rng(0).permutation(len(x))
    report = {0, 1, 5, 20, 50, 100, 200, args.steps - 1}
    if rank == 0:
        print(f"{source}, {world} ranks, global batch {args.batch}: max |DDP weight - one-process weight|")
    for step in range(args.steps):
        idx = ember.from_numpy(order[(step * args.batch) % len(x):][:args.batch].copy())
        xb, yb = x[idx], y[idx]
        opt.zero_grad()
        F.cross_entropy(ddp(xb[rank::world]), yb[rank::world]).backward()
        opt.step()
        ref.zero_grad()
        F.cross_entropy(whole(xb), yb).backward()
        ref.step()
        if step in report and rank == 0:
            diff = max(float((a - b).abs().max()) for a, b in zip(mine.parameters(), whole.parameters()))
            print(f"  step {step:>4}: {diff:.2e}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
