/* 2-D convolution.  Fast path: per image and group, im2col turns the
 * convolution into one GEMM (forward: W x cols; backward-data: W^T x dy
 * then col2im; backward-filter: dy x cols^T).  Working one image at a time
 * bounds the column scratch to c/groups*r*s*oh*ow floats per thread.
 * With at least as many images as threads, images are spread over the pool
 * and each runs a single-threaded GEMM; otherwise images run in turn and
 * each GEMM uses the pool.  The reference path is a direct loop nest. */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

typedef struct cpu_conv_geom {
    const mlopt_conv2d_params *p;
    int cg, kg;       /* channels and filters per group */
    size_t crs;       /* rows of the column matrix: cg * r * s */
    size_t ohw, hw;
    int pointwise;    /* 1x1, stride 1, no padding: cols are x itself */
    int rows_avx512;  /* im2col / col2im rows by AVX-512 masked moves */
    cpu_im2col_geom ig;
} cpu_conv_geom;

static int cpu_conv_check(mlopt_backend_ctx *ctx, const char *call, const mlopt_conv2d_params *p,
                          cpu_conv_geom *g)
{
    if (!p)
        return cpu_fail(ctx, "%s: params is NULL", call);
    if (p->n < 0 || p->c < 1 || p->h < 1 || p->w < 1 || p->k < 1 || p->r < 1 || p->s < 1 ||
        p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 || p->pad_w < 0 || p->dil_h < 1 ||
        p->dil_w < 1 || p->groups < 1 || p->oh < 0 || p->ow < 0)
        return cpu_fail(ctx, "%s: invalid geometry (n=%d c=%d h=%d w=%d k=%d r=%d s=%d stride "
                        "%dx%d pad %dx%d dil %dx%d groups=%d out %dx%d)", call, p->n, p->c, p->h,
                        p->w, p->k, p->r, p->s, p->stride_h, p->stride_w, p->pad_h, p->pad_w,
                        p->dil_h, p->dil_w, p->groups, p->oh, p->ow);
    if (p->c % p->groups || p->k % p->groups)
        return cpu_fail(ctx, "%s: groups=%d must divide c=%d and k=%d", call, p->groups, p->c, p->k);
    g->p = p;
    g->cg = p->c / p->groups;
    g->kg = p->k / p->groups;
    g->crs = (size_t)g->cg * p->r * p->s;
    g->ohw = (size_t)p->oh * p->ow;
    g->hw = (size_t)p->h * p->w;
    g->pointwise = p->r == 1 && p->s == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                   p->pad_h == 0 && p->pad_w == 0 && p->oh == p->h && p->ow == p->w;
    g->rows_avx512 = !ctx->reference && ctx->isa >= CPU_ISA_AVX512 && p->stride_w == 1 &&
                     p->dil_w == 1;
    g->ig = (cpu_im2col_geom){.cg = g->cg, .h = p->h, .w = p->w, .r = p->r, .s = p->s,
                              .oh = p->oh, .ow = p->ow, .stride_h = p->stride_h,
                              .pad_h = p->pad_h, .pad_w = p->pad_w, .dil_h = p->dil_h,
                              .dil_w = p->dil_w};
    return 0;
}

/* ---------------- reference: direct loops, double accumulation ---------------- */

static void cpu_conv_ref_forward(const cpu_conv_geom *g, const float *x, const float *w,
                                 const float *bias, float *y)
{
    const mlopt_conv2d_params *p = g->p;
    for (int ni = 0; ni < p->n; ni++)
        for (int ko = 0; ko < p->k; ko++) {
            int grp = ko / g->kg;
            for (int oy = 0; oy < p->oh; oy++)
                for (int ox = 0; ox < p->ow; ox++) {
                    double acc = bias ? bias[ko] : 0.0;
                    for (int ci = 0; ci < g->cg; ci++)
                        for (int kr = 0; kr < p->r; kr++)
                            for (int ks = 0; ks < p->s; ks++) {
                                int iy = oy * p->stride_h - p->pad_h + kr * p->dil_h;
                                int ix = ox * p->stride_w - p->pad_w + ks * p->dil_w;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                                    continue;
                                int cin = grp * g->cg + ci;
                                acc += (double)x[(((size_t)ni * p->c + cin) * p->h + iy) * p->w + ix] *
                                       w[(((size_t)ko * g->cg + ci) * p->r + kr) * p->s + ks];
                            }
                    y[(((size_t)ni * p->k + ko) * p->oh + oy) * p->ow + ox] = (float)acc;
                }
        }
}

static int cpu_conv_ref_backward_data(mlopt_backend_ctx *ctx, const cpu_conv_geom *g,
                                      const float *dy, const float *w, float *dx)
{
    const mlopt_conv2d_params *p = g->p;
    size_t nx = (size_t)p->n * p->c * g->hw;
    double *acc = calloc(nx ? nx : 1, sizeof *acc);
    if (!acc)
        return cpu_fail(ctx, "conv2d_backward_data: out of memory");
    for (int ni = 0; ni < p->n; ni++)
        for (int ko = 0; ko < p->k; ko++) {
            int grp = ko / g->kg;
            for (int oy = 0; oy < p->oh; oy++)
                for (int ox = 0; ox < p->ow; ox++) {
                    double d = dy[(((size_t)ni * p->k + ko) * p->oh + oy) * p->ow + ox];
                    for (int ci = 0; ci < g->cg; ci++)
                        for (int kr = 0; kr < p->r; kr++)
                            for (int ks = 0; ks < p->s; ks++) {
                                int iy = oy * p->stride_h - p->pad_h + kr * p->dil_h;
                                int ix = ox * p->stride_w - p->pad_w + ks * p->dil_w;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                                    continue;
                                int cin = grp * g->cg + ci;
                                acc[(((size_t)ni * p->c + cin) * p->h + iy) * p->w + ix] +=
                                    d * w[(((size_t)ko * g->cg + ci) * p->r + kr) * p->s + ks];
                            }
                }
        }
    for (size_t i = 0; i < nx; i++)
        dx[i] = (float)acc[i];
    free(acc);
    return 0;
}

static void cpu_conv_ref_backward_filter(const cpu_conv_geom *g, const float *x, const float *dy,
                                         float *dw)
{
    const mlopt_conv2d_params *p = g->p;
    for (int ko = 0; ko < p->k; ko++) {
        int grp = ko / g->kg;
        for (int ci = 0; ci < g->cg; ci++)
            for (int kr = 0; kr < p->r; kr++)
                for (int ks = 0; ks < p->s; ks++) {
                    double acc = 0.0;
                    int cin = grp * g->cg + ci;
                    for (int ni = 0; ni < p->n; ni++)
                        for (int oy = 0; oy < p->oh; oy++)
                            for (int ox = 0; ox < p->ow; ox++) {
                                int iy = oy * p->stride_h - p->pad_h + kr * p->dil_h;
                                int ix = ox * p->stride_w - p->pad_w + ks * p->dil_w;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                                    continue;
                                acc += (double)x[(((size_t)ni * p->c + cin) * p->h + iy) * p->w + ix] *
                                       dy[(((size_t)ni * p->k + ko) * p->oh + oy) * p->ow + ox];
                            }
                    dw[(((size_t)ko * g->cg + ci) * p->r + kr) * p->s + ks] = (float)acc;
                }
    }
}

/* ---------------- fast path ---------------- */

/* The outputs ox in [lo, hi) whose input column ox*stride + ix0 lies in
 * [0, w): computed once per row so the inner loops need no bounds checks. */
static void cpu_conv_inside(int ix0, int stride, int w, int ow, int *lo, int *hi)
{
    int a = ix0 >= 0 ? 0 : (-ix0 + stride - 1) / stride;
    int b = w - 1 - ix0 >= 0 ? (w - 1 - ix0) / stride + 1 : 0;
    *lo = a < ow ? a : ow;
    *hi = b < ow ? b : ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* Copies n floats; an inline loop rather than memcpy: the rows here are a
 * few dozen bytes (11 floats for the seed CNN's conv2), where a libc call
 * costs more than the copy. */
static inline void cpu_copy_short(float *restrict dst, const float *restrict src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            dst[i + l] = src[i + l];
    for (; i < n; i++)
        dst[i] = src[i];
}

/* cols[(ci*r + kr)*s + ks][oy*ow + ox] = x[ci][iy][ix], zero outside.
 * The in-image column range of a tap depends only on ks, so it is found
 * once per tap, not per output row (it takes two integer divisions). */
static void cpu_im2col(const cpu_conv_geom *g, const float *x, float *cols)
{
    const mlopt_conv2d_params *p = g->p;
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (g->rows_avx512) {
        cpu_im2col_s1_avx512(&g->ig, x, cols);
        return;
    }
#endif
    for (int ci = 0; ci < g->cg; ci++)
        for (int kr = 0; kr < p->r; kr++)
            for (int ks = 0; ks < p->s; ks++) {
                float *row = cols + (((size_t)ci * p->r + kr) * p->s + ks) * g->ohw;
                const float *xc = x + (size_t)ci * g->hw;
                int ix0 = -p->pad_w + ks * p->dil_w, lo, hi;
                cpu_conv_inside(ix0, p->stride_w, p->w, p->ow, &lo, &hi);
                for (int oy = 0; oy < p->oh; oy++) {
                    int iy = oy * p->stride_h - p->pad_h + kr * p->dil_h;
                    float *out = row + (size_t)oy * p->ow;
                    if (iy < 0 || iy >= p->h) {
                        memset(out, 0, (size_t)p->ow * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)iy * p->w;
                    for (int ox = 0; ox < lo; ox++)
                        out[ox] = 0.0f;
                    if (p->stride_w == 1)
                        cpu_copy_short(out + lo, xr + ix0 + lo, hi - lo);
                    else
                        for (int ox = lo; ox < hi; ox++)
                            out[ox] = xr[ox * p->stride_w + ix0];
                    for (int ox = hi; ox < p->ow; ox++)
                        out[ox] = 0.0f;
                }
            }
}

/* dx = 0, then dx[ci][iy][ix] += cols[...] for every column entry inside
 * the image (column range per tap found once, as in im2col). */
static void cpu_col2im(const cpu_conv_geom *g, const float *cols, float *dx)
{
    const mlopt_conv2d_params *p = g->p;
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (g->rows_avx512) {
        cpu_col2im_s1_avx512(&g->ig, cols, dx);
        return;
    }
#endif
    memset(dx, 0, (size_t)g->cg * g->hw * sizeof(float));
    for (int ci = 0; ci < g->cg; ci++)
        for (int kr = 0; kr < p->r; kr++)
            for (int ks = 0; ks < p->s; ks++) {
                const float *row = cols + (((size_t)ci * p->r + kr) * p->s + ks) * g->ohw;
                float *dc = dx + (size_t)ci * g->hw;
                int ix0 = -p->pad_w + ks * p->dil_w, lo, hi;
                cpu_conv_inside(ix0, p->stride_w, p->w, p->ow, &lo, &hi);
                for (int oy = 0; oy < p->oh; oy++) {
                    int iy = oy * p->stride_h - p->pad_h + kr * p->dil_h;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    const float *restrict in = row + (size_t)oy * p->ow;
                    float *restrict dr = dc + (size_t)iy * p->w;
                    if (p->stride_w == 1) {
                        float *restrict d = dr + ix0;
                        for (int ox = lo; ox < hi; ox++)
                            d[ox] += in[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++)
                            dr[ox * p->stride_w + ix0] += in[ox];
                    }
                }
            }
}

typedef struct cpu_conv_job {
    mlopt_backend_ctx *ctx;
    const cpu_conv_geom *g;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw;
    float *db;        /* backward-filter: bias gradient fused into the direct kernel, or NULL */
    int per_thread;   /* images spread over threads, single-threaded GEMMs */
    int transposed;   /* backward-filter computes dW^T (see below) */
    int partials;     /* backward-filter accumulates into conv_dw scratch */
    int failed;
    int direct_c1;   /* forward: one input channel per group, direct AVX2 loop */
    const float *wpack; /* forward / backward-data: op(W) per group packed once */
    size_t wpack_stride; /* floats per group in wpack */
    int bpacked_nr, bpacked_kc; /* forward: im2col into the packed B layout (nr 0: off);
                                 * backward-filter: cols^T into it */
    int touched[CPU_MAX_THREADS]; /* backward-filter: chunk wrote a partial */
} cpu_conv_job;

static float *cpu_conv_cols(cpu_conv_job *j, int thread)
{
    return j->ctx->conv_cols[j->per_thread ? thread : 0].data;
}

static void cpu_conv_forward_images(void *arg, size_t begin, size_t end, int thread)
{
    cpu_conv_job *j = arg;
    const cpu_conv_geom *g = j->g;
    const mlopt_conv2d_params *p = g->p;
    int gt = j->per_thread ? thread : -1;
    for (size_t ni = begin; ni < end; ni++) {
        for (int grp = 0; grp < p->groups; grp++) {
            const float *x = j->x + (ni * p->c + (size_t)grp * g->cg) * g->hw;
            float *y = j->y + (ni * p->k + (size_t)grp * g->kg) * g->ohw;
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (j->direct_c1) {
                if (g->rows_avx512 && p->r == 3 && p->s == 3 &&
                    cpu_conv_direct_c1_3x3_avx512(p->w, p->oh, p->ow, g->kg, x, j->w + (size_t)grp * g->kg * g->crs,
                                                  j->bias ? j->bias + (size_t)grp * g->kg : NULL, y))
                    continue;
                cpu_conv_direct_c1_avx2(p->r, p->s, p->w, p->oh, p->ow, g->kg, x,
                                        j->w + (size_t)grp * g->kg * g->crs,
                                        j->bias ? j->bias + (size_t)grp * g->kg : NULL, y);
                continue;
            }
#endif
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (j->bpacked_nr) {
                float *c = cpu_conv_cols(j, thread);
                cpu_im2col_packed_avx512(&g->ig, x, j->bpacked_nr, j->bpacked_kc, c);
                if (cpu_gemm_dispatch_packed_ab(j->ctx, gt, g->kg, (int)g->ohw, (int)g->crs,
                                                j->wpack + grp * j->wpack_stride, c, 0.0f, y,
                                                (int)g->ohw, "conv2d_forward"))
                    j->failed = 1;
                goto bias;
            }
#endif
            const float *cols = x;
            if (!g->pointwise) {
                float *c = cpu_conv_cols(j, thread);
                cpu_im2col(g, x, c);
                cols = c;
            }
            int rc = j->wpack
                         ? cpu_gemm_dispatch_packed_a(j->ctx, gt, g->kg, (int)g->ohw, (int)g->crs,
                                                      j->wpack + grp * j->wpack_stride, 0, cols,
                                                      (int)g->ohw, 0.0f, y, (int)g->ohw,
                                                      "conv2d_forward")
                         : cpu_gemm_dispatch(j->ctx, gt, 0, 0, g->kg, (int)g->ohw, (int)g->crs,
                                             1.0f, j->w + (size_t)grp * g->kg * g->crs,
                                             (int)g->crs, cols, (int)g->ohw, 0.0f, y,
                                             (int)g->ohw, "conv2d_forward");
            if (rc)
                j->failed = 1;
#if defined(CPU_HAVE_AVX2_KERNELS)
        bias:
#endif
            if (j->bias)
                for (int ko = 0; ko < g->kg; ko++) {
                    float b = j->bias[grp * g->kg + ko];
                    float *yr = y + (size_t)ko * g->ohw;
                    for (size_t i = 0; i < g->ohw; i++)
                        yr[i] += b;
                }
        }
    }
}

static void cpu_conv_backward_data_images(void *arg, size_t begin, size_t end, int thread)
{
    cpu_conv_job *j = arg;
    const cpu_conv_geom *g = j->g;
    const mlopt_conv2d_params *p = g->p;
    int gt = j->per_thread ? thread : -1;
    for (size_t ni = begin; ni < end; ni++) {
        for (int grp = 0; grp < p->groups; grp++) {
            const float *dy = j->dy + (ni * p->k + (size_t)grp * g->kg) * g->ohw;
            float *dx = j->dx + (ni * p->c + (size_t)grp * g->cg) * g->hw;
            const float *w = j->w + (size_t)grp * g->kg * g->crs;
            if (g->pointwise) {
                if (cpu_gemm_dispatch(j->ctx, gt, 1, 0, g->cg, (int)g->ohw, g->kg, 1.0f, w,
                                      (int)g->crs, dy, (int)g->ohw, 0.0f, dx, (int)g->hw,
                                      "conv2d_backward_data"))
                    j->failed = 1;
                continue;
            }
            float *c = cpu_conv_cols(j, thread);
            int rc = j->wpack
                         ? cpu_gemm_dispatch_packed_a(j->ctx, gt, (int)g->crs, (int)g->ohw, g->kg,
                                                      j->wpack + grp * j->wpack_stride, 0, dy,
                                                      (int)g->ohw, 0.0f, c, (int)g->ohw,
                                                      "conv2d_backward_data")
                         : cpu_gemm_dispatch(j->ctx, gt, 1, 0, (int)g->crs, (int)g->ohw, g->kg,
                                             1.0f, w, (int)g->crs, dy, (int)g->ohw, 0.0f, c,
                                             (int)g->ohw, "conv2d_backward_data");
            if (rc)
                j->failed = 1;
            cpu_col2im(g, c, dx);
        }
    }
}

static void cpu_conv_backward_filter_images(void *arg, size_t begin, size_t end, int thread)
{
    cpu_conv_job *j = arg;
    const cpu_conv_geom *g = j->g;
    const mlopt_conv2d_params *p = g->p;
    int gt = j->per_thread ? thread : -1;
    /* Partial gradients belong to the chunk, not to the thread that happened
     * to claim it: the sum over chunks then has a fixed order and results
     * are reproducible run to run. */
    size_t chunk = j->per_thread ? cpu_threadpool_chunk_index(j->ctx->pool, (size_t)p->n, begin) : 0;
    float *dw = j->partials ? j->ctx->conv_dw[chunk].data : j->dw;
    for (size_t ni = begin; ni < end; ni++) {
        for (int grp = 0; grp < p->groups; grp++) {
            const float *x = j->x + (ni * p->c + (size_t)grp * g->cg) * g->hw;
            const float *dy = j->dy + (ni * p->k + (size_t)grp * g->kg) * g->ohw;
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (j->direct_c1 && g->rows_avx512) {
                /* a chunk's bias partial follows its dW partial */
                float *db = !j->db ? NULL : j->partials ? dw + (size_t)p->k * g->crs : j->db;
                cpu_conv_direct_c1_dw3x3_avx512(p->w, p->oh, p->ow, g->kg, x, dy, ni > begin,
                                                dw + (size_t)grp * g->kg * g->crs, db ? db + (size_t)grp * g->kg : NULL);
                continue;
            }
            if (j->direct_c1) {
                cpu_conv_direct_c1_dw3x3_avx2(p->w, p->oh, p->ow, g->kg, x, dy, ni > begin,
                                              dw + (size_t)grp * g->kg * g->crs);
                continue;
            }
#endif
            /* the chunk's first image overwrites its partial, later ones add */
            float beta = ni > begin ? 1.0f : 0.0f;
            float *dwg = dw + (size_t)grp * g->kg * g->crs;
#if defined(CPU_HAVE_AVX2_KERNELS)
            /* cols^T straight into the GEMM's packed B panels (one pass
             * instead of im2col, then the GEMM transposing it while packing) */
            if (j->bpacked_nr &&
                cpu_im2col_packed_t_avx512(&g->ig, x, j->bpacked_nr, j->bpacked_kc, cpu_conv_cols(j, thread))) {
                if (cpu_gemm_dispatch_packed_b(j->ctx, gt, g->kg, (int)g->crs, (int)g->ohw, dy, (int)g->ohw,
                                               cpu_conv_cols(j, thread), beta, dwg, (int)g->crs,
                                               "conv2d_backward_filter"))
                    j->failed = 1;
                continue;
            }
#endif
            const float *cols = x;
            if (!g->pointwise) {
                float *c = cpu_conv_cols(j, thread);
                cpu_im2col(g, x, c);
                cols = c;
            }
            int rc;
            if (j->transposed) /* dW^T[crs][kg] += cols . dy^T */
                rc = cpu_gemm_dispatch(j->ctx, gt, 0, 1, (int)g->crs, g->kg, (int)g->ohw, 1.0f,
                                       cols, (int)g->ohw, dy, (int)g->ohw, beta, dwg, g->kg,
                                       "conv2d_backward_filter");
            else /* dW[kg][crs] += dy . cols^T */
                rc = cpu_gemm_dispatch(j->ctx, gt, 0, 1, g->kg, (int)g->crs, (int)g->ohw, 1.0f,
                                       dy, (int)g->ohw, cols, (int)g->ohw, beta, dwg,
                                       (int)g->crs, "conv2d_backward_filter");
            if (rc)
                j->failed = 1;
        }
    }
    j->touched[chunk] = 1;
}

/* Sizes every scratch buffer the chosen schedule needs before any thread
 * starts, so that worker threads never allocate or record errors. */
static int cpu_conv_prepare(mlopt_backend_ctx *ctx, cpu_conv_job *j, const char *call, int dw_too)
{
    const cpu_conv_geom *g = j->g;
    int threads = cpu_threads(ctx);
    j->per_thread = threads > 1 && g->p->n >= threads;
    /* With fewer filter taps than filters (a first layer: c*r*s = 9 vs 32
     * filters) dW is a short, wide product that fills few rows of each
     * micro-tile; its transpose fills them far better. */
    j->transposed = dw_too && !j->direct_c1 && g->crs < (size_t)g->kg;
    j->partials = dw_too && (j->per_thread || j->transposed);
    int slots = j->per_thread ? threads : 1;
    for (int t = 0; t < slots; t++) {
        if (!g->pointwise &&
            !cpu_scratch_reserve(ctx, &ctx->conv_cols[t], g->crs * g->ohw * sizeof(float), call))
            return 1;
        if (dw_too && j->partials &&
            !cpu_scratch_reserve(ctx, &ctx->conv_dw[t],
                                 (size_t)g->p->k * (g->crs + 1) * sizeof(float), call))
            return 1;
        if (j->per_thread) {
            /* every GEMM shape the three passes use */
            if (cpu_gemm_reserve(ctx, t, g->kg, (int)g->ohw, (int)g->crs, call) ||
                cpu_gemm_reserve(ctx, t, (int)g->crs, (int)g->ohw, g->kg, call) ||
                cpu_gemm_reserve(ctx, t, g->kg, (int)g->crs, (int)g->ohw, call) ||
                cpu_gemm_reserve(ctx, t, (int)g->crs, g->kg, (int)g->ohw, call))
                return 1;
        }
    }
    return 0;
}

/* Packs op(W) of every group once for the per-image GEMMs (W for the
 * forward product, W^T for backward-data's), which otherwise each re-pack
 * (transpose) the same weights.  Only worth it with several images; the
 * packed panels and hence the results are the same either way. */
static int cpu_conv_pack_weights(mlopt_backend_ctx *ctx, cpu_conv_job *j, int trans, int m, int k,
                                 const char *call)
{
    const cpu_conv_geom *g = j->g;
    size_t per = cpu_gemm_packed_a_floats(ctx, m, k);
    if (per == 0 || g->p->n < 2 || cpu_gemm_is_small(ctx, trans, 0, m, (int)g->ohw, k))
        return 0;
    float *dst = cpu_scratch_reserve(ctx, &ctx->conv_wpack, per * g->p->groups * sizeof(float), call);
    if (!dst)
        return 1;
    for (int grp = 0; grp < g->p->groups; grp++)
        cpu_gemm_pack_a(ctx, trans, m, k, j->w + (size_t)grp * g->kg * g->crs, (int)g->crs,
                        dst + grp * per);
    j->wpack = dst;
    j->wpack_stride = per;
    return 0;
}

static int cpu_conv_run(mlopt_backend_ctx *ctx, cpu_conv_job *j, cpu_parallel_fn fn,
                        const char *call)
{
    size_t n = (size_t)j->g->p->n;
    if (j->per_thread)
        cpu_threadpool_run(ctx->pool, n, fn, j);
    else
        fn(j, 0, n, 0);
    if (j->failed)
        return cpu_fail(ctx, "%s: GEMM scratch allocation failed", call);
    return 0;
}

int cpu_conv2d_forward(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                       mlopt_ref w, mlopt_ref bias, mlopt_ref y)
{
    const char *call = "conv2d_forward";
    cpu_conv_geom g;
    if (cpu_conv_check(ctx, call, p, &g))
        return 1;
    const float *px = cpu_ref_ptr(ctx, x, (size_t)p->n * p->c * g.hw * 4, call, "x");
    const float *pw = px ? cpu_ref_ptr(ctx, w, (size_t)p->k * g.crs * 4, call, "w") : NULL;
    float *py = pw ? cpu_ref_ptr(ctx, y, (size_t)p->n * p->k * g.ohw * 4, call, "y") : NULL;
    if (!py)
        return 1;
    const float *pb = NULL;
    if (bias.buf && !(pb = cpu_ref_ptr(ctx, bias, (size_t)p->k * 4, call, "bias")))
        return 1;
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    if (ctx->reference) {
        cpu_conv_ref_forward(&g, px, pw, pb, py);
        return 0;
    }
    cpu_conv_job j = {.ctx = ctx, .g = &g, .x = px, .w = pw, .bias = pb, .y = py};
    j.direct_c1 = ctx->use_avx2 && g.cg == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                  p->dil_h == 1 && p->dil_w == 1 && p->pad_h == 0 && p->pad_w == 0 &&
                  p->oh == p->h - p->r + 1 && p->ow == p->w - p->s + 1;
    if (cpu_conv_prepare(ctx, &j, call, 0))
        return 1;
    if (!j.direct_c1 && cpu_conv_pack_weights(ctx, &j, 0, g.kg, (int)g.crs, call))
        return 1;
    if (j.wpack && g.rows_avx512 && !g.pointwise) {
        /* the columns go straight into packed panels: size the column
         * scratch for that layout (zero-padded to whole panels) */
        cpu_gemm_packed_b_layout(ctx, g.kg, &j.bpacked_nr, &j.bpacked_kc);
        size_t floats = (g.ohw + (size_t)j.bpacked_nr - 1) / j.bpacked_nr * j.bpacked_nr * g.crs;
        for (int t = 0; t < (j.per_thread ? cpu_threads(ctx) : 1); t++)
            if (!cpu_scratch_reserve(ctx, &ctx->conv_cols[t], floats * sizeof(float), call))
                return 1;
    }
    return cpu_conv_run(ctx, &j, cpu_conv_forward_images, call);
}

int cpu_conv2d_backward_data(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref dy,
                             mlopt_ref w, mlopt_ref dx)
{
    const char *call = "conv2d_backward_data";
    cpu_conv_geom g;
    if (cpu_conv_check(ctx, call, p, &g))
        return 1;
    const float *pdy = cpu_ref_ptr(ctx, dy, (size_t)p->n * p->k * g.ohw * 4, call, "dy");
    const float *pw = pdy ? cpu_ref_ptr(ctx, w, (size_t)p->k * g.crs * 4, call, "w") : NULL;
    float *pdx = pw ? cpu_ref_ptr(ctx, dx, (size_t)p->n * p->c * g.hw * 4, call, "dx") : NULL;
    if (!pdx)
        return 1;
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    if (ctx->reference)
        return cpu_conv_ref_backward_data(ctx, &g, pdy, pw, pdx);
    cpu_conv_job j = {.ctx = ctx, .g = &g, .dy = pdy, .w = pw, .dx = pdx};
    if (cpu_conv_prepare(ctx, &j, call, 0))
        return 1;
    /* pointwise: m = cg, which equals crs */
    if (cpu_conv_pack_weights(ctx, &j, 1, (int)g.crs, g.kg, call))
        return 1;
    return cpu_conv_run(ctx, &j, cpu_conv_backward_data_images, call);
}

typedef struct cpu_conv_bias_job {
    const float *dy;
    float *db;
    int n, k;
    size_t ohw;
    int reference;
} cpu_conv_bias_job;

/* dbias[ko] = sum over images and pixels of dy, for channels [begin, end) */
static void cpu_conv_bias_grad_channels(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_conv_bias_job *j = arg;
    for (size_t ko = begin; ko < end; ko++) {
        double acc = 0.0;
        for (int ni = 0; ni < j->n; ni++) {
            const float *d = j->dy + ((size_t)ni * j->k + ko) * j->ohw;
            if (j->reference) {
                for (size_t i = 0; i < j->ohw; i++)
                    acc += d[i];
                continue;
            }
            /* fast path: one image's row in eight float lanes (which
             * vectorize), rows then added in double */
            float lane[8] = {0};
            size_t i = 0;
            for (; i + 8 <= j->ohw; i += 8)
                for (int l = 0; l < 8; l++)
                    lane[l] += d[i + l];
            double row = 0.0;
            for (; i < j->ohw; i++)
                row += d[i];
            for (int l = 0; l < 8; l++)
                row += lane[l];
            acc += row;
        }
        j->db[ko] = (float)acc;
    }
}

int cpu_conv2d_backward_filter(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                               mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias)
{
    const char *call = "conv2d_backward_filter";
    cpu_conv_geom g;
    if (cpu_conv_check(ctx, call, p, &g))
        return 1;
    size_t wcount = (size_t)p->k * g.crs;
    const float *px = cpu_ref_ptr(ctx, x, (size_t)p->n * p->c * g.hw * 4, call, "x");
    const float *pdy = px ? cpu_ref_ptr(ctx, dy, (size_t)p->n * p->k * g.ohw * 4, call, "dy") : NULL;
    float *pdw = pdy ? cpu_ref_ptr(ctx, dw, wcount * 4, call, "dw") : NULL;
    if (!pdw)
        return 1;
    float *pdb = NULL;
    if (dbias.buf && !(pdb = cpu_ref_ptr(ctx, dbias, (size_t)p->k * 4, call, "dbias")))
        return 1;
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    /* the AVX-512 direct 3x3 kernel of a one-channel layer sums the bias
     * gradient from the loads of dy it makes anyway */
    int direct_c1 = !ctx->reference && ctx->use_avx2 && g.cg == 1 && p->r == 3 && p->s == 3 && p->stride_h == 1 &&
                    p->stride_w == 1 && p->dil_h == 1 && p->dil_w == 1 && p->pad_h == 0 && p->pad_w == 0 &&
                    p->oh == p->h - 2 && p->ow == p->w - 2;
    int fused_bias = pdb && direct_c1 && g.rows_avx512 && p->n > 0 && g.ohw > 0;
    if (pdb && !fused_bias) {
        cpu_conv_bias_job bj = {.dy = pdy, .db = pdb, .n = p->n, .k = p->k, .ohw = g.ohw,
                                .reference = ctx->reference};
        /* channels are independent and each keeps its summation order, so
         * spreading them over the pool changes no bits */
        if (ctx->reference || (size_t)p->n * p->k * g.ohw < CPU_PAR_MIN_ELEMS)
            cpu_conv_bias_grad_channels(&bj, 0, (size_t)p->k, 0);
        else
            cpu_threadpool_run(ctx->pool, (size_t)p->k, cpu_conv_bias_grad_channels, &bj);
    }
    if (ctx->reference) {
        cpu_conv_ref_backward_filter(&g, px, pdy, pdw);
        return 0;
    }
    if (p->n == 0 || g.ohw == 0) {
        memset(pdw, 0, wcount * sizeof(float));
        return 0;
    }
    cpu_conv_job j = {.ctx = ctx, .g = &g, .x = px, .dy = pdy, .dw = pdw, .db = fused_bias ? pdb : NULL};
    j.direct_c1 = direct_c1;
    if (cpu_conv_prepare(ctx, &j, call, 1))
        return 1;
    if (!j.direct_c1 && !j.transposed && g.rows_avx512 && !g.pointwise &&
        cpu_gemm_blocked_packs(ctx, 0, 1, g.kg, (int)g.crs, (int)g.ohw)) {
        /* the product dW = dy . cols^T takes the blocked path: give it cols^T
         * already packed, sized for that layout (whole panels of taps) */
        cpu_gemm_packed_b_layout(ctx, g.kg, &j.bpacked_nr, &j.bpacked_kc);
        size_t floats = (g.crs + (size_t)j.bpacked_nr - 1) / j.bpacked_nr * j.bpacked_nr * g.ohw;
        for (int t = 0; t < (j.per_thread ? cpu_threads(ctx) : 1); t++)
            if (!cpu_scratch_reserve(ctx, &ctx->conv_cols[t], floats * sizeof(float), call))
                return 1;
    }
    if (cpu_conv_run(ctx, &j, cpu_conv_backward_filter_images, call))
        return 1;
    if (j.partials) {
        /* sum the partial gradients (transposing them back if needed) */
        int first = 1;
        for (int t = 0; t < cpu_threads(ctx); t++) {
            if (!j.touched[t])
                continue;
            const float *part = ctx->conv_dw[t].data;
            for (int grp = 0; grp < p->groups; grp++) {
                size_t base = (size_t)grp * g.kg * g.crs;
                for (int ko = 0; ko < g.kg; ko++)
                    for (size_t q = 0; q < g.crs; q++) {
                        float v = j.transposed ? part[base + q * g.kg + ko]
                                               : part[base + (size_t)ko * g.crs + q];
                        float *d = &pdw[base + (size_t)ko * g.crs + q];
                        *d = first ? v : *d + v;
                    }
            }
            if (j.db) /* the chunk's bias partial, after its dW partial */
                for (int ko = 0; ko < p->k; ko++)
                    pdb[ko] = first ? part[(size_t)p->k * g.crs + ko] : pdb[ko] + part[(size_t)p->k * g.crs + ko];
            first = 0;
        }
    }
    return 0;
}
