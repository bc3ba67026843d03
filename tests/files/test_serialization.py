"""ember.save / ember.load: round trips of every supported type, storage sharing, atomic
writes, PyTorch checkpoints read without torch's help, safetensors both ways, and refusal
of malicious pickles."""
import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

import ember
from ember import serialization
from ember.nn.parameter import Parameter
from ember.serialization import load, load_safetensors, save, save_safetensors

RNG = np.random.default_rng(0)
DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int64": np.int64,
          "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def sample(np_dtype, shape):
    if np_dtype == np.bool_:
        return RNG.random(shape) > 0.5
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        return RNG.integers(info.min, info.max, shape, dtype=np_dtype, endpoint=True)
    return RNG.standard_normal(shape).astype(np_dtype)


def roundtrip(obj, **kw):
    buf = io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    return load(buf, **kw)


def assert_same_tensor(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_every_dtype_and_shape(name, shape):
    t = ember.tensor(sample(DTYPES[name], shape))
    out = roundtrip(t)
    assert out.dtype == getattr(ember, name)
    assert_same_tensor(out, t)


def test_special_floats_and_non_contiguous_views():
    x = ember.tensor(np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], np.float32))
    out = roundtrip(x)
    assert np.array_equal(out.numpy(), x.numpy(), equal_nan=True) and np.signbit(out.numpy()[3])
    base = ember.tensor(sample(np.float64, (4, 5)))
    for view in (base.t(), base[1:, ::2], base[:, 3], base.narrow(1, 1, 2)):
        assert_same_tensor(roundtrip(view), view)
    np.testing.assert_array_equal(roundtrip(np.arange(5)[::-2]), np.arange(5)[::-2])  # negative strides


def test_requires_grad_and_parameters():
    w = Parameter(ember.tensor(sample(np.float32, (2, 3))))
    frozen = Parameter(ember.zeros(2), requires_grad=False)
    leaf = ember.ones(3, requires_grad=True)
    out = roundtrip({"w": w, "frozen": frozen, "leaf": leaf, "plain": ember.ones(1)})
    assert isinstance(out["w"], Parameter) and out["w"].requires_grad
    assert isinstance(out["frozen"], Parameter) and not out["frozen"].requires_grad
    assert type(out["leaf"]) is ember.Tensor and out["leaf"].requires_grad and out["leaf"].is_leaf
    assert not out["plain"].requires_grad
    assert_same_tensor(out["w"], w)


def test_nested_containers_and_scalars():
    obj = {
        "none": None, "bools": [True, False], "int": 2 ** 70, "neg": -3, "float": 0.1, "nan": float("nan"),
        "inf": (float("inf"), float("-inf")), "str": "héllo", "bytes": b"\x00\xff", "set": {1, "a"},
        "tuple": (1, (2, [3])), "odict": collections.OrderedDict([("b", 1), ("a", 2)]), 7: "int key",
        (1, 2): "tuple key", "dtype": ember.float16, "size": ember.Size([2, 3]), "device": ember.device("cpu"),
        "np": (np.float32(1.5), np.int64(4), np.bool_(True)), "empty": {}, "nested": [[[]]],
    }
    out = roundtrip(obj)
    assert list(out) == list(obj)
    assert out["int"] == 2 ** 70 and out["neg"] == -3 and out["float"] == 0.1 and out["str"] == "héllo"
    assert out["nan"] != out["nan"] and out["inf"] == (float("inf"), float("-inf"))
    assert out["bytes"] == b"\x00\xff" and out["set"] == {1, "a"} and out["tuple"] == (1, (2, [3]))
    assert type(out["odict"]) is collections.OrderedDict and list(out["odict"]) == ["b", "a"]
    assert type(out) is dict and out[7] == "int key" and out[(1, 2)] == "tuple key"
    assert out["dtype"] is ember.float16 and out["size"] == ember.Size([2, 3]) and type(out["size"]) is ember.Size
    assert out["device"] == ember.device("cpu") and out["np"] == (1.5, 4, True)
    assert out["bools"] == [True, False] and type(out["bools"][0]) is bool
    assert out["empty"] == {} and out["nested"] == [[[]]]


def test_unsupported_objects_are_refused(tmp_path):
    class Thing:
        pass

    path = tmp_path / "x.pt"
    with pytest.raises(TypeError, match="can't store an object of type .*Thing.*state_dict"):
        save({"a": Thing()}, path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(TypeError):
        save(collections.defaultdict(list), io.BytesIO())
    with pytest.raises(ValueError, match="nested deeper"):
        deep = []
        for _ in range(300):
            deep = [deep]
        save(deep, io.BytesIO())


def test_shared_storage_survives(tmp_path):
    base = ember.arange(12.0).reshape(3, 4)
    obj = {"a": base, "again": base, "row": base[1], "col": base[:, 2], "pair": [base, base[1]]}
    save(obj, tmp_path / "s.pt")
    out = load(tmp_path / "s.pt")
    assert out["again"] is out["a"] and out["pair"][0] is out["a"]
    assert np.shares_memory(out["a"].numpy(), out["row"].numpy())
    out["a"][1, 2] = -1.0
    assert out["row"][2].item() == -1.0 and out["col"][1].item() == -1.0 and out["pair"][1][2].item() == -1.0
    with zipfile.ZipFile(tmp_path / "s.pt") as zf:  # one storage for all five
        assert [n for n in zf.namelist() if n.startswith("ember/data/")] == ["ember/data/0"]


def test_model_and_optimizer_checkpoint(tmp_path):
    nn = pytest.importorskip("ember.nn")
    optim = pytest.importorskip("ember.optim")
    ember.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        model(ember.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    path = tmp_path / "ckpt.pt"
    save({"epoch": 2, "model": model.state_dict(), "optimizer": opt.state_dict(), "rng": ember.get_rng_state(),
          "loss": 0.25}, path)
    ckpt = load(path)
    assert ckpt["epoch"] == 2 and ckpt["loss"] == 0.25
    model2 = nn.Linear(4, 3)
    model2.load_state_dict(ckpt["model"])
    for (k, v), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(v.numpy(), v2.numpy())
    opt2 = optim.SGD(model2.parameters(), lr=0.5)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["momentum"] == 0.9
    assert ckpt["optimizer"]["state"].keys() == opt.state_dict()["state"].keys()
    ember.set_rng_state(ckpt["rng"])
    first = ember.rand(3).numpy()
    ember.set_rng_state(ckpt["rng"])
    np.testing.assert_array_equal(ember.rand(3).numpy(), first)


def test_file_objects_and_paths(tmp_path):
    t = ember.tensor([1, 2, 3])
    with open(tmp_path / "f.pt", "wb") as f:
        save(t, f)
    with open(tmp_path / "f.pt", "rb") as f:
        assert_same_tensor(load(f), t)
    save(t, str(tmp_path / "g.pt"))
    assert_same_tensor(load(str(tmp_path / "g.pt")), t)

    class Unseekable(io.RawIOBase):
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.inner.readinto(b)

    assert_same_tensor(load(Unseekable((tmp_path / "g.pt").read_bytes())), t)


def test_mmap(tmp_path):
    big = ember.tensor(sample(np.float32, (64, 33)))
    save({"w": big, "view": big[3]}, tmp_path / "m.pt")
    out = load(tmp_path / "m.pt", mmap=True)
    assert isinstance(out["w"].numpy().base, np.memmap) or isinstance(out["w"].numpy().base.base, np.memmap)
    assert_same_tensor(out["w"], big)
    out["w"][0, 0] = 123.0  # copy-on-write: the file is unchanged
    assert load(tmp_path / "m.pt")["w"][0, 0].item() == big[0, 0].item()
    with pytest.raises(ValueError, match="mmap"):
        load(io.BytesIO((tmp_path / "m.pt").read_bytes()), mmap=True)


def test_map_location_and_weights_only():
    t = ember.ones(2)
    assert_same_tensor(roundtrip(t, map_location="cpu"), t)
    assert_same_tensor(roundtrip(t, map_location=lambda storage, loc: storage), t)
    assert_same_tensor(roundtrip(t, map_location={"cuda:0": "cpu"}, weights_only=False), t)
    with pytest.raises(RuntimeError, match="CPU only"):
        roundtrip(t, map_location="cuda:0")


# -- atomic writes -------------------------------------------------------------------------------------
def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save({"epoch": 1, "w": ember.ones(1000)}, path)
    before = path.read_bytes()
    real = serialization._write_storage
    calls = []

    def crash_halfway(zf, name, arr):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        real(zf, name, arr)

    monkeypatch.setattr(serialization, "_write_storage", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        save({"epoch": 2, "w": ember.zeros(1000), "b": ember.zeros(10)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]
    assert load(path)["epoch"] == 1
    monkeypatch.undo()
    save({"epoch": 2}, path)
    assert load(path) == {"epoch": 2} and os.listdir(tmp_path) == ["ckpt.pt"]
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # usual permissions, not mkstemp's


# -- damaged ember files ------------------------------------------------------------------------------
def _ember_bytes(obj):
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()


def _rezip(data, edit):
    """Rewrite the archive with edit(name, bytes) -> bytes applied to each entry."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in src.namelist():
            zf.writestr(name, edit(name, src.read(name)))
    return out.getvalue()


@pytest.mark.parametrize("edit, message", [
    (lambda b: b.replace(b'"nbytes":48', b'"nbytes":40'), "holds 48 bytes, expected 40"),
    (lambda b: b.replace(b'"offset":0', b'"offset":40'), "reaches outside its storage"),
    (lambda b: b.replace(b'"float32"', b'"complex"'), "unknown dtype"),
    (lambda b: b.replace(b'"version":1', b'"version":9'), "newer ember"),
    (lambda b: b[:-5], "unreadable header"),
    (lambda b: b.replace(b'{"tensor":0}', b'{"eval":0}'), "unexpected entry"),
], ids=["nbytes", "offset", "dtype", "version", "truncated", "tag"])
def test_damaged_ember_files(edit, message):
    data = _rezip(_ember_bytes({"w": ember.ones(3, 4)}), lambda name, b: edit(b) if name.endswith("json") else b)
    with pytest.raises(RuntimeError, match=message):
        load(io.BytesIO(data))


def test_truncated_and_bit_flipped_files():
    data = _ember_bytes({"w": ember.ones(100)})
    with pytest.raises(RuntimeError, match="corrupt or truncated"):
        load(io.BytesIO(data[: len(data) // 2]))
    i = data.index(b"\x00\x00\x80\x3f")  # a 1.0 in the storage
    flipped = data[:i] + b"\x00\x00\x80\x40" + data[i + 4:]
    with pytest.raises(RuntimeError, match="CRC"):
        load(io.BytesIO(flipped))
    with pytest.raises(RuntimeError, match="never unpickles arbitrary files"):
        load(io.BytesIO(pickle.dumps({"w": 1})))


# -- PyTorch checkpoints ----------------------------------------------------------------------------------
def torch_checkpoint():
    torch.manual_seed(0)
    base = torch.randn(4, 5)
    return {
        "state_dict": collections.OrderedDict([
            ("f32", base), ("f64", torch.randn(3, dtype=torch.float64)), ("f16", torch.randn(2, 2).half()),
            ("i64", torch.arange(-3, 3)), ("i32", torch.tensor([1, -2], dtype=torch.int32)),
            ("i16", torch.tensor([300], dtype=torch.int16)), ("i8", torch.tensor([-7], dtype=torch.int8)),
            ("u8", torch.tensor([255, 0], dtype=torch.uint8)), ("bool", torch.tensor([True, False])),
            ("scalar", torch.tensor(3.5)), ("empty", torch.empty(0, 3)), ("t", base.t()), ("row", base[2]),
        ]),
        "param": torch.nn.Parameter(torch.randn(3)),
        "frozen": torch.nn.Parameter(torch.randn(2), requires_grad=False),
        "epoch": 7, "lr": [0.1, 0.01], "name": "run-1", "flags": (True, None), "blob": b"\x00\x01",
        "rng": torch.get_rng_state(), "dtype": torch.float16, "size": torch.Size([2, 3]),
    }


def check_torch_checkpoint(out, ref):
    for k, v in ref["state_dict"].items():
        got = out["state_dict"][k]
        assert got.dtype == getattr(ember, str(v.dtype).split(".")[1]), k
        assert tuple(got.shape) == tuple(v.shape), k
        np.testing.assert_array_equal(got.numpy(), v.numpy(), err_msg=k)
    assert type(out["state_dict"]) is collections.OrderedDict and list(out["state_dict"]) == list(ref["state_dict"])
    assert isinstance(out["param"], Parameter) and out["param"].requires_grad
    assert isinstance(out["frozen"], Parameter) and not out["frozen"].requires_grad
    np.testing.assert_array_equal(out["param"].detach().numpy(), ref["param"].detach().numpy())
    assert out["epoch"] == 7 and out["lr"] == [0.1, 0.01] and out["name"] == "run-1"
    assert out["flags"] == (True, None) and out["blob"] == b"\x00\x01"
    np.testing.assert_array_equal(out["rng"].numpy(), ref["rng"].numpy())
    assert out["dtype"] is ember.float16 and out["size"] == ember.Size([2, 3])
    # views of one torch storage share memory after loading, as in torch
    sd = out["state_dict"]
    assert np.shares_memory(sd["f32"].numpy(), sd["row"].numpy())


@pytest.mark.parametrize("zip_format", [True, False])
def test_load_torch_checkpoint(tmp_path, zip_format):
    ref = torch_checkpoint()
    torch.save(ref, tmp_path / "t.pt", _use_new_zipfile_serialization=zip_format)
    check_torch_checkpoint(load(tmp_path / "t.pt"), ref)
    buf = io.BytesIO()
    torch.save(ref, buf, _use_new_zipfile_serialization=zip_format)
    buf.seek(0)
    check_torch_checkpoint(load(buf), ref)


def test_load_torch_checkpoint_mmap(tmp_path):
    ref = torch_checkpoint()
    torch.save(ref, tmp_path / "t.pt")
    check_torch_checkpoint(load(tmp_path / "t.pt", mmap=True), ref)


def test_torch_bfloat16_widens_to_float32(tmp_path):
    x = torch.randn(5).bfloat16()
    torch.save({"x": x}, tmp_path / "b.pt")
    with pytest.warns(UserWarning, match="bfloat16"):
        out = load(tmp_path / "b.pt")
    assert out["x"].dtype == ember.float32
    np.testing.assert_array_equal(out["x"].numpy(), x.float().numpy())


def test_torch_model_state_dict_into_ember_model(tmp_path):
    nn = pytest.importorskip("ember.nn")
    torch.manual_seed(0)
    tmodel = torch.nn.Linear(4, 3)
    torch.save(tmodel.state_dict(), tmp_path / "lin.pt")
    model = nn.Linear(4, 3)
    model.load_state_dict(load(tmp_path / "lin.pt"))
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(model(ember.tensor(x)).detach().numpy(),
                               tmodel(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_unsupported_torch_dtype(tmp_path):
    torch.save({"c": torch.ones(2, dtype=torch.complex64)}, tmp_path / "c.pt")
    with pytest.raises(pickle.UnpicklingError, match="complex64 are not supported"):
        load(tmp_path / "c.pt")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class TensorSubclass(torch.Tensor):
    pass


def _torch_zip_with(data_pkl):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    return out.getvalue()


def test_malicious_torch_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": _Exploit(marker)}, protocol=2)
    for weights_only in (True, False):
        with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '(os|posix)\.system'"):
            load(io.BytesIO(_torch_zip_with(payload)), weights_only=weights_only)
    assert not marker.exists()
    by_name = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    with pytest.raises(pickle.UnpicklingError, match="'os.system'"):
        load(io.BytesIO(_torch_zip_with(by_name)))


@pytest.mark.parametrize("target, kind", [(b"torch\nfloat32\n", "dtype"), (b"torch\nFloatStorage\n", "_StorageType"),
                                          (b"collections\nOrderedDict\n", "type")])
def test_build_on_a_shared_global_is_refused(target, kind):
    # GLOBAL target; BUILD (None, {"np": 1}): would set target.np = 1 for the whole process
    payload = b"\x80\x02c" + target + b"N}X\x02\x00\x00\x00npK\x01s\x86b."
    with pytest.raises(pickle.UnpicklingError, match=f"BUILD on a {kind} is not allowed"):
        load(io.BytesIO(_torch_zip_with(payload)))
    assert ember.float32.np == np.float32 and serialization._TORCH_GLOBALS[("torch", "FloatStorage")].np is np.float32


def test_state_dict_metadata_survives(tmp_path):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "l.pt")
    out = load(tmp_path / "l.pt")
    assert type(out) is collections.OrderedDict and out._metadata[""]["version"] == 1


def test_malicious_legacy_and_subclass_refused(tmp_path):
    marker = tmp_path / "pwned"
    legacy = b"".join(pickle.dumps(x, protocol=2) for x in (serialization._LEGACY_MAGIC, 1001, {}))
    legacy += pickle.dumps(_Exploit(marker), protocol=2) + pickle.dumps([], protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        load(io.BytesIO(legacy))
    assert not marker.exists()

    buf = io.BytesIO()
    torch.save({"s": torch.ones(2).as_subclass(TensorSubclass)}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '.*TensorSubclass'"):
        load(buf)


# -- safetensors ----------------------------------------------------------------------------------------------
def test_safetensors_from_torch(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    ref = {"w": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int32), "m": torch.tensor([True, False]),
           "h": torch.randn(2).half(), "e": torch.empty(0, 2)}
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file(ref, str(path), metadata={"format": "pt"})
    for out in (load(path), load_safetensors(path), load(path, mmap=True), load(io.BytesIO(path.read_bytes()))):
        assert list(out) == list(safetensors_torch.load_file(str(path)))
        for k, v in ref.items():
            assert out[k].dtype == getattr(ember, str(v.dtype).split(".")[1])
            np.testing.assert_array_equal(out[k].numpy(), v.numpy())
    safetensors_torch.save_file({"x": torch.randn(3).bfloat16()}, str(path))
    with pytest.warns(UserWarning, match="bfloat16"):
        np.testing.assert_array_equal(load(path)["x"].numpy(), safetensors_torch.load_file(str(path))["x"].float())


def test_safetensors_to_torch(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {name: ember.tensor(sample(dt, (2, 3))) for name, dt in DTYPES.items()}
    tensors["view"] = ember.arange(12.0).reshape(3, 4).t()  # non-contiguous is written contiguous
    path = tmp_path / "e.safetensors"
    save_safetensors(tensors, path, metadata={"epoch": "3"})
    back = safetensors_torch.load_file(str(path))
    via_numpy = safetensors_numpy.load_file(str(path))
    for k, v in tensors.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
        np.testing.assert_array_equal(via_numpy[k], v.numpy())
        assert_same_tensor(load_safetensors(path)[k], v)
    with pytest.raises(TypeError, match="dict of"):
        save_safetensors([ember.ones(1)], path)
    with pytest.raises(TypeError, match="metadata"):
        save_safetensors({"a": ember.ones(1)}, path, metadata={"epoch": 3})


def test_damaged_safetensors(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "e.safetensors"
    save_safetensors({"a": ember.ones(4)}, path)
    data = path.read_bytes()
    with pytest.raises(RuntimeError, match="offsets"):
        load(io.BytesIO(data[:-3]))
    with pytest.raises(RuntimeError, match="header length"):
        load(io.BytesIO(b"\xff" * 8 + b"{}"))
    bad = data.replace(b'"F32"', b'"C64"')
    with pytest.raises(RuntimeError, match="unsupported dtype"):
        load(io.BytesIO(bad))
