#version 450
// Adam (decoupled = 0) / AdamW (decoupled = 1); bias corrections
// bc1 = 1 - b1^t, bc2 = 1 - b2^t come precomputed from the host.
#include "common.glsl"
layout(binding = 0) buffer BufW { float w[]; };
layout(binding = 1) readonly buffer BufG { float g[]; };
layout(binding = 2) buffer BufM { float m[]; };
layout(binding = 3) buffer BufV { float v[]; };
layout(push_constant) uniform Params {
    uint off_w, off_g, off_m, off_v, n;
    float lr, beta1, beta2, eps, weight_decay;
    uint decoupled;
    float bc1, bc2;
} p;

void main()
{
    FOR_EACH_INDEX(i, p.n) {
        float wv = w[p.off_w + i];
        float gv = g[p.off_g + i];
        if (p.decoupled != 0u)
            wv *= 1.0 - p.lr * p.weight_decay;
        else
            gv += p.weight_decay * wv;
        float mv = p.beta1 * m[p.off_m + i] + (1.0 - p.beta1) * gv;
        float vv = p.beta2 * v[p.off_v + i] + (1.0 - p.beta2) * gv * gv;
        m[p.off_m + i] = mv;
        v[p.off_v + i] = vv;
        w[p.off_w + i] = wv - p.lr * (mv / p.bc1) / (sqrt(vv / p.bc2) + p.eps);
    }
}
