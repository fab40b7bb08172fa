#version 450
// Batch-norm backward, one workgroup per channel:
// dbeta = sum dy, dgamma = sum dy*xhat,
// dx = gamma*invstd*(dy - dbeta/M - xhat*dgamma/M).
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufDy { float dy[]; };
layout(binding = 2) readonly buffer BufG { float gamma[]; };
layout(binding = 3) readonly buffer BufSm { float smean[]; };
layout(binding = 4) readonly buffer BufSi { float sinvstd[]; };
layout(binding = 5) writeonly buffer BufDx { float dx[]; };
layout(binding = 6) writeonly buffer BufDg { float dgamma[]; };
layout(binding = 7) writeonly buffer BufDb { float dbeta[]; };
layout(push_constant) uniform Params {
    uint off_x, off_dy, off_g, off_sm, off_si, off_dx, off_dg, off_db;
    uint n, c, inner;
} p;
shared float red_dy[WG];
shared float red_dyx[WG];

uint at(uint j, uint ch) { return (j / p.inner * p.c + ch) * p.inner + j % p.inner; }

void main()
{
    uint ch = row_index();
    if (ch >= p.c)
        return;
    uint count = p.n * p.inner;
    float mean = smean[p.off_sm + ch], invstd = sinvstd[p.off_si + ch];
    float s_dy = 0.0, s_dyx = 0.0;
    for (uint j = LID; j < count; j += WG) {
        uint i = at(j, ch);
        float d = dy[p.off_dy + i];
        s_dy += d;
        s_dyx += d * (x[p.off_x + i] - mean) * invstd;
    }
    red_dy[LID] = s_dy;
    red_dyx[LID] = s_dyx;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (LID < s) {
            red_dy[LID] += red_dy[LID + s];
            red_dyx[LID] += red_dyx[LID + s];
        }
        barrier();
    }
    float sdy = red_dy[0], sdyx = red_dyx[0];
    float k = gamma[p.off_g + ch] * invstd;
    float inv_m = 1.0 / float(count);
    for (uint j = LID; j < count; j += WG) {
        uint i = at(j, ch);
        float xhat = (x[p.off_x + i] - mean) * invstd;
        dx[p.off_dx + i] = k * (dy[p.off_dy + i] - sdy * inv_m - xhat * sdyx * inv_m);
    }
    if (LID == 0u) {
        dgamma[p.off_dg + ch] = sdyx;
        dbeta[p.off_db + ch] = sdy;
    }
}
