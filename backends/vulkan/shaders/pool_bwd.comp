#version 450
// 2-D pooling backward as a gather over the windows that contain each input
// element (no atomics).  Max: the gradient goes to the first maximum of the
// window in row-major order, recomputed from x.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufDy { float dy[]; };
layout(binding = 2) writeonly buffer BufDx { float dx[]; };
layout(push_constant) uniform Params {
    uint off_x, off_dy, off_dx, total, mode;
    uint h, w, kh, kw;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint oh, ow;
} p;

// Flat input index (within the plane) of the first maximum of window (oy, ox).
uint first_max(uint base, int oy, int ox)
{
    float best = 0.0;
    uint where = 0xffffffffu;
    for (uint r = 0; r < p.kh; r++) {
        int iy = oy * p.stride_h - p.pad_h + int(r) * p.dil_h;
        if (iy < 0 || iy >= int(p.h))
            continue;
        for (uint s = 0; s < p.kw; s++) {
            int ix = ox * p.stride_w - p.pad_w + int(s) * p.dil_w;
            if (ix < 0 || ix >= int(p.w))
                continue;
            uint at = uint(iy) * p.w + uint(ix);
            float v = x[base + at];
            if (where == 0xffffffffu || v > best) {
                best = v;
                where = at;
            }
        }
    }
    return where;
}

uint inside_count(int oy, int ox)
{
    uint n = 0;
    for (uint r = 0; r < p.kh; r++) {
        int iy = oy * p.stride_h - p.pad_h + int(r) * p.dil_h;
        if (iy < 0 || iy >= int(p.h))
            continue;
        for (uint s = 0; s < p.kw; s++) {
            int ix = ox * p.stride_w - p.pad_w + int(s) * p.dil_w;
            if (ix >= 0 && ix < int(p.w))
                n++;
        }
    }
    return n;
}

void main()
{
    FOR_EACH_INDEX(idx, p.total) {
        int ix = int(idx % p.w);
        uint t = idx / p.w;
        int iy = int(t % p.h);
        uint plane = t / p.h;
        uint xbase = p.off_x + plane * p.h * p.w;
        uint dybase = p.off_dy + plane * p.oh * p.ow;
        uint me = uint(iy) * p.w + uint(ix);
        float g = 0.0;
        for (uint r = 0; r < p.kh; r++) {
            int ty = iy + p.pad_h - int(r) * p.dil_h;
            if (ty < 0 || ty % p.stride_h != 0 || uint(ty / p.stride_h) >= p.oh)
                continue;
            int oy = ty / p.stride_h;
            for (uint s = 0; s < p.kw; s++) {
                int tx = ix + p.pad_w - int(s) * p.dil_w;
                if (tx < 0 || tx % p.stride_w != 0 || uint(tx / p.stride_w) >= p.ow)
                    continue;
                int ox = tx / p.stride_w;
                float d = dy[dybase + uint(oy) * p.ow + uint(ox)];
                if (p.mode == 0u) {
                    if (first_max(xbase, oy, ox) == me)
                        g += d;
                } else if (p.mode == 1u) {
                    g += d / float(inside_count(oy, ox));
                } else {
                    g += d / float(p.kh * p.kw);
                }
            }
        }
        dx[p.off_dx + idx] = g;
    }
}
