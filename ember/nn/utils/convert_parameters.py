"""Flattening parameters into one vector and back."""
from ..._tensor import Tensor
from ...ops.shape import cat
from ..modules.module import _typename


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated, in order (differentiable)."""
    return cat([p.view(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Makes the parameters views of consecutive slices of `vec` (their .data is replaced)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    offset = 0
    for param in parameters:
        n = param.numel()
        param.data = vec[offset:offset + n].view_as(param).data
        offset += n
