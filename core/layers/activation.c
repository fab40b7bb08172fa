/* Elementwise activation layers (ReLU, LeakyReLU, ELU, GELU, SiLU, Tanh,
 * Sigmoid, HardSigmoid, HardSwish). */
#include "../error.h"
#include "../layer.h"

static mlopt_status act_infer(mlopt_layer *L)
{
    if (L->spec.act < 0 || L->spec.act >= MLOPT_ACT_COUNT_)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: unknown activation %d", L->spec.name, L->spec.act);
    L->out_ndim = L->in_ndim;
    for (int i = 0; i < 3; i++)
        L->out[i] = L->in[i];
    return MLOPT_OK;
}

static size_t act_numel(const mlopt_layer *L, int batch)
{
    return mlopt_shape_numel(L->in_ndim, L->in) * (size_t)batch;
}

static mlopt_status act_forward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    return BE_CALL(ctx, act_forward, L->spec.act, L->spec.alpha, L->spec.beta, act_numel(L, io->batch), io->x,
                   io->y);
}

static mlopt_status act_backward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    if (!io->dx.buf)
        return MLOPT_OK;
    return BE_CALL(ctx, act_backward, L->spec.act, L->spec.alpha, L->spec.beta, act_numel(L, io->batch), io->x,
                   io->y, io->dy, io->dx);
}

static uint64_t act_flops(const mlopt_layer *L)
{
    return mlopt_shape_numel(L->in_ndim, L->in);
}

const mlopt_layer_ops mlopt_activation_ops = { "act", act_infer, act_forward, act_backward, act_flops, 0 };
