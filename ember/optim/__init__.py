"""ember.optim: PyTorch's optimizers and learning-rate schedulers."""
from .optimizer import Optimizer
from .sgd import SGD
