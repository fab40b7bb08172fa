/* Shared helpers for the core tests: a cpu context, message checks, a
 * deterministic random generator and temporary directories. */
#ifndef MLOPT_TEST_CORE_UTIL_H
#define MLOPT_TEST_CORE_UTIL_H

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlopt/mlopt.h"

/* Fail with the library's message when a call does not return MLOPT_OK. */
#define CK_OK(expr)                                                                              \
    do {                                                                                         \
        mlopt_status ck_ok_s_ = (expr);                                                          \
        ck_assert_msg(ck_ok_s_ == MLOPT_OK, "%s -> %s: %s", #expr, mlopt_status_name(ck_ok_s_), \
                      mlopt_last_error());                                                       \
    } while (0)

/* The call must fail with status want, and its message must contain every
 * given fragment. */
#define CK_FAILS(expr, want, ...)                                                                   \
    do {                                                                                            \
        mlopt_status ck_f_s_ = (expr);                                                              \
        ck_assert_msg(ck_f_s_ == (want), "%s -> %s (wanted %s): %s", #expr,                         \
                      mlopt_status_name(ck_f_s_), mlopt_status_name(want), mlopt_last_error());    \
        const char *ck_f_frags_[] = { __VA_ARGS__ };                                                \
        for (size_t ck_f_i_ = 0; ck_f_i_ < sizeof ck_f_frags_ / sizeof ck_f_frags_[0]; ck_f_i_++) \
            ck_assert_msg(strstr(mlopt_last_error(), ck_f_frags_[ck_f_i_]) != NULL,                \
                          "%s: message lacks \"%s\": %s", #expr, ck_f_frags_[ck_f_i_],              \
                          mlopt_last_error());                                                      \
    } while (0)

/* The backend the core tests run on: cpu, or MLOPT_CORE_TEST_BACKEND
 * (e.g. opencl, vulkan) to run the same checks through another plugin. */
static inline mlopt_context *open_backend(void)
{
    mlopt_context *ctx = NULL;
    const char *name = getenv("MLOPT_CORE_TEST_BACKEND");
    /* Two threads: the machine running the suite is small and shared. */
    setenv("MLOPT_NUM_THREADS", "2", 0);
    CK_OK(mlopt_context_create(name && name[0] ? name : "cpu", NULL, &ctx));
    return ctx;
}

/* splitmix64: the tests' own generator, independent of the library's. */
typedef struct test_rng {
    uint64_t s;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline double test_rng_uniform(test_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(test_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double test_rng_normal(test_rng *r)
{
    double u1 = test_rng_uniform(r, 1e-12, 1.0), u2 = test_rng_uniform(r, 0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A fresh directory under $TMPDIR (or /tmp); path must hold 256 bytes. */
static inline void make_temp_dir(char *path, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, len, "%s/mlopt-core-test-XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp %s failed", path);
}

/* Number of entries (other than . and ..) in dir; names joined into list. */
static inline int dir_entries(const char *dir, char *list, size_t len)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    if (len)
        list[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        size_t used = strlen(list);
        if (used < len)
            snprintf(list + used, len - used, "%s%s", used ? " " : "", e->d_name);
    }
    closedir(d);
    return n;
}

/* Remove a directory and the plain files in it. */
static inline void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Build and initialize a model from spec text. */
static inline mlopt_model *model_from_text(mlopt_context *ctx, int c, int h, int w, const char *text,
                                           uint64_t seed)
{
    mlopt_layer_spec *specs = NULL;
    int n = 0;
    CK_OK(mlopt_spec_parse(text, "test", &specs, &n));
    mlopt_model *m = NULL;
    CK_OK(mlopt_model_from_specs(ctx, c, h, w, specs, n, seed, &m));
    free(specs);
    return m;
}

#endif
