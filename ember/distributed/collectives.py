"""Collectives on tensors, with PyTorch's signatures, over MPI.

Each collective first has every rank agree on what it is doing: a small Allgather of
(collective, op, root, dtype, shape) from every rank. A rank calling a different
collective, or passing a tensor of another shape or dtype, then raises a RuntimeError
naming the ranks and shapes on every rank, where MPI itself would hang or corrupt memory.
The check costs one small message per call; DistributedDataParallel's gradient
reductions skip it (the model's shapes are checked once, when DDP is built).

Tensors are updated in place, as in PyTorch; a non-contiguous tensor goes through a
contiguous copy. With async_op=True the data moves with MPI's non-blocking collectives
and the call returns a Work to wait on.
"""
import enum
import functools
import warnings

import numpy as np

from .._tensor import Tensor
from .process_group import NotInGroup, _get_group, _mpi

_MAXDIM = 8  # dims sent in the agreement message; deeper shapes send their element count last


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class ReduceOp:
    """Reduction operations: ReduceOp.SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR, BXOR."""

    RedOpType = RedOpType
    SUM, AVG, PRODUCT, MIN, MAX = RedOpType.SUM, RedOpType.AVG, RedOpType.PRODUCT, RedOpType.MIN, RedOpType.MAX
    BAND, BOR, BXOR = RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR


_KINDS = ("all_reduce", "broadcast", "all_gather", "all_gather_into_tensor", "reduce_scatter",
          "reduce_scatter_tensor", "scatter", "gather", "reduce", "barrier", "all_to_all", "all_gather_object",
          "broadcast_object_list", "gather_object", "scatter_object_list")
_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")


class Work:
    """A collective in flight: wait() blocks until it has finished and the tensors hold the result."""

    def __init__(self, requests=(), finish=None):
        self._requests, self._finish, self._done = list(requests), finish, False

    def wait(self, timeout=None):
        if not self._done:
            if self._requests:
                _mpi().Request.Waitall(self._requests)
            self._complete()
        return True

    def is_completed(self):
        if not self._done and (not self._requests or _mpi().Request.Testall(self._requests)):
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def _complete(self):
        self._done = True
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()


def _collective(g, name, finish, async_op, *args, local=None, **kwargs):
    """MPI collective `name` (mpi4py's spelling, "Allreduce") over group g: blocking, or its
    non-blocking twin ("Iallreduce") when async_op; in a world of one `local()` moves the data
    instead. `finish` runs once the data is in place (at once, or when the Work is waited on)."""
    if g.size() == 1:
        if local is not None:
            local()
        return _run([], finish, async_op)
    if async_op:
        return Work([getattr(g.comm, "I" + name.lower())(*args, **kwargs)], finish)
    getattr(g.comm, name)(*args, **kwargs)
    return _run([], finish, False)


def _run(requests, finish, async_op):
    work = Work(requests, finish)
    if async_op:
        return work
    work.wait()
    return None


# -- argument checks -----------------------------------------------------------------------------
def _tensor(t, what="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{what} must be a Tensor, got {type(t).__name__}")
    return t


def _shape_text(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


_META = 6 + _MAXDIM  # kind, op, root, dtype, ndim, dims..., and last whether this rank's arguments are bad


def _meta(kind, arr, op, root, bad=False):
    m = np.full(_META, -1, np.int64)
    m[0], m[1], m[2], m[-1] = _KINDS.index(kind), op, root, int(bad)
    if arr is not None:
        m[3], m[4] = _DTYPES.index(arr.dtype.name), arr.ndim
        dims = list(arr.shape) if arr.ndim <= _MAXDIM else list(arr.shape[:_MAXDIM - 1]) + [arr.size]
        m[5:5 + len(dims)] = dims
    return m


def _describe(m):
    if m[3] < 0:
        return "no tensor"
    ndim = int(m[4])
    shape = _shape_text(m[5:5 + ndim]) if ndim <= _MAXDIM else f"{ndim}-d with {m[4 + _MAXDIM]} elements"
    return f"{shape} {_DTYPES[m[3]]}"


def _try(check):
    """The error `check()` raises (a bad argument on this rank), or None."""
    try:
        check()
    except (RuntimeError, ValueError, TypeError) as e:
        return e
    return None


def _agree(group, kind, arr=None, op=-1, root=-1, problem=None):
    """Raise on every rank unless all ranks call `kind` alike. `problem` is this rank's own argument
    error: it is raised here after the others have heard of it, and they raise a RuntimeError naming
    this rank, instead of going on into a collective this rank will never join."""
    mine = _meta(kind, arr, int(op), root, problem is not None)
    if group.size() == 1:
        if problem is not None:
            raise problem
        return
    everyone = np.empty((group.size(), mine.size), np.int64)
    group.comm.Allgather(mine, everyone)
    if problem is not None:
        raise problem
    if (everyone == everyone[0]).all():
        return
    ranks = range(group.size())
    bad = [r for r in ranks if everyone[r, -1]]
    if bad:
        raise RuntimeError(f"{kind}: rank{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))} called it with "
                           f"invalid arguments (the error there says which), so no rank goes on with it")
    if len(set(everyone[:, 0])) > 1:
        calls = ", ".join(f"rank {r} {_KINDS[everyone[r, 0]]}" for r in ranks)
        raise RuntimeError(f"ranks called different collectives ({calls}): every rank must make the same "
                           f"collective calls in the same order")
    if len(set(everyone[:, 1])) > 1:
        ops = ", ".join(f"rank {r} {RedOpType(everyone[r, 1]).name}" for r in ranks)
        raise RuntimeError(f"{kind}: ranks passed different reduce ops ({ops})")
    if len(set(everyone[:, 2])) > 1:
        roots = ", ".join(f"rank {r} says {everyone[r, 2]}" for r in ranks)
        raise RuntimeError(f"{kind}: ranks disagree on the source/destination rank ({roots})")
    shapes = ", ".join(f"rank {r} has {_describe(everyone[r])}" for r in ranks)
    raise RuntimeError(f"{kind}: tensors must have the same shape and dtype on every rank, but {shapes}")


def _root(group, root, what="src"):
    if not _valid_root(group, root):
        raise RuntimeError(f"invalid {what} rank {root}: the group has ranks 0 to {group.size() - 1}")
    return int(root)


def _valid_root(group, root):
    return isinstance(root, (int, np.integer)) and 0 <= root < group.size()


def _op(op):
    try:
        return RedOpType(op)
    except ValueError:
        raise ValueError(f"unknown reduce op {op!r}: use ember.distributed.ReduceOp") from None


def _mpi_op(op, dtype):
    MPI = _mpi()
    if dtype == np.bool_:
        return {RedOpType.SUM: MPI.LOR, RedOpType.AVG: MPI.LOR, RedOpType.PRODUCT: MPI.LAND,
                RedOpType.MIN: MPI.LAND, RedOpType.MAX: MPI.LOR, RedOpType.BAND: MPI.LAND,
                RedOpType.BOR: MPI.LOR, RedOpType.BXOR: MPI.LXOR}[op]
    if op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR) and dtype.kind == "f":
        raise RuntimeError(f"ReduceOp.{op.name} needs an integer or bool tensor, got {dtype.name}")
    return {RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD, RedOpType.MIN: MPI.MIN,
            RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND, RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR}[op]


def _wire(arr):
    """(buffer MPI can reduce, function copying a result back into `arr`). MPI has no float16
    reduction and reads bool as bytes; non-contiguous tensors need a contiguous copy."""
    if arr.dtype == np.float16:
        buf = arr.astype(np.float32)
        return buf, lambda: np.copyto(arr, buf, casting="unsafe")
    if arr.dtype == np.bool_:
        buf = np.ascontiguousarray(arr)
        view = buf.view(np.uint8)
        return view, (lambda: np.copyto(arr, buf)) if buf is not arr else None
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        buf = np.ascontiguousarray(arr)
        return buf, lambda: np.copyto(arr, buf)
    return arr, None


def _average(buf, n):
    if buf.dtype.kind == "f":
        buf /= n
    elif buf.dtype.kind in "iu":
        buf[...] = (buf / n).astype(buf.dtype)  # truncates toward zero


def _bump(*tensors):
    for t in tensors:
        t._vc[0] += 1


def _steps(*fns):
    fns = [f for f in fns if f is not None]
    return (lambda: [f() for f in fns]) if fns else None


def _members_only(fn):
    """A collective on a group this rank is not in does nothing here (with a warning), as in PyTorch."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotInGroup:
            warnings.warn(f"{fn.__name__} was called with a group this rank is not a member of: nothing to do",
                          stacklevel=2)
            return None
    return call


# -- collectives ---------------------------------------------------------------------------------
@_members_only
def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    g = _get_group(group)
    if async_op:
        return Work([g.comm.Ibarrier()])
    g.comm.Barrier()
    return None


@_members_only
def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier. MPI has no timeouts: a rank that died ends the job through mpiexec instead."""
    _get_group(group).comm.Barrier()


@_members_only
def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` over all ranks with `op`; every rank ends with the result, in place."""
    g, op, arr = _get_group(group), _op(op), _tensor(tensor)._data
    _agree(g, "all_reduce", arr, op)
    buf, back = _wire(arr)
    mpi_op = _mpi_op(op, arr.dtype)
    MPI = _mpi()
    avg = (lambda: _average(buf, g.size())) if op == RedOpType.AVG and arr.dtype != np.bool_ else None
    finish = _steps(avg, back, lambda: _bump(tensor))
    return _collective(g, "Allreduce", finish, async_op, MPI.IN_PLACE, buf, op=mpi_op)


@_members_only
def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce `tensor` over all ranks into rank `dst`'s tensor (the others keep theirs)."""
    g, op, arr = _get_group(group), _op(op), _tensor(tensor)._data
    dst = dst if dst is not None else (group_dst or 0)
    _agree(g, "reduce", arr, op, dst if _valid_root(g, dst) else -1, _try(lambda: _root(g, dst, "dst")))
    buf, back = _wire(arr)
    mine = g.rank() == dst
    MPI = _mpi()
    avg = (lambda: _average(buf, g.size())) if op == RedOpType.AVG and arr.dtype != np.bool_ else None
    finish = _steps(avg, back, lambda: _bump(tensor)) if mine else None
    send = MPI.IN_PLACE if mine else buf
    recv = buf if mine else None
    mpi_op = _mpi_op(op, arr.dtype)
    return _collective(g, "Reduce", finish, async_op, send, recv, op=mpi_op, root=dst)


@_members_only
def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank `src`'s tensor into every rank's `tensor`."""
    g, arr = _get_group(group), _tensor(tensor)._data
    src = src if src is not None else (group_src or 0)
    _agree(g, "broadcast", arr, root=src if _valid_root(g, src) else -1, problem=_try(lambda: _root(g, src)))
    buf, back = _contiguous(arr)
    finish = _steps(back, lambda: _bump(tensor)) if g.rank() != src else None
    return _collective(g, "Bcast", finish, async_op, buf, root=src)


def _contiguous(arr):
    """A buffer for moving (not reducing) data: float16 travels as raw 16-bit words."""
    buf, back = (arr, None) if arr.flags.c_contiguous and arr.flags.writeable else \
        (np.ascontiguousarray(arr), None)
    if buf is not arr:
        back = lambda: np.copyto(arr, buf)  # noqa: E731
    view = buf.view(np.uint16) if buf.dtype == np.float16 else buf.view(np.uint8) if buf.dtype == np.bool_ else buf
    return view, back


def _check_list(tensors, like, n, what, kind):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != n:
        got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise RuntimeError(f"{kind}: {what} must be a list of {n} tensors (one per rank), got {got}")
    for i, t in enumerate(tensors):
        _tensor(t, f"{what}[{i}]")
        if t.shape != like.shape or t.dtype != like.dtype:
            raise RuntimeError(f"{kind}: {what}[{i}] has shape {_shape_text(t.shape)} {t.dtype} but the tensor "
                               f"is {_shape_text(like.shape)} {like.dtype}: all must match")


def _fill_list(tensors, stacked):
    for t, part in zip(tensors, stacked):
        np.copyto(t._data, part.reshape(t._data.shape).view(t._data.dtype))
        _bump(t)


@_members_only
def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Every rank's `tensor`, in rank order, into every rank's `tensor_list`."""
    g, arr = _get_group(group), _tensor(tensor)._data
    _agree(g, "all_gather", arr, problem=_try(lambda: _check_list(tensor_list, tensor, g.size(), "tensor_list",
                                                                   "all_gather")))
    send, _ = _contiguous(arr)
    recv = np.empty((g.size(),) + send.shape, send.dtype)
    finish = lambda: _fill_list(tensor_list, recv)  # noqa: E731
    return _collective(g, "Allgather", finish, async_op, send, recv,
                       local=lambda: np.copyto(recv, send))  # recv is (1,) + send.shape


@_members_only
def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's input, in rank order, into `output_tensor` (world_size x the input's first dim, or stacked)."""
    g, arr, out = _get_group(group), _tensor(input_tensor)._data, _tensor(output_tensor, "output_tensor")._data
    n = g.size()
    ok = out.dtype == arr.dtype and out.size == n * arr.size and (
        out.shape == (n,) + arr.shape or (arr.ndim and out.shape == (n * arr.shape[0],) + arr.shape[1:]))
    if not ok:
        raise RuntimeError(f"all_gather_into_tensor: the output must be {n} times the input, got output "
                           f"{_shape_text(out.shape)} {out.dtype} for input {_shape_text(arr.shape)} {arr.dtype}")
    _agree(g, "all_gather_into_tensor", arr)
    send, _ = _contiguous(arr)
    recv, back = _contiguous(out)
    finish = _steps(back, lambda: _bump(output_tensor))
    return _collective(g, "Allgather", finish, async_op, send, recv,
                       local=lambda: np.copyto(recv.reshape(-1), send.reshape(-1)))


@_members_only
def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce input_list[i] over all ranks into rank i's `output`."""
    g, op, out = _get_group(group), _op(op), _tensor(output, "output")._data
    _agree(g, "reduce_scatter", out, op,
           problem=_try(lambda: _check_list(input_list, output, g.size(), "input_list", "reduce_scatter")))
    stacked = np.stack([t._data for t in input_list])
    return _reduce_scatter(g, op, stacked, output, async_op)


@_members_only
def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `input` (world_size blocks) over all ranks; rank i's `output` gets block i."""
    g, op = _get_group(group), _op(op)
    out, arr = _tensor(output, "output")._data, _tensor(input, "input")._data
    n = g.size()
    if arr.dtype != out.dtype or arr.size != n * out.size:
        raise RuntimeError(f"reduce_scatter_tensor: the input must be {n} times the output, got input "
                           f"{_shape_text(arr.shape)} {arr.dtype} for output {_shape_text(out.shape)} {out.dtype}")
    _agree(g, "reduce_scatter_tensor", out, op)
    return _reduce_scatter(g, op, arr.reshape((n,) + out.shape), output, async_op)


def _reduce_scatter(g, op, stacked, output, async_op):
    out = output._data
    send, _ = _wire(np.ascontiguousarray(stacked))
    recv = np.empty(send.shape[1:], send.dtype)
    mpi_op = _mpi_op(op, out.dtype)

    def finish():
        if op == RedOpType.AVG and out.dtype != np.bool_:
            _average(recv, g.size())
        np.copyto(out, recv.view(np.bool_) if out.dtype == np.bool_ else recv, casting="unsafe")
        _bump(output)
    return _collective(g, "Reduce_scatter_block", finish, async_op, send, recv, op=mpi_op,
                       local=lambda: np.copyto(recv, send[0]))


def _one_sided(g, root, tensors, like, what, kind, role):
    """The list argument of scatter/gather: required (one tensor per rank) on the root only."""
    _root(g, root, "src" if role == "source" else "dst")
    if g.rank() == root:
        if tensors is None:
            raise ValueError(f"{what} must be given on the {role} rank")
        _check_list(tensors, like, g.size(), what, kind)
    elif tensors:
        raise ValueError(f"{what} must NOT be given on non-{role} ranks")


@_members_only
def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank `src` sends scatter_list[i] to rank i, which receives it into `tensor`."""
    g, arr = _get_group(group), _tensor(tensor)._data
    src = src if src is not None else (group_src or 0)
    _agree(g, "scatter", arr, root=src if _valid_root(g, src) else -1,
           problem=_try(lambda: _one_sided(g, src, scatter_list, tensor, "scatter_list", "scatter", "source")))
    recv, back = _contiguous(arr)
    send = _contiguous(np.stack([t._data for t in scatter_list]))[0] if g.rank() == src else None
    finish = _steps(back, lambda: _bump(tensor))
    return _collective(g, "Scatter", finish, async_op, send, recv, root=src,
                       local=lambda: np.copyto(recv, send[0]))


@_members_only
def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Every rank's `tensor` into rank `dst`'s gather_list, in rank order."""
    g, arr = _get_group(group), _tensor(tensor)._data
    dst = dst if dst is not None else (group_dst or 0)
    _agree(g, "gather", arr, root=dst if _valid_root(g, dst) else -1,
           problem=_try(lambda: _one_sided(g, dst, gather_list, tensor, "gather_list", "gather", "destination")))
    mine = g.rank() == dst
    send, _ = _contiguous(arr)
    recv = np.empty((g.size(),) + send.shape, send.dtype) if mine else None
    finish = (lambda: _fill_list(gather_list, recv)) if mine else None
    return _collective(g, "Gather", finish, async_op, send, recv, root=dst,
                       local=lambda: np.copyto(recv, send))  # recv is (1,) + send.shape


@_members_only
def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False):
    """Rank i sends the i-th block (along dim 0) of `input` to every rank j, which stores it as
    the i-th block of `output`; blocks are equal unless split sizes are given."""
    g = _get_group(group)
    out, arr = _tensor(output, "output")._data, _tensor(input, "input")._data
    n = g.size()
    if out.dtype != arr.dtype or out.shape[1:] != arr.shape[1:]:
        raise RuntimeError(f"all_to_all_single: input {_shape_text(arr.shape)} {arr.dtype} and output "
                           f"{_shape_text(out.shape)} {out.dtype} must agree in dtype and in all but the first dim")
    row = int(np.prod(arr.shape[1:], dtype=np.int64))
    send_rows = _splits(input_split_sizes, arr.shape[0] if arr.ndim else 1, n, "input")
    recv_rows = _splits(output_split_sizes, out.shape[0] if out.ndim else 1, n, "output")
    _agree(g, "all_to_all", None)
    _agree_counts(g, "all_to_all_single", send_rows, recv_rows, "rows")
    send, _ = _contiguous(arr)
    recv, back = _contiguous(out)
    sc, rc = [c * row for c in send_rows], [c * row for c in recv_rows]  # the views keep element counts
    sd, rd = np.concatenate([[0], np.cumsum(sc)[:-1]]).tolist(), np.concatenate([[0], np.cumsum(rc)[:-1]]).tolist()
    finish = _steps(back, lambda: _bump(output))
    msgs = ([send.reshape(-1), (sc, sd)], [recv.reshape(-1), (rc, rd)])
    if async_op:
        return Work([g.comm.Ialltoallv(*msgs)], finish)
    g.comm.Alltoallv(*msgs)
    return _run([], finish, False)


def _agree_counts(g, kind, send, recv, unit):
    """Every rank checks every pair (i sends send[j] to j, which expects its recv[i]), so that all
    raise together, naming the first pair that disagrees."""
    n = g.size()
    everyone = np.empty((n, 2 * n), np.int64)
    g.comm.Allgather(np.asarray(list(send) + list(recv), np.int64), everyone)
    sent, expected = everyone[:, :n], everyone[:, n:].T  # [i, j]: what i sends j / what j expects from i
    bad = np.argwhere(sent != expected)
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise RuntimeError(f"{kind}: rank {i} sends {sent[i, j]} {unit} to rank {j}, which expects {expected[i, j]}")


def _splits(sizes, rows, n, what):
    if sizes is None or len(sizes) == 0:
        if rows % n:
            raise RuntimeError(f"all_to_all_single: the {what}'s first dim ({rows}) does not split into {n} equal "
                               f"blocks; give {what}_split_sizes")
        return [rows // n] * n
    sizes = [int(x) for x in sizes]
    if len(sizes) != n or sum(sizes) != rows or min(sizes) < 0:
        raise RuntimeError(f"all_to_all_single: {what}_split_sizes {sizes} must be {n} sizes adding up to {rows}")
    return sizes


@_members_only
def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank i sends input_tensor_list[j] to rank j, which stores it as output_tensor_list[i]."""
    g = _get_group(group)
    n = g.size()
    for what, lst in (("input_tensor_list", input_tensor_list), ("output_tensor_list", output_tensor_list)):
        if not isinstance(lst, (list, tuple)) or len(lst) != n:
            raise RuntimeError(f"all_to_all: {what} must hold {n} tensors (one per rank)")
    ins = [_tensor(t, "input_tensor_list entry") for t in input_tensor_list]
    outs = [_tensor(t, "output_tensor_list entry") for t in output_tensor_list]
    dtype = ins[0]._data.dtype
    if any(t._data.dtype != dtype for t in ins + outs):
        raise RuntimeError("all_to_all: every input and output tensor must have the same dtype")
    flat_in = np.concatenate([t._data.reshape(-1) for t in ins])
    flat_out = np.empty(sum(t._data.size for t in outs), dtype)
    send, _ = _contiguous(flat_in)
    recv, _ = _contiguous(flat_out)
    sc, rc = [t._data.size for t in ins], [t._data.size for t in outs]  # the views keep element counts
    _agree(g, "all_to_all", None)
    _agree_counts(g, "all_to_all", sc, rc, "elements")
    sd = np.concatenate([[0], np.cumsum(sc)[:-1]]).tolist()
    rd = np.concatenate([[0], np.cumsum(rc)[:-1]]).tolist()

    def finish():
        start = 0
        for t in outs:
            t._data[...] = flat_out[start:start + t._data.size].reshape(t._data.shape)
            _bump(t)
            start += t._data.size
    msgs = ([send, (sc, sd)], [recv, (rc, rd)])
    if async_op:
        return Work([g.comm.Ialltoallv(*msgs)], finish)
    g.comm.Alltoallv(*msgs)
    return _run([], finish, False)


# -- point to point ------------------------------------------------------------------------------
_HEADER_TAG_OFFSET = 1 << 20  # headers travel on their own tags, apart from the data


def _peer(g, rank, what):
    if not isinstance(rank, (int, np.integer)) or not 0 <= rank < g.size() or rank == g.rank():
        raise RuntimeError(f"invalid {what} rank {rank}: expected another rank of 0 to {g.size() - 1} "
                           f"(this is rank {g.rank()})")
    return int(rank)


@_members_only
def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send `tensor` to rank `dst` without waiting; returns a Work. A header with the tensor's
    shape and dtype goes first, so the receiver can check it."""
    g, arr = _get_group(group), _tensor(tensor)._data
    dst = _peer(g, dst if dst is not None else group_dst, "dst")
    header = _meta("all_reduce", arr, -1, g.rank())
    buf, _ = _contiguous(arr)
    if np.shares_memory(buf, arr):
        buf = buf.copy()  # a snapshot: the caller may change `tensor` before the send completes
    return _SendWork([g.comm.Isend(header, dest=dst, tag=tag + _HEADER_TAG_OFFSET),
                      g.comm.Isend(buf, dest=dst, tag=tag)])


@_members_only
def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    isend(tensor, dst, group, tag, group_dst).wait()


_open_receives = set()  # _RecvWorks whose data has not arrived yet


class _SendWork(Work):
    """A send in flight. Waiting on it also moves this rank's open receives along: a receive
    posts its data buffer only once the header has arrived, and the peer's large send may be
    waiting for exactly that (both ranks irecv, then send, then wait)."""

    def wait(self, timeout=None):
        if not self._done:
            MPI = _mpi()
            while _open_receives and not MPI.Request.Testall(self._requests):
                for work in list(_open_receives):
                    work._poll()
            MPI.Request.Waitall(self._requests)
            self._complete()
        return True


class _RecvWork(Work):
    """A receive in flight: first the sender's header, checked against the receiving tensor,
    then the data straight into it."""

    def __init__(self, g, tensor, source, tag):
        super().__init__()
        self._g, self._tensor, self._tag = g, tensor, tag
        self._header, self._status = np.empty(_META, np.int64), _mpi().Status()
        self._header_request = g.comm.Irecv(self._header, source=source, tag=tag + _HEADER_TAG_OFFSET)
        self._data_request, self._error = None, None
        self.sender = None
        _open_receives.add(self)

    def _poll(self):
        """_advance without blocking, keeping an error for wait() to raise."""
        try:
            self._advance(False)
        except RuntimeError as e:
            self._error = e

    def _finished(self):
        self._done = True
        _open_receives.discard(self)

    def _advance(self, block):
        """Move the receive on; True once the data is in the tensor."""
        if self._data_request is None:
            if block:
                self._header_request.Wait(self._status)
            elif not self._header_request.Test(self._status):
                return False
            self.sender = self._status.Get_source()
            arr = self._tensor._data
            mine = _meta("all_reduce", arr, -1, self.sender)
            if not (self._header[3:] == mine[3:]).all():
                self._finished()
                self._g.comm.Recv(_sink(self._header), source=self.sender, tag=self._tag)  # drain: keep in step
                raise RuntimeError(f"recv: rank {self.sender} sent {_describe(self._header)} but the receiving "
                                   f"tensor is {_describe(mine)}")
            self._buf, self._back = _contiguous(arr)
            self._data_request = self._g.comm.Irecv(self._buf, source=self.sender, tag=self._tag)
        if block:
            self._data_request.Wait()
        elif not self._data_request.Test():
            return False
        if self._back is not None:
            self._back()
        _bump(self._tensor)
        self._finished()
        return True

    def _raise_kept(self):
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def wait(self, timeout=None):
        self._raise_kept()
        if not self._done:
            self._advance(True)
        return True

    def is_completed(self):
        self._raise_kept()
        return self._done or self._advance(False)


@_members_only
def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Start receiving into `tensor` from rank `src` (any rank when None); returns a Work."""
    g, _ = _get_group(group), _tensor(tensor)
    src = group_src if src is None else src
    return _RecvWork(g, tensor, _mpi().ANY_SOURCE if src is None else _peer(g, src, "src"), tag)


@_members_only
def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into `tensor` from rank `src` (any rank when None); returns the sender's rank.
    A message of another shape or dtype raises a RuntimeError naming both."""
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    return work.sender


def _sink(header):
    """A buffer big enough for the message `header` describes, to drain it after a mismatch."""
    shape = header[5:5 + min(int(header[4]), _MAXDIM)]
    n = int(np.prod(shape)) if header[4] <= _MAXDIM else int(header[4 + _MAXDIM])
    return np.empty(n, np.dtype(_DTYPES[header[3]])).view(np.uint8)


# -- Python objects ------------------------------------------------------------------------------
# Objects travel pickled, as in PyTorch: the bytes come only from the ranks of this job,
# which mpiexec started from the same program, never from a file or a socket others can reach.
def _objects(g, kind, root=None, check=None):
    """Return once every rank of group `g` has agreed to run object collective `kind` (from `root`)
    and `check()` (this rank's argument checks) passed on every rank."""
    problem = _try(lambda: (_root(g, root, "dst" if kind == "gather_object" else "src") if root is not None else None,
                            check() if check is not None else None))
    _agree(g, kind, None, root=root if _valid_root(g, root) else -1, problem=problem)


@_members_only
def all_gather_object(object_list, obj, group=None):
    """Every rank's picklable `obj`, in rank order, into the first world_size entries of object_list."""
    g = _get_group(group)

    def check():
        if len(object_list) < g.size():
            raise RuntimeError(f"all_gather_object: object_list must have {g.size()} entries (one per rank), "
                               f"got {len(object_list)}")
    _objects(g, "all_gather_object", check=check)
    object_list[:g.size()] = g.comm.allgather(obj) if g.size() > 1 else [obj]


@_members_only
def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Rank `src`'s object_list entries into every rank's object_list (same length everywhere)."""
    src = src if src is not None else (group_src or 0)
    g = _get_group(group)
    _objects(g, "broadcast_object_list", src)
    if g.size() > 1:
        object_list[:] = g.comm.bcast(list(object_list) if g.rank() == src else None, root=src)


@_members_only
def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """Every rank's `obj` into rank `dst`'s object_gather_list."""
    g = _get_group(group)
    dst = dst if dst is not None else (group_dst or 0)

    def check():
        if g.rank() == dst and (object_gather_list is None or len(object_gather_list) != g.size()):
            raise RuntimeError(f"gather_object: object_gather_list must have {g.size()} entries on the "
                               f"destination rank")
    _objects(g, "gather_object", dst, check)
    got = g.comm.gather(obj, root=dst) if g.size() > 1 else [obj]
    if g.rank() == dst:
        object_gather_list[:] = got


@_members_only
def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None):
    """Rank `src` sends scatter_object_input_list[i] to rank i, into scatter_object_output_list[0]."""
    g = _get_group(group)
    src = src if src is not None else (group_src or 0)

    def check():
        if not isinstance(scatter_object_output_list, list) or not scatter_object_output_list:
            raise ValueError("scatter_object_output_list must be a list with at least one element")
        if g.rank() == src and (scatter_object_input_list is None or len(scatter_object_input_list) != g.size()):
            raise RuntimeError(f"scatter_object_list: the input list must have {g.size()} entries on the "
                               f"source rank")
    _objects(g, "scatter_object_list", src, check)
    items = list(scatter_object_input_list) if g.rank() == src else None
    scatter_object_output_list[0] = g.comm.scatter(items, root=src) if g.size() > 1 else items[0]
