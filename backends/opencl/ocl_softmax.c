/* Softmax, losses, argmax and accuracy slots: one work-group per row. */
#include <limits.h>

#include "ocl_internal.h"

static int rows_check(ocl_ctx *ctx, int rows, int cols, const char *slot)
{
    if (rows < 0 || cols <= 0)
        return ocl_fail(ctx, "%s: invalid shape rows=%d cols=%d", slot, rows, cols);
    if ((size_t)rows * cols > INT_MAX)
        return ocl_fail(ctx, "%s: tensors beyond 2^31 elements are not supported", slot);
    return 0;
}

/* out[0] += sum of the rows' partials, by one work-group (race-free). */
static int accumulate_partials(ocl_ctx *ctx, int rows, mlopt_ref out)
{
    size_t wg = ctx->kernel_wg[OCL_K_accumulate_sum];
    ocl_args a = ocl_args_begin(ctx, OCL_K_accumulate_sum);
    ocl_arg_mem(&a, ctx->partials.mem);
    ocl_arg_int(&a, rows);
    ocl_arg_ref(&a, out);
    ocl_arg_local(&a, wg * sizeof(float));
    return ocl_launch(&a, wg, wg);
}

int ocl_softmax_forward(ocl_ctx *ctx, int rows, int cols, float inv_temp, int log_out,
                        mlopt_ref x, mlopt_ref y)
{
    const char *slot = "softmax_forward";
    if (rows_check(ctx, rows, cols, slot))
        return 1;
    if (rows == 0)
        return 0;
    size_t total = (size_t)rows * cols;
    if (ocl_check_ref(ctx, x, total, slot, "x") || ocl_check_ref(ctx, y, total, slot, "y"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_softmax_rows];
    ocl_args a = ocl_args_begin(ctx, OCL_K_softmax_rows);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_int(&a, cols);
    ocl_arg_float(&a, inv_temp);
    ocl_arg_int(&a, log_out != 0);
    ocl_arg_local(&a, wg * sizeof(float));
    return ocl_launch(&a, (size_t)rows * wg, wg);
}

int ocl_softmax_xent(ocl_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                     mlopt_ref labels, mlopt_ref loss_sum, mlopt_ref dlogits, float grad_scale)
{
    const char *slot = "softmax_xent";
    if (rows_check(ctx, rows, cols, slot))
        return 1;
    if (rows == 0)
        return 0;
    size_t total = (size_t)rows * cols;
    if (ocl_check_ref(ctx, logits, total, slot, "logits") ||
        ocl_check_ref(ctx, labels, (size_t)rows, slot, "labels") ||
        ocl_check_ref(ctx, loss_sum, 1, slot, "loss_sum") ||
        (dlogits.buf && ocl_check_ref(ctx, dlogits, total, slot, "dlogits")) ||
        ocl_ensure_scratch(ctx, &ctx->partials, (size_t)rows * sizeof(float), "loss partials"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_softmax_xent_rows];
    ocl_args a = ocl_args_begin(ctx, OCL_K_softmax_xent_rows);
    ocl_arg_ref(&a, logits);
    ocl_arg_ref(&a, labels);
    ocl_arg_mem(&a, ctx->bad_label);
    ocl_arg_mem(&a, ctx->partials.mem);
    ocl_arg_ref(&a, dlogits);
    ocl_arg_int(&a, dlogits.buf != NULL);
    ocl_arg_int(&a, cols);
    ocl_arg_float(&a, inv_temp);
    ocl_arg_float(&a, grad_scale);
    ocl_arg_local(&a, wg * sizeof(float));
    if (ocl_launch(&a, (size_t)rows * wg, wg))
        return 1;
    ctx->bad_label_armed = 1;
    ctx->bad_label_cols = cols;
    return accumulate_partials(ctx, rows, loss_sum);
}

int ocl_softmax_kl(ocl_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                   mlopt_ref target_logits, mlopt_ref loss_sum, mlopt_ref dlogits,
                   float grad_scale)
{
    const char *slot = "softmax_kl";
    if (rows_check(ctx, rows, cols, slot))
        return 1;
    if (rows == 0)
        return 0;
    size_t total = (size_t)rows * cols;
    if (ocl_check_ref(ctx, logits, total, slot, "logits") ||
        ocl_check_ref(ctx, target_logits, total, slot, "target_logits") ||
        ocl_check_ref(ctx, loss_sum, 1, slot, "loss_sum") ||
        (dlogits.buf && ocl_check_ref(ctx, dlogits, total, slot, "dlogits")) ||
        ocl_ensure_scratch(ctx, &ctx->partials, (size_t)rows * sizeof(float), "loss partials"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_softmax_kl_rows];
    ocl_args a = ocl_args_begin(ctx, OCL_K_softmax_kl_rows);
    ocl_arg_ref(&a, logits);
    ocl_arg_ref(&a, target_logits);
    ocl_arg_mem(&a, ctx->partials.mem);
    ocl_arg_ref(&a, dlogits);
    ocl_arg_int(&a, dlogits.buf != NULL);
    ocl_arg_int(&a, cols);
    ocl_arg_float(&a, inv_temp);
    ocl_arg_float(&a, grad_scale);
    ocl_arg_local(&a, wg * sizeof(float));
    if (ocl_launch(&a, (size_t)rows * wg, wg))
        return 1;
    return accumulate_partials(ctx, rows, loss_sum);
}

int ocl_argmax(ocl_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out)
{
    const char *slot = "argmax";
    if (rows_check(ctx, rows, cols, slot))
        return 1;
    if (rows == 0)
        return 0;
    if (ocl_check_ref(ctx, x, (size_t)rows * cols, slot, "x") ||
        ocl_check_ref(ctx, out, (size_t)rows, slot, "out"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_argmax_rows];
    ocl_args a = ocl_args_begin(ctx, OCL_K_argmax_rows);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, out);
    ocl_arg_int(&a, cols);
    ocl_arg_local(&a, wg * sizeof(float));
    ocl_arg_local(&a, wg * sizeof(int));
    return ocl_launch(&a, (size_t)rows * wg, wg);
}

int ocl_accuracy_count(ocl_ctx *ctx, int rows, int cols, mlopt_ref logits, mlopt_ref labels,
                       mlopt_ref count)
{
    const char *slot = "accuracy_count";
    if (rows_check(ctx, rows, cols, slot))
        return 1;
    if (rows == 0)
        return 0;
    if (ocl_check_ref(ctx, logits, (size_t)rows * cols, slot, "logits") ||
        ocl_check_ref(ctx, labels, (size_t)rows, slot, "labels") ||
        ocl_check_ref(ctx, count, 1, slot, "count") ||
        ocl_ensure_scratch(ctx, &ctx->partials, (size_t)rows * sizeof(float), "accuracy partials"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_accuracy_rows];
    ocl_args a = ocl_args_begin(ctx, OCL_K_accuracy_rows);
    ocl_arg_ref(&a, logits);
    ocl_arg_ref(&a, labels);
    ocl_arg_mem(&a, ctx->partials.mem);
    ocl_arg_int(&a, cols);
    ocl_arg_local(&a, wg * sizeof(float));
    ocl_arg_local(&a, wg * sizeof(int));
    if (ocl_launch(&a, (size_t)rows * wg, wg))
        return 1;
    return accumulate_partials(ctx, rows, count);
}
