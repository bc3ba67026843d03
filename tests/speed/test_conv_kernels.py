"""Compiled convolution kernels (ember/kernels/numba_conv.py) against the NumPy reference
(ember/kernels/conv.py), called directly: forward, every combination of gradients, odd
shapes, padding and dilation, non-contiguous arrays, the cases left to the reference,
NaN placement and thread-count independence. End to end against torch through conv2d."""
import itertools

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember import kernels as K
from ember.kernels import conv as ref

numba = pytest.importorskip("numba")
from ember.kernels import numba_conv as nc  # noqa: E402

NEEDS = [n for n in itertools.product((False, True), repeat=3) if any(n)]


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def close(actual, expected):
    """float32 sums of up to a few thousand products in another order: relative to the scale."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def run_both(x, w, b, padding, dilation):
    """Forward and every combination of gradients through the twin and the reference."""
    stride = (1,) * (x.ndim - 2)
    out_n, cols_n = nc.conv_forward(x, w, b, stride, padding, dilation, 1)
    out_r, cols_r = ref.conv_forward(x, w, b, stride, padding, dilation, 1)
    close(out_n, out_r)
    g = rand(*out_r.shape, seed=5)
    for needs in NEEDS:
        got = nc.conv_backward(g, cols_n, w, x.shape, stride, padding, dilation, 1, needs)
        want = ref.conv_backward(g, cols_r, w, x.shape, stride, padding, dilation, 1, needs)
        for flag, a, e in zip(needs, got, want):
            if flag:
                close(a, e)
            else:
                assert a is None


# (name, x shape, weight shape, padding pairs, dilation)
CASES = [
    ("lenet1", (3, 1, 28, 28), (6, 1, 5, 5), ((2, 2), (2, 2)), (1, 1)),
    ("lenet2", (3, 6, 14, 14), (16, 6, 5, 5), ((0, 0), (0, 0)), (1, 1)),
    ("cifar1", (2, 3, 32, 32), (6, 3, 5, 5), ((0, 0), (0, 0)), (1, 1)),
    ("vgg-wide", (2, 32, 16, 16), (64, 32, 3, 3), ((1, 1), (1, 1)), (1, 1)),
    ("vgg-first", (2, 3, 32, 32), (32, 3, 3, 3), ((1, 1), (1, 1)), (1, 1)),
    ("odd-channels-dilated", (5, 3, 7, 9), (5, 3, 3, 2), ((2, 1), (0, 3)), (2, 1)),
    ("narrower-than-a-vector", (2, 2, 3, 4), (3, 2, 2, 2), ((0, 0), (0, 0)), (1, 1)),
    ("1x1", (1, 7, 5, 5), (9, 7, 1, 1), ((0, 0), (0, 0)), (1, 1)),
    ("rows-longer-than-a-tile", (1, 2, 3, 70), (3, 2, 1, 5), ((1, 1), (2, 2)), (1, 1)),
    ("padding-past-the-kernel", (2, 2, 5, 5), (3, 2, 1, 1), ((3, 3), (3, 2)), (1, 1)),
    ("same-uneven", (2, 3, 6, 7), (4, 3, 2, 4), ((0, 1), (1, 2)), (1, 1)),
    ("batch-not-a-chunk-multiple", (11, 2, 6, 6), (13, 2, 3, 3), ((1, 1), (0, 0)), (1, 1)),
    ("kernel-fills-input", (2, 3, 4, 5), (2, 3, 4, 5), ((0, 0), (0, 0)), (1, 1)),
    ("dilated-large", (1, 4, 12, 12), (5, 4, 3, 3), ((2, 2), (4, 4)), (3, 4)),
    ("row-vectors-partial", (2, 3, 5, 30), (4, 3, 2, 21), ((0, 0), (5, 5)), (1, 1)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_reference(case, bias):
    _, xs, ws, padding, dilation = case
    run_both(rand(*xs), rand(*ws, seed=1), rand(ws[0], seed=2) if bias else None, padding, dilation)


def test_conv1d_and_noncontiguous():
    run_both(rand(3, 4, 17), rand(5, 4, 3, seed=1), rand(5, seed=2), ((1, 2),), (2,))
    x = rand(2, 9, 3, 8).transpose(0, 2, 1, 3)  # (2, 3, 9, 8), not contiguous
    w = rand(3, 3, 5, 4, seed=1).transpose(0, 1, 3, 2)
    b = rand(6, seed=2)[::2]
    run_both(x, w, b, ((1, 1), (2, 2)), (1, 1))
    # a non-contiguous gradient
    out, cols = nc.conv_forward(x, w, b, (1, 1), ((1, 1), (2, 2)), (1, 1), 1)
    g = rand(*out.shape[:2], out.shape[3], out.shape[2], seed=3).swapaxes(2, 3)
    got = nc.conv_backward(g, cols, w, x.shape, (1, 1), ((1, 1), (2, 2)), (1, 1), 1, (True, True, True))
    _, cols_r = ref.conv_forward(x, w, b, (1, 1), ((1, 1), (2, 2)), (1, 1), 1)
    want = ref.conv_backward(g, cols_r, w, x.shape, (1, 1), ((1, 1), (2, 2)), (1, 1), 1, (True, True, True))
    for a, e in zip(got, want):
        close(a, e)


def test_read_only_arrays():
    x, w, b = rand(2, 3, 8, 8), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)
    for a in (x, w, b):
        a.setflags(write=False)
    run_both(x, w, b, ((1, 1), (1, 1)), (1, 1))


@pytest.mark.parametrize("kind", ["float64", "stride", "groups", "empty-batch"])
def test_other_cases_take_the_reference(kind):
    x, w, b, stride, groups = rand(2, 4, 7, 7), rand(6, 4, 3, 3, seed=1), rand(6, seed=2), (1, 1), 1
    if kind == "float64":
        x, w, b = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    elif kind == "stride":
        stride = (2, 1)
    elif kind == "groups":
        w, groups = w[:, :2], 2
    else:
        x = x[:0]
    pads = ((1, 1), (1, 1))
    out_n, cols_n = nc.conv_forward(x, w, b, stride, pads, (1, 1), groups)
    out_r, cols_r = ref.conv_forward(x, w, b, stride, pads, (1, 1), groups)
    np.testing.assert_array_equal(out_n, out_r)
    np.testing.assert_array_equal(cols_n, cols_r)
    g = rand(*out_r.shape, seed=3, dtype=out_r.dtype)
    got = nc.conv_backward(g, cols_n, w, x.shape, stride, pads, (1, 1), groups, (True, True, True))
    want = ref.conv_backward(g, cols_r, w, x.shape, stride, pads, (1, 1), groups, (True, True, True))
    for a, e in zip(got, want):
        np.testing.assert_array_equal(a, e)


def test_nan_lands_where_the_reference_puts_it():
    x, w, b = rand(2, 3, 9, 9), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)
    x[1, 2, 4, 5] = np.nan  # interior: every tap reads it through a kept output position
    pads = ((1, 1), (1, 1))
    out_n, cols_n = nc.conv_forward(x, w, b, (1, 1), pads, (1, 1), 1)
    out_r, cols_r = ref.conv_forward(x, w, b, (1, 1), pads, (1, 1), 1)
    np.testing.assert_array_equal(np.isnan(out_n), np.isnan(out_r))
    g = rand(*out_r.shape, seed=3)
    g[0, 1, 0, 8] = np.inf  # a corner: the padded taps of the input gradient must not spread it
    got = nc.conv_backward(g, cols_n, w, x.shape, (1, 1), pads, (1, 1), 1, (True, True, True))
    want = ref.conv_backward(g, cols_r, w, x.shape, (1, 1), pads, (1, 1), 1, (True, True, True))
    for a, e in zip(got, want):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
        np.testing.assert_array_equal(np.isinf(a), np.isinf(e))


def test_results_do_not_depend_on_the_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only")
    x, w, b = rand(19, 6, 14, 14), rand(16, 6, 5, 5, seed=1), rand(16, seed=2)
    pads = ((1, 1), (2, 2))
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            out, cols = nc.conv_forward(x, w, b, (1, 1), pads, (1, 1), 1)
            g = rand(*out.shape, seed=3)
            runs.append((out,) + nc.conv_backward(g, cols, w, x.shape, (1, 1), pads, (1, 1), 1, (True, True, True)))
    finally:
        numba.set_num_threads(before)
    for a, e in zip(*runs):
        np.testing.assert_array_equal(a, e)


# the benchmark networks' layers (small batches), through ember's public conv2d against torch
LAYERS = [((4, 1, 28, 28), (6, 1, 5, 5), 2, False), ((4, 6, 14, 14), (16, 6, 5, 5), 0, True),
          ((2, 3, 32, 32), (6, 3, 5, 5), 0, False), ((2, 32, 16, 16), (64, 32, 3, 3), 1, True)]


@pytest.mark.parametrize("xs, ws, padding, input_grad", LAYERS)
def test_conv2d_against_torch(xs, ws, padding, input_grad):
    x, w, b = rand(*xs), rand(*ws, seed=1) * 0.2, rand(ws[0], seed=2)
    e = [ember.tensor(a, requires_grad=rg) for a, rg in ((x, input_grad), (w, True), (b, True))]
    t = [torch.tensor(a, requires_grad=rg) for a, rg in ((x, input_grad), (w, True), (b, True))]
    e_out, t_out = F.conv2d(*e, padding=padding), torch.nn.functional.conv2d(*t, padding=padding)
    close(e_out.detach().numpy(), t_out.detach().numpy())
    g = rand(*t_out.shape, seed=3)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))
    for ea, ta in zip(e, t):
        if ta.requires_grad:
            close(ea.grad.numpy(), ta.grad.numpy())
        else:
            assert ea.grad is None
    if K.numba_enabled():
        assert K.conv_forward is nc.conv_forward and K.conv_backward is nc.conv_backward


def _conv_in_child(queue):
    x, w = rand(9, 2, 6, 6), rand(3, 2, 3, 3, seed=1)
    out, _ = nc.conv_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    queue.put(float(out.sum()))


def test_thread_pool_survives_fork():
    """A process forked after the kernels ran on threads (a DataLoader worker) makes its own."""
    import multiprocessing

    if numba.config.NUMBA_NUM_THREADS < 2 or "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs two threads and fork")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        x, w = rand(9, 2, 6, 6), rand(3, 2, 3, 3, seed=1)
        expected = float(nc.conv_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)[0].sum())
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_conv_in_child, args=(queue,))
        child.start()
        child.join(timeout=120)
        assert child.exitcode == 0
        assert queue.get(timeout=10) == expected
    finally:
        numba.set_num_threads(before)
