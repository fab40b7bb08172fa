#version 450
// y = f(x) for the activation in p.act (values of mlopt_act).
#include "common.glsl"
#include "act.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufY { float y[]; };
// The activation is a specialization constant: one branch-free pipeline each.
layout(constant_id = 1) const uint ACT = 0;
layout(push_constant) uniform Params { uint off_x, off_y, n; float alpha, beta; } p;

void main()
{
    FOR_EACH_INDEX(i, p.n)
        y[p.off_y + i] = act_f(ACT, x[p.off_x + i], p.alpha, p.beta);
}
