/* ReLU followed by max-pooling, run as max-pooling followed by ReLU.
 *
 * Why: ReLU is a pass over the full-resolution convolution output (5.5 MB
 * for the tutorial CNN's conv1 at batch 64) forward, and three streams over
 * it backward; after a 2x2 pool the same work touches a quarter of the
 * data.  The swap needs no new backend slot and runs on every backend.
 *
 * Why it changes no bit:
 *  - forward: ReLU is monotonic, so max over a window of relu(x) equals
 *    relu(max over the window of x), exactly.
 *  - backward: pool2d_backward sends a window's gradient to its first
 *    maximum.  If the window's maximum is > 0, the first maximum of relu(x)
 *    and of x is the same element (positive values are unchanged by ReLU),
 *    and the ReLU mask there is 1 in both orders.  If it is <= 0, the
 *    original order sends the gradient to an element with x <= 0, whose
 *    ReLU mask then zeroes it; the swapped order masks it to zero first.
 *    Every element with x > 0 therefore receives the same contributions in
 *    the same order, and every other element gets zero.
 *  - the ReLU mask is taken from the pooled output (relu(m) > 0 iff m > 0).
 *
 * What it gives up: the ReLU layer's own output is never written, so the
 * swap is off while a hook observes every layer or while a pass reads
 * intermediate outputs (model->keep_outputs), and mlopt_model_set_rewrites
 * turns it off. */
#include "model.h"

int mlopt_model_swap_allowed(const mlopt_model *m)
{
    return !m->hook && !m->keep_outputs && !m->no_rewrites;
}

void mlopt_model_set_rewrites(mlopt_model *m, int on)
{
    m->no_rewrites = !on;
}

int mlopt_model_swaps_relu_pool(const mlopt_model *m, int i)
{
    if (i < 1 || i + 1 >= m->nlayers)
        return 0;
    const mlopt_layer *act = &m->layers[i], *pool = &m->layers[i + 1];
    if (act->spec.kind != MLOPT_LAYER_ACTIVATION || act->spec.act != MLOPT_ACT_RELU ||
        pool->spec.kind != MLOPT_LAYER_MAXPOOL2D)
        return 0;
    /* Only where some earlier layer computes something: otherwise nothing
     * needs the gradient the swapped backward produces. */
    for (int j = 0; j < i; j++)
        if (!m->layers[j].ops->aliases_input)
            return 1;
    return 0;
}

mlopt_status mlopt_model_relu_pool_forward(mlopt_model *m, int i, const mlopt_layer_io *io)
{
    /* io describes the pool layer i + 1, with x already the ReLU's input. */
    mlopt_layer *pool = &m->layers[i + 1];
    TRY(pool->ops->forward(pool, m->ctx, io));
    size_t n = mlopt_shape_numel(pool->out_ndim, pool->out) * (size_t)io->batch;
    return BE_CALL(m->ctx, act_forward, MLOPT_ACT_RELU, 0.0f, 0.0f, n, io->y, io->y);
}

mlopt_status mlopt_model_relu_pool_backward(mlopt_model *m, int i, const mlopt_layer_io *io, mlopt_ref scratch)
{
    /* io: the pool layer's x (the ReLU's input), y (pooled, after ReLU), dy
     * and dx (the gradient of the ReLU's input); scratch holds the masked
     * pooled gradient and may not overlap dx. */
    mlopt_layer *pool = &m->layers[i + 1];
    size_t n = mlopt_shape_numel(pool->out_ndim, pool->out) * (size_t)io->batch;
    TRY(BE_CALL(m->ctx, act_backward, MLOPT_ACT_RELU, 0.0f, 0.0f, n, io->y, io->y, io->dy, scratch));
    mlopt_layer_io pio = *io;
    pio.dy = scratch;
    return pool->ops->backward(pool, m->ctx, &pio);
}
