/* qconv2d (ABI 1.1): int8 convolution.  The reference loops over the
 * definition; the fast path builds, per image, int16 patches [position][crs]
 * with the zero point already subtracted (so padding is simply 0) and
 * multiplies them with the widened weights [k][crs] by the qgemm
 * micro-kernel, writing NCHW output through strides. */
#include <string.h>

#include "cpu_int8.h"
#include "cpu_internal.h"

typedef struct cpu_qconv_job {
    mlopt_backend_ctx *ctx;
    const mlopt_conv2d_params *p;
    const int8_t *x;
    int x_zp;
    const int16_t *w16; /* [k][k16] */
    int crs, k16;
    cpu_q_out out;
} cpu_qconv_job;

static void cpu_qconv_ref(const mlopt_conv2d_params *p, const int8_t *x, int x_zp, const int8_t *w,
                          const cpu_q_out *o)
{
    int cpg = p->c / p->groups, kpg = p->k / p->groups;
    for (int n = 0; n < p->n; n++)
        for (int k = 0; k < p->k; k++) {
            int g = k / kpg;
            for (int oy = 0; oy < p->oh; oy++)
                for (int ox = 0; ox < p->ow; ox++) {
                    int32_t acc = o->bias ? o->bias[k] : 0;
                    for (int c = 0; c < cpg; c++)
                        for (int r = 0; r < p->r; r++)
                            for (int s = 0; s < p->s; s++) {
                                int iy = oy * p->stride_h - p->pad_h + r * p->dil_h;
                                int ix = ox * p->stride_w - p->pad_w + s * p->dil_w;
                                int xv = x_zp;
                                if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                                    xv = x[(((size_t)n * p->c + g * cpg + c) * p->h + iy) * p->w + ix];
                                acc += (xv - x_zp) * w[(((size_t)k * cpg + c) * p->r + r) * p->s + s];
                            }
                    o->c[(((size_t)n * p->k + k) * p->oh + oy) * p->ow + ox] =
                        mlopt_requantize(acc, o->mult[k], o->shift[k], o->zp, o->relu);
                }
        }
}

/* Patches of one image and group: cols[pos][crs], crs = (c, r, s). */
static void cpu_qconv_im2col(const mlopt_conv2d_params *p, const int8_t *xg, int x_zp, int cpg, int k16,
                             int16_t *cols)
{
    int crs = cpg * p->r * p->s;
    int interior = p->pad_h == 0 && p->pad_w == 0 && (p->oh - 1) * p->stride_h + (p->r - 1) * p->dil_h < p->h &&
                   (p->ow - 1) * p->stride_w + (p->s - 1) * p->dil_w < p->w;
    if (interior) { /* every window inside the image (no padding): no bounds checks */
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                int16_t *dst = cols + ((size_t)oy * p->ow + ox) * k16;
                const int8_t *base = xg + (size_t)oy * p->stride_h * p->w + (size_t)ox * p->stride_w;
                for (int c = 0; c < cpg; c++)
                    for (int r = 0; r < p->r; r++) {
                        const int8_t *row = base + (size_t)c * p->h * p->w + (size_t)r * p->dil_h * p->w;
                        for (int s = 0; s < p->s; s++)
                            *dst++ = (int16_t)(row[s * p->dil_w] - x_zp);
                    }
                for (int q = crs; q < k16; q++)
                    *dst++ = 0;
            }
        return;
    }
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            int16_t *dst = cols + ((size_t)oy * p->ow + ox) * k16;
            int q = 0;
            for (int c = 0; c < cpg; c++) {
                const int8_t *plane = xg + (size_t)c * p->h * p->w;
                for (int r = 0; r < p->r; r++) {
                    int iy = oy * p->stride_h - p->pad_h + r * p->dil_h;
                    for (int s = 0; s < p->s; s++, q++) {
                        int ix = ox * p->stride_w - p->pad_w + s * p->dil_w;
                        dst[q] = (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                                     ? (int16_t)(plane[(size_t)iy * p->w + ix] - x_zp)
                                     : 0;
                    }
                }
            }
            for (; q < k16; q++)
                dst[q] = 0;
            (void)crs;
        }
}

static void cpu_qconv_images(void *arg, size_t begin, size_t end, int thread)
{
    cpu_qconv_job *j = arg;
    const mlopt_conv2d_params *p = j->p;
    int cpg = p->c / p->groups, kpg = p->k / p->groups;
    size_t ohow = (size_t)p->oh * p->ow;
    int16_t *cols = j->ctx->conv_cols[thread].data;
    for (size_t n = begin; n < end; n++)
        for (int g = 0; g < p->groups; g++) {
            cpu_qconv_im2col(p, j->x + ((size_t)n * p->c + (size_t)g * cpg) * p->h * p->w, j->x_zp, cpg, j->k16, cols);
            cpu_q_out o = j->out;
            o.bias = o.bias ? o.bias + g * kpg : NULL;
            o.mult += g * kpg;
            o.shift += g * kpg;
            o.c += ((size_t)n * p->k + (size_t)g * kpg) * ohow;
            cpu_qgemm16(j->ctx, (int)ohow, kpg, j->k16, cols, j->w16 + (size_t)g * kpg * j->k16, &o);
        }
}

int cpu_qconv2d(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int x_zp, mlopt_ref w,
                mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int y_zp, int relu, mlopt_ref y)
{
    const char *call = "qconv2d";
    if (p->n < 0 || p->c <= 0 || p->k <= 0 || p->groups <= 0 || p->c % p->groups || p->k % p->groups ||
        p->r <= 0 || p->s <= 0 || p->stride_h <= 0 || p->stride_w <= 0 || p->dil_h <= 0 || p->dil_w <= 0 ||
        p->oh < 0 || p->ow < 0 || x_zp < -128 || x_zp > 127 || y_zp < -128 || y_zp > 127)
        return cpu_fail(ctx, "%s: bad geometry or zero points (c=%d k=%d groups=%d x_zp=%d y_zp=%d)", call, p->c,
                        p->k, p->groups, x_zp, y_zp);
    if (p->n == 0 || p->oh == 0 || p->ow == 0)
        return 0;
    int cpg = p->c / p->groups;
    int crs = cpg * p->r * p->s;
    const int8_t *X = cpu_ref_ptr(ctx, x, (size_t)p->n * p->c * p->h * p->w, call, "x");
    const int8_t *W = X ? cpu_ref_ptr(ctx, w, (size_t)p->k * crs, call, "w") : NULL;
    int8_t *Y = W ? cpu_ref_ptr(ctx, y, (size_t)p->n * p->k * p->oh * p->ow, call, "y") : NULL;
    cpu_q_out o;
    if (!Y || cpu_q_tables(ctx, p->k, bias, mult, shift, call, &o))
        return 1;
    o.zp = y_zp, o.relu = relu, o.c = Y, o.crs = 1, o.ccs = (size_t)p->oh * p->ow;
    cpu_count_kernel(ctx);
    if (!ctx->use_avx2) {
        cpu_qconv_ref(p, X, x_zp, W, &o);
        return 0;
    }
#if defined(MLOPT_CPU_X86_KERNELS)
    if (p->stride_h == 1 && p->stride_w == 1 && cpu_q_use_vnni(ctx))
        return cpu_qconv2d_vnni(ctx, p, X, x_zp, W, &o);
#endif
    int k16 = cpu_q_round16(crs);
    int16_t *w16 = cpu_scratch_reserve(ctx, &ctx->gemm_pack_b[0], (size_t)p->k * k16 * 2, call);
    if (!w16)
        return 1;
    for (int k = 0; k < p->k; k++) {
        for (int q = 0; q < crs; q++)
            w16[(size_t)k * k16 + q] = W[(size_t)k * crs + q];
        for (int q = crs; q < k16; q++)
            w16[(size_t)k * k16 + q] = 0;
    }
    /* A pooled loop's chunks run on any of the pool's threads (by index),
     * however few chunks there are: every thread needs its scratch. */
    int threads = p->n > 1 ? cpu_threads(ctx) : 1;
    for (int t = 0; t < threads; t++)
        if (!cpu_scratch_reserve(ctx, &ctx->conv_cols[t], (size_t)p->oh * p->ow * k16 * 2, call))
            return 1;
    cpu_qconv_job job = { ctx, p, X, x_zp, w16, crs, k16, o };
    if (threads <= 1)
        cpu_qconv_images(&job, 0, (size_t)p->n, 0);
    else
        cpu_threadpool_run(ctx->pool, (size_t)p->n, cpu_qconv_images, &job);
    return 0;
}
