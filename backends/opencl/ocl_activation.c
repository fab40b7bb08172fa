/* Activation and dropout slots. */
#include "ocl_internal.h"

int ocl_act_forward(ocl_ctx *ctx, int act, float alpha, float beta, size_t n, mlopt_ref x,
                    mlopt_ref y)
{
    const char *slot = "act_forward";
    if (act < 0 || act >= MLOPT_ACT_COUNT_)
        return ocl_fail(ctx, "%s: unknown activation %d", slot, act);
    if (n == 0)
        return 0;
    if (ocl_check_count(ctx, n, slot) || ocl_check_ref(ctx, x, n, slot, "x") ||
        ocl_check_ref(ctx, y, n, slot, "y"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_act_forward);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_int(&a, (int)n);
    ocl_arg_int(&a, act);
    ocl_arg_float(&a, alpha);
    ocl_arg_float(&a, beta);
    return ocl_launch_elementwise(&a, n);
}

int ocl_act_backward(ocl_ctx *ctx, int act, float alpha, float beta, size_t n, mlopt_ref x,
                     mlopt_ref y, mlopt_ref dy, mlopt_ref dx)
{
    const char *slot = "act_backward";
    if (act < 0 || act >= MLOPT_ACT_COUNT_)
        return ocl_fail(ctx, "%s: unknown activation %d", slot, act);
    if (n == 0)
        return 0;
    int uses_y = act == MLOPT_ACT_TANH || act == MLOPT_ACT_SIGMOID;
    if (ocl_check_count(ctx, n, slot) || ocl_check_ref(ctx, x, n, slot, "x") ||
        (uses_y && ocl_check_ref(ctx, y, n, slot, "y")) ||
        ocl_check_ref(ctx, dy, n, slot, "dy") || ocl_check_ref(ctx, dx, n, slot, "dx"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_act_backward);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_ref(&a, dy);
    ocl_arg_ref(&a, dx);
    ocl_arg_int(&a, (int)n);
    ocl_arg_int(&a, act);
    ocl_arg_float(&a, alpha);
    ocl_arg_float(&a, beta);
    return ocl_launch_elementwise(&a, n);
}

int ocl_dropout_forward(ocl_ctx *ctx, size_t n, float p, uint32_t seed, mlopt_ref x,
                        mlopt_ref y, mlopt_ref mask)
{
    const char *slot = "dropout_forward";
    if (!(p >= 0.0f && p <= 1.0f))
        return ocl_fail(ctx, "%s: p=%g is outside [0, 1]", slot, (double)p);
    if (n == 0)
        return 0;
    if (ocl_check_count(ctx, n, slot) || ocl_check_ref(ctx, x, n, slot, "x") ||
        ocl_check_ref(ctx, y, n, slot, "y") ||
        (mask.buf && ocl_check_ref(ctx, mask, n, slot, "mask")))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_dropout_forward);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_ref(&a, mask);
    ocl_arg_int(&a, mask.buf != NULL);
    ocl_arg_int(&a, (int)n);
    ocl_arg_float(&a, p * 16777216.0f); /* p * 2^24: exact, as in mlopt_dropout_u24 */
    ocl_arg_float(&a, p < 1.0f ? 1.0f / (1.0f - p) : 0.0f);
    ocl_arg_uint(&a, seed);
    return ocl_launch_elementwise(&a, n);
}
