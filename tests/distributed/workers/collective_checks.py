"""Checks of ember.distributed's collectives, run on every rank of one job:

    mpiexec -n 2 python collective_checks.py GROUP LAUNCHER TMPDIR   # LAUNCHER: mpiexec or python

Every rank's inputs come from a seeded generator keyed by (check, rank), so each rank can compute
every other rank's inputs and so the NumPy definition of each result. Tensors are views of NumPy
arrays the check keeps (some strided, into a bigger array), so a check sees that results land in
the caller's memory and nowhere else. Groups: "before_init" and "main" run in one job (the first
before init_process_group); "hazards" holds checks that hang with a faulty ember, for a job of its own.
"""
import os
import sys
import time
import zlib

import numpy as np

import ember
import ember.distributed as dist
from check_harness import Checks, Skip

R = dist.ReduceOp
CHECKS = check = Checks()  # the table test_collectives.py reads (without starting MPI)
# set by main(): the rank and world size from MPI.COMM_WORLD; mpi4py.MPI (importing it starts MPI);
# how the job was started ("mpiexec" or "python"); a fresh folder for files
RANK = SIZE = MPI = LAUNCHER = TMP = None

FLOATS = ("float16", "float32", "float64")
INTS = ("int64", "int32", "int16", "int8", "uint8")
MOVED = ("float32", "float16", "float64", "int64", "int32", "uint8", "bool")  # dtypes for copying collectives
FLOAT_OPS = ("SUM", "AVG", "PRODUCT", "MIN", "MAX")
BITWISE = ("BAND", "BOR", "BXOR")
BOOL_OPS = ("SUM", "PRODUCT", "MIN", "MAX") + BITWISE
# layout -> shape of the tensor; "strided" is a (3, 4) view [1:, ::2] into a (4, 8) array
SHAPES = {"2d": (3, 5), "0d": (), "3d": (2, 3, 4), "empty": (0, 3), "strided": (3, 4)}
TOL = {"float16": (2e-3, 2e-3), "float32": (2e-6, 1e-6), "float64": (1e-12, 1e-12)}


# -- inputs, references, comparisons ---------------------------------------------------------------
def data(rank, shape, dtype, *key, small=False):
    """Rank `rank`'s input for `key`: reproducible on every rank. small: values fit for PRODUCT."""
    rng = np.random.default_rng([zlib.crc32(repr(key).encode()), rank])
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dt.kind == "f":
        x = rng.uniform(0.5, 1.5, shape) if small else rng.standard_normal(shape) * 4
    elif dt.kind == "u":
        x = rng.integers(0, 4 if small else 80, shape)
    else:
        x = rng.integers(-4, 5, shape) if small else rng.integers(-40, 41, shape)
    return np.asarray(x).astype(dt)


def everyone(shape, dtype, *key, small=False):
    return [data(r, shape, dtype, *key, small=small) for r in range(SIZE)]


def reduce_ref(op, arrays):
    """The NumPy definition of reducing `arrays` (one per rank) with ReduceOp `op`."""
    st, n = np.stack(arrays), len(arrays)
    dt = st.dtype
    if dt == np.bool_:
        any_, all_ = st.any(0), st.all(0)
        return {"SUM": any_, "MAX": any_, "BOR": any_, "PRODUCT": all_, "MIN": all_, "BAND": all_,
                "BXOR": np.logical_xor.reduce(st, 0)}[op]
    if op in ("SUM", "AVG", "PRODUCT") and dt.kind == "f":
        wide = st.astype(np.float64)
        out = wide.prod(0) if op == "PRODUCT" else wide.sum(0) / (n if op == "AVG" else 1)
        return np.asarray(out).astype(dt)
    if op == "AVG":  # integers: the sum divided by the world size, rounded toward zero
        s = st.astype(np.int64).sum(0)
        return np.asarray(np.sign(s) * (np.abs(s) // n)).astype(dt)
    fn = {"SUM": np.add, "PRODUCT": np.multiply, "MIN": np.minimum, "MAX": np.maximum, "BAND": np.bitwise_and,
          "BOR": np.bitwise_or, "BXOR": np.bitwise_xor}[op]
    return np.asarray(fn.reduce(st, 0)).astype(dt)


def expect(ok, message):
    """Note a problem unless `ok`, and carry on (see check_harness): returns `ok`."""
    if not ok:
        CHECKS.note(message)
    return ok


def same(got, want, exact=True, what=""):
    """Note a problem unless `got` equals `want` (within the dtype's tolerance unless exact)."""
    got, want = np.asarray(got), np.asarray(want)
    if not expect(got.shape == want.shape and got.dtype == want.dtype,
                  f"{what}: got {got.shape} {got.dtype}, want {want.shape} {want.dtype}"):
        return False
    try:
        if exact or want.dtype.name not in TOL:
            np.testing.assert_array_equal(got, want, err_msg=what)
        else:
            rtol, atol = TOL[want.dtype.name]
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                       err_msg=what)
    except AssertionError as e:
        return expect(False, str(e))
    return True


class Slot:
    """A tensor over memory the check holds: the whole array, or (strided) the view [1:, ::2] of
    a bigger one whose other elements must stay as they were."""

    def __init__(self, values, strided=False):
        values = np.asarray(values)
        if strided:
            rows, cols = values.shape[:2]
            self.mem = data(99, (rows + 1, 2 * cols) + values.shape[2:], values.dtype, "around")
            self.index = (slice(1, None), slice(None, None, 2))
            self.mem[self.index] = values
            self.tensor = ember.from_numpy(self.mem)[self.index]
            assert not self.tensor.is_contiguous()
        else:
            self.mem, self.index = values.copy(), Ellipsis
            self.tensor = ember.from_numpy(self.mem)
        self.before = self.mem.copy()

    def expect(self, want, exact=True, what=""):
        """The tensor holds `want`, in the caller's memory, and the memory around it is untouched."""
        same(self.tensor.numpy(), want, exact, what)
        whole = self.before.copy()
        whole[self.index] = want
        same(self.mem, whole, exact, what + " (memory under the tensor)")


def slots(values, layout):
    return Slot(values, strided=layout == "strided")


def call(fn, *args, async_op=False, **kwargs):
    """Call collective `fn`; synchronously it returns None, with async_op a Work that completes."""
    work = fn(*args, async_op=async_op, **kwargs)
    if not async_op:
        assert work is None, f"{fn.__name__} returned {work!r}, expected None"
        return
    assert isinstance(work, dist.Work), f"{fn.__name__}(async_op=True) returned {work!r}"
    assert work.wait() is True
    assert work.is_completed() is True


def raises(exc, fn, *args, contains=(), **kwargs):
    """Note a problem unless fn(*args, **kwargs) raises `exc` naming every string of `contains`."""
    name = getattr(fn, "__name__", fn)
    try:
        fn(*args, **kwargs)
    except exc as e:
        missing = [text for text in contains if text not in str(e)]
        expect(not missing, f"{name}: {exc.__name__} message {str(e)!r} does not name {missing}")
        return e
    except Exception as e:  # noqa: BLE001
        CHECKS.note(f"{name}: expected {exc.__name__}, got {type(e).__name__}: {e}")
        return e
    CHECKS.note(f"{name} raised no {exc.__name__}")
    return None


def outcome(fn, *args, **kwargs):
    """The exception fn(*args, **kwargs) raises, or None: for checks that must go on in step."""
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001
        return e
    return None


def still_works():
    """After an error every rank can still run a correct collective."""
    t = ember.tensor([float(RANK + 1)])
    dist.all_reduce(t)
    same(t.numpy(), np.array([SIZE * (SIZE + 1) / 2], np.float32))


def needs(ranks):
    if SIZE < ranks:
        raise Skip(f"needs {ranks} ranks, the world has {SIZE}")


# -- before init_process_group ---------------------------------------------------------------------
@check(group="before_init")
def not_initialized():
    assert dist.is_initialized() is False
    assert dist.is_available() and dist.is_mpi_available()
    for fn, args in ((dist.get_rank, ()), (dist.get_world_size, ()), (dist.get_backend, ()), (dist.barrier, ()),
                     (dist.all_reduce, (ember.ones(2),)), (dist.destroy_process_group, ())):
        raises(ValueError, fn, *args, contains=("init_process_group",))


@check(group="before_init")
def unknown_backend():
    raises(ValueError, dist.init_process_group, "nccl", contains=("nccl",))
    assert not dist.is_initialized()


@check(group="before_init")
def init_arguments_checked():
    raises(ValueError, dist.init_process_group, "mpi", world_size=SIZE + 1, contains=(str(SIZE + 1),))
    raises(ValueError, dist.init_process_group, "mpi", rank=RANK + 1, contains=(str(RANK + 1),))
    raises(ValueError, dist.init_process_group, "mpi", init_method="tcp://127.0.0.1:23456")
    assert not dist.is_initialized()


# -- the process group -----------------------------------------------------------------------------
@check()
def world():
    assert dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size()) == (RANK, SIZE)
    assert dist.get_backend() == "mpi" == dist.Backend.MPI
    assert dist.launched_by_mpi() is (LAUNCHER == "mpiexec")


@check()
def double_init():
    raises(ValueError, dist.init_process_group, "mpi", contains=("twice",))
    assert (dist.get_rank(), dist.get_world_size()) == (RANK, SIZE)
    still_works()


# -- all_reduce ------------------------------------------------------------------------------------
def all_reduce_check(dtype, op):
    def run():
        small = op == "PRODUCT"
        for async_op in (False, True):
            for layout, shape in SHAPES.items():
                values = everyone(shape, dtype, "all_reduce", dtype, op, layout, async_op, small=small)
                slot = slots(values[RANK], layout)
                call(dist.all_reduce, slot.tensor, op=getattr(R, op), async_op=async_op)
                slot.expect(reduce_ref(op, values), exact=False, what=f"{layout} async_op={async_op}")
    return run


for _dtype in FLOATS + INTS + ("bool",):
    _ops = BOOL_OPS if _dtype == "bool" else FLOAT_OPS + BITWISE if _dtype in INTS else FLOAT_OPS
    for _op in _ops:
        check(f"all_reduce[{_dtype}-{_op}]")(all_reduce_check(_dtype, _op))


@check()
def all_reduce_default_op_is_sum():
    values = everyone((4,), "float64", "default op")
    t = ember.from_numpy(values[RANK].copy())
    dist.all_reduce(t)
    same(t.numpy(), reduce_ref("SUM", values), exact=False)


@check()
def all_reduce_work_polled():
    values = everyone((1000,), "float32", "polled")
    slot = Slot(values[RANK])
    work = dist.all_reduce(slot.tensor, async_op=True)
    while not work.is_completed():
        pass
    assert work.is_completed() and work.wait() is True
    slot.expect(reduce_ref("SUM", values), exact=False)


@check()
def all_reduce_views_share_the_result():
    """all_reduce on a view updates its base, and the tensor object is the one passed."""
    base = ember.from_numpy(data(RANK, (4, 6), "float32", "views"))
    view = base[1:3]
    before = [data(r, (4, 6), "float32", "views") for r in range(SIZE)]
    dist.all_reduce(view, op=R.MAX)
    want = before[RANK].copy()
    want[1:3] = reduce_ref("MAX", [b[1:3] for b in before])
    same(base.numpy(), want)
    same(view.numpy(), want[1:3])


@check()
def all_reduce_9d():
    shape = (1, 2, 1, 1, 1, 2, 1, 1, 3)
    values = everyone(shape, "int64", "9d")
    slot = Slot(values[RANK])
    dist.all_reduce(slot.tensor, op=R.MIN)
    slot.expect(reduce_ref("MIN", values))


@check()
def all_reduce_float_bitwise_raises():
    for dtype in FLOATS:
        for op in BITWISE:
            t = ember.ones(3, dtype=getattr(ember, dtype))
            raises(RuntimeError, dist.all_reduce, t, op=getattr(R, op), contains=(op,))
    still_works()


# -- reduce ----------------------------------------------------------------------------------------
def reduce_check(dst, op, dtypes):
    def run():
        needs(dst + 1)
        for async_op in (False, True):
            for dtype in dtypes:
                for layout, shape in SHAPES.items():
                    values = everyone(shape, dtype, "reduce", dst, op, layout, async_op, small=op == "PRODUCT")
                    slot = slots(values[RANK], layout)
                    call(dist.reduce, slot.tensor, dst=dst, op=getattr(R, op), async_op=async_op)
                    if RANK == dst:
                        slot.expect(reduce_ref(op, values), exact=False, what=f"{dtype} {layout}")
    return run


for _dst in (0, 1):
    check(f"reduce[dst{_dst}-SUM]")(reduce_check(_dst, "SUM", ("float32", "float16", "int64", "bool")))
    check(f"reduce[dst{_dst}-MAX]")(reduce_check(_dst, "MAX", ("float64", "int32", "uint8")))
    check(f"reduce[dst{_dst}-AVG]")(reduce_check(_dst, "AVG", ("float32", "int64")))
    check(f"reduce[dst{_dst}-PRODUCT]")(reduce_check(_dst, "PRODUCT", ("float64", "int32")))


# -- broadcast -------------------------------------------------------------------------------------
def broadcast_check(src):
    def run():
        needs(src + 1)
        for async_op in (False, True):
            for dtype in MOVED:
                for layout, shape in SHAPES.items():
                    values = everyone(shape, dtype, "broadcast", src, layout, async_op)
                    slot = slots(values[RANK], layout)
                    call(dist.broadcast, slot.tensor, src=src, async_op=async_op)
                    slot.expect(values[src], what=f"{dtype} {layout} async_op={async_op}")
        values = everyone((5,), "float32", "group_src", src)
        t = ember.from_numpy(values[RANK].copy())
        dist.broadcast(t, group_src=src)
        same(t.numpy(), values[src])
    return run


for _src in (0, 1):
    check(f"broadcast[src{_src}]")(broadcast_check(_src))


# -- all_gather, all_gather_into_tensor -------------------------------------------------------------
@check()
def all_gather():
    for async_op in (False, True):
        for dtype in MOVED:
            for layout, shape in SHAPES.items():
                values = everyone(shape, dtype, "all_gather", layout, async_op)
                mine = slots(values[RANK], layout)
                outs = [slots(data(RANK, shape, dtype, "out", i), layout) for i in range(SIZE)]
                call(dist.all_gather, [o.tensor for o in outs], mine.tensor, async_op=async_op)
                for i, out in enumerate(outs):
                    out.expect(values[i], what=f"{dtype} {layout} entry {i}")
                mine.expect(values[RANK], what="the input")


def all_gather_into_tensor_check(layout_of_output):
    def run():
        for async_op in (False, True):
            for dtype in MOVED:
                for layout, shape in SHAPES.items():
                    if layout_of_output == "concatenated" and not shape:
                        continue
                    values = everyone(shape, dtype, "agit", layout_of_output, layout, async_op)
                    want = np.stack(values) if layout_of_output == "stacked" else np.concatenate(values)
                    mine = slots(values[RANK], layout)
                    out = Slot(data(RANK, want.shape, dtype, "agit out"),
                               strided=layout == "strided" and want.ndim == 2)
                    call(dist.all_gather_into_tensor, out.tensor, mine.tensor, async_op=async_op)
                    out.expect(want, what=f"{dtype} {layout}")
                    mine.expect(values[RANK], what="the input")
    return run


for _how in ("stacked", "concatenated"):
    check(f"all_gather_into_tensor[{_how}]")(all_gather_into_tensor_check(_how))


# -- reduce_scatter, reduce_scatter_tensor ----------------------------------------------------------
SCATTER_REDUCTIONS = (("float32", "SUM"), ("float32", "AVG"), ("float64", "MAX"), ("float16", "SUM"),
                      ("int64", "SUM"), ("int32", "MIN"), ("uint8", "BOR"), ("int64", "PRODUCT"), ("bool", "SUM"),
                      ("bool", "BXOR"))


def reduce_scatter_check(dtype, op):
    def run():
        small = op == "PRODUCT"
        for async_op in (False, True):
            for layout, shape in SHAPES.items():
                # inputs[q][i]: rank q's block for rank i
                inputs = [[data(q, shape, dtype, "rs", op, layout, async_op, i, small=small) for i in range(SIZE)]
                          for q in range(SIZE)]
                mine = [slots(block, layout) for block in inputs[RANK]]
                out = slots(data(RANK, shape, dtype, "rs out"), layout)
                call(dist.reduce_scatter, out.tensor, [m.tensor for m in mine], op=getattr(R, op),
                     async_op=async_op)
                out.expect(reduce_ref(op, [inputs[q][RANK] for q in range(SIZE)]), exact=False,
                           what=f"{layout} async_op={async_op}")
                for m, block in zip(mine, inputs[RANK]):
                    m.expect(block, what="an input")
    return run


def reduce_scatter_tensor_check(dtype, op):
    def run():
        small = op == "PRODUCT"
        for async_op in (False, True):
            for layout, shape in SHAPES.items():
                if not shape:
                    continue
                big = (SIZE * shape[0],) + shape[1:]
                inputs = everyone(big, dtype, "rst", op, layout, async_op, small=small)
                mine = Slot(inputs[RANK], strided=layout == "strided")
                out = slots(data(RANK, shape, dtype, "rst out"), layout)
                call(dist.reduce_scatter_tensor, out.tensor, mine.tensor, op=getattr(R, op), async_op=async_op)
                rows = slice(RANK * shape[0], (RANK + 1) * shape[0])
                out.expect(reduce_ref(op, [x[rows] for x in inputs]), exact=False,
                           what=f"{layout} async_op={async_op}")
                mine.expect(inputs[RANK], what="the input")
    return run


for _dtype, _op in SCATTER_REDUCTIONS:
    check(f"reduce_scatter[{_dtype}-{_op}]")(reduce_scatter_check(_dtype, _op))
    check(f"reduce_scatter_tensor[{_dtype}-{_op}]")(reduce_scatter_tensor_check(_dtype, _op))


# -- scatter, gather -------------------------------------------------------------------------------
def scatter_check(src):
    def run():
        needs(src + 1)
        for async_op in (False, True):
            for dtype in MOVED:
                for layout, shape in SHAPES.items():
                    parts = [data(src, shape, dtype, "scatter", layout, async_op, i) for i in range(SIZE)]
                    sources = [slots(p, layout) for p in parts] if RANK == src else None
                    out = slots(data(RANK, shape, dtype, "scatter out"), layout)
                    call(dist.scatter, out.tensor, [s.tensor for s in sources] if sources else None, src=src,
                         async_op=async_op)
                    out.expect(parts[RANK], what=f"{dtype} {layout}")
                    for s, p in zip(sources or [], parts):
                        s.expect(p, what="a scattered input")
    return run


def gather_check(dst):
    def run():
        needs(dst + 1)
        for async_op in (False, True):
            for dtype in MOVED:
                for layout, shape in SHAPES.items():
                    values = everyone(shape, dtype, "gather", dst, layout, async_op)
                    mine = slots(values[RANK], layout)
                    outs = [slots(data(RANK, shape, dtype, "gather out", i), layout) for i in range(SIZE)]
                    call(dist.gather, mine.tensor, [o.tensor for o in outs] if RANK == dst else None, dst=dst,
                         async_op=async_op)
                    if RANK == dst:
                        for i, out in enumerate(outs):
                            out.expect(values[i], what=f"{dtype} {layout} entry {i}")
                    mine.expect(values[RANK], what="the input")
    return run


for _root in (0, 1):
    check(f"scatter[src{_root}]")(scatter_check(_root))
    check(f"gather[dst{_root}]")(gather_check(_root))


# -- objects ---------------------------------------------------------------------------------------
def obj(rank, what):
    return {"rank": rank, "what": what, "items": list(range(rank + 2)), "text": "é" * rank, "nothing": None}


@check()
def all_gather_object():
    out = [None] * SIZE
    dist.all_gather_object(out, obj(RANK, "agobj"))
    assert out == [obj(r, "agobj") for r in range(SIZE)], out


def broadcast_object_list_check(src):
    def run():
        needs(src + 1)
        mine = [obj(RANK, "bcast"), ("tuple", RANK), 3.5 * RANK]
        lst = list(mine)
        dist.broadcast_object_list(lst, src=src)
        assert lst == [obj(src, "bcast"), ("tuple", src), 3.5 * src], lst
    return run


def gather_object_check(dst):
    def run():
        needs(dst + 1)
        out = [None] * SIZE if RANK == dst else None
        dist.gather_object(obj(RANK, "gobj"), out, dst=dst)
        if RANK == dst:
            assert out == [obj(r, "gobj") for r in range(SIZE)], out
    return run


def scatter_object_list_check(src):
    def run():
        needs(src + 1)
        out = ["untouched"]
        items = [obj(i, f"from {src}") for i in range(SIZE)] if RANK == src else None
        dist.scatter_object_list(out, items, src=src)
        assert out == [obj(RANK, f"from {src}")], out
    return run


for _root in (0, 1):
    check(f"broadcast_object_list[src{_root}]")(broadcast_object_list_check(_root))
    check(f"gather_object[dst{_root}]")(gather_object_check(_root))
    check(f"scatter_object_list[src{_root}]")(scatter_object_list_check(_root))


# -- point to point (ranks 0 and 1; others sit these out) --------------------------------------------
@check()
def send_recv():
    needs(2)
    for dtype in MOVED:
        for layout, shape in SHAPES.items():
            values = [data(r, shape, dtype, "p2p", layout) for r in range(2)]
            if RANK > 1:
                continue
            other = 1 - RANK
            mine = slots(values[RANK], layout)
            into = slots(data(RANK, shape, dtype, "p2p into"), layout)
            for sender in (0, 1):
                if RANK == sender:
                    expect(dist.send(mine.tensor, dst=other) is None, "send returned something")
                else:
                    sender = dist.recv(into.tensor, src=other)
                    expect(sender == other, f"recv returned {sender}, not the sender {other}")
            into.expect(values[other], what=f"{dtype} {layout}")
            mine.expect(values[RANK], what="the sent tensor")


@check()
def recv_any_source():
    needs(2)
    values = everyone((2, 3), "float64", "any source")
    if RANK == 0:
        senders = []
        for _ in range(SIZE - 1):
            t = ember.zeros(2, 3, dtype=ember.float64)
            sender = dist.recv(t)  # src=None: whoever sends first
            same(t.numpy(), values[sender], what=f"from rank {sender}")
            senders.append(sender)
        expect(sorted(senders) == list(range(1, SIZE)), f"recv(src=None) returned senders {senders}")
    else:
        dist.send(ember.from_numpy(values[RANK]), dst=0)


@check()
def send_recv_tags():
    """Messages are matched by tag: rank 1 sends tags 7 then 3, rank 0 receives 3 first."""
    needs(2)
    a, b = data(1, (4,), "int64", "tag 7"), data(1, (2, 2), "float32", "tag 3")
    if RANK == 1:
        works = [dist.isend(ember.from_numpy(a), dst=0, tag=7), dist.isend(ember.from_numpy(b), dst=0, tag=3)]
        for w in works:
            assert w.wait() is True
    elif RANK == 0:
        got_b, got_a = ember.zeros(2, 2), ember.zeros(4, dtype=ember.int64)
        expect(dist.recv(got_b, src=1, tag=3) == 1, "recv(src=1, tag=3) returned another sender")
        expect(dist.recv(got_a, tag=7) == 1, "recv(tag=7) returned another sender")  # any source, tag 7
        same(got_b.numpy(), b)
        same(got_a.numpy(), a)


@check()
def isend_irecv():
    needs(2)
    for dtype in ("float32", "float16", "bool", "int64"):
        for layout, shape in SHAPES.items():
            values = [data(r, shape, dtype, "isend", layout) for r in range(2)]
            if RANK > 1:
                continue
            other = 1 - RANK
            into = slots(data(RANK, shape, dtype, "irecv into"), layout)
            mine = slots(values[RANK], layout)
            receive = dist.irecv(into.tensor, src=other)
            sending = dist.isend(mine.tensor, dst=other)
            assert isinstance(receive, dist.Work) and isinstance(sending, dist.Work)
            assert receive.wait() is True and sending.wait() is True
            assert receive.is_completed() and sending.is_completed()
            into.expect(values[other], what=f"{dtype} {layout}")
            mine.expect(values[RANK], what="the sent tensor")


@check()
def p2p_invalid_peer():
    t = ember.ones(2)
    for fn in (dist.send, dist.isend):
        raises(RuntimeError, fn, t, dst=RANK, contains=(str(RANK),))  # to itself
        raises(RuntimeError, fn, t, dst=SIZE, contains=(str(SIZE),))
    raises(RuntimeError, dist.recv, t, src=RANK, contains=(str(RANK),))
    raises(RuntimeError, dist.recv, t, src=-1, contains=("-1",))


@check()
def recv_mismatched_tensor():
    """A message of another shape or dtype: recv raises naming both, and later messages still match."""
    needs(2)
    good = data(1, (3, 4), "float32", "good")
    if RANK == 1:
        dist.send(ember.ones(3, 4), dst=0)
        dist.send(ember.ones(3, 4, dtype=ember.float64), dst=0)
        dist.send(ember.from_numpy(good), dst=0)
    elif RANK == 0:
        t = ember.zeros(4, 3)
        raises(RuntimeError, dist.recv, t, src=1, contains=("[3, 4]", "[4, 3]"))
        raises(RuntimeError, dist.recv, ember.zeros(3, 4), src=1, contains=("float64", "float32"))
        t = ember.zeros(3, 4)
        expect(dist.recv(t, src=1) == 1, "recv returned another sender")
        same(t.numpy(), good)
    still_works()


# -- barrier ---------------------------------------------------------------------------------------
@check()
def barrier():
    """No rank leaves a barrier before every rank has entered it (seen through files)."""
    if TMP is None:
        raise Skip("no folder given for the barrier's files")
    for async_op in (False, True):
        if RANK == 0:
            time.sleep(0.2)  # rank 0 enters late: the others must wait for it (the sleep only makes a
            # barrier that waits for nobody show, it cannot fail a barrier that works)
        mark = os.path.join(TMP, f"barrier-{async_op}-{RANK}")
        open(mark, "w").close()
        if async_op:
            work = dist.barrier(async_op=True)
            assert isinstance(work, dist.Work) and work.wait() is True and work.is_completed()
        else:
            assert dist.barrier() is None
        missing = [r for r in range(SIZE) if not os.path.exists(os.path.join(TMP, f"barrier-{async_op}-{r}"))]
        expect(not missing, f"left the barrier (async_op={async_op}) before ranks {missing} entered it")


# -- errors on every rank: mismatches across ranks ------------------------------------------------------
@check()
def mismatched_shapes_raise_everywhere():
    needs(2)
    shape = (2, 3 + min(RANK, 1))  # rank 0 [2, 3], the others [2, 4]
    for fn, args in ((dist.all_reduce, ()), (dist.broadcast, ()), (dist.reduce, ())):
        raises(RuntimeError, fn, ember.ones(*shape), *args, contains=("[2, 3]", "[2, 4]", "rank 0", "rank 1"))
    raises(RuntimeError, dist.all_gather, [ember.zeros(*shape) for _ in range(SIZE)], ember.ones(*shape),
           contains=("[2, 3]", "[2, 4]"))
    raises(RuntimeError, dist.all_reduce, ember.ones(()) if RANK == 0 else ember.ones(1), contains=("[]", "[1]"))
    still_works()


@check()
def mismatched_dtypes_raise_everywhere():
    needs(2)
    t = ember.ones(3, dtype=ember.float32 if RANK == 0 else ember.float64)
    raises(RuntimeError, dist.all_reduce, t, contains=("float32", "float64"))
    raises(RuntimeError, dist.broadcast, t, src=0, contains=("float32", "float64"))
    still_works()


@check()
def different_collectives_raise_everywhere():
    needs(2)
    t = ember.ones(3)
    if RANK == 0:
        raises(RuntimeError, dist.all_reduce, t, contains=("all_reduce", "broadcast"))
    else:
        raises(RuntimeError, dist.broadcast, t, src=0, contains=("all_reduce", "broadcast"))
    if RANK == 0:
        raises(RuntimeError, dist.all_gather_object, [None] * SIZE, "x")
    else:
        raises(RuntimeError, dist.all_reduce, t)
    still_works()


@check()
def different_ops_or_roots_raise_everywhere():
    needs(2)
    raises(RuntimeError, dist.all_reduce, ember.ones(3), op=R.SUM if RANK == 0 else R.MAX, contains=("SUM", "MAX"))
    raises(RuntimeError, dist.broadcast, ember.ones(3), src=RANK)
    raises(RuntimeError, dist.reduce, ember.ones(3), dst=RANK)
    still_works()


# -- errors on every rank: arguments ------------------------------------------------------------------
@check()
def wrong_list_lengths():
    t = ember.ones(2)
    n = str(SIZE)
    raises(RuntimeError, dist.all_gather, [ember.zeros(2) for _ in range(SIZE + 1)], t, contains=(n,))
    raises(RuntimeError, dist.all_gather, [ember.zeros(3) for _ in range(SIZE)], t, contains=("[3]", "[2]"))
    raises(RuntimeError, dist.reduce_scatter, t, [ember.ones(2) for _ in range(SIZE + 1)], contains=(n,))
    raises(RuntimeError, dist.all_gather_into_tensor, ember.zeros(SIZE * 2 + 1), t)
    raises(RuntimeError, dist.reduce_scatter_tensor, t, ember.ones(SIZE * 2 + 1))
    # scatter and gather: the root's list has the wrong length or is missing, or the other ranks
    # wrongly pass one. Every rank raises: the rank at fault its own error, the others a RuntimeError
    # naming it (so none is left waiting in the collective)
    too_long, right = [ember.ones(2) for _ in range(SIZE + 1)], [ember.ones(2) for _ in range(SIZE)]
    others = ("rank 0 called it with invalid arguments",)
    for fn, key in ((dist.scatter, "src"), (dist.gather, "dst")):
        if RANK == 0:
            raises(RuntimeError, fn, t, too_long, **{key: 0}, contains=(n,))
            raises(ValueError, fn, t, None, **{key: 0})
            if SIZE > 1:  # the others pass a list they must not
                raises(RuntimeError, fn, t, right, **{key: 0}, contains=("invalid arguments",))
        else:
            raises(RuntimeError, fn, t, None, **{key: 0}, contains=others)
            raises(RuntimeError, fn, t, None, **{key: 0}, contains=others)
            raises(ValueError, fn, t, right, **{key: 0})
    still_works()


@check()
def invalid_src_or_dst():
    t = ember.ones(2)
    for bad in (SIZE, -1):
        raises(RuntimeError, dist.broadcast, t, src=bad, contains=(str(bad),))
        raises(RuntimeError, dist.reduce, t, dst=bad, contains=(str(bad),))
        raises(RuntimeError, dist.scatter, t, None, src=bad, contains=(str(bad),))
        raises(RuntimeError, dist.gather, t, None, dst=bad, contains=(str(bad),))
        raises(RuntimeError, dist.broadcast_object_list, [1], src=bad, contains=(str(bad),))
        raises(RuntimeError, dist.gather_object, 1, None, dst=bad, contains=(str(bad),))
        raises(RuntimeError, dist.scatter_object_list, [None], None, src=bad, contains=(str(bad),))
    still_works()


@check()
def not_a_tensor():
    raises(TypeError, dist.all_reduce, np.ones(2))
    raises(TypeError, dist.broadcast, [1.0], src=0)
    still_works()


# -- last: leaving and joining again -------------------------------------------------------------------
@check()
def destroy_and_init_again():
    dist.destroy_process_group()
    assert not dist.is_initialized()
    raises(ValueError, dist.get_rank, contains=("init_process_group",))
    raises(ValueError, dist.destroy_process_group)
    dist.init_process_group()  # backend None: the default, MPI
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (RANK, SIZE, "mpi")
    still_works()


# -- hazards: checks that hang when ember gets them wrong (a job of their own, with a short guard) ----
@check(group="hazards")
def gather_object_wrong_list_on_dst_only():
    """Only the destination's list is wrong: every rank should raise, and the next gather be clean."""
    needs(2)
    first = outcome(dist.gather_object, ("first", RANK), [None] * (SIZE + 1) if RANK == 0 else None, dst=0)
    out = [None] * SIZE if RANK == 0 else None
    dist.gather_object(("second", RANK), out, dst=0)  # both ranks make this call whatever happened above
    assert isinstance(first, RuntimeError), f"rank {RANK}: the wrong list on rank 0 raised here {first!r}"
    if RANK == 0:
        assert out == [("second", r) for r in range(SIZE)], f"the next gather_object got {out}"


@check(group="hazards")
def irecv_is_completed_does_not_block():
    """is_completed() on an irecv whose message has not been sent returns False at once."""
    needs(2)
    if RANK == 0:
        t = ember.zeros(4)
        work = dist.irecv(t, src=1)
        done = work.is_completed()  # rank 1 sends only after hearing from us below
        MPI.COMM_WORLD.send("go", dest=1)
        assert work.wait() is True
        same(t.numpy(), np.arange(4, dtype=np.float32))
        assert done is False, "is_completed() returned True before the message was sent"
    elif RANK == 1:
        MPI.COMM_WORLD.recv(source=0)
        dist.send(ember.arange(4.0), dst=0)


@check(group="hazards")
def irecv_then_send_large():
    """Both ranks post irecv, then send a large tensor, then wait: the usual exchange must not deadlock."""
    needs(2)
    if RANK > 1:
        return
    n = 1 << 18
    into = ember.zeros(n)
    work = dist.irecv(into, src=1 - RANK)
    dist.send(ember.full((n,), float(RANK + 1)), dst=1 - RANK)
    work.wait()
    assert (into.numpy() == 2 - RANK).all()


def one_sided(fn, *args, **kwargs):
    """Only rank 0's arguments are wrong: every rank should raise RuntimeError, and the group stay usable."""
    needs(2)
    raises(RuntimeError, fn, *args, **kwargs)
    out = [None] * SIZE
    dist.all_gather_object(out, RANK)
    assert out == list(range(SIZE)), out


@check(group="hazards")
def scatter_wrong_list_on_src_only():
    one_sided(dist.scatter, ember.zeros(2), [ember.ones(2)] * (SIZE + 1) if RANK == 0 else None, src=0)


@check(group="hazards")
def gather_wrong_list_on_dst_only():
    one_sided(dist.gather, ember.zeros(2), [ember.ones(2)] * (SIZE + 1) if RANK == 0 else None, dst=0)


@check(group="hazards")
def scatter_object_list_wrong_list_on_src_only():
    one_sided(dist.scatter_object_list, [None], list(range(SIZE + 1)) if RANK == 0 else None, src=0)


def main():
    global MPI, RANK, SIZE, LAUNCHER, TMP
    from mpi4py import MPI
    RANK, SIZE = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    group, LAUNCHER, TMP = (sys.argv[1:] + [None] * 3)[:3]
    group = group or "main"
    if group == "main":
        CHECKS.run("before_init")
    dist.init_process_group("mpi")
    CHECKS.run(group)
    if dist.is_initialized():
        dist.destroy_process_group()
    if RANK == 0:
        print("ALL CHECKS RAN", flush=True)


if __name__ == "__main__":
    main()
