"""DistributedDataParallel: the same model on every rank, gradients averaged during backward.

At construction every rank checks that it holds the same parameters (names, shapes,
dtypes) as the others, then takes rank 0's parameters and buffers. The parameters
are dealt, in reverse order (roughly the order backward produces their gradients),
into buckets of a few megabytes: 1 MiB (or bucket_cap_mb if smaller) for the
first, bucket_cap_mb (25) after.
When the last gradient of a bucket has been accumulated, the bucket's flat buffer
goes out in a non-blocking MPI allreduce while backward carries on with the layers
below; each later gradient hook also nudges MPI's progress on the buckets in flight.
A callback queued on the autograd engine waits for them all once backward ends and
writes the averages into each parameter's .grad.
"""
import contextlib

import numpy as np

from ...autograd import engine, is_grad_enabled
from ...autograd.function import AccumulateGrad
from ..._tensor import Tensor
from ...distributed.collectives import _DTYPES, _MAXDIM
from ...distributed.process_group import _get_group, _mpi
from ..modules.module import Module

MIB = 1024 * 1024
FIRST_BUCKET_BYTES = 1 * MIB
DEFAULT_BUCKET_CAP_MB = 25


class _Bucket:
    """Gradients of some parameters of one dtype, reduced together in one flat buffer."""

    def __init__(self, indices, sizes, dtype):
        self.indices = indices
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.buffer = np.zeros(self.offsets[-1], dtype)
        self.pending = len(indices)
        self.request = None

    def segment(self, k):
        return self.buffer[self.offsets[k]:self.offsets[k + 1]]


class DistributedDataParallel(Module):
    """Data-parallel training of `module` across the ranks of a process group (torch's API).

    Each rank runs the module on its own share of the batch; after loss.backward() every
    rank holds the gradient averaged over all ranks, so identical optimizer steps keep
    the replicas identical. Parameters and buffers are copied from rank 0 when DDP is
    built, and buffers (BatchNorm's running statistics) again before each training forward.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 init_sync=True, process_group=None, bucket_cap_mb=None, find_unused_parameters=False,
                 check_reduction=False, gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if device_ids or output_device is not None:
            raise ValueError(f"DistributedDataParallel device_ids and output_device arguments only work with "
                             f"GPU modules; ember's modules are on the CPU, but got device_ids {device_ids}, "
                             f"output_device {output_device}")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an nn.Module, got {type(module).__name__}")
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        self.module = module
        self.process_group = _get_group(process_group)
        self.device_ids, self.output_device, self.dim = None, None, dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * MIB)
        self.require_backward_grad_sync = True
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._verify_same_model()
        if init_sync:
            self._broadcast_from_rank0(list(module.parameters()) + list(module.buffers()))
        self._buckets, self._where = self._make_buckets()
        self._active = False
        for i, p in enumerate(self._params):
            p.register_post_accumulate_grad_hook(lambda _p, i=i: self._on_grad(i))

    def forward(self, *inputs, **kwargs):
        syncing = is_grad_enabled() and self.require_backward_grad_sync
        if syncing and self.broadcast_buffers:
            buffers = list(self.module.buffers())
            if buffers:
                self._broadcast_from_rank0(buffers)
        output = self.module(*inputs, **kwargs)
        if syncing:
            self._start_round(output)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward only accumulates local gradients; the first backward after it averages
        the accumulated gradients across ranks (gradient accumulation)."""
        old, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # -- construction --------------------------------------------------------------------------
    def _verify_same_model(self):
        group = self.process_group
        if group.size() == 1:
            return
        counts = np.empty(group.size(), np.int64)
        group.comm.Allgather(np.array([len(self._params)], np.int64), counts)
        for r, c in enumerate(counts):
            if c != counts[0]:
                raise RuntimeError(f"DDP expects the same model on every rank, but rank 0 has {counts[0]} "
                                   f"parameters while rank {r} has {c}")
        mine = np.full((len(self._params), 2 + _MAXDIM), -1, np.int64)
        for i, p in enumerate(self._params):
            shape = list(p.shape)[:_MAXDIM]
            mine[i, 0], mine[i, 1] = _DTYPES.index(p._data.dtype.name), p.dim()
            mine[i, 2:2 + len(shape)] = shape
        everyone = np.empty((group.size(),) + mine.shape, np.int64)
        group.comm.Allgather(mine, everyone)
        for r in range(1, group.size()):
            bad = np.nonzero((everyone[r] != everyone[0]).any(axis=1))[0]
            if bad.size:
                i = int(bad[0])
                raise RuntimeError(f"DDP expects the same model on every rank, but parameter {i} "
                                   f"({self._names[i]}) has {_signature(everyone[0][i])} on rank 0 and "
                                   f"{_signature(everyone[r][i])} on rank {r}")

    def _broadcast_from_rank0(self, tensors):
        """Rank 0's values into `tensors` on every rank, one message per dtype."""
        group = self.process_group
        if group.size() == 1:
            return
        by_dtype = {}
        for t in tensors:
            by_dtype.setdefault(t._data.dtype.str, []).append(t)
        for key in sorted(by_dtype):
            ts = by_dtype[key]
            flat = np.concatenate([t._data.reshape(-1) for t in ts])
            wire = flat.view(np.uint8) if flat.dtype in (np.bool_, np.float16) else flat
            group.comm.Bcast(wire, root=0)
            if group.rank() != 0:
                start = 0
                for t in ts:
                    n = t._data.size
                    t._data[...] = flat[start:start + n].reshape(t._data.shape)
                    t._vc[0] += 1
                    start += n

    def _make_buckets(self):
        buckets, where, current, size = [], {}, {}, {}
        cap = min(FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        order = list(range(len(self._params)))[::-1]

        def close(dtype):
            nonlocal cap
            idx = current.pop(dtype)
            size.pop(dtype)
            bucket = _Bucket(idx, [self._params[i]._data.size for i in idx], dtype)
            for k, i in enumerate(idx):
                where[i] = (bucket, k)
            buckets.append(bucket)
            cap = self.bucket_bytes_cap

        for i in order:
            p = self._params[i]._data
            current.setdefault(p.dtype, []).append(i)
            size[p.dtype] = size.get(p.dtype, 0) + p.nbytes
            if size[p.dtype] >= cap:
                close(p.dtype)
        for dtype in list(current):
            close(dtype)
        return buckets, where

    # -- one round of gradient reduction -------------------------------------------------------
    def _start_round(self, output=None):
        if self._active:
            self._wait_all()  # a forward whose backward never ran: drop that round
        self._active, self._queued, self._next_bucket = True, False, 0
        self._viewed = set()  # parameters whose None .grad became a view into their bucket this round
        self._ready = [False] * len(self._params)
        self._used = np.zeros(len(self._params), np.int32)
        for b in self._buckets:
            b.pending, b.request = len(b.indices), None
        if self.gradient_as_bucket_view:
            self._point_grads_at_buckets()
        if self.find_unused_parameters and output is not None:
            reached = _reachable_leaves(output)
            for i, p in enumerate(self._params):
                if p._accum is None or id(p._accum) not in reached:
                    self._mark_ready(i, used=False)

    def _point_grads_at_buckets(self):
        for i, p in enumerate(self._params):
            if p._grad is None:
                bucket, k = self._where[i]
                seg = bucket.segment(k)
                seg[...] = 0
                p._grad = Tensor._make(seg.reshape(p._data.shape), False)
                self._viewed.add(i)

    def _on_grad(self, i):
        if not self.require_backward_grad_sync:
            return
        if not self._active:
            self._start_round()  # a second backward through the same forward, or none at all
        if not self._queued:
            engine.queue_callback(self._finish_round)
            self._queued = True
        if self._ready[i]:
            raise RuntimeError(f"Expected to mark a variable ready only once. Parameter {i} ({self._names[i]}) "
                               f"received its gradient twice in one iteration: a parameter used in several "
                               f"backward passes needs them combined into one, or no_sync() for all but the last")
        self._mark_ready(i, used=True)

    def _mark_ready(self, i, used):
        self._ready[i] = True
        bucket, k = self._where[i]
        seg = bucket.segment(k)
        grad = self._params[i]._grad
        self._used[i] = used
        if grad is None:
            seg[...] = 0
        elif not _is_view_of(grad._data, seg):  # an unused parameter's accumulated .grad counts too
            seg[...] = grad._data.reshape(-1)
        bucket.pending -= 1
        # MPI matches collectives by the order they start in, so buckets go out strictly in bucket
        # order on every rank, whichever order their gradients arrived in on this one
        buckets = self._buckets
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].pending == 0:
            ready = buckets[self._next_bucket]
            if self.process_group.size() > 1:
                MPI = _mpi()
                ready.request = self.process_group.comm.Iallreduce(MPI.IN_PLACE, ready.buffer, op=MPI.SUM)
            self._next_bucket += 1
        inflight = [b.request for b in self._buckets if b.request is not None]
        if inflight:
            _mpi().Request.Testall(inflight)  # lets MPI move the buckets in flight along

    def _wait_all(self):
        requests = [b.request for b in self._buckets if b.request is not None]
        if requests:
            _mpi().Request.Waitall(requests)
        for b in self._buckets:
            b.request = None
        self._active = False

    def _finish_round(self):
        missing = [i for i, r in enumerate(self._ready) if not r]
        self._wait_all()
        if missing:
            names = ", ".join(f"{i} ({self._names[i]})" for i in missing)
            raise RuntimeError(
                "DistributedDataParallel expected every parameter to receive a gradient in this backward pass, "
                f"but these did not, on rank {self.process_group.rank()}: {names}. Parameters that were not used "
                "to produce the loss need find_unused_parameters=True when DistributedDataParallel is built "
                "(or requires_grad=False when they are never trained)")
        group = self.process_group
        used = self._used
        if self.find_unused_parameters and group.size() > 1:
            used = self._used.copy()
            group.comm.Allreduce(_mpi().IN_PLACE, used, op=_mpi().SUM)
        for b in self._buckets:
            if group.size() > 1:
                np.divide(b.buffer, group.size(), out=b.buffer, casting="unsafe")
            for k, i in enumerate(b.indices):
                if self.find_unused_parameters and not used[i]:
                    if i in self._viewed:
                        self._params[i]._grad = None  # it was None before this round pointed it at the bucket
                    continue  # unused on every rank: its .grad is left as it was
                p, seg = self._params[i], b.segment(k)
                if p._grad is None:
                    p._grad = Tensor._make(seg.reshape(p._data.shape).copy(), False)
                elif not _is_view_of(p._grad._data, seg):
                    p._grad._data[...] = seg.reshape(p._data.shape)
                p._grad._vc[0] += 1


DDP = DistributedDataParallel


def _signature(row):
    ndim = int(row[1])
    return "[" + ", ".join(str(int(d)) for d in row[2:2 + min(ndim, _MAXDIM)]) + f"] {_DTYPES[row[0]]}"


def _is_view_of(arr, seg):
    return (arr.size == seg.size and arr.flags.c_contiguous and seg.size > 0
            and arr.__array_interface__["data"][0] == seg.__array_interface__["data"][0])


def _reachable_leaves(output):
    """ids of the AccumulateGrad nodes the autograd graph of `output` reaches."""
    stack, seen, leaves = [], set(), set()
    todo = [output]
    while todo:
        x = todo.pop()
        if isinstance(x, Tensor):
            if x.grad_fn is not None:
                stack.append(x.grad_fn)
            elif x._accum is not None and x.requires_grad:
                leaves.add(id(x._accum))
        elif isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            leaves.add(id(node))
            continue
        for edge in node._inputs or ():
            if edge:
                stack.append(edge[0])
    return leaves


__all__ = ["DistributedDataParallel"]
