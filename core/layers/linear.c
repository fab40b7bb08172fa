/* Linear: y = x W^T + b with W [out][in], as PyTorch. */
#include "../error.h"
#include "../layer.h"

static mlopt_status linear_infer(mlopt_layer *L)
{
    mlopt_layer_spec *s = &L->spec;
    if (L->in_ndim != 1)
        return mlopt_set_error(MLOPT_E_INVALID,
                               "%s: linear needs a flat input; add `flatten` before it (input is %dx%dx%d)",
                               s->name, L->in[0], L->in[1], L->in[2]);
    if (s->out <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: linear needs out features > 0", s->name);
    L->out_ndim = 1;
    L->out[0] = s->out;
    L->out[1] = L->out[2] = 1;
    int w[2] = { s->out, L->in[0] };
    mlopt_layer_add_param(L, "weight", 2, w, 1, INIT_KAIMING_UNIFORM, L->in[0]);
    if (!s->no_bias)
        mlopt_layer_add_param(L, "bias", 1, &s->out, 1, INIT_BIAS_UNIFORM, L->in[0]);
    return MLOPT_OK;
}

static mlopt_status linear_forward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    int in = L->in[0], out = L->out[0];
    TRY(BE_CALL(ctx, gemm, 0, 1, io->batch, out, in, 1.0f, io->x, in, L->params[0].value->ref, in, 0.0f,
                io->y, out));
    if (L->nparams > 1)
        TRY(BE_CALL(ctx, bias_add, io->batch, out, 1, io->y, L->params[1].value->ref));
    return MLOPT_OK;
}

static mlopt_status linear_backward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    int in = L->in[0], out = L->out[0];
    /* dW[out][in] = dy^T x */
    TRY(BE_CALL(ctx, gemm, 1, 0, out, in, io->batch, 1.0f, io->dy, out, io->x, in, 0.0f,
                L->params[0].grad->ref, in));
    if (L->nparams > 1)
        TRY(BE_CALL(ctx, bias_grad, io->batch, out, 1, io->dy, L->params[1].grad->ref));
    /* dx[n][in] = dy W */
    if (io->dx.buf)
        TRY(BE_CALL(ctx, gemm, 0, 0, io->batch, in, out, 1.0f, io->dy, out, L->params[0].value->ref, in, 0.0f,
                    io->dx, in));
    return MLOPT_OK;
}

static uint64_t linear_flops(const mlopt_layer *L)
{
    return 2ull * (uint64_t)L->in[0] * (uint64_t)L->out[0];
}

const mlopt_layer_ops mlopt_linear_ops = { "linear", linear_infer, linear_forward, linear_backward, linear_flops, 0 };
