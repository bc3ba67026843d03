"""nn.utils: gradient clipping and parameter/vector conversion, compared with PyTorch."""
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.nn import utils
from ember.nn.parameter import Parameter

tutils = torch.nn.utils
SHAPES = [(3, 4), (5,), (2, 1, 3), ()]


def make_params(seed=0, scale=1.0, missing=(), dtypes=None):
    """The same parameters with the same gradients in ember and torch; indices in `missing`
    get no gradient."""
    rng = np.random.default_rng(seed)
    e_params, t_params = [], []
    for i, shape in enumerate(SHAPES):
        dt = (dtypes or {}).get(i, np.float32)
        w = rng.standard_normal(shape).astype(dt)
        g = (rng.standard_normal(shape) * scale).astype(dt)
        ep, tp = Parameter(ember.tensor(w)), torch.nn.Parameter(torch.tensor(w))
        if i not in missing:
            ep.grad, tp.grad = ember.tensor(g), torch.tensor(g)
        e_params.append(ep)
        t_params.append(tp)
    return e_params, t_params


def assert_grads_equal(e_params, t_params, rtol=1e-6):
    for ep, tp in zip(e_params, t_params):
        if tp.grad is None:
            assert ep.grad is None
        else:
            assert ep.grad.dtype.name == str(tp.grad.dtype).split(".")[1]
            np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=1e-7)


def error_of(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value).__name__, str(info.value)


@pytest.mark.parametrize("norm_type", [2, 2.0, 1, 3, 0.5, float("inf"), "inf", 0, -float("inf")])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    e_params, t_params = make_params(missing=(1,))
    total = utils.clip_grad_norm_(e_params, max_norm, norm_type=norm_type)
    t_total = tutils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
    assert isinstance(total, ember.Tensor) and total.shape == () and total.dtype is ember.float32
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-6)
    assert_grads_equal(e_params, t_params)


def test_clip_grad_norm_accepts_a_tensor_or_a_generator():
    e_params, t_params = make_params(scale=10.0)
    total = utils.clip_grad_norm_(e_params[0], 1.0)
    t_total = tutils.clip_grad_norm_(t_params[0], 1.0)
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-6)
    total = utils.clip_grad_norm_((p for p in e_params), 2.0, norm_type=1)
    t_total = tutils.clip_grad_norm_((p for p in t_params), 2.0, norm_type=1)
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-6)
    assert_grads_equal(e_params, t_params)
    e_params, t_params = make_params()
    utils.clip_grad_norm_(e_params, 0.5, foreach=False)
    tutils.clip_grad_norm_(t_params, 0.5, foreach=False)
    assert_grads_equal(e_params, t_params)


def test_clip_grad_norm_clipped_norm_is_max_norm():
    e_params, _ = make_params(scale=100.0)
    before = utils.clip_grad_norm_(e_params, 3.0)
    after = utils.clip_grad_norm_(e_params, 3.0)
    assert before.item() > 100 and after.item() == pytest.approx(3.0, rel=1e-5)


def test_clip_grad_norm_without_gradients():
    e_params, t_params = make_params(missing=range(len(SHAPES)))
    total, t_total = utils.clip_grad_norm_(e_params, 1.0), tutils.clip_grad_norm_(t_params, 1.0)
    assert repr(total) == repr(t_total) == "tensor(0.)"
    assert repr(utils.clip_grad_norm_([], 1.0)) == "tensor(0.)"
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        utils.clip_grad_norm_((p for p in []), 1.0)
    with warnings.catch_warnings(record=True) as expected:
        warnings.simplefilter("always")
        tutils.clip_grad_norm_((p for p in []), 1.0)
    assert [str(w.message) for w in got] == [str(w.message) for w in expected]
    assert got[0].filename == __file__  # attributed to the caller


def test_clip_grad_norm_nonfinite():
    e_params, t_params = make_params()
    e_params[0].grad[0, 1] = float("inf")
    t_params[0].grad[0, 1] = float("inf")
    assert error_of(lambda: utils.clip_grad_norm_(e_params, 1.0, error_if_nonfinite=True)) == error_of(
        lambda: tutils.clip_grad_norm_(t_params, 1.0, error_if_nonfinite=True))
    e_params[2].grad[0, 0, 0] = float("nan")
    t_params[2].grad[0, 0, 0] = float("nan")
    assert error_of(lambda: utils.clip_grad_norm_(e_params, 1.0, 1, error_if_nonfinite=True)) == error_of(
        lambda: tutils.clip_grad_norm_(t_params, 1.0, 1, error_if_nonfinite=True))
    total, t_total = utils.clip_grad_norm_(e_params, 1.0), tutils.clip_grad_norm_(t_params, 1.0)
    assert repr(total) == repr(t_total)
    assert_grads_equal(e_params, t_params)  # all nan, as in torch


def test_clip_grad_norm_mixed_dtypes():
    e_params, t_params = make_params(dtypes={0: np.float64, 3: np.float64})
    total = utils.clip_grad_norm_(e_params, 0.5)
    t_total = tutils.clip_grad_norm_(t_params, 0.5)
    assert total.dtype is ember.float64 and t_total.dtype == torch.float64
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-12)
    assert_grads_equal(e_params, t_params)


def test_clip_grad_norm_does_not_record_history():
    e_params, _ = make_params()
    e_params[0].grad.requires_grad_(True)
    total = utils.clip_grad_norm_(e_params, 0.1)
    assert total.grad_fn is None and e_params[0].grad.grad_fn is None


def test_get_total_norm_and_clip_grads_with_norm():
    e_params, t_params = make_params(missing=(2,))
    grads = [p.grad for p in e_params if p.grad is not None]
    t_grads = [p.grad for p in t_params if p.grad is not None]
    for norm_type in (2.0, 1, float("inf")):
        np.testing.assert_allclose(utils.get_total_norm(grads, norm_type).item(),
                                   tutils.get_total_norm(t_grads, norm_type).item(), rtol=1e-6)
    total = utils.get_total_norm(grads)
    utils.clip_grads_with_norm_(e_params, 0.7, total)
    tutils.clip_grads_with_norm_(t_params, 0.7, tutils.get_total_norm(t_grads))
    assert_grads_equal(e_params, t_params)


@pytest.mark.parametrize("clip_value", [0.1, 1, 5.0])
def test_clip_grad_value_matches_torch(clip_value):
    e_params, t_params = make_params(missing=(0,), scale=2.0)
    assert utils.clip_grad_value_(e_params, clip_value) is None
    tutils.clip_grad_value_(t_params, clip_value)
    assert_grads_equal(e_params, t_params)
    utils.clip_grad_value_(e_params[1], clip_value / 2)  # a single tensor
    tutils.clip_grad_value_(t_params[1], clip_value / 2)
    assert_grads_equal(e_params, t_params)


def test_parameters_to_vector_matches_torch():
    e_params, t_params = make_params()
    vec = utils.parameters_to_vector(e_params)
    t_vec = tutils.parameters_to_vector(t_params)
    np.testing.assert_array_equal(vec.detach().numpy(), t_vec.detach().numpy())
    assert vec.grad_fn.name() == t_vec.grad_fn.name() == "CatBackward0"
    weights = np.arange(vec.numel(), dtype=np.float32)
    (vec * ember.tensor(weights)).sum().backward()
    (t_vec * torch.tensor(weights)).sum().backward()
    for ep, tp in zip(e_params, t_params):
        np.testing.assert_array_equal(ep.grad.numpy(), tp.grad.numpy())
    # a single tensor is iterated over its rows, as in torch
    e_one, t_one = e_params[0], t_params[0]
    np.testing.assert_array_equal(utils.parameters_to_vector(e_one).detach().numpy(),
                                  tutils.parameters_to_vector(t_one).detach().numpy())


def test_vector_to_parameters_matches_torch():
    e_params, t_params = make_params()
    n = sum(p.numel() for p in t_params)
    values = np.linspace(-1, 1, n).astype(np.float32)
    vec = ember.tensor(values)
    assert utils.vector_to_parameters(vec, e_params) is None
    tutils.vector_to_parameters(torch.tensor(values), t_params)
    for ep, tp in zip(e_params, t_params):
        assert type(ep) is Parameter and ep.requires_grad and ep.shape == tp.shape
        np.testing.assert_array_equal(ep.detach().numpy(), tp.detach().numpy())
    vec[0] = 42.0  # the parameters now view the vector's memory, like torch's
    assert e_params[0][0, 0].item() == 42.0
    # a longer vector is fine (the rest is unused); a shorter one fails
    utils.vector_to_parameters(ember.zeros(n + 5), e_params)
    with pytest.raises(RuntimeError):
        utils.vector_to_parameters(ember.zeros(n - 1), e_params)
    assert error_of(lambda: utils.vector_to_parameters([1.0], e_params)) == error_of(
        lambda: tutils.vector_to_parameters([1.0], t_params))


def test_roundtrip_through_vector():
    e_params, _ = make_params(seed=3)
    before = [p.detach().numpy().copy() for p in e_params]
    vec = utils.parameters_to_vector(e_params).detach().clone()
    utils.vector_to_parameters(vec * 2, e_params)
    for b, p in zip(before, e_params):
        np.testing.assert_array_equal(p.detach().numpy(), b * 2)


def test_exports():
    from ember.nn.utils import clip_grad, convert_parameters

    assert clip_grad.clip_grad_norm_ is utils.clip_grad_norm_
    assert clip_grad.clip_grad_value_ is utils.clip_grad_value_
    assert convert_parameters.parameters_to_vector is utils.parameters_to_vector
    assert convert_parameters.vector_to_parameters is utils.vector_to_parameters
