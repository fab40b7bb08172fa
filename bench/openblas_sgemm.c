/* OpenBLAS reference for `mlopt bench`: cblas_sgemm at the same shapes,
 * thread count and timing method (warm-up excluded, median/min/max of
 * repeated samples that each last about 20 ms with --quick, 100 ms
 * otherwise), printed as the same JSON lines on stdout (and appended to
 * --out FILE).
 *
 *   openblas_sgemm [--threads N] [--repeat N] [--warmup N] [--quick] [--out FILE]
 *                  [--paired BACKEND] [--only SUBSTRING]
 *
 * --paired BACKEND also times the mlopt backend's gemm slot (through the
 * public API: mlopt_context_create, the backend vtable) on every shape, the
 * two libraries' samples interleaved: mlopt, OpenBLAS, OpenBLAS, mlopt...
 * (which one goes first alternates), with a pause after each sample so
 * that neither library's spinning worker threads steal the other's cores.
 * Each OpenBLAS line then carries "paired_backend", "paired_median" (the
 * backend's GFLOP/s median over its interleaved samples) and
 * "paired_ratio" (the median over samples r of backend_r / OpenBLAS_r).
 * On a shared host whose speed changes from one minute to the next, two
 * programs run a minute apart each get their own minute; samples taken
 * back to back see nearly the same conditions, and their ratio cancels
 * most of the difference.  GEMMs too small for either library to use a
 * second thread go further: each sample alternates blocks of about 1 ms
 * of each library (interleaved_sample).  --only runs the workloads whose
 * name contains SUBSTRING.
 *
 * The seed-CNN shapes below must match cnn_gemms[] in cli/cmd_bench.c: a
 * convolution is one GEMM per image after im2col (64 images per op; the
 * backward-filter GEMMs accumulate into one dW), a linear layer one GEMM
 * over the batch of 64. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "mlopt/backend.h"
#include "mlopt/mlopt.h"

typedef struct gemm_case {
    const char *name;
    int ta, tb, m, n, k;
    int per_image;
} gemm_case;

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

typedef struct cfg {
    int threads, repeat, warmup, quick;
    double target_s;
    const char *out;
    const char *paired;          /* mlopt backend timed alongside, or NULL */
    const char *only;            /* only workloads whose name contains this */
    mlopt_context *ctx;          /* the paired backend's context */
    char cpu_model[256], hostname[256], timestamp[32];
} cfg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void read_cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *v = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !v)
            continue;
        for (v++; *v == ' ' || *v == '\t'; v++)
            ;
        snprintf(buf, len, "%s", v);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    fclose(f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void run_case(const gemm_case *g, const float *a, const float *b, float *c)
{
    int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n, ldc = g->n;
    int images = g->per_image ? g->per_image : 1;
    int accumulate = g->per_image && g->tb;
    for (int i = 0; i < images; i++)
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, g->m, g->n,
                    g->k, 1.0f, a, lda, b + (size_t)i * g->k * g->n, ldb, accumulate && i ? 1.0f : 0.0f,
                    c + (accumulate ? 0 : (size_t)i * g->m * g->n), ldc);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

typedef struct paired_result {
    double median, ratio; /* the backend's GFLOP/s median; median of per-sample ratios */
} paired_result;

static void write_line(FILE *f, const cfg *c, const gemm_case *g, const char *shape, double med, double lo,
                       double hi, double ms, int iters, const paired_result *pr)
{
    fprintf(f, "{\"workload\": ");
    json_string(f, g->name);
    fprintf(f, ", \"shape\": ");
    json_string(f, shape);
    fprintf(f, ", \"backend\": \"openblas\", \"device\": ");
    json_string(f, c->cpu_model);
    fprintf(f, ", \"vendor\": \"OpenBLAS\", \"driver\": ");
    json_string(f, openblas_get_config());
    fprintf(f, ", \"device_type\": \"cpu\", \"threads\": %d, \"cpu_model\": ", c->threads);
    json_string(f, c->cpu_model);
    fprintf(f, ", \"hostname\": ");
    json_string(f, c->hostname);
    fprintf(f, ", \"mlopt_version\": \"%s\", \"timestamp\": \"%s\", \"value\": %.6g, \"unit\": \"GFLOP/s\", "
               "\"median\": %.6g, \"min\": %.6g, \"max\": %.6g, \"time_ms\": %.6g, \"repeat\": %d, \"warmup\": %d, "
               "\"iters\": %d",
            MLOPT_VERSION_STRING, c->timestamp, med, med, lo, hi, ms, c->repeat, c->warmup, iters);
    if (pr) {
        fprintf(f, ", \"paired_backend\": ");
        json_string(f, c->paired);
        fprintf(f, ", \"paired_median\": %.6g, \"paired_ratio\": %.6g", pr->median, pr->ratio);
    }
    fprintf(f, "}\n");
    fflush(f);
}

/* The same GEMMs through the mlopt backend's gemm slot. */
typedef struct mlopt_side {
    const mlopt_backend *be;
    mlopt_backend_ctx *bc;
    mlopt_tensor *a, *b, *c;
} mlopt_side;

static int run_case_mlopt(const mlopt_side *ms, const gemm_case *g)
{
    int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n, ldc = g->n;
    int images = g->per_image ? g->per_image : 1;
    int accumulate = g->per_image && g->tb;
    for (int i = 0; i < images; i++) {
        mlopt_ref b = ms->b->ref, c = ms->c->ref;
        b.offset += (size_t)i * g->k * g->n * sizeof(float);
        if (!accumulate)
            c.offset += (size_t)i * g->m * g->n * sizeof(float);
        if (ms->be->gemm(ms->bc, g->ta, g->tb, g->m, g->n, g->k, 1.0f, ms->a->ref, lda, b, ldb,
                         accumulate && i ? 1.0f : 0.0f, c, ldc))
            return 1;
    }
    return 0;
}

/* Seconds per call of one sample of `iters` calls (mlopt's when ms). */
static double sample(const mlopt_side *ms, const gemm_case *g, const float *a, const float *b, float *cm, int iters,
                     int *failed)
{
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        if (ms)
            *failed |= run_case_mlopt(ms, g);
        else
            run_case(g, a, b, cm);
    }
    /* a device backend queues its work: the sample ends when it is done */
    if (ms && ms->be->synchronize)
        *failed |= ms->be->synchronize(ms->bc);
    return (now_s() - t0) / iters;
}

/* Below this many multiply-adds per GEMM call, both libraries stay on
 * one thread (OpenBLAS 0.3.21 splits from 65536 x GEMM_MULTITHREAD_THRESHOLD
 * = 262144, mlopt's cpu backend from CPU_GEMM_SPLIT_MIN_FLOPS = 131072), so
 * no worker thread of one can spin on the other's time, and --paired
 * alternates short blocks of calls instead of whole samples. */
#define PAIRED_INTERLEAVE_MAX_MACS 131072
/* blocks per interleaved sample: about 1 ms each at the default 0.1 s */
#define PAIRED_BLOCKS 16

static int interleaved(const gemm_case *g)
{
    return !g->per_image && (double)g->m * g->n * g->k < PAIRED_INTERLEAVE_MAX_MACS;
}

/* One paired sample of a single-threaded GEMM: PAIRED_BLOCKS blocks of
 * `iters` / PAIRED_BLOCKS calls of each library in turn (which goes first
 * alternates by block, starting with mlopt when mlopt_first), their
 * seconds per call summed separately.  The vCPUs of a shared host switch
 * between speeds about 1.45x apart: whole 10 ms samples of fc2's GEMMs
 * were bimodal for both libraries, and a fast sample of one paired with a
 * slow one of the other gave ratios of 0.75 or 1.5.  Blocks this short
 * mostly see the same speed for both. */
static void interleaved_sample(const mlopt_side *ms, const gemm_case *g, const float *a, const float *b, float *cm,
                               int iters, int mlopt_first, double *openblas_s, double *mlopt_s, int *failed)
{
    int per_block = iters / PAIRED_BLOCKS > 0 ? iters / PAIRED_BLOCKS : 1;
    double to = 0, tm = 0;
    for (int blk = 0; blk < PAIRED_BLOCKS; blk++)
        for (int k = 0; k < 2; k++) {
            if (k ^ (blk & 1) ^ !mlopt_first)
                tm += sample(ms, g, a, b, cm, per_block, failed);
            else
                to += sample(NULL, g, a, b, cm, per_block, failed);
        }
    *openblas_s = to / PAIRED_BLOCKS;
    *mlopt_s = tm / PAIRED_BLOCKS;
}

static int calls_for(const cfg *c, double one)
{
    if (one <= 0)
        return 1;
    double k = ceil(c->target_s / one);
    return k > 10000 ? 10000 : k < 1 ? 1 : (int)k;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Whether --only (if given) selects this workload. */
static int selected(const cfg *c, const gemm_case *g)
{
    return !c->only || strstr(g->name, c->only) != NULL;
}

static int bench(const cfg *c, FILE *out, const gemm_case *g)
{
    if (!selected(c, g))
        return 0;
    int images = g->per_image ? g->per_image : 1;
    size_t sa = (size_t)g->m * g->k, sb = (size_t)g->k * g->n * images, sc = (size_t)g->m * g->n * images;
    float *a = malloc(sa * sizeof *a), *b = malloc(sb * sizeof *b), *cm = malloc(sc * sizeof *cm);
    double *s = malloc((size_t)c->repeat * 3 * sizeof *s);
    if (!a || !b || !cm || !s) {
        fprintf(stderr, "openblas_sgemm: out of memory for %s\n", g->name);
        free(a), free(b), free(cm), free(s);
        return 1;
    }
    double *sm = s + c->repeat, *ratio = s + 2 * c->repeat;
    for (size_t i = 0; i < sa; i++)
        a[i] = 0.01f;
    for (size_t i = 0; i < sb; i++)
        b[i] = 0.02f;
    for (size_t i = 0; i < sc; i++)
        cm[i] = 0.0f;
    mlopt_side side = { 0 }, *ms = NULL;
    int failed = 0, rc = 0;
    if (c->ctx) {
        int na = (int)sa, nb = (int)sb, nc = (int)sc;
        side.be = mlopt_context_backend(c->ctx);
        side.bc = mlopt_context_backend_ctx(c->ctx);
        if (!side.be->gemm || mlopt_tensor_create(c->ctx, MLOPT_F32, 1, &na, &side.a) ||
            mlopt_tensor_create(c->ctx, MLOPT_F32, 1, &nb, &side.b) ||
            mlopt_tensor_create(c->ctx, MLOPT_F32, 1, &nc, &side.c) || mlopt_tensor_fill(side.a, 0.01f) ||
            mlopt_tensor_fill(side.b, 0.02f) || mlopt_tensor_fill(side.c, 0.0f)) {
            fprintf(stderr, "openblas_sgemm: %s: cannot run the %s backend's gemm slot: %s\n", g->name, c->paired,
                    side.be->gemm ? mlopt_last_error() : "it has none");
            rc = 1;
            goto out;
        }
        ms = &side;
    }
    double one = 0, one_m = 0;
    for (int w = 0; w < c->warmup; w++) {
        one = sample(NULL, g, a, b, cm, 1, &failed);
        if (ms)
            one_m = sample(ms, g, a, b, cm, 1, &failed);
    }
    int iters = calls_for(c, one), iters_m = calls_for(c, one_m);
    for (int r = 0; r < c->repeat; r++) {
        if (ms && interleaved(g)) {
            interleaved_sample(ms, g, a, b, cm, iters < iters_m ? iters : iters_m, r & 1, &s[r], &sm[r],
                               &failed);
            ratio[r] = s[r] / sm[r];
            usleep(150000);
            continue;
        }
        /* interleaved, the first library alternating; a pause after each
         * sample lets the other's worker threads go to sleep first
         * (OpenBLAS's spin for up to 2^28 cycles, about 0.1 s) */
        for (int k = 0; k < (ms ? 2 : 1); k++) {
            if (ms && (k ^ (r & 1)))
                sm[r] = sample(ms, g, a, b, cm, iters_m, &failed);
            else
                s[r] = sample(NULL, g, a, b, cm, iters, &failed);
            if (ms)
                usleep(150000);
        }
        if (ms)
            ratio[r] = s[r] / sm[r]; /* time ratio = GFLOP/s ratio, backend / OpenBLAS */
    }
    if (failed) {
        fprintf(stderr, "openblas_sgemm: %s: the %s backend's gemm failed: %s\n", g->name, c->paired,
                side.be->last_error(side.bc));
        rc = 1;
        goto out;
    }
    int n = c->repeat;
    double flop = 2.0 * g->m * g->n * g->k * images;
    paired_result pr = { 0 };
    if (ms) {
        pr.median = flop / median_of(sm, n) * 1e-9;
        pr.ratio = median_of(ratio, n);
    }
    double med = median_of(s, n);
    char shape[96];
    snprintf(shape, sizeof shape, "%dx%dx%d %c%c%s", g->m, g->n, g->k, g->ta ? 'T' : 'N', g->tb ? 'T' : 'N',
             g->per_image ? " x64 images" : "");
    write_line(stdout, c, g, shape, flop / med * 1e-9, flop / s[n - 1] * 1e-9, flop / s[0] * 1e-9, med * 1e3,
               iters, ms ? &pr : NULL);
    if (out)
        write_line(out, c, g, shape, flop / med * 1e-9, flop / s[n - 1] * 1e-9, flop / s[0] * 1e-9, med * 1e3,
                   iters, ms ? &pr : NULL);
    if (ms)
        fprintf(stderr, "  %-26s %-26s %8.2f GFLOP/s  %s %8.2f  paired ratio %.2f\n", g->name, shape,
                flop / med * 1e-9, c->paired, pr.median, pr.ratio);
    else
        fprintf(stderr, "  %-26s %-26s %8.2f GFLOP/s\n", g->name, shape, flop / med * 1e-9);
out:
    mlopt_tensor_destroy(side.a);
    mlopt_tensor_destroy(side.b);
    mlopt_tensor_destroy(side.c);
    free(a), free(b), free(cm), free(s);
    return rc;
}

int main(int argc, char **argv)
{
    cfg c = { .threads = 0, .repeat = 0, .warmup = -1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--threads") == 0 && has_value)
            c.threads = atoi(argv[++i]);
        else if (strcmp(a, "--repeat") == 0 && has_value)
            c.repeat = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && has_value)
            c.warmup = atoi(argv[++i]);
        else if (strcmp(a, "--out") == 0 && has_value)
            c.out = argv[++i];
        else if (strcmp(a, "--quick") == 0)
            c.quick = 1;
        else if (strcmp(a, "--paired") == 0 && has_value)
            c.paired = argv[++i];
        else if (strcmp(a, "--only") == 0 && has_value)
            c.only = argv[++i];
        else {
            fprintf(stderr, "usage: openblas_sgemm [--threads N] [--repeat N] [--warmup N] [--quick] [--out FILE] "
                            "[--paired BACKEND] [--only SUBSTRING]\n");
            return 2;
        }
    }
    if (c.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.threads = n > 0 ? (int)n : 1;
    }
    if (c.repeat <= 0)
        c.repeat = c.quick ? 3 : 5;
    if (c.warmup < 0)
        c.warmup = c.quick ? 1 : 2;
    c.target_s = c.quick ? 0.02 : 0.1;
    openblas_set_num_threads(c.threads);
    read_cpu_model(c.cpu_model, sizeof c.cpu_model);
    if (gethostname(c.hostname, sizeof c.hostname))
        snprintf(c.hostname, sizeof c.hostname, "unknown");
    c.hostname[sizeof c.hostname - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(c.timestamp, sizeof c.timestamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (c.paired && (mlopt_context_create(c.paired, NULL, &c.ctx) || mlopt_context_set_threads(c.ctx, c.threads))) {
        fprintf(stderr, "openblas_sgemm: --paired %s: %s\n", c.paired, mlopt_last_error());
        return 1;
    }
    FILE *out = NULL;
    if (c.out && !(out = fopen(c.out, "a"))) {
        perror(c.out);
        return 1;
    }
    fprintf(stderr, "== openblas: %s, %d threads\n", openblas_get_config(), c.threads);
    int rc = 0;
    static const int sizes[] = { 256, 512, 1024, 2048 };
    if (c.only) {
        int any = strstr("gemm", c.only) != NULL;
        for (size_t i = 0; i < sizeof cnn_gemms / sizeof cnn_gemms[0]; i++)
            any |= selected(&c, &cnn_gemms[i]);
        if (!any) {
            fprintf(stderr, "openblas_sgemm: --only %s matches no workload (names: gemm", c.only);
            for (size_t i = 0; i < sizeof cnn_gemms / sizeof cnn_gemms[0]; i++)
                fprintf(stderr, ", %s", cnn_gemms[i].name);
            fprintf(stderr, ")\n");
            if (out)
                fclose(out);
            mlopt_context_destroy(c.ctx);
            return 2;
        }
    }
    for (int i = 0; i < (c.quick ? 3 : 4); i++) {
        gemm_case g = { "gemm", 0, 0, sizes[i], sizes[i], sizes[i], 0 };
        rc |= bench(&c, out, &g);
    }
    for (size_t i = 0; i < sizeof cnn_gemms / sizeof cnn_gemms[0]; i++)
        rc |= bench(&c, out, &cnn_gemms[i]);
    if (out)
        fclose(out);
    mlopt_context_destroy(c.ctx);
    return rc;
}
