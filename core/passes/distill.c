/* Knowledge distillation (Hinton, Vinyals & Dean 2015) with an optional
 * FitNets-style hint loss.  Mirrors core/trainer.c: every step is enqueued
 * on the device and the host only waits when it reads the metrics.  The
 * teacher's logits and features are consumed where they were computed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../rng.h"
#include "passes_internal.h"

/* Device metric slots, summed over samples until read. */
enum { M_KL = 0, M_CE = 1, M_CORRECT = 2, M_HINT = 3, M_COUNT = 4 };

/* SGD momentum of the hint projection (it is a throw-away helper, so it
 * does not follow the student's optimizer configuration). */
#define HINT_MOMENTUM 0.9f

struct mlopt_distiller {
    mlopt_model *teacher, *student;
    mlopt_optimizer *opt;
    float temperature, alpha, hint_weight;
    int max_batch, classes;
    mlopt_tensor *x, *labels, *dlogits, *scratch, *metrics;
    long long samples;
    /* Hint loss: student layer hs projected onto teacher layer ht by a 1x1
     * convolution (flat features are viewed as c x 1 x 1 images). */
    int hint, hs, ht;
    int hc, hh, hw, hk;  /* projection input channels, spatial size, output channels */
    mlopt_tensor *pw, *pb, *pdw, *pdb, *pvw, *pvb; /* weights, grads, momentum */
    mlopt_tensor *proj, *dproj, *sq, *dfeat, *sumsq;
    long long hint_steps;
};

void mlopt_distill_defaults(mlopt_distill_config *c)
{
    memset(c, 0, sizeof *c);
    c->temperature = 4.0f;
    c->alpha = 0.9f;
    c->hint_weight = 1.0f;
    c->seed = 1;
}

static mlopt_ref offset_ref(mlopt_ref r, int floats)
{
    r.offset += (size_t)floats * sizeof(float);
    return r;
}

mlopt_status mlopt_distill_loss(mlopt_context *ctx, int rows, int cols, float temperature, float alpha,
                                const mlopt_tensor *student, const mlopt_tensor *teacher, const mlopt_tensor *labels,
                                mlopt_tensor *sums, mlopt_tensor *dlogits, mlopt_tensor *scratch)
{
    if (!(temperature > 0) || !(alpha >= 0 && alpha <= 1))
        return mlopt_set_error(MLOPT_E_INVALID,
                               "mlopt_distill_loss: need temperature > 0 and 0 <= alpha <= 1, got T=%g alpha=%g",
                               (double)temperature, (double)alpha);
    if (rows <= 0 || cols <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_distill_loss: %d x %d logits", rows, cols);
    if (alpha > 0 && !teacher)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_distill_loss: alpha %g > 0 needs teacher logits",
                               (double)alpha);
    if (dlogits && alpha > 0 && alpha < 1 && !scratch)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_distill_loss: a gradient with 0 < alpha < 1 needs scratch");
    if (mlopt_tensor_numel(sums) < 2)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_distill_loss: sums must hold 2 floats");
    float inv_temp = 1.0f / temperature;
    float n = (float)rows;
    /* The soft term's gradient wrt the student logits is
     * alpha T^2 (p_s - p_t) / T per row: the T^2 keeps its magnitude
     * independent of T (Hinton et al., section 2). */
    mlopt_ref kl_grad = dlogits && alpha > 0 ? dlogits->ref : mlopt_null_ref();
    if (teacher)
        TRY(BE_CALL(ctx, softmax_kl, rows, cols, inv_temp, student->ref, teacher->ref, sums->ref, kl_grad,
                    alpha * temperature * temperature / n));
    /* Zero-weighted terms write no gradient, so alpha == 0 gives exactly
     * the ordinary trainer's gradient. */
    mlopt_ref ce_grad = mlopt_null_ref();
    if (dlogits && alpha < 1)
        ce_grad = alpha > 0 ? scratch->ref : dlogits->ref;
    TRY(BE_CALL(ctx, softmax_xent, rows, cols, 1.0f, student->ref, labels->ref, offset_ref(sums->ref, 1), ce_grad,
                (1.0f - alpha) / n));
    if (dlogits && alpha > 0 && alpha < 1)
        TRY(BE_CALL(ctx, axpy, (size_t)rows * cols, 1.0f, scratch->ref, dlogits->ref));
    return MLOPT_OK;
}

void mlopt_distiller_destroy(mlopt_distiller *d)
{
    if (!d)
        return;
    mlopt_tensor *all[] = { d->x,   d->labels, d->dlogits, d->scratch, d->metrics, d->pw,    d->pb,    d->pdw,
                            d->pdb, d->pvw,    d->pvb,     d->proj,    d->dproj,   d->sq,    d->dfeat, d->sumsq };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mlopt_tensor_destroy(all[i]);
    free(d);
}

static mlopt_status make(mlopt_context *ctx, int a, int b, mlopt_tensor **out)
{
    int shape[2] = { a, b };
    return mlopt_tensor_create(ctx, MLOPT_F32, 2, shape, out);
}

/* Uniform(+-1/sqrt(fan_in)) like PyTorch's default conv/linear init. */
static mlopt_status init_uniform(mlopt_tensor *t, int fan_in, mlopt_rng *r)
{
    size_t n = mlopt_tensor_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    float bound = 1.0f / sqrtf((float)fan_in);
    for (size_t i = 0; i < n; i++)
        h[i] = (float)((2.0 * mlopt_rng_double(r) - 1.0) * bound);
    mlopt_status s = mlopt_tensor_upload(t, h, n * sizeof *h);
    free(h);
    return s;
}

static mlopt_status setup_hint(mlopt_distiller *d, const mlopt_distill_config *cfg)
{
    mlopt_model *t = d->teacher, *s = d->student;
    if (!t)
        return mlopt_set_error(MLOPT_E_INVALID, "the hint loss needs a teacher");
    if ((d->ht = passes_find_layer(t, cfg->hint_teacher)) < 0 || (d->hs = passes_find_layer(s, cfg->hint_student)) < 0)
        return MLOPT_E_NOT_FOUND;
    int has_work = 0;
    for (int i = 0; i <= d->hs; i++)
        has_work |= !s->layers[i].ops->aliases_input;
    if (!has_work)
        return mlopt_set_error(MLOPT_E_INVALID, "hint: student layer '%s' has no trained layer before it",
                               cfg->hint_student);
    /* The hint reads intermediate outputs of both models. */
    s->keep_outputs = t->keep_outputs = 1;
    const mlopt_layer *ls = &s->layers[d->hs], *lt = &t->layers[d->ht];
    if (ls->out_ndim == 3 && lt->out_ndim == 3 && ls->out[1] == lt->out[1] && ls->out[2] == lt->out[2]) {
        d->hc = ls->out[0], d->hh = ls->out[1], d->hw = ls->out[2], d->hk = lt->out[0];
    } else { /* flat features (or different spatial sizes): a linear map of the flattened features */
        d->hc = (int)mlopt_shape_numel(ls->out_ndim, ls->out);
        d->hk = (int)mlopt_shape_numel(lt->out_ndim, lt->out);
        d->hh = d->hw = 1;
    }
    mlopt_context *ctx = s->ctx;
    int hw = d->hh * d->hw, B = d->max_batch;
    TRY(make(ctx, d->hk, d->hc, &d->pw));
    TRY(make(ctx, 1, d->hk, &d->pb));
    TRY(make(ctx, d->hk, d->hc, &d->pdw));
    TRY(make(ctx, 1, d->hk, &d->pdb));
    TRY(make(ctx, d->hk, d->hc, &d->pvw));
    TRY(make(ctx, 1, d->hk, &d->pvb));
    TRY(make(ctx, B, d->hk * hw, &d->proj));
    TRY(make(ctx, B, d->hk * hw, &d->dproj));
    TRY(make(ctx, B, d->hk * hw, &d->sq));
    TRY(make(ctx, B, d->hc * hw, &d->dfeat));
    TRY(make(ctx, 1, 1, &d->sumsq));
    mlopt_rng r;
    mlopt_rng_seed(&r, cfg->seed ^ 0x68696E74ull);
    TRY(init_uniform(d->pw, d->hc, &r));
    TRY(init_uniform(d->pb, d->hc, &r));
    d->hint = 1;
    return MLOPT_OK;
}

mlopt_status mlopt_distiller_create(mlopt_model *teacher, mlopt_model *student, mlopt_optimizer *opt, int max_batch,
                                    const mlopt_distill_config *cfg, mlopt_distiller **out)
{
    *out = NULL;
    int want_hint = cfg->hint_teacher || cfg->hint_student;
    if (max_batch <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "batch size must be positive, got %d", max_batch);
    if (!opt)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_distiller_create: the student needs an optimizer");
    if (!(cfg->temperature > 0) || !(cfg->alpha >= 0 && cfg->alpha <= 1))
        return mlopt_set_error(MLOPT_E_INVALID, "distillation needs temperature > 0 and 0 <= alpha <= 1, got T=%g alpha=%g",
                               (double)cfg->temperature, (double)cfg->alpha);
    if (want_hint && !(cfg->hint_teacher && cfg->hint_student))
        return mlopt_set_error(MLOPT_E_INVALID, "the hint loss needs both a teacher and a student layer");
    if (!teacher && (cfg->alpha > 0 || want_hint))
        return mlopt_set_error(MLOPT_E_INVALID, "without a teacher only alpha = 0 and no hint are possible");
    if (teacher) {
        if (teacher->ctx != student->ctx)
            return mlopt_set_error(MLOPT_E_INVALID,
                                   "teacher and student must live on the same context (load both with one context)");
        if (teacher->in_c != student->in_c || teacher->in_h != student->in_h || teacher->in_w != student->in_w)
            return mlopt_set_error(MLOPT_E_INVALID, "teacher input %dx%dx%d differs from the student's %dx%dx%d",
                                   teacher->in_c, teacher->in_h, teacher->in_w, student->in_c, student->in_h,
                                   student->in_w);
        if (mlopt_model_num_classes(teacher) != mlopt_model_num_classes(student))
            return mlopt_set_error(MLOPT_E_INVALID, "teacher has %d outputs but the student %d",
                                   mlopt_model_num_classes(teacher), mlopt_model_num_classes(student));
    }
    mlopt_distiller *d = calloc(1, sizeof *d);
    if (!d)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    d->teacher = teacher;
    d->student = student;
    d->opt = opt;
    d->temperature = cfg->temperature;
    d->alpha = cfg->alpha;
    d->hint_weight = cfg->hint_weight;
    d->max_batch = max_batch;
    d->classes = mlopt_model_num_classes(student);
    mlopt_context *ctx = student->ctx;
    int xs[4] = { max_batch, student->in_c, student->in_h, student->in_w };
    int ls[1] = { max_batch }, ms[1] = { M_COUNT };
    mlopt_status s;
    if ((s = mlopt_tensor_create(ctx, MLOPT_F32, 4, xs, &d->x)) != MLOPT_OK ||
        (s = mlopt_tensor_create(ctx, MLOPT_I32, 1, ls, &d->labels)) != MLOPT_OK ||
        (s = make(ctx, max_batch, d->classes, &d->dlogits)) != MLOPT_OK ||
        (s = make(ctx, max_batch, d->classes, &d->scratch)) != MLOPT_OK ||
        (s = mlopt_tensor_create(ctx, MLOPT_F32, 1, ms, &d->metrics)) != MLOPT_OK ||
        (s = mlopt_tensor_fill(d->metrics, 0.0f)) != MLOPT_OK || (want_hint && (s = setup_hint(d, cfg)) != MLOPT_OK)) {
        mlopt_distiller_destroy(d);
        return s;
    }
    *out = d;
    return MLOPT_OK;
}

/* Hint loss of the last forwards: metrics[HINT] += batch mean of the
 * per-sample MSE times n; d->dfeat = its gradient wrt the student feature;
 * the projection's gradients in pdw/pdb. */
static mlopt_status hint_forward_backward(mlopt_distiller *d, int n)
{
    mlopt_context *ctx = d->student->ctx;
    mlopt_conv2d_params p = { .n = n, .c = d->hc, .h = d->hh, .w = d->hw, .k = d->hk, .r = 1, .s = 1,
                              .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1,
                              .oh = d->hh, .ow = d->hw };
    mlopt_ref sf = mlopt_model_output_ref(d->student, d->hs), tf = mlopt_model_output_ref(d->teacher, d->ht);
    size_t per = (size_t)d->hk * d->hh * d->hw, count = per * (size_t)n;
    TRY(BE_CALL(ctx, conv2d_forward, &p, sf, d->pw->ref, d->pb->ref, d->proj->ref));
    TRY(BE_CALL(ctx, sub, count, d->proj->ref, tf, d->dproj->ref));
    TRY(BE_CALL(ctx, mul, count, d->dproj->ref, d->dproj->ref, d->sq->ref));
    TRY(BE_CALL(ctx, reduce_sum, count, d->sq->ref, d->sumsq->ref));
    /* sum of squares / per = n * (mean over the batch's elements) */
    TRY(BE_CALL(ctx, axpy, 1, 1.0f / (float)per, d->sumsq->ref, offset_ref(d->metrics->ref, M_HINT)));
    TRY(BE_CALL(ctx, scale, count, 2.0f * d->hint_weight / (float)count, d->dproj->ref, d->dproj->ref));
    TRY(BE_CALL(ctx, conv2d_backward_filter, &p, sf, d->dproj->ref, d->pdw->ref, d->pdb->ref));
    return BE_CALL(ctx, conv2d_backward_data, &p, d->dproj->ref, d->pw->ref, d->dfeat->ref);
}

/* The student's backward pass with the hint gradient added to the output
 * gradient of layer d->hs; the same walk as mlopt_model_backward. */
static mlopt_status backward_with_hint(mlopt_distiller *d, const mlopt_tensor *dlogits)
{
    mlopt_model *m = d->student;
    mlopt_ref dy = dlogits->ref;
    size_t feat = (size_t)d->hc * d->hh * d->hw * (size_t)m->last_batch;
    int k = 0;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        mlopt_layer *L = &m->layers[i];
        if (i == d->hs) /* dy is the gradient of layer i's output here */
            TRY(BE_CALL(m->ctx, axpy, feat, 1.0f, d->dfeat->ref, dy));
        if (L->ops->aliases_input)
            continue;
        mlopt_layer_io io = { .batch = m->last_batch, .training = m->last_training };
        io.x = mlopt_model_output_ref(m, i - 1);
        io.y = m->acts[i]->ref;
        io.dy = dy;
        int need_dx = 0;
        for (int j = 0; j < i; j++)
            need_dx |= !m->layers[j].ops->aliases_input;
        io.dx = need_dx || L->spec.kind == MLOPT_LAYER_BATCHNORM ? m->grad[k]->ref : mlopt_null_ref();
        TRY(L->ops->backward(L, m->ctx, &io));
        if (need_dx) {
            dy = io.dx;
            k ^= 1;
        }
    }
    return MLOPT_OK;
}

mlopt_status mlopt_distiller_step(mlopt_distiller *d, const float *images, const int32_t *labels, int n, float lr)
{
    if (n <= 0 || n > d->max_batch)
        return mlopt_set_error(MLOPT_E_INVALID, "batch of %d samples; this distiller takes 1..%d", n, d->max_batch);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= d->classes)
            return mlopt_set_error(MLOPT_E_INVALID, "label %d of sample %d is outside 0..%d for this model",
                                   (int)labels[i], i, d->classes - 1);
    mlopt_model *s = d->student;
    mlopt_context *ctx = s->ctx;
    size_t per = (size_t)s->in_c * s->in_h * s->in_w;
    TRY(mlopt_tensor_upload(d->x, images, (size_t)n * per * sizeof(float)));
    TRY(mlopt_tensor_upload(d->labels, labels, (size_t)n * sizeof(int32_t)));
    mlopt_tensor xv = *d->x;
    xv.shape[0] = n;
    xv.owns = 0;
    /* Both forwards read the one uploaded batch; the teacher's outputs stay
     * valid in its own activation buffers while the student runs. */
    mlopt_tensor *tlogits = NULL, *slogits;
    if (d->teacher)
        TRY(mlopt_model_forward(d->teacher, &xv, 0, &tlogits));
    s->step = (uint64_t)mlopt_optimizer_steps(d->opt);
    TRY(mlopt_model_forward(s, &xv, 1, &slogits));
    d->samples += n;
    mlopt_tensor dv = *d->dlogits, sv = *d->scratch;
    dv.shape[0] = sv.shape[0] = n;
    TRY(mlopt_distill_loss(ctx, n, d->classes, d->temperature, d->alpha, slogits, tlogits, d->labels, d->metrics, &dv,
                           &sv));
    TRY(BE_CALL(ctx, accuracy_count, n, d->classes, slogits->ref, d->labels->ref, offset_ref(d->metrics->ref, M_CORRECT)));
    if (d->hint) {
        TRY(hint_forward_backward(d, n));
        TRY(backward_with_hint(d, &dv));
        int first = d->hint_steps++ == 0;
        TRY(BE_CALL(ctx, sgd_update, mlopt_tensor_numel(d->pw), lr, HINT_MOMENTUM, 0.0f, 0.0f, 0, first, d->pw->ref,
                    d->pdw->ref, d->pvw->ref));
        TRY(BE_CALL(ctx, sgd_update, mlopt_tensor_numel(d->pb), lr, HINT_MOMENTUM, 0.0f, 0.0f, 0, first, d->pb->ref,
                    d->pdb->ref, d->pvb->ref));
    } else {
        TRY(mlopt_model_backward(s, &dv));
    }
    return mlopt_optimizer_step(d->opt, lr);
}

mlopt_status mlopt_distiller_read_metrics(mlopt_distiller *d, mlopt_distill_metrics *out)
{
    float h[M_COUNT];
    TRY(mlopt_tensor_download(d->metrics, h, sizeof h));
    TRY(mlopt_tensor_fill(d->metrics, 0.0f));
    memset(out, 0, sizeof *out);
    out->samples = d->samples;
    double k = d->samples > 0 ? (double)d->samples : 1.0;
    d->samples = 0;
    out->kl = d->teacher ? h[M_KL] / k : 0;
    out->ce = h[M_CE] / k;
    out->accuracy = h[M_CORRECT] / k;
    out->hint = h[M_HINT] / k;
    double t2 = (double)d->temperature * d->temperature;
    out->loss = d->alpha * t2 * out->kl + (1.0 - d->alpha) * out->ce + (d->hint ? d->hint_weight * out->hint : 0);
    if (!isfinite(out->loss))
        return mlopt_set_error(MLOPT_E_NONFINITE,
                               "the distillation loss became %s: training diverged; lower the learning rate (--lr)",
                               isnan(out->loss) ? "NaN" : "infinite");
    return MLOPT_OK;
}

mlopt_status mlopt_distill_train(mlopt_model *teacher, mlopt_model *student, const mlopt_dataset *ds,
                                 const mlopt_distill_config *cfg, const mlopt_finetune_config *loop,
                                 mlopt_distill_metrics *last)
{
    passes_loop L;
    TRY(passes_loop_begin(&L, student, ds, loop, "distillation"));
    mlopt_distiller *d = NULL;
    mlopt_status s = mlopt_distiller_create(teacher, student, L.opt, L.batch, cfg, &d);
    long long step = 0;
    for (int e = 0; e < L.epochs && s == MLOPT_OK; e++) {
        passes_loop_epoch(&L, ds, loop, e);
        for (long long b = 0; b < L.steps_per_epoch && s == MLOPT_OK; b++, step++) {
            passes_loop_batch(&L, ds, loop, b);
            s = mlopt_distiller_step(d, L.images, L.labels, L.batch, mlopt_schedule_lr(&L.sched, step));
        }
        mlopt_distill_metrics m;
        if (s == MLOPT_OK)
            s = mlopt_distiller_read_metrics(d, &m);
        if (s == MLOPT_OK && last)
            *last = m;
        if (s == MLOPT_OK && cfg->after_epoch)
            s = cfg->after_epoch(cfg->user, e, &m);
    }
    mlopt_distiller_destroy(d);
    passes_loop_end(&L);
    return s;
}
