/* Before/after numbers for every pass: parameters, non-zeros, FLOPs and
 * measured inference latency on the model's backend. */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../latency.h"
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

static mlopt_status model_forward_once(void *user, const mlopt_tensor *x)
{
    mlopt_tensor *logits;
    return mlopt_model_forward(user, x, 0, &logits);
}

mlopt_status mlopt_model_latency(mlopt_model *m, int batch, int reps, double *median_ms)
{
    return mlopt_latency_median(m->ctx, m->in_c, m->in_h, m->in_w, batch, reps, model_forward_once, m, median_ms);
}
