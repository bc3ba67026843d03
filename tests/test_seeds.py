"""The seed labs' LeNet walkthrough, cell by cell, run with ember and with PyTorch on
the same weights: printed text, shapes, values and gradients must agree."""
import re

import numpy as np
import torch

import ember


def lenet_class(torch, nn, F, conv=3, name="Net"):
    """The seeds' network (3x3 convolutions; the PyTorch tutorial's variant uses 5x5)."""
    side = 6 if conv == 3 else 5

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 6, conv)
            self.conv2 = nn.Conv2d(6, 16, conv)
            self.fc1 = nn.Linear(16 * side * side, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(-1, self.num_flat_features(x))
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

        def num_flat_features(self, x):
            size = x.size()[1:]
            num_features = 1
            for s in size:
                num_features *= s
            return num_features

    Net.__name__ = Net.__qualname__ = name
    return Net


def both_nets(**kw):
    import ember.nn as enn
    import ember.nn.functional as eF
    import torch.nn as tnn
    import torch.nn.functional as tF

    tnet = lenet_class(torch, tnn, tF, **kw)()
    enet = lenet_class(ember, enn, eF, **kw)()
    enet.load_state_dict({k: ember.tensor(v.numpy()) for k, v in tnet.state_dict().items()})
    return tnet, enet


SEED_PRINT = """Net(
  (conv1): Conv2d(1, 6, kernel_size=(3, 3), stride=(1, 1))
  (conv2): Conv2d(6, 16, kernel_size=(3, 3), stride=(1, 1))
  (fc1): Linear(in_features=576, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)"""


def test_print_net_and_parameters_like_the_seed():
    _, enet = both_nets()
    assert repr(enet) == SEED_PRINT
    params = list(enet.parameters())
    assert len(params) == 10
    assert str(params[0].size()) == "torch.Size([6, 1, 3, 3])"
    assert str(params[1].size()) == "torch.Size([6])"
    _, enet5 = both_nets(conv=5, name="network")
    assert repr(enet5).startswith("network(\n  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))")
    assert "(fc1): Linear(in_features=400, out_features=120, bias=True)" in repr(enet5)


def test_forward_backward_loss_and_grad_fn_walk():
    tnet, enet = both_nets()
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    tpred, epred = tnet(torch.tensor(x)), enet(ember.tensor(x))
    assert re.fullmatch(r"tensor\(\[\[.*\]\], grad_fn=<AddmmBackward0>\)", repr(epred), re.S)
    assert repr(epred) == repr(tpred)

    # backward with a given gradient, after zero_grad (set_to_none: grads are None)
    g = np.random.default_rng(1).standard_normal((1, 10)).astype(np.float32)
    tnet.zero_grad()
    enet.zero_grad()
    assert enet.conv1.bias.grad is None
    tpred.backward(torch.tensor(g))
    epred.backward(ember.tensor(g))
    for (name, tp), ep in zip(tnet.named_parameters(), enet.parameters()):
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)

    # MSELoss, printed like the seed: tensor(1.8541, grad_fn=<MseLossBackward0>)
    target = np.random.default_rng(2).standard_normal(10).astype(np.float32)
    tloss = torch.nn.MSELoss()(tnet(torch.tensor(x)), torch.tensor(target).view(1, -1))
    eloss = ember.nn.MSELoss()(enet(ember.tensor(x)), ember.tensor(target).view(1, -1))
    assert repr(eloss) == repr(tloss)
    assert re.fullmatch(r"<MseLossBackward0 object at 0x[0-9a-f]+>", repr(eloss.grad_fn))
    linear = eloss.grad_fn.next_functions[0][0]
    assert re.fullmatch(r"<AddmmBackward0 object at 0x[0-9a-f]+>", repr(linear))
    assert re.fullmatch(r"<AccumulateGrad object at 0x[0-9a-f]+>", repr(linear.next_functions[0][0]))

    # the bias gradient before and after backward (the seed sets it to zeros first)
    enet.conv1.bias.grad = ember.zeros(6)
    tnet.conv1.bias.grad = torch.zeros(6)
    assert str(enet.conv1.bias.grad) == "tensor([0., 0., 0., 0., 0., 0.])"
    tloss.backward()
    eloss.backward()
    np.testing.assert_allclose(enet.conv1.bias.grad.numpy(), tnet.conv1.bias.grad.numpy(), rtol=1e-4, atol=1e-7)

    # manual SGD as in the seed: f.data.sub_(f.grad.data * learning_rate)
    for lib_net in (tnet, enet):
        for f in lib_net.parameters():
            f.data.sub_(f.grad.data * 0.01)
    for (name, tp), ep in zip(tnet.named_parameters(), enet.parameters()):
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_batch_of_five_and_retain_graph():
    tnet, enet = both_nets()
    x = np.random.default_rng(3).standard_normal((5, 1, 32, 32)).astype(np.float32)
    out = enet(ember.tensor(x))
    assert tuple(out.shape) == (5, 10)
    loss = out.pow(2).mean()
    loss.backward(retain_graph=True)
    first = enet.fc1.weight.grad.clone()
    loss.backward()
    np.testing.assert_allclose(enet.fc1.weight.grad.numpy(), 2 * first.numpy(), rtol=1e-5)


def test_linear_regression_by_sgd_reaches_least_squares():
    # seed 003: LinearRegressor + TensorDataset + DataLoader(batch_size=8, shuffle=True) + SGD
    rng = np.random.default_rng(0)
    N, P = 200, 4
    X_np = rng.standard_normal((N, P)).astype(np.float32)
    Y_np = (X_np @ rng.standard_normal((P, 1)) + 0.5 + 0.1 * rng.standard_normal((N, 1))).astype(np.float32)
    X, Y = ember.tensor(X_np), ember.tensor(Y_np)
    ember.manual_seed(0)

    class LinearRegressor(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.regressor = ember.nn.Linear(in_features=P, out_features=1, bias=True)

        def forward(self, X):
            return self.regressor(X)

    lin_reg = LinearRegressor()
    dataset = ember.utils.data.TensorDataset(X, Y)
    dataloader = ember.utils.data.DataLoader(dataset, batch_size=8, shuffle=True)
    loss = ember.nn.MSELoss()
    optimizer = ember.optim.SGD(lin_reg.parameters(), lr=0.01)
    for epoch in range(60):
        for x, y in dataloader:
            l = loss(lin_reg(x), y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
    with ember.no_grad():
        final = loss(lin_reg(X), Y).item()
    A = np.hstack([X_np, np.ones((N, 1), np.float32)]).astype(np.float64)
    coef = np.linalg.lstsq(A, Y_np.astype(np.float64), rcond=None)[0]
    least_squares = float(np.mean((A @ coef - Y_np) ** 2))
    assert final < least_squares * 1.02 + 1e-4, (final, least_squares)
