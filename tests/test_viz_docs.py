"""ember.utils.viz (make_dot, summary, count_parameters), the tutorial page (every code
block runs and prints what the page shows) and the generated API coverage page."""
import contextlib
import gzip
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.utils.viz import Digraph, count_parameters, make_dot, summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
COVERAGE = os.path.join(ROOT, "docs", "api_coverage.md")
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.shape[0], -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def mlp_loss():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    loss = nn.MSELoss()(model(ember.randn(5, 4)), ember.randn(5, 2))
    return model, loss


def labels_of(dot):
    return re.findall(r'label="((?:[^"\\]|\\.)*)"', dot.source)


# -- make_dot ------------------------------------------------------------------------------

def test_make_dot_mlp_nodes_and_parameter_labels():
    model, loss = mlp_loss()
    dot = make_dot(loss, params=dict(model.named_parameters()))
    assert isinstance(dot, Digraph) and dot.source.startswith("digraph {")
    labels = labels_of(dot)
    assert labels.count("MseLossBackward0") == 1
    assert labels.count("AddmmBackward0") == 2
    assert labels.count("ReluBackward0") == 1
    assert labels.count("AccumulateGrad") == 4  # one per parameter
    for name, p in model.named_parameters():
        assert f"{name}\\n {tuple(p.shape)}".replace(",)", ")") in labels
    assert "\\n ()" in labels  # the scalar output, green
    assert 'fillcolor="darkolivegreen1"' in dot.source and dot.source.count('fillcolor="lightblue"') == 4
    # every edge joins declared nodes, and every node is declared once
    declared = re.findall(r'^\t"(n\d+)" \[', dot.source, re.M)
    assert len(declared) == len(set(declared))
    for tail, head in re.findall(r'^\t"(n\d+)" -> "(n\d+)"', dot.source, re.M):
        assert tail in declared and head in declared


def test_make_dot_lenet_and_options(tmp_path):
    ember.manual_seed(0)
    net = LeNet()
    loss = nn.MSELoss()(net(ember.randn(2, 1, 32, 32)), ember.randn(2, 10))
    dot = make_dot(loss, params=dict(net.named_parameters()))
    labels = labels_of(dot)
    for name in ("ConvolutionBackward0", "MaxPool2DWithIndicesBackward0", "ViewBackward0", "AddmmBackward0",
                 "MseLossBackward0", "AccumulateGrad"):
        assert name in labels
    assert "conv1.weight\\n (6, 1, 3, 3)" in labels and "fc1.weight\\n (120, 576)" in labels
    assert "conv2.bias\\n (16)" in labels
    # without params the leaves show only shapes
    assert "\\n (6, 1, 3, 3)" in labels_of(make_dot(loss))
    # settings and saved arrays on request
    rich = make_dot(loss, show_attrs=True, show_saved=True).source
    assert "reduction: 'mean'" in rich and 'fillcolor="orange"' in rich
    path = dot.save(tmp_path / "g.dot")
    assert open(path).read() == dot.source
    # the output of a forward pass (no loss) and a tuple of outputs
    out = net(ember.randn(1, 1, 32, 32))
    assert "\\n (1, 10)" in labels_of(make_dot(out))
    assert labels_of(make_dot((out, loss))).count("AddmmBackward0") >= 6


def test_make_dot_view_output_leaf_and_deep_graph():
    x = ember.randn(3, 4, requires_grad=True)
    dot = make_dot(x.view(12), params={"x": x})
    labels = labels_of(dot)
    assert "ViewBackward0" in labels and "x\\n (3, 4)" in labels and 'style="dotted"' in dot.source
    y = x
    for _ in range(3000):  # deeper than the recursion limit
        y = y * 1.0
    assert labels_of(make_dot(y.sum())).count("MulBackward0") == 3000
    with pytest.raises(TypeError, match="tensor"):
        make_dot([1.0])


def test_render_needs_dot(tmp_path, monkeypatch):
    _, loss = mlp_loss()
    dot = make_dot(loss)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install -y graphviz"):
        dot.render(tmp_path / "g", format="svg")
    assert not (tmp_path / "g").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_render_svg_and_png(tmp_path):
    model, loss = mlp_loss()
    dot = make_dot(loss, params=dict(model.named_parameters()))
    svg = dot.render(tmp_path / "graph", format="svg")
    assert svg == str(tmp_path / "graph") + ".svg"
    text = open(svg).read()
    assert "<svg" in text and "AddmmBackward0" in text and "0.weight" in text
    png = dot.render(tmp_path / "graph", format="png", cleanup=True)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "graph").exists()


# -- summary -------------------------------------------------------------------------------

def test_summary_lenet_totals_and_shapes():
    net = LeNet()
    s = summary(net, input_size=(1, 1, 32, 32))
    assert s.total_params == sum(p.numel() for p in net.parameters()) == 81194
    assert s.trainable_params == 81194 and s.non_trainable_params == 0
    rows = {r["name"]: r for r in s.rows}
    assert rows[""]["output_shape"] == [1, 10] and rows[""]["type"] == "LeNet"
    assert rows["conv1"]["output_shape"] == [1, 6, 30, 30] and rows["conv1"]["num_params"] == 60
    assert rows["conv2"]["output_shape"] == [1, 16, 13, 13] and rows["conv2"]["num_params"] == 880
    assert rows["fc1"]["output_shape"] == [1, 120] and rows["fc3"]["output_shape"] == [1, 10]
    assert sum(r["num_params"] for r in s.rows) == s.total_params
    text = str(s)
    for piece in ("conv1 (Conv2d)", "[1, 6, 30, 30]", "69,240", "Total params: 81,194", "Trainable params: 81,194",
                  "Non-trainable params: 0", "Input size (MB): 0.00", "Params size (MB): 0.32"):
        assert piece in text
    assert s.param_bytes == 81194 * 4 and s.input_bytes == 32 * 32 * 4
    # activations of the leaf modules: conv1, conv2, fc1..fc3 outputs
    assert s.activation_bytes == 4 * (6 * 30 * 30 + 16 * 13 * 13 + 120 + 84 + 10)
    assert count_parameters(net) == 81194


def test_summary_nested_frozen_and_modes():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 10)))
    model[0].weight.requires_grad_(False)
    model[3].train()
    model[1].eval()
    running = model[1].running_mean.clone()
    rng_before = ember.get_rng_state()
    s = summary(model, input_size=[(3, 1, 8, 8)])
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.trainable_params == s.total_params - 36
    assert count_parameters(model) == s.trainable_params
    assert count_parameters(model, trainable_only=False) == s.total_params
    depths = [(r["name"], r["depth"]) for r in s.rows]
    assert depths == [("", 0), ("0", 1), ("1", 1), ("2", 1), ("3", 1), ("3.0", 2), ("3.1", 2), ("3.2", 2)]
    assert [r["output_shape"] for r in s.rows][-3:] == [[3, 144], [3, 144], [3, 10]]
    assert "    2 (Linear)" in str(s)
    # modes restored, batch-norm statistics untouched, global random stream untouched
    assert model[3].training and not model[1].training
    assert ember.equal(model[1].running_mean, running)
    assert ember.equal(ember.get_rng_state(), rng_before)
    # same shapes as PyTorch's forward of the same architecture
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10)))
    tshapes = {}

    def record(name):
        def hook(module, args, out):
            tshapes.setdefault(name, list(out.shape))
        return hook

    for name, m in tmodel.named_modules():
        m.register_forward_hook(record(name))
    tmodel(torch.rand(3, 1, 8, 8))
    ours = {r["name"]: r["output_shape"] for r in s.rows}
    for name in ("", "0", "1", "2", "3", "3.0"):
        assert ours[name] == tshapes[name]
    assert ours["3.2"] == tshapes["3.1"]


def test_summary_inputs_dtypes_and_errors():
    emb = nn.Sequential(nn.Embedding(20, 5), nn.Flatten(), nn.Linear(15, 2))
    s = summary(emb, input_size=(4, 3), dtypes=[ember.int64])
    assert s.rows[1]["output_shape"] == [4, 3, 5] and s.total_params == 100 + 32
    s2 = summary(emb, input=ember.tensor([[1, 2, 3]]))
    assert s2.rows[0]["output_shape"] == [1, 2]

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.unused = nn.Linear(2, 3), nn.Linear(4, 3), nn.Linear(1, 1)

        def forward(self, x, y):
            return self.a(x) + self.b(y), x

    s3 = summary(TwoInputs(), input_size=[(2, 2), (2, 4)])
    rows = {r["name"]: r for r in s3.rows}
    assert rows[""]["output_shape"] == [[2, 3], [2, 2]] and rows["unused"]["output_shape"] is None
    assert s3.total_params == 9 + 15 + 2
    with pytest.raises(ValueError, match="exactly one"):
        summary(emb)
    with pytest.raises(ValueError, match="dtypes"):
        summary(emb, input_size=(4, 3), dtypes=[ember.int64, ember.int64])


# -- the tutorial --------------------------------------------------------------------------

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
ADDRESS = re.compile(r"0x[0-9a-f]+")
DATA_MARK = "<!-- output: depends on the data -->"


def tutorial_cells(text):
    """[(code, expected output or None, numbers_vary)] for the page's python blocks: the
    text block right after a python block (only blank lines or comments between) is
    its output. Each code string starts with blank lines up to its line in the page, so
    tracebacks point at tutorial.md's own line numbers."""
    fences = list(FENCE.finditer(text))
    cells = []
    for i, m in enumerate(fences):
        if m.group(1) != "python":
            continue
        expected, vary = None, False
        if i + 1 < len(fences) and fences[i + 1].group(1) == "text":
            between = text[m.end():fences[i + 1].start()]
            if re.fullmatch(r"(\s|<!--.*?-->)*", between, re.S):
                expected, vary = fences[i + 1].group(2), DATA_MARK in between
        cells.append(("\n" * text.count("\n", 0, m.start(2)) + m.group(2), expected, vary))
    return cells


def run_cells(cells, data_dir):
    """Runs the cells in one namespace with `torch` bound to ember; returns their outputs."""
    namespace = {"__name__": "__tutorial__", "torch": ember}
    outputs = []
    for code, _, _ in cells:
        code = code.replace(FASHION_MNIST, str(data_dir))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, TUTORIAL, "exec"), namespace)
        outputs.append(buf.getvalue())
    return outputs


def same_output(actual, expected, numbers_vary):
    """Equal text apart from memory addresses; numbers equal to within 2 units of the last
    printed digit (float rounding may differ between machines), or anything at all when
    they depend on the data."""
    actual, expected = ADDRESS.sub("0x?", actual.rstrip("\n")), ADDRESS.sub("0x?", expected.rstrip("\n"))
    if numbers_vary:
        return NUMBER.sub("#", actual).split() == NUMBER.sub("#", expected).split()
    if NUMBER.split(actual) != NUMBER.split(expected):
        return False
    for a, e in zip(NUMBER.findall(actual), NUMBER.findall(expected)):
        if a == e:
            continue
        if "." not in e or "e" in e:
            return False
        ulp = 10.0 ** -len(e.split(".")[1])
        if abs(float(a) - float(e)) > 2 * ulp + 1e-12:
            return False
    return True


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def tiny_fashion_mnist(folder, n_train=1000, n_test=200):
    """Files in Fashion-MNIST's format: random images with a class-dependent bright band."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c: 2 * c + 6, 4:24] = 250
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), labels)


def test_tutorial_blocks_run_and_print_what_the_page_shows(tmp_path, monkeypatch):
    with open(TUTORIAL, encoding="utf-8") as f:
        text = f.read()
    for needle in ("ember train", "make_dot", "summary(", "count_parameters", "lr_scheduler", "DataLoader",
                   "grad_fn", "retain_grad", "optim.SGD", "FashionMNIST"):
        assert needle in text, needle
    cells = tutorial_cells(text)
    assert len(cells) >= 20
    data = tmp_path / "fashion-mnist"
    data.mkdir()
    tiny_fashion_mnist(data)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    outputs = run_cells(cells, data)
    for (code, expected, vary), out in zip(cells, outputs):
        first = code.strip().splitlines()[0]
        if expected is None:
            assert out == "", f"block starting {first!r} prints but the page shows no output:\n{out}"
        else:
            assert same_output(out, expected, vary), (
                f"block starting {first!r} printed\n{out}\nbut the page shows\n{expected}")
    assert (work / "lenet.dot").exists()


def test_output_comparison_rules():
    assert same_output("tensor([0.1234])\n", "tensor([0.1235])", False)
    assert not same_output("tensor([0.1234])", "tensor([0.1244])", False)
    assert not same_output("10", "11", False)
    assert same_output("<AddmmBackward0 object at 0x7f00>", "<AddmmBackward0 object at 0x1234>", False)
    assert same_output("Loss: 2.3012\nacc 0.51", "Loss: 1.1\nacc 0.9", True)
    assert not same_output("Loss: 2.3012", "Loss: 2.3012\nLoss: 2.1", True)


# -- the API coverage page -----------------------------------------------------------------

def load_tool():
    spec = importlib.util.spec_from_file_location("api_coverage", os.path.join(ROOT, "tools", "api_coverage.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_coverage_page_is_up_to_date():
    torch = pytest.importorskip("torch")
    with open(COVERAGE, encoding="utf-8") as f:
        committed = f.read()
    version = torch.__version__.split("+")[0]
    if f"PyTorch {version} " not in committed:
        pytest.skip(f"docs/api_coverage.md was generated for another PyTorch than {version}")
    generated = load_tool().generate()
    stale = "docs/api_coverage.md is out of date: run python tools/api_coverage.py"
    overview = re.compile(r"^\| \[`.*$", re.M)  # the per-namespace counts first: the shorter diff
    assert overview.findall(generated) == overview.findall(committed), stale
    assert generated == committed, stale


def test_api_coverage_names_and_marks():
    pytest.importorskip("torch")
    results = {title: dict(rows) for title, _, rows in load_tool().collect()}
    assert set(results) == {"torch", "torch.Tensor", "torch.nn", "torch.nn.functional", "torch.nn.init",
                            "torch.optim", "torch.optim.lr_scheduler", "torch.utils.data", "torch.autograd",
                            "torch.distributed", "torch.nn.parallel"}
    assert results["torch"]["matmul"] and results["torch.Tensor"]["backward"]
    assert results["torch.nn"]["Linear"] and results["torch.nn.functional"]["cross_entropy"]
    assert results["torch.optim"]["SGD"] and results["torch.utils.data"]["DataLoader"]
    assert results["torch.autograd"]["grad"] and results["torch.optim.lr_scheduler"]["StepLR"]
    assert results["torch.distributed"]["all_reduce"] and results["torch.nn.parallel"]["DistributedDataParallel"]
    for title, rows in results.items():
        for name, has in rows.items():
            ember_path = "ember" + title[len("torch"):]
            obj = ember.Tensor if title == "torch.Tensor" else importlib.import_module(ember_path)
            assert has == hasattr(obj, name), f"{title}.{name}"


def test_api_coverage_without_torch_fails_clearly(tmp_path):
    script = ("import sys; sys.modules['torch'] = None; import runpy; "
              f"sys.argv = ['api_coverage.py', '-o', {str(tmp_path / 'out.md')!r}]; "
              f"runpy.run_path({os.path.join(ROOT, 'tools', 'api_coverage.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "needs PyTorch" in proc.stderr and not (tmp_path / "out.md").exists()
