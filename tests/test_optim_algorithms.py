"""Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam and RAdam against PyTorch."""
import copy
import itertools

import numpy as np
import pytest
import torch

import ember
from ember.optim.adadelta import Adadelta
from ember.optim.adagrad import Adagrad
from ember.optim.adam import Adam, AdamW
from ember.optim.adamax import Adamax
from ember.optim.nadam import NAdam
from ember.optim.radam import RAdam
from ember.optim.rmsprop import RMSprop

EMBER = {cls.__name__: cls for cls in (Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam)}
NAMES = list(EMBER)


def optim_cls(lib, name):
    return EMBER[name] if lib is ember else getattr(torch.optim, name)


def make_params(lib, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal(6).astype(np.float32),
              rng.standard_normal((2, 6)).astype(np.float32)]
    return [lib.tensor(a, requires_grad=True) for a in arrays]


def loss_fn(lib, params, step):
    w1, b1, w2 = params[:3]
    x = lib.tensor(np.random.default_rng(100 + step).standard_normal((8, 3)).astype(np.float32))
    h = (x @ w1.t() + b1).tanh()
    return ((h @ w2.t() - 0.5) ** 2).mean()


def train(lib, opt, params, steps, start=0, skip=()):
    """Run steps; parameters listed in `skip` get no gradient. Returns the parameters after every step."""
    history = []
    for step in range(start, start + steps):
        opt.zero_grad()
        loss_fn(lib, params, step).backward()
        for i in skip:
            params[i].grad = None
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history


def assert_histories_close(eh, th):
    for step, (es, ts) in enumerate(zip(eh, th)):
        for i, (e, t) in enumerate(zip(es, ts)):
            np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6, err_msg=f"step {step}, parameter {i}")


def both(name, kwargs, groups=None, steps=8, skip=()):
    """The same training run in ember and torch: (optimizer, params, history) for each."""
    out = []
    for lib in (ember, torch):
        params = make_params(lib)
        arg = params if groups is None else groups(params)
        opt = optim_cls(lib, name)(arg, **kwargs)
        out.append((opt, params, train(lib, opt, params, steps, skip=skip)))
    return out


def grid(name, **options):
    keys = list(options)
    return [(name, dict(zip(keys, values))) for values in itertools.product(*options.values())]


GRID = (
    grid("Adam", lr=(0.01,), weight_decay=(0, 0.1), amsgrad=(False, True), maximize=(False, True))
    + grid("Adam", betas=((0.5, 0.9),), weight_decay=(0.1,), decoupled_weight_decay=(True,))
    + grid("AdamW", lr=(0.01,), weight_decay=(0, 1e-2, 0.1), amsgrad=(False, True), maximize=(False, True))
    + grid("RMSprop", lr=(0.01,), momentum=(0, 0.9), centered=(False, True), weight_decay=(0, 0.1),
           maximize=(False, True))
    + grid("RMSprop", alpha=(0.5,), eps=(1e-3,))
    + grid("Adagrad", lr=(0.1,), lr_decay=(0, 0.1), weight_decay=(0, 0.1), initial_accumulator_value=(0, 0.5),
           maximize=(False, True))
    + grid("Adadelta", lr=(1.0, 0.5), rho=(0.9, 0.5), weight_decay=(0, 0.1), maximize=(False, True))
    + grid("Adamax", betas=((0.9, 0.999), (0.3, 0.9)), weight_decay=(0, 0.1), maximize=(False, True))
    + grid("NAdam", weight_decay=(0, 0.1), decoupled_weight_decay=(False, True), momentum_decay=(4e-3, 0.1),
           maximize=(False, True))
    + grid("RAdam", lr=(0.01,), betas=((0.9, 0.999), (0.5, 0.9)), weight_decay=(0, 0.1),
           decoupled_weight_decay=(False, True), maximize=(False, True))
)

# one configuration per optimizer with most options switched on, for the structural tests
FULL = {
    "Adam": dict(lr=0.01, weight_decay=0.1, amsgrad=True),
    "AdamW": dict(lr=0.01, amsgrad=True),
    "RMSprop": dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
    "Adagrad": dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
    "Adadelta": dict(weight_decay=0.1),
    "Adamax": dict(weight_decay=0.1),
    "NAdam": dict(weight_decay=0.1, momentum_decay=0.1),
    "RAdam": dict(lr=0.01, weight_decay=0.1, betas=(0.5, 0.9)),
}


def case_id(case):
    name, kwargs = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_trajectory_matches_torch(case):
    (eo, _, eh), (to, _, th) = both(*case)
    assert_histories_close(eh, th)
    # the flat fast path was taken
    assert eo._flat and all(getattr(flat, "scalars", None) is not None for flat in eo._flat.values())


def assert_state_dicts_match(es, ts):
    assert es["param_groups"] == ts["param_groups"]
    assert list(es["state"]) == list(ts["state"])
    for k, t_state in ts["state"].items():
        e_state = es["state"][k]
        assert list(e_state) == list(t_state)
        for n, tv in t_state.items():
            ev = e_state[n]
            assert isinstance(ev, ember.Tensor)
            assert tuple(ev.shape) == tuple(tv.shape) and str(ev.dtype) == str(tv.dtype), n
            np.testing.assert_allclose(ev.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("name", NAMES)
def test_repr_defaults_and_two_param_groups(name):
    kwargs = FULL[name]

    def groups(p):
        return [{"params": p[:1]}, {"params": p[1:], "lr": kwargs.get("lr", 1e-3) * 0.5}]

    (eo, _, eh), (to, _, th) = both(name, kwargs, groups)
    assert repr(eo) == repr(to)
    assert eo.defaults == to.defaults
    assert repr(optim_cls(ember, name)(make_params(ember))) == repr(optim_cls(torch, name)(make_params(torch)))
    assert_histories_close(eh, th)
    assert_state_dicts_match(eo.state_dict(), to.state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_parameter_without_grad_is_skipped(name):
    results = []
    for lib in (ember, torch):
        params = make_params(lib)
        extra = lib.zeros(3, requires_grad=True)
        opt = optim_cls(lib, name)(params + [extra], **FULL[name])
        results.append((opt, train(lib, opt, params, 4), extra))
    (eo, eh, ee), (to, th, te) = results
    assert_histories_close(eh, th)
    assert ee.tolist() == [0.0, 0.0, 0.0]
    assert (ee in eo.state) == (te in to.state)  # only Adagrad creates state up front
    assert_state_dicts_match(eo.state_dict(), to.state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_parameter_that_skipped_steps_keeps_its_own_step_count(name):
    # parameter 2 has no gradient for the first two steps, so its step count lags behind
    results = []
    for lib in (ember, torch):
        params = make_params(lib)
        opt = optim_cls(lib, name)(params, **FULL[name])
        history = train(lib, opt, params, 2, skip=(2,)) + train(lib, opt, params, 4, start=2)
        results.append((opt, history))
    (eo, eh), (to, th) = results
    assert_histories_close(eh, th)
    assert_state_dicts_match(eo.state_dict(), to.state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_flat_and_per_parameter_paths_agree(name):
    # a float64 parameter in the group forces the per-parameter fallback
    flat_params = make_params(ember)
    mixed = make_params(ember) + [ember.zeros(1, dtype=ember.float64, requires_grad=True)]
    for params in (flat_params, mixed):
        opt = EMBER[name](params, **FULL[name])
        for step in range(5):
            opt.zero_grad()
            (loss_fn(ember, params, step) + params[-1].sum() * 0).backward()
            opt.step()
    for a, b in zip(flat_params, mixed):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    kwargs = FULL[name]

    def trajectory(interrupt):
        params = make_params(ember)
        opt = EMBER[name](params, **kwargs)
        train(ember, opt, params, 3)
        if interrupt:
            saved = copy.deepcopy(opt.state_dict())
            params = [ember.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
            opt = EMBER[name](params, **kwargs)
            opt.load_state_dict(saved)
        return train(ember, opt, params, 4, start=3), opt

    (plain, plain_opt), (resumed, resumed_opt) = trajectory(False), trajectory(True)
    # the loaded state was moved into flat buffers: the fast path resumed
    assert resumed_opt._flat and all(getattr(f, "scalars", None) is not None for f in resumed_opt._flat.values())
    for a, b in zip(plain, resumed):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    for p, q in zip(plain_opt.state.values(), resumed_opt.state.values()):
        assert list(p) == list(q)
        for n in p:
            np.testing.assert_array_equal(p[n].numpy(), q[n].numpy())


@pytest.mark.parametrize("name", NAMES)
def test_loading_a_torch_state_dict_continues_like_torch(name):
    kwargs = FULL[name]
    tp = make_params(torch)
    to = optim_cls(torch, name)(tp, **kwargs)
    train(torch, to, tp, 3)
    sd = to.state_dict()
    converted = {"state": {k: {n: ember.tensor(v.numpy()) for n, v in s.items()} for k, s in sd["state"].items()},
                 "param_groups": copy.deepcopy(sd["param_groups"])}
    ep = [ember.tensor(p.detach().numpy(), requires_grad=True) for p in tp]
    eo = EMBER[name](ep, **kwargs)
    eo.load_state_dict(converted)
    eh, th = train(ember, eo, ep, 4, start=3), train(torch, to, tp, 4, start=3)
    assert_histories_close(eh, th)
    assert_state_dicts_match(eo.state_dict(), to.state_dict())


INVALID = [
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1e-8)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, 1.0))), ("Adam", dict(betas=(-0.1, 0.9))), ("Adam", dict(weight_decay=-1)),
    ("Adam", dict(lr=float("nan"))), ("AdamW", dict(lr=-1)), ("AdamW", dict(weight_decay=-0.5)),
    ("AdamW", dict(betas=(0.9, 1.5))),
    ("RMSprop", dict(lr=-1)), ("RMSprop", dict(eps=-1)), ("RMSprop", dict(momentum=-1)),
    ("RMSprop", dict(weight_decay=-1)), ("RMSprop", dict(alpha=-1)),
    ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-1)), ("Adagrad", dict(weight_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1)),
    ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=1.1)), ("Adadelta", dict(rho=-1)), ("Adadelta", dict(eps=-1)),
    ("Adadelta", dict(weight_decay=-1)),
    ("Adamax", dict(lr=-1)), ("Adamax", dict(eps=-1)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, 1.0))), ("Adamax", dict(weight_decay=-1)),
    ("NAdam", dict(lr=-1)), ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(weight_decay=-1)),
    ("NAdam", dict(momentum_decay=-1)), ("NAdam", dict(eps=-1)),
    ("RAdam", dict(lr=-1)), ("RAdam", dict(eps=-1)), ("RAdam", dict(betas=(1.0, 0.9))),
    ("RAdam", dict(weight_decay=-1)),
    # several invalid at once: the same one is reported first
    ("Adam", dict(lr=-1, eps=-1, weight_decay=-1)), ("Adagrad", dict(weight_decay=-1, eps=-1)),
    ("RMSprop", dict(alpha=-1, momentum=-1)),
    ("Adam", dict(fused=True, foreach=True)), ("Adam", dict(fused=True, differentiable=True)),
    ("Adagrad", dict(fused=True, foreach=True)),
]


@pytest.mark.parametrize("case", INVALID, ids=case_id)
def test_invalid_hyper_parameters_raise_like_torch(case):
    name, kwargs = case
    with pytest.raises(Exception) as expected:
        optim_cls(torch, name)(make_params(torch), **kwargs)
    with pytest.raises(expected.type) as got:
        EMBER[name](make_params(ember), **kwargs)
    assert str(got.value) == str(expected.value)
