#version 450
// [A][B][P] -> [B][A][P] (e.g. NCHW dy -> CNHW for the weight gradient GEMM).
#include "common.glsl"
layout(binding = 0) readonly buffer BufIn { float src[]; };
layout(binding = 1) writeonly buffer BufOut { float dst[]; };
layout(push_constant) uniform Params { uint off_in, off_out, A, B, P, total; } p;

void main()
{
    FOR_EACH_INDEX(idx, p.total) {
        uint pos = idx % p.P;
        uint t = idx / p.P;
        uint bb = t % p.B, aa = t / p.B;
        dst[p.off_out + (bb * p.A + aa) * p.P + pos] = src[p.off_in + idx];
    }
}
