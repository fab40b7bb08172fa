/* Generated cases for elementwise, reduction, optimizer and memory slots:
 * odd lengths, aliasing outputs, edge values, NaN/Inf propagation. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf_internal.h"

static const size_t lengths[] = { 1, 7, 1000, 4099, 65537 };
#define N_LENGTHS ((int)(sizeof lengths / sizeof lengths[0]))

/* ---- add / sub / mul: cases 0..4 plain lengths (edge values and
 * specials in the middle one), case 5 writes y over a ---- */

static int gen_binary(conf_case *c, int index, conf_rng *r)
{
    if (index > N_LENGTHS)
        return 0;
    int alias = index == N_LENGTHS;
    size_t n = alias ? 333 : lengths[index];
    int specials = index == 2;
    c->alias_out = alias, c->alias_in = 0;
    snprintf(c->desc, sizeof c->desc, "n=%zu%s%s", n, specials ? " edge values, +-inf, NaN" : "",
             alias ? " y aliases a" : "");
    float *a = conf_add_arg(c, alias ? "a (y)" : "a", alias ? CONF_INOUT : CONF_IN, n);
    float *b = conf_add_arg(c, "b", CONF_IN, n);
    if (!a || !b || (!alias && !conf_add_arg(c, "y", CONF_OUT, n)))
        return 1;
    if (specials) {
        conf_fill_edge(r, a, n, 100, 1);
        conf_fill_edge(r, b, n, 100, 1);
    } else {
        conf_fill_uniform(r, a, n, -10, 10);
        conf_fill_uniform(r, b, n, -10, 10);
    }
    return 1;
}

#define BINARY_LAUNCH(fn)                                                                                   \
    static int launch_##fn(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,             \
                           const mlopt_ref *refs)                                                          \
    {                                                                                                      \
        return be->fn(ctx, c->args[0].n, refs[0], refs[1], c->alias_out ? refs[0] : refs[2]);              \
    }
BINARY_LAUNCH(add)
BINARY_LAUNCH(sub)
BINARY_LAUNCH(mul)

/* ---- axpy / scale / mask_mul ---- */

static int gen_axpy(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_LENGTHS)
        return 0;
    size_t n = lengths[index];
    c->fp[0] = index % 2 ? -0.75f : 3.0f;
    snprintf(c->desc, sizeof c->desc, "n=%zu alpha=%g%s", n, (double)c->fp[0], index == 2 ? " edge values, specials" : "");
    float *x = conf_add_arg(c, "x", CONF_IN, n);
    float *y = conf_add_arg(c, "y", CONF_INOUT, n);
    if (!x || !y)
        return 1;
    if (index == 2) {
        conf_fill_edge(r, x, n, 10, 1);
        conf_fill_edge(r, y, n, 10, 1);
    } else {
        conf_fill_uniform(r, x, n, -1, 1);
        conf_fill_uniform(r, y, n, -1, 1);
    }
    return 1;
}

static int launch_axpy(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->axpy(ctx, c->args[0].n, c->fp[0], refs[0], refs[1]);
}

static int gen_scale(conf_case *c, int index, conf_rng *r)
{
    if (index > N_LENGTHS)
        return 0;
    int alias = index == N_LENGTHS;
    size_t n = alias ? 129 : lengths[index];
    c->fp[0] = index % 2 ? -0.5f : 0.0f;
    c->alias_out = alias;
    snprintf(c->desc, sizeof c->desc, "n=%zu alpha=%g%s%s", n, (double)c->fp[0], index == 2 ? " edge values, specials" : "",
             alias ? " y aliases x" : "");
    float *x = conf_add_arg(c, "x", alias ? CONF_INOUT : CONF_IN, n);
    if (!x || (!alias && !conf_add_arg(c, "y", CONF_OUT, n)))
        return 1;
    if (index == 2)
        conf_fill_edge(r, x, n, 10, 1);
    else
        conf_fill_uniform(r, x, n, -1, 1);
    return 1;
}

static int launch_scale(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->scale(ctx, c->args[0].n, c->fp[0], refs[0], c->alias_out ? refs[0] : refs[1]);
}

static int gen_mask_mul(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_LENGTHS)
        return 0;
    size_t n = lengths[index];
    snprintf(c->desc, sizeof c->desc, "n=%zu", n);
    float *m = conf_add_arg(c, "mask", CONF_IN, n);
    float *w = conf_add_arg(c, "w", CONF_INOUT, n);
    if (!m || !w)
        return 1;
    for (size_t i = 0; i < n; i++)
        m[i] = (float)conf_rng_int(r, 0, 1);
    conf_fill_uniform(r, w, n, -1, 1);
    return 1;
}

static int launch_mask_mul(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                           const mlopt_ref *refs)
{
    return be->mask_mul(ctx, c->args[0].n, refs[0], refs[1]);
}

/* ---- reductions ---- */

static int gen_reduce(conf_case *c, int index, conf_rng *r)
{
    if (index > N_LENGTHS + 1)
        return 0;
    size_t n = index < N_LENGTHS ? lengths[index] : 1001;
    int special = index - N_LENGTHS; /* 0: a NaN inside, 1: -inf inside */
    snprintf(c->desc, sizeof c->desc, "n=%zu%s", n, special == 0 ? " with a NaN" : special == 1 ? " with -inf" : "");
    float *x = conf_add_arg(c, "x", CONF_IN, n);
    if (!conf_add_arg(c, "out", CONF_OUT, 1) || !x)
        return 1;
    conf_fill_uniform(r, x, n, -1, 2);
    if (special == 0)
        x[n / 3] = NAN;
    else if (special == 1)
        x[n / 2] = -INFINITY;
    c->tol_scale = 10; /* summation order */
    return 1;
}

static int launch_reduce_sum(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                             const mlopt_ref *refs)
{
    return be->reduce_sum(ctx, c->args[0].n, refs[0], refs[1]);
}

static int launch_reduce_max_abs(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                                 const mlopt_ref *refs)
{
    return be->reduce_max_abs(ctx, c->args[0].n, refs[0], refs[1]);
}

static int gen_channel_norm(conf_case *c, int index, conf_rng *r)
{
    static const int shapes[][3] = { { 1, 1, 1 }, { 32, 9, 2 }, { 7, 1001, 1 }, { 64, 288, 2 }, { 3, 5, 1 } };
    if (index >= 5)
        return 0;
    int k = shapes[index][0], len = shapes[index][1], p = shapes[index][2];
    c->ip[0] = k, c->ip[1] = len, c->ip[2] = p;
    snprintf(c->desc, sizeof c->desc, "k=%d len=%d p=%d", k, len, p);
    float *x = conf_add_arg(c, "x", CONF_IN, (size_t)k * len);
    if (!conf_add_arg(c, "out", CONF_OUT, (size_t)k) || !x)
        return 1;
    conf_fill_uniform(r, x, (size_t)k * len, -1, 1);
    if (index == 4)
        memset(x, 0, (size_t)len * sizeof *x); /* an all-zero row */
    return 1;
}

static int launch_channel_norm(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                               const mlopt_ref *refs)
{
    return be->channel_norm(ctx, c->ip[0], c->ip[1], c->ip[2], refs[0], refs[1]);
}

/* ---- optimizers ---- */

static const struct {
    float lr, momentum, dampening, wd;
    int nesterov, first;
} sgd_cases[] = {
    { 0.01f, 0.0f, 0.0f, 0.0f, 0, 1 },  { 0.01f, 0.9f, 0.0f, 0.0f, 0, 1 },  { 0.01f, 0.9f, 0.0f, 0.0f, 0, 0 },
    { 0.1f, 0.9f, 0.1f, 1e-4f, 0, 0 }, { 0.05f, 0.9f, 0.0f, 5e-4f, 1, 0 }, { 0.05f, 0.5f, 0.0f, 0.0f, 1, 1 },
};

static int gen_sgd(conf_case *c, int index, conf_rng *r)
{
    if (index >= (int)(sizeof sgd_cases / sizeof sgd_cases[0]))
        return 0;
    size_t n = lengths[index % N_LENGTHS] + 2;
    c->fp[0] = sgd_cases[index].lr, c->fp[1] = sgd_cases[index].momentum;
    c->fp[2] = sgd_cases[index].dampening, c->fp[3] = sgd_cases[index].wd;
    c->ip[0] = sgd_cases[index].nesterov, c->ip[1] = sgd_cases[index].first;
    snprintf(c->desc, sizeof c->desc, "n=%zu lr=%g momentum=%g dampening=%g wd=%g nesterov=%d first=%d", n,
             (double)c->fp[0], (double)c->fp[1], (double)c->fp[2], (double)c->fp[3], c->ip[0], c->ip[1]);
    float *w = conf_add_arg(c, "w", CONF_INOUT, n);
    float *g = conf_add_arg(c, "g", CONF_IN, n);
    float *v = conf_add_arg(c, "v", CONF_INOUT, n);
    if (!w || !g || !v)
        return 1;
    conf_fill_uniform(r, w, n, -1, 1);
    conf_fill_uniform(r, g, n, -1, 1);
    /* first: v is not read, so garbage there must not matter. */
    for (size_t i = 0; i < n; i++)
        v[i] = c->ip[1] ? NAN : (float)conf_rng_uniform(r, -1, 1);
    return 1;
}

static int launch_sgd(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->sgd_update(ctx, c->args[0].n, c->fp[0], c->fp[1], c->fp[2], c->fp[3], c->ip[0], c->ip[1], refs[0],
                          refs[1], refs[2]);
}

static const struct {
    float lr, b1, b2, eps, wd;
    int decoupled, step;
} adam_cases[] = {
    { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 1 },  { 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1, 1 },
    { 1e-2f, 0.8f, 0.99f, 1e-6f, 1e-3f, 0, 10 }, { 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1, 1000 },
};

static int gen_adam(conf_case *c, int index, conf_rng *r)
{
    if (index >= (int)(sizeof adam_cases / sizeof adam_cases[0]))
        return 0;
    size_t n = lengths[(index + 1) % N_LENGTHS] + 1;
    c->fp[0] = adam_cases[index].lr, c->fp[1] = adam_cases[index].b1, c->fp[2] = adam_cases[index].b2;
    c->fp[3] = adam_cases[index].eps, c->fp[4] = adam_cases[index].wd;
    c->ip[0] = adam_cases[index].decoupled, c->ip[1] = adam_cases[index].step;
    snprintf(c->desc, sizeof c->desc, "n=%zu lr=%g betas=%g,%g eps=%g wd=%g decoupled=%d step=%d", n,
             (double)c->fp[0], (double)c->fp[1], (double)c->fp[2], (double)c->fp[3], (double)c->fp[4], c->ip[0],
             c->ip[1]);
    float *w = conf_add_arg(c, "w", CONF_INOUT, n);
    float *g = conf_add_arg(c, "g", CONF_IN, n);
    float *m = conf_add_arg(c, "m", CONF_INOUT, n);
    float *v = conf_add_arg(c, "v", CONF_INOUT, n);
    if (!w || !g || !m || !v)
        return 1;
    conf_fill_uniform(r, w, n, -1, 1);
    conf_fill_uniform(r, g, n, -1, 1);
    if (c->ip[1] == 1) {
        memset(m, 0, n * sizeof *m);
        memset(v, 0, n * sizeof *v);
    } else {
        conf_fill_uniform(r, m, n, -0.1, 0.1);
        conf_fill_uniform(r, v, n, 0, 0.01);
    }
    return 1;
}

static int launch_adam(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->adam_update(ctx, c->args[0].n, c->fp[0], c->fp[1], c->fp[2], c->fp[3], c->fp[4], c->ip[0], c->ip[1],
                           refs[0], refs[1], refs[2], refs[3]);
}

/* ---- memory ---- */

static int gen_copy(conf_case *c, int index, conf_rng *r)
{
    if (index >= N_LENGTHS)
        return 0;
    size_t n = lengths[index];
    snprintf(c->desc, sizeof c->desc, "%zu floats", n);
    float *x = conf_add_arg(c, "src", CONF_IN, n);
    if (!conf_add_arg(c, "dst", CONF_OUT, n) || !x)
        return 1;
    conf_fill_edge(r, x, n, 10, 1);
    return 1;
}

static int launch_copy(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->copy(ctx, refs[1], refs[0], c->args[0].n * sizeof(float));
}

static int gen_fill(conf_case *c, int index, conf_rng *r)
{
    (void)r;
    if (index >= N_LENGTHS)
        return 0;
    size_t n = lengths[index];
    c->fp[0] = index == 1 ? -INFINITY : index == 2 ? -0.0f : 0.375f * (float)index;
    snprintf(c->desc, sizeof c->desc, "%zu floats value %g", n, (double)c->fp[0]);
    return conf_add_arg(c, "dst", CONF_OUT, n) != NULL || 1;
}

static int launch_fill(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c, const mlopt_ref *refs)
{
    return be->fill(ctx, refs[0], c->fp[0], c->args[0].n);
}

#define SLOT(f) offsetof(mlopt_backend, f)

const conf_kernel_check conf_checks_elementwise[] = {
    { "add", SLOT(add), gen_binary, launch_add, 1e-14, 1e-6, 0 },
    { "sub", SLOT(sub), gen_binary, launch_sub, 1e-14, 1e-6, 0 },
    { "mul", SLOT(mul), gen_binary, launch_mul, 1e-14, 1e-6, MLOPT_CONF_LEVEL_BACKWARD },
    { "axpy", SLOT(axpy), gen_axpy, launch_axpy, 1e-12, 1e-4, 0 },
    { "scale", SLOT(scale), gen_scale, launch_scale, 1e-14, 1e-6, 0 },
    { "mask_mul", SLOT(mask_mul), gen_mask_mul, launch_mask_mul, 0, 0, 0 },
    { "reduce_sum", SLOT(reduce_sum), gen_reduce, launch_reduce_sum, 1e-10, 1e-5, 0 },
    { "reduce_max_abs", SLOT(reduce_max_abs), gen_reduce, launch_reduce_max_abs, 0, 0, 0 },
    { "channel_norm", SLOT(channel_norm), gen_channel_norm, launch_channel_norm, 1e-10, 1e-5, 0 },
    { "sgd_update", SLOT(sgd_update), gen_sgd, launch_sgd, 1e-12, 1e-4, MLOPT_CONF_LEVEL_TRAINING },
    { "adam_update", SLOT(adam_update), gen_adam, launch_adam, 1e-10, 1e-4, MLOPT_CONF_LEVEL_TRAINING },
    { "copy", SLOT(copy), gen_copy, launch_copy, 0, 0, MLOPT_CONF_LEVEL_FORWARD },
    { "fill", SLOT(fill), gen_fill, launch_fill, 0, 0, MLOPT_CONF_LEVEL_FORWARD },
};
const int conf_checks_elementwise_count = (int)(sizeof conf_checks_elementwise / sizeof conf_checks_elementwise[0]);
