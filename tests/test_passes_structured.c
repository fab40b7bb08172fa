/* Structured pruning: removing channels whose weights are all zero leaves
 * the outputs unchanged; consumers (next conv, batch-norm, flatten->linear
 * columns) are rewritten; parameter and FLOP counts of the tutorial CNN
 * match hand-computed values before and after halving it; bad arguments. */
#include "test_passes_util.h"

#define N 8

/* Zero filter/neuron c of layer (weights and bias): its ReLU output is 0. */
static void zero_channel(mlopt_model *m, const char *layer, int c)
{
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", layer);
    snprintf(bn, sizeof bn, "%s.bias", layer);
    size_t nw, nb;
    float *w = test_param(m, wn, &nw), *b = test_param(m, bn, &nb);
    size_t row = nw / nb;
    for (size_t j = 0; j < row; j++)
        w[(size_t)c * row + j] = 0.0f;
    b[c] = 0.0f;
    test_set_param(m, wn, w);
    test_set_param(m, bn, b);
    free(w), free(b);
}

static int width_of(mlopt_model *m, const char *name)
{
    for (int i = 0; i < mlopt_model_layer_count(m); i++)
        if (strcmp(mlopt_model_layer_spec(m, i)->name, name) == 0)
            return mlopt_model_layer_spec(m, i)->out;
    return -1;
}

START_TEST(zero_channels_removed_without_change)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 28, 28, TUTORIAL_CNN, 3);
    float *x = test_images(N, 1, 28, 28, 5);
    int zc1[] = { 0, 5, 31 }, zc2[] = { 1, 2, 40, 63 }, zf[] = { 7, 100 };
    for (int i = 0; i < 3; i++)
        zero_channel(m, "conv1", zc1[i]);
    for (int i = 0; i < 4; i++)
        zero_channel(m, "conv2", zc2[i]);
    for (int i = 0; i < 2; i++)
        zero_channel(m, "fc1", zf[i]);
    float *y0 = test_forward(ctx, m, x, N, 1, 28, 28);
    /* L1 scores put exactly the zeroed channels last... */
    float sc[64];
    CK_OK(mlopt_channel_scores(m, "conv2", MLOPT_CHANNEL_L1, NULL, sc));
    for (int i = 0; i < 4; i++)
        ck_assert(sc[zc2[i]] == 0.0f);
    ck_assert(sc[3] > 0.0f);
    /* ...so layer-scope structured pruning of that many removes them. */
    const char *l1[1] = { "conv1" };
    mlopt_structured_config c = { .score = MLOPT_CHANNEL_L2, .amount = 3.0 / 32, .layers = l1, .nlayers = 1 };
    CK_OK(mlopt_prune_structured(m, &c));
    ck_assert_int_eq(width_of(m, "conv1"), 29);
    int keep2[60], k = 0;
    for (int ch = 0; ch < 64; ch++)
        if (ch != 1 && ch != 2 && ch != 40 && ch != 63)
            keep2[k++] = ch;
    CK_OK(mlopt_keep_channels(m, "conv2", keep2, k));
    int keepf[126];
    k = 0;
    for (int ch = 0; ch < 128; ch++)
        if (ch != 7 && ch != 100)
            keepf[k++] = ch;
    CK_OK(mlopt_keep_channels(m, "fc1", keepf, k));
    ck_assert_int_eq(width_of(m, "conv2"), 60);
    ck_assert_int_eq(width_of(m, "fc1"), 126);
    size_t n;
    float *w = test_param(m, "fc1.weight", &n);
    ck_assert_uint_eq(n, (size_t)126 * 60 * 25); /* flatten: 60 channels x 5x5 */
    free(w);
    float *y1 = test_forward(ctx, m, x, N, 1, 28, 28);
    double d = test_max_diff(y0, y1, (size_t)N * 10);
    ck_assert_msg(d < 1e-4, "outputs changed by %g", d);
    free(x), free(y0), free(y1);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* With batch-norm: channels with gamma = beta = 0 output 0 after BN+ReLU;
 * BN parameters and running statistics are cut along with the filters. */
START_TEST(batchnorm_consumers)
{
    mlopt_context *ctx = open_backend();
    const char *spec = "conv 8 k=3\nbatchnorm\nact relu\nmaxpool 2\nconv 6 k=3\nbatchnorm\nact relu\nflatten\nlinear 5\n";
    mlopt_model *m = model_from_text(ctx, 1, 12, 12, spec, 4);
    size_t n;
    float *g = test_param(m, "bn1.weight", &n);
    float rm[8];
    for (int i = 0; i < 8; i++)
        rm[i] = 0.1f * (float)i, g[i] = 1.0f + 0.5f * (float)i;
    g[2] = 0.0f, g[6] = 0.0f; /* beta is zero at init */
    test_set_param(m, "bn1.weight", g);
    test_set_param(m, "bn1.running_mean", rm);
    float *x = test_images(N, 1, 12, 12, 6);
    float *y0 = test_forward(ctx, m, x, N, 1, 12, 12);
    mlopt_structured_config c = { .score = MLOPT_CHANNEL_BN, .amount = 0.25 };
    const char *only[1] = { "conv1" };
    c.layers = only, c.nlayers = 1;
    CK_OK(mlopt_prune_structured(m, &c));
    ck_assert_int_eq(width_of(m, "conv1"), 6);
    float *rm2 = test_param(m, "bn1.running_mean", &n);
    ck_assert_uint_eq(n, 6);
    float want[6] = { 0.0f, 0.1f, 0.3f, 0.4f, 0.5f, 0.7f };
    for (int i = 0; i < 6; i++)
        ck_assert(fabsf(rm2[i] - want[i]) < 1e-7f);
    float *y1 = test_forward(ctx, m, x, N, 1, 12, 12);
    ck_assert_msg(test_max_diff(y0, y1, (size_t)N * 5) < 1e-4, "outputs changed");
    free(g), free(rm2), free(x), free(y0), free(y1);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

static void layer_counts(mlopt_model *m, const char *name, uint64_t *params, uint64_t *flops)
{
    for (int i = 0; i < mlopt_model_layer_count(m); i++)
        if (strcmp(mlopt_model_layer_spec(m, i)->name, name) == 0) {
            mlopt_layer_stats st;
            mlopt_model_layer_stats(m, i, &st);
            *params = st.params;
            *flops = st.flops;
            return;
        }
    ck_abort_msg("no layer %s", name);
}

static void expect_layer(mlopt_model *m, const char *name, uint64_t params, uint64_t flops)
{
    uint64_t p, f;
    layer_counts(m, name, &p, &f);
    ck_assert_msg(p == params && f == flops, "%s: %llu params, %llu FLOPs; expected %llu, %llu", name,
                  (unsigned long long)p, (unsigned long long)f, (unsigned long long)params, (unsigned long long)flops);
}

START_TEST(tutorial_cnn_counts)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 28, 28, TUTORIAL_CNN, 1);
    /* conv1: 32*1*9 + 32; conv2: 64*32*9 + 64; fc1: 1600*128 + 128; fc2: 128*10 + 10 */
    expect_layer(m, "conv1", 320, 2ull * 32 * 26 * 26 * 9);
    expect_layer(m, "conv2", 18496, 2ull * 64 * 11 * 11 * 32 * 9);
    expect_layer(m, "fc1", 204928, 2ull * 1600 * 128);
    expect_layer(m, "fc2", 1290, 2ull * 128 * 10);
    mlopt_model_summary s;
    CK_OK(mlopt_model_summarize(m, &s));
    ck_assert_uint_eq(s.params, 320 + 18496 + 204928 + 1290);
    mlopt_structured_config c = { .score = MLOPT_CHANNEL_L1, .amount = 0.5 };
    CK_OK(mlopt_prune_structured(m, &c));
    /* conv1 16 filters: 16*9+16; conv2 32 of 16: 32*16*9+32; fc1 64 of 32*5*5: 800*64+64; fc2: 64*10+10 */
    expect_layer(m, "conv1", 160, 2ull * 16 * 26 * 26 * 9);
    expect_layer(m, "conv2", 4640, 2ull * 32 * 11 * 11 * 16 * 9);
    expect_layer(m, "fc1", 51264, 2ull * 800 * 64);
    expect_layer(m, "fc2", 650, 2ull * 64 * 10);
    CK_OK(mlopt_model_summarize(m, &s));
    ck_assert_uint_eq(s.params, 160 + 4640 + 51264 + 650);
    ck_assert_uint_eq(s.nonzeros, s.params);
    /* The whole-model FLOPs include activations and pools: conv/linear dominate. */
    ck_assert_uint_ge(s.flops, 2ull * (16 * 26 * 26 * 9 + 32 * 11 * 11 * 16 * 9 + 800 * 64 + 64 * 10));
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(bad_arguments)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 28, 28, TUTORIAL_CNN, 1);
    mlopt_structured_config c = { .score = MLOPT_CHANNEL_L1, .amount = 1.0 };
    CK_FAILS(mlopt_prune_structured(m, &c), MLOPT_E_INVALID, "[0, 1)");
    c.amount = -0.1;
    CK_FAILS(mlopt_prune_structured(m, &c), MLOPT_E_INVALID, "[0, 1)");
    c.amount = 0.5;
    const char *out[1] = { "fc2" }, *unknown[1] = { "conv9" }, *act[1] = { "act1" };
    c.layers = out, c.nlayers = 1;
    CK_FAILS(mlopt_prune_structured(m, &c), MLOPT_E_INVALID, "fc2", "output layer");
    c.layers = unknown;
    CK_FAILS(mlopt_prune_structured(m, &c), MLOPT_E_NOT_FOUND, "conv9");
    c.layers = act;
    CK_FAILS(mlopt_prune_structured(m, &c), MLOPT_E_INVALID, "act1");
    int none[1] = { 0 };
    CK_FAILS(mlopt_keep_channels(m, "conv1", none, 0), MLOPT_E_INVALID, "zero width");
    c.score = MLOPT_CHANNEL_BN, c.layers = NULL;
    CK_FAILS(mlopt_prune_structured(m, &c), MLOPT_E_INVALID, "batch-norm");
    /* A failed pass leaves the model untouched. */
    ck_assert_int_eq(mlopt_model_layer_spec(m, 0)->out, 32);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passes_structured");
    TCase *tc = tcase_create("structured");
    tcase_add_test(tc, zero_channels_removed_without_change);
    tcase_add_test(tc, batchnorm_consumers);
    tcase_add_test(tc, tutorial_cnn_counts);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
