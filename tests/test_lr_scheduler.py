"""ember.optim.lr_scheduler against torch.optim.lr_scheduler.

Each scheduler drives an ember SGD and a torch SGD (two param groups, different base lrs) in
lockstep; after every step get_last_lr() and each group's lr (and cycled momentum/betas) must
agree to rel 1e-12 (in practice they are bit-identical, the formulas being evaluated alike).
"""
import copy
import math
import random
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as TLS

import ember
import ember.optim
from ember.optim import lr_scheduler as ELS

LRS = (0.1, 0.03)
STEPS = 100


def _close(a, b):
    return a == b or math.isclose(a, b, rel_tol=1e-12)


def _sgd(lib, lrs=LRS, **kw):
    """An SGD over one 3-vector parameter per group; returns (optimizer, params)."""
    if lib is torch:
        params = [torch.nn.Parameter(torch.zeros(3)) for _ in lrs]
        return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], **kw), params
    params = [ember.zeros(3, requires_grad=True) for _ in lrs]
    return ember.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], **kw), params


def _set_grads(lib, params, i):
    for k, p in enumerate(params):
        g = np.full(3, math.sin(i + k), np.float32)
        p.grad = torch.tensor(g) if lib is torch else ember.tensor(g)


def _compare(t_sched, e_sched, t_opt, e_opt, keys, where):
    t_last, e_last = t_sched.get_last_lr(), e_sched.get_last_lr()
    assert len(t_last) == len(e_last) == len(t_opt.param_groups)
    for a, b in zip(t_last, e_last):
        assert _close(a, b), f"{where}: get_last_lr {t_last} != {e_last}"
    for tg, eg in zip(t_opt.param_groups, e_opt.param_groups):
        # the scheduler added the same entries (initial_lr, max_lr, ...)
        assert set(tg) == set(eg), f"{where}: group keys differ: {set(tg) ^ set(eg)}"
        for key in keys:
            a, b = tg[key], eg[key]
            if key == "betas":
                assert a[1:] == b[1:]
                a, b = a[0], b[0]
            assert _close(a, b), f"{where}: group[{key!r}] {a} != {b}"


def _lockstep(build, steps=STEPS, metrics=None, keys=("lr",), opt_kw=None):
    """Build the scheduler on an ember and a torch SGD, step both `steps` times, compare after each.

    Both libraries must also emit the same warnings (normally none: the optimizer steps first)."""
    opt_kw = opt_kw or {}
    t_opt, t_params = _sgd(torch, **opt_kw)
    e_opt, e_params = _sgd(ember, **opt_kw)
    t_warn, e_warn = _Recorder(), _Recorder()
    t_sched = t_warn(build, TLS, t_opt)
    e_sched = e_warn(build, ELS, e_opt)
    _compare(t_sched, e_sched, t_opt, e_opt, keys, "construction")
    for i in range(steps):
        for lib, opt, params, sched, rec in ((torch, t_opt, t_params, t_sched, t_warn),
                                             (ember, e_opt, e_params, e_sched, e_warn)):
            _set_grads(lib, params, i)
            opt.step()
            rec(sched.step, *(() if metrics is None else (metrics[i],)))
        _compare(t_sched, e_sched, t_opt, e_opt, keys, f"step {i}")
    assert e_warn.messages == t_warn.messages
    # the lrs drove the optimizers identically
    for tp, ep in zip(t_params, e_params):
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert list(t_sched.state_dict()) == list(e_sched.state_dict())
    return t_sched, e_sched


class _Recorder:
    """Calls a function, collecting the texts of the warnings it emits."""

    def __init__(self):
        self.messages = []

    def __call__(self, fn, *args):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn(*args)
        self.messages += [str(w.message) for w in caught]
        return result


class _Both:
    """Two schedulers on one optimizer, stepped one after the other (PyTorch's chainable use)."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def step(self):
        self.first.step()
        self.second.step()

    def get_last_lr(self):
        return self.second.get_last_lr()

    def state_dict(self):
        return {"first": self.first.state_dict(), "second": self.second.state_dict()}


CASES = {
    "lambda": lambda L, o: L.LambdaLR(o, lambda e: 0.97 ** e),
    "lambda_per_group": lambda L, o: L.LambdaLR(o, [lambda e: 0.97 ** e, lambda e: 1 / (e + 1)]),
    "multiplicative": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95),
    "step": lambda L, o: L.StepLR(o, 7, 0.5),
    "step_default_gamma": lambda L, o: L.StepLR(o, 30),
    "multistep": lambda L, o: L.MultiStepLR(o, [10, 20, 20, 55], 0.3),
    "constant_defaults": lambda L, o: L.ConstantLR(o),
    "constant": lambda L, o: L.ConstantLR(o, 0.3, 17),
    "linear_defaults": lambda L, o: L.LinearLR(o),
    "linear": lambda L, o: L.LinearLR(o, 0.1, 0.7, 60),
    "linear_decay": lambda L, o: L.LinearLR(o, 1.0, 0.05, 33),
    "exponential": lambda L, o: L.ExponentialLR(o, 0.93),
    "polynomial_defaults": lambda L, o: L.PolynomialLR(o),
    "polynomial": lambda L, o: L.PolynomialLR(o, 70, 2.5),
    "cosine": lambda L, o: L.CosineAnnealingLR(o, 30),
    "cosine_eta_min": lambda L, o: L.CosineAnnealingLR(o, 17, 0.001),
    "cosine_long": lambda L, o: L.CosineAnnealingLR(o, 100, 0.01),
    "warm_restarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, 10),
    "warm_restarts_mult": lambda L, o: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.005),
    "cyclic": lambda L, o: L.CyclicLR(o, 0.001, 0.1, 7, cycle_momentum=False),
    "cyclic_triangular2": lambda L, o: L.CyclicLR(o, [0.001, 0.002], [0.1, 0.05], 5, 11, mode="triangular2",
                                                 cycle_momentum=False),
    "cyclic_exp_range": lambda L, o: L.CyclicLR(o, 0.001, 0.1, 6, mode="exp_range", gamma=0.98,
                                               cycle_momentum=False),
    "cyclic_scale_fn_iterations": lambda L, o: L.CyclicLR(o, 0.001, 0.1, 6, scale_fn=lambda x: 0.5 ** x,
                                                         scale_mode="iterations", cycle_momentum=False),
    "cyclic_scale_fn_cycle": lambda L, o: L.CyclicLR(o, 0.001, 0.1, 4, scale_fn=lambda x: 1 / x,
                                                    cycle_momentum=False),
    "onecycle": lambda L, o: L.OneCycleLR(o, 0.1, 100, cycle_momentum=False),
    "onecycle_linear": lambda L, o: L.OneCycleLR(o, [0.1, 0.2], epochs=10, steps_per_epoch=10,
                                                anneal_strategy="linear", cycle_momentum=False, pct_start=0.25,
                                                div_factor=10.0, final_div_factor=100.0),
    "onecycle_three_phase": lambda L, o: L.OneCycleLR(o, 0.1, 100, three_phase=True, cycle_momentum=False),
    "onecycle_three_phase_linear": lambda L, o: L.OneCycleLR(o, 0.1, 150, three_phase=True,
                                                            anneal_strategy="linear", cycle_momentum=False),
    "sequential": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, 0.1, total_iters=10), L.CosineAnnealingLR(o, 40), L.ExponentialLR(o, 0.9)], [10, 50]),
    "sequential_mixed": lambda L, o: L.SequentialLR(
        o, [L.ConstantLR(o, 0.5, 5), L.MultiplicativeLR(o, lambda e: 0.9), L.CosineAnnealingWarmRestarts(o, 7),
            L.StepLR(o, 5)], [10, 30, 60]),
    "sequential_cyclic": lambda L, o: L.SequentialLR(
        o, [L.ExponentialLR(o, 0.95), L.CyclicLR(o, 0.01, 0.1, 5, cycle_momentum=False)], [20]),
    "chained": lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.1, 20), L.ExponentialLR(o, 0.9)]),
    "chained_three": lambda L, o: L.ChainedScheduler(
        [L.LinearLR(o, 0.2, total_iters=10), L.CosineAnnealingLR(o, 50, 0.001), L.MultiStepLR(o, [30, 70])], o),
    "two_schedulers_one_optimizer": lambda L, o: _Both(L.ExponentialLR(o, 0.97), L.StepLR(o, 9, 0.5)),
    "two_schedulers_cosine_multistep": lambda L, o: _Both(L.CosineAnnealingLR(o, 25), L.MultiStepLR(o, [40, 80])),
    "sequential_of_chained": lambda L, o: L.SequentialLR(
        o, [L.ChainedScheduler([L.ConstantLR(o, 0.5, 5), L.ExponentialLR(o, 0.9)]), L.StepLR(o, 4)], [12]),
    "chained_of_sequential": lambda L, o: L.ChainedScheduler(
        [L.SequentialLR(o, [L.ConstantLR(o, 0.5, 5), L.ExponentialLR(o, 0.9)], [8]), L.StepLR(o, 4)]),
    "sequential_of_sequential": lambda L, o: L.SequentialLR(
        o, [L.SequentialLR(o, [L.ConstantLR(o, 0.5, 5), L.ExponentialLR(o, 0.9)], [8]), L.LinearLR(o, 0.3)], [20]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lockstep(name):
    _lockstep(CASES[name])


MOMENTUM_CASES = {
    "cyclic": lambda L, o: L.CyclicLR(o, 0.001, 0.1, 7),
    "cyclic_exp_range_lists": lambda L, o: L.CyclicLR(o, 0.001, 0.1, 5, 9, mode="exp_range", gamma=0.99,
                                                     base_momentum=[0.7, 0.75], max_momentum=[0.95, 0.9]),
    "onecycle": lambda L, o: L.OneCycleLR(o, 0.1, 100),
    "onecycle_three_phase": lambda L, o: L.OneCycleLR(o, 0.1, 100, three_phase=True, base_momentum=0.8,
                                                     max_momentum=0.9),
}


@pytest.mark.parametrize("name", list(MOMENTUM_CASES))
def test_momentum_cycling(name):
    _lockstep(MOMENTUM_CASES[name], keys=("lr", "momentum"), opt_kw=dict(momentum=0.9))


@pytest.mark.parametrize("name", ["cyclic", "onecycle"])
def test_beta1_cycling(name):
    """With an Adam (which has betas, not momentum) the schedulers cycle beta1."""
    build = MOMENTUM_CASES[name]
    t_params = [torch.nn.Parameter(torch.zeros(3)) for _ in LRS]
    e_params = [ember.zeros(3, requires_grad=True) for _ in LRS]
    t_opt = torch.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip(t_params, LRS)])
    e_opt = ember.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip(e_params, LRS)])
    t_sched, e_sched = build(TLS, t_opt), build(ELS, e_opt)
    _compare(t_sched, e_sched, t_opt, e_opt, ("lr", "betas"), "construction")
    for i in range(STEPS):
        _set_grads(torch, t_params, i)
        _set_grads(ember, e_params, i)
        t_opt.step()
        e_opt.step()
        t_sched.step()
        e_sched.step()
        _compare(t_sched, e_sched, t_opt, e_opt, ("lr", "betas"), f"step {i}")
    assert e_sched.use_beta1 and "momentum" not in e_opt.param_groups[0]
    for tp, ep in zip(t_params, e_params):
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


# A metric that improves, stalls (reductions every patience + cooldown + 1 steps down to min_lr),
# improves once more, then wobbles within the threshold.
_rng = np.random.default_rng(0)
METRICS = list(np.concatenate([np.linspace(1.0, 0.5, 10), np.full(40, 0.5), [0.3], np.full(20, 0.3),
                               0.3 + _rng.random(29) * 1e-5]))

PLATEAU_CASES = {
    "short_patience": lambda L, o, mode: L.ReduceLROnPlateau(o, mode, patience=3),
    "abs_cooldown_min_lr_list": lambda L, o, mode: L.ReduceLROnPlateau(o, mode, 0.5, 2, 0.01, "abs", cooldown=3,
                                                                       min_lr=[0.01, 0.002]),
    "rel_cooldown_eps": lambda L, o, mode: L.ReduceLROnPlateau(o, mode, 0.5, 1, 0.1, "rel", cooldown=2,
                                                               min_lr=1e-4, eps=1e-3),
    "no_patience": lambda L, o, mode: L.ReduceLROnPlateau(o, mode, 0.3, 0, 0.001, "abs"),
    # with no threshold an equal metric is no improvement
    "abs_zero_threshold": lambda L, o, mode: L.ReduceLROnPlateau(o, mode, 0.5, 2, 0.0, "abs"),
    "rel_zero_threshold": lambda L, o, mode: L.ReduceLROnPlateau(o, mode, 0.5, 2, 0.0, "rel"),
}


@pytest.mark.parametrize("name", list(PLATEAU_CASES))
@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_on_plateau(name, mode):
    metrics = METRICS if mode == "min" else [2.0 - m for m in METRICS]  # 'max': the mirror image
    _, e_sched = _lockstep(lambda L, o: PLATEAU_CASES[name](L, o, mode), metrics=metrics)
    assert e_sched.mode == mode
    assert e_sched.get_last_lr()[0] < 0.1 * 0.5 ** 3  # several reductions happened


def test_plateau_cooldown_and_min_lr():
    opt, _ = _sgd(ember)
    sched = ELS.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=3, min_lr=[0.01, 0.002])
    changes, prev = [], opt.param_groups[0]["lr"]
    for i, m in enumerate([1.0] * 40):
        sched.step(m)
        if sched.get_last_lr()[0] != prev:
            changes.append(i)
            prev = sched.get_last_lr()[0]
    # first reduction after patience + 1 bad epochs, then every cooldown + patience + 1
    assert changes == [3, 9, 15, 21]
    assert sched.get_last_lr() == [0.01, 0.002]


@pytest.mark.parametrize("lib,L", [(torch, TLS), (ember, ELS)], ids=["torch", "ember"])
def test_plateau_tensor_metric_and_added_groups(lib, L):
    opt, _ = _sgd(lib)
    sched = L.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0])
    sched.step(lib.tensor(1.0))
    sched.step(lib.tensor(2.0))
    assert sched.get_last_lr() == [0.1 * 0.1, 0.03 * 0.1]
    opt.add_param_group({"params": [lib.zeros(1, requires_grad=True)], "lr": 0.5})
    with pytest.raises(RuntimeError, match=r"^The number of param groups in the `optimizer` \(3\) differs from "
                                           r"when `ReduceLROnPlateau` was initialized \(2\)"):
        sched.step(3.0)
    opt, _ = _sgd(lib)
    sched = L.ReduceLROnPlateau(opt, patience=0, min_lr=0.001)  # a scalar min_lr covers added groups
    opt.add_param_group({"params": [lib.zeros(1, requires_grad=True)], "lr": 0.5})
    sched.step(1.0)
    sched.step(2.0)
    assert sched.min_lrs == [0.001] * 3 and sched.get_last_lr() == [0.1 * 0.1, 0.03 * 0.1, 0.5 * 0.1]


RESUME_CASES = {
    "lambda": lambda L, o, le: L.LambdaLR(o, lambda e: 0.97 ** e, last_epoch=le),
    "multiplicative": lambda L, o, le: L.MultiplicativeLR(o, lambda e: 0.95, last_epoch=le),
    "step": lambda L, o, le: L.StepLR(o, 7, 0.5, last_epoch=le),
    "multistep": lambda L, o, le: L.MultiStepLR(o, [10, 20, 20, 55], 0.3, last_epoch=le),
    "constant": lambda L, o, le: L.ConstantLR(o, 0.3, 17, last_epoch=le),
    "linear": lambda L, o, le: L.LinearLR(o, 0.1, 0.7, 20, last_epoch=le),
    "exponential": lambda L, o, le: L.ExponentialLR(o, 0.93, last_epoch=le),
    "polynomial": lambda L, o, le: L.PolynomialLR(o, 20, 2.5, last_epoch=le),
    "cosine": lambda L, o, le: L.CosineAnnealingLR(o, 17, 0.001, last_epoch=le),
    "warm_restarts": lambda L, o, le: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.005, last_epoch=le),
    "cyclic": lambda L, o, le: L.CyclicLR(o, 0.001, 0.1, 7, last_epoch=le),
    "onecycle": lambda L, o, le: L.OneCycleLR(o, 0.1, 100, last_epoch=le),
}


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_resume_with_last_epoch(name):
    """last_epoch >= 0 resumes from the groups' initial_lr (and the group keys OneCycleLR/CyclicLR use)."""
    for last_epoch in (0, 1, 4, 30):
        def build(L, o):
            for group in o.param_groups:
                group.update(initial_lr=group["lr"] * 2, max_lr=0.2, min_lr=1e-4, max_momentum=0.95,
                             base_momentum=0.8)
            return RESUME_CASES[name](L, o, last_epoch)

        _lockstep(build, steps=40, keys=("lr", "momentum"), opt_kw=dict(momentum=0.5))


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_step_with_epoch(name):
    """The deprecated step(epoch) jumps with the closed form (fractional epochs for warm restarts)."""
    build = RESUME_CASES[name]
    for seed in range(3):
        rnd = random.Random(seed)
        t_opt, _ = _sgd(torch, momentum=0.5)
        e_opt, _ = _sgd(ember, momentum=0.5)
        t_sched, e_sched = build(TLS, t_opt, -1), build(ELS, e_opt, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(30):
                epoch = rnd.choice([None, None, rnd.randint(0, 60)])
                if name == "warm_restarts" and rnd.random() < 0.5:
                    epoch = rnd.random() * 40
                if name == "onecycle" and epoch is not None:
                    epoch = min(epoch, 90)
                t_sched.step(epoch)
                e_sched.step(epoch)
                _compare(t_sched, e_sched, t_opt, e_opt, ("lr", "momentum"), f"step {i} epoch {epoch}")
                assert t_sched.last_epoch == e_sched.last_epoch


def test_warm_restarts_fractional_epochs():
    t_opt, _ = _sgd(torch)
    e_opt, _ = _sgd(ember)
    t_sched = TLS.CosineAnnealingWarmRestarts(t_opt, T_0=4, T_mult=2, eta_min=1e-3)
    e_sched = ELS.CosineAnnealingWarmRestarts(e_opt, T_0=4, T_mult=2, eta_min=1e-3)
    iters = 7
    for epoch in range(30):
        for i in range(iters):
            t_sched.step(epoch + i / iters)
            e_sched.step(epoch + i / iters)
            _compare(t_sched, e_sched, t_opt, e_opt, ("lr",), f"epoch {epoch} batch {i}")
            assert (e_sched.T_cur, e_sched.T_i, e_sched.last_epoch) == (t_sched.T_cur, t_sched.T_i, t_sched.last_epoch)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        e_sched.step(-1)


def _sd_equal(a, b, path="state_dict"):
    """Same keys in the same order, same types and values, recursively."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, list(a), list(b))
        for key in a:
            _sd_equal(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), (path, a, b)
        for x, y in zip(a, b):
            _sd_equal(x, y, path)
    else:
        assert type(a) is type(b) and (a == b or _close(a, b)), (path, a, b)


class Warmup:
    """A callable object: LambdaLR saves its __dict__ (plain functions are not saved)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


class Halving:
    def __init__(self, base):
        self.base = base

    def __call__(self, x):
        return self.base ** (x - 1)


ROUND_TRIP_CASES = {
    "lambda_object": (lambda L, o: L.LambdaLR(o, [Warmup(10), lambda e: 0.99 ** e]), {}),
    "multiplicative": (lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95), {}),
    "multistep": (CASES["multistep"], {}),
    "cosine": (CASES["cosine_eta_min"], {}),
    "warm_restarts": (CASES["warm_restarts_mult"], {}),
    "cyclic_momentum": (MOMENTUM_CASES["cyclic_exp_range_lists"], dict(momentum=0.9)),
    "cyclic_scale_object": (lambda L, o: L.CyclicLR(o, 0.001, 0.1, 6, scale_fn=Halving(0.5), cycle_momentum=False),
                            {}),
    "onecycle_momentum": (MOMENTUM_CASES["onecycle_three_phase"], dict(momentum=0.9)),
    "sequential": (CASES["sequential_mixed"], {}),
    "chained": (CASES["chained_three"], {}),
    "plateau": (lambda L, o: PLATEAU_CASES["abs_cooldown_min_lr_list"](L, o, "min"), {}),
}


@pytest.mark.parametrize("name", list(ROUND_TRIP_CASES))
def test_state_dict_round_trip(name):
    """Save mid-run (matching torch's state_dict), rebuild, load, and continue exactly like an unbroken run."""
    build, opt_kw = ROUND_TRIP_CASES[name]
    plateau = name == "plateau"

    def advance(sched, opt, steps, start):
        lrs = []
        for i in range(start, start + steps):
            opt.step()
            if plateau:
                sched.step(METRICS[i])
            else:
                sched.step()
            lrs.append((list(sched.get_last_lr()), [dict((k, v) for k, v in g.items() if k != "params")
                                                    for g in opt.param_groups]))
        return lrs

    opt, _ = _sgd(ember, **opt_kw)
    whole = advance(build(ELS, opt), opt, STEPS, 0)

    opt, _ = _sgd(ember, **opt_kw)
    sched = build(ELS, opt)
    first = advance(sched, opt, 40, 0)
    saved = copy.deepcopy(sched.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())

    t_opt, _ = _sgd(torch, **opt_kw)
    t_sched = build(TLS, t_opt)
    for i in range(40):
        t_opt.step()
        if plateau:
            t_sched.step(METRICS[i])
        else:
            t_sched.step()
    _sd_equal(t_sched.state_dict(), saved)

    opt, _ = _sgd(ember, **opt_kw)
    sched = build(ELS, opt)  # scheduler first, then the loads (construction rewrites group["lr"])
    opt.load_state_dict(saved_opt)
    sched.load_state_dict(saved)
    assert first + advance(sched, opt, STEPS - 40, 40) == whole


def test_lambda_state_dict_saves_callable_objects_only():
    opt, _ = _sgd(ember)
    warmup = Warmup(10)
    sched = ELS.LambdaLR(opt, [warmup, lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"epochs": 10}, None]
    assert "optimizer" not in state
    state["lr_lambdas"][0] = {"epochs": 4}
    sched.load_state_dict(state)
    assert warmup.epochs == 4 and sched.lr_lambdas[0] is warmup
    assert "lr_lambdas" in state  # the caller's dict is left whole


def test_initial_lr_and_base_lrs():
    opt, _ = _sgd(ember)
    sched = ELS.StepLR(opt, 3)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS) == sched.base_lrs
    # a second scheduler keeps the first one's initial_lr
    opt.param_groups[0]["lr"] = 0.5
    second = ELS.ExponentialLR(opt, 0.9)
    assert second.base_lrs == list(LRS)
    assert sched.get_last_lr() is sched._last_lr and sched.last_epoch == 0 and sched._step_count == 1


def test_custom_subclass_of_old_name():
    def make(base):
        class Halve(base):
            def get_lr(self):
                return [lr * 0.5 ** (self.last_epoch // 3) for lr in self.base_lrs]
        return Halve

    assert issubclass(ELS._LRScheduler, ELS.LRScheduler)
    _lockstep(lambda L, o: make(L._LRScheduler)(o))
    with pytest.raises(NotImplementedError):
        ELS.LRScheduler(_sgd(ember)[0])


def test_onecycle_steps_past_total_steps():
    for lib, L in ((torch, TLS), (ember, ELS)):
        opt, _ = _sgd(lib)
        sched = L.OneCycleLR(opt, 0.1, total_steps=5)
        for _ in range(5):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match=r"^Tried to step 6 times. The specified number of total steps is 5$"):
            sched.step()


# (id, build(L, make_optimizer), whether the message must match too: not where it shows the optimizer's repr)
ERRORS = [
    ("not_optimizer", lambda L, m: L.StepLR(object(), 3), True),
    ("not_optimizer_cyclic", lambda L, m: L.CyclicLR(3, 0.1, 1), True),
    ("not_optimizer_plateau", lambda L, m: L.ReduceLROnPlateau(3), True),
    ("resume_without_initial_lr", lambda L, m: L.StepLR(m(), 3, last_epoch=4), True),
    ("constant_factor_high", lambda L, m: L.ConstantLR(m(), factor=2), True),
    ("constant_factor_negative", lambda L, m: L.ConstantLR(m(), factor=-1), True),
    ("linear_start_zero", lambda L, m: L.LinearLR(m(), start_factor=0), True),
    ("linear_start_high", lambda L, m: L.LinearLR(m(), start_factor=2), True),
    ("linear_end_high", lambda L, m: L.LinearLR(m(), end_factor=2), True),
    ("linear_end_negative", lambda L, m: L.LinearLR(m(), end_factor=-0.1), True),
    ("lambda_count", lambda L, m: L.LambdaLR(m(), [lambda e: 1]), True),
    ("multiplicative_count", lambda L, m: L.MultiplicativeLR(m(), [lambda e: 1] * 3), True),
    ("multiplicative_not_callable", lambda L, m: L.MultiplicativeLR(m(), 3), True),
    ("warm_T_0", lambda L, m: L.CosineAnnealingWarmRestarts(m(), 0), True),
    ("warm_T_0_float", lambda L, m: L.CosineAnnealingWarmRestarts(m(), 1.5), True),
    ("warm_T_mult", lambda L, m: L.CosineAnnealingWarmRestarts(m(), 2, T_mult=0), True),
    ("warm_T_mult_float", lambda L, m: L.CosineAnnealingWarmRestarts(m(), 2, T_mult=1.5), True),
    ("warm_eta_min", lambda L, m: L.CosineAnnealingWarmRestarts(m(), 2, eta_min="a"), True),
    ("plateau_factor", lambda L, m: L.ReduceLROnPlateau(m(), factor=1.0), True),
    ("plateau_mode", lambda L, m: L.ReduceLROnPlateau(m(), mode="x"), True),
    ("plateau_threshold_mode", lambda L, m: L.ReduceLROnPlateau(m(), threshold_mode="x"), True),
    ("plateau_min_lr_count", lambda L, m: L.ReduceLROnPlateau(m(), min_lr=[0, 1, 2]), True),
    ("cyclic_mode", lambda L, m: L.CyclicLR(m(), 0.1, 1, mode="foo"), True),
    ("cyclic_base_lr_count", lambda L, m: L.CyclicLR(m(), [0.1], 1), True),
    ("cyclic_zero_size", lambda L, m: L.CyclicLR(m(), 0.1, 1, step_size_up=0), True),
    ("onecycle_no_steps", lambda L, m: L.OneCycleLR(m(), 0.1), True),
    ("onecycle_only_epochs", lambda L, m: L.OneCycleLR(m(), 0.1, epochs=2), True),
    ("onecycle_total_zero", lambda L, m: L.OneCycleLR(m(), 0.1, total_steps=0), True),
    ("onecycle_total_float", lambda L, m: L.OneCycleLR(m(), 0.1, total_steps=1.5), True),
    ("onecycle_epochs", lambda L, m: L.OneCycleLR(m(), 0.1, epochs=0, steps_per_epoch=3), True),
    ("onecycle_steps_per_epoch", lambda L, m: L.OneCycleLR(m(), 0.1, epochs=2, steps_per_epoch=0), True),
    ("onecycle_pct_start", lambda L, m: L.OneCycleLR(m(), 0.1, total_steps=10, pct_start=1.5), True),
    ("onecycle_pct_start_int", lambda L, m: L.OneCycleLR(m(), 0.1, total_steps=10, pct_start=1), True),
    ("onecycle_anneal", lambda L, m: L.OneCycleLR(m(), 0.1, total_steps=10, anneal_strategy="x"), True),
    ("onecycle_max_lr_count", lambda L, m: L.OneCycleLR(m(), [0.1] * 3, total_steps=10), True),
    ("sequential_empty", lambda L, m: L.SequentialLR(m(), [], []), True),
    ("sequential_not_scheduler", lambda L, m: (lambda o: L.SequentialLR(o, [L.StepLR(o, 2), 3], [1]))(m()), True),
    ("sequential_plateau", lambda L, m: (lambda o: L.SequentialLR(
        o, [L.StepLR(o, 2), L.ReduceLROnPlateau(o)], [1]))(m()), True),
    ("sequential_milestones", lambda L, m: (lambda o: L.SequentialLR(
        o, [L.StepLR(o, 2), L.StepLR(o, 3)], [1, 2]))(m()), True),
    ("sequential_other_optimizer", lambda L, m: (lambda o: L.SequentialLR(
        m(), [L.StepLR(o, 2), L.StepLR(o, 3)], [1]))(m()), False),
    ("chained_empty", lambda L, m: L.ChainedScheduler([]), True),
    ("chained_plateau", lambda L, m: (lambda o: L.ChainedScheduler([L.StepLR(o, 2), L.ReduceLROnPlateau(o)]))(m()),
     True),
    ("chained_other_optimizer", lambda L, m: (lambda o: L.ChainedScheduler([L.StepLR(o, 2)], m()))(m()), False),
]


@pytest.mark.parametrize("name,build,same_message", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_like_torch(name, build, same_message):
    with pytest.raises(Exception) as t_err:
        build(TLS, lambda: _sgd(torch)[0])
    with pytest.raises(Exception) as e_err:
        build(ELS, lambda: _sgd(ember)[0])
    assert e_err.type is t_err.type
    if same_message:
        assert str(e_err.value) == str(t_err.value)


@pytest.mark.parametrize("lib,L", [(torch, TLS), (ember, ELS)], ids=["torch", "ember"])
def test_cycle_momentum_needs_momentum_or_betas(lib, L):
    msg = "^optimizer must support momentum or beta1 with `cycle_momentum` option enabled$"
    for build in (lambda o: L.CyclicLR(o, 0.1, 1), lambda o: L.OneCycleLR(o, 0.1, 10)):
        with pytest.raises(ValueError, match=msg):
            build(lib.optim.Adagrad([lib.zeros(1, requires_grad=True)]))


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught]


def _scenario(kind):
    def run(lib, L):
        opt, _ = _sgd(lib)
        if kind == "scheduler_before_optimizer":
            sched = L.ExponentialLR(opt, 0.9)
            sched.step()
            sched.step()
        elif kind == "right_order":
            sched = L.ExponentialLR(opt, 0.9)
            for _ in range(3):
                opt.step()
                sched.step()
        elif kind == "optimizer_step_replaced":
            sched = L.StepLR(opt, 2)
            opt.step = lambda closure=None: None
            sched.step()
        elif kind == "get_lr_outside_step":
            L.CosineAnnealingWarmRestarts(opt, 3).get_lr()
        elif kind == "step_with_epoch":
            sched = L.StepLR(opt, 2)
            opt.step()
            sched.step(4)
        elif kind == "warm_restarts_epoch":
            sched = L.CosineAnnealingWarmRestarts(opt, 3)
            sched.step(1.5)
            sched.step()
        elif kind == "plateau_epoch":
            sched = L.ReduceLROnPlateau(opt)
            sched.step(1.0)
            sched.step(1.0, 5)
            assert sched.last_epoch == 5
    return run


@pytest.mark.parametrize("kind", ["scheduler_before_optimizer", "right_order", "optimizer_step_replaced",
                                  "get_lr_outside_step", "step_with_epoch", "warm_restarts_epoch", "plateau_epoch"])
def test_warnings_like_torch(kind):
    run = _scenario(kind)
    expected = _warnings_of(lambda: run(torch, TLS))
    assert _warnings_of(lambda: run(ember, ELS)) == expected
    assert bool(expected) == (kind not in ("right_order", "warm_restarts_epoch"))


def test_optimizer_copies_carry_no_step_wrapper():
    opt, _ = _sgd(ember)
    ELS.StepLR(opt, 2)
    assert getattr(opt.step, "_wrapped_by_lr_sched", False)
    clone = copy.deepcopy(opt)
    assert not hasattr(clone.step, "_wrapped_by_lr_sched") and clone.param_groups[0]["initial_lr"] == LRS[0]
