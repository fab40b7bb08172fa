/* Helpers for the passes tests: forwards, parameter access, contexts. */
#ifndef MLOPT_TEST_PASSES_UTIL_H
#define MLOPT_TEST_PASSES_UTIL_H

#include "mlopt/passes.h"
#include "test_core_util.h"

/* Deterministic pseudo-images [n][c][h][w]. */
static inline float *test_images(int n, int c, int h, int w, uint64_t seed)
{
    size_t k = (size_t)n * c * h * w;
    float *x = malloc(k * sizeof *x);
    test_rng r = { seed };
    for (size_t i = 0; i < k; i++)
        x[i] = (float)test_rng_normal(&r);
    return x;
}

/* Evaluation-mode logits of images (malloc'ed, n * classes). */
static inline float *test_forward(mlopt_context *ctx, mlopt_model *m, const float *images, int n, int c, int h, int w)
{
    int shape[4] = { n, c, h, w };
    mlopt_tensor *x = NULL, *logits = NULL;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x));
    CK_OK(mlopt_tensor_upload(x, images, (size_t)n * c * h * w * sizeof(float)));
    CK_OK(mlopt_model_forward(m, x, 0, &logits));
    size_t k = (size_t)n * mlopt_model_num_classes(m);
    float *out = malloc(k * sizeof *out);
    CK_OK(mlopt_tensor_download(logits, out, k * sizeof *out));
    mlopt_tensor_destroy(x);
    return out;
}

static inline double test_max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d)
            d = fabs((double)a[i] - b[i]);
    return d;
}

/* Host copy of a named parameter (malloc'ed); *n its element count. */
static inline float *test_param(mlopt_model *m, const char *name, size_t *n)
{
    mlopt_tensor *t = mlopt_model_find_param(m, name);
    ck_assert_msg(t != NULL, "no parameter %s", name);
    *n = mlopt_tensor_numel(t);
    float *h = malloc(*n * sizeof *h);
    CK_OK(mlopt_tensor_download(t, h, *n * sizeof *h));
    return h;
}

static inline void test_set_param(mlopt_model *m, const char *name, const float *v)
{
    mlopt_tensor *t = mlopt_model_find_param(m, name);
    ck_assert_msg(t != NULL, "no parameter %s", name);
    CK_OK(mlopt_tensor_upload(t, v, mlopt_tensor_bytes(t)));
}

/* A context on backend name, or NULL when it cannot run here. */
static inline mlopt_context *test_try_backend(const char *name)
{
    mlopt_context *ctx = NULL;
    setenv("MLOPT_NUM_THREADS", "2", 0);
    if (mlopt_context_create(name, NULL, &ctx) != MLOPT_OK)
        return NULL;
    return ctx;
}

#define TUTORIAL_CNN "conv 32 k=3\nact relu\nmaxpool 2\nconv 64 k=3\nact relu\nmaxpool 2\nflatten\nlinear 128\nact relu\nlinear 10\n"

#endif
