"""Differential tests of ember's core tensor ops against PyTorch (the oracle).

Every op in op_db.OPS runs on the same data through ember and through torch:
  test_forward        same shape, dtype and values of every output; inputs left untouched
  test_gradient       same `.grad` on every input (None-ness included) after
                      backward with the same upstream gradient
  test_gradcheck      ember.autograd.gradcheck in float64 on one sample per op
  test_type_promotion result dtype of binary operators over all dtype pairs, 0-d
                      tensors and Python scalars

All data is drawn from numpy Generators seeded by test name, so each case sees the
same data in every run, whatever subset of the tests runs.
"""
import zlib

import numpy as np
import pytest
import torch

import ember
import ember.autograd

from op_db import F32, F64, FWD_TOL, OPS, Maker, View


def _seed(*parts):
    return zlib.crc32("/".join(map(str, parts)).encode())


def _tensor(T, arr, requires_grad=False):
    # only floating tensors can require grad
    return T.tensor(arr, requires_grad=requires_grad and arr.dtype.kind == "f")


def both(arr, requires_grad=False):
    """The same numpy data as an (ember, torch) pair of leaf tensors."""
    return _tensor(ember, arr, requires_grad), _tensor(torch, arr, requires_grad)


def _dtype_name(t):
    return str(t.dtype).rsplit(".", 1)[-1]  # "torch.float32" -> "float32"


# ---- turning a SampleInput into call arguments


def _arrays(sample):
    """The sample's array inputs (an ndarray, or the base of a View), in call order."""
    vals = (*sample.args, *sample.kwargs.values())
    return [v.base if isinstance(v, View) else v for v in vals if isinstance(v, (np.ndarray, View))]


def _build(sample, leaves):
    """The sample's (args, kwargs) with its arrays replaced by `leaves`, in order;
    a View is applied to its leaf (same code for either module)."""
    it = iter(leaves)

    def conv(v):
        if isinstance(v, View):
            return v.fn(next(it))
        return next(it) if isinstance(v, np.ndarray) else v

    return [conv(a) for a in sample.args], {k: conv(v) for k, v in sample.kwargs.items()}


def _call_both(op, sample, requires_grad):
    pairs = [both(a, requires_grad) for a in _arrays(sample)]
    t_args, t_kw = _build(sample, [t for _, t in pairs])
    e_args, e_kw = _build(sample, [e for e, _ in pairs])
    for v, t in zip((*sample.args, *sample.kwargs.values()), (*t_args, *t_kw.values())):
        if isinstance(v, View):  # guards the table: a View sample must really be non-contiguous
            assert not t.is_contiguous(), f"sample {sample.name}: View input is contiguous"
    t_out = op.op(torch, *t_args, **t_kw)
    e_out = op.op(ember, *e_args, **e_kw)
    return pairs, e_out, t_out


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


# ---- comparisons


def assert_same(e, t, tol, what):
    """ember tensor `e` matches torch tensor `t` in type, shape, dtype and values."""
    assert isinstance(e, ember.Tensor), f"{what}: got {type(e).__name__}, not a Tensor"
    assert tuple(e.shape) == tuple(t.shape), f"{what}: shape {tuple(e.shape)}, torch {tuple(t.shape)}"
    assert str(e.dtype) == str(t.dtype), f"{what}: dtype {e.dtype}, torch {t.dtype}"
    ev, tv = e.detach().numpy(), t.detach().numpy()
    if t.dtype.is_floating_point:
        rtol, atol = tol
        np.testing.assert_allclose(ev.astype(np.float64), tv.astype(np.float64), rtol=rtol, atol=atol,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(ev, tv, err_msg=what)


def assert_same_outputs(op, e_out, t_out):
    assert isinstance(e_out, (tuple, list)) == isinstance(t_out, (tuple, list)), \
        f"output is {type(e_out).__name__}, torch gives {type(t_out).__name__}"
    es, ts = _as_list(e_out), _as_list(t_out)
    assert len(es) == len(ts), f"{len(es)} outputs, torch gives {len(ts)}"
    for i, (e, t) in enumerate(zip(es, ts)):
        assert_same(e, t, op.fwd_tol(_dtype_name(t)), f"output {i}")
    for f in op.fields:  # named tuple access: max(x, dim).values / .indices
        t = getattr(t_out, f)
        assert_same(getattr(e_out, f), t, op.fwd_tol(_dtype_name(t)), f"output .{f}")


# ---- parametrisation


def _samples(op, dtype):
    make = Maker(np.random.default_rng(_seed(op.name, dtype)), dtype, **op.domain)
    samples = list(op.samples(make))
    assert len({s.name for s in samples}) == len(samples), f"{op.name}: duplicate sample names"
    return samples


def _has_grad_input(sample, nonempty=False):
    return any(a.dtype.kind == "f" and (a.size or not nonempty) for a in _arrays(sample))


def _param(test, op, dtype, sample, id_):
    marks = [pytest.mark.skip(reason=s.reason) for s in op.skips if s.matches(test, dtype, sample.name)]
    return pytest.param(op, dtype, sample, id=id_, marks=marks)


FORWARD, GRADIENT, GRADCHECK = [], [], []
for _op in OPS:
    for _dtype in _op.dtypes:
        for _s in _samples(_op, _dtype):
            _id = f"{_op.name}-{_dtype}-{_s.name}"
            FORWARD.append(_param("forward", _op, _dtype, _s, _id))
            # gradients only in float32/float64: float16 backward is not worth matching
            if _op.differentiable and _dtype in (F32, F64) and _has_grad_input(_s):
                GRADIENT.append(_param("gradient", _op, _dtype, _s, _id))
    if _op.differentiable:
        _s = next((s for s in _samples(_op, F64) if s.gradcheck and _has_grad_input(s, nonempty=True)), None)
        if _s is not None:
            GRADCHECK.append(_param("gradcheck", _op, F64, _s, f"{_op.name}-{_s.name}"))


# ---- the tests


@pytest.mark.parametrize("op,dtype,sample", FORWARD)
def test_forward(op, dtype, sample):
    pairs, e_out, t_out = _call_both(op, sample, requires_grad=False)
    assert_same_outputs(op, e_out, t_out)
    for (e, _), arr in zip(pairs, _arrays(sample)):  # no op may write into its inputs
        np.testing.assert_array_equal(e.detach().numpy(), arr, err_msg="input modified")


def _backward(T, outs, grads):
    if len(outs) == 1:
        outs[0].backward(grads[0])
    else:
        T.autograd.backward(outs, grads)


@pytest.mark.parametrize("op,dtype,sample", GRADIENT)
def test_gradient(op, dtype, sample):
    pairs, e_out, t_out = _call_both(op, sample, requires_grad=True)
    es, ts = _as_list(e_out), _as_list(t_out)
    assert len(es) == len(ts)
    for i, (e, t) in enumerate(zip(es, ts)):
        assert e.requires_grad == t.requires_grad, f"output {i}: requires_grad={e.requires_grad}"
    live = [i for i, t in enumerate(ts) if t.requires_grad]
    assert live, "no output requires grad: mark the op non-differentiable"
    rng = np.random.default_rng(_seed(op.name, dtype, sample.name, "grad"))
    gs = [both(rng.standard_normal(tuple(ts[i].shape)).astype(_dtype_name(ts[i]))) for i in live]
    _backward(torch, [ts[i] for i in live], [t for _, t in gs])
    _backward(ember, [es[i] for i in live], [e for e, _ in gs])
    for k, (e, t) in enumerate(pairs):
        if t.grad is None:
            assert e.grad is None, f"input {k}: grad should be None"
        else:
            assert e.grad is not None, f"input {k}: grad is None"
            assert_same(e.grad, t.grad, op.bwd_tol(_dtype_name(t.grad)), f"grad of input {k}")


@pytest.mark.parametrize("op,dtype,sample", GRADCHECK)
def test_gradcheck(op, dtype, sample):
    leaves = [_tensor(ember, a, requires_grad=True) for a in _arrays(sample)]
    inputs = tuple(t for t in leaves if t.requires_grad)

    def fn(*diff_inputs):  # gradcheck passes the differentiable leaves back in
        it = iter(diff_inputs)
        args, kw = _build(sample, [next(it) if t.requires_grad else t for t in leaves])
        outs = [o for o in _as_list(op.op(ember, *args, **kw)) if o.dtype.is_floating_point]
        return outs[0] if len(outs) == 1 else tuple(outs)

    assert ember.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True) is True


# ---- type promotion

PROMO_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
PROMO_OPS = {
    "add": lambda T, a, b: a + b,
    "sub": lambda T, a, b: a - b,  # PyTorch refuses bool operands
    "mul": lambda T, a, b: a * b,
    "truediv": lambda T, a, b: a / b,
    "floordiv": lambda T, a, b: a // b,  # PyTorch refuses bool // bool
    "eq": lambda T, a, b: a == b,
    "lt": lambda T, a, b: a < b,
    "where": lambda T, a, b: T.where(T.tensor([True, False, True]), a, b),
}
# the other operand: a 1-D tensor, a 0-d tensor (ranks below dimensioned tensors in
# promotion), or a Python scalar (ranks lowest; only its kind matters)
PROMO_OTHERS = ([("tensor", d) for d in PROMO_DTYPES] + [("0d", d) for d in PROMO_DTYPES]
                + [("scalar", v) for v in (True, 3, 2.5)])


def _promo_array(dtype, shape):
    # nonzero values, so integer floor division is defined
    if dtype == "bool":
        return np.ones(shape, bool)
    return np.arange(1, 1 + int(np.prod(shape))).reshape(shape).astype(dtype)


@pytest.mark.parametrize("opname,dtype,other", [
    pytest.param(o, d, other, id=f"{o}-{d}-{other[0]}_{other[1]}")
    for o in PROMO_OPS for d in PROMO_DTYPES for other in PROMO_OTHERS])
def test_type_promotion(opname, dtype, other):
    kind, val = other
    x = both(_promo_array(dtype, (3,)))
    y = (val, val) if kind == "scalar" else both(_promo_array(val, (3,) if kind == "tensor" else ()))
    f = PROMO_OPS[opname]
    for swap in (False, True):  # both sides: reflected operators, where(c, y, x)
        (e_a, t_a), (e_b, t_b) = (y, x) if swap else (x, y)
        try:
            t = f(torch, t_a, t_b)
        except Exception:  # PyTorch rejects the combination: ember must too
            with pytest.raises(Exception):
                f(ember, e_a, e_b)
            continue
        assert_same(f(ember, e_a, e_b), t, FWD_TOL.get(_dtype_name(t)), f"swapped={swap}")
