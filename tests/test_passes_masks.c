/* Unstructured pruning: masks keep pruned weights exactly zero through
 * fine-tuning (cpu, and opencl/vulkan when they can run here); global and
 * per-layer fractions; the gradual schedule; sparse checkpoints round-trip. */
#include "test_passes_util.h"

#define SIDE 8
#define BATCH 16
#define SPEC "conv 4 k=3\nact relu\nflatten\nlinear 16\nact relu\nlinear 4\n"

static void count_zeros(mlopt_model *m, const char *name, size_t *zeros, size_t *total)
{
    float *w = test_param(m, name, total);
    *zeros = 0;
    for (size_t i = 0; i < *total; i++)
        *zeros += w[i] == 0.0f;
    free(w);
}

/* Prune half of every weight, then train 30 SGD steps: the masked
 * positions must still be exactly zero and other weights must have moved. */
static void masks_hold_on(const char *backend)
{
    mlopt_context *ctx = strcmp(backend, "cpu") == 0 ? open_backend() : test_try_backend(backend);
    if (!ctx) {
        fprintf(stderr, "skipping %s: %s\n", backend, mlopt_last_error());
        return;
    }
    mlopt_model *m = model_from_text(ctx, 1, SIDE, SIDE, SPEC, 7);
    mlopt_prune_config pc = { .scope = MLOPT_SCOPE_LAYER, .amount = 0.5 };
    CK_OK(mlopt_prune_magnitude(m, &pc));
    const char *names[3] = { "conv1.weight", "fc1.weight", "fc2.weight" };
    float *mask[3], *before[3];
    size_t n[3];
    for (int i = 0; i < 3; i++) {
        size_t z;
        count_zeros(m, names[i], &z, &n[i]);
        ck_assert_uint_eq(z, (size_t)(0.5 * n[i] + 0.5));
        mask[i] = malloc(n[i] * sizeof(float));
        int has;
        CK_OK(mlopt_mask_get(m, names[i], mask[i], &has));
        ck_assert_int_eq(has, 1);
        before[i] = test_param(m, names[i], &n[i]);
    }
    mlopt_optim_config oc = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-3f };
    mlopt_optimizer *o;
    mlopt_trainer *t;
    CK_OK(mlopt_optimizer_create(m, &oc, &o));
    CK_OK(mlopt_trainer_create(m, o, BATCH, &t));
    float *x = test_images(BATCH, 1, SIDE, SIDE, 3);
    int32_t labels[BATCH];
    for (int i = 0; i < BATCH; i++)
        labels[i] = i % 4;
    for (int step = 0; step < 30; step++)
        CK_OK(mlopt_trainer_train_step(t, x, labels, BATCH, 0.05f));
    for (int i = 0; i < 3; i++) {
        float *w = test_param(m, names[i], &n[i]);
        size_t moved = 0;
        for (size_t j = 0; j < n[i]; j++) {
            if (mask[i][j] == 0.0f)
                ck_assert_msg(w[j] == 0.0f, "%s: %s[%zu] = %g after fine-tuning, pruned", backend, names[i], j,
                              (double)w[j]);
            else
                moved += w[j] != before[i][j];
        }
        ck_assert_msg(moved > n[i] / 4, "%s: %s barely trained", backend, names[i]);
        free(w), free(mask[i]), free(before[i]);
    }
    mlopt_device_info dev;
    CK_OK(mlopt_context_device_info(ctx, &dev));
    fprintf(stderr, "masks held through 30 SGD steps on %s (%s)\n", backend, dev.name);
    free(x);
    mlopt_trainer_destroy(t);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}

START_TEST(masks_hold_cpu) { masks_hold_on("cpu"); }
END_TEST
START_TEST(masks_hold_opencl) { masks_hold_on("opencl"); }
END_TEST
START_TEST(masks_hold_vulkan) { masks_hold_on("vulkan"); }
END_TEST

START_TEST(global_scope_and_count)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, SIDE, SIDE, SPEC, 9);
    /* 36 + 2304 + 64 = 2404 prunable weights */
    mlopt_prune_config pc = { .scope = MLOPT_SCOPE_GLOBAL, .amount = 0.9 };
    CK_OK(mlopt_prune_magnitude(m, &pc));
    mlopt_model_summary s;
    CK_OK(mlopt_model_summarize(m, &s));
    size_t z1, n1, z2, n2, z3, n3;
    count_zeros(m, "conv1.weight", &z1, &n1);
    count_zeros(m, "fc1.weight", &z2, &n2);
    count_zeros(m, "fc2.weight", &z3, &n3);
    ck_assert_uint_eq(n1 + n2 + n3, 2404);
    ck_assert_uint_eq(z1 + z2 + z3, 2164); /* round(0.9 * 2404) */
    ck_assert_uint_eq(s.params - s.nonzeros, 2164);
    /* Growing sparsity keeps old zeros: a count of 2200 adds 36 more. */
    pc.count = 2200;
    CK_OK(mlopt_prune_magnitude(m, &pc));
    CK_OK(mlopt_model_summarize(m, &s));
    ck_assert_uint_eq(s.params - s.nonzeros, 2200);
    /* Bad arguments */
    mlopt_prune_config bad = { .amount = 1.0 };
    CK_FAILS(mlopt_prune_magnitude(m, &bad), MLOPT_E_INVALID, "[0, 1)");
    const char *nolayer[1] = { "conv7" };
    mlopt_prune_config bad2 = { .amount = 0.5, .layers = nolayer, .nlayers = 1 };
    CK_FAILS(mlopt_prune_magnitude(m, &bad2), MLOPT_E_NOT_FOUND, "conv7");
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(gradual_schedule)
{
    /* s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3 */
    ck_assert(fabs(mlopt_gradual_sparsity(0.0, 0.9, 0, 0, 10, 100) - 0.0) < 1e-12);
    ck_assert(fabs(mlopt_gradual_sparsity(0.0, 0.9, 500, 0, 10, 100) - (0.9 - 0.9 * 0.125)) < 1e-12);
    ck_assert(fabs(mlopt_gradual_sparsity(0.1, 0.9, 250, 0, 10, 100) - (0.9 - 0.8 * 0.421875)) < 1e-12);
    ck_assert(fabs(mlopt_gradual_sparsity(0.0, 0.9, 5000, 0, 10, 100) - 0.9) < 1e-12);
    ck_assert(fabs(mlopt_gradual_sparsity(0.2, 0.9, 5, 10, 10, 100) - 0.2) < 1e-12);
}
END_TEST

START_TEST(sparse_checkpoint_roundtrip)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, SIDE, SIDE, SPEC, 11);
    mlopt_prune_config pc = { .scope = MLOPT_SCOPE_GLOBAL, .amount = 0.8 };
    CK_OK(mlopt_prune_magnitude(m, &pc));
    char dir[256], dense[300], sparse[300];
    make_temp_dir(dir, sizeof dir);
    snprintf(dense, sizeof dense, "%s/dense.safetensors", dir);
    snprintf(sparse, sizeof sparse, "%s/sparse.safetensors", dir);
    CK_OK(mlopt_passes_save(dense, m, NULL, 0, MLOPT_SAVE_MASKS));
    CK_OK(mlopt_passes_save(sparse, m, NULL, 0, MLOPT_SAVE_SPARSE));
    mlopt_checkpoint *ck;
    mlopt_model *back;
    CK_OK(mlopt_checkpoint_open(sparse, &ck));
    ck_assert_str_eq(mlopt_checkpoint_meta(ck, "mlopt.sparse"), "coo");
    CK_OK(mlopt_checkpoint_model(ck, ctx, &back));
    mlopt_checkpoint_close(ck);
    const char *names[4] = { "conv1.weight", "conv1.bias", "fc1.weight", "fc2.bias" };
    for (int i = 0; i < 4; i++) {
        size_t n1, n2;
        float *a = test_param(m, names[i], &n1), *b = test_param(back, names[i], &n2);
        ck_assert_uint_eq(n1, n2);
        for (size_t j = 0; j < n1; j++) /* == : a pruned -0.0 comes back as 0.0 */
            ck_assert_msg(a[j] == b[j], "%s[%zu] = %g after the sparse round trip, was %g", names[i], j, (double)b[j],
                          (double)a[j]);
        free(a), free(b);
    }
    /* Masks come back from the dense file, and from the zero pattern. */
    int loaded, has;
    CK_OK(mlopt_masks_load(dense, back, &loaded));
    ck_assert_int_eq(loaded, 3);
    CK_OK(mlopt_mask_get(back, "fc1.weight", NULL, &has));
    ck_assert_int_eq(has, 1);
    FILE *f1 = fopen(dense, "rb"), *f2 = fopen(sparse, "rb");
    fseek(f1, 0, SEEK_END), fseek(f2, 0, SEEK_END);
    ck_assert_msg(ftell(f2) < ftell(f1) / 2, "sparse file %ld bytes, dense+masks %ld", ftell(f2), ftell(f1));
    fclose(f1), fclose(f2);
    CK_OK(mlopt_masks_fold(m));
    CK_OK(mlopt_mask_get(m, "fc1.weight", NULL, &has));
    ck_assert_int_eq(has, 0);
    mlopt_model_destroy(back);
    mlopt_model_destroy(m);
    remove_dir(dir);
    mlopt_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passes_masks");
    TCase *tc = tcase_create("masks");
    tcase_add_test(tc, masks_hold_cpu);
    tcase_add_test(tc, masks_hold_opencl);
    tcase_add_test(tc, masks_hold_vulkan);
    tcase_add_test(tc, global_scope_and_count);
    tcase_add_test(tc, gradual_schedule);
    tcase_add_test(tc, sparse_checkpoint_roundtrip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
