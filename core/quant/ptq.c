/* Post-training quantization: fold batch-norm, calibrate activation ranges
 * with an observer on training batches, quantize weights per channel, and
 * optionally keep the first layer in float32 when that is more accurate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "quant_internal.h"

void mlopt_quant_config_default(mlopt_quant_config *c)
{
    memset(c, 0, sizeof *c);
    c->observer = MLOPT_OBSERVER_MINMAX;
    c->calib_batches = 16;
    c->calib_batch = 64;
    c->percentile = 99.99f;
    c->first_layer_float = -1;
    c->seed = 1;
    c->mean = 0.0f;
    c->std = 1.0f;
}

/* A float batch of ds (seeded sample) on the device. */
typedef struct calib_data {
    int n, per;
    float *host;
    int32_t *labels;
    int *order;
    mlopt_tensor *x;
} calib_data;

static void calib_free(calib_data *c)
{
    free(c->host), free(c->labels), free(c->order);
    mlopt_tensor_destroy(c->x);
    memset(c, 0, sizeof *c);
}

static mlopt_status calib_init(calib_data *c, mlopt_context *ctx, const mlopt_dataset *ds, int n, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    int ch, h, w;
    mlopt_dataset_shape(ds, &ch, &h, &w);
    int size = mlopt_dataset_size(ds);
    c->n = n < size ? n : size;
    c->per = ch * h * w;
    c->host = malloc((size_t)c->n * c->per * sizeof *c->host);
    c->labels = malloc((size_t)c->n * sizeof *c->labels);
    c->order = malloc((size_t)size * sizeof *c->order);
    if (!c->host || !c->labels || !c->order) {
        calib_free(c);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    mlopt_dataset_shuffle(ds, seed, c->order);
    int shape[4] = { c->n, ch, h, w };
    return mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &c->x);
}

/* Load batch b (samples order[b*n ...], wrapping around) into c->x. */
static mlopt_status calib_load(calib_data *c, const mlopt_dataset *ds, int b, float mean, float std)
{
    int size = mlopt_dataset_size(ds);
    int *idx = malloc((size_t)c->n * sizeof *idx);
    if (!idx)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; i < c->n; i++)
        idx[i] = c->order[((size_t)b * c->n + i) % (size_t)size];
    mlopt_dataset_batch(ds, idx, c->n, mean, std, NULL, 0, c->host, c->labels);
    free(idx);
    return mlopt_tensor_upload(c->x, c->host, (size_t)c->n * c->per * sizeof *c->host);
}

static int stage_observed(const qstage *s)
{
    return s->kind == QS_CONV || s->kind == QS_LINEAR || s->kind == QS_FLOAT;
}

static size_t stage_out_numel(const qstage *s)
{
    size_t n = 1;
    for (int d = 0; d < s->out_ndim; d++)
        n *= (size_t)s->out[d];
    return n;
}

/* Propagate scales through max-pool / flatten and into each stage's input. */
static void chain_scales(mlopt_qmodel *q)
{
    float sc = q->in_scale;
    int zp = q->in_zp;
    for (int i = 0; i < q->nstages; i++) {
        qstage *s = &q->st[i];
        s->in_scale = sc, s->in_zp = zp;
        if (!stage_observed(s))
            s->out_scale = sc, s->out_zp = zp;
        sc = s->out_scale, zp = s->out_zp;
    }
}

static mlopt_status download_param(mlopt_model *f, int layer, int k, float **out)
{
    *out = NULL;
    if (k >= f->layers[layer].nparams)
        return MLOPT_OK;
    mlopt_tensor *t = f->layers[layer].params[k].value;
    size_t n = mlopt_tensor_numel(t);
    *out = malloc(n * sizeof **out);
    if (!*out)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    mlopt_status s = mlopt_tensor_download(t, *out, n * sizeof **out);
    if (s != MLOPT_OK) {
        free(*out);
        *out = NULL;
    }
    return s;
}

static mlopt_status set_stage_weights(mlopt_qmodel *q, mlopt_model *f, qstage *s, int as_float)
{
    float *w, *b = NULL;
    TRY(download_param(f, s->layer, 0, &w));
    mlopt_status st = download_param(f, s->layer, 1, &b);
    if (st == MLOPT_OK)
        st = as_float ? qm_set_float_weights(q, s, w, b) : qm_set_weights(q, s, w, b);
    free(w), free(b);
    return st;
}

/* SQNR in dB of the int8 logits against the float model's on one batch. */
static mlopt_status logits_sqnr(mlopt_qmodel *q, mlopt_model *f, const mlopt_tensor *x, double *db)
{
    mlopt_tensor *fl, *ql;
    TRY(mlopt_model_forward(f, x, 0, &fl));
    size_t n = mlopt_tensor_numel(fl);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    mlopt_status s = a && b ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    if (s == MLOPT_OK)
        s = mlopt_tensor_download(fl, a, n * sizeof *a);
    if (s == MLOPT_OK)
        s = mlopt_qmodel_forward(q, x, &ql);
    if (s == MLOPT_OK)
        s = mlopt_tensor_download(ql, b, n * sizeof *b);
    double sig = 0, err = 0;
    for (size_t i = 0; s == MLOPT_OK && i < n; i++) {
        sig += (double)a[i] * a[i];
        err += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    *db = 10 * log10((sig + 1e-30) / (err + 1e-30));
    free(a), free(b);
    return s;
}

mlopt_status qm_from_float(mlopt_model *f, const mlopt_dataset *ds, const mlopt_quant_config *cfg,
                           const float *ranges, mlopt_qmodel **out)
{
    *out = NULL;
    mlopt_qmodel *q;
    TRY(qm_plan(f, &q));
    int nobs = q->nstages + 1;
    qobserver *obs = calloc((size_t)nobs, sizeof *obs);
    float *host = NULL;
    calib_data cd;
    memset(&cd, 0, sizeof cd);
    mlopt_status s = obs ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; s == MLOPT_OK && i < nobs; i++)
        qobs_init(&obs[i], cfg->observer, cfg->percentile);
    int nb = cfg->calib_batches > 0 ? cfg->calib_batches : 16;
    if (s == MLOPT_OK)
        s = calib_init(&cd, f->ctx, ds, cfg->calib_batch > 0 ? cfg->calib_batch : 64, cfg->seed);
    size_t maxout = (size_t)cd.per;
    for (int i = 0; i < q->nstages; i++)
        maxout = maxout > stage_out_numel(&q->st[i]) ? maxout : stage_out_numel(&q->st[i]);
    if (s == MLOPT_OK && !(host = malloc(maxout * (size_t)cd.n * sizeof *host)))
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    /* Calibration: observe the input and every stage output that gets its own
     * scale; the float model must write every layer's output for that. */
    int keep_outputs = f->keep_outputs;
    f->keep_outputs = 1;
    for (int b = 0; s == MLOPT_OK && !ranges && b < nb; b++) {
        mlopt_tensor *logits;
        s = calib_load(&cd, ds, b, cfg->mean, cfg->std);
        if (s == MLOPT_OK)
            s = mlopt_model_forward(f, cd.x, 0, &logits);
        if (s == MLOPT_OK)
            s = qobs_update(&obs[0], cd.host, (size_t)cd.n * cd.per);
        for (int i = 0; s == MLOPT_OK && i < q->nstages; i++) {
            qstage *st = &q->st[i];
            if (!stage_observed(st))
                continue;
            size_t n = stage_out_numel(st) * (size_t)cd.n;
            s = qm_download(f->ctx, host, mlopt_model_output_ref(f, st->src_layer), n * sizeof *host);
            if (s == MLOPT_OK)
                s = qobs_update(&obs[i + 1], host, n);
        }
    }
    f->keep_outputs = keep_outputs;
    if (s == MLOPT_OK) {
        float lo, hi;
        if (ranges)
            lo = ranges[0], hi = ranges[1];
        else
            qobs_range(&obs[0], &lo, &hi);
        qparams_from_range(lo, hi, &q->in_scale, &q->in_zp);
        for (int i = 0; i < q->nstages; i++) {
            qstage *st = &q->st[i];
            if (!stage_observed(st))
                continue;
            if (ranges)
                lo = ranges[2 * (i + 1)], hi = ranges[2 * (i + 1) + 1];
            else
                qobs_range(&obs[i + 1], &lo, &hi);
            if (st->relu)
                lo = 0;
            qparams_from_range(lo, hi, &st->out_scale, &st->out_zp);
        }
        chain_scales(q);
    }
    int first = -1;
    for (int i = 0; i < q->nstages && first < 0; i++)
        if (q->st[i].kind == QS_CONV || q->st[i].kind == QS_LINEAR)
            first = i;
    for (int i = 0; s == MLOPT_OK && i < q->nstages; i++)
        if (q->st[i].kind == QS_CONV || q->st[i].kind == QS_LINEAR)
            s = set_stage_weights(q, f, &q->st[i], 0);
    /* The first layer may stay float32: it sees the raw input (one channel,
     * few weights, so float costs little) and quantizing it costs most. */
    int only_flatten_before = first >= 0;
    for (int i = 0; i < first; i++)
        only_flatten_before &= q->st[i].kind == QS_FLATTEN;
    if (s == MLOPT_OK && only_flatten_before && cfg->first_layer_float != 0) {
        double db_int8 = 0, db_float = 0;
        if (cfg->first_layer_float < 0) {
            s = calib_load(&cd, ds, 0, cfg->mean, cfg->std);
            if (s == MLOPT_OK)
                s = logits_sqnr(q, f, cd.x, &db_int8);
        }
        if (s == MLOPT_OK)
            s = set_stage_weights(q, f, &q->st[first], 1);
        if (s == MLOPT_OK) {
            q->st[first].float_exec = 1;
            q->cap_batch = 0; /* float scratch sizes change */
        }
        if (s == MLOPT_OK && cfg->first_layer_float < 0) {
            s = logits_sqnr(q, f, cd.x, &db_float);
            if (s == MLOPT_OK && db_float <= db_int8 + 0.5) { /* not clearly better: stay int8 */
                q->st[first].float_exec = 0;
                mlopt_tensor_destroy(q->st[first].wf);
                mlopt_tensor_destroy(q->st[first].bf);
                q->st[first].wf = q->st[first].bf = NULL;
                q->cap_batch = 0;
            }
        }
    }
    if (s == MLOPT_OK) {
        mlopt_layer_spec *specs = malloc((size_t)f->nlayers * sizeof *specs);
        if (!specs)
            s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        for (int i = 0; specs && i < f->nlayers; i++)
            specs[i] = f->layers[i].spec;
        if (s == MLOPT_OK)
            s = mlopt_spec_format(specs, f->nlayers, &q->spec_text);
        free(specs);
    }
    for (int i = 0; obs && i < nobs; i++)
        qobs_free(&obs[i]);
    free(obs), free(host);
    calib_free(&cd);
    if (s != MLOPT_OK) {
        mlopt_qmodel_destroy(q);
        return s;
    }
    *out = q;
    return MLOPT_OK;
}

mlopt_status mlopt_quantize_ptq(mlopt_model *m, const mlopt_dataset *ds, const mlopt_quant_config *cfg,
                                mlopt_qmodel **out)
{
    *out = NULL;
    mlopt_quant_config def;
    if (!cfg) {
        mlopt_quant_config_default(&def);
        cfg = &def;
    }
    mlopt_model *f;
    TRY(qm_folded_copy(m, &f));
    mlopt_status s = qm_from_float(f, ds, cfg, NULL, out);
    mlopt_model_destroy(f);
    return s;
}
