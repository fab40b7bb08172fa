/* Helpers shared by every kernel family (concatenated first into the one
 * program).  OpenCL C 1.2.  Tensor arguments come as a buffer plus an
 * offset in floats, because sub-buffers have alignment rules that ordinary
 * tensor offsets do not satisfy.
 *
 * Work-group reductions need a power-of-two local size (the host picks one)
 * and make no assumption about sub-group size. */

/* max that propagates NaN (fmax drops it): a NaN anywhere must surface in
 * max-abs and in softmax, as it does in the CPU reference. */
float max_nan(float a, float b)
{
    return (isnan(a) || a > b) ? a : b;
}

float wg_reduce_sum(float v, __local float *scratch)
{
    int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch is reused by the next reduction */
    return r;
}

float wg_reduce_max(float v, __local float *scratch)
{
    int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] = max_nan(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
