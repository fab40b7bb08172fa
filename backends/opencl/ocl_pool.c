/* 2-D max/average pooling slots. */
#include <limits.h>

#include "ocl_internal.h"

static int pool_check(ocl_ctx *ctx, int mode, const mlopt_pool2d_params *p, const char *slot)
{
    if (mode < MLOPT_POOL_MAX || mode > MLOPT_POOL_AVG_INCL_PAD)
        return ocl_fail(ctx, "%s: unknown pooling mode %d", slot, mode);
    if (p->n < 0 || p->c < 0 || p->h <= 0 || p->w <= 0 || p->kh <= 0 || p->kw <= 0 ||
        p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0 || p->dil_h <= 0 ||
        p->dil_w <= 0 || p->oh <= 0 || p->ow <= 0)
        return ocl_fail(ctx, "%s: invalid pooling geometry", slot);
    if ((size_t)p->n * p->c * p->h * p->w > INT_MAX || (size_t)p->n * p->c * p->oh * p->ow > INT_MAX)
        return ocl_fail(ctx, "%s: tensors beyond 2^31 elements are not supported", slot);
    return 0;
}

static void pool_geometry_args(ocl_args *a, int mode, const mlopt_pool2d_params *p)
{
    int geom[] = {mode, p->n * p->c, p->h, p->w, p->kh, p->kw, p->stride_h, p->stride_w,
                  p->pad_h, p->pad_w, p->dil_h, p->dil_w, p->oh, p->ow};
    for (size_t i = 0; i < sizeof geom / sizeof geom[0]; i++)
        ocl_arg_int(a, geom[i]);
}

int ocl_pool2d_forward(ocl_ctx *ctx, int mode, const mlopt_pool2d_params *p, mlopt_ref x,
                       mlopt_ref y)
{
    const char *slot = "pool2d_forward";
    size_t in = (size_t)p->n * p->c * p->h * p->w, out = (size_t)p->n * p->c * p->oh * p->ow;
    if (pool_check(ctx, mode, p, slot) || ocl_check_ref(ctx, x, in, slot, "x") ||
        ocl_check_ref(ctx, y, out, slot, "y"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_pool_forward);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    pool_geometry_args(&a, mode, p);
    return ocl_launch_elementwise(&a, out);
}

int ocl_pool2d_backward(ocl_ctx *ctx, int mode, const mlopt_pool2d_params *p, mlopt_ref x,
                        mlopt_ref dy, mlopt_ref dx)
{
    const char *slot = "pool2d_backward";
    size_t in = (size_t)p->n * p->c * p->h * p->w, out = (size_t)p->n * p->c * p->oh * p->ow;
    if (pool_check(ctx, mode, p, slot) || ocl_check_ref(ctx, dy, out, slot, "dy") ||
        ocl_check_ref(ctx, dx, in, slot, "dx") ||
        (mode == MLOPT_POOL_MAX && ocl_check_ref(ctx, x, in, slot, "x")))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_pool_backward);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, dy);
    ocl_arg_ref(&a, dx);
    pool_geometry_args(&a, mode, p);
    return ocl_launch_elementwise(&a, in);
}
