"""DDP in a world of one: run as plain `python ddp_single.py`, no mpiexec; init_process_group("mpi")
then makes a group of one process. Also DDP's constructor errors.

The first check runs before the process group exists; the others join it as needed.
"""

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.optim as optim
from ember.nn.parallel import DistributedDataParallel as DDP

from check_harness import Checks
from ddp_common import Branchy, Net, build, close_dicts, copy_of, expect_raises, grads, images, loss_of, params, vectors

CHECKS = check = Checks()  # the table test_ddp.py reads (without starting MPI)


def joined():
    if not dist.is_initialized():
        dist.init_process_group("mpi")


def batch_of(batch):
    return ember.tensor(batch[0]), ember.tensor(batch[1])


@check()
def not_initialized_raises():
    assert not dist.is_initialized(), "test setup: the process group exists already"
    expect_raises(ValueError, lambda: DDP(nn.Linear(2, 2)), "init_process_group")


@check()
def world_of_one():
    joined()
    assert (dist.get_world_size(), dist.get_rank()) == (1, 0), (dist.get_world_size(), dist.get_rank())


@check()
def grads_equal_module():
    joined()
    for kwargs in (dict(), dict(bucket_cap_mb=0), dict(gradient_as_bucket_view=True)):
        ddp = DDP(build(Net, 0), **kwargs)
        plain = copy_of(ddp.module, Net)
        batch = batch_of(images(1, n=4)[0])
        loss_of(ddp, batch).backward()
        loss_of(plain, batch).backward()
        close_dicts(grads(ddp.module), grads(plain), f"{kwargs} grad", atol=0, rtol=0)


@check()
def training_equals_module():
    joined()
    ddp = DDP(build(Net, 0), bucket_cap_mb=0.001)
    plain = build(Net, 0)
    opt, plain_opt = optim.Adam(ddp.parameters(), lr=0.01), optim.Adam(plain.parameters(), lr=0.01)
    for batch in images(3, n=4):
        batch = batch_of(batch)
        for model, o in ((ddp, opt), (plain, plain_opt)):
            o.zero_grad()
            loss_of(model, batch).backward()
            o.step()
    close_dicts(params(ddp.module), params(plain), "parameter", atol=0, rtol=0)


@check()
def unused_and_no_sync():
    joined()
    ddp = DDP(build(Branchy, 0), find_unused_parameters=True)
    plain = copy_of(ddp.module, Branchy)
    batches = [batch_of(b) for b in vectors(2, n=4)]
    with ddp.no_sync():
        loss_of(ddp, batches[0], use_b=False).backward()
    loss_of(ddp, batches[1], use_b=False).backward()
    for b in batches:
        loss_of(plain, b, use_b=False).backward()
    got, want = grads(ddp.module), grads(plain)
    assert got["b.weight"] is None and got["c.weight"] is None, "unused parameters got a grad"
    close_dicts(got, want, "grad", atol=0, rtol=0)


@check()
def no_trainable_parameters_raises():
    joined()
    frozen = nn.Linear(2, 2)
    frozen.requires_grad_(False)
    for module in (nn.ReLU(), frozen):
        expect_raises(RuntimeError, lambda: DDP(module), "parameter that requires a gradient")


@check()
def device_ids_raise():
    joined()
    expect_raises(ValueError, lambda: DDP(nn.Linear(2, 2), device_ids=[0]), "device_ids")
    expect_raises(ValueError, lambda: DDP(nn.Linear(2, 2), output_device=0), "output_device")
    assert isinstance(DDP(nn.Linear(2, 2), device_ids=None).module, nn.Linear)


if __name__ == "__main__":
    CHECKS.run()
    if dist.is_initialized():
        dist.destroy_process_group()
