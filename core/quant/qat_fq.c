/* Fake quantization for quantization-aware training, entirely through the
 * backend table (no host copies in a training step):
 *
 *   - weights: per output channel symmetric, scale = max|w| / 127 from the
 *     current weights at every forward.  max|w| per channel is a max-pool
 *     whose window is one channel's row of |w| = relu(w) + relu(-w); the
 *     reciprocal 1/scale comes from batchnorm_forward_eval (x = 1, mean 0,
 *     gamma 1, beta 0, var = scale^2: 1 / sqrt(scale^2 + eps)), the one
 *     slot that divides.
 *   - activations: per tensor affine at the points where the int8 model
 *     quantizes (the input, every conv / linear output after its fused
 *     ReLU, every float stage's output), range tracked by a moving average
 *     of per-batch min / max (constant 0.01, as PyTorch's
 *     MovingAverageMinMaxObserver and the 'ema' calibration observer).  The
 *     zero point is needed as int32 on the device: it is argmax_j -(j -
 *     t)^2 over j = 0..255 with t = -lo / scale, i.e. round(t) = zero
 *     point + 128, and fake_quant runs with qmin 0, qmax 255, which is the
 *     same clamp as [-128, 127] around the int8 zero point.
 *   - backward: the straight-through estimator, gradient * mask (1 inside
 *     the range, 0 where clipped) as the fake_quant slot defines it.
 *
 * Max-pool and flatten need nothing: max of values on the grid stays on
 * the grid, exactly as the int8 model's max-pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "qat_internal.h"

#define QAT_EMA 0.01f
/* 1/sqrt(scale^2 + eps): far below any square of a usable scale, and keeps
 * an all-zero channel finite (scale 0 then maps everything to 0). */
#define QAT_EPS 1e-30f

static mlopt_ref at(const mlopt_tensor *t, size_t i)
{
    mlopt_ref r = t->ref;
    r.offset += i * sizeof(float);
    return r;
}

static mlopt_status make_f32(mlopt_context *ctx, size_t n, mlopt_tensor **t)
{
    mlopt_tensor_destroy(*t);
    *t = NULL;
    if (n > 0x7fffffff)
        return mlopt_set_error(MLOPT_E_NOMEM, "QAT buffer of %zu floats is too large", n);
    int shape[1] = { (int)n };
    return mlopt_tensor_create(ctx, MLOPT_F32, 1, shape, t);
}

void qat_fq_free(mlopt_qat *t)
{
    for (int i = 0; t->points && i < t->npoints; i++) {
        mlopt_tensor_destroy(t->points[i].st);
        mlopt_tensor_destroy(t->points[i].zp);
        mlopt_tensor_destroy(t->points[i].mask);
    }
    for (int i = 0; t->weights && i < t->nweights; i++) {
        mlopt_tensor_destroy(t->weights[i].fq);
        mlopt_tensor_destroy(t->weights[i].mask);
        mlopt_tensor_destroy(t->weights[i].absw);
        mlopt_tensor_destroy(t->weights[i].par);
    }
    free(t->points), free(t->weights), free(t->point_of_layer);
    t->points = NULL, t->weights = NULL, t->point_of_layer = NULL;
    t->npoints = t->nweights = 0;
    mlopt_tensor_destroy(t->ones);
    mlopt_tensor_destroy(t->zeros);
    mlopt_tensor_destroy(t->zeros_i32);
    mlopt_tensor_destroy(t->ramp);
    mlopt_tensor_destroy(t->ramp_tmp);
    mlopt_tensor_destroy(t->scratch);
    t->ones = t->zeros = t->zeros_i32 = t->ramp = t->ramp_tmp = t->scratch = NULL;
    t->scratch_elems = 0;
}

static mlopt_status point_reserve(mlopt_qat *t, qat_point *p, int batch)
{
    size_t n = p->per * (size_t)batch;
    if (!p->mask || mlopt_tensor_numel(p->mask) < n)
        TRY(make_f32(t->ctx, n, &p->mask));
    if (!p->nonneg && t->scratch_elems < n) {
        TRY(make_f32(t->ctx, n, &t->scratch));
        t->scratch_elems = n;
    }
    return MLOPT_OK;
}

mlopt_status qat_fq_reserve(mlopt_qat *t, int batch)
{
    for (int i = 0; i < t->npoints; i++)
        TRY(point_reserve(t, &t->points[i], batch));
    return MLOPT_OK;
}

/* scale, 1/scale and the zero point from the averaged range st[2..3]. */
static mlopt_status point_params(mlopt_qat *t, qat_point *p)
{
    mlopt_context *ctx = t->ctx;
    const mlopt_tensor *st = p->st;
    TRY(BE_CALL(ctx, sub, 1, at(st, 3), at(st, 2), at(st, 4)));
    TRY(BE_CALL(ctx, scale, 1, 1.0f / 255.0f, at(st, 4), at(st, 4)));
    TRY(BE_CALL(ctx, mul, 1, at(st, 4), at(st, 4), at(st, 6)));
    TRY(BE_CALL(ctx, batchnorm_forward_eval, 1, 1, 1, QAT_EPS, t->ones->ref, t->ones->ref, t->zeros->ref,
                t->zeros->ref, at(st, 6), at(st, 5)));
    if (p->nonneg)
        return MLOPT_OK; /* lo = 0: zero point + 128 = 0, set once */
    /* ramp_j = j + lo / scale = j - t; the nearest j to t maximizes -(j - t)^2 */
    TRY(BE_CALL(ctx, mul, 1, at(st, 2), at(st, 5), at(st, 6)));
    TRY(BE_CALL(ctx, scale, 256, 1.0f, t->ramp->ref, t->ramp_tmp->ref));
    TRY(BE_CALL(ctx, bias_add, 1, 1, 256, t->ramp_tmp->ref, at(st, 6)));
    TRY(BE_CALL(ctx, mul, 256, t->ramp_tmp->ref, t->ramp_tmp->ref, t->ramp_tmp->ref));
    TRY(BE_CALL(ctx, scale, 256, -1.0f, t->ramp_tmp->ref, t->ramp_tmp->ref));
    return BE_CALL(ctx, argmax, 1, 256, t->ramp_tmp->ref, p->zp->ref);
}

/* Batch min / max of y (n floats) into st[0..1], then the moving average. */
static mlopt_status point_observe(mlopt_qat *t, qat_point *p, mlopt_ref y, size_t n)
{
    mlopt_context *ctx = t->ctx;
    const mlopt_tensor *st = p->st;
    if (p->nonneg) {
        TRY(BE_CALL(ctx, reduce_max_abs, n, y, at(st, 1))); /* st[0] stays 0 */
    } else {
        /* hi = max(0, max y) = max|relu(y)|, lo = min(0, min y) = -max|relu(-y)| */
        TRY(BE_CALL(ctx, act_forward, MLOPT_ACT_RELU, 0.0f, 0.0f, n, y, t->scratch->ref));
        TRY(BE_CALL(ctx, reduce_max_abs, n, t->scratch->ref, at(st, 1)));
        TRY(BE_CALL(ctx, scale, n, -1.0f, y, t->scratch->ref));
        TRY(BE_CALL(ctx, act_forward, MLOPT_ACT_RELU, 0.0f, 0.0f, n, t->scratch->ref, t->scratch->ref));
        TRY(BE_CALL(ctx, reduce_max_abs, n, t->scratch->ref, at(st, 7)));
        TRY(BE_CALL(ctx, scale, 1, -1.0f, at(st, 7), at(st, 0)));
    }
    if (p->seen == 0) {
        TRY(BE_CALL(ctx, scale, 2, 1.0f, at(st, 0), at(st, 2)));
    } else {
        TRY(BE_CALL(ctx, scale, 2, 1.0f - QAT_EMA, at(st, 2), at(st, 2)));
        TRY(BE_CALL(ctx, axpy, 2, QAT_EMA, at(st, 0), at(st, 2)));
    }
    p->seen++;
    return point_params(t, p);
}

/* Observe (training, not frozen; or never observed yet) and fake-quantize y in place. */
static mlopt_status point_apply(mlopt_qat *t, qat_point *p, mlopt_ref y, int batch, int training, int want_mask)
{
    size_t n = p->per * (size_t)batch;
    TRY(point_reserve(t, p, batch));
    if (!t->frozen && (training || p->seen == 0))
        TRY(point_observe(t, p, y, n));
    p->mask_valid = want_mask;
    return BE_CALL(t->ctx, fake_quant, 1, 1, n, 0, 255, at(p->st, 4), at(p->st, 5), p->zp->ref, y, y,
                   want_mask ? p->mask->ref : mlopt_null_ref());
}

static mlopt_status hook_forward(void *user, mlopt_model *m, int layer, int batch, int training, mlopt_ref y)
{
    mlopt_qat *t = user;
    (void)m;
    int i = t->point_of_layer[layer];
    if (i < 0)
        return MLOPT_OK;
    return point_apply(t, &t->points[i], y, batch, training, training);
}

static mlopt_status hook_backward(void *user, mlopt_model *m, int layer, int batch, mlopt_ref dy)
{
    mlopt_qat *t = user;
    (void)m;
    int i = t->point_of_layer[layer];
    if (i < 0 || !t->points[i].mask_valid)
        return MLOPT_OK;
    qat_point *p = &t->points[i];
    size_t n = p->per * (size_t)batch;
    return BE_CALL(t->ctx, mul, n, dy, p->mask->ref, dy);
}

mlopt_status qat_fq_input(mlopt_qat *t, mlopt_ref x, int batch, int training)
{
    if (t->npoints == 0 || t->points[0].layer != -1)
        return MLOPT_OK; /* the first layer stays float: the input is not quantized */
    return point_apply(t, &t->points[0], x, batch, training, 0);
}

mlopt_status qat_fq_weights_in(mlopt_qat *t, int training)
{
    mlopt_context *ctx = t->ctx;
    for (int i = 0; i < t->nweights; i++) {
        qat_weight *w = &t->weights[i];
        mlopt_param *p = &t->m->layers[w->layer].params[0];
        size_t n = (size_t)w->k * w->per;
        mlopt_ref v = p->value->ref;
        if (!t->frozen) {
            TRY(BE_CALL(ctx, act_forward, MLOPT_ACT_RELU, 0.0f, 0.0f, n, v, w->absw->ref));
            TRY(BE_CALL(ctx, scale, n, -1.0f, v, w->mask->ref));
            TRY(BE_CALL(ctx, act_forward, MLOPT_ACT_RELU, 0.0f, 0.0f, n, w->mask->ref, w->mask->ref));
            TRY(BE_CALL(ctx, add, n, w->absw->ref, w->mask->ref, w->absw->ref));
            /* |w| as an image of k channels, one row of `per` each: one window per channel */
            mlopt_pool2d_params pp = { .n = 1, .c = w->k, .h = 1, .w = (int)w->per, .kh = 1, .kw = (int)w->per,
                                       .stride_h = 1, .stride_w = (int)w->per, .dil_h = 1, .dil_w = 1, .oh = 1,
                                       .ow = 1 };
            TRY(BE_CALL(ctx, pool2d_forward, MLOPT_POOL_MAX, &pp, w->absw->ref, at(w->par, 0)));
            TRY(BE_CALL(ctx, scale, (size_t)w->k, 1.0f / 127.0f, at(w->par, 0), at(w->par, (size_t)w->k)));
            TRY(BE_CALL(ctx, mul, (size_t)w->k, at(w->par, (size_t)w->k), at(w->par, (size_t)w->k),
                        at(w->par, 2 * (size_t)w->k)));
            TRY(BE_CALL(ctx, batchnorm_forward_eval, 1, w->k, 1, QAT_EPS, t->ones->ref, t->ones->ref, t->zeros->ref,
                        t->zeros->ref, at(w->par, 2 * (size_t)w->k), at(w->par, 3 * (size_t)w->k)));
        }
        TRY(BE_CALL(ctx, fake_quant, 1, w->k, w->per, -127, 127, at(w->par, (size_t)w->k),
                    at(w->par, 3 * (size_t)w->k), t->zeros_i32->ref, v, w->fq->ref,
                    training ? w->mask->ref : mlopt_null_ref()));
        mlopt_tensor *tmp = p->value;
        p->value = w->fq;
        w->fq = tmp;
        w->swapped = 1;
    }
    return MLOPT_OK;
}

mlopt_status qat_fq_weights_out(mlopt_qat *t, int training)
{
    mlopt_status s = MLOPT_OK;
    for (int i = 0; i < t->nweights; i++) {
        qat_weight *w = &t->weights[i];
        mlopt_param *p = &t->m->layers[w->layer].params[0];
        if (!w->swapped)
            continue;
        mlopt_tensor *tmp = p->value;
        p->value = w->fq;
        w->fq = tmp;
        w->swapped = 0;
        if (training && s == MLOPT_OK && p->grad)
            s = BE_CALL(t->ctx, mul, (size_t)w->k * w->per, p->grad->ref, w->mask->ref, p->grad->ref);
    }
    return s;
}

static mlopt_status add_point(mlopt_qat *t, int layer, int stage, int nonneg, size_t per)
{
    qat_point *p = &t->points[t->npoints++];
    memset(p, 0, sizeof *p);
    p->layer = layer, p->stage = stage, p->nonneg = nonneg, p->per = per;
    if (layer >= 0)
        t->point_of_layer[layer] = t->npoints - 1;
    int32_t zero = 0;
    int one[1] = { 1 };
    TRY(make_f32(t->ctx, 8, &p->st));
    TRY(mlopt_tensor_fill(p->st, 0.0f));
    TRY(mlopt_tensor_create(t->ctx, MLOPT_I32, 1, one, &p->zp));
    return mlopt_tensor_upload(p->zp, &zero, sizeof zero);
}

static mlopt_status add_weight(mlopt_qat *t, int layer)
{
    const mlopt_layer *L = &t->m->layers[layer];
    const mlopt_tensor *v = L->params[0].value;
    qat_weight *w = &t->weights[t->nweights++];
    memset(w, 0, sizeof *w);
    w->layer = layer;
    w->k = L->spec.out;
    w->per = mlopt_tensor_numel(v) / (size_t)w->k;
    TRY(mlopt_tensor_create(t->ctx, MLOPT_F32, v->ndim, v->shape, &w->fq));
    TRY(make_f32(t->ctx, mlopt_tensor_numel(v), &w->mask));
    TRY(make_f32(t->ctx, mlopt_tensor_numel(v), &w->absw));
    return make_f32(t->ctx, 4 * (size_t)w->k, &w->par);
}

static mlopt_status init_constants(mlopt_qat *t, int maxk)
{
    TRY(make_f32(t->ctx, (size_t)maxk, &t->ones));
    TRY(mlopt_tensor_fill(t->ones, 1.0f));
    TRY(make_f32(t->ctx, (size_t)maxk, &t->zeros));
    TRY(mlopt_tensor_fill(t->zeros, 0.0f));
    int32_t *z = calloc((size_t)maxk, sizeof *z);
    float ramp[256];
    if (!z)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int j = 0; j < 256; j++)
        ramp[j] = (float)j;
    int shape[1] = { maxk };
    mlopt_status s = mlopt_tensor_create(t->ctx, MLOPT_I32, 1, shape, &t->zeros_i32);
    if (s == MLOPT_OK)
        s = mlopt_tensor_upload(t->zeros_i32, z, (size_t)maxk * sizeof *z);
    free(z);
    TRY(s);
    TRY(make_f32(t->ctx, 256, &t->ramp));
    TRY(mlopt_tensor_upload(t->ramp, ramp, sizeof ramp));
    return make_f32(t->ctx, 256, &t->ramp_tmp);
}

mlopt_status qat_fq_init(mlopt_qat *t)
{
    mlopt_model *m = t->m;
    mlopt_qmodel *plan;
    TRY(qm_plan(m, &plan));
    t->nstages = plan->nstages;
    t->points = calloc((size_t)plan->nstages + 1, sizeof *t->points);
    t->weights = calloc((size_t)plan->nstages + 1, sizeof *t->weights);
    t->point_of_layer = malloc((size_t)m->nlayers * sizeof *t->point_of_layer);
    mlopt_status s = t->points && t->weights && t->point_of_layer
                         ? MLOPT_OK
                         : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; s == MLOPT_OK && i < m->nlayers; i++)
        t->point_of_layer[i] = -1;
    int first = -1, maxk = 1;
    for (int i = 0; i < plan->nstages && first < 0; i++)
        if (plan->st[i].kind == QS_CONV || plan->st[i].kind == QS_LINEAR)
            first = i;
    /* as in qm_from_float: only a first layer with nothing but flatten before it may stay float */
    for (int i = 0; i < first; i++)
        if (plan->st[i].kind != QS_FLATTEN)
            t->first_float = 0;
    if (first < 0)
        t->first_float = 0;
    if (s == MLOPT_OK && !t->first_float)
        s = add_point(t, -1, -1, 0, (size_t)m->in_c * m->in_h * m->in_w);
    for (int i = 0; s == MLOPT_OK && i < plan->nstages; i++) {
        const qstage *st = &plan->st[i];
        if (st->kind != QS_CONV && st->kind != QS_LINEAR && st->kind != QS_FLOAT)
            continue;
        size_t per = 1;
        for (int d = 0; d < st->out_ndim; d++)
            per *= (size_t)st->out[d];
        s = add_point(t, st->src_layer, i, st->relu, per);
        if (s == MLOPT_OK && st->kind != QS_FLOAT && !(i == first && t->first_float)) {
            s = add_weight(t, st->layer);
            maxk = st->nout > maxk ? st->nout : maxk;
        }
    }
    mlopt_qmodel_destroy(plan);
    if (s == MLOPT_OK)
        s = init_constants(t, maxk);
    if (s != MLOPT_OK) {
        qat_fq_free(t);
        return s;
    }
    t->hook.after_forward = hook_forward;
    t->hook.before_backward = hook_backward;
    t->hook.user = t;
    return MLOPT_OK;
}

mlopt_status qat_fq_ranges(mlopt_qat *t, float *ranges)
{
    for (int i = 0; i <= t->nstages; i++)
        ranges[2 * i] = 0.0f, ranges[2 * i + 1] = 1.0f;
    for (int i = 0; i < t->npoints; i++) {
        qat_point *p = &t->points[i];
        if (!p->seen)
            return mlopt_set_error(MLOPT_E_INVALID, "QAT: no activation ranges yet (train or run a forward first)");
        TRY(qm_download(t->ctx, &ranges[2 * (p->stage + 1)], at(p->st, 2), 2 * sizeof(float)));
    }
    return MLOPT_OK;
}

mlopt_status qat_fq_freeze(mlopt_qat *t, const mlopt_qmodel *q)
{
    for (int i = 0; i < t->npoints; i++) {
        qat_point *p = &t->points[i];
        float sc = p->stage < 0 ? q->in_scale : q->st[p->stage].out_scale;
        int zp = p->stage < 0 ? q->in_zp : q->st[p->stage].out_zp;
        float v[2] = { sc, 1.0f / sc };
        int32_t z = zp + 128;
        TRY(BE_CALL(t->ctx, upload, at(p->st, 4), v, sizeof v));
        TRY(mlopt_tensor_upload(p->zp, &z, sizeof z));
        p->seen = p->seen ? p->seen : 1;
    }
    for (int i = 0; i < t->nweights; i++) {
        qat_weight *w = &t->weights[i];
        const qstage *st = NULL;
        for (int j = 0; j < q->nstages && !st; j++)
            if ((q->st[j].kind == QS_CONV || q->st[j].kind == QS_LINEAR) && q->st[j].layer == w->layer)
                st = &q->st[j];
        if (!st || !st->w_scale || st->nout != w->k)
            return mlopt_set_error(MLOPT_E_INVALID, "QAT: the int8 model has no int8 weights for layer %d",
                                   w->layer);
        float *v = malloc(2 * (size_t)w->k * sizeof *v);
        if (!v)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        for (int o = 0; o < w->k; o++)
            v[o] = st->w_scale[o], v[w->k + o] = 1.0f / st->w_scale[o];
        mlopt_status s = BE_CALL(t->ctx, upload, at(w->par, (size_t)w->k), v, (size_t)w->k * sizeof *v);
        if (s == MLOPT_OK)
            s = BE_CALL(t->ctx, upload, at(w->par, 3 * (size_t)w->k), v + w->k, (size_t)w->k * sizeof *v);
        free(v);
        TRY(s);
    }
    t->frozen = 1;
    return MLOPT_OK;
}
