/* Reductions: reduce_sum, reduce_max_abs, channel_norm.  Long rows are
 * split over several workgroups writing partials to scratch, then reduced by
 * one workgroup per row; everything uses shared-memory trees. */
#include "vk_internal.h"

/* Elements per invocation before a row is split across workgroups. */
#define VK_REDUCE_PER_THREAD 8u
#define VK_REDUCE_MAX_PARTS 256u

int vk_reduce_rows(mlopt_backend_ctx *ctx, int mode, int sqrt_out, int accumulate,
                   uint32_t rows, uint32_t len, mlopt_ref x, mlopt_ref out)
{
    if (!rows)
        return 0;
    if (rows > ctx->props.limits.maxComputeWorkGroupCount[1])
        return vk_fail(ctx, "vulkan: %u rows exceed the device's workgroup count limit", rows);
    uint32_t spec[1] = {ctx->wg};
    uint32_t per_group = ctx->wg * VK_REDUCE_PER_THREAD;
    uint32_t parts = (len + per_group - 1) / per_group;
    if (parts > VK_REDUCE_MAX_PARTS)
        parts = VK_REDUCE_MAX_PARTS;
    if (parts > 1) {
        mlopt_ref partial;
        if (vk_scratch(ctx, VK_SCRATCH_PARTIAL, (size_t)rows * parts * 4, &partial))
            return 1;
        uint32_t p1[5] = {rows, len, (uint32_t)mode, 0, 0};
        mlopt_ref r1[2] = {x, partial};
        if (vk_dispatch(ctx, VK_SHADER_reduce, spec, 1, r1, 2, p1, sizeof p1, parts, rows, 1))
            return 1;
        /* Partials are non-negative for the abs/square modes: sum or max them. */
        uint32_t p2[5] = {rows, parts, mode == VK_RED_MAX_ABS ? VK_RED_MAX_ABS : VK_RED_SUM,
                          sqrt_out ? 1u : 0u, accumulate ? 1u : 0u};
        mlopt_ref r2[2] = {partial, out};
        return vk_dispatch(ctx, VK_SHADER_reduce, spec, 1, r2, 2, p2, sizeof p2, 1, rows, 1);
    }
    uint32_t p[5] = {rows, len, (uint32_t)mode, sqrt_out ? 1u : 0u, accumulate ? 1u : 0u};
    mlopt_ref r[2] = {x, out};
    return vk_dispatch(ctx, VK_SHADER_reduce, spec, 1, r, 2, p, sizeof p, 1, rows, 1);
}

static int reduce_all(mlopt_backend_ctx *ctx, const char *slot, int mode, size_t n, mlopt_ref x,
                      mlopt_ref out)
{
    if (vk_enter(ctx))
        return 1;
    if (n > 0xffffffffu)
        return vk_fail(ctx, "%s: %zu elements exceed the 2^32 a kernel can index", slot, n);
    if (vk_ref_check(ctx, slot, "x", x, n * 4) || vk_ref_check(ctx, slot, "out", out, 4))
        return 1;
    if (!n)
        return vk_fill(ctx, out, 0.0f, 1);
    return vk_reduce_rows(ctx, mode, 0, 0, 1, (uint32_t)n, x, out);
}

int vk_reduce_sum(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    return reduce_all(ctx, "reduce_sum", VK_RED_SUM, n, x, out);
}

int vk_reduce_max_abs(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    return reduce_all(ctx, "reduce_max_abs", VK_RED_MAX_ABS, n, x, out);
}

int vk_channel_norm(mlopt_backend_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out)
{
    const char *slot = "channel_norm";
    if (vk_enter(ctx))
        return 1;
    if (k < 0 || len < 0)
        return vk_fail(ctx, "%s: negative size (k=%d len=%d)", slot, k, len);
    if (p != 1 && p != 2)
        return vk_fail(ctx, "%s: p must be 1 or 2, got %d", slot, p);
    if (vk_ref_check(ctx, slot, "x", x, (size_t)k * (size_t)len * 4) ||
        vk_ref_check(ctx, slot, "out", out, (size_t)k * 4))
        return 1;
    if (!k)
        return 0;
    if (!len)
        return vk_fill(ctx, out, 0.0f, (size_t)k);
    return vk_reduce_rows(ctx, p == 1 ? VK_RED_SUM_ABS : VK_RED_SUM_SQ, p == 2, 0, (uint32_t)k,
                          (uint32_t)len, x, out);
}
