/* 2-D max / average pooling.  Every (image, channel) plane is independent,
 * so planes are spread over the pool; within a plane the loops are the
 * definition itself.  Padding never wins a max (PyTorch semantics). */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_pool_job {
    int mode;
    int use_avx2;
    int use_avx512;
    const mlopt_pool2d_params *p;
    const float *x, *dy;
    float *y, *dx;
} cpu_pool_job;

/* Window average divisor for output (oy, ox). */
static float cpu_pool_divisor(const cpu_pool_job *j, int oy, int ox)
{
    const mlopt_pool2d_params *p = j->p;
    if (j->mode == MLOPT_POOL_AVG_INCL_PAD)
        return (float)(p->kh * p->kw);
    int count = 0;
    for (int ky = 0; ky < p->kh; ky++) {
        int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
        if (iy < 0 || iy >= p->h)
            continue;
        for (int kx = 0; kx < p->kw; kx++) {
            int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
            count += ix >= 0 && ix < p->w;
        }
    }
    return (float)count;
}

/* True when every window lies inside the image (no padding and no ceil-mode
 * overhang): the common CNN case, which then runs without bounds checks. */
static int cpu_pool_interior(const mlopt_pool2d_params *p)
{
    return p->pad_h == 0 && p->pad_w == 0 && p->oh > 0 && p->ow > 0 &&
           (p->oh - 1) * p->stride_h + (p->kh - 1) * p->dil_h < p->h &&
           (p->ow - 1) * p->stride_w + (p->kw - 1) * p->dil_w < p->w;
}

static int cpu_pool_is_2x2s2(const mlopt_pool2d_params *p)
{
    return p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 &&
           p->dil_w == 1;
}

/* Max pooling, all windows inside: forward, or backward when dx != NULL
 * (the gradient of each output goes to the first maximum of its window). */
static void cpu_maxpool_interior_plane(const mlopt_pool2d_params *p, int use_avx2,
                                       int use_avx512, const float *x, float *y,
                                       const float *dy, float *dx)
{
    if (cpu_pool_is_2x2s2(p)) {
        /* the classic 2x2/2 pooling, straight-line code */
        for (int oy = 0; oy < p->oh; oy++) {
            const float *r0 = x + (size_t)2 * oy * p->w, *r1 = r0 + p->w;
            float *yr = y ? y + (size_t)oy * p->ow : NULL;
            const float *dyr = dy ? dy + (size_t)oy * p->ow : NULL;
            float *d0 = dx ? dx + (size_t)2 * oy * p->w : NULL, *d1 = dx ? d0 + p->w : NULL;
            int ox = 0;
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (use_avx512)
                ox = cpu_maxpool2x2_row_avx512(r0, r1, p->ow, yr, dyr, d0, d1);
            if (use_avx2 && ox == 0)
                ox = cpu_maxpool2x2_row_avx2(r0, r1, p->ow, yr, dyr, d0, d1);
#else
            (void)use_avx2, (void)use_avx512;
#endif
            for (; ox < p->ow; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                if (!dx) {
                    float top = b > a ? b : a, bottom = d > c ? d : c;
                    yr[ox] = bottom > top ? bottom : top;
                    continue;
                }
                /* first maximum in a, b, c, d order, computed with compares
                 * combined by & (no branches: the winner is data-dependent
                 * and would mispredict); no match at all (NaN) means a, as
                 * in the generic scan */
                float top = b > a ? b : a, bottom = d > c ? d : c;
                float m = bottom > top ? bottom : top;
                uint32_t eb = (uint32_t)(b == m) & (uint32_t)(a != m);
                uint32_t ec = (uint32_t)(c == m) & (uint32_t)(a != m) & (uint32_t)(b != m);
                uint32_t ed = (uint32_t)(d == m) & (uint32_t)(a != m) & (uint32_t)(b != m) &
                              (uint32_t)(c != m);
                uint32_t ea = 1u ^ (eb | ec | ed);
                uint32_t gbits, cell[4];
                memcpy(&gbits, &dyr[ox], sizeof gbits);
                cell[0] = gbits & (0u - ea);
                cell[1] = gbits & (0u - eb);
                cell[2] = gbits & (0u - ec);
                cell[3] = gbits & (0u - ed);
                memcpy(&d0[2 * ox], &cell[0], 2 * sizeof(float));
                memcpy(&d1[2 * ox], &cell[2], 2 * sizeof(float));
            }
        }
        return;
    }
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            const float *w0 = x + (size_t)oy * p->stride_h * p->w + (size_t)ox * p->stride_w;
            float best = w0[0];
            size_t arg = 0;
            for (int ky = 0; ky < p->kh; ky++)
                for (int kx = 0; kx < p->kw; kx++) {
                    size_t off = (size_t)ky * p->dil_h * p->w + (size_t)kx * p->dil_w;
                    float v = w0[off];
                    /* written as selects so the compiler uses conditional moves:
                     * the winner is data-dependent and mispredicts badly */
                    int better = v > best;
                    best = better ? v : best;
                    arg = better ? off : arg;
                }
            if (dx)
                dx[(size_t)(w0 - x) + arg] += dy[(size_t)oy * p->ow + ox];
            else
                y[(size_t)oy * p->ow + ox] = best;
        }
}

static void cpu_pool_forward_planes(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_pool_job *j = arg;
    const mlopt_pool2d_params *p = j->p;
    int fast = j->mode == MLOPT_POOL_MAX && cpu_pool_interior(p);
    for (size_t plane = begin; plane < end; plane++) {
        const float *x = j->x + plane * p->h * p->w;
        float *y = j->y + plane * p->oh * p->ow;
        if (fast) {
            cpu_maxpool_interior_plane(p, j->use_avx2, j->use_avx512, x, y, NULL, NULL);
            continue;
        }
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                float best = -INFINITY;
                double sum = 0.0;
                for (int ky = 0; ky < p->kh; ky++) {
                    int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                        if (ix < 0 || ix >= p->w)
                            continue;
                        float v = x[(size_t)iy * p->w + ix];
                        if (v > best)
                            best = v;
                        sum += v;
                    }
                }
                float out;
                if (j->mode == MLOPT_POOL_MAX) {
                    out = best;
                } else {
                    float div = cpu_pool_divisor(j, oy, ox);
                    out = div > 0.0f ? (float)(sum / div) : 0.0f;
                }
                y[(size_t)oy * p->ow + ox] = out;
            }
    }
}

static void cpu_pool_backward_planes(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_pool_job *j = arg;
    const mlopt_pool2d_params *p = j->p;
    int fast = j->mode == MLOPT_POOL_MAX && cpu_pool_interior(p);
    int tiles = cpu_pool_is_2x2s2(p);
    for (size_t plane = begin; plane < end; plane++) {
        const float *x = j->x ? j->x + plane * p->h * p->w : NULL;
        const float *dy = j->dy + plane * p->oh * p->ow;
        float *dx = j->dx + plane * p->h * p->w;
        if (fast && tiles) {
            /* the 2x2/2 path writes every cell its windows cover; only an
             * odd last row / column needs clearing, not the whole plane */
            for (int iy = 0; iy < 2 * p->oh; iy++)
                for (int ix = 2 * p->ow; ix < p->w; ix++)
                    dx[(size_t)iy * p->w + ix] = 0.0f;
            memset(dx + (size_t)2 * p->oh * p->w, 0,
                   (size_t)(p->h - 2 * p->oh) * p->w * sizeof(float));
            cpu_maxpool_interior_plane(p, j->use_avx2, j->use_avx512, x, NULL, dy, dx);
            continue;
        }
        memset(dx, 0, (size_t)p->h * p->w * sizeof(float));
        if (fast) {
            cpu_maxpool_interior_plane(p, j->use_avx2, j->use_avx512, x, NULL, dy, dx);
            continue;
        }
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                float g = dy[(size_t)oy * p->ow + ox];
                if (j->mode == MLOPT_POOL_MAX) {
                    /* first maximum in row-major scan order */
                    float best = -INFINITY;
                    long arg_best = -1;
                    for (int ky = 0; ky < p->kh; ky++) {
                        int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                        if (iy < 0 || iy >= p->h)
                            continue;
                        for (int kx = 0; kx < p->kw; kx++) {
                            int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                            if (ix < 0 || ix >= p->w)
                                continue;
                            float v = x[(size_t)iy * p->w + ix];
                            if (arg_best < 0 || v > best) {
                                best = v;
                                arg_best = (long)iy * p->w + ix;
                            }
                        }
                    }
                    if (arg_best >= 0)
                        dx[arg_best] += g;
                    continue;
                }
                float div = cpu_pool_divisor(j, oy, ox);
                if (div <= 0.0f)
                    continue;
                float share = g / div;
                for (int ky = 0; ky < p->kh; ky++) {
                    int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                        if (ix >= 0 && ix < p->w)
                            dx[(size_t)iy * p->w + ix] += share;
                    }
                }
            }
    }
}

static int cpu_pool_check(mlopt_backend_ctx *ctx, const char *call, int mode,
                          const mlopt_pool2d_params *p)
{
    if (!p)
        return cpu_fail(ctx, "%s: params is NULL", call);
    if (mode < MLOPT_POOL_MAX || mode > MLOPT_POOL_AVG_INCL_PAD)
        return cpu_fail(ctx, "%s: unknown pooling mode %d", call, mode);
    if (p->n < 0 || p->c < 0 || p->h < 1 || p->w < 1 || p->kh < 1 || p->kw < 1 ||
        p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 || p->pad_w < 0 || p->dil_h < 1 ||
        p->dil_w < 1 || p->oh < 0 || p->ow < 0)
        return cpu_fail(ctx, "%s: invalid geometry (n=%d c=%d h=%d w=%d kernel %dx%d stride "
                        "%dx%d pad %dx%d dil %dx%d out %dx%d)", call, p->n, p->c, p->h, p->w,
                        p->kh, p->kw, p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dil_h,
                        p->dil_w, p->oh, p->ow);
    return 0;
}

int cpu_pool2d_forward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                       mlopt_ref x, mlopt_ref y)
{
    const char *call = "pool2d_forward";
    if (cpu_pool_check(ctx, call, mode, p))
        return 1;
    size_t planes = (size_t)p->n * p->c;
    cpu_pool_job j = {.mode = mode, .p = p, .use_avx2 = ctx->use_avx2,
                     .use_avx512 = ctx->use_avx2 && ctx->isa >= CPU_ISA_AVX512};
    if (!(j.x = cpu_fptr(ctx, x, planes * p->h * p->w, call, "x")) ||
        !(j.y = cpu_fptr(ctx, y, planes * p->oh * p->ow, call, "y")))
        return 1;
    cpu_count_kernel(ctx);
    size_t work = planes * p->oh * p->ow * p->kh * p->kw;
    if (work < CPU_PAR_MIN_ELEMS)
        cpu_pool_forward_planes(&j, 0, planes, 0);
    else
        cpu_parallel_elems(ctx, planes, 2, cpu_pool_forward_planes, &j);
    return 0;
}

int cpu_pool2d_backward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                        mlopt_ref x, mlopt_ref dy, mlopt_ref dx)
{
    const char *call = "pool2d_backward";
    if (cpu_pool_check(ctx, call, mode, p))
        return 1;
    size_t planes = (size_t)p->n * p->c;
    cpu_pool_job j = {.mode = mode, .p = p, .use_avx2 = ctx->use_avx2,
                     .use_avx512 = ctx->use_avx2 && ctx->isa >= CPU_ISA_AVX512};
    if (mode == MLOPT_POOL_MAX && !(j.x = cpu_fptr(ctx, x, planes * p->h * p->w, call, "x")))
        return 1;
    if (!(j.dy = cpu_fptr(ctx, dy, planes * p->oh * p->ow, call, "dy")) ||
        !(j.dx = cpu_fptr(ctx, dx, planes * p->h * p->w, call, "dx")))
        return 1;
    cpu_count_kernel(ctx);
    size_t work = planes * p->oh * p->ow * p->kh * p->kw;
    if (work < CPU_PAR_MIN_ELEMS)
        cpu_pool_backward_planes(&j, 0, planes, 0);
    else
        cpu_parallel_elems(ctx, planes, 2, cpu_pool_backward_planes, &j);
    return 0;
}
