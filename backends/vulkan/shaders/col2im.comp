#version 450
// Fold columns back: dx(n,c,y,x) = sum of every col entry that im2col read
// from (y,x).  A gather per dx element, so no atomics and no races.
#include "common.glsl"
// Unit strides (the common case) skip the divisions: they are slow on CPU
// SIMD (lavapipe) and the specialization removes them entirely.
layout(constant_id = 1) const uint UNIT_STRIDE = 0;
layout(binding = 0) readonly buffer BufCol { float col[]; };
layout(binding = 1) writeonly buffer BufDx { float dx[]; };
layout(push_constant) uniform Params {
    uint off_col, off_dx, total;
    uint c, h, w, groups, cpg, r, s;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint oh, ow, sN, sG, sCRS;
} p;

void main()
{
    FOR_EACH_INDEX(idx, p.total) {
        int ix = int(idx % p.w);
        uint t = idx / p.w;
        int iy = int(t % p.h);
        t /= p.h;
        uint ch = t % p.c, n = t / p.c;
        uint g = ch / p.cpg, cl = ch % p.cpg;
        float sum = 0.0;
        for (uint rr = 0; rr < p.r; rr++) {
            int ty = iy + p.pad_h - int(rr) * p.dil_h;
            if (ty < 0 || (UNIT_STRIDE == 0 && ty % p.stride_h != 0))
                continue;
            uint oy = UNIT_STRIDE != 0 ? uint(ty) : uint(ty / p.stride_h);
            if (oy >= p.oh)
                continue;
            for (uint ss = 0; ss < p.s; ss++) {
                int tx = ix + p.pad_w - int(ss) * p.dil_w;
                if (tx < 0 || (UNIT_STRIDE == 0 && tx % p.stride_w != 0))
                    continue;
                uint ox = UNIT_STRIDE != 0 ? uint(tx) : uint(tx / p.stride_w);
                if (ox >= p.ow)
                    continue;
                uint crs = (cl * p.r + rr) * p.s + ss;
                sum += col[p.off_col + n * p.sN + g * p.sG + crs * p.sCRS + oy * p.ow + ox];
            }
        }
        dx[p.off_dx + idx] = sum;
    }
}
