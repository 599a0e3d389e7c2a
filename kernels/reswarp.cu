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

extern "C" __global__ void residual_f32(const float* __restrict__ plate, const float* __restrict__ low,
                                        float* __restrict__ out, int H, int W, int C, int hl, int wl) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)H * W) return;
    int i = (int)(p / W), j = (int)(p % W);
    int x0, x1, y0, y1;
    float tx, ty;
    rw_axis(j, wl, (float)wl / (float)W, x0, x1, tx);
    rw_axis(i, hl, (float)hl / (float)H, y0, y1, ty);
    for (int k = 0; k < C; ++k) {
        // blend rows first, then columns: the CPU twin's order
        float r0 = low[((long long)y0 * wl + x0) * C + k] + ty * (low[((long long)y1 * wl + x0) * C + k] - low[((long long)y0 * wl + x0) * C + k]);
        float r1 = low[((long long)y0 * wl + x1) * C + k] + ty * (low[((long long)y1 * wl + x1) * C + k] - low[((long long)y0 * wl + x1) * C + k]);
        out[p * C + k] = plate[p * C + k] - (r0 + tx * (r1 - r0));
    }
}

extern "C" __global__ void reswarp_add_f32(const float* __restrict__ res, const float* __restrict__ base,
                                           const float* __restrict__ field, float* __restrict__ out,
                                           int H, int W, int C, int hb, int wb, int hf, int wf,
                                           float fsx, float fsy, int mode) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)H * W) return;
    int i = (int)(p / W), j = (int)(p % W);
    int x0, x1, y0, y1;
    float tx, ty;
    // field at p (row blend then column blend, like the CPU twin), scaled to plate pixels
    rw_axis(j, wf, (float)wf / (float)W, x0, x1, tx);
    rw_axis(i, hf, (float)hf / (float)H, y0, y1, ty);
    float d[2];
    for (int c = 0; c < 2; ++c) {
        float r0 = field[((long long)y0 * wf + x0) * 2 + c] + ty * (field[((long long)y1 * wf + x0) * 2 + c] - field[((long long)y0 * wf + x0) * 2 + c]);
        float r1 = field[((long long)y0 * wf + x1) * 2 + c] + ty * (field[((long long)y1 * wf + x1) * 2 + c] - field[((long long)y0 * wf + x1) * 2 + c]);
        d[c] = (c == 0 ? r0 * fsx : r0 * fsy);
        float e = (c == 0 ? r1 * fsx : r1 * fsy);
        d[c] = d[c] + tx * (e - d[c]);
    }
    float qx = (float)j + d[0];
    float qy = (float)i + d[1];
    // up-sampled base at p
    rw_axis(j, wb, (float)wb / (float)W, x0, x1, tx);
    rw_axis(i, hb, (float)hb / (float)H, y0, y1, ty);
    float* o = out + p * C;
    for (int k = 0; k < C; ++k) {
        float r0 = base[((long long)y0 * wb + x0) * C + k] + ty * (base[((long long)y1 * wb + x0) * C + k] - base[((long long)y0 * wb + x0) * C + k]);
        float r1 = base[((long long)y0 * wb + x1) * C + k] + ty * (base[((long long)y1 * wb + x1) * C + k] - base[((long long)y0 * wb + x1) * C + k]);
        o[k] = r0 + tx * (r1 - r0);
    }
    if (!(qx > -1e9f && qx < 1e9f && qy > -1e9f && qy < 1e9f)) return;  // no residual
    float fx = floorf(qx), fy = floorf(qy);
    int sx = (int)fx, sy = (int)fy;
    float ax = qx - fx, ay = qy - fy;
    long long rs = (long long)W * C;
    if (sx >= 0 && sx + 1 < W && sy >= 0 && sy + 1 < H) {
        const float* b = res + sy * rs + (long long)sx * C;
        for (int k = 0; k < C; ++k) {
            float p00 = b[k], p10 = b[rs + k];
            float top = p00 + ax * (b[C + k] - p00);
            float bot = p10 + ax * (b[rs + C + k] - p10);
            o[k] += top + ay * (bot - top);
        }
        return;
    }
    int xa = fw_border_index(sx, W, mode), xb = fw_border_index(sx + 1, W, mode);
    int ya = fw_border_index(sy, H, mode), yb = fw_border_index(sy + 1, H, mode);
    float wxa = xa >= 0 ? 1.0f - ax : 0.0f, wxb = xb >= 0 ? ax : 0.0f;
    float wya = ya >= 0 ? 1.0f - ay : 0.0f, wyb = yb >= 0 ? ay : 0.0f;
    xa = max(xa, 0); xb = max(xb, 0); ya = max(ya, 0); yb = max(yb, 0);
    for (int k = 0; k < C; ++k)
        o[k] += wya * (wxa * res[ya * rs + (long long)xa * C + k] + wxb * res[ya * rs + (long long)xb * C + k])
              + wyb * (wxa * res[yb * rs + (long long)xa * C + k] + wxb * res[yb * rs + (long long)xb * C + k]);
}
