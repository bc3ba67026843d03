"""DDP training against a single-process reference (run under mpiexec -n 2).

Every rank builds the reference model with the same seed and trains it on the global
batch (all ranks' shards concatenated); the DDP replica trains on its rank's shard only.
Rank 1 starts from other weights, which DDP must replace by rank 0's.
"""
import numpy as np

import ember
import ember.distributed as dist
import ember.optim as optim
from ember.nn.parallel import DistributedDataParallel as DDP

from check_harness import Checks
from ddp_common import (BNNet, Net, arr, build, close, close_dicts, copy_of, everyone, grads, images, loss_of,
                        params, rank, shard, start, state, whole, world)

CHECKS = check = Checks()  # the table test_ddp.py reads (without starting MPI)
STEPS = 5
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
}
CONFIGS = {  # name: (DDP keyword arguments, zero_grad's set_to_none)
    "cap0": (dict(bucket_cap_mb=0), True),
    "cap1k": (dict(bucket_cap_mb=0.001), True),
    "default": (dict(), True),
    "bucketview": (dict(gradient_as_bucket_view=True), True),
    "bucketview_cap0": (dict(gradient_as_bucket_view=True, bucket_cap_mb=0), True),
    "bucketview_zeroed": (dict(gradient_as_bucket_view=True, bucket_cap_mb=0.001), False),
}


def train(opt_name, ddp_kwargs, set_to_none):
    ref = build(Net, 0)
    ddp = DDP(build(Net, 0 if rank() == 0 else 10 + rank()), **ddp_kwargs)
    opt, ref_opt = OPTIMIZERS[opt_name](ddp.parameters()), OPTIMIZERS[opt_name](ref.parameters())
    for step, batch in enumerate(images(STEPS)):
        opt.zero_grad(set_to_none=set_to_none)
        ref_opt.zero_grad(set_to_none=set_to_none)
        loss_of(ddp, shard(batch)).backward()
        loss_of(ref, whole(batch)).backward()
        close_dicts(grads(ddp.module), grads(ref), f"step {step} grad")
        opt.step()
        ref_opt.step()
    close_dicts(params(ddp.module), params(ref), f"after {STEPS} steps, parameter")
    mine = params(ddp.module)
    for r, theirs in enumerate(everyone(mine)):
        for name in mine:
            assert np.array_equal(theirs[name], mine[name]), f"rank {r}'s {name} differs from rank {rank()}'s"


@check()
def bucket_counts():
    n_params = len(list(Net().parameters()))
    sizes = {}
    for name, kwargs in [("cap0", dict(bucket_cap_mb=0)), ("cap1k", dict(bucket_cap_mb=0.001)),
                         ("default", dict())]:
        sizes[name] = len(DDP(build(Net, 0), **kwargs)._buckets)
    assert sizes["cap0"] == n_params, f"bucket_cap_mb=0 should give one bucket per parameter: {sizes}"
    assert 1 < sizes["cap1k"] < n_params, f"bucket_cap_mb=0.001 should give a few buckets: {sizes}"
    assert sizes["default"] == 1, f"the default cap should hold this small model in one bucket: {sizes}"


@check()
def init_sync():
    model = build(BNNet, 0 if rank() == 0 else 5)
    if rank() != 0:
        model.bn.running_mean.fill_(rank() + 0.5)
        model.bn.running_var.fill_(3.0)
        model.bn.num_batches_tracked.fill_(7)
    before = state(model)
    DDP(model)
    after = state(model)
    states = everyone(after)
    for r, theirs in enumerate(states):
        for key in after:
            assert np.array_equal(theirs[key], states[0][key]), f"after DDP(), rank {r}'s {key} != rank 0's"
    if rank() == 0:
        for key in after:
            assert np.array_equal(after[key], before[key]), f"DDP() changed rank 0's {key}"
    else:
        assert not np.array_equal(before["fc1.weight"], after["fc1.weight"]), "test setup: ranks started equal"


@check()
def no_init_sync():
    model = build(BNNet, 0 if rank() == 0 else 5)
    before = state(model)
    DDP(model, init_sync=False)
    after = state(model)
    for key in after:
        assert np.array_equal(after[key], before[key]), f"DDP(init_sync=False) changed {key}"


def grad_average(ddp_kwargs):
    ddp = DDP(build(Net, rank()), **ddp_kwargs)
    plain = copy_of(ddp.module, Net)
    batch = images(1, seed=7)[0]
    loss_of(ddp, shard(batch)).backward()
    loss_of(plain, shard(batch)).backward()
    for (name, p), q in zip(ddp.module.named_parameters(), plain.parameters()):
        gathered = [ember.zeros_like(q.grad) for _ in range(world())]
        dist.all_gather(gathered, q.grad)
        local = [arr(g) for g in gathered]
        assert not np.allclose(local[0], local[1]), f"test setup: {name}'s local grads agree across ranks"
        close(arr(p.grad), sum(local) / world(), f"{name}.grad vs the average of local grads", atol=1e-6)
        if ddp_kwargs.get("gradient_as_bucket_view"):
            assert any(np.shares_memory(p.grad.numpy(), b.buffer) for b in ddp._buckets), \
                f"gradient_as_bucket_view=True but {name}.grad is not a view of a bucket"


@check()
def overlap():
    """With one bucket per parameter, some bucket's allreduce is in flight before backward reaches
    the first layer (whose gradient comes last)."""
    ddp = DDP(build(Net, 0), bucket_cap_mb=0)
    first = ddp.module.conv1.weight
    others = [b for b in ddp._buckets if not any(ddp._params[i] is first for i in b.indices)]
    seen = []
    first.register_post_accumulate_grad_hook(lambda p: seen.append(sum(b.request is not None for b in others)))
    loss_of(ddp, shard(images(1)[0])).backward()
    assert len(seen) == 1, f"the hook ran {len(seen)} times"
    assert seen[0] > 0, "no bucket had been launched when the first layer's gradient was accumulated"
    assert all(b.request is None for b in ddp._buckets), "buckets still in flight after backward"


def no_sync(ddp_kwargs, k=2):
    """k micro-batches under no_sync() then one synced = one step on all k + 1 micro-batches, with
    the loss summed over micro-batches (each a mean over its global micro-batch)."""
    ddp = DDP(build(Net, rank()), **ddp_kwargs)
    ref = build(Net, 0)
    local = copy_of(ddp.module, Net)
    opt, ref_opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9), optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    micro = images(k + 1, seed=11)
    with ddp.no_sync():
        for j in range(k):
            loss_of(ddp, shard(micro[j])).backward()
            loss_of(local, shard(micro[j])).backward()
    close_dicts(grads(ddp.module), grads(local), "inside no_sync, grad vs local-only grad", atol=1e-6)
    mine = grads(ddp.module)
    for r, theirs in enumerate(everyone(mine)):
        if r != rank():
            assert any(not np.allclose(theirs[n], mine[n]) for n in mine), \
                f"inside no_sync, rank {r}'s grads equal rank {rank()}'s: they were synced"
    loss_of(ddp, shard(micro[k])).backward()
    x = np.concatenate([b[0] for b in micro])
    y = np.concatenate([b[1] for b in micro])
    (loss_of(ref, whole((x, y))) * (k + 1)).backward()
    close_dicts(grads(ddp.module), grads(ref), "after the synced backward, grad")
    opt.step()
    ref_opt.step()
    close_dicts(params(ddp.module), params(ref), "after the step, parameter")
    # an ordinary synced step afterwards still matches
    opt.zero_grad()
    ref_opt.zero_grad()
    batch = images(1, seed=12)[0]
    loss_of(ddp, shard(batch)).backward()
    loss_of(ref, whole(batch)).backward()
    close_dicts(grads(ddp.module), grads(ref), "the step after no_sync, grad")


@check()
def state_dict_and_repr():
    model = build(Net, 0)
    ddp = DDP(model)
    sd = ddp.state_dict()
    inner = model.state_dict()
    assert list(sd) == ["module." + k for k in inner], f"state_dict keys {list(sd)}"
    for k in inner:
        assert np.array_equal(arr(sd["module." + k]), arr(inner[k])), f"state_dict value of module.{k}"
    want = "DistributedDataParallel(\n  (module): " + repr(model).replace("\n", "\n  ") + "\n)"
    assert repr(ddp) == want, f"repr:\n{ddp!r}\nwanted:\n{want}"
    other = DDP(build(Net, 3))
    other.load_state_dict(sd)
    close_dicts(params(other.module), params(model), "after load_state_dict, parameter", atol=0, rtol=0)


for _o in OPTIMIZERS:
    for _c in CONFIGS:
        check(f"train_{_o}_{_c}")(lambda o=_o, c=_c: train(o, *CONFIGS[c]))
check("grad_average_default")(lambda: grad_average({}))
check("grad_average_cap0")(lambda: grad_average(dict(bucket_cap_mb=0)))
check("grad_average_bucketview")(lambda: grad_average(dict(gradient_as_bucket_view=True)))
check("no_sync")(lambda: no_sync({}))
check("no_sync_cap0")(lambda: no_sync(dict(bucket_cap_mb=0)))
check("no_sync_bucketview")(lambda: no_sync(dict(gradient_as_bucket_view=True)))

if __name__ == "__main__":
    start(CHECKS)
