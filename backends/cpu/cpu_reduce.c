/* Reductions.  Partial results per chunk are combined in chunk order,
 * so a given thread count always gives the same answer; accumulation is in
 * double so the answer barely depends on the split at all. */
#include <math.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_reduce_job {
    const cpu_threadpool *pool;
    size_t n;
    const float *x;
    int len, p;
    float *out;
    double partial[CPU_MAX_THREADS];
    int used[CPU_MAX_THREADS];
} cpu_reduce_job;

static void cpu_sum_range(void *arg, size_t begin, size_t end, int thread)
{
    cpu_reduce_job *j = arg;
    double acc = 0.0;
    for (size_t i = begin; i < end; i++)
        acc += j->x[i];
    (void)thread;
    size_t chunk = cpu_threadpool_chunk_index(j->pool, j->n, begin);
    j->partial[chunk] = acc;
    j->used[chunk] = 1;
}

static void cpu_max_abs_range(void *arg, size_t begin, size_t end, int thread)
{
    cpu_reduce_job *j = arg;
    float best = 0.0f;
    for (size_t i = begin; i < end; i++) {
        float a = fabsf(j->x[i]);
        if (a > best || isnan(a))
            best = a; /* a NaN anywhere makes the result NaN */
        if (isnan(best))
            break;
    }
    (void)thread;
    size_t chunk = cpu_threadpool_chunk_index(j->pool, j->n, begin);
    j->partial[chunk] = best;
    j->used[chunk] = 1;
}

static void cpu_norm_rows(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    cpu_reduce_job *j = arg;
    for (size_t row = begin; row < end; row++) {
        const float *x = j->x + row * (size_t)j->len;
        double acc = 0.0;
        if (j->p == 1)
            for (int i = 0; i < j->len; i++)
                acc += fabs((double)x[i]);
        else
            for (int i = 0; i < j->len; i++)
                acc += (double)x[i] * x[i];
        j->out[row] = (float)(j->p == 1 ? acc : sqrt(acc));
    }
}

int cpu_reduce_sum(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    const char *call = "reduce_sum";
    cpu_reduce_job j = {.pool = ctx->pool, .n = n};
    if (!(j.x = cpu_fptr(ctx, x, n, call, "x")) || !(j.out = cpu_fptr(ctx, out, 1, call, "out")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_sum_range, &j);
    double total = 0.0;
    for (int t = 0; t < CPU_MAX_THREADS; t++)
        if (j.used[t])
            total += j.partial[t];
    j.out[0] = (float)total;
    return 0;
}

int cpu_reduce_max_abs(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    const char *call = "reduce_max_abs";
    cpu_reduce_job j = {.pool = ctx->pool, .n = n};
    if (!(j.x = cpu_fptr(ctx, x, n, call, "x")) || !(j.out = cpu_fptr(ctx, out, 1, call, "out")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_max_abs_range, &j);
    double best = 0.0;
    for (int t = 0; t < CPU_MAX_THREADS; t++)
        if (j.used[t] && (j.partial[t] > best || isnan(j.partial[t])))
            best = j.partial[t];
    j.out[0] = (float)best;
    return 0;
}

int cpu_channel_norm(mlopt_backend_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out)
{
    const char *call = "channel_norm";
    if (k < 0 || len < 0)
        return cpu_fail(ctx, "%s: negative shape k=%d len=%d", call, k, len);
    if (p != 1 && p != 2)
        return cpu_fail(ctx, "%s: p=%d, only the L1 (1) and L2 (2) norms exist", call, p);
    cpu_reduce_job j = {.len = len, .p = p};
    if (!(j.x = cpu_fptr(ctx, x, (size_t)k * len, call, "x")) ||
        !(j.out = cpu_fptr(ctx, out, (size_t)k, call, "out")))
        return 1;
    cpu_count_kernel(ctx);
    if ((size_t)k * len < CPU_PAR_MIN_ELEMS)
        cpu_norm_rows(&j, 0, (size_t)k, 0);
    else
        cpu_parallel_elems(ctx, (size_t)k, 2, cpu_norm_rows, &j);
    return 0;
}
