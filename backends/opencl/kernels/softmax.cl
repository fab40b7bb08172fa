/* Row-wise softmax, losses, argmax and accuracy over [rows][cols]: one
 * work-group per row.  Accumulating outputs (loss_sum, count) are written
 * per row into partials and summed by one work-group in accumulate_sum, so
 * the += is race-free and deterministic. */

/* Returns log(sum(exp(z - max))) + max for z = x * inv_temp over one row. */
float row_logsumexp(__global const float *row, int cols, float inv_temp,
                    __local float *scratch)
{
    float m = -INFINITY;
    for (int j = get_local_id(0); j < cols; j += get_local_size(0))
        m = max_nan(m, row[j] * inv_temp);
    m = wg_reduce_max(m, scratch);
    float s = 0.0f;
    for (int j = get_local_id(0); j < cols; j += get_local_size(0))
        s += exp(row[j] * inv_temp - m);
    s = wg_reduce_sum(s, scratch);
    return m + log(s);
}

__kernel void softmax_rows(__global const float *x, int x_off, __global float *y, int y_off,
                           int cols, float inv_temp, int log_out, __local float *scratch)
{
    __global const float *xr = x + x_off + (long)get_group_id(0) * cols;
    __global float *yr = y + y_off + (long)get_group_id(0) * cols;
    float lse = row_logsumexp(xr, cols, inv_temp, scratch);
    for (int j = get_local_id(0); j < cols; j += get_local_size(0)) {
        float lp = xr[j] * inv_temp - lse;
        yr[j] = log_out ? lp : exp(lp);
    }
}

/* A label outside [0, cols) cannot be reported synchronously: the first
 * such row (+1) and its label go to bad_label[0..1], which the host checks at
 * its next synchronization. */
__kernel void softmax_xent_rows(__global const float *x, int x_off, __global const int *labels,
                                int labels_off, __global int *bad_label, __global float *partial,
                                __global float *dlogits, int d_off, int has_d, int cols,
                                float inv_temp, float grad_scale, __local float *scratch)
{
    int row = get_group_id(0);
    __global const float *xr = x + x_off + (long)row * cols;
    __global float *dr = dlogits + d_off + (long)row * cols;
    int label = labels[labels_off + row];
    float lse = row_logsumexp(xr, cols, inv_temp, scratch);
    int valid = label >= 0 && label < cols;
    if (get_local_id(0) == 0) {
        partial[row] = valid ? lse - xr[label] * inv_temp : 0.0f;
        if (!valid && atomic_cmpxchg(bad_label, 0, row + 1) == 0)
            bad_label[1] = label;
    }
    if (has_d) {
        float k = inv_temp * grad_scale;
        for (int j = get_local_id(0); j < cols; j += get_local_size(0))
            dr[j] = (exp(xr[j] * inv_temp - lse) - (j == label ? 1.0f : 0.0f)) * k;
    }
}

__kernel void softmax_kl_rows(__global const float *x, int x_off, __global const float *t,
                              int t_off, __global float *partial, __global float *dlogits,
                              int d_off, int has_d, int cols, float inv_temp, float grad_scale,
                              __local float *scratch)
{
    int row = get_group_id(0);
    __global const float *xr = x + x_off + (long)row * cols;
    __global const float *tr = t + t_off + (long)row * cols;
    __global float *dr = dlogits + d_off + (long)row * cols;
    float lse_s = row_logsumexp(xr, cols, inv_temp, scratch);
    float lse_t = row_logsumexp(tr, cols, inv_temp, scratch);
    float kl = 0.0f;
    for (int j = get_local_id(0); j < cols; j += get_local_size(0)) {
        float log_pt = tr[j] * inv_temp - lse_t;
        float log_ps = xr[j] * inv_temp - lse_s;
        float pt = exp(log_pt);
        kl += pt * (log_pt - log_ps);
        if (has_d)
            dr[j] = (exp(log_ps) - pt) * inv_temp * grad_scale;
    }
    kl = wg_reduce_sum(kl, scratch);
    if (get_local_id(0) == 0)
        partial[row] = kl;
}

/* First maximum of one row, left in (*best_v, *best_i) of work item 0. */
void row_argmax(__global const float *xr, int cols, __local float *sv, __local int *si,
                float *best_v, int *best_i)
{
    int lid = get_local_id(0);
    float bv = 0.0f;
    int bi = INT_MAX; /* INT_MAX: this item saw no element */
    for (int j = lid; j < cols; j += get_local_size(0)) {
        float v = xr[j];
        if (bi == INT_MAX || v > bv) {
            bv = v;
            bi = j;
        }
    }
    sv[lid] = bv;
    si[lid] = bi;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) {
            float ov = sv[lid + s];
            int oi = si[lid + s];
            int take = oi != INT_MAX &&
                       (si[lid] == INT_MAX || ov > sv[lid] || (!(sv[lid] > ov) && oi < si[lid]));
            if (take) {
                sv[lid] = ov;
                si[lid] = oi;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    *best_v = sv[0];
    *best_i = si[0];
}

__kernel void argmax_rows(__global const float *x, int x_off, __global int *out, int out_off,
                          int cols, __local float *sv, __local int *si)
{
    int row = get_group_id(0);
    float v;
    int idx;
    row_argmax(x + x_off + (long)row * cols, cols, sv, si, &v, &idx);
    if (get_local_id(0) == 0)
        out[out_off + row] = idx;
}

__kernel void accuracy_rows(__global const float *x, int x_off, __global const int *labels,
                            int labels_off, __global float *partial, int cols,
                            __local float *sv, __local int *si)
{
    int row = get_group_id(0);
    float v;
    int idx;
    row_argmax(x + x_off + (long)row * cols, cols, sv, si, &v, &idx);
    if (get_local_id(0) == 0)
        partial[row] = idx == labels[labels_off + row] ? 1.0f : 0.0f;
}

/* One work-group: out[0] += sum of partial[0..n). */
__kernel void accumulate_sum(__global const float *partial, int n, __global float *out,
                             int out_off, __local float *scratch)
{
    float s = 0.0f;
    for (int i = get_local_id(0); i < n; i += get_local_size(0))
        s += partial[i];
    s = wg_reduce_sum(s, scratch);
    if (get_local_id(0) == 0)
        out[out_off] += s;
}
