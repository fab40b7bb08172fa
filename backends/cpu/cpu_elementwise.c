/* Elementwise arithmetic.  Each output element depends only on the inputs
 * at the same index, so aliasing outputs with inputs is safe and results
 * are bit-identical however the range is split over threads. */
#include "cpu_internal.h"
#include "cpu_slots.h"

enum cpu_ew_op { CPU_EW_ADD, CPU_EW_SUB, CPU_EW_MUL, CPU_EW_AXPY, CPU_EW_SCALE, CPU_EW_MASK };

typedef struct cpu_ew_job {
    int op;
    float alpha;
    const float *a, *b;
    float *y;
} cpu_ew_job;

static void cpu_ew_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_ew_job *j = arg;
    const float *a = j->a, *b = j->b;
    float *y = j->y;
    float alpha = j->alpha;
    switch (j->op) {
    case CPU_EW_ADD:
        for (size_t i = begin; i < end; i++)
            y[i] = a[i] + b[i];
        break;
    case CPU_EW_SUB:
        for (size_t i = begin; i < end; i++)
            y[i] = a[i] - b[i];
        break;
    case CPU_EW_MUL:
    case CPU_EW_MASK:
        for (size_t i = begin; i < end; i++)
            y[i] = a[i] * b[i];
        break;
    case CPU_EW_AXPY: /* y += alpha a */
        for (size_t i = begin; i < end; i++)
            y[i] += alpha * a[i];
        break;
    case CPU_EW_SCALE:
        for (size_t i = begin; i < end; i++)
            y[i] = alpha * a[i];
        break;
    }
}

static int cpu_ew(mlopt_backend_ctx *ctx, const char *call, int op, size_t n, float alpha,
                  mlopt_ref a, mlopt_ref b, int has_b, mlopt_ref y)
{
    cpu_ew_job j = {.op = op, .alpha = alpha};
    j.a = cpu_fptr(ctx, a, n, call, op == CPU_EW_MASK ? "mask" : "a");
    if (!j.a)
        return 1;
    if (has_b && !(j.b = cpu_fptr(ctx, b, n, call, "b")))
        return 1;
    if (!(j.y = cpu_fptr(ctx, y, n, call, "y")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_ew_range, &j);
    return 0;
}

int cpu_add(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return cpu_ew(ctx, "add", CPU_EW_ADD, n, 0.0f, a, b, 1, y);
}

int cpu_sub(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return cpu_ew(ctx, "sub", CPU_EW_SUB, n, 0.0f, a, b, 1, y);
}

int cpu_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return cpu_ew(ctx, "mul", CPU_EW_MUL, n, 0.0f, a, b, 1, y);
}

int cpu_axpy(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    return cpu_ew(ctx, "axpy", CPU_EW_AXPY, n, alpha, x, x, 0, y);
}

int cpu_scale(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    return cpu_ew(ctx, "scale", CPU_EW_SCALE, n, alpha, x, x, 0, y);
}

int cpu_mask_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w)
{
    /* w = mask * w: with b = w the generic product keeps zeros exact */
    return cpu_ew(ctx, "mask_mul", CPU_EW_MASK, n, 0.0f, mask, w, 1, w);
}
