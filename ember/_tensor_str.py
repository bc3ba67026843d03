"""Text rendering of tensors, matching what PyTorch prints for ``repr``/``str``.

Pure NumPy: the caller hands over the data as an ndarray plus ember's dtype name,
and gets back the full ``tensor(...)`` text including the dtype/grad suffixes.
"""
import math

import numpy as np

_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}

_opts = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """Change the print options; same semantics as ``torch.set_printoptions``."""
    # PyTorch silently ignores an unknown profile name, so we do too.
    _opts.update(_PROFILES.get(profile, {}))
    given = dict(precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth)
    _opts.update({key: value for key, value in given.items() if value is not None})
    # Unlike the other options, sci_mode is always overwritten: any call that does
    # not mention it switches back to automatic choice (None).
    _opts["sci_mode"] = sci_mode


def get_printoptions():
    return dict(_opts)


class _Formatter:
    """Decides one number style and one column width for all printed elements."""

    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True  # every finite float is integral: print as "3."
        self.sci_mode = False
        self.width = 1
        if not floating:
            self.width = max([1] + [len(self._text(v)) for v in values.tolist()])
            return
        finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
        if finite.size == 0:
            # Only zeros/nan/inf: PyTorch keeps the defaults and even ignores a
            # forced sci_mode in this case.
            return
        magnitudes = np.abs(finite)
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        # Scientific notation when magnitudes span more than 3 decades, are huge, or
        # (for non-integral data only) are tiny; a forced sci_mode overrides that.
        self.sci_mode = bool(largest / smallest > 1000.0 or largest > 1.0e8
                             or (not self.int_mode and smallest < 1.0e-4))
        if _opts["sci_mode"] is not None:
            self.sci_mode = _opts["sci_mode"]
        # The column width comes from the nonzero finite values only; zeros, nan and
        # inf are padded to it (or overflow it) but never widen it.
        self.width = max(len(self._text(v)) for v in finite.tolist())

    def _text(self, value):
        precision = _opts["precision"]
        if not self.floating:
            return str(value)
        if self.sci_mode:
            return f"{value:.{precision}e}"
        if self.int_mode:
            return f"{value:.0f}" + ("." if math.isfinite(value) else "")
        return f"{value:.{precision}f}"

    def format(self, value):
        return self._text(value).rjust(self.width)


def _shown_part(array):
    """The elements that survive summarisation: first/last edgeitems along each axis."""
    edge = _opts["edgeitems"]
    if array.ndim == 0:
        return array
    keep = []
    for n in array.shape:
        if n > 2 * edge:
            keep.append(np.r_[0:edge, n - edge:n])
        else:
            keep.append(np.arange(n))
    return array[np.ix_(*keep)]


def _render(array, indent, summarize, fmt):
    """Nested bracket text for a non-empty array; indent is the column of its "["."""
    edge = _opts["edgeitems"]
    if array.ndim == 0:
        return fmt.format(array.item())
    n = array.shape[0]
    cut = summarize and n > 2 * edge
    if array.ndim == 1:
        if summarize and edge == 0:
            items = ["..."]
        elif cut:
            items = [fmt.format(v) for v in array[:edge].tolist()] + [" ..."]
            items += [fmt.format(v) for v in array[n - edge:].tolist()]
        else:
            items = [fmt.format(v) for v in array.tolist()]
        per_line = max(1, math.floor((_opts["linewidth"] - indent) / (fmt.width + 2)))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = list(range(edge)) + [None] + list(range(n - edge, n)) if cut else range(n)
    parts = ["..." if i is None else _render(array[i], indent + 1, summarize, fmt) for i in rows]
    # Deeper arrays get more blank lines between their blocks.
    return "[" + ("," + "\n" * (array.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _add_suffixes(text, suffixes, indent):
    # PyTorch measures the body's last line as two characters longer than it is
    # (it counts as if ", " were already there), so we reproduce that count.
    last_line_len = len(text) - text.rfind("\n") + 1
    pieces = [text]
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _opts["linewidth"]:
            pieces.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            pieces.append(", " + suffix)
            last_line_len += len(suffix) + 2
    return "".join(pieces) + ")"


def format_tensor(array, dtype_name, *, default_dtype_name="float32", requires_grad=False,
                  grad_fn_name=None, indent_prefix="tensor("):
    """Return exactly what PyTorch's ``repr`` prints for a CPU tensor with these values."""
    indent = len(indent_prefix)
    suffixes = []
    if array.size == 0:
        body = "[]"
        # Shape (0,) is implied by "[]"; any other empty shape is spelled out.
        if array.ndim != 1:
            suffixes.append(f"size={tuple(array.shape)}")
        # No values to infer an integer type from, so only the default float is implicit.
        if dtype_name != default_dtype_name:
            suffixes.append(f"dtype=torch.{dtype_name}")
    else:
        # With edgeitems=0 nothing is visible when summarised, so the size is always shown.
        if not _opts["edgeitems"]:
            suffixes.append(f"size={tuple(array.shape)}")
        if dtype_name not in (default_dtype_name, "int64", "bool"):
            suffixes.append(f"dtype=torch.{dtype_name}")
        summarize = array.size > _opts["threshold"]
        fmt = _Formatter(np.ravel(_shown_part(array) if summarize else array), dtype_name.startswith("float"))
        body = _render(array, indent, summarize, fmt)
    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(indent_prefix + body, suffixes, indent)
