"""Behaviour tests for ember's tensor API (factories, dtypes, attributes, printing).

torch is the oracle: each comparison runs the same code on ember and on torch
(``same``) or builds both tensors from the same NumPy data (``both``) and checks
shape, dtype, values and printed form agree.
"""
import numpy as np
import pytest
import torch

import ember

DTYPE_NAMES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def both(data, dtype=None, requires_grad=False):
    """The same data as an (ember tensor, torch tensor) pair; dtype is a name like 'int32'."""
    ekw, tkw = {}, {}
    if dtype is not None:
        ekw["dtype"], tkw["dtype"] = getattr(ember, dtype), getattr(torch, dtype)
    if requires_grad:
        ekw["requires_grad"] = tkw["requires_grad"] = True
    return ember.tensor(data, **ekw), torch.tensor(data, **tkw)


def to_np(t):
    return np.asarray(t.detach().numpy())


def assert_same(e, t, values=True, rtol=1e-6, atol=1e-6):
    """ember tensor e matches torch tensor t in shape, dtype and (optionally) values."""
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype)
    assert e.requires_grad == t.requires_grad
    if values:
        np.testing.assert_allclose(to_np(e), to_np(t), rtol=rtol, atol=atol)


def same(fn, values=True):
    """Run fn(lib) with lib = ember and lib = torch and compare the two results."""
    e, t = fn(ember), fn(torch)
    assert_same(e, t, values=values)
    return e, t


@pytest.fixture
def default_dtype():
    """Restore the default dtype whatever the test does to it."""
    yield
    ember.set_default_dtype(ember.float32)


# --------------------------------------------------------------------------
# tensor(), as_tensor(), from_numpy()
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        [1, 2, 3],  # ints -> int64
        [1.0, 2.5],  # floats -> float32 (the default dtype)
        [1, 2.5],  # mixed -> float32
        [True, False],  # bools -> bool
        [True, 1],  # bool and int -> int64
        [[1, 2], [3, 4]],
        [[[1.5]], [[2.5]]],
        [],  # empty -> float32
        3,  # Python scalars give 0-d tensors
        3.5,
        True,
        np.arange(6.0).reshape(2, 3),  # numpy float64 stays float64
        np.arange(4, dtype=np.float32),
        np.arange(4, dtype=np.int32),
        np.arange(4, dtype=np.int64),
        np.array([True, False]),
        np.array([1, 2], dtype=np.uint8),
        np.float64(2.5),
    ],
    ids=repr,
)
def test_tensor_dtype_inference_and_values(data):
    assert_same(*both(data))


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_tensor_with_explicit_dtype(dtype):
    assert_same(*both([[0, 1], [2, 3]], dtype=dtype))


def test_tensor_copies_numpy_data():
    a = np.arange(3.0)
    e = ember.tensor(a)
    a[0] = 100.0
    assert e.tolist() == [0.0, 1.0, 2.0]


def test_tensor_requires_grad_flag():
    e, t = both([1.0, 2.0], requires_grad=True)
    assert_same(e, t)
    assert e.is_leaf and e.grad is None


def test_as_tensor():
    same(lambda L: L.as_tensor([1, 2, 3]))
    same(lambda L: L.as_tensor([1, 2], dtype=L.float64))
    # an ndarray of a matching dtype is shared, not copied (like torch)
    a = np.arange(3.0)
    e = ember.as_tensor(a)
    a[0] = 9.0
    assert str(e.dtype) == "torch.float64"
    assert e.tolist() == [9.0, 1.0, 2.0]
    # a tensor passes through as is
    t = ember.ones(2)
    assert ember.as_tensor(t) is t


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros((2, 3), dtype=np.float32)
    e = ember.from_numpy(a)
    assert str(e.dtype) == "torch.float32" and tuple(e.shape) == (2, 3)
    a[0, 0] = 5.0  # numpy -> tensor
    assert e[0, 0].item() == 5.0
    e[1, 2] = 7.0  # tensor -> numpy
    assert a[1, 2] == 7.0
    e.add_(1)
    assert a[0, 0] == 6.0
    for np_dtype, name in [(np.float64, "float64"), (np.int64, "int64"), (np.int32, "int32"), (np.bool_, "bool")]:
        assert str(ember.from_numpy(np.zeros(2, dtype=np_dtype)).dtype) == "torch." + name


# --------------------------------------------------------------------------
# factories
# --------------------------------------------------------------------------
FACTORIES = {
    "zeros_varargs": lambda L: L.zeros(2, 3),
    "zeros_tuple": lambda L: L.zeros((2, 3)),
    "zeros_list": lambda L: L.zeros([2, 3]),
    "zeros_0d": lambda L: L.zeros(()),
    "zeros_empty": lambda L: L.zeros(0, 3),
    "zeros_dtype": lambda L: L.zeros(2, dtype=L.int32),
    "zeros_grad": lambda L: L.zeros(2, requires_grad=True),
    "ones": lambda L: L.ones(3, 1),
    "ones_dtype": lambda L: L.ones((2,), dtype=L.bool),
    "full_int": lambda L: L.full((2,), 3),  # int64, inferred from the fill value
    "full_float": lambda L: L.full((2,), 1.5),  # float32
    "full_bool": lambda L: L.full((2, 2), True),
    "full_dtype": lambda L: L.full([3], 2, dtype=L.float64),
    "zeros_like": lambda L: L.zeros_like(L.ones(2, 3, dtype=L.int32)),
    "ones_like": lambda L: L.ones_like(L.zeros(4)),
    "ones_like_dtype": lambda L: L.ones_like(L.zeros(4), dtype=L.float64),
    "full_like": lambda L: L.full_like(L.zeros(2, dtype=L.int64), 2.7),  # keeps int64
    "arange_int": lambda L: L.arange(5),
    "arange_start_end": lambda L: L.arange(1, 4),
    "arange_float_step": lambda L: L.arange(0, 1, 0.25),
    "arange_float_end": lambda L: L.arange(5.0),
    "arange_neg_step": lambda L: L.arange(5, 0, -1),
    "arange_neg_float_step": lambda L: L.arange(0, -1, -0.25),
    "arange_mixed": lambda L: L.arange(1, 2.5, 0.5),
    "arange_dtype": lambda L: L.arange(0, 5, dtype=L.float64),
    "arange_kw": lambda L: L.arange(start=2, end=8, step=3),
    "linspace": lambda L: L.linspace(0, 1, 5),
    "linspace_steps_kw": lambda L: L.linspace(-1, 1, steps=7),
    "linspace_dtype": lambda L: L.linspace(0, 10, 3, dtype=L.float64),
    "eye": lambda L: L.eye(3),
    "eye_nm": lambda L: L.eye(2, 4),
    "eye_dtype": lambda L: L.eye(3, dtype=L.int64),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factory_matches_torch(name):
    same(FACTORIES[name])


@pytest.mark.parametrize(
    "name",
    ["empty", "empty_like", "rand", "randn", "rand_like", "randn_like", "rand_dtype", "randn_tuple"],
)
def test_factory_shape_and_dtype(name):
    # random or uninitialised values: only shape and dtype are compared
    fn = {
        "empty": lambda L: L.empty(2, 3),
        "empty_like": lambda L: L.empty_like(L.zeros(4, dtype=L.int16)),
        "rand": lambda L: L.rand(3, 4),
        "randn": lambda L: L.randn(2, 2, 2),
        "rand_like": lambda L: L.rand_like(L.zeros(2, 3, dtype=L.float64)),
        "randn_like": lambda L: L.randn_like(L.zeros(5)),
        "rand_dtype": lambda L: L.rand(2, dtype=L.float64),
        "randn_tuple": lambda L: L.randn((3, 2)),
    }[name]
    same(fn, values=False)


def test_rand_randn_distributions():
    r = to_np(ember.rand(10_000))
    assert r.min() >= 0 and r.max() < 1 and abs(r.mean() - 0.5) < 0.02
    n = to_np(ember.randn(10_000))
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05


def test_randint():
    e, _ = same(lambda L: L.randint(3, 10, (2, 50)), values=False)
    a = to_np(e)
    assert a.min() >= 3 and a.max() < 10 and len(np.unique(a)) > 1
    e, _ = same(lambda L: L.randint(5, (100,)), values=False)
    assert to_np(e).min() >= 0 and to_np(e).max() < 5
    same(lambda L: L.randint(0, 4, size=(3,), dtype=L.int32), values=False)


def test_randperm():
    e, _ = same(lambda L: L.randperm(10), values=False)
    assert sorted(e.tolist()) == list(range(10))


def test_normal_variants():
    same(lambda L: L.normal(L.zeros(3), L.ones(3)), values=False)
    same(lambda L: L.normal(0.0, 1.0, size=(2, 3)), values=False)
    same(lambda L: L.normal(L.zeros(2, 2), 1.0), values=False)
    same(lambda L: L.normal(2.0, L.ones(4)), values=False)
    # per-element mean and std are honoured
    x = to_np(ember.normal(ember.tensor([0.0, 100.0]), ember.tensor([1e-3, 1e-3])))
    assert abs(x[0]) < 0.1 and abs(x[1] - 100) < 0.1


def test_manual_seed_makes_random_reproducible():
    for fn in (lambda: ember.rand(5), lambda: ember.randn(2, 3), lambda: ember.randint(0, 100, (6,)),
               lambda: ember.randperm(8), lambda: ember.zeros(4).normal_()):
        ember.manual_seed(0)
        a = fn().tolist()
        ember.manual_seed(0)
        assert fn().tolist() == a
    ember.manual_seed(0)
    a = ember.rand(5).tolist()
    assert ember.rand(5).tolist() != a  # the stream moves on


def test_generator_is_independent_of_global_stream():
    g = ember.Generator().manual_seed(1)
    assert isinstance(g, ember.Generator)
    a = ember.rand(5, generator=g).tolist()
    ember.manual_seed(123)
    ember.rand(3)
    g2 = ember.Generator()
    g2.manual_seed(1)
    assert ember.rand(5, generator=g2).tolist() == a
    # drawing from a generator does not advance the global stream
    ember.manual_seed(0)
    ref = ember.randn(4).tolist()
    ember.manual_seed(0)
    ember.randn(4, generator=g)
    assert ember.randn(4).tolist() == ref
    # the generator's own stream advances
    g3 = ember.Generator().manual_seed(7)
    assert ember.rand(3, generator=g3).tolist() != ember.rand(3, generator=g3).tolist()


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_objects_print_like_torch(name):
    e, t = getattr(ember, name), getattr(torch, name)
    assert str(e) == str(t) == "torch." + name
    assert repr(e) == repr(t)
    assert e.is_floating_point == t.is_floating_point
    assert ember.zeros(1, dtype=e).is_floating_point() == torch.zeros(1, dtype=t).is_floating_point()


def test_dtype_aliases():
    pairs = [("float", "float32"), ("double", "float64"), ("half", "float16"),
             ("long", "int64"), ("int", "int32"), ("short", "int16")]
    for alias, name in pairs:
        assert getattr(ember, alias) is getattr(ember, name)
        assert getattr(ember, alias) == getattr(ember, name)
    assert ember.float32 != ember.float64


def test_default_dtype(default_dtype):
    assert ember.get_default_dtype() is ember.float32
    ember.set_default_dtype(ember.float64)
    assert ember.get_default_dtype() is ember.float64
    torch.set_default_dtype(torch.float64)
    try:
        for fn in (lambda L: L.tensor([1.5]), lambda L: L.zeros(2), lambda L: L.rand(2),
                   lambda L: L.arange(0.0, 1.0, 0.5), lambda L: L.full((2,), 1.5),
                   lambda L: L.linspace(0, 1, 3), lambda L: L.arange(3)):
            same(fn, values=False)
        assert str(ember.tensor([1.5]).dtype) == "torch.float64"
    finally:
        torch.set_default_dtype(torch.float32)
    ember.set_default_dtype(ember.float32)
    assert str(ember.tensor([1.5]).dtype) == "torch.float32"


def _dt(lib, name):
    return getattr(lib, name)


@pytest.mark.parametrize(
    "a,b",
    [("int32", "float32"), ("uint8", "int8"), ("int64", "float16"), ("bool", "int16"),
     ("float16", "float64"), ("int8", "int8"), ("bool", "bool")],
)
def test_promote_types(a, b):
    e = ember.promote_types(_dt(ember, a), _dt(ember, b))
    t = torch.promote_types(_dt(torch, a), _dt(torch, b))
    assert str(e) == str(t)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: (L.tensor([1, 2]), 1.0),  # int tensor and float scalar -> default float
        lambda L: (L.tensor([1, 2], dtype=L.int32), L.tensor(5)),  # 0-d does not promote
        lambda L: (L.tensor([1, 2], dtype=L.int32), L.tensor([5])),
        lambda L: (L.tensor([1.0], dtype=L.float16), 2.5),
        lambda L: (L.tensor(1.0, dtype=L.float64), L.tensor([1.0])),
        lambda L: (L.tensor([True]), 2),
        lambda L: (L.tensor([1], dtype=L.uint8), L.tensor([1], dtype=L.int8)),
    ],
)
def test_result_type(make):
    assert str(ember.result_type(*make(ember))) == str(torch.result_type(*make(torch)))


@pytest.mark.parametrize(
    "a,b", [("float32", "int32"), ("int32", "float32"), ("int64", "int8"), ("float64", "float16"),
            ("bool", "int8"), ("int8", "bool"), ("uint8", "int8")]
)
def test_can_cast(a, b):
    assert ember.can_cast(_dt(ember, a), _dt(ember, b)) == torch.can_cast(_dt(torch, a), _dt(torch, b))


# --------------------------------------------------------------------------
# attributes and conversions
# --------------------------------------------------------------------------
def test_shape_is_size():
    e, t = both(np.zeros((6, 1, 3, 3), dtype=np.float32))
    assert isinstance(e.shape, ember.Size) and isinstance(e.shape, tuple)
    assert repr(e.shape) == repr(t.shape) == "torch.Size([6, 1, 3, 3])"
    assert str(e.shape) == str(t.shape)
    assert e.shape == (6, 1, 3, 3) and e.size() == e.shape
    assert isinstance(e.size(), ember.Size)
    assert e.size(0) == 6 and e.size(-1) == 3 and e.size(1) == t.size(1)
    assert isinstance(e.size()[1:], ember.Size)
    assert repr(e.size()[1:]) == repr(t.size()[1:])
    assert e.shape.numel() == t.shape.numel() == 54
    assert ember.zeros(ember.Size([2, 3])).shape == (2, 3)


def test_num_flat_features_from_seed():
    def num_flat_features(x):
        size = x.size()[1:]  # all dimensions except the batch dimension
        num_features = 1
        for s in size:
            num_features *= s
        return num_features

    e, t = both(np.zeros((4, 16, 5, 5), dtype=np.float32))
    assert num_flat_features(e) == num_flat_features(t) == 400
    assert type(num_flat_features(e)) is int
    assert_same(e.view(-1, num_flat_features(e)), t.view(-1, num_flat_features(t)))
    assert_same(e.view(4, -1), t.view(4, -1))
    assert_same(e.view(-1, 25), t.view(-1, 25))


def test_basic_attributes():
    e, t = both(np.zeros((2, 3, 4), dtype=np.float32))
    assert e.dim() == e.ndim == t.dim() == 3
    assert e.numel() == e.nelement() == t.numel() == 24
    assert type(e.numel()) is int
    assert str(e.dtype) == "torch.float32"
    assert str(e.device) == str(t.device) == "cpu"
    assert e.device.type == "cpu"
    assert not e.requires_grad and e.is_leaf
    assert_same(e[0].T, t[0].T)  # .T of a 2-D tensor


def test_item_types():
    for data, typ in [(3, int), (2.5, float), (True, bool), ([[7]], int), ([1.5], float)]:
        e, t = both(data)
        assert type(e.item()) is typ and e.item() == t.item()


def test_tolist():
    for data in ([[1, 2], [3, 4]], [1.5, -2.0], [True, False], 3, [[[]]]):
        e, t = both(data)
        assert e.tolist() == t.tolist()
        assert type(e.tolist()) is type(t.tolist())


def test_numpy_shares_memory():
    e = ember.zeros(3)
    a = e.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 4.0
    assert e[0].item() == 4.0
    e.add_(1)
    assert a.tolist() == [5.0, 1.0, 1.0]


def test_numpy_refuses_tensor_requiring_grad():
    e = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Use tensor\.detach\(\)\.numpy\(\) instead"):
        e.numpy()
    assert e.detach().numpy().tolist() == [1.0, 1.0]


def test_array_protocol():
    e, t = both([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(e)
    assert a.dtype == np.float32 and a.tolist() == np.asarray(t).tolist()
    assert np.asarray(ember.tensor([1, 2])).dtype == np.int64


@pytest.mark.parametrize(
    "conv",
    [
        lambda x, L: x.float(),
        lambda x, L: x.double(),
        lambda x, L: x.long(),
        lambda x, L: x.int(),
        lambda x, L: x.bool(),
        lambda x, L: x.half(),
        lambda x, L: x.to(L.float64),
        lambda x, L: x.to(L.int32),
        lambda x, L: x.to(dtype=L.int16),
        lambda x, L: x.to("cpu"),
        lambda x, L: x.to("cpu", L.float64),
        lambda x, L: x.type(L.float64),
        lambda x, L: x.type(L.uint8),
    ],
)
def test_conversions(conv):
    data = np.array([[1.7, -1.7, 0.0], [2.5, 0.4, 3.0]], dtype=np.float32)
    e, t = both(data)
    assert_same(conv(e, ember), conv(t, torch))


def test_conversion_to_same_dtype_returns_self():
    e = ember.ones(2)
    assert e.to("cpu") is e
    assert e.to(ember.float32) is e
    assert e.float() is e
    assert e.double() is not e


def test_clone_detach_contiguous():
    e, t = both(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    c = e.clone()
    assert_same(c, t.clone())
    assert not c.is_leaf  # clone stays in the graph
    with ember.no_grad():
        c[0, 0] = 100.0
    assert e[0, 0].item() == 0.0  # clone does not share memory

    d = e.detach()
    assert not d.requires_grad and d.is_leaf

    et, tt = e.detach().t(), t.detach().t()
    assert et.is_contiguous() == tt.is_contiguous() is False
    assert et.stride() == tt.stride()
    assert e.stride() == t.stride() and e.stride(1) == t.stride(1)
    ec, tc = et.contiguous(), tt.contiguous()
    assert ec.is_contiguous() and ec.stride() == tc.stride()
    assert_same(ec, tc)
    f = ember.ones(3)
    assert f.contiguous() is f  # already contiguous: same tensor


def test_stride_after_views():
    for fn in (lambda x: x, lambda x: x[1], lambda x: x[:, ::2], lambda x: x.permute(2, 0, 1),
               lambda x: x.transpose(0, 1), lambda x: x.unsqueeze(1), lambda x: x[:, 1:, :]):
        e, t = both(np.zeros((2, 3, 4), dtype=np.float32))
        assert fn(e).stride() == fn(t).stride()
        assert fn(e).is_contiguous() == fn(t).is_contiguous()


def test_detach_in_place():
    x = ember.ones(2, requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None


def test_len_and_iteration():
    e, t = both(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert len(e) == len(t) == 3
    rows_e, rows_t = list(e), list(t)
    assert len(rows_e) == 3
    for re_, rt in zip(rows_e, rows_t):
        assert_same(re_, rt)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(ember.tensor(1.0))


def test_bool_int_float_of_tensors():
    assert bool(ember.tensor([1.0])) is True
    assert bool(ember.tensor(0)) is False
    assert bool(ember.tensor([[True]])) is True
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(ember.tensor([1.0, 2.0]))
    for data in ([2.7], -2.7, [[3]]):
        e, t = both(data)
        assert float(e) == float(t) and type(float(e)) is float
        assert int(e) == int(t) and type(int(e)) is int


def test_view_and_reshape():
    e, t = both(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    for fn in (lambda x: x.view(2, -1), lambda x: x.view(-1, 4), lambda x: x.view(24),
               lambda x: x.view((6, 4)), lambda x: x.reshape(4, 6), lambda x: x.view(2, 3, 2, 2)):
        assert_same(fn(e), fn(t))
    v = e.view(-1)
    v[0] = 42.0  # a view shares memory with its base
    assert e[0, 0, 0].item() == 42.0


# --------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------
def assert_prints_same(e, t):
    assert repr(e) == repr(t)
    assert str(e) == str(t)


def test_print_zeros():
    e, t = both(np.zeros(6, dtype=np.float32))
    assert_prints_same(e, t)
    assert repr(ember.zeros(6)) == "tensor([0., 0., 0., 0., 0., 0.])"


def test_print_requires_grad_row():
    data = np.random.default_rng(0).standard_normal((1, 10)).astype(np.float32)
    assert_prints_same(*both(data, requires_grad=True))


def test_print_grad_fn_mul():
    e, t = both(np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    assert_prints_same(e * 2, t * 2)
    assert "grad_fn=<MulBackward0>" in repr(e * 2)


def test_print_grad_fn_addmm():
    rng = np.random.default_rng(2)
    W, b, x = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (3,), (2, 4)))
    (We, Wt), (be, bt), (xe, xt) = both(W, requires_grad=True), both(b, requires_grad=True), both(x)
    ye, yt = ember.addmm(be, xe, We.t()), torch.addmm(bt, xt, Wt.t())
    assert_prints_same(ye, yt)
    assert repr(ye).endswith("grad_fn=<AddmmBackward0>)")


@pytest.mark.parametrize(
    "data",
    [
        np.array([1, 2, 3]),  # int64: no dtype suffix
        np.array([1.5, 2.0]),  # float64: dtype suffix
        np.array([True, False]),
        np.array(3.5, dtype=np.float32),  # 0-d
        np.array(7),
        np.array([], dtype=np.float32),  # empty
        np.arange(12, dtype=np.float32).reshape(3, 4) / 4,
        np.array([1, 2], dtype=np.int32),
        np.array([1e-5, 1e5], dtype=np.float32),  # scientific notation
        np.array([-1.0, 2.0, 3.25], dtype=np.float32),
    ],
    ids=repr,
)
def test_print_matches_torch(data):
    assert_prints_same(*both(data))


def test_numpy_style_axis_and_keepdims_aliases():
    # seed code: torch.argmax(out, axis=1); PyTorch accepts NumPy's names for dim/keepdim
    arr = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    e, t = ember.tensor(arr), torch.tensor(arr)
    for fn in (lambda T, x: T.argmax(x, axis=1), lambda T, x: x.sum(axis=0),
               lambda T, x: x.mean(axis=0, keepdims=True), lambda T, x: T.cat([x, x], axis=1),
               lambda T, x: x.max(axis=1).values, lambda T, x: x.softmax(axis=1)):
        np.testing.assert_allclose(fn(ember, e).numpy(), fn(torch, t).numpy(), rtol=1e-6)
