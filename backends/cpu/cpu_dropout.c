/* Dropout with the ABI's shared counter hash, so every backend draws the
 * same mask for the same seed. */
#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_dropout_job {
    float threshold, scale;
    uint32_t seed;
    const float *x;
    float *y, *mask;
} cpu_dropout_job;

static void cpu_dropout_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_dropout_job *j = arg;
    for (size_t i = begin; i < end; i++) {
        /* u24 and p * 2^24 are both exact in float: the comparison is exact */
        int keep = (float)mlopt_dropout_u24(j->seed, (uint32_t)i) >= j->threshold;
        float m = keep ? j->scale : 0.0f;
        if (j->mask)
            j->mask[i] = m;
        j->y[i] = j->x[i] * m;
    }
}

int cpu_dropout_forward(mlopt_backend_ctx *ctx, size_t n, float p, uint32_t seed, mlopt_ref x,
                        mlopt_ref y, mlopt_ref mask)
{
    const char *call = "dropout_forward";
    if (!(p >= 0.0f && p <= 1.0f))
        return cpu_fail(ctx, "%s: p=%g must lie in [0, 1]", call, (double)p);
    cpu_dropout_job j = {.threshold = p * 16777216.0f, .seed = seed};
    j.scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    if (!(j.x = cpu_fptr(ctx, x, n, call, "x")) || !(j.y = cpu_fptr(ctx, y, n, call, "y")))
        return 1;
    if (mask.buf && !(j.mask = cpu_fptr(ctx, mask, n, call, "mask")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_dropout_range, &j);
    return 0;
}
