/* Batch normalization (x viewed as [n][c][inner]). */
#include "vk_internal.h"

static int bn_sizes(mlopt_backend_ctx *ctx, const char *slot, int n, int c, int inner,
                    size_t *total)
{
    if (n < 0 || c < 0 || inner < 0)
        return vk_fail(ctx, "%s: negative size (n=%d c=%d inner=%d)", slot, n, c, inner);
    *total = (size_t)n * (size_t)c * (size_t)inner;
    if (*total > 0xffffffffu)
        return vk_fail(ctx, "%s: tensor too large for one kernel", slot);
    return 0;
}

int vk_batchnorm_forward_train(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                               float momentum, mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                               mlopt_ref y, mlopt_ref running_mean, mlopt_ref running_var,
                               mlopt_ref save_mean, mlopt_ref save_invstd)
{
    const char *slot = "batchnorm_forward_train";
    size_t total, cb = (size_t)c * 4;
    if (vk_enter(ctx) || bn_sizes(ctx, slot, n, c, inner, &total) ||
        vk_ref_check(ctx, slot, "x", x, total * 4) || vk_ref_check(ctx, slot, "y", y, total * 4) ||
        vk_ref_check(ctx, slot, "gamma", gamma, cb) || vk_ref_check(ctx, slot, "beta", beta, cb) ||
        vk_ref_check(ctx, slot, "running_mean", running_mean, cb) ||
        vk_ref_check(ctx, slot, "running_var", running_var, cb) ||
        vk_ref_check(ctx, slot, "save_mean", save_mean, cb) ||
        vk_ref_check(ctx, slot, "save_invstd", save_invstd, cb))
        return 1;
    if (!n || !inner)
        return vk_fail(ctx, "%s: batch statistics of an empty batch (n=%d inner=%d)", slot, n,
                       inner);
    uint32_t params[5] = {(uint32_t)n, (uint32_t)c, (uint32_t)inner, vk_f2u(eps),
                          vk_f2u(momentum)};
    mlopt_ref refs[8] = {x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd};
    uint32_t spec[1] = {ctx->wg}, gx, gy;
    vk_row_groups((uint32_t)c, &gx, &gy);
    return vk_dispatch(ctx, VK_SHADER_bn_fwd_train, spec, 1, refs, 8, params, sizeof params,
                       gx, gy, 1);
}

int vk_batchnorm_forward_eval(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                              mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                              mlopt_ref running_mean, mlopt_ref running_var, mlopt_ref y)
{
    const char *slot = "batchnorm_forward_eval";
    size_t total, cb = (size_t)c * 4;
    if (vk_enter(ctx) || bn_sizes(ctx, slot, n, c, inner, &total) ||
        vk_ref_check(ctx, slot, "x", x, total * 4) || vk_ref_check(ctx, slot, "y", y, total * 4) ||
        vk_ref_check(ctx, slot, "gamma", gamma, cb) || vk_ref_check(ctx, slot, "beta", beta, cb) ||
        vk_ref_check(ctx, slot, "running_mean", running_mean, cb) ||
        vk_ref_check(ctx, slot, "running_var", running_var, cb))
        return 1;
    uint32_t params[4] = {(uint32_t)total, (uint32_t)c, (uint32_t)(inner ? inner : 1),
                          vk_f2u(eps)};
    mlopt_ref refs[6] = {x, gamma, beta, running_mean, running_var, y};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_bn_fwd_eval, spec, 1, refs, 6, params, sizeof params,
                       vk_groups_1d(ctx, total), 1, 1);
}

int vk_batchnorm_backward(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x,
                          mlopt_ref dy, mlopt_ref gamma, mlopt_ref save_mean,
                          mlopt_ref save_invstd, mlopt_ref dx, mlopt_ref dgamma,
                          mlopt_ref dbeta)
{
    const char *slot = "batchnorm_backward";
    size_t total, cb = (size_t)c * 4;
    if (vk_enter(ctx) || bn_sizes(ctx, slot, n, c, inner, &total) ||
        vk_ref_check(ctx, slot, "x", x, total * 4) ||
        vk_ref_check(ctx, slot, "dy", dy, total * 4) ||
        vk_ref_check(ctx, slot, "dx", dx, total * 4) ||
        vk_ref_check(ctx, slot, "gamma", gamma, cb) ||
        vk_ref_check(ctx, slot, "save_mean", save_mean, cb) ||
        vk_ref_check(ctx, slot, "save_invstd", save_invstd, cb) ||
        vk_ref_check(ctx, slot, "dgamma", dgamma, cb) ||
        vk_ref_check(ctx, slot, "dbeta", dbeta, cb))
        return 1;
    uint32_t params[3] = {(uint32_t)n, (uint32_t)c, (uint32_t)inner};
    mlopt_ref refs[8] = {x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta};
    uint32_t spec[1] = {ctx->wg}, gx, gy;
    vk_row_groups((uint32_t)c, &gx, &gy);
    return vk_dispatch(ctx, VK_SHADER_bn_bwd, spec, 1, refs, 8, params, sizeof params, gx, gy, 1);
}
