"""DDP with find_unused_parameters: branches that some or all ranks skip (run under mpiexec -n 2).

The check with a parameter unused on one rank only and one bucket per parameter comes last:
there the ranks fill their buckets in different orders, which a DDP that launches buckets as
they fill (instead of in bucket order) turns into mismatched allreduces that can hang the job.
"""
import numpy as np

import ember.optim as optim
from ember.nn.parallel import DistributedDataParallel as DDP

from check_harness import Checks
from ddp_common import (Branchy, arr, build, close, copy_of, expect_raises, expected_average, grads,
                        loss_of, rank, shard, start, vectors)

CHECKS = check = Checks()  # the table test_ddp.py reads (without starting MPI)


def unused_on_one_rank(ddp_kwargs):
    """b is used on one rank only (which one alternates), c on none: c.grad stays None, b.grad is
    the user's grad halved (the other rank contributes zero), the rest is the plain average."""
    ddp = DDP(build(Branchy, rank()), find_unused_parameters=True, **ddp_kwargs)
    opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    for step, batch in enumerate(vectors(3, seed=40)):
        use_b = rank() == step % 2
        plain = copy_of(ddp.module, Branchy)
        opt.zero_grad()
        loss_of(ddp, shard(batch), use_b=use_b).backward()
        loss_of(plain, shard(batch), use_b=use_b).backward()
        local = grads(plain)
        assert (local["b.weight"] is None) != use_b and local["c.weight"] is None, "test setup"
        want = expected_average(local)
        got = grads(ddp.module)
        for name in got:
            close(got[name], want[name], f"step {step} {name}.grad", atol=1e-6)
        opt.step()


@check()
def unused_across_steps():
    """b is used on every rank, then on none, then on every rank, then on none (without zero_grad
    after the second step): a globally unused parameter's .grad is left as it was."""
    ddp = DDP(build(Branchy, 0), find_unused_parameters=True)
    batches = vectors(4, seed=50)
    b = ddp.module.b.weight
    loss_of(ddp, shard(batches[0]), use_b=True).backward()
    assert b.grad is not None, "step 0: b was used but has no grad"
    ddp.zero_grad()
    loss_of(ddp, shard(batches[1]), use_b=False).backward()
    assert b.grad is None, "step 1: b was used on no rank but got a grad"
    assert ddp.module.a.weight.grad is not None, "step 1: a has no grad"
    loss_of(ddp, shard(batches[2]), use_b=True).backward()
    kept = arr(b.grad)
    loss_of(ddp, shard(batches[3]), use_b=False).backward()
    assert np.array_equal(arr(b.grad), kept), "step 3: b was used on no rank, yet its accumulated grad changed"
    for name, g in grads(ddp.module).items():
        if name.startswith("c."):
            assert g is None, f"{name} is never used, yet has a grad"


@check()
def unused_without_flag_raises():
    """c gets no grad on any rank and find_unused_parameters is off: a RuntimeError that names
    find_unused_parameters, from backward or at the latest from the next forward (as torch does)."""
    ddp = DDP(build(Branchy, 0))
    batch = shard(vectors(1, seed=60)[0])

    def step():
        loss_of(ddp, batch).backward()
        loss_of(ddp, batch)
    expect_raises(RuntimeError, step, "find_unused_parameters")



check("unused_on_one_rank_default")(lambda: unused_on_one_rank({}))
check("unused_on_one_rank_bucketview")(lambda: unused_on_one_rank(dict(gradient_as_bucket_view=True)))
check("unused_on_one_rank_cap0")(lambda: unused_on_one_rank(dict(bucket_cap_mb=0)))

if __name__ == "__main__":
    start(CHECKS)
