#version 450
// PyTorch SGD: g' = g + wd w; v = first ? g' : momentum v + (1-dampening) g';
// d = nesterov ? g' + momentum v : v (d = g' without momentum); w -= lr d.
#include "common.glsl"
layout(binding = 0) buffer BufW { float w[]; };
layout(binding = 1) readonly buffer BufG { float g[]; };
layout(binding = 2) buffer BufV { float v[]; };
layout(push_constant) uniform Params {
    uint off_w, off_g, off_v, n;
    float lr, momentum, dampening, weight_decay;
    uint nesterov, first;
} p;

void main()
{
    FOR_EACH_INDEX(i, p.n) {
        float wv = w[p.off_w + i];
        float gp = g[p.off_g + i] + p.weight_decay * wv;
        float d = gp;
        if (p.momentum != 0.0) {
            float vv = p.first != 0u ? gp
                                     : p.momentum * v[p.off_v + i] + (1.0 - p.dampening) * gp;
            v[p.off_v + i] = vv;
            d = p.nesterov != 0u ? gp + p.momentum * vv : vv;
        }
        w[p.off_w + i] = wv - p.lr * d;
    }
}
