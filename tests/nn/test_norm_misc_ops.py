"""Normalisation, dropout and the remaining functional ops (ember/ops/normalization.py,
ember/ops/nn_misc.py) against torch.nn.functional: values, every gradient, grad_fn
names, running statistics, float64 gradchecks, dropout statistics and errors."""
import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
from ember.autograd import gradcheck
from ember.ops import nn_misc, normalization


class _Ember:
    """torch.nn.functional's names, served by ember's op modules."""

    def __getattr__(self, name):
        mod = normalization if hasattr(normalization, name) else nn_misc
        return getattr(mod, name)


EF = _Ember()
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def rng(*parts):
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def randn(r, shape, dtype=np.float32):
    return r.standard_normal(shape).astype(dtype)


def pair(arr, requires_grad=True):
    """The same data as an (ember, torch) pair of leaves; None stays None."""
    if arr is None:
        return None, None
    rg = requires_grad and arr.dtype.kind == "f"
    return ember.tensor(arr, requires_grad=rg), torch.tensor(arr, requires_grad=rg)


def np_(t):
    return t.detach().numpy()


def check(e_fn, t_fn, arrays, tol=None, grad=True, seed=0):
    """Runs both functions on the same data and compares output, grad_fn name and every gradient."""
    pairs = [pair(a) for a in arrays]
    eo = e_fn(*[p[0] for p in pairs])
    to = t_fn(*[p[1] for p in pairs])
    dtype = np_(to).dtype.type
    tol = tol or TOL.get(dtype, {})
    assert tuple(eo.shape) == tuple(to.shape)
    assert str(eo.dtype) == str(to.dtype)
    np.testing.assert_allclose(np_(eo), np_(to), **tol)
    assert (eo.grad_fn is None) == (to.grad_fn is None)
    if eo.grad_fn is not None:
        assert eo.grad_fn.name() == type(to.grad_fn).__name__
    if grad and to.requires_grad:
        g = randn(np.random.default_rng(seed), tuple(to.shape), dtype)
        eo.backward(ember.tensor(g))
        to.backward(torch.tensor(g))
        for (e, t) in pairs:
            if t is not None and t.requires_grad:
                assert (e.grad is None) == (t.grad is None)
                if t.grad is not None:
                    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **tol)
    return eo, to


def gradcheck64(fn, *arrays):
    inputs = tuple(ember.tensor(a.astype(np.float64), requires_grad=True) for a in arrays)
    assert gradcheck(fn, inputs)


# -- batch_norm -------------------------------------------------------------------------------------------
BN_SHAPES = [(8, 3), (4, 3, 5), (2, 3, 4, 5)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training,stats", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(shape, dtype, training, affine, stats):
    r = rng("bn", shape, dtype, training, affine, stats)
    x = randn(r, shape, dtype) * 2 + 0.5
    c = shape[1]
    w, b = (randn(r, c, dtype), randn(r, c, dtype)) if affine else (None, None)
    rm0, rv0 = randn(r, c, dtype), np.abs(randn(r, c, dtype)) + 0.5
    (erm, trm), (erv, trv) = pair(rm0, False), pair(rv0, False)
    if not stats:
        erm = trm = erv = trv = None
    check(lambda x, w, b: EF.batch_norm(x, erm, erv, w, b, training, 0.3, 1e-3),
          lambda x, w, b: TF.batch_norm(x, trm, trv, w, b, training, 0.3, 1e-3), [x, w, b])
    if stats:
        np.testing.assert_allclose(erm.numpy(), trm.numpy(), **TOL[dtype])
        np.testing.assert_allclose(erv.numpy(), trv.numpy(), **TOL[dtype])
        assert (erm._version > 0) == training


@pytest.mark.parametrize("momentum", [0.0, 0.1, 0.5, 1.0])
def test_batch_norm_running_stats_over_calls(momentum):
    r = rng("bn-run", momentum)
    erm, erv, trm, trv = ember.zeros(4), ember.ones(4), torch.zeros(4), torch.ones(4)
    for step in range(4):
        x = randn(r, (6, 4, 3)) * (step + 1) + step
        EF.batch_norm(ember.tensor(x), erm, erv, training=True, momentum=momentum)
        TF.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=momentum)
    np.testing.assert_allclose(erm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(erv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-6)
    x = randn(r, (5, 4))
    np.testing.assert_allclose(EF.batch_norm(ember.tensor(x), erm, erv).numpy(),
                               TF.batch_norm(torch.tensor(x), trm, trv).numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_input_modified_in_place_before_backward():
    x = ember.randn(4, 3, requires_grad=True)
    y = x * 1
    out = EF.batch_norm(y, None, None, training=True)
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def _raises(exc, message, fn):
    with pytest.raises(exc) as info:
        fn()
    assert str(info.value) == message


def test_batch_norm_errors():
    x = ember.randn(4, 3, 5)
    _raises(ValueError, "Expected more than 1 value per channel when training, got input size torch.Size([1, 4])",
            lambda: EF.batch_norm(ember.randn(1, 4), None, None, training=True))
    _raises(ValueError,
            "Expected more than 1 value per channel when training, got input size torch.Size([1, 4, 1])",
            lambda: EF.batch_norm(ember.randn(1, 4, 1), ember.zeros(4), ember.ones(4), training=True))
    _raises(RuntimeError, "running_mean must be defined in evaluation mode",
            lambda: EF.batch_norm(x, None, None, training=False))
    _raises(ValueError, "running_mean and running_var must either both be None or neither be None",
            lambda: EF.batch_norm(x, ember.zeros(3), None, training=True))
    _raises(RuntimeError, "running_mean should contain 3 elements not 4",
            lambda: EF.batch_norm(x, ember.zeros(4), ember.ones(4), training=True))
    _raises(RuntimeError, "weight should contain 3 elements not 4",
            lambda: EF.batch_norm(x, ember.zeros(3), ember.ones(3), ember.ones(4)))
    _raises(RuntimeError, "bias should contain 3 elements not 4",
            lambda: EF.batch_norm(x, ember.zeros(3), ember.ones(3), None, ember.ones(4)))
    _raises(RuntimeError, "mixed dtype (CPU): expect parameter to have scalar type of Float",
            lambda: EF.batch_norm(x, ember.zeros(3), ember.ones(3), ember.ones(3, dtype=ember.float64)))
    _raises(RuntimeError, "mixed dtype (CPU): all inputs must share same datatype.",
            lambda: EF.batch_norm(x.double(), ember.zeros(3), ember.ones(3)))
    with pytest.raises(TypeError):
        EF.batch_norm(x, ember.zeros(3), ember.ones(3), training=True, momentum=None)
    # a (0, C) batch passes and leaves the running statistics alone, as in PyTorch
    rm = ember.zeros(3)
    assert EF.batch_norm(ember.randn(0, 3), rm, ember.ones(3), training=True).shape == (0, 3)
    assert rm._version == 0


# -- layer_norm, group_norm, instance_norm, local_response_norm ----------------------------------------------
@pytest.mark.parametrize("shape,normalized", [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 5), (3, 5)),
                                              ((2, 3, 4, 5), [3, 4, 5]), ((7,), (7,))])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_layer_norm(shape, normalized, dtype, affine):
    r = rng("ln", shape, normalized, dtype, affine)
    x = randn(r, shape, dtype) * 3 + 1
    w = randn(r, tuple(normalized), dtype) if affine in ("both", "weight") else None
    b = randn(r, tuple(normalized), dtype) if affine in ("both", "bias") else None
    check(lambda x, w, b: EF.layer_norm(x, normalized, w, b, 1e-4),
          lambda x, w, b: TF.layer_norm(x, normalized, w, b, 1e-4), [x, w, b])


def test_layer_norm_errors():
    x = ember.randn(4, 3, 5)
    _raises(RuntimeError, "Given normalized_shape=[6], expected input with shape [*, 6], but got input of "
            "size[4, 3, 5]", lambda: EF.layer_norm(x, (6,)))
    _raises(RuntimeError, "Given normalized_shape=[2, 4, 3, 5], expected input with shape [*, 2, 4, 3, 5], but "
            "got input of size[4, 3, 5]", lambda: EF.layer_norm(x, (2, 4, 3, 5)))
    _raises(RuntimeError, "Expected weight to be of same shape as normalized_shape, but got weight of shape [5] "
            "and normalized_shape = [3, 5]", lambda: EF.layer_norm(x, [3, 5], ember.ones(5)))
    _raises(RuntimeError, "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
            "element, but got normalized_shape = []", lambda: EF.layer_norm(x, ()))
    with pytest.raises(TypeError):
        EF.layer_norm(x, 5)


@pytest.mark.parametrize("shape,groups", [((4, 4), 2), ((3, 6, 5), 3), ((2, 4, 3, 3), 1), ((2, 4, 3, 3), 4),
                                          ((2, 6, 2, 3, 2), 2)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(shape, groups, dtype, affine):
    r = rng("gn", shape, groups, dtype, affine)
    x = randn(r, shape, dtype) * 2 - 1
    w, b = (randn(r, shape[1], dtype), randn(r, shape[1], dtype)) if affine else (None, None)
    # statistics over a few elements amplify float32 rounding: PyTorch and ember each stay
    # within ~3e-6 of the float64 result here, not always within 1e-6 of each other
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else None
    check(lambda x, w, b: EF.group_norm(x, groups, w, b, 1e-3),
          lambda x, w, b: TF.group_norm(x, groups, w, b, 1e-3), [x, w, b], tol=tol)


def test_group_norm_errors():
    x = ember.randn(4, 3, 5)
    _raises(RuntimeError, "Expected number of channels in input to be divisible by num_groups, but got input of "
            "shape [4, 3, 5] and num_groups=2", lambda: EF.group_norm(x, 2))
    _raises(RuntimeError, "Expected weight to be a vector of size equal to the number of channels in input, but "
            "got weight of shape [4] and input of shape [4, 3, 5]", lambda: EF.group_norm(x, 3, ember.ones(4)))
    _raises(RuntimeError, "Expected at least 2 dimensions for input tensor but received 1",
            lambda: EF.group_norm(ember.randn(3), 1))


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm(shape, use_input_stats):
    r = rng("in", shape, use_input_stats)
    c = shape[1]
    erm, trm = pair(randn(r, c), False)
    erv, trv = pair(np.abs(randn(r, c)) + 0.5, False)
    for step in range(2):
        x = randn(r, shape) * 2 + step
        check(lambda x, w, b: EF.instance_norm(x, erm, erv, w, b, use_input_stats, 0.2),
              lambda x, w, b: TF.instance_norm(x, trm, trv, w, b, use_input_stats, 0.2),
              [x, randn(r, c), randn(r, c)])
        np.testing.assert_allclose(erm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(erv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-6)
    check(lambda x: EF.instance_norm(x), lambda x: TF.instance_norm(x), [randn(r, shape)])
    _raises(ValueError, "Expected more than 1 spatial element when training, got input size torch.Size([2, 3, 1])",
            lambda: EF.instance_norm(ember.randn(2, 3, 1)))


@pytest.mark.parametrize("shape,size", [((2, 5, 4), 3), ((2, 6, 3, 4), 2), ((1, 3, 2, 2, 2), 5)])
def test_local_response_norm(shape, size):
    r = rng("lrn", shape, size)
    check(lambda x: EF.local_response_norm(x, size, 0.5, 0.6, 1.5),
          lambda x: TF.local_response_norm(x, size, 0.5, 0.6, 1.5), [randn(r, shape)])
    _raises(ValueError, "Expected 3D or higher dimensionality input (got 2 dimensions)",
            lambda: EF.local_response_norm(ember.randn(2, 3), 2))


def test_norm_gradchecks():
    r = rng("norm-gradcheck")
    x3, x4 = randn(r, (4, 3, 2)), randn(r, (2, 4, 2, 3))
    w3, b3, w4, b4 = randn(r, 3), randn(r, 3), randn(r, 4), randn(r, 4)
    rm, rv = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
    gradcheck64(lambda x, w, b: EF.batch_norm(x, None, None, w, b, True), x3, w3, b3)
    gradcheck64(lambda x, w, b: EF.batch_norm(x, rm, rv, w, b, False), x3, w3, b3)
    gradcheck64(lambda x: EF.batch_norm(x, None, None, training=True), x4[:, :3])
    gradcheck64(lambda x, w, b: EF.layer_norm(x, (2, 3), w, b), x4, randn(r, (2, 3)), randn(r, (2, 3)))
    gradcheck64(lambda x, w, b: EF.group_norm(x, 2, w, b), x4, w4, b4)
    gradcheck64(lambda x, w: EF.instance_norm(x, weight=w), x4, w4)
    gradcheck64(lambda x: EF.local_response_norm(x, 3, 0.5, 0.75, 1.0), x4)


# -- dropout ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_statistics_and_gradient(p, dtype):
    ember.manual_seed(1)
    x = ember.tensor(randn(rng("drop", p), (200, 250), dtype) + 3, requires_grad=True)
    out = EF.dropout(x, p)
    assert out.grad_fn.name() == "MulBackward0" and out.dtype == x.dtype
    kept = np_(out) != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(np_(out)[kept], np_(x)[kept] / (1 - p), rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / np.asarray(1 - p, dtype), rtol=1e-6)


def test_dropout_modes_and_errors():
    x = ember.randn(4, 5, requires_grad=True)
    assert EF.dropout(x, 0.5, training=False) is x
    assert EF.dropout(x, 0.0) is x
    assert EF.alpha_dropout(x, 0.5) is x  # alpha_dropout defaults to training=False
    zero = EF.dropout(x, 1.0)
    assert zero.grad_fn.name() == "MulBackward0" and not np_(zero).any()
    _raises(ValueError, "dropout probability has to be between 0 and 1, but got 1.5", lambda: EF.dropout(x, 1.5))
    _raises(ValueError, "dropout probability has to be between 0 and 1, but got -0.1",
            lambda: EF.dropout2d(x, -0.1))
    _raises(RuntimeError, "a leaf Variable that requires grad is being used in an in-place operation.",
            lambda: EF.dropout(x, 0.5, inplace=True))
    _raises(RuntimeError, "result type Float can't be cast to the desired output type Long",
            lambda: EF.dropout(ember.arange(5), 0.5))
    _raises(RuntimeError, "dropout1d: Expected 2D or 3D input, but received a 4D input. Note that dropout1d exists "
            "to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an "
            "optional batch dimension (i.e. 2D or 3D inputs).", lambda: EF.dropout1d(ember.randn(2, 3, 4, 5)))


def test_dropout_inplace_and_seed():
    ember.manual_seed(3)
    a = EF.dropout(ember.ones(50, 40), 0.3)
    ember.manual_seed(3)
    y = ember.ones(50, 40)
    b = EF.dropout(y, 0.3, inplace=True)
    assert b is y
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    h = ember.randn(3, 4, requires_grad=True) * 1
    out = EF.dropout(h, 0.5, inplace=True)
    assert out is h and h.grad_fn.name() == "MulBackward0"


@pytest.mark.parametrize("fn,shape,batched", [("dropout1d", (8, 30, 6), True), ("dropout1d", (30, 6), False),
                                              ("dropout2d", (8, 30, 3, 4), True),
                                              ("dropout3d", (4, 30, 2, 3, 2), True),
                                              ("dropout3d", (30, 2, 3, 2), False)])
def test_feature_dropout_drops_whole_channels(fn, shape, batched):
    ember.manual_seed(5)
    x = ember.tensor(np.abs(randn(rng(fn, shape), shape)) + 1, requires_grad=True)
    out = getattr(EF, fn)(x, 0.4)
    torch_out = getattr(TF, fn)(torch.ones(shape, requires_grad=True), 0.4)
    assert out.grad_fn.name() == type(torch_out.grad_fn).__name__
    chans = np_(out).reshape((shape[0] if batched else 1, shape[1 if batched else 0], -1))
    zero = (chans == 0).all(-1)
    assert ((chans != 0).all(-1) | zero).all()  # each channel is kept or dropped as a whole
    assert 0.2 < zero.mean() < 0.6
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (np_(out) != 0) / 0.6, rtol=1e-6)
    # eval mode is the identity (unbatched input still goes through unsqueeze/squeeze, as in PyTorch)
    same = getattr(EF, fn)(x, 0.4, training=False)
    np.testing.assert_array_equal(np_(same), np_(x))


def test_dropout2d_warnings():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        EF.dropout2d(ember.randn(2, 3, 4))
    with pytest.warns(UserWarning, match="Received a 5-D input to dropout2d"):
        EF.dropout2d(ember.randn(2, 3, 4, 5, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EF.dropout2d(ember.randn(2, 3, 4, 5))
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="Feature dropout requires at least 2"):
        EF.dropout2d(ember.randn(5))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout(p):
    """Dropped units take one value and kept ones an affine map of x; both match PyTorch's, and
    mean and variance of a standard normal input survive."""
    ember.manual_seed(2)
    data = randn(rng("alpha", p), (300, 300))
    x = ember.tensor(data, requires_grad=True)
    out = EF.alpha_dropout(x, p, True)
    t_out = TF.alpha_dropout(torch.tensor(data), p, True).numpy()
    assert out.grad_fn.name() == "AddBackward0"
    o = np_(out)
    values, counts = np.unique(t_out, return_counts=True)
    t_drop = values[counts.argmax()]  # every dropped unit takes this one value
    dropped = np.isclose(o, t_drop, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - p) < 0.01
    t_scale = np.polyfit(data[t_out != t_drop], t_out[t_out != t_drop], 1)
    np.testing.assert_allclose(np.polyfit(data[~dropped], o[~dropped], 1), t_scale, rtol=1e-5, atol=1e-5)
    assert abs(o.mean()) < 0.02 and abs(o.var() - 1) < 0.02
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(dropped, 0, t_scale[0]), rtol=1e-5)
    f = EF.feature_alpha_dropout(ember.randn(20, 30, 4), p, True).numpy()
    assert (np.isclose(f, t_drop, atol=1e-6).all(-1) | ~np.isclose(f, t_drop, atol=1e-6).any(-1)).all()


def test_dropout_gradcheck():
    x = randn(rng("drop-gc"), (5, 6))

    def reseeded(fn):
        def run(x):
            ember.manual_seed(0)
            return fn(x)
        return run

    gradcheck64(reseeded(lambda x: EF.dropout(x, 0.4)), x)
    gradcheck64(reseeded(lambda x: EF.dropout1d(x, 0.4)), x)
    gradcheck64(reseeded(lambda x: EF.alpha_dropout(x, 0.4, True)), x)


# -- linear, bilinear -------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_shape", [(5,), (4, 5), (2, 3, 5), (2, 1, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(in_shape, bias, dtype):
    r = rng("linear", in_shape, bias, dtype)
    x, w = randn(r, in_shape, dtype), randn(r, (6, 5), dtype)
    b = randn(r, 6, dtype) if bias else None
    eo, _ = check(EF.linear, TF.linear, [x, w, b])
    if len(in_shape) == 2 and bias:
        assert eo.grad_fn.name() == "AddmmBackward0"


def test_linear_variants_and_errors():
    r = rng("linear-errors")
    check(EF.linear, TF.linear, [randn(r, (4, 5)), randn(r, (6, 5)), randn(r, 1)])  # broadcast bias
    check(EF.linear, TF.linear, [randn(r, (4, 5)), randn(r, 5)])  # 1-d weight: a matrix-vector product
    _raises(RuntimeError, "mat1 and mat2 shapes cannot be multiplied (1x576 and 400x120)",
            lambda: EF.linear(ember.randn(1, 576), ember.randn(120, 400), ember.randn(120)))
    _raises(RuntimeError, "mat1 and mat2 shapes cannot be multiplied (6x576 and 400x120)",
            lambda: EF.linear(ember.randn(2, 3, 576), ember.randn(120, 400)))
    _raises(RuntimeError, "The expanded size of the tensor (120) must match the existing size (3) at non-singleton "
            "dimension 1.  Target sizes: [2, 120].  Tensor sizes: [3]",
            lambda: EF.linear(ember.randn(2, 400), ember.randn(120, 400), ember.randn(3)))
    _raises(RuntimeError, "mat1 and mat2 must have the same dtype, but got Double and Float",
            lambda: EF.linear(ember.randn(2, 4).double(), ember.randn(3, 4), ember.randn(3)))
    _raises(RuntimeError, "expected m1 and m2 to have the same dtype, but got: float != double",
            lambda: EF.linear(ember.randn(2, 4), ember.randn(3, 4).double()))
    _raises(RuntimeError, "both arguments to linear need to be at least 1D, but they are 0D and 2D",
            lambda: EF.linear(ember.randn(()), ember.randn(3, 4)))


@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(lead, bias):
    r = rng("bilinear", lead, bias)
    arrays = [randn(r, lead + (3,)), randn(r, lead + (4,)), randn(r, (2, 3, 4)), randn(r, 2) if bias else None]
    check(EF.bilinear, TF.bilinear, arrays, tol=dict(rtol=1e-5, atol=2e-6))


def test_bilinear_errors():
    w = ember.randn(2, 3, 4)
    _raises(RuntimeError, "bilinear(): input batch dimensions do not match at dim 0: got 5 and 4",
            lambda: EF.bilinear(ember.randn(5, 3), ember.randn(4, 4), w))
    _raises(RuntimeError, "bilinear(): input2 size does not match weight size: got 5 but expected 4",
            lambda: EF.bilinear(ember.randn(5, 3), ember.randn(5, 5), w))
    _raises(RuntimeError, "bilinear(): input1 size does not match weight size: got 2 but expected 3",
            lambda: EF.bilinear(ember.randn(5, 2), ember.randn(5, 4), w))
    _raises(RuntimeError, "bilinear(): bias size does not match weight size: got 3 but expected 2",
            lambda: EF.bilinear(ember.randn(5, 3), ember.randn(5, 4), w, ember.randn(3)))
    _raises(RuntimeError, "bilinear(): input dimensions do not match: got 2 and 3",
            lambda: EF.bilinear(ember.randn(5, 3), ember.randn(1, 5, 4), w))


# -- embedding, one_hot -----------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_embedding(padding_idx, scale_grad_by_freq, index_dtype):
    r = rng("emb", padding_idx, scale_grad_by_freq)
    idx = np.array([[1, 2, 1, 9], [0, 9, 1, 2]], dtype=index_dtype)
    w = randn(r, (10, 3))
    check(lambda w, i: EF.embedding(i, w, padding_idx, scale_grad_by_freq=scale_grad_by_freq),
          lambda w, i: TF.embedding(i, w, padding_idx, scale_grad_by_freq=scale_grad_by_freq), [w, idx])


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalises_rows_in_place(norm_type):
    w = randn(rng("emb-max", norm_type), (10, 4)) * 2
    idx = np.array([[1, 2], [7, 1]])
    ew, tw = ember.tensor(w), torch.tensor(w)
    eo = EF.embedding(ember.tensor(idx), ew, max_norm=1.5, norm_type=norm_type)
    to = TF.embedding(torch.tensor(idx), tw, max_norm=1.5, norm_type=norm_type)
    np.testing.assert_allclose(eo.numpy(), to.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ew.numpy(), tw.numpy(), rtol=1e-6)
    assert ew._version > 0


def test_embedding_errors():
    w = ember.randn(10, 3)
    _raises(IndexError, "index out of range in self", lambda: EF.embedding(ember.tensor([3, 10]), w))
    _raises(IndexError, "index out of range in self", lambda: EF.embedding(ember.tensor([-1]), w))
    _raises(RuntimeError, "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            "Long, Int; but got torch.FloatTensor instead (while checking arguments for embedding)",
            lambda: EF.embedding(ember.tensor([1.0]), w))
    _raises(AssertionError, "Padding_idx must be within num_embeddings",
            lambda: EF.embedding(ember.tensor([1]), w, padding_idx=10))
    _raises(RuntimeError, "'weight' must be 2-D", lambda: EF.embedding(ember.tensor([1]), ember.randn(10)))


def test_one_hot():
    for args in [([[1, 2], [0, 3]],), ([1, 2], 5), ([], 3), (2, 3)]:
        e = EF.one_hot(ember.tensor(args[0], dtype=ember.int64), *args[1:])
        t = TF.one_hot(torch.tensor(args[0], dtype=torch.int64), *args[1:])
        assert e.dtype == ember.int64 and e.grad_fn is None
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    _raises(RuntimeError, "Class values must be smaller than num_classes.",
            lambda: EF.one_hot(ember.tensor([1, 2]), 2))
    _raises(RuntimeError, "Class values must be non-negative.", lambda: EF.one_hot(ember.tensor([1, -2]), 5))
    _raises(RuntimeError, "one_hot is only applicable to index tensor of type LongTensor.",
            lambda: EF.one_hot(ember.tensor([1, 2], dtype=ember.int32), 5))
    _raises(RuntimeError, "Can not infer total number of classes from empty tensor.",
            lambda: EF.one_hot(ember.tensor([], dtype=ember.int64)))


# -- pad ------------------------------------------------------------------------------------------------------
PADS = [((2, 3, 5), (1, 2)), ((2, 3, 5), (2, -1)), ((3, 5), (0, 4)), ((2, 3, 4, 5), (1, 2, 3, 0)),
        ((3, 4, 5), (-1, 2, 1, -2)), ((2, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2)), ((2, 3, 4, 5), (1, 0, 2, 1, 1, 2))]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pads", PADS)
def test_pad(mode, shape, pads):
    x = randn(rng("pad", mode, shape, pads), shape)
    check(lambda x: EF.pad(x, pads, mode), lambda x: TF.pad(x, pads, mode), [x])


@pytest.mark.parametrize("pads", [(1, 2), (0, 0, 2, 1, 1, 1), (-1, -1, -4, 0), (1, 1, 1, 1, 1, 1, 1, 1)])
def test_pad_constant_any_rank_and_value(pads):
    x = randn(rng("padc", pads), (2, 3, 4, 5))
    check(lambda x: EF.pad(x, pads, value=-2.5), lambda x: TF.pad(x, pads, value=-2.5), [x])
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(EF.pad(ember.tensor(ints), (1, 2), value=1.5).numpy(),
                                  TF.pad(torch.tensor(ints), (1, 2), value=1.5).numpy())


def test_pad_errors():
    x = ember.randn(2, 3, 4)
    _raises(RuntimeError, "Padding length must be divisible by 2", lambda: EF.pad(x, (1,)))
    _raises(RuntimeError, "Padding length should be less than or equal to two times the input dimension but got "
            "padding length 8 and input of dimension 3", lambda: EF.pad(x, (1,) * 8))
    _raises(RuntimeError, "narrow(): length must be non-negative.", lambda: EF.pad(x, (1, -5)))
    _raises(RuntimeError, "Argument #4: Padding size should be less than the corresponding input dimension, but "
            "got: padding (1, 4) at dimension 2 of input [2, 3, 4]", lambda: EF.pad(x, (1, 4), "reflect"))
    _raises(RuntimeError, "Argument #6: Padding size should be less than the corresponding input dimension, but "
            "got: padding (5, 1) at dimension 2 of input [2, 3, 4, 5]",
            lambda: EF.pad(ember.randn(2, 3, 4, 5), (1, 2, 5, 1), "reflect"))
    _raises(RuntimeError, "Padding value causes wrapping around more than once.",
            lambda: EF.pad(x, (1, 5), "circular"))
    _raises(RuntimeError, 'Padding mode "reflect" doesn\'t take in value argument',
            lambda: EF.pad(x, (1, 2), "reflect", 0))
    _raises(NotImplementedError, "Unrecognised padding mode foo", lambda: EF.pad(x, (1, 2), "foo"))
    with pytest.raises(NotImplementedError, match="Padding size 6 is not supported for 3D input tensor"):
        EF.pad(x, (1,) * 6, "replicate")


def test_pad_gradcheck():
    x = randn(rng("pad-gc"), (2, 3, 4))
    for mode in ["constant", "reflect", "replicate", "circular"]:
        gradcheck64(lambda x: EF.pad(x, (2, 1, -1, 2), mode), x)


# -- normalize, cosine_similarity, pairwise_distance --------------------------------------------------------
@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0), (float("inf"), 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_normalize(p, dim, dtype):
    x = randn(rng("normalize", p, dim, dtype), (3, 4, 5), dtype)
    x[0, :, 0] = 0  # a zero vector: clamped by eps, gradient through it as in PyTorch
    check(lambda x: EF.normalize(x, p, dim), lambda x: TF.normalize(x, p, dim), [x])
    out = ember.empty(3, 4, 5, dtype=ember.float32 if dtype == np.float32 else ember.float64)
    assert EF.normalize(ember.tensor(x), p, dim, out=out) is out
    np.testing.assert_allclose(out.numpy(), TF.normalize(torch.tensor(x), p, dim).numpy(), **TOL[dtype])


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((3, 4), (4,)), -1), (((2, 3, 4), (1, 3, 4)), 1),
                                        (((6,), (6,)), 0)])
def test_cosine_similarity(shapes, dim):
    r = rng("cos", shapes, dim)
    a, b = randn(r, shapes[0], np.float64), randn(r, shapes[1], np.float64)
    check(lambda a, b: EF.cosine_similarity(a, b, dim), lambda a, b: TF.cosine_similarity(a, b, dim), [a, b])
    # below eps each norm is clamped on its own
    tiny = np.array([[1e-9, 0.0], [1e-5, 0.0]]), np.array([[1e-2, 0.0], [1e-5, 0.0]])
    check(lambda a, b: EF.cosine_similarity(a, b), lambda a, b: TF.cosine_similarity(a, b), list(tiny),
          tol=dict(rtol=1e-10, atol=1e-4))  # gradients of order 1e7
    _raises(RuntimeError, "The size of tensor a (3) must match the size of tensor b (5) at non-singleton dimension 0",
            lambda: EF.cosine_similarity(ember.randn(3, 4), ember.randn(5, 4), -1))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(p, keepdim):
    r = rng("pdist", p, keepdim)
    check(lambda a, b: EF.pairwise_distance(a, b, p, keepdim=keepdim),
          lambda a, b: TF.pairwise_distance(a, b, p, keepdim=keepdim), [randn(r, (3, 4)), randn(r, (4,))])
    check(lambda a, b: EF.pairwise_distance(a, b, p), lambda a, b: TF.pairwise_distance(a, b, p),
          [randn(r, (5,)), randn(r, (5,))])


def test_similarity_gradchecks():
    r = rng("sim-gc")
    a, b = randn(r, (3, 4)), randn(r, (3, 4))
    gradcheck64(lambda x: EF.normalize(x, 2.0, 1), a)
    gradcheck64(lambda x: EF.normalize(x, 3.0, 0), a)
    gradcheck64(lambda x, y: EF.cosine_similarity(x, y), a, b)
    gradcheck64(lambda x, y: EF.pairwise_distance(x, y), a, b)
    gradcheck64(lambda x, y: EF.pairwise_distance(x, y, 1.5, keepdim=True), a, b)


# -- interpolate --------------------------------------------------------------------------------------------
SIZES_1D = [dict(size=s) for s in (1, 3, 5, 7, 10, 13)] + [dict(scale_factor=f) for f in (0.5, 0.7, 1.3, 2, 2.1, 3.3)] \
    + [dict(scale_factor=1.7, recompute_scale_factor=True)]
SIZES_2D = [dict(size=(3, 7)), dict(size=(5, 4)), dict(size=8), dict(scale_factor=2), dict(scale_factor=(1.3, 0.6)),
            dict(scale_factor=2.1), dict(scale_factor=1.5, recompute_scale_factor=True)]
INTERP = [("nearest", None), ("nearest-exact", None), ("linear", False), ("linear", True)]


@pytest.mark.parametrize("mode,align_corners", INTERP)
@pytest.mark.parametrize("cfg", SIZES_1D, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate_1d(mode, align_corners, cfg, dtype):
    x = randn(rng("interp1", mode, align_corners, cfg, dtype), (2, 3, 5), dtype)
    # 5 -> 10 by scale 2.1: PyTorch's nearest forward reads floor(i / 2.1) but its backward
    # sends gradients to i // 2, not the gradient of its own forward; ember's backward follows
    # its forward (gradcheck below), so only values are compared there
    consistent = not (mode == "nearest" and cfg.get("scale_factor") == 2.1)
    check(lambda x: EF.interpolate(x, mode=mode, align_corners=align_corners, **cfg),
          lambda x: TF.interpolate(x, mode=mode, align_corners=align_corners, **cfg), [x], grad=consistent)


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                                ("bilinear", True)])
@pytest.mark.parametrize("cfg", SIZES_2D, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate_2d(mode, align_corners, cfg, dtype):
    x = randn(rng("interp2", mode, align_corners, cfg, dtype), (2, 2, 4, 5), dtype)
    # bilinear blends in a different order of operations than PyTorch: a few ulps apart
    tol = dict(rtol=1e-5, atol=2e-6) if dtype == np.float32 else None
    check(lambda x: EF.interpolate(x, mode=mode, align_corners=align_corners, **cfg),
          lambda x: TF.interpolate(x, mode=mode, align_corners=align_corners, **cfg), [x], tol=tol)


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("trilinear", False), ("trilinear", True)])
def test_interpolate_3d(mode, align_corners):
    x = randn(rng("interp3", mode, align_corners), (1, 2, 3, 4, 2))
    check(lambda x: EF.interpolate(x, size=(4, 3, 5), mode=mode, align_corners=align_corners),
          lambda x: TF.interpolate(x, size=(4, 3, 5), mode=mode, align_corners=align_corners), [x],
          tol=dict(rtol=1e-5, atol=2e-6))


def test_interpolate_errors():
    x, x4 = ember.randn(2, 3, 5), ember.randn(2, 3, 5, 4)
    _raises(ValueError, "either size or scale_factor should be defined", lambda: EF.interpolate(x))
    _raises(ValueError, "only one of size or scale_factor should be defined",
            lambda: EF.interpolate(x, size=3, scale_factor=2))
    _raises(ValueError, "align_corners option can only be set with the interpolating modes: linear | bilinear | "
            "bicubic | trilinear", lambda: EF.interpolate(x, size=7, align_corners=True))
    _raises(NotImplementedError, "Got 3D input, but bilinear mode needs 4D input",
            lambda: EF.interpolate(x, size=7, mode="bilinear"))
    _raises(NotImplementedError, "Got 4D input, but linear mode needs 3D input",
            lambda: EF.interpolate(x4, size=7, mode="linear"))
    _raises(ValueError, "Input and output must have the same number of spatial dimensions, but got input with "
            "spatial dimensions of [5] and output size of (3, 4). Please provide input tensor in (N, C, d1, d2, "
            "...,dK) format and output size in (o1, o2, ...,oK) format.", lambda: EF.interpolate(x, size=(3, 4)))
    _raises(RuntimeError, "Input and output sizes should be greater than 0, but got input (H: 5, W: 4) output "
            "(H: 0, W: 0)", lambda: EF.interpolate(x4, scale_factor=0.1, mode="bilinear"))
    _raises(RuntimeError, "Input and output sizes should be greater than 0, but got input (W: 5) and output (W: 0)",
            lambda: EF.interpolate(x, size=0))
    _raises(ValueError, "recompute_scale_factor is not meaningful with an explicit size.",
            lambda: EF.interpolate(x, size=3, recompute_scale_factor=True))
    with pytest.raises(NotImplementedError, match="Only 3D, 4D and 5D input Tensors supported"):
        EF.interpolate(ember.randn(3, 5), size=7)


def test_interpolate_gradcheck():
    x1, x2 = randn(rng("interp-gc1"), (1, 2, 4)), randn(rng("interp-gc2"), (1, 2, 3, 4))
    gradcheck64(lambda x: EF.interpolate(x, size=7, mode="linear"), x1)
    gradcheck64(lambda x: EF.interpolate(x, size=3, mode="linear", align_corners=True), x1)
    gradcheck64(lambda x: EF.interpolate(x, scale_factor=1.7, mode="nearest"), x1)
    gradcheck64(lambda x: EF.interpolate(x, scale_factor=2.1, mode="nearest"), x1)
    gradcheck64(lambda x: EF.interpolate(x, size=(5, 3), mode="bilinear"), x2)
    gradcheck64(lambda x: EF.interpolate(x, size=(4, 7), mode="bilinear", align_corners=True), x2)
    gradcheck64(lambda x: EF.interpolate(x, size=(5, 2), mode="nearest-exact"), x2)


# -- pixel_shuffle -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 4), 2), ((9, 2, 3), 3), ((2, 1, 4, 2, 2), 2)])
def test_pixel_shuffle(shape, r):
    x = randn(rng("ps", shape, r), shape)
    out, _ = check(lambda x: EF.pixel_shuffle(x, r), lambda x: TF.pixel_shuffle(x, r), [x])
    check(lambda x: EF.pixel_unshuffle(x, r), lambda x: TF.pixel_unshuffle(x, r), [np_(out)])
    gradcheck64(lambda x: EF.pixel_shuffle(x, r), x)
    _raises(RuntimeError, "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
            "upscale_factor, but input.size(-3)=7 is not divisible by 4",
            lambda: EF.pixel_shuffle(ember.randn(2, 7, 3, 3), 2))
    _raises(RuntimeError, "pixel_unshuffle expects height to be divisible by downscale_factor, but "
            "input.size(-2)=5 is not divisible by 2", lambda: EF.pixel_unshuffle(ember.randn(2, 2, 5, 6), 2))


# -- gradchecks of the remaining differentiable ops -----------------------------------------------------------
def test_linear_bilinear_embedding_gradcheck():
    r = rng("lin-gc")
    gradcheck64(EF.linear, randn(r, (4, 3)), randn(r, (2, 3)), randn(r, 2))
    gradcheck64(EF.linear, randn(r, (2, 2, 3)), randn(r, (2, 3)), randn(r, 2))
    gradcheck64(EF.linear, randn(r, (2, 2, 3)), randn(r, (2, 3)))
    gradcheck64(EF.bilinear, randn(r, (4, 3)), randn(r, (4, 2)), randn(r, (2, 3, 2)), randn(r, 2))
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: compared with torch above)
    idx = ember.tensor([[1, 2, 1], [0, 3, 2]])
    gradcheck64(lambda w: EF.embedding(idx, w), randn(r, (4, 3)))
