/* Activation functions and their derivatives.  The reference path
 * evaluates in double precision; the fast path in float.  Derivative
 * conventions at kinks follow PyTorch (relu'(0) = 0, leaky'(0) = slope,
 * elu'(0) = alpha, hard-swish'(-3) = 0, hard-swish'(3) = 1). */
#include <math.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

static double cpu_act_f64(int act, double x, double alpha, double beta)
{
    switch (act) {
    case MLOPT_ACT_RELU: return x > 0 ? x : 0.0;
    case MLOPT_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case MLOPT_ACT_ELU: return x > 0 ? x : alpha * expm1(x);
    case MLOPT_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case MLOPT_ACT_SILU: return x / (1.0 + exp(-x));
    case MLOPT_ACT_TANH: return tanh(x);
    case MLOPT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    /* fmax/fmin would turn NaN into 0 or 1; like PyTorch, NaN stays NaN */
    case MLOPT_ACT_HARD_SIGMOID: return isnan(x) ? x : fmax(0.0, fmin(1.0, alpha * x + beta));
    case MLOPT_ACT_HARD_SWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
    default: return x;
    }
}

static double cpu_act_grad_f64(int act, double x, double alpha, double beta)
{
    switch (act) {
    case MLOPT_ACT_RELU: return x > 0 ? 1.0 : 0.0;
    case MLOPT_ACT_LEAKY_RELU: return x > 0 ? 1.0 : alpha;
    case MLOPT_ACT_ELU: return x > 0 ? 1.0 : alpha * exp(x);
    case MLOPT_ACT_GELU:
        return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case MLOPT_ACT_SILU: {
        double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 + x * (1.0 - s));
    }
    case MLOPT_ACT_TANH: {
        double t = tanh(x);
        return 1.0 - t * t;
    }
    case MLOPT_ACT_SIGMOID: {
        double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 - s);
    }
    case MLOPT_ACT_HARD_SIGMOID: {
        double z = alpha * x + beta;
        return (z > 0.0 && z < 1.0) ? alpha : 0.0;
    }
    case MLOPT_ACT_HARD_SWISH: return x <= -3.0 ? 0.0 : x < 3.0 ? x / 3.0 + 0.5 : 1.0;
    default: return 1.0;
    }
}

typedef struct cpu_act_job {
    int act;
    float alpha, beta;
    const float *x, *y, *dy;
    float *out;
    int reference;
    int use_avx2;
} cpu_act_job;

static void cpu_act_forward_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_act_job *j = arg;
    const float *x = j->x;
    float *y = j->out;
    const float a = j->alpha, b = j->beta;
    if (j->reference) {
        for (size_t i = begin; i < end; i++)
            y[i] = (float)cpu_act_f64(j->act, x[i], a, b);
        return;
    }
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (j->use_avx2 && (j->act == MLOPT_ACT_RELU || j->act == MLOPT_ACT_LEAKY_RELU)) {
        cpu_relu_forward_avx2(begin, end, j->act == MLOPT_ACT_RELU ? 0.0f : a, x, y);
        return;
    }
#endif
    /* Separate tight loops per function so the compiler can vectorize the
     * cheap ones (relu, leaky, hard-*). */
    switch (j->act) {
    case MLOPT_ACT_RELU:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case MLOPT_ACT_LEAKY_RELU:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    case MLOPT_ACT_ELU:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        break;
    case MLOPT_ACT_GELU:
        for (size_t i = begin; i < end; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case MLOPT_ACT_SILU:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case MLOPT_ACT_TANH:
        for (size_t i = begin; i < end; i++)
            y[i] = tanhf(x[i]);
        break;
    case MLOPT_ACT_SIGMOID:
        for (size_t i = begin; i < end; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case MLOPT_ACT_HARD_SIGMOID:
        for (size_t i = begin; i < end; i++) {
            float z = a * x[i] + b;
            y[i] = z < 0.0f ? 0.0f : z > 1.0f ? 1.0f : z;
        }
        break;
    case MLOPT_ACT_HARD_SWISH:
        for (size_t i = begin; i < end; i++) {
            float z = x[i] * (1.0f / 6.0f) + 0.5f;
            y[i] = x[i] * (z < 0.0f ? 0.0f : z > 1.0f ? 1.0f : z);
        }
        break;
    default:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i];
        break;
    }
}

static void cpu_act_backward_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_act_job *j = arg;
    const float *x = j->x, *y = j->y, *dy = j->dy;
    float *dx = j->out;
    const float a = j->alpha, b = j->beta;
    if (j->reference) {
        for (size_t i = begin; i < end; i++)
            dx[i] = (float)((double)dy[i] * cpu_act_grad_f64(j->act, x[i], a, b));
        return;
    }
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (j->use_avx2 && (j->act == MLOPT_ACT_RELU || j->act == MLOPT_ACT_LEAKY_RELU)) {
        cpu_relu_backward_avx2(begin, end, j->act == MLOPT_ACT_RELU ? 0.0f : a, x, dy, dx);
        return;
    }
#endif
    switch (j->act) {
    case MLOPT_ACT_RELU:
        for (size_t i = begin; i < end; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case MLOPT_ACT_LEAKY_RELU:
        for (size_t i = begin; i < end; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : a * dy[i];
        break;
    case MLOPT_ACT_ELU:
        for (size_t i = begin; i < end; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * a * expf(x[i]);
        break;
    case MLOPT_ACT_GELU:
        for (size_t i = begin; i < end; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
            float pdf = expf(-0.5f * v * v) * 0.39894228040143268f;
            dx[i] = dy[i] * (cdf + v * pdf);
        }
        break;
    case MLOPT_ACT_SILU:
        for (size_t i = begin; i < end; i++) {
            float s = 1.0f / (1.0f + expf(-x[i]));
            dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case MLOPT_ACT_TANH:
        /* y = tanh(x), when given, saves recomputing it */
        for (size_t i = begin; i < end; i++) {
            float t = y ? y[i] : tanhf(x[i]);
            dx[i] = dy[i] * (1.0f - t * t);
        }
        break;
    case MLOPT_ACT_SIGMOID:
        for (size_t i = begin; i < end; i++) {
            float sg = y ? y[i] : 1.0f / (1.0f + expf(-x[i]));
            dx[i] = dy[i] * sg * (1.0f - sg);
        }
        break;
    case MLOPT_ACT_HARD_SIGMOID:
        for (size_t i = begin; i < end; i++) {
            float z = a * x[i] + b;
            dx[i] = (z > 0.0f && z < 1.0f) ? dy[i] * a : 0.0f;
        }
        break;
    case MLOPT_ACT_HARD_SWISH:
        for (size_t i = begin; i < end; i++) {
            float v = x[i];
            dx[i] = v <= -3.0f ? 0.0f : v < 3.0f ? dy[i] * (v * (1.0f / 3.0f) + 0.5f) : dy[i];
        }
        break;
    default:
        for (size_t i = begin; i < end; i++)
            dx[i] = dy[i];
        break;
    }
}

static int cpu_act_check(mlopt_backend_ctx *ctx, const char *call, int act)
{
    if (act < 0 || act >= MLOPT_ACT_COUNT_)
        return cpu_fail(ctx, "%s: unknown activation %d", call, act);
    return 0;
}

int cpu_act_forward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                    mlopt_ref x, mlopt_ref y)
{
    const char *call = "act_forward";
    if (cpu_act_check(ctx, call, act))
        return 1;
    cpu_act_job j = {.act = act, .alpha = alpha, .beta = beta, .reference = ctx->reference,
                     .use_avx2 = ctx->use_avx2};
    if (!(j.x = cpu_fptr(ctx, x, n, call, "x")) || !(j.out = cpu_fptr(ctx, y, n, call, "y")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS / 4, cpu_act_forward_range, &j);
    return 0;
}

int cpu_act_backward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                     mlopt_ref x, mlopt_ref y, mlopt_ref dy, mlopt_ref dx)
{
    const char *call = "act_backward";
    if (cpu_act_check(ctx, call, act))
        return 1;
    cpu_act_job j = {.act = act, .alpha = alpha, .beta = beta, .reference = ctx->reference,
                     .use_avx2 = ctx->use_avx2};
    if (!(j.x = cpu_fptr(ctx, x, n, call, "x")) || !(j.dy = cpu_fptr(ctx, dy, n, call, "dy")) ||
        !(j.out = cpu_fptr(ctx, dx, n, call, "dx")))
        return 1;
    /* Only the fast tanh and sigmoid read y, and only when it is given
     * (y.buf NULL: recomputed from x, as the reference always does). */
    int wants_y = !ctx->reference && y.buf && (act == MLOPT_ACT_TANH || act == MLOPT_ACT_SIGMOID);
    if (wants_y && !(j.y = cpu_fptr(ctx, y, n, call, "y")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS / 4, cpu_act_backward_range, &j);
    return 0;
}
