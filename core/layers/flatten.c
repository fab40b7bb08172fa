/* Flatten: (c,h,w) -> (c*h*w).  The data is already contiguous, so the
 * output aliases the input and no kernel runs. */
#include "../error.h"
#include "../layer.h"

static mlopt_status flatten_infer(mlopt_layer *L)
{
    L->out_ndim = 1;
    L->out[0] = (int)mlopt_shape_numel(L->in_ndim, L->in);
    L->out[1] = L->out[2] = 1;
    return MLOPT_OK;
}

static mlopt_status flatten_noop(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io)
{
    (void)L, (void)ctx, (void)io;
    return MLOPT_OK;
}

static uint64_t flatten_flops(const mlopt_layer *L)
{
    (void)L;
    return 0;
}

const mlopt_layer_ops mlopt_flatten_ops = { "flatten", flatten_infer, flatten_noop, flatten_noop, flatten_flops, 1 };
