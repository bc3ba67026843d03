"""Looking inside a model: the autograd graph as Graphviz DOT, and a layer table.

    from ember.utils.viz import make_dot, summary
    make_dot(loss, params=dict(model.named_parameters())).render("graph", format="svg")
    print(summary(model, input_size=(1, 1, 32, 32)))

`make_dot` draws what torchviz draws (op nodes named like PyTorch's grad_fn, blue
parameter leaves, a green output) but writes the DOT text itself, so it needs no
Python package; only `render` needs Graphviz's `dot` program. `summary` is in the
spirit of torchinfo: one forward pass with forward hooks, then a table of layers,
output shapes and parameter counts with memory estimates.
"""
import os
import shutil
import subprocess

from .. import _tensor, no_grad
from .._dtype import float32

__all__ = ["Digraph", "make_dot", "summary", "ModelSummary", "count_parameters"]

_ACCUMULATE_PREFIX = "torch::autograd::"


class Digraph:
    """A minimal Graphviz directed graph: enough of graphviz.Digraph for make_dot."""

    def __init__(self, name=None, graph_attr=None, node_attr=None):
        self.name = name
        self.graph_attr = dict(graph_attr or {})
        self.node_attr = dict(node_attr or {})
        self.body = []

    def node(self, name, label=None, **attrs):
        if label is not None:
            attrs = {"label": label, **attrs}
        self.body.append(f"\t{_quote(name)}{_attr_list(attrs)}")

    def edge(self, tail_name, head_name, **attrs):
        self.body.append(f"\t{_quote(tail_name)} -> {_quote(head_name)}{_attr_list(attrs)}")

    @property
    def source(self):
        head = "digraph" + (f" {_quote(self.name)}" if self.name else "") + " {"
        lines = [head]
        if self.graph_attr:
            lines.append(f"\tgraph{_attr_list(self.graph_attr)}")
        if self.node_attr:
            lines.append(f"\tnode{_attr_list(self.node_attr)}")
        lines.extend(self.body)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.source

    def save(self, filename):
        """Writes the DOT source to filename; returns the path."""
        with open(filename, "w", encoding="utf-8") as f:
            f.write(self.source)
        return os.fspath(filename)

    def pipe(self, format="svg"):
        """The graph rendered by Graphviz's `dot`, as bytes."""
        proc = subprocess.run([_dot_program(), f"-T{format}"], input=self.source.encode("utf-8"),
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"dot -T{format} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def render(self, filename, format="svg", cleanup=False):
        """Like graphviz.Digraph.render: writes the DOT source to `filename` and the
        picture to `filename.<format>` (svg, png, pdf, ...), returning the picture's path;
        cleanup=True removes the source file afterwards."""
        program = _dot_program()  # fail before writing anything
        filename = os.fspath(filename)
        self.save(filename)
        out = f"{filename}.{format}"
        proc = subprocess.run([program, f"-T{format}", filename, "-o", out], capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"dot -T{format} {filename} failed: {proc.stderr.decode(errors='replace').strip()}")
        if cleanup:
            os.remove(filename)
        return out

    def _repr_svg_(self):  # shown inline by Jupyter when Graphviz is installed
        try:
            return self.pipe("svg").decode("utf-8")
        except RuntimeError:
            return None


def _dot_program():
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(
            "rendering needs Graphviz's `dot` program, which is not on PATH: install Graphviz "
            "(e.g. `apt-get install -y graphviz`), or use .save(path) or .source to get the DOT text"
        )
    return program


def _quote(text):
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _attr_list(attrs):
    if not attrs:
        return ""
    return " [" + " ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]"


def _size_str(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def make_dot(output, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """The autograd graph that produced `output` (a tensor, or a tuple/list of them), as
    torchviz draws it: grey boxes are backward nodes named like PyTorch's grad_fn
    (`AddmmBackward0`, `AccumulateGrad`), blue boxes the leaf tensors they accumulate
    into (labelled with their names when `params`, e.g. `dict(model.named_parameters())`,
    is given, and their shapes), green the output with its shape.

    show_attrs adds each node's non-tensor settings (e.g. `reduction`), show_saved the
    arrays it saved for backward (orange; gone after a backward without retain_graph).
    Returns a Digraph with .source, .save(path) and .render(path, format="svg")."""
    if params is not None:
        for name, p in params.items():
            if not isinstance(p, _tensor.Tensor):
                raise TypeError(f"params must map names to tensors; '{name}' is a {type(p).__name__}")
    param_names = {id(p): name for name, p in (params or {}).items()}
    outputs = tuple(output) if isinstance(output, (tuple, list)) else (output,)
    for t in outputs:
        if not isinstance(t, _tensor.Tensor):
            raise TypeError(f"make_dot expects a tensor or a tuple of tensors, got {type(t).__name__}")

    dot = Digraph(
        graph_attr={"size": "12,12"},
        node_attr={"style": "filled", "shape": "box", "align": "left", "fontsize": "10", "ranksep": "0.1",
                   "height": "0.2", "fontname": "monospace"},
    )
    ids = {}  # id(object) -> node name; `keep` holds the objects so ids stay unique
    keep = []
    declared = set()

    def node_id(obj):
        key = id(obj)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            keep.append(obj)
        return ids[key]

    def declare(obj, label, **attrs):  # each object one node, however many edges reach it
        name = node_id(obj)
        if name not in declared:
            declared.add(name)
            dot.node(name, label, **attrs)
        return name

    def tensor_label(t):
        return f"{param_names.get(id(t), '')}\n {_size_str(t.shape)}"

    def fn_label(fn):
        label = fn.name()
        if label.startswith(_ACCUMULATE_PREFIX):
            label = label[len(_ACCUMULATE_PREFIX):]
        if not show_attrs:
            return label
        lines = [label]
        for key, value in vars(fn).items():
            if key.startswith("_"):
                continue
            text = repr(value)
            if len(text) > max_attr_chars:
                text = text[: max_attr_chars - 3] + "..."
            lines.append(f"{key}: {text}")
        return "\n".join(lines)

    stack = []

    def visit(fn):  # declares fn's node; True the first time, when fn still needs walking
        if node_id(fn) in declared:
            return False
        declare(fn, fn_label(fn))
        return True

    for t in outputs:
        out_id = declare(t, tensor_label(t), fillcolor="darkolivegreen1")
        if t.grad_fn is not None:
            if visit(t.grad_fn):
                stack.append(t.grad_fn)
            dot.edge(node_id(t.grad_fn), out_id)
        base = t._base
        if base is not None:  # a view: show the tensor whose memory it shares
            dot.edge(declare(base, tensor_label(base), fillcolor="darkolivegreen3"), out_id, style="dotted")

    # Iterative depth-first walk: graphs thousands of ops deep must not hit the recursion limit.
    while stack:
        fn = stack.pop()
        fid = node_id(fn)
        var = getattr(fn, "variable", None)
        if var is not None:  # AccumulateGrad: draw the leaf it writes .grad into
            dot.edge(declare(var, tensor_label(var), fillcolor="lightblue"), fid)
        if show_saved and not getattr(fn, "_freed", False):
            for i, arr in enumerate(getattr(fn, "_saved", ()) or ()):
                if arr is None or not hasattr(arr, "shape"):
                    continue
                sid = declare(arr, f"[saved {i}]\n {_size_str(arr.shape)}", fillcolor="orange")
                dot.edge(sid, fid, dir="none")
        new = []
        for prev, _ in fn.next_functions:
            if prev is not None:
                if visit(prev):
                    new.append(prev)
                dot.edge(node_id(prev), fid)
        stack.extend(reversed(new))  # the first input is walked first
    return dot


# -- summary -----------------------------------------------------------------------------

class ModelSummary:
    """What summary() found; str() is the table. Attributes:
    rows: one dict per module (name, type, depth, output_shape, num_params, trainable);
    total_params, trainable_params, non_trainable_params;
    input_bytes, activation_bytes (outputs of leaf modules), param_bytes."""

    def __init__(self, model_name, rows, total_params, trainable_params, input_bytes, activation_bytes,
                 param_bytes):
        self.model_name = model_name
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.non_trainable_params = total_params - trainable_params
        self.input_bytes = input_bytes
        self.activation_bytes = activation_bytes
        self.param_bytes = param_bytes

    @property
    def input_size_mb(self):
        return self.input_bytes / 1e6

    @property
    def forward_backward_size_mb(self):
        # Each activation is kept for backward and gets a gradient of its size: twice.
        return 2 * self.activation_bytes / 1e6

    @property
    def params_size_mb(self):
        return self.param_bytes / 1e6

    @property
    def total_size_mb(self):
        return self.input_size_mb + self.forward_backward_size_mb + self.params_size_mb

    def __str__(self):
        header = ("Layer (type)", "Output Shape", "Param #")
        body = []
        for row in self.rows:
            indent = "  " * row["depth"]
            label = row["type"] if row["depth"] == 0 else f"{row['name'].rsplit('.', 1)[-1]} ({row['type']})"
            shape = "--" if row["output_shape"] is None else str(row["output_shape"])
            count = f"{row['num_params']:,}" if row["num_params"] else "--"
            body.append((indent + label, shape, count))
        w0 = max([len(header[0])] + [len(r[0]) for r in body]) + 4
        w1 = max([len(header[1])] + [len(r[1]) for r in body]) + 4
        w2 = max([len(header[2])] + [len(r[2]) for r in body])
        width = w0 + w1 + w2

        def line(cells):
            return f"{cells[0]:<{w0}}{cells[1]:<{w1}}{cells[2]:>{w2}}".rstrip()

        out = ["=" * width, line(header), "=" * width]
        out += [line(r) for r in body]
        out += [
            "=" * width,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            "-" * width,
            f"Input size (MB): {self.input_size_mb:.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_size_mb:.2f}",
            f"Params size (MB): {self.params_size_mb:.2f}",
            f"Estimated total size (MB): {self.total_size_mb:.2f}",
            "=" * width,
        ]
        return "\n".join(out)

    __repr__ = __str__


def count_parameters(model, trainable_only=True):
    """The number of parameter elements in model (each shared parameter once); only
    those with requires_grad=True unless trainable_only is False."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def summary(model, input_size=None, input=None, dtypes=None):
    """Runs model once (in eval mode, without grad, restoring its modes afterwards) on
    `input` (a tensor or a tuple/list of tensors) or on random tensors of `input_size`
    (one shape including the batch dimension, or a list of shapes for several inputs,
    of `dtypes`, float32 by default; integer dtypes get zeros) and returns a
    ModelSummary: print() it for the table of modules (nested by indentation), their
    output shapes and the parameters each holds directly, with totals and memory
    estimates. Modules the forward pass never calls show `--` as output shape."""
    from .. import _creation

    if (input is None) == (input_size is None):
        raise ValueError("summary() needs exactly one of input_size (shapes) or input (tensors)")
    if input is not None:
        inputs = tuple(input) if isinstance(input, (tuple, list)) else (input,)
    else:
        shapes = [input_size] if _is_shape(input_size) else list(input_size)
        if not all(_is_shape(s) for s in shapes):
            raise TypeError(f"input_size must be a shape or a list of shapes, got {input_size!r}")
        dtypes = list(dtypes) if dtypes is not None else [float32] * len(shapes)
        if len(dtypes) != len(shapes):
            raise ValueError(f"got {len(dtypes)} dtypes for {len(shapes)} input shapes")
        gen = _creation.Generator().manual_seed(0)  # leaves the global random stream alone
        inputs = tuple(
            _creation.rand(*s, generator=gen, dtype=d) if d.is_floating_point else _creation.zeros(*s, dtype=d)
            for s, d in zip(shapes, dtypes)
        )

    named = list(model.named_modules())
    shapes_seen = {}
    leaf_bytes = {}
    handles = []

    def hook_for(mod_id, is_leaf):
        def hook(module, args, output):
            if mod_id not in shapes_seen:  # a module called several times shows its first call
                shapes_seen[mod_id] = _shape_of(output)
            if is_leaf:
                leaf_bytes[mod_id] = leaf_bytes.get(mod_id, 0) + _nbytes(output)
        return hook

    modes = [(m, m.training) for _, m in named]
    try:
        for _, m in named:
            handles.append(m.register_forward_hook(hook_for(id(m), not m._modules)))
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training

    rows = []
    for name, m in named:
        own = list(m.parameters(recurse=False))
        rows.append({
            "name": name, "type": m._get_name(), "depth": 0 if not name else name.count(".") + 1,
            "output_shape": shapes_seen.get(id(m)), "num_params": sum(p.numel() for p in own),
            "trainable": sum(p.numel() for p in own if p.requires_grad),
        })
    params = list(model.parameters())
    return ModelSummary(
        model_name=model._get_name(),
        rows=rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        input_bytes=sum(_nbytes(t) for t in inputs),
        activation_bytes=sum(leaf_bytes.values()),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
    )


def _is_shape(obj):
    return isinstance(obj, (tuple, list)) and all(isinstance(s, int) and not isinstance(s, bool) for s in obj)


def _shape_of(output):
    """[1, 10] for a tensor; a list of those for tuples/lists/dicts of tensors; None otherwise."""
    if isinstance(output, _tensor.Tensor):
        return list(output.shape)
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        shapes = [_shape_of(o) for o in output]
        return shapes if any(s is not None for s in shapes) else None
    return None


def _nbytes(output):
    if isinstance(output, _tensor.Tensor):
        return output.numel() * output.element_size()
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return sum(_nbytes(o) for o in output)
    return 0
