/* Whole-model cross-checks: the same model, seed and data trained for 20
 * steps on each backend must follow the CPU reference's loss curve to 1e-4
 * (relative) and end with the same parameters.  Backends that are not
 * available here are skipped with a note. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlopt/mlopt.h"

#define STEPS 20

typedef struct run_result {
    double loss[STEPS];
    double correct[STEPS];
    int nparams;
    float *params; /* all parameters, concatenated */
    size_t nvalues;
} run_result;

/* Deterministic synthetic images: class-dependent stripes plus noise. */
static void make_batch(int step, int n, int c, int h, int w, int classes, float *x, int32_t *y)
{
    uint32_t s = 12345u + 7919u * (uint32_t)step;
    for (int i = 0; i < n; i++) {
        int label = (i * 7 + step * 3) % classes;
        y[i] = label;
        for (int k = 0; k < c * h * w; k++) {
            s = s * 1664525u + 1013904223u;
            float noise = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.6f;
            int col = k % w;
            x[(size_t)i * c * h * w + k] = ((col + label) % classes == 0 ? 1.0f : -0.3f) + noise;
        }
    }
}

static int open_backend(const char *name, int reference, mlopt_context **ctx)
{
    if (reference)
        setenv("MLOPT_CPU_REF", "1", 1);
    mlopt_status s = mlopt_context_create(name, NULL, ctx);
    unsetenv("MLOPT_CPU_REF");
    if (s != MLOPT_OK) {
        fprintf(stderr, "note: backend %s unavailable, skipped: %s\n", name, mlopt_last_error());
        return 0;
    }
    return 1;
}

static void train_run(mlopt_context *ctx, const char *spec, int c, int h, int w, int batch, mlopt_optim_kind kind,
                      run_result *out)
{
    mlopt_layer_spec *specs;
    int n;
    ck_assert_msg(mlopt_spec_parse(spec, "test", &specs, &n) == MLOPT_OK, "%s", mlopt_last_error());
    mlopt_model *m;
    ck_assert_msg(mlopt_model_from_specs(ctx, c, h, w, specs, n, 42, &m) == MLOPT_OK, "%s", mlopt_last_error());
    free(specs);
    mlopt_optim_config cfg = { .kind = kind, .lr = kind == MLOPT_OPTIM_SGD ? 0.05f : 0.003f, .momentum = 0.9f,
                               .weight_decay = 1e-4f };
    mlopt_optimizer *o;
    ck_assert_msg(mlopt_optimizer_create(m, &cfg, &o) == MLOPT_OK, "%s", mlopt_last_error());
    mlopt_trainer *t;
    ck_assert_msg(mlopt_trainer_create(m, o, batch, &t) == MLOPT_OK, "%s", mlopt_last_error());
    int classes = mlopt_model_num_classes(m);
    float *x = malloc((size_t)batch * c * h * w * sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    for (int step = 0; step < STEPS; step++) {
        make_batch(step, batch, c, h, w, classes, x, y);
        ck_assert_msg(mlopt_trainer_train_step(t, x, y, batch, cfg.lr) == MLOPT_OK, "step %d: %s", step,
                      mlopt_last_error());
        long long k;
        ck_assert_msg(mlopt_trainer_read_metrics(t, &out->loss[step], &out->correct[step], &k) == MLOPT_OK, "%s",
                      mlopt_last_error());
        out->loss[step] /= (double)k;
    }
    out->nparams = mlopt_model_param_count(m);
    out->nvalues = 0;
    for (int i = 0; i < out->nparams; i++)
        out->nvalues += mlopt_tensor_numel(mlopt_model_param(m, i, NULL, NULL));
    out->params = malloc(out->nvalues * sizeof *out->params);
    size_t off = 0;
    for (int i = 0; i < out->nparams; i++) {
        mlopt_tensor *p = mlopt_model_param(m, i, NULL, NULL);
        ck_assert(mlopt_tensor_download(p, out->params + off, mlopt_tensor_bytes(p)) == MLOPT_OK);
        off += mlopt_tensor_numel(p);
    }
    free(x);
    free(y);
    mlopt_trainer_destroy(t);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(m);
}

/* Every layer kind, small enough for software GPUs. */
static const char small_spec[] = "conv 6 k=3 p=1\nbatchnorm\nact relu\nmaxpool 2\n"
                                 "conv 8 k=3 s=1 d=1\nact gelu\navgpool 2\n"
                                 "flatten\ndropout 0.2\nlinear 24\nact tanh\nlinear 12\nact leaky_relu 0.1\n"
                                 "linear 5\n";
static const char seed_cnn[] = "conv 32 k=3\nact relu\nmaxpool 2\nconv 64 k=3\nact relu\nmaxpool 2\n"
                               "flatten\nlinear 128\nact relu\nlinear 10\n";

static void compare_backend(const char *backend, const char *spec, int c, int h, int w, int batch,
                            mlopt_optim_kind kind)
{
    mlopt_context *ref_ctx, *ctx;
    if (!open_backend("cpu", 1, &ref_ctx))
        ck_abort_msg("the cpu reference backend must be available");
    if (!open_backend(backend, 0, &ctx)) {
        mlopt_context_destroy(ref_ctx);
        return;
    }
    run_result ref, got;
    train_run(ref_ctx, spec, c, h, w, batch, kind, &ref);
    train_run(ctx, spec, c, h, w, batch, kind, &got);
    ck_assert(ref.loss[STEPS - 1] < ref.loss[0]); /* it learns at all */
    for (int s = 0; s < STEPS; s++) {
        double rel = fabs(got.loss[s] - ref.loss[s]) / fmax(fabs(ref.loss[s]), 1e-6);
        ck_assert_msg(rel <= 1e-4, "%s: step %d loss %.9g vs reference %.9g (rel %.3g)", backend, s, got.loss[s],
                      ref.loss[s], rel);
    }
    ck_assert_uint_eq(got.nvalues, ref.nvalues);
    /* Parameters: relative L2 distance of the whole vector.  (Elementwise
     * comparisons are too strict for Adam, whose normalized step turns
     * rounding-level gradient differences of near-zero gradients into
     * full-size updates; the loss curve above is the primary check.) */
    double diff2 = 0, ref2 = 0, worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < ref.nvalues; i++) {
        double d = (double)got.params[i] - ref.params[i];
        diff2 += d * d;
        ref2 += (double)ref.params[i] * ref.params[i];
        if (fabs(d) > worst)
            worst = fabs(d), worst_i = i;
    }
    double rel = sqrt(diff2 / fmax(ref2, 1e-30));
    double tol = kind == MLOPT_OPTIM_SGD ? 1e-3 : 1e-2;
    ck_assert_msg(rel <= tol, "%s: parameters differ by %.3g (relative L2; worst element %zu: %.9g vs %.9g)",
                  backend, rel, worst_i, (double)got.params[worst_i], (double)ref.params[worst_i]);
    fprintf(stderr, "%s: %d steps, loss %.6f -> %.6f within 1e-4 of the reference; parameters within %.2g (L2)\n",
            backend, STEPS, ref.loss[0], ref.loss[STEPS - 1], rel);
    free(ref.params);
    free(got.params);
    mlopt_context_destroy(ctx);
    mlopt_context_destroy(ref_ctx);
}

#define BACKEND_TESTS(b)                                                                    \
    START_TEST(test_##b##_small_sgd) { compare_backend(#b, small_spec, 2, 12, 12, 16, MLOPT_OPTIM_SGD); } \
    END_TEST                                                                                \
    START_TEST(test_##b##_small_adamw) { compare_backend(#b, small_spec, 2, 12, 12, 16, MLOPT_OPTIM_ADAMW); } \
    END_TEST                                                                                \
    START_TEST(test_##b##_seed_cnn) { compare_backend(#b, seed_cnn, 1, 28, 28, 8, MLOPT_OPTIM_SGD); } \
    END_TEST

BACKEND_TESTS(cpu)
BACKEND_TESTS(opencl)
BACKEND_TESTS(vulkan)

int main(void)
{
    Suite *s = suite_create("backend_training");
    TCase *tc = tcase_create("steps");
    tcase_add_test(tc, test_cpu_small_sgd);
    tcase_add_test(tc, test_cpu_small_adamw);
    tcase_add_test(tc, test_cpu_seed_cnn);
    tcase_add_test(tc, test_opencl_small_sgd);
    tcase_add_test(tc, test_opencl_small_adamw);
    tcase_add_test(tc, test_opencl_seed_cnn);
    tcase_add_test(tc, test_vulkan_small_sgd);
    tcase_add_test(tc, test_vulkan_small_adamw);
    tcase_add_test(tc, test_vulkan_seed_cnn);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
