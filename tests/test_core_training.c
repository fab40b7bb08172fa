/* Training through the public API: a small model learns a synthetic,
 * separable 4-class problem with SGD+momentum, Adam and AdamW; runs are
 * deterministic; optimizer updates match PyTorch's formulas; learning-rate
 * schedules match hand-computed values. */
#include "test_core_util.h"

#define CLASSES 4
#define SIDE 8
#define PIXELS (SIDE * SIDE)
#define BATCH 16
#define STEPS 240
#define EVAL_N 256

/* Class patterns: a horizontal line, a vertical line, the diagonal, a
 * centre block; plus Gaussian noise. */
static void make_sample(test_rng *r, int label, float *img)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int on = (label == 0 && y == 2) || (label == 1 && x == 5) || (label == 2 && x == y) ||
                     (label == 3 && x >= 3 && x <= 4 && y >= 3 && y <= 4);
            img[y * SIDE + x] = (float)((on ? 1.5 : 0.0) + 0.4 * test_rng_normal(r));
        }
}

static void make_batch(test_rng *r, int n, float *images, int32_t *labels)
{
    for (int i = 0; i < n; i++) {
        labels[i] = (int32_t)(test_rng_next(r) % CLASSES);
        make_sample(r, labels[i], images + (size_t)i * PIXELS);
    }
}

typedef struct run_result {
    double initial_loss, final_loss, final_acc;
    double window_loss[STEPS / 20];
    float weights[4096];
    size_t nweights;
} run_result;

static void eval_set(mlopt_trainer *t, const float *images, const int32_t *labels, double *loss, double *acc)
{
    double l, c;
    long long n;
    CK_OK(mlopt_trainer_read_metrics(t, NULL, NULL, NULL)); /* drop anything pending */
    for (int i = 0; i < EVAL_N; i += BATCH)
        CK_OK(mlopt_trainer_eval_step(t, images + (size_t)i * PIXELS, labels + i, BATCH, NULL));
    CK_OK(mlopt_trainer_read_metrics(t, &l, &c, &n));
    ck_assert_int_eq(n, EVAL_N);
    *loss = l / n;
    *acc = c / n;
}

/* 0: train() runs every layer as written (mlopt_model_set_rewrites). */
static int rewrites = 1;

static void train(const char *spec, const mlopt_optim_config *cfg, uint64_t seed, run_result *res)
{
    memset(res, 0, sizeof *res);
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, SIDE, SIDE, spec, seed);
    mlopt_model_set_rewrites(m, rewrites);
    mlopt_optimizer *o = NULL;
    CK_OK(mlopt_optimizer_create(m, cfg, &o));
    mlopt_trainer *t = NULL;
    CK_OK(mlopt_trainer_create(m, o, BATCH, &t));

    static float eval_images[EVAL_N * PIXELS];
    static int32_t eval_labels[EVAL_N];
    test_rng er = { 1234 };
    make_batch(&er, EVAL_N, eval_images, eval_labels);
    double acc;
    eval_set(t, eval_images, eval_labels, &res->initial_loss, &acc);

    test_rng r = { seed ^ 0xABCDEF };
    float images[BATCH * PIXELS];
    int32_t labels[BATCH];
    for (int s = 0; s < STEPS; s++) {
        make_batch(&r, BATCH, images, labels);
        CK_OK(mlopt_trainer_train_step(t, images, labels, BATCH, cfg->lr));
        if ((s + 1) % 20 == 0) {
            double l, c;
            long long n;
            CK_OK(mlopt_trainer_read_metrics(t, &l, &c, &n));
            ck_assert_int_eq(n, 20 * BATCH);
            ck_assert(c >= 0 && c <= n);
            res->window_loss[s / 20] = l / n;
        }
    }
    ck_assert_int_eq(mlopt_optimizer_steps(o), STEPS);
    eval_set(t, eval_images, eval_labels, &res->final_loss, &res->final_acc);

    int np = mlopt_model_param_count(m);
    for (int i = 0; i < np; i++) {
        mlopt_tensor *p = mlopt_model_param(m, i, NULL, NULL);
        size_t n = mlopt_tensor_numel(p);
        ck_assert_uint_le(res->nweights + n, sizeof res->weights / sizeof res->weights[0]);
        CK_OK(mlopt_tensor_download(p, res->weights + res->nweights, n * sizeof(float)));
        res->nweights += n;
    }
    mlopt_trainer_destroy(t);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}

static const char *const conv_model = "conv 4 k=3\nact relu\nmaxpool 2\nflatten\nlinear 4\n";

static void expect_learned(const run_result *r, const char *what)
{
    if (getenv("TRAIN_DEBUG")) /* TRAIN_DEBUG=1 prints the numbers checked */
        fprintf(stderr, "%s: held-out loss %.4f -> %.4f, accuracy %.4f; training loss %.4f -> %.4f\n", what,
                r->initial_loss, r->final_loss, r->final_acc, r->window_loss[0], r->window_loss[STEPS / 20 - 1]);
    ck_assert_msg(r->initial_loss > 1.0, "%s: initial loss %.4f is not near ln 4", what, r->initial_loss);
    ck_assert_msg(r->final_loss < r->initial_loss / 10, "%s: loss %.4f -> %.4f, wanted a 10x drop", what,
                  r->initial_loss, r->final_loss);
    ck_assert_msg(r->final_acc >= 0.98, "%s: held-out accuracy %.3f", what, r->final_acc);
    int nw = STEPS / 20;
    ck_assert_msg(r->window_loss[nw - 1] < r->window_loss[0] / 4, "%s: training loss %.4f -> %.4f", what,
                  r->window_loss[0], r->window_loss[nw - 1]);
}

START_TEST(sgd_momentum_learns)
{
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f };
    static run_result r;
    train(conv_model, &cfg, 1, &r);
    expect_learned(&r, "SGD momentum");
}
END_TEST

START_TEST(adam_learns)
{
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_ADAM, .lr = 0.01f };
    static run_result r;
    train(conv_model, &cfg, 2, &r);
    expect_learned(&r, "Adam");
}
END_TEST

START_TEST(adamw_learns)
{
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.01f };
    static run_result r;
    train(conv_model, &cfg, 3, &r);
    expect_learned(&r, "AdamW");
}
END_TEST

START_TEST(linear_model_learns)
{
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .nesterov = 1 };
    static run_result r;
    train("flatten\nlinear 4\n", &cfg, 4, &r);
    expect_learned(&r, "linear, Nesterov SGD");
}
END_TEST

START_TEST(same_seed_same_run)
{
    /* Dropout and batch-norm included: masks come from the seed and step. */
    const char *spec = "conv 4 k=3\nbatchnorm\nact relu\nmaxpool 2\nflatten\ndropout 0.2\nlinear 4\n";
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f };
    static run_result a, b, c;
    train(spec, &cfg, 5, &a);
    train(spec, &cfg, 5, &b);
    for (int i = 0; i < STEPS / 20; i++)
        ck_assert_msg(a.window_loss[i] == b.window_loss[i], "window %d: loss %.9g vs %.9g", i, a.window_loss[i],
                      b.window_loss[i]);
    ck_assert(a.final_loss == b.final_loss);
    ck_assert_uint_eq(a.nweights, b.nweights);
    ck_assert_msg(memcmp(a.weights, b.weights, a.nweights * sizeof(float)) == 0, "weights differ");
    /* A different seed is a different run. */
    train(spec, &cfg, 6, &c);
    ck_assert(memcmp(a.weights, c.weights, a.nweights * sizeof(float)) != 0);
}
END_TEST

/* ReLU then max-pool runs as max-pool then ReLU (core/model_relu_pool.c):
 * the same losses and weights, bit for bit, as running the layers as
 * written, including overlapping windows (3x3 stride 1), a pool after
 * batch-norm + ReLU, and a ReLU that is not followed by a pool. */
START_TEST(relu_pool_swap_changes_no_bit)
{
    static const char *const specs[] = {
        "conv 4 k=3\nact relu\nmaxpool 2\nflatten\nlinear 4\n",
        "conv 4 k=3 p=1\nact relu\nmaxpool 3 s=1\nconv 6 k=3\nbatchnorm\nact relu\nmaxpool 2\nflatten\n"
        "linear 8\nact relu\nlinear 4\n",
    };
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f };
    static run_result a, b;
    for (int k = 0; k < 2; k++) {
        rewrites = 1;
        train(specs[k], &cfg, 7, &a);
        rewrites = 0;
        train(specs[k], &cfg, 7, &b);
        rewrites = 1;
        for (int i = 0; i < STEPS / 20; i++)
            ck_assert_msg(a.window_loss[i] == b.window_loss[i], "model %d window %d: loss %.9g vs %.9g", k, i,
                          a.window_loss[i], b.window_loss[i]);
        ck_assert(a.final_loss == b.final_loss && a.final_acc == b.final_acc);
        ck_assert_uint_eq(a.nweights, b.nweights);
        ck_assert_msg(memcmp(a.weights, b.weights, a.nweights * sizeof(float)) == 0, "model %d: weights differ", k);
        /* and it learned: the comparison is not between two untrained models */
        ck_assert_msg(a.final_loss < a.initial_loss / 4, "model %d: loss %.4f -> %.4f", k, a.initial_loss,
                      a.final_loss);
    }
}
END_TEST

/* ---- optimizer updates against PyTorch's formulas ---- */

/* Linear(1 -> 3, no bias) on the input [1]: d loss / d W = dlogits, so the
 * gradient of each step is exactly what we upload. */
typedef struct opt_rig {
    mlopt_context *ctx;
    mlopt_model *m;
    mlopt_tensor *x, *d, *w;
    mlopt_optimizer *o;
} opt_rig;

static void rig_open(opt_rig *r, const mlopt_optim_config *cfg, const float w0[3])
{
    r->ctx = open_backend();
    r->m = model_from_text(r->ctx, 1, 1, 1, "flatten\nlinear 3 bias=0\n", 1);
    int xs[4] = { 1, 1, 1, 1 }, ds[2] = { 1, 3 };
    CK_OK(mlopt_tensor_create(r->ctx, MLOPT_F32, 4, xs, &r->x));
    CK_OK(mlopt_tensor_fill(r->x, 1.0f));
    CK_OK(mlopt_tensor_create(r->ctx, MLOPT_F32, 2, ds, &r->d));
    r->w = mlopt_model_find_param(r->m, "fc1.weight");
    ck_assert_ptr_nonnull(r->w);
    CK_OK(mlopt_tensor_upload(r->w, w0, 3 * sizeof(float)));
    CK_OK(mlopt_optimizer_create(r->m, cfg, &r->o));
}

static void rig_step(opt_rig *r, const float g[3], float lr, float out[3])
{
    mlopt_tensor *logits;
    CK_OK(mlopt_model_forward(r->m, r->x, 1, &logits));
    CK_OK(mlopt_tensor_upload(r->d, g, 3 * sizeof(float)));
    CK_OK(mlopt_model_backward(r->m, r->d));
    CK_OK(mlopt_optimizer_step(r->o, lr));
    CK_OK(mlopt_tensor_download(r->w, out, 3 * sizeof(float)));
}

static void rig_close(opt_rig *r)
{
    mlopt_optimizer_destroy(r->o);
    mlopt_tensor_destroy(r->x);
    mlopt_tensor_destroy(r->d);
    mlopt_model_destroy(r->m);
    mlopt_context_destroy(r->ctx);
}

static const float w0[3] = { 0.5f, -1.0f, 2.0f };
static const float grads[3][3] = { { 0.1f, -0.2f, 0.3f }, { -0.4f, 0.5f, 0.25f }, { 0.05f, 0.0f, -0.6f } };

/* Host reference in double. */
static void ref_sgd(double w[3], double v[3], int first, const float g[3], double lr, double mom, double damp,
                    double wd, int nesterov)
{
    for (int i = 0; i < 3; i++) {
        double gp = g[i] + wd * w[i];
        v[i] = first ? gp : mom * v[i] + (1 - damp) * gp;
        double d = mom == 0 ? gp : nesterov ? gp + mom * v[i] : v[i];
        w[i] -= lr * d;
    }
}

static void ref_adam(double w[3], double m[3], double v[3], int t, const float g[3], double lr, double b1,
                     double b2, double eps, double wd, int decoupled)
{
    for (int i = 0; i < 3; i++) {
        double gp = g[i];
        if (decoupled)
            w[i] *= 1 - lr * wd;
        else
            gp += wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * gp;
        v[i] = b2 * v[i] + (1 - b2) * gp * gp;
        double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
        w[i] -= lr * mh / (sqrt(vh) + eps);
    }
}

static void expect_close(const float got[3], const double want[3], const char *what, int step)
{
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-5 * (1 + fabs(want[i])), "%s step %d w[%d]: %.8g, wanted %.8g",
                      what, step, i, (double)got[i], want[i]);
}

static const struct sgd_case {
    const char *what;
    float mom, damp, wd;
    int nesterov;
} sgd_cases[] = {
    { "plain SGD", 0, 0, 0, 0 },
    { "SGD momentum", 0.9f, 0, 0, 0 },
    { "SGD momentum dampening wd", 0.8f, 0.3f, 0.01f, 0 },
    { "SGD Nesterov wd", 0.9f, 0, 0.05f, 1 },
};

START_TEST(sgd_matches_pytorch)
{
    const struct sgd_case *c = &sgd_cases[_i];
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.1f, .momentum = c->mom, .dampening = c->damp,
                               .weight_decay = c->wd, .nesterov = c->nesterov };
    opt_rig r;
    rig_open(&r, &cfg, w0);
    ck_assert_int_eq(mlopt_optimizer_state_count(r.o), c->mom > 0 ? 1 : 0);
    double w[3] = { w0[0], w0[1], w0[2] }, v[3] = { 0 };
    for (int s = 0; s < 3; s++) {
        float lr = 0.1f / (float)(s + 1); /* the step's lr is what counts */
        float got[3];
        rig_step(&r, grads[s], lr, got);
        ref_sgd(w, v, s == 0, grads[s], lr, c->mom, c->damp, c->wd, c->nesterov);
        expect_close(got, w, c->what, s);
    }
    ck_assert_int_eq(mlopt_optimizer_steps(r.o), 3);
    rig_close(&r);
}
END_TEST

START_TEST(adam_and_adamw_match_pytorch)
{
    int decoupled = _i;
    mlopt_optim_config cfg = { .kind = decoupled ? MLOPT_OPTIM_ADAMW : MLOPT_OPTIM_ADAM, .lr = 0.05f,
                               .weight_decay = 0.1f };
    opt_rig r;
    rig_open(&r, &cfg, w0);
    ck_assert_int_eq(mlopt_optimizer_state_count(r.o), 2);
    char name[128];
    mlopt_optimizer_state(r.o, 0, name, sizeof name);
    ck_assert_str_eq(name, "fc1.weight.exp_avg");
    mlopt_optimizer_state(r.o, 1, name, sizeof name);
    ck_assert_str_eq(name, "fc1.weight.exp_avg_sq");
    double w[3] = { w0[0], w0[1], w0[2] }, m[3] = { 0 }, v[3] = { 0 };
    for (int s = 0; s < 3; s++) {
        float got[3];
        rig_step(&r, grads[s], 0.05f, got);
        /* Defaults: beta1 0.9, beta2 0.999, eps 1e-8. */
        ref_adam(w, m, v, s + 1, grads[s], 0.05f, 0.9, 0.999, 1e-8, 0.1f, decoupled);
        expect_close(got, w, decoupled ? "AdamW" : "Adam", s);
    }
    rig_close(&r);
}
END_TEST

START_TEST(optimizer_config_errors)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 1, 1, "flatten\nlinear 2\n", 1);
    mlopt_optimizer *o = NULL;
    mlopt_optim_config bad_lr = { .kind = MLOPT_OPTIM_SGD, .lr = -1 };
    CK_FAILS(mlopt_optimizer_create(m, &bad_lr, &o), MLOPT_E_INVALID, "learning rate");
    mlopt_optim_config bad_nesterov = { .kind = MLOPT_OPTIM_SGD, .lr = 0.1f, .nesterov = 1 };
    CK_FAILS(mlopt_optimizer_create(m, &bad_nesterov, &o), MLOPT_E_INVALID, "Nesterov");
    mlopt_optim_config bad_kind = { .kind = (mlopt_optim_kind)42, .lr = 0.1f };
    CK_FAILS(mlopt_optimizer_create(m, &bad_kind, &o), MLOPT_E_INVALID, "optimizer");
    ck_assert_ptr_null(o);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* ---- trainer errors ---- */

START_TEST(trainer_rejects_bad_batches)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, SIDE, SIDE, "flatten\nlinear 4\n", 1);
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.1f };
    mlopt_optimizer *o = NULL;
    CK_OK(mlopt_optimizer_create(m, &cfg, &o));
    mlopt_trainer *t = NULL, *ev = NULL;
    CK_FAILS(mlopt_trainer_create(m, o, 0, &t), MLOPT_E_INVALID, "batch");
    CK_OK(mlopt_trainer_create(m, o, 4, &t));
    float images[8 * PIXELS] = { 0 };
    int32_t labels[8] = { 0, 1, 2, 3, 0, 1, 2, 3 };
    CK_FAILS(mlopt_trainer_train_step(t, images, labels, 8, 0.1f), MLOPT_E_INVALID, "8", "1..4");
    int32_t bad[4] = { 0, 1, 4, 0 };
    CK_FAILS(mlopt_trainer_train_step(t, images, bad, 4, 0.1f), MLOPT_E_INVALID, "label 4", "sample 2");
    CK_OK(mlopt_trainer_create(m, NULL, 4, &ev));
    CK_FAILS(mlopt_trainer_train_step(ev, images, labels, 4, 0.1f), MLOPT_E_INVALID, "optimizer");
    int32_t preds[4];
    CK_OK(mlopt_trainer_eval_step(ev, images, labels, 4, preds));
    for (int i = 0; i < 4; i++)
        ck_assert(preds[i] >= 0 && preds[i] < 4);
    mlopt_trainer_destroy(ev);
    mlopt_trainer_destroy(t);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(nonfinite_loss_is_reported)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, SIDE, SIDE, "flatten\nlinear 4\n", 1);
    CK_OK(mlopt_tensor_fill(mlopt_model_find_param(m, "fc1.bias"), NAN));
    mlopt_trainer *t = NULL;
    CK_OK(mlopt_trainer_create(m, NULL, 4, &t));
    float images[4 * PIXELS] = { 0 };
    int32_t labels[4] = { 0, 1, 2, 3 };
    CK_OK(mlopt_trainer_eval_step(t, images, labels, 4, NULL));
    double loss;
    CK_FAILS(mlopt_trainer_read_metrics(t, &loss, NULL, NULL), MLOPT_E_NONFINITE, "NaN");
    mlopt_trainer_destroy(t);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* ---- schedules ---- */

static void expect_lr(const mlopt_schedule *s, long long step, double want)
{
    float got = mlopt_schedule_lr(s, step);
    ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want) + 1e-9, "schedule kind %d step %lld: lr %.9g, wanted %.9g",
                  (int)s->kind, step, (double)got, want);
}

START_TEST(schedule_values)
{
    mlopt_schedule c = { .kind = MLOPT_SCHED_CONSTANT, .base_lr = 0.1f };
    expect_lr(&c, 0, 0.1f);
    expect_lr(&c, 12345, 0.1f);
    /* Linear warm-up over 10 steps: step s (0-based) runs at base*(s+1)/10. */
    c.warmup_steps = 10;
    expect_lr(&c, 0, 0.1f * 1 / 10);
    expect_lr(&c, 4, 0.1f * 5 / 10);
    expect_lr(&c, 9, 0.1f);
    expect_lr(&c, 10, 0.1f);

    mlopt_schedule st = { .kind = MLOPT_SCHED_STEP, .base_lr = 0.1f, .step_size = 30, .gamma = 0.1f };
    expect_lr(&st, 0, 0.1);
    expect_lr(&st, 29, 0.1);
    expect_lr(&st, 30, 0.01);
    expect_lr(&st, 59, 0.01);
    expect_lr(&st, 65, 0.001);
    st.gamma = 0.5f;
    expect_lr(&st, 95, 0.1 * 0.125);
    /* After a warm-up the decay counts from the end of the warm-up. */
    st.gamma = 0.1f;
    st.warmup_steps = 5;
    expect_lr(&st, 2, 0.1 * 3 / 5);
    expect_lr(&st, 5, 0.1);
    expect_lr(&st, 34, 0.1);
    expect_lr(&st, 35, 0.01);

    mlopt_schedule cs = { .kind = MLOPT_SCHED_COSINE, .base_lr = 0.1f, .min_lr = 0.001f, .total_steps = 100 };
    double base = 0.1f, lo = 0.001f, pi = 3.14159265358979323846;
    expect_lr(&cs, 0, base);
    expect_lr(&cs, 25, lo + 0.5 * (base - lo) * (1 + cos(pi / 4)));
    expect_lr(&cs, 50, lo + 0.5 * (base - lo));
    expect_lr(&cs, 75, lo + 0.5 * (base - lo) * (1 + cos(3 * pi / 4)));
    expect_lr(&cs, 100, lo);
    expect_lr(&cs, 150, lo); /* stays at the floor */
    cs.warmup_steps = 10;
    expect_lr(&cs, 0, base / 10);
    expect_lr(&cs, 10, base);
    expect_lr(&cs, 55, lo + 0.5 * (base - lo)); /* halfway through the 90 cosine steps */
    expect_lr(&cs, 100, lo);
}
END_TEST

static Suite *training_suite(void)
{
    Suite *s = suite_create("core_training");
    TCase *tc = tcase_create("training");
    tcase_add_test(tc, sgd_momentum_learns);
    tcase_add_test(tc, adam_learns);
    tcase_add_test(tc, adamw_learns);
    tcase_add_test(tc, linear_model_learns);
    tcase_add_test(tc, same_seed_same_run);
    tcase_add_test(tc, relu_pool_swap_changes_no_bit);
    suite_add_tcase(s, tc);
    TCase *tu = tcase_create("updates");
    tcase_add_loop_test(tu, sgd_matches_pytorch, 0, (int)(sizeof sgd_cases / sizeof sgd_cases[0]));
    tcase_add_loop_test(tu, adam_and_adamw_match_pytorch, 0, 2);
    tcase_add_test(tu, optimizer_config_errors);
    tcase_add_test(tu, trainer_rejects_bad_batches);
    tcase_add_test(tu, nonfinite_loss_is_reported);
    tcase_add_test(tu, schedule_values);
    suite_add_tcase(s, tu);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(training_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
