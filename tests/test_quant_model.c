/* INT8 model tests: batch-norm folding keeps outputs, PTQ produces a model
 * whose logits are close to float, quantized checkpoints round-trip, and
 * the int8 model gives bit-identical logits (hence identical predictions)
 * on cpu, cpu-reference, opencl and vulkan where those can run. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlopt/quant.h"

static mlopt_context *open_ctx(const char *backend)
{
    mlopt_context *ctx = NULL;
    if (mlopt_context_create(backend, NULL, &ctx) != MLOPT_OK)
        return NULL;
    const mlopt_backend *be = mlopt_context_backend(ctx);
    if (be->struct_size < offsetof(mlopt_backend, fake_quant) + sizeof(void *) || !be->qconv2d || !be->qgemm) {
        fprintf(stderr, "skip %s: no int8 slots\n", backend);
        mlopt_context_destroy(ctx);
        return NULL;
    }
    return ctx;
}

static mlopt_model *make_model(mlopt_context *ctx, const char *preset, uint64_t seed)
{
    mlopt_layer_spec *specs;
    int n;
    ck_assert_int_eq(mlopt_spec_preset(preset, &specs, &n), MLOPT_OK);
    mlopt_model *m;
    ck_assert_msg(mlopt_model_from_specs(ctx, 1, 28, 28, specs, n, seed, &m) == MLOPT_OK, "%s", mlopt_last_error());
    free(specs);
    return m;
}

static void fill_input(mlopt_tensor *x, uint32_t seed)
{
    size_t n = mlopt_tensor_numel(x);
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        h[i] = (float)(seed >> 8) / (float)(1u << 24) * 3.0f - 1.0f;
    }
    ck_assert_int_eq(mlopt_tensor_upload(x, h, n * sizeof *h), MLOPT_OK);
    free(h);
}

static float *forward_host(mlopt_model *m, mlopt_tensor *x, size_t *n)
{
    mlopt_tensor *lg;
    ck_assert_int_eq(mlopt_model_forward(m, x, 0, &lg), MLOPT_OK);
    *n = mlopt_tensor_numel(lg);
    float *h = malloc(*n * sizeof *h);
    ck_assert_int_eq(mlopt_tensor_download(lg, h, *n * sizeof *h), MLOPT_OK);
    return h;
}

START_TEST(batchnorm_folding_keeps_outputs)
{
    mlopt_context *ctx = open_ctx("cpu");
    ck_assert_ptr_nonnull(ctx);
    mlopt_model *m = make_model(ctx, "seed-cnn-bn", 3);
    /* Non-trivial running statistics and affine parameters. */
    int np = mlopt_model_param_count(m);
    uint32_t r = 7;
    for (int i = 0; i < np; i++) {
        const char *name;
        int tr;
        mlopt_tensor *t = mlopt_model_param(m, i, &name, &tr);
        if (!strstr(name, "bn"))
            continue;
        size_t n = mlopt_tensor_numel(t);
        float *h = malloc(n * sizeof *h);
        for (size_t k = 0; k < n; k++) {
            r = r * 1664525u + 1013904223u;
            float u = (float)(r >> 8) / (float)(1u << 24);
            h[k] = strstr(name, "running_var") ? 0.5f + u : strstr(name, "weight") ? 0.5f + u : u - 0.5f;
        }
        ck_assert_int_eq(mlopt_tensor_upload(t, h, n * sizeof *h), MLOPT_OK);
        free(h);
    }
    int shape[4] = { 4, 1, 28, 28 };
    mlopt_tensor *x;
    ck_assert_int_eq(mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x), MLOPT_OK);
    fill_input(x, 11);
    size_t n1, n2;
    float *before = forward_host(m, x, &n1);
    int layers = mlopt_model_layer_count(m), folded;
    ck_assert_msg(mlopt_quant_fold_batchnorm(m, &folded) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_int_eq(folded, 3);
    ck_assert_int_eq(mlopt_model_layer_count(m), layers - 3);
    float *after = forward_host(m, x, &n2);
    ck_assert_uint_eq(n1, n2);
    for (size_t i = 0; i < n1; i++)
        ck_assert_msg(fabsf(before[i] - after[i]) <= 1e-4f + 1e-4f * fabsf(before[i]), "logit %zu: %g vs %g", i,
                      (double)before[i], (double)after[i]);
    free(before), free(after);
    mlopt_tensor_destroy(x);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

static mlopt_dataset *small_train(void)
{
    mlopt_dataset *ds;
    if (mlopt_dataset_load(NULL, "train", &ds) != MLOPT_OK)
        return NULL;
    mlopt_dataset_truncate(ds, 512);
    return ds;
}

/* Logits of a loaded int8 checkpoint on one backend (NULL if it cannot run). */
static float *int8_logits(const char *backend, const char *path, int batch, size_t *n)
{
    mlopt_context *ctx = open_ctx(backend);
    if (!ctx)
        return NULL;
    mlopt_qmodel *q;
    ck_assert_msg(mlopt_qmodel_load(path, ctx, &q) == MLOPT_OK, "%s: %s", backend, mlopt_last_error());
    int shape[4] = { batch, 1, 28, 28 };
    mlopt_tensor *x, *lg;
    ck_assert_int_eq(mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x), MLOPT_OK);
    fill_input(x, 99);
    ck_assert_msg(mlopt_qmodel_forward(q, x, &lg) == MLOPT_OK, "%s: %s", backend, mlopt_last_error());
    *n = mlopt_tensor_numel(lg);
    float *h = malloc(*n * sizeof *h);
    ck_assert_int_eq(mlopt_tensor_download(lg, h, *n * sizeof *h), MLOPT_OK);
    mlopt_tensor_destroy(x);
    mlopt_qmodel_destroy(q);
    mlopt_context_destroy(ctx);
    return h;
}

START_TEST(ptq_checkpoint_round_trip_and_identical_on_every_backend)
{
    mlopt_dataset *ds = small_train();
    if (!ds) {
        fprintf(stderr, "skip: no Fashion-MNIST data\n");
        return;
    }
    mlopt_context *ctx = open_ctx("cpu");
    mlopt_model *m = make_model(ctx, "seed-cnn-bn", 5);
    mlopt_quant_config qc;
    mlopt_quant_config_default(&qc);
    qc.calib_batches = 2;
    qc.calib_batch = 32;
    qc.first_layer_float = 0; /* all-int8: bit-identical across backends */
    qc.mean = 0.286f, qc.std = 0.353f;
    const char *observers[] = { "minmax", "ema", "percentile", "mse" };
    char path[256];
    snprintf(path, sizeof path, "/tmp/mlopt-test-quant-%d.safetensors", (int)getpid());
    for (int o = 0; o < 4; o++) {
        ck_assert_int_eq(mlopt_observer_parse(observers[o], &qc.observer), MLOPT_OK);
        mlopt_qmodel *q;
        ck_assert_msg(mlopt_quantize_ptq(m, ds, &qc, &q) == MLOPT_OK, "%s: %s", observers[o], mlopt_last_error());
        /* int8 logits stay close to float ones (untrained net: loose bound) */
        mlopt_qlayer_report rep[16];
        int nr;
        ck_assert_msg(mlopt_qmodel_report(q, m, ds, qc.mean, qc.std, 64, rep, 16, &nr) == MLOPT_OK, "%s",
                      mlopt_last_error());
        ck_assert_int_ge(nr, 5);
        ck_assert_msg(rep[nr - 1].sqnr_db > 15, "%s: logits SQNR %.1f dB", observers[o], rep[nr - 1].sqnr_db);
        if (o == 0) {
            ck_assert_msg(mlopt_qmodel_save(path, q, NULL, 0) == MLOPT_OK, "%s", mlopt_last_error());
            /* the file reloads to the very same logits */
            int shape[4] = { 8, 1, 28, 28 };
            mlopt_tensor *x, *lg;
            ck_assert_int_eq(mlopt_tensor_create(ctx, MLOPT_F32, 4, shape, &x), MLOPT_OK);
            fill_input(x, 99);
            ck_assert_int_eq(mlopt_qmodel_forward(q, x, &lg), MLOPT_OK);
            float a[80];
            ck_assert_int_eq(mlopt_tensor_download(lg, a, sizeof a), MLOPT_OK);
            size_t n;
            float *b = int8_logits("cpu", path, 8, &n);
            ck_assert_uint_eq(n, 80);
            ck_assert_msg(memcmp(a, b, sizeof a) == 0, "reloaded int8 model differs");
            free(b);
            mlopt_tensor_destroy(x);
        }
        mlopt_qmodel_destroy(q);
    }
    /* The same checkpoint on every backend: identical logits. */
    size_t nref;
    float *ref = int8_logits("cpu", path, 16, &nref);
    setenv("MLOPT_CPU_REF", "1", 1);
    const char *backends[] = { "cpu", "opencl", "vulkan" };
    for (int b = 0; b < 3; b++) {
        size_t n;
        float *got = int8_logits(backends[b], path, 16, &n);
        if (b == 0)
            unsetenv("MLOPT_CPU_REF");
        if (!got) {
            fprintf(stderr, "skip %s\n", backends[b]);
            continue;
        }
        ck_assert_uint_eq(n, nref);
        ck_assert_msg(memcmp(got, ref, n * sizeof *got) == 0, "%s%s int8 logits differ from cpu", backends[b],
                      b == 0 ? " (reference)" : "");
        free(got);
    }
    free(ref);
    unlink(path);
    mlopt_model_destroy(m);
    mlopt_dataset_destroy(ds);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(checkpoint_detection)
{
    mlopt_dataset *ds = small_train();
    if (!ds)
        return;
    mlopt_context *ctx = open_ctx("cpu");
    mlopt_model *m = make_model(ctx, "seed-cnn", 2);
    mlopt_quant_config qc;
    mlopt_quant_config_default(&qc);
    qc.calib_batches = 1;
    qc.calib_batch = 16;
    mlopt_qmodel *q;
    ck_assert_int_eq(mlopt_quantize_ptq(m, ds, &qc, &q), MLOPT_OK);
    char path[256], fpath[256];
    snprintf(path, sizeof path, "/tmp/mlopt-test-quant-d%d.safetensors", (int)getpid());
    snprintf(fpath, sizeof fpath, "/tmp/mlopt-test-quant-f%d.safetensors", (int)getpid());
    ck_assert_int_eq(mlopt_qmodel_save(path, q, NULL, 0), MLOPT_OK);
    ck_assert_int_eq(mlopt_checkpoint_save(fpath, m, NULL, NULL, 0), MLOPT_OK);
    mlopt_checkpoint *ck;
    ck_assert_int_eq(mlopt_checkpoint_open(path, &ck), MLOPT_OK);
    ck_assert_int_eq(mlopt_checkpoint_is_quantized(ck), 1);
    mlopt_checkpoint_close(ck);
    ck_assert_int_eq(mlopt_checkpoint_open(fpath, &ck), MLOPT_OK);
    ck_assert_int_eq(mlopt_checkpoint_is_quantized(ck), 0);
    mlopt_checkpoint_close(ck);
    /* int8 weights: about 4x smaller than float32 weights-only */
    FILE *f = fopen(path, "rb"), *g = fopen(fpath, "rb");
    fseek(f, 0, SEEK_END), fseek(g, 0, SEEK_END);
    double ratio = (double)ftell(g) / (double)ftell(f);
    fclose(f), fclose(g);
    ck_assert_msg(ratio >= 3.5, "float/int8 file size ratio %.2f", ratio);
    unlink(path), unlink(fpath);
    mlopt_qmodel_destroy(q);
    mlopt_model_destroy(m);
    mlopt_dataset_destroy(ds);
    mlopt_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant_model");
    TCase *tc = tcase_create("ptq");
    tcase_add_test(tc, batchnorm_folding_keeps_outputs);
    tcase_add_test(tc, ptq_checkpoint_round_trip_and_identical_on_every_backend);
    tcase_add_test(tc, checkpoint_detection);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
