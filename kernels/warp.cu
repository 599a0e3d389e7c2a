// Bilinear backward warp: out(p) = src(p + field(p)), pixel centres at integer + 0.5.
// CPU twin: facewarp.kernels.sampling._warp_bilinear_cpu (same arithmetic, float32).
// Border modes: 0 clamp, 1 zero, 2 reflect (mirrored about the edge, periodic 2n).
#ifndef FW_WARP_CU
#define FW_WARP_CU

__device__ __forceinline__ int fw_border_index(int i, int n, int mode) {
    if (i >= 0 && i < n) return i;
    if (mode == 0) return i < 0 ? 0 : n - 1;
    if (mode == 1) return -1;
    int period = 2 * n;
    int k = i % period;
    if (k < 0) k += period;
    return k < n ? k : period - 1 - k;
}

// Bilinear sample of an H x W x C image at index-space (qx, qy) = continuous - 0.5.
// accumulate: add the sample to o (ResWarp's residual); a non-finite position then adds
// nothing instead of writing NaN - the CPU twin's gather_row(..., accumulate).
__device__ __forceinline__ void fw_sample(const float* __restrict__ S, int sh, int sw, int nc,
                                          float qx, float qy, int mode, float* __restrict__ o,
                                          bool accumulate = false) {
    if (!(qx > -1e9f && qx < 1e9f && qy > -1e9f && qy < 1e9f)) {
        if (!accumulate)
            for (int k = 0; k < nc; ++k) o[k] = __int_as_float(0x7fc00000);  // NaN
        return;
    }
    float fx = floorf(qx), fy = floorf(qy);
    int x0 = (int)fx, y0 = (int)fy;
    float ax = qx - fx, ay = qy - fy;
    long long rs = (long long)sw * nc;
    if (x0 >= 0 && x0 + 1 < sw && y0 >= 0 && y0 + 1 < sh) {
        const float* b = S + y0 * rs + (long long)x0 * nc;
        for (int k = 0; k < nc; ++k) {
            float p00 = b[k], p10 = b[rs + k];
            float top = p00 + ax * (b[nc + k] - p00);
            float bot = p10 + ax * (b[rs + nc + k] - p10);
            float v = top + ay * (bot - top);
            o[k] = accumulate ? o[k] + v : v;
        }
        return;
    }
    int xa = fw_border_index(x0, sw, mode), xb = fw_border_index(x0 + 1, sw, mode);
    int ya = fw_border_index(y0, sh, mode), yb = fw_border_index(y0 + 1, sh, mode);
    float wxa = xa >= 0 ? 1.0f - ax : 0.0f, wxb = xb >= 0 ? ax : 0.0f;
    float wya = ya >= 0 ? 1.0f - ay : 0.0f, wyb = yb >= 0 ? ay : 0.0f;
    xa = max(xa, 0); xb = max(xb, 0); ya = max(ya, 0); yb = max(yb, 0);
    const float* pa = S + ya * rs + (long long)xa * nc;
    const float* pb = S + ya * rs + (long long)xb * nc;
    const float* pc = S + yb * rs + (long long)xa * nc;
    const float* pd = S + yb * rs + (long long)xb * nc;
    for (int k = 0; k < nc; ++k) {
        float v = wya * (wxa * pa[k] + wxb * pb[k]) + wyb * (wxa * pc[k] + wxb * pd[k]);
        o[k] = accumulate ? o[k] + v : v;
    }
}

extern "C" __global__ void warp_bilinear_f32(const float* __restrict__ src, const float* __restrict__ field,
                                             float* __restrict__ out, int sh, int sw, int nc, int h, int w,
                                             int mode) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)h * w) return;
    int i = (int)(p / w), j = (int)(p % w);
    float qx = (float)j + field[2 * p];      // (j + 0.5) + dx - 0.5
    float qy = (float)i + field[2 * p + 1];
    fw_sample(src, sh, sw, nc, qx, qy, mode, out + p * nc);
}

#endif  // FW_WARP_CU
