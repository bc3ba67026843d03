"""Seed 003's linear regression: fit Linear(P, 1) by mini-batch SGD and compare with least squares.

    python examples/linear_regression.py [--data-dir ./data] [--epochs 100] [--fast]

Data: X_reg.pt (N, P) and y_reg.pt (N, 1) in --data-dir, loaded with torch.load. When
they are missing (the lab made them in an earlier session) they are generated — a random
linear model plus Gaussian noise — and saved there with torch.save first.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (import torch)



def make_data(x_path, y_path, n=256, p=4, noise=0.95, seed=0):
    """Draw y = X w + b + noise and save X and y as the lab's X_reg.pt and y_reg.pt."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g)
    w = torch.randn(p, 1, generator=g)
    y = X @ w + 0.5 + noise * torch.randn(n, 1, generator=g)
    os.makedirs(os.path.dirname(x_path) or ".", exist_ok=True)
    torch.save(X, x_path)
    torch.save(y, y_path)
    print(f"generated {x_path} and {y_path}: {n} points, {p} features, noise std {noise}")


def least_squares(X, Y):
    """The least-squares weights (with an intercept column) and their MSE, with NumPy."""
    A = np.hstack([X.numpy(), np.ones((len(X), 1), np.float32)]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(A, Y.numpy().astype(np.float64), rcond=None)
    mse = float(np.mean((A @ coef - Y.numpy()) ** 2))
    return coef[:-1, 0], coef[-1, 0], mse


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
    ap.add_argument("--data-dir", default="./data")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default="linear_regression_loss.png", help="where to save the loss curve")
    ap.add_argument("--fast", action="store_true", help="30 epochs (for tests)")
    args = ap.parse_args()
    if args.fast:
        args.epochs = 30
    torch.manual_seed(args.seed)

    x_path, y_path = os.path.join(args.data_dir, "X_reg.pt"), os.path.join(args.data_dir, "y_reg.pt")
    if not (os.path.exists(x_path) and os.path.exists(y_path)):
        make_data(x_path, y_path)
    X = torch.load(x_path)
    Y = torch.load(y_path)
    N, P = X.shape
    print(f"loaded X {list(X.shape)} and y {list(Y.shape)} from {args.data_dir}")

    class LinearRegressor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.regressor = torch.nn.Linear(in_features=P, out_features=1, bias=True)

        def forward(self, X):
            return self.regressor(X)

    lin_reg = LinearRegressor()
    dataset = torch.utils.data.TensorDataset(X, Y)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True)
    loss = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(lin_reg.parameters(), lr=args.lr)

    losses = []
    for epoch in range(args.epochs):
        epoch_loss = 0  # accumulate the loss on all the mini-batches to average and obtain the overall MSE
        for x, y in iter(dataloader):
            out = lin_reg(x)
            l = loss(out, y)  # noqa: E741  (the lab's name)
            epoch_loss += l.item()
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
        losses.append(epoch_loss / len(dataloader))  # len(dataloader) is the number of mini-batches
        if epoch == 0 or (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}: MSE {losses[-1]:.4f}")

    w_ls, b_ls, mse_ls = least_squares(X, Y)
    with torch.no_grad():
        mse_sgd = loss(lin_reg(X), Y).item()
    print(f"\nleast-squares MSE:       {mse_ls:.4f}")
    print(f"SGD MSE (final weights): {mse_sgd:.4f}  ({100 * (mse_sgd / mse_ls - 1):.2f}% above least squares)")
    print(f"SGD MSE (last epoch):    {losses[-1]:.4f}")
    print(f"{'':>10}{'SGD':>10}{'lstsq':>10}")
    for i, (a, b) in enumerate(zip(lin_reg.regressor.weight.detach()[0].tolist(), w_ls)):
        print(f"{'w' + str(i):>10}{a:10.4f}{b:10.4f}")
    print(f"{'bias':>10}{lin_reg.regressor.bias.item():10.4f}{b_ls:10.4f}")

    def draw(plt):
        plt.title("Linear regression loss")
        plt.axhline(mse_ls, color='r', label='Least Squares')
        plt.semilogy(losses, label='SGD')
        plt.legend()
        plt.xlabel("Optimization epoch")
        plt.ylabel("MSE Loss")
    save_plot(args.plot, draw)


if __name__ == "__main__":
    main()
