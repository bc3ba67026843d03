"""ember.vision: torchvision's datasets and transforms on ember tensors.

    from ember.vision import datasets, transforms
    train = datasets.MNIST("./data", download=True, transform=transforms.ToTensor())
"""
from . import datasets, transforms

__all__ = ["datasets", "transforms"]
