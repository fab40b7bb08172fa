/* Buffer fills and the beta-scaling of GEMM outputs that CLBlast is not
 * trusted with (beta == 0 must not read C, so NaNs there cannot leak). */

__kernel void fill_f32(__global float *y, int y_off, float value, int n)
{
    y += y_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = value;
}

/* C[b] (m x n, row stride ldc, batch stride) = beta * C[b]; 0 when beta == 0. */
__kernel void scale_matrix(__global float *c, int c_off, int m, int n, int ldc, int stride,
                           int batch, float beta)
{
    c += c_off;
    int total = batch * m * n;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int col = i % n;
        int row = (i / n) % m;
        int b = i / (m * n);
        __global float *p = c + (long)b * stride + (long)row * ldc + col;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}
