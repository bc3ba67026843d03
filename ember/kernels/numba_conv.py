"""Numba twins of the convolution kernels in conv.py (same signatures, same results).

Direct convolution, no im2col. Each sample's padded input is stored flat, channel planes
of Hp x Wp one after another, so output position q = oh * Wp + ow reads input element
q + off[r] for kernel tap r = (c, kh, kw): the convolution is a matrix product whose
second operand is addressed through a table of offsets instead of being copied out.
Positions go in vectors of W (16 float32 with AVX-512): one run over all rows, computing
and dropping the Wp - OW positions past each output row, or whole rows of ceil(OW / W)
vectors where that makes fewer (VGG's 16- and 32-wide rows). In that layout:
  forward          out[o, q] = bias[o] + sum_r w[o, r] * x[q + off[r]], stored straight
                   from the registers (masked stores skip the dropped positions);
  input gradient   col2im by taps: for a tile of positions, the sums over output channels
                   sum_o w[o, r] * g[o, q] are added into the padded input gradient at
                   q + off[r], which is then cropped;
  weight gradient  gw[o, r] = sum_(n, q) g[n, o, q] * x[n, q + off[r]], with g laid out
                   vector by vector (zeros in the dropped positions).
The padded input is what conv_forward returns for backward (in place of the reference's
columns): about the input's size, not kernel-size times it.

The inner loops are register-blocked micro-kernels written in LLVM IR (vector types and
llvm.fma), inlined into the Numba loops through @intrinsic: LLVM's auto-vectoriser kept
the accumulators in memory (it cannot prove the arrays do not alias) and ran 3-4x slower.
Tiles come in two shapes and each layer takes the one that pads its channel (and tap)
count less: 6 channels (the LeNet and CIFAR nets' first layers) waste nothing. FMA rounds once where
mul + add rounds twice: results differ from the reference in the last bits, and are
bitwise reproducible.

Threads: jobs (samples; chunks of CHUNK samples for the backward) are split into one
contiguous range per thread and run by serial compiled loops that release the GIL, on a
small thread pool sized by Numba's thread count (ember.set_num_threads). Measured against
prange: the same speed, a lower launch cost (about 15 us against 30 us, none with one
thread), and a third of the first-call compile time. Every output element is summed by
one thread in a fixed order (taps in weight order; weight and bias gradients in W-lane
partial sums over fixed chunks of samples, lanes added as a fixed tree, chunks in order),
so results do not depend on the thread count.

Compiled: float32, 1-d and 2-d, stride 1, groups 1, no empty dimension; every other case
(float64 included) takes the NumPy reference, and both directions decide with the same
test (`_fast`), so conv_backward always receives what its own conv_forward saved.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from . import _numba  # noqa: F401,I001  (first: it sets Numba's environment before Numba loads)
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
    """A vector of W copies of scalar."""
    one = builder.insert_element(ir.Constant(ir.VectorType(scalar.type, W), ir.Undefined), scalar, _const(0, 32))
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


def _tap_loop(builder, regs, shape, wt_p, x_p, offs_p, xbase, wbase, count, firsts):
    """regs[o * nv + j] += sum_(r < count) wt[wbase + r * ob + o] * x[xbase + offs[r] + firsts[j] + lane]."""
    ob, nv = shape
    fma = _fma(builder)
    with cgutils.for_range(builder, count) as loop:
        r = loop.index
        start = builder.add(xbase, builder.load(builder.gep(offs_p, [r])))
        xs = [_vload(builder, x_p, builder.add(start, first)) for first in firsts]
        row = builder.add(wbase, builder.mul(r, _const(ob)))
        for o in range(ob):
            wb = _broadcast(builder, builder.load(builder.gep(wt_p, [builder.add(row, _const(o))])))
            for j in range(nv):
                slot = regs[o * nv + j]
                builder.store(builder.call(fma, [wb, xs[j], builder.load(slot)]), slot)


def _firsts(builder, starts_p, sbase, count):
    """starts[sbase + j], j < count: a tile's vectors' first positions."""
    return [builder.load(builder.gep(starts_p, [builder.add(sbase, _const(j))])) for j in range(count)]


def _masked(builder, kind):
    """llvm.masked.load / llvm.masked.store of one vector."""
    mask_t, ptr_t = ir.VectorType(ir.IntType(1), W), _VEC.as_pointer()
    if kind == "load":
        fnty = ir.FunctionType(_VEC, [ptr_t, ir.IntType(32), mask_t, _VEC])
    else:
        fnty = ir.FunctionType(ir.VoidType(), [_VEC, ptr_t, ir.IntType(32), mask_t])
    # LLVM names the pointer type in the overload: opaque since LLVM 15, typed before
    import llvmlite.binding as llvm

    pointer = "p0" if llvm.llvm_version_info[0] >= 15 else f"p0v{W}f32"
    return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.{kind}.v{W}f32.{pointer}")


def _lanes_between(builder, lo, hi):
    """The mask lo <= lane < hi."""
    lanes = ir.Constant(ir.VectorType(_I64, W), list(range(W)))
    return builder.and_(builder.icmp_signed(">=", lanes, _broadcast(builder, lo)),
                        builder.icmp_signed("<", lanes, _broadcast(builder, hi)))


def _make_taps(shape):
    """Forward tile of shape (ob, nv): nv vectors of W positions q = starts[sbase + j] + l
    (rows wp apart), out[obase + o * ostride + (q // wp) * ow + q % wp] = bias[bbase + o]
    + sum_(r < count) wt[wbase + r * ob + o] * x[xbase + offs[r] + q], for o < oc and the kept
    positions (q % wp < ow, q // wp < oh), stored from the registers with masked stores. A
    vector may run over the end of its row into the next: those positions are the next
    row's first, stored with their own values."""
    ob, nv = shape

    @intrinsic
    def taps(typingctx, wt, x, offs, xbase, wbase, count, starts, sbase, bias, bbase, out, obase, ostride, oc, wp,
             ow, oh):
        sig = types.void(wt, x, offs, types.intp, types.intp, types.intp, starts, types.intp, bias, types.intp, out,
                         *(types.intp,) * 6)

        def codegen(context, builder, sig, args):
            wt_p, x_p, offs_p, starts_p, bias_p, out_p = (_data(context, builder, sig.args[i], args[i])
                                                          for i in (0, 1, 2, 6, 8, 10))
            xbase, wbase, count, sbase, bbase = args[3], args[4], args[5], args[7], args[9]
            obase, ostride, oc, wp, ow, oh = args[11:17]
            init = [_broadcast(builder, builder.load(builder.gep(bias_p, [builder.add(bbase, _const(o))])))
                    for o in range(ob) for _ in range(nv)]
            regs = _registers(builder, init)
            firsts = _firsts(builder, starts_p, sbase, nv)
            _tap_loop(builder, regs, shape, wt_p, x_p, offs_p, xbase, wbase, count, firsts)
            store = _masked(builder, "store")
            ptr_t = _VEC.as_pointer()
            for j, first in enumerate(firsts):
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
    """Input-gradient tile of shape (ob, nv), added in place. Vector j of the tile reads x at
    (sbase + j) * W + l (x is laid out vector by vector) and adds into position
    q = starts[sbase + j] + l: dst[dbase + doffs[droff + o] + q] += sum_(r < count)
    wt[wbase + r * ob + o] * x[xbase + offs[r] + (sbase + j) * W + l]. Vectors must not overlap."""
    ob, nv = shape

    @intrinsic
    def taps_add(typingctx, wt, x, offs, xbase, wbase, count, starts, sbase, dst, doffs, droff, dbase):
        sig = types.void(wt, x, offs, types.intp, types.intp, types.intp, starts, types.intp, dst, doffs, types.intp,
                         types.intp)

        def codegen(context, builder, sig, args):
            wt_p, x_p, offs_p, starts_p, dst_p, doffs_p = (_data(context, builder, sig.args[i], args[i])
                                                           for i in (0, 1, 2, 6, 8, 9))
            xbase, wbase, count, sbase, droff, dbase = args[3], args[4], args[5], args[7], args[10], args[11]
            regs = _registers(builder, [ir.Constant(_VEC, None)] * (ob * nv))
            reads = [builder.mul(builder.add(sbase, _const(j)), _const(W)) for j in range(nv)]
            _tap_loop(builder, regs, shape, wt_p, x_p, offs_p, xbase, wbase, count, reads)
            firsts = _firsts(builder, starts_p, sbase, nv)
            for o in range(ob):
                at = builder.add(dbase, builder.load(builder.gep(doffs_p, [builder.add(droff, _const(o))])))
                for j, first in enumerate(firsts):
                    index = builder.add(at, first)
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


@intrinsic
def _lane_sum(typingctx, src, base, count):
    """sum(src[base:base + count]), count a multiple of W: W running lane sums, then _tree_sum."""
    sig = types.float32(src, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        src_p, base, count = _data(context, builder, sig.args[0], args[0]), args[1], args[2]
        (acc,) = _registers(builder, [ir.Constant(_VEC, None)])
        with cgutils.for_range(builder, builder.sdiv(count, _const(W))) as loop:
            v = _vload(builder, src_p, builder.add(base, builder.mul(loop.index, _const(W))))
            builder.store(builder.fadd(builder.load(acc), v), acc)
        return _tree_sum(builder, builder.load(acc))

    return sig, codegen


def _make_dots(shape):
    """Weight-gradient tile of shape (gb, rb) over a run of samples and the vectors of
    positions q = starts[s] + l, s < count (g laid out vector by vector), summed in W lanes
    and then across them (_tree_sum): part[pbase + o * pstride + j] = sum_(n, s, l)
    g[gbase + n * gstride + o * gplane + s * W + l] * x[xbase + n * xstride + offs[roff + j]
    + q], o < gb, j < rb. Vectors must not overlap."""
    gb, rb = shape

    @intrinsic
    def dots(typingctx, g, x, offs, gbase, gplane, gstride, xbase, xstride, samples, roff, starts, count, part,
             pbase, pstride):
        sig = types.void(g, x, offs, *(types.intp,) * 7, starts, types.intp, part, types.intp, types.intp)

        def codegen(context, builder, sig, args):
            g_p, x_p, offs_p, starts_p, part_p = (_data(context, builder, sig.args[i], args[i])
                                                  for i in (0, 1, 2, 10, 12))
            gbase, gplane, gstride, xbase, xstride, samples, roff = args[3:10]
            count, pbase, pstride = args[11], args[13], args[14]
            fma = _fma(builder)
            regs = _registers(builder, [ir.Constant(_VEC, None)] * (gb * rb))
            taps = [builder.load(builder.gep(offs_p, [builder.add(roff, _const(j))])) for j in range(rb)]
            with cgutils.for_range(builder, samples) as sample:
                g0 = builder.add(gbase, builder.mul(sample.index, gstride))
                x0 = builder.add(xbase, builder.mul(sample.index, xstride))
                rows = [builder.add(g0, builder.mul(gplane, _const(o))) for o in range(gb)]
                begins = [builder.add(x0, tap) for tap in taps]
                with cgutils.for_range(builder, count) as loop:
                    q = builder.load(builder.gep(starts_p, [loop.index]))
                    at = builder.mul(loop.index, _const(W))
                    gs = [_vload(builder, g_p, builder.add(row, at)) for row in rows]
                    for j in range(rb):
                        xv = _vload(builder, x_p, builder.add(begins[j], q))
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
def _forward(start, stop, x, top, left, hp, wp, stride, wt, offs, bias, out, narrow, buf, starts):
    """Samples start..stop of out (N, O, OH, OW) = bias + taps of wt over x padded by (top,
    left) into planes of hp x wp, kept in buf (samples `stride` apart). Tiles of FWD[narrow]
    = (ob, nv) over the vectors of positions starts (a multiple of nv of them); wt packed
    (O/ob, R, ob), bias padded to O/ob blocks."""
    c_ = x.shape[1]
    o_, oh_, ow_ = out.shape[1], out.shape[2], out.shape[3]
    ob, nv = (OB_B, NV_B) if narrow else (OB_A, NV_A)
    plane = hp * wp
    flat = out.reshape(out.size)
    r_ = offs.shape[0]
    for n in range(start, stop):
        _pack_sample(x, n, buf, n * stride, top, left, hp, wp, plane, c_)
        buf[n * stride + c_ * plane:(n + 1) * stride] = 0
        for b in range((o_ + ob - 1) // ob):
            o0 = b * ob
            obase = (n * o_ + o0) * oh_ * ow_
            for t in range(starts.shape[0] // nv):
                if narrow:
                    _taps_b(wt, buf, offs, n * stride, b * r_ * ob, r_, starts, t * nv, bias, o0, flat, obase,
                            oh_ * ow_, o_ - o0, wp, ow_, oh_)
                else:
                    _taps_a(wt, buf, offs, n * stride, b * r_ * ob, r_, starts, t * nv, bias, o0, flat, obase,
                            oh_ * ow_, o_ - o0, wp, ow_, oh_)


@njit
def _backward(start, stop, grad, buf, stride, taps_x, taps_w, wt, plane, wp, top, left, gwp, gplane, starts, vectors,
              gx, part_w, part_b, narrow):
    """Chunks start..stop (CHUNK samples each) of the gradients of _forward from grad
    (N, O, OH, OW), C-contiguous; an empty gx, part_w or part_b is not computed. Per chunk,
    the samples' gradient is laid out vector by vector (rows gwp apart: wp when the vectors
    run over all rows, whole vectors when they cover rows one by one; zero in the dropped
    positions, then up to gplane; channels padded to whole gb-blocks), then
    gx     (N, C, H, W): col2im by taps. For each tile of NV_A vectors of positions (starts:
           `vectors` of them, then up to a multiple of NV_A reading zeros) and block of OB_A taps
           (taps_x, padded to whole blocks with the offset of a spare area), the tap sums
           over output channels (a register tile; wt is the weight as (R/OB_A, O, OB_A))
           are added into the sample's padded input gradient at the taps' offsets, and the
           padding is cropped off;
    part_w (chunks, O padded to gb, len(taps_w) a multiple of rb): sums over the chunk's
           positions, in register tiles of WGT[narrow] = (gb, rb): gb channels x rb taps;
    part_b (chunks, O): per-sample sums (_lane_sum) of each channel, added in sample order.
    The caller adds the chunks' partial sums in order."""
    n_, o_, oh_, ow_ = grad.shape
    c_, h, w = gx.shape[1], gx.shape[2], gx.shape[3]
    gb, rb = (GB_B, RB_B) if narrow else (GB_A, RB_A)
    channels = (o_ + gb - 1) // gb * gb
    gstride = channels * gplane
    for ch in range(start, stop):
        n0 = ch * CHUNK
        count = min(n_, n0 + CHUNK) - n0
        g2 = np.empty(count * gstride, np.float32)
        for k in range(count):
            _pack_sample(grad, n0 + k, g2, k * gstride, 0, 0, oh_, gwp, gplane, channels)
            if part_b.shape[0]:
                for o in range(o_):
                    part_b[ch, o] += _lane_sum(g2, k * gstride + o * gplane, gplane)
        if gx.shape[0]:
            goffs = np.arange(o_) * gplane
            pad = np.empty(c_ * plane + T + W + starts[-1] + W, np.float32)
            flat = gx.reshape(gx.size)
            for k in range(count):
                pad[:] = 0
                for t in range(starts.shape[0] // NV_A):
                    for blk in range(taps_x.shape[0] // OB_A):
                        _taps_add(wt, g2, goffs, k * gstride, blk * o_ * OB_A, o_, starts, t * NV_A, pad, taps_x,
                                  blk * OB_A, 0)
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
                                blk * rb, starts, vectors, flat, at, taps)
                    else:
                        _dots_a(g2, buf, taps_w, b * gb * gplane, gplane, gstride, n0 * stride, stride, count,
                                blk * rb, starts, vectors, flat, at, taps)


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


def _vectors(oh, ow, wp):
    """First positions of the W-lane vectors that cover the outputs (rows wp apart), and the
    row stride of a gradient laid out vector by vector: whole rows of ceil(OW / W) vectors
    where they fit in a row and are fewer (no dropped positions computed), else one run
    over all rows (the gradient then keeps the rows wp apart)."""
    per_row, run = -(-ow // W), -(-((oh - 1) * wp + ow) // W)
    if per_row * W <= wp and oh * per_row < run:
        return (np.arange(oh)[:, None] * wp + np.arange(per_row) * W).ravel(), per_row * W
    return np.arange(run) * W, wp


def _whole_tiles(vectors, nv):
    """vectors padded to a multiple of nv with vectors past the last output (whose gradient
    is zero, whose outputs are dropped)."""
    return np.concatenate([vectors, vectors[-1] + W * np.arange(1, 1 + (-len(vectors) % nv))]).astype(np.int64)


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
    starts = _whole_tiles(_vectors(oh, ow, wp)[0], FWD[narrow][1])
    _run(_forward, shape[0], np.ascontiguousarray(x.reshape(shape)), pads[0][0], pads[1][0], hp, wp, stride_x,
         _pack_weight(w4.reshape(o, -1), ob), _offsets(shape[1], w4.shape[2:], dil, wp, plane), b, out, narrow, buf,
         starts)
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
    vectors, gwp = _vectors(oh, ow, wp)
    starts = _whole_tiles(vectors, NV_A)
    gplane = -(-max(oh * gwp, len(starts) * W) // W) * W  # zero past the outputs, for the padding vectors
    chunks = -(-shape[0] // CHUNK)
    gx = np.empty(shape, np.float32) if needs[0] else np.empty((0, 0, 0, 0), np.float32)
    # taps padded to whole blocks: for gx they point at a spare area past the sample's planes
    # (their weights are zero, but 0 * inf would be NaN), for the weight gradient at tap 0
    taps_x = np.concatenate([offs, np.full(-r % OB_A, c * plane + T + W, np.int64)])
    taps_w = np.concatenate([offs, np.zeros(-r % rb, np.int64)])
    part_w = (np.empty((chunks, -(-o // gb) * gb, taps_w.shape[0]), np.float32) if needs[1]
              else np.empty((0, 0, 0), np.float32))
    part_b = np.zeros((chunks, o), np.float32) if needs[2] else np.empty((0, 0), np.float32)
    wt = _pack_weight(w4.reshape(o, -1).T, OB_A) if needs[0] else np.empty(0, np.float32)
    g4 = np.ascontiguousarray(grad[:, :, None] if grad.ndim == 3 else grad, dtype=np.float32)
    _run(_backward, chunks, g4, cols, stride_x, taps_x, taps_w, wt, plane, wp, pads[0][0], pads[1][0], gwp, gplane,
         starts, len(vectors), gx, part_w, part_b, narrow)
    gw = part_w.sum(axis=0)[:o, :r].reshape(weight.shape) if needs[1] else None
    gbias = part_b.sum(axis=0) if needs[2] else None
    return (gx.reshape(input_shape) if needs[0] else None), gw, gbias
