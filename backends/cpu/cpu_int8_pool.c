/* qmaxpool (ABI 1.1): max pooling on int8.  The max of quantized values is
 * the quantized max (scale > 0), so no requantization is needed; every
 * backend computes the same bytes. */
#include "cpu_int8.h"
#include "cpu_internal.h"

typedef struct cpu_qpool_job {
    const mlopt_pool2d_params *p;
    const int8_t *x;
    int8_t *y;
    int simd; /* AVX-512 BW 2x2 kernel (same bytes) */
} cpu_qpool_job;

static void cpu_qmaxpool_planes(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_qpool_job *j = arg;
    const mlopt_pool2d_params *p = j->p;
    /* The common 2x2/2 pooling with every window inside: no bounds checks. */
    int fast = p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 && p->dil_w == 1 &&
               p->pad_h == 0 && p->pad_w == 0 && 2 * p->oh <= p->h && 2 * p->ow <= p->w;
    for (size_t pl = begin; fast && pl < end; pl++) {
        const int8_t *x = j->x + pl * p->h * p->w;
        int8_t *y = j->y + pl * p->oh * p->ow;
#if defined(MLOPT_CPU_X86_KERNELS)
        if (j->simd) {
            cpu_qmaxpool2x2_avx512(x, p->w, y, p->oh, p->ow);
            continue;
        }
#endif
        for (int oy = 0; oy < p->oh; oy++) {
            const int8_t *r0 = x + (size_t)2 * oy * p->w, *r1 = r0 + p->w;
            for (int ox = 0; ox < p->ow; ox++) {
                int8_t a = r0[2 * ox] > r0[2 * ox + 1] ? r0[2 * ox] : r0[2 * ox + 1];
                int8_t b = r1[2 * ox] > r1[2 * ox + 1] ? r1[2 * ox] : r1[2 * ox + 1];
                y[(size_t)oy * p->ow + ox] = a > b ? a : b;
            }
        }
    }
    for (size_t pl = begin; !fast && pl < end; pl++) {
        const int8_t *x = j->x + pl * p->h * p->w;
        int8_t *y = j->y + pl * p->oh * p->ow;
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                int best = -128;
                for (int ky = 0; ky < p->kh; ky++) {
                    int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                        if (ix >= 0 && ix < p->w && x[(size_t)iy * p->w + ix] > best)
                            best = x[(size_t)iy * p->w + ix];
                    }
                }
                y[(size_t)oy * p->ow + ox] = (int8_t)best;
            }
    }
}

int cpu_qmaxpool(mlopt_backend_ctx *ctx, const mlopt_pool2d_params *p, mlopt_ref x, mlopt_ref y)
{
    const char *call = "qmaxpool";
    if (p->n < 0 || p->c < 0 || p->kh <= 0 || p->kw <= 0 || p->stride_h <= 0 || p->stride_w <= 0 ||
        p->dil_h <= 0 || p->dil_w <= 0 || p->oh < 0 || p->ow < 0)
        return cpu_fail(ctx, "%s: bad geometry", call);
    size_t planes = (size_t)p->n * p->c;
    if (planes == 0 || p->oh == 0 || p->ow == 0)
        return 0;
    cpu_qpool_job j = { p, NULL, NULL, cpu_q_use_vnni(ctx) };
    if (!(j.x = cpu_ref_ptr(ctx, x, planes * p->h * p->w, call, "x")) ||
        !(j.y = cpu_ref_ptr(ctx, y, planes * p->oh * p->ow, call, "y")))
        return 1;
    cpu_count_kernel(ctx);
    if (ctx->reference || planes * p->oh * p->ow < 4096)
        cpu_qmaxpool_planes(&j, 0, planes, 0);
    else
        cpu_threadpool_run(ctx->pool, planes, cpu_qmaxpool_planes, &j);
    return 0;
}
