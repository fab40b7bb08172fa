#version 450
// dbias[c] = sum of dy[n][c][inner] over n and inner; one workgroup per channel.
#include "common.glsl"
layout(binding = 0) readonly buffer BufDy { float dy[]; };
layout(binding = 1) writeonly buffer BufDb { float db[]; };
layout(push_constant) uniform Params { uint off_dy, off_db, n, c, inner; } p;
shared float red[WG];

void main()
{
    uint ch = row_index();
    if (ch >= p.c)
        return;
    float sum = 0.0;
    for (uint j = LID; j < p.n * p.inner; j += WG) {
        uint ni = j / p.inner, ii = j % p.inner;
        sum += dy[p.off_dy + (ni * p.c + ch) * p.inner + ii];
    }
    red[LID] = sum;
    WG_REDUCE(red, op_add)
    if (LID == 0u)
        db[p.off_db + ch] = red[0];
}
