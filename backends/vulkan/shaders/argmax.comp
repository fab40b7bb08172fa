#version 450
// out[row] = index of the first maximum of the row; one invocation per row.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufO { int outv[]; };
layout(push_constant) uniform Params { uint off_x, off_o, rows, cols; } p;

void main()
{
    FOR_EACH_INDEX(row, p.rows) {
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
        outv[p.off_o + row] = where;
    }
}
