#version 450
// Fake quantization of ABI 1.1 on floats viewed as [outer][channels][inner]
// (y may alias x: each invocation reads its element before writing it).
#include "common.glsl"
#include "int8.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) buffer BufY { float y[]; };
layout(binding = 2) writeonly buffer BufMask { float mask[]; };
layout(binding = 3) readonly buffer BufScale { float scale[]; };
layout(binding = 4) readonly buffer BufInv { float inv[]; };
layout(binding = 5) readonly buffer BufZp { int zp[]; };
layout(push_constant) uniform Params {
    uint off_x, off_y, off_mask, off_scale, off_inv, off_zp;
    uint n, channels, inner;
    int qmin, qmax, has_mask;
} p;

void main()
{
    FOR_EACH_INDEX(i, p.n) {
        uint ch = (i / p.inner) % p.channels;
        int z = zp[p.off_zp + ch];
        bool inside;
        int q = quant_value(x[p.off_x + i], inv[p.off_inv + ch], z, p.qmin, p.qmax, inside);
        if (p.has_mask != 0)
            mask[p.off_mask + i] = inside ? 1.0 : 0.0;
        precise float v = float(q - z) * scale[p.off_scale + ch];
        y[p.off_y + i] = v;
    }
}
