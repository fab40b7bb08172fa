#version 450
// Batch-norm inference: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufG { float gamma[]; };
layout(binding = 2) readonly buffer BufBe { float beta[]; };
layout(binding = 3) readonly buffer BufRm { float rmean[]; };
layout(binding = 4) readonly buffer BufRv { float rvar[]; };
layout(binding = 5) writeonly buffer BufY { float y[]; };
layout(push_constant) uniform Params {
    uint off_x, off_g, off_be, off_rm, off_rv, off_y;
    uint total, c, inner;
    float eps;
} p;

void main()
{
    FOR_EACH_INDEX(i, p.total) {
        uint ch = (i / p.inner) % p.c;
        float invstd = 1.0 / sqrt(rvar[p.off_rv + ch] + p.eps);
        y[p.off_y + i] = (x[p.off_x + i] - rmean[p.off_rm + ch]) * invstd * gamma[p.off_g + ch]
                         + beta[p.off_be + ch];
    }
}
