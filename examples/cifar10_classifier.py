"""The lab exercise (seed 000): train the CIFAR-10 tutorial's classifier, then try to do
better with other network structures and training strategies, and compare them.

    python examples/cifar10_classifier.py [--data-dir ./data] [--download]
        [--strategies tutorial,augment,wide-bn] [--train-size 10000] [--epochs 4] [--fast]

Strategies (--strategies, comma-separated):
  tutorial  the tutorial's Net with SGD(momentum=0.9) and cross-entropy
  augment   the same Net with data augmentation (random crop + flip), Adam and a cosine schedule
  wide-bn   a wider net (32-64-128 channels) with batch norm and dropout, trained like `augment`
  resnet    ember.vision.models.SmallResNet trained like `augment` (slower; not in the default list)
Each is trained on the first --train-size images (0: all 50000) and tested on the test
set; a table compares test accuracy, parameters and training time. The best model is
saved with torch.save(net.state_dict(), PATH), loaded back and tested per class, as in the
tutorial. The defaults take a few minutes on a CPU; for the real thing use
--train-size 0 --epochs 20.

Data: the python version of CIFAR-10 (`cifar-10-batches-py/`) in --data-dir.
--download fetches and unpacks it (needs network), as torchvision's download=True.
"""
import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (import torch)
import ember.nn as nn  # noqa: E402  (import torch.nn as nn)
import ember.nn.functional as F  # noqa: E402  (import torch.nn.functional as F)
import ember.optim as optim  # noqa: E402  (import torch.optim as optim)
from ember.utils.data import DataLoader, Subset  # noqa: E402
from ember.vision import datasets, models, transforms  # noqa: E402  (import torchvision ...)



class Net(nn.Module):
    """The CIFAR-10 tutorial's network."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


class WideNet(nn.Module):
    """More and wider convolutions (3x3, padded), batch norm after each, dropout before the classifier."""

    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, 128))  # 32 -> 16 -> 8 -> 4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * 4 * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def sgd(params, epochs):
    # the tutorial: lr=0.001 with batch_size=4; scaled up for our larger batches
    return optim.SGD(params, lr=0.01, momentum=0.9), None


def adam_cosine(params, epochs):
    optimizer = optim.Adam(params, lr=1e-3)
    return optimizer, optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)


# name -> (description, model class, augment the training images?, optimizer and scheduler)
STRATEGIES = {
    "tutorial": ("tutorial Net, SGD", Net, False, sgd),
    "augment": ("Net + augmentation, Adam + cosine", Net, True, adam_cosine),
    "wide-bn": ("wider + batch norm, augm., Adam + cos.", WideNet, True, adam_cosine),
    "resnet": ("SmallResNet, augm., Adam + cosine", models.SmallResNet, True, adam_cosine),
}


def load_data(args):
    # the tutorial's normalisation: every channel from [0, 1] to [-1, 1]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    augment = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transform])
    try:
        trainset = datasets.CIFAR10(root=args.data_dir, train=True, download=args.download, transform=transform)
        trainset_aug = datasets.CIFAR10(root=args.data_dir, train=True, download=False, transform=augment)
        testset = datasets.CIFAR10(root=args.data_dir, train=False, download=False, transform=transform)
    except RuntimeError as e:
        sys.exit(f"{e}\n(pass --download to fetch CIFAR-10, about 170 MB, or --data-dir to point at it)")
    if args.train_size:
        keep = list(range(min(args.train_size, len(trainset))))
        trainset, trainset_aug = Subset(trainset, keep), Subset(trainset_aug, keep)
    if args.test_size:
        testset = Subset(testset, list(range(min(args.test_size, len(testset)))))
    return trainset, trainset_aug, testset


def test_accuracy(net, testloader):
    net.eval()
    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = net(images)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return correct / total


def warm_up(net, trainloader):
    """One untimed forward and backward on a copy of the net: ember compiles its kernels on
    first use, and that one-off cost should not count in the comparison."""
    inputs, labels = next(iter(trainloader))
    nn.CrossEntropyLoss()(copy.deepcopy(net)(inputs), labels).backward()


def train(name, net, trainloader, testloader, make_optimizer, epochs, log_every):
    criterion = nn.CrossEntropyLoss()
    warm_up(net, trainloader)
    optimizer, scheduler = make_optimizer(net.parameters(), epochs)
    seconds, accuracies = 0.0, []  # training time without the evaluations; test accuracy per epoch
    for epoch in range(epochs):  # loop over the dataset multiple times
        net.train()
        start = time.perf_counter()
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data
            # zero the parameter gradients
            optimizer.zero_grad()
            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            # print statistics
            running_loss += loss.item()
            if i % log_every == log_every - 1:
                print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / log_every:.3f}')
                running_loss = 0.0
        if scheduler is not None:
            scheduler.step()
        seconds += time.perf_counter() - start
        accuracies.append(test_accuracy(net, testloader))
        print(f"{name}: epoch {epoch + 1}/{epochs}, test accuracy {accuracies[-1]:.4f}")
    return accuracies, seconds


def per_class_accuracy(net, testloader, classes):
    # prepare to count predictions for each class
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    net.eval()
    with torch.no_grad():
        for images, labels in testloader:
            _, predictions = torch.max(net(images), 1)
            # collect the correct predictions for each class
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    for classname, correct_count in correct_pred.items():
        if total_pred[classname]:
            accuracy = 100 * float(correct_count) / total_pred[classname]
            print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')


def save_plot(path, draw):
    """draw(plt) into the PNG `path`, or say why not when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: plot {path} skipped")
        return
    plt.figure()
    draw(plt)
    plt.tight_layout()
    plt.savefig(path)
    plt.close()
    print(f"plot saved to {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="./data", help="folder holding cifar-10-batches-py/")
    ap.add_argument("--download", action="store_true", help="download CIFAR-10 if missing (needs network)")
    ap.add_argument("--strategies", default="tutorial,augment,wide-bn",
                    help="comma-separated: " + ", ".join(STRATEGIES))
    ap.add_argument("--train-size", type=int, default=10000, help="training images (0: all)")
    ap.add_argument("--test-size", type=int, default=0, help="test images (0: all)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default="cifar10_classifier.png", help="where to save the accuracy curves")
    ap.add_argument("--save", default="cifar_net.pth", help="where to save the best model's state_dict")
    ap.add_argument("--fast", action="store_true", help="200 training and 100 test images, 1 epoch (for tests)")
    args = ap.parse_args()
    if args.fast:
        args.train_size, args.test_size, args.epochs = 200, 100, 1
    if args.epochs < 1:
        ap.error("--epochs must be at least 1")
    names = args.strategies.split(",")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        ap.error(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")

    trainset, trainset_aug, testset = load_data(args)
    classes = (testset.dataset if isinstance(testset, Subset) else testset).classes
    testloader = DataLoader(testset, batch_size=256, shuffle=False)
    log_every = max(1, len(trainset) // args.batch_size // 4)  # four loss lines per epoch
    print(f"CIFAR-10: {len(trainset)} training and {len(testset)} test images, {args.epochs} epochs, "
          f"batch size {args.batch_size}")

    results = {}
    for name in names:
        description, Model, augment, make_optimizer = STRATEGIES[name]
        torch.manual_seed(args.seed)
        net = Model()
        trainloader = DataLoader(trainset_aug if augment else trainset, batch_size=args.batch_size, shuffle=True)
        print(f"\n== {name}: {description} ==")
        accuracies, seconds = train(name, net, trainloader, testloader, make_optimizer, args.epochs, log_every)
        results[name] = (net, accuracies, sum(p.numel() for p in net.parameters()), seconds)

    print(f"\n{'strategy':<10}{'description':<40}{'test acc':>9}{'params':>10}{'time (s)':>10}")
    for name, (net, accuracies, n_params, seconds) in results.items():
        print(f"{name:<10}{STRATEGIES[name][0]:<40}{accuracies[-1]:>9.4f}{n_params:>10}{seconds:>10.1f}")

    def draw(plt):
        plt.title("CIFAR-10 test accuracy")
        for name, (_, accuracies, _, _) in results.items():
            plt.plot(range(1, len(accuracies) + 1), accuracies, marker="o", label=STRATEGIES[name][0])
        plt.legend()
        plt.xlabel("Epoch")
        plt.ylabel("Test accuracy")
    save_plot(args.plot, draw)

    best = max(results, key=lambda n: results[n][1][-1])
    print(f"\nbest: {best}; saving its state_dict to {args.save}")
    PATH = args.save
    torch.save(results[best][0].state_dict(), PATH)
    net = STRATEGIES[best][1]()
    net.load_state_dict(torch.load(PATH))
    print(f"reloaded from {PATH}: test accuracy {test_accuracy(net, testloader):.4f}")
    per_class_accuracy(net, testloader, classes)


if __name__ == "__main__":
    main()
