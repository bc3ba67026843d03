"""Vectorised NumPy definitions of the kernels ember defines itself.

These are the reference for correctness: a compiled twin must match them.
"""
import numpy as np


def sigmoid(x):
    # NOTE: 1/(1+exp(-x)) overflows exp for large negative x; with e = exp(-|x|) <= 1 both
    # branches are stable: 1/(1+e) for x >= 0 and e/(1+e) for x < 0
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def softmax(x, axis):
    """exp(x) / sum(exp(x)) along axis, shifted by the max for stability."""
    if axis is None:  # 0-d input
        return np.ones_like(x)
    m = np.max(x, axis=axis, keepdims=True) if x.size else x
    e = np.exp(x - np.where(np.isfinite(m), m, 0))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis):
    if axis is None:
        return np.zeros_like(x)
    m = np.max(x, axis=axis, keepdims=True) if x.size else x
    shifted = x - np.where(np.isfinite(m), m, 0)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def matmul(a, b):
    """np.matmul, except that an inner dimension of 1 (an outer product, as in the weight
    gradient of a batch of one) is a broadcast multiply: OpenBLAS takes ~5x longer on it."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1 and b.shape[0] == 1:
        return a * b
    return np.matmul(a, b)
