"""Numba twins of the pooling, cross-entropy, ReLU, batch-norm and optimizer kernels against
their NumPy references (called directly): the same results bit for bit where the twin
keeps the reference's operation order (pooling, ReLU, optimizers), to float32 rounding
where it sums differently (batch-norm statistics, cross-entropy's log-sum-exp,
overlapping max-pool gradients). Also: odd sizes, padding/dilation/ceil_mode, ties,
nan/inf, non-contiguous inputs, the reference fallbacks, and independence from the
thread count. End-to-end checks against torch are in tests/nn."""
import itertools

import numba
import numpy as np
import pytest

from ember.kernels import conv as RC
from ember.kernels import nn as RN
from ember.kernels import numba_nn as NN
from ember.kernels import numba_optim as NO
from ember.kernels import numba_pool as NP
from ember.kernels import optim as RO
from ember.ops.pool import _pool_out

DTYPES = [np.float32, np.float64]


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_same(a, b):
    """Identical arrays: shape, dtype, nans in the same places and every other bit the same
    (signed zeros included). A nan's sign and payload are not compared: LLVM, like C
    compilers, does not preserve them (it may rewrite a - (-b) as a + b)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        np.testing.assert_array_equal(nan, np.isnan(b))
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def out_size(shape, k, s, p, d, ceil_mode):
    return tuple(_pool_out(n, *args, ceil_mode) for n, *args in zip(shape[-2:], k, s, p, d))


# -- max pooling --------------------------------------------------------------------------------
# kernel, stride, padding, dilation, ceil_mode
POOLS = [
    ((2, 2), (2, 2), (0, 0), (1, 1), False),  # the unrolled fast path
    ((2, 2), (2, 2), (0, 0), (1, 1), True),  # odd sizes: ceil_mode's extra window leaves the fast path
    ((3, 2), (2, 1), (1, 1), (1, 1), False),
    ((2, 2), (1, 1), (0, 0), (2, 2), False),
    ((3, 3), (2, 2), (0, 0), (1, 1), True),
    ((2, 3), (2, 2), (1, 1), (1, 1), True),
    ((3, 3), (1, 1), (1, 1), (1, 1), False),
    ((3, 3), (3, 2), (1, 1), (2, 1), True),
    ((1, 3), (1, 1), (0, 1), (1, 1), False),
]
SHAPES = [(2, 3, 9, 8), (3, 7, 6), (1, 2, 28, 28), (2, 1, 5, 11)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool", POOLS, ids=[str(i) for i in range(len(POOLS))])
def test_max_pool2d_matches_reference(pool, dtype):
    k, s, p, d, ceil_mode = pool
    for i, shape in enumerate(SHAPES):
        x = rand(shape, dtype, seed=i)
        size = out_size(shape, k, s, p, d, ceil_mode)
        values, idx = NP.max_pool2d(x, k, s, p, d, size)
        ref_values, ref_idx = RC.max_pool2d(x, k, s, p, d, size)
        assert_same(values, ref_values)
        assert_same(idx, ref_idx)
        g = rand(values.shape, dtype, seed=10 + i)
        overlapping = any(st < dl * (kk - 1) + 1 for kk, st, dl in zip(k, s, d))
        grad = NP.max_pool2d_backward(g, idx, shape, overlapping)
        ref = RC.max_pool2d_backward(g, idx, shape, overlapping)
        if overlapping:  # float32 sums in window order here, float64 bincount in the reference
            np.testing.assert_allclose(grad, ref, rtol=1e-6, atol=1e-6)
            assert grad.dtype == ref.dtype and grad.shape == ref.shape
        else:
            assert_same(grad, ref)


def test_max_pool2d_ties_nan_inf_and_layouts():
    ties = np.random.default_rng(0).integers(0, 3, (2, 3, 7, 6)).astype(np.float32)
    with_nan = rand((2, 2, 6, 6))
    with_nan[0, 0, 0, 1] = with_nan[0, 0, 1, 0] = with_nan[1, 1, 3, 3] = with_nan[1, 1, 2, 2] = np.nan
    with_inf = np.full((1, 2, 5, 6), -np.inf, np.float32)
    with_inf[0, 1, 2, 3] = np.inf
    noncontiguous = rand((2, 3, 8, 9)).transpose(0, 1, 3, 2)
    for x in (ties, with_nan, with_inf, noncontiguous, with_nan[:, :, ::2, 1:]):
        for k, s, p, d, ceil_mode in POOLS:
            if x.shape[-1] < d[1] * (k[1] - 1) + 1 - 2 * p[1] or x.shape[-2] < d[0] * (k[0] - 1) + 1 - 2 * p[0]:
                continue
            size = out_size(x.shape, k, s, p, d, ceil_mode)
            for a, b in zip(NP.max_pool2d(x, k, s, p, d, size), RC.max_pool2d(x, k, s, p, d, size)):
                assert_same(a, b)


def test_max_pool2d_fallbacks():
    """Integer data and empty batches take the reference."""
    x = np.random.default_rng(1).integers(-5, 5, (2, 3, 6, 6))
    for a, b in zip(NP.max_pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), (3, 3)),
                    RC.max_pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), (3, 3))):
        assert_same(a, b)
    values, idx = NP.max_pool2d(np.zeros((0, 2, 4, 4), np.float32), (2, 2), (2, 2), (0, 0), (1, 1), (2, 2))
    assert values.shape == idx.shape == (0, 2, 2, 2)
    assert NP.max_pool2d_backward(values, idx, (0, 2, 4, 4), False).shape == (0, 2, 4, 4)


def test_max_pool2d_backward_noncontiguous_grad():
    x = rand((3, 4, 8, 8))
    values, idx = NP.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), (4, 4))
    g = rand((3, 4, 4, 4), seed=1).transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)
    assert not g.flags.c_contiguous
    assert_same(NP.max_pool2d_backward(g, idx, x.shape, False), RC.max_pool2d_backward(g, idx, x.shape, False))


# -- average pooling ----------------------------------------------------------------------------
# kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
AVG_POOLS = [
    ((2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 2), (2, 2), (0, 0), True, True, None),
    ((3, 3), (2, 2), (1, 1), False, True, None),
    ((3, 3), (2, 2), (1, 1), False, False, None),
    ((3, 2), (2, 2), (1, 1), True, True, None),
    ((3, 2), (2, 2), (1, 0), True, False, None),
    ((3, 3), (1, 1), (1, 1), False, True, 2),
    ((2, 2), (2, 2), (0, 0), False, True, 3),
    ((1, 4), (1, 3), (0, 2), False, True, None),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool", AVG_POOLS, ids=[str(i) for i in range(len(AVG_POOLS))])
def test_avg_pool2d_matches_reference_bitwise(pool, dtype):
    k, s, p, ceil_mode, include, override = pool
    for i, shape in enumerate(SHAPES):
        x = rand(shape, dtype, seed=i)
        x.reshape(-1)[:3] = -0.0
        size = out_size(shape, k, s, p, (1, 1), ceil_mode)
        assert_same(NP.avg_pool2d(x, k, s, p, size, include, override),
                     RC.avg_pool2d(x, k, s, p, size, include, override))
        g = rand(x.shape[:-2] + size, dtype, seed=10 + i)
        g.reshape(-1)[:2] = -0.0
        assert_same(NP.avg_pool2d_backward(g, shape, k, s, p, include, override),
                    RC.avg_pool2d_backward(g, shape, k, s, p, include, override))


def test_avg_pool2d_noncontiguous_and_integers():
    x = rand((2, 3, 9, 7)).transpose(0, 1, 3, 2)
    assert_same(NP.avg_pool2d(x, (2, 2), (2, 2), (0, 0), (3, 4), True, None),
                RC.avg_pool2d(x, (2, 2), (2, 2), (0, 0), (3, 4), True, None))
    g = rand((2, 3, 4, 3)).transpose(0, 1, 3, 2)
    assert_same(NP.avg_pool2d_backward(g, (2, 3, 6, 9), (3, 3), (2, 2), (1, 1), False, None),
                RC.avg_pool2d_backward(g, (2, 3, 6, 9), (3, 3), (2, 2), (1, 1), False, None))
    ints = np.arange(60).reshape(1, 3, 4, 5)
    assert_same(NP.avg_pool2d(ints, (2, 2), (2, 2), (0, 0), (2, 2), True, None),
                RC.avg_pool2d(ints, (2, 2), (2, 2), (0, 0), (2, 2), True, None))


# -- ReLU backward ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(9,), (3, 5, 7), (64, 6, 28, 28)])  # the last one runs in parallel
def test_relu_backward_bitwise(shape, dtype):
    out = np.maximum(rand(shape, dtype), 0)
    g = rand(shape, dtype, seed=1)
    flat_g, flat_out = g.reshape(-1), out.reshape(-1)
    flat_g[:6] = [np.nan, np.inf, -np.inf, -0.0, -1.0, np.nan]
    flat_out[:6] = [0, 0, 1, 0, 0, 1]
    flat_out[6:8] = [np.nan, -0.0]
    assert_same(NN.relu_backward(g, out), RN.relu_backward(g, out))


def test_relu_backward_fallbacks():
    out = np.maximum(rand((4, 6)), 0)
    g = rand((6, 4), seed=1).T  # non-contiguous
    assert_same(NN.relu_backward(g, out), RN.relu_backward(g, out))
    assert_same(NN.relu_backward(rand((1, 6)), out), RN.relu_backward(rand((1, 6)), out))  # broadcast
    assert_same(NN.relu_backward(g.astype(np.float64), out), RN.relu_backward(g.astype(np.float64), out))


# -- cross-entropy ------------------------------------------------------------------------------
def _logits(rows, classes, dtype):
    x = rand((rows, classes), dtype) * 4
    x[0, 1 % classes] = -np.inf
    x[1, :] = -np.inf  # no finite logit: nan, as in the reference
    x[2, 3 % classes] = np.inf
    x[3, 0] = np.nan
    x[4] = 80  # equal large logits
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("classes", [1, 3, 10, 37])
def test_cross_entropy_matches_reference(classes, dtype):
    rows = 64
    x = _logits(rows, classes, dtype)
    t = np.random.default_rng(1).integers(0, classes, rows)
    tol = dict(rtol=2e-6 if dtype == np.float32 else 1e-13, atol=1e-6 if dtype == np.float32 else 1e-13)
    for ignore_index in (-100, 0):
        t[5:9] = ignore_index
        out = NN.cross_entropy_forward(x, t, None, ignore_index, 0.0)
        ref = RN.cross_entropy_forward(x, t, None, ignore_index, 0.0)
        for a, b in zip(out, ref):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, equal_nan=True, **tol)
        coef = rand(rows, dtype, seed=2)
        g = NN.cross_entropy_backward(coef, out[1], t, out[2], None, ignore_index, 0.0)
        g_ref = RN.cross_entropy_backward(coef, ref[1], t, ref[2], None, ignore_index, 0.0)
        assert g.dtype == g_ref.dtype
        np.testing.assert_allclose(g, g_ref, equal_nan=True, **tol)


def test_cross_entropy_noncontiguous_and_fallbacks():
    x = rand((10, 12)).T  # (12, 10), non-contiguous
    t = np.arange(12) % 10
    for a, b in zip(NN.cross_entropy_forward(x, t, None, -100, 0.0), RN.cross_entropy_forward(x, t, None, -100, 0.0)):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
    w = np.abs(rand(10, seed=3))
    for weight, smoothing in ((w, 0.0), (None, 0.2), (w, 0.1)):  # the reference handles these
        out = NN.cross_entropy_forward(x, t, weight, -100, smoothing)
        for a, b in zip(out, RN.cross_entropy_forward(x, t, weight, -100, smoothing)):
            assert_same(a, b)
        coef = np.full(12, 0.5, np.float32)
        assert_same(NN.cross_entropy_backward(coef, out[1], t, out[2], weight, -100, smoothing),
                    RN.cross_entropy_backward(coef, out[1], t, out[2], weight, -100, smoothing))


@pytest.mark.parametrize("kernel", [NN.cross_entropy_forward, RN.cross_entropy_forward])
def test_cross_entropy_target_out_of_bounds(kernel):
    x = rand((4, 5))
    for bad in (5, -1, 100):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):
            kernel(x, np.array([0, bad, 1, -100]), None, -100, 0.0)
    kernel(x, np.array([0, 4, -100, 1]), None, -100, 0.0)


# -- batch norm ---------------------------------------------------------------------------------
BN_SHAPES = [(16, 3), (8, 4, 7), (6, 5, 9, 7), (3, 2, 3, 4, 5), (128, 8, 4, 4)]


def _bn_inputs(shape, dtype, seed=0):
    r = np.random.default_rng(seed)
    offset = r.uniform(-50, 50, shape[1]).reshape((1, -1) + (1,) * (len(shape) - 2))  # far from zero mean
    x = (r.standard_normal(shape) * r.uniform(0.1, 3, shape[1]).reshape(offset.shape) + offset).astype(dtype)
    weight, bias = r.standard_normal(shape[1]).astype(dtype), r.standard_normal(shape[1]).astype(dtype)
    return x, weight, bias, r.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=[str(s) for s in BN_SHAPES])
def test_batch_norm_matches_reference(shape, dtype):
    x, weight, bias, g = _bn_inputs(shape, dtype)
    running_mean, running_var = weight * 3, np.abs(bias) + 0.5
    f32 = dtype == np.float32
    for training, affine in itertools.product((True, False), ((weight, bias), (None, None), (weight, None))):
        args = (affine[0], affine[1], running_mean, running_var, training, 1e-5)
        out, mean, var, invstd = NN.batch_norm_forward(x, *args)
        ref = RN.batch_norm_forward(x, *args)
        exact = RN.batch_norm_forward(x.astype(np.float64), *(None if a is None else a.astype(np.float64)
                                                                 if isinstance(a, np.ndarray) else a for a in args))
        for a, b, c in zip((out, mean, var, invstd), ref, exact):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            # float64 sums: within float32 rounding of the reference and at least as close to exact
            np.testing.assert_allclose(a, b, rtol=2e-5 if f32 else 1e-11, atol=2e-5 if f32 else 1e-11)
            assert np.abs(a - c).max() <= np.abs(b - c).max() * 1.5 + (2e-6 if f32 else 1e-13) * np.abs(c).max()
        for needs in ((True, True, True), (True, False, False), (False, True, True), (False, False, True)):
            # the same statistics for both: a mean differing in its last bit moves xhat everywhere
            grads = NN.batch_norm_backward(g, x, affine[0], ref[1], ref[3], training, needs)
            refs = RN.batch_norm_backward(g, x, affine[0], ref[1], ref[3], training, needs)
            for a, b, need in zip(grads, refs, needs):
                if not need:
                    assert a is None and b is None
                    continue
                assert a.dtype == b.dtype == dtype and a.shape == b.shape
                scale = np.abs(b).max()
                np.testing.assert_allclose(a, b, rtol=1e-4 if f32 else 1e-9, atol=(1e-5 if f32 else 1e-11) * scale)


def test_batch_norm_noncontiguous_and_fallbacks():
    x, weight, bias, g = _bn_inputs((4, 6, 5, 5), np.float32)
    xt, gt = x.transpose(0, 1, 3, 2), g.transpose(0, 1, 3, 2)
    out = NN.batch_norm_forward(xt, weight, bias, None, None, True, 1e-3)
    for a, b in zip(out, RN.batch_norm_forward(xt, weight, bias, None, None, True, 1e-3)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    for a, b in zip(NN.batch_norm_backward(gt, xt, weight, out[1], out[3], True, (True, True, True)),
                    RN.batch_norm_backward(gt, xt, weight, out[1], out[3], True, (True, True, True))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    empty = np.zeros((0, 3), np.float32)
    stats = np.zeros(3, np.float32), np.ones(3, np.float32)
    assert NN.batch_norm_forward(empty, None, None, *stats, False, 1e-5)[0].shape == (0, 3)


# -- optimizers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_step_bitwise(dtype):
    n = 1001
    for momentum, dampening, weight_decay, nesterov, maximize, first in itertools.product(
            (0, 0.9), (0, 0.3), (0, 1e-2), (False, True), (False, True), (False, True)):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        p, g, buf = (rand(n, dtype, seed=s) for s in range(3))
        p[:3], g[:3] = [np.inf, -0.0, 1], [-0.0, np.nan, 0]
        a, b = (p.copy(), buf.copy()), (p.copy(), buf.copy())
        kw = dict(lr=0.05, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                  maximize=maximize, first=first)
        NO.sgd_step(a[0], g, a[1], **kw)
        RO.sgd_step(b[0], g, b[1], **kw)
        assert_same(a[0], b[0])
        assert_same(a[1], b[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step_bitwise(dtype):
    n = 1001
    for amsgrad, maximize, (weight_decay, decoupled), beta1, step in itertools.product(
            (False, True), (False, True), ((0, False), (1e-2, False), (1e-2, True)), (0.9, 0.2), (1.0, 9.0)):
        arrays = [rand(n, dtype, seed=s) for s in range(5)]
        arrays[3], arrays[4] = np.abs(arrays[3]), np.abs(arrays[4]) * 2
        arrays[1][:2] = [np.nan, -0.0]
        a, b = [x.copy() for x in arrays], [x.copy() for x in arrays]
        kw = dict(step=step, lr=1e-3, beta1=beta1, beta2=0.999, eps=1e-8, weight_decay=weight_decay,
                  amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled)
        NO.adam_step(a[0], a[1], a[2], a[3], a[4] if amsgrad else None, **kw)
        RO.adam_step(b[0], b[1], b[2], b[3], b[4] if amsgrad else None, **kw)
        for u, v in zip(a, b):
            assert_same(u, v)


def test_optimizer_fallback_for_mixed_layouts():
    p = rand(12).reshape(3, 4)
    g = rand((4, 3), seed=1).T  # non-contiguous gradient: the reference runs
    a, b = p.copy(), p.copy()
    buf_a, buf_b = np.zeros_like(p), np.zeros_like(p)
    NO.sgd_step(a, g, buf_a, 0.1, 0.9, 0, 0, False, False, True)
    RO.sgd_step(b, g, buf_b, 0.1, 0.9, 0, 0, False, False, True)
    assert_same(a, b)
    assert_same(buf_a, buf_b)


# -- thread count -------------------------------------------------------------------------------
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_results_do_not_depend_on_thread_count():
    x = rand((16, 8, 12, 12))
    g = rand((16, 8, 6, 6), seed=1)
    gx = rand(x.shape, seed=2)
    w, b = rand(8, seed=3), rand(8, seed=4)

    def run():
        pooled, idx = NP.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), (6, 6))
        general = NP.max_pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), (6, 6))
        out, mean, var, invstd = NN.batch_norm_forward(x, w, b, None, None, True, 1e-5)
        return (pooled, idx, *general, NP.max_pool2d_backward(g, general[1], x.shape, True),
                NP.avg_pool2d(x, (3, 3), (2, 2), (1, 1), (6, 6), False, None),
                NP.avg_pool2d_backward(g, x.shape, (3, 3), (2, 2), (1, 1), True, None),
                NN.relu_backward(gx, np.maximum(x, 0)), out, mean, var, invstd,
                *NN.batch_norm_backward(gx, x, w, mean, invstd, True, (True, True, True)))

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(2)
        two = run()
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two):
        assert_same(a, b)
