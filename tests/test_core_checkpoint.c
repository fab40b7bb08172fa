/* Checkpoints: save a model and its optimizer state, reload them bit for
 * bit with metadata; refuse a different model and truncated files; leave
 * no temporary files behind; resume training exactly where it stopped. */
#include <sys/stat.h>

#include "test_core_util.h"

#define SPEC "conv 4 k=3\nbatchnorm\nact relu\nmaxpool 2\nflatten\ndropout 0.25\nlinear 5\n"
#define C 1
#define H 8
#define W 8
#define BATCH 8

typedef struct rig {
    mlopt_context *ctx;
    mlopt_model *m;
    mlopt_optimizer *o;
    mlopt_trainer *t;
} rig;

static void make_batch(test_rng *r, float *images, int32_t *labels)
{
    for (int i = 0; i < BATCH; i++) {
        labels[i] = (int32_t)(test_rng_next(r) % 5);
        for (int p = 0; p < C * H * W; p++)
            images[i * C * H * W + p] = (float)(test_rng_normal(r) + (p % 5 == labels[i]));
    }
}

static void rig_open(rig *g, mlopt_context *ctx, mlopt_model *m, const mlopt_optim_config *cfg)
{
    g->ctx = ctx;
    g->m = m;
    CK_OK(mlopt_optimizer_create(m, cfg, &g->o));
    CK_OK(mlopt_trainer_create(m, g->o, BATCH, &g->t));
}

static void rig_train(rig *g, test_rng *r, int steps)
{
    float images[BATCH * C * H * W];
    int32_t labels[BATCH];
    for (int s = 0; s < steps; s++) {
        make_batch(r, images, labels);
        CK_OK(mlopt_trainer_train_step(g->t, images, labels, BATCH, 0.05f));
    }
}

static void rig_close(rig *g)
{
    mlopt_trainer_destroy(g->t);
    mlopt_optimizer_destroy(g->o);
    g->t = NULL;
    g->o = NULL;
}

static float *download_all(mlopt_tensor *t, size_t *n)
{
    *n = mlopt_tensor_bytes(t);
    float *h = malloc(*n);
    CK_OK(mlopt_tensor_download(t, h, *n));
    return h;
}

static void expect_same_tensor(mlopt_tensor *a, mlopt_tensor *b, const char *name)
{
    ck_assert_msg(a->dtype == b->dtype && a->ndim == b->ndim &&
                      memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0,
                  "%s: shape or dtype differs", name);
    size_t na, nb;
    float *ha = download_all(a, &na), *hb = download_all(b, &nb);
    ck_assert_msg(na == nb && memcmp(ha, hb, na) == 0, "%s: values differ after the reload", name);
    free(ha);
    free(hb);
}

static void expect_same_models(mlopt_model *a, mlopt_model *b)
{
    int n = mlopt_model_param_count(a);
    ck_assert_int_eq(n, mlopt_model_param_count(b));
    for (int i = 0; i < n; i++) {
        const char *na, *nb;
        int ta, tb;
        mlopt_tensor *x = mlopt_model_param(a, i, &na, &ta);
        mlopt_tensor *y = mlopt_model_param(b, i, &nb, &tb);
        ck_assert_str_eq(na, nb);
        ck_assert_int_eq(ta, tb);
        expect_same_tensor(x, y, na);
    }
}

static void expect_same_optimizers(mlopt_optimizer *a, mlopt_optimizer *b)
{
    int n = mlopt_optimizer_state_count(a);
    ck_assert_int_eq(n, mlopt_optimizer_state_count(b));
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char na[128], nb[128];
        mlopt_tensor *x = mlopt_optimizer_state(a, i, na, sizeof na);
        mlopt_tensor *y = mlopt_optimizer_state(b, i, nb, sizeof nb);
        ck_assert_str_eq(na, nb);
        expect_same_tensor(x, y, na);
    }
}

static const mlopt_optim_config sgd = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f,
                                        .weight_decay = 1e-4f };
static const mlopt_optim_config adam = { .kind = MLOPT_OPTIM_ADAM, .lr = 0.01f };

static void save_and_reload(const mlopt_optim_config *cfg)
{
    char dir[256], path[512], list[1024];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mlopt_context *ctx = open_backend();
    rig a;
    rig_open(&a, ctx, model_from_text(ctx, C, H, W, SPEC, 77), cfg);
    test_rng r = { 5 };
    rig_train(&a, &r, 5);

    const mlopt_meta meta[] = { { "epoch", "3" }, { "note", "héllo \"quoted\"\nnewline" } };
    CK_OK(mlopt_checkpoint_save(path, a.m, a.o, meta, 2));
    ck_assert_msg(dir_entries(dir, list, sizeof list) == 1, "after save the directory holds: %s", list);
    /* Saving again replaces the file and still leaves nothing else. */
    CK_OK(mlopt_checkpoint_save(path, a.m, a.o, meta, 2));
    ck_assert_msg(dir_entries(dir, list, sizeof list) == 1, "after a second save the directory holds: %s", list);

    mlopt_checkpoint *ck = NULL;
    CK_OK(mlopt_checkpoint_open(path, &ck));
    ck_assert_str_eq(mlopt_checkpoint_meta(ck, "epoch"), "3");
    ck_assert_str_eq(mlopt_checkpoint_meta(ck, "note"), "héllo \"quoted\"\nnewline");
    ck_assert_str_eq(mlopt_checkpoint_meta(ck, "mlopt.input"), "1x8x8");
    ck_assert_ptr_nonnull(mlopt_checkpoint_meta(ck, "mlopt.spec"));
    ck_assert_ptr_null(mlopt_checkpoint_meta(ck, "no-such-key"));

    mlopt_model *m2 = NULL;
    CK_OK(mlopt_checkpoint_model(ck, ctx, &m2));
    ck_assert_int_eq(mlopt_model_layer_count(m2), mlopt_model_layer_count(a.m));
    for (int i = 0; i < mlopt_model_layer_count(a.m); i++) {
        ck_assert_str_eq(mlopt_model_layer_spec(m2, i)->name, mlopt_model_layer_spec(a.m, i)->name);
        ck_assert_int_eq(mlopt_model_layer_spec(m2, i)->kind, mlopt_model_layer_spec(a.m, i)->kind);
    }
    expect_same_models(a.m, m2);

    rig b;
    rig_open(&b, ctx, m2, cfg);
    CK_OK(mlopt_checkpoint_load_optimizer(ck, b.o));
    expect_same_optimizers(a.o, b.o);

    /* Same weights and inputs: same evaluation logits. */
    float images[BATCH * C * H * W];
    int32_t labels[BATCH], pa[BATCH], pb[BATCH];
    make_batch(&r, images, labels);
    CK_OK(mlopt_trainer_eval_step(a.t, images, labels, BATCH, pa));
    CK_OK(mlopt_trainer_eval_step(b.t, images, labels, BATCH, pb));
    ck_assert(memcmp(pa, pb, sizeof pa) == 0);
    double la, lb;
    mlopt_trainer_read_metrics(a.t, NULL, NULL, NULL);
    mlopt_trainer_read_metrics(b.t, NULL, NULL, NULL);
    CK_OK(mlopt_trainer_eval_step(a.t, images, labels, BATCH, NULL));
    CK_OK(mlopt_trainer_eval_step(b.t, images, labels, BATCH, NULL));
    CK_OK(mlopt_trainer_read_metrics(a.t, &la, NULL, NULL));
    CK_OK(mlopt_trainer_read_metrics(b.t, &lb, NULL, NULL));
    ck_assert(la == lb);

    mlopt_checkpoint_close(ck);
    rig_close(&b);
    rig_close(&a);
    mlopt_model_destroy(m2);
    mlopt_model_destroy(a.m);
    mlopt_context_destroy(ctx);
    ck_assert_msg(dir_entries(dir, list, sizeof list) == 1, "the directory holds: %s", list);
    remove_dir(dir);
}

START_TEST(sgd_momentum_round_trip)
{
    save_and_reload(&sgd);
}
END_TEST

START_TEST(adam_round_trip)
{
    save_and_reload(&adam);
}
END_TEST

/* Resuming from a checkpoint continues the run exactly.  The step count
 * is training state the caller keeps (the CLI stores it in the metadata)
 * and restores with mlopt_optimizer_set_steps; with it, everything else
 * (weights, momentum / Adam moments, batch-norm running stats, dropout's
 * step-seeded masks) must resume bit for bit. */
static void resume_matches_continuous_run(const mlopt_optim_config *cfg)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    mlopt_context *ctx = open_backend();
    rig a;
    rig_open(&a, ctx, model_from_text(ctx, C, H, W, SPEC, 78), cfg);
    test_rng r = { 9 };
    rig_train(&a, &r, 4);
    CK_OK(mlopt_checkpoint_save(path, a.m, a.o, NULL, 0));
    test_rng r_resume = r; /* the same next batches */
    rig_train(&a, &r, 3);

    mlopt_checkpoint *ck = NULL;
    CK_OK(mlopt_checkpoint_open(path, &ck));
    mlopt_model *m2 = NULL;
    CK_OK(mlopt_checkpoint_model(ck, ctx, &m2));
    rig b;
    rig_open(&b, ctx, m2, cfg);
    CK_OK(mlopt_checkpoint_load_optimizer(ck, b.o));
    mlopt_optimizer_set_steps(b.o, 4);
    rig_train(&b, &r_resume, 3);
    expect_same_models(a.m, b.m);

    mlopt_checkpoint_close(ck);
    rig_close(&b);
    rig_close(&a);
    mlopt_model_destroy(m2);
    mlopt_model_destroy(a.m);
    mlopt_context_destroy(ctx);
    remove_dir(dir);
}

START_TEST(resume_sgd_momentum)
{
    resume_matches_continuous_run(&sgd);
}
END_TEST

START_TEST(resume_adam)
{
    resume_matches_continuous_run(&adam);
}
END_TEST

START_TEST(weights_only_into_same_structure)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    mlopt_context *ctx = open_backend();
    mlopt_model *a = model_from_text(ctx, C, H, W, SPEC, 1);
    mlopt_model *b = model_from_text(ctx, C, H, W, SPEC, 2); /* other initial values */
    CK_OK(mlopt_checkpoint_save(path, a, NULL, NULL, 0));
    mlopt_checkpoint *ck = NULL;
    CK_OK(mlopt_checkpoint_open(path, &ck));
    CK_OK(mlopt_checkpoint_load_weights(ck, b));
    expect_same_models(a, b);
    /* No optimizer state was saved: loading one names the missing tensor. */
    mlopt_optimizer *o = NULL;
    CK_OK(mlopt_optimizer_create(b, &sgd, &o));
    CK_FAILS(mlopt_checkpoint_load_optimizer(ck, o), MLOPT_E_FORMAT, "optim.conv1.weight.momentum_buffer");
    mlopt_optimizer_destroy(o);
    mlopt_checkpoint_close(ck);
    mlopt_model_destroy(a);
    mlopt_model_destroy(b);
    mlopt_context_destroy(ctx);
    remove_dir(dir);
}
END_TEST

START_TEST(different_model_is_refused)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    mlopt_context *ctx = open_backend();
    mlopt_model *a = model_from_text(ctx, C, H, W, SPEC, 1);
    mlopt_optimizer *oa = NULL;
    CK_OK(mlopt_optimizer_create(a, &sgd, &oa));
    CK_OK(mlopt_checkpoint_save(path, a, oa, NULL, 0));
    mlopt_checkpoint *ck = NULL;
    CK_OK(mlopt_checkpoint_open(path, &ck));

    /* Wider first conv: the shape mismatch is named. */
    mlopt_model *wide = model_from_text(ctx, C, H, W, "conv 6 k=3\nflatten\nlinear 5\n", 1);
    CK_FAILS(mlopt_checkpoint_load_weights(ck, wide), MLOPT_E_FORMAT, "conv1.weight", "[4,1,3,3]", "[6,1,3,3]");
    /* A layer the checkpoint does not have. */
    mlopt_model *other = model_from_text(ctx, C, H, W, "flatten\nlinear 5 name=head\n", 1);
    CK_FAILS(mlopt_checkpoint_load_weights(ck, other), MLOPT_E_FORMAT, "head.weight", "different model");
    /* Optimizer state of another kind. */
    mlopt_model *same = model_from_text(ctx, C, H, W, SPEC, 3);
    mlopt_optimizer *ob = NULL;
    CK_OK(mlopt_optimizer_create(same, &adam, &ob));
    CK_FAILS(mlopt_checkpoint_load_optimizer(ck, ob), MLOPT_E_FORMAT, "exp_avg");
    mlopt_optimizer_destroy(ob);
    mlopt_model_destroy(same);
    mlopt_model_destroy(other);
    mlopt_model_destroy(wide);
    mlopt_checkpoint_close(ck);
    mlopt_optimizer_destroy(oa);
    mlopt_model_destroy(a);
    mlopt_context_destroy(ctx);
    remove_dir(dir);
}
END_TEST

static void write_prefix(const char *src, const char *dst, long keep)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ck_assert(in && out);
    for (long i = 0; i < keep; i++) {
        int ch = fgetc(in);
        ck_assert_int_ne(ch, EOF);
        fputc(ch, out);
    }
    fclose(in);
    fclose(out);
}

START_TEST(truncated_and_foreign_files_are_refused)
{
    char dir[256], path[512], cut[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    mlopt_context *ctx = open_backend();
    mlopt_model *a = model_from_text(ctx, C, H, W, SPEC, 1);
    CK_OK(mlopt_checkpoint_save(path, a, NULL, NULL, 0));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    long size = (long)st.st_size;
    long keeps[] = { 0, 4, 8, 20, size / 2, size - 1 };
    for (size_t k = 0; k < sizeof keeps / sizeof keeps[0]; k++) {
        write_prefix(path, cut, keeps[k]);
        mlopt_checkpoint *ck = (mlopt_checkpoint *)1;
        mlopt_status s = mlopt_checkpoint_open(cut, &ck);
        ck_assert_msg(s == MLOPT_E_FORMAT, "%ld of %ld bytes: %s: %s", keeps[k], size, mlopt_status_name(s),
                      mlopt_last_error());
        ck_assert_msg(strstr(mlopt_last_error(), "cut.safetensors") != NULL, "message lacks the file: %s",
                      mlopt_last_error());
        ck_assert_ptr_null(ck);
    }
    /* A file that does not exist is an I/O error naming it. */
    mlopt_checkpoint *ck = NULL;
    snprintf(cut, sizeof cut, "%s/missing.safetensors", dir);
    CK_FAILS(mlopt_checkpoint_open(cut, &ck), MLOPT_E_IO, "missing.safetensors");
    /* Saving into a directory that does not exist fails and leaves nothing. */
    snprintf(cut, sizeof cut, "%s/nodir/ck.safetensors", dir);
    mlopt_status s = mlopt_checkpoint_save(cut, a, NULL, NULL, 0);
    ck_assert_msg(s == MLOPT_E_IO, "save into a missing directory: %s", mlopt_status_name(s));
    char list[1024];
    ck_assert_msg(dir_entries(dir, list, sizeof list) == 2 && !strstr(list, ".tmp"), "the directory holds: %s",
                  list); /* ck and cut */
    mlopt_model_destroy(a);
    mlopt_context_destroy(ctx);
    remove_dir(dir);
}
END_TEST

/* A valid safetensors file without mlopt's metadata is not a checkpoint. */
START_TEST(plain_safetensors_is_not_a_checkpoint)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/plain.safetensors", dir);
    const char header[] = "{\"__metadata__\":{\"format\":\"pt\"}}";
    uint64_t len = sizeof header - 1;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(len >> (8 * i));
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(le, 1, 8, f);
    fwrite(header, 1, (size_t)len, f);
    fclose(f);
    mlopt_checkpoint *ck = NULL;
    CK_FAILS(mlopt_checkpoint_open(path, &ck), MLOPT_E_FORMAT, "plain.safetensors", "not an mlopt checkpoint");
    ck_assert_ptr_null(ck);
    remove_dir(dir);
}
END_TEST

/* A model whose parameters were never allocated cannot be saved or
 * loaded into: a clear error, not a NULL dereference. */
START_TEST(uninitialized_model_is_refused)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    mlopt_context *ctx = open_backend();
    mlopt_model *ready = model_from_text(ctx, 1, 2, 2, "flatten\nlinear 2\n", 1);
    CK_OK(mlopt_checkpoint_save(path, ready, NULL, NULL, 0));
    mlopt_model *m = NULL;
    CK_OK(mlopt_model_create(ctx, 1, 2, 2, &m));
    mlopt_layer_spec fl = { .kind = MLOPT_LAYER_FLATTEN }, lin = { .kind = MLOPT_LAYER_LINEAR, .out = 2 };
    CK_OK(mlopt_model_add(m, &fl));
    CK_OK(mlopt_model_add(m, &lin));
    char other[600];
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    CK_FAILS(mlopt_checkpoint_save(other, m, NULL, NULL, 0), MLOPT_E_INVALID, "initialized");
    mlopt_checkpoint *ck = NULL;
    CK_OK(mlopt_checkpoint_open(path, &ck));
    CK_FAILS(mlopt_checkpoint_load_weights(ck, m), MLOPT_E_INVALID, "initialized");
    mlopt_checkpoint_close(ck);
    mlopt_model_destroy(m);
    mlopt_model_destroy(ready);
    mlopt_context_destroy(ctx);
    remove_dir(dir);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("core_checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_test(tc, sgd_momentum_round_trip);
    tcase_add_test(tc, adam_round_trip);
    tcase_add_test(tc, resume_sgd_momentum);
    tcase_add_test(tc, resume_adam);
    tcase_add_test(tc, weights_only_into_same_structure);
    tcase_add_test(tc, different_model_is_refused);
    tcase_add_test(tc, truncated_and_foreign_files_are_refused);
    tcase_add_test(tc, plain_safetensors_is_not_a_checkpoint);
    tcase_add_test(tc, uninitialized_model_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(checkpoint_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
