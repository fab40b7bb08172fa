/* Median forward latency shared by the float and int8 models (see latency.h). */
#include <stdlib.h>
#include <time.h>

#include "context.h"
#include "error.h"
#include "latency.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

mlopt_status mlopt_latency_median(mlopt_context *ctx, int c, int h, int w, int batch, int reps,
                                  mlopt_forward_fn forward, void *user, double *median_ms)
{
    if (batch <= 0 || reps <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "latency needs batch > 0 and reps > 0");
    int shape[4] = { batch, c, h, w };
    mlopt_tensor *x;
    TRY(mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x));
    size_t n = mlopt_tensor_numel(x);
    float *host = malloc(n * sizeof *host);
    double *t = malloc((size_t)reps * sizeof *t);
    mlopt_status s = host && t ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    /* deterministic values in [-1, 1): the same input for every model */
    for (size_t i = 0; host && i < n; i++)
        host[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    if (s == MLOPT_OK)
        s = mlopt_tensor_upload(x, host, n * sizeof *host);
    for (int r = -1; r < reps && s == MLOPT_OK; r++) { /* r = -1: warm-up */
        if ((s = mlopt_context_synchronize(ctx)) != MLOPT_OK)
            break;
        double t0 = now_ms();
        s = forward(user, x);
        if (s == MLOPT_OK)
            s = mlopt_context_synchronize(ctx);
        if (r >= 0)
            t[r] = now_ms() - t0;
    }
    if (s == MLOPT_OK) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        *median_ms = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    }
    free(host), free(t);
    mlopt_tensor_destroy(x);
    return s;
}
