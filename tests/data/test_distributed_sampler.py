"""DistributedSampler against torch.utils.data.DistributedSampler: same shares without
shuffling, same lengths and errors; shuffled shares by their exact partition of the
dataset and their reproducibility (the permutation itself need not equal PyTorch's)."""
import collections
import sys
import types

import numpy as np
import pytest
import torch.utils.data as tdata

import ember
import ember.utils.data as data

# (dataset length, num_replicas): even splits, ragged ones, len < replicas, padding > len, empty
CASES = [(10, 1), (10, 2), (10, 3), (12, 4), (13, 4), (7, 5), (3, 8), (1, 4), (5, 16), (0, 3), (100, 7)]


def shares(mod, n, replicas, **kw):
    return [list(mod.DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n,replicas", CASES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_shares_match_torch(n, replicas, drop_last):
    for r in range(replicas):
        e = data.DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last)
        t = tdata.DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last)
        assert list(e) == list(t)
        assert len(e) == len(t) == len(list(e))
        assert (e.num_samples, e.total_size) == (t.num_samples, t.total_size)


def test_padding_longer_than_dataset_repeats_it():
    # 3 items over 8 replicas: the list 0,1,2 is repeated to 8 entries, one per rank
    assert shares(data, 3, 8, shuffle=False) == [[0], [1], [2], [0], [1], [2], [0], [1]]
    assert shares(data, 3, 8, shuffle=False, drop_last=True) == [[]] * 8


@pytest.mark.parametrize("n,replicas", CASES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffled_shares_partition_one_permutation(n, replicas, drop_last):
    for epoch in range(3):
        samplers = [data.DistributedSampler(range(n), num_replicas=replicas, rank=r, seed=5, drop_last=drop_last)
                    for r in range(replicas)]
        for s in samplers:
            s.set_epoch(epoch)
        got = [list(s) for s in samplers]
        t = tdata.DistributedSampler(range(n), num_replicas=replicas, rank=0, drop_last=drop_last)
        assert all(len(s) == len(g) == len(t) for s, g in zip(samplers, got))
        # interleave the shares back into the padded/cut index list every rank saw
        full = [got[i % replicas][i // replicas] for i in range(t.total_size)]
        if drop_last:
            assert len(set(full)) == len(full) == t.total_size  # disjoint, nothing padded
            assert set(full) <= set(range(n))
        else:
            perm = full[:n]
            assert sorted(perm) == list(range(n))
            # the padding repeats the permutation from its start
            assert full[n:] == (perm * (t.total_size // max(n, 1) + 1))[: t.total_size - n]
            if n % replicas == 0:
                assert len(set(full)) == len(full)


def test_shuffle_depends_on_seed_plus_epoch():
    def share(seed, epoch, rank=0):
        s = data.DistributedSampler(range(50), num_replicas=2, rank=rank, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert share(0, 0) == share(0, 0)  # reproducible
    assert share(0, 1) != share(0, 0)  # set_epoch changes the order
    assert share(3, 0) != share(0, 0)  # so does the seed
    assert share(2, 1) == share(1, 2) == share(0, 3)  # only seed + epoch matters
    assert share(0, 0) != sorted(share(0, 0))
    s = data.DistributedSampler(range(50), num_replicas=2, rank=1, seed=4)
    assert s.epoch == 0
    first = list(s)
    assert list(s) == first  # iterating again without set_epoch repeats the order
    s.set_epoch(7)
    assert s.epoch == 7 and list(s) != first


def test_attributes_match_torch():
    for kw in [{}, dict(shuffle=False, seed=3, drop_last=True)]:
        ds = list(range(11))
        e = data.DistributedSampler(ds, num_replicas=3, rank=2, **kw)
        t = tdata.DistributedSampler(ds, num_replicas=3, rank=2, **kw)
        assert isinstance(e, data.Sampler)
        for name in ["num_replicas", "rank", "epoch", "num_samples", "total_size", "shuffle", "seed", "drop_last"]:
            assert getattr(e, name) == getattr(t, name), name
        assert e.dataset is ds


@pytest.mark.parametrize("replicas,rank", [(2, 2), (2, -1), (1, 5), (4, 4)])
def test_invalid_rank(replicas, rank):
    with pytest.raises(Exception) as te:
        tdata.DistributedSampler(range(5), num_replicas=replicas, rank=rank)
    with pytest.raises(Exception) as ee:
        data.DistributedSampler(range(5), num_replicas=replicas, rank=rank)
    assert type(ee.value) is type(te.value) is ValueError
    assert str(ee.value) == str(te.value)


def _use_dist(monkeypatch, module):
    """Make `from ember import distributed` give `module` (None: fail with ImportError)."""
    monkeypatch.setitem(sys.modules, "ember.distributed", module)
    if module is None:
        monkeypatch.delattr(ember, "distributed", raising=False)
    else:
        monkeypatch.setattr(ember, "distributed", module, raising=False)


def _fake_dist(available=True, initialized=True, world_size=3, rank=1):
    return types.SimpleNamespace(is_available=lambda: available, is_initialized=lambda: initialized,
                                 get_world_size=lambda: world_size, get_rank=lambda: rank)


def test_without_process_group_raises_like_torch():
    # no explicit num_replicas/rank and no initialized process group: the same error as torch
    with pytest.raises(Exception) as te:
        tdata.DistributedSampler(range(5))
    try:
        from ember import distributed as dist
        available = dist.is_available()
    except ImportError:
        available = False
    for kw in [{}, dict(num_replicas=2)]:
        with pytest.raises(Exception) as ee:
            data.DistributedSampler(range(5), **kw)
        if available:  # torch.distributed is available here, so torch's get_world_size error
            assert type(ee.value) is type(te.value) and str(ee.value) == str(te.value)
        else:
            assert type(ee.value) is RuntimeError
            assert "Requires distributed package to be available" in str(ee.value)


@pytest.mark.parametrize("module", [None, _fake_dist(available=False)])
def test_missing_distributed_package_is_runtime_error(monkeypatch, module):
    _use_dist(monkeypatch, module)
    for kw in [{}, dict(num_replicas=2), dict(rank=0)]:
        with pytest.raises(RuntimeError, match="Requires distributed package to be available"):
            data.DistributedSampler(range(5), **kw)
    assert len(data.DistributedSampler(range(5), num_replicas=2, rank=0)) == 3  # explicit values need nothing


def test_uninitialized_process_group_is_torch_error(monkeypatch):
    _use_dist(monkeypatch, _fake_dist(initialized=False))
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        data.DistributedSampler(range(5))


def test_world_size_and_rank_from_process_group(monkeypatch):
    _use_dist(monkeypatch, _fake_dist(world_size=3, rank=1))
    s = data.DistributedSampler(range(10), shuffle=False)
    assert (s.num_replicas, s.rank) == (3, 1)
    assert list(s) == [1, 4, 7, 0]
    s = data.DistributedSampler(range(10), rank=0, shuffle=False)
    assert (s.num_replicas, s.rank) == (3, 0)
    s = data.DistributedSampler(range(10), num_replicas=5, shuffle=False)
    assert (s.num_replicas, s.rank) == (5, 1)
    _use_dist(monkeypatch, _fake_dist(world_size=2, rank=3))
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 1\]"):
        data.DistributedSampler(range(10))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_in_dataloader_and_batch_sampler(shuffle, drop_last):
    x = ember.arange(23) * 10
    ds = data.TensorDataset(x)
    seen = collections.Counter()
    for r in range(3):
        s = data.DistributedSampler(ds, num_replicas=3, rank=r, shuffle=shuffle, drop_last=drop_last)
        s.set_epoch(2)
        order = list(s)
        loader = data.DataLoader(ds, batch_size=3, sampler=s)
        assert len(loader) == -(-len(s) // 3)
        values = []
        for (batch,) in loader:
            assert batch.shape[0] <= 3
            values += batch.numpy().tolist()
        assert values == [10 * i for i in order]
        batches = list(data.BatchSampler(s, 3, drop_last=True))
        assert batches == [order[i:i + 3] for i in range(0, len(order) - 2, 3)]
        loader = data.DataLoader(ds, batch_sampler=data.BatchSampler(s, 3, drop_last=False))
        assert np.concatenate([b.numpy() for (b,) in loader]).tolist() == values
        seen.update(order)
        if not shuffle:
            t = tdata.DistributedSampler(range(23), num_replicas=3, rank=r, shuffle=False, drop_last=drop_last)
            assert order == list(t)
    # all ranks together cover the dataset (23 = 3*7 + 2: drop_last loses 2, padding adds 1)
    assert sum(seen.values()) == (21 if drop_last else 24)
    assert len(seen) == (21 if drop_last else 23)
