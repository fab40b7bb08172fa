/* Pruning masks: 0/1 float tensors on the device, one per pruned
 * parameter.  The optimizer applies them after every update (mask_mul), so
 * pruned weights stay exactly zero on every backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../io/safetensors.h"
#include "passes_internal.h"

static mlopt_param *find_param(mlopt_model *m, const char *name)
{
    int n = mlopt_model_param_count(m);
    for (int i = 0; i < n; i++) {
        mlopt_param *p = mlopt_model_param_at(m, i);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    mlopt_set_error(MLOPT_E_NOT_FOUND, "the model has no parameter named '%s'", name);
    return NULL;
}

mlopt_status mlopt_mask_set(mlopt_model *m, const char *param, const float *mask)
{
    mlopt_param *p = find_param(m, param);
    if (!p)
        return MLOPT_E_NOT_FOUND;
    if (!p->trainable)
        return mlopt_set_error(MLOPT_E_INVALID, "%s is a buffer, not a trainable parameter; it cannot be pruned", param);
    if (!p->mask)
        TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, p->ndim, p->shape, &p->mask));
    size_t n = mlopt_tensor_numel(p->value);
    TRY(mlopt_tensor_upload(p->mask, mask, n * sizeof *mask));
    return BE_CALL(m->ctx, mask_mul, n, p->mask->ref, p->value->ref);
}

mlopt_status mlopt_mask_get(mlopt_model *m, const char *param, float *mask, int *has_mask)
{
    mlopt_param *p = find_param(m, param);
    if (!p)
        return MLOPT_E_NOT_FOUND;
    *has_mask = p->mask != NULL;
    if (p->mask && mask)
        TRY(mlopt_tensor_download(p->mask, mask, mlopt_tensor_bytes(p->mask)));
    return MLOPT_OK;
}

mlopt_status mlopt_masks_fold(mlopt_model *m)
{
    int n = mlopt_model_param_count(m);
    for (int i = 0; i < n; i++) {
        mlopt_param *p = mlopt_model_param_at(m, i);
        if (!p->mask)
            continue;
        TRY(BE_CALL(m->ctx, mask_mul, mlopt_tensor_numel(p->value), p->mask->ref, p->value->ref));
        TRY(mlopt_context_synchronize(m->ctx));
        mlopt_tensor_destroy(p->mask);
        p->mask = NULL;
    }
    return MLOPT_OK;
}

mlopt_status mlopt_masks_load(const char *path, mlopt_model *m, int *loaded)
{
    *loaded = 0;
    mlopt_st_file *f;
    TRY(mlopt_st_open(path, &f));
    mlopt_status s = MLOPT_OK;
    int n = mlopt_model_param_count(m);
    for (int i = 0; i < n && s == MLOPT_OK; i++) {
        mlopt_param *p = mlopt_model_param_at(m, i);
        char name[96];
        snprintf(name, sizeof name, "%s_mask", p->name);
        mlopt_st_tensor t;
        if (mlopt_st_find(f, name, &t) != MLOPT_OK)
            continue;
        if (strcmp(t.dtype, "F32") != 0 || t.nbytes != mlopt_tensor_bytes(p->value)) {
            s = mlopt_set_error(MLOPT_E_FORMAT, "%s: mask '%s' does not match parameter %s", path, name, p->name);
            break;
        }
        float *host = malloc(t.nbytes);
        if (!host) {
            s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
            break;
        }
        memcpy(host, t.data, t.nbytes);
        s = mlopt_mask_set(m, p->name, host);
        free(host);
        *loaded += s == MLOPT_OK;
    }
    mlopt_st_close(f);
    return s;
}

mlopt_status mlopt_masks_from_zeros(mlopt_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer *L = &m->layers[i];
        if (!passes_is_weighted(L))
            continue;
        float *w;
        TRY(passes_download(L->params[0].value, &w));
        size_t n = mlopt_tensor_numel(L->params[0].value), nz = 0;
        for (size_t j = 0; j < n; j++) {
            nz += w[j] != 0.0f;
            w[j] = w[j] != 0.0f ? 1.0f : 0.0f;
        }
        mlopt_status s = nz < n ? mlopt_mask_set(m, L->params[0].name, w) : MLOPT_OK;
        free(w);
        TRY(s);
    }
    return MLOPT_OK;
}
