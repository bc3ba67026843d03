"""The labs' SimpleMNISTNet (seed 001) on a subset of MNIST, with seed 003's get_accuracy.

    python examples/mnist_mlp.py [--dataset auto|mnist|fashion-mnist] [--data-dir DIR]
                                 [--download] [--subset 1000] [--epochs 2] [--fast]

Data: MNIST's four IDX files in DIR (default ./data; also found in DIR/MNIST/raw,
torchvision's layout; --download fetches them, which needs network). With the default
--dataset auto, when MNIST is not in DIR the program says so and uses Fashion-MNIST from
/usr/share/datasets/fashion-mnist (apt-get install -y dataset-fashion-mnist) instead:
same format, same network.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (import torch)
import ember.nn as nn  # noqa: E402  (import torch.nn as nn)
import ember.nn.functional as F  # noqa: E402  (import torch.nn.functional as F)
import ember.optim as optim  # noqa: E402  (import torch.optim as optim)
from ember.utils.data import DataLoader, Subset  # noqa: E402  (from torch.utils.data import ...)
from ember.vision import datasets, transforms  # noqa: E402  (from torchvision import ...)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
# per-dataset pixel mean and std, for transforms.Normalize
STATS = {"mnist": ((0.1307,), (0.3081,)), "fashion-mnist": ((0.2860,), (0.3530,))}


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


# Define a simple feedforward network (MLP) for MNIST classification.
class SimpleMNISTNet(nn.Module):
    def __init__(self):
        super(SimpleMNISTNet, self).__init__()
        # Input size: 28*28 = 784. Two hidden layers, and 10 outputs for the digits.
        self.fc1 = nn.Linear(28 * 28, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        # Flatten the image tensor.
        x = x.view(-1, 28 * 28)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def get_accuracy(model, dataloader):
    model.eval()
    with torch.no_grad():
        correct = 0
        for x, y in iter(dataloader):
            out = model(x)
            correct += (torch.argmax(out, axis=1) == y).sum()
        return correct / len(dataloader.dataset)


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
    ap.add_argument("--subset", type=int, default=1000, help="train on the first N images (the lab: 1000)")
    ap.add_argument("--test-size", type=int, default=0, help="evaluate on the first N test images (0: all)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default="mnist_mlp_loss.png", help="where to save the loss curve")
    ap.add_argument("--fast", action="store_true", help="640 training and 500 test images (for tests)")
    args = ap.parse_args()
    if args.fast:
        args.subset, args.test_size = 640, 500
    torch.manual_seed(args.seed)

    mnist_full, testset = open_datasets(args)
    # For quick demonstration, we use a subset (e.g., first 1000 samples).
    subset_indices = list(range(min(args.subset, len(mnist_full))))
    mnist_subset = Subset(mnist_full, subset_indices)
    # Create a DataLoader for batching.
    train_loader = DataLoader(mnist_subset, batch_size=64, shuffle=True)
    if args.test_size:
        testset = Subset(testset, list(range(min(args.test_size, len(testset)))))
    test_loader = DataLoader(testset, batch_size=512, shuffle=False)

    # Instantiate the network, define loss and optimizer.
    mnist_model = SimpleMNISTNet()
    criterion_mnist = nn.CrossEntropyLoss()
    optimizer_mnist = optim.SGD(mnist_model.parameters(), lr=args.lr)

    num_epochs = args.epochs
    losses = []
    accuracy = get_accuracy(mnist_model, test_loader).item()
    print(f"Test accuracy before training: {accuracy:.4f}")
    print("\nStarting training on MNIST subset...")
    for epoch in range(num_epochs):
        mnist_model.train()
        running_loss = 0.0
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer_mnist.zero_grad()  # Clear gradients.
            outputs = mnist_model(data)  # Forward pass.
            loss = criterion_mnist(outputs, target)  # Compute loss.
            loss.backward()  # Backward pass.
            optimizer_mnist.step()  # Update weights.
            running_loss += loss.item()
            losses.append(loss.item())
            if (batch_idx + 1) % 10 == 0:
                avg_loss = running_loss / 10
                print(f'Epoch [{epoch + 1}/{num_epochs}], Batch [{batch_idx + 1}], Loss: {avg_loss:.4f}')
                running_loss = 0.0
        accuracy = get_accuracy(mnist_model, test_loader).item()
        print(f"Epoch [{epoch + 1}/{num_epochs}], Test accuracy: {accuracy:.4f}")
    print("MNIST training complete!")
    print(f"Final accuracy: {accuracy:.4f}")

    def draw(plt):
        plt.title("MNIST batch loss")
        plt.plot(losses)
        plt.xlabel("Optimization step")
        plt.ylabel("CE Loss")
    save_plot(args.plot, draw)


if __name__ == "__main__":
    main()
