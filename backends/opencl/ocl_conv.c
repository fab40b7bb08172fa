/* Convolutions lowered to im2col/col2im kernels plus CLBlast GEMMs.  The
 * column matrix of a chunk of images lives in a context scratch buffer. */
#include <limits.h>

#include "ocl_internal.h"

typedef struct conv_dims {
    int cg, kg;           /* channels per group in / out */
    size_t crs, crs_g;    /* rows of the column matrix (all groups / one group) */
    size_t ohw, chw, kohw;
} conv_dims;

static int conv_check(ocl_ctx *ctx, const mlopt_conv2d_params *p, const char *slot, conv_dims *d)
{
    if (p->n < 0 || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->k <= 0 || p->r <= 0 || p->s <= 0 ||
        p->stride_h <= 0 || p->stride_w <= 0 || p->dil_h <= 0 || p->dil_w <= 0 ||
        p->pad_h < 0 || p->pad_w < 0 || p->oh <= 0 || p->ow <= 0 || p->groups <= 0)
        return ocl_fail(ctx, "%s: invalid convolution geometry", slot);
    if (p->c % p->groups || p->k % p->groups)
        return ocl_fail(ctx, "%s: groups=%d must divide c=%d and k=%d", slot, p->groups, p->c,
                        p->k);
    d->cg = p->c / p->groups;
    d->kg = p->k / p->groups;
    d->crs = (size_t)p->c * p->r * p->s;
    d->crs_g = (size_t)d->cg * p->r * p->s;
    d->ohw = (size_t)p->oh * p->ow;
    d->chw = (size_t)p->c * p->h * p->w;
    d->kohw = (size_t)p->k * d->ohw;
    if ((size_t)p->n * d->chw > INT_MAX || (size_t)p->n * d->kohw > INT_MAX ||
        d->crs * d->ohw > INT_MAX)
        return ocl_fail(ctx, "%s: tensors beyond 2^31 elements are not supported", slot);
    return 0;
}

/* Images per chunk so that the column matrix stays bounded. */
static int chunk_images(ocl_ctx *ctx, const mlopt_conv2d_params *p, const conv_dims *d)
{
    size_t per_image = d->crs * d->ohw;
    size_t cap = ctx->col_max_floats;
    if (ctx->max_alloc && ctx->max_alloc / 4 < cap)
        cap = ctx->max_alloc / 4;
    size_t nb = per_image ? cap / per_image : 1;
    if (nb < 1)
        nb = 1;
    if (nb > (size_t)p->n)
        nb = (size_t)p->n;
    return (int)nb;
}

static int launch_im2col(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int b0, int nb,
                         int row_stride, int b_stride)
{
    ocl_args a = ocl_args_begin(ctx, OCL_K_im2col);
    ocl_arg_mem(&a, x.buf->mem);
    ocl_arg_int(&a, (int)(x.offset / 4 + (size_t)b0 * p->c * p->h * p->w));
    ocl_arg_mem(&a, ctx->col.mem);
    ocl_arg_int(&a, 0);
    int geom[] = {nb, p->c, p->h, p->w, p->r, p->s, p->stride_h, p->stride_w, p->pad_h,
                  p->pad_w, p->dil_h, p->dil_w, p->oh, p->ow, row_stride, b_stride};
    for (size_t i = 0; i < sizeof geom / sizeof geom[0]; i++)
        ocl_arg_int(&a, geom[i]);
    return ocl_launch_elementwise(&a, (size_t)nb * p->c * p->r * p->s * p->oh * p->ow);
}

int ocl_conv2d_forward(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, mlopt_ref w,
                       mlopt_ref bias, mlopt_ref y)
{
    conv_dims d;
    const char *slot = "conv2d_forward";
    if (conv_check(ctx, p, slot, &d) ||
        ocl_check_ref(ctx, x, (size_t)p->n * d.chw, slot, "x") ||
        ocl_check_ref(ctx, w, (size_t)p->k * d.crs_g, slot, "w") ||
        ocl_check_ref(ctx, y, (size_t)p->n * d.kohw, slot, "y") ||
        (bias.buf && ocl_check_ref(ctx, bias, (size_t)p->k, slot, "bias")))
        return 1;
    if (p->n == 0)
        return 0;
    int nb = chunk_images(ctx, p, &d);
    if (ocl_ensure_scratch(ctx, &ctx->col, (size_t)nb * d.crs * d.ohw * 4, "im2col"))
        return 1;
    for (int b0 = 0; b0 < p->n; b0 += nb) {
        int nbc = p->n - b0 < nb ? p->n - b0 : nb;
        /* per-image column blocks [b][crs][ohw] */
        if (launch_im2col(ctx, p, x, b0, nbc, (int)d.ohw, (int)(d.crs * d.ohw)))
            return 1;
        for (int g = 0; g < p->groups; g++) {
            /* y[b][g] (kg x ohw) = W[g] (kg x crs_g) * col[b][g]; W shared: stride 0 */
            if (ocl_gemm_elems(ctx, 0, 0, d.kg, (int)d.ohw, (int)d.crs_g, 1.0f, w.buf->mem,
                               w.offset / 4 + (size_t)g * d.kg * d.crs_g, (int)d.crs_g, 0,
                               ctx->col.mem, (size_t)g * d.crs_g * d.ohw, (int)d.ohw,
                               (long long)(d.crs * d.ohw), 0.0f, y.buf->mem,
                               y.offset / 4 + (size_t)b0 * d.kohw + (size_t)g * d.kg * d.ohw,
                               (int)d.ohw, (long long)d.kohw, nbc, slot))
                return 1;
        }
    }
    if (bias.buf)
        return ocl_bias_add(ctx, p->n, p->k, (int)d.ohw, y, bias);
    return 0;
}

int ocl_conv2d_backward_data(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref dy,
                             mlopt_ref w, mlopt_ref dx)
{
    conv_dims d;
    const char *slot = "conv2d_backward_data";
    if (conv_check(ctx, p, slot, &d) ||
        ocl_check_ref(ctx, dy, (size_t)p->n * d.kohw, slot, "dy") ||
        ocl_check_ref(ctx, w, (size_t)p->k * d.crs_g, slot, "w") ||
        ocl_check_ref(ctx, dx, (size_t)p->n * d.chw, slot, "dx"))
        return 1;
    if (p->n == 0)
        return 0;
    int nb = chunk_images(ctx, p, &d);
    if (ocl_ensure_scratch(ctx, &ctx->col, (size_t)nb * d.crs * d.ohw * 4, "col2im"))
        return 1;
    for (int b0 = 0; b0 < p->n; b0 += nb) {
        int nbc = p->n - b0 < nb ? p->n - b0 : nb;
        for (int g = 0; g < p->groups; g++) {
            /* col[b][g] (crs_g x ohw) = W[g]^T * dy[b][g] (kg x ohw) */
            if (ocl_gemm_elems(ctx, 1, 0, (int)d.crs_g, (int)d.ohw, d.kg, 1.0f, w.buf->mem,
                               w.offset / 4 + (size_t)g * d.kg * d.crs_g, (int)d.crs_g, 0,
                               dy.buf->mem,
                               dy.offset / 4 + (size_t)b0 * d.kohw + (size_t)g * d.kg * d.ohw,
                               (int)d.ohw, (long long)d.kohw, 0.0f, ctx->col.mem,
                               (size_t)g * d.crs_g * d.ohw, (int)d.ohw,
                               (long long)(d.crs * d.ohw), nbc, slot))
                return 1;
        }
        ocl_args a = ocl_args_begin(ctx, OCL_K_col2im);
        ocl_arg_mem(&a, ctx->col.mem);
        ocl_arg_int(&a, 0);
        ocl_arg_mem(&a, dx.buf->mem);
        ocl_arg_int(&a, (int)(dx.offset / 4 + (size_t)b0 * d.chw));
        int geom[] = {nbc, p->c, p->h, p->w, p->r, p->s, p->stride_h, p->stride_w,
                      p->pad_h, p->pad_w, p->dil_h, p->dil_w, p->oh, p->ow};
        for (size_t i = 0; i < sizeof geom / sizeof geom[0]; i++)
            ocl_arg_int(&a, geom[i]);
        if (ocl_launch_elementwise(&a, (size_t)nbc * d.chw))
            return 1;
    }
    return 0;
}

int ocl_conv2d_backward_filter(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                               mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias)
{
    conv_dims d;
    const char *slot = "conv2d_backward_filter";
    if (conv_check(ctx, p, slot, &d) ||
        ocl_check_ref(ctx, x, (size_t)p->n * d.chw, slot, "x") ||
        ocl_check_ref(ctx, dy, (size_t)p->n * d.kohw, slot, "dy") ||
        ocl_check_ref(ctx, dw, (size_t)p->k * d.crs_g, slot, "dw") ||
        (dbias.buf && ocl_check_ref(ctx, dbias, (size_t)p->k, slot, "dbias")))
        return 1;
    if (p->n == 0) {
        if (ocl_fill(ctx, dw, 0.0f, (size_t)p->k * d.crs_g))
            return 1;
        return dbias.buf ? ocl_fill(ctx, dbias, 0.0f, (size_t)p->k) : 0;
    }
    int nb = chunk_images(ctx, p, &d);
    if (ocl_ensure_scratch(ctx, &ctx->col, (size_t)nb * d.crs * d.ohw * 4, "im2col") ||
        ocl_ensure_scratch(ctx, &ctx->aux, (size_t)nb * d.kohw * 4, "dy transpose"))
        return 1;
    for (int b0 = 0; b0 < p->n; b0 += nb) {
        int nbc = p->n - b0 < nb ? p->n - b0 : nb;
        int wide = (int)((size_t)nbc * d.ohw); /* images side by side */
        /* one wide column matrix [crs][nbc*ohw] and dy as [k][nbc*ohw] */
        if (launch_im2col(ctx, p, x, b0, nbc, wide, (int)d.ohw))
            return 1;
        ocl_args a = ocl_args_begin(ctx, OCL_K_transpose_batch_rows);
        ocl_arg_mem(&a, dy.buf->mem);
        ocl_arg_int(&a, (int)(dy.offset / 4 + (size_t)b0 * d.kohw));
        ocl_arg_mem(&a, ctx->aux.mem);
        ocl_arg_int(&a, 0);
        ocl_arg_int(&a, nbc);
        ocl_arg_int(&a, p->k);
        ocl_arg_int(&a, (int)d.ohw);
        if (ocl_launch_elementwise(&a, (size_t)nbc * d.kohw))
            return 1;
        /* dw[g] (kg x crs_g) (+)= dyT[g] (kg x wide) * col[g]^T, batched over groups */
        if (ocl_gemm_elems(ctx, 0, 1, d.kg, (int)d.crs_g, wide, 1.0f, ctx->aux.mem, 0, wide,
                           (long long)d.kg * wide, ctx->col.mem, 0, wide,
                           (long long)(d.crs_g * (size_t)wide), b0 == 0 ? 0.0f : 1.0f,
                           dw.buf->mem, dw.offset / 4, (int)d.crs_g,
                           (long long)(d.kg * d.crs_g), p->groups, slot))
            return 1;
    }
    if (dbias.buf)
        return ocl_bias_grad(ctx, p->n, p->k, (int)d.ohw, dy, dbias);
    return 0;
}
