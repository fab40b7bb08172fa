/* Convolution as im2col + GEMM (forward, backward-filter) and GEMM + col2im
 * (backward-data).  The column matrix lives in context scratch, grown as
 * needed; the batch is processed in chunks so that scratch stays bounded. */
#include "vk_internal.h"

/* Column scratch budget per chunk; one image's columns may exceed it. */
#define VK_COL_BUDGET (64u << 20)

typedef struct conv_dims {
    uint32_t G, cpg, kpg, CRS, P;
    size_t chw, col_per_image; /* floats */
} conv_dims;

static int conv_check(mlopt_backend_ctx *ctx, const char *slot, const mlopt_conv2d_params *p,
                      conv_dims *d)
{
    if (!p)
        return vk_fail(ctx, "%s: NULL params", slot);
    if (p->n < 0 || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->k <= 0 || p->r <= 0 ||
        p->s <= 0 || p->stride_h <= 0 || p->stride_w <= 0 || p->dil_h <= 0 || p->dil_w <= 0 ||
        p->pad_h < 0 || p->pad_w < 0 || p->oh <= 0 || p->ow <= 0 || p->groups <= 0)
        return vk_fail(ctx, "%s: invalid geometry (n=%d c=%d h=%d w=%d k=%d r=%d s=%d oh=%d "
                       "ow=%d groups=%d)", slot, p->n, p->c, p->h, p->w, p->k, p->r, p->s,
                       p->oh, p->ow, p->groups);
    if (p->c % p->groups || p->k % p->groups)
        return vk_fail(ctx, "%s: channels (c=%d, k=%d) not divisible by groups=%d", slot, p->c,
                       p->k, p->groups);
    d->G = (uint32_t)p->groups;
    d->cpg = (uint32_t)(p->c / p->groups);
    d->kpg = (uint32_t)(p->k / p->groups);
    d->CRS = d->cpg * (uint32_t)(p->r * p->s);
    d->P = (uint32_t)(p->oh * p->ow);
    d->chw = (size_t)p->c * (size_t)p->h * (size_t)p->w;
    d->col_per_image = (size_t)d->G * d->CRS * d->P;
    if (d->col_per_image * 4 > ctx->props.limits.maxStorageBufferRange)
        return vk_fail(ctx, "%s: one image's im2col matrix (%zu bytes) exceeds the device's "
                       "maxStorageBufferRange", slot, d->col_per_image * 4);
    return 0;
}

static int chunk_images(const conv_dims *d)
{
    size_t per = d->col_per_image * 4;
    size_t n = per ? VK_COL_BUDGET / per : 1;
    return n < 1 ? 1 : (n > 65535 ? 65535 : (int)n);
}

static mlopt_ref at(mlopt_ref r, size_t floats)
{
    r.offset += floats * 4;
    return r;
}

/* im2col (dir 0) or col2im (dir 1) for nb images; col element (n,g,crs,p)
 * lives at n*sN + g*sG + crs*sCRS + p. */
static int unfold(mlopt_backend_ctx *ctx, int dir, const mlopt_conv2d_params *p,
                  const conv_dims *d, int nb, mlopt_ref img, mlopt_ref col, uint32_t sN,
                  uint32_t sG, uint32_t sCRS)
{
    /* im2col: one invocation per (image, group, position); col2im: per dx element */
    size_t total = dir == 0 ? (size_t)nb * d->G * d->P : (size_t)nb * d->chw;
    uint32_t params[19] = {
        (uint32_t)total, (uint32_t)p->c, (uint32_t)p->h, (uint32_t)p->w, d->G, d->cpg,
        (uint32_t)p->r, (uint32_t)p->s, (uint32_t)p->stride_h, (uint32_t)p->stride_w,
        (uint32_t)p->pad_h, (uint32_t)p->pad_w, (uint32_t)p->dil_h, (uint32_t)p->dil_w,
        (uint32_t)p->oh, (uint32_t)p->ow, sN, sG, sCRS,
    };
    uint32_t spec[2] = {ctx->wg, p->stride_h == 1 && p->stride_w == 1};
    mlopt_ref refs[2];
    if (dir == 0) {
        refs[0] = img;
        refs[1] = col;
    } else {
        refs[0] = col;
        refs[1] = img;
    }
    return vk_dispatch(ctx, dir == 0 ? VK_SHADER_im2col : VK_SHADER_col2im, spec, dir == 0 ? 1 : 2,
                       refs, 2,
                       params, sizeof params, vk_groups_1d(ctx, total), 1, 1);
}

int vk_conv2d_forward(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                      mlopt_ref w, mlopt_ref bias, mlopt_ref y)
{
    const char *slot = "conv2d_forward";
    conv_dims d;
    if (vk_enter(ctx) || conv_check(ctx, slot, p, &d))
        return 1;
    size_t ysz = (size_t)p->n * (size_t)p->k * d.P;
    if (vk_ref_check(ctx, slot, "x", x, (size_t)p->n * d.chw * 4) ||
        vk_ref_check(ctx, slot, "w", w, (size_t)p->k * d.CRS * 4) ||
        vk_ref_check(ctx, slot, "y", y, ysz * 4) ||
        (bias.buf && vk_ref_check(ctx, slot, "bias", bias, (size_t)p->k * 4)))
        return 1;
    int chunk = chunk_images(&d);
    uint32_t sN = d.G * d.CRS * d.P, sG = d.CRS * d.P;
    for (int n0 = 0; n0 < p->n; n0 += chunk) {
        int nb = p->n - n0 < chunk ? p->n - n0 : chunk;
        mlopt_ref col;
        if (vk_scratch(ctx, VK_SCRATCH_COL, (size_t)nb * d.col_per_image * 4, &col) ||
            unfold(ctx, 0, p, &d, nb, at(x, (size_t)n0 * d.chw), col, sN, sG, d.P))
            return 1;
        for (uint32_t g = 0; g < d.G; g++)
            if (vk_gemm_batched(ctx, 0, 0, (int)d.kpg, (int)d.P, (int)d.CRS, 1.0f,
                                at(w, (size_t)g * d.kpg * d.CRS), (int)d.CRS, 0,
                                at(col, (size_t)g * sG), (int)d.P, sN, 0.0f,
                                at(y, ((size_t)n0 * (size_t)p->k + g * d.kpg) * d.P), (int)d.P,
                                (long long)p->k * d.P, nb))
                return 1;
    }
    if (bias.buf && p->n > 0)
        return vk_bias_add_internal(ctx, p->n, p->k, (int)d.P, y, bias);
    return 0;
}

int vk_conv2d_backward_data(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref dy,
                            mlopt_ref w, mlopt_ref dx)
{
    const char *slot = "conv2d_backward_data";
    conv_dims d;
    if (vk_enter(ctx) || conv_check(ctx, slot, p, &d))
        return 1;
    if (vk_ref_check(ctx, slot, "dy", dy, (size_t)p->n * (size_t)p->k * d.P * 4) ||
        vk_ref_check(ctx, slot, "w", w, (size_t)p->k * d.CRS * 4) ||
        vk_ref_check(ctx, slot, "dx", dx, (size_t)p->n * d.chw * 4))
        return 1;
    int chunk = chunk_images(&d);
    uint32_t sN = d.G * d.CRS * d.P, sG = d.CRS * d.P;
    for (int n0 = 0; n0 < p->n; n0 += chunk) {
        int nb = p->n - n0 < chunk ? p->n - n0 : chunk;
        mlopt_ref col;
        if (vk_scratch(ctx, VK_SCRATCH_COL, (size_t)nb * d.col_per_image * 4, &col))
            return 1;
        /* col_g = W_g^T dy_g per image */
        for (uint32_t g = 0; g < d.G; g++)
            if (vk_gemm_batched(ctx, 1, 0, (int)d.CRS, (int)d.P, (int)d.kpg, 1.0f,
                                at(w, (size_t)g * d.kpg * d.CRS), (int)d.CRS, 0,
                                at(dy, ((size_t)n0 * (size_t)p->k + g * d.kpg) * d.P), (int)d.P,
                                (long long)p->k * d.P, 0.0f, at(col, (size_t)g * sG), (int)d.P,
                                sN, nb))
                return 1;
        if (unfold(ctx, 1, p, &d, nb, at(dx, (size_t)n0 * d.chw), col, sN, sG, d.P))
            return 1;
    }
    return 0;
}

int vk_conv2d_backward_filter(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p,
                              mlopt_ref x, mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias)
{
    const char *slot = "conv2d_backward_filter";
    conv_dims d;
    if (vk_enter(ctx) || conv_check(ctx, slot, p, &d))
        return 1;
    if (vk_ref_check(ctx, slot, "x", x, (size_t)p->n * d.chw * 4) ||
        vk_ref_check(ctx, slot, "dy", dy, (size_t)p->n * (size_t)p->k * d.P * 4) ||
        vk_ref_check(ctx, slot, "dw", dw, (size_t)p->k * d.CRS * 4) ||
        (dbias.buf && vk_ref_check(ctx, slot, "dbias", dbias, (size_t)p->k * 4)))
        return 1;
    if (p->n == 0) {
        if (vk_fill(ctx, dw, 0.0f, (size_t)p->k * d.CRS))
            return 1;
        return dbias.buf ? vk_fill(ctx, dbias, 0.0f, (size_t)p->k) : 0;
    }
    /* Per chunk: columns as [G][CRS][nb*P] and dy permuted to [K][nb*P], so
     * that one GEMM per group reduces over images and positions at once.
     * The output dW is small (K x CRS: few tiles) while the reduction is
     * long (nb*P), so the reduction is split by images into S slices run
     * as one batched GEMM into scratch, then summed: enough workgroups to
     * fill the device without atomics. */
    int chunk = chunk_images(&d);
    size_t wsize = (size_t)p->k * d.CRS;
    uint32_t spec[1] = {ctx->wg};
    for (int n0 = 0; n0 < p->n; n0 += chunk) {
        int nb = p->n - n0 < chunk ? p->n - n0 : chunk;
        uint32_t np = (uint32_t)nb * d.P;
        uint32_t tiles = ((d.kpg + 63) / 64) * ((d.CRS + 63) / 64);
        int slices = 1;
        while (nb % (slices * 2) == 0 && tiles * (uint32_t)slices < 64 &&
               (uint32_t)(nb / (slices * 2)) * d.P >= 256)
            slices *= 2;
        uint32_t kslice = (uint32_t)(nb / slices) * d.P;
        mlopt_ref col, dyp, part = dw;
        if (vk_scratch(ctx, VK_SCRATCH_COL, (size_t)nb * d.col_per_image * 4, &col) ||
            vk_scratch(ctx, VK_SCRATCH_PERMUTE, (size_t)nb * (size_t)p->k * d.P * 4, &dyp) ||
            (slices > 1 && vk_scratch(ctx, VK_SCRATCH_SPLIT, (size_t)slices * wsize * 4, &part)) ||
            unfold(ctx, 0, p, &d, nb, at(x, (size_t)n0 * d.chw), col, d.P, d.CRS * np, np))
            return 1;
        size_t total = (size_t)nb * (size_t)p->k * d.P;
        uint32_t params[4] = {(uint32_t)nb, (uint32_t)p->k, d.P, (uint32_t)total};
        mlopt_ref refs[2] = {at(dy, (size_t)n0 * (size_t)p->k * d.P), dyp};
        if (vk_dispatch(ctx, VK_SHADER_permute_nchw, spec, 1, refs, 2, params, sizeof params,
                        vk_groups_1d(ctx, total), 1, 1))
            return 1;
        /* Without slices the GEMM accumulates across chunks itself. */
        float beta = slices == 1 && n0 > 0 ? 1.0f : 0.0f;
        for (uint32_t g = 0; g < d.G; g++)
            if (vk_gemm_batched(ctx, 0, 1, (int)d.kpg, (int)d.CRS, (int)kslice, 1.0f,
                                at(dyp, (size_t)g * d.kpg * np), (int)np, kslice,
                                at(col, (size_t)g * d.CRS * np), (int)np, kslice, beta,
                                at(part, (size_t)g * d.kpg * d.CRS), (int)d.CRS,
                                (long long)wsize, slices))
                return 1;
        if (slices > 1) {
            uint32_t sp[3] = {(uint32_t)wsize, (uint32_t)slices, n0 > 0 ? 1u : 0u};
            mlopt_ref sr[2] = {part, dw};
            if (vk_dispatch(ctx, VK_SHADER_sum_slices, spec, 1, sr, 2, sp, sizeof sp,
                            vk_groups_1d(ctx, wsize), 1, 1))
                return 1;
        }
    }
    if (dbias.buf)
        return vk_bias_grad_internal(ctx, p->n, p->k, (int)d.P, dy, dbias);
    return 0;
}
