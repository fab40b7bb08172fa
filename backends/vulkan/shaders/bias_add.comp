#version 450
// x[n][c][inner] += bias[c]
#include "common.glsl"
layout(binding = 0) buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufB { float bias[]; };
layout(push_constant) uniform Params { uint off_x, off_b, total, c, inner; } p;

void main()
{
    FOR_EACH_INDEX(i, p.total)
        x[p.off_x + i] += bias[p.off_b + (i / p.inner) % p.c];
}
