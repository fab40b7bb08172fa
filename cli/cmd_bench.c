/* mlopt bench: time GEMM, convolutions, training steps and inference on
 * each backend; append the results as JSON lines to a results file and
 * print a markdown summary; merge result files into one table (--compare).
 *
 * Workloads (names for --workloads):
 *   gemm      SGEMM C = A B (row-major, beta 0) at 256^3, 512^3, 1024^3 and
 *             2048^3 (not with --quick); GFLOP/s = 2 m n k / t.
 *   cnn-gemm  the GEMMs the seed CNN's layers lower to at batch 64.  A
 *             convolution runs one GEMM per image after im2col (this is what
 *             the cpu backend does: backends/cpu/cpu_conv.c), so one timed
 *             op is 64 GEMMs on consecutive images; a linear layer is one
 *             GEMM over the batch.  With CRS = in_channels * 3 * 3 and
 *             P = out_h * out_w:
 *               convN.fwd   Y[K,P]   = W[K,CRS] col[CRS,P]            NN
 *               convN.bwd-data   dcol[CRS,P] = W^T[CRS,K] dY[K,P]     TN
 *               convN.bwd-filter dW[K,CRS] += dY[K,P] col^T[P,CRS]    NT
 *             conv1 (1->32, 28x28 -> 26x26): CRS=9,   K=32, P=676
 *             conv2 (32->64, 13x13 -> 11x11): CRS=288, K=64, P=121
 *               fcN.fwd     Y[B,out]  = X[B,in] W^T[in,out]           NT
 *               fcN.bwd-data dX[B,in] = dY[B,out] W[out,in]           NN
 *               fcN.bwd-weight dW[out,in] = dY^T[out,B] X[B,in]       TN
 *             fc1 1600->128, fc2 128->10, B = 64.
 *             Shapes are written "MxNxK" plus the transposes.
 *   conv      conv2d_forward / backward_data / backward_filter of conv1
 *             and conv2 at batch 64 (the backend's own convolution path).
 *   train     mlopt_trainer_train_step of the seed CNN (SGD lr 0.01
 *             momentum 0.9) at batch 64 and 256 on synthetic data, with a
 *             synchronize at the end of each timed loop -> images/s, plus
 *             host syncs, submissions and kernels per step.
 *   infer     forward in eval mode (upload of the batch included) at batch
 *             1 and 256 -> images/s.
 *
 * Every op is warmed up (excluded), then timed `repeat` times; each timed
 * sample runs the op enough times back to back (calibrated from the last
 * warm-up) to last about 20 ms (--quick) or 100 ms, and ends with a
 * synchronize.  median/min/max are over the samples.  Without an explicit
 * --repeat, an op so slow that the samples would take longer than 3 s
 * (--quick) or 30 s gets fewer samples (at least one); "repeat" in the
 * JSON line is the number actually taken. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "io/json.h"

#define BENCH_MAX_FILES 64
#define BENCH_MAX_BACKENDS 16

/* ------------------------------------------------------------------ */
/* Options and host description                                        */
/* ------------------------------------------------------------------ */

typedef struct bench_cfg {
    int repeat, warmup, quick;
    const char *workloads;
    const char *out;
    double target_s;  /* length of one timed sample */
    double budget_s;  /* timed samples of one workload stop adding up beyond this */
    int threads;      /* the count in effect, recorded in every line */
    char cpu_model[256];
    char hostname[256];
    char timestamp[32];
} bench_cfg;

/* One measured result, kept for the summary table. */
typedef struct bench_record {
    char workload[48];
    char shape[96];
    char backend[32];
    char device[128];
    const char *unit;
    double median, min, max;
} bench_record;

typedef struct bench_run {
    bench_cfg *cfg;
    mlopt_context *ctx;
    mlopt_device_info dev;
    const char *backend;
    FILE *out;           /* results file */
    bench_record *recs;  /* every result of this invocation */
    int nrecs, caprecs;
    int failures;
} bench_run;

static void read_cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        for (v++; *v == ' ' || *v == '\t'; v++)
            ;
        snprintf(buf, len, "%s", v);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* Lower-case words joined by '-', trademark marks dropped: the part of the
 * default results file name that names the hardware. */
static void slugify(const char *text, char *out, size_t len)
{
    size_t o = 0;
    int dash = 0;
    for (const char *p = text; *p && o + 2 < len; p++) {
        if (strncmp(p, "(R)", 3) == 0 || strncmp(p, "(r)", 3) == 0) {
            p += 2;
            continue;
        }
        if (strncmp(p, "(TM)", 4) == 0 || strncmp(p, "(tm)", 4) == 0) {
            p += 3;
            continue;
        }
        if (isalnum((unsigned char)*p)) {
            if (dash && o)
                out[o++] = '-';
            out[o++] = (char)tolower((unsigned char)*p);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[o] = '\0';
    if (!o)
        snprintf(out, len, "unknown");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return -1;
    return 0;
}

static int workload_enabled(const bench_cfg *cfg, const char *name)
{
    if (!cfg->workloads)
        return 1;
    size_t n = strlen(name);
    for (const char *p = cfg->workloads; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Timing                                                              */
/* ------------------------------------------------------------------ */

typedef int (*bench_fn)(void *arg);

typedef struct timing {
    double med, min, max; /* seconds per op */
    int iters;            /* ops per timed sample */
    int samples;          /* timed samples taken */
} timing;

/* Backend counters per op, without the synchronize that ends a sample. */
typedef struct step_stats {
    double syncs, submissions, kernels;
} step_stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Counters of a bare synchronize, to take away from a sample's. */
static int sync_cost(mlopt_context *ctx, mlopt_backend_stats *out)
{
    return mlopt_context_synchronize(ctx) || mlopt_context_reset_stats(ctx) || mlopt_context_synchronize(ctx) ||
           mlopt_context_stats(ctx, out) || mlopt_context_reset_stats(ctx);
}

/* Warm up, calibrate the ops per sample, then time up to cfg->repeat
 * samples: fewer when an op is so slow (software GPU drivers) that they
 * would exceed the per-workload budget; t->samples says how many.  With st,
 * the backend counters are read over the last sample. */
static int measure(bench_run *r, bench_fn fn, void *arg, timing *t, step_stats *st)
{
    const bench_cfg *cfg = r->cfg;
    double one = 0;
    for (int w = 0; w < cfg->warmup; w++) {
        double t0 = now_s();
        if (fn(arg) || mlopt_context_synchronize(r->ctx) != MLOPT_OK)
            return 1;
        one = now_s() - t0;
    }
    /* The first runs pay for allocations and kernel compilation: when a
     * warm-up op was quicker than a sample, calibrate on a doubling run. */
    if (one > 0 && one < cfg->target_s) {
        double t0 = now_s(), el = 0;
        long done = 0;
        for (long batch = 1; done < 10000 && el < 0.5 * cfg->target_s; batch *= 2) {
            for (long k = 0; k < batch; k++)
                if (fn(arg))
                    return 1;
            if (mlopt_context_synchronize(r->ctx) != MLOPT_OK)
                return 1;
            done += batch;
            el = now_s() - t0;
        }
        one = el / (double)done;
    }
    int iters = 1, samples = cfg->repeat;
    if (one > 0) {
        double k = ceil(cfg->target_s / one);
        iters = k > 10000 ? 10000 : k < 1 ? 1 : (int)k;
        double fit = floor(cfg->budget_s / (one * iters));
        if (fit < samples)
            samples = fit < 1 ? 1 : (int)fit;
    }
    double *s = malloc((size_t)samples * sizeof *s);
    if (!s)
        return 1;
    mlopt_backend_stats base = { 0 }, after;
    for (int i = 0; i < samples; i++) {
        int last = i == samples - 1;
        if (st && last && sync_cost(r->ctx, &base)) {
            free(s);
            return 1;
        }
        double t0 = now_s();
        for (int k = 0; k < iters; k++)
            if (fn(arg)) {
                free(s);
                return 1;
            }
        if (mlopt_context_synchronize(r->ctx) != MLOPT_OK) {
            free(s);
            return 1;
        }
        s[i] = (now_s() - t0) / iters;
        if (st && last) {
            if (mlopt_context_stats(r->ctx, &after)) {
                free(s);
                return 1;
            }
            st->syncs = (double)(after.host_syncs - base.host_syncs) / iters;
            st->submissions = (double)(after.submissions - base.submissions) / iters;
            st->kernels = (double)(after.kernels - base.kernels) / iters;
        }
    }
    qsort(s, (size_t)samples, sizeof *s, cmp_double);
    t->med = samples % 2 ? s[samples / 2] : 0.5 * (s[samples / 2 - 1] + s[samples / 2]);
    t->min = s[0];
    t->max = s[samples - 1];
    t->iters = iters;
    t->samples = samples;
    free(s);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* Write one result line to the results file (and stdout with --json).
 * per_op is the work of one op (FLOPs or images); scale turns work per
 * second into the unit (1e-9 for GFLOP/s). */
static void emit(bench_run *r, const char *workload, const char *shape, const char *unit, double per_op,
                 double scale, const timing *t, const step_stats *st)
{
    const bench_cfg *cfg = r->cfg;
    double med = per_op / t->med * scale, lo = per_op / t->max * scale, hi = per_op / t->min * scale;
    for (int pass = 0; pass < 2; pass++) {
        FILE *f = pass ? (G.json ? stdout : NULL) : r->out;
        if (!f)
            continue;
        json_out j;
        json_begin(&j, f);
        json_str(&j, "workload", workload);
        json_str(&j, "shape", shape);
        json_str(&j, "backend", r->backend);
        json_str(&j, "device", r->dev.name);
        json_str(&j, "vendor", r->dev.vendor);
        json_str(&j, "driver", r->dev.driver);
        json_str(&j, "device_type", device_type_name(r->dev.type));
        json_int(&j, "threads", cfg->threads);
        json_str(&j, "cpu_model", cfg->cpu_model);
        json_str(&j, "hostname", cfg->hostname);
        json_str(&j, "mlopt_version", mlopt_version());
        json_str(&j, "timestamp", cfg->timestamp);
        json_num(&j, "value", med);
        json_str(&j, "unit", unit);
        json_num(&j, "median", med);
        json_num(&j, "min", lo);
        json_num(&j, "max", hi);
        json_num(&j, "time_ms", t->med * 1e3);
        json_int(&j, "repeat", t->samples);
        json_int(&j, "warmup", cfg->warmup);
        json_int(&j, "iters", t->iters);
        if (st) {
            json_num(&j, "host_syncs_per_step", st->syncs);
            json_num(&j, "submissions_per_step", st->submissions);
            json_num(&j, "kernels_per_step", st->kernels);
        }
        json_end(&j);
        fflush(f);
    }
    if (r->nrecs == r->caprecs) {
        int cap = r->caprecs ? 2 * r->caprecs : 64;
        bench_record *p = realloc(r->recs, (size_t)cap * sizeof *p);
        if (!p)
            return;
        r->recs = p;
        r->caprecs = cap;
    }
    bench_record *b = &r->recs[r->nrecs++];
    snprintf(b->workload, sizeof b->workload, "%s", workload);
    snprintf(b->shape, sizeof b->shape, "%s", shape);
    snprintf(b->backend, sizeof b->backend, "%s", r->backend);
    snprintf(b->device, sizeof b->device, "%s", r->dev.name);
    b->unit = unit;
    b->median = med;
    b->min = lo;
    b->max = hi;
    if (!G.json)
        fprintf(stderr, "  %-22s %-30s %10.2f %s\n", workload, shape, med, unit);
}

static void failed(bench_run *r, const char *workload, const char *shape)
{
    fprintf(stderr, "mlopt bench: %s %s on %s: %s\n", workload, shape, r->backend, mlopt_last_error());
    r->failures++;
}

/* ------------------------------------------------------------------ */
/* GEMM                                                                */
/* ------------------------------------------------------------------ */

typedef struct gemm_case {
    const char *name;  /* workload */
    int ta, tb, m, n, k;
    int per_image;     /* 0: one GEMM; else that many on consecutive images */
} gemm_case;

/* The seed CNN's GEMMs at batch 64 (see the comment at the top). */
static const gemm_case cnn_gemms[] = {
    { "cnn-gemm:conv1.fwd", 0, 0, 32, 676, 9, 64 },
    { "cnn-gemm:conv1.bwd-data", 1, 0, 9, 676, 32, 64 },
    { "cnn-gemm:conv1.bwd-filter", 0, 1, 32, 9, 676, 64 },
    { "cnn-gemm:conv2.fwd", 0, 0, 64, 121, 288, 64 },
    { "cnn-gemm:conv2.bwd-data", 1, 0, 288, 121, 64, 64 },
    { "cnn-gemm:conv2.bwd-filter", 0, 1, 64, 288, 121, 64 },
    { "cnn-gemm:fc1.fwd", 0, 1, 64, 128, 1600, 0 },
    { "cnn-gemm:fc1.bwd-data", 0, 0, 64, 1600, 128, 0 },
    { "cnn-gemm:fc1.bwd-weight", 1, 0, 128, 1600, 64, 0 },
    { "cnn-gemm:fc2.fwd", 0, 1, 64, 10, 128, 0 },
    { "cnn-gemm:fc2.bwd-data", 0, 0, 64, 128, 10, 0 },
    { "cnn-gemm:fc2.bwd-weight", 1, 0, 10, 128, 64, 0 },
};

typedef struct gemm_arg {
    const mlopt_backend *be;
    mlopt_backend_ctx *bc;
    const gemm_case *g;
    mlopt_ref a, b, c;
} gemm_arg;

static int run_gemm(void *p)
{
    gemm_arg *x = p;
    const gemm_case *g = x->g;
    int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n, ldc = g->n;
    int images = g->per_image ? g->per_image : 1;
    /* Backward-filter GEMMs accumulate over the images, as the layer does. */
    int accumulate = g->per_image && g->tb;
    for (int i = 0; i < images; i++) {
        mlopt_ref b = x->b, c = x->c;
        b.offset += (size_t)i * g->k * g->n * sizeof(float);
        if (!accumulate)
            c.offset += (size_t)i * g->m * g->n * sizeof(float);
        if (x->be->gemm(x->bc, g->ta, g->tb, g->m, g->n, g->k, 1.0f, x->a, lda, b, ldb,
                        accumulate && i ? 1.0f : 0.0f, c, ldc)) {
            mlopt_backend_ctx *bc = x->bc;
            fprintf(stderr, "mlopt bench: gemm: %s\n", x->be->last_error(bc));
            return 1;
        }
    }
    return 0;
}

static void bench_gemm(bench_run *r, const gemm_case *g)
{
    char shape[96];
    snprintf(shape, sizeof shape, "%dx%dx%d %c%c%s", g->m, g->n, g->k, g->ta ? 'T' : 'N', g->tb ? 'T' : 'N',
             g->per_image ? " x64 images" : "");
    const mlopt_backend *be = mlopt_context_backend(r->ctx);
    if (!be->gemm) {
        fprintf(stderr, "mlopt bench: %s has no gemm slot; skipping %s\n", r->backend, g->name);
        return;
    }
    int images = g->per_image ? g->per_image : 1;
    int sa = g->m * g->k, sb = g->k * g->n * images, sc = g->m * g->n * images;
    mlopt_tensor *a = NULL, *b = NULL, *c = NULL;
    timing t;
    gemm_arg arg = { be, mlopt_context_backend_ctx(r->ctx), g, { 0 }, { 0 }, { 0 } };
    if (mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &sa, &a) || mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &sb, &b) ||
        mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &sc, &c) || mlopt_tensor_fill(a, 0.01f) ||
        mlopt_tensor_fill(b, 0.02f) || mlopt_tensor_fill(c, 0.0f)) {
        failed(r, g->name, shape);
        goto out;
    }
    arg.a = a->ref;
    arg.b = b->ref;
    arg.c = c->ref;
    if (measure(r, run_gemm, &arg, &t, NULL)) {
        failed(r, g->name, shape);
        goto out;
    }
    emit(r, g->name, shape, "GFLOP/s", 2.0 * g->m * g->n * g->k * images, 1e-9, &t, NULL);
out:
    mlopt_tensor_destroy(a);
    mlopt_tensor_destroy(b);
    mlopt_tensor_destroy(c);
}

/* ------------------------------------------------------------------ */
/* Convolutions                                                        */
/* ------------------------------------------------------------------ */

typedef struct conv_arg {
    const mlopt_backend *be;
    mlopt_backend_ctx *bc;
    mlopt_conv2d_params p;
    int dir; /* 0 forward, 1 backward data, 2 backward filter */
    mlopt_ref x, w, bias, y;
} conv_arg;

static int run_conv(void *p)
{
    conv_arg *c = p;
    int rc;
    if (c->dir == 0)
        rc = c->be->conv2d_forward(c->bc, &c->p, c->x, c->w, c->bias, c->y);
    else if (c->dir == 1)
        rc = c->be->conv2d_backward_data(c->bc, &c->p, c->y, c->w, c->x);
    else
        rc = c->be->conv2d_backward_filter(c->bc, &c->p, c->x, c->y, c->w, c->bias);
    if (rc)
        fprintf(stderr, "mlopt bench: conv: %s\n", c->be->last_error(c->bc));
    return rc;
}

static void bench_conv(bench_run *r, const char *layer, int n, int cin, int hw, int k)
{
    static const char *const dirs[] = { "fwd", "bwd-data", "bwd-filter" };
    const mlopt_backend *be = mlopt_context_backend(r->ctx);
    conv_arg arg = { be, mlopt_context_backend_ctx(r->ctx), { 0 }, 0, { 0 }, { 0 }, { 0 }, { 0 } };
    mlopt_conv2d_params *p = &arg.p;
    p->n = n, p->c = cin, p->h = p->w = hw, p->k = k, p->r = p->s = 3;
    p->stride_h = p->stride_w = p->dil_h = p->dil_w = p->groups = 1;
    p->oh = p->ow = hw - 2;
    int xs = n * cin * hw * hw, ws = k * cin * 9, ys = n * k * p->oh * p->ow;
    char shape[96];
    snprintf(shape, sizeof shape, "n%d %dx%dx%d k%d 3x3", n, cin, hw, hw, k);
    mlopt_tensor *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    if (mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &xs, &x) || mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &ws, &w) ||
        mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &k, &b) || mlopt_tensor_create(r->ctx, MLOPT_F32, 1, &ys, &y) ||
        mlopt_tensor_fill(x, 0.5f) || mlopt_tensor_fill(w, 0.01f) || mlopt_tensor_fill(b, 0.1f) ||
        mlopt_tensor_fill(y, 0.02f)) {
        failed(r, "conv", shape);
        goto out;
    }
    arg.x = x->ref, arg.w = w->ref, arg.bias = b->ref, arg.y = y->ref;
    for (int d = 0; d < 3; d++) {
        char name[48];
        snprintf(name, sizeof name, "conv:%s.%s", layer, dirs[d]);
        int have = d == 0 ? be->conv2d_forward != NULL
                   : d == 1 ? be->conv2d_backward_data != NULL
                            : be->conv2d_backward_filter != NULL;
        if (!have) {
            fprintf(stderr, "mlopt bench: %s lacks the %s convolution slot; skipping\n", r->backend, dirs[d]);
            continue;
        }
        arg.dir = d;
        timing t;
        if (measure(r, run_conv, &arg, &t, NULL)) {
            failed(r, name, shape);
            continue;
        }
        emit(r, name, shape, "GFLOP/s", 2.0 * ys * cin * 9, 1e-9, &t, NULL);
    }
out:
    mlopt_tensor_destroy(x);
    mlopt_tensor_destroy(w);
    mlopt_tensor_destroy(b);
    mlopt_tensor_destroy(y);
}

/* ------------------------------------------------------------------ */
/* Training and inference of the seed CNN                              */
/* ------------------------------------------------------------------ */

typedef struct model_arg {
    mlopt_model *model;
    mlopt_optimizer *opt;
    mlopt_trainer *trainer;
    mlopt_tensor *x;
    float *images;
    int32_t *labels;
    int batch;
} model_arg;

static void model_arg_free(model_arg *a)
{
    mlopt_trainer_destroy(a->trainer);
    mlopt_optimizer_destroy(a->opt);
    mlopt_model_destroy(a->model);
    mlopt_tensor_destroy(a->x);
    free(a->images);
    free(a->labels);
}

/* The seed CNN with the tutorial's optimizer, and a batch of synthetic,
 * roughly normalized images (the timing does not depend on the values). */
static int model_arg_init(bench_run *r, int batch, int train, model_arg *a)
{
    memset(a, 0, sizeof *a);
    a->batch = batch;
    mlopt_layer_spec *specs = NULL;
    int n = 0;
    mlopt_optim_config oc = { .kind = MLOPT_OPTIM_SGD, .lr = 0.01f, .momentum = 0.9f };
    int shape[4] = { batch, 1, 28, 28 };
    a->images = malloc((size_t)batch * 784 * sizeof *a->images);
    a->labels = malloc((size_t)batch * sizeof *a->labels);
    if (!a->images || !a->labels)
        return 1;
    uint32_t s = 12345;
    for (int i = 0; i < batch * 784; i++) {
        s = s * 1664525u + 1013904223u;
        a->images[i] = (float)(s >> 8) / (float)(1u << 24) * 3.0f - 1.0f;
    }
    for (int i = 0; i < batch; i++)
        a->labels[i] = i % 10;
    if (mlopt_spec_preset("seed-cnn", &specs, &n) ||
        mlopt_model_from_specs(r->ctx, 1, 28, 28, specs, n, 1, &a->model)) {
        free(specs);
        return 1;
    }
    free(specs);
    if (train)
        return mlopt_optimizer_create(a->model, &oc, &a->opt) ||
               mlopt_trainer_create(a->model, a->opt, batch, &a->trainer);
    return mlopt_tensor_create(r->ctx, MLOPT_F32, 4, shape, &a->x) != MLOPT_OK;
}

static int run_train_step(void *p)
{
    model_arg *a = p;
    return mlopt_trainer_train_step(a->trainer, a->images, a->labels, a->batch, 0.01f) != MLOPT_OK;
}

static int run_infer(void *p)
{
    model_arg *a = p;
    mlopt_tensor *logits;
    return mlopt_tensor_upload(a->x, a->images, (size_t)a->batch * 784 * sizeof(float)) ||
           mlopt_model_forward(a->model, a->x, 0, &logits);
}

static void bench_model(bench_run *r, int train, int batch)
{
    const char *name = train ? "train" : "infer";
    char shape[64];
    snprintf(shape, sizeof shape, "seed-cnn batch=%d", batch);
    model_arg a;
    timing t;
    step_stats st;
    if (model_arg_init(r, batch, train, &a) || measure(r, train ? run_train_step : run_infer, &a, &t, &st))
        failed(r, name, shape);
    else
        emit(r, name, shape, "images/s", batch, 1.0, &t, &st);
    model_arg_free(&a);
}

/* ------------------------------------------------------------------ */
/* One backend                                                         */
/* ------------------------------------------------------------------ */

static void bench_backend(bench_run *r)
{
    bench_cfg *cfg = r->cfg;
    if (!G.json)
        fprintf(stderr, "== %s: %s (%s, %s)\n", r->backend, r->dev.name, r->dev.vendor, r->dev.driver);
    if (workload_enabled(cfg, "gemm")) {
        static const int sizes[] = { 256, 512, 1024, 2048 };
        for (int i = 0; i < (cfg->quick ? 3 : 4); i++) {
            gemm_case g = { "gemm", 0, 0, sizes[i], sizes[i], sizes[i], 0 };
            bench_gemm(r, &g);
        }
    }
    if (workload_enabled(cfg, "cnn-gemm"))
        for (size_t i = 0; i < sizeof cnn_gemms / sizeof cnn_gemms[0]; i++)
            bench_gemm(r, &cnn_gemms[i]);
    if (workload_enabled(cfg, "conv")) {
        bench_conv(r, "conv1", 64, 1, 28, 32);
        bench_conv(r, "conv2", 64, 32, 13, 64);
    }
    if (workload_enabled(cfg, "train")) {
        bench_model(r, 1, 64);
        bench_model(r, 1, 256);
    }
    if (workload_enabled(cfg, "infer")) {
        bench_model(r, 0, 1);
        bench_model(r, 0, 256);
    }
}

/* ------------------------------------------------------------------ */
/* Summary and --compare tables                                        */
/* ------------------------------------------------------------------ */

static void print_summary(FILE *f, const bench_record *recs, int n)
{
    fprintf(f, "\n| workload | shape | backend | device | median | min | max | unit |\n");
    fprintf(f, "|---|---|---|---|---:|---:|---:|---|\n");
    for (int i = 0; i < n; i++) {
        const bench_record *b = &recs[i];
        fprintf(f, "| %s | %s | %s | %s | %.2f | %.2f | %.2f | %s |\n", b->workload, b->shape, b->backend, b->device,
                b->median, b->min, b->max, b->unit);
    }
}

typedef struct cmp_cell {
    int row, col;
    double median;
} cmp_cell;

typedef struct cmp_table {
    char (*rows)[256];      /* "workload\tshape\tunit" */
    char (*cols)[256];      /* "backend tN (device)", + " [file]" with several files */
    cmp_cell *cells;
    int nrows, ncols, ncells, caprows, capcols, capcells;
} cmp_table;

/* Index of key in a growing list of names, appended when new. */
static int cmp_intern(char (**list)[256], int *n, int *cap, const char *key)
{
    for (int i = 0; i < *n; i++)
        if (strcmp((*list)[i], key) == 0)
            return i;
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 32;
        char (*p)[256] = realloc(*list, (size_t)c * sizeof *p);
        if (!p)
            return -1;
        *list = p;
        *cap = c;
    }
    snprintf((*list)[*n], sizeof **list, "%s", key);
    return (*n)++;
}

static const char *jstr(const mlopt_json *o, const char *k)
{
    const mlopt_json *v = mlopt_json_get(o, k);
    return v && v->type == MLOPT_JSON_STRING ? v->text : NULL;
}

/* name_file: put the file's name in the column labels (several files). */
static int compare_file(cmp_table *t, const char *path, int name_file)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mlopt bench: --compare: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        mlopt_json *o;
        char err[256];
        if (mlopt_json_parse(line, (size_t)len, &o, err, sizeof err) != MLOPT_OK) {
            fprintf(stderr, "mlopt bench: --compare: %s:%d: %s\n", path, lineno, err);
            rc = 1;
            break;
        }
        const char *wl = jstr(o, "workload"), *sh = jstr(o, "shape"), *be = jstr(o, "backend");
        const char *dev = jstr(o, "device"), *unit = jstr(o, "unit");
        const mlopt_json *med = mlopt_json_get(o, "median"), *thr = mlopt_json_get(o, "threads");
        if (!wl || !sh || !be || !unit || !med || med->type != MLOPT_JSON_NUMBER) {
            fprintf(stderr, "mlopt bench: --compare: %s:%d: not a bench result (needs workload, shape, backend, "
                            "unit, median)\n", path, lineno);
            mlopt_json_free(o);
            rc = 1;
            break;
        }
        char rk[256], ck[256];
        snprintf(rk, sizeof rk, "%s\t%s\t%s", wl, sh, unit);
        snprintf(ck, sizeof ck, "%s t%s (%s)%s%s%s", be, thr && thr->type == MLOPT_JSON_NUMBER ? thr->text : "?",
                 dev ? dev : "?", name_file ? " [" : "", name_file ? base : "", name_file ? "]" : "");
        int row = cmp_intern(&t->rows, &t->nrows, &t->caprows, rk);
        int col = cmp_intern(&t->cols, &t->ncols, &t->capcols, ck);
        double v = strtod(med->text, NULL);
        mlopt_json_free(o);
        if (row < 0 || col < 0) {
            rc = 1;
            break;
        }
        /* The latest line of a row/column wins (files are appended to). */
        int found = 0;
        for (int i = 0; i < t->ncells && !found; i++)
            if (t->cells[i].row == row && t->cells[i].col == col) {
                t->cells[i].median = v;
                found = 1;
            }
        if (found)
            continue;
        if (t->ncells == t->capcells) {
            int c = t->capcells ? 2 * t->capcells : 64;
            cmp_cell *p = realloc(t->cells, (size_t)c * sizeof *p);
            if (!p) {
                rc = 1;
                break;
            }
            t->cells = p;
            t->capcells = c;
        }
        t->cells[t->ncells++] = (cmp_cell){ row, col, v };
    }
    free(line);
    fclose(f);
    return rc;
}

static int run_compare(const char **files, int nfiles)
{
    if (!nfiles) {
        fprintf(stderr, "mlopt bench: --compare needs result files (bench/results/*.jsonl)\n");
        return 2;
    }
    cmp_table t = { 0 };
    int rc = 0;
    for (int i = 0; i < nfiles && !rc; i++)
        rc = compare_file(&t, files[i], nfiles > 1);
    if (!rc) {
        printf("| workload | shape | unit |");
        for (int c = 0; c < t.ncols; c++)
            printf(" %s |", t.cols[c]);
        printf("\n|---|---|---|");
        for (int c = 0; c < t.ncols; c++)
            printf("---:|");
        printf("\n");
        for (int r = 0; r < t.nrows; r++) {
            char row[256];
            snprintf(row, sizeof row, "%s", t.rows[r]);
            char *shape = strchr(row, '\t');
            char *unit = strchr(shape + 1, '\t');
            *shape++ = '\0';
            *unit++ = '\0';
            printf("| %s | %s | %s |", row, shape, unit);
            for (int c = 0; c < t.ncols; c++) {
                int found = 0;
                for (int i = 0; i < t.ncells && !found; i++)
                    if (t.cells[i].row == r && t.cells[i].col == c) {
                        printf(" %.2f |", t.cells[i].median);
                        found = 1;
                    }
                if (!found)
                    printf(" |");
            }
            printf("\n");
        }
    }
    free(t.rows);
    free(t.cols);
    free(t.cells);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The command                                                         */
/* ------------------------------------------------------------------ */

/* The backends to run: "all" = every usable plugin; else a comma list or
 * the single name (NULL: the default choice of mlopt_context_create). */
static int pick_backends(const char *spec, char names[][64], int *n)
{
    *n = 0;
    if (!spec || !*spec) {
        names[(*n)++][0] = '\0';
        return 0;
    }
    if (strcmp(spec, "all") == 0) {
        mlopt_plugin_report *list;
        int count;
        mlopt_status s = mlopt_plugins_scan(&list, &count);
        if (s != MLOPT_OK)
            return report_failure("bench", "scanning plugins", s);
        for (int i = 0; i < count && *n < BENCH_MAX_BACKENDS; i++) {
            if (list[i].usable)
                snprintf(names[(*n)++], 64, "%s", list[i].name);
            else
                fprintf(stderr, "mlopt bench: skipping %s: %s\n", list[i].name, list[i].why);
        }
        free(list);
        if (!*n) {
            fprintf(stderr, "mlopt bench: no usable backend (see mlopt backends)\n");
            return 1;
        }
        return 0;
    }
    for (const char *p = spec; *p && *n < BENCH_MAX_BACKENDS;) {
        size_t len = strcspn(p, ",");
        snprintf(names[(*n)++], 64, "%.*s", (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Default results file: bench/results/<hostname>-<slug>.jsonl, the slug
 * naming the CPU when the device runs on it (cpu, PoCL, lavapipe), else
 * the device. */
static int open_results(const bench_cfg *cfg, const mlopt_device_info *dev, FILE **f, char *path, size_t len)
{
    if (cfg->out) {
        snprintf(path, len, "%s", cfg->out);
    } else {
        char slug[160];
        int on_cpu = dev->type == MLOPT_DEVICE_CPU || dev->type == MLOPT_DEVICE_SOFTWARE;
        slugify(on_cpu ? cfg->cpu_model : dev->name, slug, sizeof slug);
        if (mkdirs("bench/results")) {
            fprintf(stderr, "mlopt bench: cannot create bench/results: %s (use --out FILE)\n", strerror(errno));
            return 1;
        }
        snprintf(path, len, "bench/results/%s-%s.jsonl", cfg->hostname, slug);
    }
    *f = fopen(path, "a");
    if (!*f) {
        fprintf(stderr, "mlopt bench: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_cfg cfg = { .repeat = 0, .warmup = -1 };
    int compare = 0, repeat = 0, warmup = 0;
    cli_option opts[] = {
        { "repeat", OPT_INT, &repeat, "N", "timed samples per workload (default 5, --quick 3)", 1, 0 },
        { "warmup", OPT_INT, &warmup, "N", "untimed runs first (default 2, --quick 1)", 0, 0 },
        { "workloads", OPT_STRING, &cfg.workloads, "LIST",
          "comma list of gemm, cnn-gemm, conv, train, infer (default all)", 0, 0 },
        { "quick", OPT_FLAG, &cfg.quick, NULL, "short samples, no 2048^3 GEMM (about a minute on 2 cores)", 0, 0 },
        { "out", OPT_STRING, &cfg.out, "FILE",
          "append JSON lines here (default bench/results/<hostname>-<cpu or device>.jsonl)", 0, 0 },
        { "compare", OPT_FLAG, &compare, NULL, "merge the result FILES given as arguments into one markdown table",
          0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[BENCH_MAX_FILES];
    int npos;
    if (args_parse("bench", argc, argv, opts, pos, BENCH_MAX_FILES, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt bench [--backend=NAME|all] [--repeat N] [--warmup N] [--workloads LIST] [--quick] "
                  "[--threads N] [--out FILE] [--json]\n       mlopt bench --compare FILES...",
                  "Time SGEMM (256..2048 and the seed CNN's GEMM shapes), the seed CNN's convolutions, training "
                  "steps (batch 64, 256) and inference (batch 1, 256) on each backend. Warm-up runs are excluded; "
                  "median, min and max of the timed samples are reported. Results are appended as JSON lines "
                  "to the results file and summarized as a markdown table on stdout (stderr with --json, where "
                  "stdout gets the JSON lines). --threads also sets POCL_MAX_PTHREAD_COUNT and LP_NUM_THREADS "
                  "(unless set) so that PoCL and lavapipe use the same number of threads.",
                  opts);
        return 0;
    }
    if (compare)
        return run_compare(pos, npos);
    if (npos) {
        fprintf(stderr, "mlopt bench: unexpected argument '%s' (files go with --compare)\n", pos[0]);
        return 2;
    }
    cfg.repeat = repeat ? repeat : cfg.quick ? 3 : 5;
    cfg.warmup = args_find(opts, "warmup")->seen ? warmup : cfg.quick ? 1 : 2;
    cfg.target_s = cfg.quick ? 0.02 : 0.1;
    /* An explicit --repeat is always honoured. */
    cfg.budget_s = repeat ? INFINITY : cfg.quick ? 3.0 : 30.0;
    if (cfg.workloads) {
        static const char *const known[] = { "gemm", "cnn-gemm", "conv", "train", "infer" };
        for (const char *p = cfg.workloads; *p;) {
            size_t len = strcspn(p, ","), k;
            for (k = 0; k < 5; k++)
                if (strlen(known[k]) == len && strncmp(p, known[k], len) == 0)
                    break;
            if (k == 5) {
                fprintf(stderr, "mlopt bench: unknown workload '%.*s' (gemm, cnn-gemm, conv, train, infer)\n",
                        (int)len, p);
                return 2;
            }
            p += len;
            if (*p == ',')
                p++;
        }
    }
    /* Threads: the option, else $MLOPT_NUM_THREADS, else every core.  The
     * software GPU drivers read their own variables once, at start-up:
     * set them before any plugin is loaded. */
    cfg.threads = G.threads;
    if (!cfg.threads && getenv("MLOPT_NUM_THREADS"))
        cfg.threads = atoi(getenv("MLOPT_NUM_THREADS"));
    if (cfg.threads > 0) {
        char t[16];
        snprintf(t, sizeof t, "%d", cfg.threads);
        setenv("POCL_MAX_PTHREAD_COUNT", t, 0);
        setenv("LP_NUM_THREADS", t, 0);
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = n > 0 ? (int)n : 1;
    }
    read_cpu_model(cfg.cpu_model, sizeof cfg.cpu_model);
    if (gethostname(cfg.hostname, sizeof cfg.hostname))
        snprintf(cfg.hostname, sizeof cfg.hostname, "unknown");
    cfg.hostname[sizeof cfg.hostname - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(cfg.timestamp, sizeof cfg.timestamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

    char names[BENCH_MAX_BACKENDS][64];
    int nb;
    if (pick_backends(G.backend, names, &nb))
        return 1;
    bench_run r = { .cfg = &cfg };
    int rc = 0;
    for (int i = 0; i < nb; i++) {
        mlopt_context *ctx;
        /* --device names a device of one backend; it means nothing across several. */
        mlopt_status s = mlopt_context_create(names[i][0] ? names[i] : NULL, nb == 1 ? G.device : NULL, &ctx);
        if (s != MLOPT_OK) {
            fprintf(stderr, "mlopt bench: %s: %s\n", names[i][0] ? names[i] : "default backend", mlopt_last_error());
            rc = 1;
            continue;
        }
        if ((s = mlopt_context_set_threads(ctx, cfg.threads)) != MLOPT_OK) {
            report_failure("bench", "setting the thread count", s);
            mlopt_context_destroy(ctx);
            rc = 1;
            continue;
        }
        r.ctx = ctx;
        r.backend = mlopt_context_backend(ctx)->name;
        mlopt_context_device_info(ctx, &r.dev);
        char path[4096];
        if (open_results(&cfg, &r.dev, &r.out, path, sizeof path)) {
            mlopt_context_destroy(ctx);
            rc = 1;
            break;
        }
        bench_backend(&r);
        fclose(r.out);
        if (!G.json)
            fprintf(stderr, "results appended to %s\n", path);
        mlopt_context_destroy(ctx);
    }
    if (r.nrecs)
        print_summary(G.json ? stderr : stdout, r.recs, r.nrecs);
    free(r.recs);
    if (r.failures) {
        fprintf(stderr, "mlopt bench: %d workload(s) failed\n", r.failures);
        rc = 1;
    }
    return rc;
}
