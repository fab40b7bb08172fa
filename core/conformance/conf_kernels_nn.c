/* Generated cases for the neural-network slots: pooling, activations,
 * bias, batch normalization, dropout, softmax and the losses. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf_internal.h"

double conf_act_host(int act, double alpha, double beta, double x)
{
    switch (act) {
    case MLOPT_ACT_IDENTITY: return x;
    case MLOPT_ACT_RELU: return x > 0 ? x : 0;
    case MLOPT_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case MLOPT_ACT_ELU: return x > 0 ? x : alpha * expm1(x);
    case MLOPT_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case MLOPT_ACT_SILU: return x / (1.0 + exp(-x));
    case MLOPT_ACT_TANH: return tanh(x);
    case MLOPT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case MLOPT_ACT_HARD_SIGMOID: return fmax(0.0, fmin(1.0, alpha * x + beta));
    case MLOPT_ACT_HARD_SWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
    default: return x;
    }
}

/* ---- pooling ---- */

typedef struct pool_shape {
    int n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, extra_end;
} pool_shape;

static const pool_shape pool_shapes[] = {
    { 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1, 0 },
    { 1, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 0 },
    { 1, 3, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0 },
    { 2, 1, 5, 6, 2, 3, 1, 2, 0, 1, 1, 1, 1 }, /* ceil mode: one more output */
    { 1, 2, 9, 9, 3, 3, 2, 2, 1, 1, 2, 2, 0 }, /* dilation */
};
#define N_POOL_SHAPES ((int)(sizeof pool_shapes / sizeof pool_shapes[0]))
static const char *const pool_mode_names[] = { "max", "avg", "avg_incl_pad" };

static int gen_pool_params(conf_case *c, int index)
{
    if (index >= N_POOL_SHAPES * 3)
        return 0;
    const pool_shape *s = &pool_shapes[index / 3];
    int mode = index % 3;
    mlopt_pool2d_params *p = &c->pool;
    *p = (mlopt_pool2d_params){ s->n, s->c, s->h, s->w, s->kh, s->kw, s->sh, s->sw, s->ph, s->pw, s->dh, s->dw, 0, 0 };
    p->oh = (s->h + 2 * s->ph - s->dh * (s->kh - 1) - 1) / s->sh + 1 + s->extra_end;
    p->ow = (s->w + 2 * s->pw - s->dw * (s->kw - 1) - 1) / s->sw + 1 + s->extra_end;
    c->ip[0] = mode;
    snprintf(c->desc, sizeof c->desc, "%s x %dx%dx%dx%d k %dx%d stride %d,%d pad %d,%d dil %d,%d -> %dx%d%s",
             pool_mode_names[mode], s->n, s->c, s->h, s->w, s->kh, s->kw, s->sh, s->sw, s->ph, s->pw, s->dh, s->dw,
             p->oh, p->ow, s->extra_end ? " (ceil)" : "");
    return 1;
}

/* Values on a coarse grid make ties, so the first-max rule is exercised. */
static void fill_ties(conf_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(conf_rng_int(r, -4, 4) * 0.5);
}

static int gen_pool_forward(conf_case *c, int index, conf_rng *r)
{
    if (!gen_pool_params(c, index))
        return 0;
    const mlopt_pool2d_params *p = &c->pool;
    size_t nx = (size_t)p->n * p->c * p->h * p->w, ny = (size_t)p->n * p->c * p->oh * p->ow;
    float *x = conf_add_arg(c, "x", CONF_IN, nx);
    if (!conf_add_arg(c, "y", CONF_OUT, ny) || !x)
        return 1;
    conf_fill_uniform(r, x, nx, -2, 2);
    if (c->ip[0] == MLOPT_POOL_MAX && index / 3 == 2) {
        /* Infinities: a max is +inf or skips -inf. */
        for (size_t i = 0; i < nx; i += 7)
            x[i] = (i / 7) % 2 ? INFINITY : -INFINITY;
        strncat(c->desc, " with +-inf", sizeof c->desc - strlen(c->desc) - 1);
    }
    return 1;
}

static int launch_pool_forward(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                               const mlopt_ref *refs)
{
    return be->pool2d_forward(ctx, c->ip[0], &c->pool, refs[0], refs[1]);
}

static int gen_pool_backward(conf_case *c, int index, conf_rng *r)
{
    if (!gen_pool_params(c, index))
        return 0;
    const mlopt_pool2d_params *p = &c->pool;
    size_t nx = (size_t)p->n * p->c * p->h * p->w, ny = (size_t)p->n * p->c * p->oh * p->ow;
    float *x = conf_add_arg(c, "x", CONF_IN, nx);
    float *dy = conf_add_arg(c, "dy", CONF_IN, ny);
    if (!conf_add_arg(c, "dx", CONF_OUT, nx) || !x || !dy)
        return 1;
    fill_ties(r, x, nx);
    conf_fill_uniform(r, dy, ny, -1, 1);
    strncat(c->desc, " (ties)", sizeof c->desc - strlen(c->desc) - 1);
    return 1;
}

static int launch_pool_backward(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                                const mlopt_ref *refs)
{
    return be->pool2d_backward(ctx, c->ip[0], &c->pool, refs[0], refs[1], refs[2]);
}

/* ---- activations ---- */

static void act_params(int act, int variant, float *alpha, float *beta)
{
    *alpha = 0, *beta = 0;
    if (act == MLOPT_ACT_LEAKY_RELU)
        *alpha = variant ? 0.2f : 0.01f;
    else if (act == MLOPT_ACT_ELU)
        *alpha = variant ? 0.5f : 1.0f;
    else if (act == MLOPT_ACT_HARD_SIGMOID)
        *alpha = variant ? 0.2f : 1.0f / 6.0f, *beta = 0.5f;
}

static int gen_act_forward(conf_case *c, int index, conf_rng *r)
{
    if (index >= MLOPT_ACT_COUNT_ * 2)
        return 0;
    int act = index % MLOPT_ACT_COUNT_, variant = index / MLOPT_ACT_COUNT_;
    size_t n = variant ? 257 : 1031;
    act_params(act, variant, &c->fp[0], &c->fp[1]);
    c->ip[0] = act;
    if (variant == 0) {
        float *x = conf_add_arg(c, "x", CONF_IN, n);
        if (!conf_add_arg(c, "y", CONF_OUT, n) || !x)
            return 1;
        conf_fill_edge(r, x, n, 8.0, 1);
        /* The infinities and NaN at known places, whatever the generator drew. */
        x[0] = INFINITY, x[1] = -INFINITY, x[2] = NAN, x[3] = 0.0f, x[4] = -0.0f, x[5] = 1e30f, x[6] = -1e30f;
        snprintf(c->desc, sizeof c->desc, "act %d alpha=%g beta=%g n=%zu edge values, +-inf, NaN", act,
                 (double)c->fp[0], (double)c->fp[1], n);
    } else {
        float *x = conf_add_arg(c, "x (in place)", CONF_INOUT, n);
        if (!x)
            return 1;
        conf_fill_uniform(r, x, n, -6, 6);
        c->alias_out = 1, c->alias_in = 0;
        snprintf(c->desc, sizeof c->desc, "act %d alpha=%g beta=%g n=%zu y aliases x", act, (double)c->fp[0],
                 (double)c->fp[1], n);
    }
    return 1;
}

static int launch_act_forward(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                              const mlopt_ref *refs)
{
    mlopt_ref y = c->alias_out ? refs[0] : refs[1];
    return be->act_forward(ctx, c->ip[0], c->fp[0], c->fp[1], c->args[0].n, refs[0], y);
}

static int gen_act_backward(conf_case *c, int index, conf_rng *r)
{
    if (index >= MLOPT_ACT_COUNT_ * 2)
        return 0;
    int act = index % MLOPT_ACT_COUNT_, variant = index / MLOPT_ACT_COUNT_;
    size_t n = variant ? 333 : 1025;
    act_params(act, variant, &c->fp[0], &c->fp[1]);
    c->ip[0] = act;
    snprintf(c->desc, sizeof c->desc, "act %d alpha=%g beta=%g n=%zu", act, (double)c->fp[0], (double)c->fp[1], n);
    float *x = conf_add_arg(c, "x", CONF_IN, n);
    float *y = conf_add_arg(c, "y", CONF_IN, n);
    float *dy = conf_add_arg(c, "dy", CONF_IN, n);
    if (!conf_add_arg(c, "dx", CONF_OUT, n) || !x || !y || !dy)
        return 1;
    /* No exact kinks (the derivative there is a convention) and no
     * denormals (a device flushing them moves x across ReLU's kink). */
    conf_fill_uniform(r, x, n, variant ? -40 : -6, variant ? 40 : 6);
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i]) < 1e-6f)
            x[i] = 0.5f;
        y[i] = (float)conf_act_host(act, c->fp[0], c->fp[1], x[i]);
    }
    conf_fill_uniform(r, dy, n, -1, 1);
    return 1;
}

static int launch_act_backward(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                               const mlopt_ref *refs)
{
    return be->act_backward(ctx, c->ip[0], c->fp[0], c->fp[1], c->args[0].n, refs[0], refs[1], refs[2], refs[3]);
}

/* ---- bias ---- */

static const int nci_shapes[][3] = { { 3, 5, 7 }, { 1, 1, 1 }, { 64, 10, 1 }, { 2, 7, 33 }, { 5, 3, 49 } };
#define N_NCI ((int)(sizeof nci_shapes / sizeof nci_shapes[0]))

static int gen_bias_add(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_NCI)
        return 0;
    int n = nci_shapes[index][0], ch = nci_shapes[index][1], inner = nci_shapes[index][2];
    c->ip[0] = n, c->ip[1] = ch, c->ip[2] = inner;
    snprintf(c->desc, sizeof c->desc, "n=%d c=%d inner=%d", n, ch, inner);
    float *x = conf_add_arg(c, "x", CONF_INOUT, (size_t)n * ch * inner);
    float *b = conf_add_arg(c, "bias", CONF_IN, (size_t)ch);
    if (!x || !b)
        return 1;
    conf_fill_uniform(r, x, (size_t)n * ch * inner, -1, 1);
    conf_fill_uniform(r, b, (size_t)ch, -1, 1);
    return 1;
}

static int launch_bias_add(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->bias_add(ctx, c->ip[0], c->ip[1], c->ip[2], refs[0], refs[1]);
}

static int gen_bias_grad(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_NCI)
        return 0;
    int n = nci_shapes[index][0], ch = nci_shapes[index][1], inner = nci_shapes[index][2];
    c->ip[0] = n, c->ip[1] = ch, c->ip[2] = inner;
    snprintf(c->desc, sizeof c->desc, "n=%d c=%d inner=%d", n, ch, inner);
    float *dy = conf_add_arg(c, "dy", CONF_IN, (size_t)n * ch * inner);
    if (!conf_add_arg(c, "dbias", CONF_OUT, (size_t)ch) || !dy)
        return 1;
    conf_fill_uniform(r, dy, (size_t)n * ch * inner, -1, 1);
    return 1;
}

static int launch_bias_grad(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                            const mlopt_ref *refs)
{
    return be->bias_grad(ctx, c->ip[0], c->ip[1], c->ip[2], refs[0], refs[1]);
}

/* ---- batch normalization ---- */

static const int bn_shapes[][3] = { { 4, 3, 5 }, { 8, 6, 1 }, { 2, 5, 49 }, { 3, 2, 7 } };
#define N_BN ((int)(sizeof bn_shapes / sizeof bn_shapes[0]))

static int bn_header(conf_case *c, int index, const char *what)
{
    if (index >= N_BN)
        return 0;
    c->ip[0] = bn_shapes[index][0], c->ip[1] = bn_shapes[index][1], c->ip[2] = bn_shapes[index][2];
    c->fp[0] = index == 3 ? 1e-3f : 1e-5f; /* eps */
    c->fp[1] = 0.1f;                        /* momentum */
    snprintf(c->desc, sizeof c->desc, "%s n=%d c=%d inner=%d eps=%g%s", what, c->ip[0], c->ip[1], c->ip[2],
             (double)c->fp[0], index == 3 ? " (channel 0 constant)" : "");
    return 1;
}

static void bn_fill_x(conf_rng *r, const conf_case *c, float *x, int index)
{
    int n = c->ip[0], ch = c->ip[1], inner = c->ip[2];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < ch; j++)
            for (int k = 0; k < inner; k++)
                x[((size_t)i * ch + j) * inner + k] =
                    (index == 3 && j == 0) ? 1.5f : (float)(conf_rng_uniform(r, -1, 1) * (j + 1) + j);
}

static int gen_bn_train(conf_case *c, int index, conf_rng *r)
{
    if (!bn_header(c, index, "train"))
        return 0;
    size_t nx = (size_t)c->ip[0] * c->ip[1] * c->ip[2], ch = (size_t)c->ip[1];
    float *x = conf_add_arg(c, "x", CONF_IN, nx);
    float *g = conf_add_arg(c, "gamma", CONF_IN, ch);
    float *b = conf_add_arg(c, "beta", CONF_IN, ch);
    float *y = conf_add_arg(c, "y", CONF_OUT, nx);
    float *rm = conf_add_arg(c, "running_mean", CONF_INOUT, ch);
    float *rv = conf_add_arg(c, "running_var", CONF_INOUT, ch);
    float *sm = conf_add_arg(c, "save_mean", CONF_OUT, ch);
    float *si = conf_add_arg(c, "save_invstd", CONF_OUT, ch);
    if (!x || !g || !b || !y || !rm || !rv || !sm || !si)
        return 1;
    bn_fill_x(r, c, x, index);
    conf_fill_uniform(r, g, ch, 0.5, 1.5);
    conf_fill_uniform(r, b, ch, -1, 1);
    conf_fill_uniform(r, rm, ch, -1, 1);
    conf_fill_uniform(r, rv, ch, 0.5, 2);
    return 1;
}

static int launch_bn_train(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->batchnorm_forward_train(ctx, c->ip[0], c->ip[1], c->ip[2], c->fp[0], c->fp[1], refs[0], refs[1],
                                       refs[2], refs[3], refs[4], refs[5], refs[6], refs[7]);
}

static int gen_bn_eval(conf_case *c, int index, conf_rng *r)
{
    if (!bn_header(c, index, "eval"))
        return 0;
    size_t nx = (size_t)c->ip[0] * c->ip[1] * c->ip[2], ch = (size_t)c->ip[1];
    float *x = conf_add_arg(c, "x", CONF_IN, nx);
    float *g = conf_add_arg(c, "gamma", CONF_IN, ch);
    float *b = conf_add_arg(c, "beta", CONF_IN, ch);
    float *rm = conf_add_arg(c, "running_mean", CONF_IN, ch);
    float *rv = conf_add_arg(c, "running_var", CONF_IN, ch);
    if (!conf_add_arg(c, "y", CONF_OUT, nx) || !x || !g || !b || !rm || !rv)
        return 1;
    bn_fill_x(r, c, x, index);
    conf_fill_uniform(r, g, ch, 0.5, 1.5);
    conf_fill_uniform(r, b, ch, -1, 1);
    conf_fill_uniform(r, rm, ch, -1, 1);
    conf_fill_uniform(r, rv, ch, 0.0, 2);
    return 1;
}

static int launch_bn_eval(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->batchnorm_forward_eval(ctx, c->ip[0], c->ip[1], c->ip[2], c->fp[0], refs[0], refs[1], refs[2],
                                      refs[3], refs[4], refs[5]);
}

static int gen_bn_backward(conf_case *c, int index, conf_rng *r)
{
    if (!bn_header(c, index, "backward"))
        return 0;
    int n = c->ip[0], chn = c->ip[1], inner = c->ip[2];
    size_t nx = (size_t)n * chn * inner, ch = (size_t)chn;
    float *x = conf_add_arg(c, "x", CONF_IN, nx);
    float *dy = conf_add_arg(c, "dy", CONF_IN, nx);
    float *g = conf_add_arg(c, "gamma", CONF_IN, ch);
    float *sm = conf_add_arg(c, "save_mean", CONF_IN, ch);
    float *si = conf_add_arg(c, "save_invstd", CONF_IN, ch);
    float *dx = conf_add_arg(c, "dx", CONF_OUT, nx);
    float *dg = conf_add_arg(c, "dgamma", CONF_OUT, ch);
    float *db = conf_add_arg(c, "dbeta", CONF_OUT, ch);
    if (!x || !dy || !g || !sm || !si || !dx || !dg || !db)
        return 1;
    bn_fill_x(r, c, x, index);
    conf_fill_uniform(r, dy, nx, -1, 1);
    conf_fill_uniform(r, g, ch, 0.5, 1.5);
    /* Saved statistics consistent with x, as a training forward leaves them. */
    for (int j = 0; j < chn; j++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < inner; k++)
                s += x[((size_t)i * chn + j) * inner + k];
        double m = s / (n * inner);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < inner; k++) {
                double d = x[((size_t)i * chn + j) * inner + k] - m;
                s2 += d * d;
            }
        sm[j] = (float)m;
        si[j] = (float)(1.0 / sqrt(s2 / (n * inner) + c->fp[0]));
    }
    c->tol_scale = 10; /* sums of cancelling terms */
    return 1;
}

static int launch_bn_backward(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                              const mlopt_ref *refs)
{
    return be->batchnorm_backward(ctx, c->ip[0], c->ip[1], c->ip[2], refs[0], refs[1], refs[2], refs[3], refs[4],
                                  refs[5], refs[6], refs[7]);
}

/* ---- dropout ---- */

static const struct {
    size_t n;
    float p;
    uint32_t seed;
    int alias;
} dropout_cases[] = { { 1, 0.5f, 1, 0 }, { 1000, 0.0f, 7, 0 }, { 4097, 0.25f, 12345, 0 }, { 999, 0.9f, 0xFFFFFFFFu, 0 },
                      { 513, 0.5f, 42, 1 } };

static int gen_dropout(conf_case *c, int index, conf_rng *r)
{
    if (index >= (int)(sizeof dropout_cases / sizeof dropout_cases[0]))
        return 0;
    size_t n = dropout_cases[index].n;
    c->fp[0] = dropout_cases[index].p;
    c->ip[0] = (int)dropout_cases[index].seed;
    c->alias_out = dropout_cases[index].alias;
    snprintf(c->desc, sizeof c->desc, "n=%zu p=%g seed=%u%s", n, (double)c->fp[0], dropout_cases[index].seed,
             c->alias_out ? " y aliases x" : "");
    float *x = conf_add_arg(c, "x", c->alias_out ? CONF_INOUT : CONF_IN, n);
    if (!x)
        return 1;
    if (!c->alias_out && !conf_add_arg(c, "y", CONF_OUT, n))
        return 1;
    if (!conf_add_arg(c, "mask", CONF_OUT, n))
        return 1;
    conf_fill_uniform(r, x, n, -3, 3);
    return 1;
}

static int launch_dropout(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    mlopt_ref y = c->alias_out ? refs[0] : refs[1];
    mlopt_ref mask = c->alias_out ? refs[1] : refs[2];
    return be->dropout_forward(ctx, c->args[0].n, c->fp[0], (uint32_t)c->ip[0], refs[0], y, mask);
}

/* ---- softmax and losses ---- */

static const struct {
    int rows, cols;
    float inv_temp;
    int log_out;
    int specials;
} softmax_cases[] = { { 1, 1, 1.0f, 0, 0 },  { 3, 10, 1.0f, 0, 1 },  { 7, 1000, 0.5f, 1, 0 },
                      { 64, 10, 2.0f, 1, 1 }, { 5, 33, 1.0f, 0, 0 },  { 2, 257, 1.0f, 1, 1 } };
#define N_SOFTMAX ((int)(sizeof softmax_cases / sizeof softmax_cases[0]))

static void softmax_fill(conf_rng *r, float *x, int rows, int cols, int specials)
{
    conf_fill_uniform(r, x, (size_t)rows * cols, -5, 5);
    if (!specials || rows < 3)
        return;
    /* Row 0: a -inf entry (probability exactly 0); row 1: huge values
     * (needs the max subtracted); row 2: +inf (NaN row, as inf - inf). */
    x[0] = -INFINITY;
    for (int j = 0; j < cols; j++)
        x[cols + j] = 1e30f * (j % 2 ? 1.0f : -1.0f) + (float)j * 1e24f;
    x[2 * cols + cols / 2] = INFINITY;
}

static int gen_softmax(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_SOFTMAX)
        return 0;
    int rows = softmax_cases[index].rows, cols = softmax_cases[index].cols;
    c->ip[0] = rows, c->ip[1] = cols, c->ip[2] = softmax_cases[index].log_out;
    c->fp[0] = softmax_cases[index].inv_temp;
    snprintf(c->desc, sizeof c->desc, "rows=%d cols=%d inv_temp=%g log=%d%s", rows, cols, (double)c->fp[0],
             c->ip[2], softmax_cases[index].specials ? " with -inf, 1e30, +inf rows" : "");
    float *x = conf_add_arg(c, "x", CONF_IN, (size_t)rows * cols);
    if (!conf_add_arg(c, "y", CONF_OUT, (size_t)rows * cols) || !x)
        return 1;
    softmax_fill(r, x, rows, cols, softmax_cases[index].specials);
    return 1;
}

static int launch_softmax(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->softmax_forward(ctx, c->ip[0], c->ip[1], c->fp[0], c->ip[2], refs[0], refs[1]);
}

static int gen_xent(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_SOFTMAX)
        return 0;
    int rows = softmax_cases[index].rows, cols = softmax_cases[index].cols;
    c->ip[0] = rows, c->ip[1] = cols, c->ip[2] = index % 2; /* dlogits NULL on odd cases */
    c->fp[0] = softmax_cases[index].inv_temp;
    c->fp[1] = 1.0f / (float)rows;
    snprintf(c->desc, sizeof c->desc, "rows=%d cols=%d inv_temp=%g grad_scale=%g%s", rows, cols, (double)c->fp[0],
             (double)c->fp[1], c->ip[2] ? " no dlogits" : "");
    float *x = conf_add_arg(c, "logits", CONF_IN, (size_t)rows * cols);
    int32_t *lab = conf_add_int_arg(c, "labels", CONF_IN, (size_t)rows);
    float *loss = conf_add_arg(c, "loss_sum", CONF_INOUT, 1);
    if (!x || !lab || !loss)
        return 1;
    if (c->ip[2])
        conf_add_arg(c, "dlogits", CONF_NULL, 0);
    else if (!conf_add_arg(c, "dlogits", CONF_OUT, (size_t)rows * cols))
        return 1;
    conf_fill_uniform(r, x, (size_t)rows * cols, -5, 5);
    for (int i = 0; i < rows; i++)
        lab[i] = conf_rng_int(r, 0, cols - 1);
    loss[0] = 1.5f; /* accumulates */
    return 1;
}

static int launch_xent(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->softmax_xent(ctx, c->ip[0], c->ip[1], c->fp[0], refs[0], refs[1], refs[2], refs[3], c->fp[1]);
}

static int gen_kl(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_SOFTMAX)
        return 0;
    int rows = softmax_cases[index].rows, cols = softmax_cases[index].cols;
    c->ip[0] = rows, c->ip[1] = cols, c->ip[2] = index % 2;
    c->fp[0] = softmax_cases[index].inv_temp;
    c->fp[1] = 0.5f;
    snprintf(c->desc, sizeof c->desc, "rows=%d cols=%d inv_temp=%g%s", rows, cols, (double)c->fp[0],
             c->ip[2] ? " no dlogits" : "");
    float *x = conf_add_arg(c, "logits", CONF_IN, (size_t)rows * cols);
    float *t = conf_add_arg(c, "target_logits", CONF_IN, (size_t)rows * cols);
    float *loss = conf_add_arg(c, "loss_sum", CONF_INOUT, 1);
    if (!x || !t || !loss)
        return 1;
    if (c->ip[2])
        conf_add_arg(c, "dlogits", CONF_NULL, 0);
    else if (!conf_add_arg(c, "dlogits", CONF_OUT, (size_t)rows * cols))
        return 1;
    conf_fill_uniform(r, x, (size_t)rows * cols, -5, 5);
    conf_fill_uniform(r, t, (size_t)rows * cols, -5, 5);
    loss[0] = 0.25f;
    c->tol_scale = 10; /* KL of close distributions cancels */
    return 1;
}

static int launch_kl(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->softmax_kl(ctx, c->ip[0], c->ip[1], c->fp[0], refs[0], refs[1], refs[2], refs[3], c->fp[1]);
}

static int gen_argmax(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_SOFTMAX)
        return 0;
    int rows = softmax_cases[index].rows, cols = softmax_cases[index].cols;
    c->ip[0] = rows, c->ip[1] = cols;
    snprintf(c->desc, sizeof c->desc, "rows=%d cols=%d (ties, -inf)", rows, cols);
    float *x = conf_add_arg(c, "x", CONF_IN, (size_t)rows * cols);
    if (!conf_add_int_arg(c, "out", CONF_OUT, (size_t)rows) || !x)
        return 1;
    fill_ties(r, x, (size_t)rows * cols);
    x[0] = -INFINITY;
    return 1;
}

static int launch_argmax(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->argmax(ctx, c->ip[0], c->ip[1], refs[0], refs[1]);
}

static int gen_accuracy(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_SOFTMAX)
        return 0;
    int rows = softmax_cases[index].rows, cols = softmax_cases[index].cols;
    c->ip[0] = rows, c->ip[1] = cols;
    snprintf(c->desc, sizeof c->desc, "rows=%d cols=%d (ties)", rows, cols);
    float *x = conf_add_arg(c, "logits", CONF_IN, (size_t)rows * cols);
    int32_t *lab = conf_add_int_arg(c, "labels", CONF_IN, (size_t)rows);
    float *count = conf_add_arg(c, "count", CONF_INOUT, 1);
    if (!x || !lab || !count)
        return 1;
    fill_ties(r, x, (size_t)rows * cols);
    for (int i = 0; i < rows; i++) {
        /* Half the labels are a row's first maximum, so counts are not all 0. */
        int best = 0;
        for (int j = 1; j < cols; j++)
            if (x[(size_t)i * cols + j] > x[(size_t)i * cols + best])
                best = j;
        lab[i] = i % 2 ? best : conf_rng_int(r, 0, cols - 1);
    }
    count[0] = 2.0f;
    return 1;
}

static int launch_accuracy(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                           const mlopt_ref *refs)
{
    return be->accuracy_count(ctx, c->ip[0], c->ip[1], refs[0], refs[1], refs[2]);
}

#define SLOT(f) offsetof(mlopt_backend, f)

const conf_kernel_check conf_checks_nn[] = {
    { "pool2d_forward", SLOT(pool2d_forward), gen_pool_forward, launch_pool_forward, 1e-12, 1e-4,
      MLOPT_CONF_LEVEL_FORWARD },
    { "pool2d_backward", SLOT(pool2d_backward), gen_pool_backward, launch_pool_backward, 1e-12, 1e-4,
      MLOPT_CONF_LEVEL_BACKWARD },
    { "act_forward", SLOT(act_forward), gen_act_forward, launch_act_forward, 1e-10, 1e-4, MLOPT_CONF_LEVEL_FORWARD },
    { "act_backward", SLOT(act_backward), gen_act_backward, launch_act_backward, 1e-10, 1e-3,
      MLOPT_CONF_LEVEL_BACKWARD },
    { "bias_add", SLOT(bias_add), gen_bias_add, launch_bias_add, 1e-14, 1e-6, MLOPT_CONF_LEVEL_FORWARD },
    { "bias_grad", SLOT(bias_grad), gen_bias_grad, launch_bias_grad, 1e-10, 1e-4, MLOPT_CONF_LEVEL_BACKWARD },
    { "batchnorm_forward_train", SLOT(batchnorm_forward_train), gen_bn_train, launch_bn_train, 1e-10, 1e-4,
      MLOPT_CONF_LEVEL_BACKWARD },
    { "batchnorm_forward_eval", SLOT(batchnorm_forward_eval), gen_bn_eval, launch_bn_eval, 1e-10, 1e-4,
      MLOPT_CONF_LEVEL_FORWARD },
    { "batchnorm_backward", SLOT(batchnorm_backward), gen_bn_backward, launch_bn_backward, 1e-10, 1e-4,
      MLOPT_CONF_LEVEL_BACKWARD },
    { "dropout_forward", SLOT(dropout_forward), gen_dropout, launch_dropout, 1e-14, 1e-6, MLOPT_CONF_LEVEL_BACKWARD },
    { "softmax_forward", SLOT(softmax_forward), gen_softmax, launch_softmax, 1e-10, 1e-4, 0 },
    { "softmax_xent", SLOT(softmax_xent), gen_xent, launch_xent, 1e-10, 1e-4, MLOPT_CONF_LEVEL_FORWARD },
    { "softmax_kl", SLOT(softmax_kl), gen_kl, launch_kl, 1e-10, 1e-4, 0 },
    { "argmax", SLOT(argmax), gen_argmax, launch_argmax, 0, 0, MLOPT_CONF_LEVEL_FORWARD },
    { "accuracy_count", SLOT(accuracy_count), gen_accuracy, launch_accuracy, 0, 0, MLOPT_CONF_LEVEL_FORWARD },
};
const int conf_checks_nn_count = (int)(sizeof conf_checks_nn / sizeof conf_checks_nn[0]);
