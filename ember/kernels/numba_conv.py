"""Numba twins of the convolution kernels in conv.py (same signatures, same results).

Direct convolution, no im2col. Each sample's padded input is stored flat, channel planes
of Hp x Wp one after another, so output position q = oh * Wp + ow reads input element
q + offset(c, kh, kw) for every kernel tap: the convolution is a matrix product whose
second operand is addressed through a table of offsets instead of being copied out. The
Wp - OW positions past the end of each output row are computed and dropped, which keeps
every run of positions contiguous. In the same layout:
  forward          out[o, q] = bias[o] + sum_r w[o, r] * x[q + off[r]]
  input gradient   the forward of the gradient padded by the dilated kernel extent, with
                   the weight flipped and its two channel axes swapped (stride 1 only)
  weight gradient  gw[o, r] = sum_(n, q) g[n, o, q] * x[n, q + off[r]], g laid out with
                   rows Wp apart and zeros in the dropped columns.

The inner loops are register-blocked micro-kernels written in LLVM IR (vector types and
llvm.fma), inlined into the Numba loops through @intrinsic: LLVM's auto-vectoriser keeps
accumulators in memory when it cannot prove arrays do not alias, which ran 3-4x slower.
FMA rounds once where mul + add rounds twice; results are still bitwise reproducible.

Determinism: every output element is summed by one thread in a fixed order (taps in
weight order; the weight gradient in 16-lane partial sums over fixed chunks of samples,
added in a fixed order), so results do not depend on the thread count.

Compiled: float32, 1-d and 2-d, stride 1, groups 1, non-empty; every other case (float64
included) takes the NumPy reference, and both directions use the same test (`_fast`),
so conv_backward always receives what its own conv_forward saved.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

from . import conv as _ref
from ._numba import njit


def _lanes():
    """float32 lanes per vector register: 16 with AVX-512 on the host, else 8 (AVX2 or less)."""
    if config.CPU_NAME:  # compiling for another CPU than this one: stay generic
        return 8
    import llvmlite.binding as llvm

    return 16 if llvm.get_host_cpu_features().get("avx512f", False) else 8


W = _lanes()
# Register tiles, two shapes each so that 6 channels (LeNet's, CIFAR's first layers) waste
# nothing. Forward and input gradient: (channels, vectors of positions); with NV + 1 more
# registers for the input vectors and a broadcast weight (28 or 29 of AVX-512's 32).
# Weight gradient: (channels, taps), plus channels + 1 registers of loads.
FWD = ((8, 3), (6, 4)) if W == 16 else ((4, 3), (3, 3))
WGT = ((4, 6), (6, 4)) if W == 16 else ((2, 6), (3, 4))
T = max(nv * W for _, nv in FWD)  # the most positions per tile (buffer slack)
CHUNK = 8  # samples per weight-gradient partial sum (fixed: results must not depend on threads)

_F32 = ir.FloatType()
_I64 = ir.IntType(64)
_VEC = ir.VectorType(_F32, W)


# -- micro-kernels --------------------------------------------------------------------------------
def _data(context, builder, ty, value):
    return context.make_array(ty)(context, builder, value).data


def _const(v, bits=64):
    return ir.Constant(ir.IntType(bits), v)


def _vload(builder, ptr, index):
    return builder.load(builder.bitcast(builder.gep(ptr, [index]), _VEC.as_pointer()), align=4)


def _vstore(builder, value, ptr, index):
    builder.store(value, builder.bitcast(builder.gep(ptr, [index]), _VEC.as_pointer()), align=4)


def _broadcast(builder, scalar):
    one = builder.insert_element(ir.Constant(scalar.type if isinstance(scalar.type, ir.VectorType)
                                             else ir.VectorType(scalar.type, W), ir.Undefined), scalar, _const(0, 32))
    return builder.shuffle_vector(one, ir.Constant(one.type, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), W), None))


def _fma(builder):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC] * 3), f"llvm.fma.v{W}f32")


def _registers(builder, values):
    """Allocas holding the accumulators: LLVM promotes them to vector registers."""
    regs = []
    for v in values:
        slot = cgutils.alloca_once(builder, _VEC)
        builder.store(v, slot)
        regs.append(slot)
    return regs


def _tap_loop(builder, regs, shape, wt_p, x_p, offs_p, xbase, wbase, count):
    """regs[o * nv + j] += sum_(r < count) wt[wbase + r * ob + o] * x[xbase + offs[r] + j * W + lane]."""
    ob, nv = shape
    fma = _fma(builder)
    with cgutils.for_range(builder, count) as loop:
        r = loop.index
        start = builder.add(xbase, builder.load(builder.gep(offs_p, [r])))
        xs = [_vload(builder, x_p, builder.add(start, _const(j * W))) for j in range(nv)]
        row = builder.add(wbase, builder.mul(r, _const(ob)))
        for o in range(ob):
            wb = _broadcast(builder, builder.load(builder.gep(wt_p, [builder.add(row, _const(o))])))
            for j in range(nv):
                slot = regs[o * nv + j]
                builder.store(builder.call(fma, [wb, xs[j], builder.load(slot)]), slot)


def _masked(builder, kind):
    """llvm.masked.load / llvm.masked.store of one vector."""
    mask_t, ptr_t = ir.VectorType(ir.IntType(1), W), _VEC.as_pointer()
    if kind == "load":
        fnty = ir.FunctionType(_VEC, [ptr_t, ir.IntType(32), mask_t, _VEC])
    else:
        fnty = ir.FunctionType(ir.VoidType(), [_VEC, ptr_t, ir.IntType(32), mask_t])
    return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.{kind}.v{W}f32.p0")


def _lanes_between(builder, lo, hi):
    """The mask lo <= lane < hi."""
    lanes = ir.Constant(ir.VectorType(_I64, W), list(range(W)))
    return builder.and_(builder.icmp_signed(">=", lanes, _broadcast(builder, lo)),
                        builder.icmp_signed("<", lanes, _broadcast(builder, hi)))


def _make_taps(shape):
    """Forward tile of shape (ob, nv): for positions q = q0 + p, p < nv * W (rows wp apart),
    out[obase + o * ostride + (q // wp) * ow + q % wp] = bias[bbase + o]
    + sum_(r < count) wt[wbase + r * ob + o] * x[xbase + offs[r] + p], for o < oc and the kept
    positions (q % wp < ow, q // wp < oh), stored from the registers with masked stores."""
    ob, nv = shape

    @intrinsic
    def taps(typingctx, wt, x, offs, xbase, wbase, count, bias, bbase, out, obase, ostride, oc, q0, wp, ow, oh):
        sig = types.void(wt, x, offs, types.intp, types.intp, types.intp, bias, types.intp, out,
                         *(types.intp,) * 7)

        def codegen(context, builder, sig, args):
            wt_p, x_p, offs_p, bias_p, out_p = (_data(context, builder, sig.args[i], args[i]) for i in (0, 1, 2, 6, 8))
            xbase, wbase, count, bbase = args[3], args[4], args[5], args[7]
            obase, ostride, oc, q0, wp, ow, oh = args[9:16]
            init = [_broadcast(builder, builder.load(builder.gep(bias_p, [builder.add(bbase, _const(o))])))
                    for o in range(ob) for _ in range(nv)]
            regs = _registers(builder, init)
            _tap_loop(builder, regs, shape, wt_p, x_p, offs_p, xbase, wbase, count)
            store = _masked(builder, "store")
            ptr_t = _VEC.as_pointer()
            for j in range(nv):
                first = builder.add(q0, _const(j * W))
                row0 = builder.sdiv(first, wp)
                col0 = builder.sub(first, builder.mul(row0, wp))
                # the vector's lanes fall in rows row0, row0 + 1, ...: lane l is column
                # l - start of row row0 + k, with start = k * wp - col0
                rows = builder.add(builder.sdiv(builder.add(col0, _const(W - 1)), wp), _const(1))
                with cgutils.for_range(builder, rows) as loop:
                    row = builder.add(row0, loop.index)
                    start = builder.sub(builder.mul(loop.index, wp), col0)
                    mask = builder.and_(_lanes_between(builder, start, builder.add(start, ow)),
                                        _broadcast(builder, builder.icmp_signed("<", row, oh)))
                    at = builder.sub(builder.add(obase, builder.mul(row, ow)), start)
                    for o in range(ob):
                        keep = builder.and_(mask, _broadcast(builder, builder.icmp_signed("<", _const(o), oc)))
                        ptr = builder.bitcast(builder.gep(out_p, [builder.add(at, builder.mul(ostride, _const(o)))]),
                                              ptr_t)
                        builder.call(store, [builder.load(regs[o * nv + j]), ptr, _const(4, 32), keep])
            return context.get_dummy_value()

        return sig, codegen

    return taps


def _make_taps_add(shape):
    """Input-gradient tile of shape (ob, nv), added in place: dst[dbase + doffs[droff + o] + p]
    += sum_(r < count) wt[wbase + r * ob + o] * x[xbase + offs[r] + p], p < nv * W."""
    ob, nv = shape

    @intrinsic
    def taps_add(typingctx, wt, x, offs, xbase, wbase, count, dst, doffs, droff, dbase):
        sig = types.void(wt, x, offs, types.intp, types.intp, types.intp, dst, doffs, types.intp, types.intp)

        def codegen(context, builder, sig, args):
            wt_p, x_p, offs_p, dst_p, doffs_p = (_data(context, builder, sig.args[i], args[i])
                                                 for i in (0, 1, 2, 6, 7))
            xbase, wbase, count, droff, dbase = args[3], args[4], args[5], args[8], args[9]
            regs = _registers(builder, [ir.Constant(_VEC, None)] * (ob * nv))
            _tap_loop(builder, regs, shape, wt_p, x_p, offs_p, xbase, wbase, count)
            for o in range(ob):
                at = builder.add(dbase, builder.load(builder.gep(doffs_p, [builder.add(droff, _const(o))])))
                for j in range(nv):
                    index = builder.add(at, _const(j * W))
                    total = builder.fadd(_vload(builder, dst_p, index), builder.load(regs[o * nv + j]))
                    _vstore(builder, total, dst_p, index)
            return context.get_dummy_value()

        return sig, codegen

    return taps_add


@intrinsic
def _copy(typingctx, dst, dbase, src, sbase, count):
    """dst[dbase + k] = src[sbase + k], k < count: whole vectors, then one masked."""
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        dst_p, src_p = _data(context, builder, sig.args[0], args[0]), _data(context, builder, sig.args[2], args[2])
        dbase, sbase, count = args[1], args[3], args[4]
        whole = builder.sdiv(count, _const(W))
        with cgutils.for_range(builder, whole) as loop:
            k = builder.mul(loop.index, _const(W))
            _vstore(builder, _vload(builder, src_p, builder.add(sbase, k)), dst_p, builder.add(dbase, k))
        done = builder.mul(whole, _const(W))
        mask = _lanes_between(builder, _const(0), builder.sub(count, done))
        ptr_t = _VEC.as_pointer()
        s_ = builder.bitcast(builder.gep(src_p, [builder.add(sbase, done)]), ptr_t)
        d = builder.bitcast(builder.gep(dst_p, [builder.add(dbase, done)]), ptr_t)
        v = builder.call(_masked(builder, "load"), [s_, _const(4, 32), mask, ir.Constant(_VEC, None)])
        builder.call(_masked(builder, "store"), [v, d, _const(4, 32), mask])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _lane_sum(typingctx, src, base, count):
    """sum(src[base:base + count]), count a multiple of W: W running lane sums, then the
    lanes in order (a fixed order, unlike a reassociated reduction)."""
    sig = types.float32(src, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        src_p, base, count = _data(context, builder, sig.args[0], args[0]), args[1], args[2]
        (acc,) = _registers(builder, [ir.Constant(_VEC, None)])
        with cgutils.for_range(builder, builder.sdiv(count, _const(W))) as loop:
            v = _vload(builder, src_p, builder.add(base, builder.mul(loop.index, _const(W))))
            builder.store(builder.fadd(builder.load(acc), v), acc)
        lanes = builder.load(acc)
        total = builder.extract_element(lanes, _const(0, 32))
        for lane in range(1, W):
            total = builder.fadd(total, builder.extract_element(lanes, _const(lane, 32)))
        return total

    return sig, codegen


def _tree_sum(builder, v):
    """The lanes of v added as a fixed tree (halves, then quarters, ...): a reproducible order."""
    width = W
    while width > 1:
        width //= 2
        low = builder.shuffle_vector(v, ir.Constant(v.type, ir.Undefined), ir.Constant(
            ir.VectorType(ir.IntType(32), width), list(range(width))))
        high = builder.shuffle_vector(v, ir.Constant(v.type, ir.Undefined), ir.Constant(
            ir.VectorType(ir.IntType(32), width), list(range(width, 2 * width))))
        v = builder.fadd(low, high)
    return builder.extract_element(v, _const(0, 32))


def _make_dots(shape):
    """Weight-gradient tile of shape (gb, rb) over a run of samples, summed in W lanes and
    then across them (_tree_sum): part[pbase + o * pstride + j] = sum_(n < samples, s < count)
    g[gbase + n * gstride + o * gplane + s * W + l] * x[xbase + n * xstride + offs[roff + j]
    + s * W + l], o < gb, j < rb."""
    gb, rb = shape

    @intrinsic
    def dots(typingctx, g, x, offs, gbase, gplane, gstride, xbase, xstride, samples, roff, count, part, pbase,
             pstride):
        sig = types.void(g, x, offs, *(types.intp,) * 8, part, types.intp, types.intp)

        def codegen(context, builder, sig, args):
            g_p, x_p, offs_p, part_p = (_data(context, builder, sig.args[i], args[i]) for i in (0, 1, 2, 11))
            gbase, gplane, gstride, xbase, xstride, samples, roff, count = args[3:11]
            pbase, pstride = args[12], args[13]
            fma = _fma(builder)
            regs = _registers(builder, [ir.Constant(_VEC, None)] * (gb * rb))
            taps = [builder.load(builder.gep(offs_p, [builder.add(roff, _const(j))])) for j in range(rb)]
            with cgutils.for_range(builder, samples) as sample:
                g0 = builder.add(gbase, builder.mul(sample.index, gstride))
                x0 = builder.add(xbase, builder.mul(sample.index, xstride))
                rows = [builder.add(g0, builder.mul(gplane, _const(o))) for o in range(gb)]
                starts = [builder.add(x0, tap) for tap in taps]
                with cgutils.for_range(builder, count) as loop:
                    q = builder.mul(loop.index, _const(W))
                    gs = [_vload(builder, g_p, builder.add(row, q)) for row in rows]
                    for j in range(rb):
                        xv = _vload(builder, x_p, builder.add(starts[j], q))
                        for o in range(gb):
                            slot = regs[o * rb + j]
                            builder.store(builder.call(fma, [gs[o], xv, builder.load(slot)]), slot)
            for o in range(gb):
                row = builder.add(pbase, builder.mul(pstride, _const(o)))
                for j in range(rb):
                    total = _tree_sum(builder, builder.load(regs[o * rb + j]))
                    builder.store(total, builder.gep(part_p, [builder.add(row, _const(j))]))
            return context.get_dummy_value()

        return sig, codegen

    return dots


(OB_A, NV_A), (OB_B, NV_B) = FWD
T_A, T_B = NV_A * W, NV_B * W
(GB_A, RB_A), (GB_B, RB_B) = WGT
_taps_a, _taps_b = _make_taps(FWD[0]), _make_taps(FWD[1])
_taps_add = _make_taps_add(FWD[0])
_dots_a, _dots_b = _make_dots(WGT[0]), _make_dots(WGT[1])


# -- compiled loops -------------------------------------------------------------------------------
@njit
def _pack_sample(x, n, dst, base, top, left, hp, wp, plane, channels):
    """dst[base + c * plane + a * wp + b] = x[n, c, a - top, b - left], zero around it (x
    C-contiguous, top/left >= 0), to the end of each plane, and in planes C..channels."""
    c_, h, w = x.shape[1], x.shape[2], x.shape[3]
    for c in range(channels):
        p = base + c * plane
        if c >= c_:
            dst[p:p + plane] = 0
            continue
        dst[p:p + top * wp] = 0
        for i in range(h):
            row = p + (top + i) * wp
            for b in range(left):
                dst[row + b] = 0
            _copy(dst, row + left, x[n, c, i], 0, w)
            for b in range(left + w, wp):
                dst[row + b] = 0
        dst[p + (top + h) * wp:p + plane] = 0


@njit
def _forward(start, stop, x, top, left, hp, wp, stride, wt, offs, bias, out, narrow, buf):
    """Samples start..stop of out (N, O, OH, OW) = bias + taps of wt over x padded by (top,
    left) into planes of hp x wp, kept in buf (samples `stride` apart). Tiles of FWD[narrow]:
    wt packed (O/ob, R, ob), bias padded to O/ob blocks."""
    c_ = x.shape[1]
    o_, oh_, ow_ = out.shape[1], out.shape[2], out.shape[3]
    ob, t_ = (OB_B, T_B) if narrow else (OB_A, T_A)
    plane = hp * wp
    flat = out.reshape(out.size)
    r_ = offs.shape[0]
    tiles = ((oh_ - 1) * wp + ow_ + t_ - 1) // t_
    for n in range(start, stop):
        _pack_sample(x, n, buf, n * stride, top, left, hp, wp, plane, c_)
        buf[n * stride + c_ * plane:(n + 1) * stride] = 0
        for b in range((o_ + ob - 1) // ob):
            o0 = b * ob
            obase = (n * o_ + o0) * oh_ * ow_
            for t in range(tiles):
                if narrow:
                    _taps_b(wt, buf, offs, n * stride + t * t_, b * r_ * ob, r_, bias, o0, flat, obase, oh_ * ow_,
                            o_ - o0, t * t_, wp, ow_, oh_)
                else:
                    _taps_a(wt, buf, offs, n * stride + t * t_, b * r_ * ob, r_, bias, o0, flat, obase, oh_ * ow_,
                            o_ - o0, t * t_, wp, ow_, oh_)


@njit
def _backward(start, stop, grad, buf, stride, taps_x, taps_w, wt, plane, wp, top, left, gplane, gx, part_w, part_b,
              narrow):
    """Chunks start..stop (CHUNK samples each) of the gradients of _forward from grad
    (N, O, OH, OW), C-contiguous; an empty gx, part_w or part_b is not computed. Per chunk: their gradient is laid out like the
    forward's positions (rows wp apart, zero in the dropped columns, then up to gplane;
    channels padded to part_w's), then
    gx     (N, C, H, W): col2im by taps. For each tile of T_A positions and block of OB_A
           taps (taps_x, padded to whole blocks with the offset of a spare area), the tap
           sums over output channels (a register tile; wt is the weight as (R/OB_A, O,
           OB_A)) are added into the sample's padded input gradient at the taps' offsets,
           and the padding is cropped off;
    part_w (chunks, O padded to gb, len(taps_w) a multiple of rb): sums over the chunk's
           positions, in register tiles of WGT[narrow] = (gb, rb): gb channels x rb taps;
    part_b (chunks, O): per-sample lane sums of each channel, added in sample order.
    The caller adds the chunks' partial sums in order."""
    n_, o_, oh_, ow_ = grad.shape
    c_, h, w = gx.shape[1], gx.shape[2], gx.shape[3]
    gb, rb = (GB_B, RB_B) if narrow else (GB_A, RB_A)
    length = (oh_ - 1) * wp + ow_
    tiles = (length + T_A - 1) // T_A
    channels = (o_ + gb - 1) // gb * gb
    gstride = channels * gplane
    for ch in range(start, stop):
        n0 = ch * CHUNK
        count = min(n_, n0 + CHUNK) - n0
        g2 = np.empty(count * gstride, np.float32)
        for k in range(count):
            _pack_sample(grad, n0 + k, g2, k * gstride, 0, 0, oh_, wp, gplane, channels)
            if part_b.shape[0]:
                for o in range(o_):
                    part_b[ch, o] += _lane_sum(g2, k * gstride + o * gplane, gplane)
        if gx.shape[0]:
            goffs = np.arange(o_) * gplane
            pad = np.empty(c_ * plane + T + W + tiles * T_A, np.float32)
            flat = gx.reshape(gx.size)
            for k in range(count):
                pad[:] = 0
                for t in range(tiles):
                    for blk in range(taps_x.shape[0] // OB_A):
                        _taps_add(wt, g2, goffs, k * gstride + t * T_A, blk * o_ * OB_A, o_, pad, taps_x, blk * OB_A,
                                  t * T_A)
                for c in range(c_):
                    for i in range(h):
                        _copy(flat, (((n0 + k) * c_ + c) * h + i) * w, pad, c * plane + (i + top) * wp + left, w)
        if part_w.shape[0]:
            flat = part_w.reshape(part_w.size)
            taps = part_w.shape[2]
            for b in range(channels // gb):
                for blk in range(taps // rb):
                    at = (ch * channels + b * gb) * taps + blk * rb
                    if narrow:
                        _dots_b(g2, buf, taps_w, b * gb * gplane, gplane, gstride, n0 * stride, stride, count,
                                blk * rb, (length + W - 1) // W, flat, at, taps)
                    else:
                        _dots_a(g2, buf, taps_w, b * gb * gplane, gplane, gstride, n0 * stride, stride, count,
                                blk * rb, (length + W - 1) // W, flat, at, taps)


# -- threads --------------------------------------------------------------------------------------
_pool = None  # (pid, ThreadPoolExecutor): a forked child makes its own
_pool_lock = threading.Lock()


def _run(fn, jobs, *args):
    """fn(start, stop, *args) over jobs 0..jobs, split into contiguous ranges, one per thread
    (Numba's thread count, which ember.set_num_threads sets); the calling thread takes the
    first. The compiled loops release the GIL. Jobs write disjoint outputs, so results do
    not depend on the split."""
    global _pool
    threads = min(numba.get_num_threads(), jobs)
    if threads <= 1:
        fn(0, jobs, *args)
        return
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            workers = max(1, numba.config.NUMBA_NUM_THREADS - 1)
            _pool = (os.getpid(), ThreadPoolExecutor(workers, thread_name_prefix="ember-conv"))
        pool = _pool[1]
    bounds = [jobs * i // threads for i in range(threads + 1)]
    futures = [pool.submit(fn, bounds[i], bounds[i + 1], *args) for i in range(1, threads)]
    try:
        fn(0, bounds[1], *args)
    finally:
        for f in futures:
            f.result()


# -- the twins ------------------------------------------------------------------------------------
def _fast(x_dtype, weight, stride, groups, sizes):
    """The cases compiled here; conv_forward and conv_backward must agree on them."""
    return (x_dtype == np.float32 and weight.dtype == np.float32 and weight.ndim in (3, 4) and groups == 1
            and all(s == 1 for s in stride) and 0 not in sizes and 0 not in weight.shape)


def _as_2d(shape, padding, dilation):
    """(N, C, *S) with 1 or 2 spatial dims -> 2-d (N, C, H, W), pads, dilation."""
    if len(shape) == 3:
        return (shape[0], shape[1], 1, shape[2]), ((0, 0),) + tuple(padding), (1,) + tuple(dilation)
    return tuple(shape), tuple(padding), tuple(dilation)


def _weight_2d(weight):
    return weight[:, :, None] if weight.ndim == 3 else weight


def _geometry(shape, kernel, padding, dilation):
    """Layout of the padded input: (Hp, Wp, OH, OW, plane, stride between samples)."""
    (_, c, h, w), (kh, kw), ((pt, pb), (pl, pr)), (dh, dw) = shape, kernel, padding, dilation
    hp, wp = h + pt + pb, w + pl + pr
    oh, ow = hp - dh * (kh - 1), wp - dw * (kw - 1)
    # slack past the last plane: a tile runs up to T - 1 positions (and the weight gradient
    # up to W - 1) past the last real output, reading that far beyond the plane
    return hp, wp, oh, ow, hp * wp, c * hp * wp + T + W


def _offsets(c, kernel, dilation, wp, plane):
    """Flat offset of each tap r = (c, kh, kw), in weight order."""
    (kh, kw), (dh, dw) = kernel, dilation
    return (np.arange(c)[:, None, None] * plane + np.arange(kh)[None, :, None] * (dh * wp)
            + np.arange(kw)[None, None, :] * dw).ravel().astype(np.int64)


def _pick(sizes, shapes):
    """Whether shapes[1] pads sizes (one per tile dimension) to less work than shapes[0]."""
    work = [np.prod([-(-n // m) * m for n, m in zip(sizes, shape)]) for shape in shapes]
    return bool(work[1] < work[0])


def _pack_weight(w2, ob):
    """(O, R) -> flat (O/ob blocks, R, ob), zero rows past O."""
    o, r = w2.shape
    blocks = -(-o // ob)
    wt = np.zeros((blocks * ob, r), np.float32)
    wt[:o] = w2
    return np.ascontiguousarray(wt.reshape(blocks, ob, r).transpose(0, 2, 1)).ravel()


def conv_forward(x, weight, bias, stride, padding, dilation, groups):
    if not _fast(x.dtype, weight, stride, groups, x.shape):
        return _ref.conv_forward(x, weight, bias, stride, padding, dilation, groups)
    shape, pads, dil = _as_2d(x.shape, padding, dilation)
    w4 = _weight_2d(weight)
    o = w4.shape[0]
    hp, wp, oh, ow, plane, stride_x = _geometry(shape, w4.shape[2:], pads, dil)
    narrow = _pick((o,), (FWD[0][:1], FWD[1][:1]))
    ob = FWD[narrow][0]
    b = np.zeros(-(-o // ob) * ob, np.float32)  # padded to whole channel blocks
    if bias is not None:
        b[:o] = bias
    out = np.empty((shape[0], o, oh, ow), np.float32)
    buf = np.empty(shape[0] * stride_x, np.float32)
    _run(_forward, shape[0], np.ascontiguousarray(x.reshape(shape)), pads[0][0], pads[1][0], hp, wp, stride_x,
         _pack_weight(w4.reshape(o, -1), ob), _offsets(shape[1], w4.shape[2:], dil, wp, plane), b, out, narrow, buf)
    return (out[:, :, 0] if x.ndim == 3 else out), buf


def conv_backward(grad, cols, weight, input_shape, stride, padding, dilation, groups, needs):
    if not _fast(cols.dtype, weight, stride, groups, input_shape):
        return _ref.conv_backward(grad, cols, weight, input_shape, stride, padding, dilation, groups, needs)
    shape, pads, dil = _as_2d(input_shape, padding, dilation)
    w4 = _weight_2d(weight)
    o, c, kh, kw = w4.shape
    hp, wp, oh, ow, plane, stride_x = _geometry(shape, (kh, kw), pads, dil)
    offs = _offsets(c, (kh, kw), dil, wp, plane)
    r = offs.shape[0]
    narrow = _pick((o, r), WGT)
    gb, rb = WGT[narrow]
    # the gradient's plane: zero past the outputs for a tile's overrun (gx) and the last
    # W-step (weight gradient)
    gplane = -(-max(oh * wp, (oh - 1) * wp + ow + T) // W) * W
    chunks = -(-shape[0] // CHUNK)
    gx = np.empty(shape, np.float32) if needs[0] else np.empty((0, 0, 0, 0), np.float32)
    # taps padded to whole blocks: for gx they point at a spare area past the sample's planes
    # (their weights are zero, but 0 * inf would be NaN), for the weight gradient at tap 0
    taps_x = np.concatenate([offs, np.full(-r % OB_A, c * plane + T + W, np.int64)])
    taps_w = np.concatenate([offs, np.zeros(-r % rb, np.int64)])
    part_w = (np.zeros((chunks, -(-o // gb) * gb, taps_w.shape[0]), np.float32) if needs[1]
              else np.empty((0, 0, 0), np.float32))
    part_b = np.zeros((chunks, o), np.float32) if needs[2] else np.empty((0, 0), np.float32)
    wt = _pack_weight(w4.reshape(o, -1).T, OB_A) if needs[0] else np.empty(0, np.float32)
    _run(_backward, chunks, np.ascontiguousarray(grad[:, :, None] if grad.ndim == 3 else grad), cols, stride_x,
         taps_x, taps_w, wt, plane, wp, pads[0][0], pads[1][0], gplane, gx, part_w, part_b, narrow)
    gw = part_w.sum(axis=0)[:o, :r].reshape(weight.shape) if needs[1] else None
    gb = part_b.sum(axis=0) if needs[2] else None
    return (gx.reshape(input_shape) if needs[0] else None), gw, gb
