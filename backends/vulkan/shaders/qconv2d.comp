#version 450
// Int8 convolution of ABI 1.1, direct: one invocation per 4 consecutive
// output bytes (one word of y, which starts word-aligned); the last partial
// word keeps its bytes beyond the output (its only writer is this invocation).
#include "common.glsl"
#include "int8.glsl"
layout(binding = 0) readonly buffer BufX { uint x[]; };
layout(binding = 1) readonly buffer BufW { uint w[]; };
layout(binding = 2) readonly buffer BufBias { int bias[]; };
layout(binding = 3) readonly buffer BufMult { int mult[]; };
layout(binding = 4) readonly buffer BufShift { int shift[]; };
layout(binding = 5) buffer BufY { uint y[]; };
layout(push_constant) uniform Params {
    uint off_x, off_w, off_bias, off_mult, off_shift, off_y;
    uint total, words;
    int x_zp, y_zp, has_bias, relu;
    int C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G, OH, OW;
} p;

int ld_x(uint byte) { return byte_s8(x[byte >> 2], byte & 3u); }
int ld_w(uint byte) { return byte_s8(w[byte >> 2], byte & 3u); }

void main()
{
    int cpg = p.C / p.G, kpg = p.K / p.G;
    FOR_EACH_INDEX(wi, p.words) {
        uint word = 0u, keep = 0u;
        for (uint q = 0u; q < 4u; q++) {
            uint idx = wi * 4u + q;
            if (idx >= p.total) {
                keep |= 0xffu << (8u * q);
                continue;
            }
            int ox = int(idx % uint(p.OW));
            int oy = int((idx / uint(p.OW)) % uint(p.OH));
            int k = int((idx / uint(p.OW * p.OH)) % uint(p.K));
            int n = int(idx / uint(p.OW * p.OH * p.K));
            int g = k / kpg;
            int acc = p.has_bias != 0 ? bias[p.off_bias + uint(k)] : 0;
            for (int c = 0; c < cpg; c++) {
                uint plane = p.off_x * 4u + uint((n * p.C + g * cpg + c) * p.H * p.W);
                uint wk = p.off_w * 4u + uint((k * cpg + c) * p.R * p.S);
                for (int r = 0; r < p.R; r++) {
                    int iy = oy * p.sh - p.ph + r * p.dh;
                    if (iy < 0 || iy >= p.H)
                        continue; // padding reads as x_zp: contributes 0
                    for (int s = 0; s < p.S; s++) {
                        int ix = ox * p.sw - p.pw + s * p.dw;
                        if (ix >= 0 && ix < p.W)
                            acc += (ld_x(plane + uint(iy * p.W + ix)) - p.x_zp) *
                                   ld_w(wk + uint(r * p.S + s));
                    }
                }
            }
            int v = requantize_i8(acc, mult[p.off_mult + uint(k)], shift[p.off_shift + uint(k)],
                                  p.y_zp, p.relu != 0);
            word |= (uint(v) & 0xffu) << (8u * q);
        }
        uint at = p.off_y + wi;
        y[at] = keep != 0u ? ((y[at] & keep) | word) : word;
    }
}
