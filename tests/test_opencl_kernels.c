/* Cross-checks every slot of the OpenCL backend against the CPU backend's
 * scalar reference on random shapes (odd, prime, tile-unaligned), with
 * non-zero tensor offsets and guard regions around every output.
 *
 * Skips (passes with a note on stderr) when the OpenCL plugin, an OpenCL
 * platform or the CPU reference plugin is absent.  Contexts are created
 * inside each test (Check forks per test) and kept few, because PoCL
 * compiles the kernel program at every create(). */
#include <check.h>
#include <ctype.h>
#include <strings.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_harness.h"

#define SENTINEL 1234.5f
#define GUARD 7 /* floats before and after every tensor */

typedef struct pair {
    harness_backend b[2]; /* 0: opencl, 1: cpu reference */
} pair;

static const char *const backend_label[2] = {"opencl", "cpu-ref"};

/* Opens both backends; 0 means "skip this test" (note printed). */
static int open_pair(pair *p, const char *test)
{
    char err[4096];
    memset(p, 0, sizeof *p);
    if (harness_open("opencl", NULL, &p->b[0], err, sizeof err)) {
        fprintf(stderr, "%s: skipped, OpenCL backend unavailable: %s\n", test, err);
        return 0;
    }
    if (harness_open_cpu_reference(&p->b[1], err, sizeof err)) {
        fprintf(stderr, "%s: skipped, CPU reference backend unavailable: %s\n", test, err);
        harness_close(&p->b[0]);
        return 0;
    }
    return 1;
}

static void close_pair(pair *p)
{
    harness_close(&p->b[0]);
    harness_close(&p->b[1]);
}

/* ---- deterministic random numbers ---- */
static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rnd_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rnd_u32() & 0xFFFFFF) / 16777216.0f;
}
static int rnd_int(int lo, int hi) /* inclusive */
{
    return lo + (int)(rnd_u32() % (uint32_t)(hi - lo + 1));
}
static float *rnd_array(size_t n, float lo, float hi)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++)
        a[i] = rnd_uniform(lo, hi);
    return a;
}

/* ---- a tensor mirrored on both backends, with guards ---- */
typedef struct twin {
    mlopt_buffer *buf[2];
    size_t n;     /* floats in the tensor */
    size_t front; /* floats before it (non-zero offset) */
} twin;

static void must(pair *p, int which, int rc, const char *what)
{
    ck_assert_msg(rc == 0, "%s failed on %s: %s", what, backend_label[which],
                  p->b[which].be->last_error(p->b[which].ctx));
}

/* data == NULL: the tensor's interior holds fill_value (NaN tests "not read"). */
static twin twin_make(pair *p, const float *data, size_t n, float fill_value)
{
    twin t;
    t.n = n;
    t.front = GUARD + (rnd_u32() % 5);
    size_t total = t.front + n + GUARD;
    float *host = malloc(total * sizeof *host);
    ck_assert_ptr_nonnull(host);
    for (size_t i = 0; i < total; i++)
        host[i] = SENTINEL;
    for (size_t i = 0; i < n; i++)
        host[t.front + i] = data ? data[i] : fill_value;
    for (int w = 0; w < 2; w++) {
        const mlopt_backend *be = p->b[w].be;
        must(p, w, be->buffer_alloc(p->b[w].ctx, total * 4, &t.buf[w]), "buffer_alloc");
        must(p, w, be->upload(p->b[w].ctx, (mlopt_ref){t.buf[w], 0}, host, total * 4), "upload");
    }
    free(host);
    return t;
}

static twin twin_ints(pair *p, const int32_t *data, size_t n)
{
    float *bits = malloc((n ? n : 1) * sizeof *bits);
    memcpy(bits, data, n * sizeof *data);
    twin t = twin_make(p, bits, n, 0.0f);
    free(bits);
    return t;
}

static mlopt_ref tref(const twin *t, int which)
{
    return (mlopt_ref){t->buf[which], t->front * 4};
}

static void twin_free(pair *p, twin *t)
{
    for (int w = 0; w < 2; w++)
        p->b[w].be->buffer_free(p->b[w].ctx, t->buf[w]);
}

static float *download_all(pair *p, const twin *t, int which)
{
    size_t total = t->front + t->n + GUARD;
    float *h = malloc(total * sizeof *h);
    ck_assert_ptr_nonnull(h);
    must(p, which, p->b[which].be->download(p->b[which].ctx, h, (mlopt_ref){t->buf[which], 0},
                                            total * 4),
         "download");
    return h;
}

/* Compares the OpenCL result with the reference: |o - r| <= atol + rtol |r|;
 * the OpenCL guards must still hold the sentinel. */
static void twin_check(pair *p, const twin *t, const char *what, double atol, double rtol)
{
    float *o = download_all(p, t, 0), *r = download_all(p, t, 1);
    size_t total = t->front + t->n + GUARD;
    for (size_t i = 0; i < total; i++) {
        if (i < t->front || i >= t->front + t->n) {
            ck_assert_msg(o[i] == SENTINEL, "%s: guard at %zd overwritten (%g)", what,
                          (ptrdiff_t)i - (ptrdiff_t)t->front, (double)o[i]);
            continue;
        }
        double ov = o[i], rv = r[i];
        int both_nan = isnan(ov) && isnan(rv);
        ck_assert_msg(both_nan || fabs(ov - rv) <= atol + rtol * fabs(rv),
                      "%s[%zu]: opencl %.9g vs reference %.9g", what, i - t->front, ov, rv);
    }
    free(o);
    free(r);
}

static void twin_check_ints(pair *p, const twin *t, const char *what)
{
    float *o = download_all(p, t, 0), *r = download_all(p, t, 1);
    for (size_t i = 0; i < t->n; i++) {
        int32_t oi, ri;
        memcpy(&oi, &o[t->front + i], 4);
        memcpy(&ri, &r[t->front + i], 4);
        ck_assert_msg(oi == ri, "%s[%zu]: opencl %d vs reference %d", what, i, oi, ri);
    }
    ck_assert(o[t->front - 1] == SENTINEL && o[t->front + t->n] == SENTINEL);
    free(o);
    free(r);
}

/* Runs one slot call on both backends; inside, W is the backend index and
 * R(t) the tensor's ref on it. */
#define BOTH(p, call)                                                                    \
    do {                                                                                 \
        for (int W = 0; W < 2; W++) {                                                    \
            const mlopt_backend *BE = (p)->b[W].be;                                      \
            mlopt_backend_ctx *CTX = (p)->b[W].ctx;                                      \
            must((p), W, (call), #call);                                                 \
        }                                                                                \
    } while (0)
#define R(t) tref(&(t), W)
#define NOREF ((mlopt_ref){NULL, 0})

/* ------------------------------------------------------------------------ */

START_TEST(test_probe_and_bogus_selector)
{
    harness_backend h;
    char err[4096];
    if (harness_load("opencl", &h, err, sizeof err)) {
        fprintf(stderr, "test_probe_and_bogus_selector: skipped, no plugin: %s\n", err);
        return;
    }
    mlopt_device_info devs[16];
    int count = 0;
    if (h.be->probe(devs, 16, &count, err, sizeof err)) {
        ck_assert_msg(strstr(err, "OpenCL") != NULL, "probe error should say why: %s", err);
        fprintf(stderr, "test_probe_and_bogus_selector: skipped, no platform: %s\n", err);
        return;
    }
    ck_assert_int_gt(count, 0);
    for (int i = 0; i < count && i < 16; i++) {
        ck_assert(devs[i].name[0] != '\0');
        ck_assert(devs[i].type >= MLOPT_DEVICE_CPU && devs[i].type <= MLOPT_DEVICE_OTHER);
    }
    ck_assert_int_eq(h.be->struct_size, sizeof(mlopt_backend));
    /* every slot is implemented */
    const char *base = (const char *)&h.be->probe;
    const char *end = (const char *)h.be + sizeof(mlopt_backend);
    for (const char *s = base; s < end; s += sizeof(void (*)(void))) {
        void (*fn)(void);
        memcpy(&fn, s, sizeof fn);
        ck_assert_msg(fn != NULL, "slot at byte %zu is NULL", (size_t)(s - (const char *)h.be));
    }
    mlopt_backend_ctx *ctx = NULL;
    ck_assert_int_ne(h.be->create("nosuchdevice", &ctx, err, sizeof err), 0);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(err, "nosuchdevice") != NULL, "error should name the selector: %s", err);
    ck_assert_int_ne(h.be->create("99:99", &ctx, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "99:99") != NULL, "error should name the index: %s", err);
    /* the environment variable selects when the selector is NULL */
    setenv("MLOPT_OPENCL_DEVICE", "nosuchdevice", 1);
    ck_assert_int_ne(h.be->create(NULL, &ctx, err, sizeof err), 0);
    unsetenv("MLOPT_OPENCL_DEVICE");
    ck_assert_msg(strstr(err, "nosuchdevice") != NULL, "error should name the selector: %s", err);

    /* a case-insensitive name substring selects (one real context creation) */
    char upper[8] = "";
    size_t len = strlen(devs[0].name) < 6 ? strlen(devs[0].name) : 6;
    for (size_t i = 0; i < len; i++)
        upper[i] = (char)toupper((unsigned char)devs[0].name[i]);
    upper[len] = '\0';
    ck_assert_msg(h.be->create(upper, &ctx, err, sizeof err) == 0, "create(%s): %s", upper, err);
    mlopt_device_info info;
    ck_assert_int_eq(h.be->device_info(ctx, &info), 0);
    ck_assert_msg(strncasecmp(info.name, upper, len) == 0, "%s selected %s", upper, info.name);
    /* an impossible allocation fails with advice, not a crash */
    mlopt_buffer *huge = NULL;
    ck_assert_int_ne(h.be->buffer_alloc(ctx, (size_t)1 << 50, &huge), 0);
    ck_assert_msg(strstr(h.be->last_error(ctx), "try a smaller --batch") != NULL, "%s",
                  h.be->last_error(ctx));
    /* invalid geometry is refused with the slot's name */
    mlopt_conv2d_params bad = {1, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2, 6, 6};
    ck_assert_int_ne(h.be->conv2d_forward(ctx, &bad, (mlopt_ref){NULL, 0}, (mlopt_ref){NULL, 0},
                                          (mlopt_ref){NULL, 0}, (mlopt_ref){NULL, 0}),
                     0);
    ck_assert_msg(strstr(h.be->last_error(ctx), "conv2d_forward") != NULL, "%s",
                  h.be->last_error(ctx));
    h.be->destroy(ctx);
}
END_TEST

/* With no ICD registered, probe fails and says why (ocl-icd reads
 * OCL_ICD_VENDORS once, at the process's first OpenCL call: Check runs
 * each test in a fresh child). */
START_TEST(test_no_platform_message)
{
    harness_backend h;
    char err[4096];
    const char *fork_mode = getenv("CK_FORK");
    if (fork_mode && strcmp(fork_mode, "no") == 0) {
        fprintf(stderr, "test_no_platform_message: skipped, needs CK_FORK\n");
        return;
    }
    if (harness_load("opencl", &h, err, sizeof err)) {
        fprintf(stderr, "test_no_platform_message: skipped, no plugin: %s\n", err);
        return;
    }
    setenv("OCL_ICD_VENDORS", "/nonexistent/mlopt-no-icd", 1);
    setenv("OPENCL_VENDOR_PATH", "/nonexistent/mlopt-no-icd", 1);
    mlopt_device_info devs[4];
    int count = -1;
    if (h.be->probe(devs, 4, &count, err, sizeof err) == 0) {
        fprintf(stderr, "test_no_platform_message: skipped, the ICD loader ignored "
                        "OCL_ICD_VENDORS\n");
        return;
    }
    ck_assert_int_eq(count, 0);
    ck_assert_msg(strstr(err, "no OpenCL platform") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "clGetPlatformIDs") != NULL, "%s", err);
    mlopt_backend_ctx *ctx = NULL;
    ck_assert_int_ne(h.be->create(NULL, &ctx, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "no OpenCL platform") != NULL, "%s", err);
}
END_TEST

START_TEST(test_memory_elementwise_optimizers)
{
    pair p;
    if (!open_pair(&p, "test_memory_elementwise_optimizers"))
        return;
    const size_t sizes[] = {1, 7, 97, 1031, 65537};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        float *ha = rnd_array(n, -3, 3), *hb = rnd_array(n, -3, 3);
        float *hmask = rnd_array(n, 0, 1);
        for (size_t i = 0; i < n; i++)
            hmask[i] = hmask[i] < 0.3f ? 0.0f : 1.0f;
        twin a = twin_make(&p, ha, n, 0), b = twin_make(&p, hb, n, 0);
        twin y = twin_make(&p, NULL, n, NAN), mask = twin_make(&p, hmask, n, 0);

        BOTH(&p, BE->copy(CTX, R(y), R(a), n * 4));
        twin_check(&p, &y, "copy", 0, 0);
        BOTH(&p, BE->fill(CTX, R(y), -2.5f, n));
        twin_check(&p, &y, "fill", 0, 0);
        BOTH(&p, BE->add(CTX, n, R(a), R(b), R(y)));
        twin_check(&p, &y, "add", 1e-6, 1e-6);
        BOTH(&p, BE->sub(CTX, n, R(a), R(b), R(y)));
        twin_check(&p, &y, "sub", 1e-6, 1e-6);
        BOTH(&p, BE->mul(CTX, n, R(a), R(b), R(y)));
        twin_check(&p, &y, "mul", 1e-6, 1e-6);
        BOTH(&p, BE->mul(CTX, n, R(a), R(y), R(y))); /* aliasing output */
        twin_check(&p, &y, "mul aliased", 1e-5, 1e-6);
        BOTH(&p, BE->axpy(CTX, n, 0.75f, R(a), R(y)));
        twin_check(&p, &y, "axpy", 1e-5, 1e-6);
        BOTH(&p, BE->scale(CTX, n, -1.5f, R(a), R(y)));
        twin_check(&p, &y, "scale", 1e-6, 1e-6);
        BOTH(&p, BE->mask_mul(CTX, n, R(mask), R(y)));
        twin_check(&p, &y, "mask_mul", 0, 0);

        for (int act = 0; act < MLOPT_ACT_COUNT_; act++) {
            char what[64];
            float alpha = act == MLOPT_ACT_HARD_SIGMOID ? 0.2f : 0.1f, beta = 0.5f;
            twin fy = twin_make(&p, NULL, n, NAN), dx = twin_make(&p, NULL, n, NAN);
            BOTH(&p, BE->act_forward(CTX, act, alpha, beta, n, R(a), R(fy)));
            snprintf(what, sizeof what, "act_forward(%d) n=%zu", act, n);
            twin_check(&p, &fy, what, 2e-6, 2e-5);
            BOTH(&p, BE->act_backward(CTX, act, alpha, beta, n, R(a), R(fy), R(b), R(dx)));
            snprintf(what, sizeof what, "act_backward(%d) n=%zu", act, n);
            twin_check(&p, &dx, what, 2e-6, 2e-5);
            twin_free(&p, &fy);
            twin_free(&p, &dx);
        }
        /* in place: y aliases x */
        BOTH(&p, BE->copy(CTX, R(y), R(a), n * 4));
        BOTH(&p, BE->act_forward(CTX, MLOPT_ACT_GELU, 0, 0, n, R(y), R(y)));
        twin_check(&p, &y, "act_forward in place", 2e-6, 2e-5);

        twin dm = twin_make(&p, NULL, n, NAN);
        BOTH(&p, BE->dropout_forward(CTX, n, 0.3f, 12345u + (uint32_t)n, R(a), R(y), R(dm)));
        twin_check(&p, &y, "dropout y", 1e-6, 1e-6);
        twin_check(&p, &dm, "dropout mask", 0, 0);
        twin_free(&p, &dm);

        twin out = twin_make(&p, NULL, 3, NAN);
        BOTH(&p, BE->reduce_sum(CTX, n, R(a), R(out)));
        BOTH(&p, BE->reduce_max_abs(CTX, n, R(b), (mlopt_ref){out.buf[W], out.front * 4 + 4}));
        twin_check(&p, &out, "reduce_sum / reduce_max_abs", 1e-4 * sqrt((double)n), 1e-5);
        twin_free(&p, &out);

        /* optimizers: several steps so that state matters */
        float *hw = rnd_array(n, -1, 1), *hz = rnd_array(n, 0, 0);
        twin w = twin_make(&p, hw, n, 0), v = twin_make(&p, hz, n, 0);
        twin m = twin_make(&p, hz, n, 0);
        for (int step = 1; step <= 3; step++) {
            BOTH(&p, BE->sgd_update(CTX, n, 0.01f, 0.9f, 0.1f, 1e-3f, step == 3, step == 1,
                                    R(w), R(a), R(v)));
        }
        twin_check(&p, &w, "sgd_update w", 1e-6, 1e-5);
        twin_check(&p, &v, "sgd_update v", 1e-6, 1e-5);
        BOTH(&p, BE->sgd_update(CTX, n, 0.05f, 0.0f, 0.0f, 0.0f, 0, 0, R(w), R(b), NOREF));
        twin_check(&p, &w, "sgd_update plain", 1e-6, 1e-5);
        for (int dec = 0; dec < 2; dec++) {
            BOTH(&p, BE->fill(CTX, R(m), 0.0f, n));
            BOTH(&p, BE->fill(CTX, R(v), 0.0f, n));
            for (int step = 1; step <= 3; step++)
                BOTH(&p, BE->adam_update(CTX, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, dec, step,
                                         R(w), step == 2 ? R(b) : R(a), R(m), R(v)));
            twin_check(&p, &w, dec ? "adamw w" : "adam w", 1e-6, 1e-5);
            twin_check(&p, &m, "adam m", 1e-6, 1e-5);
            twin_check(&p, &v, "adam v", 1e-6, 1e-5);
        }
        twin_free(&p, &w);
        twin_free(&p, &v);
        twin_free(&p, &m);
        free(hw);
        free(hz);

        twin_free(&p, &a);
        twin_free(&p, &b);
        twin_free(&p, &y);
        twin_free(&p, &mask);
        free(ha);
        free(hb);
        free(hmask);
    }

    /* channel_norm on [k][len] */
    for (int trial = 0; trial < 3; trial++) {
        int k = rnd_int(1, 37), len = rnd_int(1, 1000);
        float *hx = rnd_array((size_t)k * len, -2, 2);
        twin x = twin_make(&p, hx, (size_t)k * len, 0), out = twin_make(&p, NULL, (size_t)k, NAN);
        for (int pn = 1; pn <= 2; pn++) {
            BOTH(&p, BE->channel_norm(CTX, k, len, pn, R(x), R(out)));
            twin_check(&p, &out, pn == 1 ? "channel_norm L1" : "channel_norm L2", 1e-4, 1e-5);
        }
        twin_free(&p, &x);
        twin_free(&p, &out);
        free(hx);
    }

    /* overlapping copy inside one buffer (memmove semantics) */
    {
        size_t n = 1000;
        float *hx = rnd_array(n + 100, -1, 1);
        twin x = twin_make(&p, hx, n + 100, 0);
        BOTH(&p, BE->copy(CTX, (mlopt_ref){x.buf[W], x.front * 4 + 40}, R(x), n * 4));
        twin_check(&p, &x, "overlapping copy", 0, 0);
        twin_free(&p, &x);
        free(hx);
    }

    /* upload reuses the host pointer at once; download and sync count host syncs */
    {
        harness_backend *o = &p.b[0];
        mlopt_backend_stats st;
        mlopt_buffer *buf;
        float host[64], back[64];
        ck_assert_int_eq(o->be->buffer_alloc(o->ctx, sizeof host, &buf), 0);
        ck_assert_int_eq(o->be->reset_stats(o->ctx), 0);
        for (int i = 0; i < 64; i++)
            host[i] = (float)i;
        ck_assert_int_eq(o->be->upload(o->ctx, (mlopt_ref){buf, 0}, host, sizeof host), 0);
        memset(host, 0xff, sizeof host); /* must not affect the upload */
        ck_assert_int_eq(o->be->fill(o->ctx, (mlopt_ref){buf, 128}, 7.0f, 32), 0);
        ck_assert_int_eq(o->be->synchronize(o->ctx), 0);
        ck_assert_int_eq(o->be->download(o->ctx, back, (mlopt_ref){buf, 0}, sizeof back), 0);
        for (int i = 0; i < 64; i++)
            ck_assert_float_eq(back[i], i < 32 ? (float)i : 7.0f);
        ck_assert_int_eq(o->be->get_stats(o->ctx, &st), 0);
        ck_assert_uint_eq(st.host_syncs, 2);
        ck_assert_uint_eq(st.kernels, 1);
        ck_assert_uint_eq(st.bytes_h2d, sizeof host);
        ck_assert_uint_eq(st.bytes_d2h, sizeof back);
        ck_assert_uint_ge(st.submissions, 1);
        /* an out-of-range upload fails with a message */
        ck_assert_int_ne(o->be->upload(o->ctx, (mlopt_ref){buf, 8}, host, sizeof host), 0);
        ck_assert(strstr(o->be->last_error(o->ctx), "upload") != NULL);
        o->be->buffer_free(o->ctx, buf);
    }
    close_pair(&p);
}
END_TEST

static void check_gemm(pair *p, int ta, int tb, int m, int n, int k, float alpha, float beta,
                       int batch)
{
    int lda = (ta ? m : k) + rnd_int(0, 3), ldb = (tb ? k : n) + rnd_int(0, 3);
    int ldc = n + rnd_int(0, 3);
    size_t arows = ta ? k : m, brows = tb ? n : k;
    long long sa = (long long)arows * lda + rnd_int(0, 5), sb = (long long)brows * ldb + rnd_int(0, 5);
    long long sc = (long long)m * ldc + rnd_int(0, 5);
    size_t na = (size_t)sa * batch, nb = (size_t)sb * batch, nc = (size_t)sc * batch;
    float *ha = rnd_array(na, -1, 1), *hb = rnd_array(nb, -1, 1), *hc = rnd_array(nc, -1, 1);
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++)
            hc[i] = NAN; /* beta == 0: C must not be read */
    twin a = twin_make(p, ha, na, 0), b = twin_make(p, hb, nb, 0), c = twin_make(p, hc, nc, 0);
    char what[160];
    if (batch == 1) {
        BOTH(p, BE->gemm(CTX, ta, tb, m, n, k, alpha, R(a), lda, R(b), ldb, beta, R(c), ldc));
        snprintf(what, sizeof what, "gemm ta=%d tb=%d m=%d n=%d k=%d beta=%g", ta, tb, m, n, k,
                 (double)beta);
    } else {
        BOTH(p, BE->gemm_strided_batched(CTX, ta, tb, m, n, k, alpha, R(a), lda, sa, R(b), ldb,
                                         sb, beta, R(c), ldc, sc, batch));
        snprintf(what, sizeof what, "gemm_strided_batched ta=%d tb=%d m=%d n=%d k=%d batch=%d",
                 ta, tb, m, n, k, batch);
    }
    /* entries between rows (ld padding) are NaN on both sides when beta == 0 */
    twin_check(p, &c, what, 1e-5 * (k + 1), 1e-4);
    twin_free(p, &a);
    twin_free(p, &b);
    twin_free(p, &c);
    free(ha);
    free(hb);
    free(hc);
}

START_TEST(test_gemm)
{
    pair p;
    if (!open_pair(&p, "test_gemm"))
        return;
    static const int dims[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 13, 31}, {64, 64, 64},
                                  {97, 33, 129}, {2, 131, 3}, {127, 1, 61}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float beta = (d + ta + tb) % 3 == 0 ? 0.0f : ((d % 2) ? 1.0f : -0.5f);
                check_gemm(&p, ta, tb, dims[d][0], dims[d][1], dims[d][2], 1.25f, beta, 1);
            }
    check_gemm(&p, 0, 0, 5, 6, 0, 1.0f, 0.5f, 1); /* k == 0: C = beta C */
    check_gemm(&p, 0, 0, 5, 6, 0, 1.0f, 0.0f, 1);
    for (int i = 0; i < 6; i++)
        check_gemm(&p, i & 1, (i >> 1) & 1, rnd_int(1, 40), rnd_int(1, 40), rnd_int(1, 40),
                   rnd_uniform(-2, 2), i % 3 == 0 ? 0.0f : 0.5f, rnd_int(2, 5));
    close_pair(&p);
}
END_TEST

static void check_conv(pair *p, mlopt_conv2d_params cp, int with_bias)
{
    cp.oh = (cp.h + 2 * cp.pad_h - cp.dil_h * (cp.r - 1) - 1) / cp.stride_h + 1;
    cp.ow = (cp.w + 2 * cp.pad_w - cp.dil_w * (cp.s - 1) - 1) / cp.stride_w + 1;
    size_t nx = (size_t)cp.n * cp.c * cp.h * cp.w;
    size_t nw = (size_t)cp.k * (cp.c / cp.groups) * cp.r * cp.s;
    size_t ny = (size_t)cp.n * cp.k * cp.oh * cp.ow;
    float *hx = rnd_array(nx, -1, 1), *hw = rnd_array(nw, -1, 1), *hb = rnd_array(cp.k, -1, 1);
    float *hdy = rnd_array(ny, -1, 1);
    twin x = twin_make(p, hx, nx, 0), w = twin_make(p, hw, nw, 0), bias = twin_make(p, hb, cp.k, 0);
    twin y = twin_make(p, NULL, ny, NAN), dy = twin_make(p, hdy, ny, 0);
    twin dx = twin_make(p, NULL, nx, NAN), dw = twin_make(p, NULL, nw, NAN);
    twin db = twin_make(p, NULL, cp.k, NAN);
    char what[200];
    snprintf(what, sizeof what,
             "conv n=%d c=%d h=%d w=%d k=%d r=%d s=%d stride=%d,%d pad=%d,%d dil=%d,%d g=%d",
             cp.n, cp.c, cp.h, cp.w, cp.k, cp.r, cp.s, cp.stride_h, cp.stride_w, cp.pad_h,
             cp.pad_w, cp.dil_h, cp.dil_w, cp.groups);
    double tol = 1e-5 * (cp.c / cp.groups * cp.r * cp.s + 1);
    BOTH(p, BE->conv2d_forward(CTX, &cp, R(x), R(w), with_bias ? R(bias) : NOREF, R(y)));
    twin_check(p, &y, what, tol, 1e-4);
    BOTH(p, BE->conv2d_backward_data(CTX, &cp, R(dy), R(w), R(dx)));
    twin_check(p, &dx, what, 1e-5 * (cp.k * cp.r * cp.s + 1), 1e-4);
    BOTH(p, BE->conv2d_backward_filter(CTX, &cp, R(x), R(dy), R(dw), with_bias ? R(db) : NOREF));
    twin_check(p, &dw, what, 1e-5 * (cp.n * cp.oh * cp.ow + 1), 1e-4);
    if (with_bias)
        twin_check(p, &db, what, 1e-5 * (cp.n * cp.oh * cp.ow + 1), 1e-4);
    twin *all[] = {&x, &w, &bias, &y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        twin_free(p, all[i]);
    free(hx);
    free(hw);
    free(hb);
    free(hdy);
}

static void check_pool(pair *p, mlopt_pool2d_params pp)
{
    pp.oh = (pp.h + 2 * pp.pad_h - pp.dil_h * (pp.kh - 1) - 1) / pp.stride_h + 1;
    pp.ow = (pp.w + 2 * pp.pad_w - pp.dil_w * (pp.kw - 1) - 1) / pp.stride_w + 1;
    size_t nx = (size_t)pp.n * pp.c * pp.h * pp.w, ny = (size_t)pp.n * pp.c * pp.oh * pp.ow;
    float *hx = rnd_array(nx, -1, 1), *hdy = rnd_array(ny, -1, 1);
    /* some exact ties, so the first-maximum rule matters */
    for (size_t i = 0; i + 1 < nx; i += 5)
        hx[i + 1] = hx[i];
    twin x = twin_make(p, hx, nx, 0), dy = twin_make(p, hdy, ny, 0);
    twin y = twin_make(p, NULL, ny, NAN), dx = twin_make(p, NULL, nx, NAN);
    for (int mode = 0; mode < 3; mode++) {
        char what[200];
        snprintf(what, sizeof what,
                 "pool mode=%d n=%d c=%d h=%d w=%d k=%d,%d stride=%d,%d pad=%d,%d dil=%d,%d", mode,
                 pp.n, pp.c, pp.h, pp.w, pp.kh, pp.kw, pp.stride_h, pp.stride_w, pp.pad_h,
                 pp.pad_w, pp.dil_h, pp.dil_w);
        BOTH(p, BE->pool2d_forward(CTX, mode, &pp, R(x), R(y)));
        twin_check(p, &y, what, 1e-6, 1e-5);
        BOTH(p, BE->pool2d_backward(CTX, mode, &pp, R(x), R(dy), R(dx)));
        twin_check(p, &dx, what, 1e-6, 1e-5);
    }
    twin_free(p, &x);
    twin_free(p, &dy);
    twin_free(p, &y);
    twin_free(p, &dx);
    free(hx);
    free(hdy);
}

START_TEST(test_conv_pool)
{
    pair p;
    /* small column scratch: most shapes run image by image, the 1x1 case in
     * chunks of 2 + 2 + 1 and the last one whole (2 images), so chunking,
     * filter-gradient accumulation and shared-weight batched GEMMs all run */
    setenv("MLOPT_OPENCL_MAX_COL_FLOATS", "500", 1);
    if (!open_pair(&p, "test_conv_pool"))
        return;
    /* n c h w k r s sh sw ph pw dh dw groups */
    static const int convs[][14] = {
        {2, 1, 28, 28, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1},  /* the seed CNN's first layer shape */
        {3, 5, 13, 11, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {2, 6, 17, 19, 9, 5, 3, 2, 3, 2, 1, 1, 1, 3},  /* groups, uneven stride/pad */
        {1, 4, 23, 7, 4, 3, 2, 1, 2, 2, 0, 2, 3, 4},   /* depthwise, dilation */
        {5, 3, 9, 9, 11, 1, 1, 1, 1, 0, 0, 1, 1, 1},   /* 1x1 */
        {2, 2, 4, 5, 3, 4, 5, 3, 2, 2, 2, 1, 1, 1},    /* kernel larger than input */
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const int *v = convs[i];
        mlopt_conv2d_params cp = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                                  v[10], v[11], v[12], v[13], 0, 0};
        check_conv(&p, cp, (int)(i % 2 == 0));
    }
    /* n c h w kh kw sh sw ph pw dh dw */
    static const int pools[][12] = {
        {2, 3, 28, 28, 2, 2, 2, 2, 0, 0, 1, 1},
        {3, 2, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1},  /* overlapping windows, padding */
        {1, 5, 11, 7, 3, 2, 1, 3, 1, 0, 2, 1},   /* dilation */
        {2, 1, 9, 10, 5, 4, 3, 2, 2, 2, 1, 1},
    };
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
        const int *v = pools[i];
        mlopt_pool2d_params pp = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                                  v[10], v[11], 0, 0};
        check_pool(&p, pp);
    }
    close_pair(&p);
}
END_TEST

START_TEST(test_norm_softmax_losses)
{
    pair p;
    if (!open_pair(&p, "test_norm_softmax_losses"))
        return;
    static const int shapes[][3] = {{2, 3, 5}, {7, 13, 1}, {5, 4, 97}, {64, 10, 1}, {3, 17, 331}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int n = shapes[si][0], c = shapes[si][1], inner = shapes[si][2];
        size_t total = (size_t)n * c * inner;
        float *hx = rnd_array(total, -2, 3), *hdy = rnd_array(total, -1, 1);
        float *hg = rnd_array(c, 0.5f, 1.5f), *hbeta = rnd_array(c, -1, 1);
        float *hrm = rnd_array(c, -0.2f, 0.2f), *hrv = rnd_array(c, 0.5f, 1.5f);
        twin x = twin_make(&p, hx, total, 0), dy = twin_make(&p, hdy, total, 0);
        twin g = twin_make(&p, hg, c, 0), beta = twin_make(&p, hbeta, c, 0);
        twin rm = twin_make(&p, hrm, c, 0), rv = twin_make(&p, hrv, c, 0);
        twin y = twin_make(&p, NULL, total, NAN), dx = twin_make(&p, NULL, total, NAN);
        twin sm = twin_make(&p, NULL, c, NAN), sis = twin_make(&p, NULL, c, NAN);
        twin dg = twin_make(&p, NULL, c, NAN), dbeta = twin_make(&p, NULL, c, NAN);
        char what[96];
        snprintf(what, sizeof what, "n=%d c=%d inner=%d", n, c, inner);
        double red_tol = 1e-5 * sqrt((double)n * inner) + 1e-5;

        BOTH(&p, BE->bias_grad(CTX, n, c, inner, R(dy), R(dbeta)));
        twin_check(&p, &dbeta, "bias_grad", red_tol, 1e-5);
        BOTH(&p, BE->copy(CTX, R(y), R(x), total * 4));
        BOTH(&p, BE->bias_add(CTX, n, c, inner, R(y), R(beta)));
        twin_check(&p, &y, "bias_add", 1e-6, 1e-6);

        BOTH(&p, BE->batchnorm_forward_train(CTX, n, c, inner, 1e-5f, 0.1f, R(x), R(g), R(beta),
                                             R(y), R(rm), R(rv), R(sm), R(sis)));
        twin_check(&p, &y, "batchnorm_forward_train y", 1e-4, 1e-4);
        twin_check(&p, &rm, "batchnorm running_mean", 1e-5, 1e-4);
        twin_check(&p, &rv, "batchnorm running_var", 1e-5, 1e-4);
        twin_check(&p, &sm, "batchnorm save_mean", 1e-5, 1e-4);
        twin_check(&p, &sis, "batchnorm save_invstd", 1e-5, 1e-4);
        BOTH(&p, BE->batchnorm_backward(CTX, n, c, inner, R(x), R(dy), R(g), R(sm), R(sis), R(dx),
                                        R(dg), R(dbeta)));
        twin_check(&p, &dx, "batchnorm_backward dx", 1e-4, 1e-3);
        twin_check(&p, &dg, "batchnorm_backward dgamma", red_tol * 4, 1e-4);
        twin_check(&p, &dbeta, "batchnorm_backward dbeta", red_tol, 1e-5);
        BOTH(&p, BE->batchnorm_forward_eval(CTX, n, c, inner, 1e-5f, R(x), R(g), R(beta), R(rm),
                                            R(rv), R(y)));
        twin_check(&p, &y, "batchnorm_forward_eval", 1e-5, 1e-5);

        /* softmax family on [rows][cols] = [n*c][inner] (cols may be 1) */
        int rows = n * c, cols = inner;
        for (int lo = 0; lo < 2; lo++) {
            BOTH(&p, BE->softmax_forward(CTX, rows, cols, 0.7f, lo, R(x), R(y)));
            twin_check(&p, &y, lo ? "log_softmax" : "softmax", 1e-6, 1e-5);
        }
        int32_t *hl = malloc((size_t)rows * sizeof *hl);
        for (int r = 0; r < rows; r++)
            hl[r] = rnd_int(0, cols - 1);
        twin labels = twin_ints(&p, hl, (size_t)rows);
        float zero = 0.0f, start = 2.5f;
        twin loss = twin_make(&p, &start, 1, 0), cnt = twin_make(&p, &zero, 1, 0);
        twin am = twin_make(&p, NULL, (size_t)rows, NAN);
        for (int with_d = 0; with_d < 2; with_d++) {
            BOTH(&p, BE->softmax_xent(CTX, rows, cols, 1.3f, R(x), R(labels), R(loss),
                                      with_d ? R(dx) : NOREF, 0.25f));
            BOTH(&p, BE->softmax_kl(CTX, rows, cols, 0.5f, R(x), R(dy), R(loss),
                                    with_d ? R(y) : NOREF, 2.0f));
        }
        twin_check(&p, &loss, "softmax_xent + softmax_kl loss_sum", 1e-4 * rows, 1e-5);
        twin_check(&p, &dx, "softmax_xent dlogits", 1e-6, 1e-5);
        twin_check(&p, &y, "softmax_kl dlogits", 1e-6, 1e-5);
        BOTH(&p, BE->argmax(CTX, rows, cols, R(x), R(am)));
        twin_check_ints(&p, &am, "argmax");
        BOTH(&p, BE->accuracy_count(CTX, rows, cols, R(x), R(labels), R(cnt)));
        BOTH(&p, BE->accuracy_count(CTX, rows, cols, R(dy), R(labels), R(cnt)));
        twin_check(&p, &cnt, "accuracy_count", 0, 0);

        twin *all[] = {&x, &dy, &g, &beta, &rm, &rv, &y, &dx, &sm, &sis, &dg, &dbeta,
                       &labels, &loss, &cnt, &am};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            twin_free(&p, all[i]);
        free(hx), free(hdy), free(hg), free(hbeta), free(hrm), free(hrv), free(hl);
    }
    /* an out-of-range label is reported (at the next synchronization) */
    {
        int32_t hl[3] = {1, 5, 0};
        float hx[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, zero = 0.0f;
        twin x = twin_make(&p, hx, 6, 0), labels = twin_ints(&p, hl, 3);
        twin loss = twin_make(&p, &zero, 1, 0);
        harness_backend *o = &p.b[0];
        int rc = o->be->softmax_xent(o->ctx, 3, 2, 1.0f, tref(&x, 0), tref(&labels, 0),
                                     tref(&loss, 0), NOREF, 1.0f);
        if (rc == 0)
            rc = o->be->synchronize(o->ctx);
        ck_assert_int_ne(rc, 0);
        ck_assert_msg(strstr(o->be->last_error(o->ctx), "label 5 of row 1") != NULL, "%s",
                      o->be->last_error(o->ctx));
        ck_assert_int_eq(o->be->synchronize(o->ctx), 0); /* reported once */
        twin_free(&p, &x);
        twin_free(&p, &labels);
        twin_free(&p, &loss);
    }
    /* argmax ties: first maximum wins */
    {
        int rows = 3, cols = 300;
        float *hx = rnd_array((size_t)rows * cols, -1, 1);
        hx[5] = hx[250] = 9.0f;
        hx[cols + 299] = hx[cols + 100] = 9.0f;
        hx[2 * cols + 0] = hx[2 * cols + 1] = 9.0f;
        twin x = twin_make(&p, hx, (size_t)rows * cols, 0), am = twin_make(&p, NULL, 3, NAN);
        BOTH(&p, BE->argmax(CTX, rows, cols, R(x), R(am)));
        twin_check_ints(&p, &am, "argmax ties");
        float *o = download_all(&p, &am, 0);
        int32_t idx[3];
        memcpy(idx, o + am.front, sizeof idx);
        ck_assert_int_eq(idx[0], 5);
        ck_assert_int_eq(idx[1], 100);
        ck_assert_int_eq(idx[2], 0);
        free(o);
        twin_free(&p, &x);
        twin_free(&p, &am);
        free(hx);
    }
    close_pair(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_kernels");
    TCase *tc = tcase_create("opencl");
    tcase_add_test(tc, test_probe_and_bogus_selector);
    tcase_add_test(tc, test_no_platform_message);
    tcase_add_test(tc, test_memory_elementwise_optimizers);
    tcase_add_test(tc, test_gemm);
    tcase_add_test(tc, test_conv_pool);
    tcase_add_test(tc, test_norm_softmax_losses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
