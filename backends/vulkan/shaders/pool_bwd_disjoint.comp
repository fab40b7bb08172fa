#version 450
// 2-D pooling backward when windows cannot overlap (stride >= window extent,
// e.g. the usual 2x2/2 max-pool): one invocation per output element scatters
// its gradient into its own window, so there are no races; dx was zeroed by
// a fill before.  Max: the first maximum in row-major order gets it all.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufDy { float dy[]; };
layout(binding = 2) buffer BufDx { float dx[]; };
layout(push_constant) uniform Params {
    uint off_x, off_dy, off_dx, total, mode;
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
        uint plane = t / p.oh;
        uint xbase = p.off_x + plane * p.h * p.w, dxbase = p.off_dx + plane * p.h * p.w;
        float d = dy[p.off_dy + idx];
        if (p.mode == 0u) {
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
                    float v = x[xbase + at];
                    if (where == 0xffffffffu || v > best) {
                        best = v;
                        where = at;
                    }
                }
            }
            if (where != 0xffffffffu)
                dx[dxbase + where] = d;
            continue;
        }
        uint inside = 0;
        for (uint r = 0; r < p.kh; r++) {
            int iy = oy * p.stride_h - p.pad_h + int(r) * p.dil_h;
            for (uint s = 0; s < p.kw; s++) {
                int ix = ox * p.stride_w - p.pad_w + int(s) * p.dil_w;
                if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
                    inside++;
            }
        }
        float g = p.mode == 1u ? d / float(inside) : d / float(p.kh * p.kw);
        for (uint r = 0; r < p.kh; r++) {
            int iy = oy * p.stride_h - p.pad_h + int(r) * p.dil_h;
            if (iy < 0 || iy >= int(p.h))
                continue;
            for (uint s = 0; s < p.kw; s++) {
                int ix = ox * p.stride_w - p.pad_w + int(s) * p.dil_w;
                if (ix >= 0 && ix < int(p.w))
                    dx[dxbase + uint(iy) * p.w + uint(ix)] = g;
            }
        }
    }
}
