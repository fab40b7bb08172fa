#version 450
// 2-D pooling forward, one invocation per output element.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufY { float y[]; };
layout(push_constant) uniform Params {
    uint off_x, off_y, total, mode;
    uint h, w, kh, kw;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint oh, ow;
} p;

void main()
{
    FOR_EACH_INDEX(idx, p.total) {
        int ox = int(idx % p.ow);
        uint t = idx / p.ow;
        int oy = int(t % p.oh);
        uint plane = t / p.oh; // n * c + channel
        uint base = p.off_x + plane * p.h * p.w;
        float best = 0.0, sum = 0.0;
        uint inside = 0;
        for (uint r = 0; r < p.kh; r++) {
            int iy = oy * p.stride_h - p.pad_h + int(r) * p.dil_h;
            if (iy < 0 || iy >= int(p.h))
                continue;
            for (uint s = 0; s < p.kw; s++) {
                int ix = ox * p.stride_w - p.pad_w + int(s) * p.dil_w;
                if (ix < 0 || ix >= int(p.w))
                    continue;
                float v = x[base + uint(iy) * p.w + uint(ix)];
                if (inside == 0 || v > best)
                    best = v;
                sum += v;
                inside++;
            }
        }
        float outv;
        if (p.mode == 0u)
            outv = inside > 0u ? best : uintBitsToFloat(0xff800000u); // -inf like the reference
        else if (p.mode == 1u)
            outv = inside > 0u ? sum / float(inside) : 0.0;
        else
            outv = sum / float(p.kh * p.kw);
        y[p.off_y + idx] = outv;
    }
}
