// ResWarp primitives (Animating Through Warping). CPU twins: facewarp.kernels.reswarp.
//   residual_f32:    R = plate - up(low)                                   (bilinear, centres aligned)
//   reswarp_add_f32: out(p) = up(base)(p) + R(p + s * up(field)(p))       (ONE fused pass)
// Up-sampling: fw_up of upsample_common.cu (the CPU twin's _axis_coords).

#include "upsample_common.cu"
#include "warp.cu"  // fw_border_index: the one border rule shared with warp/triwarp

extern "C" __global__ void residual_f32(const float* __restrict__ plate, const float* __restrict__ low,
                                        float* __restrict__ out, int H, int W, int C, int hl, int wl) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)H * W) return;
    int i = (int)(p / W), j = (int)(p % W);
    for (int k = 0; k < C; ++k) out[p * C + k] = plate[p * C + k] - fw_up(low, hl, wl, C, k, i, j, H, W);
}

extern "C" __global__ void reswarp_add_f32(const float* __restrict__ res, const float* __restrict__ base,
                                           const float* __restrict__ field, float* __restrict__ out,
                                           int H, int W, int C, int hb, int wb, int hf, int wf,
                                           float fsx, float fsy, int mode) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)H * W) return;
    int i = (int)(p / W), j = (int)(p % W);
    // field at p, scaled to plate pixels; then the up-sampled base
    float qx = (float)j + fw_up(field, hf, wf, 2, 0, i, j, H, W, fsx);  // (j + 0.5) + dx - 0.5
    float qy = (float)i + fw_up(field, hf, wf, 2, 1, i, j, H, W, fsy);
    float* o = out + p * C;
    for (int k = 0; k < C; ++k) o[k] = fw_up(base, hb, wb, C, k, i, j, H, W);
    fw_sample(res, H, W, C, qx, qy, mode, o, true);  // residual added; none at non-finite positions
}
