"""Tensor.register_post_accumulate_grad_hook and engine.queue_callback (what DDP builds on), against torch."""
import pytest
import torch

import ember
from ember.autograd import engine


def _run(lib, calls):
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = lib.tensor([4.0, 5.0], requires_grad=True)
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(("w", t.grad.tolist())))
    v.register_post_accumulate_grad_hook(lambda t: calls.append(("v", t.grad.tolist())))
    ((w * w).sum() + (w * 2).sum() + v.sum() * w.sum()).backward()  # w used three times: one call
    ((w * 3).sum()).backward()  # accumulates: the hook sees the sum
    handle.remove()
    (w * 1).sum().backward()
    return w, v


def test_post_accumulate_hook_matches_torch():
    mine, theirs = [], []
    _run(ember, mine)
    _run(torch, theirs)
    assert mine == theirs and len(mine) == 3  # once per backward and leaf, after accumulation


def test_post_accumulate_hook_errors_like_torch():
    for lib in (ember, torch):
        x = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="non-leaf"):
            (x * 2).register_post_accumulate_grad_hook(lambda t: None)
        with pytest.raises(RuntimeError):
            lib.ones(2).register_post_accumulate_grad_hook(lambda t: None)


def test_queue_callback_runs_once_after_backward():
    order = []
    w = ember.ones(3, requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda t: (order.append("hook"), engine.queue_callback(lambda: order.append("done"))))
    u = ember.ones(2, requires_grad=True)
    u.register_post_accumulate_grad_hook(lambda t: order.append("u"))
    ((w * 2).sum() + (u * 3).sum()).backward()
    assert order[-1] == "done" and order.count("done") == 1 and sorted(order[:-1]) == ["hook", "u"]
    with pytest.raises(RuntimeError, match="during a backward pass"):
        engine.queue_callback(lambda: None)


def test_queue_callback_error_propagates_and_engine_recovers():
    w = ember.ones(2, requires_grad=True)
    handle = w.register_post_accumulate_grad_hook(lambda t: engine.queue_callback(lambda: 1 / 0))
    with pytest.raises(ZeroDivisionError):
        (w * 2).sum().backward()
    handle.remove()
    (w * 2).sum().backward()  # no callback left over from the failed pass
    assert w.grad.tolist() == [4.0, 4.0]
