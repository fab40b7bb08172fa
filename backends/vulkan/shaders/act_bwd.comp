#version 450
// dx = dy * f'(x).
#include "common.glsl"
#include "act.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufY { float y[]; };
layout(binding = 2) readonly buffer BufDy { float dy[]; };
layout(binding = 3) writeonly buffer BufDx { float dx[]; };
// The activation is a specialization constant: one branch-free pipeline each.
layout(constant_id = 1) const uint ACT = 0;
layout(push_constant) uniform Params {
    uint off_x, off_y, off_dy, off_dx, n;
    float alpha, beta;
} p;

void main()
{
    FOR_EACH_INDEX(i, p.n)
        dx[p.off_dx + i] = dy[p.off_dy + i] * act_df(ACT, x[p.off_x + i], p.alpha, p.beta);
}
