/* quantize, dequantize and fake_quant (ABI 1.1): the exact formulas of
 * backend.h.  t = x * inv_scale is a single rounded multiply (nothing to
 * fuse it with), rintf rounds halves to even in the default rounding mode,
 * and the clamp happens on the float so infinities saturate. */
#include <math.h>

#include "cpu_int8.h"
#include "cpu_internal.h"

/* The clamped integer of quantize, and whether it was inside [lo, hi]. */
static inline int cpu_q_value(float x, float inv_scale, int zp, int qmin, int qmax, int *inside)
{
    float r = rintf(x * inv_scale);
    if (isnan(r)) {
        *inside = 0;
        return zp;
    }
    float lo = (float)(qmin - zp), hi = (float)(qmax - zp);
    *inside = r >= lo && r <= hi;
    r = r < lo ? lo : r > hi ? hi : r;
    return (int)r + zp;
}

typedef struct cpu_qq_job {
    float s, inv;
    int zp;
    const float *xf;
    int8_t *yq;
    const int8_t *xq;
    float *yf;
    int simd; /* the AVX-512 loop (same bytes) */
} cpu_qq_job;

static void cpu_quantize_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_qq_job *j = arg;
    int inside;
#if defined(MLOPT_CPU_X86_KERNELS)
    if (j->simd) {
        cpu_quantize_avx512(j->xf + begin, end - begin, j->inv, j->zp, j->yq + begin);
        return;
    }
#endif
    for (size_t i = begin; i < end; i++)
        j->yq[i] = (int8_t)cpu_q_value(j->xf[i], j->inv, j->zp, -128, 127, &inside);
}

static void cpu_dequantize_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_qq_job *j = arg;
    for (size_t i = begin; i < end; i++)
        j->yf[i] = (float)(j->xq[i] - j->zp) * j->s;
}

int cpu_quantize(mlopt_backend_ctx *ctx, size_t n, float inv_scale, int zp, mlopt_ref x, mlopt_ref y)
{
    if (zp < -128 || zp > 127)
        return cpu_fail(ctx, "quantize: zero point %d outside -128..127", zp);
    cpu_qq_job j = { 0, inv_scale, zp, NULL, NULL, NULL, NULL, cpu_q_use_vnni(ctx) };
    if (!(j.xf = cpu_fptr(ctx, x, n, "quantize", "x")) || !(j.yq = cpu_ref_ptr(ctx, y, n, "quantize", "y")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_quantize_range, &j);
    return 0;
}

int cpu_dequantize(mlopt_backend_ctx *ctx, size_t n, float scale, int zp, mlopt_ref x, mlopt_ref y)
{
    cpu_qq_job j = { scale, 0, zp, NULL, NULL, NULL, NULL, 0 };
    if (!(j.xq = cpu_ref_ptr(ctx, x, n, "dequantize", "x")) || !(j.yf = cpu_fptr(ctx, y, n, "dequantize", "y")))
        return 1;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_dequantize_range, &j);
    return 0;
}

typedef struct cpu_fq_job {
    int channels, qmin, qmax;
    size_t inner;
    const float *scale, *inv;
    const int32_t *zp;
    const float *x;
    float *y, *mask;
} cpu_fq_job;

static void cpu_fake_quant_range(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_fq_job *j = arg;
    for (size_t i = begin; i < end; i++) {
        int ch = (int)((i / j->inner) % (size_t)j->channels), inside;
        int q = cpu_q_value(j->x[i], j->inv[ch], j->zp[ch], j->qmin, j->qmax, &inside);
        if (j->mask)
            j->mask[i] = inside ? 1.0f : 0.0f;
        j->y[i] = (float)(q - j->zp[ch]) * j->scale[ch];
    }
}

int cpu_fake_quant(mlopt_backend_ctx *ctx, size_t outer, int channels, size_t inner, int qmin, int qmax,
                   mlopt_ref scale, mlopt_ref inv_scale, mlopt_ref zp, mlopt_ref x, mlopt_ref y, mlopt_ref mask)
{
    const char *call = "fake_quant";
    if (channels <= 0 || qmin > qmax)
        return cpu_fail(ctx, "%s: need channels > 0 and qmin <= qmax (got %d, %d..%d)", call, channels, qmin, qmax);
    size_t n = outer * (size_t)channels * inner;
    cpu_fq_job j = { channels, qmin, qmax, inner ? inner : 1, NULL, NULL, NULL, NULL, NULL, NULL };
    if (!(j.scale = cpu_fptr(ctx, scale, (size_t)channels, call, "scale")) ||
        !(j.inv = cpu_fptr(ctx, inv_scale, (size_t)channels, call, "inv_scale")) ||
        !(j.zp = cpu_ref_ptr(ctx, zp, (size_t)channels * 4, call, "zp")) || !(j.x = cpu_fptr(ctx, x, n, call, "x")) ||
        !(j.y = cpu_fptr(ctx, y, n, call, "y")) || (mask.buf && !(j.mask = cpu_fptr(ctx, mask, n, call, "mask"))))
        return 1;
    if (n == 0)
        return 0;
    cpu_count_kernel(ctx);
    cpu_parallel_elems(ctx, n, CPU_PAR_MIN_ELEMS, cpu_fake_quant_range, &j);
    return 0;
}
