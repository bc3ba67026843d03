"""Core benchmark: ember against PyTorch (CPU), side by side in one process.

  python benchmarks/bench_core.py               # full run, about 1-2 minutes
  python benchmarks/bench_core.py --quick       # smoke run, a few seconds
  python benchmarks/bench_core.py --threads 1   # pin BLAS/OpenMP/torch threads
  python benchmarks/bench_core.py --self-test   # torch in both columns (noise check)

Workloads use only the PyTorch API, so the same code runs on `ember` and `torch`.
Timings are reported, never asserted.
"""
import argparse
import gc
import math
import os
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

# ---- workloads: each builder takes the framework module T and returns a no-arg callable

OPS = [  # (label, shape, op); ops get two tensors so the calling overhead is the same for all
    ("a + b", (4,), lambda a, b: a + b),
    ("a * b", (4,), lambda a, b: a * b),
    ("a.relu()", (4,), lambda a, b: a.relu()),
    ("a.sum()", (4,), lambda a, b: a.sum()),
    ("a @ b", (8, 8), lambda a, b: a @ b),
    ("a.exp()", (4,), lambda a, b: a.exp()),
    ("a[0]", (4,), lambda a, b: a[0]),
    ("a.view(-1)", (8, 8), lambda a, b: a.view(-1)),
]


def op_builder(shape, op, grad):
    def build(T):
        a = T.randn(*shape, requires_grad=grad)
        b = T.randn(*shape, requires_grad=grad)
        return lambda: op(a, b)
    return build


def roundtrip(a, b):
    a.grad = b.grad = None  # otherwise we would also time gradient accumulation
    (a * b).sum().backward()


def make_mlp(T, batch):
    """784-128-64-10 weights with torch.nn.Linear's default init, plus a batch of data, all
    from fixed NumPy seeds: both frameworks get identical numbers, so losses can be compared."""
    import numpy as np  # here, not at the top: --threads must act before NumPy loads
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in [(784, 128), (128, 64), (64, 10)]:
        bound = 1.0 / np.sqrt(fan_in)
        for shape in [(fan_out, fan_in), (fan_out,)]:
            w = rng.uniform(-bound, bound, shape).astype(np.float32)
            params.append(T.tensor(w, requires_grad=True))
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.standard_normal((batch, 10)).astype(np.float32)
    return params, T.tensor(x), T.tensor(y)


def mlp_forward(params, x):
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1.t() + b1).relu()  # weight is (out, in) like nn.Linear
    h = (h @ w2.t() + b2).relu()
    return h @ w3.t() + b3


def mlp_loss(params, x, y):
    return ((mlp_forward(params, x) - y) ** 2).mean()


def mlp_builder(batch, train):
    def build(T):
        params, x, y = make_mlp(T, batch)

        def train_step():
            for p in params:
                p.grad = None  # like optimizer.zero_grad(set_to_none=True)
            mlp_loss(params, x, y).backward()

        def infer():
            with T.no_grad():
                mlp_forward(params, x)
        return train_step if train else infer
    return build


ROWS = ([(f"{label:<11}{str(s):>6}", op_builder(s, op, False)) for label, s, op in OPS]
        + [(f"{label:<11}{str(s):>6}  grad", op_builder(s, op, True)) for label, s, op in OPS]
        + [("(a*b).sum().backward() (4,)", op_builder((4,), roundtrip, True)),
           ("MLP fwd+bwd batch 1", mlp_builder(1, True)),
           ("MLP fwd+bwd batch 64", mlp_builder(64, True)),
           ("MLP fwd no_grad batch 64", mlp_builder(64, False))])


def sample(fn, n):
    """Seconds per call, averaged over n back-to-back calls (amortises the timer's cost)."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def calibrate(fn, target):
    """Calls per sample so one sample lasts about `target` seconds; doubles as warm-up."""
    fn()  # first call pays one-off costs (lazy imports, caches, JIT compilation)
    n = 1
    while True:
        t = sample(fn, n) * n
        if t >= target / 4:
            n = max(1, round(n * target / t))
            sample(fn, n)  # one more full-size warm-up sample, discarded
            return n
        n *= 2


def bench_row(build, impls, repeats, target):
    """Per implementation: list of per-call times, or the exception it raised."""
    gc.collect()  # start each row from a clean heap; gc stays on during timing (real cost)
    fns, out = {}, {}
    for name, T in impls:
        try:
            fn = build(T)
            fns[name] = (fn, calibrate(fn, target))
            out[name] = []
        except Exception as e:  # ember is unfinished: report the gap, keep benchmarking
            out[name] = e
    for _ in range(repeats):  # alternate A, B, A, B so drift (heat, other load) hits both
        for name, (fn, n) in fns.items():
            out[name].append(sample(fn, n))
    return out


def fmt(times):
    """Median and IQR in microseconds, or the exception's name."""
    if isinstance(times, Exception):
        return f"{type(times).__name__:>21}"  # details are listed after the table
    q1, med, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else times * 3
    return f"{med * 1e6:12.2f}{(q3 - q1) * 1e6:9.2f}"


def sanity(impls, steps=5, lr=0.1):
    """A few manual SGD steps on the MLP: the loss must go down, so both do real work."""
    print(f"\nsanity: {steps} manual SGD steps on the MLP, batch 64")
    first = {}
    for name, T in impls:
        try:
            params, x, y = make_mlp(T, 64)
            losses = []
            for _ in range(steps):
                for p in params:
                    p.grad = None
                loss = mlp_loss(params, x, y)
                loss.backward()
                for p in params:
                    p.data -= lr * p.grad
                losses.append(loss.item())
            ok = all(map(math.isfinite, losses)) and losses[-1] < losses[0]
            first[name] = losses[0]
            print(f"  {name:<8} loss {losses[0]:.5f} -> {losses[-1]:.5f}  {'ok' if ok else 'FAIL'}")
        except Exception as e:
            print(f"  {name:<8} FAIL ({type(e).__name__}: {e})")
    if len(first) == 2:  # same weights and data, so the first losses must agree
        a, b = first.values()
        print(f"  initial losses agree: {'ok' if abs(a - b) <= 1e-4 * abs(b) else 'FAIL'}")


def main():
    ap = argparse.ArgumentParser(description="ember vs PyTorch core benchmark")
    ap.add_argument("--quick", action="store_true", help="few repeats, a few seconds (smoke test)")
    ap.add_argument("--threads", type=int, help="threads for torch, OpenMP, BLAS and Numba")
    ap.add_argument("--self-test", action="store_true",
                    help="use torch for both columns: ratios show the noise floor (~1.0)")
    args = ap.parse_args()
    if args.threads:  # thread pools read these when the libraries load, so set them first
        os.environ.update(dict.fromkeys(THREAD_VARS, str(args.threads)))

    import numpy
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.self_test:
        impls = [("torch#2", torch), ("torch", torch)]
    else:
        # benchmark the checkout this file belongs to, not some other installed copy
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        try:
            import ember
            if not hasattr(ember, "tensor"):  # e.g. ember/ without an __init__.py yet
                raise ImportError("ember has no ember.tensor (package incomplete?)")
        except Exception as e:
            print(f"error: cannot import ember: {type(e).__name__}: {e}\n"
                  "Run from a checkout with ember/ built, or use --self-test to time torch alone.")
            sys.exit(1)
        impls = [("ember", ember), ("torch", torch)]

    repeats, target = (5, 0.002) if args.quick else (61, 0.02)
    (a, A), (b, _) = impls
    print(f"python {sys.version.split()[0]}  numpy {numpy.__version__}  torch {torch.__version__}"
          f"  {a} {getattr(A, '__version__', '?')}")
    env = " ".join(f"{v}={os.environ[v]}" for v in THREAD_VARS if v in os.environ) or "none set"
    print(f"cores {os.cpu_count()}  torch.get_num_threads() {torch.get_num_threads()}  env: {env}")
    print(f"{repeats} samples of ~{target * 1e3:g} ms per cell;"
          " median and interquartile range (IQR) in us per call\n")

    t_start, errors = time.perf_counter(), []
    print(f"{'benchmark':<30}{a + ' us':>12}{'IQR':>9}{b + ' us':>12}{'IQR':>9}{a + '/' + b:>15}")
    for label, build in ROWS:
        res = bench_row(build, impls, repeats, target)
        ra, rb = res[a], res[b]
        ratio = ("" if isinstance(ra, Exception) or isinstance(rb, Exception)
                 else f"{statistics.median(ra) / statistics.median(rb):15.2f}")
        print(f"{label:<30}{fmt(ra)}{fmt(rb)}{ratio}", flush=True)
        errors += [f"  {label.strip()} [{name}]: {type(r).__name__}: {r}"
                   for name, r in res.items() if isinstance(r, Exception)]
    if errors:
        print("\nerrors:", *errors, sep="\n")
    sanity(impls)
    print(f"\ntotal {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
