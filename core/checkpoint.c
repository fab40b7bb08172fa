/* Model checkpoints on top of the safetensors reader/writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io/safetensors.h"
#include "model.h"

struct mlopt_checkpoint {
    mlopt_st_file *file;
    char path[1024];
};

#define OPTIM_PREFIX "optim."

mlopt_status mlopt_checkpoint_save(const char *path, mlopt_model *m, mlopt_optimizer *opt, const mlopt_meta *meta,
                                   int nmeta)
{
    if (!m->initialized) /* its parameter tensors do not exist yet */
        return mlopt_set_error(MLOPT_E_INVALID, "cannot save %s: the model is not initialized (call mlopt_model_init)", path);
    int np = mlopt_model_param_count(m);
    int ns = opt ? mlopt_optimizer_state_count(opt) : 0;
    int total = np + ns;
    mlopt_st_tensor *t = calloc((size_t)total, sizeof *t);
    void **host = calloc((size_t)total, sizeof *host);
    char (*names)[128] = calloc((size_t)total, sizeof *names);
    mlopt_st_kv *kv = calloc((size_t)nmeta + 4, sizeof *kv);
    char steps[32];
    snprintf(steps, sizeof steps, "%lld", opt ? mlopt_optimizer_steps(opt) : 0);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
    char *spec = NULL;
    mlopt_status s = MLOPT_OK;
    if (!t || !host || !names || !kv) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory saving %s", path);
        goto done;
    }
    for (int i = 0; i < total && s == MLOPT_OK; i++) {
        mlopt_tensor *src;
        if (i < np) {
            mlopt_param *p = mlopt_model_param_at(m, i);
            src = p->value;
            snprintf(names[i], sizeof names[i], "%s", p->name);
        } else {
            char nm[100];
            src = mlopt_optimizer_state(opt, i - np, nm, sizeof nm);
            snprintf(names[i], sizeof names[i], OPTIM_PREFIX "%s", nm);
        }
        size_t bytes = mlopt_tensor_bytes(src);
        host[i] = malloc(bytes);
        if (!host[i]) {
            s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory saving %s", path);
            break;
        }
        s = mlopt_tensor_download(src, host[i], bytes);
        t[i].name = names[i];
        t[i].dtype = mlopt_st_dtype_name(src->dtype);
        t[i].ndim = src->ndim;
        for (int d = 0; d < src->ndim; d++)
            t[i].shape[d] = src->shape[d];
        t[i].data = host[i];
    }
    if (s != MLOPT_OK)
        goto done;
    mlopt_layer_spec *specs = malloc((size_t)m->nlayers * sizeof *specs);
    if (!specs) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        goto done;
    }
    for (int i = 0; i < m->nlayers; i++)
        specs[i] = m->layers[i].spec;
    s = mlopt_spec_format(specs, m->nlayers, &spec);
    free(specs);
    if (s != MLOPT_OK)
        goto done;
    char input[64];
    snprintf(input, sizeof input, "%dx%dx%d", m->in_c, m->in_h, m->in_w);
    kv[0].key = "mlopt.spec";
    kv[0].value = spec;
    kv[1].key = "mlopt.input";
    kv[1].value = input;
    kv[2].key = "mlopt.seed";
    kv[2].value = seed;
    int nkv = 3;
    if (opt) {
        kv[nkv].key = "mlopt.optimizer_steps";
        kv[nkv++].value = steps;
    }
    for (int i = 0; i < nmeta; i++) {
        kv[nkv].key = meta[i].key;
        kv[nkv++].value = meta[i].value;
    }
    s = mlopt_st_write(path, t, total, kv, nkv);
done:
    if (host)
        for (int i = 0; i < total; i++)
            free(host[i]);
    free(host);
    free(t);
    free(names);
    free(kv);
    free(spec);
    return s;
}

mlopt_status mlopt_checkpoint_open(const char *path, mlopt_checkpoint **out)
{
    *out = NULL;
    mlopt_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    snprintf(ck->path, sizeof ck->path, "%s", path);
    mlopt_status s = mlopt_st_open(path, &ck->file);
    if (s != MLOPT_OK) {
        free(ck);
        return s;
    }
    if (!mlopt_st_metadata(ck->file, "mlopt.spec") || !mlopt_st_metadata(ck->file, "mlopt.input")) {
        mlopt_checkpoint_close(ck);
        return mlopt_set_error(MLOPT_E_FORMAT,
                               "%s is a safetensors file but not an mlopt checkpoint (no mlopt.spec / mlopt.input "
                               "metadata)", path);
    }
    *out = ck;
    return MLOPT_OK;
}

void mlopt_checkpoint_close(mlopt_checkpoint *ck)
{
    if (!ck)
        return;
    mlopt_st_close(ck->file);
    free(ck);
}

const char *mlopt_checkpoint_meta(const mlopt_checkpoint *ck, const char *key)
{
    return mlopt_st_metadata(ck->file, key);
}

/* Sparse checkpoints (mlopt prune --sparse) store a tensor as
 * "<name>.indices" (I32 flat positions) and "<name>.values" (F32): densify. */
static mlopt_status load_sparse_tensor(const mlopt_checkpoint *ck, const char *name, mlopt_tensor *dst, int *found)
{
    char iname[160], vname[160];
    snprintf(iname, sizeof iname, "%s.indices", name);
    snprintf(vname, sizeof vname, "%s.values", name);
    mlopt_st_tensor it, vt;
    *found = mlopt_st_find(ck->file, iname, &it) == MLOPT_OK && mlopt_st_find(ck->file, vname, &vt) == MLOPT_OK;
    if (!*found)
        return MLOPT_OK;
    size_t n = mlopt_tensor_numel(dst), nnz = vt.nbytes / 4;
    if (dst->dtype != MLOPT_F32 || strcmp(it.dtype, "I32") != 0 || strcmp(vt.dtype, "F32") != 0 || it.nbytes != vt.nbytes ||
        nnz > n)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: sparse tensor '%s' needs I32 indices and F32 values of equal count <= %zu",
                               ck->path, name, n);
    float *dense = calloc(n ? n : 1, sizeof *dense);
    if (!dense)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory loading %s", ck->path);
    const unsigned char *ib = it.data, *vb = vt.data;
    for (size_t k = 0; k < nnz; k++) {
        int32_t idx;
        float v;
        memcpy(&idx, ib + 4 * k, 4);
        memcpy(&v, vb + 4 * k, 4);
        if (idx < 0 || (size_t)idx >= n) {
            free(dense);
            return mlopt_set_error(MLOPT_E_FORMAT, "%s: sparse tensor '%s' has index %d outside 0..%zu", ck->path,
                                   name, (int)idx, n - 1);
        }
        dense[idx] = v;
    }
    mlopt_status s = mlopt_tensor_upload(dst, dense, n * sizeof *dense);
    free(dense);
    return s;
}

static mlopt_status load_tensor(const mlopt_checkpoint *ck, const char *name, mlopt_tensor *dst)
{
    mlopt_st_tensor t;
    int sparse = 0;
    if (mlopt_st_find(ck->file, name, &t) != MLOPT_OK) {
        TRY(load_sparse_tensor(ck, name, dst, &sparse));
        if (sparse)
            return MLOPT_OK;
    }
    if (!sparse && mlopt_st_find(ck->file, name, &t) != MLOPT_OK)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: no tensor '%s' (checkpoint from a different model?)", ck->path,
                               name);
    mlopt_dtype dt;
    if (mlopt_st_dtype_parse(t.dtype, &dt) != MLOPT_OK || dt != dst->dtype)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", ck->path, name, t.dtype,
                               mlopt_st_dtype_name(dst->dtype));
    int same = t.ndim == dst->ndim;
    for (int d = 0; same && d < t.ndim; d++)
        same = t.shape[d] == dst->shape[d];
    if (!same) {
        char have[96] = "", want[96] = "";
        for (int d = 0; d < t.ndim; d++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%lld", d ? "," : "", (long long)t.shape[d]);
        for (int d = 0; d < dst->ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "", dst->shape[d]);
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: tensor '%s' has shape [%s], the model needs [%s]", ck->path, name,
                               have, want);
    }
    return mlopt_tensor_upload(dst, t.data, t.nbytes);
}

mlopt_status mlopt_checkpoint_load_weights(const mlopt_checkpoint *ck, mlopt_model *m)
{
    if (!m->initialized) /* its parameter tensors do not exist yet */
        return mlopt_set_error(MLOPT_E_INVALID, "cannot load %s: the model is not initialized (call mlopt_model_init)", ck->path);
    int np = mlopt_model_param_count(m);
    for (int i = 0; i < np; i++) {
        mlopt_param *p = mlopt_model_param_at(m, i);
        TRY(load_tensor(ck, p->name, p->value));
    }
    return MLOPT_OK;
}

mlopt_status mlopt_checkpoint_model(const mlopt_checkpoint *ck, mlopt_context *ctx, mlopt_model **out)
{
    *out = NULL;
    int c, h, w;
    char tail;
    const char *input = mlopt_checkpoint_meta(ck, "mlopt.input");
    if (sscanf(input, "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c <= 0 || h <= 0 || w <= 0)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: bad mlopt.input '%s' (expected CxHxW)", ck->path, input);
    mlopt_layer_spec *specs;
    int n;
    char src[1100];
    snprintf(src, sizeof src, "%s[mlopt.spec]", ck->path);
    TRY(mlopt_spec_parse(mlopt_checkpoint_meta(ck, "mlopt.spec"), src, &specs, &n));
    /* The seed fixes per-layer dropout streams: keep the original one. */
    const char *seed_text = mlopt_checkpoint_meta(ck, "mlopt.seed");
    uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10) : 0;
    mlopt_model *m;
    mlopt_status s = mlopt_model_from_specs(ctx, c, h, w, specs, n, seed, &m);
    free(specs);
    if (s != MLOPT_OK)
        return s;
    if ((s = mlopt_checkpoint_load_weights(ck, m)) != MLOPT_OK) {
        mlopt_model_destroy(m);
        return s;
    }
    *out = m;
    return MLOPT_OK;
}

mlopt_status mlopt_checkpoint_load_optimizer(const mlopt_checkpoint *ck, mlopt_optimizer *o)
{
    int n = mlopt_optimizer_state_count(o);
    for (int i = 0; i < n; i++) {
        char nm[100], full[128];
        mlopt_tensor *t = mlopt_optimizer_state(o, i, nm, sizeof nm);
        snprintf(full, sizeof full, OPTIM_PREFIX "%s", nm);
        TRY(load_tensor(ck, full, t));
    }
    /* The step count drives SGD's first-step rule and Adam's bias correction. */
    const char *steps = mlopt_checkpoint_meta(ck, "mlopt.optimizer_steps");
    if (steps)
        mlopt_optimizer_set_steps(o, strtoll(steps, NULL, 10));
    return MLOPT_OK;
}
