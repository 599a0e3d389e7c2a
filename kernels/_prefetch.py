"""A software prefetch for numba kernels (LLVM's ``llvm.prefetch``; numba exposes none).

Why: a warp's bilinear gather reads the source along a curve that crosses rows as the field
varies along x. The hardware prefetchers follow sequential streams, so those reads miss the
cache and the gather waits on memory: at 4K the same gather runs about 1.8x faster along
the identity map than along a smooth 3 % field. Asking for the lines a few dozen pixels
ahead (their addresses are known: the row's tap offsets are computed before the gather)
hides that latency. A prefetch is a hint: it never faults, so an address past the array
(the last rows) is harmless, and it changes no result.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, offset):
    """``prefetch(a, k)``: ask for the cache line holding ``a.flat[k]`` (C-contiguous ``a``)."""
    if not (isinstance(arr, types.Array) and isinstance(offset, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        k = context.cast(builder, args[1], sig.args[1], types.intp)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        # read (0), keep in all cache levels (locality 3), data cache (1)
        builder.call(fn, [builder.bitcast(builder.gep(data, [k]), i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(arr, offset), codegen
