/* Checkpoints written by the passes: the ordinary layout (readable by every
 * command), optionally with pruning masks ("<param>_mask") or with sparse
 * weights ("<param>.indices" I32 + "<param>.values" F32, metadata
 * mlopt.sparse = "coo"), which mlopt_checkpoint_model densifies on load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../io/safetensors.h"
#include "passes_internal.h"

typedef struct entry {
    char name[112];
    const char *dtype;
    int ndim;
    int64_t shape[MLOPT_MAX_DIMS];
    void *data;
} entry;

mlopt_status mlopt_passes_save(const char *path, mlopt_model *m, const mlopt_meta *meta, int nmeta, int flags)
{
    if (!m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "cannot save %s: the model is not initialized", path);
    int np = mlopt_model_param_count(m), cap = 3 * np + 1, ne = 0;
    entry *e = calloc((size_t)cap, sizeof *e);
    mlopt_st_tensor *t = calloc((size_t)cap, sizeof *t);
    mlopt_st_kv *kv = calloc((size_t)nmeta + 5, sizeof *kv);
    mlopt_layer_spec *specs = malloc((size_t)m->nlayers * sizeof *specs);
    char *spec = NULL;
    mlopt_status s = e && t && kv && specs ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int li = 0, pi = 0; s == MLOPT_OK && li < m->nlayers; li++) {
        mlopt_layer *L = &m->layers[li];
        specs[li] = L->spec;
        for (int k = 0; s == MLOPT_OK && k < L->nparams; k++, pi++) {
            mlopt_param *p = &L->params[k];
            float *h;
            if ((s = passes_download(p->value, &h)) != MLOPT_OK)
                break;
            size_t n = mlopt_tensor_numel(p->value);
            if ((flags & MLOPT_SAVE_SPARSE) && k == 0 && passes_is_weighted(L)) {
                size_t nz = 0;
                for (size_t j = 0; j < n; j++)
                    nz += h[j] != 0.0f;
                int32_t *idx = malloc((nz ? nz : 1) * sizeof *idx);
                float *val = malloc((nz ? nz : 1) * sizeof *val);
                if (!idx || !val) {
                    free(idx), free(val), free(h);
                    s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
                    break;
                }
                for (size_t j = 0, u = 0; j < n; j++)
                    if (h[j] != 0.0f) {
                        idx[u] = (int32_t)j;
                        val[u++] = h[j];
                    }
                free(h);
                snprintf(e[ne].name, sizeof e[ne].name, "%s.indices", p->name);
                e[ne].dtype = "I32", e[ne].ndim = 1, e[ne].shape[0] = (int64_t)nz, e[ne++].data = idx;
                snprintf(e[ne].name, sizeof e[ne].name, "%s.values", p->name);
                e[ne].dtype = "F32", e[ne].ndim = 1, e[ne].shape[0] = (int64_t)nz, e[ne++].data = val;
            } else {
                snprintf(e[ne].name, sizeof e[ne].name, "%s", p->name);
                e[ne].dtype = "F32", e[ne].ndim = p->ndim;
                for (int d = 0; d < p->ndim; d++)
                    e[ne].shape[d] = p->shape[d];
                e[ne++].data = h;
            }
            int stored_sparse = (flags & MLOPT_SAVE_SPARSE) && k == 0 && passes_is_weighted(L);
            /* a sparse tensor's index list is its mask already */
            if ((flags & MLOPT_SAVE_MASKS) && p->mask && !stored_sparse) {
                if ((s = passes_download(p->mask, &h)) != MLOPT_OK)
                    break;
                snprintf(e[ne].name, sizeof e[ne].name, "%s_mask", p->name);
                e[ne].dtype = "F32", e[ne].ndim = p->ndim;
                for (int d = 0; d < p->ndim; d++)
                    e[ne].shape[d] = p->shape[d];
                e[ne++].data = h;
            }
        }
    }
    if (s == MLOPT_OK)
        s = mlopt_spec_format(specs, m->nlayers, &spec);
    if (s == MLOPT_OK) {
        for (int i = 0; i < ne; i++) {
            t[i].name = e[i].name;
            t[i].dtype = e[i].dtype;
            t[i].ndim = e[i].ndim;
            memcpy(t[i].shape, e[i].shape, sizeof e[i].shape);
            t[i].data = e[i].data;
        }
        char input[64], seed[32];
        snprintf(input, sizeof input, "%dx%dx%d", m->in_c, m->in_h, m->in_w);
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
        int nkv = 0;
        kv[nkv].key = "mlopt.spec", kv[nkv++].value = spec;
        kv[nkv].key = "mlopt.input", kv[nkv++].value = input;
        kv[nkv].key = "mlopt.seed", kv[nkv++].value = seed;
        if (flags & MLOPT_SAVE_SPARSE)
            kv[nkv].key = "mlopt.sparse", kv[nkv++].value = "coo";
        for (int i = 0; i < nmeta; i++)
            kv[nkv].key = meta[i].key, kv[nkv++].value = meta[i].value;
        s = mlopt_st_write(path, t, ne, kv, nkv);
    }
    for (int i = 0; i < ne; i++)
        free(e[i].data);
    free(e), free(t), free(kv), free(specs), free(spec);
    return s;
}
