#version 450
// Int8 -> float of ABI 1.1: y[i] = float(x[i] - zp) * scale.
#include "common.glsl"
#include "int8.glsl"
layout(binding = 0) readonly buffer BufX { uint x[]; };
layout(binding = 1) writeonly buffer BufY { float y[]; };
layout(push_constant) uniform Params { uint off_x, off_y, n; float scale; int zp; } p;

void main()
{
    FOR_EACH_INDEX(i, p.n) {
        uint bt = p.off_x * 4u + i;
        precise float v = float(byte_s8(x[bt >> 2], bt & 3u) - p.zp) * p.scale;
        y[p.off_y + i] = v;
    }
}
