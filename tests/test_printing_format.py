"""ember._tensor_str must print exactly what PyTorch prints; torch is the oracle."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

try:
    from ember._tensor_str import format_tensor, get_printoptions, set_printoptions
except Exception:  # ember/__init__.py may be mid-edit; load the module file on its own
    _path = pathlib.Path(__file__).resolve().parents[1] / "ember" / "_tensor_str.py"
    _spec = importlib.util.spec_from_file_location("_ember_tensor_str", _path)
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    format_tensor = _module.format_tensor
    get_printoptions = _module.get_printoptions
    set_printoptions = _module.set_printoptions

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is the oracle for these cases")

DTYPE_NAMES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


@pytest.fixture(autouse=True)
def restore_options():
    yield
    set_printoptions(profile="default")
    if torch is not None:
        torch.set_printoptions(profile="default")
        torch.set_default_dtype(torch.float32)


def both_set_printoptions(**options):
    set_printoptions(**options)
    torch.set_printoptions(**options)


def ember_repr(t, indent_prefix="tensor("):
    """Format a torch tensor through ember, passing along everything repr depends on."""
    grad_fn = t.grad_fn
    return format_tensor(
        t.detach().numpy(),
        str(t.dtype).removeprefix("torch."),
        default_dtype_name=str(torch.get_default_dtype()).removeprefix("torch."),
        requires_grad=t.requires_grad,
        grad_fn_name=None if grad_fn is None else type(grad_fn).__name__,
        indent_prefix=indent_prefix,
    )


def assert_same(t):
    assert ember_repr(t) == repr(t)


def random_values(rng, shape, dtype_name):
    """Values of a random style: plain normal, wide magnitudes, integral, or special."""
    if dtype_name == "bool":
        return rng.random(shape) < 0.5
    if dtype_name.startswith("float"):
        style = rng.integers(5)
        if style == 0:
            values = rng.standard_normal(shape)
        elif style == 1:
            values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-12, 12, shape)
        elif style == 2:
            values = np.round(rng.standard_normal(shape) * 10.0 ** rng.integers(0, 10))
        elif style == 3:
            values = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 9)
        else:
            values = rng.choice([0.0, -0.0, np.nan, np.inf, -np.inf, 1.5, 2.0, 1e-5, 123456.0], shape)
        with np.errstate(over="ignore"):  # float16 overflows to inf, which is fine
            return values.astype(dtype_name)
    info = np.iinfo(dtype_name)
    high = min(int(info.max), 10 ** int(rng.integers(1, 19)))
    return rng.integers(max(int(info.min), -high), high, shape, dtype=dtype_name, endpoint=True)


def make(values):
    return torch.from_numpy(np.array(values, order="C"))  # keeps 0-d arrays 0-d


# --- fixed table -----------------------------------------------------------------------

def _table():
    rng = np.random.default_rng(1234)
    normal = lambda *shape: torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    f = lambda values, dtype=None: torch.tensor(values, dtype=dtype)
    nan, inf = math.nan, math.inf
    return {
        "scalar": f(1.8541),
        "scalar_int": f(-7),
        "scalar_bool": f(True),
        "scalar_nan": f(nan),
        "scalar_f64": f(2.5, torch.float64),
        "scalar_f16": f(0.1, torch.float16),
        "integral_floats": f([1.0, 2.0, -30.0]),
        "vector_wraps": normal(40),
        "sci_wide_ratio": f([1e-5, 1e5]),
        "sci_tiny": f([1e-5, 2e-5]),
        "sci_huge_integral": f([1e9, 2.0]),
        "int_mode_ratio_sci": f([1.0, 10000.0]),
        "nan_inf_mixture": f([nan, inf, -inf, 1.5, 0.0]),
        "only_special": f([nan, -inf, 0.0, -0.0]),
        "negative_zero": f([0.0, -0.0, 1.25]),
        "float16_values": f([0.1, 1000.0, -65504.0], torch.float16),
        "float64_values": f([3.141592653589793, -2.0e-3], torch.float64),
        "bool_vector": f([True, False, True]),
        "bool_all_true": f([True, True]),
        "int64_wide": f([-(2**63), 2**63 - 1, 0]),
        "int8": f([-128, 5, 127], torch.int8),
        "uint8": f([0, 255, 7], torch.uint8),
        "int32_matrix": torch.arange(-20, 20, dtype=torch.int32).reshape(4, 10),
        "int16_matrix": torch.arange(0, 3000, 100, dtype=torch.int16).reshape(5, 6),
        "matrix_wraps": normal(3, 25),
        "three_d": normal(2, 3, 4),
        "four_d": normal(2, 2, 2, 3),
        "five_d": normal(2, 1, 2, 1, 2),
        "summarised_vector": torch.arange(2000.0),
        "summarised_matrix": normal(50, 40),
        "summarised_3d": normal(20, 10, 10) * 1e6,
        "summarised_ints": torch.arange(1001),
        "summarised_one_long_axis": normal(2, 600),
        "non_contiguous": normal(4, 6).t()[::2],
        "empty_vector": torch.empty(0),
        "empty_2d": torch.empty(0, 3),
        "empty_3d": torch.empty(2, 0, 1),
        "empty_int32": torch.empty(0, dtype=torch.int32),
        "empty_int64": torch.empty(0, dtype=torch.int64),
        "empty_bool_2d": torch.empty(3, 0, dtype=torch.bool),
        "empty_float64": torch.empty(0, dtype=torch.float64),
        "leaf_requires_grad": normal(3).requires_grad_(),
        "requires_grad_f64_wraps_suffix": torch.linspace(-1, 1, 9, dtype=torch.float64).requires_grad_(),
        "grad_fn_add": normal(2, 2).requires_grad_() + 1,
        "grad_fn_addmm": torch.nn.functional.linear(normal(2, 3).requires_grad_(), normal(4, 3), normal(4)),
        "grad_fn_sum_scalar": normal(5).requires_grad_().sum(),
        "grad_fn_long_line": (torch.arange(11, dtype=torch.float64) * 1.5).requires_grad_() * 2,
        "empty_requires_grad": torch.empty(0, 2, dtype=torch.float64, requires_grad=True),
    }


TABLE = _table() if torch is not None else {}


@needs_torch
@pytest.mark.parametrize("name", list(TABLE))
def test_table(name):
    assert_same(TABLE[name])


@needs_torch
def test_default_float64_changes_dtype_suffix():
    torch.set_default_dtype(torch.float64)
    for t in (torch.tensor([1.5, 2.0]), torch.tensor([1.5], dtype=torch.float32),
              torch.empty(0), torch.empty(0, dtype=torch.float32), torch.tensor([3])):
        assert_same(t)


# --- print options ---------------------------------------------------------------------

OPTION_SETS = [
    dict(precision=2),
    dict(precision=0),
    dict(precision=8),
    dict(threshold=5),
    dict(threshold=5, edgeitems=1),
    dict(edgeitems=0),
    dict(threshold=0, edgeitems=0),
    dict(linewidth=40),
    dict(linewidth=10),
    dict(linewidth=200),
    dict(sci_mode=True),
    dict(sci_mode=False),
    dict(profile="short"),
    dict(profile="full"),
    dict(profile="short", precision=6, sci_mode=True),
]


@needs_torch
@pytest.mark.parametrize("options", OPTION_SETS, ids=str)
def test_print_options(options):
    both_set_printoptions(**options)
    rng = np.random.default_rng(7)
    samples = [
        torch.tensor(3.25),
        torch.tensor([1e-5, 1e5, 0.0, math.nan]),
        torch.tensor([1.0, 100000.0]),
        torch.zeros(3),
        torch.from_numpy(rng.standard_normal((4, 30)).astype(np.float32)),
        torch.from_numpy(rng.standard_normal((3, 4, 5))),
        torch.arange(1500, dtype=torch.int32).reshape(30, 50),
        torch.arange(12.0).reshape(3, 4).requires_grad_() * 2,
        torch.empty(0, 4),
    ]
    for t in samples:
        assert_same(t)


def test_profiles_and_get_printoptions():
    assert get_printoptions() == dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
    set_printoptions(profile="short", linewidth=120)
    assert get_printoptions() == dict(precision=2, threshold=1000, edgeitems=2, linewidth=120, sci_mode=None)
    set_printoptions(profile="full", sci_mode=True)
    assert get_printoptions()["threshold"] == math.inf and get_printoptions()["sci_mode"] is True
    # Like torch, any call that omits sci_mode resets it to automatic.
    set_printoptions(precision=3)
    assert get_printoptions()["sci_mode"] is None and get_printoptions()["precision"] == 3


def test_known_outputs_without_torch():
    assert format_tensor(np.array([1.0, 2.0], np.float32), "float32") == "tensor([1., 2.])"
    assert format_tensor(np.array([1e-5, 1e5], np.float32), "float32") == "tensor([1.0000e-05, 1.0000e+05])"
    assert format_tensor(np.array([True, False]), "bool") == "tensor([ True, False])"
    assert format_tensor(np.zeros((0, 3), np.int32), "int32") == "tensor([], size=(0, 3), dtype=torch.int32)"
    assert (format_tensor(np.array(1.5), "float64", grad_fn_name="MulBackward0")
            == "tensor(1.5000, dtype=torch.float64, grad_fn=<MulBackward0>)")


@needs_torch
def test_other_prefix_indents_continuation_lines():
    class Custom(torch.Tensor):
        pass

    t = torch.from_numpy(np.random.default_rng(3).standard_normal((3, 20)).astype(np.float32))
    t = t.as_subclass(Custom)
    assert ember_repr(t, indent_prefix="Custom(") == repr(t)


# --- seeded random sweep ---------------------------------------------------------------

def _random_shape(rng):
    shape = [int(rng.integers(1, 7)) for _ in range(rng.integers(0, 5))]
    if shape and rng.random() < 0.3:
        shape[rng.integers(len(shape))] = int(rng.choice([0, 9, 40, 1100]))
    return tuple(shape)


@needs_torch
@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_random_sweep(dtype_name):
    rng = np.random.default_rng(sum(map(ord, dtype_name)))
    for _ in range(40):
        shape = _random_shape(rng)
        t = make(random_values(rng, shape, dtype_name))
        if t.dim() >= 2 and rng.random() < 0.3:
            t = t.transpose(0, -1)
        if t.is_floating_point() and t.dtype != torch.float16 and rng.random() < 0.3:
            t = t.clone().requires_grad_()
            if rng.random() < 0.5:
                t = t * 1
        assert_same(t)
