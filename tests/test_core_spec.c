/* Model specs: presets, inferred shapes, parameter and FLOP counts,
 * activation swaps, the text format's round trip, and parse/shape errors
 * with "file:line:" messages. */
#include <pthread.h>

#include "test_core_util.h"

static mlopt_model *preset_model(mlopt_context *ctx, const char *name)
{
    mlopt_layer_spec *specs = NULL;
    int n = 0;
    CK_OK(mlopt_spec_preset(name, &specs, &n));
    mlopt_model *m = NULL;
    CK_OK(mlopt_model_from_specs(ctx, 1, 28, 28, specs, n, 42, &m));
    free(specs);
    return m;
}

static void expect_shape(const mlopt_model *m, int i, int ndim, int c, int h, int w)
{
    int nd, s[3];
    mlopt_model_layer_shape(m, i, &nd, s);
    ck_assert_msg(nd == ndim && s[0] == c && (ndim == 1 || (s[1] == h && s[2] == w)),
                  "layer %d (%s): shape %d:[%d,%d,%d], wanted %d:[%d,%d,%d]", i, mlopt_model_layer_spec(m, i)->name,
                  nd, s[0], s[1], s[2], ndim, c, h, w);
}

static uint64_t trainable_params(mlopt_model *m)
{
    uint64_t total = 0;
    int np = mlopt_model_param_count(m);
    for (int i = 0; i < np; i++) {
        int tr;
        mlopt_tensor *t = mlopt_model_param(m, i, NULL, &tr);
        if (tr)
            total += mlopt_tensor_numel(t);
    }
    return total;
}

START_TEST(seed_cnn_shapes_params_flops)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = preset_model(ctx, "seed-cnn");
    ck_assert_int_eq(mlopt_model_layer_count(m), 10);
    static const struct {
        mlopt_layer_kind kind;
        const char *name;
        int ndim, c, h, w;
        uint64_t params, flops;
    } want[] = {
        { MLOPT_LAYER_CONV2D, "conv1", 3, 32, 26, 26, 320, 2ull * 32 * 26 * 26 * 1 * 9 },
        { MLOPT_LAYER_ACTIVATION, "act1", 3, 32, 26, 26, 0, 32 * 26 * 26 },
        { MLOPT_LAYER_MAXPOOL2D, "pool1", 3, 32, 13, 13, 0, 32 * 13 * 13 * 4 },
        { MLOPT_LAYER_CONV2D, "conv2", 3, 64, 11, 11, 18496, 2ull * 64 * 11 * 11 * 32 * 9 },
        { MLOPT_LAYER_ACTIVATION, "act2", 3, 64, 11, 11, 0, 64 * 11 * 11 },
        { MLOPT_LAYER_MAXPOOL2D, "pool2", 3, 64, 5, 5, 0, 64 * 5 * 5 * 4 },
        { MLOPT_LAYER_FLATTEN, "flatten", 1, 1600, 0, 0, 0, 0 },
        { MLOPT_LAYER_LINEAR, "fc1", 1, 128, 0, 0, 204928, 2ull * 1600 * 128 },
        { MLOPT_LAYER_ACTIVATION, "act3", 1, 128, 0, 0, 0, 128 },
        { MLOPT_LAYER_LINEAR, "fc2", 1, 10, 0, 0, 1290, 2ull * 128 * 10 },
    };
    uint64_t total_params = 0, total_flops = 0;
    for (int i = 0; i < 10; i++) {
        const mlopt_layer_spec *s = mlopt_model_layer_spec(m, i);
        ck_assert_int_eq(s->kind, want[i].kind);
        ck_assert_str_eq(s->name, want[i].name);
        expect_shape(m, i, want[i].ndim, want[i].c, want[i].h, want[i].w);
        mlopt_layer_stats st;
        mlopt_model_layer_stats(m, i, &st);
        ck_assert_msg(st.params == want[i].params, "%s: %llu params, wanted %llu", want[i].name,
                      (unsigned long long)st.params, (unsigned long long)want[i].params);
        ck_assert_msg(st.flops == want[i].flops, "%s: %llu FLOPs, wanted %llu", want[i].name,
                      (unsigned long long)st.flops, (unsigned long long)want[i].flops);
        uint64_t out = (uint64_t)want[i].c * (want[i].ndim == 3 ? (uint64_t)want[i].h * want[i].w : 1);
        /* flatten's output is its input: no memory of its own. */
        ck_assert_uint_eq(st.activation_bytes, want[i].kind == MLOPT_LAYER_FLATTEN ? 0 : out * 4);
        total_params += st.params;
        total_flops += st.flops;
    }
    ck_assert_uint_eq(total_params, 225034);
    ck_assert_uint_eq(trainable_params(m), 225034);
    ck_assert_uint_eq(total_flops, 389376 + 21632 + 21632 + 4460544 + 7744 + 6400 + 409600 + 128 + 2560);
    ck_assert_int_eq(mlopt_model_num_classes(m), 10);
    ck_assert_int_eq(mlopt_model_param_count(m), 8);
    const char *name;
    int tr;
    mlopt_model_param(m, 0, &name, &tr);
    ck_assert_str_eq(name, "conv1.weight");
    mlopt_tensor *w = mlopt_model_find_param(m, "conv2.weight");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->ndim, 4);
    ck_assert(w->shape[0] == 64 && w->shape[1] == 32 && w->shape[2] == 3 && w->shape[3] == 3);
    ck_assert_ptr_null(mlopt_model_find_param(m, "conv9.weight"));
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), "conv9.weight"));
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(initialization_bounds)
{
    /* PyTorch's defaults: weights and biases within +-1/sqrt(fan_in). */
    mlopt_context *ctx = open_backend();
    mlopt_model *m = preset_model(ctx, "seed-cnn");
    static const struct {
        const char *name;
        int fan_in;
    } p[] = { { "conv1.weight", 9 }, { "conv1.bias", 9 }, { "conv2.weight", 288 }, { "fc1.weight", 1600 },
              { "fc2.bias", 128 } };
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++) {
        mlopt_tensor *t = mlopt_model_find_param(m, p[k].name);
        size_t n = mlopt_tensor_numel(t);
        float *h = malloc(n * sizeof *h);
        CK_OK(mlopt_tensor_download(t, h, n * sizeof *h));
        double bound = 1.0 / sqrt(p[k].fan_in), mx = 0, sum = 0;
        for (size_t i = 0; i < n; i++) {
            mx = fmax(mx, fabs(h[i]));
            sum += h[i];
        }
        ck_assert_msg(mx <= bound * (1 + 1e-6), "%s: |w| up to %g > %g", p[k].name, mx, bound);
        ck_assert_msg(mx > bound * (n > 100 ? 0.9 : 0.3), "%s: |w| only up to %g of %g", p[k].name, mx, bound);
        if (n > 1000)
            ck_assert_msg(fabs(sum / n) < 0.05 * bound, "%s: mean %g is not ~0", p[k].name, sum / n);
        free(h);
    }
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(seed_cnn_deep_adds_blocks)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = preset_model(ctx, "seed-cnn-deep:3");
    ck_assert_int_eq(mlopt_model_layer_count(m), 16);
    /* After fc1+act: three Linear(128,128)+ReLU blocks, then the classifier. */
    for (int b = 0; b < 3; b++) {
        const mlopt_layer_spec *l = mlopt_model_layer_spec(m, 9 + 2 * b);
        const mlopt_layer_spec *a = mlopt_model_layer_spec(m, 10 + 2 * b);
        ck_assert_int_eq(l->kind, MLOPT_LAYER_LINEAR);
        ck_assert_int_eq(l->out, 128);
        ck_assert_int_eq(a->kind, MLOPT_LAYER_ACTIVATION);
        ck_assert_int_eq(a->act, MLOPT_ACT_RELU);
        expect_shape(m, 9 + 2 * b, 1, 128, 0, 0);
    }
    ck_assert_int_eq(mlopt_model_layer_spec(m, 15)->out, 10);
    ck_assert_uint_eq(trainable_params(m), 225034 - 1290 + 3 * (128 * 128 + 128) + 1290);
    mlopt_model_destroy(m);
    mlopt_model *m0 = preset_model(ctx, "seed-cnn-deep:0");
    ck_assert_int_eq(mlopt_model_layer_count(m0), 10);
    mlopt_model_destroy(m0);
    mlopt_layer_spec *specs;
    int n;
    CK_FAILS(mlopt_spec_preset("seed-cnn-deep:x", &specs, &n), MLOPT_E_INVALID, "seed-cnn-deep:x");
    CK_FAILS(mlopt_spec_preset("seed-cnn-deep", &specs, &n), MLOPT_E_INVALID, "seed-cnn-deep:4");
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(seed_cnn_bn_layout)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = preset_model(ctx, "seed-cnn-bn");
    ck_assert_int_eq(mlopt_model_layer_count(m), 13);
    int bn_at[3] = { 1, 5, 10 };
    int bn_c[3] = { 32, 64, 128 };
    for (int k = 0; k < 3; k++) {
        const mlopt_layer_spec *s = mlopt_model_layer_spec(m, bn_at[k]);
        ck_assert_int_eq(s->kind, MLOPT_LAYER_BATCHNORM);
        char nm[64];
        snprintf(nm, sizeof nm, "bn%d.running_var", k + 1);
        mlopt_tensor *rv = mlopt_model_find_param(m, nm);
        ck_assert_msg(rv != NULL, "no %s", nm);
        ck_assert_int_eq((int)mlopt_tensor_numel(rv), bn_c[k]);
        float v[128];
        CK_OK(mlopt_tensor_download(rv, v, (size_t)bn_c[k] * sizeof(float)));
        ck_assert(v[0] == 1.0f && v[bn_c[k] - 1] == 1.0f);
    }
    /* Each batch-norm: weight + bias trainable, running stats not. */
    int np = mlopt_model_param_count(m), trainable = 0, buffers = 0;
    for (int i = 0; i < np; i++) {
        int tr;
        mlopt_model_param(m, i, NULL, &tr);
        trainable += tr;
        buffers += !tr;
        ck_assert((mlopt_model_grad(m, i) != NULL) == (tr != 0));
    }
    ck_assert_int_eq(trainable, 8 + 6);
    ck_assert_int_eq(buffers, 6);
    ck_assert_uint_eq(trainable_params(m), 225034 + 2 * (32 + 64 + 128));
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(activation_swap)
{
    mlopt_layer_spec *specs;
    int n;
    CK_OK(mlopt_spec_preset("seed-cnn", &specs, &n));
    CK_OK(mlopt_spec_set_activation(specs, n, "leaky_relu:0.01"));
    int acts = 0;
    for (int i = 0; i < n; i++)
        if (specs[i].kind == MLOPT_LAYER_ACTIVATION) {
            ck_assert_int_eq(specs[i].act, MLOPT_ACT_LEAKY_RELU);
            ck_assert_float_eq(specs[i].alpha, 0.01f);
            acts++;
        }
    ck_assert_int_eq(acts, 3);
    CK_OK(mlopt_spec_set_activation(specs, n, "gelu"));
    ck_assert_int_eq(specs[1].act, MLOPT_ACT_GELU);
    CK_FAILS(mlopt_spec_set_activation(specs, n, "sparkle"), MLOPT_E_NOT_FOUND, "sparkle", "relu");
    ck_assert_int_eq(specs[1].act, MLOPT_ACT_GELU); /* unchanged on error */
    CK_FAILS(mlopt_spec_set_activation(specs, n, "elu:abc"), MLOPT_E_INVALID, "abc");
    free(specs);

    int act;
    float a, b;
    CK_OK(mlopt_act_parse("hard_sigmoid", &act, &a, &b));
    ck_assert_int_eq(act, MLOPT_ACT_HARD_SIGMOID);
    CK_OK(mlopt_act_parse("LeakyReLU:0.2", &act, &a, &b));
    ck_assert_int_eq(act, MLOPT_ACT_LEAKY_RELU);
    ck_assert_float_eq(a, 0.2f);
    for (int k = 0; k < MLOPT_ACT_COUNT_; k++) {
        CK_OK(mlopt_act_parse(mlopt_act_name(k), &act, &a, &b));
        ck_assert_int_eq(act, k);
    }
}
END_TEST

/* 0 means the documented default: 1 for conv stride, dilation, groups;
 * the kernel size for pool strides. */
static int dflt(int v, int d)
{
    return v ? v : d;
}

static void expect_same_specs(const mlopt_layer_spec *a, int na, const mlopt_layer_spec *b, int nb)
{
    ck_assert_int_eq(na, nb);
    for (int i = 0; i < na; i++) {
        int sd = a[i].kind == MLOPT_LAYER_CONV2D ? 1 : a[i].kernel;
        ck_assert_msg(a[i].kind == b[i].kind && a[i].out == b[i].out && a[i].kernel == b[i].kernel &&
                          dflt(a[i].stride, sd) == dflt(b[i].stride, sd) && a[i].pad == b[i].pad &&
                          dflt(a[i].dilation, 1) == dflt(b[i].dilation, 1) &&
                          dflt(a[i].groups, 1) == dflt(b[i].groups, 1) && a[i].no_bias == b[i].no_bias &&
                          a[i].act == b[i].act &&
                          a[i].alpha == b[i].alpha && a[i].beta == b[i].beta && strcmp(a[i].name, b[i].name) == 0,
                      "layer %d differs after the round trip", i);
    }
}

START_TEST(format_parse_round_trip)
{
    static const char *const sources[] = {
        "seed-cnn",
        "seed-cnn-bn",
        "seed-cnn-deep:2",
        NULL,
    };
    static const char text[] = "# every option\n"
                               "conv 8 k=5 s=2 p=2 d=1 g=1 bias=0 name=stem\n"
                               "batchnorm eps=0.001 momentum=0.2\n"
                               "act leaky_relu 0.2\n"
                               "conv 8 k=3 p=2 d=2 g=4\n"
                               "act elu 0.5\n"
                               "maxpool 3 s=2 p=1\n"
                               "avgpool 2\n"
                               "conv2d 4 kernel=1 stride=1 pad=0\n"
                               "act hard_sigmoid 0.25\n"
                               "flatten\n"
                               "dropout 0.25\n"
                               "fc 32 bias=1   # trailing comment\n"
                               "\n"
                               "silu\n"
                               "act hard_swish\n"
                               "linear 10 bias=0 name=head\n";
    for (int k = 0; k <= 3; k++) {
        mlopt_layer_spec *a = NULL, *b = NULL;
        int na, nb;
        if (sources[k])
            CK_OK(mlopt_spec_preset(sources[k], &a, &na));
        else
            CK_OK(mlopt_spec_parse(text, "model.txt", &a, &na));
        char *t1 = NULL, *t2 = NULL;
        CK_OK(mlopt_spec_format(a, na, &t1));
        CK_OK(mlopt_spec_parse(t1, "formatted", &b, &nb));
        expect_same_specs(a, na, b, nb);
        CK_OK(mlopt_spec_format(b, nb, &t2));
        ck_assert_str_eq(t1, t2);
        free(t1);
        free(t2);
        free(a);
        free(b);
    }
    /* The text above describes a valid model of 10 outputs. */
    mlopt_layer_spec *s;
    int n;
    CK_OK(mlopt_spec_parse(text, "model.txt", &s, &n));
    ck_assert_int_eq(n, 15);
    mlopt_context *ctx = open_backend();
    mlopt_model *m;
    CK_OK(mlopt_model_from_specs(ctx, 8, 16, 16, s, n, 1, &m));
    ck_assert_int_eq(mlopt_model_num_classes(m), 10);
    ck_assert_str_eq(mlopt_model_layer_spec(m, 0)->name, "stem");
    ck_assert_ptr_nonnull(mlopt_model_find_param(m, "stem.weight"));
    ck_assert_ptr_null(mlopt_model_find_param(m, "stem.bias"));
    ck_assert_ptr_nonnull(mlopt_model_find_param(m, "head.weight"));
    expect_shape(m, 0, 3, 8, 8, 8);
    /* Specs as the model holds them (defaults filled in) also round-trip. */
    mlopt_layer_spec held[16];
    for (int i = 0; i < n; i++)
        held[i] = *mlopt_model_layer_spec(m, i);
    char *t1 = NULL;
    CK_OK(mlopt_spec_format(held, n, &t1));
    mlopt_layer_spec *back;
    int nback;
    CK_OK(mlopt_spec_parse(t1, "held", &back, &nback));
    mlopt_model *m2;
    CK_OK(mlopt_model_from_specs(ctx, 8, 16, 16, back, nback, 1, &m2));
    for (int i = 0; i < n; i++) {
        int nd1, nd2, s1[3], s2[3];
        mlopt_model_layer_shape(m, i, &nd1, s1);
        mlopt_model_layer_shape(m2, i, &nd2, s2);
        ck_assert(nd1 == nd2 && memcmp(s1, s2, sizeof s1) == 0);
    }
    free(t1);
    free(back);
    free(s);
    mlopt_model_destroy(m2);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* A hard-sigmoid with a non-default beta must survive formatting. */
START_TEST(format_keeps_hard_sigmoid_beta)
{
    mlopt_layer_spec s[2];
    memset(s, 0, sizeof s);
    s[0].kind = MLOPT_LAYER_FLATTEN;
    s[1].kind = MLOPT_LAYER_ACTIVATION;
    s[1].act = MLOPT_ACT_HARD_SIGMOID;
    s[1].alpha = 1.0f / 6.0f; /* PyTorch's Hardsigmoid: x/6 + 1/2 */
    s[1].beta = 0.25f;
    char *t = NULL;
    mlopt_layer_spec *back = NULL;
    int n;
    CK_OK(mlopt_spec_format(s, 2, &t));
    CK_OK(mlopt_spec_parse(t, "formatted", &back, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_msg(back[1].alpha == s[1].alpha && back[1].beta == s[1].beta,
                  "hard_sigmoid alpha/beta %g/%g came back as %g/%g from \"%s\"", (double)s[1].alpha,
                  (double)s[1].beta, (double)back[1].alpha, (double)back[1].beta, t);
    free(t);
    free(back);
}
END_TEST

static const struct spec_error {
    const char *text;
    const char *fragments[3];
} spec_errors[] = {
    { "conv 8 k=3\nact relu\nfoo 3\n", { "model.txt:3: expected a layer", "'foo'" } },
    { "conv 8 k=3\nact relu\nconv 8\n", { "model.txt:3: expected k=" } },
    { "conv 8 k=3\nact relu\nconv x k=3\n", { "model.txt:3: expected `conv <out channels>" } },
    { "conv 8 k=3\nact relu\nconv 8 k=abc\n", { "model.txt:3: expected k=<positive integer>", "'abc'" } },
    { "conv 8 k=3\nact relu\nconv 8 k=0\n", { "model.txt:3:", "k=" } },
    { "conv 8 k=3\nact relu\nconv 8 k=3 p=-1\n", { "model.txt:3:", "p=<non-negative integer>" } },
    { "conv 8 k=3\nact relu\nlinear -4\n", { "model.txt:3: expected `linear <out features>`" } },
    { "conv 8 k=3\nact relu\ndropout 1.5\n", { "model.txt:3: expected `dropout <probability" } },
    { "conv 8 k=3\nact relu\nmaxpool\n", { "model.txt:3: expected `maxpool <kernel size>`" } },
    { "conv 8 k=3\nact relu\nconv 8 k=3 q=1\n", { "model.txt:3: unknown option 'q'" } },
    { "conv 8 k=3\nact relu\nlinear 8 k=3\n", { "model.txt:3: unknown option 'k'" } },
    { "conv 8 k=3\nact relu\nconv 8 k=3 bias=2\n", { "model.txt:3: expected bias=0 or bias=1" } },
    { "conv 8 k=3\nact relu\nconv 8 k=3 stride\n", { "model.txt:3: expected key=value" } },
    { "conv 8 k=3\nact relu\nact sparkle\n", { "model.txt:3:", "sparkle" } },
    { "conv 8 k=3\nact relu\nact elu x\n", { "model.txt:3: expected a number", "'x'" } },
    { "conv 8 k=3\nact relu\nbatchnorm eps=-1\n", { "model.txt:3: expected eps=" } },
    { "# only a comment\n\n", { "model.txt: expected at least one layer" } },
};

START_TEST(parse_errors_name_file_and_line)
{
    const struct spec_error *e = &spec_errors[_i];
    mlopt_layer_spec *specs = (mlopt_layer_spec *)1;
    int n = -1;
    mlopt_status s = mlopt_spec_parse(e->text, "model.txt", &specs, &n);
    ck_assert_msg(s == MLOPT_E_FORMAT, "\"%s\" -> %s: %s", e->text, mlopt_status_name(s), mlopt_last_error());
    for (int k = 0; k < 3 && e->fragments[k]; k++)
        ck_assert_msg(strstr(mlopt_last_error(), e->fragments[k]) != NULL, "\"%s\": message lacks \"%s\": %s",
                      e->text, e->fragments[k], mlopt_last_error());
    ck_assert_ptr_null(specs);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(spec_load_file_and_presets)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.txt", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("conv 4 k=3\nact relu\nlinear 10\n", f);
    fclose(f);
    mlopt_layer_spec *specs;
    int n;
    CK_OK(mlopt_spec_load(path, &specs, &n));
    ck_assert_int_eq(n, 3);
    /* Parses, but the shapes do not fit: a linear straight after a conv. */
    mlopt_context *ctx = open_backend();
    mlopt_model *m = (mlopt_model *)1;
    CK_FAILS(mlopt_model_from_specs(ctx, 1, 8, 8, specs, n, 1, &m), MLOPT_E_INVALID, "layer 3", "fc1",
             "flatten");
    ck_assert_ptr_null(m);
    free(specs);
    /* A conv after a flatten. */
    CK_OK(mlopt_spec_parse("flatten\nconv 4 k=3\n", "x", &specs, &n));
    CK_FAILS(mlopt_model_from_specs(ctx, 1, 8, 8, specs, n, 1, &m), MLOPT_E_INVALID, "layer 2", "conv1",
             "image input");
    free(specs);
    /* A kernel larger than the image. */
    CK_OK(mlopt_spec_parse("conv 4 k=9\n", "x", &specs, &n));
    CK_FAILS(mlopt_model_from_specs(ctx, 1, 8, 8, specs, n, 1, &m), MLOPT_E_INVALID, "conv1", "does not fit");
    free(specs);
    /* groups must divide the channels. */
    CK_OK(mlopt_spec_parse("conv 4 k=3 g=3\n", "x", &specs, &n));
    CK_FAILS(mlopt_model_from_specs(ctx, 2, 8, 8, specs, n, 1, &m), MLOPT_E_INVALID, "groups=3");
    free(specs);
    mlopt_context_destroy(ctx);

    /* Errors in a file name the file. */
    f = fopen(path, "w");
    fputs("conv 4 k=3\n\nfrobnicate\n", f);
    fclose(f);
    char want[600];
    snprintf(want, sizeof want, "%s:3:", path);
    CK_FAILS(mlopt_spec_load(path, &specs, &n), MLOPT_E_FORMAT, want, "frobnicate");

    CK_OK(mlopt_spec_load("seed-cnn", &specs, &n));
    ck_assert_int_eq(n, 10);
    free(specs);
    CK_FAILS(mlopt_spec_load("no-such-preset", &specs, &n), MLOPT_E_NOT_FOUND, "no-such-preset", "seed-cnn");
    CK_FAILS(mlopt_spec_preset("resnet50", &specs, &n), MLOPT_E_NOT_FOUND, "resnet50");
    CK_FAILS(mlopt_spec_load("/nonexistent/dir/model.txt", &specs, &n), MLOPT_E_IO, "/nonexistent/dir/model.txt");
    remove_dir(dir);
}
END_TEST

START_TEST(model_building_errors)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = NULL;
    CK_FAILS(mlopt_model_create(ctx, 0, 28, 28, &m), MLOPT_E_INVALID, "0x28x28");
    CK_OK(mlopt_model_create(ctx, 1, 4, 4, &m));
    mlopt_layer_spec bn = { .kind = MLOPT_LAYER_BATCHNORM };
    CK_FAILS(mlopt_model_add(m, &bn), MLOPT_E_INVALID, "batch-norm", "first layer");
    mlopt_layer_spec fl = { .kind = MLOPT_LAYER_FLATTEN };
    mlopt_layer_spec lin = { .kind = MLOPT_LAYER_LINEAR, .out = 3, .name = "head" };
    CK_OK(mlopt_model_add(m, &fl));
    CK_OK(mlopt_model_add(m, &lin));
    CK_FAILS(mlopt_model_add(m, &lin), MLOPT_E_INVALID, "duplicate", "head");
    mlopt_tensor *logits;
    int xs[4] = { 1, 1, 4, 4 };
    mlopt_tensor *x;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, xs, &x));
    CK_FAILS(mlopt_model_forward(m, x, 0, &logits), MLOPT_E_INVALID, "not initialized");
    CK_OK(mlopt_model_init(m, 1));
    CK_FAILS(mlopt_model_add(m, &fl), MLOPT_E_INVALID, "after mlopt_model_init");
    int bad[4] = { 1, 2, 4, 4 };
    mlopt_tensor *xb;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, bad, &xb));
    CK_FAILS(mlopt_model_forward(m, xb, 0, &logits), MLOPT_E_INVALID, "[1,2,4,4]", "[n,1,4,4]");
    mlopt_tensor_destroy(xb);
    mlopt_tensor_destroy(x);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* Parsing is reentrant: tuning builds models on several threads at once.
 * (A strtok-based tokenizer mixed up the two threads' lines.) */
static const char *const thread_specs[2] = {
    "conv 8 k=3 s=2 p=1\nact relu\nmaxpool 2\nflatten\nlinear 10\n",
    "linear 7 bias=0\ndropout 0.25\nact leaky_relu 0.2\nbatchnorm eps=0.001\n",
};

static void *parse_many(void *arg)
{
    long id = (long)arg, bad = 0;
    for (int i = 0; i < 4000; i++) {
        mlopt_layer_spec *s;
        int n;
        if (mlopt_spec_parse(thread_specs[id], "t", &s, &n) != MLOPT_OK) {
            bad++;
            continue;
        }
        if (id == 0)
            bad += n != 5 || s[0].kernel != 3 || s[0].stride != 2 || s[0].pad != 1 || s[4].out != 10;
        else
            bad += n != 4 || s[0].out != 7 || !s[0].no_bias || s[2].alpha != 0.2f || s[3].alpha != 0.001f;
        free(s);
    }
    return (void *)bad;
}

START_TEST(parsing_on_two_threads)
{
    pthread_t t[2];
    void *bad[2];
    for (long i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, parse_many, (void *)i), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], &bad[i]);
    ck_assert_msg(bad[0] == NULL && bad[1] == NULL, "wrong parses: %ld and %ld of 4000", (long)bad[0],
                  (long)bad[1]);
}
END_TEST

static Suite *spec_suite(void)
{
    Suite *s = suite_create("core_spec");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, seed_cnn_shapes_params_flops);
    tcase_add_test(tc, initialization_bounds);
    tcase_add_test(tc, seed_cnn_deep_adds_blocks);
    tcase_add_test(tc, seed_cnn_bn_layout);
    tcase_add_test(tc, activation_swap);
    tcase_add_test(tc, format_parse_round_trip);
    tcase_add_test(tc, format_keeps_hard_sigmoid_beta);
    tcase_add_loop_test(tc, parse_errors_name_file_and_line, 0, (int)(sizeof spec_errors / sizeof spec_errors[0]));
    tcase_add_test(tc, spec_load_file_and_presets);
    tcase_add_test(tc, model_building_errors);
    tcase_add_test(tc, parsing_on_two_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
