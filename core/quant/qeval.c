/* Measuring an int8 model: accuracy / loss over a dataset, latency, and the
 * per-stage SQNR report against the float model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../latency.h"
#include "quant_internal.h"

mlopt_status mlopt_qmodel_evaluate(mlopt_qmodel *q, const mlopt_dataset *ds, float mean, float std, int batch,
                                   double *loss, double *accuracy, long long *confusion)
{
    mlopt_context *ctx = q->ctx;
    int c, h, w, count = mlopt_dataset_size(ds);
    mlopt_dataset_shape(ds, &c, &h, &w);
    if (c != q->in_c || h != q->in_h || w != q->in_w)
        return mlopt_set_error(MLOPT_E_INVALID, "the data is %dx%dx%d but the int8 model expects %dx%dx%d", c, h, w,
                               q->in_c, q->in_h, q->in_w);
    if (batch <= 0)
        batch = 256;
    int shape[4] = { batch, c, h, w }, one = 1;
    mlopt_tensor *x = NULL, *labels = NULL, *preds = NULL, *lsum = NULL;
    float *img = malloc((size_t)batch * c * h * w * sizeof *img);
    int32_t *lab = malloc((size_t)batch * sizeof *lab), *pr = malloc((size_t)batch * sizeof *pr);
    int *order = malloc((size_t)(count ? count : 1) * sizeof *order);
    mlopt_status s = img && lab && pr && order ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    if (s == MLOPT_OK && (s = mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x)) == MLOPT_OK &&
        (s = mlopt_tensor_create(ctx, MLOPT_I32, 1, &batch, &labels)) == MLOPT_OK &&
        (s = mlopt_tensor_create(ctx, MLOPT_I32, 1, &batch, &preds)) == MLOPT_OK &&
        (s = mlopt_tensor_create(ctx, MLOPT_F32, 1, &one, &lsum)) == MLOPT_OK)
        s = mlopt_tensor_fill(lsum, 0.0f);
    for (int i = 0; i < count && order; i++)
        order[i] = i;
    long long correct = 0;
    int classes = mlopt_dataset_classes(ds);
    for (int start = 0; s == MLOPT_OK && start < count; start += batch) {
        int n = count - start < batch ? count - start : batch;
        mlopt_dataset_batch(ds, order + start, n, mean, std, NULL, 0, img, lab);
        mlopt_tensor xv = *x;
        xv.shape[0] = n;
        mlopt_tensor *lg;
        if ((s = mlopt_tensor_upload(x, img, (size_t)n * c * h * w * sizeof *img)) != MLOPT_OK ||
            (s = mlopt_tensor_upload(labels, lab, (size_t)n * sizeof *lab)) != MLOPT_OK ||
            (s = mlopt_qmodel_forward(q, &xv, &lg)) != MLOPT_OK)
            break;
        if ((s = BE_CALL(ctx, softmax_xent, n, q->classes, 1.0f, lg->ref, labels->ref, lsum->ref, mlopt_null_ref(),
                         1.0f)) != MLOPT_OK ||
            (s = BE_CALL(ctx, argmax, n, q->classes, lg->ref, preds->ref)) != MLOPT_OK ||
            (s = mlopt_tensor_download(preds, pr, (size_t)n * sizeof *pr)) != MLOPT_OK)
            break;
        for (int i = 0; i < n; i++) {
            correct += pr[i] == lab[i];
            if (confusion && pr[i] >= 0 && pr[i] < classes && lab[i] >= 0 && lab[i] < classes)
                confusion[lab[i] * classes + pr[i]]++;
        }
    }
    float ls = 0;
    if (s == MLOPT_OK)
        s = mlopt_tensor_download(lsum, &ls, sizeof ls);
    if (s == MLOPT_OK) {
        *loss = count ? ls / count : 0;
        *accuracy = count ? (double)correct / count : 0;
    }
    mlopt_tensor_destroy(x), mlopt_tensor_destroy(labels), mlopt_tensor_destroy(preds), mlopt_tensor_destroy(lsum);
    free(img), free(lab), free(pr), free(order);
    return s;
}

static mlopt_status qmodel_forward_once(void *user, const mlopt_tensor *x)
{
    mlopt_tensor *logits;
    return mlopt_qmodel_forward(user, x, &logits);
}

mlopt_status mlopt_qmodel_latency(mlopt_qmodel *q, int batch, int reps, double *median_ms)
{
    return mlopt_latency_median(q->ctx, q->in_c, q->in_h, q->in_w, batch, reps, qmodel_forward_once, q, median_ms);
}

static const char *stage_kind_name(const qstage *s)
{
    switch (s->kind) {
    case QS_CONV: return s->float_exec ? "float conv" : "int8 conv";
    case QS_LINEAR: return s->float_exec ? "float linear" : "int8 linear";
    case QS_MAXPOOL: return "int8 maxpool";
    case QS_FLATTEN: return "flatten";
    case QS_FLOAT: return "float op";
    }
    return "?";
}

mlopt_status mlopt_qmodel_report(mlopt_qmodel *q, mlopt_model *m, const mlopt_dataset *ds, float mean, float std,
                                 int n, mlopt_qlayer_report *out, int max, int *count)
{
    *count = 0;
    mlopt_model *f;
    TRY(qm_folded_copy(m, &f));
    f->keep_outputs = 1; /* every stage's float output is compared below */
    int c, h, w, size = mlopt_dataset_size(ds);
    mlopt_dataset_shape(ds, &c, &h, &w);
    n = n < size ? n : size;
    int shape[4] = { n, c, h, w };
    size_t maxo = (size_t)c * h * w;
    for (int i = 0; i < q->nstages; i++) {
        size_t o = 1;
        for (int d = 0; d < q->st[i].out_ndim; d++)
            o *= (size_t)q->st[i].out[d];
        maxo = maxo > o ? maxo : o;
    }
    float *img = malloc((size_t)n * c * h * w * sizeof *img), *fv = malloc(maxo * n * sizeof *fv);
    int8_t *qv = malloc(maxo * n);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    int *order = malloc((size_t)n * sizeof *order);
    mlopt_tensor *x = NULL, *lg;
    mlopt_status s = img && fv && qv && lab && order ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; order && i < n; i++)
        order[i] = i;
    if (s == MLOPT_OK) {
        mlopt_dataset_batch(ds, order, n, mean, std, NULL, 0, img, lab);
        if ((s = mlopt_tensor_create(q->ctx, MLOPT_F32, 4, shape, &x)) == MLOPT_OK &&
            (s = mlopt_tensor_upload(x, img, (size_t)n * c * h * w * sizeof *img)) == MLOPT_OK &&
            (s = mlopt_model_forward(f, x, 0, &lg)) == MLOPT_OK)
            s = qm_forward(q, x, q->nstages);
    }
    for (int i = 0; s == MLOPT_OK && i < q->nstages && *count < max; i++) {
        const qstage *st = &q->st[i];
        if (st->kind == QS_FLATTEN)
            continue;
        size_t o = 1;
        for (int d = 0; d < st->out_ndim; d++)
            o *= (size_t)st->out[d];
        o *= (size_t)n;
        if ((s = qm_download(q->ctx, fv, mlopt_model_output_ref(f, st->src_layer), o * sizeof *fv)) != MLOPT_OK ||
            (s = qm_download(q->ctx, qv, qm_stage_output(q, i), o)) != MLOPT_OK)
            break;
        double sig = 0, err = 0;
        for (size_t k = 0; k < o; k++) {
            double d = (double)fv[k] - (double)((float)(qv[k] - st->out_zp) * st->out_scale);
            sig += (double)fv[k] * fv[k];
            err += d * d;
        }
        mlopt_qlayer_report *r = &out[(*count)++];
        snprintf(r->name, sizeof r->name, "%s", st->name);
        snprintf(r->kind, sizeof r->kind, "%s", stage_kind_name(st));
        r->sqnr_db = 10 * log10((sig + 1e-30) / (err + 1e-30));
        r->scale = st->out_scale;
        r->zero_point = st->out_zp;
    }
    mlopt_tensor_destroy(x);
    mlopt_model_destroy(f);
    free(img), free(fv), free(qv), free(lab), free(order);
    return s;
}
