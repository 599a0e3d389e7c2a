// Triangle rasteriser with z-buffer. CPU twin: facewarp.kernels.raster (same coverage,
// depth and tie rules). Launch raster_depth over (triangle x row-chunk) threads: each thread
// walks FW_ROWS_PER_THREAD rows of one triangle (big triangles spread over many threads),
// packs (ordered float32 depth << 32 | triangle id) and atomicMin's it into the 64-bit
// z-buffer (smaller depth wins; ties -> smaller id). raster_resolve then interpolates the
// attributes with the winning triangle's barycentric planes, one thread per pixel, and
// writes every output element (uncovered: id -1; the first kf attributes the bilinearly
// up-sampled coarse ``fill`` (hc x wc x kf), the others 0 - as the CPU twin).
#include "raster_common.cu"
#include "upsample_common.cu"

__device__ __forceinline__ unsigned int fw_ordered(float z) {
    unsigned int u = __float_as_uint(z);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

extern "C" __global__ void raster_depth(const double* __restrict__ xy, const int* __restrict__ faces,
                                        const float* __restrict__ depth, int nt, int width, int height,
                                        int cull, int use_depth, unsigned long long* __restrict__ zbuf) {
    int chunks = (height + FW_ROWS_PER_THREAD - 1) / FW_ROWS_PER_THREAD;
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= (long long)nt * chunks) return;
    int t = (int)(g / chunks), chunk = (int)(g % chunks);
    FwTri T;
    if (!fw_load_tri(xy, faces, t, cull, T)) return;
    int r0, r1;
    if (!fw_rows(T, width, height, r0, r1)) return;
    int a = max(r0, chunk * FW_ROWS_PER_THREAD), b = min(r1, chunk * FW_ROWS_PER_THREAD + FW_ROWS_PER_THREAD - 1);
    if (a > b) return;
    double zc[3] = {0.0, 0.0, 0.0};
    if (use_depth)
        fw_plane(T, depth[faces[3 * t]], depth[faces[3 * t + 1]], depth[faces[3 * t + 2]], zc);
    for (int i = a; i <= b; ++i) {
        int j0, j1;
        fw_span(T, i, width, j0, j1);
        double py = i + 0.5;
        double zr = zc[1] * py + zc[2];
        for (int j = j0; j <= j1; ++j) {
            float z = use_depth ? (float)(zc[0] * (j + 0.5) + zr) : 0.0f;
            unsigned long long key = ((unsigned long long)fw_ordered(z) << 32) | (unsigned int)t;
            atomicMin(zbuf + (long long)i * width + j, key);
        }
    }
}

extern "C" __global__ void raster_resolve(const double* __restrict__ xy, const int* __restrict__ faces,
                                          const float* __restrict__ attrs, int nk,
                                          const unsigned long long* __restrict__ zbuf, int width, int height,
                                          const float* __restrict__ fill, int hc, int wc, int kf,
                                          int* __restrict__ tri_id, float* __restrict__ values) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)width * height) return;
    unsigned long long key = zbuf[p];
    float* out = values + p * nk;
    if (key == 0xFFFFFFFFFFFFFFFFull) {
        tri_id[p] = -1;
        int i = (int)(p / width), j = (int)(p % width);
        for (int k = 0; k < nk; ++k) out[k] = k < kf ? fw_up(fill, hc, wc, kf, k, i, j, height, width) : 0.0f;
        return;
    }
    int t = (int)(key & 0xFFFFFFFFu);
    tri_id[p] = t;
    FwTri T;
    fw_load_tri(xy, faces, t, 0, T);
    double px = (double)(p % width) + 0.5, py = (double)(p / width) + 0.5;
    int v0 = faces[3 * t], v1 = faces[3 * t + 1], v2 = faces[3 * t + 2];
    for (int k = 0; k < nk; ++k) {
        double c[3];
        fw_plane(T, attrs[(long long)v0 * nk + k], attrs[(long long)v1 * nk + k], attrs[(long long)v2 * nk + k], c);
        out[k] = (float)(c[0] * px + c[1] * py + c[2]);
    }
}
