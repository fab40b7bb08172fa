#version 450
// Dropout with the exact integer hash of backend.h (mlopt_dropout_u24), so
// masks are bit-identical to every other backend.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufY { float y[]; };
layout(binding = 2) writeonly buffer BufM { float mask[]; };
layout(push_constant) uniform Params {
    uint off_x, off_y, off_m, n, seed;
    float threshold, keep_scale;
} p;

uint dropout_u24(uint seed, uint i)
{
    uint h = (i * 0x9E3779B1u) ^ seed;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h >> 8;
}

void main()
{
    FOR_EACH_INDEX(i, p.n) {
        float xv = x[p.off_x + i]; // read before writing: y may alias x
        float m = float(dropout_u24(p.seed, i)) >= p.threshold ? p.keep_scale : 0.0;
        y[p.off_y + i] = xv * m;
        mask[p.off_m + i] = m;
    }
}
