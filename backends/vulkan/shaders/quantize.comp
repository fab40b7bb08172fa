#version 450
// Float -> int8 of ABI 1.1 (roundEven of one float multiply, clamped on the
// float): one invocation per 4 outputs (one word of y); the last partial
// word keeps its other bytes.
#include "common.glsl"
#include "int8.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) buffer BufY { uint y[]; };
layout(push_constant) uniform Params { uint off_x, off_y, n, words; float inv; int zp; } p;

void main()
{
    FOR_EACH_INDEX(wi, p.words) {
        uint word = 0u, keep = 0u;
        bool inside;
        for (uint q = 0u; q < 4u; q++) {
            uint i = wi * 4u + q;
            if (i >= p.n) {
                keep |= 0xffu << (8u * q);
                continue;
            }
            int v = quant_value(x[p.off_x + i], p.inv, p.zp, -128, 127, inside);
            word |= (uint(v) & 0xffu) << (8u * q);
        }
        uint at = p.off_y + wi;
        y[at] = keep != 0u ? ((y[at] & keep) | word) : word;
    }
}
