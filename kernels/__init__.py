"""facewarp.kernels: geometric primitives, each a CUDA source (``*.cu``, loaded with CuPy)
plus a CPU twin with the same signature and a dispatcher (see ``_dispatch``).

    sampling   bilinear backward warp with border modes, bilinear/area resampling
    reswarp    fused residual warp (field up-sample + residual sample + add, one pass)
    raster     triangle rasteriser: z-buffer, back-face culling, top-left rule,
               barycentric attribute interpolation
    triwarp    piecewise-affine triangle warp (raster + affine map + sample, one pass)
"""
