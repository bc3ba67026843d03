"""Loss functions of torch.nn.functional.

Losses that PyTorch computes in one node (MseLossBackward0, NllLossBackward0,
BinaryCrossEntropyBackward0, ...) are one Function here, forward and gradient side by
side; cross_entropy fuses log_softmax and nll_loss into one pass over the logits and
names its node like the top of PyTorch's graph. The other losses (l1_loss, kl_div, the
margin losses, Gaussian and Poisson NLL, the weighted variants) are composites of ember
ops built the way PyTorch builds them, so their grad_fn names match too.
"""
import math
import warnings

from .. import kernels as K
from .._dtype import int64, result_type_of, uint8
from ..autograd import grad_mode
from ..autograd.function import Function
from . import elementwise as E

_REDUCTIONS = ("none", "mean", "sum")
_EPSILON = float(K.float32(1e-12))  # cosine_embedding_loss's epsilon: 1e-12 rounded to float32, as in PyTorch


# -- argument handling ---------------------------------------------------------------------------
def _reduction(size_average, reduce, reduction):
    """The deprecated size_average/reduce flags override `reduction`, with PyTorch's warning."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
            stacklevel=3,
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _word(dtype):
    return dtype.legacy[6:-6]  # torch.FloatTensor -> Float


def _cast(x, dtype):
    return x if dtype is None or x is None or x.dtype == dtype else x.astype(dtype)


def _common_dtype(*tensors):
    """The promoted dtype of the tensors (None when they already share it: nothing to cast)."""
    dt = result_type_of([t for t in tensors if t is not None]).np
    return None if all(t is None or t._data.dtype == dt for t in tensors) else dt


def _broadcast_shape(a, b):
    """Broadcast two shapes, with PyTorch's error for incompatible sizes."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    for i, (p, q) in enumerate(zip(a, b)):
        if p != q and p != 1 and q != 1:
            raise RuntimeError(
                f"The size of tensor a ({p}) must match the size of tensor b ({q}) at non-singleton dimension {i}"
            )
    return tuple(q if p == 1 else p for p, q in zip(a, b))


def _warn_target_size(input, target):
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). This will "
            "likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _not_differentiable(tensor, function, argument):
    """PyTorch refuses a graph through arguments its kernels have no gradient for."""
    if tensor is not None and tensor.requires_grad and grad_mode.enabled:
        raise RuntimeError(
            f"The function '{function}' is not differentiable with respect to argument '{argument}'. This input "
            "cannot have requires_grad True."
        )


# -- reductions inside Functions -----------------------------------------------------------------
def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    total = loss.sum()
    return K.asarray(total if reduction == "sum" else total / loss.size, loss.dtype)


def _per_element(g, reduction, n):
    """The gradient reaching each element of the unreduced loss (g is 0-d unless 'none')."""
    return g / n if reduction == "mean" else g


def _reduced(loss, reduction):
    """The same reductions on a Tensor (for composites)."""
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


# -- regression losses -------------------------------------------------------------------------
class MseLoss(Function):
    def forward(self, x, t, reduction, dtype=None):
        d = _cast(x, dtype) - _cast(t, dtype)
        self.save_for_backward(d)
        self.reduction = reduction
        return _reduce(d * d, reduction)

    def backward(self, g):
        (d,) = self.saved_tensors
        gd = 2 * _per_element(g, self.reduction, d.size) * d
        return (gd if self._inputs[0] else None), (-gd if self._inputs[1] else None), None


class SmoothL1Loss(Function):
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere."""

    def forward(self, x, t, reduction, beta, dtype=None):
        d = _cast(x, dtype) - _cast(t, dtype)
        a = K.abs(d)
        self.save_for_backward(d)
        self.reduction, self.beta = reduction, beta
        return _reduce(K.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta), reduction)

    def backward(self, g):
        (d,) = self.saved_tensors
        slope = K.where(K.abs(d) < self.beta, d / self.beta, K.sign(d))
        gd = _per_element(g, self.reduction, d.size) * slope
        return (gd if self._inputs[0] else None), (-gd if self._inputs[1] else None), None, None


class HuberLoss(Function):
    """0.5 d^2 where |d| <= delta, delta * (|d| - delta / 2) elsewhere."""

    def forward(self, x, t, reduction, delta):
        d = x - t.astype(x.dtype, copy=False)  # PyTorch computes in the input's dtype
        a = K.abs(d)
        self.save_for_backward(d)
        self.reduction, self.delta = reduction, delta
        return _reduce(K.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)

    def backward(self, g):
        (d,) = self.saved_tensors
        gd = _per_element(g, self.reduction, d.size) * K.clip(d, -self.delta, self.delta)
        return (gd if self._inputs[0] else None), (-gd if self._inputs[1] else None), None, None


def _check_weight(input, weight):
    if weight is not None and weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")


def _weighted_reduce(loss, weight, reduction):
    """Elementwise weights; 'mean' is then the weighted mean sum(w * loss) / sum(w)."""
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return loss.sum() if reduction == "sum" else loss


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _reduction(size_average, reduce, reduction)
    _check_weight(input, weight)
    _warn_target_size(input, target)
    _broadcast_shape(input.shape, target.shape)
    if weight is not None:
        return _weighted_reduce((input - target) ** 2, weight, reduction)
    return MseLoss.apply(input, target, reduction, dtype=_common_dtype(input, target))


def _l1(input, target, reduction, weight=None):
    loss = (input - target).abs()
    return _reduced(loss, reduction) if weight is None else _weighted_reduce(loss, weight, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _reduction(size_average, reduce, reduction)
    _check_weight(input, weight)
    _warn_target_size(input, target)
    return _l1(input, target, reduction, weight)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    reduction = _reduction(size_average, reduce, reduction)
    _warn_target_size(input, target)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _broadcast_shape(input.shape, target.shape)
    if beta == 0:  # the quadratic zone vanishes: plain L1, as PyTorch records it
        return _l1(input, target, reduction)
    return SmoothL1Loss.apply(input, target, reduction, beta, dtype=_common_dtype(input, target))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    reduction = _reduction(None, None, reduction)
    _check_weight(input, weight)
    _warn_target_size(input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _broadcast_shape(input.shape, target.shape)
    if weight is None:
        return HuberLoss.apply(input, target, reduction, delta)
    loss = HuberLoss.apply(input, target, "none", delta) * weight
    return _reduced(loss, reduction)  # NOTE: PyTorch's weighted Huber mean divides by the count, not sum(w)


# -- classification: negative log-likelihood and cross-entropy ----------------------------------
def _rows(x):
    """Class scores as rows: (C,) -> (1, C), (N, C) as is, (N, C, d1, ...) -> (N*d1*..., C)."""
    if x.ndim == 1:
        return x[None]
    if x.ndim == 2:
        return x
    return K.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(g, shape):
    if len(shape) <= 2:
        return g.reshape(shape)
    return K.moveaxis(g.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


def _nll_name(ndim, reduction):
    """The top node of PyTorch's graph: NllLoss2d for spatial inputs, reshaped by views
    before (reduced) or after ('none') the kernel unless the input is 4-D."""
    if ndim <= 2:
        return "NllLossBackward0"
    return "ViewBackward0" if ndim != 4 and reduction == "none" else "NllLoss2DBackward0"


def _reduce_rows(loss, w_t, reduction, shape):
    """Reduce per-row losses; 'mean' divides by the total weight of the non-ignored rows."""
    if reduction == "none":
        return loss.reshape(shape)
    total = loss.sum()
    return K.asarray(total if reduction == "sum" else total / w_t.sum(), loss.dtype)


def _row_coef(g, w_t, reduction):
    """d(reduced loss)/d(row loss) for every row."""
    if reduction == "none":
        return g.reshape(-1)
    return K.full(w_t.shape, g / w_t.sum() if reduction == "mean" else g, g.dtype)


class NllLoss(Function):
    """-weight[t] * input[t] per sample, input holding log-probabilities along dim 1."""

    def forward(self, x, target, weight, ignore_index, reduction):
        rows, t = _rows(x), target.reshape(-1).astype(int64.np)
        K.check_targets(t, rows.shape[1], ignore_index)
        loss, w_t = K.nll_loss_forward(rows, t, weight, ignore_index)
        self._name = _nll_name(x.ndim, reduction)
        self.save_for_backward(t, w_t)
        self.shape, self.ignore_index, self.reduction = x.shape, ignore_index, reduction
        return _reduce_rows(loss, w_t, reduction, target.shape if x.ndim > 1 else ())

    def backward(self, g):
        t, w_t = self.saved_tensors
        coef = _row_coef(g, w_t, self.reduction)
        classes = self.shape[1] if len(self.shape) > 1 else self.shape[0]
        grad = K.nll_loss_backward(coef, t, w_t, self.ignore_index, classes)
        return _unrows(grad, self.shape), None, None, None, None


class CrossEntropy(Function):
    """log_softmax and nll_loss fused (class-index targets), with label smoothing."""

    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing):
        rows, t = _rows(x), target.reshape(-1).astype(int64.np, copy=False)
        loss, logp, w_t = K.cross_entropy_forward(rows, t, weight, ignore_index, label_smoothing)  # checks t
        # PyTorch adds the smoothing term to the NLL term in a separate node
        self._name = "AddBackward0" if label_smoothing > 0 else _nll_name(x.ndim, reduction)
        self.save_for_backward(logp, t, w_t)
        self.weight = weight  # optional arrays are kept as attributes: saved arrays must be arrays
        self.shape, self.ignore_index, self.reduction = x.shape, ignore_index, reduction
        self.smoothing = label_smoothing
        return _reduce_rows(loss, w_t, reduction, target.shape if x.ndim > 1 else ())

    def backward(self, g):
        logp, t, w_t = self.saved_tensors
        coef = _row_coef(g, w_t, self.reduction)
        grad = K.cross_entropy_backward(coef, logp, t, w_t, self.weight, self.ignore_index, self.smoothing)
        return _unrows(grad, self.shape), None, None, None, None, None


class CrossEntropyProbs(Function):
    """Cross-entropy against class probabilities (a target of the input's shape)."""

    def forward(self, x, p, weight, reduction, label_smoothing, dtype=None):
        x, p, weight = _cast(x, dtype), _cast(p, dtype), _cast(weight, dtype)
        axis = 1 if x.ndim > 1 else 0
        classes = x.shape[axis]
        logp = K.log_softmax(x, axis)
        q = p if label_smoothing == 0 else p * (1 - label_smoothing) + label_smoothing / classes
        w = None if weight is None else weight.reshape((classes,) + (1,) * (x.ndim - axis - 1))
        wlogp = logp if w is None else logp * w
        loss = K.asarray(-(q * wlogp).sum(axis))  # a 1-D input sums to a NumPy scalar
        self._name = "DivBackward1" if reduction == "mean" else "NegBackward0"
        self.save_for_backward(logp, q)
        self.w = w
        self.axis, self.reduction, self.smoothing, self.n = axis, reduction, label_smoothing, loss.size
        return _reduce(loss, reduction)

    def backward(self, g):
        (logp, q), w = self.saved_tensors, self.w
        gl = _per_element(g, self.reduction, self.n)
        if self.reduction == "none":
            gl = K.expand_dims(gl, self.axis)
        gx = gp = gw = None
        if self._inputs[0]:
            dlogp = -gl * q if w is None else -gl * q * w
            gx = dlogp - K.exp(logp) * dlogp.sum(self.axis, keepdims=True)
        if self._inputs[1]:
            gp = (-(1 - self.smoothing) * gl) * (logp if w is None else logp * w)
        if self._inputs[2]:
            per_class = -gl * q * logp
            gw = per_class.sum(tuple(i for i in range(logp.ndim) if i != self.axis))
        return gx, gp, gw, None, None


def _check_class_target(input, target, weight, kernel):
    """PyTorch's checks on class-index targets, in its order."""
    nd = input.ndim
    if nd < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {nd})")
    if nd == 1 and target.ndim == 1 and target.shape[0] != 1:
        raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {target.shape[0]}")
    if nd > 1 and (target.shape[0] if target.ndim else 0) != input.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
            f"({target.shape[0] if target.ndim else 0})."
        )
    if nd <= 2 and target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if nd > 2 and target.shape != (input.shape[0],) + input.shape[2:]:
        expected = [input.shape[0]] + list(input.shape[2:])
        raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")
    if target.dtype not in (int64, uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_word(target.dtype)}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_word(input.dtype)}'")
    if weight is not None:
        classes = input.shape[1] if nd > 1 else input.shape[0]
        if weight.ndim != 1 or weight.shape[0] != classes:
            raise RuntimeError(
                f"weight tensor should be defined either for all {classes} classes or no classes but got weight "
                f"tensor of shape: {list(weight.shape)}"
            )
        if weight.dtype != input.dtype:
            raise RuntimeError(f"expected scalar type {_word(input.dtype)} but found {_word(weight.dtype)}")
        _not_differentiable(weight, "nll_loss_forward", "weight")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    _check_class_target(input, target, weight, "nll_loss_out_frame")
    return NllLoss.apply(input, target, weight, ignore_index, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    reduction = _reduction(size_average, reduce, reduction)
    if label_smoothing > 1:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    label_smoothing = max(label_smoothing, 0.0)  # PyTorch ignores a negative value
    if input.shape != target.shape:
        _check_class_target(input, target, weight, "log_softmax_lastdim_kernel_impl")
        return CrossEntropy.apply(input, target, weight, ignore_index, reduction, label_smoothing)
    # a target of the input's shape holds class probabilities
    if not target.is_floating_point():
        raise RuntimeError(
            f"Expected floating point type for target with class probabilities, got {_word(target.dtype)}"
        )
    if ignore_index != -100:
        raise RuntimeError("ignore_index is not supported for floating point target")
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != input.shape[1 if input.ndim > 1 else 0]):
        raise RuntimeError(
            f"weight tensor should be defined either for all {input.shape[1 if input.ndim > 1 else 0]} classes or "
            f"no classes but got weight tensor of shape: {list(weight.shape)}"
        )
    return CrossEntropyProbs.apply(input, target, weight, reduction, label_smoothing,
                                   dtype=_common_dtype(input, target, weight))


# -- binary classification -------------------------------------------------------------------
class BinaryCrossEntropy(Function):
    """-w * (t log(x) + (1 - t) log(1 - x)), each log clamped to >= -100 as in PyTorch."""

    def forward(self, x, t, weight, reduction):
        if ((x < 0) | (x > 1)).any():
            raise RuntimeError("all elements of input should be between 0 and 1")
        loss = -(t * K.maximum(K.log(x), -100) + (1 - t) * K.maximum(K.log1p(-x), -100))
        if weight is not None:
            loss = loss * weight
        self.save_for_backward(x, t)
        self.weight, self.reduction = weight, reduction
        return _reduce(loss, reduction)

    def backward(self, g):
        (x, t), w = self.saved_tensors, self.weight
        gl = _per_element(g, self.reduction, x.size)
        if w is not None:
            gl = gl * w
        gx = gt = None
        if self._inputs[0]:
            # NOTE: x (1 - x) is floored at 1e-12 so that x = 0 or 1 gives a large finite gradient
            gx = gl * (x - t) / K.maximum(x * (1 - x), 1e-12)
        if self._inputs[1]:
            gt = gl * (K.log1p(-x) - K.log(x))
        return gx, gt, None, None


class BinaryCrossEntropyWithLogits(Function):
    """(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x), times weight: BCE on sigmoid(x) without
    ever forming sigmoid(x), so large |x| neither overflows nor loses the log."""

    def forward(self, x, t, weight, pos_weight, reduction, dtype=None):
        x, t, weight, pos_weight = _cast(x, dtype), _cast(t, dtype), _cast(weight, dtype), _cast(pos_weight, dtype)
        sp = K.softplus(-x)
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        loss = (1 - t) * x + lw * sp
        if weight is not None:
            loss = loss * weight
        self.save_for_backward(x, t)
        self.weight, self.pos_weight, self.reduction, self.n = weight, pos_weight, reduction, loss.size
        return _reduce(loss, reduction)

    def backward(self, g):
        (x, t), w, pw = self.saved_tensors, self.weight, self.pos_weight
        gl = _per_element(g, self.reduction, self.n)
        if w is not None:
            gl = gl * w
        gx = gt = None
        if self._inputs[0]:
            if pw is None:
                gx = gl * (K.sigmoid(x) - t)
            else:  # d/dx of (1 - t) x + lw softplus(-x) = (1 - t) - lw sigmoid(-x)
                gx = gl * ((1 - t) - (1 + (pw - 1) * t) * K.sigmoid(-x))
        if self._inputs[1]:
            gt = gl * (-x if pw is None else (pw - 1) * K.softplus(-x) - x)
        return gx, gt, None, None, None


def _check_broadcastable_to(weight, shape):
    """weight must expand to the input's shape (PyTorch's expand error otherwise)."""
    if weight.ndim > len(shape):
        raise RuntimeError(
            f"The number of sizes provided ({len(shape)}) must be greater or equal to the number of dimensions "
            f"in the tensor ({weight.ndim})"
        )
    for i in range(1, weight.ndim + 1):
        if weight.shape[-i] not in (1, shape[-i]):
            raise RuntimeError(
                f"Attempting to broadcast a dimension of length {weight.shape[-i]} at -{i}! Mismatching argument "
                f"at index 1 had {weight.shape}; but expected shape should be broadcastable to {list(shape)}"
            )


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) is "
            "deprecated. Please ensure they have the same size."
        )
    if target.dtype != input.dtype:
        raise RuntimeError(f"Found dtype {_word(target.dtype)} but expected {_word(input.dtype)}")
    if weight is not None:
        _check_broadcastable_to(weight, input.shape)
        _not_differentiable(weight, "binary_cross_entropy", "weight")
        if weight.dtype != input.dtype:
            weight = weight.to(input.dtype)
    return BinaryCrossEntropy.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    if not target.is_floating_point():
        raise RuntimeError(f"result type Float can't be cast to the desired output type {_word(target.dtype)}")
    if pos_weight is not None:
        _broadcast_shape(pos_weight.shape, target.shape)
        _not_differentiable(pos_weight, "binary_cross_entropy_with_logits", "pos_weight")
    if weight is not None:
        _broadcast_shape(input.shape, weight.shape)
        _not_differentiable(weight, "binary_cross_entropy_with_logits", "weight")
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction,
                                              dtype=_common_dtype(input, target))


class SoftMarginLoss(Function):
    """log(1 + exp(-y x))."""

    def forward(self, x, y, reduction):
        z = -y * x
        self.save_for_backward(z, y)
        self.reduction = reduction
        return _reduce(K.softplus(z), reduction)

    def backward(self, g):
        z, y = self.saved_tensors
        return -_per_element(g, self.reduction, z.size) * y * K.sigmoid(z), None, None


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    shape = _broadcast_shape(input.shape, target.shape)
    if shape != input.shape:
        raise RuntimeError(f"output with shape {list(input.shape)} doesn't match the broadcast shape {list(shape)}")
    _not_differentiable(target, "soft_margin_loss", "target")
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    return SoftMarginLoss.apply(input, target, reduction)


# -- divergence and likelihood composites ---------------------------------------------------------
class Xlogy(Function):
    """x * log(y), taken as 0 wherever x == 0 (so 0 log 0 = 0)."""

    def forward(self, x, y):
        self.save_for_backward(x, y)
        return K.where(x == 0, 0, x * K.log(y))

    def backward(self, g):
        x, y = self.saved_tensors
        gx = g * K.where(x == 0, 0, K.log(y)) if self._inputs[0] else None
        gy = g * x / y if self._inputs[1] else None
        return gx, gy


class ClampMin(Function):
    """max(x, min) with a number min, recorded like PyTorch's clamp_min."""

    def forward(self, x, min):
        self.save_for_backward(x)
        self.min = min
        return K.maximum(x, min).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * (self.saved_tensors[0] >= self.min), None


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    legacy = size_average is not None or reduce is not None
    if legacy or reduction != "batchmean":
        reduction = _reduction(size_average, reduce, reduction)  # everything but batchmean is checked here
    if reduction == "mean" and not legacy:
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size.'batchmean' "
            "divides only by the batch size, and aligns with the KL div math definition.'mean' will be changed "
            "to behave the same as 'batchmean' in the next major release.",
            stacklevel=2,
        )
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = Xlogy.apply(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduced(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} "
        )
    return _reduced(ClampMin.apply(-target * (input1 - input2) + margin, 0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    # x where y != -1, plus max(0, margin - x) where y != 1 (both apply for other target values)
    margin_part = E.where(target != 1, ClampMin.apply(margin - input, 0), 0)
    self_part = E.where(target != -1, input, 0)
    return _reduced(margin_part + self_part, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    expected = 2 if target.ndim == 1 else 1
    if input1.ndim != expected or input2.ndim != expected:
        raise RuntimeError(
            f"{target.ndim}D target tensor expects {expected}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    _broadcast_shape(input1.shape, input2.shape)
    if target.ndim:
        _broadcast_shape(target.shape, input1.shape[:1])
    dim = input1.ndim - 1
    dot = (input1 * input2).sum(dim)
    norms = (((input1 * input1).sum(dim) + _EPSILON) * ((input2 * input2).sum(dim) + _EPSILON)).sqrt()
    cos = dot / norms
    pos = E.where(target == 1, 1 - cos, 0)
    neg = E.where(target == -1, ClampMin.apply(cos - margin, 0), 0)
    return _reduced(pos + neg, reduction)


def _check_var_shape(input, var):
    """var matches input, lacks its last dim, or has one dim of size 1 where input's is larger."""
    if var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1]:
        return var.unsqueeze(-1)
    differ = [i for i in range(var.ndim) if var.ndim == input.ndim and var.shape[i] != input.shape[i]]
    if var.ndim == input.ndim and len(differ) == 1 and var.shape[differ[0]] == 1:
        return var
    raise ValueError("var is of incorrect size")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if not hasattr(var, "shape"):
        var = input.new_full(input.shape, var)
    var = _check_var_shape(input, var)
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    if (var < 0).any():
        raise ValueError("var has negative entry/entries")
    # clamp a copy for stability without cutting the gradient to var (PyTorch clamps in place under no_grad)
    var = var.clone()
    with grad_mode.no_grad():
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduced(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        # Stirling's approximation of log(target!), used only where target > 1
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduced(loss, reduction)
