// Shared device code (#included; no kernels of its own): bilinear up-sampling of a coarse
// image at a fine pixel, used by reswarp.cu and raster.cu (the fill outside the mesh).
// Fine index n maps to coarse u = (n + 0.5) * coarse/fine - 0.5, clamped to [0, size-1]
// (edge replicate), exactly like the CPU twins' _axis_coords (facewarp.kernels.sampling).
#ifndef FW_UPSAMPLE_COMMON
#define FW_UPSAMPLE_COMMON

__device__ __forceinline__ void fw_up_axis(int n, int size, float ratio, int& i0, int& i1, float& t) {
    float u = ((float)n + 0.5f) * ratio - 0.5f;
    u = fminf(fmaxf(u, 0.0f), (float)(size - 1));
    i0 = min((int)u, size - 1);
    i1 = min(i0 + 1, size - 1);
    t = u - (float)i0;
}

// Channel k of an hc x wc x C coarse image up-sampled at fine pixel (i, j) of an H x W grid:
// rows blended first, then columns - the CPU twin's order; ``scale`` multiplies the blended
// rows before the column blend, as the twin scales its row-blended field.
__device__ __forceinline__ float fw_up(const float* __restrict__ img, int hc, int wc, int C, int k,
                                       int i, int j, int H, int W, float scale = 1.0f) {
    int x0, x1, y0, y1;
    float tx, ty;
    fw_up_axis(j, wc, (float)wc / (float)W, x0, x1, tx);
    fw_up_axis(i, hc, (float)hc / (float)H, y0, y1, ty);
    const float* a = img + (long long)y0 * wc * C + k;
    const float* b = img + (long long)y1 * wc * C + k;
    float r0 = (a[(long long)x0 * C] + ty * (b[(long long)x0 * C] - a[(long long)x0 * C])) * scale;
    float r1 = (a[(long long)x1 * C] + ty * (b[(long long)x1 * C] - a[(long long)x1 * C])) * scale;
    return r0 + tx * (r1 - r0);
}

#endif
