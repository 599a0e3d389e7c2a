// Piecewise-affine triangle warp. CPU twin: facewarp.kernels.triwarp.
// triwarp_cover: (triangle x row-chunk) threads mark the covering triangle of every pixel
//   centre (atomicMin on the id as unsigned: the lowest index wins, like the CPU; the buffer
//   starts at -1 = 0xFFFFFFFF).
// triwarp_resolve: one thread per pixel: source position from the triangle's affine planes,
//   field = q - p, bilinear sample of the image at q, interpolated attributes. Uncovered
//   pixels keep the identity. Every output element is written.
#include "raster_common.cu"
#include "warp.cu"

extern "C" __global__ void triwarp_cover(const double* __restrict__ dst, const int* __restrict__ faces, int nt,
                                         int width, int height, unsigned int* __restrict__ owner) {
    int chunks = (height + FW_ROWS_PER_THREAD - 1) / FW_ROWS_PER_THREAD;
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= (long long)nt * chunks) return;
    int t = (int)(g / chunks), chunk = (int)(g % chunks);
    FwTri T;
    if (!fw_load_tri(dst, faces, t, 0, T)) return;
    int r0, r1;
    if (!fw_rows(T, width, height, r0, r1)) return;
    int a = max(r0, chunk * FW_ROWS_PER_THREAD), b = min(r1, chunk * FW_ROWS_PER_THREAD + FW_ROWS_PER_THREAD - 1);
    for (int i = a; i <= b; ++i) {
        int j0, j1;
        fw_span(T, i, width, j0, j1);
        for (int j = j0; j <= j1; ++j) atomicMin(owner + (long long)i * width + j, (unsigned int)t);
    }
}

extern "C" __global__ void triwarp_resolve(const float* __restrict__ img, int h, int w, int nc,
                                           const double* __restrict__ dst, const double* __restrict__ src,
                                           const int* __restrict__ faces, const double* __restrict__ attrs, int nk,
                                           const int* __restrict__ tri_id, int mode, float* __restrict__ out,
                                           float* __restrict__ field, float* __restrict__ out_attrs) {
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)h * w) return;
    int i = (int)(p / w), j = (int)(p % w);
    double px = j + 0.5, py = i + 0.5;
    int t = tri_id[p];
    float dx = 0.0f, dy = 0.0f;
    if (t >= 0) {
        FwTri T;
        fw_load_tri(dst, faces, t, 0, T);
        int v0 = faces[3 * t], v1 = faces[3 * t + 1], v2 = faces[3 * t + 2];
        double c[3];
        fw_plane(T, src[2 * v0], src[2 * v1], src[2 * v2], c);
        dx = (float)(c[0] * px + (c[1] * py + c[2])) - (float)px;
        fw_plane(T, src[2 * v0 + 1], src[2 * v1 + 1], src[2 * v2 + 1], c);
        dy = (float)(c[0] * px + (c[1] * py + c[2])) - (float)py;
        for (int k = 0; k < nk; ++k) {
            fw_plane(T, attrs[(long long)v0 * nk + k], attrs[(long long)v1 * nk + k], attrs[(long long)v2 * nk + k], c);
            out_attrs[p * nk + k] = (float)(c[0] * px + c[1] * py + c[2]);
        }
    } else {
        for (int k = 0; k < nk; ++k) out_attrs[p * nk + k] = 0.0f;
    }
    field[2 * p] = dx;
    field[2 * p + 1] = dy;
    fw_sample(img, h, w, nc, (float)j + dx, (float)i + dy, mode, out + p * nc);
}
