#version 450
// out[i] = (accumulate ? out[i] : 0) + sum over s of part[s * len + i]:
// the second half of a split-K GEMM (slices summed in a fixed order).
#include "common.glsl"
layout(binding = 0) readonly buffer BufP { float part[]; };
layout(binding = 1) buffer BufO { float outv[]; };
layout(push_constant) uniform Params { uint off_p, off_o, len, slices, accumulate; } p;

void main()
{
    FOR_EACH_INDEX(i, p.len) {
        float s = p.accumulate != 0u ? outv[p.off_o + i] : 0.0;
        for (uint k = 0; k < p.slices; k++)
            s += part[p.off_p + k * p.len + i];
        outv[p.off_o + i] = s;
    }
}
