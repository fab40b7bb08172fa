/* Host copies of models for architecture-changing passes: capture, edit
 * (insert/remove layers, remap channels), rebuild on the device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "passes_internal.h"

mlopt_status passes_download(const mlopt_tensor *t, float **out)
{
    size_t n = mlopt_tensor_numel(t);
    *out = malloc((n ? n : 1) * sizeof **out);
    if (!*out)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    mlopt_status s = mlopt_tensor_download(t, *out, n * sizeof **out);
    if (s != MLOPT_OK) {
        free(*out);
        *out = NULL;
    }
    return s;
}

int passes_is_weighted(const mlopt_layer *L)
{
    return L->spec.kind == MLOPT_LAYER_CONV2D || L->spec.kind == MLOPT_LAYER_LINEAR;
}

int passes_output_layer(const mlopt_model *m)
{
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (passes_is_weighted(&m->layers[i]))
            return i;
    return -1;
}

int passes_find_layer(const mlopt_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].spec.name, name) == 0)
            return i;
    char known[512] = "";
    for (int i = 0; i < m->nlayers; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", m->layers[i].spec.name);
    mlopt_set_error(MLOPT_E_NOT_FOUND, "the model has no layer named '%s' (layers: %s)", name ? name : "(null)", known);
    return -1;
}

static void param_free(hm_param *p)
{
    free(p->data);
    free(p->mask);
    memset(p, 0, sizeof *p);
}

void hm_free(host_model *hm)
{
    for (int i = 0; i < hm->n; i++)
        for (int k = 0; k < hm->layers[i].nparams; k++)
            param_free(&hm->layers[i].p[k]);
    free(hm->layers);
    memset(hm, 0, sizeof *hm);
}

mlopt_status hm_capture(mlopt_model *m, host_model *hm)
{
    memset(hm, 0, sizeof *hm);
    if (!m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "the model is not initialized");
    hm->ctx = m->ctx;
    hm->in_c = m->in_c, hm->in_h = m->in_h, hm->in_w = m->in_w;
    hm->seed = m->seed;
    hm->step = m->step;
    hm->cap = m->nlayers + 8;
    hm->layers = calloc((size_t)hm->cap, sizeof *hm->layers);
    if (!hm->layers)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; i < m->nlayers; i++, hm->n++) {
        const mlopt_layer *L = &m->layers[i];
        hm_layer *H = &hm->layers[i];
        H->spec = L->spec;
        H->in_ndim = L->in_ndim, H->out_ndim = L->out_ndim;
        memcpy(H->in, L->in, sizeof H->in);
        memcpy(H->out, L->out, sizeof H->out);
        H->nparams = L->nparams;
        for (int k = 0; k < L->nparams; k++) {
            const mlopt_param *P = &L->params[k];
            hm_param *Q = &H->p[k];
            Q->ndim = P->ndim;
            memcpy(Q->shape, P->shape, sizeof Q->shape);
            Q->numel = mlopt_tensor_numel(P->value);
            mlopt_status s = passes_download(P->value, &Q->data);
            if (s == MLOPT_OK && P->mask)
                s = passes_download(P->mask, &Q->mask);
            if (s != MLOPT_OK) {
                hm->n++;
                hm_free(hm);
                return s;
            }
        }
    }
    return MLOPT_OK;
}

mlopt_status hm_build(const host_model *hm, mlopt_model **out)
{
    *out = NULL;
    mlopt_layer_spec *specs = malloc((size_t)(hm->n ? hm->n : 1) * sizeof *specs);
    if (!specs)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; i < hm->n; i++)
        specs[i] = hm->layers[i].spec;
    mlopt_model *m;
    mlopt_status s = mlopt_model_from_specs(hm->ctx, hm->in_c, hm->in_h, hm->in_w, specs, hm->n, hm->seed, &m);
    free(specs);
    if (s != MLOPT_OK)
        return s;
    m->step = hm->step;
    for (int i = 0; i < hm->n && s == MLOPT_OK; i++) {
        mlopt_layer *L = &m->layers[i];
        const hm_layer *H = &hm->layers[i];
        if (L->nparams != H->nparams) {
            s = mlopt_set_error(MLOPT_E_INVALID, "internal: %s has %d parameters after surgery, expected %d",
                                L->spec.name, L->nparams, H->nparams);
            break;
        }
        for (int k = 0; k < L->nparams && s == MLOPT_OK; k++) {
            mlopt_param *P = &L->params[k];
            const hm_param *Q = &H->p[k];
            if (mlopt_tensor_numel(P->value) != Q->numel) {
                s = mlopt_set_error(MLOPT_E_INVALID, "internal: %s has %zu elements after surgery, expected %zu",
                                    P->name, mlopt_tensor_numel(P->value), Q->numel);
                break;
            }
            s = mlopt_tensor_upload(P->value, Q->data, Q->numel * sizeof(float));
            if (s == MLOPT_OK && Q->mask) {
                s = mlopt_tensor_create(m->ctx, MLOPT_F32, P->ndim, P->shape, &P->mask);
                if (s == MLOPT_OK)
                    s = mlopt_tensor_upload(P->mask, Q->mask, Q->numel * sizeof(float));
            }
        }
    }
    if (s != MLOPT_OK) {
        mlopt_model_destroy(m);
        return s;
    }
    *out = m;
    return MLOPT_OK;
}

mlopt_status hm_commit(const host_model *hm, mlopt_model *m)
{
    mlopt_model *nm;
    TRY(hm_build(hm, &nm));
    /* Swap contents so that the caller's pointer now holds the new model. */
    mlopt_model tmp = *m;
    *m = *nm;
    *nm = tmp;
    mlopt_model_destroy(nm);
    return MLOPT_OK;
}

int hm_find(const host_model *hm, const char *name)
{
    for (int i = 0; i < hm->n; i++)
        if (strcmp(hm->layers[i].spec.name, name) == 0)
            return i;
    return -1;
}

mlopt_status hm_insert(host_model *hm, int i, const mlopt_layer_spec *spec)
{
    if (hm->n == hm->cap) {
        int cap = hm->cap * 2 + 4;
        hm_layer *l = realloc(hm->layers, (size_t)cap * sizeof *l);
        if (!l)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        hm->layers = l;
        hm->cap = cap;
    }
    memmove(&hm->layers[i + 1], &hm->layers[i], (size_t)(hm->n - i) * sizeof *hm->layers);
    memset(&hm->layers[i], 0, sizeof *hm->layers);
    hm->layers[i].spec = *spec;
    hm->n++;
    return MLOPT_OK;
}

void hm_remove(host_model *hm, int start, int end)
{
    for (int i = start; i < end; i++)
        for (int k = 0; k < hm->layers[i].nparams; k++)
            param_free(&hm->layers[i].p[k]);
    memmove(&hm->layers[start], &hm->layers[end], (size_t)(hm->n - end) * sizeof *hm->layers);
    hm->n -= end - start;
}

/* Gather rows (dimension 0) of a [rows][len] parameter. */
static mlopt_status gather_rows(hm_param *p, int nnew, const int *src)
{
    size_t len = p->numel / (size_t)p->shape[0];
    float *d = malloc((size_t)nnew * len * sizeof *d + 1);
    float *mk = p->mask ? malloc((size_t)nnew * len * sizeof *mk + 1) : NULL;
    if (!d || (p->mask && !mk)) {
        free(d), free(mk);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    for (int j = 0; j < nnew; j++) {
        memcpy(d + (size_t)j * len, p->data + (size_t)src[j] * len, len * sizeof *d);
        if (mk)
            memcpy(mk + (size_t)j * len, p->mask + (size_t)src[j] * len, len * sizeof *mk);
    }
    free(p->data), free(p->mask);
    p->data = d, p->mask = mk;
    p->shape[0] = nnew;
    p->numel = (size_t)nnew * len;
    return MLOPT_OK;
}

/* Gather input columns of a consumer weight viewed as [rows][cin*group][inner]:
 * new column block j comes from old block src[j], times scale[j]. */
static mlopt_status gather_cols(hm_param *p, int rows, int cin, int group, int nnew, const int *src,
                                const float *scale)
{
    size_t old_row = (size_t)cin * group, new_row = (size_t)nnew * group;
    float *d = malloc((size_t)rows * new_row * sizeof *d + 1);
    float *mk = p->mask ? malloc((size_t)rows * new_row * sizeof *mk + 1) : NULL;
    if (!d || (p->mask && !mk)) {
        free(d), free(mk);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < nnew; j++) {
            const float *a = p->data + (size_t)r * old_row + (size_t)src[j] * group;
            float *b = d + (size_t)r * new_row + (size_t)j * group;
            float sc = scale ? scale[j] : 1.0f;
            for (int t = 0; t < group; t++)
                b[t] = a[t] * sc;
            if (mk)
                memcpy(mk + (size_t)r * new_row + (size_t)j * group, p->mask + (size_t)r * old_row + (size_t)src[j] * group,
                       (size_t)group * sizeof *mk);
        }
    free(p->data), free(p->mask);
    p->data = d, p->mask = mk;
    p->numel = (size_t)rows * new_row;
    return MLOPT_OK;
}

mlopt_status hm_remap_channels(host_model *hm, int li, int nnew, const int *src, const float *scale)
{
    hm_layer *P = &hm->layers[li];
    if (P->spec.kind != MLOPT_LAYER_CONV2D && P->spec.kind != MLOPT_LAYER_LINEAR)
        return mlopt_set_error(MLOPT_E_INVALID, "%s is a %s layer; only conv and linear layers have prunable channels",
                               P->spec.name, mlopt_layer_ops_for(P->spec.kind)->kind_name);
    if (P->spec.kind == MLOPT_LAYER_CONV2D && P->spec.groups > 1)
        return mlopt_set_error(MLOPT_E_UNSUPPORTED, "%s: grouped convolutions (groups=%d) cannot change width",
                               P->spec.name, P->spec.groups);
    if (nnew <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: cannot prune a layer to zero width (keep at least 1 channel)",
                               P->spec.name);
    int old = P->spec.out;
    for (int j = 0; j < nnew; j++)
        if (src[j] < 0 || src[j] >= old)
            return mlopt_set_error(MLOPT_E_INVALID, "%s: channel %d out of range 0..%d", P->spec.name, src[j], old - 1);
    /* Find the consumer before touching anything, so failures leave hm intact. */
    int consumer = -1, hw = 1;
    for (int j = li + 1; j < hm->n && consumer < 0; j++) {
        mlopt_layer_kind k = hm->layers[j].spec.kind;
        if (k == MLOPT_LAYER_CONV2D || k == MLOPT_LAYER_LINEAR)
            consumer = j;
        else if (k == MLOPT_LAYER_FLATTEN)
            hw = hm->layers[j].in_ndim == 3 ? hm->layers[j].in[1] * hm->layers[j].in[2] : 1;
    }
    if (consumer < 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s is the output layer: its %d outputs are the classes and cannot change",
                               P->spec.name, old);
    hm_layer *C = &hm->layers[consumer];
    if (C->spec.kind == MLOPT_LAYER_CONV2D && C->spec.groups > 1)
        return mlopt_set_error(MLOPT_E_UNSUPPORTED, "%s feeds grouped conv %s; its width cannot change", P->spec.name,
                               C->spec.name);
    for (int k = 0; k < P->nparams; k++)
        TRY(gather_rows(&P->p[k], nnew, src));
    P->spec.out = nnew;
    for (int j = li + 1; j < consumer; j++)
        if (hm->layers[j].spec.kind == MLOPT_LAYER_BATCHNORM)
            for (int k = 0; k < hm->layers[j].nparams; k++)
                TRY(gather_rows(&hm->layers[j].p[k], nnew, src));
    hm_param *w = &C->p[0];
    if (C->spec.kind == MLOPT_LAYER_CONV2D) {
        TRY(gather_cols(w, w->shape[0], old, w->shape[2] * w->shape[3], nnew, src, scale));
        w->shape[1] = nnew;
    } else {
        TRY(gather_cols(w, w->shape[0], old, hw, nnew, src, scale));
        w->shape[1] = nnew * hw;
    }
    return MLOPT_OK;
}
