"""DDP's buffer broadcasting, forward arguments and the same-model check (run under mpiexec -n 2)."""
import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.optim as optim
from ember.nn.parallel import DistributedDataParallel as DDP

from check_harness import Checks
from ddp_common import (BNNet, Branchy, arr, build, close, copy_of, everyone, expect_raises, expected_average, grads,
                        loss_of, rank, shard, start, vectors)

CHECKS = check = Checks()  # the table test_ddp.py reads (without starting MPI)


def buffers(broadcast):
    """BatchNorm statistics: with broadcast_buffers every training forward starts from rank 0's
    buffers (seen by a forward pre-hook on the BatchNorm); without it the ranks drift apart."""
    ddp = DDP(build(BNNet, rank()), broadcast_buffers=broadcast)
    bn = ddp.module.bn
    names = ["running_mean", "running_var", "num_batches_tracked"]
    entering = []
    bn.register_forward_pre_hook(lambda m, inputs: entering.append({n: arr(getattr(m, n)) for n in names}))
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    drifted = False
    for step, batch in enumerate(vectors(4, seed=70)):
        opt.zero_grad()
        loss_of(ddp, shard(batch)).backward()
        opt.step()
        before = everyone(entering[-1])
        after = everyone({n: arr(getattr(bn, n)) for n in names})
        for r in range(1, len(before)):
            assert int(after[r]["num_batches_tracked"]) == step + 1, f"step {step}: num_batches_tracked on rank {r}"
            assert not np.allclose(after[r]["running_mean"], after[0]["running_mean"]), \
                f"step {step}: running_mean after forward equal across ranks, yet each rank saw its own batch"
            same = all(np.array_equal(before[r][n], before[0][n]) for n in names)
            if broadcast:
                assert same, f"step {step}: rank {r} entered BatchNorm with buffers other than rank 0's"
            drifted |= not same
    if not broadcast:
        assert drifted, "broadcast_buffers=False, yet the ranks' buffers were made equal"


@check()
def no_grad_forward_between_steps():
    """A forward under no_grad (evaluation) between training steps neither syncs nor breaks the next step."""
    ddp = DDP(build(BNNet, rank()))
    plain = copy_of(ddp.module, BNNet)
    batch = shard(vectors(1, seed=80)[0])
    with ember.no_grad():
        ddp.eval()
        plain.eval()
        close(arr(ddp(batch[0])), arr(plain(batch[0])), "eval output", atol=0, rtol=0)
    ddp.train()
    loss_of(ddp, batch).backward()
    plain.train()
    loss_of(plain, batch).backward()
    want = expected_average(grads(plain))
    for name, g in grads(ddp.module).items():
        close(g, want[name], f"{name}.grad after an eval forward", atol=1e-6)


@check()
def forward_passes_arguments():
    ddp = DDP(build(Branchy, 0), find_unused_parameters=True)
    x = ember.randn(3, 4)
    close(arr(ddp(x, use_b=False, use_c=True)), arr(ddp.module(x, use_b=False, use_c=True)), "output", 0, 0)


def ranks_still_in_step():
    t = ember.ones(3)
    dist.all_reduce(t)
    assert np.array_equal(arr(t), np.full(3, float(dist.get_world_size()))), "all_reduce after the error"


@check()
def mismatch_shape():
    width = 5 if rank() == 0 else 6
    model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
    expect_raises(RuntimeError, lambda: DDP(model), "0.weight", "[5, 4]", "[6, 4]")
    ranks_still_in_step()


@check()
def mismatch_count():
    layers = [nn.Linear(4, 4), nn.Linear(4, 2)] + ([nn.Linear(2, 2)] if rank() == 1 else [])
    expect_raises(RuntimeError, lambda: DDP(nn.Sequential(*layers)), "4", "6")
    ranks_still_in_step()


@check()
def mismatch_dtype():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    if rank() == 1:
        model = model.double()
    expect_raises(RuntimeError, lambda: DDP(model), "0.weight", "float32", "float64")
    ranks_still_in_step()


check("buffers_broadcast")(lambda: buffers(True))
check("buffers_not_broadcast")(lambda: buffers(False))

if __name__ == "__main__":
    start(CHECKS)
