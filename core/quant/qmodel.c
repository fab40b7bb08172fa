/* The int8 model: stages planned from a (batch-norm-folded) float model,
 * weight quantization, and the forward pass through the ABI 1.1 slots. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "quant_internal.h"

mlopt_status qm_download(mlopt_context *ctx, void *dst, mlopt_ref src, size_t bytes)
{
    return BE_CALL(ctx, download, dst, src, bytes);
}

static void stage_free(qstage *s)
{
    mlopt_tensor_destroy(s->w);
    mlopt_tensor_destroy(s->bias);
    mlopt_tensor_destroy(s->mult);
    mlopt_tensor_destroy(s->shift);
    mlopt_tensor_destroy(s->wf);
    mlopt_tensor_destroy(s->bf);
    mlopt_tensor_destroy(s->y);
    free(s->w_scale);
}

void mlopt_qmodel_destroy(mlopt_qmodel *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->nstages; i++)
        stage_free(&q->st[i]);
    free(q->st);
    free(q->spec_text);
    mlopt_tensor_destroy(q->xq);
    mlopt_tensor_destroy(q->fa);
    mlopt_tensor_destroy(q->fb);
    mlopt_tensor_destroy(q->logits_buf);
    free(q);
}

int mlopt_qmodel_num_classes(const mlopt_qmodel *q) { return q->classes; }

int mlopt_qmodel_first_layer_float(const mlopt_qmodel *q)
{
    for (int i = 0; i < q->nstages; i++)
        if (q->st[i].kind == QS_CONV || q->st[i].kind == QS_LINEAR)
            return q->st[i].float_exec;
    return 0;
}

static size_t numel3(int ndim, const int *s)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)s[i];
    return n;
}

mlopt_status qm_plan(const mlopt_model *m, mlopt_qmodel **out)
{
    *out = NULL;
    mlopt_qmodel *q = calloc(1, sizeof *q);
    if (!q || !(q->st = calloc((size_t)m->nlayers + 1, sizeof *q->st))) {
        free(q);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    q->ctx = m->ctx;
    q->in_c = m->in_c, q->in_h = m->in_h, q->in_w = m->in_w;
    q->seed = m->seed;
    q->in_scale = 1.0f;
    mlopt_status s = MLOPT_OK;
    for (int i = 0; i < m->nlayers && s == MLOPT_OK;) {
        const mlopt_layer *L = &m->layers[i];
        if (L->spec.kind == MLOPT_LAYER_DROPOUT) { /* identity at inference */
            i++;
            continue;
        }
        qstage *st = &q->st[q->nstages];
        memset(st, 0, sizeof *st);
        st->spec = L->spec;
        st->layer = st->src_layer = i;
        st->in_ndim = L->in_ndim;
        memcpy(st->in, L->in, sizeof st->in);
        snprintf(st->name, sizeof st->name, "%s", L->spec.name);
        int last = i;
        switch (L->spec.kind) {
        case MLOPT_LAYER_CONV2D:
        case MLOPT_LAYER_LINEAR: {
            st->kind = L->spec.kind == MLOPT_LAYER_CONV2D ? QS_CONV : QS_LINEAR;
            st->nout = L->spec.out;
            st->wcount = mlopt_tensor_numel(L->params[0].value) / (size_t)L->spec.out;
            int j = i + 1;
            while (j < m->nlayers && m->layers[j].spec.kind == MLOPT_LAYER_DROPOUT)
                j++;
            if (j < m->nlayers && m->layers[j].spec.kind == MLOPT_LAYER_ACTIVATION &&
                m->layers[j].spec.act == MLOPT_ACT_RELU) {
                st->relu = 1;
                last = j;
                snprintf(st->name + strlen(st->name), sizeof st->name - strlen(st->name), "+relu");
            }
            break;
        }
        case MLOPT_LAYER_MAXPOOL2D:
            st->kind = QS_MAXPOOL;
            break;
        case MLOPT_LAYER_FLATTEN:
            st->kind = QS_FLATTEN;
            break;
        case MLOPT_LAYER_AVGPOOL2D:
            st->kind = QS_FLOAT;
            break;
        case MLOPT_LAYER_ACTIVATION:
            st->kind = QS_FLOAT;
            st->act = L->spec;
            break;
        default:
            s = mlopt_set_error(MLOPT_E_UNSUPPORTED,
                                "%s: a %s layer that does not follow a conv/linear cannot be quantized (only "
                                "batch-norm right after conv/linear is folded)",
                                L->spec.name, L->ops->kind_name);
            continue;
        }
        st->src_layer = last;
        st->out_ndim = m->layers[last].out_ndim;
        memcpy(st->out, m->layers[last].out, sizeof st->out);
        q->nstages++;
        i = last + 1;
    }
    if (s == MLOPT_OK && (q->nstages == 0 || q->st[q->nstages - 1].kind == QS_FLATTEN))
        s = mlopt_set_error(MLOPT_E_UNSUPPORTED, "the model ends without a layer that produces logits");
    if (s != MLOPT_OK) {
        mlopt_qmodel_destroy(q);
        return s;
    }
    const qstage *lastst = &q->st[q->nstages - 1];
    q->classes = (int)numel3(lastst->out_ndim, lastst->out);
    *out = q;
    return MLOPT_OK;
}

mlopt_status qm_multiplier(double real, int32_t *mult, int32_t *shift)
{
    if (!(real > 0) || real >= (double)(1 << 30))
        return mlopt_set_error(MLOPT_E_INVALID, "requantization factor %g out of range (0, 2^30)", real);
    int e;
    double frac = frexp(real, &e); /* real = frac * 2^e, frac in [0.5, 1) */
    long long m = llround(frac * 2147483648.0);
    if (m == 2147483648LL) {
        m = 1LL << 30;
        e++;
    }
    int sh = 31 - e;
    if (sh > 62) { /* tiny factor: give up low multiplier bits */
        m >>= sh - 62 < 63 ? sh - 62 : 62;
        sh = 62;
    }
    if (sh < 1)
        return mlopt_set_error(MLOPT_E_INVALID, "requantization factor %g too large", real);
    *mult = (int32_t)m;
    *shift = sh;
    return MLOPT_OK;
}

static mlopt_status make_tensor(mlopt_context *ctx, mlopt_dtype dt, int n, mlopt_tensor **t)
{
    mlopt_tensor_destroy(*t);
    *t = NULL;
    return mlopt_tensor_create(ctx, dt, 1, &n, t);
}

mlopt_status qm_set_weights(mlopt_qmodel *q, qstage *s, const float *w, const float *b)
{
    int n = s->nout;
    size_t per = s->wcount;
    int8_t *wq = malloc((size_t)n * per + 1);
    int32_t *bq = malloc((size_t)n * 4), *mu = malloc((size_t)n * 4), *sh = malloc((size_t)n * 4);
    float *ws = realloc(s->w_scale, (size_t)n * sizeof *ws);
    mlopt_status st = MLOPT_OK;
    if (!wq || !bq || !mu || !sh || !ws) {
        free(ws == s->w_scale ? NULL : ws);
        st = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        goto done;
    }
    s->w_scale = ws;
    for (int o = 0; o < n && st == MLOPT_OK; o++) {
        const float *wr = w + (size_t)o * per;
        float amax = 0;
        for (size_t i = 0; i < per; i++)
            amax = fmaxf(amax, fabsf(wr[i]));
        ws[o] = amax > 0 ? amax / 127.0f : 1e-8f;
        for (size_t i = 0; i < per; i++) {
            float r = rintf(wr[i] / ws[o]);
            wq[(size_t)o * per + i] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
        }
        double bs = (double)s->in_scale * ws[o];
        double bv = b ? rint((double)b[o] / bs) : 0;
        bq[o] = (int32_t)(bv < -2147483647.0 ? -2147483647.0 : bv > 2147483647.0 ? 2147483647.0 : bv);
        st = qm_multiplier(bs / s->out_scale, &mu[o], &sh[o]);
    }
    if (st != MLOPT_OK)
        goto done;
    int wshape[1] = { (int)((size_t)n * per) };
    mlopt_tensor_destroy(s->w);
    s->w = NULL;
    if ((st = mlopt_tensor_create(q->ctx, MLOPT_I8, 1, wshape, &s->w)) == MLOPT_OK &&
        (st = mlopt_tensor_upload(s->w, wq, (size_t)n * per)) == MLOPT_OK &&
        (st = make_tensor(q->ctx, MLOPT_I32, n, &s->bias)) == MLOPT_OK &&
        (st = mlopt_tensor_upload(s->bias, bq, (size_t)n * 4)) == MLOPT_OK &&
        (st = make_tensor(q->ctx, MLOPT_I32, n, &s->mult)) == MLOPT_OK &&
        (st = mlopt_tensor_upload(s->mult, mu, (size_t)n * 4)) == MLOPT_OK &&
        (st = make_tensor(q->ctx, MLOPT_I32, n, &s->shift)) == MLOPT_OK)
        st = mlopt_tensor_upload(s->shift, sh, (size_t)n * 4);
done:
    free(wq), free(bq), free(mu), free(sh);
    return st;
}

mlopt_status qm_set_float_weights(mlopt_qmodel *q, qstage *s, const float *w, const float *b)
{
    int n = s->nout;
    int wn = (int)((size_t)n * s->wcount);
    TRY(make_tensor(q->ctx, MLOPT_F32, wn, &s->wf));
    TRY(mlopt_tensor_upload(s->wf, w, (size_t)wn * 4));
    TRY(make_tensor(q->ctx, MLOPT_F32, n, &s->bf));
    if (b)
        return mlopt_tensor_upload(s->bf, b, (size_t)n * 4);
    return mlopt_tensor_fill(s->bf, 0.0f);
}

mlopt_ref qm_stage_output(const mlopt_qmodel *q, int i)
{
    while (i >= 0 && q->st[i].kind == QS_FLATTEN)
        i--;
    return i < 0 ? q->xq->ref : q->st[i].y->ref;
}

static mlopt_status ensure_buffers(mlopt_qmodel *q, int batch)
{
    if (batch <= q->cap_batch)
        return MLOPT_OK;
    size_t in = (size_t)q->in_c * q->in_h * q->in_w, fmax = in;
    TRY(make_tensor(q->ctx, MLOPT_I8, (int)(in * batch), &q->xq));
    for (int i = 0; i < q->nstages; i++) {
        qstage *s = &q->st[i];
        size_t o = numel3(s->out_ndim, s->out), ii = numel3(s->in_ndim, s->in);
        if (s->kind == QS_FLOAT || s->float_exec)
            fmax = fmax > o ? fmax : o, fmax = fmax > ii ? fmax : ii;
        if (s->kind != QS_FLATTEN)
            TRY(make_tensor(q->ctx, MLOPT_I8, (int)(o * batch), &s->y));
    }
    TRY(make_tensor(q->ctx, MLOPT_F32, (int)(fmax * batch), &q->fa));
    TRY(make_tensor(q->ctx, MLOPT_F32, (int)(fmax * batch), &q->fb));
    TRY(make_tensor(q->ctx, MLOPT_F32, q->classes * batch, &q->logits_buf));
    q->cap_batch = batch;
    return MLOPT_OK;
}

static void conv_params(const qstage *s, int batch, mlopt_conv2d_params *p)
{
    p->n = batch;
    p->c = s->in[0], p->h = s->in[1], p->w = s->in[2];
    p->k = s->spec.out;
    p->r = p->s = s->spec.kernel;
    p->stride_h = p->stride_w = s->spec.stride;
    p->pad_h = p->pad_w = s->spec.pad;
    p->dil_h = p->dil_w = s->spec.dilation;
    p->groups = s->spec.groups;
    /* the conv's own output shape (a fused ReLU keeps it) */
    p->oh = s->out[1], p->ow = s->out[2];
}

static void pool_params(const qstage *s, int batch, mlopt_pool2d_params *p)
{
    p->n = batch;
    p->c = s->in[0], p->h = s->in[1], p->w = s->in[2];
    p->kh = p->kw = s->spec.kernel;
    p->stride_h = p->stride_w = s->spec.stride;
    p->pad_h = p->pad_w = s->spec.pad;
    p->dil_h = p->dil_w = s->spec.dilation ? s->spec.dilation : 1;
    p->oh = s->out[1], p->ow = s->out[2];
}

/* A conv / linear computed in float32 on the float input x, then quantized. */
static mlopt_status float_stage(mlopt_qmodel *q, qstage *s, mlopt_ref x, int batch)
{
    mlopt_context *ctx = q->ctx;
    size_t o = numel3(s->out_ndim, s->out);
    if (s->kind == QS_CONV) {
        mlopt_conv2d_params p;
        conv_params(s, batch, &p);
        TRY(BE_CALL(ctx, conv2d_forward, &p, x, s->wf->ref, s->bf->ref, q->fa->ref));
    } else {
        int k = (int)s->wcount;
        TRY(BE_CALL(ctx, gemm, 0, 1, batch, s->nout, k, 1.0f, x, k, s->wf->ref, k, 0.0f, q->fa->ref, s->nout));
        TRY(BE_CALL(ctx, bias_add, batch, s->nout, 1, q->fa->ref, s->bf->ref));
    }
    if (s->relu)
        TRY(BE_CALL(ctx, act_forward, MLOPT_ACT_RELU, 0.0f, 0.0f, o * batch, q->fa->ref, q->fa->ref));
    return BE_CALL(ctx, quantize, o * batch, 1.0f / s->out_scale, s->out_zp, q->fa->ref, s->y->ref);
}

mlopt_status qm_forward(mlopt_qmodel *q, const mlopt_tensor *x, int upto)
{
    mlopt_context *ctx = q->ctx;
    if (x->dtype != MLOPT_F32 || x->ndim != 4 || x->shape[1] != q->in_c || x->shape[2] != q->in_h ||
        x->shape[3] != q->in_w)
        return mlopt_set_error(MLOPT_E_INVALID, "int8 model: input must be float [n,%d,%d,%d]", q->in_c, q->in_h,
                               q->in_w);
    int batch = x->shape[0];
    TRY(ensure_buffers(q, batch));
    size_t in = (size_t)q->in_c * q->in_h * q->in_w;
    int first_float = q->nstages > 0 && q->st[0].float_exec;
    if (!first_float)
        TRY(BE_CALL(ctx, quantize, in * batch, 1.0f / q->in_scale, q->in_zp, x->ref, q->xq->ref));
    for (int i = 0; i < upto; i++) {
        qstage *s = &q->st[i];
        mlopt_ref src = qm_stage_output(q, i - 1);
        size_t o = numel3(s->out_ndim, s->out), ii = numel3(s->in_ndim, s->in);
        switch (s->kind) {
        case QS_CONV:
        case QS_LINEAR:
            if (s->float_exec) {
                TRY(float_stage(q, s, x->ref, batch));
            } else if (s->kind == QS_CONV) {
                mlopt_conv2d_params p;
                conv_params(s, batch, &p);
                TRY(BE_CALL(ctx, qconv2d, &p, src, s->in_zp, s->w->ref, s->bias->ref, s->mult->ref, s->shift->ref,
                            s->out_zp, s->relu, s->y->ref));
            } else {
                int k = (int)s->wcount;
                TRY(BE_CALL(ctx, qgemm, batch, s->nout, k, src, k, s->in_zp, s->w->ref, k, s->bias->ref, s->mult->ref,
                            s->shift->ref, s->out_zp, s->relu, s->y->ref, s->nout));
            }
            break;
        case QS_MAXPOOL: {
            mlopt_pool2d_params p;
            pool_params(s, batch, &p);
            TRY(BE_CALL(ctx, qmaxpool, &p, src, s->y->ref));
            break;
        }
        case QS_FLATTEN:
            break;
        case QS_FLOAT:
            TRY(BE_CALL(ctx, dequantize, ii * batch, s->in_scale, s->in_zp, src, q->fa->ref));
            if (s->spec.kind == MLOPT_LAYER_ACTIVATION) {
                TRY(BE_CALL(ctx, act_forward, s->act.act, s->act.alpha, s->act.beta, ii * batch, q->fa->ref, q->fb->ref));
            } else {
                mlopt_pool2d_params p;
                pool_params(s, batch, &p);
                TRY(BE_CALL(ctx, pool2d_forward, MLOPT_POOL_AVG_INCL_PAD, &p, q->fa->ref, q->fb->ref));
            }
            TRY(BE_CALL(ctx, quantize, o * batch, 1.0f / s->out_scale, s->out_zp, q->fb->ref, s->y->ref));
            break;
        }
    }
    if (upto == q->nstages) {
        const qstage *l = &q->st[q->nstages - 1];
        TRY(BE_CALL(ctx, dequantize, (size_t)q->classes * batch, l->out_scale, l->out_zp,
                    qm_stage_output(q, q->nstages - 1), q->logits_buf->ref));
        memset(&q->logits, 0, sizeof q->logits);
        q->logits.ctx = ctx;
        q->logits.dtype = MLOPT_F32;
        q->logits.ndim = 2;
        q->logits.shape[0] = batch;
        q->logits.shape[1] = q->classes;
        q->logits.ref = q->logits_buf->ref;
    }
    return MLOPT_OK;
}

mlopt_status mlopt_qmodel_forward(mlopt_qmodel *q, const mlopt_tensor *x, mlopt_tensor **logits)
{
    TRY(qm_forward(q, x, q->nstages));
    *logits = &q->logits;
    return MLOPT_OK;
}
