/* Elementwise slots: add, sub, mul, axpy, scale, mask_mul. */
#include "vk_internal.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_AXPY, OP_SCALE, OP_MASK_MUL };

static int elementwise(mlopt_backend_ctx *ctx, const char *slot, int op, size_t n, float alpha,
                       mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    if (vk_enter(ctx))
        return 1;
    if (n > 0xffffffffu)
        return vk_fail(ctx, "%s: %zu elements exceed the 2^32 a kernel can index", slot, n);
    int uses_b = op <= OP_MUL;
    if (vk_ref_check(ctx, slot, op == OP_MASK_MUL ? "mask" : op >= OP_AXPY ? "x" : "a", a, n * 4) ||
        (uses_b && vk_ref_check(ctx, slot, "b", b, n * 4)) ||
        vk_ref_check(ctx, slot, op == OP_MASK_MUL ? "w" : "y", y, n * 4))
        return 1;
    if (!n)
        return 0;
    uint32_t params[2] = {(uint32_t)n, vk_f2u(alpha)};
    mlopt_ref refs[3] = {a, uses_b ? b : a, y};
    uint32_t spec[2] = {ctx->wg, (uint32_t)op};
    return vk_dispatch(ctx, VK_SHADER_elementwise, spec, 2, refs, 3, params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}

int vk_add(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return elementwise(ctx, "add", OP_ADD, n, 0.0f, a, b, y);
}

int vk_sub(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return elementwise(ctx, "sub", OP_SUB, n, 0.0f, a, b, y);
}

int vk_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return elementwise(ctx, "mul", OP_MUL, n, 0.0f, a, b, y);
}

int vk_axpy(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    return elementwise(ctx, "axpy", OP_AXPY, n, alpha, x, x, y);
}

int vk_scale(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    return elementwise(ctx, "scale", OP_SCALE, n, alpha, x, x, y);
}

int vk_mask_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w)
{
    return elementwise(ctx, "mask_mul", OP_MASK_MUL, n, 0.0f, mask, mask, w);
}
