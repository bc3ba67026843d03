"""ember.utils.data.DataLoader against torch.utils.data.DataLoader: batches, order,
lengths and argument errors; worker processes (order, seeding, worker_init_fn,
get_worker_info, IterableDataset sharding, persistence, errors, timeouts, speed-up); and
no worker process left behind after exhaustion, deletion, break or KeyboardInterrupt."""
import collections
import gc
import math
import multiprocessing
import os
import random
import signal
import time
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import ember
import ember.utils.data as data

Pair = collections.namedtuple("Pair", "feature label")


# -- process bookkeeping ---------------------------------------------------------------------
def child_pids():
    """Live child processes of this process, read from /proc (the resource tracker and
    forkserver that spawn/forkserver contexts start once per session are not workers)."""
    me = str(os.getpid())
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]  # the command name may contain spaces
        if ppid == me and b"resource_tracker" not in cmdline and b"forkserver" not in cmdline:
            out.add(int(entry))
    return out


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(autouse=True)
def no_leftover_workers():
    before = child_pids()
    yield
    if multiprocessing.active_children() or child_pids() - before:
        gc.collect()  # an iterator kept in a reference cycle (e.g. by a traceback) is shut down now
    assert multiprocessing.active_children() == []
    assert child_pids() <= before


def assert_workers_gone(pids):
    assert multiprocessing.active_children() == []
    assert not [p for p in pids if pid_alive(p)]


# -- datasets (module level so that spawn can pickle them) -----------------------------------
class Samples(data.Dataset):
    """Deterministic samples of every collatable kind; optionally slow."""

    def __init__(self, n=23, delay=0.0):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        return {"x": np.full(3, i, np.float32), "y": i * i, "w": i / 2, "name": f"s{i}",
                "pair": Pair(np.array([i, -i]), i % 2 == 0)}


_INIT_MARK = -1


def mark_worker(worker_id):
    global _INIT_MARK
    _INIT_MARK = 100 + worker_id


class WhoAmI(data.Dataset):
    """Reports where and with which random streams each sample was produced."""

    def __init__(self, n=16, delay=0.0):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        info = data.get_worker_info()
        return {
            "index": i, "pid": os.getpid(), "init": _INIT_MARK,
            "worker": -1 if info is None else info.id,
            "num_workers": 0 if info is None else info.num_workers,
            "seed": -1 if info is None else info.seed,
            "same_dataset_type": info is None or type(info.dataset) is WhoAmI,
            "ember": ember.rand(1).item(), "numpy": np.random.rand(), "python": random.random(),
        }


class SlowFirstBatch(data.Dataset):
    """Items of the first batch take long, so later batches finish first."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i < 2:
            time.sleep(0.3)
        return i, time.monotonic()


def make_range_dataset(lib_data, start, end, shard):
    """An IterableDataset over range(start, end) for either library; with shard=True
    each worker takes its own contiguous part (via that library's get_worker_info)."""

    class Range(lib_data.IterableDataset):
        def __iter__(self):
            info = lib_data.get_worker_info()
            if info is None or not shard:
                return iter(range(start, end))
            per = math.ceil((end - start) / info.num_workers)
            lo = start + info.id * per
            return iter(range(lo, min(end, lo + per)))

        def __len__(self):
            return end - start

    return Range()


class CustomError(Exception):
    pass


class Failing(data.Dataset):
    def __init__(self, exc_type=ValueError, bad=7):
        self.exc_type, self.bad = exc_type, bad

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.bad:
            raise self.exc_type(f"item {i} is broken")
        return i


class Sleepy(data.Dataset):
    def __init__(self, n, delay):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay)
        return os.getpid()


class Crashing(data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            os._exit(3)
        return i


class Unpicklable(data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i


def failing_init(worker_id):
    raise CustomError(f"init of worker {worker_id} failed")


def plain(x):
    """Batches of either library as plain Python: tensors become (dtype, values)."""
    if isinstance(x, (ember.Tensor, torch.Tensor)):
        return str(x.dtype), x.tolist()
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, Pair):
        return "Pair", [plain(v) for v in x]
    if isinstance(x, (list, tuple)):
        return type(x).__name__, [plain(v) for v in x]
    return x


def values(batches):
    return [plain(b) for b in batches]


def samples_of(batches):
    """Per-sample dicts of Python values from batches of dicts of 1-d tensors."""
    out = []
    for b in batches:
        cols = {k: v.tolist() for k, v in b.items()}
        out += [{k: c[j] for k, c in cols.items()} for j in range(len(cols["index"]))]
    return out


def as_lists(batches):
    return [b.tolist() if hasattr(b, "tolist") else b for b in batches]


# -- single process, against torch -----------------------------------------------------------
def test_batches_match_torch_without_shuffle():
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10)
    for bs, drop_last in [(1, False), (3, False), (3, True), (4, True), (10, False), (12, False)]:
        e = data.DataLoader(data.TensorDataset(ember.tensor(x), ember.tensor(y)), batch_size=bs, drop_last=drop_last)
        t = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=bs, drop_last=drop_last)
        eb, tb = list(e), list(t)
        assert len(e) == len(t) == len(eb) == len(tb)
        for (ex, ey), (tx, ty) in zip(eb, tb):
            assert str(ex.dtype) == str(tx.dtype) and str(ey.dtype) == str(ty.dtype)
            assert tuple(ex.shape) == tuple(tx.shape) and tuple(ey.shape) == tuple(ty.shape)
            np.testing.assert_array_equal(ex.numpy(), tx.numpy())
            np.testing.assert_array_equal(ey.numpy(), ty.numpy())


def test_dict_samples_match_torch():
    for kw in [dict(batch_size=3), dict(batch_size=None)]:
        e = values(data.DataLoader(Samples(7), **kw))
        assert e == values(tdata.DataLoader(Samples(7), **kw))
    assert e[0]["pair"][0] == "Pair"


def test_shuffle_is_a_reproducible_permutation():
    ds = list(range(20))
    loader = data.DataLoader(ds, batch_size=6, shuffle=True)
    ember.manual_seed(0)
    first = [i for b in loader for i in b.tolist()]
    second = [i for b in loader for i in b.tolist()]
    assert sorted(first) == sorted(second) == ds and first != ds and first != second
    ember.manual_seed(0)
    assert [i for b in loader for i in b.tolist()] == first
    g = ember.Generator().manual_seed(9)
    loader = data.DataLoader(ds, batch_size=6, shuffle=True, generator=g)
    a = [b.tolist() for b in loader]
    g.manual_seed(9)
    assert [b.tolist() for b in loader] == a


def test_lengths_samplers_and_collate_fn_match_torch():
    ds = list(range(10))
    configs = [
        dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
        dict(batch_size=4, shuffle=False),
        dict(batch_size=2, sampler=[9, 1, 5, 3, 7]), dict(batch_sampler=[[1, 2], [0], [9, 8, 7]]),
        dict(batch_size=3, collate_fn=lambda b: [x * 10 for x in b]),
    ]
    for kw in configs:
        e, t = data.DataLoader(ds, **kw), tdata.DataLoader(ds, **kw)
        assert len(e) == len(t)
        assert as_lists(e) == as_lists(t)
        assert e.dataset is ds and e.batch_size == t.batch_size and e.drop_last == t.drop_last
    s = data.SequentialSampler(ds)
    e = data.DataLoader(ds, batch_sampler=data.BatchSampler(s, 4, True))
    assert as_lists(e) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(e) == 2


def test_batch_size_none_converts_samples():
    samples = [np.arange(3, dtype=np.float32) + i for i in range(4)]
    e, t = list(data.DataLoader(samples, batch_size=None)), list(tdata.DataLoader(samples, batch_size=None))
    assert all(str(a.dtype) == str(b.dtype) and a.tolist() == b.tolist() for a, b in zip(e, t))
    pairs = [(np.float64(i), "a") for i in range(3)]
    e, t = list(data.DataLoader(pairs, batch_size=None)), list(tdata.DataLoader(pairs, batch_size=None))
    assert [(a[0].item(), a[1]) for a in e] == [(b[0].item(), b[1]) for b in t]
    assert all(isinstance(a, list) and str(a[0].dtype) == "torch.float64" for a in e)


@pytest.mark.parametrize("make", [
    lambda m: m.DataLoader(list(range(10)), shuffle=True, sampler=[1, 2]),
    lambda m: m.DataLoader(list(range(10)), batch_size=2, batch_sampler=[[0, 1]]),
    lambda m: m.DataLoader(list(range(10)), shuffle=True, batch_sampler=[[0, 1]]),
    lambda m: m.DataLoader(list(range(10)), drop_last=True, batch_sampler=[[0, 1]]),
    lambda m: m.DataLoader(list(range(10)), sampler=[0], batch_sampler=[[0, 1]]),
    lambda m: m.DataLoader(list(range(10)), batch_size=None, drop_last=True),
    lambda m: m.DataLoader(list(range(10)), batch_size=0),
    lambda m: m.DataLoader(list(range(10)), batch_size=-1),
    lambda m: m.DataLoader(list(range(10)), num_workers=-1),
    lambda m: m.DataLoader(list(range(10)), timeout=-1),
    lambda m: m.DataLoader(list(range(10)), prefetch_factor=2),
    lambda m: m.DataLoader(list(range(10)), num_workers=1, prefetch_factor=-1),
    lambda m: m.DataLoader(list(range(10)), persistent_workers=True),
    lambda m: m.DataLoader(list(range(10)), multiprocessing_context="fork"),
    lambda m: m.DataLoader(list(range(10)), num_workers=1, multiprocessing_context="bogus"),
    lambda m: m.DataLoader(list(range(10)), num_workers=1, multiprocessing_context=3),
    lambda m: setattr(m.DataLoader(list(range(10))), "batch_size", 5),
    lambda m: m.DataLoader(make_range_dataset(m, 0, 5, False), shuffle=True),
    lambda m: m.DataLoader(make_range_dataset(m, 0, 5, False), sampler=[1, 2]),
    lambda m: m.DataLoader(make_range_dataset(m, 0, 5, False), batch_sampler=[[1, 2]]),
])
def test_argument_errors_match_torch(make):
    with pytest.raises(Exception) as te:
        make(tdata)
    with pytest.raises(type(te.value)) as ee:
        make(data)
    assert str(ee.value) == str(te.value)


def test_iterable_dataset_single_process_matches_torch():
    for kw in [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None), dict(batch_size=5)]:
        e = data.DataLoader(make_range_dataset(data, 0, 11, False), **kw)
        t = tdata.DataLoader(make_range_dataset(tdata, 0, 11, False), **kw)
        assert as_lists(e) == as_lists(t) and len(e) == len(t)


def test_pin_memory_warns_and_works():
    with pytest.warns(UserWarning, match="pin_memory"):
        assert as_lists(data.DataLoader([1, 2, 3], batch_size=2, pin_memory=True)) == [[1, 2], [3]]


def test_get_worker_info_in_main_process():
    assert data.get_worker_info() is None
    batch = next(iter(data.DataLoader(WhoAmI(4), batch_size=4)))
    assert batch["worker"].tolist() == [-1] * 4 and batch["pid"].tolist() == [os.getpid()] * 4
    info = data._worker.WorkerInfo(id=0, num_workers=1, seed=3, dataset=None)
    assert repr(info) == "WorkerInfo(id=0, num_workers=1, seed=3, dataset=None)"
    with pytest.raises(RuntimeError, match="Cannot assign attributes to WorkerInfo objects"):
        info.id = 1


# -- worker processes -------------------------------------------------------------------------
def test_workers_give_the_same_batches_in_order():
    serial = values(data.DataLoader(Samples(23), batch_size=3))
    for kw in [dict(num_workers=1), dict(num_workers=2), dict(num_workers=2, prefetch_factor=1),
               dict(num_workers=2, prefetch_factor=5), dict(num_workers=2, multiprocessing_context="fork")]:
        assert values(data.DataLoader(Samples(23), batch_size=3, **kw)) == serial
    loader = data.DataLoader(Samples(23), batch_size=4, drop_last=True, num_workers=2)
    assert values(loader) == values(data.DataLoader(Samples(23), batch_size=4, drop_last=True))
    assert len(loader) == 5


def test_order_kept_when_workers_finish_out_of_order():
    batches = list(data.DataLoader(SlowFirstBatch(), batch_size=2, num_workers=2))
    assert [b[0].tolist() for b in batches] == [[2 * k, 2 * k + 1] for k in range(6)]
    finished = [b[1].max().item() for b in batches]
    assert finished[1] < finished[0]  # batch 1 was ready first but came out second
    unordered = list(data.DataLoader(SlowFirstBatch(), batch_size=2, num_workers=2, in_order=False))
    got = [b[0].tolist() for b in unordered]
    assert sorted(got) == [[2 * k, 2 * k + 1] for k in range(6)] and got[0] != [0, 1]


def test_worker_info_seeds_and_init_fn():
    loader = data.DataLoader(WhoAmI(16), batch_size=2, num_workers=2, worker_init_fn=mark_worker)
    ember.manual_seed(123)
    samples = samples_of(loader)
    assert [s["index"] for s in samples] == list(range(16))
    pids = {s["pid"] for s in samples}
    assert len(pids) == 2 and os.getpid() not in pids
    for s in samples:
        assert s["init"] == 100 + s["worker"] and s["num_workers"] == 2 and s["same_dataset_type"]
    assert [s["worker"] for s in samples[::2]] == [0, 1] * 4  # batches go round-robin
    seeds = {s["worker"]: s["seed"] for s in samples}
    assert seeds[1] == seeds[0] + 1
    assert _INIT_MARK == -1  # worker_init_fn ran in the workers only
    # every stream differs between workers ...
    for key in ("ember", "numpy", "python"):
        w0 = [s[key] for s in samples if s["worker"] == 0]
        w1 = [s[key] for s in samples if s["worker"] == 1]
        assert w0 != w1 and len(set(w0)) == len(w0)
    # ... is reproducible under manual_seed, and new in the next epoch
    def streams(loader):
        return [(s["ember"], s["numpy"], s["python"], s["seed"]) for s in samples_of(loader)]

    ember.manual_seed(123)
    first = streams(loader)
    assert first == [(s["ember"], s["numpy"], s["python"], s["seed"]) for s in samples]
    assert streams(loader) != first
    g = ember.Generator().manual_seed(5)
    loader = data.DataLoader(WhoAmI(4), batch_size=2, num_workers=2, generator=g)
    a = streams(loader)
    g.manual_seed(5)
    assert streams(loader) == a


@pytest.mark.parametrize("shard", [True, False])
@pytest.mark.parametrize("kw", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None)])
def test_iterable_dataset_workers_match_torch(shard, kw):
    e = data.DataLoader(make_range_dataset(data, 0, 10, shard), num_workers=2, **kw)
    t = tdata.DataLoader(make_range_dataset(tdata, 0, 10, shard), num_workers=2, **kw)
    got = as_lists(e)
    assert got == as_lists(t)
    flat = [i for b in got for i in (b if isinstance(b, list) else [b])]
    if shard and not kw.get("drop_last"):
        assert sorted(flat) == list(range(10))  # each item exactly once
    if not shard and kw.get("batch_size") is None:
        assert sorted(flat) == sorted(list(range(10)) * 2)  # every worker iterates the whole dataset


def test_persistent_workers_keep_processes_across_epochs():
    loader = data.DataLoader(WhoAmI(12), batch_size=2, num_workers=2, persistent_workers=True)
    epochs = [samples_of(loader), samples_of(loader)]
    for i, b in enumerate(loader):  # leave an epoch early: its leftovers must not leak into the next
        if i == 1:
            break
    epochs.append(samples_of(loader))
    pids = [{s["pid"] for s in ep} for ep in epochs]
    assert len(pids[0]) == 2 and pids[0] == pids[1] == pids[2]
    for ep in epochs:
        assert [s["index"] for s in ep] == list(range(12))
    assert all(pid_alive(p) for p in pids[0])
    del loader
    assert_workers_gone(pids[0])

    stream = data.DataLoader(make_range_dataset(data, 0, 9, True), batch_size=2, num_workers=2, persistent_workers=True)
    ref = as_lists(tdata.DataLoader(make_range_dataset(tdata, 0, 9, True), batch_size=2, num_workers=2))
    assert as_lists(stream) == ref and as_lists(stream) == ref


@pytest.mark.parametrize("exc_type, bad", [(ValueError, 7), (KeyError, 7), (CustomError, 2)])
def test_worker_error_is_reraised_with_traceback(exc_type, bad):
    loader = data.DataLoader(Failing(exc_type, bad), batch_size=2, num_workers=2)
    with pytest.raises(exc_type) as info:
        list(loader)
    msg = str(info.value)
    worker = (bad // 2) % 2  # batches are dealt round-robin
    assert msg.startswith(("Caught", "'Caught"))
    header = f"Caught {exc_type.__name__} in DataLoader worker process {worker}.\n"
    assert header + "Original Traceback (most recent call last):" in msg
    assert os.path.basename(__file__) in msg and "in __getitem__" in msg
    assert f"item {bad} is broken" in msg
    # the iterator stays usable after an error, like torch's
    it = iter(loader)
    got = []
    while True:
        try:
            got.append(next(it).tolist())
        except exc_type:
            continue
        except StopIteration:
            break
    assert [i for b in got for i in b] == [i for i in range(12) if i // 2 != bad // 2]


def test_worker_init_error_is_reraised():
    with pytest.raises(CustomError, match="init of worker 0 failed"):
        list(data.DataLoader(list(range(4)), num_workers=1, worker_init_fn=failing_init))


def test_unpicklable_batch_is_an_error_not_a_hang():
    with pytest.raises(Exception, match="in DataLoader worker process 0"):
        list(data.DataLoader(Unpicklable(), batch_size=None, num_workers=1, timeout=10))


def test_timeout():
    loader = data.DataLoader(Sleepy(4, 0.6), num_workers=1, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 0.2 seconds$"):
        next(iter(loader))
    assert time.monotonic() - start < 2.0
    assert as_lists(data.DataLoader(Sleepy(2, 0.0), num_workers=1, timeout=5)) != []


def test_dead_worker_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(data.DataLoader(Crashing(), batch_size=2, num_workers=2))


def test_spawn_context():
    ds = data.TensorDataset(ember.arange(10), ember.arange(10) * 0.5)
    serial = [[t.tolist() for t in b] for b in data.DataLoader(ds, batch_size=3)]
    loader = data.DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="spawn")
    assert [[t.tolist() for t in b] for b in loader] == serial


def test_two_workers_are_faster_than_one_process():
    ds = Sleepy(100, 0.005)  # ~0.5 s of work in one process

    def timed(**kw):
        start = time.perf_counter()
        pids = [p for b in data.DataLoader(ds, batch_size=10, **kw) for p in b.tolist()]
        return time.perf_counter() - start, pids

    ratios = []
    for _ in range(3):  # a behavioural check of parallelism: retry if the machine is busy
        serial_time, serial = timed()
        parallel_time, parallel = timed(num_workers=2)
        assert set(serial) == {os.getpid()}
        assert len(set(parallel)) == 2 and os.getpid() not in parallel
        ratios.append(parallel_time / serial_time)
        if ratios[-1] < 0.8:
            break
    assert min(ratios) < 0.8, ratios


# -- no leftover processes -----------------------------------------------------------------------
def worker_pids_of(iterator):
    return [w.pid for w in iterator._workers]


def test_no_leftovers_after_exhaustion():
    it = iter(data.DataLoader(Samples(10), batch_size=2, num_workers=2))
    pids = worker_pids_of(it)
    assert all(pid_alive(p) for p in pids)
    assert len(list(it)) == 5
    assert_workers_gone(pids)


def test_no_leftovers_after_break_and_del():
    loader = data.DataLoader(Samples(40, delay=0.002), batch_size=2, num_workers=2)
    for i, batch in enumerate(loader):
        if i == 0:
            pids = set(child_pids())
        if i == 2:
            break
    del batch
    assert pids and not [p for p in pids if pid_alive(p)]
    assert multiprocessing.active_children() == []

    it = iter(loader)
    next(it)
    pids = worker_pids_of(it)
    del it
    assert_workers_gone(pids)

    persistent = data.DataLoader(Samples(40), batch_size=2, num_workers=2, persistent_workers=True)
    it = iter(persistent)
    next(it)
    pids = worker_pids_of(it)
    del it
    assert all(pid_alive(p) for p in pids)  # the loader keeps persistent workers
    del persistent
    assert_workers_gone(pids)


def test_stuck_worker_is_terminated(monkeypatch):
    import ember.utils.data.dataloader as dataloader

    monkeypatch.setattr(dataloader, "_SHUTDOWN_TIMEOUT", 0.3)
    it = iter(data.DataLoader(Sleepy(4, 30.0), num_workers=1))
    pids = worker_pids_of(it)
    time.sleep(0.2)  # the worker is now inside a 30 s __getitem__
    start = time.monotonic()
    del it
    assert_workers_gone(pids)
    assert time.monotonic() - start < 2.0


def test_iterator_in_a_reference_cycle_is_shut_down_by_gc():
    it = iter(data.DataLoader(Samples(40), batch_size=2, num_workers=2))
    next(it)
    it.myself = it
    pids = worker_pids_of(it)
    del it
    assert all(pid_alive(p) for p in pids)
    start = time.monotonic()
    gc.collect()
    assert_workers_gone(pids)
    assert time.monotonic() - start < 4.0


def test_no_leftovers_after_keyboard_interrupt():
    loader = data.DataLoader(Samples(40), batch_size=2, num_workers=2)
    with pytest.raises(KeyboardInterrupt):
        for batch in loader:
            pids = set(child_pids())
            raise KeyboardInterrupt
    assert len(pids) == 2 and not [p for p in pids if pid_alive(p)]
    assert multiprocessing.active_children() == []

    # interrupted while waiting for a worker's reply
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        it = iter(data.DataLoader(Sleepy(8, 0.5), num_workers=2))
        pids = worker_pids_of(it)
        with pytest.raises(KeyboardInterrupt):
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            for batch in it:
                pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    del it
    assert_workers_gone(pids)


def test_worker_count_warning(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # pretend to have one CPU
    with pytest.warns(UserWarning, match="This DataLoader will create 2 worker processes in total"):
        assert as_lists(data.DataLoader([1, 2], num_workers=2)) == [[1], [2]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(data.DataLoader([1, 2], num_workers=1))
