/* Bias and batch-normalization slots over [n][c][inner]. */
#include <limits.h>

#include "ocl_internal.h"

static int nci_check(ocl_ctx *ctx, int n, int c, int inner, const char *slot)
{
    if (n < 0 || c < 0 || inner < 0)
        return ocl_fail(ctx, "%s: negative shape n=%d c=%d inner=%d", slot, n, c, inner);
    if ((size_t)n * c * inner > INT_MAX)
        return ocl_fail(ctx, "%s: tensors beyond 2^31 elements are not supported", slot);
    return 0;
}

static int check_optional(ocl_ctx *ctx, mlopt_ref r, size_t floats, const char *slot,
                          const char *arg)
{
    return r.buf ? ocl_check_ref(ctx, r, floats, slot, arg) : 0;
}

int ocl_bias_add(ocl_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias)
{
    const char *slot = "bias_add";
    size_t total = (size_t)n * c * inner;
    if (nci_check(ctx, n, c, inner, slot))
        return 1;
    if (total == 0)
        return 0;
    if (ocl_check_ref(ctx, x, total, slot, "x") || ocl_check_ref(ctx, bias, (size_t)c, slot, "bias"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_bias_add);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, bias);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, c);
    ocl_arg_int(&a, inner);
    return ocl_launch_elementwise(&a, total);
}

int ocl_bias_grad(ocl_ctx *ctx, int n, int c, int inner, mlopt_ref dy, mlopt_ref dbias)
{
    const char *slot = "bias_grad";
    if (nci_check(ctx, n, c, inner, slot))
        return 1;
    if (c == 0)
        return 0;
    if (ocl_check_ref(ctx, dbias, (size_t)c, slot, "dbias") ||
        ((size_t)n * inner != 0 && ocl_check_ref(ctx, dy, (size_t)n * c * inner, slot, "dy")))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_bias_grad];
    ocl_args a = ocl_args_begin(ctx, OCL_K_bias_grad);
    ocl_arg_ref(&a, dy);
    ocl_arg_ref(&a, dbias);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, c);
    ocl_arg_int(&a, inner);
    ocl_arg_local(&a, wg * sizeof(float));
    return ocl_launch(&a, (size_t)c * wg, wg);
}

int ocl_batchnorm_forward_train(ocl_ctx *ctx, int n, int c, int inner, float eps,
                                float momentum, mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                                mlopt_ref y, mlopt_ref running_mean, mlopt_ref running_var,
                                mlopt_ref save_mean, mlopt_ref save_invstd)
{
    const char *slot = "batchnorm_forward_train";
    size_t total = (size_t)n * c * inner;
    if (nci_check(ctx, n, c, inner, slot))
        return 1;
    if (c == 0)
        return 0;
    if ((size_t)n * inner == 0)
        return ocl_fail(ctx, "%s: no elements per channel (n=%d inner=%d)", slot, n, inner);
    int has_running = running_mean.buf && running_var.buf;
    int has_save = save_mean.buf && save_invstd.buf;
    if (ocl_check_ref(ctx, x, total, slot, "x") || ocl_check_ref(ctx, y, total, slot, "y") ||
        check_optional(ctx, gamma, (size_t)c, slot, "gamma") ||
        check_optional(ctx, beta, (size_t)c, slot, "beta") ||
        check_optional(ctx, running_mean, (size_t)c, slot, "running_mean") ||
        check_optional(ctx, running_var, (size_t)c, slot, "running_var") ||
        check_optional(ctx, save_mean, (size_t)c, slot, "save_mean") ||
        check_optional(ctx, save_invstd, (size_t)c, slot, "save_invstd"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_batchnorm_train];
    ocl_args a = ocl_args_begin(ctx, OCL_K_batchnorm_train);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, gamma);
    ocl_arg_int(&a, gamma.buf != NULL);
    ocl_arg_ref(&a, beta);
    ocl_arg_int(&a, beta.buf != NULL);
    ocl_arg_ref(&a, y);
    ocl_arg_ref(&a, running_mean);
    ocl_arg_ref(&a, running_var);
    ocl_arg_int(&a, has_running);
    ocl_arg_ref(&a, save_mean);
    ocl_arg_ref(&a, save_invstd);
    ocl_arg_int(&a, has_save);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, c);
    ocl_arg_int(&a, inner);
    ocl_arg_float(&a, eps);
    ocl_arg_float(&a, momentum);
    ocl_arg_local(&a, wg * sizeof(float));
    return ocl_launch(&a, (size_t)c * wg, wg);
}

int ocl_batchnorm_forward_eval(ocl_ctx *ctx, int n, int c, int inner, float eps, mlopt_ref x,
                               mlopt_ref gamma, mlopt_ref beta, mlopt_ref running_mean,
                               mlopt_ref running_var, mlopt_ref y)
{
    const char *slot = "batchnorm_forward_eval";
    size_t total = (size_t)n * c * inner;
    if (nci_check(ctx, n, c, inner, slot))
        return 1;
    if (total == 0)
        return 0;
    if (ocl_check_ref(ctx, x, total, slot, "x") || ocl_check_ref(ctx, y, total, slot, "y") ||
        check_optional(ctx, gamma, (size_t)c, slot, "gamma") ||
        check_optional(ctx, beta, (size_t)c, slot, "beta") ||
        ocl_check_ref(ctx, running_mean, (size_t)c, slot, "running_mean") ||
        ocl_check_ref(ctx, running_var, (size_t)c, slot, "running_var"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_batchnorm_eval);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, gamma);
    ocl_arg_int(&a, gamma.buf != NULL);
    ocl_arg_ref(&a, beta);
    ocl_arg_int(&a, beta.buf != NULL);
    ocl_arg_ref(&a, running_mean);
    ocl_arg_ref(&a, running_var);
    ocl_arg_ref(&a, y);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, c);
    ocl_arg_int(&a, inner);
    ocl_arg_float(&a, eps);
    return ocl_launch_elementwise(&a, total);
}

int ocl_batchnorm_backward(ocl_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref dy,
                           mlopt_ref gamma, mlopt_ref save_mean, mlopt_ref save_invstd,
                           mlopt_ref dx, mlopt_ref dgamma, mlopt_ref dbeta)
{
    const char *slot = "batchnorm_backward";
    size_t total = (size_t)n * c * inner;
    if (nci_check(ctx, n, c, inner, slot))
        return 1;
    if (c == 0)
        return 0;
    if ((size_t)n * inner == 0)
        return ocl_fail(ctx, "%s: no elements per channel (n=%d inner=%d)", slot, n, inner);
    if (ocl_check_ref(ctx, x, total, slot, "x") || ocl_check_ref(ctx, dy, total, slot, "dy") ||
        check_optional(ctx, gamma, (size_t)c, slot, "gamma") ||
        ocl_check_ref(ctx, save_mean, (size_t)c, slot, "save_mean") ||
        ocl_check_ref(ctx, save_invstd, (size_t)c, slot, "save_invstd") ||
        check_optional(ctx, dx, total, slot, "dx") ||
        check_optional(ctx, dgamma, (size_t)c, slot, "dgamma") ||
        check_optional(ctx, dbeta, (size_t)c, slot, "dbeta"))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_batchnorm_backward];
    ocl_args a = ocl_args_begin(ctx, OCL_K_batchnorm_backward);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, dy);
    ocl_arg_ref(&a, gamma);
    ocl_arg_int(&a, gamma.buf != NULL);
    ocl_arg_ref(&a, save_mean);
    ocl_arg_ref(&a, save_invstd);
    ocl_arg_ref(&a, dx);
    ocl_arg_int(&a, dx.buf != NULL);
    ocl_arg_ref(&a, dgamma);
    ocl_arg_int(&a, dgamma.buf != NULL);
    ocl_arg_ref(&a, dbeta);
    ocl_arg_int(&a, dbeta.buf != NULL);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, c);
    ocl_arg_int(&a, inner);
    ocl_arg_local(&a, wg * sizeof(float));
    return ocl_launch(&a, (size_t)c * wg, wg);
}
