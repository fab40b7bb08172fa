/* Elementwise arithmetic; outputs may alias inputs (same index only). */

#define OP_ADD 0
#define OP_SUB 1
#define OP_MUL 2

__kernel void elementwise_binary(__global const float *a, int a_off, __global const float *b,
                                 int b_off, __global float *y, int y_off, int n, int op)
{
    a += a_off;
    b += b_off;
    y += y_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float u = a[i], v = b[i];
        y[i] = op == OP_ADD ? u + v : (op == OP_SUB ? u - v : u * v);
    }
}

__kernel void axpy(__global const float *x, int x_off, __global float *y, int y_off, int n,
                   float alpha)
{
    x += x_off;
    y += y_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] += alpha * x[i];
}

__kernel void scale(__global const float *x, int x_off, __global float *y, int y_off, int n,
                    float alpha)
{
    x += x_off;
    y += y_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = alpha * x[i];
}

__kernel void mask_mul(__global const float *mask, int mask_off, __global float *w, int w_off,
                       int n)
{
    mask += mask_off;
    w += w_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        w[i] *= mask[i];
}
