"""Module backward hooks (register_full_backward_hook, register_full_backward_pre_hook,
the global ones and the deprecated register_backward_hook) against PyTorch: the same
model is built in both, the torch weights are copied into ember through state_dict,
hooks that record what they receive are registered on both, and the records, the
order of the calls and the resulting gradients are compared."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn

import ember
import ember.nn as enn
import ember.nn.modules.module as emodule
import torch.nn.modules.module as tmodule

RNG = np.random.default_rng(0)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def lib_of(nn):
    return torch if nn is tnn else ember


def copy_state(tm, em):
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def arrays(grads):
    """A hook's tuple of gradients as arrays (None kept)."""
    return tuple(None if g is None else g.detach().numpy().copy() for g in grads)


class Recorder:
    """Hooks that log (kind, module name, grad tuples) and return None."""

    def __init__(self, root):
        self.names = {id(m): name or "root" for name, m in root.named_modules()}
        self.log = []

    def full(self, tag="full"):
        def hook(module, grad_input, grad_output):
            self.log.append((tag, self.names[id(module)], arrays(grad_input), arrays(grad_output)))
        return hook

    def pre(self, tag="pre"):
        def hook(module, grad_output):
            self.log.append((tag, self.names[id(module)], arrays(grad_output)))
        return hook

    def hook_all(self, root):
        for m in root.modules():
            m.register_full_backward_pre_hook(self.pre())
            m.register_full_backward_hook(self.full())


def assert_same_logs(elog, tlog):
    assert [e[:2] for e in elog] == [t[:2] for t in tlog]
    for e, t in zip(elog, tlog):
        for eg, tg in zip(e[2:], t[2:]):
            assert len(eg) == len(tg), e[:2]
            for a, b in zip(eg, tg):
                assert (a is None) == (b is None), (e[:2], a, b)
                if a is not None:
                    assert a.shape == b.shape and a.dtype == b.dtype, e[:2]
                    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=str(e[:2]))


def assert_same_grads(etensors, ttensors):
    for e, t in zip(etensors, ttensors):
        assert (e.grad is None) == (t.grad is None)
        if t.grad is not None:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


# -- modules written once for both libraries ---------------------------------------------------------
def mul_add(nn):
    class MulAdd(nn.Module):  # two tensor inputs and a number
        def forward(self, a, b, scale):
            return a * b * scale + a
    return MulAdd()


def tuple_out(nn):
    class Split(nn.Module):  # a tuple with a number and a tensor that does not require grad
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            h = self.fc(x)
            return h.tanh(), 7, h * 2, x.detach()
    return Split()


def nested(nn):
    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.child = nn.Linear(4, 3)
            self.act = nn.ReLU()
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.act(self.child(x))) + self.child(x).sum()  # child called twice
    return Parent()


def cnn(nn):
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 5 * 5, 4)
    )


# name, builder, input arrays, which inputs require grad, loss(outputs)
CASES = [
    ("linear", lambda nn: nn.Linear(5, 3), lambda: [f32(4, 5)], [True], lambda o: (o * o).sum()),
    ("multi_input", mul_add, lambda: [f32(3, 4), f32(3, 4), 2.5], [True, True], lambda o: (o ** 2).sum()),
    ("input_without_grad", mul_add, lambda: [f32(3, 4), f32(3, 4), 2.5], [True, False], lambda o: o.sum()),
    ("tuple_output", tuple_out, lambda: [f32(2, 4)], [True], lambda o: (o[0] * 3).sum() + o[2].sum()),
    ("tuple_output_partly_used", tuple_out, lambda: [f32(2, 4)], [True], lambda o: (o[2] ** 2).sum()),
    ("nested", nested, lambda: [f32(2, 4)], [True], lambda o: (o ** 2).sum()),
    ("sequential_cnn", cnn, lambda: [f32(2, 2, 5, 5)], [True], lambda o: (o ** 2).sum()),
    ("sequential_cnn_no_input_grad", cnn, lambda: [f32(2, 2, 5, 5)], [False], lambda o: (o ** 2).sum()),
]


def build(case, nn, data, hooks):
    ctor, needs = case[1], case[3]
    lib = lib_of(nn)
    model = ctor(nn)
    needs = iter(needs)  # one flag per array; other arguments pass as they are
    inputs = [lib.tensor(a, requires_grad=next(needs)) if isinstance(a, np.ndarray) else a for a in data]
    rec = Recorder(model)
    if hooks:
        rec.hook_all(model)
    return model, inputs, rec


def run(model, inputs, loss_fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 'no inputs require gradients' warning
        out = model(*inputs)
        loss_fn(out).backward()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hooks_see_what_torch_hooks_see(case):
    data = case[2]()
    tm, ti, trec = build(case, tnn, data, True)
    em, ei, erec = build(case, enn, data, True)
    copy_state(tm, em)
    tout, eout = run(tm, ti, case[4]), run(em, ei, case[4])
    assert trec.log, "torch called no hook"
    assert_same_logs(erec.log, trec.log)
    tensors = [t for t in ti if isinstance(t, torch.Tensor)]
    etensors = [t for t in ei if isinstance(t, ember.Tensor)]
    assert_same_grads(etensors, tensors)
    assert_same_grads(list(em.parameters()), list(tm.parameters()))
    touts = tout if isinstance(tout, tuple) else (tout,)
    eouts = eout if isinstance(eout, tuple) else (eout,)
    for t, e in zip(touts, eouts):
        if isinstance(t, torch.Tensor):
            assert (e.grad_fn is None) == (t.grad_fn is None)
            if t.grad_fn is not None:
                assert e.grad_fn.name() == t.grad_fn.name() == "BackwardHookFunctionBackward"
        else:
            assert e == t


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_observing_hooks_change_no_result(case):
    data = case[2]()
    plain, pi, _ = build(case, enn, data, False)
    hooked, hi, _ = build(case, enn, data, True)
    hooked.load_state_dict(plain.state_dict())
    pout, hout = run(plain, pi, case[4]), run(hooked, hi, case[4])
    pouts = pout if isinstance(pout, tuple) else (pout,)
    houts = hout if isinstance(hout, tuple) else (hout,)
    for p, h in zip(pouts, houts):
        if isinstance(p, ember.Tensor):
            np.testing.assert_array_equal(h.detach().numpy(), p.detach().numpy())
        else:
            assert h == p
    for p, h in zip(list(plain.parameters()) + [t for t in pi if isinstance(t, ember.Tensor)],
                    list(hooked.parameters()) + [t for t in hi if isinstance(t, ember.Tensor)]):
        assert (p.grad is None) == (h.grad is None)
        if p.grad is not None:
            np.testing.assert_array_equal(h.grad.numpy(), p.grad.numpy())
    for (k, p), (k2, h) in zip(plain.named_buffers(), hooked.named_buffers()):
        np.testing.assert_array_equal(h.numpy(), p.numpy())


def test_no_input_requiring_grad_calls_the_hook_with_nones_and_warns():
    # (the texts are ember's own; PyTorch says the same things in other words)
    texts = {tnn: ("no inputs require gradients", "should always return None"),
             enn: ("no input of this module requires a gradient", "must return None")}
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = nn.Linear(3, 2)
        seen = []
        m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, tuple(go[0].shape))))
        with pytest.warns(UserWarning, match=texts[nn][0]):
            m(lib.ones(4, 3)).sum().backward()
        assert seen == [((None,), (4, 2))]
        m.register_full_backward_hook(lambda mod, gi, go: (lib.ones(4, 3),))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match=texts[nn][1]):
                m(lib.ones(4, 3)).sum().backward()


def test_unused_input_gets_zeros_like_torch():
    def case(nn):
        class FirstOnly(nn.Module):
            def forward(self, a, b):
                return a * 2
        return FirstOnly()
    logs, grads = [], []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = case(nn)
        rec = Recorder(m)
        m.register_full_backward_hook(rec.full())
        a, b = lib.ones(3, requires_grad=True), lib.ones(3, requires_grad=True)
        m(a, b).sum().backward()
        logs.append(rec.log)
        grads.append(b.grad.numpy())
    assert_same_logs(logs[1], logs[0])
    np.testing.assert_array_equal(grads[1], grads[0])
    np.testing.assert_array_equal(grads[1], np.zeros(3, np.float32))


def test_gradient_reaching_inputs_outside_the_outputs_calls_no_full_hook():
    def case(nn):
        class Stash(nn.Module):
            def forward(self, a):
                self.side = a * 3
                return a * 2
        return Stash()
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m, seen = case(nn), []
        m.register_full_backward_hook(lambda *args: seen.append("full"))
        a = lib.ones(3, requires_grad=True)
        m(a)
        m.side.sum().backward()
        assert seen == []
        np.testing.assert_array_equal(a.grad.numpy(), np.full(3, 3, np.float32))


def test_identity_module_returning_its_input():
    logs, data = [], f32(2, 3)
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = nn.Identity()
        rec = Recorder(m)
        rec.hook_all(m)
        x = lib.tensor(data, requires_grad=True)
        y = m(x * 1)
        assert y.grad_fn.name() == "BackwardHookFunctionBackward"
        assert [f.name() for f, _ in y.grad_fn.next_functions] == ["BackwardHookFunctionBackward"]
        (y * y).sum().backward()
        logs.append(rec.log)
    assert_same_logs(logs[1], logs[0])


def test_replacing_grad_input_changes_the_leaf_grads():
    grads = []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = mul_add(nn)
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 10, None, None))
        a = lib.tensor(np.arange(4, dtype=np.float32), requires_grad=True)
        b = lib.tensor(np.ones(4, np.float32) * 3, requires_grad=True)
        m(a, b, 2.0).sum().backward()
        grads.append((a.grad.numpy(), b.grad))
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][0], np.full(4, 70, np.float32))  # (b * scale + 1) * 10
    assert grads[0][1] is None and grads[1][1] is None


def test_replacing_grad_output_changes_every_grad_below():
    results = []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        torch.manual_seed(0)
        tm = cnn(tnn)
        m = tm if nn is tnn else cnn(enn)
        if nn is enn:
            copy_state(tm, m)
        seen = []
        m[4].register_full_backward_pre_hook(lambda mod, go: (go[0] * 10,))
        m[1].register_full_backward_hook(lambda mod, gi, go: seen.append(arrays(go)))
        x = lib.tensor(np.linspace(-1, 1, 50, dtype=np.float32).reshape(1, 2, 5, 5), requires_grad=True)
        m(x).sum().backward()
        results.append([x.grad.numpy(), m[0].weight.grad.numpy(), m[4].weight.grad.numpy(), seen[0][0]])
    for e, t in zip(results[1], results[0]):
        np.testing.assert_allclose(e, t, rtol=1e-4, atol=1e-5)


def test_full_hook_sees_grad_output_after_the_pre_hooks():
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m, seen = nn.Tanh(), []
        m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 0 + 5,))
        m.register_full_backward_hook(lambda mod, gi, go: seen.append(go[0].numpy().copy()))
        m(lib.zeros(2, requires_grad=True)).sum().backward()
        np.testing.assert_array_equal(seen[0], np.full(2, 5, np.float32))


def test_call_order_prepend_and_global_hooks():
    orders = []
    for nn, mod in ((tnn, tmodule), (enn, emodule)):
        lib = lib_of(nn)
        m, order = nn.Linear(3, 2), []
        m.register_full_backward_hook(lambda *a: order.append("a"))
        m.register_full_backward_hook(lambda *a: order.append("b"), prepend=True)
        m.register_full_backward_pre_hook(lambda *a: order.append("pa"))
        m.register_full_backward_pre_hook(lambda *a: order.append("pb"), prepend=True)
        handles = [mod.register_module_full_backward_hook(lambda *a: order.append("g")),
                   mod.register_module_full_backward_pre_hook(lambda *a: order.append("gp"))]
        try:
            m(lib.ones(3, requires_grad=True)).sum().backward()
        finally:
            for h in handles:
                h.remove()
            mod._global_is_full_backward_hook = None
        orders.append(order)
    assert orders[1] == orders[0] == ["gp", "pb", "pa", "g", "b", "a"]


def test_global_hooks_reach_every_module_and_go_away_with_their_handle():
    logs = []
    for nn, mod in ((tnn, tmodule), (enn, emodule)):
        lib = lib_of(nn)
        torch.manual_seed(0)
        tm = nested(tnn)
        m = tm if nn is tnn else nested(enn)
        if nn is enn:
            copy_state(tm, m)
        rec = Recorder(m)
        handles = [mod.register_module_full_backward_hook(rec.full()),
                   mod.register_module_full_backward_pre_hook(rec.pre())]
        try:
            x = lib.tensor(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4), requires_grad=True)
            m(x).sum().backward()
        finally:
            for h in handles:
                h.remove()
            mod._global_is_full_backward_hook = None
        n = len(rec.log)
        m(x).sum().backward()
        assert len(rec.log) == n
        logs.append(rec.log)
    assert_same_logs(logs[1], logs[0])
    assert not emodule._global_backward_hooks and not emodule._global_backward_pre_hooks


def test_handles_remove_hooks_and_hooks_in_force_are_those_of_the_call():
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m, seen = nn.Linear(3, 2), []
        a = lib.ones(3, requires_grad=True)
        h = m.register_full_backward_hook(lambda *args: seen.append("full"))
        p = m.register_full_backward_pre_hook(lambda *args: seen.append("pre"))
        y = m(a)
        h.remove()
        p.remove()
        y.sum().backward()  # registered when the call ran: still called
        assert seen == ["pre", "full"]
        y = m(a)
        assert y.grad_fn.name() != "BackwardHookFunctionBackward"  # no hooks left: the plain path
        with m.register_full_backward_hook(lambda *args: seen.append("late")):
            y.sum().backward()  # registered after the call: not called
        assert seen == ["pre", "full"]
        assert not m._backward_hooks and not m._backward_pre_hooks


def test_hooks_run_once_per_backward_and_with_autograd_grad():
    runs = []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m, seen = nn.Linear(3, 2), []
        m.register_full_backward_pre_hook(lambda *args: seen.append("pre"))
        m.register_full_backward_hook(lambda *args: seen.append("full"))
        a = lib.ones(3, requires_grad=True)
        out = m(a).sum()
        out.backward(retain_graph=True)
        out.backward()
        seen.append("|")
        lib.autograd.grad(m(a).sum(), a)
        seen.append("|")
        lib.autograd.grad(m(a).sum(), m.weight)  # the inputs' gradients are not needed
        seen.append("|")
        y = m(a)
        (y.sum() + (y * 2).sum()).backward()  # an output used twice
        seen.append("|")
        (m(a).sum() + m(a * 2).sum()).backward()  # two calls, each with its hooks
        runs.append(seen)
    assert runs[1] == runs[0]


def test_no_hooks_under_no_grad():
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m, seen = nn.Linear(3, 2), []
        m.register_full_backward_hook(lambda *args: seen.append("full"))
        with lib.no_grad():
            y = m(lib.ones(3, requires_grad=True))
        assert y.grad_fn is None and not y.requires_grad and seen == []


def test_output_that_is_not_a_tensor_or_tuple_warns_and_gets_no_hook():
    def case(nn):
        class DictOut(nn.Module):
            def forward(self, a):
                return {"x": a * 2}
        return DictOut()
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m, seen = case(nn), []
        m.register_full_backward_hook(lambda *args: seen.append("full"))
        with pytest.warns(UserWarning, match="For backward hooks to be called, module output should be a Tensor "
                                             "or a tuple of Tensors but received <class 'dict'>"):
            out = m(lib.ones(3, requires_grad=True))
        assert out["x"].grad_fn.name() == "MulBackward0"
        out["x"].sum().backward()
        assert seen == []


def test_next_functions_lead_to_the_module_outputs_history():
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = tuple_out(nn)
        m.register_full_backward_hook(lambda *args: None)
        out = m(lib.ones(2, 4, requires_grad=True))
        names = [f and f.name() for f, _ in out[0].grad_fn.next_functions]
        assert names == ["TanhBackward0", "MulBackward0", None]
        assert out[3].grad_fn is None and not out[3].requires_grad


def test_hook_return_errors_match_torch():
    def failure(nn, register, hook, x=None):
        lib = lib_of(nn)
        m = nn.Linear(3, 2)
        getattr(m, register)(hook(lib))
        with pytest.raises(Exception) as info:
            m(lib.ones(3, requires_grad=True) if x is None else x(lib)).sum().backward()
        return type(info.value), str(info.value)

    cases = [
        ("register_full_backward_hook", lambda lib: lambda m, gi, go: (gi[0], gi[0])),
        ("register_full_backward_pre_hook", lambda lib: lambda m, go: (go[0], go[0])),
        ("register_full_backward_hook", lambda lib: lambda m, gi, go: (gi[0][:2],)),
        ("register_full_backward_pre_hook", lambda lib: lambda m, go: (go[0][:1],)),
        ("register_full_backward_hook", lambda lib: lambda m, gi, go: (gi[0].double(),)),
        ("register_full_backward_hook", lambda lib: lambda m, gi, go: (3.0,)),
        ("register_full_backward_hook", lambda lib: lambda m, gi, go: 5),
        ("register_full_backward_hook", lambda lib: lambda m, gi, go: gi[0] * 2),  # a Tensor: len() is 3
    ]
    for register, hook in cases:
        t, e = failure(tnn, register, hook), failure(enn, register, hook)
        assert e == t, (e, t)
    assert t[0] is RuntimeError and "invalid number of grad_input, got 3, but expected 1" in t[1]


def test_full_and_regular_backward_hooks_do_not_mix():
    for nn, mod in ((tnn, tmodule), (enn, emodule)):
        m = nn.Linear(3, 2)
        h = m.register_backward_hook(lambda *args: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks on "
                                               "a single Module. Please use only one of them."):
            m.register_full_backward_hook(lambda *args: None)
        h.remove()
        with pytest.raises(RuntimeError, match="Cannot use both"):  # the module stays a regular-hook one
            m.register_full_backward_hook(lambda *args: None)
        m2 = nn.Linear(3, 2)
        m2.register_full_backward_hook(lambda *args: None)
        with pytest.raises(RuntimeError, match="Cannot use both"):
            m2.register_backward_hook(lambda *args: None)
        h = mod.register_module_full_backward_hook(lambda *args: None)
        try:
            with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks "
                                                   "as a global Module hook. Please use only one of them."):
                mod.register_module_backward_hook(lambda *args: None)
        finally:
            h.remove()
            mod._global_is_full_backward_hook = None


@pytest.mark.parametrize("layer", ["ReLU", "Tanh", "Sigmoid"])
def test_regular_backward_hook_on_a_one_op_module_matches_torch(layer):
    # PyTorch's deprecated hook sees the gradients of the last op of forward; ember's behaves
    # like the full hook, which is the same thing for a module made of one op on one input
    logs = []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = getattr(nn, layer)()
        rec = Recorder(m)
        m.register_backward_hook(rec.full("regular"))
        x = lib.tensor(np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            y = m(x * 1)
        (y * y).sum().backward()
        logs.append(rec.log)
    assert_same_logs(logs[1], logs[0])


def test_module_without_hooks_keeps_the_plain_call():
    m = enn.Linear(3, 2)
    x = ember.ones(3, requires_grad=True)
    assert m(x).grad_fn.name() != "BackwardHookFunctionBackward"
    h = m.register_full_backward_pre_hook(lambda *args: None)
    assert m(x).grad_fn.name() == "BackwardHookFunctionBackward"
    h.remove()
    assert m(x).grad_fn.name() != "BackwardHookFunctionBackward"


def test_in_place_on_a_hooked_output_raises_like_torch():
    messages = []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU(inplace=True))
        seq[0].register_full_backward_hook(lambda *args: None)
        with pytest.raises(RuntimeError) as info:
            seq(lib.ones(3, requires_grad=True))
        messages.append(str(info.value))
        m = tuple_out(nn)
        m.register_full_backward_hook(lambda *args: None)
        out = m(lib.ones(2, 4, requires_grad=True))
        with pytest.raises(RuntimeError) as info:
            out[2].add_(1)
        messages.append(str(info.value))
        with lib.no_grad():
            out[2].add_(1)  # allowed without grad mode
    for torch_message, ember_message in zip(messages[:2], messages[2:]):  # the same case, in ember's words
        head = "is a view and is being modified inplace."
        assert torch_message.split(head)[0] == ember_message.split(head)[0]
    assert messages[2].startswith("Output 0 of BackwardHookFunction is a view and is being modified inplace.")
    assert "clone" in messages[2]
    assert messages[3].startswith("Output 1 of BackwardHookFunction is a view and is being modified inplace.")
    assert "several tensors" in messages[3] and "multiple views" in messages[1]


def test_in_place_on_a_hooked_input_inside_forward_raises_like_torch():
    def case(nn):
        class Doubler(nn.Module):
            def forward(self, x, n):
                x.mul_(2)
                return x * n
        return Doubler()
    messages = []
    for nn in (tnn, enn):
        lib = lib_of(nn)
        m = case(nn)
        m.register_full_backward_hook(lambda *args: None)
        with pytest.raises(RuntimeError) as info:
            m(lib.ones(3, requires_grad=True) * 1, lib.ones(3))
        messages.append(str(info.value))
    head = "is a view and is being modified inplace."
    assert head in messages[1] and messages[1].split(head)[0] == messages[0].split(head)[0]
