#version 450
// Unfold input patches: col(n, g, crs, p) at n*sN + g*sG + crs*sCRS + p,
// crs = (c_in_group * R + r) * S + s, p = oy * OW + ox.  Zero outside the input.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufCol { float col[]; };
layout(push_constant) uniform Params {
    uint off_x, off_col, total;
    uint c, h, w, groups, cpg, r, s;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint oh, ow, sN, sG, sCRS;
} p;

void main()
{
    const uint P = p.oh * p.ow, CRS = p.cpg * p.r * p.s;
    FOR_EACH_INDEX(idx, p.total) {
        uint pos = idx % P;
        uint t = idx / P;
        uint crs = t % CRS;
        t /= CRS;
        uint g = t % p.groups, n = t / p.groups;
        uint cl = crs / (p.r * p.s), rs = crs % (p.r * p.s);
        int rr = int(rs / p.s), ss = int(rs % p.s);
        int oy = int(pos / p.ow), ox = int(pos % p.ow);
        int iy = oy * p.stride_h - p.pad_h + rr * p.dil_h;
        int ix = ox * p.stride_w - p.pad_w + ss * p.dil_w;
        float v = 0.0;
        if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
            v = x[p.off_x + ((n * p.c + g * p.cpg + cl) * p.h + uint(iy)) * p.w + uint(ix)];
        col[p.off_col + n * p.sN + g * p.sG + crs * p.sCRS + pos] = v;
    }
}
