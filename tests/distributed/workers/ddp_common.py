"""Shared pieces of the DistributedDataParallel workers (ddp_*.py): models, data, comparisons.

The workers register their checks in a check_harness table and run them on every rank; the
reference results are computed on every rank too, from the same seeds.
"""
import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.nn.functional as F

SHARD = 4  # samples per rank in a step


class Net(nn.Module):
    """A small CNN followed by an MLP: 1x10x10 images, 3 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = self.pool(F.relu(self.conv1(x)))
        h = self.flatten(F.relu(self.conv2(h)))
        return self.fc2(F.relu(self.fc1(h)))


class Branchy(nn.Module):
    """b is used only when asked, c only when asked (never, by default)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 8)
        self.c = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x, use_b=True, use_c=False):
        h = F.relu(self.a(x))
        if use_b:
            h = h + F.relu(self.b(h))
        if use_c:
            h = h + self.c(h)
        return self.head(h)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(6)
        self.fc2 = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.bn(self.fc1(x))))


def build(cls, seed):
    ember.manual_seed(seed)
    return cls()


def rank():
    return dist.get_rank()


def world():
    return dist.get_world_size()


def images(steps, seed=123, n=None):
    """`steps` global batches of (images, labels) for Net, the same on every rank."""
    n = SHARD * world() if n is None else n
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 1, 10, 10)).astype(np.float32), rng.integers(0, 3, n)) for _ in range(steps)]


def vectors(steps, seed=321, n=None, features=4):
    """`steps` global batches of (vectors, labels) for Branchy and BNNet."""
    n = SHARD * world() if n is None else n
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, 2, n)) for _ in range(steps)]


def shard(batch, r=None):
    """This rank's (or rank r's) slice of a global batch, as tensors."""
    r = rank() if r is None else r
    x, y = batch
    k = len(x) // world()
    return ember.tensor(x[r * k:(r + 1) * k]), ember.tensor(y[r * k:(r + 1) * k])


def whole(batch):
    x, y = batch
    return ember.tensor(x), ember.tensor(y)


def loss_of(model, batch, **kwargs):
    x, y = batch
    return F.cross_entropy(model(x, **kwargs), y)


def arr(t):
    return None if t is None else np.array(t.detach().numpy(), copy=True)


def grads(model):
    return {n: arr(p.grad) for n, p in model.named_parameters()}


def params(model):
    return {n: arr(p) for n, p in model.named_parameters()}


def state(model):
    return {k: arr(v) for k, v in model.state_dict().items()}


def copy_of(model, cls):
    """A plain model of class `cls` holding `model`'s current parameters and buffers."""
    plain = cls()
    plain.load_state_dict(model.state_dict())
    return plain


def close(got, want, what, atol=1e-5, rtol=1e-5):
    if got is None or want is None:
        assert got is None and want is None, f"{what}: one is None (got {got is None}, want {want is None})"
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if not np.allclose(got, want, atol=atol, rtol=rtol):
        raise AssertionError(f"{what}: max abs diff {np.max(np.abs(got.astype(np.float64) - want)):.3g}")


def close_dicts(got, want, what, **tol):
    assert list(got) == list(want), f"{what}: names {list(got)} != {list(want)}"
    for name in got:
        close(got[name], want[name], f"{what} {name}", **tol)


def everyone(obj):
    """obj from every rank, in rank order."""
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def expect_raises(kind, fn, *words):
    """Call fn; it must raise `kind` whose message contains every word. Returns the message."""
    try:
        fn()
    except kind as e:
        msg = str(e)
        for w in words:
            assert w in msg, f"{kind.__name__} message lacks {w!r}: {msg}"
        return msg
    raise AssertionError(f"expected {kind.__name__}, nothing was raised")


def start(checks):
    """A worker's main: join the ranks, run the worker's checks, leave."""
    dist.init_process_group("mpi")
    checks.run()
    dist.destroy_process_group()


def expected_average(local):
    """Per name: the average over ranks of the local grads, a rank without one adding zero;
    None when no rank has one."""
    per_rank = everyone(local)
    out = {}
    for name in local:
        present = [g[name] for g in per_rank if g[name] is not None]
        out[name] = None if not present else sum(present) / len(per_rank)
    return out
