"""nn.init: formulas and errors compared with PyTorch, distributions checked statistically.

ember draws different random numbers from PyTorch, so random initialisations are
checked against their distribution: bounds exactly, and mean/variance within about
five standard errors of the sample estimate (failure odds far below 1e-6).
"""
import math
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.nn import init
from ember.nn.parameter import Parameter

tinit = torch.nn.init
N = 200_000  # samples for the statistical checks


def error_of(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value).__name__, str(info.value)


def check_mean_var(values, mean, var):
    """Sample mean and variance agree with (mean, var) within ~5 standard errors."""
    values = np.asarray(values, dtype=np.float64).ravel()
    n = values.size
    assert abs(values.mean() - mean) < 5 * math.sqrt(var / n) + 1e-12
    # the variance of the sample variance is about (m4 - var^2) / n, and m4 <= 5 var^2 for these laws
    assert abs(values.var() - var) < 5 * math.sqrt(5 * var * var / n)


def param(*shape, dtype=ember.float32):
    return Parameter(ember.zeros(*shape, dtype=dtype))


# -- gains and fans ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("linear",), ("conv1d",), ("conv2d",), ("conv3d",), ("conv_transpose1d",), ("conv_transpose2d",),
    ("conv_transpose3d",), ("sigmoid",), ("tanh",), ("relu",), ("relu", 3), ("leaky_relu",),
    ("leaky_relu", 0.2), ("leaky_relu", 1), ("leaky_relu", math.sqrt(5)), ("selu",),
])
def test_calculate_gain_matches_torch(args):
    assert init.calculate_gain(*args) == tinit.calculate_gain(*args)


@pytest.mark.parametrize("args", [("foo",), ("leaky_relu", True), ("leaky_relu", "a"), ("softmax",)])
def test_calculate_gain_errors_match_torch(args):
    assert error_of(lambda: init.calculate_gain(*args)) == error_of(lambda: tinit.calculate_gain(*args))


@pytest.mark.parametrize("shape", [(3, 4), (5, 2), (8, 3, 5), (16, 4, 3, 3), (2, 3, 2, 2, 2), (0, 4)])
def test_fan_in_and_fan_out_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ember.empty(shape)) == tinit._calculate_fan_in_and_fan_out(
        torch.empty(shape))


@pytest.mark.parametrize("fn", [
    lambda m, t: m._calculate_fan_in_and_fan_out(t),
    lambda m, t: m.xavier_uniform_(t),
    lambda m, t: m.xavier_normal_(t),
    lambda m, t: m.kaiming_uniform_(t),
    lambda m, t: m.kaiming_normal_(t),
    lambda m, t: m.eye_(t),
    lambda m, t: m.dirac_(t),
    lambda m, t: m.orthogonal_(t),
    lambda m, t: m.sparse_(t, 0.5),
])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_too_few_dims_errors_match_torch(fn, shape):
    assert error_of(lambda: fn(init, ember.empty(shape))) == error_of(lambda: fn(tinit, torch.empty(shape)))


@pytest.mark.parametrize("fn", [
    lambda m, t: m.kaiming_uniform_(t, mode="bad"),
    lambda m, t: m.kaiming_normal_(t, mode="fan_avg"),
    lambda m, t: m.kaiming_uniform_(t, nonlinearity="foo"),
    lambda m, t: m.eye_(t),
    lambda m, t: m.dirac_(t, groups=2),
    lambda m, t: m.sparse_(t, 0.5),
])
def test_other_errors_match_torch(fn):
    assert error_of(lambda: fn(init, ember.empty(3, 2, 3))) == error_of(lambda: fn(tinit, torch.empty(3, 2, 3)))


# -- in place on parameters -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,fn", [
    ((4, 3, 5), lambda t: init.uniform_(t, -1, 1)),
    ((4, 3, 5), lambda t: init.normal_(t)),
    ((4, 3, 5), lambda t: init.trunc_normal_(t, std=0.02)),
    ((4, 3, 5), lambda t: init.constant_(t, 0.3)),
    ((4, 3, 5), lambda t: init.ones_(t)),
    ((4, 3, 5), lambda t: init.zeros_(t)),
    ((4, 3), lambda t: init.eye_(t)),
    ((4, 3, 5), lambda t: init.dirac_(t)),
    ((4, 3, 5), lambda t: init.xavier_uniform_(t)),
    ((4, 3, 5), lambda t: init.xavier_normal_(t, gain=2)),
    ((4, 3, 5), lambda t: init.kaiming_uniform_(t, a=math.sqrt(5))),
    ((4, 3, 5), lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")),
    ((4, 3, 5), lambda t: init.orthogonal_(t)),
    ((4, 3), lambda t: init.sparse_(t, 0.5)),
])
def test_acts_in_place_on_parameters(shape, fn):
    p = Parameter(ember.zeros(shape))
    arr = p._data
    assert fn(p) is p
    assert p._data is arr  # the parameter's own memory was written
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    (p * 2).sum().backward()  # still a working leaf
    np.testing.assert_array_equal(p.grad.numpy(), np.full(shape, 2.0, np.float32))


def test_zero_element_tensors_warn_like_torch():
    for name in ("kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "orthogonal_"):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            out = getattr(init, name)(ember.empty(0, 4))
        with warnings.catch_warnings(record=True) as expected:
            warnings.simplefilter("always")
            getattr(tinit, name)(torch.empty(0, 4))
        assert [str(w.message) for w in got] == [str(w.message) for w in expected], name
        assert out.shape == (0, 4)


# -- deterministic initialisations ------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (4, 4), (1, 5)])
def test_eye_matches_torch(shape):
    np.testing.assert_array_equal(init.eye_(param(*shape)).detach().numpy(),
                                  tinit.eye_(torch.empty(shape)).numpy())
    np.testing.assert_array_equal(init.eye_(ember.empty(shape, dtype=ember.int64)).numpy(),
                                  tinit.eye_(torch.empty(shape, dtype=torch.int64)).numpy())


@pytest.mark.parametrize("shape,groups", [
    ((4, 2, 3), 1), ((4, 2, 3), 2), ((2, 3, 3, 3), 1), ((6, 4, 3, 3), 3), ((6, 4, 3, 2), 2),
    ((4, 4, 3, 3, 3), 2), ((3, 5, 1, 4), 1),
])
def test_dirac_matches_torch(shape, groups):
    np.testing.assert_array_equal(init.dirac_(param(*shape), groups).detach().numpy(),
                                  tinit.dirac_(torch.empty(shape), groups).numpy())


def test_dirac_is_an_identity_convolution():
    w = init.dirac_(param(3, 3, 3, 3)).detach().numpy()
    x = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    out = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("value", [0.25, -3, 7.5])
def test_constant_ones_zeros(value):
    np.testing.assert_array_equal(init.constant_(param(2, 3), value).detach().numpy(), np.full((2, 3), value))
    np.testing.assert_array_equal(init.ones_(param(2, 3)).detach().numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(init.zeros_(ember.ones(2, 3)).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones_(ember.zeros(3, dtype=ember.int64)).numpy(), [1, 1, 1])


def test_init_on_non_leaf_keeps_its_history_like_torch():
    x = ember.ones(2, requires_grad=True) * 1
    assert init.zeros_(x).grad_fn.name() == "MulBackward0"
    assert x.sum().item() == 0


# -- random initialisations: bounds and moments ----------------------------------------------------
@pytest.mark.parametrize("a,b", [(0.0, 1.0), (-2.0, 3.0), (0.5, 0.5001)])
def test_uniform_distribution(a, b):
    ember.manual_seed(0)
    v = init.uniform_(param(N), a, b).detach().numpy()
    assert v.min() >= np.float32(a) and v.max() <= np.float32(b)
    check_mean_var(v, (a + b) / 2, (b - a) ** 2 / 12)


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (3.0, 0.02), (-1.0, 5.0)])
def test_normal_distribution(mean, std):
    ember.manual_seed(1)
    v = init.normal_(param(N), mean, std).detach().numpy()
    check_mean_var(v, mean, std ** 2)


@pytest.mark.parametrize("shape,gain", [((400, 500), 1.0), ((64, 32, 3, 3), 2.0), ((1000, 200), 0.5)])
def test_xavier_uniform(shape, gain):
    ember.manual_seed(2)
    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    v = init.xavier_uniform_(param(*shape), gain=gain).detach().numpy()
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.999 * bound
    check_mean_var(v, 0.0, bound ** 2 / 3)


@pytest.mark.parametrize("shape,gain", [((400, 500), 1.0), ((64, 32, 3, 3), math.sqrt(2))])
def test_xavier_normal(shape, gain):
    ember.manual_seed(3)
    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    v = init.xavier_normal_(param(*shape), gain=gain).detach().numpy()
    check_mean_var(v, 0.0, gain ** 2 * 2.0 / (fan_in + fan_out))


KAIMING_CASES = [
    ((400, 500), dict(a=math.sqrt(5))),  # nn.Linear's default
    ((64, 32, 3, 3), dict(a=math.sqrt(5))),  # nn.Conv2d's default
    ((400, 500), dict(mode="fan_out", nonlinearity="relu")),
    ((128, 16, 5, 5), dict(nonlinearity="leaky_relu", a=0.2, mode="FAN_IN")),
    ((300, 700), dict(nonlinearity="tanh")),
    ((300, 700), dict(nonlinearity="linear", mode="fan_out")),
]


def _kaiming_std(shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    fan = fan_in if mode.lower() == "fan_in" else fan_out
    return tinit.calculate_gain(nonlinearity, a) / math.sqrt(fan)


@pytest.mark.parametrize("shape,kw", KAIMING_CASES)
def test_kaiming_uniform(shape, kw):
    ember.manual_seed(4)
    bound = math.sqrt(3.0) * _kaiming_std(shape, **kw)
    v = init.kaiming_uniform_(param(*shape), **kw).detach().numpy()
    assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.999 * bound
    check_mean_var(v, 0.0, bound ** 2 / 3)


@pytest.mark.parametrize("shape,kw", KAIMING_CASES)
def test_kaiming_normal(shape, kw):
    ember.manual_seed(5)
    v = init.kaiming_normal_(param(*shape), **kw).detach().numpy()
    check_mean_var(v, 0.0, _kaiming_std(shape, **kw) ** 2)


def _truncated_normal_moments(mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std

    def pdf(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x):
        return (1 + math.erf(x / math.sqrt(2))) / 2

    z = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / z
    var = std ** 2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - shift ** 2)
    return mean + std * shift, var


@pytest.mark.parametrize("mean,std,a,b", [
    (0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0), (1.0, 2.0, -1.0, 4.0), (0.0, 1.0, 0.5, 3.0),
    (0.0, 1.0, 2.0, 3.0), (-3.0, 0.5, -4.0, -3.5),
])
def test_trunc_normal(mean, std, a, b):
    ember.manual_seed(6)
    v = init.trunc_normal_(param(N), mean, std, a, b).detach().numpy()
    assert v.min() >= a and v.max() <= b
    m, var = _truncated_normal_moments(mean, std, a, b)
    check_mean_var(v, m, var)
    # quantiles: the exact ones come from torch's erfinv applied to the same CDF interval
    lo = (1 + math.erf((a - mean) / std / math.sqrt(2))) / 2
    hi = (1 + math.erf((b - mean) / std / math.sqrt(2))) / 2
    probs = np.linspace(0.05, 0.95, 19)
    exact = mean + std * math.sqrt(2) * torch.erfinv(torch.tensor(2 * (lo + probs * (hi - lo)) - 1)).numpy()
    # a sample quantile's standard error is sqrt(p(1-p)/N)/density <= 0.5/sqrt(N)/min density
    np.testing.assert_allclose(np.quantile(v, probs), exact, atol=0.02 * (b - a))


def test_erfinv_approximation_accuracy():
    x = np.concatenate([np.linspace(-0.999999, 0.999999, 20001), [0.0, 1e-8, -0.5, 0.9999999]])
    got = init._erfinv(ember.tensor(x)).numpy()
    expected = torch.erfinv(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_trunc_normal_warns_like_torch():
    for module, t in ((init, ember.empty(3)), (tinit, torch.empty(3))):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            module.trunc_normal_(t, mean=10.0)
        assert [str(w.message) for w in got] == [
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values may be "
            "incorrect."]
        assert (t >= -2).all() and (t <= 2).all()


@pytest.mark.parametrize("shape,gain", [((5, 5), 1.0), ((3, 7), 1.0), ((7, 3), 2.0), ((4, 2, 3), 0.5),
                                        ((64, 128), 1.0), ((6, 1), 1.0)])
def test_orthogonal(shape, gain):
    ember.manual_seed(7)
    w = init.orthogonal_(param(*shape), gain=gain).detach().numpy().astype(np.float64)
    rows = shape[0]
    flat = w.reshape(rows, -1)
    gram = flat @ flat.T if rows <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(gram.shape[0]), atol=1e-5)


def test_orthogonal_is_uniformly_signed():
    # the sign fix makes the distribution uniform (Haar): entries have mean 0
    ember.manual_seed(8)
    ws = np.stack([init.orthogonal_(param(3, 3)).detach().numpy() for _ in range(2000)])
    assert np.abs(ws.mean(axis=0)).max() < 5 * math.sqrt(1 / 3 / 2000)


@pytest.mark.parametrize("shape,sparsity", [((10, 40), 0.3), ((7, 5), 0.5), ((100, 3), 0.9)])
def test_sparse(shape, sparsity):
    ember.manual_seed(9)
    w = init.sparse_(param(*shape), sparsity, std=0.5).detach().numpy()
    zeros = math.ceil(sparsity * shape[0])
    np.testing.assert_array_equal((w == 0).sum(axis=0), np.full(shape[1], zeros))
    nz = w[w != 0]
    assert 0.3 < nz.std() < 0.7


# -- reproducibility ---------------------------------------------------------------------------------
RANDOM_INITS = [
    lambda t, g=None: init.uniform_(t, -1, 1, generator=g),
    lambda t, g=None: init.normal_(t, 0, 2, generator=g),
    lambda t, g=None: init.trunc_normal_(t, 0, 0.02, generator=g),
    lambda t, g=None: init.xavier_uniform_(t, generator=g),
    lambda t, g=None: init.xavier_normal_(t, generator=g),
    lambda t, g=None: init.kaiming_uniform_(t, a=math.sqrt(5), generator=g),
    lambda t, g=None: init.kaiming_normal_(t, generator=g),
    lambda t, g=None: init.orthogonal_(t, generator=g),
    lambda t, g=None: init.sparse_(t, 0.5, generator=g),
]


@pytest.mark.parametrize("fn", RANDOM_INITS)
def test_deterministic_under_manual_seed_and_generators(fn):
    ember.manual_seed(123)
    first = fn(param(6, 8)).detach().numpy().copy()
    ember.manual_seed(123)
    second = fn(param(6, 8)).detach().numpy()
    np.testing.assert_array_equal(first, second)
    third = fn(param(6, 8)).detach().numpy()
    assert not np.array_equal(second, third)
    g1, g2 = ember.Generator().manual_seed(5), ember.Generator().manual_seed(5)
    ember.manual_seed(0)
    a = fn(param(6, 8), g1).detach().numpy()
    ember.manual_seed(1)  # the default stream does not matter when a generator is given
    b = fn(param(6, 8), g2).detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_float64_tensors_stay_float64():
    for fn in RANDOM_INITS:
        p = param(6, 8, dtype=ember.float64)
        assert fn(p).dtype is ember.float64
