/* Batch normalization over [n][c][inner]; training kernels use one
 * work-group per channel so that statistics need no second pass over
 * partial results.  Absent gamma/beta/running tensors are flagged off. */

#define BN_ELEM(p, i) (p)[((long)((i) / inner) * C + c) * inner + (i) % inner]

__kernel void batchnorm_train(__global const float *x, int x_off, __global const float *gamma,
                              int gamma_off, int has_gamma, __global const float *beta,
                              int beta_off, int has_beta, __global float *y, int y_off,
                              __global float *rmean, int rmean_off, __global float *rvar,
                              int rvar_off, int has_running, __global float *smean,
                              int smean_off, __global float *sinvstd, int sinvstd_off,
                              int has_save, int N, int C, int inner, float eps, float momentum,
                              __local float *scratch)
{
    x += x_off;
    y += y_off;
    int c = get_group_id(0);
    int count = N * inner;
    float sum = 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0))
        sum += BN_ELEM(x, i);
    float mean = wg_reduce_sum(sum, scratch) / (float)count;
    /* second pass over deviations: no catastrophic cancellation */
    float sq = 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0)) {
        float d = BN_ELEM(x, i) - mean;
        sq += d * d;
    }
    float var = wg_reduce_sum(sq, scratch) / (float)count;
    float invstd = 1.0f / sqrt(var + eps);
    float g = has_gamma ? gamma[gamma_off + c] : 1.0f;
    float b = has_beta ? beta[beta_off + c] : 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0))
        BN_ELEM(y, i) = (BN_ELEM(x, i) - mean) * invstd * g + b;
    if (get_local_id(0) == 0) {
        if (has_running) {
            float unbiased = count > 1 ? var * (float)count / (float)(count - 1) : var;
            rmean[rmean_off + c] = (1.0f - momentum) * rmean[rmean_off + c] + momentum * mean;
            rvar[rvar_off + c] = (1.0f - momentum) * rvar[rvar_off + c] + momentum * unbiased;
        }
        if (has_save) {
            smean[smean_off + c] = mean;
            sinvstd[sinvstd_off + c] = invstd;
        }
    }
}

__kernel void batchnorm_eval(__global const float *x, int x_off, __global const float *gamma,
                             int gamma_off, int has_gamma, __global const float *beta,
                             int beta_off, int has_beta, __global const float *rmean,
                             int rmean_off, __global const float *rvar, int rvar_off,
                             __global float *y, int y_off, int N, int C, int inner, float eps)
{
    x += x_off;
    y += y_off;
    int total = N * C * inner;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int c = (i / inner) % C;
        float g = has_gamma ? gamma[gamma_off + c] : 1.0f;
        float b = has_beta ? beta[beta_off + c] : 0.0f;
        y[i] = (x[i] - rmean[rmean_off + c]) / sqrt(rvar[rvar_off + c] + eps) * g + b;
    }
}

__kernel void batchnorm_backward(__global const float *x, int x_off, __global const float *dy,
                                 int dy_off, __global const float *gamma, int gamma_off,
                                 int has_gamma, __global const float *smean, int smean_off,
                                 __global const float *sinvstd, int sinvstd_off,
                                 __global float *dx, int dx_off, int has_dx,
                                 __global float *dgamma, int dgamma_off, int has_dgamma,
                                 __global float *dbeta, int dbeta_off, int has_dbeta, int N, int C,
                                 int inner, __local float *scratch)
{
    x += x_off;
    dy += dy_off;
    dx += dx_off;
    int c = get_group_id(0);
    int count = N * inner;
    float mean = smean[smean_off + c];
    float invstd = sinvstd[sinvstd_off + c];
    float sdy = 0.0f, sdyx = 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0)) {
        float g = BN_ELEM(dy, i);
        sdy += g;
        sdyx += g * (BN_ELEM(x, i) - mean) * invstd;
    }
    sdy = wg_reduce_sum(sdy, scratch);
    sdyx = wg_reduce_sum(sdyx, scratch);
    if (has_dx) {
        float g = has_gamma ? gamma[gamma_off + c] : 1.0f;
        float k = g * invstd / (float)count;
        for (int i = get_local_id(0); i < count; i += get_local_size(0)) {
            float xhat = (BN_ELEM(x, i) - mean) * invstd;
            BN_ELEM(dx, i) = k * ((float)count * BN_ELEM(dy, i) - sdy - xhat * sdyx);
        }
    }
    if (get_local_id(0) == 0) {
        if (has_dgamma)
            dgamma[dgamma_off + c] = sdyx;
        if (has_dbeta)
            dbeta[dbeta_off + c] = sdy;
    }
}
