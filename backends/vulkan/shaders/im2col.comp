#version 450
// Unfold input patches: col(n, g, crs, p) at n*sN + g*sG + crs*sCRS + p,
// crs = (c_in_group * R + r) * S + s, p = oy * OW + ox.  Zero outside the
// input.  One invocation per (image, group, output position) walks all crs:
// the index arithmetic (integer division, slow on CPU SIMD) is done once per
// position, and adjacent invocations still write adjacent addresses.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufCol { float col[]; };
layout(push_constant) uniform Params {
    uint off_x, off_col, total; // total = images * groups * oh * ow
    uint c, h, w, groups, cpg, r, s;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint oh, ow, sN, sG, sCRS;
} p;

void main()
{
    const uint P = p.oh * p.ow;
    FOR_EACH_INDEX(idx, p.total) {
        uint pos = idx % P;
        uint t = idx / P;
        uint g = t % p.groups, n = t / p.groups;
        int oy = int(pos / p.ow), ox = int(pos % p.ow);
        uint out_at = p.off_col + n * p.sN + g * p.sG + pos;
        uint plane = p.off_x + (n * p.c + g * p.cpg) * p.h * p.w;
        int y0 = oy * p.stride_h - p.pad_h, x0 = ox * p.stride_w - p.pad_w;
        for (uint cl = 0; cl < p.cpg; cl++, plane += p.h * p.w) {
            for (uint rr = 0; rr < p.r; rr++) {
                int iy = y0 + int(rr) * p.dil_h;
                bool row_in = iy >= 0 && iy < int(p.h);
                for (uint ss = 0; ss < p.s; ss++, out_at += p.sCRS) {
                    int ix = x0 + int(ss) * p.dil_w;
                    float v = 0.0;
                    if (row_in && ix >= 0 && ix < int(p.w))
                        v = x[plane + uint(iy) * p.w + uint(ix)];
                    col[out_at] = v;
                }
            }
        }
    }
}
