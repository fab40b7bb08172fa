/* Model cost: parameters and FLOPs from the layer statistics, and
 * inference latency measured on the model's own backend. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "mlopt/search.h"

void mlopt_model_cost(const mlopt_model *m, double *params, double *flops)
{
    double p = 0, f = 0;
    for (int i = 0; i < mlopt_model_layer_count(m); i++) {
        mlopt_layer_stats st;
        mlopt_model_layer_stats(m, i, &st);
        p += (double)st.params;
        f += (double)st.flops;
    }
    if (params)
        *params = p;
    if (flops)
        *flops = f;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mlopt_status mlopt_measure_latency(mlopt_context *ctx, mlopt_model *m, int batch, int in_c, int in_h, int in_w,
                                   int repeats, double *median_ms)
{
    if (batch < 1 || repeats < 1)
        return mlopt_set_error(MLOPT_E_INVALID, "latency: need batch >= 1 and repeats >= 1");
    int shape[4] = { batch, in_c, in_h, in_w };
    mlopt_tensor *x = NULL, *logits;
    double *times = malloc((size_t)repeats * sizeof *times);
    if (!times)
        return mlopt_set_error(MLOPT_E_NOMEM, "latency: out of host memory");
    mlopt_status s = mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x);
    if (s == MLOPT_OK)
        s = mlopt_tensor_fill(x, 0.5f);
    /* warm-up: first-touch allocations, kernel compilation, caches */
    for (int i = 0; i < 2 && s == MLOPT_OK; i++)
        if ((s = mlopt_model_forward(m, x, 0, &logits)) == MLOPT_OK)
            s = mlopt_context_synchronize(ctx);
    for (int i = 0; i < repeats && s == MLOPT_OK; i++) {
        double t0 = now();
        if ((s = mlopt_model_forward(m, x, 0, &logits)) == MLOPT_OK)
            s = mlopt_context_synchronize(ctx);
        times[i] = 1e3 * (now() - t0);
    }
    if (s == MLOPT_OK) {
        qsort(times, (size_t)repeats, sizeof *times, cmp_double);
        *median_ms = repeats % 2 ? times[repeats / 2] : 0.5 * (times[repeats / 2 - 1] + times[repeats / 2]);
    }
    mlopt_tensor_destroy(x);
    free(times);
    return s;
}
