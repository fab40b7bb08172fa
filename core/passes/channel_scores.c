/* Scores of output channels (conv filters, linear neurons) for structured
 * pruning: L1/L2 norms (backend channel_norm), the |gamma| of a following
 * batch-norm (network slimming), or first-order Taylor |w dL/dw|. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "passes_internal.h"

static mlopt_status norm_scores(mlopt_model *m, mlopt_layer *L, int p, float *scores)
{
    mlopt_tensor *w = L->params[0].value;
    int k = L->spec.out, len = (int)(mlopt_tensor_numel(w) / (size_t)k);
    int shape[1] = { k };
    mlopt_tensor *out;
    TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, 1, shape, &out));
    mlopt_status s = BE_CALL(m->ctx, channel_norm, k, len, p, w->ref, out->ref);
    if (s == MLOPT_OK)
        s = mlopt_tensor_download(out, scores, (size_t)k * sizeof *scores);
    mlopt_tensor_destroy(out);
    return s;
}

static mlopt_status bn_scores(mlopt_model *m, int li, float *scores)
{
    mlopt_layer *L = &m->layers[li];
    for (int j = li + 1; j < m->nlayers; j++) {
        mlopt_layer *B = &m->layers[j];
        if (B->spec.kind == MLOPT_LAYER_BATCHNORM) {
            TRY(mlopt_tensor_download(B->params[0].value, scores, (size_t)L->spec.out * sizeof *scores));
            for (int c = 0; c < L->spec.out; c++)
                scores[c] = fabsf(scores[c]);
            return MLOPT_OK;
        }
        if (passes_is_weighted(B) || B->spec.kind == MLOPT_LAYER_FLATTEN)
            break;
    }
    return mlopt_set_error(MLOPT_E_INVALID,
                           "%s is not followed by a batch-norm: bn-slim needs one (use l1-filter or a -bn model)",
                           L->spec.name);
}

/* Sum over a few batches of |w * dL/dw| per output channel.  The forward
 * runs in training mode (for gradients): running statistics of batch-norms
 * are restored afterwards. */
static mlopt_status taylor_scores(mlopt_model *m, int li, const mlopt_score_data *d, float *scores)
{
    if (!d || !d->ds)
        return mlopt_set_error(MLOPT_E_INVALID, "Taylor scores need data (a few training batches)");
    mlopt_layer *L = &m->layers[li];
    int batch = d->batch > 0 ? d->batch : 64, batches = d->batches > 0 ? d->batches : 8;
    int classes = mlopt_model_num_classes(m), size = mlopt_dataset_size(d->ds);
    if (batch > size)
        batch = size;
    host_model saved; /* running stats to restore */
    TRY(hm_capture(m, &saved));
    size_t per = (size_t)m->in_c * m->in_h * m->in_w, nw = mlopt_tensor_numel(L->params[0].value);
    float *images = malloc((size_t)batch * per * sizeof *images), *w = NULL, *g = malloc(nw * sizeof *g);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    int *order = malloc((size_t)size * sizeof *order);
    mlopt_tensor *x = NULL, *lab = NULL, *dl = NULL, *loss = NULL;
    int xs[4] = { batch, m->in_c, m->in_h, m->in_w }, ls[1] = { batch }, ds[2] = { batch, classes }, one[1] = { 1 };
    mlopt_status s = images && g && labels && order ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    if (s == MLOPT_OK) s = mlopt_tensor_create(m->ctx, MLOPT_F32, 4, xs, &x);
    if (s == MLOPT_OK) s = mlopt_tensor_create(m->ctx, MLOPT_I32, 1, ls, &lab);
    if (s == MLOPT_OK) s = mlopt_tensor_create(m->ctx, MLOPT_F32, 2, ds, &dl);
    if (s == MLOPT_OK) s = mlopt_tensor_create(m->ctx, MLOPT_F32, 1, one, &loss);
    if (s == MLOPT_OK) s = mlopt_tensor_fill(loss, 0.0f);
    if (s == MLOPT_OK) s = passes_download(L->params[0].value, &w);
    int k = L->spec.out, len = (int)(nw / (size_t)k);
    for (int c = 0; c < k; c++)
        scores[c] = 0.0f;
    if (s == MLOPT_OK)
        mlopt_dataset_shuffle(d->ds, 12345, order);
    for (int b = 0; s == MLOPT_OK && b < batches && (b + 1) * batch <= size; b++) {
        mlopt_tensor *logits;
        mlopt_dataset_batch(d->ds, order + b * batch, batch, d->mean, d->std, NULL, 0, images, labels);
        s = mlopt_tensor_upload(x, images, (size_t)batch * per * sizeof *images);
        if (s == MLOPT_OK) s = mlopt_tensor_upload(lab, labels, (size_t)batch * sizeof *labels);
        if (s == MLOPT_OK) s = mlopt_model_forward(m, x, 1, &logits);
        if (s == MLOPT_OK)
            s = BE_CALL(m->ctx, softmax_xent, batch, classes, 1.0f, logits->ref, lab->ref, loss->ref, dl->ref,
                        1.0f / (float)batch);
        if (s == MLOPT_OK) s = mlopt_model_backward(m, dl);
        if (s == MLOPT_OK) s = mlopt_tensor_download(L->params[0].grad, g, nw * sizeof *g);
        for (int c = 0; s == MLOPT_OK && c < k; c++) {
            double acc = 0;
            for (int j = 0; j < len; j++)
                acc += w[(size_t)c * len + j] * g[(size_t)c * len + j];
            scores[c] += (float)fabs(acc); /* |sum| = Molchanov et al.'s per-channel criterion */
        }
    }
    /* Restore batch-norm running statistics (buffers) moved by training-mode forwards. */
    for (int i = 0; s == MLOPT_OK && i < m->nlayers; i++)
        for (int p = 0; p < m->layers[i].nparams; p++)
            if (!m->layers[i].params[p].trainable)
                s = mlopt_tensor_upload(m->layers[i].params[p].value, saved.layers[i].p[p].data,
                                        saved.layers[i].p[p].numel * sizeof(float));
    hm_free(&saved);
    mlopt_tensor_destroy(x), mlopt_tensor_destroy(lab), mlopt_tensor_destroy(dl), mlopt_tensor_destroy(loss);
    free(images), free(w), free(g), free(labels), free(order);
    return s;
}

mlopt_status mlopt_channel_scores(mlopt_model *m, const char *layer, mlopt_channel_score how,
                                  const mlopt_score_data *data, float *scores)
{
    int li = passes_find_layer(m, layer);
    if (li < 0)
        return MLOPT_E_NOT_FOUND;
    mlopt_layer *L = &m->layers[li];
    if (!passes_is_weighted(L))
        return mlopt_set_error(MLOPT_E_INVALID, "layer %s has no output channels to score (only conv and linear do)",
                               layer);
    switch (how) {
    case MLOPT_CHANNEL_L1: return norm_scores(m, L, 1, scores);
    case MLOPT_CHANNEL_L2: return norm_scores(m, L, 2, scores);
    case MLOPT_CHANNEL_BN: return bn_scores(m, li, scores);
    case MLOPT_CHANNEL_TAYLOR: return taylor_scores(m, li, data, scores);
    }
    return mlopt_set_error(MLOPT_E_INVALID, "unknown channel score %d", (int)how);
}
