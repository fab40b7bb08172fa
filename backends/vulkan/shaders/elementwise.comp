#version 450
// Elementwise ops on n floats; outputs may alias inputs (each invocation
// reads its element before writing it).
//   0 add y=a+b  1 sub y=a-b  2 mul y=a*b  3 axpy y+=alpha*a  4 scale y=alpha*a
//   5 mask_mul y*=a
#include "common.glsl"
layout(binding = 0) readonly buffer BufA { float a[]; };
layout(binding = 1) readonly buffer BufB { float b[]; };
layout(binding = 2) buffer BufY { float y[]; };
// The op is a specialization constant: one branch-free pipeline per op.
layout(constant_id = 1) const uint OP = 0;
layout(push_constant) uniform Params { uint off_a, off_b, off_y, n; float alpha; } p;

void main()
{
    FOR_EACH_INDEX(i, p.n) {
        float av = a[p.off_a + i];
        float r;
        switch (OP) {
        case 0u: r = av + b[p.off_b + i]; break;
        case 1u: r = av - b[p.off_b + i]; break;
        case 2u: r = av * b[p.off_b + i]; break;
        case 3u: r = y[p.off_y + i] + p.alpha * av; break;
        case 4u: r = p.alpha * av; break;
        default: r = y[p.off_y + i] * av; break;
        }
        y[p.off_y + i] = r;
    }
}
