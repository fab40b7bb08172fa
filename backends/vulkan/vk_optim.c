/* Optimizer updates: SGD (PyTorch semantics) and Adam/AdamW. */
#include <math.h>

#include "vk_internal.h"

int vk_sgd_update(mlopt_backend_ctx *ctx, size_t n, float lr, float momentum, float dampening,
                  float weight_decay, int nesterov, int first, mlopt_ref w, mlopt_ref g,
                  mlopt_ref v)
{
    const char *slot = "sgd_update";
    if (vk_enter(ctx))
        return 1;
    if (n > 0xffffffffu)
        return vk_fail(ctx, "%s: %zu elements exceed the 2^32 a kernel can index", slot, n);
    if (vk_ref_check(ctx, slot, "w", w, n * 4) || vk_ref_check(ctx, slot, "g", g, n * 4) ||
        (momentum != 0.0f && vk_ref_check(ctx, slot, "v", v, n * 4)))
        return 1;
    if (!n)
        return 0;
    uint32_t params[7] = {(uint32_t)n, vk_f2u(lr), vk_f2u(momentum), vk_f2u(dampening),
                          vk_f2u(weight_decay), nesterov ? 1u : 0u, first ? 1u : 0u};
    mlopt_ref refs[3] = {w, g, v.buf ? v : g};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_sgd, spec, 1, refs, 3, params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}

int vk_adam_update(mlopt_backend_ctx *ctx, size_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, int decoupled, int step, mlopt_ref w,
                   mlopt_ref g, mlopt_ref m, mlopt_ref v)
{
    const char *slot = "adam_update";
    if (vk_enter(ctx))
        return 1;
    if (n > 0xffffffffu)
        return vk_fail(ctx, "%s: %zu elements exceed the 2^32 a kernel can index", slot, n);
    if (step < 1)
        return vk_fail(ctx, "%s: step must be >= 1, got %d", slot, step);
    if (vk_ref_check(ctx, slot, "w", w, n * 4) || vk_ref_check(ctx, slot, "g", g, n * 4) ||
        vk_ref_check(ctx, slot, "m", m, n * 4) || vk_ref_check(ctx, slot, "v", v, n * 4))
        return 1;
    if (!n)
        return 0;
    float bc1 = (float)(1.0 - pow((double)beta1, step));
    float bc2 = (float)(1.0 - pow((double)beta2, step));
    uint32_t params[9] = {(uint32_t)n, vk_f2u(lr), vk_f2u(beta1), vk_f2u(beta2), vk_f2u(eps),
                          vk_f2u(weight_decay), decoupled ? 1u : 0u, vk_f2u(bc1), vk_f2u(bc2)};
    mlopt_ref refs[4] = {w, g, m, v};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_adam, spec, 1, refs, 4, params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}
