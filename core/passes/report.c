/* Before/after numbers for every pass: parameters, non-zeros, FLOPs and
 * measured inference latency on the model's backend. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../error.h"
#include "passes_internal.h"

mlopt_status mlopt_model_summarize(mlopt_model *m, mlopt_model_summary *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer *L = &m->layers[i];
        mlopt_layer_stats st;
        mlopt_model_layer_stats(m, i, &st);
        out->params += st.params;
        out->flops += st.flops;
        double density = 1.0;
        for (int p = 0; p < L->nparams; p++) {
            if (!L->params[p].trainable)
                continue;
            float *h;
            TRY(passes_download(L->params[p].value, &h));
            size_t n = mlopt_tensor_numel(L->params[p].value), nz = 0;
            for (size_t j = 0; j < n; j++)
                nz += h[j] != 0.0f;
            free(h);
            out->nonzeros += nz;
            if (p == 0 && passes_is_weighted(L))
                density = n ? (double)nz / (double)n : 1.0;
        }
        out->sparse_flops += (uint64_t)((double)st.flops * density + 0.5);
    }
    return MLOPT_OK;
}

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

mlopt_status mlopt_model_latency(mlopt_model *m, int batch, int reps, double *median_ms)
{
    if (batch <= 0 || reps <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "latency needs batch > 0 and reps > 0");
    int shape[4] = { batch, m->in_c, m->in_h, m->in_w };
    mlopt_tensor *x;
    TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, 4, shape, &x));
    size_t n = mlopt_tensor_numel(x);
    float *host = malloc(n * sizeof *host);
    double *t = malloc((size_t)reps * sizeof *t);
    mlopt_status s = host && t ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (size_t i = 0; host && i < n; i++)
        host[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    if (s == MLOPT_OK)
        s = mlopt_tensor_upload(x, host, n * sizeof *host);
    mlopt_tensor *logits;
    for (int r = -1; r < reps && s == MLOPT_OK; r++) { /* r = -1: warm-up (allocations, kernel compiles) */
        if ((s = mlopt_context_synchronize(m->ctx)) != MLOPT_OK)
            break;
        double t0 = now_ms();
        s = mlopt_model_forward(m, x, 0, &logits);
        if (s == MLOPT_OK)
            s = mlopt_context_synchronize(m->ctx);
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
