/* CPU backend: every non-GEMM slot, fast path (default context) against
 * the scalar reference (MLOPT_CPU_REF=1), with guard zones around every
 * tensor; plus hand-computed checks of the reference and the basics
 * (probe, buffers, statistics, errors). */
#include "test_cpu_util.h"

#define MAXT 10

/* An op under test: reads ins, writes outs (which start from out_init). */
typedef void (*op_fn)(harness_backend *h, const tbuf *in, const tbuf *out, const void *params);

typedef struct op_spec {
    const char *what;
    int nin, nout;
    const void *in_data[MAXT];
    size_t in_n[MAXT];
    const void *out_init[MAXT]; /* NULL: zeros */
    size_t out_n[MAXT];
    double tol[MAXT]; /* per output; < 0: must match bit for bit */
} op_spec;

static float **run_op(harness_backend *h, op_fn fn, const void *params, const op_spec *s)
{
    tbuf in[MAXT], out[MAXT];
    for (int i = 0; i < s->nin; i++)
        in[i] = tnew(h, s->in_data[i], s->in_n[i]);
    for (int i = 0; i < s->nout; i++)
        out[i] = tnew(h, s->out_init[i], s->out_n[i]);
    fn(h, in, out, params);
    float **res = calloc(MAXT, sizeof *res);
    for (int i = 0; i < s->nout; i++) {
        res[i] = malloc(s->out_n[i] * sizeof(float) + 4);
        tread(h, out[i], res[i], s->what);
    }
    for (int i = 0; i < s->nin; i++)
        tfree(h, in[i]);
    for (int i = 0; i < s->nout; i++)
        tfree(h, out[i]);
    return res;
}

static void free_res(float **r)
{
    for (int i = 0; i < MAXT; i++)
        free(r[i]);
    free(r);
}

/* Runs the op on a fresh fast context and a fresh reference context and
 * compares every output. */
static void cross_check(op_fn fn, const void *params, const op_spec *s)
{
    harness_backend fast, ref;
    open_fast(&fast);
    open_ref(&ref);
    float **got = run_op(&fast, fn, params, s), **want = run_op(&ref, fn, params, s);
    for (int i = 0; i < s->nout; i++) {
        char what[200];
        snprintf(what, sizeof what, "%s output %d", s->what, i);
        if (s->tol[i] < 0)
            ck_assert_msg(memcmp(got[i], want[i], s->out_n[i] * sizeof(float)) == 0,
                          "%s differs from the reference", what);
        else
            expect_close(got[i], want[i], s->out_n[i], s->tol[i], what);
    }
    free_res(got), free_res(want);
    harness_close(&fast);
    harness_close(&ref);
}

#define OK(h, call) ck_assert_msg((call) == 0, "%s", (h)->be->last_error((h)->ctx))

static const size_t lengths[] = {1, 7, 1000, 100003};
#define NLEN (sizeof lengths / sizeof lengths[0])

/* ---------------- elementwise ---------------- */

typedef struct ew_params {
    int op;
    size_t n;
    float alpha;
} ew_params;

static void ew_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const ew_params *p = vp;
    const mlopt_backend *be = h->be;
    switch (p->op) {
    case 0: OK(h, be->add(h->ctx, p->n, tref(in[0]), tref(in[1]), tref(out[0]))); break;
    case 1: OK(h, be->sub(h->ctx, p->n, tref(in[0]), tref(in[1]), tref(out[0]))); break;
    case 2: OK(h, be->mul(h->ctx, p->n, tref(in[0]), tref(in[1]), tref(out[0]))); break;
    case 3: OK(h, be->axpy(h->ctx, p->n, p->alpha, tref(in[0]), tref(out[0]))); break;
    case 4: OK(h, be->scale(h->ctx, p->n, p->alpha, tref(in[0]), tref(out[0]))); break;
    case 5: OK(h, be->mask_mul(h->ctx, p->n, tref(in[1]), tref(out[0]))); break;
    case 6: /* in place: y aliases a */
        OK(h, be->add(h->ctx, p->n, tref(out[0]), tref(in[1]), tref(out[0])));
        break;
    }
}

START_TEST(test_cpu_elementwise_vs_reference)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        uint32_t seed = 11u + (uint32_t)li;
        float *a = rand_floats(&seed, n, -2, 2), *b = rand_floats(&seed, n, -2, 2);
        float *mask = malloc(n * sizeof(float)), *y0 = rand_floats(&seed, n, -1, 1);
        for (size_t i = 0; i < n; i++)
            mask[i] = (float)(rng_next(&seed) & 1);
        for (int op = 0; op <= 6; op++) {
            ew_params p = {op, n, -0.75f};
            op_spec s = {.what = "elementwise", .nin = 2, .nout = 1,
                         .in_data = {a, op == 5 ? mask : b}, .in_n = {n, n},
                         .out_init = {op == 5 ? y0 : op == 6 ? a : y0}, .out_n = {n},
                         .tol = {1e-6}};
            cross_check(ew_op, &p, &s);
        }
        free(a), free(b), free(mask), free(y0);
    }
}
END_TEST

/* ---------------- activations ---------------- */

typedef struct act_params {
    int act, backward;
    size_t n;
    float alpha, beta;
} act_params;

static void act_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const act_params *p = vp;
    if (p->backward) /* backward == 2: y not passed, must be recomputed */
        OK(h, h->be->act_backward(h->ctx, p->act, p->alpha, p->beta, p->n, tref(in[0]),
                                  p->backward == 2 ? null_ref() : tref(in[1]), tref(in[2]),
                                  tref(out[0])));
    else
        OK(h, h->be->act_forward(h->ctx, p->act, p->alpha, p->beta, p->n, tref(in[0]),
                                 tref(out[0])));
}

static float host_act(int act, float x, float a, float b)
{
    switch (act) {
    case MLOPT_ACT_TANH: return tanhf(x);
    case MLOPT_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    default: (void)a, (void)b; return x; /* y is only read by tanh/sigmoid */
    }
}

START_TEST(test_cpu_activations_vs_reference)
{
    size_t sizes[] = {13, 40001};
    for (size_t si = 0; si < 2; si++) {
        size_t n = sizes[si];
        uint32_t seed = 21u;
        float *x = rand_floats(&seed, n, -6, 6), *dy = rand_floats(&seed, n, -1, 1);
        /* the kinks: exactly 0 and +-3 */
        x[0] = 0.0f, x[1] = 3.0f, x[2] = -3.0f;
        float *y = malloc(n * sizeof(float));
        for (int act = 0; act < MLOPT_ACT_COUNT_; act++) {
            float alpha = act == MLOPT_ACT_HARD_SIGMOID ? 1.0f / 6.0f : 0.1f, beta = 0.5f;
            for (size_t i = 0; i < n; i++)
                y[i] = host_act(act, x[i], alpha, beta);
            for (int bw = 0; bw < 3; bw++) {
                act_params p = {act, bw, n, alpha, beta};
                op_spec s = {.what = bw ? "act_backward" : "act_forward", .nin = 3, .nout = 1,
                             .in_data = {x, y, dy}, .in_n = {n, n, n}, .out_n = {n},
                             .tol = {2e-5}};
                cross_check(act_op, &p, &s);
            }
        }
        free(x), free(dy), free(y);
    }
}
END_TEST

/* ---------------- bias ---------------- */

typedef struct nci_params {
    int n, c, inner;
} nci_params;

static void bias_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const nci_params *p = vp;
    OK(h, h->be->bias_add(h->ctx, p->n, p->c, p->inner, tref(out[0]), tref(in[0])));
    OK(h, h->be->bias_grad(h->ctx, p->n, p->c, p->inner, tref(in[1]), tref(out[1])));
}

START_TEST(test_cpu_bias_vs_reference)
{
    nci_params cases[] = {{1, 1, 1}, {3, 5, 7}, {64, 32, 26 * 26}, {2, 10, 1}};
    for (size_t ci = 0; ci < 4; ci++) {
        nci_params p = cases[ci];
        size_t total = (size_t)p.n * p.c * p.inner;
        uint32_t seed = 31u;
        float *bias = rand_floats(&seed, p.c, -1, 1), *x = rand_floats(&seed, total, -1, 1);
        float *dy = rand_floats(&seed, total, -1, 1);
        op_spec s = {.what = "bias", .nin = 2, .nout = 2, .in_data = {bias, dy},
                     .in_n = {p.c, total}, .out_init = {x, NULL}, .out_n = {total, p.c},
                     .tol = {1e-6, 1e-5}};
        cross_check(bias_op, &p, &s);
        free(bias), free(x), free(dy);
    }
}
END_TEST

/* ---------------- batch norm ---------------- */

static void bn_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const nci_params *p = vp;
    /* in: x gamma beta dy; out: y rmean rvar smean sinv yeval dx dgamma dbeta */
    OK(h, h->be->batchnorm_forward_train(h->ctx, p->n, p->c, p->inner, 1e-5f, 0.1f, tref(in[0]),
                                         tref(in[1]), tref(in[2]), tref(out[0]), tref(out[1]),
                                         tref(out[2]), tref(out[3]), tref(out[4])));
    OK(h, h->be->batchnorm_forward_eval(h->ctx, p->n, p->c, p->inner, 1e-5f, tref(in[0]),
                                        tref(in[1]), tref(in[2]), tref(out[1]), tref(out[2]),
                                        tref(out[5])));
    OK(h, h->be->batchnorm_backward(h->ctx, p->n, p->c, p->inner, tref(in[0]), tref(in[3]),
                                    tref(in[1]), tref(out[3]), tref(out[4]), tref(out[6]),
                                    tref(out[7]), tref(out[8])));
}

START_TEST(test_cpu_batchnorm_vs_reference)
{
    nci_params cases[] = {{2, 3, 5}, {16, 8, 49}, {64, 4, 200}, {1, 7, 1}};
    for (size_t ci = 0; ci < 4; ci++) {
        nci_params p = cases[ci];
        size_t total = (size_t)p.n * p.c * p.inner;
        uint32_t seed = 41u;
        /* an offset mean makes naive variance formulas lose precision */
        float *x = rand_floats(&seed, total, 9, 11), *dy = rand_floats(&seed, total, -1, 1);
        float *gamma = rand_floats(&seed, p.c, 0.5f, 1.5f), *beta = rand_floats(&seed, p.c, -1, 1);
        float *rm = rand_floats(&seed, p.c, -1, 1), *rv = rand_floats(&seed, p.c, 0.5f, 2);
        op_spec s = {.what = "batchnorm", .nin = 4, .nout = 9,
                     .in_data = {x, gamma, beta, dy}, .in_n = {total, p.c, p.c, total},
                     .out_init = {NULL, rm, rv, NULL, NULL, NULL, NULL, NULL, NULL},
                     .out_n = {total, p.c, p.c, p.c, p.c, total, total, p.c, p.c},
                     .tol = {1e-4, 1e-5, 1e-5, 1e-5, 1e-4, 1e-4, 1e-3, 1e-4, 1e-5}};
        cross_check(bn_op, &p, &s);
        free(x), free(dy), free(gamma), free(beta), free(rm), free(rv);
    }
}
END_TEST

/* The reference batch norm on numbers small enough to check by hand. */
START_TEST(test_cpu_ref_batchnorm_hand_case)
{
    harness_backend h;
    open_ref(&h);
    /* one channel, x = [1 2 3 4]: mean 2.5, biased var 1.25, unbiased 5/3 */
    float x[4] = {1, 2, 3, 4}, one = 1, zero = 0;
    tbuf bx = tnew(&h, x, 4), bg = tnew(&h, &one, 1), bb = tnew(&h, &zero, 1);
    tbuf by = tnew(&h, NULL, 4), brm = tnew(&h, &zero, 1), brv = tnew(&h, &one, 1);
    tbuf bsm = tnew(&h, NULL, 1), bsi = tnew(&h, NULL, 1);
    OK(&h, h.be->batchnorm_forward_train(h.ctx, 4, 1, 1, 0.0f, 0.5f, tref(bx), tref(bg), tref(bb),
                                         tref(by), tref(brm), tref(brv), tref(bsm), tref(bsi)));
    float y[4], rm, rv, sm, si;
    tread(&h, by, y, "y"), tread(&h, brm, &rm, "rm"), tread(&h, brv, &rv, "rv");
    tread(&h, bsm, &sm, "sm"), tread(&h, bsi, &si, "si");
    ck_assert_float_eq_tol(sm, 2.5f, 1e-7f);
    ck_assert_float_eq_tol(si, 1.0f / sqrtf(1.25f), 1e-6f);
    ck_assert_float_eq_tol(y[0], -1.5f / sqrtf(1.25f), 1e-6f);
    ck_assert_float_eq_tol(rm, 1.25f, 1e-7f);                 /* 0.5*0 + 0.5*2.5 */
    ck_assert_float_eq_tol(rv, 0.5f + 0.5f * 5.0f / 3.0f, 1e-6f);
    tfree(&h, bx), tfree(&h, bg), tfree(&h, bb), tfree(&h, by), tfree(&h, brm), tfree(&h, brv);
    tfree(&h, bsm), tfree(&h, bsi);
    harness_close(&h);
}
END_TEST

/* ---------------- dropout ---------------- */

typedef struct drop_params {
    size_t n;
    float p;
    uint32_t seed;
} drop_params;

static void dropout_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const drop_params *p = vp;
    OK(h, h->be->dropout_forward(h->ctx, p->n, p->p, p->seed, tref(in[0]), tref(out[0]),
                                 tref(out[1])));
}

START_TEST(test_cpu_dropout_vs_reference)
{
    float ps[] = {0.0f, 0.25f, 0.5f, 1.0f};
    for (size_t li = 0; li < NLEN; li++)
        for (int pi = 0; pi < 4; pi++) {
            size_t n = lengths[li];
            uint32_t seed = 51u;
            float *x = rand_floats(&seed, n, -1, 1);
            drop_params p = {n, ps[pi], 1234u + (uint32_t)li};
            op_spec s = {.what = "dropout", .nin = 1, .nout = 2, .in_data = {x}, .in_n = {n},
                         .out_n = {n, n}, .tol = {-1, -1}};
            cross_check(dropout_op, &p, &s);
            /* and the mask is the ABI's hash */
            harness_backend h;
            open_ref(&h);
            float **r = run_op(&h, dropout_op, &p, &s);
            for (size_t i = 0; i < n; i++) {
                int keep = (float)mlopt_dropout_u24(p.seed, (uint32_t)i) >= p.p * 16777216.0f;
                float want = keep ? 1.0f / (1.0f - p.p) : 0.0f;
                EXPECT(r[1][i] == want, "dropout mask[%zu] = %g, want %g", i, (double)r[1][i],
                       (double)want);
                EXPECT(r[0][i] == x[i] * want, "dropout y[%zu] wrong", i);
            }
            free_res(r);
            harness_close(&h);
            free(x);
        }
}
END_TEST

/* ---------------- softmax and losses ---------------- */

typedef struct sm_params {
    int rows, cols, log_out, which;
    float inv_temp, grad_scale;
} sm_params;

static void softmax_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const sm_params *p = vp;
    switch (p->which) {
    case 0:
        OK(h, h->be->softmax_forward(h->ctx, p->rows, p->cols, p->inv_temp, p->log_out,
                                     tref(in[0]), tref(out[0])));
        break;
    case 1:
        OK(h, h->be->softmax_xent(h->ctx, p->rows, p->cols, p->inv_temp, tref(in[0]), tref(in[1]),
                                  tref(out[1]), p->log_out ? tref(out[0]) : null_ref(),
                                  p->grad_scale));
        break;
    case 2:
        OK(h, h->be->softmax_kl(h->ctx, p->rows, p->cols, p->inv_temp, tref(in[0]), tref(in[2]),
                                tref(out[1]), p->log_out ? tref(out[0]) : null_ref(),
                                p->grad_scale));
        break;
    case 3:
        OK(h, h->be->argmax(h->ctx, p->rows, p->cols, tref(in[0]), tref(out[0])));
        OK(h, h->be->accuracy_count(h->ctx, p->rows, p->cols, tref(in[0]), tref(in[1]),
                                    tref(out[1])));
        break;
    }
}

START_TEST(test_cpu_softmax_losses_vs_reference)
{
    int shapes[][2] = {{1, 1}, {3, 10}, {64, 10}, {17, 1000}, {300, 129}};
    for (int si = 0; si < 5; si++) {
        int rows = shapes[si][0], cols = shapes[si][1];
        size_t total = (size_t)rows * cols;
        uint32_t seed = 61u + (uint32_t)si;
        /* large offsets: exp without max subtraction would overflow */
        float *x = rand_floats(&seed, total, 80, 120), *t = rand_floats(&seed, total, -90, -70);
        int32_t *labels = malloc((size_t)rows * 4);
        for (int r = 0; r < rows; r++)
            labels[r] = (int32_t)(rng_next(&seed) % (uint32_t)cols);
        if (cols > 3) /* a tie: argmax must pick the first */
            x[2] = x[1] = 500.0f;
        float loss0 = 2.5f;
        for (int which = 0; which < 4; which++)
            for (int flag = 0; flag < 2; flag++) {
                sm_params p = {rows, cols, flag, which, which == 3 ? 1.0f : 0.5f, 1.0f / rows};
                op_spec s = {.what = "softmax/loss", .nin = 3, .nout = 2,
                             .in_data = {x, labels, t}, .in_n = {total, rows, total},
                             .out_init = {NULL, &loss0}, .out_n = {total, 1},
                             .tol = {which == 3 ? -1 : 1e-5, which == 3 ? -1 : 1e-5}};
                cross_check(softmax_op, &p, &s);
            }
        free(x), free(t), free(labels);
    }
}
END_TEST

START_TEST(test_cpu_ref_softmax_hand_case)
{
    harness_backend h;
    open_ref(&h);
    float x[3] = {1, 2, 3};
    int32_t label = 2;
    tbuf bx = tnew(&h, x, 3), by = tnew(&h, NULL, 3), bl = tnew(&h, &label, 1);
    tbuf bloss = tnew(&h, NULL, 1), bd = tnew(&h, NULL, 3);
    OK(&h, h.be->softmax_forward(h.ctx, 1, 3, 1.0f, 0, tref(bx), tref(by)));
    float y[3];
    tread(&h, by, y, "softmax");
    ck_assert_float_eq_tol(y[0], 0.09003057f, 1e-7f);
    ck_assert_float_eq_tol(y[1], 0.24472847f, 1e-7f);
    ck_assert_float_eq_tol(y[2], 0.66524096f, 1e-7f);
    OK(&h, h.be->softmax_forward(h.ctx, 1, 3, 1.0f, 1, tref(bx), tref(by)));
    tread(&h, by, y, "log_softmax");
    ck_assert_float_eq_tol(y[2], -0.40760596f, 1e-7f);
    OK(&h, h.be->softmax_xent(h.ctx, 1, 3, 1.0f, tref(bx), tref(bl), tref(bloss), tref(bd), 1.0f));
    float loss, d[3];
    tread(&h, bloss, &loss, "loss"), tread(&h, bd, d, "dlogits");
    ck_assert_float_eq_tol(loss, 0.40760596f, 1e-7f);
    ck_assert_float_eq_tol(d[2], 0.66524096f - 1.0f, 1e-7f);
    ck_assert_float_eq_tol(d[0], 0.09003057f, 1e-7f);
    tfree(&h, bx), tfree(&h, by), tfree(&h, bl), tfree(&h, bloss), tfree(&h, bd);
    harness_close(&h);
}
END_TEST

/* ---------------- reductions ---------------- */

typedef struct red_params {
    size_t n;
    int k, len, p;
} red_params;

static void reduce_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const red_params *p = vp;
    OK(h, h->be->reduce_sum(h->ctx, p->n, tref(in[0]), tref(out[0])));
    OK(h, h->be->reduce_max_abs(h->ctx, p->n, tref(in[0]), tref(out[1])));
    OK(h, h->be->channel_norm(h->ctx, p->k, p->len, p->p, tref(in[0]), tref(out[2])));
}

START_TEST(test_cpu_reductions_vs_reference)
{
    for (size_t li = 0; li < NLEN; li++)
        for (int pn = 1; pn <= 2; pn++) {
            size_t n = lengths[li];
            uint32_t seed = 71u;
            float *x = rand_floats(&seed, n, -3, 2);
            int k = n >= 7 ? 7 : 1, len = (int)(n / (size_t)k);
            red_params p = {n, k, len, pn};
            op_spec s = {.what = "reductions", .nin = 1, .nout = 3, .in_data = {x}, .in_n = {n},
                         .out_n = {1, 1, (size_t)k}, .tol = {1e-5, -1, 1e-5}};
            cross_check(reduce_op, &p, &s);
            free(x);
        }
}
END_TEST

/* ---------------- optimizers ---------------- */

typedef struct opt_params {
    size_t n;
    int adam, nesterov, first, decoupled, step;
    float lr, momentum, dampening, wd;
} opt_params;

static void opt_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const opt_params *p = vp;
    for (int rep = 0; rep < 3; rep++) { /* a few steps so the state matters */
        if (p->adam)
            OK(h, h->be->adam_update(h->ctx, p->n, p->lr, 0.9f, 0.999f, 1e-8f, p->wd,
                                     p->decoupled, p->step + rep, tref(out[0]), tref(in[0]),
                                     tref(out[1]), tref(out[2])));
        else
            OK(h, h->be->sgd_update(h->ctx, p->n, p->lr, p->momentum, p->dampening, p->wd,
                                    p->nesterov, p->first && rep == 0, tref(out[0]), tref(in[0]),
                                    tref(out[1])));
    }
}

START_TEST(test_cpu_optimizers_vs_reference)
{
    opt_params cases[] = {
        {0, 0, 0, 1, 0, 1, 0.1f, 0.0f, 0.0f, 0.0f},
        {0, 0, 0, 1, 0, 1, 0.01f, 0.9f, 0.0f, 1e-4f},
        {0, 0, 1, 0, 0, 1, 0.01f, 0.9f, 0.0f, 5e-4f},
        {0, 0, 0, 0, 0, 1, 0.05f, 0.8f, 0.3f, 0.0f},
        {0, 1, 0, 0, 0, 1, 1e-3f, 0, 0, 0.0f},
        {0, 1, 0, 0, 0, 10, 1e-3f, 0, 0, 1e-2f},
        {0, 1, 0, 0, 1, 1, 1e-3f, 0, 0, 1e-2f},
    };
    for (size_t li = 0; li < NLEN; li++)
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            opt_params p = cases[ci];
            p.n = lengths[li];
            uint32_t seed = 81u;
            float *w = rand_floats(&seed, p.n, -1, 1), *g = rand_floats(&seed, p.n, -1, 1);
            float *m = rand_floats(&seed, p.n, -0.1f, 0.1f), *v = rand_floats(&seed, p.n, 0, 0.01f);
            op_spec s = {.what = p.adam ? "adam" : "sgd", .nin = 1, .nout = 3, .in_data = {g},
                         .in_n = {p.n}, .out_init = {w, p.adam ? m : v, v},
                         .out_n = {p.n, p.n, p.n}, .tol = {1e-5, 1e-5, 1e-5}};
            cross_check(opt_op, &p, &s);
            free(w), free(g), free(m), free(v);
        }
}
END_TEST

START_TEST(test_cpu_ref_sgd_hand_case)
{
    harness_backend h;
    open_ref(&h);
    /* w=1, g=0.5, wd=0.1: g'=0.6; first step v=0.6, w=1-0.1*0.6=0.94;
     * second step: g'=0.5+0.094=0.594, v=0.9*0.6+0.594=1.134, w=0.94-0.1134 */
    float w = 1.0f, g = 0.5f;
    tbuf bw = tnew(&h, &w, 1), bg = tnew(&h, &g, 1), bv = tnew(&h, NULL, 1);
    OK(&h, h.be->sgd_update(h.ctx, 1, 0.1f, 0.9f, 0.0f, 0.1f, 0, 1, tref(bw), tref(bg), tref(bv)));
    OK(&h, h.be->sgd_update(h.ctx, 1, 0.1f, 0.9f, 0.0f, 0.1f, 0, 0, tref(bw), tref(bg), tref(bv)));
    float out;
    tread(&h, bw, &out, "w");
    ck_assert_float_eq_tol(out, 0.94f - 0.1134f, 1e-6f);
    tfree(&h, bw), tfree(&h, bg), tfree(&h, bv);
    harness_close(&h);
}
END_TEST

/* ---------------- pooling ---------------- */

static void pool_op(harness_backend *h, const tbuf *in, const tbuf *out, const void *vp)
{
    const int *mode = vp;
    mlopt_pool2d_params q;
    memcpy(&q, (const char *)vp + 2 * sizeof(int), sizeof q);
    OK(h, h->be->pool2d_forward(h->ctx, mode[0], &q, tref(in[0]), tref(out[0])));
    OK(h, h->be->pool2d_backward(h->ctx, mode[0], &q, tref(in[0]), tref(in[1]), tref(out[1])));
}

START_TEST(test_cpu_pool_vs_reference)
{
    mlopt_pool2d_params cases[] = {
        /* n c h w kh kw sh sw ph pw dh dw */
        {2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {1, 2, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},  /* overlapping, padded */
        {3, 1, 10, 6, 3, 2, 1, 1, 1, 0, 2, 1, 0, 0}, /* dilated */
        {64, 32, 26, 26, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0}, /* seed CNN */
        /* 2x2/2 rows of fewer than 8 outputs (AVX-512 row kernel): the seed
         * CNN's second pool (odd size, last row and column unused), a
         * single output per row, exactly 7 */
        {5, 6, 11, 11, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {2, 3, 5, 3, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {2, 2, 4, 15, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
        /* rows of 9 and 16 outputs (AVX-512, second half of the lanes used),
         * and 17 (the AVX2 kernel again) */
        {1, 3, 6, 18, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {2, 2, 4, 33, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
        {1, 2, 4, 34, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int mode = 0; mode < 3; mode++) {
            struct {
                int mode, pad;
                mlopt_pool2d_params p;
            } arg = {mode, 0, cases[ci]};
            mlopt_pool2d_params *p = &arg.p;
            p->oh = (p->h + 2 * p->pad_h - p->dil_h * (p->kh - 1) - 1) / p->stride_h + 1;
            p->ow = (p->w + 2 * p->pad_w - p->dil_w * (p->kw - 1) - 1) / p->stride_w + 1;
            size_t nx = (size_t)p->n * p->c * p->h * p->w, ny = (size_t)p->n * p->c * p->oh * p->ow;
            uint32_t seed = 91u;
            float *x = rand_floats(&seed, nx, -1, 1), *dy = rand_floats(&seed, ny, -1, 1);
            /* duplicated maxima: the first one must get the gradient */
            for (size_t i = 0; i + 1 < nx; i += 5)
                x[i + 1] = x[i];
            op_spec s = {.what = "pool", .nin = 2, .nout = 2, .in_data = {x, dy},
                         .in_n = {nx, ny}, .out_n = {ny, nx}, .tol = {1e-6, 1e-6}};
            cross_check(pool_op, &arg, &s);
            free(x), free(dy);
        }
}
END_TEST

START_TEST(test_cpu_ref_pool_hand_case)
{
    harness_backend h;
    open_ref(&h);
    /* 2x2 max pool over [1 5; 5 2]: max 5, gradient to the first 5 only */
    mlopt_pool2d_params p = {1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1};
    float x[4] = {1, 5, 5, 2}, dy = 3.0f;
    tbuf bx = tnew(&h, x, 4), by = tnew(&h, NULL, 1), bdy = tnew(&h, &dy, 1), bdx = tnew(&h, NULL, 4);
    OK(&h, h.be->pool2d_forward(h.ctx, MLOPT_POOL_MAX, &p, tref(bx), tref(by)));
    OK(&h, h.be->pool2d_backward(h.ctx, MLOPT_POOL_MAX, &p, tref(bx), tref(bdy), tref(bdx)));
    float y, dx[4];
    tread(&h, by, &y, "y"), tread(&h, bdx, dx, "dx");
    ck_assert_float_eq(y, 5.0f);
    ck_assert_float_eq(dx[0], 0.0f);
    ck_assert_float_eq(dx[1], 3.0f);
    ck_assert_float_eq(dx[2], 0.0f);
    /* 3x3 average with padding 1 at the corner: 4 inside elements; with
     * the padding counted the divisor is 9 */
    mlopt_pool2d_params q = {1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2};
    tbuf by4 = tnew(&h, NULL, 4);
    OK(&h, h.be->pool2d_forward(h.ctx, MLOPT_POOL_AVG, &q, tref(bx), tref(by4)));
    float y4[4];
    tread(&h, by4, y4, "avg");
    ck_assert_float_eq(y4[0], 13.0f / 4.0f);
    OK(&h, h.be->pool2d_forward(h.ctx, MLOPT_POOL_AVG_INCL_PAD, &q, tref(bx), tref(by4)));
    tread(&h, by4, y4, "avg incl pad");
    ck_assert_float_eq_tol(y4[0], 13.0f / 9.0f, 1e-7f);
    tfree(&h, bx), tfree(&h, by), tfree(&h, bdy), tfree(&h, bdx), tfree(&h, by4);
    harness_close(&h);
}
END_TEST

/* ---------------- basics ---------------- */

START_TEST(test_cpu_probe_reports_one_cpu)
{
    harness_backend h;
    char err[4096];
    ck_assert_msg(harness_load("cpu", &h, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(h.be->name, "cpu");
    ck_assert_int_eq(h.be->abi_major, MLOPT_BACKEND_ABI_MAJOR);
    mlopt_device_info devs[4];
    int count = -1;
    ck_assert_int_eq(h.be->probe(devs, 4, &count, err, sizeof err), 0);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(devs[0].type, MLOPT_DEVICE_CPU);
    ck_assert_int_eq(devs[0].usable, 1);
    ck_assert(strlen(devs[0].name) > 0);
    ck_assert(devs[0].compute_units >= 1);
    /* every slot is implemented */
    const void *const *slots = (const void *const *)&h.be->probe;
    size_t nslots = (sizeof(mlopt_backend) - offsetof(mlopt_backend, probe)) / sizeof(void *);
    for (size_t i = 0; i < nslots; i++)
        ck_assert_msg(slots[i] != NULL, "slot %zu is NULL", i);
    /* selectors */
    ck_assert_int_eq(h.be->create("0", &h.ctx, err, sizeof err), 0);
    h.be->destroy(h.ctx);
    ck_assert_int_eq(h.be->create("CPU", &h.ctx, err, sizeof err), 0);
    h.be->destroy(h.ctx);
    h.ctx = NULL;
    ck_assert_int_ne(h.be->create("no-such-device", &h.ctx, err, sizeof err), 0);
    ck_assert(strlen(err) > 0);
}
END_TEST

START_TEST(test_cpu_buffers_and_stats)
{
    harness_backend h;
    open_fast(&h);
    const mlopt_backend *be = h.be;
    mlopt_buffer *buf;
    ck_assert_int_eq(be->buffer_alloc(h.ctx, 64 * sizeof(float), &buf), 0);
    float src[16], out[16];
    for (int i = 0; i < 16; i++)
        src[i] = (float)i;
    mlopt_ref r0 = {buf, 0}, r16 = {buf, 16 * sizeof(float)}, r32 = {buf, 32 * sizeof(float)};
    ck_assert_int_eq(be->reset_stats(h.ctx), 0);
    ck_assert_int_eq(be->upload(h.ctx, r0, src, sizeof src), 0);
    ck_assert_int_eq(be->copy(h.ctx, r16, r0, sizeof src), 0);
    ck_assert_int_eq(be->fill(h.ctx, r32, 2.5f, 16), 0);
    ck_assert_int_eq(be->synchronize(h.ctx), 0);
    ck_assert_int_eq(be->download(h.ctx, out, r16, sizeof out), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(out[i], (float)i);
    ck_assert_int_eq(be->download(h.ctx, out, r32, sizeof out), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(out[i], 2.5f);
    mlopt_backend_stats st;
    ck_assert_int_eq(be->get_stats(h.ctx, &st), 0);
    ck_assert_uint_eq(st.bytes_h2d, sizeof src);
    ck_assert_uint_eq(st.bytes_d2h, 2 * sizeof out);
    ck_assert_uint_eq(st.host_syncs, 3);
    ck_assert_uint_eq(st.kernels, 2);
    /* out of range: refused, message names the call */
    mlopt_ref past = {buf, 60 * sizeof(float)};
    ck_assert_int_ne(be->upload(h.ctx, past, src, sizeof src), 0);
    ck_assert_ptr_nonnull(strstr(be->last_error(h.ctx), "upload"));
    ck_assert_int_ne(be->fill(h.ctx, past, 1.0f, 16), 0);
    ck_assert_ptr_nonnull(strstr(be->last_error(h.ctx), "fill"));
    mlopt_device_info info;
    ck_assert_int_eq(be->device_info(h.ctx, &info), 0);
    ck_assert_int_eq(info.type, MLOPT_DEVICE_CPU);
    be->buffer_free(h.ctx, buf);
    harness_close(&h);
}
END_TEST

static Suite *cpu_ops_suite(void)
{
    Suite *s = suite_create("cpu_ops");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_cpu_probe_reports_one_cpu);
    tcase_add_test(tc, test_cpu_buffers_and_stats);
    tcase_add_test(tc, test_cpu_elementwise_vs_reference);
    tcase_add_test(tc, test_cpu_activations_vs_reference);
    tcase_add_test(tc, test_cpu_bias_vs_reference);
    tcase_add_test(tc, test_cpu_batchnorm_vs_reference);
    tcase_add_test(tc, test_cpu_ref_batchnorm_hand_case);
    tcase_add_test(tc, test_cpu_dropout_vs_reference);
    tcase_add_test(tc, test_cpu_softmax_losses_vs_reference);
    tcase_add_test(tc, test_cpu_ref_softmax_hand_case);
    tcase_add_test(tc, test_cpu_reductions_vs_reference);
    tcase_add_test(tc, test_cpu_optimizers_vs_reference);
    tcase_add_test(tc, test_cpu_ref_sgd_hand_case);
    tcase_add_test(tc, test_cpu_pool_vs_reference);
    tcase_add_test(tc, test_cpu_ref_pool_hand_case);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cpu_ops_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
