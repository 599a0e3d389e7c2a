// Pyramid REDUCE for multiscale ResWarp. CPU twin: facewarp.kernels.sampling.reduce_octave.
//   reduce2_binomial8_f32: out (h/2 x w/2 x C) from src (h x w x C), the 8-tap binomial
//   (1 7 21 35 35 21 7 1)/128 on each axis; coarse pixel v reads fine pixels 2v-3 .. 2v+4
//   (centred between fine 2v and 2v+1: pixel-centre-aligned octaves); mirrored borders
//   (fw_border_index mode 2, the CPU twin's border_index(..., 2)).
// One thread per output element. The sum order is the CPU twin's: the 8 vertical taps of a
// column first, then the horizontal taps over those column sums.

#include "warp.cu"  // fw_border_index: the one border rule

__constant__ float FW_BINOMIAL8[8] = {1.0f / 128, 7.0f / 128, 21.0f / 128, 35.0f / 128,
                                      35.0f / 128, 21.0f / 128, 7.0f / 128, 1.0f / 128};

extern "C" __global__ void reduce2_binomial8_f32(const float* __restrict__ src, float* __restrict__ out,
                                                 int h, int w, int C) {
    int ho = h / 2, wo = w / 2;
    long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (long long)ho * wo * C) return;
    int k = (int)(p % C);
    long long pix = p / C;
    int u = (int)(pix / wo), v = (int)(pix % wo);
    int rows[8];
    for (int t = 0; t < 8; ++t) rows[t] = fw_border_index(2 * u - 3 + t, h, 2);
    float sum = 0.0f;
    for (int s = 0; s < 8; ++s) {
        int x = fw_border_index(2 * v - 3 + s, w, 2);
        float col = 0.0f;
        for (int t = 0; t < 8; ++t) col += FW_BINOMIAL8[t] * src[((long long)rows[t] * w + x) * C + k];
        sum += FW_BINOMIAL8[s] * col;
    }
    out[p] = sum;
}
