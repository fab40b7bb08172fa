/* Quantization-aware training: fold batch-norm into the model, fine-tune it
 * with fake-quantized weights and activations (qat_fq.c) by SGD with
 * momentum and a cosine learning rate, then convert to the int8 model
 * through the same code as PTQ (qm_from_float) with the learned ranges. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "qat_internal.h"

mlopt_status mlopt_qat_create(mlopt_model *m, const mlopt_quant_config *qcfg, mlopt_qat **out)
{
    *out = NULL;
    if (!m || !m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT needs an initialized float model");
    mlopt_qat *t = calloc(1, sizeof *t);
    if (!t)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    t->m = m;
    t->ctx = m->ctx;
    if (qcfg)
        t->qcfg = *qcfg;
    else
        mlopt_quant_config_default(&t->qcfg);
    /* Trained with an int8 first layer, the model must run with one: only
     * an explicit request keeps it float (then it is trained in float). */
    t->first_float = t->qcfg.first_layer_float == 1;
    mlopt_status s = mlopt_quant_fold_batchnorm(m, NULL);
    if (s == MLOPT_OK)
        s = qat_fq_init(t);
    if (s != MLOPT_OK) {
        free(t);
        return s;
    }
    *out = t;
    return MLOPT_OK;
}

void mlopt_qat_destroy(mlopt_qat *t)
{
    if (!t)
        return;
    qat_fq_weights_out(t, 0);
    if (t->m->hook == &t->hook)
        t->m->hook = NULL; /* after a failed pass */
    qat_fq_free(t);
    mlopt_tensor_destroy(t->x);
    free(t);
}

static mlopt_status ensure_input(mlopt_qat *t, int batch)
{
    if (t->x && t->x_batch >= batch)
        return MLOPT_OK;
    mlopt_tensor_destroy(t->x);
    t->x = NULL;
    t->x_batch = 0;
    int shape[4] = { batch, t->m->in_c, t->m->in_h, t->m->in_w };
    TRY(mlopt_tensor_create(t->ctx, MLOPT_F32, 4, shape, &t->x));
    t->x_batch = batch;
    return MLOPT_OK;
}

static mlopt_tensor input_view(const mlopt_qat *t, int batch)
{
    mlopt_tensor v = *t->x;
    v.shape[0] = batch;
    v.owns = 0;
    return v;
}

/* Fake-quantized forward of the batch in t->x (in place), weights swapped
 * in and the hook installed (the caller swaps back and uninstalls: the
 * model computes its plain float function outside the session's passes). */
static mlopt_status fq_forward(mlopt_qat *t, int batch, int training, mlopt_tensor **logits)
{
    mlopt_tensor xv = input_view(t, batch);
    t->m->hook = &t->hook;
    mlopt_status s = qat_fq_weights_in(t, training);
    if (s == MLOPT_OK)
        s = qat_fq_input(t, t->x->ref, batch, training);
    if (s == MLOPT_OK)
        s = mlopt_model_forward(t->m, &xv, training, logits);
    return s;
}

mlopt_status mlopt_qat_forward(mlopt_qat *t, const mlopt_tensor *x, mlopt_tensor **logits)
{
    mlopt_model *m = t->m;
    if (x->dtype != MLOPT_F32 || x->ndim != 4 || x->shape[1] != m->in_c || x->shape[2] != m->in_h ||
        x->shape[3] != m->in_w)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT forward: input must be float [n,%d,%d,%d]", m->in_c, m->in_h,
                               m->in_w);
    int batch = x->shape[0];
    TRY(ensure_input(t, batch));
    size_t n = (size_t)batch * m->in_c * m->in_h * m->in_w;
    TRY(BE_CALL(t->ctx, scale, n, 1.0f, x->ref, t->x->ref));
    mlopt_status s = fq_forward(t, batch, 0, logits);
    t->m->hook = NULL;
    mlopt_status s2 = qat_fq_weights_out(t, 0);
    return s != MLOPT_OK ? s : s2;
}

static mlopt_status check_config(const mlopt_model *m, const mlopt_dataset *ds, const mlopt_qat_config *cfg)
{
    if (!cfg)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT needs a configuration (mlopt_qat_config)");
    if (cfg->epochs < 1)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT epochs must be >= 1, got %d (--epochs)", cfg->epochs);
    if (cfg->batch < 1)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT batch size must be >= 1, got %d (--batch)", cfg->batch);
    if (!(cfg->lr > 0) || !isfinite(cfg->lr))
        return mlopt_set_error(MLOPT_E_INVALID, "QAT learning rate must be a positive number, got %g (--lr)",
                               (double)cfg->lr);
    if (cfg->limit < 0)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT sample limit must be >= 0 (0: all), got %d (--limit)",
                               cfg->limit);
    if (!ds || mlopt_dataset_size(ds) <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT needs training samples");
    int c, h, w;
    mlopt_dataset_shape(ds, &c, &h, &w);
    if (c != m->in_c || h != m->in_h || w != m->in_w)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT: the data is %dx%dx%d but the model takes %dx%dx%d", c, h, w,
                               m->in_c, m->in_h, m->in_w);
    if (mlopt_dataset_classes(ds) > mlopt_model_num_classes(m))
        return mlopt_set_error(MLOPT_E_INVALID, "QAT: the data has %d classes but the model outputs %d",
                               mlopt_dataset_classes(ds), mlopt_model_num_classes(m));
    return MLOPT_OK;
}

typedef struct qat_loop {
    mlopt_optimizer *opt;
    mlopt_tensor *labels, *dlogits, *metrics;
    float *images;
    int32_t *labels_host;
    int *order;
} qat_loop;

static void loop_free(qat_loop *l)
{
    mlopt_optimizer_destroy(l->opt);
    mlopt_tensor_destroy(l->labels);
    mlopt_tensor_destroy(l->dlogits);
    mlopt_tensor_destroy(l->metrics);
    free(l->images), free(l->labels_host), free(l->order);
}

/* One step on the batch already in t->x: fake-quantized forward, loss,
 * backward with the straight-through estimator, update of the float weights. */
static mlopt_status train_step(mlopt_qat *t, qat_loop *l, int batch, float lr)
{
    mlopt_context *ctx = t->ctx;
    int classes = mlopt_model_num_classes(t->m);
    t->m->step = (uint64_t)mlopt_optimizer_steps(l->opt);
    mlopt_tensor *logits;
    mlopt_status s = fq_forward(t, batch, 1, &logits);
    if (s == MLOPT_OK)
        s = BE_CALL(ctx, softmax_xent, batch, classes, 1.0f, logits->ref, l->labels->ref, l->metrics->ref,
                    l->dlogits->ref, 1.0f / (float)batch);
    if (s == MLOPT_OK) {
        mlopt_tensor dv = *l->dlogits;
        dv.shape[0] = batch;
        s = mlopt_model_backward(t->m, &dv);
    }
    t->m->hook = NULL;
    mlopt_status s2 = qat_fq_weights_out(t, s == MLOPT_OK);
    if (s == MLOPT_OK)
        s = s2;
    if (s == MLOPT_OK)
        s = mlopt_optimizer_step(l->opt, lr);
    return s;
}

mlopt_status mlopt_qat_train(mlopt_qat *t, const mlopt_dataset *ds, const mlopt_qat_config *cfg, double *final_loss)
{
    TRY(check_config(t->m, ds, cfg));
    int count = mlopt_dataset_size(ds), batch = cfg->batch;
    if (cfg->limit > 0 && cfg->limit < count)
        count = cfg->limit;
    if (batch > count)
        batch = count;
    int classes = mlopt_model_num_classes(t->m), c, h, w;
    mlopt_dataset_shape(ds, &c, &h, &w);
    t->frozen = 0; /* ranges move again */
    qat_loop l;
    memset(&l, 0, sizeof l);
    mlopt_optim_config oc;
    memset(&oc, 0, sizeof oc);
    oc.kind = MLOPT_OPTIM_SGD;
    oc.lr = cfg->lr;
    oc.momentum = 0.9f;
    mlopt_schedule sched;
    memset(&sched, 0, sizeof sched);
    sched.kind = MLOPT_SCHED_COSINE;
    sched.base_lr = cfg->lr;
    long long steps_per_epoch = count / batch; /* drop the ragged last batch */
    sched.total_steps = steps_per_epoch * cfg->epochs;
    int ls[1] = { batch }, dshape[2] = { batch, classes }, ms[1] = { 1 };
    mlopt_status s = mlopt_optimizer_create(t->m, &oc, &l.opt);
    if (s == MLOPT_OK)
        s = ensure_input(t, batch);
    if (s == MLOPT_OK)
        s = qat_fq_reserve(t, batch);
    if (s == MLOPT_OK && (s = mlopt_tensor_create(t->ctx, MLOPT_I32, 1, ls, &l.labels)) == MLOPT_OK &&
        (s = mlopt_tensor_create(t->ctx, MLOPT_F32, 2, dshape, &l.dlogits)) == MLOPT_OK &&
        (s = mlopt_tensor_create(t->ctx, MLOPT_F32, 1, ms, &l.metrics)) == MLOPT_OK)
        s = mlopt_tensor_fill(l.metrics, 0.0f);
    size_t per = (size_t)c * h * w;
    l.images = malloc((size_t)batch * per * sizeof *l.images);
    l.labels_host = malloc((size_t)batch * sizeof *l.labels_host);
    l.order = malloc((size_t)mlopt_dataset_size(ds) * sizeof *l.order);
    if (s == MLOPT_OK && (!l.images || !l.labels_host || !l.order))
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    double last = 0;
    long long step = 0;
    for (int e = 0; e < cfg->epochs && s == MLOPT_OK; e++) {
        mlopt_dataset_shuffle(ds, cfg->seed * 1000003ull + (uint64_t)e, l.order);
        int k = 0; /* with a limit, shuffle within the first `count` samples */
        for (int i = 0; i < mlopt_dataset_size(ds); i++)
            if (l.order[i] < count)
                l.order[k++] = l.order[i];
        for (long long b = 0; b < steps_per_epoch && s == MLOPT_OK; b++, step++) {
            mlopt_dataset_batch(ds, l.order + b * batch, batch, t->qcfg.mean, t->qcfg.std, NULL, 0, l.images,
                                l.labels_host);
            s = mlopt_tensor_upload(t->x, l.images, (size_t)batch * per * sizeof *l.images);
            if (s == MLOPT_OK)
                s = mlopt_tensor_upload(l.labels, l.labels_host, (size_t)batch * sizeof *l.labels_host);
            if (s == MLOPT_OK)
                s = train_step(t, &l, batch, mlopt_schedule_lr(&sched, step));
        }
        float sum = 0;
        if (s == MLOPT_OK)
            s = mlopt_tensor_download(l.metrics, &sum, sizeof sum);
        if (s == MLOPT_OK)
            s = mlopt_tensor_fill(l.metrics, 0.0f);
        if (s == MLOPT_OK && !isfinite(sum))
            s = mlopt_set_error(MLOPT_E_NONFINITE, "QAT loss became %s in epoch %d: lower the learning rate (--lr)",
                                isnan(sum) ? "NaN" : "infinite", e + 1);
        last = steps_per_epoch ? sum / (double)(steps_per_epoch * batch) : 0;
    }
    if (final_loss)
        *final_loss = last;
    loop_free(&l);
    return s;
}

mlopt_status mlopt_qat_convert(mlopt_qat *t, const mlopt_dataset *ds, mlopt_qmodel **out)
{
    *out = NULL;
    if (!ds || mlopt_dataset_size(ds) <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT conversion needs a data set (for its shape)");
    float *ranges = malloc(2 * ((size_t)t->nstages + 1) * sizeof *ranges);
    if (!ranges)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    mlopt_quant_config cfg = t->qcfg;
    cfg.first_layer_float = t->first_float;
    mlopt_status s = qat_fq_ranges(t, ranges);
    if (s == MLOPT_OK)
        s = qm_from_float(t->m, ds, &cfg, ranges, out);
    free(ranges);
    if (s == MLOPT_OK && (s = qat_fq_freeze(t, *out)) != MLOPT_OK) {
        mlopt_qmodel_destroy(*out);
        *out = NULL;
    }
    return s;
}

mlopt_status mlopt_quantize_qat(mlopt_model *m, const mlopt_dataset *train, const mlopt_quant_config *qcfg,
                                const mlopt_qat_config *cfg, mlopt_qmodel **out, double *final_loss)
{
    *out = NULL;
    if (!m || !m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "QAT needs an initialized float model");
    TRY(check_config(m, train, cfg)); /* before the model is touched */
    mlopt_qat *t;
    TRY(mlopt_qat_create(m, qcfg, &t));
    mlopt_status s = mlopt_qat_train(t, train, cfg, final_loss);
    if (s == MLOPT_OK)
        s = mlopt_qat_convert(t, train, out);
    mlopt_qat_destroy(t);
    return s;
}
