/* Layer enhancement by function-preserving transformations (Chen et al.,
 * Net2Net, 2016): Net2DeeperNet inserts identity layers, Net2WiderNet
 * replicates units and splits their outgoing weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../rng.h"
#include "passes_internal.h"

/* 1 when layer i's output is known to be >= 0: a ReLU, possibly followed by
 * max-pooling, flatten or dropout (all preserve the sign). */
static int nonnegative_output(const mlopt_model *m, int i)
{
    for (; i >= 0; i--) {
        mlopt_layer_kind k = m->layers[i].spec.kind;
        if (k == MLOPT_LAYER_ACTIVATION)
            return m->layers[i].spec.act == MLOPT_ACT_RELU;
        if (k != MLOPT_LAYER_MAXPOOL2D && k != MLOPT_LAYER_FLATTEN && k != MLOPT_LAYER_DROPOUT &&
            k != MLOPT_LAYER_AVGPOOL2D)
            return 0;
    }
    return 0;
}

mlopt_status mlopt_net2deeper(mlopt_model *m, const char *after, const char *name)
{
    int li = passes_find_layer(m, after);
    if (li < 0)
        return MLOPT_E_NOT_FOUND;
    const mlopt_layer *A = &m->layers[li];
    mlopt_layer_spec s;
    memset(&s, 0, sizeof s);
    if (name && name[0])
        snprintf(s.name, sizeof s.name, "%s", name);
    else
        for (int k = 1; k < 1000; k++) {
            snprintf(s.name, sizeof s.name, "deep%d", k);
            int used = 0;
            for (int i = 0; i < m->nlayers; i++)
                used |= strcmp(m->layers[i].spec.name, s.name) == 0;
            if (!used)
                break;
        }
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].spec.name, s.name) == 0)
            return mlopt_set_error(MLOPT_E_INVALID, "a layer named '%s' exists already", s.name);
    int c = A->out[0];
    if (A->out_ndim == 1) {
        s.kind = MLOPT_LAYER_LINEAR;
        s.out = c;
    } else {
        s.kind = MLOPT_LAYER_CONV2D;
        s.out = c;
        s.kernel = 3;
        s.pad = 1;
        s.stride = 1;
        s.dilation = 1;
        s.groups = 1;
    }
    host_model hm;
    TRY(hm_capture(m, &hm));
    mlopt_status st = hm_insert(&hm, li + 1, &s);
    hm_layer *H = st == MLOPT_OK ? &hm.layers[li + 1] : NULL;
    if (H) {
        size_t wn = s.kind == MLOPT_LAYER_LINEAR ? (size_t)c * c : (size_t)c * c * 9;
        H->nparams = 2;
        H->p[0].ndim = s.kind == MLOPT_LAYER_LINEAR ? 2 : 4;
        H->p[0].shape[0] = c, H->p[0].shape[1] = c, H->p[0].shape[2] = 3, H->p[0].shape[3] = 3;
        H->p[0].numel = wn;
        H->p[0].data = calloc(wn, sizeof(float));
        H->p[1].ndim = 1;
        H->p[1].shape[0] = c;
        H->p[1].numel = (size_t)c;
        H->p[1].data = calloc((size_t)c, sizeof(float));
        if (!H->p[0].data || !H->p[1].data)
            st = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        else
            for (int i = 0; i < c; i++) /* identity: W = I, or a kernel that is 1 at the centre of its own channel */
                H->p[0].data[s.kind == MLOPT_LAYER_LINEAR ? (size_t)i * c + i : ((size_t)i * c + i) * 9 + 4] = 1.0f;
    }
    if (st == MLOPT_OK && nonnegative_output(m, li)) {
        /* ReLU(x) = x for x >= 0: still the identity, and adds depth that can learn. */
        mlopt_layer_spec a;
        memset(&a, 0, sizeof a);
        a.kind = MLOPT_LAYER_ACTIVATION;
        a.act = MLOPT_ACT_RELU;
        snprintf(a.name, sizeof a.name, "%.26s_act", s.name);
        st = hm_insert(&hm, li + 2, &a);
    }
    if (st == MLOPT_OK)
        st = hm_commit(&hm, m);
    hm_free(&hm);
    return st;
}

mlopt_status mlopt_net2wider(mlopt_model *m, const char *layer, int width, uint64_t seed)
{
    int li = passes_find_layer(m, layer);
    if (li < 0)
        return MLOPT_E_NOT_FOUND;
    int old = m->layers[li].spec.out;
    if (!passes_is_weighted(&m->layers[li]))
        return mlopt_set_error(MLOPT_E_INVALID, "layer %s has no units to widen (only conv and linear do)", layer);
    if (width < old)
        return mlopt_set_error(MLOPT_E_INVALID, "%s has %d units; Net2WiderNet needs --width >= %d (use prune to shrink)",
                               layer, old, old);
    int *src = malloc((size_t)width * sizeof *src), *copies = calloc((size_t)old, sizeof *copies);
    float *scale = malloc((size_t)width * sizeof *scale);
    if (!src || !copies || !scale) {
        free(src), free(copies), free(scale);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    mlopt_rng r;
    mlopt_rng_seed(&r, seed);
    for (int j = 0; j < width; j++) {
        src[j] = j < old ? j : (int)(mlopt_rng_double(&r) * old) % old;
        copies[src[j]]++;
    }
    for (int j = 0; j < width; j++)
        scale[j] = 1.0f / (float)copies[src[j]];
    host_model hm;
    mlopt_status s = hm_capture(m, &hm);
    if (s == MLOPT_OK) {
        s = hm_remap_channels(&hm, li, width, src, scale);
        if (s == MLOPT_OK)
            s = hm_commit(&hm, m);
        hm_free(&hm);
    }
    free(src), free(copies), free(scale);
    return s;
}
