/* Full reductions in two deterministic stages (per-group partials, then
 * one work-group), and per-row norms. op 0 = sum, 1 = max |x|. */

__kernel void reduce_partial(__global const float *x, int x_off, int n, int op,
                             __global float *partial, __local float *scratch)
{
    x += x_off;
    float acc = 0.0f;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        acc = op == 0 ? acc + x[i] : max_nan(acc, fabs(x[i]));
    acc = op == 0 ? wg_reduce_sum(acc, scratch) : wg_reduce_max(acc, scratch);
    if (get_local_id(0) == 0)
        partial[get_group_id(0)] = acc;
}

__kernel void reduce_final(__global const float *partial, int n, int op, __global float *out,
                           int out_off, __local float *scratch)
{
    float acc = 0.0f;
    for (int i = get_local_id(0); i < n; i += get_local_size(0))
        acc = op == 0 ? acc + partial[i] : max_nan(acc, partial[i]);
    acc = op == 0 ? wg_reduce_sum(acc, scratch) : wg_reduce_max(acc, scratch);
    if (get_local_id(0) == 0)
        out[out_off] = acc;
}

/* One work-group per row of [k][len]: L1 (p == 1) or L2 norm. */
__kernel void channel_norm(__global const float *x, int x_off, __global float *out, int out_off,
                           int len, int p, __local float *scratch)
{
    __global const float *row = x + x_off + (long)get_group_id(0) * len;
    float acc = 0.0f;
    for (int j = get_local_id(0); j < len; j += get_local_size(0))
        acc += p == 1 ? fabs(row[j]) : row[j] * row[j];
    acc = wg_reduce_sum(acc, scratch);
    if (get_local_id(0) == 0)
        out[out_off + get_group_id(0)] = p == 1 ? acc : sqrt(acc);
}
