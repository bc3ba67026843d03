"""Finite-difference gradient check, like torch.autograd.gradcheck."""
import numpy as np

from . import grad_mode


class GradcheckError(RuntimeError):
    pass


def _outputs(func, inputs):
    from .._tensor import Tensor

    out = func(*inputs)
    outs = (out,) if isinstance(out, Tensor) else tuple(out)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """Compare autograd's Jacobian of `func` at `inputs` with central differences.

    Checks every (output, input) pair where the input is a Tensor that requires
    grad. Use float64 inputs: float32 rounding swamps eps-sized differences.
    Returns True, or raises GradcheckError (or returns False) on a mismatch.
    """
    from .._tensor import Tensor
    from . import grad as autograd_grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t._rg]
    outs = _outputs(func, inputs)
    for o_idx, out in enumerate(outs):
        n_out = out._data.size
        for i in diff:
            x = inputs[i]
            # numerical: perturb one element at a time, in place, without recording
            numerical = np.zeros((x._data.size, n_out))
            arr = x._data  # edited in place, element by element (works for any strides)
            with grad_mode.no_grad():
                for k, idx in enumerate(np.ndindex(arr.shape)):
                    orig = arr[idx]
                    arr[idx] = orig + eps
                    plus = _outputs(func, inputs)[o_idx]._data.astype(np.float64).reshape(-1)
                    arr[idx] = orig - eps
                    minus = _outputs(func, inputs)[o_idx]._data.astype(np.float64).reshape(-1)
                    arr[idx] = orig
                    numerical[k] = (plus - minus) / (2 * eps)
            # analytical: one vector-Jacobian product per output element
            analytical = np.zeros_like(numerical)
            for j in range(n_out):
                out = _outputs(func, inputs)[o_idx]
                if out.grad_fn is None and not out._rg:
                    break  # output does not depend on inputs: Jacobian is zero
                onehot = np.zeros(n_out, out._data.dtype)
                onehot[j] = 1
                (g,) = autograd_grad(out, x, Tensor._make(onehot.reshape(out._data.shape)), allow_unused=True)
                if g is not None:
                    analytical[:, j] = g._data.astype(np.float64).reshape(-1)
            if not np.allclose(analytical, numerical, rtol=rtol, atol=atol):
                msg = (
                    f"Jacobian mismatch for output {o_idx} with respect to input {i},\n"
                    f"numerical:{numerical}\nanalytical:{analytical}\n"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True
