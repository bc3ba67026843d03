"""Small image classifiers: the seeds' networks and two slightly larger ones.

    from ember.vision import models
    net = models.lenet(in_channels=1, num_classes=10)

Every builder takes the input's channel count and side length and the number of
classes, so the same names work for 28x28 grey images and 32x32 colour ones.
"""
from .. import nn

__all__ = ["MLP", "LeNet5", "LeNet3", "CifarNet", "SmallVGG", "SmallResNet", "MODELS", "create"]


def _side_after(side, kernel, pad=0):
    return side + 2 * pad - kernel + 1


class MLP(nn.Module):
    """The seeds' MNIST MLP: flatten, 784-128-64-10 with ReLU."""

    def __init__(self, in_channels=1, side=28, num_classes=10, hidden=(128, 64)):
        super().__init__()
        sizes = [in_channels * side * side, *hidden]
        layers = [nn.Flatten()]
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class LeNet5(nn.Module):
    """LeNet-5: conv 5x5 (padded to keep 28x28), pool, conv 5x5, pool, 120-84-classes."""

    def __init__(self, in_channels=1, side=28, num_classes=10):
        super().__init__()
        pad = 2 if side == 28 else 0
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        s = _side_after(_side_after(side, 5, pad) // 2, 5) // 2
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = x.flatten(1)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


class LeNet3(LeNet5):
    """The seeds' LeNet variant with 3x3 convolutions (the lab's `Net`)."""

    def __init__(self, in_channels=1, side=28, num_classes=10):
        nn.Module.__init__(self)
        self.conv1 = nn.Conv2d(in_channels, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        s = _side_after(_side_after(side, 3) // 2, 3) // 2
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()


class CifarNet(LeNet5):
    """The CIFAR-10 tutorial's network: LeNet-5 without padding on the first convolution."""

    def __init__(self, in_channels=3, side=32, num_classes=10):
        nn.Module.__init__(self)
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        s = _side_after(_side_after(side, 5) // 2, 5) // 2
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()


class SmallVGG(nn.Module):
    """Two VGG blocks (32 and 64 channels, 3x3 convolutions with batch norm), then 256-classes."""

    def __init__(self, in_channels=3, side=32, num_classes=10):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                    nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(in_channels, 32), *block(32, 64))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * (side // 4) ** 2, 256), nn.ReLU(),
                                        nn.Dropout(0.3), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet-style net: a 16-channel stem and three stages of one BasicBlock (16, 32, 64)."""

    def __init__(self, in_channels=3, side=32, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 32, stride=2), BasicBlock(32, 64, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


MODELS = {"mlp": MLP, "lenet": LeNet5, "lenet3": LeNet3, "cifarnet": CifarNet, "vgg": SmallVGG, "resnet": SmallResNet}


def create(name, in_channels, side, num_classes):
    """A model by its `ember train --model` name."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; choose one of {', '.join(MODELS)}") from None
    return cls(in_channels=in_channels, side=side, num_classes=num_classes)
