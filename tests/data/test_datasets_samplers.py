"""ember.utils.data datasets, samplers and collation against torch.utils.data: same
structure, dtypes, shapes and values, same errors; random samplers by their statistics,
exact partitions and reproducibility (their draws need not equal PyTorch's)."""
import collections
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import ember
import ember.utils.data as data

Point = collections.namedtuple("Point", "x y")


def assert_same(e, t):
    """An ember structure equals a torch one: container types, keys, dtypes, shapes, values."""
    if isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), type(e)
        assert str(e.dtype) == str(t.dtype)
        assert tuple(e.shape) == tuple(t.shape)
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    elif isinstance(t, collections.abc.Mapping):
        assert type(e) is type(t) and list(e) == list(t)
        for k in t:
            assert_same(e[k], t[k])
    elif isinstance(t, (list, tuple, collections.deque)):
        assert type(e) is type(t) and len(e) == len(t)
        for a, b in zip(e, t):
            assert_same(a, b)
    else:
        assert type(e) is type(t) and e == t


def same_error(fn):
    """fn(module) raises the same exception type and message for ember and torch."""
    with pytest.raises(Exception) as te:
        fn(tdata)
    with pytest.raises(type(te.value)) as ee:
        fn(data)
    assert str(ee.value) == str(te.value)


# -- collation ----------------------------------------------------------------------------
# batches built from Python/NumPy data (the same objects go to both libraries)
COLLATE_BATCHES = {
    "ints": [1, 2, 3],
    "floats": [1.5, 2.0],
    "bools": [True, False],
    "int_then_float": [1, 2.5],
    "float_then_int": [2.5, 1],
    "strings": ["a", "bc"],
    "bytes": [b"a", b"b"],
    "np_str_scalars": [np.str_("a"), np.str_("b")],
    "np_float32": [np.float32(1), np.float32(2)],
    "np_int32": [np.int32(1), np.int32(2)],
    "np_float64": [np.float64(1), 2.0],
    "np_bool": [np.bool_(True), np.bool_(False)],
    "np_arrays": [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((2, 3), np.float32)],
    "np_int_arrays": [np.arange(3), np.arange(3, 6)],
    "np_0d": [np.array(1.5), np.array(2.5)],
    "np_uint8": [np.arange(4, dtype=np.uint8), np.arange(4, dtype=np.uint8)],
    "dicts": [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],
    "ordered_dict": [collections.OrderedDict(a=1, b=2.0), collections.OrderedDict(a=3, b=4.0)],
    "defaultdict": [collections.defaultdict(int, a=1), collections.defaultdict(int, a=2)],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "tuples": [(1, 2.0), (3, 4.0)],
    "lists": [[1, 2.0], [3, 4.0]],
    "tuple_with_str": [(1, "a"), (2, "b")],
    "deques": [collections.deque([1, 2]), collections.deque([3, 4])],
    "ranges": [range(2), range(2)],
    "nested": [{"img": np.zeros((2, 2), np.float32), "meta": (3, "x", [1.0])},
               {"img": np.ones((2, 2), np.float32), "meta": (4, "y", [2.0])}],
}


@pytest.mark.parametrize("name", sorted(COLLATE_BATCHES))
def test_default_collate_python_and_numpy_data(name):
    batch = COLLATE_BATCHES[name]
    assert_same(data.default_collate(batch), tdata.default_collate(batch))


def tensor_batches(lib):
    return {
        "tensors": [lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0])],
        "int_tensors": [lib.tensor([[1, 2]]), lib.tensor([[3, 4]])],
        "scalars": [lib.tensor(1.5), lib.tensor(2.5)],
        "mixed_dtypes": [lib.zeros(2), lib.zeros(2, dtype=lib.int64)],
        "tuple_of_tensor_and_label": [(lib.ones(2, 3), 1), (lib.zeros(2, 3), 0)],
        "dict_of_tensors": [{"x": lib.ones(3), "y": 1.0}, {"x": lib.zeros(3), "y": 0.0}],
    }


@pytest.mark.parametrize("name", sorted(tensor_batches(ember)))
def test_default_collate_tensors(name):
    assert_same(data.default_collate(tensor_batches(ember)[name]), tdata.default_collate(tensor_batches(torch)[name]))


@pytest.mark.parametrize("batch", [
    [None, None], [object()], [{1, 2}], [1 + 2j], [np.array(["a"]), np.array(["b"])],
    [np.array([object()])], [[1, 2], [3]], [(1, 2), (3,)],
], ids=["none", "object", "set", "complex", "np_str_array", "np_object_array", "ragged_lists", "ragged_tuples"])
def test_default_collate_errors(batch):
    same_error(lambda m: m.default_collate(batch))


def test_default_collate_unequal_tensors():
    with pytest.raises(RuntimeError) as te:
        tdata.default_collate([torch.zeros(2), torch.zeros(3)])
    with pytest.raises(RuntimeError) as ee:
        data.default_collate([ember.zeros(2), ember.zeros(3)])
    assert str(ee.value) == str(te.value)


@pytest.mark.parametrize("value", [
    1, "abc", np.zeros(2), np.float32(2), np.array(2.5), np.array(["a"]),
    {"a": np.zeros(1), "b": [np.zeros(1), 3]}, Point(np.zeros(1), 2), (np.zeros(1), 2), [np.ones(2), "s"],
], ids=lambda v: type(v).__name__)
def test_default_convert(value):
    e, t = data.default_convert(value), tdata.default_convert(value)
    if isinstance(t, np.ndarray):
        assert e is value
    else:
        assert_same(e, t)
    x = ember.ones(2)
    assert data.default_convert(x) is x


# -- datasets -------------------------------------------------------------------------------
def test_tensor_dataset():
    x, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    ds = data.TensorDataset(ember.tensor(x), ember.tensor(y))
    tds = tdata.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ds) == len(tds) == 6
    for i in (0, 3, -1):
        assert_same(ds[i], tds[i])
    assert_same(ds[1:3], tds[1:3])
    assert ds.tensors[0].shape == (6, 2)
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        data.TensorDataset(ember.zeros(3), ember.zeros(4))


def test_dataset_base_and_add():
    same_error(lambda m: m.Dataset()[0])
    a, b = data.TensorDataset(ember.arange(3)), data.TensorDataset(ember.arange(3, 5))
    cat = a + b
    assert isinstance(cat, data.ConcatDataset) and len(cat) == 5
    assert [cat[i][0].item() for i in range(5)] == [0, 1, 2, 3, 4]

    class Stream(data.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    chain = Stream(2) + Stream(3)
    assert isinstance(chain, data.ChainDataset)
    assert list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5
    with pytest.raises(TypeError):
        data.IterableDataset()  # abstract: __iter__ must be defined
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        data.ConcatDataset([Stream(2)])


def test_concat_dataset_matches_torch():
    parts = [list(range(3)), list(range(10, 12)), [], list(range(20, 24))]
    e, t = data.ConcatDataset(parts), tdata.ConcatDataset(parts)
    assert e.cumulative_sizes == t.cumulative_sizes == [3, 5, 5, 9]
    assert len(e) == len(t)
    assert [e[i] for i in range(-9, 9)] == [t[i] for i in range(-9, 9)]
    same_error(lambda m: m.ConcatDataset(parts)[-10])
    same_error(lambda m: m.ConcatDataset([]))


def test_subset_and_stack_dataset():
    base = data.TensorDataset(ember.arange(10) * 10)
    sub = data.Subset(base, [7, 2, 5])
    assert len(sub) == 3
    assert sub[0][0].item() == 70 and sub[-1][0].item() == 50
    assert [b[0].item() for b in sub.__getitems__([2, 0])] == [50, 70]
    assert sub[[0, 1]][0].tolist() == [70, 20]  # a list index goes to the dataset as one list

    xs, ys = list(range(4)), list("abcd")
    for args, kwargs in [((xs, ys), {}), ((), {"x": xs, "y": ys})]:
        e, t = data.StackDataset(*args, **kwargs), tdata.StackDataset(*args, **kwargs)
        assert len(e) == len(t) == 4
        assert e[2] == t[2]
        assert e.__getitems__([3, 1]) == t.__getitems__([3, 1])
    same_error(lambda m: m.StackDataset(xs, y=ys))
    same_error(lambda m: m.StackDataset())
    same_error(lambda m: m.StackDataset(xs, ys[:2]))


@pytest.mark.parametrize("n, lengths", [
    (10, [3, 7]), (10, [0.33, 0.33, 0.34]), (10, [0.1, 0.1, 0.8]), (11, [0.25, 0.25, 0.25, 0.25]),
    (5, [0.5, 0.5, 0]), (7, [1.0]), (100, [0.7, 0.2, 0.1]),
])
def test_random_split_lengths_and_partition(n, lengths):
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        t_sizes = [len(s) for s in tdata.random_split(range(n), lengths)]
    with warnings.catch_warnings(record=True) as ew:
        warnings.simplefilter("always")
        splits = data.random_split(range(n), lengths)
    assert [len(s) for s in splits] == t_sizes
    assert [str(w.message) for w in ew] == [str(w.message) for w in tw]
    indices = [i for s in splits for i in s.indices]
    assert sorted(indices) == list(range(n))  # disjoint and complete
    assert all(s.dataset is not None and list(s) == s.indices for s in splits)


def test_random_split_errors_and_reproducibility():
    same_error(lambda m: m.random_split(range(10), [3, 3]))
    same_error(lambda m: m.random_split(range(10), [0.5, 0.6]))
    same_error(lambda m: m.random_split(range(5), [-0.5, 1.5]))
    g1, g2 = ember.Generator().manual_seed(42), ember.Generator().manual_seed(42)
    a = [s.indices for s in data.random_split(range(50), [0.5, 0.5], generator=g1)]
    b = [s.indices for s in data.random_split(range(50), [0.5, 0.5], generator=g2)]
    assert a == b
    ember.manual_seed(3)
    c = [s.indices for s in data.random_split(range(50), [25, 25])]
    ember.manual_seed(3)
    assert c == [s.indices for s in data.random_split(range(50), [25, 25])]
    assert c != [s.indices for s in data.random_split(range(50), [25, 25])]


# -- samplers -------------------------------------------------------------------------------
def test_sequential_and_batch_sampler_match_torch():
    ds = list(range(10))
    assert list(data.SequentialSampler(ds)) == list(tdata.SequentialSampler(ds))
    assert len(data.SequentialSampler(ds)) == 10
    for bs in (1, 3, 5, 11):
        for drop_last in (False, True):
            e = data.BatchSampler(data.SequentialSampler(ds), bs, drop_last)
            t = tdata.BatchSampler(tdata.SequentialSampler(ds), bs, drop_last)
            assert list(e) == list(t) and len(e) == len(t)
    with pytest.raises(NotImplementedError):
        iter(data.Sampler())


@pytest.mark.parametrize("make", [
    lambda m: m.BatchSampler(range(3), 0, False),
    lambda m: m.BatchSampler(range(3), True, False),
    lambda m: m.BatchSampler(range(3), 2.0, False),
    lambda m: m.BatchSampler(range(3), 2, 1),
    lambda m: m.RandomSampler(range(3), replacement=1),
    lambda m: m.RandomSampler(range(3), num_samples=0),
    lambda m: m.RandomSampler(range(3), num_samples=2.0),
    lambda m: m.RandomSampler([]),
    lambda m: m.WeightedRandomSampler([1, 2], 0),
    lambda m: m.WeightedRandomSampler([1, 2], True),
    lambda m: m.WeightedRandomSampler([1, 2], 3, replacement=1),
    lambda m: m.WeightedRandomSampler([[1, 2]], 3),
    lambda m: list(m.WeightedRandomSampler([1, 2], 3, replacement=False)),
    lambda m: list(m.WeightedRandomSampler([-1, 2], 3)),
    lambda m: list(m.WeightedRandomSampler([0, 0], 3)),
])
def test_sampler_argument_errors(make):
    same_error(make)


def test_random_sampler_permutations_and_replacement():
    ds = list(range(20))
    ember.manual_seed(0)
    perm = list(data.RandomSampler(ds))
    assert sorted(perm) == ds and perm != ds
    second = list(data.RandomSampler(ds))
    assert sorted(second) == ds and second != perm  # every pass draws a new order
    long = list(data.RandomSampler(ds, num_samples=50))
    assert len(long) == len(data.RandomSampler(ds, num_samples=50)) == 50
    assert sorted(long[:20]) == ds and sorted(long[20:40]) == ds and len(set(long[40:])) == 10
    draws = np.array(list(data.RandomSampler(ds, replacement=True, num_samples=40000)))
    assert draws.min() == 0 and draws.max() == 19
    np.testing.assert_allclose(np.bincount(draws) / draws.size, 1 / 20, atol=0.01)
    assert all(type(i) is int for i in perm[:3])


def test_random_sampler_reproducible():
    ds = range(30)
    ember.manual_seed(7)
    a = list(data.RandomSampler(ds))
    ember.manual_seed(7)
    assert list(data.RandomSampler(ds)) == a
    g = ember.Generator().manual_seed(1)
    b = list(data.RandomSampler(ds, generator=g))
    g.manual_seed(1)
    assert list(data.RandomSampler(ds, generator=g)) == b
    g.manual_seed(1)
    c = list(data.RandomSampler(ds, replacement=True, generator=g))
    g.manual_seed(1)
    assert list(data.RandomSampler(ds, replacement=True, generator=g)) == c


def test_subset_random_sampler_exact_partition():
    idx = [3, 9, 4, 17, 11]
    g = ember.Generator().manual_seed(0)
    s = data.SubsetRandomSampler(idx, generator=g)
    orders = [list(s) for _ in range(5)]
    assert all(sorted(o) == sorted(idx) for o in orders)
    assert len(s) == 5 and len({tuple(o) for o in orders}) > 1
    g.manual_seed(0)
    assert [list(s) for _ in range(5)] == orders


def test_weighted_random_sampler_statistics():
    w = [1.0, 2.0, 3.0, 4.0]
    g = ember.Generator().manual_seed(0)
    s = data.WeightedRandomSampler(w, 40000, generator=g)
    assert len(s) == 40000 and s.num_samples == 40000
    assert str(s.weights.dtype) == "torch.float64"
    draws = np.array(list(s))
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / draws.size, np.array(w) / 10, atol=0.01)
    # zero weights are never drawn with replacement
    zero = np.array(list(data.WeightedRandomSampler([0.0, 1.0, 0.0, 1.0], 1000)))
    assert set(zero.tolist()) == {1, 3}
    # without replacement: distinct indices; the first is drawn with probability w / sum(w)
    firsts = []
    for _ in range(4000):
        out = list(data.WeightedRandomSampler(w, 3, replacement=False, generator=g))
        assert len(set(out)) == 3
        firsts.append(out[0])
    np.testing.assert_allclose(np.bincount(firsts, minlength=4) / 4000, np.array(w) / 10, atol=0.03)
    # zero-weight entries come only after all others, as in torch
    assert list(data.WeightedRandomSampler([0, 1], 2, replacement=False)) == list(
        tdata.WeightedRandomSampler([0, 1], 2, replacement=False))
    g1, g2 = ember.Generator().manual_seed(5), ember.Generator().manual_seed(5)
    assert list(data.WeightedRandomSampler(w, 50, generator=g1)) == list(
        data.WeightedRandomSampler(w, 50, generator=g2))
    ws = data.WeightedRandomSampler(ember.tensor([1, 2]), 3)
    assert ws.weights.tolist() == [1.0, 2.0]
