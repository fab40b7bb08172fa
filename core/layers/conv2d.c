/* Conv2d: weights [out][in/groups][k][k] and bias [out], as PyTorch. */
#include "../error.h"
#include "../layer.h"

static void params_for(const mlopt_layer *L, int batch, mlopt_conv2d_params *p)
{
    const mlopt_layer_spec *s = &L->spec;
    p->n = batch;
    p->c = L->in[0];
    p->h = L->in[1];
    p->w = L->in[2];
    p->k = s->out;
    p->r = p->s = s->kernel;
    p->stride_h = p->stride_w = s->stride;
    p->pad_h = p->pad_w = s->pad;
    p->dil_h = p->dil_w = s->dilation;
    p->groups = s->groups;
    p->oh = L->out[1];
    p->ow = L->out[2];
}

static mlopt_status conv_infer(mlopt_layer *L)
{
    mlopt_layer_spec *s = &L->spec;
    if (L->in_ndim != 3)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: conv needs an image input (c,h,w), got a flat vector of %d features",
                               s->name, L->in[0]);
    if (s->out <= 0 || s->kernel <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: conv needs out channels > 0 and kernel > 0", s->name);
    if (!s->stride) s->stride = 1;
    if (!s->dilation) s->dilation = 1;
    if (!s->groups) s->groups = 1;
    if (s->stride < 0 || s->pad < 0 || s->dilation < 0 || s->groups < 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: negative stride/pad/dilation/groups", s->name);
    if (L->in[0] % s->groups || s->out % s->groups)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: groups=%d must divide in channels %d and out channels %d",
                               s->name, s->groups, L->in[0], s->out);
    int ext = s->dilation * (s->kernel - 1) + 1;
    int oh = (L->in[1] + 2 * s->pad - ext) / s->stride + 1;
    int ow = (L->in[2] + 2 * s->pad - ext) / s->stride + 1;
    if (L->in[1] + 2 * s->pad < ext || L->in[2] + 2 * s->pad < ext)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: kernel %d does not fit the %dx%d input (pad %d)",
                               s->name, s->kernel, L->in[1], L->in[2], s->pad);
    L->out_ndim = 3;
    L->out[0] = s->out;
    L->out[1] = oh;
    L->out[2] = ow;
    int cpg = L->in[0] / s->groups;
    int fan_in = cpg * s->kernel * s->kernel;
    int wshape[4] = { s->out, cpg, s->kernel, s->kernel };
    mlopt_layer_add_param(L, "weight", 4, wshape, 1, INIT_KAIMING_UNIFORM, fan_in);
    if (!s->no_bias)
        mlopt_layer_add_param(L, "bias", 1, &s->out, 1, INIT_BIAS_UNIFORM, fan_in);
    return MLOPT_OK;
}

static mlopt_status conv_forward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    mlopt_conv2d_params p;
    params_for(L, io->batch, &p);
    mlopt_ref bias = L->nparams > 1 ? L->params[1].value->ref : mlopt_null_ref();
    return BE_CALL(ctx, conv2d_forward, &p, io->x, L->params[0].value->ref, bias, io->y);
}

static mlopt_status conv_backward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    mlopt_conv2d_params p;
    params_for(L, io->batch, &p);
    mlopt_ref dbias = L->nparams > 1 ? L->params[1].grad->ref : mlopt_null_ref();
    TRY(BE_CALL(ctx, conv2d_backward_filter, &p, io->x, io->dy, L->params[0].grad->ref, dbias));
    if (io->dx.buf)
        TRY(BE_CALL(ctx, conv2d_backward_data, &p, io->dy, L->params[0].value->ref, io->dx));
    return MLOPT_OK;
}

static uint64_t conv_flops(const mlopt_layer *L)
{
    uint64_t macs = (uint64_t)L->out[0] * L->out[1] * L->out[2] * (uint64_t)(L->in[0] / L->spec.groups) *
                    L->spec.kernel * L->spec.kernel;
    return 2 * macs;
}

const mlopt_layer_ops mlopt_conv2d_ops = { "conv", conv_infer, conv_forward, conv_backward, conv_flops, 0 };
