/* Layer passes: Net2DeeperNet / Net2WiderNet leave outputs unchanged;
 * removable blocks of seed-cnn-deep:N are found and removing them keeps
 * shapes consistent (and the model trainable); activation swap; block
 * importance on real Fashion-MNIST when it is installed. */
#include "test_passes_util.h"

#define N 8

static mlopt_model *deep_model(mlopt_context *ctx, int blocks, uint64_t seed)
{
    char name[32];
    snprintf(name, sizeof name, "seed-cnn-deep:%d", blocks);
    mlopt_layer_spec *specs;
    int n;
    CK_OK(mlopt_spec_preset(name, &specs, &n));
    mlopt_model *m;
    CK_OK(mlopt_model_from_specs(ctx, 1, 28, 28, specs, n, seed, &m));
    free(specs);
    return m;
}

static void train_a_little(mlopt_model *m, const float *x)
{
    mlopt_optim_config oc = { .kind = MLOPT_OPTIM_SGD, .lr = 0.01f, .momentum = 0.9f };
    mlopt_optimizer *o;
    mlopt_trainer *t;
    CK_OK(mlopt_optimizer_create(m, &oc, &o));
    CK_OK(mlopt_trainer_create(m, o, N, &t));
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = i % 10;
    for (int s = 0; s < 3; s++)
        CK_OK(mlopt_trainer_train_step(t, x, labels, N, 0.01f));
    double loss;
    CK_OK(mlopt_trainer_read_metrics(t, &loss, NULL, NULL));
    ck_assert(isfinite(loss));
    mlopt_trainer_destroy(t);
    mlopt_optimizer_destroy(o);
}

START_TEST(net2deeper_preserves_outputs)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 28, 28, TUTORIAL_CNN, 2);
    float *x = test_images(N, 1, 28, 28, 1);
    float *y0 = test_forward(ctx, m, x, N, 1, 28, 28);
    int layers = mlopt_model_layer_count(m);
    CK_OK(mlopt_net2deeper(m, "act3", "fc_new"));   /* Linear(128,128) + ReLU after a ReLU */
    CK_OK(mlopt_net2deeper(m, "pool1", NULL));      /* 3x3 conv 32->32 + ReLU after ReLU+pool */
    ck_assert_int_eq(mlopt_model_layer_count(m), layers + 4);
    ck_assert_str_eq(mlopt_model_layer_spec(m, 3)->name, "deep1");
    ck_assert_int_eq(mlopt_model_layer_spec(m, 3)->kind, MLOPT_LAYER_CONV2D);
    ck_assert_int_eq(mlopt_model_layer_spec(m, 4)->kind, MLOPT_LAYER_ACTIVATION);
    float *y1 = test_forward(ctx, m, x, N, 1, 28, 28);
    double d = test_max_diff(y0, y1, (size_t)N * 10);
    ck_assert_msg(d < 1e-4, "Net2DeeperNet changed outputs by %g", d);
    /* After a linear (no ReLU before): identity without an activation. */
    CK_OK(mlopt_net2deeper(m, "fc2", "after_logits"));
    float *y2 = test_forward(ctx, m, x, N, 1, 28, 28);
    ck_assert_msg(test_max_diff(y0, y2, (size_t)N * 10) < 1e-4, "identity after logits changed outputs");
    CK_FAILS(mlopt_net2deeper(m, "nope", NULL), MLOPT_E_NOT_FOUND, "nope");
    CK_FAILS(mlopt_net2deeper(m, "fc1", "fc_new"), MLOPT_E_INVALID, "exists");
    train_a_little(m, x);
    free(x), free(y0), free(y1), free(y2);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(net2wider_preserves_outputs)
{
    mlopt_context *ctx = open_backend();
    const char *spec = "conv 8 k=3\nbatchnorm\nact relu\nmaxpool 2\nconv 16 k=3\nact relu\nmaxpool 2\nflatten\n"
                       "linear 32\nact relu\nlinear 10\n";
    mlopt_model *m = model_from_text(ctx, 1, 28, 28, spec, 5);
    float *x = test_images(N, 1, 28, 28, 2);
    float *y0 = test_forward(ctx, m, x, N, 1, 28, 28);
    CK_OK(mlopt_net2wider(m, "conv1", 13, 7));  /* through a batch-norm into conv2 */
    CK_OK(mlopt_net2wider(m, "conv2", 24, 7));  /* through flatten into fc1's columns */
    CK_OK(mlopt_net2wider(m, "fc1", 50, 7));    /* into fc2 */
    ck_assert_int_eq(mlopt_model_layer_spec(m, 0)->out, 13);
    float *y1 = test_forward(ctx, m, x, N, 1, 28, 28);
    double d = test_max_diff(y0, y1, (size_t)N * 10);
    ck_assert_msg(d < 1e-4, "Net2WiderNet changed outputs by %g", d);
    CK_FAILS(mlopt_net2wider(m, "fc1", 10, 1), MLOPT_E_INVALID, ">= 50");
    CK_FAILS(mlopt_net2wider(m, "fc2", 20, 1), MLOPT_E_INVALID, "output layer");
    train_a_little(m, x);
    free(x), free(y0), free(y1);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(remove_blocks_keeps_shapes)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = deep_model(ctx, 3, 1);
    mlopt_block b[8];
    int n;
    CK_OK(mlopt_removable_blocks(m, b, 8, &n));
    ck_assert_int_eq(n, 3); /* fc2..fc4: Linear(128,128)+ReLU; not fc1 (1600->128) nor the output */
    ck_assert_str_eq(b[0].name, "fc2");
    ck_assert_int_eq(b[0].end - b[0].start, 2);
    int layers = mlopt_model_layer_count(m);
    CK_OK(mlopt_remove_layers(m, b[1].start, b[1].end));
    CK_OK(mlopt_removable_blocks(m, b, 8, &n));
    ck_assert_int_eq(n, 2);
    CK_OK(mlopt_remove_layers(m, b[0].start, b[0].end));
    ck_assert_int_eq(mlopt_model_layer_count(m), layers - 4);
    ck_assert_int_eq(mlopt_model_num_classes(m), 10);
    for (int i = 1; i < mlopt_model_layer_count(m); i++) {
        int nd, sh[3];
        mlopt_model_layer_shape(m, i, &nd, sh);
        ck_assert(nd == 1 || nd == 3);
    }
    float *x = test_images(N, 1, 28, 28, 3);
    float *y = test_forward(ctx, m, x, N, 1, 28, 28);
    for (int i = 0; i < N * 10; i++)
        ck_assert(isfinite(y[i]));
    train_a_little(m, x);
    /* fc1 changes the shape: not removable */
    CK_FAILS(mlopt_remove_layers(m, 7, 9), MLOPT_E_INVALID, "shape");
    CK_FAILS(mlopt_remove_layers(m, 5, 99), MLOPT_E_INVALID, "outside");
    free(x), free(y);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(activation_swap)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 28, 28, TUTORIAL_CNN, 2);
    float *x = test_images(N, 1, 28, 28, 4);
    float *y0 = test_forward(ctx, m, x, N, 1, 28, 28);
    CK_OK(mlopt_model_set_activation(m, "leaky_relu:0.2"));
    ck_assert_int_eq(mlopt_model_layer_spec(m, 1)->act, MLOPT_ACT_LEAKY_RELU);
    ck_assert(fabsf(mlopt_model_layer_spec(m, 1)->alpha - 0.2f) < 1e-7f);
    float *y1 = test_forward(ctx, m, x, N, 1, 28, 28);
    ck_assert(test_max_diff(y0, y1, (size_t)N * 10) > 1e-4);
    CK_FAILS(mlopt_model_set_activation(m, "swishy"), MLOPT_E_NOT_FOUND, "swishy");
    free(x), free(y0), free(y1);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* Real data: importance of each block = accuracy drop when bypassed. */
START_TEST(importance_on_fashion_mnist)
{
    mlopt_dataset *ds;
    if (mlopt_dataset_load(NULL, "t10k", &ds) != MLOPT_OK) {
        fprintf(stderr, "skipping: %s\n", mlopt_last_error());
        return;
    }
    CK_OK(mlopt_dataset_truncate(ds, 512));
    float mean, std;
    mlopt_dataset_stats(ds, &mean, &std);
    mlopt_context *ctx = open_backend();
    mlopt_model *m = deep_model(ctx, 2, 1);
    /* Make block fc3 an exact identity: bypassing it costs nothing. */
    size_t n;
    float *w = test_param(m, "fc3.weight", &n), *b = test_param(m, "fc3.bias", &n);
    memset(w, 0, 128 * 128 * sizeof *w);
    memset(b, 0, 128 * sizeof *b);
    for (int i = 0; i < 128; i++)
        w[i * 128 + i] = 1.0f;
    test_set_param(m, "fc3.weight", w);
    test_set_param(m, "fc3.bias", b);
    mlopt_block blocks[4];
    double drops[4], base;
    int count;
    CK_OK(mlopt_block_importance(m, ds, mean, std, 256, &base, blocks, drops, 4, &count));
    ck_assert_int_eq(count, 2);
    ck_assert_str_eq(blocks[1].name, "fc3");
    ck_assert_msg(fabs(drops[1]) < 1e-9, "bypassing an identity block changed accuracy by %g", drops[1]);
    ck_assert_int_eq(mlopt_model_layer_count(m), 14); /* the model itself is untouched */
    free(w), free(b);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
    mlopt_dataset_destroy(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passes_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, net2deeper_preserves_outputs);
    tcase_add_test(tc, net2wider_preserves_outputs);
    tcase_add_test(tc, remove_blocks_keeps_shapes);
    tcase_add_test(tc, activation_swap);
    tcase_add_test(tc, importance_on_fashion_mnist);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
