"""Switches for graph recording: no_grad, enable_grad, set_grad_enabled, inference_mode.

The flag is a module global read on every op; PyTorch keeps it per thread, but a
global is cheaper and ember runs ops on one thread (DataLoader workers are processes).
"""
import functools

enabled = True


def is_grad_enabled():
    return enabled


class _Mode:
    """Base of the grad-mode switches: a context manager that is also a decorator."""

    _value = True

    def __enter__(self):
        global enabled
        self._prev = enabled
        enabled = self._value

    def __exit__(self, *exc):
        global enabled
        enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args()):
                return fn(*args, **kwargs)

        return wrapper

    def _args(self):
        return ()

    def clone(self):
        return self.__class__(*self._args())


class no_grad(_Mode):
    """Context manager and decorator: ops inside record no graph."""

    _value = False


class enable_grad(_Mode):
    """Context manager and decorator: turns recording back on inside no_grad."""

    _value = True


class inference_mode(_Mode):
    """Like no_grad (ember has no separate inference tensors); mode=False is a no-op."""

    def __init__(self, mode=True):
        self.mode = mode
        self._value = not mode

    def __enter__(self):
        global enabled
        self._prev = enabled
        if self.mode:
            enabled = False

    def _args(self):
        return (self.mode,)


class set_grad_enabled(_Mode):
    """Sets recording on or off now; as a context manager restores the old state on exit."""

    def __init__(self, mode):
        global enabled
        self._prev = enabled
        self._value = bool(mode)
        enabled = self._value

    def __enter__(self):
        pass

    def _args(self):
        return (self._value,)

    def __call__(self, fn):
        global enabled
        enabled = self._prev  # used as a decorator: don't leave the switch flipped
        return super().__call__(fn)
