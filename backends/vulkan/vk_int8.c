/* Int8 inference and fake quantization (ABI 1.1): qgemm, qconv2d, qmaxpool,
 * quantize, dequantize, fake_quant.  Exact 32-bit integer arithmetic in the
 * shaders (the 64-bit requantization product via imulExtended), so the
 * results are the bytes of backend.h's formulas, as on the CPU reference. */
#include <limits.h>

#include "vk_internal.h"


/* Per-channel int32 tensors: bias (optional), mult, shift. */
static int check_channels(mlopt_backend_ctx *ctx, const char *slot, size_t count,
                          mlopt_ref bias, mlopt_ref mult, mlopt_ref shift)
{
    return (bias.buf && vk_ref_check(ctx, slot, "bias", bias, count * 4)) ||
           vk_ref_check(ctx, slot, "mult", mult, count * 4) ||
           vk_ref_check(ctx, slot, "shift", shift, count * 4);
}

static int zp_ok(int zp) { return zp >= -128 && zp <= 127; }

int vk_qgemm(mlopt_backend_ctx *ctx, int m, int n, int k, mlopt_ref a, int lda, int a_zp,
             mlopt_ref b, int ldb, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int c_zp,
             int relu, mlopt_ref c, int ldc)
{
    const char *slot = "qgemm";
    if (vk_enter(ctx))
        return 1;
    if (m < 0 || n < 0 || k < 0 || lda < k || ldb < k || ldc < n || !zp_ok(a_zp) || !zp_ok(c_zp))
        return vk_fail(ctx, "%s: invalid arguments (m=%d n=%d k=%d lda=%d ldb=%d ldc=%d a_zp=%d "
                            "c_zp=%d)", slot, m, n, k, lda, ldb, ldc, a_zp, c_zp);
    if (!m || !n)
        return 0;
    if (vk_ref_check(ctx, slot, "a", a, (size_t)(m - 1) * (size_t)lda + (size_t)k) ||
        vk_ref_check(ctx, slot, "b", b, (size_t)(n - 1) * (size_t)ldb + (size_t)k) ||
        vk_ref_check(ctx, slot, "c", c, (size_t)(m - 1) * (size_t)ldc + (size_t)n) ||
        check_channels(ctx, slot, (size_t)n, bias, mult, shift))
        return 1;
    uint32_t ngroups = ((uint32_t)n + 3) / 4;
    size_t total = (size_t)m * ngroups;
    if (total > UINT32_MAX || (size_t)m * (size_t)lda > UINT32_MAX / 2 ||
        (size_t)n * (size_t)ldb > UINT32_MAX / 2 || (size_t)m * (size_t)ldc > UINT32_MAX / 2)
        return vk_fail(ctx, "%s: %dx%dx%d is too large for 32-bit indexing", slot, m, n, k);
    struct {
        uint32_t m, n, k, lda, ldb, ldc, ngroups, total;
        int32_t a_zp, c_zp, has_bias, relu;
    } params = {(uint32_t)m, (uint32_t)n, (uint32_t)k, (uint32_t)lda, (uint32_t)ldb,
                (uint32_t)ldc, ngroups, (uint32_t)total, a_zp, c_zp, bias.buf != NULL, relu != 0};
    mlopt_ref refs[6] = {a, b, bias, mult, shift, c};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_qgemm, spec, 1, refs, 6, &params, sizeof params,
                       vk_groups_1d(ctx, total), 1, 1);
}

int vk_qconv2d(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int x_zp,
               mlopt_ref w, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int y_zp, int relu,
               mlopt_ref y)
{
    const char *slot = "qconv2d";
    if (vk_enter(ctx))
        return 1;
    if (!p)
        return vk_fail(ctx, "%s: NULL params", slot);
    if (p->n < 0 || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->k <= 0 || p->r <= 0 || p->s <= 0 ||
        p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0 || p->dil_h <= 0 ||
        p->dil_w <= 0 || p->groups <= 0 || p->c % p->groups || p->k % p->groups || p->oh <= 0 ||
        p->ow <= 0 || !zp_ok(x_zp) || !zp_ok(y_zp))
        return vk_fail(ctx, "%s: invalid geometry (c=%d h=%d w=%d k=%d r=%d s=%d groups=%d "
                            "oh=%d ow=%d x_zp=%d y_zp=%d)", slot, p->c, p->h, p->w, p->k, p->r,
                       p->s, p->groups, p->oh, p->ow, x_zp, y_zp);
    size_t nx = (size_t)p->n * (size_t)p->c * (size_t)p->h * (size_t)p->w;
    size_t nw = (size_t)p->k * (size_t)(p->c / p->groups) * (size_t)p->r * (size_t)p->s;
    size_t ny = (size_t)p->n * (size_t)p->k * (size_t)p->oh * (size_t)p->ow;
    if (!ny)
        return 0;
    if (vk_ref_check(ctx, slot, "x", x, nx) || vk_ref_check(ctx, slot, "w", w, nw) ||
        vk_ref_check(ctx, slot, "y", y, ny) ||
        check_channels(ctx, slot, (size_t)p->k, bias, mult, shift))
        return 1;
    if (nx > INT32_MAX || nw > INT32_MAX || ny > UINT32_MAX - 4)
        return vk_fail(ctx, "%s: tensors too large for 32-bit indexing", slot);
    size_t words = (ny + 3) / 4;
    struct {
        uint32_t total, words;
        int32_t x_zp, y_zp, has_bias, relu;
        int32_t C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G, OH, OW;
    } params = {(uint32_t)ny, (uint32_t)words, x_zp, y_zp, bias.buf != NULL, relu != 0,
                p->c, p->h, p->w, p->k, p->r, p->s, p->stride_h, p->stride_w, p->pad_h,
                p->pad_w, p->dil_h, p->dil_w, p->groups, p->oh, p->ow};
    mlopt_ref refs[6] = {x, w, bias, mult, shift, y};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_qconv2d, spec, 1, refs, 6, &params, sizeof params,
                       vk_groups_1d(ctx, words), 1, 1);
}

int vk_qmaxpool(mlopt_backend_ctx *ctx, const mlopt_pool2d_params *p, mlopt_ref x, mlopt_ref y)
{
    const char *slot = "qmaxpool";
    if (vk_enter(ctx))
        return 1;
    if (!p)
        return vk_fail(ctx, "%s: NULL params", slot);
    if (p->n < 0 || p->c < 0 || p->h <= 0 || p->w <= 0 || p->kh <= 0 || p->kw <= 0 ||
        p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0 ||
        p->dil_h <= 0 || p->dil_w <= 0 || p->oh <= 0 || p->ow <= 0)
        return vk_fail(ctx, "%s: invalid geometry (h=%d w=%d kh=%d kw=%d oh=%d ow=%d)", slot,
                       p->h, p->w, p->kh, p->kw, p->oh, p->ow);
    size_t planes = (size_t)p->n * (size_t)p->c;
    size_t nx = planes * (size_t)p->h * (size_t)p->w;
    size_t ny = planes * (size_t)p->oh * (size_t)p->ow;
    if (!ny)
        return 0;
    if (vk_ref_check(ctx, slot, "x", x, nx) || vk_ref_check(ctx, slot, "y", y, ny))
        return 1;
    if (nx > UINT32_MAX / 2 || ny > UINT32_MAX - 4)
        return vk_fail(ctx, "%s: tensors too large for 32-bit indexing", slot);
    size_t words = (ny + 3) / 4;
    struct {
        uint32_t total, words;
        int32_t H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW;
    } params = {(uint32_t)ny, (uint32_t)words, p->h, p->w, p->kh, p->kw, p->stride_h,
                p->stride_w, p->pad_h, p->pad_w, p->dil_h, p->dil_w, p->oh, p->ow};
    mlopt_ref refs[2] = {x, y};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_qmaxpool, spec, 1, refs, 2, &params, sizeof params,
                       vk_groups_1d(ctx, words), 1, 1);
}

int vk_quantize(mlopt_backend_ctx *ctx, size_t n, float inv_scale, int zp, mlopt_ref x,
                mlopt_ref y)
{
    const char *slot = "quantize";
    if (vk_enter(ctx))
        return 1;
    if (!zp_ok(zp))
        return vk_fail(ctx, "%s: zero point %d outside [-128, 127]", slot, zp);
    if (!n)
        return 0;
    if (vk_ref_check(ctx, slot, "x", x, n * 4) || vk_ref_check(ctx, slot, "y", y, n))
        return 1;
    if (n > UINT32_MAX - 4)
        return vk_fail(ctx, "%s: n=%zu too large for 32-bit indexing", slot, n);
    size_t words = (n + 3) / 4;
    struct {
        uint32_t n, words;
        float inv;
        int32_t zp;
    } params = {(uint32_t)n, (uint32_t)words, inv_scale, zp};
    mlopt_ref refs[2] = {x, y};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_quantize, spec, 1, refs, 2, &params, sizeof params,
                       vk_groups_1d(ctx, words), 1, 1);
}

int vk_dequantize(mlopt_backend_ctx *ctx, size_t n, float scale, int zp, mlopt_ref x,
                  mlopt_ref y)
{
    const char *slot = "dequantize";
    if (vk_enter(ctx))
        return 1;
    if (!zp_ok(zp))
        return vk_fail(ctx, "%s: zero point %d outside [-128, 127]", slot, zp);
    if (!n)
        return 0;
    if (vk_ref_check(ctx, slot, "x", x, n) || vk_ref_check(ctx, slot, "y", y, n * 4))
        return 1;
    if (n > UINT32_MAX - 4)
        return vk_fail(ctx, "%s: n=%zu too large for 32-bit indexing", slot, n);
    struct {
        uint32_t n;
        float scale;
        int32_t zp;
    } params = {(uint32_t)n, scale, zp};
    mlopt_ref refs[2] = {x, y};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_dequantize, spec, 1, refs, 2, &params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}

int vk_fake_quant(mlopt_backend_ctx *ctx, size_t outer, int channels, size_t inner, int qmin,
                  int qmax, mlopt_ref scale, mlopt_ref inv_scale, mlopt_ref zp, mlopt_ref x,
                  mlopt_ref y, mlopt_ref mask)
{
    const char *slot = "fake_quant";
    if (vk_enter(ctx))
        return 1;
    if (channels <= 0 || qmin > qmax)
        return vk_fail(ctx, "%s: invalid arguments (channels=%d qmin=%d qmax=%d)", slot, channels,
                       qmin, qmax);
    size_t n = outer * (size_t)channels * inner;
    if (!n)
        return 0;
    if (vk_ref_check(ctx, slot, "scale", scale, (size_t)channels * 4) ||
        vk_ref_check(ctx, slot, "inv_scale", inv_scale, (size_t)channels * 4) ||
        vk_ref_check(ctx, slot, "zp", zp, (size_t)channels * 4) ||
        vk_ref_check(ctx, slot, "x", x, n * 4) || vk_ref_check(ctx, slot, "y", y, n * 4) ||
        (mask.buf && vk_ref_check(ctx, slot, "mask", mask, n * 4)))
        return 1;
    if (n > UINT32_MAX - 4 * (size_t)ctx->wg)
        return vk_fail(ctx, "%s: n=%zu too large for 32-bit indexing", slot, n);
    struct {
        uint32_t n, channels, inner;
        int32_t qmin, qmax, has_mask;
    } params = {(uint32_t)n, (uint32_t)channels, (uint32_t)inner, qmin, qmax, mask.buf != NULL};
    mlopt_ref refs[6] = {x, y, mask, scale, inv_scale, zp};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_fake_quant, spec, 1, refs, 6, &params, sizeof params,
                       vk_groups_1d(ctx, n), 1, 1);
}
