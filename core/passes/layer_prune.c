/* Layer pruning: find shape-preserving blocks, measure each one's
 * importance as the accuracy drop when it is bypassed, remove blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "passes_internal.h"

static int per_element(mlopt_layer_kind k)
{
    return k == MLOPT_LAYER_ACTIVATION || k == MLOPT_LAYER_BATCHNORM || k == MLOPT_LAYER_DROPOUT;
}

static int same_shape(const mlopt_layer *a, const mlopt_layer *b)
{
    return a->in_ndim == b->out_ndim && a->in[0] == b->out[0] &&
           (a->in_ndim == 1 || (a->in[1] == b->out[1] && a->in[2] == b->out[2]));
}

mlopt_status mlopt_removable_blocks(const mlopt_model *m, mlopt_block *blocks, int max, int *count)
{
    *count = 0;
    int out_layer = passes_output_layer(m);
    for (int i = 0; i < m->nlayers; i++) {
        const mlopt_layer *L = &m->layers[i];
        if (!passes_is_weighted(L) || i == out_layer)
            continue;
        int end = i + 1;
        while (end < m->nlayers && per_element(m->layers[end].spec.kind))
            end++;
        if (!same_shape(L, &m->layers[end - 1]))
            continue;
        if (*count < max) {
            blocks[*count].start = i;
            blocks[*count].end = end;
            snprintf(blocks[*count].name, sizeof blocks[*count].name, "%s", L->spec.name);
        }
        (*count)++;
    }
    if (*count > max)
        *count = max;
    return MLOPT_OK;
}

mlopt_status mlopt_remove_layers(mlopt_model *m, int start, int end)
{
    if (start < 0 || end > m->nlayers || start >= end)
        return mlopt_set_error(MLOPT_E_INVALID, "layer range [%d, %d) is outside the model's %d layers", start, end,
                               m->nlayers);
    if (!same_shape(&m->layers[start], &m->layers[end - 1]))
        return mlopt_set_error(MLOPT_E_INVALID,
                               "layers %s..%s change the shape; only shape-preserving blocks can be removed",
                               m->layers[start].spec.name, m->layers[end - 1].spec.name);
    if (end == m->nlayers && passes_output_layer(m) >= start)
        return mlopt_set_error(MLOPT_E_INVALID, "cannot remove the output layer");
    host_model hm;
    TRY(hm_capture(m, &hm));
    hm_remove(&hm, start, end);
    mlopt_status s = hm_commit(&hm, m);
    hm_free(&hm);
    return s;
}

mlopt_status mlopt_block_importance(mlopt_model *m, const mlopt_dataset *ds, float mean, float std, int batch,
                                    double *base_acc, mlopt_block *blocks, double *drops, int max, int *count)
{
    double loss;
    TRY(mlopt_removable_blocks(m, blocks, max, count));
    TRY(mlopt_evaluate(m, ds, mean, std, batch, &loss, base_acc));
    host_model hm;
    TRY(hm_capture(m, &hm));
    mlopt_status s = MLOPT_OK;
    for (int b = 0; b < *count && s == MLOPT_OK; b++) {
        /* Rebuild a copy without the block; the original model is untouched. */
        host_model cut = hm;
        cut.layers = malloc((size_t)hm.cap * sizeof *cut.layers);
        if (!cut.layers) {
            s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
            break;
        }
        int n = 0;
        for (int i = 0; i < hm.n; i++)
            if (i < blocks[b].start || i >= blocks[b].end)
                cut.layers[n++] = hm.layers[i]; /* shallow: shares host weights */
        cut.n = n;
        mlopt_model *pruned;
        double acc = 0;
        s = hm_build(&cut, &pruned);
        free(cut.layers);
        if (s == MLOPT_OK) {
            s = mlopt_evaluate(pruned, ds, mean, std, batch, &loss, &acc);
            mlopt_model_destroy(pruned);
        }
        drops[b] = *base_acc - acc;
    }
    hm_free(&hm);
    return s;
}
