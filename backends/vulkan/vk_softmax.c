/* Softmax, losses (cross-entropy, KL), argmax, accuracy. */
#include "vk_internal.h"

static int rc_check(mlopt_backend_ctx *ctx, const char *slot, int rows, int cols)
{
    if (rows < 0 || cols < 0)
        return vk_fail(ctx, "%s: negative size (rows=%d cols=%d)", slot, rows, cols);
    if ((size_t)rows * (size_t)cols > 0xffffffffu)
        return vk_fail(ctx, "%s: tensor too large for one kernel", slot);
    return 0;
}

int vk_softmax_forward(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, int log_out,
                       mlopt_ref x, mlopt_ref y)
{
    const char *slot = "softmax_forward";
    size_t bytes = (size_t)rows * (size_t)cols * 4;
    if (vk_enter(ctx) || rc_check(ctx, slot, rows, cols) ||
        vk_ref_check(ctx, slot, "x", x, bytes) || vk_ref_check(ctx, slot, "y", y, bytes))
        return 1;
    if (!cols)
        return 0;
    uint32_t params[4] = {(uint32_t)rows, (uint32_t)cols, vk_f2u(inv_temp), log_out ? 1u : 0u};
    mlopt_ref refs[2] = {x, y};
    uint32_t spec[1] = {ctx->wg}, gx, gy;
    vk_row_groups((uint32_t)rows, &gx, &gy);
    return vk_dispatch(ctx, VK_SHADER_softmax, spec, 1, refs, 2, params, sizeof params, gx, gy,
                       1);
}

/* Per-row losses into scratch, then one workgroup adds them to loss_sum. */
static int softmax_loss(mlopt_backend_ctx *ctx, const char *slot, int mode, int rows, int cols,
                        float inv_temp, mlopt_ref logits, mlopt_ref aux, mlopt_ref loss_sum,
                        mlopt_ref dlogits, float grad_scale)
{
    size_t bytes = (size_t)rows * (size_t)cols * 4;
    if (vk_enter(ctx) || rc_check(ctx, slot, rows, cols) ||
        vk_ref_check(ctx, slot, "logits", logits, bytes) ||
        vk_ref_check(ctx, slot, mode ? "target_logits" : "labels", aux,
                     mode ? bytes : (size_t)rows * 4) ||
        vk_ref_check(ctx, slot, "loss_sum", loss_sum, 4) ||
        (dlogits.buf && vk_ref_check(ctx, slot, "dlogits", dlogits, bytes)))
        return 1;
    if (!rows)
        return 0;
    if (!cols)
        return vk_fail(ctx, "%s: cols must be positive", slot);
    mlopt_ref row_loss;
    if (vk_scratch(ctx, VK_SCRATCH_PARTIAL, (size_t)rows * 4, &row_loss))
        return 1;
    uint32_t params[6] = {(uint32_t)rows, (uint32_t)cols, vk_f2u(inv_temp), vk_f2u(grad_scale),
                          (uint32_t)mode, dlogits.buf ? 1u : 0u};
    mlopt_ref refs[4] = {logits, aux, row_loss, dlogits.buf ? dlogits : row_loss};
    uint32_t spec[1] = {ctx->wg}, gx, gy;
    vk_row_groups((uint32_t)rows, &gx, &gy);
    if (vk_dispatch(ctx, VK_SHADER_softmax_loss, spec, 1, refs, 4, params, sizeof params, gx,
                    gy, 1))
        return 1;
    /* One workgroup sums every row: deterministic and race-free. */
    uint32_t rparams[5] = {1, (uint32_t)rows, VK_RED_SUM, 0, 1};
    mlopt_ref rrefs[2] = {row_loss, loss_sum};
    return vk_dispatch(ctx, VK_SHADER_reduce, spec, 1, rrefs, 2, rparams, sizeof rparams, 1, 1,
                       1);
}

int vk_softmax_xent(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp,
                    mlopt_ref logits, mlopt_ref labels, mlopt_ref loss_sum, mlopt_ref dlogits,
                    float grad_scale)
{
    return softmax_loss(ctx, "softmax_xent", 0, rows, cols, inv_temp, logits, labels, loss_sum,
                        dlogits, grad_scale);
}

int vk_softmax_kl(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                  mlopt_ref target_logits, mlopt_ref loss_sum, mlopt_ref dlogits,
                  float grad_scale)
{
    return softmax_loss(ctx, "softmax_kl", 1, rows, cols, inv_temp, logits, target_logits,
                        loss_sum, dlogits, grad_scale);
}

int vk_argmax(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out)
{
    const char *slot = "argmax";
    if (vk_enter(ctx) || rc_check(ctx, slot, rows, cols) ||
        vk_ref_check(ctx, slot, "x", x, (size_t)rows * (size_t)cols * 4) ||
        vk_ref_check(ctx, slot, "out", out, (size_t)rows * 4))
        return 1;
    if (!rows)
        return 0;
    if (!cols)
        return vk_fail(ctx, "%s: cols must be positive", slot);
    uint32_t params[2] = {(uint32_t)rows, (uint32_t)cols};
    mlopt_ref refs[2] = {x, out};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_argmax, spec, 1, refs, 2, params, sizeof params,
                       vk_groups_1d(ctx, (size_t)rows), 1, 1);
}

int vk_accuracy_count(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref logits,
                      mlopt_ref labels, mlopt_ref count)
{
    const char *slot = "accuracy_count";
    if (vk_enter(ctx) || rc_check(ctx, slot, rows, cols) ||
        vk_ref_check(ctx, slot, "logits", logits, (size_t)rows * (size_t)cols * 4) ||
        vk_ref_check(ctx, slot, "labels", labels, (size_t)rows * 4) ||
        vk_ref_check(ctx, slot, "count", count, 4))
        return 1;
    if (!rows)
        return 0;
    if (!cols)
        return vk_fail(ctx, "%s: cols must be positive", slot);
    uint32_t params[2] = {(uint32_t)rows, (uint32_t)cols};
    mlopt_ref refs[3] = {logits, labels, count};
    uint32_t spec[1] = {ctx->wg};
    return vk_dispatch(ctx, VK_SHADER_accuracy, spec, 1, refs, 3, params, sizeof params, 1, 1, 1);
}
