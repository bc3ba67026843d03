"""Peak memory (RSS) of a process running 50 LeNet-5 training steps (batch 64), ember vs PyTorch.

    python benchmarks/bench_memory.py [--steps 50] [--batch 64]

Each framework runs in its own fresh subprocess (imports included), so the peak
resident set size (ru_maxrss) is that framework's alone. Prints both and the ratio.
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import os, resource, sys
sys.path.insert(0, {root!r})
import numpy as np
lib = {lib!r}
if lib == "torch":
    import torch as T
    T.set_num_threads(1)
else:
    import ember as T
    T.set_num_threads(1)
nn = T.nn
model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                      nn.Linear(84, 10))
opt = T.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
x = T.tensor(rng.standard_normal(({batch}, 1, 28, 28)).astype(np.float32))
y = T.tensor(rng.integers(0, 10, {batch}).astype(np.int64))
loss_fn = nn.CrossEntropyLoss()
for _ in range({steps}):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_kib(lib, steps, batch):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=ROOT, lib=lib, steps=steps, batch=batch)],
                         capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    e, t = peak_kib("ember", args.steps, args.batch), peak_kib("torch", args.steps, args.batch)
    print(f"peak RSS over {args.steps} LeNet steps (batch {args.batch}): ember {e / 1024:.1f} MiB, "
          f"torch {t / 1024:.1f} MiB, ratio {e / t:.2f}")


if __name__ == "__main__":
    main()
