"""Datasets with torchvision's API: MNIST, FashionMNIST, KMNIST, CIFAR10, CIFAR100,
ImageFolder and DatasetFolder."""
from .cifar import CIFAR10, CIFAR100
from .folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, default_loader, pil_loader
from .mnist import KMNIST, MNIST, FashionMNIST
from .utils import StandardTransform, VisionDataset

__all__ = [
    "CIFAR10", "CIFAR100", "DatasetFolder", "FashionMNIST", "IMG_EXTENSIONS", "ImageFolder", "KMNIST", "MNIST",
    "StandardTransform", "VisionDataset", "default_loader", "pil_loader",
]
