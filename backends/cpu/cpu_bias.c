/* Per-channel bias add and its gradient, x viewed as [n][c][inner]. */
#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_bias_job {
    int n, c, inner;
    float *x;
    const float *bias, *dy;
    float *dbias;
} cpu_bias_job;

/* tasks are (image, channel) rows */
static void cpu_bias_add_rows(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_bias_job *j = arg;
    for (size_t row = begin; row < end; row++) {
        float b = j->bias[row % (size_t)j->c];
        float *x = j->x + row * j->inner;
        for (int i = 0; i < j->inner; i++)
            x[i] += b;
    }
}

/* tasks are channels */
static void cpu_bias_grad_channels(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_bias_job *j = arg;
    for (size_t ch = begin; ch < end; ch++) {
        /* four independent double sums hide the add latency */
        double acc[4] = {0.0, 0.0, 0.0, 0.0};
        for (int ni = 0; ni < j->n; ni++) {
            const float *d = j->dy + ((size_t)ni * j->c + ch) * j->inner;
            int i = 0;
            for (; i + 4 <= j->inner; i += 4)
                for (int l = 0; l < 4; l++)
                    acc[l] += d[i + l];
            for (; i < j->inner; i++)
                acc[0] += d[i];
        }
        j->dbias[ch] = (float)((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}

int cpu_bias_add(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias)
{
    const char *call = "bias_add";
    if (n < 0 || c < 0 || inner < 0)
        return cpu_fail(ctx, "%s: negative shape n=%d c=%d inner=%d", call, n, c, inner);
    cpu_bias_job j = {.n = n, .c = c, .inner = inner};
    size_t total = (size_t)n * c * inner;
    if (!(j.x = cpu_fptr(ctx, x, total, call, "x")) ||
        !(j.bias = cpu_fptr(ctx, bias, (size_t)c, call, "bias")))
        return 1;
    cpu_count_kernel(ctx);
    if (total < CPU_PAR_MIN_ELEMS)
        cpu_bias_add_rows(&j, 0, (size_t)n * c, 0);
    else
        cpu_parallel_elems(ctx, (size_t)n * c, 2, cpu_bias_add_rows, &j);
    return 0;
}

int cpu_bias_grad(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy, mlopt_ref dbias)
{
    const char *call = "bias_grad";
    if (n < 0 || c < 0 || inner < 0)
        return cpu_fail(ctx, "%s: negative shape n=%d c=%d inner=%d", call, n, c, inner);
    cpu_bias_job j = {.n = n, .c = c, .inner = inner};
    size_t total = (size_t)n * c * inner;
    if (!(j.dy = cpu_fptr(ctx, dy, total, call, "dy")) ||
        !(j.dbias = cpu_fptr(ctx, dbias, (size_t)c, call, "dbias")))
        return 1;
    cpu_count_kernel(ctx);
    if (total < CPU_PAR_MIN_ELEMS)
        cpu_bias_grad_channels(&j, 0, (size_t)c, 0);
    else
        cpu_parallel_elems(ctx, (size_t)c, 2, cpu_bias_grad_channels, &j);
    return 0;
}
