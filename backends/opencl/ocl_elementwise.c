/* Elementwise arithmetic, reductions and optimizer-update slots. */
#include <math.h>

#include "ocl_internal.h"

#define OP_ADD 0
#define OP_SUB 1
#define OP_MUL 2
#define RED_SUM 0
#define RED_MAX_ABS 1
/* First reduction stage: at most this many groups (= partials). */
#define OCL_REDUCE_GROUPS 256

static int check_n(ocl_ctx *ctx, size_t n, const char *slot, int count, const mlopt_ref *refs,
                   const char *const *names)
{
    if (ocl_check_count(ctx, n, slot))
        return 1;
    for (int i = 0; i < count; i++)
        if (ocl_check_ref(ctx, refs[i], n, slot, names[i]))
            return 1;
    return 0;
}

static int binary(ocl_ctx *ctx, const char *slot, int op, size_t n, mlopt_ref a, mlopt_ref b,
                  mlopt_ref y)
{
    if (n == 0)
        return 0;
    mlopt_ref refs[] = {a, b, y};
    const char *const names[] = {"a", "b", "y"};
    if (check_n(ctx, n, slot, 3, refs, names))
        return 1;
    ocl_args k = ocl_args_begin(ctx, OCL_K_elementwise_binary);
    ocl_arg_ref(&k, a);
    ocl_arg_ref(&k, b);
    ocl_arg_ref(&k, y);
    ocl_arg_int(&k, (int)n);
    ocl_arg_int(&k, op);
    return ocl_launch_elementwise(&k, n);
}

int ocl_add(ocl_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return binary(ctx, "add", OP_ADD, n, a, b, y);
}

int ocl_sub(ocl_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return binary(ctx, "sub", OP_SUB, n, a, b, y);
}

int ocl_mul(ocl_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    return binary(ctx, "mul", OP_MUL, n, a, b, y);
}

static int unary_alpha(ocl_ctx *ctx, ocl_kernel_id id, const char *slot, size_t n, float alpha,
                       mlopt_ref x, mlopt_ref y)
{
    if (n == 0)
        return 0;
    mlopt_ref refs[] = {x, y};
    const char *const names[] = {"x", "y"};
    if (check_n(ctx, n, slot, 2, refs, names))
        return 1;
    ocl_args k = ocl_args_begin(ctx, id);
    ocl_arg_ref(&k, x);
    ocl_arg_ref(&k, y);
    ocl_arg_int(&k, (int)n);
    ocl_arg_float(&k, alpha);
    return ocl_launch_elementwise(&k, n);
}

int ocl_axpy(ocl_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    return unary_alpha(ctx, OCL_K_axpy, "axpy", n, alpha, x, y);
}

int ocl_scale(ocl_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    return unary_alpha(ctx, OCL_K_scale, "scale", n, alpha, x, y);
}

int ocl_mask_mul(ocl_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w)
{
    if (n == 0)
        return 0;
    mlopt_ref refs[] = {mask, w};
    const char *const names[] = {"mask", "w"};
    if (check_n(ctx, n, "mask_mul", 2, refs, names))
        return 1;
    ocl_args k = ocl_args_begin(ctx, OCL_K_mask_mul);
    ocl_arg_ref(&k, mask);
    ocl_arg_ref(&k, w);
    ocl_arg_int(&k, (int)n);
    return ocl_launch_elementwise(&k, n);
}

/* Two deterministic stages: per-group partials, then one group. */
static int reduce(ocl_ctx *ctx, const char *slot, int op, size_t n, mlopt_ref x, mlopt_ref out)
{
    if (ocl_check_count(ctx, n, slot) || ocl_check_ref(ctx, out, 1, slot, "out") ||
        (n && ocl_check_ref(ctx, x, n, slot, "x")))
        return 1;
    if (n == 0)
        return ocl_fill(ctx, out, 0.0f, 1);
    size_t wg = ctx->kernel_wg[OCL_K_reduce_partial];
    size_t groups = (n + wg - 1) / wg;
    if (groups > OCL_REDUCE_GROUPS)
        groups = OCL_REDUCE_GROUPS;
    if (ocl_ensure_scratch(ctx, &ctx->partials, groups * sizeof(float), "reduction partials"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_reduce_partial);
    ocl_arg_ref(&a, x);
    ocl_arg_int(&a, (int)n);
    ocl_arg_int(&a, op);
    ocl_arg_mem(&a, ctx->partials.mem);
    ocl_arg_local(&a, wg * sizeof(float));
    if (ocl_launch(&a, groups * wg, wg))
        return 1;
    size_t wg2 = ctx->kernel_wg[OCL_K_reduce_final];
    ocl_args b = ocl_args_begin(ctx, OCL_K_reduce_final);
    ocl_arg_mem(&b, ctx->partials.mem);
    ocl_arg_int(&b, (int)groups);
    ocl_arg_int(&b, op);
    ocl_arg_ref(&b, out);
    ocl_arg_local(&b, wg2 * sizeof(float));
    return ocl_launch(&b, wg2, wg2);
}

int ocl_reduce_sum(ocl_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    return reduce(ctx, "reduce_sum", RED_SUM, n, x, out);
}

int ocl_reduce_max_abs(ocl_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    return reduce(ctx, "reduce_max_abs", RED_MAX_ABS, n, x, out);
}

int ocl_channel_norm(ocl_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out)
{
    const char *slot = "channel_norm";
    if (p != 1 && p != 2)
        return ocl_fail(ctx, "%s: p must be 1 or 2, got %d", slot, p);
    if (k < 0 || len < 0)
        return ocl_fail(ctx, "%s: negative shape k=%d len=%d", slot, k, len);
    if (k == 0)
        return 0;
    if (ocl_check_count(ctx, (size_t)k * len, slot) ||
        ocl_check_ref(ctx, out, (size_t)k, slot, "out") ||
        ((size_t)k * len != 0 && ocl_check_ref(ctx, x, (size_t)k * len, slot, "x")))
        return 1;
    size_t wg = ctx->kernel_wg[OCL_K_channel_norm];
    ocl_args a = ocl_args_begin(ctx, OCL_K_channel_norm);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, out);
    ocl_arg_int(&a, len);
    ocl_arg_int(&a, p);
    ocl_arg_local(&a, wg * sizeof(float));
    return ocl_launch(&a, (size_t)k * wg, wg);
}

int ocl_sgd_update(ocl_ctx *ctx, size_t n, float lr, float momentum, float dampening,
                   float weight_decay, int nesterov, int first, mlopt_ref w, mlopt_ref g,
                   mlopt_ref v)
{
    if (n == 0)
        return 0;
    mlopt_ref refs[] = {w, g, v};
    const char *const names[] = {"w", "g", "v"};
    /* v is untouched (and may be absent) without momentum */
    if (check_n(ctx, n, "sgd_update", momentum != 0.0f ? 3 : 2, refs, names))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_sgd_update);
    ocl_arg_ref(&a, w);
    ocl_arg_ref(&a, g);
    ocl_arg_ref(&a, v);
    ocl_arg_int(&a, (int)n);
    ocl_arg_float(&a, lr);
    ocl_arg_float(&a, momentum);
    ocl_arg_float(&a, dampening);
    ocl_arg_float(&a, weight_decay);
    ocl_arg_int(&a, nesterov != 0);
    ocl_arg_int(&a, first != 0);
    return ocl_launch_elementwise(&a, n);
}

int ocl_adam_update(ocl_ctx *ctx, size_t n, float lr, float beta1, float beta2, float eps,
                    float weight_decay, int decoupled, int step, mlopt_ref w, mlopt_ref g,
                    mlopt_ref m, mlopt_ref v)
{
    if (step < 1)
        return ocl_fail(ctx, "adam_update: step must be >= 1, got %d", step);
    if (n == 0)
        return 0;
    mlopt_ref refs[] = {w, g, m, v};
    const char *const names[] = {"w", "g", "m", "v"};
    if (check_n(ctx, n, "adam_update", 4, refs, names))
        return 1;
    /* bias corrections in double on the host: powf of a float loses digits at large t */
    float bc1 = (float)(1.0 - pow((double)beta1, (double)step));
    float bc2 = (float)(1.0 - pow((double)beta2, (double)step));
    ocl_args a = ocl_args_begin(ctx, OCL_K_adam_update);
    ocl_arg_ref(&a, w);
    ocl_arg_ref(&a, g);
    ocl_arg_ref(&a, m);
    ocl_arg_ref(&a, v);
    ocl_arg_int(&a, (int)n);
    ocl_arg_float(&a, lr);
    ocl_arg_float(&a, beta1);
    ocl_arg_float(&a, beta2);
    ocl_arg_float(&a, eps);
    ocl_arg_float(&a, weight_decay);
    ocl_arg_int(&a, decoupled != 0);
    ocl_arg_float(&a, bc1);
    ocl_arg_float(&a, bc2);
    return ocl_launch_elementwise(&a, n);
}
