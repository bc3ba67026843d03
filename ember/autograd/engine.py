"""The backward engine: iterative, ordered by node creation, broadcasting undone once.

Every node gets a sequence number when it is recorded, and a node's inputs are
always older than the node. Popping the newest pending node from a heap
therefore visits nodes in a valid reverse-topological order: by the time a node
runs, every node that feeds it a gradient has run (any unvisited one would be
newer and would have been popped first). No recursion, so graphs of any depth
work, and no separate dependency-counting pass is needed.
"""
import heapq

from .function import AccumulateGrad

_callbacks = None  # while a backward pass runs: functions to call once it has finished


def queue_callback(fn):
    """Call `fn()` once the backward pass now running has finished (DistributedDataParallel
    waits for its gradient reductions this way). Only valid inside a backward pass."""
    if _callbacks is None:
        raise RuntimeError("queue_callback can only be called during a backward pass")
    _callbacks.append(fn)


def unbroadcast(g, shape):
    """Sum a gradient computed in broadcast shape back to an input's shape."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    elif extra < 0:  # assignment dropped leading 1-dims (x[0] = v with v of shape (1, n))
        return g.reshape(shape)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _needed_nodes(roots, targets):
    """Nodes whose backward must run so that gradients reach `targets`."""
    reach = {}
    stack = [(n, False) for n in roots]
    while stack:
        node, done = stack.pop()
        if done:
            reach[node] = any(
                e is not None and e is not False and (e[0] in targets or reach.get(e[0], False))
                for e in node._inputs
            )
            continue
        if node in reach:
            continue
        reach[node] = False  # placeholder while children are visited
        stack.append((node, True))
        for e in node._inputs:
            if e is not None and e is not False and e[0] not in reach:
                stack.append((e[0], False))
    return {n for n, r in reach.items() if r}


def run_backward(roots, grads, retain_graph=False, capture=None):
    """Propagate `grads` (arrays) from `roots` (nodes) to the leaves.

    With `capture` (a dict node -> slot) nothing is accumulated into `.grad`;
    instead the gradient arriving at each captured node is returned by slot,
    and only the part of the graph leading to captured nodes runs.
    """
    global _callbacks
    outer, _callbacks = _callbacks, []
    try:
        captured = _propagate(roots, grads, retain_graph, capture)
        while _callbacks:  # a callback may queue another
            _callbacks.pop(0)()
        return captured
    finally:
        _callbacks = outer


def _propagate(roots, grads, retain_graph, capture):
    buffers = {}
    heap = []
    push, pop = heapq.heappush, heapq.heappop
    for node, g in zip(roots, grads):
        if node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            push(heap, (-node._seq, id(node), node))
    needed = captured = None
    if capture is not None:
        needed = _needed_nodes(list(buffers), capture)
        captured = [None] * (max(capture.values()) + 1 if capture else 0)

    while heap:
        node = pop(heap)[2]
        g = buffers.pop(node)
        if node._pre_hooks:
            g = _run_hooks(node._pre_hooks, g)
        if node._retains:
            _retain(node._retains, g)
        if capture is not None:
            slot = capture.get(node)
            if slot is not None:
                captured[slot] = g
            if node not in needed:
                continue
        if type(node) is AccumulateGrad:
            node.accumulate(g)  # may keep `g` itself: no other reference to it may remain here
            if node._post_hooks:
                for hook in list(node._post_hooks):
                    hook(node._leaf())
            continue
        grads_in = node.backward(g)
        if not retain_graph:
            node.release()
        if type(grads_in) is not tuple:
            grads_in = (grads_in,)
        for edge, gi in zip(node._inputs, grads_in):
            if gi is None or not edge:
                continue
            nxt, shape, dtype = edge
            if gi.shape != shape:
                gi = unbroadcast(gi, shape)
            if gi.dtype != dtype:
                gi = gi.astype(dtype)
            if nxt in buffers:
                buffers[nxt] = buffers[nxt] + gi
            else:
                buffers[nxt] = gi
                push(heap, (-nxt._seq, id(nxt), nxt))
        grads_in = gi = g = None  # drop references so AccumulateGrad can tell if it owns an array
    return captured


def _retain(refs, g):
    """Non-leaf tensors that asked for retain_grad() get (and accumulate) their gradient."""
    for ref in refs:
        t = ref()
        if t is None:
            continue
        if t._grad is None:
            t._grad = t._new_detached(g.copy())
        else:
            t._grad._data = t._grad._data + g


def _run_hooks(hooks, g):
    from .._tensor import Tensor

    for hook in list(hooks):
        out = hook(Tensor._make(g, False))
        if out is not None:
            g = out._data if isinstance(out, Tensor) else out
    return g
