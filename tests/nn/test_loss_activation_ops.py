"""Losses and activations (ember/ops/loss.py, ember/ops/activation.py) against
torch.nn.functional: values, every gradient, result dtypes and shapes, grad_fn names,
float64 gradchecks, in-place forms, warnings and errors."""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
from ember import kernels as K
from ember.ops import activation as A
from ember.ops import loss as L

RNG = np.random.default_rng(0)
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


class _Ember:
    """torch.nn.functional's names, served by ember's op modules."""

    def __getattr__(self, name):
        return getattr(A, name) if hasattr(A, name) else getattr(L, name)


EF = _Ember()
LIBS = {"torch": (torch, TF), "ember": (ember, EF)}


def _dtype_arg(lib, value):
    # dtype keyword values are written as the strings "float64"/"float32" in the tables
    return getattr(lib, value) if value in ("float32", "float64") else value


def _tensor(lib, a, requires_grad):
    if isinstance(a, np.ndarray):
        return lib.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f")
    return a


def _run(lib_name, fn_name, arrays, kwargs, grad, upstream):
    """Call F.<fn_name> on tensors made from arrays; backward with `upstream`; return
    (output, [grads of the inputs in `grad`])."""
    lib, F = LIBS[lib_name]
    ts = [_tensor(lib, a, i in grad) for i, a in enumerate(arrays)]
    kw = {k: _tensor(lib, v, k in grad) if isinstance(v, np.ndarray) else _dtype_arg(lib, v)
          for k, v in kwargs.items()}
    out = getattr(F, fn_name)(*ts, **kw)
    g = upstream(out.shape)
    out.backward(lib.tensor(g.astype(np.float64)).to(out.dtype))
    grads = [ts[i].grad if isinstance(i, int) else kw[i].grad for i in grad]
    return out, grads


def _compare(fn_name, arrays, kwargs, grad, tol):
    seed = RNG.integers(1 << 30)

    def upstream(shape):
        return np.random.default_rng(seed).standard_normal(tuple(shape))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_out, t_grads = _run("torch", fn_name, arrays, kwargs, grad, upstream)
        e_out, e_grads = _run("ember", fn_name, arrays, kwargs, grad, upstream)
    assert e_out.grad_fn.name() == t_out.grad_fn.name()
    assert tuple(e_out.shape) == tuple(t_out.shape)
    assert str(e_out.dtype) == str(t_out.dtype)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), **tol)
    for eg, tg in zip(e_grads, t_grads):
        assert (eg is None) == (tg is None)
        if tg is not None:
            assert str(eg.dtype) == str(tg.dtype)
            np.testing.assert_allclose(eg.numpy(), tg.numpy(), **tol)


def _gradcheck(fn_name, arrays, kwargs, grad):
    """ember.autograd.gradcheck in float64 over the inputs listed in `grad`."""
    pos = [i for i in grad if isinstance(i, int)]
    names = [k for k in grad if isinstance(k, str)]
    ts = [_tensor(ember, a, i in pos) for i, a in enumerate(arrays)]
    kw = {k: _tensor(ember, v, k in names) if isinstance(v, np.ndarray) else _dtype_arg(ember, v)
          for k, v in kwargs.items()}
    leaves = [ts[i] for i in pos] + [kw[k] for k in names]

    def fn(*xs):
        args, kws = list(ts), dict(kw)
        for i, x in zip(pos, xs):
            args[i] = x
        for k, x in zip(names, xs[len(pos):]):
            kws[k] = x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(EF, fn_name)(*args, **kws)

    assert ember.autograd.gradcheck(fn, leaves)


# -- activations --------------------------------------------------------------------------------
def _away(x, kinks):
    """Moves values off the kinks, so finite differences and torch agree on the branch."""
    for k in kinks:
        near = np.abs(x - k) < 0.02
        x[near] = k + 0.05
    return x


# name, kwargs, kinks, shapes
ACTIVATIONS = [
    ("relu", {}, [0], None),
    ("relu6", {}, [0, 6], None),
    ("leaky_relu", {}, [0], None),
    ("leaky_relu", {"negative_slope": 0.2}, [0], None),
    ("elu", {}, [0], None),
    ("elu", {"alpha": 0.5}, [0], None),
    ("selu", {}, [0], None),
    ("celu", {"alpha": 1.5}, [0], None),
    ("gelu", {}, [], None),
    ("gelu", {"approximate": "tanh"}, [], None),
    ("silu", {}, [], None),
    ("mish", {}, [], None),
    ("hardtanh", {}, [-1, 1], None),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}, [-2, 0.5], None),
    ("hardswish", {}, [-3, 3], None),
    ("hardsigmoid", {}, [-3, 3], None),
    ("softplus", {}, [], None),
    ("softplus", {"beta": 2, "threshold": 3}, [1.5], None),
    ("softsign", {}, [0], None),
    ("tanhshrink", {}, [], None),
    ("logsigmoid", {}, [], None),
    ("sigmoid", {}, [], None),
    ("tanh", {}, [], None),
    ("threshold", {"threshold": 0.5, "value": -2.0}, [0.5], None),
    ("softmax", {"dim": 1}, [], [(4, 6), (2, 4, 3, 2)]),
    ("softmax", {"dim": -1, "dtype": "float64"}, [], [(7,), (4, 6)]),
    ("log_softmax", {"dim": 0}, [], None),
    ("log_softmax", {"dim": 1, "dtype": "float64"}, [], [(4, 6), (2, 4, 3, 2)]),
    ("softmin", {"dim": 1}, [], [(4, 6), (2, 4, 3, 2)]),
    ("glu", {}, [], [(6,), (4, 6), (2, 4, 3, 2)]),
    ("glu", {"dim": 0}, [], [(4, 6), (2, 4, 3, 2)]),
]
ACT_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw, _, _ in ACTIVATIONS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs,kinks,shapes", ACTIVATIONS, ids=ACT_IDS)
def test_activation_matches_torch(name, kwargs, kinks, shapes, dtype):
    tol = TOL[dtype]
    if kwargs.get("approximate") == "tanh" and dtype == np.float32:
        # PyTorch's float32 tanh-GELU gradient forms 1 + tanh(u), which cancels for x near -4 (its error
        # reaches 1e-6 there); ember's stays within 2e-7 of the float64 value (test below)
        tol = dict(tol, atol=2e-6)
    for shape in shapes or [(7,), (4, 6), (2, 4, 3, 2)]:
        x = _away(RNG.standard_normal(shape) * 4, kinks).astype(dtype)
        _compare(name, [x], kwargs, (0,), tol)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_is_accurate(approximate):
    x = np.linspace(-12, 12, 20001)
    for fn, exact in [(K.gelu, K.gelu(x, approximate)), (lambda v, a: K.gelu_backward(np.ones_like(v), v, a),
                                                        K.gelu_backward(np.ones_like(x), x, approximate))]:
        got = fn(x.astype(np.float32), approximate)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, exact, rtol=2e-7, atol=3e-7)


@pytest.mark.parametrize("name,kwargs,kinks,shapes", ACTIVATIONS, ids=ACT_IDS)
def test_activation_gradcheck(name, kwargs, kinks, shapes):
    x = _away(RNG.standard_normal((4, 6)) * 4, kinks)
    _gradcheck(name, [x], kwargs, (0,))


def test_activation_large_inputs_stay_finite():
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], np.float32)
    for name in ["softplus", "logsigmoid", "silu", "mish", "gelu", "elu", "selu", "sigmoid", "tanh"]:
        _compare(name, [x], {}, (0,), TOL[np.float32])
    _compare("log_softmax", [x * 10], {"dim": 0}, (0,), TOL[np.float32])


def test_gelu_erf_kernel_is_double_precise():
    x = np.concatenate([np.linspace(-9, 9, 4001), [-2, 2, -1e-9, 1e-300, 27.0]])
    np.testing.assert_allclose(K.erf(x), [math.erf(v) for v in x], rtol=0, atol=1e-15)
    np.testing.assert_allclose(K.erfc(x), [math.erfc(v) for v in x], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape", [((5,), (1,)), ((4, 3), (3,)), ((4, 3), (1,)), ((2, 3, 4, 4), (3,)),
                                             ((3,), ()), ((), (1,))])
def test_prelu(x_shape, w_shape, dtype):
    x = _away(RNG.standard_normal(x_shape), [0]).astype(dtype)
    w = RNG.uniform(0.1, 0.5, w_shape).astype(dtype)
    _compare("prelu", [x, w], {}, (0, 1), TOL[dtype])
    _gradcheck("prelu", [x.astype(np.float64), w.astype(np.float64)], {}, (0, 1))


# -- in-place forms -----------------------------------------------------------------------------
INPLACE = [
    ("relu", {"inplace": True}), ("relu6", {"inplace": True}), ("leaky_relu", {"negative_slope": 0.1, "inplace": True}),
    ("elu", {"alpha": 0.7, "inplace": True}), ("selu", {"inplace": True}), ("celu", {"alpha": 1.3, "inplace": True}),
    ("silu", {"inplace": True}), ("mish", {"inplace": True}), ("hardtanh", {"min_val": -0.5, "inplace": True}),
    ("hardswish", {"inplace": True}), ("hardsigmoid", {"inplace": True}),
    ("threshold", {"threshold": 0.1, "value": 2.0, "inplace": True}),
    ("relu_", {}), ("elu_", {}), ("leaky_relu_", {}), ("hardtanh_", {}), ("celu_", {}), ("selu_", {}),
    ("threshold_", {"threshold": 0.1, "value": 2.0}),
]


@pytest.mark.parametrize("name,kwargs", INPLACE, ids=[n + "-" + "-".join(kw) for n, kw in INPLACE])
def test_inplace_activation(name, kwargs):
    x = _away(RNG.standard_normal((3, 5)) * 2, [0, 0.1, -0.5, 3, -3]).astype(np.float32)
    g = RNG.standard_normal((3, 5)).astype(np.float32)
    results = {}
    for lib_name, (lib, F) in LIBS.items():
        leaf = lib.tensor(x, requires_grad=True)
        mid = leaf * 1
        out = getattr(F, name)(mid, **kwargs)
        assert out is mid
        name_after = mid.grad_fn.name()
        out.backward(lib.tensor(g))
        # without a graph the input is simply overwritten
        plain = lib.tensor(x)
        assert getattr(F, name)(plain, **kwargs) is plain and plain.grad_fn is None
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            getattr(F, name)(lib.tensor(x, requires_grad=True), **kwargs)
        results[lib_name] = (mid.detach().numpy().copy(), name_after, leaf.grad.numpy(), plain.numpy())
    (ev, en, eg, ep), (tv, tn, tg, tp) = results["ember"], results["torch"]
    assert en == tn
    np.testing.assert_allclose(ev, tv, **TOL[np.float32])
    np.testing.assert_allclose(ep, tp, **TOL[np.float32])
    np.testing.assert_allclose(eg, tg, **TOL[np.float32])


def test_inplace_leaky_relu_with_negative_slope_refuses_backward():
    for lib, F in LIBS.values():
        mid = lib.tensor([1.0, -2.0], requires_grad=True) * 1
        out = F.leaky_relu(mid, -0.1, inplace=True)
        with pytest.raises(RuntimeError, match="In-place leakyReLu backward calculation is triggered with a negative"):
            out.sum().backward()


def test_inplace_integer_tensors_keep_dtype():
    for lib, F in LIBS.values():
        x = lib.tensor([3, -2, 9])
        F.relu6(x, inplace=True)
        assert x.tolist() == [3, 0, 6] and str(x.dtype).endswith("int64")


# -- softmax family details ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_implicit_dim_warns_like_torch(name, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    outs = {}
    for lib_name, (lib, F) in LIBS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outs[lib_name] = getattr(F, name)(lib.tensor(x)).numpy()
        outs[lib_name + "_warn"] = [str(w.message) for w in caught]
    assert outs["ember_warn"] == outs["torch_warn"]
    np.testing.assert_allclose(outs["ember"], outs["torch"], **TOL[np.float32])


def test_softmin_records_negation_below_softmax():
    out = EF.softmin(ember.tensor([[1.0, 2.0]], requires_grad=True), 1)
    assert out.grad_fn.name() == "SoftmaxBackward0"
    assert out.grad_fn.next_functions[0][0].name() == "NegBackward0"


# -- losses -------------------------------------------------------------------------------------
def _f(*shape):
    return RNG.standard_normal(shape)


def _p(*shape):
    return RNG.uniform(0.05, 0.95, shape)


def _sign(*shape):
    return RNG.choice([-1.0, 1.0], shape)


def _cls(c, *shape):
    return RNG.integers(0, c, shape).astype(np.int64)


def _with_ignored(t, value=-100):
    t = t.copy()
    t.flat[:: 3] = value
    return t


def _logp(*shape):
    x = _f(*shape)
    axis = 1 if len(shape) > 1 else 0
    return x - np.log(np.exp(x).sum(axis, keepdims=True))


W5 = RNG.uniform(0.2, 2.0, 5)

# id, function, arrays, kwargs (arrays allowed: they become tensors), inputs to differentiate
LOSSES = [
    ("mse", "mse_loss", lambda: [_f(4, 5), _f(4, 5)], {}, (0, 1)),
    ("mse_3d", "mse_loss", lambda: [_f(2, 3, 4), _f(2, 3, 4)], {}, (0, 1)),
    ("mse_weight", "mse_loss", lambda: [_f(4, 5), _f(4, 5)], {"weight": _p(4, 5)}, (0, 1, "weight")),
    ("l1", "l1_loss", lambda: [_f(4, 5), _f(4, 5)], {}, (0, 1)),
    ("l1_weight", "l1_loss", lambda: [_f(6), _f(6)], {"weight": _p(6)}, (0, 1, "weight")),
    ("smooth_l1", "smooth_l1_loss", lambda: [_f(4, 5), _f(4, 5)], {}, (0, 1)),
    ("smooth_l1_beta", "smooth_l1_loss", lambda: [_f(4, 5), _f(4, 5)], {"beta": 0.4}, (0, 1)),
    ("smooth_l1_beta0", "smooth_l1_loss", lambda: [_f(4, 5), _f(4, 5)], {"beta": 0.0}, (0, 1)),
    ("huber", "huber_loss", lambda: [_f(4, 5), _f(4, 5)], {}, (0, 1)),
    ("huber_delta", "huber_loss", lambda: [_f(4, 5) * 2, _f(4, 5)], {"delta": 0.3}, (0, 1)),
    ("huber_weight", "huber_loss", lambda: [_f(4, 5), _f(4, 5)], {"weight": _p(4, 5)}, (0, 1, "weight")),
    ("ce", "cross_entropy", lambda: [_f(6, 5), _cls(5, 6)], {}, (0,)),
    ("ce_weight", "cross_entropy", lambda: [_f(6, 5), _cls(5, 6)], {"weight": W5}, (0,)),
    ("ce_ignore", "cross_entropy", lambda: [_f(6, 5), _with_ignored(_cls(5, 6))], {"weight": W5}, (0,)),
    ("ce_ignore_class", "cross_entropy", lambda: [_f(6, 5), _cls(3, 6)], {"ignore_index": 1}, (0,)),
    ("ce_smoothing", "cross_entropy", lambda: [_f(6, 5), _with_ignored(_cls(5, 6))], {"label_smoothing": 0.15}, (0,)),
    ("ce_smoothing_weight", "cross_entropy", lambda: [_f(6, 5), _with_ignored(_cls(5, 6))],
     {"weight": W5, "label_smoothing": 0.3}, (0,)),
    ("ce_3d", "cross_entropy", lambda: [_f(2, 5, 3), _cls(5, 2, 3)], {}, (0,)),
    ("ce_4d", "cross_entropy", lambda: [_f(2, 5, 3, 2), _with_ignored(_cls(5, 2, 3, 2))], {"weight": W5}, (0,)),
    ("ce_5d", "cross_entropy", lambda: [_f(2, 5, 2, 2, 2), _cls(5, 2, 2, 2, 2)], {"label_smoothing": 0.1}, (0,)),
    ("ce_unbatched", "cross_entropy", lambda: [_f(5), _cls(5)], {"weight": W5}, (0,)),
    ("ce_negative_smoothing", "cross_entropy", lambda: [_f(6, 5), _cls(5, 6)], {"label_smoothing": -0.2}, (0,)),
    ("ce_uint8", "cross_entropy", lambda: [_f(6, 5), _cls(5, 6).astype(np.uint8)], {}, (0,)),
    ("ce_probs", "cross_entropy", lambda: [_f(4, 5), _p(4, 5)], {}, (0, 1)),
    ("ce_probs_weight", "cross_entropy", lambda: [_f(4, 5), _p(4, 5)], {"weight": W5}, (0, 1, "weight")),
    ("ce_probs_smoothing", "cross_entropy", lambda: [_f(2, 5, 3), _p(2, 5, 3)], {"label_smoothing": 0.2}, (0, 1)),
    ("ce_probs_negative_smoothing", "cross_entropy", lambda: [_f(4, 5), _p(4, 5)], {"label_smoothing": -0.2}, (0, 1)),
    ("ce_probs_unbatched", "cross_entropy", lambda: [_f(5), _p(5)], {"weight": W5}, (0, 1)),
    ("nll", "nll_loss", lambda: [_logp(6, 5), _cls(5, 6)], {}, (0,)),
    ("nll_weight_ignore", "nll_loss", lambda: [_logp(6, 5), _with_ignored(_cls(5, 6))], {"weight": W5}, (0,)),
    ("nll_ignore_class", "nll_loss", lambda: [_logp(6, 5), _cls(5, 6)], {"ignore_index": 2}, (0,)),
    ("nll_3d", "nll_loss", lambda: [_logp(2, 5, 3), _cls(5, 2, 3)], {"weight": W5}, (0,)),
    ("nll_4d", "nll_loss", lambda: [_logp(2, 5, 3, 2), _cls(5, 2, 3, 2)], {}, (0,)),
    ("nll_unbatched", "nll_loss", lambda: [_logp(5), _cls(5)], {}, (0,)),
    ("bce", "binary_cross_entropy", lambda: [_p(4, 5), _p(4, 5)], {}, (0, 1)),
    ("bce_weight", "binary_cross_entropy", lambda: [_p(4, 5), _p(4, 5)], {"weight": _p(4, 5)}, (0, 1)),
    ("bce_weight_bcast", "binary_cross_entropy", lambda: [_p(4, 5), RNG.integers(0, 2, (4, 5)).astype(float)],
     {"weight": _p(5)}, (0, 1)),
    ("bce_logits", "binary_cross_entropy_with_logits", lambda: [_f(4, 5) * 3, _p(4, 5)], {}, (0, 1)),
    ("bce_logits_weights", "binary_cross_entropy_with_logits", lambda: [_f(4, 5) * 3, _p(4, 5)],
     {"weight": _p(4, 1), "pos_weight": _p(5) * 3}, (0, 1)),
    ("bce_logits_pos_weight", "binary_cross_entropy_with_logits", lambda: [_f(3, 4, 5), _p(3, 4, 5)],
     {"pos_weight": _p(5) * 3}, (0, 1)),
    ("kl", "kl_div", lambda: [_logp(4, 5), _p(4, 5)], {}, (0, 1)),
    ("kl_log_target", "kl_div", lambda: [_logp(4, 5), _logp(4, 5)], {"log_target": True}, (0, 1)),
    ("soft_margin", "soft_margin_loss", lambda: [_f(4, 5), _sign(4, 5)], {}, (0,)),
    ("hinge", "hinge_embedding_loss", lambda: [_f(4, 5), _sign(4, 5)], {}, (0,)),
    ("hinge_margin", "hinge_embedding_loss", lambda: [_f(4, 5), _sign(4, 5)], {"margin": 0.5}, (0,)),
    ("margin_ranking", "margin_ranking_loss", lambda: [_f(6), _f(6), _sign(6)], {}, (0, 1)),
    ("margin_ranking_2d", "margin_ranking_loss", lambda: [_f(3, 4), _f(3, 4), _sign(3, 4)], {"margin": 0.5}, (0, 1)),
    ("cosine", "cosine_embedding_loss", lambda: [_f(6, 4), _f(6, 4), _sign(6).astype(np.int64)], {}, (0, 1)),
    ("cosine_margin", "cosine_embedding_loss", lambda: [_f(6, 4), _f(6, 4), _sign(6)], {"margin": 0.2}, (0, 1)),
    ("cosine_unbatched", "cosine_embedding_loss", lambda: [_f(4), _f(4), np.array(-1.0)], {"margin": -0.9}, (0, 1)),
    ("gaussian_nll", "gaussian_nll_loss", lambda: [_f(4, 3), _f(4, 3), _p(4, 3)], {}, (0, 1, 2)),
    ("gaussian_nll_full", "gaussian_nll_loss", lambda: [_f(4, 3), _f(4, 3), _p(4, 1)], {"full": True}, (0, 1, 2)),
    ("gaussian_nll_var_dropped_dim", "gaussian_nll_loss", lambda: [_f(4, 3), _f(4, 3), _p(4)], {"eps": 0.1}, (0, 1, 2)),
    ("gaussian_nll_var_shared", "gaussian_nll_loss", lambda: [_f(4, 3), _f(4, 3), _p(1, 3)], {}, (0, 1, 2)),
    ("poisson_nll", "poisson_nll_loss", lambda: [_f(4, 5), _p(4, 5) * 4], {}, (0, 1)),
    ("poisson_nll_full", "poisson_nll_loss", lambda: [_f(4, 5), _p(4, 5) * 4], {"full": True}, (0, 1)),
    ("poisson_nll_rates", "poisson_nll_loss", lambda: [_p(4, 5) * 3, _p(4, 5) * 4], {"log_input": False}, (0, 1)),
]
LOSS_IDS = [c[0] for c in LOSSES]


def _cast_case(arrays, kwargs, dtype):
    cast = lambda a: a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a  # noqa: E731
    return [cast(a) for a in arrays], {k: cast(v) for k, v in kwargs.items()}


def _reductions(fn_name):
    return ["mean", "sum", "none"] + (["batchmean"] if fn_name == "kl_div" else [])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_loss_matches_torch(case, dtype):
    _, fn_name, make, kwargs, grad = case
    arrays, kwargs = _cast_case(make(), kwargs, dtype)
    for reduction in _reductions(fn_name):
        _compare(fn_name, arrays, dict(kwargs, reduction=reduction), grad, TOL[dtype])


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_loss_gradcheck(case):
    _, fn_name, make, kwargs, grad = case
    arrays = make()
    for reduction in _reductions(fn_name):
        _gradcheck(fn_name, arrays, dict(kwargs, reduction=reduction), grad)


@pytest.mark.parametrize("legacy", [dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True),
                                    dict(size_average=False, reduce=True)])
@pytest.mark.parametrize("fn_name,make", [
    ("mse_loss", lambda: [_f(3, 4), _f(3, 4)]), ("l1_loss", lambda: [_f(3, 4), _f(3, 4)]),
    ("cross_entropy", lambda: [_f(3, 4), _cls(4, 3)]), ("nll_loss", lambda: [_logp(3, 4), _cls(4, 3)]),
    ("binary_cross_entropy", lambda: [_p(3, 4), _p(3, 4)]), ("kl_div", lambda: [_logp(3, 4), _p(3, 4)]),
    ("soft_margin_loss", lambda: [_f(3, 4), _sign(3, 4)]), ("poisson_nll_loss", lambda: [_f(3, 4), _p(3, 4)]),
])
def test_deprecated_size_average_and_reduce(fn_name, make, legacy):
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in make()]
    caught = {}
    for lib_name, (lib, F) in LIBS.items():
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            out = getattr(F, fn_name)(*[lib.tensor(a) for a in arrays], **legacy)
        caught[lib_name] = ([str(w.message) for w in ws], out.numpy())
    assert caught["ember"][0] == caught["torch"][0]
    np.testing.assert_allclose(caught["ember"][1], caught["torch"][1], **TOL[np.float32])


@pytest.mark.parametrize("fn_name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_loss_broadcast_warns_like_torch(fn_name):
    x, t = _f(4, 1).astype(np.float32), _f(4).astype(np.float32)
    got = {}
    for lib_name, (lib, F) in LIBS.items():
        xt = lib.tensor(x, requires_grad=True)
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            out = getattr(F, fn_name)(xt, lib.tensor(t))
        out.backward()
        got[lib_name] = ([str(w.message) for w in ws], out.detach().numpy(), xt.grad.numpy())
    assert got["ember"][0] == got["torch"][0] and len(got["torch"][0]) == 1
    for e, t_ in zip(got["ember"][1:], got["torch"][1:]):
        np.testing.assert_allclose(e, t_, **TOL[np.float32])


def test_kl_div_mean_warns_like_torch():
    x, t = _logp(3, 4).astype(np.float32), _p(3, 4).astype(np.float32)
    msgs = {}
    for lib_name, (lib, F) in LIBS.items():
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            F.kl_div(lib.tensor(x), lib.tensor(t))
        msgs[lib_name] = [str(w.message) for w in ws]
    assert msgs["ember"] == msgs["torch"] and len(msgs["torch"]) == 1


@pytest.mark.parametrize("fn_name,arrays", [
    ("mse_loss", lambda: [_f(3, 4).astype(np.float32), _f(3, 4)]),  # float32 with float64 -> float64
    ("mse_loss", lambda: [_f(3, 4).astype(np.float32), _cls(3, 3, 4)]),  # integer target -> float32
    ("smooth_l1_loss", lambda: [_f(3, 4).astype(np.float32), _f(3, 4)]),
    ("binary_cross_entropy_with_logits", lambda: [_f(3, 4).astype(np.float32), _p(3, 4)]),
    ("cross_entropy", lambda: [_f(3, 4).astype(np.float32), _p(3, 4)]),
    ("kl_div", lambda: [_logp(3, 4).astype(np.float32), _p(3, 4)]),
])
def test_loss_result_dtype_promotion(fn_name, arrays):
    _compare(fn_name, arrays(), {}, (0,), TOL[np.float32])


@pytest.mark.parametrize("x_dtype,t_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_huber_loss_keeps_the_input_dtype(x_dtype, t_dtype):
    # (PyTorch's own backward fails on mixed dtypes here, so only the forward is compared)
    x, t = _f(3, 4).astype(x_dtype), _f(3, 4).astype(t_dtype)
    e, tt = EF.huber_loss(ember.tensor(x), ember.tensor(t)), TF.huber_loss(torch.tensor(x), torch.tensor(t))
    assert str(e.dtype) == str(tt.dtype)
    np.testing.assert_allclose(e.numpy(), tt.numpy(), **TOL[np.float32])


def test_losses_are_stable_for_extreme_logits():
    x = np.array([[-1000.0, 0.0, 1000.0], [50.0, -50.0, 0.0], [1e4, 1e4, -1e4]], np.float32)
    _compare("cross_entropy", [x, np.array([0, 1, 2])], {}, (0,), TOL[np.float32])
    _compare("cross_entropy", [x, np.array([0, 1, 2])], {"label_smoothing": 0.1}, (0,), TOL[np.float32])
    _compare("binary_cross_entropy_with_logits", [x, np.full((3, 3), 0.3, np.float32)],
             {"pos_weight": np.array([1.0, 2.0, 0.5], np.float32)}, (0, 1), TOL[np.float32])
    _compare("soft_margin_loss", [x, np.sign(x + 0.5)], {}, (0,), TOL[np.float32])


def test_binary_cross_entropy_clamps_log_like_torch():
    # log(0) is clamped to -100, and the input gradient stays finite at 0 and 1
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.5], np.float32)
    _compare("binary_cross_entropy", [x, t], {"reduction": "none"}, (0,), TOL[np.float32])
    _compare("binary_cross_entropy", [x, t], {"reduction": "sum"}, (0,), TOL[np.float32])


def test_cross_entropy_edge_batches():
    for lib, F in LIBS.values():
        x = lib.tensor(np.zeros((0, 5), np.float32), requires_grad=True)
        empty = lib.tensor(np.zeros(0, np.int64))
        assert math.isnan(F.cross_entropy(x, empty).item()) and F.cross_entropy(x, empty, reduction="sum").item() == 0
        ignored = lib.tensor(np.full(3, -100))
        assert math.isnan(F.cross_entropy(lib.tensor(_f(3, 5).astype(np.float32)), ignored).item())


def test_cross_entropy_equals_log_softmax_then_nll():
    x, t = _f(8, 6), _cls(6, 8)
    a = ember.tensor(x, requires_grad=True)
    b = ember.tensor(x, requires_grad=True)
    EF.cross_entropy(a, ember.tensor(t)).backward()
    EF.nll_loss(EF.log_softmax(b, 1), ember.tensor(t)).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-14)


# -- the seeds' uses ------------------------------------------------------------------------------
def test_seed_mse_loss_prints_like_torch():
    out, target = RNG.standard_normal((1, 10)).astype(np.float32), RNG.standard_normal((1, 10)).astype(np.float32)
    reprs = {}
    for lib_name, (lib, F) in LIBS.items():
        reprs[lib_name] = repr(F.mse_loss(lib.tensor(out, requires_grad=True), lib.tensor(target)))
    assert reprs["ember"] == reprs["torch"]
    assert reprs["ember"].endswith("grad_fn=<MseLossBackward0>)")


def test_seed_cross_entropy_on_mlp_logits():
    x = RNG.standard_normal((64, 784)).astype(np.float32)
    w = (RNG.standard_normal((10, 784)) * 0.03).astype(np.float32)
    labels = _cls(10, 64)
    got = {}
    for lib_name, (lib, F) in LIBS.items():
        wt = lib.tensor(w, requires_grad=True)
        loss = F.cross_entropy(lib.tensor(x) @ wt.t(), lib.tensor(labels))
        loss.backward()
        got[lib_name] = (repr(loss), loss.item(), wt.grad.numpy())
    assert got["ember"][0] == got["torch"][0]
    np.testing.assert_allclose(got["ember"][1], got["torch"][1], rtol=1e-6)
    np.testing.assert_allclose(got["ember"][2], got["torch"][2], rtol=1e-4, atol=1e-6)


# -- errors ------------------------------------------------------------------------------------
class _Make:
    """Tensors of one library for the error cases: x normal, p in (0, 1) (float32), i int64 values."""

    def __init__(self, lib):
        self.lib = lib

    def x(self, *shape):
        return self.lib.tensor(RNG.standard_normal(shape).astype(np.float32))

    def p(self, *shape):
        return self.lib.tensor(_p(*shape).astype(np.float32))

    def i(self, *values):
        return self.lib.tensor(np.array(values, np.int64))

    def __call__(self, array):
        return self.lib.tensor(array)


# each case calls F through tensors made by `t` and must raise the same exception type and message in both
ERRORS = [
    ("ce_float_target", lambda F, t: F.cross_entropy(t.x(3, 5), t.x(3))),
    ("ce_int32_target", lambda F, t: F.cross_entropy(t.x(3, 5), t(np.array([1, 2, 3], np.int32)))),
    ("ce_batch", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 3, 4))),
    ("ce_scalar_target_batch", lambda F, t: F.cross_entropy(t.x(3, 5), t(np.int64(1)))),
    ("ce_out_of_bounds", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 10))),
    ("ce_negative_target", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, -3, 2))),
    ("ce_spatial_target_shape", lambda F, t: F.cross_entropy(t.x(2, 5, 3), t(_cls(5, 2, 4)))),
    ("ce_multi_target", lambda F, t: F.cross_entropy(t.x(3, 5), t.x(3, 4))),
    ("ce_probs_ignore_index", lambda F, t: F.cross_entropy(t.x(3, 5), t.x(3, 5), ignore_index=1)),
    ("ce_probs_long", lambda F, t: F.cross_entropy(t.x(3, 5), t(_cls(5, 3, 5)))),
    ("ce_scalar_input", lambda F, t: F.cross_entropy(t(np.float32(1.0)), t(np.int64(0)))),
    ("ce_weight_size", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 3), weight=t.lib.ones(4))),
    ("ce_weight_dtype", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 3),
                                                    weight=t.lib.ones(5, dtype=t.lib.float64))),
    ("ce_weight_requires_grad", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 3),
                                                            weight=t.lib.ones(5, requires_grad=True))),
    ("ce_label_smoothing", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 3), label_smoothing=1.5)),
    ("ce_integer_input", lambda F, t: F.cross_entropy(t(_cls(5, 3, 5)), t.i(1, 2, 3))),
    ("ce_reduction", lambda F, t: F.cross_entropy(t.x(3, 5), t.i(1, 2, 3), reduction="foo")),
    ("nll_scalar_input", lambda F, t: F.nll_loss(t(np.float32(1.0)), t(np.int64(0)))),
    ("nll_unbatched_target", lambda F, t: F.nll_loss(t.x(5), t.i(1, 2))),
    ("nll_batch", lambda F, t: F.nll_loss(t.x(3, 5), t.i(1, 2))),
    ("nll_spatial_out_of_bounds", lambda F, t: F.nll_loss(t.x(2, 5, 3), t(np.array([[0, 1, 7], [0, 0, 0]])))),
    ("nll_float_target", lambda F, t: F.nll_loss(t.x(2, 5, 3), t.x(2, 3))),
    ("nll_integer_input", lambda F, t: F.nll_loss(t(_cls(5, 3, 5)), t.i(1, 2, 3))),
    ("mse_reduction", lambda F, t: F.mse_loss(t.x(3), t.x(3), reduction="foo")),
    ("mse_broadcast", lambda F, t: F.mse_loss(t.x(4, 2), t.x(3))),
    ("mse_weight_size", lambda F, t: F.mse_loss(t.x(4, 2), t.x(4, 2), weight=t.lib.ones(2))),
    ("l1_weight_size", lambda F, t: F.l1_loss(t.x(4, 2), t.x(4, 2), weight=t.lib.ones(4, 1))),
    ("smooth_l1_beta", lambda F, t: F.smooth_l1_loss(t.x(3), t.x(3), beta=-1.0)),
    ("huber_delta", lambda F, t: F.huber_loss(t.x(3), t.x(3), delta=0.0)),
    ("bce_size", lambda F, t: F.binary_cross_entropy(t.p(3, 1), t.p(3))),
    ("bce_range", lambda F, t: F.binary_cross_entropy(t(np.array([0.5, 1.5], np.float32)), t.p(2))),
    ("bce_dtype", lambda F, t: F.binary_cross_entropy(t.p(3), t(_p(3)))),
    ("bce_weight_shape", lambda F, t: F.binary_cross_entropy(t.p(3, 2), t.p(3, 2), weight=t.lib.ones(3))),
    ("bce_weight_requires_grad", lambda F, t: F.binary_cross_entropy(t.p(3), t.p(3),
                                                                   weight=t.lib.ones(3, requires_grad=True))),
    ("bce_logits_size", lambda F, t: F.binary_cross_entropy_with_logits(t.x(3, 1), t.x(3))),
    ("bce_logits_int_target", lambda F, t: F.binary_cross_entropy_with_logits(t.x(3), t.i(0, 1, 1))),
    ("bce_logits_pos_weight", lambda F, t: F.binary_cross_entropy_with_logits(t.x(3, 2), t.x(3, 2),
                                                                            pos_weight=t.lib.ones(3))),
    ("bce_logits_pos_weight_grad", lambda F, t: F.binary_cross_entropy_with_logits(
        t.x(3, 2), t.x(3, 2), pos_weight=t.lib.ones(2, requires_grad=True))),
    ("soft_margin_shape", lambda F, t: F.soft_margin_loss(t.x(3, 1), t.x(3))),
    ("soft_margin_target_grad", lambda F, t: F.soft_margin_loss(t.x(3), t.x(3).requires_grad_())),
    ("kl_reduction", lambda F, t: F.kl_div(t.x(3), t.x(3), reduction="foo")),
    ("margin_ranking_dims", lambda F, t: F.margin_ranking_loss(t.x(3), t.x(3, 1), t.x(3))),
    ("cosine_target_2d", lambda F, t: F.cosine_embedding_loss(t.x(2, 5), t.x(2, 5), t(np.ones((1, 2))))),
    ("cosine_inputs_3d", lambda F, t: F.cosine_embedding_loss(t.x(2, 3, 5), t.x(2, 3, 5), t.i(1, 1))),
    ("cosine_size", lambda F, t: F.cosine_embedding_loss(t.x(2, 5), t.x(2, 4), t.i(1, 1))),
    ("cosine_target_size", lambda F, t: F.cosine_embedding_loss(t.x(2, 5), t.x(2, 5), t.i(1, 1, 1))),
    ("gaussian_var_size", lambda F, t: F.gaussian_nll_loss(t.x(4, 3), t.x(4, 3), t.lib.ones(1, 1))),
    ("gaussian_var_negative", lambda F, t: F.gaussian_nll_loss(t.x(4, 3), t.x(4, 3), -t.lib.ones(4, 3))),
    ("gaussian_reduction", lambda F, t: F.gaussian_nll_loss(t.x(4, 3), t.x(4, 3), t.lib.ones(4, 3), reduction="foo")),
    ("prelu_channels", lambda F, t: F.prelu(t.x(4, 6), t.lib.ones(4))),
    ("prelu_unbatched_channels", lambda F, t: F.prelu(t.x(6), t.lib.ones(6))),
    ("prelu_weight_2d", lambda F, t: F.prelu(t.x(4, 6), t.lib.ones(2, 3))),
    ("prelu_dtype", lambda F, t: F.prelu(t.x(4, 6), t.lib.ones(6, dtype=t.lib.float64))),
    ("glu_odd", lambda F, t: F.glu(t.x(3, 5), 1)),
    ("glu_scalar", lambda F, t: F.glu(t(np.float32(1.0)))),
    ("gelu_approximate", lambda F, t: F.gelu(t.x(3), approximate="foo")),
    ("hardtanh_bounds", lambda F, t: F.hardtanh(t.x(3), 2.0, 1.0)),
    ("celu_alpha", lambda F, t: F.celu(t.x(3), 0.0)),
    ("elu_integer", lambda F, t: F.elu(t.i(1, -2))),
    ("softmax_integer", lambda F, t: F.softmax(t.i(1, -2), 0)),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_match_torch(case):
    raised = {}
    for lib_name, (lib, F) in LIBS.items():
        with pytest.raises(Exception) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case[1](F, _Make(lib))
        raised[lib_name] = (type(info.value), str(info.value))
    assert raised["ember"] == raised["torch"]
