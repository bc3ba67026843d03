"""Optimizer base behaviour and SGD against PyTorch."""
import copy
import itertools

import numpy as np
import pytest
import torch

import ember
import ember.optim as eoptim


def make_params(lib, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32),
              rng.standard_normal((2, 4)).astype(np.float32)]
    return [lib.tensor(a, requires_grad=True) for a in arrays]


def loss_fn(lib, params, step):
    w1, b1, w2 = params
    x = lib.tensor(np.random.default_rng(100 + step).standard_normal((5, 3)).astype(np.float32))
    h = (x @ w1.t() + b1).tanh()
    return ((h @ w2.t()) ** 2).mean()


def run(lib, optim_cls, kwargs, steps=8, params=None):
    params = params or make_params(lib)
    opt = optim_cls(params, **kwargs)
    history = []
    for step in range(steps):
        opt.zero_grad()
        loss_fn(lib, params, step).backward()
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return opt, params, history


SGD_GRID = [dict(lr=0.02 if mx else 0.1, momentum=m, dampening=d, weight_decay=wd, nesterov=n, maximize=mx)
            for m, d, wd, n, mx in itertools.product((0, 0.9), (0, 0.2), (0, 0.01), (False, True), (False, True))
            if not (n and (m == 0 or d != 0))]


@pytest.mark.parametrize("kwargs", SGD_GRID, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_trajectory_matches_torch(kwargs):
    _, _, eh = run(ember, eoptim.SGD, kwargs)
    _, _, th = run(torch, torch.optim.SGD, kwargs)
    for step, (es, ts) in enumerate(zip(eh, th)):
        for e, t in zip(es, ts):
            np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")


def test_repr_and_defaults_match_torch():
    ep, tp = make_params(ember), make_params(torch)
    eo = eoptim.SGD([{"params": ep[:1]}, {"params": ep[1:], "lr": 0.5}], lr=0.1, momentum=0.9)
    to = torch.optim.SGD([{"params": tp[:1]}, {"params": tp[1:], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert repr(eo) == repr(to)
    assert eo.defaults == to.defaults


def test_param_group_options_and_state_dict_structure():
    eo, ep, _ = run(ember, eoptim.SGD, dict(lr=0.1, momentum=0.9), steps=2)
    to, tp, _ = run(torch, torch.optim.SGD, dict(lr=0.1, momentum=0.9), steps=2)
    es, ts = eo.state_dict(), to.state_dict()
    assert es["param_groups"] == ts["param_groups"]
    assert es["state"].keys() == ts["state"].keys()
    for k in ts["state"]:
        np.testing.assert_allclose(es["state"][k]["momentum_buffer"].numpy(), ts["state"][k]["momentum_buffer"].numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_continues_identically():
    def trajectory(interrupt):
        params = make_params(ember)
        opt = eoptim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)
        for step in range(6):
            if interrupt and step == 3:
                saved_params = [p.detach().clone() for p in params]
                saved = copy.deepcopy(opt.state_dict())
                params = [ember.tensor(p.numpy(), requires_grad=True) for p in saved_params]
                opt = eoptim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)
                opt.load_state_dict(saved)
            opt.zero_grad()
            loss_fn(ember, params, step).backward()
            opt.step()
        return [p.detach().numpy() for p in params]

    for a, b in zip(trajectory(False), trajectory(True)):
        np.testing.assert_array_equal(a, b)


def test_loading_a_torch_state_dict_continues_like_torch():
    to, tp, _ = run(torch, torch.optim.SGD, dict(lr=0.1, momentum=0.9), steps=3)
    sd = to.state_dict()
    converted = {"state": {k: {n: ember.tensor(v.numpy()) for n, v in s.items()} for k, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    ep = [ember.tensor(p.detach().numpy(), requires_grad=True) for p in tp]
    eo = eoptim.SGD(ep, lr=0.1, momentum=0.9)
    eo.load_state_dict(converted)
    for step in range(3, 6):
        for lib, params, opt in ((torch, tp, to), (ember, ep, eo)):
            opt.zero_grad()
            loss_fn(lib, params, step).backward()
            opt.step()
    for e, t in zip(ep, tp):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_parameter_without_grad_is_skipped_and_gets_no_state():
    params = make_params(ember)
    extra = ember.zeros(3, requires_grad=True)
    opt = eoptim.SGD(params + [extra], lr=0.1, momentum=0.9)
    loss_fn(ember, params, 0).backward()
    opt.step()
    assert extra.tolist() == [0.0, 0.0, 0.0] and extra not in opt.state
    assert all(p in opt.state for p in params)


def test_flat_and_per_parameter_paths_agree():
    # a float64 parameter in the group forces the per-parameter fallback
    flat_params = make_params(ember)
    mixed = make_params(ember) + [ember.zeros(1, dtype=ember.float64, requires_grad=True)]
    for params in (flat_params, mixed):
        opt = eoptim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
        for step in range(4):
            opt.zero_grad()
            (loss_fn(ember, params[:3], step) + params[-1].sum() * 0).backward()
            opt.step()
    for a, b in zip(flat_params, mixed):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_parameters_stay_usable_after_flattening():
    import ember.nn as nn

    model = nn.Linear(3, 2)
    opt = eoptim.SGD(model.parameters(), lr=0.1)
    model(ember.ones(1, 3)).sum().backward()
    before = model.weight.detach().clone()
    opt.step()
    assert not np.array_equal(before.numpy(), model.weight.detach().numpy())
    state = model.state_dict()
    model.weight.data.fill_(1.0)  # writes through the parameter's view reach the optimizer's memory
    model.zero_grad()
    model(ember.ones(1, 3)).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), 1.0 - 0.1)
    assert state["weight"].shape == (2, 3)


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    params = make_params(ember)
    opt = eoptim.SGD(params, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = loss_fn(ember, params, 0)
        loss.backward()
        return loss

    with ember.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, ember.Tensor) and loss.grad_fn is not None


def test_zero_grad_set_to_none_and_to_zero():
    params = make_params(ember)
    opt = eoptim.SGD(params, lr=0.1)
    loss_fn(ember, params, 0).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("make,error", [
    (lambda p: eoptim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: eoptim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value"),
    (lambda p: eoptim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value"),
    (lambda p: eoptim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: eoptim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
    (lambda p: eoptim.SGD([{"params": p}, {"params": p[:1]}], lr=0.1), "more than one parameter group"),
])
def test_invalid_arguments_raise_value_error(make, error):
    with pytest.raises(ValueError, match=error):
        make(make_params(ember))


def test_non_leaf_and_set_inputs_are_rejected():
    p = make_params(ember)
    with pytest.raises(ValueError, match="non-leaf"):
        eoptim.SGD([p[0] * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        eoptim.SGD([{"params": set(p)}], lr=0.1)
