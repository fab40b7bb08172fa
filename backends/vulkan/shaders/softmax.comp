#version 450
// Row softmax (or log-softmax) of x * inv_temp, one workgroup per row.
#include "common.glsl"
layout(binding = 0) readonly buffer BufX { float x[]; };
layout(binding = 1) writeonly buffer BufY { float y[]; };
layout(push_constant) uniform Params {
    uint off_x, off_y, rows, cols;
    float inv_temp;
    uint log_out;
} p;
shared float red[WG];

void main()
{
    uint row = row_index();
    if (row >= p.rows)
        return;
    uint bx = p.off_x + row * p.cols, by = p.off_y + row * p.cols;
    float m = -3.402823466e38;
    for (uint j = LID; j < p.cols; j += WG)
        m = max(m, x[bx + j] * p.inv_temp);
    red[LID] = m;
    WG_REDUCE(red, op_max)
    m = red[0];
    barrier();
    float s = 0.0;
    for (uint j = LID; j < p.cols; j += WG)
        s += exp(x[bx + j] * p.inv_temp - m);
    red[LID] = s;
    WG_REDUCE(red, op_add)
    s = red[0];
    float log_s = log(s), inv_s = 1.0 / s;
    for (uint j = LID; j < p.cols; j += WG) {
        float z = x[bx + j] * p.inv_temp - m;
        y[by + j] = p.log_out != 0u ? z - log_s : exp(z) * inv_s;
    }
}
