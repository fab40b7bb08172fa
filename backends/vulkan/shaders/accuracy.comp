#version 450
// count[0] += rows whose first-max index equals the label.  A single
// workgroup covers every row, so the += needs no atomics.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) readonly buffer BufL { int labels[]; };
layout(binding = 2) buffer BufC { float count[]; };
layout(push_constant) uniform Params { uint off_x, off_l, off_c, rows, cols; } p;
shared float red[WG];

void main()
{
    float hits = 0.0;
    for (uint row = LID; row < p.rows; row += WG) {
        uint base = p.off_x + row * p.cols;
        float best = x[base];
        int where = 0;
        for (uint j = 1; j < p.cols; j++) {
            float v = x[base + j];
            if (v > best) {
                best = v;
                where = int(j);
            }
        }
        if (where == labels[p.off_l + row])
            hits += 1.0;
    }
    red[LID] = hits;
    WG_REDUCE(red, op_add)
    if (LID == 0u)
        count[p.off_c] += red[0];
}
