/* MaxPool2d and AvgPool2d: one mechanism, two modes. Stride defaults to
 * the kernel size (PyTorch's default); output uses floor mode. */
#include "../error.h"
#include "../layer.h"

static void params_for(const mlopt_layer *L, int batch, mlopt_pool2d_params *p)
{
    p->n = batch;
    p->c = L->in[0];
    p->h = L->in[1];
    p->w = L->in[2];
    p->kh = p->kw = L->spec.kernel;
    p->stride_h = p->stride_w = L->spec.stride;
    p->pad_h = p->pad_w = L->spec.pad;
    p->dil_h = p->dil_w = 1;
    p->oh = L->out[1];
    p->ow = L->out[2];
}

static int pool_mode(const mlopt_layer *L)
{
    return L->spec.kind == MLOPT_LAYER_MAXPOOL2D ? MLOPT_POOL_MAX : MLOPT_POOL_AVG_INCL_PAD;
}

static mlopt_status pool_infer(mlopt_layer *L)
{
    mlopt_layer_spec *s = &L->spec;
    if (L->in_ndim != 3)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: pooling needs an image input (c,h,w), got a flat vector",
                               s->name);
    if (s->kernel <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: pool kernel must be > 0", s->name);
    if (!s->stride)
        s->stride = s->kernel;
    if (s->pad < 0 || 2 * s->pad > s->kernel)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: pool padding %d must be in [0, kernel/2]", s->name, s->pad);
    if (L->in[1] + 2 * s->pad < s->kernel || L->in[2] + 2 * s->pad < s->kernel)
        return mlopt_set_error(MLOPT_E_INVALID, "%s: pool kernel %d larger than the %dx%d input", s->name,
                               s->kernel, L->in[1], L->in[2]);
    L->out_ndim = 3;
    L->out[0] = L->in[0];
    L->out[1] = (L->in[1] + 2 * s->pad - s->kernel) / s->stride + 1;
    L->out[2] = (L->in[2] + 2 * s->pad - s->kernel) / s->stride + 1;
    return MLOPT_OK;
}

static mlopt_status pool_forward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    mlopt_pool2d_params p;
    params_for(L, io->batch, &p);
    return BE_CALL(ctx, pool2d_forward, pool_mode(L), &p, io->x, io->y);
}

static mlopt_status pool_backward(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    if (!io->dx.buf)
        return MLOPT_OK;
    mlopt_pool2d_params p;
    params_for(L, io->batch, &p);
    return BE_CALL(ctx, pool2d_backward, pool_mode(L), &p, io->x, io->dy, io->dx);
}

static uint64_t pool_flops(const mlopt_layer *L)
{
    return (uint64_t)L->out[0] * L->out[1] * L->out[2] * L->spec.kernel * L->spec.kernel;
}

const mlopt_layer_ops mlopt_maxpool2d_ops = { "maxpool", pool_infer, pool_forward, pool_backward, pool_flops, 0 };
const mlopt_layer_ops mlopt_avgpool2d_ops = { "avgpool", pool_infer, pool_forward, pool_backward, pool_flops, 0 };
