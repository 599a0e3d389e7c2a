// ResWarp primitives (Animating Through Warping). CPU twins: facewarp.kernels.reswarp.
//   residual_f32:    R = plate - up(low)                                   (bilinear, centres aligned)
//   reswarp_add_f32: out(p) = up(base)(p) + R(p + s * up(field)(p))       (ONE fused pass)
// Up-sampling maps fine index n to coarse u = (n + 0.5) * coarse/fine - 0.5, clamped to
// [0, size-1] (edge replicate), exactly like the CPU twin's _axis_coords.

#include "warp.cu"  // fw_border_index: the one border rule shared with warp/triwarp

__device__ __forceinline__ void rw_axis(int n, int size, float ratio, int& i0, int& i1, float& t) {
    float u = ((float)n + 0.5f) * ratio - 0.5f;
    u = fminf(fmaxf(u, 0.0f), (float)(size - 1));
    i0 = min((int)u, size - 1);
    i1 = min(i0 + 1, size - 1);
    t = u - (float)i0;
}

// Channel k of an hc x wc x C coarse image up-sampled at fine pixel (i, j) of an H x W grid:
// rows blended first, then columns - the CPU twin's order; ``scale`` multiplies the blended
// rows before the column blend, as the twin scales its row-blended field.
__device__ __forceinline__ float rw_up(const float* __restrict__ img, int hc, int wc, int C, int k,
                                       int i, int j, int H, int W, float scale = 1.0f) {
    int x0, x1, y0, y1;
    float tx, ty;
    rw_axis(j, wc, (float)wc / (float)W, x0, x1, tx);
    rw_axis(i, hc, (float)hc / (float)H, y0, y1, ty);
    const float* a = img + (long long)y0 * wc * C + k;
    const float* b = img + (long long)y1 * wc * C + k;
    float r0 = (a[(long long)x0 * C] + ty * (b[(long long)x0 * C] - a[(long long)x0 * C])) * scale;
    float r1 = (a[(long long)x1 * C] + ty * (b[(long long)x1 * C] - a[(long long)x1 * C])) * scale;
    return r0 + tx * (r1 - r0);
}

extern "C" __global__ void residual_f32(const float* __restrict__ plate, const float* __restrict__ low,
                                        float* __restrict__ out, int H, int W, int C, int hl, int wl) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)H * W) return;
    int i = (int)(p / W), j = (int)(p % W);
    for (int k = 0; k < C; ++k) out[p * C + k] = plate[p * C + k] - rw_up(low, hl, wl, C, k, i, j, H, W);
}

extern "C" __global__ void reswarp_add_f32(const float* __restrict__ res, const float* __restrict__ base,
                                           const float* __restrict__ field, float* __restrict__ out,
                                           int H, int W, int C, int hb, int wb, int hf, int wf,
                                           float fsx, float fsy, int mode) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)H * W) return;
    int i = (int)(p / W), j = (int)(p % W);
    // field at p, scaled to plate pixels; then the up-sampled base
    float qx = (float)j + rw_up(field, hf, wf, 2, 0, i, j, H, W, fsx);  // (j + 0.5) + dx - 0.5
    float qy = (float)i + rw_up(field, hf, wf, 2, 1, i, j, H, W, fsy);
    float* o = out + p * C;
    for (int k = 0; k < C; ++k) o[k] = rw_up(base, hb, wb, C, k, i, j, H, W);
    fw_sample(res, H, W, C, qx, qy, mode, o, true);  // residual added; none at non-finite positions
}
