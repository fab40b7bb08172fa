/* Batch-norm folding: a conv / linear followed by eval-mode batch-norm is
 * y = gamma (Wx + b - mean) / sqrt(var + eps) + beta, which is one conv /
 * linear with W' = W * k and b' = (b - mean) * k + beta, k = gamma /
 * sqrt(var + eps) per output channel.  Done on a host copy of the model
 * (core/passes/host_model.c) and rebuilt on the device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../passes/passes_internal.h"
#include "quant_internal.h"

static mlopt_status fold_pair(hm_layer *L, const hm_layer *B)
{
    int n = L->spec.out;
    if (B->nparams < 4 || (int)B->p[0].numel != n)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: batch-norm %s does not match its %d channels", L->spec.name,
                               B->spec.name, n);
    const float *gamma = B->p[0].data, *beta = B->p[1].data, *mean = B->p[2].data, *var = B->p[3].data;
    float eps = B->spec.alpha > 0 ? B->spec.alpha : 1e-5f;
    if (L->nparams < 2) { /* a bias-free layer gains a bias */
        hm_param *bp = &L->p[1];
        memset(bp, 0, sizeof *bp);
        bp->ndim = 1;
        bp->shape[0] = n;
        bp->numel = (size_t)n;
        bp->data = calloc((size_t)n, sizeof *bp->data);
        if (!bp->data)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        L->nparams = 2;
        L->spec.no_bias = 0;
    }
    float *w = L->p[0].data, *b = L->p[1].data;
    size_t per = L->p[0].numel / (size_t)n;
    for (int o = 0; o < n; o++) {
        double k = (double)gamma[o] / sqrt((double)var[o] + eps);
        for (size_t i = 0; i < per; i++)
            w[(size_t)o * per + i] = (float)(w[(size_t)o * per + i] * k);
        b[o] = (float)(((double)b[o] - mean[o]) * k + beta[o]);
    }
    return MLOPT_OK;
}

mlopt_status mlopt_quant_fold_batchnorm(mlopt_model *m, int *folded)
{
    if (folded)
        *folded = 0;
    int any = 0;
    for (int i = 0; i + 1 < m->nlayers; i++)
        any |= (m->layers[i].spec.kind == MLOPT_LAYER_CONV2D || m->layers[i].spec.kind == MLOPT_LAYER_LINEAR) &&
               m->layers[i + 1].spec.kind == MLOPT_LAYER_BATCHNORM;
    if (!any)
        return MLOPT_OK;
    host_model hm;
    TRY(hm_capture(m, &hm));
    mlopt_status s = MLOPT_OK;
    int count = 0;
    for (int i = 0; i + 1 < hm.n && s == MLOPT_OK; i++) {
        hm_layer *L = &hm.layers[i];
        if ((L->spec.kind != MLOPT_LAYER_CONV2D && L->spec.kind != MLOPT_LAYER_LINEAR) ||
            hm.layers[i + 1].spec.kind != MLOPT_LAYER_BATCHNORM)
            continue;
        s = fold_pair(L, &hm.layers[i + 1]);
        if (s == MLOPT_OK) {
            hm_remove(&hm, i + 1, i + 2);
            count++;
        }
    }
    if (s == MLOPT_OK)
        s = hm_commit(&hm, m);
    hm_free(&hm);
    if (s == MLOPT_OK && folded)
        *folded = count;
    return s;
}

mlopt_status qm_folded_copy(mlopt_model *m, mlopt_model **out)
{
    host_model hm;
    TRY(hm_capture(m, &hm));
    mlopt_status s = hm_build(&hm, out);
    hm_free(&hm);
    if (s != MLOPT_OK)
        return s;
    s = mlopt_quant_fold_batchnorm(*out, NULL);
    if (s != MLOPT_OK) {
        mlopt_model_destroy(*out);
        *out = NULL;
    }
    return s;
}
