#version 450
// Row reductions of x viewed as [rows][len] with shared-memory trees.
// Workgroup (gx, row) reduces a strided slice of its row; with gx > 1 the
// results are partials out[row * gx + gx_index] for a second pass.
// mode: 0 sum, 1 max |v|, 2 sum |v|, 3 sum v^2.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) buffer BufO { float outv[]; };
layout(push_constant) uniform Params {
    uint off_x, off_o, rows, len, mode, sqrt_out, accumulate;
} p;
shared float red[WG];

void main()
{
    uint row = gl_WorkGroupID.y, part = gl_WorkGroupID.x, parts = gl_NumWorkGroups.x;
    uint base = p.off_x + row * p.len;
    float acc = 0.0;
    for (uint j = part * WG + LID; j < p.len; j += parts * WG) {
        float v = x[base + j];
        if (p.mode == 0u) acc += v;
        else if (p.mode == 1u) acc = op_max_nan(acc, abs(v));
        else if (p.mode == 2u) acc += abs(v);
        else acc += v * v;
    }
    red[LID] = acc;
    if (p.mode == 1u) {
        WG_REDUCE(red, op_max_nan)
    } else {
        WG_REDUCE(red, op_add)
    }
    if (LID != 0u)
        return;
    float r = red[0];
    if (parts > 1u) {
        outv[p.off_o + row * parts + part] = r;
        return;
    }
    if (p.sqrt_out != 0u)
        r = sqrt(r);
    if (p.accumulate != 0u)
        r += outv[p.off_o + row];
    outv[p.off_o + row] = r;
}
