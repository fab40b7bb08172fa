/* Helpers shared by every layer kind. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "layer.h"

const mlopt_layer_ops *mlopt_layer_ops_for(mlopt_layer_kind kind)
{
    switch (kind) {
    case MLOPT_LAYER_CONV2D: return &mlopt_conv2d_ops;
    case MLOPT_LAYER_MAXPOOL2D: return &mlopt_maxpool2d_ops;
    case MLOPT_LAYER_AVGPOOL2D: return &mlopt_avgpool2d_ops;
    case MLOPT_LAYER_LINEAR: return &mlopt_linear_ops;
    case MLOPT_LAYER_FLATTEN: return &mlopt_flatten_ops;
    case MLOPT_LAYER_BATCHNORM: return &mlopt_batchnorm_ops;
    case MLOPT_LAYER_DROPOUT: return &mlopt_dropout_ops;
    case MLOPT_LAYER_ACTIVATION: return &mlopt_activation_ops;
    case MLOPT_LAYER_KIND_COUNT_: break;
    }
    return NULL;
}

size_t mlopt_shape_numel(int ndim, const int *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return n;
}

int mlopt_layer_add_param(mlopt_layer *L, const char *suffix, int ndim, const int *shape, int trainable,
                          int init, int fan_in)
{
    int i = L->nparams++;
    mlopt_param *p = &L->params[i];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", L->spec.name, suffix);
    p->ndim = ndim;
    memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
    p->trainable = trainable;
    p->init = init;
    p->fan_in = fan_in;
    return i;
}

mlopt_status mlopt_layer_scratch(mlopt_layer *L, mlopt_context *ctx, int i, size_t elems)
{
    if (L->scratch[i] && L->scratch_elems[i] >= elems)
        return MLOPT_OK;
    mlopt_tensor_destroy(L->scratch[i]);
    L->scratch[i] = NULL;
    L->scratch_elems[i] = 0;
    if (elems > (size_t)0x7fffffff)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: scratch of %zu elements too large", L->spec.name, elems);
    int shape[1] = { (int)elems };
    TRY(mlopt_tensor_create(ctx, MLOPT_F32, 1, shape, &L->scratch[i]));
    L->scratch_elems[i] = elems;
    return MLOPT_OK;
}
