#version 450
// Batch-norm training forward, one workgroup per channel: batch mean and
// (biased) variance by two passes, y, saved stats, running stats (unbiased
// variance, PyTorch's momentum convention).
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufG { float gamma[]; };
layout(binding = 2) readonly buffer BufBe { float beta[]; };
layout(binding = 3) writeonly buffer BufY { float y[]; };
layout(binding = 4) buffer BufRm { float rmean[]; };
layout(binding = 5) buffer BufRv { float rvar[]; };
layout(binding = 6) writeonly buffer BufSm { float smean[]; };
layout(binding = 7) writeonly buffer BufSi { float sinvstd[]; };
layout(push_constant) uniform Params {
    uint off_x, off_g, off_be, off_y, off_rm, off_rv, off_sm, off_si;
    uint n, c, inner;
    float eps, momentum;
} p;
shared float red[WG];

uint at(uint j, uint ch) { return (j / p.inner * p.c + ch) * p.inner + j % p.inner; }

void main()
{
    uint ch = row_index();
    if (ch >= p.c)
        return;
    uint count = p.n * p.inner;
    float sum = 0.0;
    for (uint j = LID; j < count; j += WG)
        sum += x[p.off_x + at(j, ch)];
    red[LID] = sum;
    WG_REDUCE(red, op_add)
    float mean = red[0] / float(count);
    barrier();
    float sq = 0.0;
    for (uint j = LID; j < count; j += WG) {
        float d = x[p.off_x + at(j, ch)] - mean;
        sq += d * d;
    }
    red[LID] = sq;
    WG_REDUCE(red, op_add)
    float var = red[0] / float(count);
    float invstd = inversesqrt(var + p.eps);
    float g = gamma[p.off_g + ch], b = beta[p.off_be + ch];
    for (uint j = LID; j < count; j += WG) {
        uint i = at(j, ch);
        y[p.off_y + i] = (x[p.off_x + i] - mean) * invstd * g + b;
    }
    if (LID == 0u) {
        smean[p.off_sm + ch] = mean;
        sinvstd[p.off_si + ch] = invstd;
        float unbiased = count > 1u ? var * float(count) / float(count - 1u) : var;
        rmean[p.off_rm + ch] = (1.0 - p.momentum) * rmean[p.off_rm + ch] + p.momentum * mean;
        rvar[p.off_rv + ch] = (1.0 - p.momentum) * rvar[p.off_rv + ch] + p.momentum * unbiased;
    }
}
