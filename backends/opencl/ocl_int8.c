/* Int8 slots of ABI 1.1 (qgemm, qconv2d, qmaxpool, quantize, dequantize,
 * fake_quant): validation and launches of kernels/int8.cl. */
#include <limits.h>

#include "ocl_internal.h"

/* An int8 tensor of `bytes` bytes: offsets must be multiples of 4 (the
 * kernels index int8 buffers from a word offset). */
static int check_bytes(ocl_ctx *ctx, mlopt_ref r, size_t bytes, const char *slot, const char *arg)
{
    if (!r.buf)
        return ocl_fail(ctx, "%s: %s has no buffer", slot, arg);
    if (r.offset % 4)
        return ocl_fail(ctx, "%s: %s byte offset %zu is not a multiple of 4 (ABI 1.1 int8 rule)", slot, arg,
                        r.offset);
    if (r.offset > r.buf->bytes || bytes > r.buf->bytes - r.offset)
        return ocl_fail(ctx, "%s: %s needs %zu bytes at offset %zu but its buffer has %zu", slot, arg, bytes,
                        r.offset, r.buf->bytes);
    if (bytes > INT_MAX)
        return ocl_fail(ctx, "%s: %s is beyond 2^31 elements", slot, arg);
    return 0;
}

static int check_tables(ocl_ctx *ctx, int n, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, const char *slot)
{
    return (bias.buf && ocl_check_ref(ctx, bias, (size_t)n, slot, "bias")) ||
           ocl_check_ref(ctx, mult, (size_t)n, slot, "mult") || ocl_check_ref(ctx, shift, (size_t)n, slot, "shift");
}

static void table_args(ocl_args *a, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift)
{
    ocl_arg_ref(a, bias);
    ocl_arg_int(a, bias.buf != NULL);
    ocl_arg_ref(a, mult);
    ocl_arg_ref(a, shift);
}

int ocl_qgemm(ocl_ctx *ctx, int m, int n, int k, mlopt_ref a, int lda, int a_zp, mlopt_ref b, int ldb,
              mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int c_zp, int relu, mlopt_ref c, int ldc)
{
    const char *slot = "qgemm";
    if (m < 0 || n < 0 || k < 0 || lda < k || ldb < k || ldc < n || a_zp < -128 || a_zp > 127 || c_zp < -128 ||
        c_zp > 127 || (size_t)m * n > INT_MAX)
        return ocl_fail(ctx, "%s: bad arguments m=%d n=%d k=%d lda=%d ldb=%d ldc=%d a_zp=%d c_zp=%d", slot, m, n, k,
                        lda, ldb, ldc, a_zp, c_zp);
    if (m == 0 || n == 0)
        return 0;
    if (check_bytes(ctx, a, (size_t)(m - 1) * lda + k, slot, "a") ||
        check_bytes(ctx, b, (size_t)(n - 1) * ldb + k, slot, "b") ||
        check_bytes(ctx, c, (size_t)(m - 1) * ldc + n, slot, "c") || check_tables(ctx, n, bias, mult, shift, slot))
        return 1;
    ocl_args ar = ocl_args_begin(ctx, OCL_K_qgemm_i8);
    ocl_arg_ref(&ar, a);
    ocl_arg_int(&ar, lda);
    ocl_arg_int(&ar, a_zp);
    ocl_arg_ref(&ar, b);
    ocl_arg_int(&ar, ldb);
    table_args(&ar, bias, mult, shift);
    ocl_arg_int(&ar, c_zp);
    ocl_arg_int(&ar, relu != 0);
    ocl_arg_ref(&ar, c);
    ocl_arg_int(&ar, ldc);
    ocl_arg_int(&ar, m);
    ocl_arg_int(&ar, n);
    ocl_arg_int(&ar, k);
    return ocl_launch_elementwise(&ar, (size_t)m * n);
}

int ocl_qconv2d(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int x_zp, mlopt_ref w, mlopt_ref bias,
                mlopt_ref mult, mlopt_ref shift, int y_zp, int relu, mlopt_ref y)
{
    const char *slot = "qconv2d";
    if (p->n < 0 || p->c <= 0 || p->k <= 0 || p->groups <= 0 || p->c % p->groups || p->k % p->groups ||
        p->r <= 0 || p->s <= 0 || p->stride_h <= 0 || p->stride_w <= 0 || p->dil_h <= 0 || p->dil_w <= 0 ||
        p->oh < 0 || p->ow < 0 || x_zp < -128 || x_zp > 127 || y_zp < -128 || y_zp > 127)
        return ocl_fail(ctx, "%s: bad geometry or zero points", slot);
    size_t out = (size_t)p->n * p->k * p->oh * p->ow;
    if (out == 0)
        return 0;
    if (check_bytes(ctx, x, (size_t)p->n * p->c * p->h * p->w, slot, "x") ||
        check_bytes(ctx, w, (size_t)p->k * (p->c / p->groups) * p->r * p->s, slot, "w") ||
        check_bytes(ctx, y, out, slot, "y") || check_tables(ctx, p->k, bias, mult, shift, slot))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_qconv2d_i8);
    ocl_arg_ref(&a, x);
    ocl_arg_int(&a, x_zp);
    ocl_arg_ref(&a, w);
    table_args(&a, bias, mult, shift);
    ocl_arg_int(&a, y_zp);
    ocl_arg_int(&a, relu != 0);
    ocl_arg_ref(&a, y);
    int geom[] = { p->n, p->c, p->h, p->w, p->k, p->r, p->s, p->stride_h, p->stride_w, p->pad_h,
                   p->pad_w, p->dil_h, p->dil_w, p->groups, p->oh, p->ow };
    for (size_t i = 0; i < sizeof geom / sizeof geom[0]; i++)
        ocl_arg_int(&a, geom[i]);
    return ocl_launch_elementwise(&a, out);
}

int ocl_qmaxpool(ocl_ctx *ctx, const mlopt_pool2d_params *p, mlopt_ref x, mlopt_ref y)
{
    const char *slot = "qmaxpool";
    if (p->n < 0 || p->c < 0 || p->kh <= 0 || p->kw <= 0 || p->stride_h <= 0 || p->stride_w <= 0 ||
        p->dil_h <= 0 || p->dil_w <= 0 || p->oh < 0 || p->ow < 0)
        return ocl_fail(ctx, "%s: bad geometry", slot);
    size_t out = (size_t)p->n * p->c * p->oh * p->ow;
    if (out == 0)
        return 0;
    if (check_bytes(ctx, x, (size_t)p->n * p->c * p->h * p->w, slot, "x") || check_bytes(ctx, y, out, slot, "y"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_qmaxpool_i8);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    int geom[] = { p->n * p->c, p->h, p->w, p->kh, p->kw, p->stride_h, p->stride_w,
                   p->pad_h, p->pad_w, p->dil_h, p->dil_w, p->oh, p->ow };
    for (size_t i = 0; i < sizeof geom / sizeof geom[0]; i++)
        ocl_arg_int(&a, geom[i]);
    return ocl_launch_elementwise(&a, out);
}

int ocl_quantize(ocl_ctx *ctx, size_t n, float inv_scale, int zp, mlopt_ref x, mlopt_ref y)
{
    const char *slot = "quantize";
    if (zp < -128 || zp > 127)
        return ocl_fail(ctx, "%s: zero point %d outside -128..127", slot, zp);
    if (n == 0)
        return 0;
    if (ocl_check_count(ctx, n, slot) || ocl_check_ref(ctx, x, n, slot, "x") || check_bytes(ctx, y, n, slot, "y"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_quantize_i8);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_float(&a, inv_scale);
    ocl_arg_int(&a, zp);
    ocl_arg_int(&a, (int)n);
    return ocl_launch_elementwise(&a, n);
}

int ocl_dequantize(ocl_ctx *ctx, size_t n, float scale, int zp, mlopt_ref x, mlopt_ref y)
{
    const char *slot = "dequantize";
    if (n == 0)
        return 0;
    if (ocl_check_count(ctx, n, slot) || check_bytes(ctx, x, n, slot, "x") || ocl_check_ref(ctx, y, n, slot, "y"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_dequantize_i8);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_float(&a, scale);
    ocl_arg_int(&a, zp);
    ocl_arg_int(&a, (int)n);
    return ocl_launch_elementwise(&a, n);
}

int ocl_fake_quant(ocl_ctx *ctx, size_t outer, int channels, size_t inner, int qmin, int qmax, mlopt_ref scale,
                   mlopt_ref inv_scale, mlopt_ref zp, mlopt_ref x, mlopt_ref y, mlopt_ref mask)
{
    const char *slot = "fake_quant";
    if (channels <= 0 || qmin > qmax || inner > INT_MAX)
        return ocl_fail(ctx, "%s: need channels > 0 and qmin <= qmax", slot);
    size_t n = outer * (size_t)channels * inner;
    if (n == 0)
        return 0;
    if (ocl_check_count(ctx, n, slot) || ocl_check_ref(ctx, x, n, slot, "x") || ocl_check_ref(ctx, y, n, slot, "y") ||
        (mask.buf && ocl_check_ref(ctx, mask, n, slot, "mask")) ||
        ocl_check_ref(ctx, scale, (size_t)channels, slot, "scale") ||
        ocl_check_ref(ctx, inv_scale, (size_t)channels, slot, "inv_scale") ||
        ocl_check_ref(ctx, zp, (size_t)channels, slot, "zp"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_fake_quant_f32);
    ocl_arg_ref(&a, x);
    ocl_arg_ref(&a, y);
    ocl_arg_ref(&a, mask);
    ocl_arg_int(&a, mask.buf != NULL);
    ocl_arg_ref(&a, scale);
    ocl_arg_ref(&a, inv_scale);
    ocl_arg_ref(&a, zp);
    ocl_arg_int(&a, channels);
    ocl_arg_int(&a, (int)(inner ? inner : 1));
    ocl_arg_int(&a, qmin);
    ocl_arg_int(&a, qmax);
    ocl_arg_int(&a, (int)n);
    return ocl_launch_elementwise(&a, n);
}
