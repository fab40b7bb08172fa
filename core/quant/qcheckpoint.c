/* Quantized checkpoints: safetensors with I8 weights, I32 biases and
 * requantization tables and F32 weight scales per conv / linear; the
 * activation scales and zero points are metadata ("quant.stages"), and
 * mlopt.spec holds the batch-norm-folded float architecture from which the
 * stages are re-planned on load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../io/safetensors.h"
#include "quant_internal.h"

#define QUANT_FORMAT "int8-v1"

int mlopt_checkpoint_is_quantized(const mlopt_checkpoint *ck)
{
    const char *v = mlopt_checkpoint_meta(ck, "mlopt.quant");
    return v != NULL;
}

typedef struct st_list {
    mlopt_st_tensor t[256];
    void *host[256];
    char names[256][96];
    int n;
} st_list;

static mlopt_status add_tensor(st_list *l, mlopt_context *ctx, const char *name, const mlopt_tensor *src,
                               const void *host_data, const char *dtype, size_t count)
{
    if (l->n >= 256)
        return mlopt_set_error(MLOPT_E_INVALID, "too many tensors for a quantized checkpoint");
    size_t esz = mlopt_st_dtype_size(dtype);
    void *h = malloc(count * esz + 1);
    if (!h)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    l->host[l->n] = h;
    if (src)
        TRY(qm_download(ctx, h, src->ref, count * esz));
    else
        memcpy(h, host_data, count * esz);
    mlopt_st_tensor *t = &l->t[l->n];
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", name);
    t->name = l->names[l->n];
    t->dtype = dtype;
    t->ndim = 1;
    t->shape[0] = (int64_t)count;
    t->data = h;
    l->n++;
    return MLOPT_OK;
}

/* Give the weight tensor its layer's real shape (conv [k][c/g][r][s], linear [n][k]). */
static void shape_weight(mlopt_st_tensor *t, const qstage *s)
{
    if (s->kind == QS_CONV) {
        t->ndim = 4;
        t->shape[0] = s->nout;
        t->shape[1] = s->in[0] / (s->spec.groups ? s->spec.groups : 1);
        t->shape[2] = t->shape[3] = s->spec.kernel;
    } else {
        t->ndim = 2;
        t->shape[0] = s->nout;
        t->shape[1] = (int64_t)s->wcount;
    }
}

mlopt_status mlopt_qmodel_save(const char *path, mlopt_qmodel *q, const mlopt_meta *meta, int nmeta)
{
    st_list *l = calloc(1, sizeof *l);
    size_t cap = 256 + (size_t)q->nstages * 96;
    char *stages = malloc(cap);
    mlopt_st_kv *kv = calloc((size_t)nmeta + 6, sizeof *kv);
    mlopt_status s = l && stages && kv ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    if (stages)
        stages[0] = '\0';
    for (int i = 0; s == MLOPT_OK && i < q->nstages; i++) {
        const qstage *st = &q->st[i];
        size_t len = strlen(stages);
        snprintf(stages + len, cap - len, "%s %.9g %d %d\n", st->spec.name, (double)st->out_scale, st->out_zp,
                 st->float_exec);
        if (st->kind != QS_CONV && st->kind != QS_LINEAR)
            continue;
        char nm[96];
        size_t wn = (size_t)st->nout * st->wcount;
        int first = l->n;
        snprintf(nm, sizeof nm, "%s.weight", st->spec.name);
        if (st->float_exec) {
            s = add_tensor(l, q->ctx, nm, st->wf, NULL, "F32", wn);
            shape_weight(&l->t[first], st);
            snprintf(nm, sizeof nm, "%s.bias", st->spec.name);
            if (s == MLOPT_OK)
                s = add_tensor(l, q->ctx, nm, st->bf, NULL, "F32", (size_t)st->nout);
            continue;
        }
        s = add_tensor(l, q->ctx, nm, st->w, NULL, "I8", wn);
        if (s == MLOPT_OK)
            shape_weight(&l->t[first], st);
        snprintf(nm, sizeof nm, "%s.bias", st->spec.name);
        if (s == MLOPT_OK)
            s = add_tensor(l, q->ctx, nm, st->bias, NULL, "I32", (size_t)st->nout);
        snprintf(nm, sizeof nm, "%s.weight_scale", st->spec.name);
        if (s == MLOPT_OK)
            s = add_tensor(l, q->ctx, nm, NULL, st->w_scale, "F32", (size_t)st->nout);
        snprintf(nm, sizeof nm, "%s.requant_mult", st->spec.name);
        if (s == MLOPT_OK)
            s = add_tensor(l, q->ctx, nm, st->mult, NULL, "I32", (size_t)st->nout);
        snprintf(nm, sizeof nm, "%s.requant_shift", st->spec.name);
        if (s == MLOPT_OK)
            s = add_tensor(l, q->ctx, nm, st->shift, NULL, "I32", (size_t)st->nout);
    }
    char input[64], qin[64], seed[32];
    snprintf(input, sizeof input, "%dx%dx%d", q->in_c, q->in_h, q->in_w);
    snprintf(qin, sizeof qin, "%.9g %d", (double)q->in_scale, q->in_zp);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)q->seed);
    if (s == MLOPT_OK) {
        int nkv = 0;
        kv[nkv++] = (mlopt_st_kv){ "mlopt.spec", q->spec_text };
        kv[nkv++] = (mlopt_st_kv){ "mlopt.input", input };
        kv[nkv++] = (mlopt_st_kv){ "mlopt.seed", seed };
        kv[nkv++] = (mlopt_st_kv){ "mlopt.quant", QUANT_FORMAT };
        kv[nkv++] = (mlopt_st_kv){ "quant.input", qin };
        kv[nkv++] = (mlopt_st_kv){ "quant.stages", stages };
        for (int i = 0; i < nmeta; i++)
            kv[nkv++] = (mlopt_st_kv){ meta[i].key, meta[i].value };
        s = mlopt_st_write(path, l->t, l->n, kv, nkv);
    }
    for (int i = 0; l && i < l->n; i++)
        free(l->host[i]);
    free(l), free(stages), free(kv);
    return s;
}

static mlopt_status find_tensor(mlopt_st_file *f, const char *path, const char *name, const char *dtype,
                                size_t count, mlopt_st_tensor *t)
{
    if (mlopt_st_find(f, name, t) != MLOPT_OK)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: quantized checkpoint has no tensor '%s'", path, name);
    if (strcmp(t->dtype, dtype) != 0 || t->nbytes != count * mlopt_st_dtype_size(dtype))
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: tensor '%s' should be %s with %zu elements", path, name, dtype,
                               count);
    return MLOPT_OK;
}

static mlopt_status upload_new(mlopt_context *ctx, mlopt_dtype dt, size_t n, const void *data, mlopt_tensor **t)
{
    int shape = (int)n;
    TRY(mlopt_tensor_create(ctx, dt, 1, &shape, t));
    return mlopt_tensor_upload(*t, data, n * mlopt_dtype_size(dt));
}

static mlopt_status load_stages(mlopt_qmodel *q, mlopt_st_file *f, const char *path)
{
    const char *qin = mlopt_st_metadata(f, "quant.input"), *stages = mlopt_st_metadata(f, "quant.stages");
    if (!qin || !stages || sscanf(qin, "%f %d", &q->in_scale, &q->in_zp) != 2)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: missing or bad quant.input / quant.stages metadata", path);
    const char *line = stages;
    for (int i = 0; i < q->nstages; i++) {
        qstage *st = &q->st[i];
        char name[64];
        if (!line || sscanf(line, "%63s %f %d %d", name, &st->out_scale, &st->out_zp, &st->float_exec) != 4 ||
            strcmp(name, st->spec.name) != 0)
            return mlopt_set_error(MLOPT_E_FORMAT, "%s: quant.stages line %d does not match layer %s", path, i + 1,
                                   st->spec.name);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    float sc = q->in_scale;
    int zp = q->in_zp;
    for (int i = 0; i < q->nstages; i++) {
        qstage *st = &q->st[i];
        st->in_scale = sc, st->in_zp = zp;
        sc = st->out_scale, zp = st->out_zp;
        if (st->kind != QS_CONV && st->kind != QS_LINEAR)
            continue;
        char nm[96];
        size_t wn = (size_t)st->nout * st->wcount, n = (size_t)st->nout;
        mlopt_st_tensor t;
        snprintf(nm, sizeof nm, "%s.weight", st->spec.name);
        if (st->float_exec) {
            TRY(find_tensor(f, path, nm, "F32", wn, &t));
            TRY(upload_new(q->ctx, MLOPT_F32, wn, t.data, &st->wf));
            snprintf(nm, sizeof nm, "%s.bias", st->spec.name);
            TRY(find_tensor(f, path, nm, "F32", n, &t));
            TRY(upload_new(q->ctx, MLOPT_F32, n, t.data, &st->bf));
            continue;
        }
        TRY(find_tensor(f, path, nm, "I8", wn, &t));
        TRY(upload_new(q->ctx, MLOPT_I8, wn, t.data, &st->w));
        snprintf(nm, sizeof nm, "%s.bias", st->spec.name);
        TRY(find_tensor(f, path, nm, "I32", n, &t));
        TRY(upload_new(q->ctx, MLOPT_I32, n, t.data, &st->bias));
        snprintf(nm, sizeof nm, "%s.requant_mult", st->spec.name);
        TRY(find_tensor(f, path, nm, "I32", n, &t));
        TRY(upload_new(q->ctx, MLOPT_I32, n, t.data, &st->mult));
        snprintf(nm, sizeof nm, "%s.requant_shift", st->spec.name);
        TRY(find_tensor(f, path, nm, "I32", n, &t));
        const int32_t *sh = t.data;
        for (size_t k = 0; k < n; k++) {
            int32_t v;
            memcpy(&v, sh + k, 4);
            if (v < 1 || v > 62)
                return mlopt_set_error(MLOPT_E_FORMAT, "%s: %s has shift %d outside 1..62", path, nm, (int)v);
        }
        TRY(upload_new(q->ctx, MLOPT_I32, n, t.data, &st->shift));
        snprintf(nm, sizeof nm, "%s.weight_scale", st->spec.name);
        TRY(find_tensor(f, path, nm, "F32", n, &t));
        if (!(st->w_scale = malloc(n * sizeof *st->w_scale)))
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        memcpy(st->w_scale, t.data, n * sizeof *st->w_scale);
    }
    return MLOPT_OK;
}

mlopt_status mlopt_qmodel_load(const char *path, mlopt_context *ctx, mlopt_qmodel **out)
{
    *out = NULL;
    mlopt_st_file *f;
    TRY(mlopt_st_open(path, &f));
    const char *fmt = mlopt_st_metadata(f, "mlopt.quant"), *spec = mlopt_st_metadata(f, "mlopt.spec"),
               *input = mlopt_st_metadata(f, "mlopt.input"), *seed_text = mlopt_st_metadata(f, "mlopt.seed");
    int c, h, w;
    char tail;
    if (!fmt || strcmp(fmt, QUANT_FORMAT) != 0 || !spec || !input ||
        sscanf(input, "%dx%dx%d%c", &c, &h, &w, &tail) != 3) {
        mlopt_st_close(f);
        return mlopt_set_error(MLOPT_E_FORMAT, "%s is not an mlopt %s quantized checkpoint", path, QUANT_FORMAT);
    }
    mlopt_layer_spec *specs;
    int n;
    mlopt_status s = mlopt_spec_parse(spec, path, &specs, &n);
    mlopt_model *m = NULL;
    mlopt_qmodel *q = NULL;
    if (s == MLOPT_OK) {
        /* The float model only provides the shapes for planning. */
        s = mlopt_model_from_specs(ctx, c, h, w, specs, n, seed_text ? strtoull(seed_text, NULL, 10) : 0, &m);
        free(specs);
    }
    if (s == MLOPT_OK)
        s = qm_plan(m, &q);
    if (s == MLOPT_OK && !(q->spec_text = strdup(spec)))
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    if (s == MLOPT_OK)
        s = load_stages(q, f, path);
    mlopt_model_destroy(m);
    mlopt_st_close(f);
    if (s != MLOPT_OK) {
        mlopt_qmodel_destroy(q);
        return s;
    }
    *out = q;
    return MLOPT_OK;
}
