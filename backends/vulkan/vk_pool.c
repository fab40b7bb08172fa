/* 2-D pooling (max, average with and without padding in the divisor). */
#include "vk_internal.h"

static int pool_check(mlopt_backend_ctx *ctx, const char *slot, int mode,
                      const mlopt_pool2d_params *p)
{
    if (!p)
        return vk_fail(ctx, "%s: NULL params", slot);
    if (mode < MLOPT_POOL_MAX || mode > MLOPT_POOL_AVG_INCL_PAD)
        return vk_fail(ctx, "%s: unknown pooling mode %d", slot, mode);
    if (p->n < 0 || p->c < 0 || p->h <= 0 || p->w <= 0 || p->kh <= 0 || p->kw <= 0 ||
        p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0 ||
        p->dil_h <= 0 || p->dil_w <= 0 || p->oh <= 0 || p->ow <= 0)
        return vk_fail(ctx, "%s: invalid geometry (h=%d w=%d kh=%d kw=%d oh=%d ow=%d)", slot,
                       p->h, p->w, p->kh, p->kw, p->oh, p->ow);
    return 0;
}

static void geometry(const mlopt_pool2d_params *p, uint32_t *g)
{
    g[0] = (uint32_t)p->h;
    g[1] = (uint32_t)p->w;
    g[2] = (uint32_t)p->kh;
    g[3] = (uint32_t)p->kw;
    g[4] = (uint32_t)p->stride_h;
    g[5] = (uint32_t)p->stride_w;
    g[6] = (uint32_t)p->pad_h;
    g[7] = (uint32_t)p->pad_w;
    g[8] = (uint32_t)p->dil_h;
    g[9] = (uint32_t)p->dil_w;
    g[10] = (uint32_t)p->oh;
    g[11] = (uint32_t)p->ow;
}

int vk_pool2d_forward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                      mlopt_ref x, mlopt_ref y)
{
    const char *slot = "pool2d_forward";
    if (vk_enter(ctx) || pool_check(ctx, slot, mode, p))
        return 1;
    size_t planes = (size_t)p->n * (size_t)p->c;
    size_t total = planes * (size_t)p->oh * (size_t)p->ow;
    if (vk_ref_check(ctx, slot, "x", x, planes * (size_t)p->h * (size_t)p->w * 4) ||
        vk_ref_check(ctx, slot, "y", y, total * 4))
        return 1;
    uint32_t params[14] = {(uint32_t)total, (uint32_t)mode};
    geometry(p, params + 2);
    mlopt_ref refs[2] = {x, y};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_pool_fwd, spec, 1, refs, 2, params, sizeof params,
                       vk_groups_1d(ctx, total), 1, 1);
}

int vk_pool2d_backward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                       mlopt_ref x, mlopt_ref dy, mlopt_ref dx)
{
    const char *slot = "pool2d_backward";
    if (vk_enter(ctx) || pool_check(ctx, slot, mode, p))
        return 1;
    size_t planes = (size_t)p->n * (size_t)p->c;
    size_t total = planes * (size_t)p->h * (size_t)p->w;
    if ((mode == MLOPT_POOL_MAX && vk_ref_check(ctx, slot, "x", x, total * 4)) ||
        vk_ref_check(ctx, slot, "dy", dy, planes * (size_t)p->oh * (size_t)p->ow * 4) ||
        vk_ref_check(ctx, slot, "dx", dx, total * 4))
        return 1;
    uint32_t params[14] = {(uint32_t)total, (uint32_t)mode};
    geometry(p, params + 2);
    mlopt_ref refs[3] = {x.buf ? x : dy, dy, dx};
    uint32_t spec[1] = {ctx->wg};
    /* Windows that cannot overlap (each spans at most one stride): zero dx,
     * then every output scatters into its own window; a quarter of the
     * gather's work for the usual 2x2/2 pooling. */
    int disjoint = p->dil_h * (p->kh - 1) < p->stride_h && p->dil_w * (p->kw - 1) < p->stride_w;
    if (disjoint) {
        size_t outs = planes * (size_t)p->oh * (size_t)p->ow;
        params[0] = (uint32_t)outs;
        return vk_fill(ctx, dx, 0.0f, total) ||
               vk_dispatch(ctx, VK_SHADER_pool_bwd_disjoint, spec, 1, refs, 3, params,
                           sizeof params, vk_groups_1d(ctx, outs), 1, 1);
    }
    return vk_dispatch(ctx, VK_SHADER_pool_bwd, spec, 1, refs, 3, params, sizeof params,
                       vk_groups_1d(ctx, total), 1, 1);
}
