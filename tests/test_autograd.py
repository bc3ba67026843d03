"""Behaviour tests for ember's autograd, written against PyTorch's API.

torch is the oracle: every comparison builds an ember tensor and a torch tensor
from the same NumPy data (see ``both``), runs the same code on each and checks
that values, dtypes, gradients, graph structure and errors agree.
"""
import math
import re

import numpy as np
import pytest
import torch

import ember
import ember.autograd

# True when the suite is validated with torch standing in for ember.
IS_TORCH = ember.__name__ == "torch"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def arr(*shape, seed=0, positive=False, dtype=np.float32):
    """Deterministic NumPy data; positive=True keeps it in [0.5, 1.5) for log/div."""
    rng = np.random.default_rng(seed)
    a = rng.random(shape) + 0.5 if positive else rng.standard_normal(shape)
    return np.asarray(a, dtype=dtype)


def both(data, dtype=None, requires_grad=False):
    """The same data as an (ember tensor, torch tensor) pair; dtype is a name like 'float64'."""
    ekw, tkw = {"requires_grad": requires_grad}, {"requires_grad": requires_grad}
    if dtype is not None:
        ekw["dtype"], tkw["dtype"] = getattr(ember, dtype), getattr(torch, dtype)
    return ember.tensor(data, **ekw), torch.tensor(data, **tkw)


def to_np(t):
    return np.asarray(t.detach().numpy())


def assert_same(e, t, rtol=1e-5, atol=1e-6):
    """ember tensor e matches torch tensor t in shape, dtype and values."""
    assert e is not None and t is not None, (e, t)
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype)
    np.testing.assert_allclose(to_np(e), to_np(t), rtol=rtol, atol=atol)


def compare_grads(fn, *arrays, gradient=None, dtypes=None):
    """Run fn(lib, *leaves) on ember and on torch, backprop, compare every leaf's grad."""
    dtypes = dtypes or [None] * len(arrays)
    pairs = [both(a, dtype=d, requires_grad=True) for a, d in zip(arrays, dtypes)]
    out_e = fn(ember, *[p[0] for p in pairs])
    out_t = fn(torch, *[p[1] for p in pairs])
    assert_same(out_e, out_t)
    if gradient is None:
        out_e.backward()
        out_t.backward()
    else:
        ge, gt = both(gradient)
        out_e.backward(ge)
        out_t.backward(gt)
    for e, t in pairs:
        assert_same(e.grad, t.grad)
    return pairs


def torch_error(fn):
    """Run fn(torch) and return the (type, message) torch raises."""
    with pytest.raises(Exception) as info:
        fn(torch)
    return info.type, str(info.value)


def signature(node):
    """A grad_fn graph as nested (name, ((child, input_nr), ...)); None for absent inputs."""
    if node is None:
        return None
    return (node.name(), tuple((signature(f), i) for f, i in node.next_functions))


# --------------------------------------------------------------------------
# the seed lab examples
# --------------------------------------------------------------------------
def test_seed_square():
    x = ember.rand(1, requires_grad=True)
    y = x**2
    y.backward()
    assert bool(x.grad == 2 * x)


def test_seed_grad_of_fresh_tensor_is_none():
    assert ember.rand(3, 3).grad is None


def test_seed_sum_gives_ones():
    x = ember.rand([5], requires_grad=True)
    x.sum().backward()
    assert x.grad.tolist() == [1.0] * 5


def test_seed_composition_log_square():
    x = ember.rand(1, requires_grad=True)
    z = x.log()
    y = z**2
    y.backward()
    expected = 2 * math.log(x.item()) / x.item()
    assert x.grad.item() == pytest.approx(expected, rel=1e-5)


def test_seed_retain_grad_on_intermediate():
    x = ember.rand(1, requires_grad=True)
    z = x.log()
    z.retain_grad()
    y = z**2
    y.backward()
    assert bool(z.grad == 2 * z)


def test_seed_non_leaf_grad_is_none_and_warns():
    # PyTorch warns because .grad of a non-leaf is almost always a mistake.
    x = ember.rand(1, requires_grad=True)
    z = x.log()
    (z**2).backward()
    with pytest.warns(UserWarning, match="not a leaf"):
        assert z.grad is None


def test_seed_gradient_accumulation_and_reset():
    def step(lib, x1, x2):
        c = x1.cos() * x2.log()  # a fresh graph on every call
        c.backward()

    (e1, t1), (e2, t2) = both([3.0], requires_grad=True), both([2.0], requires_grad=True)
    for _ in range(2):
        step(ember, e1, e2)
        step(torch, t1, t2)
        assert_same(e1.grad, t1.grad)
        assert_same(e2.grad, t2.grad)
    # two calls doubled the gradient
    assert e1.grad.item() == pytest.approx(-2 * math.sin(3.0) * math.log(2.0), rel=1e-5)
    assert e2.grad.item() == pytest.approx(2 * math.cos(3.0) / 2.0, rel=1e-5)
    # resetting with None starts over
    e1.grad = None
    e2.grad = None
    assert e1.grad is None
    step(ember, e1, e2)
    assert e1.grad.item() == pytest.approx(-math.sin(3.0) * math.log(2.0), rel=1e-5)


# --------------------------------------------------------------------------
# backward() and .grad
# --------------------------------------------------------------------------
def test_backward_with_gradient_for_non_scalar_output():
    compare_grads(lambda L, x: x * x * 3, arr(2, 3), gradient=arr(2, 3, seed=1))


def test_backward_retain_graph_twice_accumulates():
    (e, t) = both(arr(4), requires_grad=True)
    ye, yt = (e * e).exp().sum(), (t * t).exp().sum()
    for _ in range(2):
        ye.backward(retain_graph=True)
        yt.backward(retain_graph=True)
    assert_same(e.grad, t.grad)


def test_grad_accumulates_across_calls_on_different_graphs():
    (e, t) = both(arr(3), requires_grad=True)
    for k in (1.0, 2.0, 3.0):
        (e * k).sum().backward()
        (t * k).sum().backward()
    assert_same(e.grad, t.grad)
    assert e.grad.tolist() == [6.0, 6.0, 6.0]


def test_grad_is_settable_and_backward_adds_into_it():
    # the seed does `net.conv1.bias.grad = torch.zeros(6)` before backward
    data, w = arr(6), arr(6, seed=1)
    (pe, pt) = both(data, requires_grad=True)
    pe.grad = ember.zeros(6)
    pt.grad = torch.zeros(6)
    (pe * ember.tensor(w)).sum().backward()
    (pt * torch.tensor(w)).sum().backward()
    assert_same(pe.grad, pt.grad)
    # a non-zero starting grad is added to, not overwritten
    pe.grad = ember.ones(6)
    pe.sum().backward()
    assert pe.grad.tolist() == [2.0] * 6


def test_setting_grad_of_wrong_shape_raises():
    e, _ = both(arr(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient of size"):
        e.grad = ember.zeros(4)


def test_retain_grad_on_non_leaf_accumulates_over_two_backwards():
    x = arr(3)
    (e, t) = both(x, requires_grad=True)
    ye, yt = e * 2, t * 2
    ye.retain_grad()
    yt.retain_grad()
    ze, zt = (ye * ye).sum(), (yt * yt).sum()
    ze.backward(retain_graph=True)
    zt.backward(retain_graph=True)
    assert_same(ye.grad, yt.grad)
    ze.backward()
    zt.backward()
    assert_same(ye.grad, yt.grad)  # doubled, like torch
    assert_same(e.grad, t.grad)
    np.testing.assert_allclose(to_np(ye.grad), 2 * (2 * (2 * x)), rtol=1e-6)


# --------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------
def test_hook_on_leaf_sees_gradient():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.clone()))
    (x * 3).sum().backward()
    assert len(seen) == 1
    assert seen[0].tolist() == [3.0, 3.0, 3.0]
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


def test_hook_on_leaf_returning_tensor_replaces_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    x.sum().backward()
    assert x.grad.tolist() == [10.0, 10.0]


def test_hook_on_non_leaf_sees_and_replaces_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []

    def hook(g):
        seen.append(g.tolist())
        return g * 2  # what flows on to x is replaced

    y.register_hook(hook)
    (y * y).sum().backward()
    assert seen == [[6.0, 12.0]]  # d(sum y^2)/dy = 2y
    assert x.grad.tolist() == [36.0, 72.0]  # 2 * 2y * 3


def test_hook_handle_remove():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    x.sum().backward()
    handle.remove()
    x.sum().backward()
    assert calls == [1]
    assert x.grad.tolist() == [2.0, 2.0]


# --------------------------------------------------------------------------
# ember.autograd.grad
# --------------------------------------------------------------------------
def test_autograd_grad_returns_tuple_and_leaves_dot_grad_alone():
    x, y = arr(3), arr(3, seed=1)
    (ex, tx), (ey, ty) = both(x, requires_grad=True), both(y, requires_grad=True)
    ge = ember.autograd.grad((ex * ey).sum(), [ex, ey])
    gt = torch.autograd.grad((tx * ty).sum(), [tx, ty])
    assert isinstance(ge, tuple) and len(ge) == 2
    for a, b in zip(ge, gt):
        assert_same(a, b)
    assert ex.grad is None and ey.grad is None
    assert not ge[0].requires_grad  # create_graph=False by default


def test_autograd_grad_single_tensor_input_and_grad_outputs():
    x, g = arr(2, 3), arr(2, 3, seed=1)
    (ex, tx), (eg, tg) = both(x, requires_grad=True), both(g)
    (ge,) = ember.autograd.grad(ex.exp(), ex, grad_outputs=eg)
    (gt,) = torch.autograd.grad(tx.exp(), tx, grad_outputs=tg)
    assert_same(ge, gt)


def test_autograd_grad_with_respect_to_non_leaf():
    (ex, tx) = both(arr(3), requires_grad=True)
    he, ht = ex * 2, tx * 2
    ge = ember.autograd.grad((he.sin()).sum(), he)
    gt = torch.autograd.grad((ht.sin()).sum(), ht)
    assert_same(ge[0], gt[0])
    assert ex.grad is None


def test_autograd_grad_allow_unused():
    (ex, _), (eu, _) = both(arr(3), requires_grad=True), both(arr(3), requires_grad=True)
    gx, gu = ember.autograd.grad((ex * ex).sum(), [ex, eu], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(to_np(gx), 2 * to_np(ex), rtol=1e-6)

    def unused(L):
        a = L.ones(3, requires_grad=True)
        b = L.ones(3, requires_grad=True)
        L.autograd.grad((a * a).sum(), [a, b])

    exc, msg = torch_error(unused)
    assert exc is RuntimeError
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        unused(ember)


def test_autograd_grad_frees_graph_by_default():
    e, _ = both(arr(3), requires_grad=True)
    y = (e * e).sum()
    ember.autograd.grad(y, e)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        ember.autograd.grad(y, e)
    # retain_graph=True keeps it
    y = (e * e).sum()
    g1 = ember.autograd.grad(y, e, retain_graph=True)
    g2 = ember.autograd.grad(y, e)
    assert to_np(g1[0]).tolist() == to_np(g2[0]).tolist()


# --------------------------------------------------------------------------
# graph shapes: reuse, diamonds, broadcasting, dtypes
# --------------------------------------------------------------------------
def test_tensor_used_twice():
    compare_grads(lambda L, x: (x * x + x).sum(), arr(4))


def test_diamond_graph():
    def f(L, x):
        a = x * 2
        return (a.exp() * a.sin() + a).sum()

    compare_grads(f, arr(5))


def test_deeper_diamond_with_several_leaves():
    def f(L, x, w, b):
        h = (x @ w + b).tanh()
        return (h * h.sigmoid() - h.mean()).sum()

    compare_grads(f, arr(2, 3), arr(3, 4, seed=1), arr(4, seed=2))


@pytest.mark.parametrize(
    "shapes",
    [((3, 1), (1, 4)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((5,), ()), ((2, 3), (1, 1))],
)
def test_broadcasting_gradients_reduced_to_input_shape(shapes):
    a, b = arr(*shapes[0]), arr(*shapes[1], seed=1)
    pairs = compare_grads(lambda L, x, y: (x * y + y).sum(), a, b)
    for (e, _), shape in zip(pairs, shapes):
        assert tuple(e.grad.shape) == shape


def test_grad_dtype_equals_leaf_dtype_under_promotion():
    pairs = compare_grads(
        lambda L, x, y: (x * y).sum(), arr(3), arr(3, seed=1), dtypes=["float32", "float64"]
    )
    assert str(pairs[0][0].grad.dtype) == "torch.float32"
    assert str(pairs[1][0].grad.dtype) == "torch.float64"


# --------------------------------------------------------------------------
# requires_grad, is_leaf, detach, .data
# --------------------------------------------------------------------------
def test_requires_grad_():
    x = ember.zeros(3)
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad and x.is_leaf
    x.requires_grad_(False)
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad


def test_integer_tensor_cannot_require_grad():
    # torch: "only Tensors of floating point dtype can require gradients"
    with pytest.raises(RuntimeError, match="(?i)floating point"):
        ember.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="(?i)floating point"):
        ember.tensor([1, 2], requires_grad=True)
    t = ember.tensor([1, 2])
    with pytest.raises(RuntimeError, match="(?i)floating point"):
        t.requires_grad = True


def test_is_leaf():
    x = ember.rand(3, requires_grad=True)
    c = ember.rand(3)
    assert x.is_leaf and c.is_leaf
    y = x * 2
    assert not y.is_leaf and y.requires_grad
    # results of ops on tensors that do not require grad are leaves too
    assert (c * 2).is_leaf
    assert y.detach().is_leaf and not y.detach().requires_grad
    with ember.no_grad():
        z = x * 2
    assert z.is_leaf and not z.requires_grad and z.grad_fn is None


def test_detach_shares_memory():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.detach()
    d[0] = 10.0
    assert x.tolist()[0] == 10.0
    assert d.grad_fn is None and not d.requires_grad


def test_data_shares_memory_and_has_no_history():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.data
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    d.mul_(0)
    assert y.tolist() == [0.0, 0.0]
    x.data.add_(1)  # no error although x is a leaf requiring grad
    assert x.tolist() == [2.0, 3.0]
    assert x.requires_grad and x.is_leaf


# --------------------------------------------------------------------------
# grad_fn names and next_functions
# --------------------------------------------------------------------------
def test_linear_chain_graph_structure_matches_torch():
    # y = x @ W.t() + b with W (3x4) and b leaves, x (2x4) plain data
    W, b, x = arr(3, 4), arr(3, seed=1), arr(2, 4, seed=2)
    (We, Wt), (be, bt), (xe, xt) = both(W, requires_grad=True), both(b, requires_grad=True), both(x)
    loss_e = (xe @ We.t() + be).relu().sum()
    loss_t = (xt @ Wt.t() + bt).relu().sum()
    assert signature(loss_e.grad_fn) == signature(loss_t.grad_fn)

    # walk it like the seed: loss.grad_fn.next_functions[0][0] ...
    relu = loss_e.grad_fn.next_functions[0][0]
    assert relu.name() == "ReluBackward0"
    add = relu.next_functions[0][0]
    assert add.name() == "AddBackward0"
    mm, acc_b = add.next_functions[0][0], add.next_functions[1][0]
    assert mm.name() == "MmBackward0"
    assert acc_b.variable is be  # AccumulateGrad points at its leaf
    assert mm.next_functions[0] == (None, 0)  # x does not require grad
    assert mm.next_functions[1][0].name() == "TBackward0"
    assert mm.next_functions[1][0].next_functions[0][0].variable is We


def test_addmm_graph_structure_matches_torch():
    W, b, x = arr(3, 4), arr(3, seed=1), arr(2, 4, seed=2)
    (We, Wt), (be, bt), (xe, xt) = both(W, requires_grad=True), both(b, requires_grad=True), both(x)
    ye, yt = ember.addmm(be, xe, We.t()), torch.addmm(bt, xt, Wt.t())
    assert ye.grad_fn.name() == "AddmmBackward0"
    assert signature(ye.grad_fn) == signature(yt.grad_fn)
    assert len(ye.grad_fn.next_functions) == 3
    assert_same(ye, yt)
    ye.sum().backward()
    yt.sum().backward()
    assert_same(We.grad, Wt.grad)
    assert_same(be.grad, bt.grad)


def test_leaf_and_no_grad_tensors_have_no_grad_fn():
    x = ember.rand(2, requires_grad=True)
    assert x.grad_fn is None
    assert ember.rand(2).grad_fn is None


# Each op: (lib, a (3,) positive leaf, m (2,3) leaf, b (2,) leaf) -> result.
NODE_CASES = {
    "add": lambda L, a, m, b: a + a,
    "add_scalar": lambda L, a, m, b: a + 1,
    "sub": lambda L, a, m, b: a - a,
    "mul": lambda L, a, m, b: a * a,
    "mul_scalar": lambda L, a, m, b: a * 2,
    "div": lambda L, a, m, b: a / a,
    "div_scalar": lambda L, a, m, b: a / 2,
    "rsub": lambda L, a, m, b: 1 - a,
    "neg": lambda L, a, m, b: -a,
    "pow": lambda L, a, m, b: a**2,
    "matmul_2d": lambda L, a, m, b: m @ m.t(),
    "mm": lambda L, a, m, b: L.mm(m, m.t()),
    "addmm": lambda L, a, m, b: L.addmm(b, m, m.t()),
    "sum": lambda L, a, m, b: m.sum(),
    "mean": lambda L, a, m, b: m.mean(),
    "view": lambda L, a, m, b: m.view(6),
    "t": lambda L, a, m, b: m.t(),
    "getitem_int": lambda L, a, m, b: m[0],
    "slice": lambda L, a, m, b: a[1:],
    "index_tensor": lambda L, a, m, b: a[L.tensor([0, 2])],
    "relu": lambda L, a, m, b: m.relu(),
    "sigmoid": lambda L, a, m, b: m.sigmoid(),
    "tanh": lambda L, a, m, b: m.tanh(),
    "exp": lambda L, a, m, b: a.exp(),
    "log": lambda L, a, m, b: a.log(),
    "clone": lambda L, a, m, b: a.clone(),
    "cat": lambda L, a, m, b: L.cat([a, a]),
    "stack": lambda L, a, m, b: L.stack([a, a]),
    "unsqueeze": lambda L, a, m, b: a.unsqueeze(0),
    "squeeze": lambda L, a, m, b: m[:1].squeeze(),
    "squeeze_dim": lambda L, a, m, b: m[:1].squeeze(0),
    "permute": lambda L, a, m, b: m.permute(1, 0),
    "transpose": lambda L, a, m, b: m.transpose(0, 1),
    "expand": lambda L, a, m, b: a.expand(2, 3),
}


@pytest.mark.parametrize("name", sorted(NODE_CASES))
def test_grad_fn_name_matches_torch(name):
    fn = NODE_CASES[name]
    data = arr(3, positive=True), arr(2, 3, seed=1), arr(2, seed=2)
    ee = [both(d, requires_grad=True)[0] for d in data]
    tt = [both(d, requires_grad=True)[1] for d in data]
    re_, rt = fn(ember, *ee), fn(torch, *tt)
    assert re_.grad_fn.name() == rt.grad_fn.name()
    assert_same(re_, rt)
    # and the gradients through that node agree
    re_.sum().backward()
    rt.sum().backward()
    for e, t in zip(ee, tt):
        if t.grad is None:
            assert e.grad is None
        else:
            assert_same(e.grad, t.grad)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
SECOND_TIME = "backward through the graph a second time"


def test_second_backward_through_freed_graph_raises():
    x = ember.rand(3, requires_grad=True)
    y = (x * x).sum()  # mul saves its inputs
    y.backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.backward()


def test_second_backward_allowed_when_nothing_was_saved():
    # torch allows this: add and sum save no tensors, so nothing was freed
    def twice(L):
        x = L.ones(3, requires_grad=True)
        y = (x + 1).sum()
        y.backward()
        y.backward()
        return x.grad

    assert_same(twice(ember), twice(torch))


def test_implicit_gradient_needs_scalar_output():
    x = ember.rand(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad():
    with pytest.raises(
        RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"
    ):
        ember.rand(3).sum().backward()


def test_in_place_on_leaf_requiring_grad():
    x = ember.rand(3, requires_grad=True)
    msg = re.escape("a leaf Variable that requires grad is being used in an in-place operation.")
    with pytest.raises(RuntimeError, match=msg):
        x.add_(1)
    with pytest.raises(RuntimeError, match=msg):
        x += 1
    with pytest.raises(RuntimeError, match=msg):
        x[0] = 1.0


def test_in_place_on_view_of_leaf_requiring_grad():
    x = ember.rand(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[1:].mul_(2)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x.view(2, 2).zero_()


def test_in_place_modification_of_saved_tensor():
    def run(L):
        x = L.ones(3, requires_grad=True)
        a = x * 1
        b = a * a  # saves a
        a.add_(1)
        b.sum().backward()

    exc, _ = torch_error(run)
    with pytest.raises(exc, match="modified by an inplace operation"):
        run(ember)


def test_in_place_modification_of_saved_output():
    x = ember.rand(3, requires_grad=True)
    y = x.exp()  # exp saves its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_numpy_on_tensor_requiring_grad():
    with pytest.raises(RuntimeError, match=re.escape("detach().numpy()")):
        ember.rand(3, requires_grad=True).numpy()


def test_view_with_incompatible_strides():
    with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's size and stride"):
        ember.rand(3, 4).t().view(12)


def test_matmul_shape_mismatch():
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        ember.rand(3, 4) @ ember.rand(3, 4)


def test_cat_shape_mismatch():
    exc, _ = torch_error(lambda L: L.cat([L.rand(3, 4), L.rand(3, 5)]))
    with pytest.raises(exc, match="Sizes of tensors must match"):
        ember.cat([ember.rand(3, 4), ember.rand(3, 5)])


def test_item_on_multi_element_tensor():
    exc, msg = torch_error(lambda L: L.rand(3).item())
    with pytest.raises(exc, match="3 elements cannot be converted to Scalar"):
        ember.rand(3).item()


@pytest.mark.skipif(IS_TORCH, reason="ember is CPU-only; torch may well have cuda")
def test_cuda_device_raises_clear_error():
    # ember is CPU-only; asking for cuda must fail loudly, mentioning cuda
    with pytest.raises((RuntimeError, AssertionError), match="(?i)cuda"):
        ember.zeros(3, device="cuda")
    with pytest.raises((RuntimeError, AssertionError), match="(?i)cuda"):
        ember.zeros(3).to("cuda")


# --------------------------------------------------------------------------
# iterative engine and freeing saved tensors
# --------------------------------------------------------------------------
def test_long_mul_chain_no_recursion_error():
    def chain(L, x):
        y = x
        for _ in range(10_000):
            y = y * 1.0001
        return y.sum()

    compare_grads(chain, np.array([1.0, 2.0]), dtypes=["float64"])


def test_long_add_chain_no_recursion_error():
    x = ember.zeros(2, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    assert y.tolist() == [10_000.0, 10_000.0]


def test_saved_tensors_freed_after_backward_unless_retained():
    x = ember.rand(3, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()  # still there
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.backward()  # freed by the previous call


def test_autograd_grad_also_frees_saved_tensors():
    x = ember.rand(3, requires_grad=True)
    y = (x.sigmoid() * x).sum()
    ember.autograd.grad(y, x, retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        ember.autograd.grad(y, x)


# --------------------------------------------------------------------------
# grad mode
# --------------------------------------------------------------------------
@pytest.fixture
def restore_grad_mode():
    yield
    ember.set_grad_enabled(True)


def test_no_grad_context_records_nothing():
    x = ember.rand(3, requires_grad=True)
    assert ember.is_grad_enabled()
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        y = x * 2 + 1
    assert ember.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_grad_mode_decorators():
    x = ember.rand(3, requires_grad=True)

    @ember.no_grad()
    def f(t):
        return t * 2

    @ember.enable_grad()
    def g(t):
        return t * 2

    @ember.set_grad_enabled(False)
    def h(t):
        return t * 2

    assert not f(x).requires_grad
    assert not h(x).requires_grad
    with ember.no_grad():
        assert g(x).requires_grad  # enable_grad wins inside no_grad
    assert ember.is_grad_enabled()


def test_set_grad_enabled_as_context_and_function(restore_grad_mode):
    x = ember.rand(3, requires_grad=True)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()
    with ember.set_grad_enabled(True):
        assert (x * 2).requires_grad
    ember.set_grad_enabled(False)  # plain call switches it until switched back
    try:
        assert not ember.is_grad_enabled()
        assert not (x * 2).requires_grad
    finally:
        ember.set_grad_enabled(True)
    assert ember.is_grad_enabled()
    assert (x * 2).requires_grad


def test_nested_grad_modes():
    x = ember.rand(3, requires_grad=True)
    with ember.no_grad():
        with ember.enable_grad():
            assert ember.is_grad_enabled()
            assert (x * 2).requires_grad
            with ember.no_grad():
                assert not (x * 2).requires_grad
            assert ember.is_grad_enabled()
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with ember.no_grad():
            raise ValueError
    assert ember.is_grad_enabled()


def test_inference_mode():
    x = ember.rand(3, requires_grad=True)
    with ember.inference_mode():
        assert not ember.is_grad_enabled()
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert ember.is_grad_enabled()

    @ember.inference_mode()
    def f(t):
        return t.exp()

    assert not f(x).requires_grad


# --------------------------------------------------------------------------
# in-place ops and version counters
# --------------------------------------------------------------------------
IN_PLACE = {
    "add_": lambda t, L: t.add_(1.5),
    "add_tensor": lambda t, L: t.add_(L.ones(t.shape)),
    "sub_": lambda t, L: t.sub_(0.5),
    "mul_": lambda t, L: t.mul_(3),
    "div_": lambda t, L: t.div_(4),
    "pow_": lambda t, L: t.pow_(2),
    "zero_": lambda t, L: t.zero_(),
    "fill_": lambda t, L: t.fill_(7.0),
    "copy_": lambda t, L: t.copy_(L.full(t.shape, 2.0)),
    "clamp_": lambda t, L: t.clamp_(-0.5, 0.5),
    "clamp_min": lambda t, L: t.clamp_(min=0.0),
    "relu_": lambda t, L: t.relu_(),
}


@pytest.mark.parametrize("op", sorted(IN_PLACE))
def test_in_place_on_plain_tensor(op):
    e, t = both(arr(2, 3))
    ve, vt = e._version, t._version
    re_, rt = IN_PLACE[op](e, ember), IN_PLACE[op](t, torch)
    assert re_ is e  # in-place ops return self
    assert_same(e, t)
    assert e._version - ve == t._version - vt


def test_in_place_operators_keep_identity():
    # += and friends modify the tensor itself (no new object, one version bump each)
    e2, t2 = both(arr(4))
    alias = e2
    e2 += 1
    e2 -= 0.5
    e2 *= 2
    e2 /= 4
    t2 += 1
    t2 -= 0.5
    t2 *= 2
    t2 /= 4
    assert e2 is alias
    assert_same(e2, t2)
    assert e2._version == t2._version == 4


def test_random_in_place_fills():
    t = ember.zeros(1000)
    assert t.uniform_() is t
    a = to_np(t)
    assert (a >= 0).all() and (a < 1).all() and a.std() > 0.1
    t.uniform_(2, 3)
    a = to_np(t)
    assert (a >= 2).all() and (a < 3).all()
    assert t.normal_() is t
    a = to_np(t)
    assert abs(a.mean()) < 0.2 and 0.8 < a.std() < 1.2
    t.normal_(5, 0.1)
    assert abs(to_np(t).mean() - 5) < 0.05
    assert t._version == 4


@pytest.mark.parametrize("op", sorted(IN_PLACE))
def test_in_place_on_parameter_under_no_grad(op):
    e, t = both(arr(2, 3), requires_grad=True)
    with ember.no_grad():
        IN_PLACE[op](e, ember)
    with torch.no_grad():
        IN_PLACE[op](t, torch)
    assert_same(e, t)
    assert e.requires_grad and e.is_leaf and e.grad_fn is None


def test_random_in_place_fills_on_parameter_under_no_grad():
    p = ember.zeros(50, requires_grad=True)
    with ember.no_grad():
        p.uniform_(-1, 1)
        assert p.abs().max().item() <= 1.0
        p.normal_(0, 0.01)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p._version == 2


def test_in_place_operators_on_parameter_under_no_grad():
    e, t = both(arr(3), requires_grad=True)
    (e * e).sum().backward()
    (t * t).sum().backward()
    with ember.no_grad():
        e -= 0.1 * e.grad
        e *= 2
    with torch.no_grad():
        t -= 0.1 * t.grad
        t *= 2
    assert_same(e, t)
    assert e.is_leaf and e.requires_grad


@pytest.mark.parametrize("op", sorted(set(IN_PLACE) - {"copy_"}))
def test_in_place_on_non_leaf_in_graph(op):
    w = arr(2, 3, seed=5)

    def f(L, x):
        y = x * 2
        IN_PLACE[op](y, L)
        return (y * L.tensor(w)).sum()

    compare_grads(f, arr(2, 3))


def test_in_place_operators_on_non_leaf_in_graph():
    def f(L, x):
        y = x * 2
        y += 1
        y *= x
        y /= 3
        y -= x
        return y.sum()

    compare_grads(f, arr(2, 3))


def test_copy_into_non_leaf_sends_gradient_to_source():
    def f(L, x, s):
        y = x * 2
        y.copy_(s * 3)
        return (y * y).sum()

    compare_grads(f, arr(3), arr(3, seed=1))


def test_setitem_on_clone_then_backward():
    def f(L, x):
        y = x.clone()
        y[0] = 5
        return (y * y).sum()

    (e, t) = compare_grads(f, arr(3))[0]
    assert e.grad.tolist()[0] == 0.0


def test_in_place_on_view_of_non_leaf():
    def f(L, x):
        y = x.clone()
        y[1:].mul_(3)
        return (y * y).sum()

    compare_grads(f, arr(4))


def test_setitem_with_value_requiring_grad():
    def f(L, x, v):
        y = x * 1
        y[1] = v * 2
        y[2:] = v.exp()
        return (y * y).sum()

    compare_grads(f, arr(4), arr(1, seed=1))

    # into a plain tensor: the result now requires grad
    v = ember.tensor([1.5], requires_grad=True)
    y = ember.zeros(3)
    y[1] = v * 2
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert v.grad.tolist() == [2.0]


def test_manual_sgd_through_data():
    lr = 0.1
    e, t = both(arr(3), requires_grad=True)
    for _ in range(3):
        for f, L in ((e, ember), (t, torch)):
            loss = ((f - 1) ** 2).sum()
            loss.backward()
            f.data.sub_(f.grad.data * lr)
            f.grad = None
    assert_same(e, t)
    assert e.is_leaf and e.requires_grad


def test_version_counter_matches_torch():
    def run(L):
        x = L.zeros(4)
        out = [x._version]
        x.add_(1)
        out.append(x._version)
        x[0] = 3.0
        out.append(x._version)
        x[1:].mul_(2)  # writing through a view bumps the base
        out.append(x._version)
        x.view(2, 2).zero_()
        out.append(x._version)
        x += 1
        out.append(x._version)
        d = x.detach()  # detach shares the version counter
        d.add_(1)
        out.append(x._version)
        _ = x + 1  # out-of-place ops leave it alone
        out.append(x._version)
        return out

    assert run(ember) == run(torch)
