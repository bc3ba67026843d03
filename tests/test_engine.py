"""Engine internals that the PyTorch-facing tests can't see directly."""
import ember


def test_saved_arrays_are_released_after_backward():
    x = ember.randn(5, requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert node._saved == () and node._freed


def test_retain_graph_keeps_saved_arrays():
    x = ember.randn(5, requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward(retain_graph=True)
    assert len(node._saved) == 1 and not node._freed
    y.sum().backward()
    assert node._saved == ()


def test_leaf_gradients_never_alias_each_other():
    # add's backward hands the same array to both inputs; each leaf must own its grad
    a = ember.randn(4, requires_grad=True)
    b = ember.randn(4, requires_grad=True)
    (a + b).sum().backward()
    a.grad.add_(1)
    assert b.grad.tolist() == [1.0] * 4


def test_leaf_gradient_does_not_alias_user_gradient():
    x = ember.randn(3, requires_grad=True)
    g = ember.ones(3)
    x.backward(g)
    x.grad.mul_(5)
    assert g.tolist() == [1.0, 1.0, 1.0]


def test_gradient_of_shared_subexpression_sums_once():
    x = ember.tensor([2.0], requires_grad=True)
    y = x * x
    z = y + y * y  # dz/dx = 2x + 4x^3
    z.backward()
    assert x.grad.item() == 2 * 2 + 4 * 8


def test_very_deep_graph_needs_no_recursion():
    x = ember.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_grad_only_runs_the_needed_part_of_the_graph():
    a = ember.randn(3, requires_grad=True)
    b = ember.randn(3, requires_grad=True)
    out = (a * 2).sum() + (b.exp()).sum()
    exp_node = out.grad_fn.next_functions[1][0].next_functions[0][0]
    (ga,) = ember.autograd.grad(out, a)
    assert ga.tolist() == [2.0, 2.0, 2.0]
    assert len(exp_node._saved) == 1  # b's branch never ran, so nothing there was freed
    assert a.grad is None and b.grad is None
