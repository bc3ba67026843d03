"""The seeds' optimizers compared: SGD, Nesterov-SGD, Adam, RMSprop and Adagrad, each with
ExponentialLR(gamma=0.9), training seed 003's MNIST Classifier from the same initial weights.

    python examples/optimizer_comparison.py [--dataset auto|mnist|fashion-mnist] [--data-dir DIR]
                                            [--train-size 5000] [--epochs 10] [--fast]

Every optimizer starts from one saved state_dict and sees the same mini-batches in the
same order, so the loss curves differ only by the update rule. Data as in mnist_mlp.py:
MNIST in DIR (default ./data), else Fashion-MNIST from /usr/share/datasets/fashion-mnist.
"""
import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (import torch)
import ember.optim as optim  # noqa: E402  (import torch.optim as optim)
from ember.utils.data import DataLoader, TensorDataset  # noqa: E402
from ember.vision import datasets, transforms  # noqa: E402  (from torchvision import ...)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
STATS = {"mnist": ((0.1307,), (0.3081,)), "fashion-mnist": ((0.2860,), (0.3530,))}

# name -> (settings shown in the table, optimizer factory)
OPTIMIZERS = {
    "SGD": ("lr=0.1", lambda params: optim.SGD(params, lr=0.1)),
    "Nesterov-SGD": ("lr=0.01, momentum=0.9", lambda params: optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True)),
    "Adam": ("lr=1e-3", lambda params: optim.Adam(params, lr=1e-3)),
    "RMSprop": ("lr=1e-3", lambda params: optim.RMSprop(params, lr=1e-3)),
    "Adagrad": ("lr=1e-2", lambda params: optim.Adagrad(params, lr=1e-2)),
}


def open_datasets(args):
    """(train set, test set) for --dataset; auto falls back from MNIST to Fashion-MNIST."""
    name = "mnist" if args.dataset == "auto" else args.dataset
    root = args.data_dir or (FASHION_DIR if name == "fashion-mnist" else "./data")
    try:
        return load(name, root, args.download)
    except RuntimeError as e:  # the message names the files and folders it looked for
        if args.dataset != "auto":
            sys.exit(f"{e}\n(pass --download to fetch it, which needs network, or --data-dir to point at it)")
    print(f"MNIST not found in {root} (pass --download to fetch it): using Fashion-MNIST from {FASHION_DIR} instead")
    try:
        return load("fashion-mnist", FASHION_DIR, False)
    except RuntimeError as e:
        sys.exit(str(e))


def load(name, root, download):
    Dataset = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    mean, std = STATS[name]
    # Define transformations: convert images to tensors and normalize.
    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize(mean, std)
    ])
    train = Dataset(root=root, train=True, download=download, transform=transform)
    test = Dataset(root=root, train=False, download=download, transform=transform)
    print(f"dataset: {name} from {root} ({len(train)} training and {len(test)} test images)")
    return train, test


def as_tensors(dataset, n):
    """The first n (image, label) pairs, transformed once and stacked: every optimizer reuses them."""
    n = min(n, len(dataset)) if n else len(dataset)
    images, labels = zip(*(dataset[i] for i in range(n)))
    return TensorDataset(torch.stack(images), torch.tensor(labels))


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = torch.nn.Linear(in_features=28 * 28, out_features=32, bias=True)
        self.layer2 = torch.nn.Linear(in_features=32, out_features=16, bias=True)
        self.layer3 = torch.nn.Linear(in_features=16, out_features=10, bias=True)
        self.activation = torch.nn.ReLU()

    def forward(self, x):
        x = x.reshape(-1, 28 * 28)
        x = self.activation(self.layer1(x))
        x = self.activation(self.layer2(x))
        x = self.layer3(x)  # no softmax: CrossEntropyLoss takes raw scores
        return x


def get_accuracy(model, dataloader):
    model.eval()
    with torch.no_grad():
        correct = 0
        for x, y in iter(dataloader):
            out = model(x)
            correct += (torch.argmax(out, axis=1) == y).sum()
        return correct / len(dataloader.dataset)


def train(name, model, make_optimizer, trainset, testloader, epochs, seed):
    """Per-epoch mean training losses, the final test accuracy and the seconds taken."""
    # the same shuffling for every optimizer
    trainloader = DataLoader(trainset, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed))
    loss = torch.nn.CrossEntropyLoss()
    optimizer = make_optimizer(model.parameters())
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    losses, start = [], time.perf_counter()
    for epoch in range(epochs):
        model.train()
        epoch_loss = 0.0
        for x, y in iter(trainloader):
            out = model(x)
            l = loss(out, y)  # noqa: E741  (the lab's name)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            epoch_loss += l.item()
        losses.append(epoch_loss / len(trainloader))
        lr = scheduler.get_last_lr()[0]
        scheduler.step()  # lr = gamma * lr, once per epoch
        print(f"{name:>12} epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} (lr {lr:.3g})")
    return losses, get_accuracy(model, testloader).item(), time.perf_counter() - start


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
    ap.add_argument("--dataset", choices=["auto", "mnist", "fashion-mnist"], default="auto")
    ap.add_argument("--data-dir", help="default ./data for MNIST, " + FASHION_DIR + " for Fashion-MNIST")
    ap.add_argument("--download", action="store_true", help="download the data if missing (needs network)")
    ap.add_argument("--train-size", type=int, default=5000, help="training images (0: all)")
    ap.add_argument("--test-size", type=int, default=0, help="test images (0: all)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default="optimizer_comparison.png", help="where to save the loss curves")
    ap.add_argument("--fast", action="store_true", help="640 training and 200 test images, 3 epochs (for tests)")
    args = ap.parse_args()
    if args.fast:
        args.train_size, args.test_size, args.epochs = 640, 200, 3
    torch.manual_seed(args.seed)

    train_full, test_full = open_datasets(args)
    trainset, testset = as_tensors(train_full, args.train_size), as_tensors(test_full, args.test_size)
    testloader = DataLoader(testset, batch_size=512, shuffle=False)
    print(f"{len(trainset)} training and {len(testset)} test images, {args.epochs} epochs\n")

    model = Classifier()
    initial_state = copy.deepcopy(model.state_dict())  # every optimizer starts from these weights
    results = {}
    for name, (settings, make_optimizer) in OPTIMIZERS.items():
        model.load_state_dict(initial_state)
        results[name] = train(name, model, make_optimizer, trainset, testloader, args.epochs, args.seed)

    print(f"\n{'optimizer':<14}{'settings':<24}{'final loss':>11}{'test acc':>10}{'time (s)':>10}")
    for name, (losses, accuracy, seconds) in results.items():
        print(f"{name:<14}{OPTIMIZERS[name][0]:<24}{losses[-1]:>11.4f}{accuracy:>10.4f}{seconds:>10.1f}")
    print("(each with ExponentialLR(gamma=0.9) stepped once per epoch)")

    def draw(plt):
        plt.title("Training loss, ExponentialLR(gamma=0.9)")
        for name, (losses, _, _) in results.items():
            plt.semilogy(range(1, len(losses) + 1), losses, marker="o", label=name)
        plt.legend()
        plt.xlabel("Epoch")
        plt.ylabel("CE Loss (epoch mean)")
    save_plot(args.plot, draw)


if __name__ == "__main__":
    main()
