/* Vulkan backend: every slot against the CPU backend's scalar reference on
 * random, odd and tile-unaligned shapes, with guard regions around outputs,
 * non-zero offsets and the Khronos validation layer enabled (its error count
 * must stay zero).  Without a Vulkan device the tests pass vacuously. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_harness.h"

#define GUARD 37           /* floats of guard on each side of a tensor */
#define SENTINEL -7777.25f /* guard contents; must survive every kernel */

typedef struct pair {
    harness_backend vk, ref;
    uint64_t (*validation_errors)(mlopt_backend_ctx *);
    uint32_t rng;
} pair;

typedef struct tensor {
    mlopt_buffer *buf[2]; /* [0] vulkan, [1] reference */
    size_t n, pre;        /* elements; floats before the tensor (offset) */
} tensor;

/* Open the Vulkan backend (validation on) and the CPU reference.  Returns 0
 * when no Vulkan device is available: the caller then returns early. */
static int open_pair(pair *p)
{
    char err[4096];
    memset(p, 0, sizeof *p);
    p->rng = 12345u;
    if (!getenv("MLOPT_VULKAN_VALIDATION"))
        setenv("MLOPT_VULKAN_VALIDATION", "1", 1);
    if (harness_open("vulkan", NULL, &p->vk, err, sizeof err)) {
        fprintf(stderr, "SKIP: no Vulkan device: %s\n", err);
        return 0;
    }
    ck_assert_msg(!harness_open_cpu_reference(&p->ref, err, sizeof err), "cpu reference: %s", err);
    *(void **)&p->validation_errors = dlsym(p->vk.dl, "mlopt_vulkan_validation_errors");
    ck_assert_ptr_nonnull(p->validation_errors);
    return 1;
}

static void close_pair(pair *p)
{
    ck_assert_msg(p->vk.be->synchronize(p->vk.ctx) == 0, "synchronize: %s",
                  p->vk.be->last_error(p->vk.ctx));
    ck_assert_msg(p->validation_errors(p->vk.ctx) == 0, "validation layer errors: %llu",
                  (unsigned long long)p->validation_errors(p->vk.ctx));
    harness_close(&p->vk);
    harness_close(&p->ref);
}

static float frand(pair *p)
{
    p->rng = p->rng * 1664525u + 1013904223u;
    return (float)((p->rng >> 8) & 0xffffff) / 8388608.0f - 1.0f; /* [-1, 1) */
}

static harness_backend *side(pair *p, int s)
{
    return s ? &p->ref : &p->vk;
}

/* A tensor of n floats at a non-zero offset with guards, holding data (or
 * uniform random values, or fill when data is NULL and fill is not NaN). */
static tensor t_make(pair *p, size_t n, const float *data, int random, float fill)
{
    tensor t = {.n = n, .pre = GUARD + (p->rng % 5)};
    size_t total = t.pre + n + GUARD;
    float *host = malloc(total * sizeof *host);
    ck_assert_ptr_nonnull(host);
    for (size_t i = 0; i < total; i++)
        host[i] = SENTINEL;
    for (size_t i = 0; i < n; i++)
        host[t.pre + i] = data ? data[i] : random ? frand(p) : fill;
    for (int s = 0; s < 2; s++) {
        harness_backend *h = side(p, s);
        ck_assert_msg(!h->be->buffer_alloc(h->ctx, total * 4, &t.buf[s]), "buffer_alloc: %s",
                      h->be->last_error(h->ctx));
        mlopt_ref r = {t.buf[s], 0};
        ck_assert_msg(!h->be->upload(h->ctx, r, host, total * 4), "upload: %s",
                      h->be->last_error(h->ctx));
    }
    free(host);
    return t;
}

static tensor t_rand(pair *p, size_t n) { return t_make(p, n, NULL, 1, 0.0f); }
static tensor t_fill(pair *p, size_t n, float v) { return t_make(p, n, NULL, 0, v); }

static tensor t_ints(pair *p, size_t n, int modulo)
{
    int32_t *v = malloc(n * sizeof *v + 4);
    for (size_t i = 0; i < n; i++) {
        p->rng = p->rng * 1664525u + 1013904223u;
        v[i] = (int32_t)((p->rng >> 8) % (uint32_t)modulo);
    }
    tensor t = t_make(p, n, (const float *)v, 0, 0.0f);
    free(v);
    return t;
}

static mlopt_ref tref(tensor *t, int s)
{
    mlopt_ref r = {t->buf[s], t->pre * 4};
    return r;
}

static void t_free(pair *p, tensor *t)
{
    for (int s = 0; s < 2; s++)
        side(p, s)->be->buffer_free(side(p, s)->ctx, t->buf[s]);
}

/* Download both sides: the Vulkan guards must be intact, the tensors equal
 * within atol + rtol |ref| (exactly equal bits when atol < 0). */
static void t_check(pair *p, tensor *t, double atol, double rtol, const char *what)
{
    size_t total = t->pre + t->n + GUARD;
    float *v = malloc(total * 4), *r = malloc(total * 4);
    for (int s = 0; s < 2; s++) {
        harness_backend *h = side(p, s);
        mlopt_ref all = {t->buf[s], 0};
        ck_assert_msg(!h->be->download(h->ctx, s ? r : v, all, total * 4), "%s: download: %s",
                      what, h->be->last_error(h->ctx));
    }
    for (size_t i = 0; i < total; i++) {
        if (i >= t->pre && i < t->pre + t->n)
            continue;
        ck_assert_msg(v[i] == SENTINEL, "%s: guard float %zd overwritten (%g)", what,
                      (ptrdiff_t)i - (ptrdiff_t)t->pre, (double)v[i]);
    }
    for (size_t i = t->pre; i < t->pre + t->n; i++) {
        double a = v[i], b = r[i];
        int ok;
        if (atol < 0)
            ok = !memcmp(&v[i], &r[i], 4);
        else if (isnan(b) || isinf(b))
            ok = (isnan(a) && isnan(b)) || a == b;
        else
            ok = fabs(a - b) <= atol + rtol * fabs(b);
        ck_assert_msg(ok, "%s: element %zu of %zu: vulkan %.9g vs reference %.9g", what,
                      i - t->pre, t->n, a, b);
    }
    free(v);
    free(r);
}

/* Run one slot call on both backends; R(t) is the tensor's ref there. */
#define BOTH(p, call)                                                                   \
    for (int s_ = 0; s_ < 2; s_++) {                                                    \
        harness_backend *h_ = side((p), s_);                                            \
        int rc_ = (call);                                                               \
        ck_assert_msg(rc_ == 0, "%s on %s: %s", #call, h_->be->name,                    \
                      h_->be->last_error(h_->ctx));                                     \
    }
#define BE h_->be
#define CTX h_->ctx
#define R(t) tref(&(t), s_)
#define NOREF ((mlopt_ref){NULL, 0})

/* ------------------------------------------------------------------ */

START_TEST(test_probe_create_stats)
{
    harness_backend h;
    char err[4096];
    ck_assert_msg(!harness_load("vulkan", &h, err, sizeof err), "%s", err);
    ck_assert_uint_eq(h.be->abi_major, MLOPT_BACKEND_ABI_MAJOR);
    ck_assert_uint_eq(h.be->struct_size, sizeof(mlopt_backend));
    /* No NULL slots in ABI 1.0 and 1.1 (probe .. fake_quant); later minors'
     * slots may be NULL ("not supported") until implemented. */
    const char *first = (const char *)&h.be->probe;
    const char *end = (const char *)&h.be->fake_quant + sizeof h.be->fake_quant;
    for (const char *q = first; q < end; q += sizeof(void (*)(void))) {
        void (*fn)(void);
        memcpy(&fn, q, sizeof fn);
        ck_assert_msg(fn != NULL, "slot at byte %td is NULL", q - (const char *)h.be);
    }
    mlopt_device_info devs[8];
    int count = 0;
    if (h.be->probe(devs, 8, &count, err, sizeof err)) {
        ck_assert_msg(strlen(err) > 0, "probe failed without a reason");
        fprintf(stderr, "SKIP: %s\n", err);
        return;
    }
    ck_assert_int_gt(count, 0);
    for (int i = 0; i < count && i < 8; i++) {
        fprintf(stderr, "vulkan device %d: %s | %s | %s | type %d | %llu MiB | subgroup %d\n",
                i, devs[i].name, devs[i].vendor, devs[i].driver, devs[i].type,
                (unsigned long long)(devs[i].memory_bytes >> 20), devs[i].subgroup_size);
        ck_assert(devs[i].name[0] && devs[i].vendor[0] && devs[i].driver[0]);
        if (strstr(devs[i].name, "llvmpipe")) {
            ck_assert_int_eq(devs[i].type, MLOPT_DEVICE_SOFTWARE);
            ck_assert_int_gt(devs[i].subgroup_size, 0);
        }
    }
    /* Selectors: index, "0:index", case-insensitive name substring, bad ones. */
    mlopt_backend_ctx *ctx;
    ck_assert_msg(!h.be->create("0", &ctx, err, sizeof err), "%s", err);
    mlopt_device_info info;
    ck_assert_int_eq(h.be->device_info(ctx, &info), 0);
    ck_assert_str_eq(info.name, devs[0].name);
    h.be->destroy(ctx);
    ck_assert_msg(!h.be->create("0:0", &ctx, err, sizeof err), "%s", err);
    h.be->destroy(ctx);
    char upper[128];
    snprintf(upper, sizeof upper, "%s", devs[0].name);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    upper[6] = 0;
    ck_assert_msg(!h.be->create(upper, &ctx, err, sizeof err), "%s", err);
    h.be->destroy(ctx);
    ck_assert(h.be->create("99", &ctx, err, sizeof err) != 0);
    ck_assert_ptr_nonnull(strstr(err, "out of range"));
    ck_assert(h.be->create("no-such-gpu", &ctx, err, sizeof err) != 0);
    ck_assert_ptr_nonnull(strstr(err, "no-such-gpu"));
    setenv("MLOPT_VULKAN_DEVICE", "no-such-gpu", 1);
    ck_assert(h.be->create(NULL, &ctx, err, sizeof err) != 0);
    unsetenv("MLOPT_VULKAN_DEVICE");
}
END_TEST

/* Without a driver, probe() and create() fail and say why. */
START_TEST(test_no_driver)
{
    setenv("VK_ICD_FILENAMES", "/nonexistent/mlopt-no-icd.json", 1);
    setenv("VK_DRIVER_FILES", "/nonexistent/mlopt-no-icd.json", 1);
    harness_backend h;
    char err[4096] = "";
    if (harness_load("vulkan", &h, err, sizeof err)) {
        fprintf(stderr, "SKIP: %s\n", err);
        return;
    }
    mlopt_device_info devs[2];
    int count = -1;
    ck_assert(h.be->probe(devs, 2, &count, err, sizeof err) != 0);
    ck_assert_int_eq(count, 0);
    ck_assert_msg(strstr(err, "vkCreateInstance") || strstr(err, "vkEnumeratePhysicalDevices") ||
                      strstr(err, "loader"), "unhelpful probe error: %s", err);
    mlopt_backend_ctx *ctx = NULL;
    ck_assert(h.be->create(NULL, &ctx, err, sizeof err) != 0);
    ck_assert_ptr_null(ctx);
    ck_assert(strlen(err) > 10);
}
END_TEST

START_TEST(test_memory_and_recording)
{
    pair p;
    setenv("MLOPT_VULKAN_RECORD_BUDGET", "256", 1);
    if (!open_pair(&p))
        return;
    const mlopt_backend *be = p.vk.be;
    mlopt_backend_ctx *ctx = p.vk.ctx;
    /* Many small tensors: sub-allocated, never one VkDeviceMemory each. */
    enum { MANY = 5000 };
    mlopt_buffer **many = malloc(MANY * sizeof *many);
    for (int i = 0; i < MANY; i++)
        ck_assert_msg(!be->buffer_alloc(ctx, 4 * (size_t)(1 + i % 97), &many[i]), "%s",
                      be->last_error(ctx));
    for (int i = 0; i < MANY; i += 2)
        be->buffer_free(ctx, many[i]);
    for (int i = 0; i < MANY; i += 2)
        ck_assert(!be->buffer_alloc(ctx, 4 * (size_t)(1 + i % 89), &many[i]));
    for (int i = 0; i < MANY; i++)
        be->buffer_free(ctx, many[i]);
    free(many);

    /* copy / fill, including an overlapping copy inside one buffer */
    tensor a = t_rand(&p, 1001), b = t_fill(&p, 1001, 0.0f);
    BOTH(&p, BE->copy(CTX, R(b), R(a), 1001 * 4));
    t_check(&p, &b, -1, 0, "copy");
    BOTH(&p, BE->fill(CTX, R(b), 3.5f, 999));
    t_check(&p, &b, -1, 0, "fill");
    {
        mlopt_ref src = tref(&a, 0), dst = tref(&a, 0);
        dst.offset += 40;
        ck_assert(!be->copy(ctx, dst, src, 900 * 4));
        float host[1001], back[1001];
        mlopt_ref rr = tref(&a, 1);
        ck_assert(!p.ref.be->download(p.ref.ctx, host, rr, sizeof host));
        memmove(host + 10, host, 900 * 4);
        ck_assert(!be->download(ctx, back, src, sizeof back));
        ck_assert(!memcmp(host, back, sizeof host));
        ck_assert(!p.ref.be->upload(p.ref.ctx, rr, host, sizeof host));
    }

    /* Upload while work that reads the same memory is recorded but not yet
     * submitted: the earlier kernel must see the old data. */
    tensor src = t_fill(&p, 513, 1.0f), d1 = t_fill(&p, 513, 0.0f), d2 = t_fill(&p, 513, 0.0f);
    float twos[513];
    for (int i = 0; i < 513; i++)
        twos[i] = 2.0f;
    be->reset_stats(ctx);
    BOTH(&p, BE->scale(CTX, 513, 3.0f, R(src), R(d1)));
    BOTH(&p, BE->upload(CTX, R(src), twos, sizeof twos));
    BOTH(&p, BE->scale(CTX, 513, 3.0f, R(src), R(d2)));
    mlopt_backend_stats st;
    be->get_stats(ctx, &st);
    ck_assert_uint_eq(st.submissions, 0);
    ck_assert_uint_eq(st.kernels, 2);
    t_check(&p, &d1, -1, 0, "kernel before upload");
    be->get_stats(ctx, &st);
    ck_assert_uint_eq(st.submissions, 1);
    ck_assert_uint_eq(st.host_syncs, 1);
    ck_assert_uint_eq(st.bytes_h2d, sizeof twos);
    t_check(&p, &d2, -1, 0, "kernel after upload");

    /* A long stream of kernels without a host wait is submitted once the
     * recording budget (4096 commands; 256 here via the environment, set
     * before open_pair) is reached; the result is unchanged. */
    {
        tensor acc = t_fill(&p, 3, 0.0f), one = t_fill(&p, 3, 1.0f);
        be->synchronize(ctx);
        be->reset_stats(ctx);
        for (int i = 0; i < 300; i++)
            BOTH(&p, BE->axpy(CTX, 3, 1.0f, R(one), R(acc)));
        be->get_stats(ctx, &st);
        ck_assert_uint_eq(st.submissions, 1);
        t_check(&p, &acc, -1, 0, "300 recorded axpy");
        be->get_stats(ctx, &st);
        ck_assert_uint_eq(st.submissions, 2);
        t_free(&p, &acc);
        t_free(&p, &one);
    }

    /* Operands of ~2.8 MB each: with 4 MiB blocks they live in different
     * blocks, so one kernel binds three different VkBuffers. */
    {
        size_t n = 700001;
        tensor x1 = t_rand(&p, n), x2 = t_rand(&p, n), x3 = t_fill(&p, n, NAN);
        BOTH(&p, BE->add(CTX, n, R(x1), R(x2), R(x3)));
        BOTH(&p, BE->mul(CTX, n, R(x3), R(x1), R(x2)));
        t_check(&p, &x3, -1, 0, "add across blocks");
        t_check(&p, &x2, -1, 0, "mul across blocks");
        t_free(&p, &x1);
        t_free(&p, &x2);
        t_free(&p, &x3);
    }

    /* A tensor larger than one memory block (the staging case uses 4 MiB
     * blocks; others 64-256 MiB) gets a block of its own. */
    size_t big = (size_t)24 << 20;
    mlopt_buffer *bb;
    ck_assert_msg(!be->buffer_alloc(ctx, big, &bb), "%s", be->last_error(ctx));
    mlopt_ref br = {bb, big - 4096};
    ck_assert(!be->fill(ctx, br, 1.25f, 1024));
    float tail[1024];
    ck_assert(!be->download(ctx, tail, br, sizeof tail));
    ck_assert(tail[0] == 1.25f && tail[1023] == 1.25f);
    be->buffer_free(ctx, bb);

    /* Errors name the slot. */
    mlopt_ref bad = tref(&a, 0);
    bad.offset = 2;
    ck_assert(be->fill(ctx, bad, 0.0f, 1) != 0);
    ck_assert_ptr_nonnull(strstr(be->last_error(ctx), "fill"));
    bad.offset = 4 * 4096;
    ck_assert(be->scale(ctx, 1001, 1.0f, tref(&a, 0), bad) != 0);
    ck_assert_ptr_nonnull(strstr(be->last_error(ctx), "scale"));

    t_free(&p, &a);
    t_free(&p, &b);
    t_free(&p, &src);
    t_free(&p, &d1);
    t_free(&p, &d2);
    close_pair(&p);
}
END_TEST

static void gemm_case(pair *p, int ta, int tb, int m, int n, int k, float alpha, float beta,
                      int pad, int batch)
{
    int lda = (ta ? m : k > 0 ? k : 1) + pad, ldb = (tb ? (k > 0 ? k : 1) : n) + pad;
    int ldc = n + pad;
    long long sa = (long long)(ta ? k : m) * lda + 3, sb = (long long)(tb ? n : k) * ldb + 1;
    long long sc = (long long)m * ldc + 2;
    tensor a = t_rand(p, (size_t)(sa * batch)), b = t_rand(p, (size_t)(sb * batch));
    /* beta == 0: C starts as NaN, which must not reach the result. */
    tensor c = beta == 0.0f ? t_fill(p, (size_t)(sc * batch), NAN) : t_rand(p, (size_t)(sc * batch));
    if (batch == 1)
        BOTH(p, BE->gemm(CTX, ta, tb, m, n, k, alpha, R(a), lda, R(b), ldb, beta, R(c), ldc))
    else
        BOTH(p, BE->gemm_strided_batched(CTX, ta, tb, m, n, k, alpha, R(a), lda, sa, R(b), ldb,
                                         sb, beta, R(c), ldc, sc, batch))
    char what[128];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g batch=%d", ta,
             tb, m, n, k, (double)alpha, (double)beta, batch);
    if (beta == 0.0f) {
        /* Padding between rows stays NaN on both sides; compare only C. */
        size_t total = c.pre + c.n + GUARD;
        float *v = malloc(total * 4), *r = malloc(total * 4);
        mlopt_ref av = {c.buf[0], 0}, ar = {c.buf[1], 0};
        ck_assert(!p->vk.be->download(p->vk.ctx, v, av, total * 4));
        ck_assert(!p->ref.be->download(p->ref.ctx, r, ar, total * 4));
        for (int z = 0; z < batch; z++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    size_t at = c.pre + (size_t)(z * sc + (long long)i * ldc + j);
                    ck_assert_msg(fabsf(v[at] - r[at]) <= 1e-4f * sqrtf((float)k + 1) + 1e-4f * fabsf(r[at]),
                                  "%s: C[%d][%d][%d] %g vs %g", what, z, i, j, (double)v[at],
                                  (double)r[at]);
                }
        for (size_t i = 0; i < c.pre; i++)
            ck_assert(v[i] == SENTINEL);
        for (size_t i = c.pre + c.n; i < total; i++)
            ck_assert(v[i] == SENTINEL);
        free(v);
        free(r);
    } else {
        t_check(p, &c, 1e-4 * sqrt((double)k + 1), 1e-4, what);
    }
    t_free(p, &a);
    t_free(p, &b);
    t_free(p, &c);
}

START_TEST(test_gemm)
{
    pair p;
    if (!open_pair(&p))
        return;
    static const int shapes[][3] = {
        {1, 1, 1}, {7, 13, 5}, {64, 64, 64}, {65, 33, 17}, {127, 129, 31}, {3, 200, 300},
        {130, 70, 0},
    };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                gemm_case(&p, ta, tb, m, n, k, 1.0f, 0.0f, (int)(s % 3), 1);
                if (s % 2 == 0)
                    gemm_case(&p, ta, tb, m, n, k, -0.75f, 0.5f, 1, 1);
            }
    gemm_case(&p, 0, 0, 17, 19, 23, 1.5f, 0.0f, 0, 3);
    gemm_case(&p, 1, 1, 33, 65, 9, 1.0f, 1.0f, 2, 4);
    gemm_case(&p, 0, 1, 64, 64, 64, 1.0f, 0.0f, 0, 5);
    close_pair(&p);
}
END_TEST

static void conv_case(pair *p, mlopt_conv2d_params cp, int with_bias)
{
    cp.oh = (cp.h + 2 * cp.pad_h - cp.dil_h * (cp.r - 1) - 1) / cp.stride_h + 1;
    cp.ow = (cp.w + 2 * cp.pad_w - cp.dil_w * (cp.s - 1) - 1) / cp.stride_w + 1;
    size_t xs = (size_t)cp.n * cp.c * cp.h * cp.w, ys = (size_t)cp.n * cp.k * cp.oh * cp.ow;
    size_t ws = (size_t)cp.k * (cp.c / cp.groups) * cp.r * cp.s;
    tensor x = t_rand(p, xs), w = t_rand(p, ws), bias = t_rand(p, (size_t)cp.k);
    tensor y = t_fill(p, ys, NAN), dy = t_rand(p, ys), dx = t_fill(p, xs, NAN);
    tensor dw = t_fill(p, ws, NAN), db = t_fill(p, (size_t)cp.k, NAN);
    char what[160];
    snprintf(what, sizeof what, "conv n=%d c=%d %dx%d k=%d %dx%d st=%d,%d pad=%d,%d dil=%d,%d g=%d",
             cp.n, cp.c, cp.h, cp.w, cp.k, cp.r, cp.s, cp.stride_h, cp.stride_w, cp.pad_h,
             cp.pad_w, cp.dil_h, cp.dil_w, cp.groups);
    double tol = 2e-5 * sqrt((double)(cp.c / cp.groups) * cp.r * cp.s + 1);
    BOTH(p, BE->conv2d_forward(CTX, &cp, R(x), R(w), with_bias ? R(bias) : NOREF, R(y)));
    t_check(p, &y, tol, 1e-4, what);
    BOTH(p, BE->conv2d_backward_data(CTX, &cp, R(dy), R(w), R(dx)));
    t_check(p, &dx, tol * 3, 1e-4, what);
    BOTH(p, BE->conv2d_backward_filter(CTX, &cp, R(x), R(dy), R(dw), with_bias ? R(db) : NOREF));
    t_check(p, &dw, 2e-5 * sqrt((double)cp.n * cp.oh * cp.ow + 1), 1e-4, what);
    if (with_bias)
        t_check(p, &db, 2e-5 * sqrt((double)cp.n * cp.oh * cp.ow + 1), 1e-4, what);
    tensor *all[] = {&x, &w, &bias, &y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        t_free(p, all[i]);
}

START_TEST(test_conv)
{
    pair p;
    if (!open_pair(&p))
        return;
    /* n c h w  k r s  stride  pad  dil  groups */
    conv_case(&p, (mlopt_conv2d_params){2, 3, 11, 9, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0}, 1);
    conv_case(&p, (mlopt_conv2d_params){3, 4, 13, 10, 6, 3, 2, 2, 1, 1, 2, 1, 1, 1, 0, 0}, 1);
    conv_case(&p, (mlopt_conv2d_params){2, 4, 12, 12, 4, 3, 3, 1, 2, 2, 1, 2, 2, 2, 0, 0}, 0);
    conv_case(&p, (mlopt_conv2d_params){1, 6, 7, 5, 9, 1, 1, 1, 1, 0, 0, 1, 1, 3, 0, 0}, 1);
    conv_case(&p, (mlopt_conv2d_params){4, 1, 28, 28, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0}, 1);
    conv_case(&p, (mlopt_conv2d_params){2, 16, 9, 9, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1);
    conv_case(&p, (mlopt_conv2d_params){1, 2, 5, 6, 3, 5, 5, 3, 2, 2, 3, 1, 1, 1, 0, 0}, 0);
    close_pair(&p);
}
END_TEST

/* Big enough that the im2col scratch is processed in several image chunks
 * (64 MiB budget) with the split reduction of the weight gradient. */
START_TEST(test_conv_chunked)
{
    pair p;
    if (!open_pair(&p))
        return;
    conv_case(&p, (mlopt_conv2d_params){30, 16, 66, 66, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0}, 1);
    close_pair(&p);
}
END_TEST

START_TEST(test_pool)
{
    pair p;
    if (!open_pair(&p))
        return;
    static const mlopt_pool2d_params geos[] = {
        /* n c h w kh kw sh sw ph pw dh dw */
        {2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {1, 5, 11, 9, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
        {2, 2, 10, 7, 3, 2, 1, 1, 1, 0, 1, 1, 0, 0}, /* overlapping windows */
        {1, 3, 13, 12, 3, 3, 2, 1, 2, 1, 2, 2, 0, 0}, /* dilation */
        {1, 2, 9, 7, 2, 3, 3, 3, 1, 1, 1, 1, 0, 0},   /* disjoint windows with gaps */
        {2, 2, 11, 10, 2, 2, 3, 3, 0, 1, 2, 2, 0, 0}, /* disjoint, dilated */
    };
    for (size_t g = 0; g < sizeof geos / sizeof geos[0]; g++) {
        mlopt_pool2d_params q = geos[g];
        q.oh = (q.h + 2 * q.pad_h - q.dil_h * (q.kh - 1) - 1) / q.stride_h + 1;
        q.ow = (q.w + 2 * q.pad_w - q.dil_w * (q.kw - 1) - 1) / q.stride_w + 1;
        size_t xs = (size_t)q.n * q.c * q.h * q.w, ys = (size_t)q.n * q.c * q.oh * q.ow;
        for (int mode = 0; mode < 3; mode++) {
            tensor x = t_rand(&p, xs), y = t_fill(&p, ys, NAN), dy = t_rand(&p, ys);
            tensor dx = t_fill(&p, xs, NAN);
            char what[64];
            snprintf(what, sizeof what, "pool geometry %zu mode %d", g, mode);
            BOTH(&p, BE->pool2d_forward(CTX, mode, &q, R(x), R(y)));
            t_check(&p, &y, 1e-6, 1e-5, what);
            BOTH(&p, BE->pool2d_backward(CTX, mode, &q, R(x), R(dy), R(dx)));
            t_check(&p, &dx, 1e-5, 1e-5, what);
            t_free(&p, &x);
            t_free(&p, &y);
            t_free(&p, &dy);
            t_free(&p, &dx);
        }
    }
    close_pair(&p);
}
END_TEST

START_TEST(test_activations)
{
    pair p;
    if (!open_pair(&p))
        return;
    const size_t n = 1003;
    for (int act = 0; act < MLOPT_ACT_COUNT_; act++) {
        float alpha = act == MLOPT_ACT_HARD_SIGMOID ? 0.2f : 0.1f, beta = 0.5f;
        float *host = malloc(n * 4);
        for (size_t i = 0; i < n; i++)
            host[i] = 8.0f * frand(&p); /* reaches the saturated regions */
        host[0] = 0.0f;
        host[1] = -3.0f;
        host[2] = 3.0f;
        host[3] = 40.0f;
        host[4] = -40.0f;
        host[5] = NAN;
        host[6] = INFINITY;
        host[7] = -INFINITY;
        tensor x = t_make(&p, n, host, 0, 0), y = t_fill(&p, n, NAN), dy = t_rand(&p, n);
        tensor dx = t_fill(&p, n, NAN), inplace = t_make(&p, n, host, 0, 0);
        char what[64];
        snprintf(what, sizeof what, "activation %d", act);
        BOTH(&p, BE->act_forward(CTX, act, alpha, beta, n, R(x), R(y)));
        t_check(&p, &y, 2e-6, 2e-6, what);
        BOTH(&p, BE->act_forward(CTX, act, alpha, beta, n, R(inplace), R(inplace)));
        t_check(&p, &inplace, 2e-6, 2e-6, what);
        BOTH(&p, BE->act_backward(CTX, act, alpha, beta, n, R(x), R(y), R(dy), R(dx)));
        t_check(&p, &dx, 2e-6, 2e-6, what);
        free(host);
        tensor *all[] = {&x, &y, &dy, &dx, &inplace};
        for (size_t i = 0; i < 5; i++)
            t_free(&p, all[i]);
    }
    close_pair(&p);
}
END_TEST

START_TEST(test_bias_batchnorm_dropout)
{
    pair p;
    if (!open_pair(&p))
        return;
    static const int dims[][3] = {{3, 5, 7}, {64, 10, 1}, {2, 3, 1000}, {1, 1, 1}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int n = dims[d][0], c = dims[d][1], inner = dims[d][2];
        size_t total = (size_t)n * c * inner;
        tensor x = t_rand(&p, total), b = t_rand(&p, (size_t)c), db = t_fill(&p, (size_t)c, NAN);
        BOTH(&p, BE->bias_add(CTX, n, c, inner, R(x), R(b)));
        t_check(&p, &x, 1e-6, 1e-6, "bias_add");
        BOTH(&p, BE->bias_grad(CTX, n, c, inner, R(x), R(db)));
        t_check(&p, &db, 1e-5 * sqrt((double)total / c + 1), 1e-5, "bias_grad");
        t_free(&p, &b);
        t_free(&p, &db);

        if (n * inner > 1) {
            tensor g = t_rand(&p, (size_t)c), be = t_rand(&p, (size_t)c);
            tensor rm = t_rand(&p, (size_t)c), rv = t_fill(&p, (size_t)c, 0.75f);
            tensor sm = t_fill(&p, (size_t)c, NAN), si = t_fill(&p, (size_t)c, NAN);
            tensor y = t_fill(&p, total, NAN), dy = t_rand(&p, total), dx = t_fill(&p, total, NAN);
            tensor dg = t_fill(&p, (size_t)c, NAN), dbe = t_fill(&p, (size_t)c, NAN);
            BOTH(&p, BE->batchnorm_forward_train(CTX, n, c, inner, 1e-5f, 0.1f, R(x), R(g), R(be),
                                                 R(y), R(rm), R(rv), R(sm), R(si)));
            t_check(&p, &y, 1e-4, 1e-4, "batchnorm_forward_train y");
            t_check(&p, &rm, 1e-5, 1e-5, "batchnorm running_mean");
            t_check(&p, &rv, 1e-5, 1e-5, "batchnorm running_var");
            t_check(&p, &sm, 1e-5, 1e-5, "batchnorm save_mean");
            t_check(&p, &si, 1e-4, 1e-4, "batchnorm save_invstd");
            BOTH(&p, BE->batchnorm_backward(CTX, n, c, inner, R(x), R(dy), R(g), R(sm), R(si),
                                            R(dx), R(dg), R(dbe)));
            double rt = 1e-4 * sqrt((double)total / c + 1);
            t_check(&p, &dx, rt, 1e-4, "batchnorm_backward dx");
            t_check(&p, &dg, rt, 1e-4, "batchnorm_backward dgamma");
            t_check(&p, &dbe, rt, 1e-4, "batchnorm_backward dbeta");
            BOTH(&p, BE->batchnorm_forward_eval(CTX, n, c, inner, 1e-5f, R(x), R(g), R(be), R(rm),
                                                R(rv), R(y)));
            t_check(&p, &y, 1e-5, 1e-5, "batchnorm_forward_eval");
            tensor *all[] = {&g, &be, &rm, &rv, &sm, &si, &y, &dy, &dx, &dg, &dbe};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
                t_free(&p, all[i]);
        }
        t_free(&p, &x);
    }
    static const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f, 1.0f};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        size_t n = 4099;
        tensor x = t_rand(&p, n), y = t_fill(&p, n, NAN), mask = t_fill(&p, n, NAN);
        BOTH(&p, BE->dropout_forward(CTX, n, ps[i], 0xC0FFEEu + (uint32_t)i, R(x), R(y), R(mask)));
        t_check(&p, &mask, -1, 0, "dropout mask (bit-exact)");
        t_check(&p, &y, -1, 0, "dropout y (bit-exact)");
        BOTH(&p, BE->dropout_forward(CTX, n, ps[i], 7u, R(x), R(x), R(mask)));
        t_check(&p, &x, -1, 0, "dropout in place");
        t_free(&p, &x);
        t_free(&p, &y);
        t_free(&p, &mask);
    }
    close_pair(&p);
}
END_TEST

START_TEST(test_softmax_losses)
{
    pair p;
    if (!open_pair(&p))
        return;
    static const int shapes[][2] = {{1, 1}, {37, 10}, {5, 1000}, {64, 10}, {3, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        size_t total = (size_t)rows * cols;
        float inv_temp = s % 2 ? 0.5f : 1.0f;
        tensor x = t_rand(&p, total), t = t_rand(&p, total), y = t_fill(&p, total, NAN);
        tensor labels = t_ints(&p, (size_t)rows, cols), loss = t_fill(&p, 1, 0.25f);
        tensor dl = t_fill(&p, total, NAN), am = t_fill(&p, (size_t)rows, NAN);
        tensor cnt = t_fill(&p, 1, 2.0f);
        for (int log_out = 0; log_out < 2; log_out++) {
            BOTH(&p, BE->softmax_forward(CTX, rows, cols, inv_temp, log_out, R(x), R(y)));
            t_check(&p, &y, 1e-6, 1e-5, log_out ? "log_softmax" : "softmax");
        }
        BOTH(&p, BE->softmax_xent(CTX, rows, cols, inv_temp, R(x), R(labels), R(loss), R(dl),
                                  1.0f / (float)rows));
        BOTH(&p, BE->softmax_xent(CTX, rows, cols, inv_temp, R(x), R(labels), R(loss), NOREF,
                                  1.0f));
        t_check(&p, &loss, 1e-5 * rows, 1e-5, "softmax_xent loss");
        t_check(&p, &dl, 1e-7, 1e-5, "softmax_xent dlogits");
        BOTH(&p, BE->softmax_kl(CTX, rows, cols, inv_temp, R(x), R(t), R(loss), R(dl), 2.0f));
        t_check(&p, &loss, 1e-5 * rows, 1e-5, "softmax_kl loss");
        t_check(&p, &dl, 1e-6, 1e-5, "softmax_kl dlogits");
        BOTH(&p, BE->argmax(CTX, rows, cols, R(x), R(am)));
        t_check(&p, &am, -1, 0, "argmax");
        BOTH(&p, BE->accuracy_count(CTX, rows, cols, R(x), R(labels), R(cnt)));
        BOTH(&p, BE->accuracy_count(CTX, rows, cols, R(x), R(am), R(cnt)));
        t_check(&p, &cnt, -1, 0, "accuracy_count");
        tensor *all[] = {&x, &t, &y, &labels, &loss, &dl, &am, &cnt};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            t_free(&p, all[i]);
    }
    /* Ties: the first maximum wins. */
    float tie[6] = {1, 3, 3, 2, 2, 0};
    tensor x = t_make(&p, 6, tie, 0, 0), am = t_fill(&p, 2, NAN);
    BOTH(&p, BE->argmax(CTX, 2, 3, R(x), R(am)));
    t_check(&p, &am, -1, 0, "argmax ties");
    t_free(&p, &x);
    t_free(&p, &am);
    close_pair(&p);
}
END_TEST

START_TEST(test_elementwise_reductions_optimizers)
{
    pair p;
    if (!open_pair(&p))
        return;
    static const size_t sizes[] = {1, 255, 1003, 70001};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        tensor a = t_rand(&p, n), b = t_rand(&p, n), y = t_fill(&p, n, NAN);
        BOTH(&p, BE->add(CTX, n, R(a), R(b), R(y)));
        t_check(&p, &y, -1, 0, "add");
        BOTH(&p, BE->sub(CTX, n, R(a), R(b), R(y)));
        t_check(&p, &y, -1, 0, "sub");
        BOTH(&p, BE->mul(CTX, n, R(a), R(b), R(y)));
        t_check(&p, &y, -1, 0, "mul");
        BOTH(&p, BE->axpy(CTX, n, -0.3f, R(a), R(y)));
        t_check(&p, &y, 1e-7, 1e-6, "axpy");
        BOTH(&p, BE->scale(CTX, n, 1.7f, R(a), R(y)));
        t_check(&p, &y, -1, 0, "scale");
        BOTH(&p, BE->add(CTX, n, R(a), R(b), R(a))); /* output aliases input */
        t_check(&p, &a, -1, 0, "add in place");
        BOTH(&p, BE->scale(CTX, n, 0.5f, R(a), R(a)));
        t_check(&p, &a, -1, 0, "scale in place");
        tensor dropped = t_fill(&p, n, 0.0f);
        BOTH(&p, BE->dropout_forward(CTX, n, 0.5f, 99u, R(b), R(dropped), R(y))); /* y: 0 or 2 */
        BOTH(&p, BE->scale(CTX, n, 0.5f, R(y), R(y)));
        t_free(&p, &dropped);
        BOTH(&p, BE->mask_mul(CTX, n, R(y), R(a)));
        t_check(&p, &a, -1, 0, "mask_mul");

        tensor out = t_fill(&p, 1, NAN), norms = t_fill(&p, 7, NAN);
        BOTH(&p, BE->reduce_sum(CTX, n, R(b), R(out)));
        t_check(&p, &out, 2e-6 * sqrt((double)n) + 1e-6, 1e-5, "reduce_sum");
        BOTH(&p, BE->reduce_max_abs(CTX, n, R(b), R(out)));
        t_check(&p, &out, -1, 0, "reduce_max_abs");
        if (n % 7 == 0 || n > 7) {
            int len = (int)(n / 7);
            for (int pn = 1; pn <= 2; pn++) {
                BOTH(&p, BE->channel_norm(CTX, 7, len, pn, R(b), R(norms)));
                t_check(&p, &norms, 2e-6 * sqrt((double)len) + 1e-6, 1e-5, "channel_norm");
            }
        }
        t_free(&p, &out);
        t_free(&p, &norms);

        /* SGD variants, several steps so that momentum carries. */
        static const struct { float mom, damp, wd; int nest; } sgd[] = {
            {0.0f, 0.0f, 0.0f, 0}, {0.9f, 0.0f, 0.0f, 0}, {0.9f, 0.1f, 1e-2f, 0},
            {0.9f, 0.0f, 5e-4f, 1},
        };
        for (size_t v = 0; v < sizeof sgd / sizeof sgd[0]; v++) {
            tensor w = t_rand(&p, n), g = t_rand(&p, n), vel = t_fill(&p, n, NAN);
            for (int step = 0; step < 3; step++)
                BOTH(&p, BE->sgd_update(CTX, n, 0.01f, sgd[v].mom, sgd[v].damp, sgd[v].wd,
                                        sgd[v].nest, step == 0, R(w), R(g),
                                        sgd[v].mom != 0.0f ? R(vel) : NOREF));
            t_check(&p, &w, 1e-6, 1e-5, "sgd_update w");
            if (sgd[v].mom != 0.0f)
                t_check(&p, &vel, 1e-6, 1e-5, "sgd_update v");
            t_free(&p, &w);
            t_free(&p, &g);
            t_free(&p, &vel);
        }
        for (int decoupled = 0; decoupled < 2; decoupled++) {
            tensor w = t_rand(&p, n), g = t_rand(&p, n), m = t_fill(&p, n, 0.0f);
            tensor v = t_fill(&p, n, 0.0f);
            for (int step = 1; step <= 3; step++)
                BOTH(&p, BE->adam_update(CTX, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled,
                                         step, R(w), R(g), R(m), R(v)));
            t_check(&p, &w, 1e-6, 1e-5, "adam_update w");
            t_check(&p, &m, 1e-6, 1e-5, "adam_update m");
            t_check(&p, &v, 1e-7, 1e-5, "adam_update v");
            t_free(&p, &w);
            t_free(&p, &g);
            t_free(&p, &m);
            t_free(&p, &v);
        }
        t_free(&p, &a);
        t_free(&p, &b);
        t_free(&p, &y);
    }
    close_pair(&p);
}
END_TEST

/* A whole training step of the seed CNN's shape family (smaller) records
 * into one command buffer: one submission, one host wait. */
START_TEST(test_training_step_single_submission)
{
    pair p;
    if (!open_pair(&p))
        return;
    const mlopt_backend *be = p.vk.be;
    mlopt_backend_ctx *ctx = p.vk.ctx;
    mlopt_conv2d_params cp = {8, 1, 12, 12, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 10, 10};
    mlopt_pool2d_params pp = {8, 4, 10, 10, 2, 2, 2, 2, 0, 0, 1, 1, 5, 5};
    int feat = 4 * 5 * 5, classes = 10;
    tensor x = t_rand(&p, 8 * 144), w1 = t_rand(&p, 36), b1 = t_rand(&p, 4);
    tensor y1 = t_fill(&p, 8 * 400, 0), y2 = t_fill(&p, 8 * 100, 0);
    tensor w2 = t_rand(&p, (size_t)classes * feat), logits = t_fill(&p, 8 * 10, 0);
    tensor labels = t_ints(&p, 8, classes), loss = t_fill(&p, 1, 0), dl = t_fill(&p, 80, 0);
    tensor dw2 = t_fill(&p, (size_t)classes * feat, 0), dy2 = t_fill(&p, 800, 0);
    tensor dy1 = t_fill(&p, 3200, 0), dw1 = t_fill(&p, 36, 0), db1 = t_fill(&p, 4, 0);
    tensor v1 = t_fill(&p, 36, 0), v2 = t_fill(&p, (size_t)classes * feat, 0);
    be->synchronize(ctx);
    be->reset_stats(ctx);
    for (int step = 0; step < 2; step++) {
        BOTH(&p, BE->conv2d_forward(CTX, &cp, R(x), R(w1), R(b1), R(y1)));
        BOTH(&p, BE->act_forward(CTX, MLOPT_ACT_RELU, 0, 0, 3200, R(y1), R(y1)));
        BOTH(&p, BE->pool2d_forward(CTX, MLOPT_POOL_MAX, &pp, R(y1), R(y2)));
        BOTH(&p, BE->gemm(CTX, 0, 1, 8, classes, feat, 1.0f, R(y2), feat, R(w2), feat, 0.0f,
                          R(logits), classes));
        BOTH(&p, BE->softmax_xent(CTX, 8, classes, 1.0f, R(logits), R(labels), R(loss), R(dl),
                                  1.0f / 8));
        BOTH(&p, BE->gemm(CTX, 1, 0, classes, feat, 8, 1.0f, R(dl), classes, R(y2), feat, 0.0f,
                          R(dw2), feat));
        BOTH(&p, BE->gemm(CTX, 0, 0, 8, feat, classes, 1.0f, R(dl), classes, R(w2), feat, 0.0f,
                          R(dy2), feat));
        BOTH(&p, BE->pool2d_backward(CTX, MLOPT_POOL_MAX, &pp, R(y1), R(dy2), R(dy1)));
        BOTH(&p, BE->act_backward(CTX, MLOPT_ACT_RELU, 0, 0, 3200, R(y1), R(y1), R(dy1),
                                  R(dy1)));
        BOTH(&p, BE->conv2d_backward_filter(CTX, &cp, R(x), R(dy1), R(dw1), R(db1)));
        BOTH(&p, BE->sgd_update(CTX, 36, 0.01f, 0.9f, 0, 0, 0, step == 0, R(w1), R(dw1), R(v1)));
        BOTH(&p, BE->sgd_update(CTX, (size_t)classes * feat, 0.01f, 0.9f, 0, 0, 0, step == 0,
                                R(w2), R(dw2), R(v2)));
        float l;
        mlopt_ref lr = tref(&loss, 0);
        ck_assert(!be->download(ctx, &l, lr, 4));
        ck_assert(isfinite(l));
    }
    mlopt_backend_stats st;
    be->get_stats(ctx, &st);
    ck_assert_uint_eq(st.submissions, 2);
    ck_assert_uint_eq(st.host_syncs, 2);
    ck_assert_uint_ge(st.kernels, 2 * 12);
    t_check(&p, &loss, 1e-4, 1e-4, "training step loss");
    t_check(&p, &w1, 1e-5, 1e-4, "training step w1");
    t_check(&p, &w2, 1e-5, 1e-4, "training step w2");
    tensor *all[] = {&x, &w1, &b1, &y1, &y2, &w2, &logits, &labels, &loss, &dl, &dw2, &dy2,
                     &dy1, &dw1, &db1, &v1, &v2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        t_free(&p, all[i]);
    close_pair(&p);
}
END_TEST

static void force_staging(void)
{
    setenv("MLOPT_VULKAN_STAGING", "1", 1);
    /* Tiny memory blocks: operands spread over many blocks, so kernels bind
     * several different VkBuffers at once. */
    setenv("MLOPT_VULKAN_BLOCK_MB", "4", 1);
}

int main(void)
{
    Suite *s = suite_create("vulkan_kernels");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_probe_create_stats);
    tcase_add_test(tc, test_no_driver);
    tcase_add_test(tc, test_memory_and_recording);
    tcase_add_test(tc, test_gemm);
    tcase_add_test(tc, test_conv);
    tcase_add_test(tc, test_conv_chunked);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_bias_batchnorm_dropout);
    tcase_add_test(tc, test_softmax_losses);
    tcase_add_test(tc, test_elementwise_reductions_optimizers);
    tcase_add_test(tc, test_training_step_single_submission);
    suite_add_tcase(s, tc);
    /* The same checks through staging buffers (the discrete-GPU path), also
     * on devices whose memory is host-visible, and with small memory blocks. */
    TCase *staged = tcase_create("staging");
    tcase_add_checked_fixture(staged, force_staging, NULL);
    tcase_add_test(staged, test_memory_and_recording);
    tcase_add_test(staged, test_gemm);
    tcase_add_test(staged, test_conv);
    tcase_add_test(staged, test_softmax_losses);
    tcase_add_test(staged, test_elementwise_reductions_optimizers);
    tcase_add_test(staged, test_training_step_single_submission);
    suite_add_tcase(s, staged);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
