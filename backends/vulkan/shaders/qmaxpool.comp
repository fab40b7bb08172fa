#version 450
// Int8 max pooling of ABI 1.1: one invocation per 4 consecutive output
// bytes (one word of y); the last partial word keeps its other bytes.
#include "common.glsl"
#include "int8.glsl"
layout(binding = 0) readonly buffer BufX { uint x[]; };
layout(binding = 1) buffer BufY { uint y[]; };
layout(push_constant) uniform Params {
    uint off_x, off_y, total, words;
    int H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW;
} p;

void main()
{
    FOR_EACH_INDEX(wi, p.words) {
        uint word = 0u, keep = 0u;
        for (uint q = 0u; q < 4u; q++) {
            uint i = wi * 4u + q;
            if (i >= p.total) {
                keep |= 0xffu << (8u * q);
                continue;
            }
            int ow = int(i % uint(p.OW));
            int oh = int((i / uint(p.OW)) % uint(p.OH));
            uint plane = i / uint(p.OW * p.OH);
            uint base = p.off_x * 4u + plane * uint(p.H * p.W);
            int best = -128;
            for (int r = 0; r < p.KH; r++) {
                int ih = oh * p.sh - p.ph + r * p.dh;
                if (ih < 0 || ih >= p.H)
                    continue;
                for (int s = 0; s < p.KW; s++) {
                    int iw = ow * p.sw - p.pw + s * p.dw;
                    if (iw >= 0 && iw < p.W) {
                        uint bt = base + uint(ih * p.W + iw);
                        best = max(best, byte_s8(x[bt >> 2], bt & 3u));
                    }
                }
            }
            word |= (uint(best) & 0xffu) << (8u * q);
        }
        uint at = p.off_y + wi;
        y[at] = keep != 0u ? ((y[at] & keep) | word) : word;
    }
}
