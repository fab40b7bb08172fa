/* Every layer's backward pass against central finite differences, through
 * the public API on the cpu backend.
 *
 * The loss is softmax cross-entropy (mean over the batch), computed on the
 * host in double from downloaded logits; its gradient is fed to
 * mlopt_model_backward.  Each trainable parameter element is then
 * perturbed by +-eps (uploaded), the forward rerun and the host loss
 * differenced.  Layers without parameters (activations, pooling, dropout,
 * batch-norm's input gradient) are checked through the parameter gradients
 * of a layer before them, which need the layer's input gradient.
 *
 * Kinks (ReLU at 0, max-pool ties) make finite differences meaningless
 * where a perturbation crosses them; an element whose difference quotient
 * changes when eps is halved is counted as "at a kink" and skipped, and
 * at most a few percent may be skipped. */
#include "test_core_util.h"

#define EPS 1e-3
#define RTOL 1e-2
#define ATOL 5e-4

typedef struct gc_model {
    mlopt_context *ctx;
    mlopt_model *m;
    mlopt_tensor *x;
    int n, classes;
    int32_t labels[16];
    /* Optional host-side mask applied to the logits (dropout-as-last-layer
     * checks run the finite differences in evaluation mode). */
    const double *logit_mask;
    int training;
} gc_model;

/* Mean cross-entropy of the current forward; dlogits (may be NULL) gets
 * its gradient with respect to the logits the loss saw. */
static double host_loss(gc_model *g, const float *logits, double *dlogits)
{
    double total = 0;
    int C = g->classes;
    for (int i = 0; i < g->n; i++) {
        double z[64] = { 0 }, mx = -1e300, sum = 0;
        ck_assert_int_le(C, 64);
        for (int j = 0; j < C; j++) {
            z[j] = logits[i * C + j];
            if (g->logit_mask)
                z[j] *= g->logit_mask[i * C + j];
            if (z[j] > mx)
                mx = z[j];
        }
        for (int j = 0; j < C; j++)
            sum += exp(z[j] - mx);
        total += -(z[g->labels[i]] - mx - log(sum));
        if (dlogits)
            for (int j = 0; j < C; j++) {
                double p = exp(z[j] - mx) / sum - (j == g->labels[i]);
                dlogits[i * C + j] = p / g->n * (g->logit_mask ? g->logit_mask[i * C + j] : 1.0);
            }
    }
    return total / g->n;
}

static void forward_logits(gc_model *g, int training, float *out)
{
    mlopt_tensor *logits = NULL;
    CK_OK(mlopt_model_forward(g->m, g->x, training, &logits));
    ck_assert_int_eq(logits->shape[0], g->n);
    ck_assert_int_eq(logits->shape[1], g->classes);
    CK_OK(mlopt_tensor_download(logits, out, (size_t)g->n * g->classes * sizeof(float)));
}

static double loss_now(gc_model *g)
{
    float logits[16 * 64];
    forward_logits(g, g->training, logits);
    return host_loss(g, logits, NULL);
}

static void gc_open(gc_model *g, int c, int h, int w, int n, const char *spec, uint64_t seed, double xlo,
                    double xhi)
{
    memset(g, 0, sizeof *g);
    ck_assert_int_le(n, 16);
    g->ctx = open_backend();
    g->m = model_from_text(g->ctx, c, h, w, spec, seed);
    g->n = n;
    g->classes = mlopt_model_num_classes(g->m);
    g->training = 1;
    int xs[4] = { n, c, h, w };
    CK_OK(mlopt_tensor_create(g->ctx, MLOPT_F32, 4, xs, &g->x));
    size_t count = (size_t)n * c * h * w;
    float *host = malloc(count * sizeof *host);
    test_rng r = { seed * 7919 + 1 };
    for (size_t i = 0; i < count; i++)
        host[i] = (float)test_rng_uniform(&r, xlo, xhi);
    CK_OK(mlopt_tensor_upload(g->x, host, count * sizeof *host));
    free(host);
    for (int i = 0; i < n; i++)
        g->labels[i] = (int32_t)(test_rng_next(&r) % (uint64_t)g->classes);
}

static void gc_close(gc_model *g)
{
    mlopt_tensor_destroy(g->x);
    mlopt_model_destroy(g->m);
    mlopt_context_destroy(g->ctx);
}

/* One training forward + backward with the host loss's gradient. */
static void run_backward(gc_model *g)
{
    float logits[16 * 64];
    double dl[16 * 64];
    float dlf[16 * 64];
    forward_logits(g, 1, logits);
    /* Training logits already went through dropout: no host mask here. */
    const double *mask = g->logit_mask;
    g->logit_mask = NULL;
    host_loss(g, logits, dl);
    g->logit_mask = mask;
    for (int i = 0; i < g->n * g->classes; i++)
        dlf[i] = (float)dl[i];
    int ds[2] = { g->n, g->classes };
    mlopt_tensor *d = NULL;
    CK_OK(mlopt_tensor_create(g->ctx, MLOPT_F32, 2, ds, &d));
    CK_OK(mlopt_tensor_upload(d, dlf, (size_t)g->n * g->classes * sizeof(float)));
    CK_OK(mlopt_model_backward(g->m, d));
    mlopt_tensor_destroy(d);
}

static double fd_at(gc_model *g, mlopt_tensor *p, float *host, size_t n, size_t j, double eps)
{
    float orig = host[j];
    host[j] = (float)(orig + eps);
    double hi_step = (double)host[j] - orig;
    CK_OK(mlopt_tensor_upload(p, host, n * sizeof *host));
    double lp = loss_now(g);
    host[j] = (float)(orig - eps);
    double lo_step = orig - (double)host[j];
    CK_OK(mlopt_tensor_upload(p, host, n * sizeof *host));
    double lm = loss_now(g);
    host[j] = orig;
    CK_OK(mlopt_tensor_upload(p, host, n * sizeof *host));
    /* The float perturbation is not exactly eps: divide by what was applied. */
    return (lp - lm) / (hi_step + lo_step);
}

/* Backward once, then compare every trainable parameter's gradient with
 * finite differences.  Returns the number of elements compared. */
static int check_all_grads(gc_model *g, const char *what)
{
    run_backward(g);
    int np = mlopt_model_param_count(g->m);
    /* Gradients first: finite differences run more forwards. */
    float *grads[32] = { 0 };
    ck_assert_int_le(np, 32);
    for (int i = 0; i < np; i++) {
        int trainable = 0;
        mlopt_tensor *p = mlopt_model_param(g->m, i, NULL, &trainable);
        mlopt_tensor *gr = mlopt_model_grad(g->m, i);
        if (!trainable) {
            ck_assert_ptr_null(gr);
            continue;
        }
        ck_assert_ptr_nonnull(gr);
        size_t n = mlopt_tensor_numel(p);
        ck_assert_uint_eq(mlopt_tensor_numel(gr), n);
        grads[i] = malloc(n * sizeof(float));
        CK_OK(mlopt_tensor_download(gr, grads[i], n * sizeof(float)));
    }
    int compared = 0, skipped = 0;
    for (int i = 0; i < np; i++) {
        if (!grads[i])
            continue;
        const char *name = NULL;
        mlopt_tensor *p = mlopt_model_param(g->m, i, &name, NULL);
        size_t n = mlopt_tensor_numel(p);
        float *host = malloc(n * sizeof *host);
        CK_OK(mlopt_tensor_download(p, host, n * sizeof *host));
        double err2 = 0, ref2 = 0;
        for (size_t j = 0; j < n; j++) {
            double fd = fd_at(g, p, host, n, j, EPS);
            double an = grads[i][j];
            double tol = RTOL * fmax(fabs(fd), fabs(an)) + ATOL;
            if (fabs(fd - an) > tol) {
                /* A smaller step either agrees (the larger one caught a
                 * kink or curvature) or moves a lot (a kink): skip; a
                 * stable disagreement is a wrong gradient. */
                double fd2 = fd_at(g, p, host, n, j, EPS / 4);
                if (getenv("GC_DEBUG")) /* GC_DEBUG=1 lists every mismatch */
                    fprintf(stderr, "%s[%zu]: an %.6g fd %.6g fd/4 %.6g\n", name, j, an, fd, fd2);
                if (fabs(fd2 - an) <= tol || fabs(fd2 - fd) > tol / 4) {
                    skipped++;
                    continue;
                }
                ck_abort_msg("%s: d loss / d %s[%zu]: backward %.6g, finite differences %.6g (eps/4: %.6g)",
                             what, name, j, an, fd, fd2);
            }
            err2 += (fd - an) * (fd - an);
            ref2 += fd * fd;
            compared++;
        }
        /* The whole tensor must agree closely too, not just element by element. */
        ck_assert_msg(sqrt(err2) <= RTOL * sqrt(ref2) + ATOL, "%s: %s gradient relative error %.3g", what, name,
                      sqrt(err2) / (sqrt(ref2) + 1e-30));
        ck_assert_msg(ref2 > 0 || n == 0, "%s: %s has an all-zero gradient; the check would be vacuous", what,
                      name);
        free(host);
        free(grads[i]);
    }
    ck_assert_msg(skipped * 20 <= compared, "%s: %d of %d elements at kinks: too many to trust the check", what,
                  skipped, compared + skipped);
    return compared;
}

static void gradcheck_spec(const char *spec, int c, int h, int w, int n, uint64_t seed)
{
    gc_model g;
    gc_open(&g, c, h, w, n, spec, seed, -2.0, 2.0);
    int compared = check_all_grads(&g, spec);
    ck_assert_int_gt(compared, 0);
    gc_close(&g);
}

/* ---- convolution ---- */

START_TEST(conv_basic)
{
    gradcheck_spec("conv 3 k=3 p=1\nact tanh\nconv 3 k=3\nflatten\nlinear 4\n", 2, 5, 5, 3, 11);
}
END_TEST

START_TEST(conv_stride2_pad)
{
    gradcheck_spec("conv 4 k=3 p=1\nact tanh\nconv 4 k=3 s=2 p=1\nflatten\nlinear 5\n", 2, 6, 6, 3, 12);
}
END_TEST

START_TEST(conv_dilation2)
{
    gradcheck_spec("conv 3 k=3 p=1\nact tanh\nconv 4 k=3 p=2 d=2\navgpool 2\nflatten\nlinear 5\n", 2, 5, 5, 3, 13);
}
END_TEST

START_TEST(conv_groups2)
{
    gradcheck_spec("conv 4 k=3 p=1 g=2\nact tanh\nconv 4 k=3 p=1 g=2\navgpool 2\nflatten\nlinear 5\n", 2, 5, 5, 3,
                   14);
}
END_TEST

START_TEST(conv_no_bias_rectangular_stride)
{
    gradcheck_spec("conv 3 k=2 s=2 bias=0\nact sigmoid\nconv 2 k=2 p=1 bias=0\nflatten\nlinear 3 bias=0\n", 1, 7,
                   7, 2, 15);
}
END_TEST

/* ---- linear ---- */

START_TEST(linear_chain)
{
    gradcheck_spec("flatten\nlinear 6\nact tanh\nlinear 5\n", 2, 3, 3, 4, 21);
}
END_TEST

/* ---- pooling ---- */

START_TEST(maxpool_2)
{
    gradcheck_spec("conv 3 k=3 p=1\nmaxpool 2\nflatten\nlinear 5\n", 2, 5, 5, 3, 31);
}
END_TEST

START_TEST(maxpool_overlapping_padded)
{
    gradcheck_spec("conv 3 k=3 p=1\nmaxpool 3 s=2 p=1\nflatten\nlinear 5\n", 2, 5, 5, 3, 32);
}
END_TEST

START_TEST(avgpool_2)
{
    gradcheck_spec("conv 3 k=3 p=1\navgpool 2\nflatten\nlinear 5\n", 2, 5, 5, 3, 33);
}
END_TEST

START_TEST(avgpool_overlapping_padded)
{
    gradcheck_spec("conv 3 k=3 p=1\navgpool 3 s=2 p=1\nflatten\nlinear 5\n", 2, 5, 5, 3, 34);
}
END_TEST

/* ---- activations (loop index selects the function) ---- */

static const char *const activations[] = {
    "relu", "leaky_relu 0.1", "elu", "elu 0.5", "gelu", "silu", "tanh", "sigmoid", "hard_sigmoid", "hard_swish",
    "identity",
};
#define N_ACTIVATIONS ((int)(sizeof activations / sizeof activations[0]))

START_TEST(activation)
{
    char spec[256];
    snprintf(spec, sizeof spec, "conv 3 k=3 p=1\nact %s\nmaxpool 2\nflatten\nlinear 5\n", activations[_i]);
    /* Inputs in +-3 spread the pre-activations over the interesting range
     * (saturation of hard_sigmoid / hard_swish included). */
    gc_model g;
    gc_open(&g, 2, 5, 5, 3, spec, 140 + (uint64_t)_i, -3.0, 3.0);
    check_all_grads(&g, spec);
    gc_close(&g);
}
END_TEST

/* ---- batch-norm (training mode: batch statistics) ---- */

START_TEST(batchnorm_2d)
{
    gradcheck_spec("conv 3 k=3 p=1\nbatchnorm\nact tanh\navgpool 2\nflatten\nlinear 5\n", 2, 5, 5, 3, 51);
}
END_TEST

START_TEST(batchnorm_1d)
{
    gradcheck_spec("flatten\nlinear 6\nbatchnorm\nact tanh\nlinear 5\n", 2, 3, 3, 5, 52);
}
END_TEST

START_TEST(batchnorm_eval_matches_running_stats)
{
    /* After one training forward with momentum 1, the running stats are the
     * batch's (variance unbiased): evaluation then normalizes the same batch
     * with the unbiased variance instead of the biased one. */
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 1, 1, "flatten\nlinear 2 bias=0\nbatchnorm momentum=1\n", 5);
    float w[2] = { 1.0f, 2.0f };
    CK_OK(mlopt_tensor_upload(mlopt_model_find_param(m, "fc1.weight"), w, sizeof w));
    const int n = 4;
    float xin[4] = { 1, 2, 3, 6 };
    int xs[4] = { n, 1, 1, 1 };
    mlopt_tensor *x = NULL;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, xs, &x));
    CK_OK(mlopt_tensor_upload(x, xin, sizeof xin));
    mlopt_tensor *logits = NULL;
    CK_OK(mlopt_model_forward(m, x, 1, &logits));
    float rm[2], rv[2], out[8];
    CK_OK(mlopt_tensor_download(mlopt_model_find_param(m, "bn1.running_mean"), rm, sizeof rm));
    CK_OK(mlopt_tensor_download(mlopt_model_find_param(m, "bn1.running_var"), rv, sizeof rv));
    /* mean 3, unbiased variance (4+1+0+9)/3 = 14/3 for channel 0. */
    ck_assert_float_eq_tol(rm[0], 3.0f, 1e-5f);
    ck_assert_float_eq_tol(rm[1], 6.0f, 1e-5f);
    ck_assert_float_eq_tol(rv[0], 14.0f / 3.0f, 1e-4f);
    ck_assert_float_eq_tol(rv[1], 56.0f / 3.0f, 1e-4f);
    CK_OK(mlopt_model_forward(m, x, 0, &logits));
    CK_OK(mlopt_tensor_download(logits, out, sizeof out));
    for (int i = 0; i < n; i++)
        ck_assert_float_eq_tol(out[2 * i], (float)((xin[i] - 3.0) / sqrt(14.0 / 3.0 + 1e-5)), 1e-4f);
    mlopt_tensor_destroy(x);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* Batch-norm straight after the input (only a flatten before it): no layer
 * before it needs an input gradient, but batch-norm's own parameter
 * gradients must still be right. */
static int (*real_bn_backward)(mlopt_backend_ctx *, int, int, int, mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref,
                               mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref);
static int bn_backward_calls, bn_backward_null_dx;

/* Sits in front of the cpu backend's batchnorm_backward: the ABI has no
 * optional dx there (the Vulkan backend refuses a NULL one). */
static int bn_backward_spy(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref dy,
                           mlopt_ref gamma, mlopt_ref mean, mlopt_ref invstd, mlopt_ref dx, mlopt_ref dgamma,
                           mlopt_ref dbeta)
{
    bn_backward_calls++;
    bn_backward_null_dx += dx.buf == NULL;
    return real_bn_backward(ctx, n, c, inner, x, dy, gamma, mean, invstd, dx, dgamma, dbeta);
}

START_TEST(batchnorm_after_flatten)
{
    gc_model g;
    gc_open(&g, 1, 2, 2, 4, "flatten\nbatchnorm\nlinear 3\n", 53, -2.0, 2.0);
    /* The context's copy of the plugin table is the core's own (non-const)
     * memory: interpose on one slot. */
    mlopt_backend *be = (mlopt_backend *)mlopt_context_backend(g.ctx);
    real_bn_backward = be->batchnorm_backward;
    be->batchnorm_backward = bn_backward_spy;
    check_all_grads(&g, "flatten, batchnorm");
    ck_assert_int_gt(bn_backward_calls, 0);
    ck_assert_msg(bn_backward_null_dx == 0, "the core passed batchnorm_backward a NULL dx %d time(s)",
                  bn_backward_null_dx);
    gc_close(&g);
}
END_TEST

START_TEST(batchnorm_backward_after_eval_forward_is_refused)
{
    gc_model g;
    gc_open(&g, 1, 3, 3, 2, "conv 2 k=3\nbatchnorm\nflatten\nlinear 3\n", 54, -1.0, 1.0);
    float logits[16 * 64];
    forward_logits(&g, 0, logits);
    int ds[2] = { g.n, g.classes };
    mlopt_tensor *d = NULL;
    CK_OK(mlopt_tensor_create(g.ctx, MLOPT_F32, 2, ds, &d));
    CK_OK(mlopt_tensor_fill(d, 0.1f));
    CK_FAILS(mlopt_model_backward(g.m, d), MLOPT_E_INVALID, "bn1", "evaluation");
    mlopt_tensor_destroy(d);
    gc_close(&g);
}
END_TEST

/* ---- dropout ---- */

/* Dropout as the last layer makes its mask visible: mask = training logits
 * / evaluation logits.  The backward (dx = dy * mask) is then checked
 * through the earlier layers' gradients against finite differences of the
 * masked evaluation-mode loss. */
START_TEST(dropout_backward_uses_forward_mask)
{
    const double p = 0.5;
    gc_model g;
    gc_open(&g, 2, 3, 3, 4, "flatten\nlinear 8\nact tanh\nlinear 6\ndropout 0.5\n", 61, -2.0, 2.0);
    int total = g.n * g.classes;
    float z[16 * 64], y[16 * 64];
    forward_logits(&g, 0, z);
    forward_logits(&g, 1, y);
    double mask[16 * 64];
    int kept = 0;
    for (int i = 0; i < total; i++) {
        ck_assert_msg(fabs(z[i]) > 1e-6, "logit %d too close to 0 to read the mask", i);
        mask[i] = y[i] / z[i];
        int keep = fabs(mask[i] - 1.0 / (1.0 - p)) < 1e-5;
        ck_assert_msg(keep || mask[i] == 0.0, "dropout output %d is %g x its input: not 0 or 1/(1-p)", i, mask[i]);
        mask[i] = keep ? 1.0 / (1.0 - p) : 0.0;
        kept += keep;
    }
    ck_assert_msg(kept > 0 && kept < total, "dropout 0.5 kept %d of %d", kept, total);
    /* check_all_grads reruns the training forward: with the trainer's step
     * unchanged the mask must be the same. */
    float y2[16 * 64];
    forward_logits(&g, 1, y2);
    ck_assert_msg(memcmp(y, y2, (size_t)total * sizeof(float)) == 0,
                  "two training forwards at the same step drew different dropout masks");
    g.logit_mask = mask;
    g.training = 0; /* finite differences: evaluation forward x host mask */
    check_all_grads(&g, "dropout");
    gc_close(&g);
}
END_TEST

/* A bigger mask: statistics and the backend-independent hash rule. */
START_TEST(dropout_mask_statistics)
{
    const float p = 0.3f;
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 32, 32, "flatten\ndropout 0.3\n", 7);
    const int n = 4, per = 32 * 32, total = n * per;
    float *x = malloc((size_t)total * sizeof *x), *y = malloc((size_t)total * sizeof *y);
    for (int i = 0; i < total; i++)
        x[i] = 1.0f + (float)(i % 7);
    int xs[4] = { n, 1, 32, 32 };
    mlopt_tensor *xt = NULL, *logits = NULL;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, xs, &xt));
    CK_OK(mlopt_tensor_upload(xt, x, (size_t)total * sizeof *x));
    CK_OK(mlopt_model_forward(m, xt, 0, &logits));
    CK_OK(mlopt_tensor_download(logits, y, (size_t)total * sizeof *y));
    ck_assert_msg(memcmp(x, y, (size_t)total * sizeof *x) == 0, "dropout must be the identity in evaluation");
    CK_OK(mlopt_model_forward(m, xt, 1, &logits));
    CK_OK(mlopt_tensor_download(logits, y, (size_t)total * sizeof *y));
    int kept = 0;
    for (int i = 0; i < total; i++) {
        if (y[i] == 0.0f)
            continue;
        ck_assert_float_eq_tol(y[i], x[i] / (1.0f - p), 1e-5f * y[i]);
        kept++;
    }
    double frac = (double)kept / total;
    ck_assert_msg(fabs(frac - (1.0 - p)) < 0.03, "dropout %.1f kept %.3f of the units", (double)p, frac);
    free(x);
    free(y);
    mlopt_tensor_destroy(xt);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

/* ---- the whole seed CNN shape on a small input ---- */

START_TEST(small_cnn_end_to_end)
{
    gradcheck_spec("conv 3 k=3\nact relu\nmaxpool 2\nconv 4 k=2\nact relu\nflatten\nlinear 6\nact relu\nlinear 4\n",
                   1, 8, 8, 3, 71);
}
END_TEST

/* Gradients are overwritten, not accumulated: two backwards of the same
 * batch give the same gradient. */
START_TEST(backward_overwrites_gradients)
{
    gc_model g;
    gc_open(&g, 1, 4, 4, 2, "conv 2 k=3\nflatten\nlinear 3\n", 81, -1.0, 1.0);
    run_backward(&g);
    float a[64], b[64];
    mlopt_tensor *gr = mlopt_model_grad(g.m, 0);
    size_t n = mlopt_tensor_numel(gr);
    ck_assert_uint_le(n, 64);
    CK_OK(mlopt_tensor_download(gr, a, n * sizeof(float)));
    run_backward(&g);
    CK_OK(mlopt_tensor_download(gr, b, n * sizeof(float)));
    ck_assert(memcmp(a, b, n * sizeof(float)) == 0);
    gc_close(&g);
}
END_TEST

/* A smaller batch after a larger one reuses the larger buffers: the first
 * rows must come out as if the smaller batch had been run alone. */
START_TEST(smaller_batch_after_larger)
{
    const char *spec = "conv 3 k=3 p=1\nbatchnorm\nact relu\nmaxpool 2\nflatten\nlinear 4\n";
    mlopt_context *ctx = open_backend();
    mlopt_model *a = model_from_text(ctx, 1, 4, 4, spec, 3), *b = model_from_text(ctx, 1, 4, 4, spec, 3);
    float host[4 * 16];
    test_rng r = { 17 };
    for (int i = 0; i < 64; i++)
        host[i] = (float)test_rng_uniform(&r, -1, 1);
    int s4[4] = { 4, 1, 4, 4 }, s2[4] = { 2, 1, 4, 4 };
    mlopt_tensor *x4, *x2, *logits;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, s4, &x4));
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, s2, &x2));
    CK_OK(mlopt_tensor_upload(x4, host, sizeof host));
    CK_OK(mlopt_tensor_upload(x2, host + 32, 32 * sizeof(float))); /* samples 2 and 3 */
    CK_OK(mlopt_model_forward(a, x4, 1, &logits));
    CK_OK(mlopt_model_forward(a, x2, 1, &logits));
    ck_assert_int_eq(logits->shape[0], 2);
    float la[8], lb[8];
    CK_OK(mlopt_tensor_download(logits, la, sizeof la));
    CK_OK(mlopt_model_forward(b, x2, 1, &logits));
    CK_OK(mlopt_tensor_download(logits, lb, sizeof lb));
    ck_assert(memcmp(la, lb, sizeof la) == 0);
    /* And the backward of the small batch gives the same gradients. */
    int ds[2] = { 2, 4 };
    mlopt_tensor *d;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 2, ds, &d));
    float dl[8] = { 0.1f, -0.2f, 0.3f, -0.2f, 0.05f, 0.05f, -0.3f, 0.2f };
    CK_OK(mlopt_tensor_upload(d, dl, sizeof dl));
    CK_OK(mlopt_model_backward(a, d));
    CK_OK(mlopt_model_backward(b, d));
    float ga[27], gb[27];
    CK_OK(mlopt_tensor_download(mlopt_model_grad(a, 0), ga, sizeof ga));
    CK_OK(mlopt_tensor_download(mlopt_model_grad(b, 0), gb, sizeof gb));
    ck_assert(memcmp(ga, gb, sizeof ga) == 0);
    mlopt_tensor_destroy(d);
    mlopt_tensor_destroy(x2);
    mlopt_tensor_destroy(x4);
    mlopt_model_destroy(a);
    mlopt_model_destroy(b);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(backward_without_forward_is_refused)
{
    mlopt_context *ctx = open_backend();
    mlopt_model *m = model_from_text(ctx, 1, 2, 2, "flatten\nlinear 2\n", 1);
    int ds[2] = { 1, 2 };
    mlopt_tensor *d = NULL;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 2, ds, &d));
    CK_FAILS(mlopt_model_backward(m, d), MLOPT_E_INVALID, "forward");
    mlopt_tensor_destroy(d);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

static Suite *gradcheck_suite(void)
{
    Suite *s = suite_create("core_gradcheck");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, conv_basic);
    tcase_add_test(tc, conv_stride2_pad);
    tcase_add_test(tc, conv_dilation2);
    tcase_add_test(tc, conv_groups2);
    tcase_add_test(tc, conv_no_bias_rectangular_stride);
    tcase_add_test(tc, linear_chain);
    tcase_add_test(tc, maxpool_2);
    tcase_add_test(tc, maxpool_overlapping_padded);
    tcase_add_test(tc, avgpool_2);
    tcase_add_test(tc, avgpool_overlapping_padded);
    tcase_add_loop_test(tc, activation, 0, N_ACTIVATIONS);
    tcase_add_test(tc, batchnorm_2d);
    tcase_add_test(tc, batchnorm_1d);
    tcase_add_test(tc, batchnorm_eval_matches_running_stats);
    tcase_add_test(tc, batchnorm_after_flatten);
    tcase_add_test(tc, batchnorm_backward_after_eval_forward_is_refused);
    tcase_add_test(tc, smaller_batch_after_larger);
    tcase_add_test(tc, dropout_backward_uses_forward_mask);
    tcase_add_test(tc, dropout_mask_statistics);
    tcase_add_test(tc, small_cnn_end_to_end);
    tcase_add_test(tc, backward_overwrites_gradients);
    tcase_add_test(tc, backward_without_forward_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gradcheck_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
