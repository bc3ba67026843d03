"""Checks of new_group, group-rank queries, all_to_all(_single) and monitored_barrier, on every rank:

    mpiexec -n 3 python group_checks.py
"""
import warnings

import numpy as np

import ember
import ember.distributed as dist
from check_harness import Checks

CHECKS = check = Checks()
RANK = SIZE = None


def rows(rank, count, start=0):
    """Rank `rank`'s rows start..start+count of its all_to_all input: values that name their origin."""
    return np.array([[100 * rank + r, -(100 * rank + r)] for r in range(start, start + count)], np.float32)


@check()
def all_to_all_single_equal_blocks():
    inp = np.concatenate([rows(RANK, 2, 2 * j) for j in range(SIZE)])
    out = ember.zeros(2 * SIZE, 2)
    dist.all_to_all_single(out, ember.from_numpy(inp))
    want = np.concatenate([rows(i, 2, 2 * RANK) for i in range(SIZE)])
    np.testing.assert_array_equal(out.numpy(), want)


def split_sizes(sender, receiver):
    return 1 + (sender + 2 * receiver) % 3  # rows `sender` sends to `receiver`


@check()
def all_to_all_single_uneven_splits():
    send = [split_sizes(RANK, j) for j in range(SIZE)]
    recv = [split_sizes(i, RANK) for i in range(SIZE)]
    starts = np.cumsum([0] + send)
    inp = np.concatenate([rows(RANK, send[j], starts[j]) for j in range(SIZE)]).astype(np.int64)
    out = ember.zeros(sum(recv), 2, dtype=ember.int64)
    work = dist.all_to_all_single(out, ember.from_numpy(inp), recv, send, async_op=True)
    work.wait()
    want = np.concatenate([rows(i, recv[i], np.cumsum([0] + [split_sizes(i, j) for j in range(SIZE)])[RANK])
                           for i in range(SIZE)]).astype(np.int64)
    np.testing.assert_array_equal(out.numpy(), want)


@check()
def all_to_all_single_wrong_splits_raise():
    try:
        dist.all_to_all_single(ember.zeros(SIZE + 1), ember.zeros(SIZE + 1))
    except RuntimeError as e:
        assert "equal" in str(e) and "split" in str(e), e
    else:
        raise AssertionError("no error for a first dim that does not split")


@check()
def all_to_all_lists():
    ins = [ember.full((j + 1, 2), float(10 * RANK + j)) for j in range(SIZE)]
    outs = [ember.zeros(RANK + 1, 2) for _ in range(SIZE)]
    dist.all_to_all(outs, ins)
    for i, o in enumerate(outs):
        np.testing.assert_array_equal(o.numpy(), np.full((RANK + 1, 2), 10 * i + RANK, np.float32))


@check()
def all_to_all_size_mismatch_raises_everywhere():
    ins = [ember.zeros(2) for _ in range(SIZE)]
    outs = [ember.zeros(2 if RANK else 3) for _ in range(SIZE)]  # rank 0 expects 3 elements from each
    try:
        dist.all_to_all(outs, ins)
    except RuntimeError as e:  # on every rank, not only on rank 0
        assert "rank 0 sends 2 elements to rank 0, which expects 3" in str(e), e
    else:
        raise AssertionError("no error although rank 0 expects 3 elements from each rank and gets 2")


@check()
def new_group_members_and_outsiders():
    members = list(range(1, SIZE))  # everyone but rank 0
    g = dist.new_group(members)
    if RANK == 0:
        assert g is dist.GroupMember.NON_GROUP_MEMBER, g
        assert dist.get_rank(g) == -1 and dist.get_world_size(g) == -1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = ember.ones(3)
            assert dist.all_reduce(t, group=g) is None
        np.testing.assert_array_equal(t.numpy(), np.ones(3, np.float32))
        assert any("not a member" in str(w.message) for w in caught), caught
        return
    assert dist.get_rank(g) == RANK - 1 and dist.get_world_size(g) == SIZE - 1
    assert dist.get_process_group_ranks(g) == members
    assert dist.get_global_rank(g, 0) == 1 and dist.get_group_rank(g, RANK) == RANK - 1
    t = ember.full((3,), float(RANK))
    dist.all_reduce(t, group=g)
    np.testing.assert_array_equal(t.numpy(), np.full(3, sum(members), np.float32))
    dist.barrier(group=g)


@check()
def new_group_bad_ranks_raise():
    try:
        dist.new_group([0, SIZE])
    except ValueError as e:
        assert str(SIZE) in str(e), e
    else:
        raise AssertionError("new_group accepted a rank outside the world")


@check()
def queries_and_predicates():
    assert dist.get_process_group_ranks(None) == list(range(SIZE))
    assert dist.get_node_local_rank() == RANK  # one host: local rank == rank
    assert dist.is_backend_available("mpi") and not dist.is_backend_available("nccl")
    assert not dist.is_gloo_available() and not dist.is_nccl_available() and not dist.is_torchelastic_launched()
    dist.monitored_barrier()


def main():
    global RANK, SIZE
    dist.init_process_group("mpi")
    RANK, SIZE = dist.get_rank(), dist.get_world_size()
    CHECKS.run()
    dist.destroy_process_group()
    if RANK == 0:
        print("ALL CHECKS RAN", flush=True)


if __name__ == "__main__":
    main()
