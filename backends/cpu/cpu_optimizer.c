/* In-place optimizer updates with PyTorch's SGD and Adam/AdamW semantics
 * (see backend.h).  Elementwise, so any split gives identical results. */
#include <math.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_opt_job {
    float lr, momentum, dampening, wd, beta1, beta2, eps;
    float bc1, bc2; /* Adam bias corrections 1 - beta^t */
    int nesterov, first, decoupled;
    float *w, *m, *v;
    const float *g;
} cpu_opt_job;

static void cpu_sgd_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_opt_job *j = arg;
    float *w = j->w, *v = j->v;
    const float *g = j->g;
    const float lr = j->lr, mom = j->momentum, damp = 1.0f - j->dampening, wd = j->wd;
    if (mom == 0.0f) {
        for (size_t i = begin; i < end; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    for (size_t i = begin; i < end; i++) {
        float gp = g[i] + wd * w[i];
        float vi = j->first ? gp : mom * v[i] + damp * gp;
        v[i] = vi;
        float d = j->nesterov ? gp + mom * vi : vi;
        w[i] -= lr * d;
    }
}

static void cpu_adam_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_opt_job *j = arg;
    float *w = j->w, *m = j->m, *v = j->v;
    const float *g = j->g;
    const float b1 = j->beta1, b2 = j->beta2, lr = j->lr, eps = j->eps, wd = j->wd;
    const float inv_bc1 = 1.0f / j->bc1, inv_bc2 = 1.0f / j->bc2;
    const float decay = j->decoupled ? 1.0f - lr * wd : 1.0f;
    const float coupled_wd = j->decoupled ? 0.0f : wd;
    for (size_t i = begin; i < end; i++) {
        float wi = w[i] * decay;
        float gp = g[i] + coupled_wd * wi;
        float mi = b1 * m[i] + (1.0f - b1) * gp;
        float vi = b2 * v[i] + (1.0f - b2) * gp * gp;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - lr * (mi * inv_bc1) / (sqrtf(vi * inv_bc2) + eps);
    }
}

int cpu_sgd_update(mlopt_backend_ctx *ctx, size_t n, float lr, float momentum, float dampening,
                   float weight_decay, int nesterov, int first, mlopt_ref w, mlopt_ref g,
                   mlopt_ref v)
{
    const char *call = "sgd_update";
    cpu_opt_job j = {.lr = lr, .momentum = momentum, .dampening = dampening,
                     .wd = weight_decay, .nesterov = nesterov, .first = first};
    if (!(j.w = cpu_fptr(ctx, w, n, call, "w")) || !(j.g = cpu_fptr(ctx, g, n, call, "g")))
        return 1;
    /* the velocity is only touched when momentum is used */
    if (momentum != 0.0f && !(j.v = cpu_fptr(ctx, v, n, call, "v")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_sgd_range, &j);
    return 0;
}

int cpu_adam_update(mlopt_backend_ctx *ctx, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int decoupled, int step, mlopt_ref w,
                    mlopt_ref g, mlopt_ref m, mlopt_ref v)
{
    const char *call = "adam_update";
    if (step < 1)
        return cpu_fail(ctx, "%s: step=%d, steps count from 1", call, step);
    cpu_opt_job j = {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .wd = weight_decay,
                     .decoupled = decoupled};
    j.bc1 = (float)(1.0 - pow(beta1, step));
    j.bc2 = (float)(1.0 - pow(beta2, step));
    if (!(j.w = cpu_fptr(ctx, w, n, call, "w")) || !(j.g = cpu_fptr(ctx, g, n, call, "g")) ||
        !(j.m = cpu_fptr(ctx, m, n, call, "m")) || !(j.v = cpu_fptr(ctx, v, n, call, "v")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_adam_range, &j);
    return 0;
}
