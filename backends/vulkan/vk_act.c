/* Activations, bias, dropout. */
#include "vk_internal.h"

static int check_n(mlopt_backend_ctx *ctx, const char *slot, size_t n)
{
    if (n > 0xffffffffu)
        return vk_fail(ctx, "%s: %zu elements exceed the 2^32 a kernel can index", slot, n);
    return 0;
}

int vk_act_forward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                   mlopt_ref x, mlopt_ref y)
{
    const char *slot = "act_forward";
    if (vk_enter(ctx) || check_n(ctx, slot, n))
        return 1;
    if (act < 0 || act >= MLOPT_ACT_COUNT_)
        return vk_fail(ctx, "%s: unknown activation %d", slot, act);
    if (vk_ref_check(ctx, slot, "x", x, n * 4) || vk_ref_check(ctx, slot, "y", y, n * 4))
        return 1;
    uint32_t params[3] = {(uint32_t)n, vk_f2u(alpha), vk_f2u(beta)};
    mlopt_ref refs[2] = {x, y};
    uint32_t spec[2] = {ctx->wg, (uint32_t)act};
    return vk_dispatch(ctx, VK_SHADER_act_fwd, spec, 2, refs, 2, params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}

int vk_act_backward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                    mlopt_ref x, mlopt_ref y, mlopt_ref dy, mlopt_ref dx)
{
    const char *slot = "act_backward";
    if (vk_enter(ctx) || check_n(ctx, slot, n))
        return 1;
    if (act < 0 || act >= MLOPT_ACT_COUNT_)
        return vk_fail(ctx, "%s: unknown activation %d", slot, act);
    /* The derivative is computed from x; y is accepted but not needed. */
    if (vk_ref_check(ctx, slot, "x", x, n * 4) || vk_ref_check(ctx, slot, "dy", dy, n * 4) ||
        vk_ref_check(ctx, slot, "dx", dx, n * 4))
        return 1;
    uint32_t params[3] = {(uint32_t)n, vk_f2u(alpha), vk_f2u(beta)};
    mlopt_ref refs[4] = {x, y.buf ? y : x, dy, dx};
    uint32_t spec[2] = {ctx->wg, (uint32_t)act};
    return vk_dispatch(ctx, VK_SHADER_act_bwd, spec, 2, refs, 4, params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}

int vk_bias_add_internal(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x,
                         mlopt_ref bias)
{
    size_t total = (size_t)n * (size_t)c * (size_t)inner;
    uint32_t params[3] = {(uint32_t)total, (uint32_t)c, (uint32_t)inner};
    mlopt_ref refs[2] = {x, bias};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_bias_add, spec, 1, refs, 2, params, sizeof params,
                       vk_groups_1d(ctx, total), 1, 1);
}

int vk_bias_grad_internal(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy,
                          mlopt_ref dbias)
{
    uint32_t params[3] = {(uint32_t)n, (uint32_t)c, (uint32_t)inner};
    mlopt_ref refs[2] = {dy, dbias};
    uint32_t spec[1] = {ctx->wg}, gx, gy;
    vk_row_groups((uint32_t)c, &gx, &gy);
    return vk_dispatch(ctx, VK_SHADER_bias_grad, spec, 1, refs, 2, params, sizeof params, gx,
                       gy, 1);
}

static int bias_check(mlopt_backend_ctx *ctx, const char *slot, int n, int c, int inner,
                      const char *xname, mlopt_ref x, mlopt_ref bias)
{
    if (n < 0 || c < 0 || inner < 0)
        return vk_fail(ctx, "%s: negative size (n=%d c=%d inner=%d)", slot, n, c, inner);
    size_t total = (size_t)n * (size_t)c * (size_t)inner;
    if (check_n(ctx, slot, total))
        return 1;
    return vk_ref_check(ctx, slot, xname, x, total * 4) ||
           vk_ref_check(ctx, slot, "bias", bias, (size_t)c * 4);
}

int vk_bias_add(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias)
{
    if (vk_enter(ctx) || bias_check(ctx, "bias_add", n, c, inner, "x", x, bias))
        return 1;
    return vk_bias_add_internal(ctx, n, c, inner, x, bias);
}

int vk_bias_grad(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy, mlopt_ref dbias)
{
    if (vk_enter(ctx) || bias_check(ctx, "bias_grad", n, c, inner, "dy", dy, dbias))
        return 1;
    return vk_bias_grad_internal(ctx, n, c, inner, dy, dbias);
}

int vk_dropout_forward(mlopt_backend_ctx *ctx, size_t n, float p, uint32_t seed, mlopt_ref x,
                       mlopt_ref y, mlopt_ref mask)
{
    const char *slot = "dropout_forward";
    if (vk_enter(ctx) || check_n(ctx, slot, n))
        return 1;
    if (!(p >= 0.0f && p <= 1.0f))
        return vk_fail(ctx, "%s: p=%g outside [0, 1]", slot, (double)p);
    if (vk_ref_check(ctx, slot, "x", x, n * 4) || vk_ref_check(ctx, slot, "y", y, n * 4) ||
        vk_ref_check(ctx, slot, "mask", mask, n * 4))
        return 1;
    /* Same float expressions as the C reference: u24 >= p * 2^24, 1/(1-p). */
    float threshold = p * 16777216.0f;
    float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    uint32_t params[4] = {(uint32_t)n, seed, vk_f2u(threshold), vk_f2u(keep_scale)};
    mlopt_ref refs[3] = {x, y, mask};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_dropout, spec, 1, refs, 3, params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}
