/* One training or evaluation step, entirely on the device: the host uploads
 * the batch and labels, and the loss and correct counts accumulate in a
 * small device buffer until mlopt_trainer_read_metrics() fetches them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

struct mlopt_trainer {
    mlopt_model *model;
    mlopt_optimizer *opt;
    int max_batch, classes;
    mlopt_tensor *x, *labels, *dlogits, *metrics, *preds;
    long long samples;
};

void mlopt_trainer_destroy(mlopt_trainer *t)
{
    if (!t)
        return;
    mlopt_tensor_destroy(t->x);
    mlopt_tensor_destroy(t->labels);
    mlopt_tensor_destroy(t->dlogits);
    mlopt_tensor_destroy(t->metrics);
    mlopt_tensor_destroy(t->preds);
    free(t);
}

mlopt_status mlopt_trainer_create(mlopt_model *m, mlopt_optimizer *o, int max_batch, mlopt_trainer **out)
{
    *out = NULL;
    if (max_batch <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "batch size must be positive, got %d", max_batch);
    mlopt_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    t->model = m;
    t->opt = o;
    t->max_batch = max_batch;
    t->classes = mlopt_model_num_classes(m);
    int xs[4] = { max_batch, m->in_c, m->in_h, m->in_w };
    int ls[1] = { max_batch };
    int ds[2] = { max_batch, t->classes };
    int ms[1] = { 2 };
    mlopt_status s;
    if ((s = mlopt_tensor_create(m->ctx, MLOPT_F32, 4, xs, &t->x)) != MLOPT_OK ||
        (s = mlopt_tensor_create(m->ctx, MLOPT_I32, 1, ls, &t->labels)) != MLOPT_OK ||
        (s = mlopt_tensor_create(m->ctx, MLOPT_F32, 2, ds, &t->dlogits)) != MLOPT_OK ||
        (s = mlopt_tensor_create(m->ctx, MLOPT_F32, 1, ms, &t->metrics)) != MLOPT_OK ||
        (s = mlopt_tensor_create(m->ctx, MLOPT_I32, 1, ls, &t->preds)) != MLOPT_OK ||
        (s = mlopt_tensor_fill(t->metrics, 0.0f)) != MLOPT_OK) {
        mlopt_trainer_destroy(t);
        return s;
    }
    *out = t;
    return MLOPT_OK;
}

static mlopt_ref metric_ref(const mlopt_trainer *t, int i)
{
    mlopt_ref r = t->metrics->ref;
    r.offset += (size_t)i * sizeof(float);
    return r;
}

/* Upload a batch and run the forward pass. */
static mlopt_status load_and_forward(mlopt_trainer *t, const float *images, const int32_t *labels, int n,
                                     int training, mlopt_tensor **logits)
{
    if (n <= 0 || n > t->max_batch)
        return mlopt_set_error(MLOPT_E_INVALID, "batch of %d samples; this trainer takes 1..%d", n, t->max_batch);
    mlopt_model *m = t->model;
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= t->classes)
            return mlopt_set_error(MLOPT_E_INVALID, "label %d of sample %d is outside 0..%d for this model",
                                   (int)labels[i], i, t->classes - 1);
    size_t per = (size_t)m->in_c * m->in_h * m->in_w;
    TRY(mlopt_tensor_upload(t->x, images, (size_t)n * per * sizeof(float)));
    TRY(mlopt_tensor_upload(t->labels, labels, (size_t)n * sizeof(int32_t)));
    mlopt_tensor xv = *t->x;
    xv.shape[0] = n;
    xv.owns = 0;
    if (training && t->opt)
        m->step = (uint64_t)mlopt_optimizer_steps(t->opt);
    TRY(mlopt_model_forward(m, &xv, training, logits));
    t->samples += n;
    return MLOPT_OK;
}

mlopt_status mlopt_trainer_train_step(mlopt_trainer *t, const float *images, const int32_t *labels, int n,
                                      float lr)
{
    if (!t->opt)
        return mlopt_set_error(MLOPT_E_INVALID, "this trainer has no optimizer (evaluation only)");
    mlopt_context *ctx = t->model->ctx;
    mlopt_tensor *logits;
    TRY(load_and_forward(t, images, labels, n, 1, &logits));
    TRY(BE_CALL(ctx, softmax_xent, n, t->classes, 1.0f, logits->ref, t->labels->ref, metric_ref(t, 0),
                t->dlogits->ref, 1.0f / (float)n));
    TRY(BE_CALL(ctx, accuracy_count, n, t->classes, logits->ref, t->labels->ref, metric_ref(t, 1)));
    mlopt_tensor dv = *t->dlogits;
    dv.shape[0] = n;
    TRY(mlopt_model_backward(t->model, &dv));
    return mlopt_optimizer_step(t->opt, lr);
}

mlopt_status mlopt_trainer_eval_step(mlopt_trainer *t, const float *images, const int32_t *labels, int n,
                                     int32_t *preds)
{
    mlopt_context *ctx = t->model->ctx;
    mlopt_tensor *logits;
    TRY(load_and_forward(t, images, labels, n, 0, &logits));
    TRY(BE_CALL(ctx, softmax_xent, n, t->classes, 1.0f, logits->ref, t->labels->ref, metric_ref(t, 0),
                mlopt_null_ref(), 1.0f));
    TRY(BE_CALL(ctx, accuracy_count, n, t->classes, logits->ref, t->labels->ref, metric_ref(t, 1)));
    if (preds) {
        TRY(BE_CALL(ctx, argmax, n, t->classes, logits->ref, t->preds->ref));
        TRY(BE_CALL(ctx, download, preds, t->preds->ref, (size_t)n * sizeof(int32_t)));
    }
    return MLOPT_OK;
}

mlopt_status mlopt_trainer_read_metrics(mlopt_trainer *t, double *loss_sum, double *correct, long long *samples)
{
    float host[2];
    TRY(mlopt_tensor_download(t->metrics, host, sizeof host));
    TRY(mlopt_tensor_fill(t->metrics, 0.0f));
    if (loss_sum)
        *loss_sum = host[0];
    if (correct)
        *correct = host[1];
    if (samples)
        *samples = t->samples;
    t->samples = 0;
    if (!isfinite(host[0]))
        return mlopt_set_error(MLOPT_E_NONFINITE,
                               "the loss became %s: training diverged; lower the learning rate (--lr) "
                               "or use a warm-up (--warmup-epochs)",
                               isnan(host[0]) ? "NaN" : "infinite");
    return MLOPT_OK;
}
