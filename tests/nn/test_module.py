"""Module, Parameter and the containers, compared with PyTorch.

Layer modules are defined here (Linear, ReLU, BN) from Parameters and tensor ops, so
these tests depend only on module.py, container.py and parameter.py; they print
like PyTorch's layers, so reprs and state_dicts can be compared with the same
structures built from torch.nn.
"""
import copy
import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
from ember.nn.modules.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from ember.nn.modules.module import Module
from ember.nn.parameter import Buffer, Parameter

tnn = torch.nn


# -- ember twins of a few torch layers, printing the same ------------------------------------------
class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(ember.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = Parameter(ember.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        out = x @ self.weight.t()
        return out if self.bias is None else out + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class BatchNorm1d(Module):
    """Only the state of BatchNorm1d (parameters and buffers), for state_dict tests."""

    def __init__(self, num_features):
        super().__init__()
        self.num_features = num_features
        self.eps, self.momentum = 1e-05, 0.1
        self.weight = Parameter(ember.ones(num_features))
        self.bias = Parameter(ember.zeros(num_features))
        self.register_buffer("running_mean", ember.zeros(num_features))
        self.register_buffer("running_var", ember.ones(num_features))
        self.register_buffer("num_batches_tracked", ember.tensor(0))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine=True, bias=True, "
                "track_running_stats=True")


def both(build):
    """build(nn) with nn = this module's layer namespace or torch.nn: the same model twice,
    ember's parameters copied from torch's."""
    t_model = build(_TorchNS)
    e_model = build(_EmberNS)
    e_model.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t_model.state_dict().items()})
    return e_model, t_model


class _EmberNS:
    Linear, ReLU, Tanh, BatchNorm1d = Linear, ReLU, Tanh, BatchNorm1d
    Module, Sequential, ModuleList, ModuleDict = Module, Sequential, ModuleList, ModuleDict
    ParameterList, ParameterDict, Parameter = ParameterList, ParameterDict, Parameter

    @staticmethod
    def tensor(a):
        return ember.tensor(a)


class _TorchNS:
    Linear, ReLU, Tanh, BatchNorm1d = tnn.Linear, tnn.ReLU, tnn.Tanh, tnn.BatchNorm1d
    Module, Sequential, ModuleList, ModuleDict = tnn.Module, tnn.Sequential, tnn.ModuleList, tnn.ModuleDict
    ParameterList, ParameterDict, Parameter = tnn.ParameterList, tnn.ParameterDict, tnn.Parameter

    @staticmethod
    def tensor(a):
        return torch.tensor(a)


def error_of(fn):
    """(exception type name, message) raised by fn(), with torch's module paths spelled as ember's."""
    with pytest.raises(Exception) as info:
        fn()
    e = info.value
    text = e.args[0] if isinstance(e, KeyError) else str(e)
    return type(e).__name__, str(text).replace("torch.nn.modules", "ember.nn.modules")


def same_error(ember_fn, torch_fn):
    assert error_of(ember_fn) == error_of(torch_fn)


def make_net(nn):
    """A nested model using every container, with buffers and an unset parameter."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh())
            self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)] + [nn.BatchNorm1d(8)])
            self.heads = nn.ModuleDict(OrderedDict([("cls", nn.Linear(8, 3)), ("reg", nn.Linear(8, 1, bias=False))]))
            self.scale = nn.Parameter(nn.tensor([1.5, -0.5]))
            self.register_buffer("step", nn.tensor(3))
            self.register_buffer("cache", nn.tensor([0.0, 0.0]), persistent=False)
            self.register_parameter("unused", None)
            self.extras = nn.ParameterList([nn.Parameter(nn.tensor([[1.0, 2.0]]))])

        def forward(self, x):
            h = self.features(x)
            for block in self.blocks[:3]:
                h = block(h).relu()
            return self.heads["cls"](h) * self.scale[0] + self.heads["reg"](h)

    return Net()


# -- Parameter -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda m, rg: m.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 7 - 0.3),
    lambda m, rg: m.tensor(np.random.default_rng(0).standard_normal((20, 30)).astype(np.float32)),
    lambda m, rg: m.tensor(np.random.default_rng(1).standard_normal((1000, 5)).astype(np.float32)),
    lambda m, rg: m.tensor(np.array([1.0, 2.0])),
    lambda m, rg: m.tensor(np.array(2.5, dtype=np.float32)),
    lambda m, rg: m.tensor(np.zeros((0, 3), dtype=np.float32)),
])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_parameter_repr_matches_torch(make, requires_grad):
    p = Parameter(make(ember, requires_grad), requires_grad=requires_grad)
    tp = tnn.Parameter(make(torch, requires_grad), requires_grad=requires_grad)
    assert repr(p) == repr(tp)
    assert str(p) == str(tp)


def test_parameter_repr_integer_and_empty():
    assert repr(Parameter(ember.tensor([1, 2]), requires_grad=False)) == repr(
        tnn.Parameter(torch.tensor([1, 2]), requires_grad=False))
    assert repr(Parameter()) == repr(tnn.Parameter())
    same_error(lambda: Parameter(ember.tensor([1, 2])), lambda: tnn.Parameter(torch.tensor([1, 2])))


def test_parameter_is_a_leaf_tensor_sharing_memory():
    t = ember.tensor([1.0, 2.0, 3.0])
    p = Parameter(t)
    assert isinstance(p, ember.Tensor) and isinstance(p, Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert not t.requires_grad
    t[0] = 100.0  # shares memory and version counter, like torch
    assert p[0].item() == 100.0 and p._version == t._version == 1
    x = ember.tensor([1.0, 2.0], requires_grad=True) * 2  # from a non-leaf: a detached leaf
    q = Parameter(x)
    assert q.is_leaf and q.requires_grad and q.grad_fn is None
    assert not Parameter(t, requires_grad=False).requires_grad
    assert Parameter(p)._data is p._data


def test_ops_on_parameters_return_plain_tensors():
    p = Parameter(ember.randn(2, 3))
    for out in (p * 2, p + p, p[0], p.t(), p.detach(), p.data, p.sum(), p.clone(), p.double()):
        assert type(out) is ember.Tensor
    assert p.cpu() is p and p.float() is p  # no-op conversions return the object itself, as torch
    (p * 2).sum().backward()
    assert type(p.grad) is ember.Tensor
    np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 3), 2.0, np.float32))


def test_parameter_deepcopy_and_pickle():
    p = Parameter(ember.tensor([1.0, 2.0]))
    p.grad = ember.tensor([0.5, 0.5])
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(q) is Parameter and q.requires_grad
        np.testing.assert_array_equal(q.detach().numpy(), [1.0, 2.0])
        assert q._data is not p._data
    assert copy.deepcopy(p).grad is not None
    frozen = pickle.loads(pickle.dumps(Parameter(ember.tensor([1.0]), requires_grad=False)))
    assert type(frozen) is Parameter and not frozen.requires_grad


def test_buffer_marker():
    m, tm = Module(), tnn.Module()
    m.b = Buffer(ember.zeros(2), persistent=False)
    tm.b = tnn.Buffer(torch.zeros(2), persistent=False)
    m.register_buffer("c", Buffer(ember.ones(1), persistent=False))
    tm.register_buffer("c", tnn.Buffer(torch.ones(1), persistent=False))
    assert type(m.b) is ember.Tensor and isinstance(m.b, Buffer)
    assert not isinstance(ember.zeros(1), Buffer)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["c"]
    assert list(dict(m.named_buffers())) == list(dict(tm.named_buffers())) == ["b", "c"]


# -- attribute routing ------------------------------------------------------------------------------
def test_setattr_routes_to_dicts():
    m = Module()
    m.w = Parameter(ember.zeros(2))
    m.child = ReLU()
    m.register_buffer("buf", ember.zeros(1))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"] and list(m._buffers) == ["buf"]
    assert "w" not in m.__dict__ and m.plain == 3
    m.buf = ember.ones(1)  # a tensor assigned to a buffer name replaces the buffer
    assert m._buffers["buf"].item() == 1.0
    m.w = None
    assert m._parameters == {"w": None} and m.w is None
    m.child = None
    assert m._modules == {"child": None}
    # a Parameter assigned over a plain attribute or a buffer moves it to _parameters
    m.plain = Parameter(ember.zeros(1))
    m.buf = Parameter(ember.zeros(1))
    assert list(m._parameters) == ["w", "plain", "buf"] and m._buffers == {}
    assert "plain" not in m.__dict__


@pytest.mark.parametrize("action", [
    lambda nn, m: setattr(m.fc, "weight", nn.tensor([[0.0] * 3] * 2)),
    lambda nn, m: setattr(m.fc, "weight", 5),
    lambda nn, m: setattr(m, "fc", 5),
    lambda nn, m: setattr(m, "buf", 5),
    lambda nn, m: getattr(m, "foo"),
    lambda nn, m: getattr(m.fc, "foo"),
    lambda nn, m: delattr(m, "foo"),
    lambda nn, m: m.register_buffer("x", nn.tensor([0.0])),
    lambda nn, m: m.register_buffer("a.b", nn.tensor([0.0])),
    lambda nn, m: m.register_buffer("", nn.tensor([0.0])),
    lambda nn, m: m.register_buffer(3, nn.tensor([0.0])),
    lambda nn, m: m.register_buffer("q", 3),
    lambda nn, m: m.register_buffer("fc", nn.tensor([0.0])),
    lambda nn, m: m.register_parameter("x", None),
    lambda nn, m: m.register_parameter("a.b", None),
    lambda nn, m: m.register_parameter("", None),
    lambda nn, m: m.register_parameter(3, None),
    lambda nn, m: m.register_parameter("q", nn.tensor([0.0])),
    lambda nn, m: m.register_parameter("q", 5),
    lambda nn, m: m.register_parameter("q", nn.Parameter(nn.tensor([0.0])) * 1),
    lambda nn, m: m.add_module("q", 5),
    lambda nn, m: m.add_module(3, nn.ReLU()),
    lambda nn, m: m.add_module("x", nn.ReLU()),
    lambda nn, m: m.add_module("a.b", nn.ReLU()),
    lambda nn, m: m.add_module("", nn.ReLU()),
    lambda nn, m: m.get_submodule("fc.weight"),
    lambda nn, m: m.get_submodule("fc.foo"),
    lambda nn, m: m.get_submodule("zz.fc"),
    lambda nn, m: m.get_parameter("fc.foo"),
    lambda nn, m: m.get_parameter("buf"),
    lambda nn, m: m.get_parameter("zz.weight"),
    lambda nn, m: m.get_buffer("fc.weight"),
    lambda nn, m: m.get_buffer("x"),
    lambda nn, m: m.get_buffer("nope"),
    lambda nn, m: m(1),
    lambda nn, m: nn.Module()(1),
    lambda nn, m: nn.Module(3),
    lambda nn, m: nn.Module(a=3),
    lambda nn, m: m.train(1),
    lambda nn, m: m.load_state_dict([1]),
])
def test_errors_match_torch(action):
    def build(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 2)
                self.register_buffer("buf", nn.tensor([0.0, 0.0]))
                self.x = 5

        return Net()

    same_error(lambda: action(_EmberNS, build(_EmberNS)), lambda: action(_TorchNS, build(_TorchNS)))


def test_get_submodule_parameter_buffer():
    m = make_net(_EmberNS)
    assert m.get_submodule("") is m
    assert m.get_submodule("features.2") is m.features[2]
    assert m.get_parameter("blocks.1.weight") is m.blocks[1].weight
    assert m.get_parameter("scale") is m.scale
    assert m.get_buffer("blocks.3.running_var") is m.blocks[3].running_var


def test_delattr_and_dir():
    m = make_net(_EmberNS)
    names = dir(m)
    for name in ("features", "scale", "step", "cache", "training", "forward", "state_dict"):
        assert name in names
    assert names == sorted(set(names))
    assert "0" not in dir(m.features) and "append" in dir(m.features)
    del m.scale, m.step, m.features, m.cache
    assert "scale" not in m._parameters and "step" not in m._buffers and "features" not in m._modules
    assert "cache" not in m._non_persistent_buffers_set
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'scale'"):
        m.scale


def test_register_parameter_none_stays_out_of_state_dict():
    m = Linear(3, 2, bias=False)
    assert m.bias is None and "bias" in m._parameters
    assert list(m.state_dict()) == ["weight"]
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'bias'"):
        m.bias = ember.zeros(2)
    m.bias = Parameter(ember.zeros(2))
    assert list(m.state_dict()) == ["weight", "bias"]


def test_add_module_and_register_module():
    m, tm = Module(), tnn.Module()
    for mod, nn in ((m, _EmberNS), (tm, _TorchNS)):
        mod.add_module("a", nn.ReLU())
        mod.register_module("b", nn.Linear(2, 2))
        mod.add_module("none", None)
    assert repr(m) == repr(tm)
    assert [n for n, _ in m.named_children()] == ["a", "b"]


# -- calling and hooks ------------------------------------------------------------------------------
class Scale(Module):
    def forward(self, x, y=1):
        return x * y


class TScale(tnn.Module):
    def forward(self, x, y=1):
        return x * y


def test_forward_hooks_match_torch():
    log = {"ember": [], "torch": []}
    results = {}
    for key, m in (("ember", Scale()), ("torch", TScale())):
        out = log[key]
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))
        h2 = m.register_forward_pre_hook(lambda mod, args: args[0] * 10)  # a non-tuple result is wrapped
        h3 = m.register_forward_hook(lambda mod, args, res: res + 0.5)
        h4 = m.register_forward_hook(lambda mod, args, kw, res: out.append((args, dict(kw), res)), with_kwargs=True)
        h5 = m.register_forward_pre_hook(lambda mod, args, kw: (args, {"y": 3}), with_kwargs=True)
        h6 = m.register_forward_pre_hook(lambda mod, args: out.append("first"), prepend=True)
        r = [m(1), m(1, y=2)]
        for h in (h5, h6):
            h.remove()
        r.append(m(1, y=2))
        for h in (h1, h2, h3, h4):
            h.remove()
        h1.remove()  # removing twice is harmless
        r.append(m(1))
        with m.register_forward_hook(lambda mod, args, res: "ctx"):
            r.append(m(1))
        r.append(m(1))
        results[key] = r
    assert results["ember"] == results["torch"] == [60.5, 60.5, 40.5, 1, "ctx", 1]
    assert log["ember"] == log["torch"]


def test_forward_hook_handles_and_errors():
    m = Scale()
    h = m.register_forward_hook(lambda *a: None)
    h2 = m.register_forward_hook(lambda *a: None)
    assert h2.id > h.id and list(m._forward_hooks) == [h.id, h2.id]
    h.remove()
    assert list(m._forward_hooks) == [h2.id]
    m.register_forward_pre_hook(lambda mod, args, kw: 5, with_kwargs=True)
    tm = TScale()
    tm.register_forward_pre_hook(lambda mod, args, kw: 5, with_kwargs=True)
    same_error(lambda: m(1), lambda: tm(1))


def test_always_call_forward_hook_runs_when_forward_fails():
    class Boom(Module):
        def forward(self, x):
            raise ValueError("boom")

    seen = []
    m = Boom()
    m.register_forward_hook(lambda mod, args, out: seen.append(("always", out)), always_call=True)
    m.register_forward_hook(lambda mod, args, out: seen.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(1)
    assert seen == [("always", None)]


def test_forward_and_backward_match_torch():
    e_model, t_model = both(make_net)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    out = e_model(ember.tensor(x))
    t_out = t_model(torch.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    t_out.sum().backward()
    t_params = dict(t_model.named_parameters())
    names = [n for n, _ in e_model.named_parameters()]
    assert names == list(t_params)
    for name, p in e_model.named_parameters():
        tg = t_params[name].grad
        if tg is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(p.grad.numpy(), tg.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


# -- iteration -------------------------------------------------------------------------------------
def make_shared(nn):
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)
            self.b.weight = self.a.weight
            self.c = self.a
            self.register_buffer("buf", nn.tensor([1.0]))
            self.inner = nn.Sequential(self.a, nn.ReLU())

    return Shared()


@pytest.mark.parametrize("query", [
    lambda m: [n for n, _ in m.named_parameters()],
    lambda m: [n for n, _ in m.named_parameters(remove_duplicate=False)],
    lambda m: [n for n, _ in m.named_parameters(prefix="pre")],
    lambda m: [n for n, _ in m.named_parameters(prefix="pre", recurse=False)],
    lambda m: [n for n, _ in m.named_modules()],
    lambda m: [n for n, _ in m.named_modules(remove_duplicate=False)],
    lambda m: [n for n, _ in m.named_modules(prefix="root")],
    lambda m: [n for n, _ in m.named_children()],
    lambda m: [n for n, _ in m.named_buffers()],
    lambda m: [n for n, _ in m.named_buffers(recurse=False)],
    lambda m: len(list(m.parameters())),
    lambda m: len(list(m.parameters(recurse=False))),
    lambda m: len(list(m.modules())),
    lambda m: len(list(m.children())),
    lambda m: len(list(m.buffers())),
    lambda m: list(m.state_dict()),
])
def test_iteration_matches_torch_with_sharing(query):
    assert query(make_shared(_EmberNS)) == query(make_shared(_TorchNS))


@pytest.mark.parametrize("query", [
    lambda m: [n for n, _ in m.named_parameters()],
    lambda m: [n for n, _ in m.named_modules()],
    lambda m: [n for n, _ in m.named_buffers()],
    lambda m: [n for n, _ in m.named_children()],
    lambda m: list(m.state_dict()),
])
def test_iteration_matches_torch_nested(query):
    assert query(make_net(_EmberNS)) == query(make_net(_TorchNS))


def test_shared_parameter_is_the_same_object():
    m = make_shared(_EmberNS)
    assert m.a.weight is m.b.weight and m.c is m.a
    params = list(m.parameters())
    assert len(params) == len({id(p) for p in params})


def test_train_eval_propagate():
    m = make_net(_EmberNS)
    assert m.training and all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    assert m.train() is m and all(x.training for x in m.modules())
    assert m.train(False) is m and not m.blocks[3].training
    m.features.train()
    assert m.features[1].training and not m.training


def test_zero_grad_and_requires_grad():
    m = Linear(3, 2)
    m(ember.ones(4, 3)).sum().backward()
    g = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g and not g.requires_grad
    np.testing.assert_array_equal(g.numpy(), np.zeros((2, 3), np.float32))
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    assert m.requires_grad_(False) is m and not m.weight.requires_grad and not m.bias.requires_grad
    m.requires_grad_()
    assert m.weight.requires_grad
    # a gradient with history (as create_graph makes): zero_grad(False) detaches it in place
    w = Parameter(ember.tensor([1.0, 2.0]))
    holder = Module()
    holder.w = w
    w.grad = ember.ones(2, requires_grad=True) * 3
    assert w.grad.grad_fn is not None
    holder.zero_grad(set_to_none=False)
    assert w.grad.grad_fn is None and w.grad.sum().item() == 0


def test_apply_visits_children_first():
    def build(nn):
        return nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh()))

    order, t_order = [], []
    assert build(_EmberNS).apply(lambda m: order.append(type(m).__name__)) is not None
    build(_TorchNS).apply(lambda m: t_order.append(type(m).__name__))
    assert order == t_order


# -- dtype conversion --------------------------------------------------------------------------------
def test_to_dtype_keeps_parameter_identity():
    m = make_net(_EmberNS)
    w = m.features[0].weight
    m(ember.ones(2, 4)).sum().backward()
    assert m.to(ember.float64) is m
    assert m.features[0].weight is w and type(w) is Parameter and w.requires_grad
    assert w.dtype is ember.float64 and w.grad.dtype is ember.float64
    assert m.blocks[3].running_mean.dtype is ember.float64
    assert m.step.dtype is ember.int64 and m.blocks[3].num_batches_tracked.dtype is ember.int64
    out = m(ember.ones(2, 4, dtype=ember.float64))
    assert out.dtype is ember.float64
    assert m.float() is m and w.dtype is ember.float32 and m.step.dtype is ember.int64
    assert m.double() is m and w.dtype is ember.float64
    assert m.half() is m and w.dtype is ember.float16
    m.to(dtype=ember.float32)
    assert w.dtype is ember.float32
    m.to(ember.zeros(1, dtype=ember.float64))  # to(tensor): the tensor's dtype
    assert w.dtype is ember.float64
    m.type(ember.float32)  # type() converts integer buffers too, like torch
    assert w.dtype is ember.float32 and m.step.dtype is ember.float32


def test_to_device_and_errors():
    m, tm = Linear(2, 2), tnn.Linear(2, 2)
    assert m.to("cpu") is m and m.cpu() is m and m.to(ember.device("cpu")) is m
    assert m.to("cpu", ember.float64).weight.dtype is ember.float64
    same_error(lambda: m.to(ember.int64), lambda: tm.to(torch.int64))
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        m.cuda()


# -- state_dict -------------------------------------------------------------------------------------
def test_state_dict_keys_order_and_values_match_torch():
    e_model, t_model = both(make_net)
    sd, tsd = e_model.state_dict(), t_model.state_dict()
    assert type(sd) is OrderedDict
    assert list(sd) == list(tsd)
    for k in tsd:
        np.testing.assert_array_equal(sd[k].numpy(), tsd[k].numpy())
        assert sd[k].dtype.name == str(tsd[k].dtype).split(".")[1]
        assert not sd[k].requires_grad and type(sd[k]) is ember.Tensor
    # detached tensors share memory with the parameters
    sd["features.0.weight"][0, 0] = 42.0
    assert e_model.features[0].weight[0, 0].item() == 42.0
    kv = e_model.state_dict(keep_vars=True)
    assert kv["features.0.weight"] is e_model.features[0].weight
    pre = e_model.state_dict(prefix="model.")
    assert list(pre) == ["model." + k for k in tsd]
    dest = OrderedDict(existing=1)
    assert e_model.state_dict(destination=dest) is dest and list(dest)[0] == "existing"


def test_load_state_dict_copies_in_place():
    e_model, t_model = both(make_net)
    w = e_model.features[0].weight
    before = w._data
    sd = {k: ember.tensor(v.numpy() + 1.0 if v.is_floating_point() else v.numpy()) for k, v in
          t_model.state_dict().items()}
    result = e_model.load_state_dict(sd)
    assert repr(result) == str(result) == "<All keys matched successfully>"
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert e_model.features[0].weight is w and w._data is before and w.requires_grad
    np.testing.assert_array_equal(w.detach().numpy(), t_model.features[0].weight.detach().numpy() + 1)
    # other dtypes are converted to the parameter's dtype
    e_model.load_state_dict({**sd, "scale": ember.tensor([1.0, 2.0], dtype=ember.float64)})
    assert e_model.scale.dtype is ember.float32 and e_model.scale[1].item() == 2.0


def test_load_state_dict_assign():
    m = Linear(3, 2)
    w = m.weight
    new = ember.ones(2, 3, dtype=ember.float64)
    m.load_state_dict({"weight": new, "bias": ember.zeros(2)}, assign=True)
    assert m.weight is not w and type(m.weight) is Parameter and m.weight.requires_grad
    assert m.weight.dtype is ember.float64 and m.weight._data is new._data
    given = Parameter(ember.zeros(2, 3), requires_grad=False)
    m.load_state_dict({"weight": given, "bias": ember.zeros(2)}, assign=True)
    assert m.weight is given and given.requires_grad


def _broken_state_dicts(nn):
    def base():
        return make_net(nn).state_dict()

    def drop(sd, *keys):
        for k in keys:
            del sd[k]
        return sd

    def put(sd, **items):
        sd.update({k.replace("__", "."): v for k, v in items.items()})
        return sd

    return [
        drop(base(), "features.2.bias"),
        put(base(), extra=nn.tensor([0.0]), features__0__foo=nn.tensor([0.0]), blocks__3__zz=nn.tensor([1.0])),
        put(drop(base(), "heads.cls.bias", "step"), extra=nn.tensor([0.0])),
        put(base(), features__0__weight=nn.tensor([[0.0] * 3] * 3)),
        put(drop(base(), "scale"), blocks__1__bias=nn.tensor([0.0] * 3)),
        put(base(), scale=5),
        put(base(), cache=nn.tensor([0.0, 0.0])),  # non-persistent buffer: unexpected
        put(base(), unused=nn.tensor([0.0])),  # parameter registered as None: unexpected
    ]


@pytest.mark.parametrize("case", range(8))
@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_errors_and_keys_match_torch(case, strict):
    sd = _broken_state_dicts(_EmberNS)[case]
    tsd = _broken_state_dicts(_TorchNS)[case]
    e_model, t_model = make_net(_EmberNS), make_net(_TorchNS)
    try:
        expected = t_model.load_state_dict(tsd, strict=strict)
    except RuntimeError:
        same_error(lambda: e_model.load_state_dict(sd, strict=strict),
                   lambda: t_model.load_state_dict(tsd, strict=strict))
        return
    result = e_model.load_state_dict(sd, strict=strict)
    assert result == expected
    assert repr(result) == repr(expected)


def test_load_state_dict_old_scalar_format():
    m = Module()
    m.register_buffer("count", ember.tensor(0))
    m.load_state_dict({"count": ember.tensor([7])})
    assert m.count.shape == () and m.count.item() == 7


# -- repr -------------------------------------------------------------------------------------------
def test_module_repr_matches_torch():
    assert repr(make_net(_EmberNS)) == repr(make_net(_TorchNS))
    assert repr(Module()) == repr(tnn.Module()) == "Module()"


def test_repr_with_multiline_extra_repr():
    def build(nn):
        class Inner(nn.Module):
            def extra_repr(self):
                return "a=1\nb=2"

        class Outer(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Inner()
                self.seq = nn.Sequential(Inner(), nn.ReLU())

            def extra_repr(self):
                return "x=1"

        return Outer()

    assert repr(build(_EmberNS)) == repr(build(_TorchNS))


@pytest.mark.parametrize("build", [
    lambda nn: nn.Sequential(),
    lambda nn: nn.ModuleList(),
    lambda nn: nn.ModuleDict(),
    lambda nn: nn.ParameterList(),
    lambda nn: nn.ParameterDict(),
    lambda nn: nn.ModuleList([nn.ReLU()]),
    lambda nn: nn.ModuleList([nn.Linear(2, 2) for _ in range(12)]),
    lambda nn: nn.ModuleList([nn.Sequential(nn.Linear(2, 2), nn.ReLU()) for _ in range(3)]
                             + [nn.ReLU(), nn.Linear(2, 2), nn.ReLU(), nn.ReLU(), nn.Linear(2, 3)]),
    lambda nn: nn.Sequential(nn.ReLU(), nn.ReLU(), nn.Linear(1, 1)),  # Sequential does not collapse
    lambda nn: nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh())])),
    lambda nn: nn.ModuleDict({"x": nn.ModuleList([nn.ReLU()] * 3), "y": nn.ReLU(), "y2": nn.ReLU()}),
    lambda nn: nn.ParameterList([nn.Parameter(nn.tensor([[1.0, 2.0, 3.0]] * 2)),
                                 nn.tensor(np.zeros(2)), nn.Parameter(nn.tensor([1, 2]), requires_grad=False),
                                 3, "abc", nn.Parameter(nn.tensor(2.0))]),
    lambda nn: nn.ParameterList([nn.Parameter(nn.tensor([1.0]))]),
    lambda nn: nn.ParameterDict({"b": nn.tensor([1.0]), "a": nn.Parameter(nn.tensor(np.zeros(2))),
                                 "c": 3, "d": nn.Parameter(nn.tensor([1, 2]), requires_grad=False)}),
    lambda nn: nn.ParameterDict({"k": nn.Parameter(nn.tensor([1.0]))}),
])
def test_container_repr_matches_torch(build):
    assert repr(build(_EmberNS)) == repr(build(_TorchNS))


def test_nested_container_repr_matches_torch():
    def build(nn):
        class Foo(nn.Module):
            def __init__(self):
                super().__init__()
                self.l = nn.ModuleList([nn.ReLU(), nn.ReLU()])
                self.p = nn.Parameter(nn.tensor([0.0]))
                self.pl = nn.ParameterList([nn.Parameter(nn.tensor([0.0, 1.0]))])
                self.pd = nn.ParameterDict({"k": nn.Parameter(nn.tensor([0.0])), "j": nn.tensor([1.0, 2.0])})
                self.deep = nn.Sequential(nn.Sequential(nn.ModuleList([nn.Linear(1, 1)] * 2), nn.BatchNorm1d(3)))

        return Foo()

    assert repr(build(_EmberNS)) == repr(build(_TorchNS))


# -- copying ----------------------------------------------------------------------------------------
def test_deepcopy_module():
    m = make_shared(_EmberNS)
    m.a.weight.grad = ember.ones(2, 2)
    c = copy.deepcopy(m)
    assert type(c.a.weight) is Parameter and c.a.weight is not m.a.weight
    assert c.b.weight is c.a.weight and c.c is c.a and c.inner[0] is c.a  # sharing survives
    np.testing.assert_array_equal(c.a.weight.detach().numpy(), m.a.weight.detach().numpy())
    np.testing.assert_array_equal(c.a.weight.grad.numpy(), np.ones((2, 2), np.float32))
    with ember.no_grad():
        c.a.weight.fill_(0.0)
    assert m.a.weight.abs().sum().item() > 0
    assert repr(c) == repr(m) and list(c.state_dict()) == list(m.state_dict())


class PicklableNet(Module):
    def __init__(self):
        super().__init__()
        self.features = Sequential(Linear(4, 3), Tanh())
        self.heads = ModuleDict({"cls": Linear(3, 2)})
        self.extras = ParameterList([Parameter(ember.tensor([1.5, -2.0]))])
        self.bn = BatchNorm1d(3)
        self.register_buffer("cache", ember.zeros(1), persistent=False)

    def forward(self, x):
        return self.heads["cls"](self.features(x)) * self.extras[0]


def test_pickle_module():
    m = PicklableNet()
    m.eval()
    c = pickle.loads(pickle.dumps(m))
    assert repr(c) == repr(m) and not c.training
    for (k, v), (k2, v2) in zip(m.state_dict().items(), c.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(v.numpy(), v2.numpy())
    assert type(c.extras[0]) is Parameter and c.extras[0].requires_grad
    assert "cache" in c._non_persistent_buffers_set
    x = ember.ones(2, 4)
    np.testing.assert_array_equal(c(x).detach().numpy(), m(x).detach().numpy())


# -- containers -------------------------------------------------------------------------------------
def seq_ops(nn):
    """A script of Sequential operations; returns everything observable."""
    out = []
    s = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Linear(1, 1))
    out += [len(s), type(s[-1]).__name__, repr(s[0:2]), repr(s[::-1]), repr(s[1:]), repr(s[5:])]
    s2 = nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh()), ("c", nn.ReLU())]))
    out.append(repr(s2[1:]))  # slicing keeps names
    del s2[0]  # deleting renumbers (names are lost), as in torch
    out.append(repr(s2))
    s2[0] = nn.Linear(2, 2)
    out += [repr(s2), repr(s2.pop(1)), repr(s2)]
    s3 = nn.Sequential(nn.ReLU(), nn.Tanh())
    s3.insert(1, nn.Linear(1, 2))
    s3.insert(-1, nn.Linear(2, 2))
    s3.insert(4, nn.ReLU())
    out.append(repr(s3))
    out.append(repr(s3.append(nn.Tanh()).extend([nn.ReLU()])))
    del s3[1:3]
    out.append(repr(s3))
    out += [repr(s3 + nn.Sequential(nn.Linear(3, 3))), repr(s3 * 2), repr(2 * s3)]
    s3 += nn.Sequential(nn.Tanh())
    out.append(repr(s3))
    s4 = nn.Sequential(nn.ReLU(), nn.Tanh())
    s4 *= 3
    out.append(repr(s4))
    out.append([type(m).__name__ for m in s4])
    return out


def test_sequential_operations_match_torch():
    assert seq_ops(_EmberNS) == seq_ops(_TorchNS)


@pytest.mark.parametrize("action", [
    lambda nn, s: s[3],
    lambda nn, s: s[-4],
    lambda nn, s: s["a"],
    lambda nn, s: s + 3,
    lambda nn, s: s * 0,
    lambda nn, s: s * "a",
    lambda nn, s: s.insert(5, nn.ReLU()),
    lambda nn, s: s.insert(0, 3),
    lambda nn, s: s.append(3),
    lambda nn, s: s.__setitem__(3, nn.ReLU()),
    lambda nn, s: s.__delitem__(-5),
])
def test_sequential_errors_match_torch(action):
    def build(nn):
        return nn.Sequential(nn.ReLU(), nn.Tanh(), nn.ReLU())

    same_error(lambda: action(_EmberNS, build(_EmberNS)), lambda: action(_TorchNS, build(_TorchNS)))


def test_sequential_forward_and_identity():
    e, t = both(lambda nn: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(e(ember.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    first = e[0]
    assert e[0:1][0] is first and list(e)[0] is first
    assert Sequential()(ember.ones(2)).sum().item() == 2  # empty Sequential is the identity


def modulelist_ops(nn):
    out = []
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    out += [len(ml), repr(ml[0:1]), repr(ml[-1]), repr(ml[::-1])]
    ml += [nn.Linear(1, 1)]
    ml.append(nn.ReLU()).extend([nn.Tanh(), nn.ReLU()])
    ml.insert(1, nn.Linear(2, 2))
    out.append(repr(ml))
    ml[0] = nn.Tanh()
    out.append(repr(ml))
    out.append(repr(ml.pop(2)))
    del ml[-1]
    del ml[0:2]
    out.append(repr(ml))
    out.append(repr(ml + [nn.ReLU()]))
    out.append([type(m).__name__ for m in ml])
    out.append([n for n, _ in ml.named_modules()])
    return out


def test_modulelist_operations_match_torch():
    assert modulelist_ops(_EmberNS) == modulelist_ops(_TorchNS)


def test_modulelist_insert_negative_index_like_list():
    ml = ModuleList([ReLU(), Tanh()])
    ml.insert(-1, Linear(1, 1))
    assert [type(m).__name__ for m in ml] == ["ReLU", "Linear", "Tanh"]


@pytest.mark.parametrize("action", [
    lambda nn, m: m[2],
    lambda nn, m: m[-3],
    lambda nn, m: m["a"],
    lambda nn, m: m.extend(3),
    lambda nn, m: m.append(3),
    lambda nn, m: nn.ModuleList([3]),
    lambda nn, m: m(1),
])
def test_modulelist_errors_match_torch(action):
    def build(nn):
        return nn.ModuleList([nn.ReLU(), nn.Tanh()])

    same_error(lambda: action(_EmberNS, build(_EmberNS)), lambda: action(_TorchNS, build(_TorchNS)))


def moduledict_ops(nn):
    out = []
    md = nn.ModuleDict([("b", nn.ReLU()), ("a", nn.Tanh())])
    out += [list(md), repr(md)]
    md2 = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()})  # plain dicts keep their order
    out.append(list(md2.keys()))
    md["c"] = nn.Linear(1, 1)
    md.update([("d", nn.ReLU())])
    md.update(OrderedDict([("e", nn.Tanh())]))
    out += [len(md), "c" in md, "z" in md, repr(md.pop("a")), list(md), repr(md)]
    out += [[type(v).__name__ for v in md.values()], [k for k, _ in md.items()]]
    del md["b"]
    out.append(list(md))
    md.update(nn.ModuleDict(OrderedDict([("z", nn.ReLU()), ("y", nn.Tanh())])))
    out.append(list(md))
    out.append(list(md.state_dict()))
    md.clear()
    out.append(len(md))
    return out


def test_moduledict_operations_match_torch():
    assert moduledict_ops(_EmberNS) == moduledict_ops(_TorchNS)


@pytest.mark.parametrize("action", [
    lambda nn, m: nn.ModuleDict(3),
    lambda nn, m: nn.ModuleDict([3]),
    lambda nn, m: nn.ModuleDict([(1, 2, 3)]),
    lambda nn, m: m["zz"],
    lambda nn, m: m.__setitem__("q", 3),
    lambda nn, m: m(1),
])
def test_moduledict_errors_match_torch(action):
    def build(nn):
        return nn.ModuleDict({"a": nn.ReLU()})

    same_error(lambda: action(_EmberNS, build(_EmberNS)), lambda: action(_TorchNS, build(_TorchNS)))


def parameterlist_ops(nn):
    out = []
    pl = nn.ParameterList([nn.tensor([1.0]), nn.Parameter(nn.tensor([2.0, 3.0]))])
    out += [len(pl), type(pl[0]).__name__, pl[0].requires_grad, repr(pl[-1])]
    pl.append(nn.tensor([4.0])).extend([nn.tensor([5.0]), 7])
    pl += [nn.Parameter(nn.tensor([6.0]))]
    out += [len(pl), repr(pl), repr(pl[1:3]), repr(pl[::2]), pl[4]]
    pl[0] = nn.tensor([9.0])
    out.append(repr(pl[0]))
    out.append([n for n, _ in pl.named_parameters()])
    out.append(list(pl.state_dict()))
    out.append([type(p).__name__ for p in pl])
    return out


def test_parameterlist_operations_match_torch():
    assert parameterlist_ops(_EmberNS) == parameterlist_ops(_TorchNS)


def parameterdict_ops(nn):
    out = []
    pd = nn.ParameterDict({"b": nn.tensor([1.0]), "a": nn.Parameter(nn.tensor([2.0]))})  # sorted keys
    out += [list(pd), type(pd["b"]).__name__, repr(pd)]
    pd2 = nn.ParameterDict(OrderedDict([("z", nn.tensor([1.0])), ("y", nn.tensor([2.0]))]))  # kept order
    pd3 = nn.ParameterDict([("q", nn.tensor([1.0])), ("p", 5)])
    out += [list(pd2), list(pd3), repr(pd3)]
    pd["c"] = nn.tensor([3.0])
    out += [len(pd), "c" in pd, "x" in pd, pd.get("x", 5), repr(pd.get("a"))]
    out.append(repr(pd.setdefault("d", nn.tensor([4.0]))))
    out.append(repr(pd.setdefault("d", nn.tensor([0.0]))))
    out.append(repr(pd.pop("b")))
    k, v = pd.popitem()
    out += [k, repr(v), list(pd.keys()), [kk for kk, _ in pd.items()], [repr(x) for x in pd.values()]]
    out += [list(reversed(pd)), list(pd.copy()), list(pd | {"m": nn.tensor([0.0])}),
            list(pd.fromkeys(["u", "v"]))]
    pd |= {"n": nn.tensor([1.0])}
    pd.update(nn.ParameterDict(OrderedDict([("t", nn.tensor([1.0])), ("s", nn.tensor([2.0]))])))
    out.append(list(nn.ParameterDict(pd)))
    out.append(list(pd))
    out.append([n for n, _ in pd.named_parameters()])
    del pd["n"]
    out.append(list(pd.state_dict()))
    pd.clear()
    out.append(len(pd))
    return out


def test_parameterdict_operations_match_torch():
    assert parameterdict_ops(_EmberNS) == parameterdict_ops(_TorchNS)


@pytest.mark.parametrize("action", [
    lambda nn, p: p[3],
    lambda nn, p: p(1),
    lambda nn, p: p.extend(nn.tensor([0.0, 1.0])),
    lambda nn, p: p.extend(3),
])
def test_parameterlist_errors_match_torch(action):
    def build(nn):
        return nn.ParameterList([nn.tensor([0.0])])

    same_error(lambda: action(_EmberNS, build(_EmberNS)), lambda: action(_TorchNS, build(_TorchNS)))


@pytest.mark.parametrize("action", [
    lambda nn, p: p[1],
    lambda nn, p: p(1),
    lambda nn, p: p["zz"],
    lambda nn, p: p.update(3),
    lambda nn, p: p.update([3]),
    lambda nn, p: p.update([(1, 2, 3)]),
    lambda nn, p: p.update({"k.x": nn.tensor([1.0])}),
])
def test_parameterdict_errors_match_torch(action):
    def build(nn):
        return nn.ParameterDict({"a": nn.tensor([0.0])})

    same_error(lambda: action(_EmberNS, build(_EmberNS)), lambda: action(_TorchNS, build(_TorchNS)))


def test_containers_in_state_dict_load_roundtrip():
    e, t = both(make_net)
    e2 = make_net(_EmberNS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert e2.load_state_dict(e.state_dict()).missing_keys == []
    for (k, v), (k2, v2) in zip(e.state_dict().items(), e2.state_dict().items()):
        np.testing.assert_array_equal(v.numpy(), v2.numpy(), err_msg=k)
