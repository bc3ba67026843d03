"""ember.nn: layers, losses, containers, parameters and initialisation, PyTorch's API."""
from . import functional, init, parallel, utils
from .modules import *  # noqa: F401,F403  (every layer, container and loss)
from .modules import __all__ as _modules_all
from .parameter import Buffer, Parameter

__all__ = ["Buffer", "Parameter", "functional", "init", "parallel", "utils"] + list(_modules_all)
