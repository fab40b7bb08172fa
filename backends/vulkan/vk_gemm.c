/* GEMM slots: one tiled shader, tile sizes specialized per device. */
#include <stdio.h>
#include <stdlib.h>

#include "vk_internal.h"

void vk_gemm_choose_tiles(mlopt_backend_ctx *ctx)
{
    uint32_t max_inv = ctx->props.limits.maxComputeWorkGroupInvocations;
    /* Large tiles: 64x64x16 with 4x4 register blocks = 256 invocations
     * (8x4 blocks = 128 where only the guaranteed 128 are allowed), the usual
     * safe middle ground on GPUs.  On lavapipe (CPU) 64x128x8 with 4x8 blocks
     * measured best: 3.3 GFLOP/s at 256^3 and 512^3 against 2.1-2.4 for
     * 64x64, 1.3 for 128x128/8x8, 1.8-2.0 for 32-wide tiles. */
    if (ctx->info.type == MLOPT_DEVICE_SOFTWARE && max_inv >= 256)
        ctx->gemm_big = (vk_gemm_tiles){64, 128, 8, 4, 8};
    else
        ctx->gemm_big = (vk_gemm_tiles){64, 64, 16, 4, 4};
    if (max_inv < 256)
        ctx->gemm_big.tm = 8;
    /* Small problems (few output tiles) get 32x32 tiles: more workgroups.
     * Register blocks are vec4-based, so tm and tn are multiples of 4. */
    ctx->gemm_small = (vk_gemm_tiles){32, 32, 16, 4, 4};
    /* Tuning override: MLOPT_VULKAN_GEMM_TILES=bm,bn,bk,tm,tn (both configs). */
    const char *env = getenv("MLOPT_VULKAN_GEMM_TILES");
    vk_gemm_tiles t;
    if (env && sscanf(env, "%u,%u,%u,%u,%u", &t.bm, &t.bn, &t.bk, &t.tm, &t.tn) == 5 && t.tm &&
        t.tn && t.tm % 4 == 0 && t.tn % 4 == 0 && t.bm % t.tm == 0 && t.bn % t.tn == 0 &&
        (t.bm / t.tm) * (t.bn / t.tn) <= max_inv)
        ctx->gemm_big = ctx->gemm_small = t;
}

int vk_gemm_batched(mlopt_backend_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
                    mlopt_ref a, int lda, long long sa, mlopt_ref b, int ldb, long long sb,
                    float beta, mlopt_ref c, int ldc, long long sc, int batch)
{
    if (m <= 0 || n <= 0 || batch <= 0)
        return 0;
    const vk_gemm_tiles *big = &ctx->gemm_big;
    size_t big_tiles = (size_t)((m + (int)big->bm - 1) / (int)big->bm) *
                       (size_t)((n + (int)big->bn - 1) / (int)big->bn) * (size_t)batch;
    const vk_gemm_tiles *t = big_tiles >= 8 ? big : &ctx->gemm_small;
    uint32_t threads = (t->bm / t->tm) * (t->bn / t->tn);
    uint32_t spec[8] = {threads, t->bm, t->bn, t->bk, t->tm, t->tn, ta ? 1u : 0u, tb ? 1u : 0u};
    mlopt_ref refs[3] = {a, b, c};
    uint32_t gx = (uint32_t)((n + (int)t->bn - 1) / (int)t->bn);
    uint32_t gy = (uint32_t)((m + (int)t->bm - 1) / (int)t->bm);
    uint32_t zmax = ctx->props.limits.maxComputeWorkGroupCount[2];
    for (int b0 = 0; b0 < batch; b0 += (int)zmax) {
        int nb = batch - b0 < (int)zmax ? batch - b0 : (int)zmax;
        mlopt_ref ra = a, rb = b, rc = c;
        ra.offset += (size_t)(sa * b0) * 4;
        rb.offset += (size_t)(sb * b0) * 4;
        rc.offset += (size_t)(sc * b0) * 4;
        refs[0] = ra;
        refs[1] = rb;
        refs[2] = rc;
        uint32_t params[11] = {
            (uint32_t)m, (uint32_t)n, (uint32_t)k, (uint32_t)lda, (uint32_t)ldb, (uint32_t)ldc,
            (uint32_t)sa, (uint32_t)sb, (uint32_t)sc, vk_f2u(alpha), vk_f2u(beta),
        };
        if (vk_dispatch(ctx, VK_SHADER_gemm, spec, 8, refs, 3, params, sizeof params, gx, gy,
                        (uint32_t)nb))
            return 1;
    }
    return 0;
}

/* Bytes spanned by a row-major matrix of rows x cols with row stride ld. */
static size_t mat_bytes(int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    return ((size_t)(rows - 1) * (size_t)ld + (size_t)cols) * 4;
}

static int check_gemm(mlopt_backend_ctx *ctx, const char *slot, int ta, int tb, int m, int n,
                      int k, mlopt_ref a, int lda, long long sa, mlopt_ref b, int ldb,
                      long long sb, mlopt_ref c, int ldc, long long sc, int batch)
{
    if (m < 0 || n < 0 || k < 0 || batch < 0)
        return vk_fail(ctx, "%s: negative size (m=%d n=%d k=%d batch=%d)", slot, m, n, k, batch);
    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    if (lda < ac || ldb < bc || ldc < n)
        return vk_fail(ctx, "%s: leading dimension too small (lda=%d ldb=%d ldc=%d)", slot, lda,
                       ldb, ldc);
    if (sa < 0 || sb < 0 || sc < 0)
        return vk_fail(ctx, "%s: negative batch stride", slot);
    size_t last = batch > 0 ? (size_t)(batch - 1) : 0;
    if (m == 0 || n == 0 || batch == 0)
        return 0;
    if ((k > 0 && vk_ref_check(ctx, slot, "A", a, (size_t)sa * 4 * last + mat_bytes(ar, ac, lda))) ||
        (k > 0 && vk_ref_check(ctx, slot, "B", b, (size_t)sb * 4 * last + mat_bytes(br, bc, ldb))) ||
        vk_ref_check(ctx, slot, "C", c, (size_t)sc * 4 * last + mat_bytes(m, n, ldc)))
        return 1;
    if ((size_t)sa * last + (size_t)(ar > 0 ? ar : 1) * (size_t)lda > 0xffffffffu ||
        (size_t)sb * last + (size_t)(br > 0 ? br : 1) * (size_t)ldb > 0xffffffffu ||
        (size_t)sc * last + (size_t)m * (size_t)ldc > 0xffffffffu)
        return vk_fail(ctx, "%s: operands span more than 2^32 floats", slot);
    return 0;
}

int vk_gemm(mlopt_backend_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
            mlopt_ref a, int lda, mlopt_ref b, int ldb, float beta, mlopt_ref c, int ldc)
{
    if (vk_enter(ctx) ||
        check_gemm(ctx, "gemm", ta, tb, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, 1))
        return 1;
    if (k == 0) /* C = beta C, no A/B reads */
        alpha = 0.0f;
    if (k == 0 && !a.buf)
        a = c;
    if (k == 0 && !b.buf)
        b = c;
    return vk_gemm_batched(ctx, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

int vk_gemm_strided_batched(mlopt_backend_ctx *ctx, int ta, int tb, int m, int n, int k,
                            float alpha, mlopt_ref a, int lda, long long sa, mlopt_ref b,
                            int ldb, long long sb, float beta, mlopt_ref c, int ldc,
                            long long sc, int batch)
{
    if (vk_enter(ctx) || check_gemm(ctx, "gemm_strided_batched", ta, tb, m, n, k, a, lda, sa,
                                    b, ldb, sb, c, ldc, sc, batch))
        return 1;
    if (k == 0)
        alpha = 0.0f;
    if (k == 0 && !a.buf)
        a = c;
    if (k == 0 && !b.buf)
        b = c;
    return vk_gemm_batched(ctx, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc,
                           sc, batch);
}
