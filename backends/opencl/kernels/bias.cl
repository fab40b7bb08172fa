/* Per-channel bias on tensors viewed as [n][c][inner]. */

__kernel void bias_add(__global float *x, int x_off, __global const float *bias, int bias_off,
                       int N, int C, int inner)
{
    x += x_off;
    bias += bias_off;
    int total = N * C * inner;
    for (int i = get_global_id(0); i < total; i += get_global_size(0))
        x[i] += bias[(i / inner) % C];
}

/* One work-group per channel: dbias[c] = sum of dy over n and inner. */
__kernel void bias_grad(__global const float *dy, int dy_off, __global float *dbias,
                        int dbias_off, int N, int C, int inner, __local float *scratch)
{
    dy += dy_off;
    dbias += dbias_off;
    int c = get_group_id(0);
    int count = N * inner;
    float sum = 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0))
        sum += dy[((long)(i / inner) * C + c) * inner + i % inner];
    sum = wg_reduce_sum(sum, scratch);
    if (get_local_id(0) == 0)
        dbias[c] = sum;
}
