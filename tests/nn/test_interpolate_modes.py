"""interpolate's bicubic, area and antialias (and lanczos) modes (ember/ops/interpolate.py) against
torch.nn.functional.interpolate: shapes, values, grad_fn names, gradients, float64 gradchecks, errors."""
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as EF
from ember.autograd import gradcheck

# float32 results are a few ulps at most from PyTorch's (bicubic's forward rounds exactly as
# PyTorch's here); gradients sum the same terms in another order
TOL = {np.float32: dict(rtol=2e-6, atol=5e-7), np.float64: dict(rtol=1e-12, atol=1e-13),
       np.float16: dict(rtol=1e-3, atol=1e-3)}
GRAD_TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


def rng(*parts):
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def randn(r, shape, dtype=np.float32):
    return r.standard_normal(shape).astype(dtype)


def _raises(exc, message, fn):
    with pytest.raises(exc) as info:
        fn()
    assert str(info.value) == message


def check(x, grad=True, values=True, **kw):
    """interpolate(x, **kw) in both libraries: shape, dtype, grad_fn name, values and the input's gradient."""
    dtype = x.dtype.type
    e_in, t_in = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo, to = EF.interpolate(e_in, **kw), TF.interpolate(t_in, **kw)
    assert tuple(eo.shape) == tuple(to.shape)
    assert str(eo.dtype) == str(to.dtype)
    assert eo.grad_fn.name() == type(to.grad_fn).__name__
    if values:
        np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), **TOL[dtype])
    if grad and to.numel():
        g = randn(np.random.default_rng(0), tuple(to.shape), dtype)
        eo.backward(ember.tensor(g))
        to.backward(torch.tensor(g))
        np.testing.assert_allclose(e_in.grad.numpy(), t_in.grad.numpy(), **GRAD_TOL[dtype])
    return eo, to


def gradcheck64(fn, x):
    assert gradcheck(fn, (ember.tensor(x.astype(np.float64), requires_grad=True),))


def _kept_with_scale(shape, cfg):
    """Dims whose size a scale_factor (not recomputed) leaves unchanged: there PyTorch's backward
    (bicubic when no dim changes, antialias always) is not the gradient of its forward."""
    sf = cfg.get("scale_factor")
    if sf is None or cfg.get("recompute_scale_factor"):
        return []
    sf = sf if isinstance(sf, (tuple, list)) else (sf,) * len(shape)
    return [i for i, (n, s) in enumerate(zip(shape, sf)) if int(n * s) == n and s != 1]


SHAPES_2D = [(2, 3, 4, 5), (1, 2, 7, 3), (2, 1, 2, 6), (1, 1, 16, 9)]
SIZES_2D = [dict(size=(9, 11)), dict(size=(2, 3)), dict(size=1), dict(size=(5, 13)), dict(size=(13, 1)),
            dict(scale_factor=2), dict(scale_factor=1.7), dict(scale_factor=(0.6, 2.3)), dict(scale_factor=0.5),
            dict(scale_factor=0.37, recompute_scale_factor=True), dict(scale_factor=1.1),
            dict(scale_factor=(1.3, 0.45), recompute_scale_factor=False)]


# -- bicubic ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES_2D, ids=str)
@pytest.mark.parametrize("cfg", SIZES_2D + [dict(size=None)], ids=str)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bicubic(shape, cfg, align_corners, dtype):
    if cfg.get("size", 0) is None:
        cfg = dict(size=shape[2:])  # same size
    x = randn(rng("bicubic", shape, cfg, align_corners, dtype), shape, dtype) * 3
    try:
        TF.interpolate(torch.tensor(x), mode="bicubic", align_corners=align_corners, **cfg)
    except RuntimeError:  # an output size of 0: both raise, checked in test_errors
        return
    # PyTorch's backward copies the gradient through when no size changes, whatever its forward did
    consistent = len(_kept_with_scale(shape[2:], cfg)) < 2
    check(x, grad=consistent, mode="bicubic", align_corners=align_corners, **cfg)


def test_bicubic_float32_rounds_like_pytorch():
    x = randn(rng("bicubic-exact"), (2, 3, 10, 7)) * 5
    for cfg in (dict(size=(23, 4)), dict(scale_factor=(0.45, 2.7)), dict(size=(6, 17), align_corners=True)):
        e = EF.interpolate(ember.tensor(x), mode="bicubic", **cfg).numpy()
        t = TF.interpolate(torch.tensor(x), mode="bicubic", **cfg).numpy()
        np.testing.assert_allclose(e, t, rtol=3e-7, atol=0)


def test_bicubic_weights():
    """Keys' cubic convolution (a = -0.75) by hand: taps at floor(src) - 1 .. + 2, edge taps clamped."""
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 1, 5) ** 2
    out = EF.interpolate(ember.tensor(x), size=(1, 3), mode="bicubic", align_corners=True).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, [0.0, 4.0, 16.0])  # align_corners hits inputs 0, 2, 4 exactly

    def kernel(d, a=-0.75):
        d = abs(d)
        return ((a + 2) * d - (a + 3)) * d * d + 1 if d <= 1 else ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    src = (0 + 0.5) * 5 / 2 - 0.5  # output 0 of 5 -> 2, align_corners=False
    i0, t = int(np.floor(src)), src - np.floor(src)
    want = sum(x[0, 0, 0, min(max(i0 + k, 0), 4)] * kernel(t - k) for k in (-1, 0, 1, 2))
    out = EF.interpolate(ember.tensor(x), size=(1, 2), mode="bicubic").numpy()[0, 0, 0]
    np.testing.assert_allclose(out[0], want)


def test_bicubic_half_and_noncontiguous():
    x = randn(rng("bicubic-half"), (1, 2, 5, 6))
    check(x.astype(np.float16), grad=False, size=(7, 4), mode="bicubic")
    xt = np.ascontiguousarray(randn(rng("bicubic-nc"), (2, 3, 6, 5))).transpose(0, 1, 3, 2)
    e = EF.interpolate(ember.tensor(xt), size=(4, 9), mode="bicubic").numpy()
    t = TF.interpolate(torch.tensor(xt), size=(4, 9), mode="bicubic").numpy()
    np.testing.assert_allclose(e, t, **TOL[np.float32])


def test_bicubic_empty_batch():
    out = EF.interpolate(ember.randn(0, 2, 3, 4), size=(5, 2), mode="bicubic")
    assert tuple(out.shape) == (0, 2, 5, 2)


@pytest.mark.parametrize("mode,kw", [("bicubic", {}), ("bilinear", dict(antialias=True)),
                                     ("bicubic", dict(antialias=True))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_inputs(mode, kw, dtype):
    x = randn(rng("non-finite", mode, kw, dtype), (1, 2, 6, 7), dtype)
    x[0, 0, 2, 3], x[0, 1, 4, 1], x[0, 0, 0, 6] = np.inf, np.nan, -np.inf
    for size in ((9, 4), (3, 5), (6, 7)):
        e = EF.interpolate(ember.tensor(x), size=size, mode=mode, **kw).numpy()
        t = TF.interpolate(torch.tensor(x), size=size, mode=mode, **kw).numpy()
        np.testing.assert_allclose(e, t, **TOL[dtype])  # nan and inf in the same places


# -- antialias -------------------------------------------------------------------------------------------------
AA_SIZES = SIZES_2D + [dict(size=(3, 40)), dict(scale_factor=0.25), dict(scale_factor=(0.3, 0.7))]


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("shape", SHAPES_2D + [(1, 2, 30, 23)], ids=str)
@pytest.mark.parametrize("cfg", AA_SIZES, ids=str)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_antialias(mode, shape, cfg, align_corners, dtype):
    x = randn(rng("aa", mode, shape, cfg, align_corners, dtype), shape, dtype) * 3
    try:
        to = TF.interpolate(torch.tensor(x), mode=mode, align_corners=align_corners, antialias=True, **cfg)
    except RuntimeError:
        return
    # PyTorch's vertical pass reads the first row's weights for every row when the output is
    # one column wide (its value is wrong there; ember's matches the transposed resize below)
    values = not (to.shape[3] == 1 and to.shape[2] != shape[2])
    check(x, grad=not _kept_with_scale(shape[2:], cfg), values=values, mode=mode, align_corners=align_corners,
          antialias=True, **cfg)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_one_column(mode):
    x = randn(rng("aa-col", mode), (2, 3, 9, 4))
    e = EF.interpolate(ember.tensor(x), size=(4, 1), mode=mode, antialias=True).numpy()
    t = TF.interpolate(torch.tensor(x).transpose(2, 3), size=(1, 4), mode=mode, antialias=True).transpose(2, 3)
    np.testing.assert_allclose(e, t.numpy(), rtol=1e-5, atol=1e-6)


def test_antialias_averages_like_a_box_for_integer_downscale():
    # bilinear antialias at an exact downscale of 2: a triangle over 4 inputs, weights 1/8, 3/8, 3/8, 1/8
    x = np.arange(8, dtype=np.float64).reshape(1, 1, 1, 8) ** 2
    out = EF.interpolate(ember.tensor(x), size=(1, 4), mode="bilinear", antialias=True).numpy()[0, 0, 0]
    v = x[0, 0, 0]
    want = [(v[0] * 3 + v[1] * 3 + v[2]) / 7] + [(v[2 * i - 1] + 3 * v[2 * i] + 3 * v[2 * i + 1] + v[2 * i + 2]) / 8
                                                  for i in (1, 2)] + [(v[5] + 3 * v[6] + 3 * v[7]) / 7]
    np.testing.assert_allclose(out, want)


@pytest.mark.parametrize("cfg", [dict(size=(3, 4)), dict(size=(11, 13)), dict(scale_factor=0.3)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lanczos(cfg, dtype):
    x = randn(rng("lanczos", cfg, dtype), (2, 2, 10, 9), dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else None
    eo, to = check(x, grad=False, values=tol is None, mode="lanczos", antialias=True, **cfg)
    if tol:
        np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), **tol)


# -- area ------------------------------------------------------------------------------------------------------
AREA = [((2, 3, 7), [dict(size=3), dict(size=1), dict(size=10), dict(scale_factor=0.4), dict(scale_factor=2.5),
                     dict(scale_factor=0.1)]),
        ((2, 3, 5, 7), [dict(size=(2, 3)), dict(size=1), dict(size=(9, 4)), dict(scale_factor=0.5),
                        dict(scale_factor=(1.7, 0.3), recompute_scale_factor=False), dict(size=(0, 3))]),
        ((2, 2, 5, 6, 7), [dict(size=(2, 3, 4)), dict(size=1), dict(size=(7, 1, 9)), dict(scale_factor=0.5),
                           dict(scale_factor=(1.5, 0.7, 0.3)), dict(size=(2, 0, 1))])]
AREA_CASES = [(shape, cfg) for shape, cfgs in AREA for cfg in cfgs]


@pytest.mark.parametrize("shape,cfg", AREA_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_area(shape, cfg, dtype):
    x = randn(rng("area", shape, cfg, dtype), shape, dtype)
    eo, _ = check(x, mode="area", **cfg)
    names = {3: "SqueezeBackward1", 4: "AdaptiveAvgPool2DBackward0", 5: "AdaptiveAvgPool3DBackward0"}
    if eo.numel() != eo.shape[0] * eo.shape[1]:
        assert eo.grad_fn.name() == names[len(shape)]


def test_area_is_adaptive_average_pooling():
    x = randn(rng("area-pool"), (2, 3, 8, 6))
    np.testing.assert_array_equal(EF.interpolate(ember.tensor(x), size=(3, 4), mode="area").numpy(),
                                  EF.adaptive_avg_pool2d(ember.tensor(x), (3, 4)).numpy())
    x3 = np.arange(24, dtype=np.float64).reshape(1, 1, 2, 3, 4)
    out = EF.interpolate(ember.tensor(x3), size=(1, 1, 2), mode="area").numpy()
    np.testing.assert_allclose(out.ravel(), [x3[..., :2].mean(), x3[..., 2:].mean()])


# -- gradchecks ------------------------------------------------------------------------------------------------
def test_gradcheck():
    x = randn(rng("gc"), (1, 2, 4, 5))
    gradcheck64(lambda x: EF.interpolate(x, size=(7, 3), mode="bicubic"), x)
    gradcheck64(lambda x: EF.interpolate(x, size=(2, 9), mode="bicubic", align_corners=True), x)
    gradcheck64(lambda x: EF.interpolate(x, scale_factor=1.1, mode="bicubic"), x)
    gradcheck64(lambda x: EF.interpolate(x, scale_factor=(0.6, 2.3), mode="bicubic"), x)
    big = randn(rng("gc-aa"), (1, 2, 9, 11))
    for mode in ("bilinear", "bicubic"):
        gradcheck64(lambda x: EF.interpolate(x, size=(4, 3), mode=mode, antialias=True), big)
        gradcheck64(lambda x: EF.interpolate(x, size=(5, 17), mode=mode, antialias=True, align_corners=True), big)
        gradcheck64(lambda x: EF.interpolate(x, scale_factor=(1.1, 0.4), mode=mode, antialias=True), big)
    gradcheck64(lambda x: EF.interpolate(x, size=(4, 3), mode="lanczos", antialias=True), big)
    gradcheck64(lambda x: EF.interpolate(x, size=3, mode="area"), randn(rng("gc1"), (1, 2, 7)))
    gradcheck64(lambda x: EF.interpolate(x, size=(3, 2), mode="area"), big)
    gradcheck64(lambda x: EF.interpolate(x, size=(2, 3, 2), mode="area"), randn(rng("gc3"), (1, 2, 3, 5, 4)))


# -- errors ----------------------------------------------------------------------------------------------------
INPUT_ERROR = ("Input Error: Only 3D, 4D and 5D input Tensors supported (got {}D) for the modes: nearest | linear | "
               "bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {})")
AA_ERROR = ("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor "
            "as input")


def test_errors_match_torch():
    x3, x4, x5 = ember.randn(1, 2, 5), ember.randn(1, 2, 5, 4), ember.randn(1, 2, 3, 4, 5)
    _raises(NotImplementedError, INPUT_ERROR.format(3, "bicubic"), lambda: EF.interpolate(x3, size=3, mode="bicubic"))
    _raises(NotImplementedError, INPUT_ERROR.format(5, "bicubic"), lambda: EF.interpolate(x5, size=3, mode="bicubic"))
    _raises(NotImplementedError, INPUT_ERROR.format(2, "area"),
            lambda: EF.interpolate(ember.randn(2, 5), size=(), mode="area"))
    _raises(NotImplementedError, INPUT_ERROR.format(4, "cubic"), lambda: EF.interpolate(x4, size=3, mode="cubic"))
    _raises(NotImplementedError, INPUT_ERROR.format(3, "lanczos"), lambda: EF.interpolate(x3, size=3, mode="lanczos"))
    for x, mode in [(x3, "bicubic"), (x5, "bilinear"), (x4, "area"), (x4, "nearest"), (x3, "linear"), (x4, "foo")]:
        _raises(ValueError, AA_ERROR, lambda: EF.interpolate(x, size=2, mode=mode, antialias=True))
    _raises(ValueError, "align_corners option can only be set with the interpolating modes: linear | bilinear | "
            "bicubic | trilinear", lambda: EF.interpolate(x4, size=2, mode="area", align_corners=False))
    _raises(ValueError, "Lanczos mode requires antialias=True", lambda: EF.interpolate(x4, size=2, mode="lanczos"))
    _raises(ValueError, "Lanczos mode does not support align_corners=True",
            lambda: EF.interpolate(x4, size=2, mode="lanczos", antialias=True, align_corners=True))
    _raises(RuntimeError, "Input and output sizes should be greater than 0, but got input (H: 5, W: 4) output "
            "(H: 0, W: 0)", lambda: EF.interpolate(x4, scale_factor=0.1, mode="bicubic"))
    _raises(RuntimeError, "Input and output sizes should be greater than 0, but got input (H: 5, W: 4) output "
            "(H: 0, W: 0)", lambda: EF.interpolate(x4, scale_factor=-0.1, mode="bicubic"))
    _raises(RuntimeError, "Input and output sizes should be greater than 0, but got input (H: 0, W: 4) output "
            "(H: 2, W: 2)", lambda: EF.interpolate(ember.randn(1, 2, 0, 4), size=2, mode="bicubic"))
    _raises(RuntimeError, "Non-empty 4D data tensor expected but got a tensor with sizes [1, 0, 4, 4]",
            lambda: EF.interpolate(ember.randn(1, 0, 4, 4), size=2, mode="bicubic", antialias=True))
    _raises(ValueError, "recompute_scale_factor is not meaningful with an explicit size.",
            lambda: EF.interpolate(x4, size=3, mode="area", recompute_scale_factor=True))
    _raises(TypeError, "expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], "
            "but got size with types [<class 'float'>, <class 'int'>]",
            lambda: EF.interpolate(x4, size=(3.0, 2), mode="bicubic"))


def test_area_errors_match_torch():
    _raises(RuntimeError, "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
            "received {-1, -1}", lambda: EF.interpolate(ember.randn(1, 2, 5, 5), scale_factor=-0.3, mode="area"))
    _raises(RuntimeError, "adaptive_avg_pool3d: elements of output_size must be greater than or equal to 0 but "
            "received {-1, -1,-1}", lambda: EF.interpolate(ember.randn(2, 2, 4, 4, 4), size=-1, mode="area"))
    _raises(RuntimeError, "adaptive_avg_pool3d(): Expected input to have non-zero size for non-batch dimensions, "
            "but input has sizes [2, 2, 0, 4, 3] with dimension 2 being empty",
            lambda: EF.interpolate(ember.randn(2, 2, 0, 4, 3), size=(2, 3, 1), mode="area"))
    _raises(RuntimeError, "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, "
            "but input has sizes [2, 2, 1, 0] with dimension 3 being empty",
            lambda: EF.interpolate(ember.randn(2, 2, 0), size=2, mode="area"))


@pytest.mark.parametrize("mode,kw,fn", [
    ("bicubic", {}, "compute_indices_weights_cubic"),
    ("bilinear", dict(antialias=True), "compute_index_ranges_weights"),
    ("bicubic", dict(antialias=True), "compute_index_ranges_weights"),
    ("area", {}, "adaptive_avg_pool2d"),
])
def test_integer_input(mode, kw, fn):
    for dtype, word in ((ember.int64, "Long"), (ember.int32, "Int")):
        x = ember.ones(1, 1, 4, 4, dtype=dtype)
        _raises(NotImplementedError, f"\"{fn}\" not implemented for '{word}'",
                lambda: EF.interpolate(x, size=(2, 3), mode=mode, **kw))
    _raises(NotImplementedError, "\"adaptive_avg_pool3d_cpu\" not implemented for 'Int'",
            lambda: EF.interpolate(ember.ones(1, 1, 4, 4, 4, dtype=ember.int32), size=2, mode="area"))
    _raises(NotImplementedError, "\"compute_index_ranges_weights\" not implemented for 'Half'",
            lambda: EF.interpolate(ember.ones(1, 1, 4, 4, dtype=ember.float16), size=2, mode="bilinear",
                                   antialias=True))
