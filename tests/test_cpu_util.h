/* Shared helpers for the CPU backend tests: contexts (fast and scalar
 * reference), guarded device buffers and tolerant comparison. */
#ifndef MLOPT_TEST_CPU_UTIL_H
#define MLOPT_TEST_CPU_UTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_harness.h"

/* Check records every passing assertion in a file, so per-element loops
 * test with a plain `if` and only call into Check on failure. */
#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            ck_abort_msg(__VA_ARGS__);                                                     \
    } while (0)

/* Floats of sentinel before and after every tensor: a kernel that writes
 * outside its output changes them. */
#define GUARD 37
#define SENTINEL_BITS 0x7FC0DEADu /* a quiet NaN no kernel produces */

typedef struct tbuf {
    mlopt_buffer *buf;
    size_t n;
} tbuf;

static inline float sentinel(void)
{
    uint32_t bits = SENTINEL_BITS;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline void open_fast(harness_backend *h)
{
    char err[4096];
    unsetenv("MLOPT_CPU_REF");
    ck_assert_msg(harness_open("cpu", NULL, h, err, sizeof err) == 0, "%s", err);
}

static inline void open_ref(harness_backend *h)
{
    char err[4096];
    ck_assert_msg(harness_open_cpu_reference(h, err, sizeof err) == 0, "%s", err);
}

static inline void open_threads(harness_backend *h, int threads)
{
    char err[4096], num[16];
    snprintf(num, sizeof num, "%d", threads);
    setenv("MLOPT_NUM_THREADS", num, 1);
    unsetenv("MLOPT_CPU_REF");
    ck_assert_msg(harness_open("cpu", NULL, h, err, sizeof err) == 0, "%s", err);
    unsetenv("MLOPT_NUM_THREADS");
}

/* A fast-path context whose SIMD level is capped (MLOPT_CPU_ISA), so the
 * portable blocked kernels and the AVX2 kernels are tested on machines
 * that would otherwise pick AVX-512. */
static inline void open_isa(harness_backend *h, const char *isa)
{
    char err[4096];
    setenv("MLOPT_CPU_ISA", isa, 1);
    unsetenv("MLOPT_CPU_REF");
    ck_assert_msg(harness_open("cpu", NULL, h, err, sizeof err) == 0, "%s", err);
    unsetenv("MLOPT_CPU_ISA");
}

static inline mlopt_ref tref(tbuf t)
{
    mlopt_ref r = {t.buf, GUARD * sizeof(float)};
    return r;
}

static inline mlopt_ref null_ref(void)
{
    mlopt_ref r = {NULL, 0};
    return r;
}

/* A guarded buffer of n floats (or int32s) holding init (zeros if NULL). */
static inline tbuf tnew(harness_backend *h, const void *init, size_t n)
{
    tbuf t = {NULL, n};
    size_t total = n + 2 * GUARD;
    ck_assert_int_eq(h->be->buffer_alloc(h->ctx, total * sizeof(float), &t.buf), 0);
    float *host = malloc(total * sizeof(float));
    for (size_t i = 0; i < total; i++)
        host[i] = sentinel();
    if (init)
        memcpy(host + GUARD, init, n * sizeof(float));
    else
        memset(host + GUARD, 0, n * sizeof(float));
    mlopt_ref whole = {t.buf, 0};
    ck_assert_int_eq(h->be->upload(h->ctx, whole, host, total * sizeof(float)), 0);
    free(host);
    return t;
}

/* Downloads the tensor into out (may be NULL) and checks both guards. */
static inline void tread(harness_backend *h, tbuf t, void *out, const char *what)
{
    size_t total = t.n + 2 * GUARD;
    uint32_t *host = malloc(total * sizeof(float));
    mlopt_ref whole = {t.buf, 0};
    ck_assert_int_eq(h->be->download(h->ctx, host, whole, total * sizeof(float)), 0);
    for (size_t i = 0; i < GUARD; i++) {
        EXPECT(host[i] == SENTINEL_BITS, "%s: guard before output overwritten at -%zu", what,
               GUARD - i);
        EXPECT(host[GUARD + t.n + i] == SENTINEL_BITS, "%s: guard after output overwritten at +%zu",
               what, i);
    }
    if (out)
        memcpy(out, host + GUARD, t.n * sizeof(float));
    free(host);
}

static inline void tfree(harness_backend *h, tbuf t)
{
    h->be->buffer_free(h->ctx, t.buf);
}

/* Deterministic test data. */
static inline uint32_t rng_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static inline float rng_uniform(uint32_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)rng_next(s) / 16777216.0f;
}

static inline float *rand_floats(uint32_t *s, size_t n, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = rng_uniform(s, lo, hi);
    return v;
}

/* |got - want| <= tol * (|want| + floor_frac * max|want|) + abs_floor
 * element by element; the floor keeps near-zero results of cancelling
 * sums from demanding impossible relative accuracy. */
static inline void expect_close_ex(const float *got, const float *want, size_t n, double tol,
                                   double floor_frac, double abs_floor, const char *what)
{
    double maxabs = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > maxabs)
            maxabs = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        EXPECT(!isnan(got[i]) || isnan(want[i]), "%s[%zu]: got NaN, want %g", what, i,
               (double)want[i]);
        if (isnan(want[i]))
            continue;
        double err = fabs((double)got[i] - want[i]);
        double lim = tol * (fabs(want[i]) + floor_frac * maxabs) + abs_floor;
        EXPECT(err <= lim, "%s[%zu]: got %.9g want %.9g (err %.3g > %.3g)", what, i,
               (double)got[i], (double)want[i], err, lim);
    }
}

static inline void expect_close(const float *got, const float *want, size_t n, double tol,
                                const char *what)
{
    expect_close_ex(got, want, n, tol, 1e-2, 1e-30, what);
}

#endif
