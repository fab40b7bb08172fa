/* Knowledge distillation: the combined loss and its gradient against a
 * double-precision host reference with finite differences; the teacher is
 * never changed by a step; alpha 0 reproduces the plain trainer bit for
 * bit; the hint loss's gradient reaches the student's parameters; cpu,
 * opencl and vulkan give the same loss curve. */
#include "test_passes_util.h"

#define SIDE 8
#define BATCH 8
#define CLASSES 4
/* Batch-norm and dropout in the teacher: an accidental training-mode
 * forward would move its running statistics or its outputs. */
#define TEACHER "conv 6 k=3\nbatchnorm\nact relu\ndropout 0.3\nflatten\nlinear 24\nact relu\nlinear 4\n"
#define STUDENT "conv 3 k=3 name=sconv\nact tanh\nflatten\nlinear 12 name=sfc\nact tanh\nlinear 4\n"

/* ---- host reference of the combined loss (double) ---- */

static void softmax_d(const double *z, int k, double inv_t, double *p)
{
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < k; j++)
        mx = fmax(mx, z[j] * inv_t);
    for (int j = 0; j < k; j++)
        s += (p[j] = exp(z[j] * inv_t - mx));
    for (int j = 0; j < k; j++)
        p[j] /= s;
}

/* Batch mean of alpha T^2 KL(p_t || p_s) + (1 - alpha) CE. */
static double host_loss(const double *z, const double *t, const int32_t *y, int n, int k, double T, double alpha)
{
    double total = 0, ps[16], pt[16], p1[16];
    for (int i = 0; i < n; i++) {
        softmax_d(z + i * k, k, 1 / T, ps);
        softmax_d(t + i * k, k, 1 / T, pt);
        softmax_d(z + i * k, k, 1, p1);
        double kl = 0;
        for (int j = 0; j < k; j++)
            kl += pt[j] * (log(pt[j]) - log(ps[j]));
        total += alpha * T * T * kl + (1 - alpha) * -log(p1[y[i]]);
    }
    return total / n;
}

static mlopt_tensor *upload(mlopt_context *ctx, mlopt_dtype dt, int a, int b, const void *data)
{
    int shape[2] = { a, b };
    mlopt_tensor *t;
    CK_OK(mlopt_tensor_create(ctx, dt, b ? 2 : 1, shape, &t));
    if (data)
        CK_OK(mlopt_tensor_upload(t, data, mlopt_tensor_bytes(t)));
    return t;
}

START_TEST(loss_and_gradient_match_finite_differences)
{
    enum { N = 5, K = 7 };
    mlopt_context *ctx = open_backend();
    const double cases[][2] = { { 4, 0.9 }, { 1, 0.5 }, { 2.5, 1.0 }, { 3, 0.0 } };
    test_rng r = { 11 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double T = cases[c][0], alpha = cases[c][1];
        float zf[N * K], tf[N * K], zero[2] = { 0, 0 }, g[N * K], sums[2];
        double z[N * K], t[N * K];
        int32_t y[N];
        for (int i = 0; i < N * K; i++) {
            z[i] = zf[i] = (float)(2 * test_rng_normal(&r));
            t[i] = tf[i] = (float)(3 * test_rng_normal(&r));
        }
        for (int i = 0; i < N; i++)
            y[i] = (int32_t)(test_rng_next(&r) % K);
        mlopt_tensor *zs = upload(ctx, MLOPT_F32, N, K, zf), *ts = upload(ctx, MLOPT_F32, N, K, tf),
                     *ys = upload(ctx, MLOPT_I32, N, 0, y), *sm = upload(ctx, MLOPT_F32, 2, 0, zero),
                     *dl = upload(ctx, MLOPT_F32, N, K, NULL), *sc = upload(ctx, MLOPT_F32, N, K, NULL);
        CK_OK(mlopt_distill_loss(ctx, N, K, (float)T, (float)alpha, zs, ts, ys, sm, dl, sc));
        CK_OK(mlopt_tensor_download(dl, g, sizeof g));
        CK_OK(mlopt_tensor_download(sm, sums, sizeof sums));
        double device_loss = (alpha * T * T * sums[0] + (1 - alpha) * sums[1]) / N;
        double ref = host_loss(z, t, y, N, K, T, alpha);
        ck_assert_msg(fabs(device_loss - ref) <= 1e-5 * (1 + fabs(ref)), "T=%g alpha=%g: loss %.8g, host %.8g", T,
                      alpha, device_loss, ref);
        double worst = 0;
        for (int i = 0; i < N * K; i++) {
            const double h = 1e-5;
            double keep = z[i];
            z[i] = keep + h;
            double up = host_loss(z, t, y, N, K, T, alpha);
            z[i] = keep - h;
            double down = host_loss(z, t, y, N, K, T, alpha);
            z[i] = keep;
            double fd = (up - down) / (2 * h), err = fabs(fd - g[i]);
            ck_assert_msg(err <= 2e-6 + 1e-4 * fabs(fd), "T=%g alpha=%g: dL/dz[%d] = %.8g, finite differences %.8g",
                          T, alpha, i, (double)g[i], fd);
            worst = fmax(worst, err);
        }
        fprintf(stderr, "distill loss T=%g alpha=%g: loss error %.2g, worst gradient error %.2g\n", T, alpha,
                fabs(device_loss - ref), worst);
        mlopt_tensor *all[] = { zs, ts, ys, sm, dl, sc };
        for (int i = 0; i < 6; i++)
            mlopt_tensor_destroy(all[i]);
    }
    mlopt_context_destroy(ctx);
}
END_TEST

static void batch_of(int step, float **x, int32_t *labels)
{
    *x = test_images(BATCH, 1, SIDE, SIDE, 100 + (uint64_t)step);
    for (int i = 0; i < BATCH; i++)
        labels[i] = (i * 7 + step) % CLASSES;
}

static mlopt_distiller *distiller(mlopt_model *t, mlopt_model *s, mlopt_optimizer **o, float alpha, const char *ht,
                                  const char *hs)
{
    mlopt_optim_config oc = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f };
    CK_OK(mlopt_optimizer_create(s, &oc, o));
    mlopt_distill_config dc;
    mlopt_distill_defaults(&dc);
    dc.alpha = alpha;
    dc.hint_teacher = ht;
    dc.hint_student = hs;
    dc.hint_weight = 0.5f;
    mlopt_distiller *d;
    CK_OK(mlopt_distiller_create(t, s, *o, BATCH, &dc, &d));
    return d;
}

START_TEST(teacher_is_never_updated)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *t = model_from_text(ctx, 1, SIDE, SIDE, TEACHER, 3);
    mlopt_model *s = model_from_text(ctx, 1, SIDE, SIDE, STUDENT, 4);
    float *probe = test_images(BATCH, 1, SIDE, SIDE, 77);
    float *before = test_forward(ctx, t, probe, BATCH, 1, SIDE, SIDE);
    int np = mlopt_model_param_count(t);
    float *params[16];
    for (int i = 0; i < np; i++) {
        const char *name;
        mlopt_model_param(t, i, &name, NULL);
        size_t n;
        params[i] = test_param(t, name, &n);
    }
    mlopt_optimizer *o;
    mlopt_distiller *d = distiller(t, s, &o, 0.9f, "fc1", "sfc");
    CK_OK(mlopt_context_synchronize(ctx));
    CK_OK(mlopt_context_reset_stats(ctx));
    for (int step = 0; step < 5; step++) {
        float *x;
        int32_t y[BATCH];
        batch_of(step, &x, y);
        CK_OK(mlopt_distiller_step(d, x, y, BATCH, 0.05f));
        free(x);
    }
    /* The step is enqueued entirely on the device: no host waits, and
     * nothing (teacher logits included) comes back. */
    mlopt_backend_stats st;
    CK_OK(mlopt_context_stats(ctx, &st));
    ck_assert_msg(st.host_syncs == 0 && st.bytes_d2h == 0, "%llu host syncs, %llu bytes downloaded in 5 steps",
                  (unsigned long long)st.host_syncs, (unsigned long long)st.bytes_d2h);
    mlopt_distill_metrics m;
    CK_OK(mlopt_distiller_read_metrics(d, &m));
    ck_assert_int_eq(m.samples, 5 * BATCH);
    for (int i = 0; i < np; i++) {
        const char *name;
        mlopt_model_param(t, i, &name, NULL);
        size_t n;
        float *now = test_param(t, name, &n);
        ck_assert_msg(memcmp(now, params[i], n * sizeof *now) == 0, "teacher %s changed during distillation", name);
        free(now), free(params[i]);
    }
    float *after = test_forward(ctx, t, probe, BATCH, 1, SIDE, SIDE);
    ck_assert_msg(memcmp(before, after, BATCH * CLASSES * sizeof(float)) == 0, "teacher logits changed");
    free(probe), free(before), free(after);
    mlopt_distiller_destroy(d);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(s);
    mlopt_model_destroy(t);
    mlopt_context_destroy(ctx);
}
END_TEST

/* alpha 0: the soft term writes no gradient, so the student's weights
 * after a few steps equal those of mlopt_trainer_train_step exactly. */
START_TEST(alpha_zero_is_the_plain_trainer)
{
    mlopt_context *ctx = open_backend();
    const char *spec = "conv 3 k=3\nact relu\ndropout 0.2\nflatten\nlinear 12\nact relu\nlinear 4\n";
    mlopt_model *t = model_from_text(ctx, 1, SIDE, SIDE, TEACHER, 3);
    mlopt_model *a = model_from_text(ctx, 1, SIDE, SIDE, spec, 9), *b = model_from_text(ctx, 1, SIDE, SIDE, spec, 9);
    mlopt_optim_config oc = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f };
    mlopt_optimizer *oa, *ob;
    mlopt_trainer *tr;
    CK_OK(mlopt_optimizer_create(a, &oc, &oa));
    CK_OK(mlopt_trainer_create(a, oa, BATCH, &tr));
    mlopt_distiller *d = distiller(t, b, &ob, 0.0f, NULL, NULL);
    for (int step = 0; step < 6; step++) {
        float *x;
        int32_t y[BATCH];
        batch_of(step, &x, y);
        CK_OK(mlopt_trainer_train_step(tr, x, y, BATCH, 0.05f));
        CK_OK(mlopt_distiller_step(d, x, y, BATCH, 0.05f));
        free(x);
    }
    double ls, cr;
    long long k;
    mlopt_distill_metrics m;
    CK_OK(mlopt_trainer_read_metrics(tr, &ls, &cr, &k));
    CK_OK(mlopt_distiller_read_metrics(d, &m));
    ck_assert_msg(fabs(ls / k - m.loss) < 1e-6, "loss %.9g vs trainer %.9g", m.loss, ls / k);
    ck_assert(m.kl > 0); /* the soft loss is still measured */
    for (int i = 0; i < mlopt_model_param_count(a); i++) {
        const char *name;
        mlopt_model_param(a, i, &name, NULL);
        size_t n;
        float *wa = test_param(a, name, &n), *wb = test_param(b, name, &n);
        ck_assert_msg(memcmp(wa, wb, n * sizeof *wa) == 0, "%s differs from the plain trainer's", name);
        free(wa), free(wb);
    }
    mlopt_distiller_destroy(d);
    mlopt_trainer_destroy(tr);
    mlopt_optimizer_destroy(oa);
    mlopt_optimizer_destroy(ob);
    mlopt_model_destroy(a);
    mlopt_model_destroy(b);
    mlopt_model_destroy(t);
    mlopt_context_destroy(ctx);
}
END_TEST

static void write_idx(const char *dir, const char *file, int images, int n, const unsigned char *data)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    unsigned char h[16] = { 0, 0, 8, (unsigned char)(images ? 3 : 1) };
    h[4] = (unsigned char)(n >> 24), h[5] = (unsigned char)(n >> 16), h[6] = (unsigned char)(n >> 8);
    h[7] = (unsigned char)n;
    h[11] = h[15] = SIDE;
    ck_assert(fwrite(h, 1, images ? 16 : 8, f) == (size_t)(images ? 16 : 8));
    size_t len = (size_t)n * (images ? SIDE * SIDE : 1);
    ck_assert(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* mlopt_distill_train without a teacher (alpha 0) and mlopt_finetune run
 * the one shared loop (order, limit, ragged batch, cosine lr): the same
 * weights bit for bit. */
START_TEST(distill_train_alpha_zero_is_finetune)
{
    enum { N = 45 };
    char dir[] = "/tmp/mlopt-test-distill-XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    unsigned char img[N * SIDE * SIDE], lab[N];
    test_rng r = { 5 };
    for (int i = 0; i < N; i++) {
        lab[i] = (unsigned char)(i % CLASSES);
        for (int p = 0; p < SIDE * SIDE; p++) /* a class-dependent bright row plus noise */
            img[i * SIDE * SIDE + p] = (unsigned char)((p / SIDE == 2 * lab[i] ? 200 : 0) + test_rng_next(&r) % 50);
    }
    write_idx(dir, "train-images-idx3-ubyte", 1, N, img);
    write_idx(dir, "train-labels-idx1-ubyte", 0, N, lab);
    mlopt_dataset *ds;
    CK_OK(mlopt_dataset_load(dir, "train", &ds));
    mlopt_context *ctx = open_backend();
    const char *spec = "conv 3 k=3\nact relu\ndropout 0.2\nflatten\nlinear 12\nact relu\nlinear 4\n";
    mlopt_model *a = model_from_text(ctx, 1, SIDE, SIDE, spec, 9), *b = model_from_text(ctx, 1, SIDE, SIDE, spec, 9);
    mlopt_finetune_config loop;
    memset(&loop, 0, sizeof loop);
    loop.epochs = 3, loop.batch = 8, loop.lr = 0.05f, loop.seed = 3, loop.limit = 37; /* 4 batches, 5 ragged */
    loop.mean = 0.2f, loop.std = 0.3f;
    double train_loss;
    CK_OK(mlopt_finetune(a, ds, &loop, &train_loss));
    mlopt_distill_config dc;
    mlopt_distill_defaults(&dc);
    dc.alpha = 0.0f;
    mlopt_distill_metrics m;
    CK_OK(mlopt_distill_train(NULL, b, ds, &dc, &loop, &m));
    ck_assert_int_eq(m.samples, 32);
    ck_assert(isfinite(train_loss) && train_loss > 0);
    for (int i = 0; i < mlopt_model_param_count(a); i++) {
        const char *name;
        mlopt_model_param(a, i, &name, NULL);
        size_t n;
        float *wa = test_param(a, name, &n), *wb = test_param(b, name, &n);
        ck_assert_msg(memcmp(wa, wb, n * sizeof *wa) == 0, "%s: mlopt_distill_train differs from mlopt_finetune", name);
        free(wa), free(wb);
    }
    /* and they did train: the weights left their initialization */
    mlopt_model *init = model_from_text(ctx, 1, SIDE, SIDE, spec, 9);
    const char *first;
    mlopt_model_param(a, 0, &first, NULL);
    size_t n;
    float *w0 = test_param(init, first, &n), *wa = test_param(a, first, &n);
    ck_assert_msg(memcmp(w0, wa, n * sizeof *wa) != 0, "%s never changed", first);
    free(w0), free(wa);
    mlopt_model_destroy(init);
    mlopt_model_destroy(a);
    mlopt_model_destroy(b);
    mlopt_context_destroy(ctx);
    mlopt_dataset_destroy(ds);
    char path[512];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    remove(path);
    rmdir(dir);
}
END_TEST

/* Loss of the current weights: a step with learning rate 0 changes
 * nothing (SGD: w -= 0 * v) and measures the loss and gradients. */
static double loss_at(mlopt_distiller *d, const float *x, const int32_t *y)
{
    mlopt_distill_metrics m;
    CK_OK(mlopt_distiller_step(d, x, y, BATCH, 0.0f));
    CK_OK(mlopt_distiller_read_metrics(d, &m));
    return m.loss;
}

/* The whole objective, hint included, against central differences in a
 * few student weights on both sides of the hint layer. */
static void hint_gradient_check(const char *ht, const char *hs)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *t = model_from_text(ctx, 1, SIDE, SIDE, TEACHER, 3);
    mlopt_model *s = model_from_text(ctx, 1, SIDE, SIDE, STUDENT, 4);
    mlopt_optimizer *o;
    mlopt_distiller *d = distiller(t, s, &o, 0.7f, ht, hs);
    float *x;
    int32_t y[BATCH];
    batch_of(0, &x, y);
    double base = loss_at(d, x, y);
    const char *names[] = { "sconv.weight", "sfc.weight", "sfc.bias" };
    for (int p = 0; p < 3; p++) {
        int index = -1;
        for (int i = 0; i < mlopt_model_param_count(s); i++) {
            const char *name;
            mlopt_model_param(s, i, &name, NULL);
            if (strcmp(name, names[p]) == 0)
                index = i;
        }
        CK_OK(loss_at(d, x, y) == base ? MLOPT_OK : MLOPT_E_INVALID);
        size_t n;
        float *g = malloc(mlopt_tensor_bytes(mlopt_model_grad(s, index)));
        CK_OK(mlopt_tensor_download(mlopt_model_grad(s, index), g, mlopt_tensor_bytes(mlopt_model_grad(s, index))));
        float *w = test_param(s, names[p], &n);
        for (size_t j = 0; j < n; j += n / 3 + 1) {
            const float h = 1e-2f;
            float keep = w[j];
            w[j] = keep + h;
            test_set_param(s, names[p], w);
            double up = loss_at(d, x, y);
            w[j] = keep - h;
            test_set_param(s, names[p], w);
            double down = loss_at(d, x, y);
            w[j] = keep;
            test_set_param(s, names[p], w);
            double fd = (up - down) / (2 * h);
            ck_assert_msg(fabs(fd - g[j]) <= 2e-3 + 3e-2 * fabs(fd), "hint %s:%s: d/d%s[%zu] = %.6g, FD %.6g", ht, hs,
                          names[p], j, (double)g[j], fd);
        }
        free(g), free(w);
    }
    free(x);
    mlopt_distiller_destroy(d);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(s);
    mlopt_model_destroy(t);
    mlopt_context_destroy(ctx);
}

START_TEST(hint_flat_gradient) { hint_gradient_check("fc1", "sfc"); }
END_TEST
START_TEST(hint_image_gradient) { hint_gradient_check("conv1", "sconv"); }
END_TEST

START_TEST(hint_mismatch_and_bad_options_are_rejected)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *t = model_from_text(ctx, 1, SIDE, SIDE, TEACHER, 3);
    mlopt_model *s = model_from_text(ctx, 1, SIDE, SIDE, STUDENT, 4);
    mlopt_optim_config oc = { .kind = MLOPT_OPTIM_SGD, .lr = 0.05f };
    mlopt_optimizer *o;
    CK_OK(mlopt_optimizer_create(s, &oc, &o));
    mlopt_distill_config dc;
    mlopt_distill_defaults(&dc);
    mlopt_distiller *d = NULL;
    dc.hint_teacher = "nope";
    dc.hint_student = "sfc";
    CK_FAILS(mlopt_distiller_create(t, s, o, BATCH, &dc, &d), MLOPT_E_NOT_FOUND, "nope", "conv1");
    mlopt_distill_defaults(&dc);
    CK_FAILS(mlopt_distiller_create(NULL, s, o, BATCH, &dc, &d), MLOPT_E_INVALID, "teacher");
    dc.temperature = 0;
    CK_FAILS(mlopt_distiller_create(t, s, o, BATCH, &dc, &d), MLOPT_E_INVALID, "temperature");
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(s);
    mlopt_model_destroy(t);
    mlopt_context_destroy(ctx);
}
END_TEST

/* Loss after each of a few steps, with a hint from conv to conv. */
static int loss_curve(const char *backend, double *curve, int steps)
{
    mlopt_context *ctx = strcmp(backend, "cpu") == 0 ? open_backend() : test_try_backend(backend);
    if (!ctx) {
        fprintf(stderr, "skipping %s: %s\n", backend, mlopt_last_error());
        return 0;
    }
    mlopt_model *t = model_from_text(ctx, 1, SIDE, SIDE, TEACHER, 3);
    mlopt_model *s = model_from_text(ctx, 1, SIDE, SIDE, STUDENT, 4);
    mlopt_optimizer *o;
    mlopt_distiller *d = distiller(t, s, &o, 0.9f, "conv1", "sconv");
    for (int step = 0; step < steps; step++) {
        float *x;
        int32_t y[BATCH];
        batch_of(step, &x, y);
        CK_OK(mlopt_distiller_step(d, x, y, BATCH, 0.05f));
        mlopt_distill_metrics m;
        CK_OK(mlopt_distiller_read_metrics(d, &m));
        curve[step] = m.loss;
        free(x);
    }
    mlopt_distiller_destroy(d);
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(s);
    mlopt_model_destroy(t);
    mlopt_context_destroy(ctx);
    return 1;
}

static void same_curve_as_cpu(const char *backend)
{
    enum { STEPS = 6 };
    double ref[STEPS], got[STEPS];
    ck_assert(loss_curve("cpu", ref, STEPS));
    if (!loss_curve(backend, got, STEPS))
        return;
    for (int i = 0; i < STEPS; i++) {
        ck_assert_msg(fabs(ref[i] - got[i]) <= 1e-4 * (1 + fabs(ref[i])), "%s step %d: loss %.7f, cpu %.7f", backend,
                      i, got[i], ref[i]);
    }
    fprintf(stderr, "%s distillation loss curve matches cpu over %d steps (%.5f -> %.5f)\n", backend, STEPS, got[0],
            got[STEPS - 1]);
}

START_TEST(curve_opencl) { same_curve_as_cpu("opencl"); }
END_TEST
START_TEST(curve_vulkan) { same_curve_as_cpu("vulkan"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("distill");
    TCase *tc = tcase_create("distill");
    tcase_add_test(tc, loss_and_gradient_match_finite_differences);
    tcase_add_test(tc, teacher_is_never_updated);
    tcase_add_test(tc, alpha_zero_is_the_plain_trainer);
    tcase_add_test(tc, distill_train_alpha_zero_is_finetune);
    tcase_add_test(tc, hint_flat_gradient);
    tcase_add_test(tc, hint_image_gradient);
    tcase_add_test(tc, hint_mismatch_and_bad_options_are_rejected);
    tcase_add_test(tc, curve_opencl);
    tcase_add_test(tc, curve_vulkan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
