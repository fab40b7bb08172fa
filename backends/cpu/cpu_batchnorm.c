/* Batch normalization over x viewed as [n][c][inner], one channel per task.
 * Statistics are accumulated in double with a two-pass (mean, then
 * centred sum of squares) scheme, which avoids the cancellation of the
 * one-pass E[x^2] - E[x]^2 formula. */
#include <math.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_bn_job {
    int n, c, inner;
    float eps, momentum;
    const float *x, *dy, *gamma, *beta, *mean_in, *invstd_in, *rmean_in, *rvar_in;
    float *y, *dx, *dgamma, *dbeta, *rmean, *rvar, *save_mean, *save_invstd;
} cpu_bn_job;

#define CPU_BN_AT(j, base, ni, ch) ((base) + ((size_t)(ni) * (j)->c + (ch)) * (j)->inner)

static void cpu_bn_train_channels(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_bn_job *j = arg;
    double count = (double)j->n * j->inner;
    for (size_t ch = begin; ch < end; ch++) {
        double sum = 0.0;
        for (int ni = 0; ni < j->n; ni++) {
            const float *x = CPU_BN_AT(j, j->x, ni, ch);
            for (int i = 0; i < j->inner; i++)
                sum += x[i];
        }
        double mean = count > 0 ? sum / count : 0.0;
        double sq = 0.0;
        for (int ni = 0; ni < j->n; ni++) {
            const float *x = CPU_BN_AT(j, j->x, ni, ch);
            for (int i = 0; i < j->inner; i++) {
                double d = x[i] - mean;
                sq += d * d;
            }
        }
        double var = count > 0 ? sq / count : 0.0;
        double invstd = 1.0 / sqrt(var + j->eps);
        float g = j->gamma ? j->gamma[ch] : 1.0f, b = j->beta ? j->beta[ch] : 0.0f;
        float scale = (float)(g * invstd), shift = (float)(b - mean * g * invstd);
        for (int ni = 0; ni < j->n; ni++) {
            const float *x = CPU_BN_AT(j, j->x, ni, ch);
            float *y = CPU_BN_AT(j, j->y, ni, ch);
            for (int i = 0; i < j->inner; i++)
                y[i] = x[i] * scale + shift;
        }
        if (j->rmean)
            j->rmean[ch] = (float)((1.0 - j->momentum) * j->rmean[ch] + j->momentum * mean);
        if (j->rvar) {
            double unbiased = count > 1 ? sq / (count - 1) : var;
            j->rvar[ch] = (float)((1.0 - j->momentum) * j->rvar[ch] + j->momentum * unbiased);
        }
        if (j->save_mean)
            j->save_mean[ch] = (float)mean;
        if (j->save_invstd)
            j->save_invstd[ch] = (float)invstd;
    }
}

static void cpu_bn_eval_channels(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_bn_job *j = arg;
    for (size_t ch = begin; ch < end; ch++) {
        double invstd = 1.0 / sqrt((double)j->rvar_in[ch] + j->eps);
        float g = j->gamma ? j->gamma[ch] : 1.0f, b = j->beta ? j->beta[ch] : 0.0f;
        float scale = (float)(g * invstd), shift = (float)(b - j->rmean_in[ch] * g * invstd);
        for (int ni = 0; ni < j->n; ni++) {
            const float *x = CPU_BN_AT(j, j->x, ni, ch);
            float *y = CPU_BN_AT(j, j->y, ni, ch);
            for (int i = 0; i < j->inner; i++)
                y[i] = x[i] * scale + shift;
        }
    }
}

/* dx = gamma * invstd / N * (N dy - sum(dy) - xhat * sum(dy xhat)) */
static void cpu_bn_backward_channels(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_bn_job *j = arg;
    double count = (double)j->n * j->inner;
    for (size_t ch = begin; ch < end; ch++) {
        double mean = j->mean_in[ch], invstd = j->invstd_in[ch];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int ni = 0; ni < j->n; ni++) {
            const float *x = CPU_BN_AT(j, j->x, ni, ch);
            const float *dy = CPU_BN_AT(j, j->dy, ni, ch);
            for (int i = 0; i < j->inner; i++) {
                sum_dy += dy[i];
                sum_dy_xhat += dy[i] * (x[i] - mean) * invstd;
            }
        }
        if (j->dbeta)
            j->dbeta[ch] = (float)sum_dy;
        if (j->dgamma)
            j->dgamma[ch] = (float)sum_dy_xhat;
        if (!j->dx || count == 0)
            continue;
        double g = j->gamma ? j->gamma[ch] : 1.0;
        double k = g * invstd / count;
        float a = (float)(k * count);                        /* coefficient of dy */
        float bx = (float)(-k * sum_dy_xhat * invstd);       /* coefficient of x */
        float c0 = (float)(-k * sum_dy + k * sum_dy_xhat * invstd * mean);
        for (int ni = 0; ni < j->n; ni++) {
            const float *x = CPU_BN_AT(j, j->x, ni, ch);
            const float *dy = CPU_BN_AT(j, j->dy, ni, ch);
            float *dx = CPU_BN_AT(j, j->dx, ni, ch);
            for (int i = 0; i < j->inner; i++)
                dx[i] = a * dy[i] + bx * x[i] + c0;
        }
    }
}

static int cpu_bn_shape(mlopt_backend_ctx *ctx, const char *call, int n, int c, int inner)
{
    if (n < 0 || c < 0 || inner < 0)
        return cpu_fail(ctx, "%s: negative shape n=%d c=%d inner=%d", call, n, c, inner);
    return 0;
}

/* Optional per-channel vector: NULL buffer allowed. */
static int cpu_bn_opt(mlopt_backend_ctx *ctx, mlopt_ref r, int c, const char *call,
                      const char *what, float **out)
{
    *out = NULL;
    if (!r.buf)
        return 0;
    *out = cpu_fptr(ctx, r, (size_t)c, call, what);
    return *out ? 0 : 1;
}

static void cpu_bn_run(mlopt_backend_ctx *ctx, cpu_bn_job *j, cpu_parallel_fn fn)
{
    size_t total = (size_t)j->n * j->c * j->inner;
    if (total < CPU_PAR_MIN_ELEMS)
        fn(j, 0, (size_t)j->c, 0);
    else
        cpu_parallel_elems(ctx, (size_t)j->c, 2, fn, j);
}

int cpu_batchnorm_forward_train(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                                float momentum, mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                                mlopt_ref y, mlopt_ref running_mean, mlopt_ref running_var,
                                mlopt_ref save_mean, mlopt_ref save_invstd)
{
    const char *call = "batchnorm_forward_train";
    if (cpu_bn_shape(ctx, call, n, c, inner))
        return 1;
    size_t total = (size_t)n * c * inner;
    cpu_bn_job j = {.n = n, .c = c, .inner = inner, .eps = eps, .momentum = momentum};
    float *g, *b;
    if (!(j.x = cpu_fptr(ctx, x, total, call, "x")) || !(j.y = cpu_fptr(ctx, y, total, call, "y")) ||
        cpu_bn_opt(ctx, gamma, c, call, "gamma", &g) || cpu_bn_opt(ctx, beta, c, call, "beta", &b) ||
        cpu_bn_opt(ctx, running_mean, c, call, "running_mean", &j.rmean) ||
        cpu_bn_opt(ctx, running_var, c, call, "running_var", &j.rvar) ||
        cpu_bn_opt(ctx, save_mean, c, call, "save_mean", &j.save_mean) ||
        cpu_bn_opt(ctx, save_invstd, c, call, "save_invstd", &j.save_invstd))
        return 1;
    j.gamma = g;
    j.beta = b;
    cpu_count_kernel(ctx);
    cpu_bn_run(ctx, &j, cpu_bn_train_channels);
    return 0;
}

int cpu_batchnorm_forward_eval(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                               mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                               mlopt_ref running_mean, mlopt_ref running_var, mlopt_ref y)
{
    const char *call = "batchnorm_forward_eval";
    if (cpu_bn_shape(ctx, call, n, c, inner))
        return 1;
    size_t total = (size_t)n * c * inner;
    cpu_bn_job j = {.n = n, .c = c, .inner = inner, .eps = eps};
    float *g, *b;
    if (!(j.x = cpu_fptr(ctx, x, total, call, "x")) || !(j.y = cpu_fptr(ctx, y, total, call, "y")) ||
        cpu_bn_opt(ctx, gamma, c, call, "gamma", &g) || cpu_bn_opt(ctx, beta, c, call, "beta", &b) ||
        !(j.rmean_in = cpu_fptr(ctx, running_mean, (size_t)c, call, "running_mean")) ||
        !(j.rvar_in = cpu_fptr(ctx, running_var, (size_t)c, call, "running_var")))
        return 1;
    j.gamma = g;
    j.beta = b;
    cpu_count_kernel(ctx);
    cpu_bn_run(ctx, &j, cpu_bn_eval_channels);
    return 0;
}

int cpu_batchnorm_backward(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x,
                           mlopt_ref dy, mlopt_ref gamma, mlopt_ref save_mean,
                           mlopt_ref save_invstd, mlopt_ref dx, mlopt_ref dgamma,
                           mlopt_ref dbeta)
{
    const char *call = "batchnorm_backward";
    if (cpu_bn_shape(ctx, call, n, c, inner))
        return 1;
    size_t total = (size_t)n * c * inner;
    cpu_bn_job j = {.n = n, .c = c, .inner = inner};
    float *g;
    if (!(j.x = cpu_fptr(ctx, x, total, call, "x")) ||
        !(j.dy = cpu_fptr(ctx, dy, total, call, "dy")) ||
        cpu_bn_opt(ctx, gamma, c, call, "gamma", &g) ||
        !(j.mean_in = cpu_fptr(ctx, save_mean, (size_t)c, call, "save_mean")) ||
        !(j.invstd_in = cpu_fptr(ctx, save_invstd, (size_t)c, call, "save_invstd")) ||
        (dx.buf && !(j.dx = cpu_fptr(ctx, dx, total, call, "dx"))) ||
        cpu_bn_opt(ctx, dgamma, c, call, "dgamma", &j.dgamma) ||
        cpu_bn_opt(ctx, dbeta, c, call, "dbeta", &j.dbeta))
        return 1;
    j.gamma = g;
    cpu_count_kernel(ctx);
    cpu_bn_run(ctx, &j, cpu_bn_backward_channels);
    return 0;
}
