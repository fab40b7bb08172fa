/* Dropout (inverted): identity at evaluation; in training a fresh mask per
 * call from the shared integer hash, so every backend drops the same units. */
#include "../error.h"
#include "../layer.h"

static mlopt_status dropout_infer(mlopt_layer *L)
{
    float p = L->spec.alpha;
    if (!(p >= 0.0f && p < 1.0f))
        return mlopt_set_error(MLOPT_E_INVALID, "%s: dropout probability %g must be in [0, 1)", L->spec.name,
                               (double)p);
    L->out_ndim = L->in_ndim;
    for (int i = 0; i < 3; i++)
        L->out[i] = L->in[i];
    return MLOPT_OK;
}

static mlopt_status dropout_forward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    size_t n = mlopt_shape_numel(L->in_ndim, L->in) * (size_t)io->batch;
    if (!io->training || L->spec.alpha == 0.0f)
        return BE_CALL(ctx, copy, io->y, io->x, n * sizeof(float));
    TRY(mlopt_layer_scratch(L, ctx, 0, n));
    uint32_t seed = L->seed ^ (uint32_t)(L->step * 0x9E3779B97F4A7C15ull >> 32);
    return BE_CALL(ctx, dropout_forward, n, L->spec.alpha, seed, io->x, io->y, L->scratch[0]->ref);
}

static mlopt_status dropout_backward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    if (!io->dx.buf)
        return MLOPT_OK;
    size_t n = mlopt_shape_numel(L->in_ndim, L->in) * (size_t)io->batch;
    if (!io->training || L->spec.alpha == 0.0f)
        return BE_CALL(ctx, copy, io->dx, io->dy, n * sizeof(float));
    return BE_CALL(ctx, mul, n, io->dy, L->scratch[0]->ref, io->dx);
}

static uint64_t dropout_flops(const mlopt_layer *L)
{
    (void)L;
    return 0;
}

const mlopt_layer_ops mlopt_dropout_ops = { "dropout", dropout_infer, dropout_forward, dropout_backward, dropout_flops, 0 };
