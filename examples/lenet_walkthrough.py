"""The labs' LeNet walkthrough (seeds 000, 001, 002, 004) run on ember.

    python examples/lenet_walkthrough.py [--steps N] [--seed S] [--fast]

Define the network, list its parameters (with the practice questions: parameters per
layer and the total of trainable parameters), forward a random 1x1x32x32 input, backprop
random gradients, compute an MSE loss, follow `loss.grad_fn` back through the graph,
look at conv1.bias.grad before and after backward, update the weights by hand
(`f.data.sub_(f.grad.data * learning_rate)`) and then with `torch.optim.SGD`.
The code is the labs' code; only the imports change: `import ember as torch`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (import torch)
import ember.nn as nn  # noqa: E402  (import torch.nn as nn)
import ember.nn.functional as F  # noqa: E402  (import torch.nn.functional as F)
import ember.optim as optim  # noqa: E402  (import torch.optim as optim)


class Net(nn.Module):

    def __init__(self):
        super(Net, self).__init__()
        # 1 input image channel, 6 output channels, 3x3 square convolution kernel
        self.conv1 = nn.Conv2d(1, 6, (3, 3))  # or nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, (3, 3))
        # an affine operation: y = Wx + b
        self.fc1 = nn.Linear(16 * 6 * 6, 120)  # 6*6 from image dimension
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        """x: (B, C, H, W) with C=1, H=W=32; returns (B, 10)."""
        # Max pooling over a (2, 2) window
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        # If the size is a square you can specify a single number
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        batch = x.shape[0]
        x = x.view(batch, -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def count_parameters(model):
    """Practice question: the total number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def print_layer_parameters(model):
    """Practice question: the number of parameters in each layer."""
    for name, layer in model.named_children():
        shapes = ", ".join(f"{pname} {list(p.shape)}" for pname, p in layer.named_parameters())
        print(f"  {name}: {count_parameters(layer)} parameters ({shapes})")


def longest_path(node, memo):
    """The longest chain of graph nodes from `node` back to a leaf (the input's path)."""
    if node not in memo:
        paths = [longest_path(nxt, memo) for nxt, _ in node.next_functions if nxt is not None]
        memo[node] = [node] + max(paths, key=len, default=[])
    return memo[node]


def section(title):
    print(f"\n== {title} ==")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps in the final training loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fast", action="store_true", help="a 3-step training loop (for tests)")
    args = ap.parse_args()
    if args.fast:
        args.steps = 3
    torch.manual_seed(args.seed)

    section("Define the network")
    net = Net()
    print(net)

    section("Learnable parameters")
    params = list(net.parameters())
    print(len(params))  # weights and biases
    print(params[0].size())  # conv1's weight
    print(params[1].size())  # conv1's bias
    print("parameters per layer:")
    print_layer_parameters(net)
    print(f"total trainable parameters: {count_parameters(net)}")

    section("Forward a random 32x32 input, backprop random gradients")
    input = torch.randn(1, 1, 32, 32)
    out = net(input)
    print(out)
    net.zero_grad()  # clear the gradient buffers
    out.backward(torch.randn(1, 10))

    section("Loss function")
    output = net(input)
    target = torch.randn(10)  # a dummy target, for example
    target = target.view(1, -1)  # make it the same shape as output
    criterion = nn.MSELoss()
    loss = criterion(output, target)
    print(loss)

    section("Following loss.grad_fn backward")
    print(loss.grad_fn)  # MSELoss
    print(loss.grad_fn.next_functions[0][0])  # Linear (fc3)
    print(loss.grad_fn.next_functions[0][0].next_functions[0][0])  # fc3's bias
    chain = longest_path(loss.grad_fn, {})
    print("the whole graph, from the input to the loss:")
    print("  " + " -> ".join(node.name().split("::")[-1] for node in reversed(chain)))

    section("Backprop")
    net.zero_grad()  # zeroes the gradient buffers of all parameters (sets them to None)
    print("conv1.bias.grad before backward")
    print(net.conv1.bias.grad)
    loss.backward()
    print("conv1.bias.grad after backward")
    print(net.conv1.bias.grad)

    section("Update the weights by hand: weight = weight - learning_rate * gradient")
    learning_rate = 0.01
    for f in net.parameters():
        f.data.sub_(f.grad.data * learning_rate)
    print(f"loss before the update {loss.item():.4f}, after {criterion(net(input), target).item():.4f}")

    section("Update the weights with torch.optim.SGD")
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    for step in range(args.steps):  # in your training loop:
        optimizer.zero_grad()  # zero the gradient buffers
        output = net(input)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()  # does the update
        print(f"step {step + 1}: loss {loss.item():.4f}")
    print(f"final loss {criterion(net(input), target).item():.4f}")


if __name__ == "__main__":
    main()
