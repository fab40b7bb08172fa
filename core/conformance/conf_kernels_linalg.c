/* Generated cases for GEMM and convolution slots: odd and tile-unaligned
 * shapes, transposes, padded leading dimensions, beta == 0 over a NaN C,
 * edge values, groups, dilation, asymmetric end padding. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf_internal.h"

/* ---- gemm ---- */

typedef struct gemm_shape {
    int m, n, k, ta, tb, pad;
    float alpha, beta;
    int edge;   /* edge values in A and B */
    int nan_c;  /* C holds NaN (beta must be 0) */
} gemm_shape;

static const gemm_shape gemm_shapes[] = {
    { 1, 1, 1, 0, 0, 0, 1.0f, 0.0f, 0, 0 },
    { 7, 5, 3, 0, 0, 0, 1.0f, 0.0f, 0, 1 },
    { 17, 33, 9, 1, 0, 2, 0.5f, 1.0f, 0, 0 },
    { 33, 17, 65, 0, 1, 0, 1.0f, -0.5f, 0, 0 },
    { 64, 64, 64, 1, 1, 3, -1.0f, 0.0f, 0, 1 },
    { 13, 70, 31, 0, 0, 1, 1.0f, 0.25f, 1, 0 },
    { 100, 3, 129, 1, 0, 0, 2.0f, 0.0f, 0, 0 },
};

static void fill_gemm_operand(conf_rng *r, float *x, size_t n, int edge)
{
    if (edge)
        conf_fill_edge(r, x, n, 1.0, 0);
    else
        conf_fill_uniform(r, x, n, -1.0, 1.0);
}

static int gen_gemm(conf_case *c, int index, conf_rng *r)
{
    if (index >= (int)(sizeof gemm_shapes / sizeof gemm_shapes[0]))
        return 0;
    const gemm_shape *s = &gemm_shapes[index];
    /* Stored shapes: A is m x k (k x m when transposed), leading dims padded. */
    int ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k;
    int br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
    int lda = ac + s->pad, ldb = bc + s->pad, ldc = s->n + s->pad;
    c->ip[0] = s->ta, c->ip[1] = s->tb, c->ip[2] = s->m, c->ip[3] = s->n, c->ip[4] = s->k;
    c->ip[5] = lda, c->ip[6] = ldb, c->ip[7] = ldc;
    c->fp[0] = s->alpha, c->fp[1] = s->beta;
    snprintf(c->desc, sizeof c->desc, "m=%d n=%d k=%d ta=%d tb=%d ld+%d alpha=%g beta=%g%s%s", s->m, s->n, s->k,
             s->ta, s->tb, s->pad, (double)s->alpha, (double)s->beta, s->edge ? " edge values" : "",
             s->nan_c ? " C=NaN" : "");
    float *a = conf_add_arg(c, "A", CONF_IN, (size_t)ar * lda);
    float *b = conf_add_arg(c, "B", CONF_IN, (size_t)br * ldb);
    float *cc = conf_add_arg(c, "C", CONF_INOUT, (size_t)s->m * ldc);
    if (!a || !b || !cc)
        return 1;
    fill_gemm_operand(r, a, (size_t)ar * lda, s->edge);
    fill_gemm_operand(r, b, (size_t)br * ldb, s->edge);
    for (size_t i = 0; i < (size_t)s->m * ldc; i++)
        cc[i] = s->nan_c ? NAN : (float)conf_rng_uniform(r, -1, 1);
    return 1;
}

static int launch_gemm(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->gemm(ctx, c->ip[0], c->ip[1], c->ip[2], c->ip[3], c->ip[4], c->fp[0], refs[0], c->ip[5], refs[1],
                    c->ip[6], c->fp[1], refs[2], c->ip[7]);
}

/* ---- gemm_strided_batched: gaps between the matrices ---- */

static const gemm_shape batched_shapes[] = {
    { 5, 7, 3, 0, 0, 0, 1.0f, 0.0f, 0, 1 },
    { 16, 8, 12, 1, 0, 1, 1.0f, 1.0f, 0, 0 },
    { 9, 31, 17, 0, 1, 0, 0.5f, 0.0f, 0, 0 },
    { 3, 3, 33, 1, 1, 2, 1.0f, -1.0f, 0, 0 },
};

static int gen_gemm_batched(conf_case *c, int index, conf_rng *r)
{
    if (index >= (int)(sizeof batched_shapes / sizeof batched_shapes[0]))
        return 0;
    const gemm_shape *s = &batched_shapes[index];
    int batch = 3 + index % 2;
    int ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k;
    int br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
    int lda = ac + s->pad, ldb = bc + s->pad, ldc = s->n + s->pad;
    long long sa = (long long)ar * lda + 5, sb = (long long)br * ldb + 3, sc = (long long)s->m * ldc + 7;
    c->ip[0] = s->ta, c->ip[1] = s->tb, c->ip[2] = s->m, c->ip[3] = s->n, c->ip[4] = s->k;
    c->ip[5] = lda, c->ip[6] = ldb, c->ip[7] = ldc, c->ip[8] = batch;
    c->ip[9] = (int)sa, c->ip[10] = (int)sb, c->ip[11] = (int)sc;
    c->fp[0] = s->alpha, c->fp[1] = s->beta;
    snprintf(c->desc, sizeof c->desc, "batch=%d m=%d n=%d k=%d ta=%d tb=%d strides %lld/%lld/%lld beta=%g%s", batch,
             s->m, s->n, s->k, s->ta, s->tb, sa, sb, sc, (double)s->beta, s->nan_c ? " C=NaN" : "");
    size_t na = (size_t)(sa * batch), nb = (size_t)(sb * batch), nc = (size_t)(sc * batch);
    float *a = conf_add_arg(c, "A", CONF_IN, na);
    float *b = conf_add_arg(c, "B", CONF_IN, nb);
    float *cc = conf_add_arg(c, "C", CONF_INOUT, nc);
    if (!a || !b || !cc)
        return 1;
    conf_fill_uniform(r, a, na, -1, 1);
    conf_fill_uniform(r, b, nb, -1, 1);
    /* Gaps between C matrices are data the kernel must not touch: give
     * them values the guard check cannot see but the comparison can. */
    for (size_t i = 0; i < nc; i++)
        cc[i] = s->nan_c ? NAN : (float)conf_rng_uniform(r, -1, 1);
    if (s->nan_c)
        for (int bi = 0; bi < batch; bi++)
            for (long long j = (long long)s->m * ldc; j < sc; j++)
                cc[bi * sc + j] = 42.0f; /* gap: must stay 42 */
    return 1;
}

static int launch_gemm_batched(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                               const mlopt_ref *refs)
{
    return be->gemm_strided_batched(ctx, c->ip[0], c->ip[1], c->ip[2], c->ip[3], c->ip[4], c->fp[0], refs[0],
                                    c->ip[5], c->ip[9], refs[1], c->ip[6], c->ip[10], c->fp[1], refs[2], c->ip[7],
                                    c->ip[11], c->ip[8]);
}

/* ---- convolution ---- */

typedef struct conv_shape {
    int n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, groups;
    int extra_end; /* asymmetric end padding: one more output row/col */
    int bias;
} conv_shape;

static const conv_shape conv_shapes[] = {
    { 2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 1 },
    { 1, 4, 8, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2, 0, 1 },
    { 2, 2, 9, 7, 3, 2, 3, 2, 1, 0, 1, 2, 1, 1, 0, 0 },
    { 1, 1, 5, 5, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1 },
    { 1, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0, 1 },  /* depthwise */
    { 2, 1, 12, 12, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 1 }, /* the seed CNN's first layer, small */
    { 1, 3, 6, 5, 2, 3, 2, 2, 2, 0, 1, 1, 1, 1, 1, 1 },  /* asymmetric end padding */
    { 3, 5, 4, 4, 7, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 1 },
};

static int conv_out(int in, int k, int stride, int pad, int dil, int extra)
{
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1 + extra;
}

static int gen_conv_params(conf_case *c, int index)
{
    if (index >= (int)(sizeof conv_shapes / sizeof conv_shapes[0]))
        return 0;
    const conv_shape *s = &conv_shapes[index];
    mlopt_conv2d_params *p = &c->conv;
    *p = (mlopt_conv2d_params){ s->n, s->c, s->h, s->w, s->k, s->r, s->s, s->sh, s->sw, s->ph, s->pw,
                                s->dh, s->dw, s->groups, 0, 0 };
    p->oh = conv_out(s->h, s->r, s->sh, s->ph, s->dh, s->extra_end);
    p->ow = conv_out(s->w, s->s, s->sw, s->pw, s->dw, s->extra_end);
    c->ip[0] = s->bias;
    snprintf(c->desc, sizeof c->desc,
             "x %dx%dx%dx%d w %dx%dx%dx%d stride %d,%d pad %d,%d dil %d,%d groups %d -> %dx%d%s%s", s->n, s->c,
             s->h, s->w, s->k, s->c / s->groups, s->r, s->s, s->sh, s->sw, s->ph, s->pw, s->dh, s->dw, s->groups,
             p->oh, p->ow, s->extra_end ? " (asymmetric end pad)" : "", s->bias ? "" : " no bias");
    return 1;
}

static size_t conv_x_size(const mlopt_conv2d_params *p) { return (size_t)p->n * p->c * p->h * p->w; }
static size_t conv_w_size(const mlopt_conv2d_params *p) { return (size_t)p->k * (p->c / p->groups) * p->r * p->s; }
static size_t conv_y_size(const mlopt_conv2d_params *p) { return (size_t)p->n * p->k * p->oh * p->ow; }

static int gen_conv_forward(conf_case *c, int index, conf_rng *r)
{
    if (!gen_conv_params(c, index))
        return 0;
    const mlopt_conv2d_params *p = &c->conv;
    float *x = conf_add_arg(c, "x", CONF_IN, conv_x_size(p));
    float *w = conf_add_arg(c, "w", CONF_IN, conv_w_size(p));
    float *b = c->ip[0] ? conf_add_arg(c, "bias", CONF_IN, (size_t)p->k) : (conf_add_arg(c, "bias", CONF_NULL, 0), NULL);
    if (!conf_add_arg(c, "y", CONF_OUT, conv_y_size(p)) || !x || !w)
        return 1;
    if (index == 7)
        conf_fill_edge(r, x, conv_x_size(p), 1.0, 0);
    else
        conf_fill_uniform(r, x, conv_x_size(p), -1, 1);
    conf_fill_uniform(r, w, conv_w_size(p), -1, 1);
    if (b)
        conf_fill_uniform(r, b, (size_t)p->k, -1, 1);
    return 1;
}

static int launch_conv_forward(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                               const mlopt_ref *refs)
{
    return be->conv2d_forward(ctx, &c->conv, refs[0], refs[1], refs[2], refs[3]);
}

static int gen_conv_backward_data(conf_case *c, int index, conf_rng *r)
{
    if (!gen_conv_params(c, index))
        return 0;
    const mlopt_conv2d_params *p = &c->conv;
    float *dy = conf_add_arg(c, "dy", CONF_IN, conv_y_size(p));
    float *w = conf_add_arg(c, "w", CONF_IN, conv_w_size(p));
    if (!conf_add_arg(c, "dx", CONF_OUT, conv_x_size(p)) || !dy || !w)
        return 1;
    conf_fill_uniform(r, dy, conv_y_size(p), -1, 1);
    conf_fill_uniform(r, w, conv_w_size(p), -1, 1);
    return 1;
}

static int launch_conv_backward_data(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                                     const mlopt_ref *refs)
{
    return be->conv2d_backward_data(ctx, &c->conv, refs[0], refs[1], refs[2]);
}

static int gen_conv_backward_filter(conf_case *c, int index, conf_rng *r)
{
    if (!gen_conv_params(c, index))
        return 0;
    const mlopt_conv2d_params *p = &c->conv;
    float *x = conf_add_arg(c, "x", CONF_IN, conv_x_size(p));
    float *dy = conf_add_arg(c, "dy", CONF_IN, conv_y_size(p));
    if (!conf_add_arg(c, "dw", CONF_OUT, conv_w_size(p)) || !x || !dy)
        return 1;
    if (c->ip[0]) {
        if (!conf_add_arg(c, "dbias", CONF_OUT, (size_t)p->k))
            return 1;
    } else {
        conf_add_arg(c, "dbias", CONF_NULL, 0);
    }
    conf_fill_uniform(r, x, conv_x_size(p), -1, 1);
    conf_fill_uniform(r, dy, conv_y_size(p), -1, 1);
    return 1;
}

static int launch_conv_backward_filter(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                                       const mlopt_ref *refs)
{
    return be->conv2d_backward_filter(ctx, &c->conv, refs[0], refs[1], refs[2], refs[3]);
}

#define SLOT(f) offsetof(mlopt_backend, f)

const conf_kernel_check conf_checks_linalg[] = {
    { "gemm", SLOT(gemm), gen_gemm, launch_gemm, 1e-10, 1e-3, MLOPT_CONF_LEVEL_FORWARD },
    { "gemm_strided_batched", SLOT(gemm_strided_batched), gen_gemm_batched, launch_gemm_batched, 1e-10, 1e-3, 0 },
    { "conv2d_forward", SLOT(conv2d_forward), gen_conv_forward, launch_conv_forward, 1e-10, 1e-3,
      MLOPT_CONF_LEVEL_FORWARD },
    { "conv2d_backward_data", SLOT(conv2d_backward_data), gen_conv_backward_data, launch_conv_backward_data, 1e-10,
      1e-3, MLOPT_CONF_LEVEL_BACKWARD },
    { "conv2d_backward_filter", SLOT(conv2d_backward_filter), gen_conv_backward_filter, launch_conv_backward_filter,
      1e-10, 1e-3, MLOPT_CONF_LEVEL_BACKWARD },
};
const int conf_checks_linalg_count = (int)(sizeof conf_checks_linalg / sizeof conf_checks_linalg[0]);
