/* BatchNorm1d (after linear) and BatchNorm2d (after conv), inferred from the
 * input shape.  Parameters and buffers use PyTorch's names. */
#include "../error.h"
#include "../layer.h"

static void geometry(const mlopt_layer *L, int *c, int *inner)
{
    *c = L->in[0];
    *inner = L->in_ndim == 3 ? L->in[1] * L->in[2] : 1;
}

static mlopt_status bn_infer(mlopt_layer *L)
{
    if (L->in_ndim == 3 && L->in[0] == 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: batch-norm over zero channels", L->spec.name);
    if (L->spec.alpha == 0.0f)
        L->spec.alpha = 1e-5f; /* eps */
    if (L->spec.beta == 0.0f)
        L->spec.beta = 0.1f; /* momentum */
    L->out_ndim = L->in_ndim;
    for (int i = 0; i < 3; i++)
        L->out[i] = L->in[i];
    int c = L->in[0];
    mlopt_layer_add_param(L, "weight", 1, &c, 1, INIT_ONES, 0);
    mlopt_layer_add_param(L, "bias", 1, &c, 1, INIT_ZEROS, 0);
    mlopt_layer_add_param(L, "running_mean", 1, &c, 0, INIT_ZEROS, 0);
    mlopt_layer_add_param(L, "running_var", 1, &c, 0, INIT_ONES, 0);
    return MLOPT_OK;
}

static mlopt_status bn_forward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    int c, inner;
    geometry(L, &c, &inner);
    mlopt_param *P = L->params;
    if (!io->training)
        return BE_CALL(ctx, batchnorm_forward_eval, io->batch, c, inner, L->spec.alpha, io->x, P[0].value->ref,
                       P[1].value->ref, P[2].value->ref, P[3].value->ref, io->y);
    TRY(mlopt_layer_scratch(L, ctx, 0, (size_t)c));
    TRY(mlopt_layer_scratch(L, ctx, 1, (size_t)c));
    return BE_CALL(ctx, batchnorm_forward_train, io->batch, c, inner, L->spec.alpha, L->spec.beta, io->x,
                   P[0].value->ref, P[1].value->ref, io->y, P[2].value->ref, P[3].value->ref,
                   L->scratch[0]->ref, L->scratch[1]->ref);
}

static mlopt_status bn_backward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    int c, inner;
    geometry(L, &c, &inner);
    mlopt_param *P = L->params;
    if (!io->training)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: backward after an evaluation-mode forward", L->spec.name);
    /* batchnorm_backward always writes dx; the model rejects batch-norm as
     * the first layer, so dx always exists here. */
    mlopt_ref dx = io->dx;
    return BE_CALL(ctx, batchnorm_backward, io->batch, c, inner, io->x, io->dy, P[0].value->ref,
                   L->scratch[0]->ref, L->scratch[1]->ref, dx, P[0].grad->ref, P[1].grad->ref);
}

static uint64_t bn_flops(const mlopt_layer *L)
{
    return 2 * mlopt_shape_numel(L->in_ndim, L->in);
}

const mlopt_layer_ops mlopt_batchnorm_ops = { "batchnorm", bn_infer, bn_forward, bn_backward, bn_flops, 0 };
