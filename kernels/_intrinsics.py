"""Two LLVM-level helpers for the numba gather kernels, where numba's own code generation
leaves speed on the table. Both are small and change no result.

``prefetch(a, k)`` - LLVM's ``llvm.prefetch`` (numba exposes none). A warp's bilinear gather
reads the source along a curve that crosses rows as the field varies along x. The hardware
prefetchers follow straight streams, so those reads miss the cache and the gather waits on
memory: at 4K the same gather ran ~1.8x faster along the identity map than along a smooth
3 % field. Asking for the lines a few dozen pixels ahead (the row's tap offsets are known
before the gather) hides that latency. A prefetch is a hint: it never faults, so an
address past the array (the last rows ask for one) is harmless.

``bilerp4_rgb_add`` / ``bilerp4_rgb_set`` - four RGB bilinear samples as 4-lane vector
arithmetic. The two horizontal taps of an interleaved RGB pixel are six contiguous floats,
so each tap row is two overlapping 4-float loads (``t[0:4]`` = p00 rgb + p01 r,
``t[3:7]`` = p01 rgb + p02 r); the lerps run on all four lanes and lane 3 is discarded;
four pixels' lanes are then packed into three 4-float stores (12 = 4 x 3). numba keeps
the per-channel form scalar (its SLP vectoriser is off, and the loop vectoriser turns the
interleaved channels into slow hardware gathers), ~1.3x slower in the gather. The
arithmetic is the scalar path's, ``top = p00 + ax (p01 - p00)``, ``v = top + ay (bot -
top)``, per lane. The caller guarantees the reads stay inside ``S``: every tap offset is
valid (``idx >= 0``) and ``idx + rs + 7 <= S.size`` (lane 3 reads one float past p11).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_F32 = ir.FloatType()
_V4 = ir.VectorType(_F32, 4)
_FAST = ("fast",)


def _data(context, builder, aryty, ary):
    return context.make_array(aryty)(context, builder, ary).data


@intrinsic
def prefetch(typingctx, arr, offset):
    """``prefetch(a, k)``: ask for the cache line holding ``a.flat[k]`` (C-contiguous ``a``)."""
    if not (isinstance(arr, types.Array) and isinstance(offset, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        data = _data(context, builder, sig.args[0], args[0])
        k = context.cast(builder, args[1], sig.args[1], types.intp)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        # read (0), keep in all cache levels (locality 3), data cache (1)
        builder.call(fn, [builder.bitcast(builder.gep(data, [k]), i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(arr, offset), codegen


def _bilerp4_rgb(accumulate: bool):
    def typer(typingctx, S, rs, idx, wx, wy, j, O, o):
        def flat(a, dtype):  # the codegen indexes the data pointer directly: 1-D, contiguous
            return isinstance(a, types.Array) and a.dtype == dtype and a.ndim == 1 and a.layout == "C"

        if not (flat(S, types.float32) and flat(O, types.float32) and flat(idx, types.int64)
                and flat(wx, types.float32) and flat(wy, types.float32)):
            return None

        def codegen(context, builder, sig, args):
            Sa, rs_, idxa, wxa, wya, j_, Oa, o_ = args
            st = sig.args
            intp = context.get_value_type(types.intp)
            sp = _data(context, builder, st[0], Sa)
            ip = _data(context, builder, st[2], idxa)
            xp = _data(context, builder, st[3], wxa)
            yp = _data(context, builder, st[4], wya)
            op = _data(context, builder, st[6], Oa)
            rs_v = context.cast(builder, rs_, st[1], types.intp)
            j_v = context.cast(builder, j_, st[5], types.intp)
            o_v = context.cast(builder, o_, st[7], types.intp)

            def vload(ptr):
                return builder.load(builder.bitcast(ptr, _V4.as_pointer()), align=4)

            def splat(x):
                v = builder.insert_element(ir.Constant(_V4, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
                return builder.shuffle_vector(v, ir.Constant(_V4, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 4), [0] * 4))

            def lerp(a, b, w):  # a + w * (b - a)
                return builder.fadd(a, builder.fmul(w, builder.fsub(b, a, flags=_FAST), flags=_FAST), flags=_FAST)

            v = []
            for p in range(4):
                jp = builder.add(j_v, ir.Constant(intp, p))
                b = builder.load(builder.gep(ip, [jp]))
                ax = splat(builder.load(builder.gep(xp, [jp])))
                ay = splat(builder.load(builder.gep(yp, [jp])))
                t = builder.gep(sp, [b])
                u = builder.gep(sp, [builder.add(b, rs_v)])
                three = ir.Constant(intp, 3)
                top = lerp(vload(t), vload(builder.gep(t, [three])), ax)
                bot = lerp(vload(u), vload(builder.gep(u, [three])), ax)
                v.append(lerp(top, bot, ay))
            mask = ir.VectorType(ir.IntType(32), 4)
            packed = [builder.shuffle_vector(v[0], v[1], ir.Constant(mask, [0, 1, 2, 4])),
                      builder.shuffle_vector(v[1], v[2], ir.Constant(mask, [1, 2, 4, 5])),
                      builder.shuffle_vector(v[2], v[3], ir.Constant(mask, [2, 4, 5, 6]))]
            for q, val in enumerate(packed):
                ptr = builder.bitcast(builder.gep(op, [builder.add(o_v, ir.Constant(intp, 4 * q))]), _V4.as_pointer())
                if accumulate:
                    val = builder.fadd(builder.load(ptr, align=4), val, flags=_FAST)
                builder.store(val, ptr, align=4)
            return context.get_dummy_value()

        return types.none(S, rs, idx, wx, wy, j, O, o), codegen

    typer.__name__ = "bilerp4_rgb_add" if accumulate else "bilerp4_rgb_set"
    return intrinsic(typer)


# bilerp4_rgb_*(S, rs, idx, wx, wy, j, O, o): for p in 0..3, the bilinear sample of the
# interleaved RGB source S (row stride rs floats) at top-left tap idx[j+p] with weights
# wx[j+p], wy[j+p] is added to (``_add``) or written over (``_set``) O[o + 3p : o + 3p + 3].
bilerp4_rgb_add = _bilerp4_rgb(True)
bilerp4_rgb_set = _bilerp4_rgb(False)
