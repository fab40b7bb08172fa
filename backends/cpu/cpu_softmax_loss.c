/* Softmax, log-softmax, cross-entropy, KL distillation loss, argmax and
 * accuracy, all along the rows of x viewed as [rows][cols].  Every row
 * subtracts its maximum before exponentiating, so large logits cannot
 * overflow.  The reference path works in double; the fast path in float
 * with per-row double sums, rows spread over the pool. */
#include <math.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_sm_job {
    const cpu_threadpool *pool;
    int rows, cols, log_out, reference;
    float inv_temp, grad_scale;
    const float *x, *t;
    const int32_t *labels;
    float *y;
    double loss[CPU_MAX_THREADS]; /* per chunk, summed in order: reproducible */
} cpu_sm_job;

/* max and log(sum exp(z - max)) of row z = x * inv_temp */
static void cpu_row_lse(const float *x, int cols, float inv_temp, int reference, double *max_out,
                        double *log_sum_out)
{
    double mx = -INFINITY;
    for (int i = 0; i < cols; i++) {
        double z = (double)x[i] * inv_temp;
        if (z > mx)
            mx = z;
    }
    double sum = 0.0;
    if (reference) {
        for (int i = 0; i < cols; i++)
            sum += exp((double)x[i] * inv_temp - mx);
    } else {
        float fmx = (float)mx;
        for (int i = 0; i < cols; i++)
            sum += expf(x[i] * inv_temp - fmx);
    }
    *max_out = mx;
    *log_sum_out = log(sum);
}

static void cpu_softmax_rows(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_sm_job *j = arg;
    for (size_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->cols;
        float *y = j->y + r * j->cols;
        double mx, ls;
        cpu_row_lse(x, j->cols, j->inv_temp, j->reference, &mx, &ls);
        for (int i = 0; i < j->cols; i++) {
            double lz = (double)x[i] * j->inv_temp - mx - ls;
            y[i] = (float)(j->log_out ? lz : exp(lz));
        }
    }
}

static void cpu_xent_rows(void *arg, size_t begin, size_t end, int thread)
{
    cpu_sm_job *j = arg;
    double loss = 0.0;
    float gscale = j->inv_temp * j->grad_scale;
    for (size_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->cols;
        int label = j->labels[r];
        double mx, ls;
        cpu_row_lse(x, j->cols, j->inv_temp, j->reference, &mx, &ls);
        loss += -((double)x[label] * j->inv_temp - mx - ls);
        if (!j->y)
            continue;
        float *d = j->y + r * j->cols;
        for (int i = 0; i < j->cols; i++) {
            double p = exp((double)x[i] * j->inv_temp - mx - ls);
            d[i] = (float)((p - (i == label ? 1.0 : 0.0)) * gscale);
        }
    }
    (void)thread;
    j->loss[cpu_threadpool_chunk_index(j->pool, (size_t)j->rows, begin)] = loss;
}

static void cpu_kl_rows(void *arg, size_t begin, size_t end, int thread)
{
    cpu_sm_job *j = arg;
    double loss = 0.0;
    float gscale = j->inv_temp * j->grad_scale;
    for (size_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->cols, *t = j->t + r * j->cols;
        double mx, ls, tmx, tls;
        cpu_row_lse(x, j->cols, j->inv_temp, j->reference, &mx, &ls);
        cpu_row_lse(t, j->cols, j->inv_temp, j->reference, &tmx, &tls);
        float *d = j->y ? j->y + r * j->cols : NULL;
        for (int i = 0; i < j->cols; i++) {
            double log_ps = (double)x[i] * j->inv_temp - mx - ls;
            double log_pt = (double)t[i] * j->inv_temp - tmx - tls;
            double pt = exp(log_pt);
            if (pt > 0.0)
                loss += pt * (log_pt - log_ps); /* 0 log 0 = 0 */
            if (d)
                d[i] = (float)((exp(log_ps) - pt) * gscale);
        }
    }
    (void)thread;
    j->loss[cpu_threadpool_chunk_index(j->pool, (size_t)j->rows, begin)] = loss;
}

static int cpu_sm_shape(mlopt_backend_ctx *ctx, const char *call, int rows, int cols)
{
    if (rows < 0 || cols < 1)
        return cpu_fail(ctx, "%s: invalid shape rows=%d cols=%d", call, rows, cols);
    return 0;
}

static void cpu_sm_run(mlopt_backend_ctx *ctx, cpu_sm_job *j, cpu_parallel_fn fn)
{
    if ((size_t)j->rows * j->cols < CPU_PAR_MIN_ELEMS / 4)
        fn(j, 0, (size_t)j->rows, 0);
    else
        cpu_parallel_elems(ctx, (size_t)j->rows, 2, fn, j);
}

static double cpu_sm_total_loss(const cpu_sm_job *j)
{
    double total = 0.0;
    for (int t = 0; t < CPU_MAX_THREADS; t++)
        total += j->loss[t];
    return total;
}

int cpu_softmax_forward(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, int log_out,
                        mlopt_ref x, mlopt_ref y)
{
    const char *call = "softmax_forward";
    if (cpu_sm_shape(ctx, call, rows, cols))
        return 1;
    size_t total = (size_t)rows * cols;
    cpu_sm_job j = {.rows = rows, .cols = cols, .inv_temp = inv_temp, .log_out = log_out,
                    .reference = ctx->reference, .pool = ctx->pool};
    if (!(j.x = cpu_fptr(ctx, x, total, call, "x")) || !(j.y = cpu_fptr(ctx, y, total, call, "y")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_sm_run(ctx, &j, cpu_softmax_rows);
    return 0;
}

static int cpu_check_labels(mlopt_backend_ctx *ctx, const char *call, const int32_t *labels,
                            int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        if (labels[r] < 0 || labels[r] >= cols)
            return cpu_fail(ctx, "%s: label %d of row %d is outside [0, %d)", call, labels[r], r,
                            cols);
    return 0;
}

int cpu_softmax_xent(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp,
                     mlopt_ref logits, mlopt_ref labels, mlopt_ref loss_sum, mlopt_ref dlogits,
                     float grad_scale)
{
    const char *call = "softmax_xent";
    if (cpu_sm_shape(ctx, call, rows, cols))
        return 1;
    size_t total = (size_t)rows * cols;
    cpu_sm_job j = {.rows = rows, .cols = cols, .inv_temp = inv_temp, .grad_scale = grad_scale,
                    .reference = ctx->reference, .pool = ctx->pool};
    float *loss;
    if (!(j.x = cpu_fptr(ctx, logits, total, call, "logits")) ||
        !(j.labels = cpu_ref_ptr(ctx, labels, (size_t)rows * 4, call, "labels")) ||
        !(loss = cpu_fptr(ctx, loss_sum, 1, call, "loss_sum")) ||
        (dlogits.buf && !(j.y = cpu_fptr(ctx, dlogits, total, call, "dlogits"))))
        return 1;
    if (cpu_check_labels(ctx, call, j.labels, rows, cols))
        return 1;
    cpu_count_kernel(ctx);
    cpu_sm_run(ctx, &j, cpu_xent_rows);
    loss[0] = (float)(loss[0] + cpu_sm_total_loss(&j));
    return 0;
}

int cpu_softmax_kl(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                   mlopt_ref target_logits, mlopt_ref loss_sum, mlopt_ref dlogits,
                   float grad_scale)
{
    const char *call = "softmax_kl";
    if (cpu_sm_shape(ctx, call, rows, cols))
        return 1;
    size_t total = (size_t)rows * cols;
    cpu_sm_job j = {.rows = rows, .cols = cols, .inv_temp = inv_temp, .grad_scale = grad_scale,
                    .reference = ctx->reference, .pool = ctx->pool};
    float *loss;
    if (!(j.x = cpu_fptr(ctx, logits, total, call, "logits")) ||
        !(j.t = cpu_fptr(ctx, target_logits, total, call, "target_logits")) ||
        !(loss = cpu_fptr(ctx, loss_sum, 1, call, "loss_sum")) ||
        (dlogits.buf && !(j.y = cpu_fptr(ctx, dlogits, total, call, "dlogits"))))
        return 1;
    cpu_count_kernel(ctx);
    cpu_sm_run(ctx, &j, cpu_kl_rows);
    loss[0] = (float)(loss[0] + cpu_sm_total_loss(&j));
    return 0;
}

static int cpu_row_argmax(const float *x, int cols)
{
    int best = 0;
    for (int i = 1; i < cols; i++)
        if (x[i] > x[best])
            best = i; /* strict: the first maximum wins ties */
    return best;
}

int cpu_argmax(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out)
{
    const char *call = "argmax";
    if (cpu_sm_shape(ctx, call, rows, cols))
        return 1;
    const float *px;
    int32_t *po;
    if (!(px = cpu_fptr(ctx, x, (size_t)rows * cols, call, "x")) ||
        !(po = cpu_ref_ptr(ctx, out, (size_t)rows * 4, call, "out")))
        return 1;
    cpu_count_kernel(ctx);
    for (int r = 0; r < rows; r++)
        po[r] = cpu_row_argmax(px + (size_t)r * cols, cols);
    return 0;
}

int cpu_accuracy_count(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref logits,
                       mlopt_ref labels, mlopt_ref count)
{
    const char *call = "accuracy_count";
    if (cpu_sm_shape(ctx, call, rows, cols))
        return 1;
    const float *px;
    const int32_t *pl;
    float *pc;
    if (!(px = cpu_fptr(ctx, logits, (size_t)rows * cols, call, "logits")) ||
        !(pl = cpu_ref_ptr(ctx, labels, (size_t)rows * 4, call, "labels")) ||
        !(pc = cpu_fptr(ctx, count, 1, call, "count")))
        return 1;
    cpu_count_kernel(ctx);
    int hits = 0;
    for (int r = 0; r < rows; r++)
        hits += cpu_row_argmax(px + (size_t)r * cols, cols) == pl[r];
    pc[0] += (float)hits;
    return 0;
}
