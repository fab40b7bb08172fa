/* CPU backend: GEMM and convolution, fast path vs scalar reference, the
 * reference vs hand-computed cases, thread-count independence. */
#include "test_cpu_util.h"

typedef struct gemm_case {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
} gemm_case;

/* Runs one GEMM on h; inputs generated from seed; returns C (m x ldc). */
static float *run_gemm(harness_backend *h, const gemm_case *g, uint32_t seed)
{
    int a_rows = g->ta ? g->k : g->m, b_rows = g->tb ? g->n : g->k;
    size_t na = (size_t)a_rows * g->lda, nb = (size_t)b_rows * g->ldb, nc = (size_t)g->m * g->ldc;
    float *a = rand_floats(&seed, na, -1, 1), *b = rand_floats(&seed, nb, -1, 1);
    float *c = rand_floats(&seed, nc, -1, 1);
    if (g->beta == 0.0f) /* beta == 0: C must not be read, so NaNs must not leak */
        for (size_t i = 0; i < nc; i++)
            c[i] = NAN;
    tbuf ta = tnew(h, a, na), tb = tnew(h, b, nb), tc = tnew(h, c, nc);
    ck_assert_msg(h->be->gemm(h->ctx, g->ta, g->tb, g->m, g->n, g->k, g->alpha, tref(ta), g->lda,
                              tref(tb), g->ldb, g->beta, tref(tc), g->ldc) == 0,
                  "%s", h->be->last_error(h->ctx));
    tread(h, tc, c, "gemm C");
    tfree(h, ta), tfree(h, tb), tfree(h, tc);
    free(a), free(b);
    return c;
}

static void compare_gemm(harness_backend *fast, harness_backend *ref, const gemm_case *g,
                         uint32_t seed)
{
    float *got = run_gemm(fast, g, seed), *want = run_gemm(ref, g, seed);
    char what[160];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g", g->ta, g->tb,
             g->m, g->n, g->k, (double)g->alpha, (double)g->beta);
    for (int i = 0; i < g->m; i++) {
        /* columns beyond n (ldc padding) are outside C: both must keep them */
        for (int j = g->n; j < g->ldc; j++) {
            float x = got[(size_t)i * g->ldc + j], y = want[(size_t)i * g->ldc + j];
            EXPECT(memcmp(&x, &y, sizeof x) == 0, "%s: padding column %d changed", what, j);
        }
        expect_close(got + (size_t)i * g->ldc, want + (size_t)i * g->ldc, (size_t)g->n, 1e-4,
                     what);
    }
    free(got), free(want);
}

/* The GEMM sweep on one fast context against the reference. */
static void gemm_sweep(harness_backend *fast)
{
    static const int sizes[] = {1, 7, 13, 17, 31, 64, 97};
    static const float alphas[] = {1.0f, -0.5f, 2.0f};
    static const float betas[] = {0.0f, 1.0f, 0.75f};
    harness_backend ref;
    open_ref(&ref);
    int count = 0;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 7; j++, count++) {
                gemm_case g = {.ta = t & 1, .tb = t >> 1, .m = sizes[i], .n = sizes[j],
                               .k = sizes[(i + j + t) % 7]};
                g.alpha = alphas[count % 3];
                g.beta = betas[(count / 3) % 3];
                int pad = count % 2 ? 3 : 0; /* strides larger than the rows */
                g.lda = (g.ta ? g.m : g.k) + pad;
                g.ldb = (g.tb ? g.k : g.n) + pad;
                g.ldc = g.n + pad;
                compare_gemm(fast, &ref, &g, 1000u + (uint32_t)count);
            }
    /* several KC slices, MC blocks and thread stripes */
    for (int t = 0; t < 4; t++) {
        gemm_case g = {.ta = t & 1, .tb = t >> 1, .m = 301, .n = 203, .k = 523, .alpha = 0.5f,
                       .beta = t == 3 ? 0.0f : 1.5f};
        if (t == 2) /* wide: threads split columns */
            g.m = 37, g.n = 611;
        g.lda = (g.ta ? g.m : g.k) + 5;
        g.ldb = (g.tb ? g.k : g.n) + 1;
        g.ldc = g.n + 2;
        compare_gemm(fast, &ref, &g, 77u + (uint32_t)t);
    }
    harness_close(&ref);
}

/* Shapes for the unpacked small-problem paths (cpu_gemm_small_avx512.c,
 * taken below 64^3 multiply-adds on AVX-512 machines): column counts that
 * end inside each of the three 16-wide vectors of a 48-column block, row
 * counts that end inside an 8-row (NN) or 4-row (dot) block, column counts
 * that end inside a 3-column dot block, k across the 192-deep slices the
 * NN path shares with the blocked one, and k ending inside a 16-wide dot
 * chunk; strides larger than the rows (their padding must stay intact). */
START_TEST(test_cpu_gemm_small_shapes_vs_reference)
{
    static const gemm_case cases[] = {
        /* ta tb  m   n    k   (ld*, alpha, beta filled in below) */
        {0, 0, 5, 65, 16, 0, 0, 0, 1.0f, 0.0f},
        {0, 0, 9, 50, 20, 0, 0, 0, 1.0f, 0.5f},
        {1, 0, 7, 47, 33, 0, 0, 0, -0.5f, 1.0f},
        {0, 0, 13, 129, 40, 0, 0, 0, 2.0f, 0.75f},
        {1, 0, 1, 17, 400, 0, 0, 0, 1.0f, 0.0f},   /* three k slices */
        {0, 0, 2, 3, 385, 0, 0, 0, 1.0f, 1.0f},
        {1, 0, 10, 128, 64, 0, 0, 0, 1.0f, 0.0f},  /* fc2 weight gradient */
        {1, 0, 9, 676, 32, 0, 0, 0, 1.0f, 0.0f},   /* conv1 data gradient */
        {0, 1, 64, 10, 128, 0, 0, 0, 1.0f, 0.0f},  /* fc2 forward */
        {0, 1, 32, 9, 676, 0, 0, 0, 1.0f, 1.0f},   /* conv1 filter gradient */
        {0, 1, 5, 4, 71, 0, 0, 0, -0.5f, 0.75f},
        {0, 1, 1, 1, 64, 0, 0, 0, 2.0f, 0.0f},
        {0, 1, 3, 2, 1000, 0, 0, 0, 1.0f, 0.0f},
        /* k <= 12, B not transposed: B held in registers (conv1 forward) */
        {0, 0, 32, 676, 9, 0, 0, 0, 1.0f, 0.0f},
        {1, 0, 7, 300, 12, 0, 0, 0, 0.5f, 1.0f},
        /* n <= 16: the narrow kernels, 12-row blocks and a remainder (NN,
         * TN), one row at a time for n > 14 (NT) with a k tail */
        {0, 0, 25, 16, 50, 0, 0, 0, 1.0f, 0.5f},
        {1, 0, 13, 5, 30, 0, 0, 0, -1.0f, 0.0f},
        {0, 1, 7, 16, 45, 0, 0, 0, 1.0f, 1.0f},
        {0, 1, 6, 15, 200, 0, 0, 0, 0.25f, 0.0f},
    };
    harness_backend fast, ref;
    open_fast(&fast);
    open_ref(&ref);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gemm_case g = cases[i];
        int pad = i % 2 ? 5 : 0;
        g.lda = (g.ta ? g.m : g.k) + pad;
        g.ldb = (g.tb ? g.k : g.n) + pad;
        g.ldc = g.n + 3; /* always a guard zone right of C */
        compare_gemm(&fast, &ref, &g, 4000u + (uint32_t)i);
    }
    harness_close(&fast);
    harness_close(&ref);
}
END_TEST

/* Each case on one thread against the reference, then one thread against
 * two bit for bit.  Odd cases get their leading dimensions padded by pad
 * (even ones when odd_pad is 0); C always has a guard zone on its right. */
static void check_cases_1_2_threads(const gemm_case *cases, size_t count, int pad, int odd_pad, uint32_t seed,
                                    const char *what)
{
    harness_backend one, ref, two;
    open_threads(&one, 1);
    open_threads(&two, 2);
    open_ref(&ref);
    for (size_t i = 0; i < count; i++) {
        gemm_case g = cases[i];
        int p = (int)(i % 2) == odd_pad ? pad : 0;
        g.lda = (g.ta ? g.m : g.k) + p;
        g.ldb = (g.tb ? g.k : g.n) + p;
        g.ldc = g.n + 3;
        compare_gemm(&one, &ref, &g, seed + (uint32_t)i);
        float *c1 = run_gemm(&one, &g, seed + 1000u + (uint32_t)i), *c2 = run_gemm(&two, &g, seed + 1000u + (uint32_t)i);
        ck_assert_msg(memcmp(c1, c2, (size_t)g.m * g.ldc * sizeof(float)) == 0,
                      "%s case %zu differs between 1 and 2 threads", what, i);
        free(c1), free(c2);
    }
    harness_close(&one);
    harness_close(&two);
    harness_close(&ref);
}

/* B not transposed, few rows, many columns, above the small-problem size:
 * the unpacked 8 x 48 kernel on column blocks split over the threads
 * (cpu_gemm.c, CPU_GEMM_BDIRECT_*).  Row counts ending inside an 8-row
 * tile, column counts ending inside each 16-wide vector of the last
 * 48-column block, k across 192-deep slices, beta != 0 and padded strides;
 * two threads agree with one bit for bit. */
START_TEST(test_cpu_gemm_b_in_place_vs_reference)
{
    static const gemm_case cases[] = {
        /* ta tb  m    n     k */
        {0, 0, 64, 1600, 128, 0, 0, 0, 1.0f, 0.0f},   /* fc1 input gradient */
        {1, 0, 128, 1600, 64, 0, 0, 0, 1.0f, 1.0f},   /* fc1 weight gradient, accumulated */
        {0, 0, 13, 401, 200, 0, 0, 0, -0.5f, 0.75f},  /* two k slices, tail in vector 1 */
        {1, 0, 121, 394, 37, 0, 0, 0, 2.0f, 0.0f},    /* tail in vector 0 */
        {0, 0, 100, 431, 50, 0, 0, 0, 1.0f, 1.0f},    /* tail in vector 2 */
    };
    check_cases_1_2_threads(cases, sizeof cases / sizeof cases[0], 7, 0, 5000u, "B-in-place GEMM");
}
END_TEST

/* m a multiple of 8 but not of 12, up to 256, above the small-problem
 * size: the blocked path with the 8 x 48 micro-kernel (cpu_gemm_avx512_8x48.c).
 * Last panels of 1-16, 17-32 and 33-47 columns (its one-, two- and
 * three-vector loops), k across 192-deep slices, every transpose, beta !=
 * 0, padded strides, row and column stripes over two threads (bit for bit
 * against one). */
START_TEST(test_cpu_gemm_8row_tiles_vs_reference)
{
    static const gemm_case cases[] = {
        /* ta tb  m    n    k */
        {0, 0, 64, 121, 288, 0, 0, 0, 1.0f, 0.0f},   /* seed CNN conv2 forward: 48+48+25 */
        {0, 1, 64, 128, 400, 0, 0, 0, 1.0f, 1.0f},   /* fc1 forward-like, NT, 48+48+32 */
        {1, 0, 16, 350, 77, 0, 0, 0, -0.5f, 0.75f},  /* TN, 7 x 48 + 14 */
        {1, 1, 136, 100, 200, 0, 0, 0, 2.0f, 0.0f},  /* TT, 48+48+4, 17 row tiles */
        {0, 0, 232, 96, 150, 0, 0, 0, 1.0f, 1.0f},   /* whole panels, row stripes */
    };
    check_cases_1_2_threads(cases, sizeof cases / sizeof cases[0], 5, 1, 7000u, "8-row GEMM");
}
END_TEST

START_TEST(test_cpu_gemm_vs_reference)
{
    harness_backend fast;
    open_fast(&fast);
    gemm_sweep(&fast);
    harness_close(&fast);
}
END_TEST

/* The other kernels this machine can run: portable blocked C and AVX2. */
START_TEST(test_cpu_gemm_isa_variants_vs_reference)
{
    static const char *isas[] = {"scalar", "avx2"};
    for (int i = 0; i < 2; i++) {
        harness_backend fast;
        open_isa(&fast, isas[i]);
        gemm_sweep(&fast);
        harness_close(&fast);
    }
}
END_TEST

START_TEST(test_cpu_gemm_alpha_zero_and_empty)
{
    harness_backend h;
    open_fast(&h);
    float a[4] = {NAN, NAN, NAN, NAN}, c[4] = {1, 2, 3, 4};
    tbuf ta = tnew(&h, a, 4), tc = tnew(&h, c, 4);
    /* alpha == 0: A and B are not read, C = beta C */
    ck_assert_int_eq(h.be->gemm(h.ctx, 0, 0, 2, 2, 2, 0.0f, tref(ta), 2, tref(ta), 2, 2.0f,
                                tref(tc), 2), 0);
    float out[4];
    tread(&h, tc, out, "C");
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(out[i], 2.0f * c[i]);
    /* k == 0, beta == 0: C = 0 */
    ck_assert_int_eq(h.be->gemm(h.ctx, 0, 0, 2, 2, 0, 1.0f, tref(ta), 1, tref(ta), 2, 0.0f,
                                tref(tc), 2), 0);
    tread(&h, tc, out, "C");
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(out[i], 0.0f);
    /* out of bounds: refused with a message naming the call */
    ck_assert_int_ne(h.be->gemm(h.ctx, 0, 0, 20, 20, 20, 1.0f, tref(ta), 20, tref(ta), 20, 0.0f,
                                tref(tc), 20), 0);
    ck_assert_ptr_nonnull(strstr(h.be->last_error(h.ctx), "gemm"));
    tfree(&h, ta), tfree(&h, tc);
    harness_close(&h);
}
END_TEST

START_TEST(test_cpu_gemm_strided_batched_vs_reference)
{
    harness_backend fast, ref;
    open_fast(&fast);
    open_ref(&ref);
    for (int t = 0; t < 4; t++) {
        int ta = t & 1, tb = t >> 1, m = 13, n = 19, k = 29, batch = 5;
        int lda = (ta ? m : k) + 1, ldb = (tb ? k : n), ldc = n + 3;
        long long sa = (long long)(ta ? k : m) * lda + 7, sb = (long long)(tb ? n : k) * ldb,
                  sc = (long long)m * ldc + 1;
        size_t na = (size_t)sa * batch, nb = (size_t)sb * batch, nc = (size_t)sc * batch;
        uint32_t seed = 5u + t;
        float *a = rand_floats(&seed, na, -1, 1), *b = rand_floats(&seed, nb, -1, 1);
        float *c0 = rand_floats(&seed, nc, -1, 1);
        float *out[2];
        harness_backend *hs[2] = {&fast, &ref};
        for (int s = 0; s < 2; s++) {
            harness_backend *h = hs[s];
            tbuf bA = tnew(h, a, na), bB = tnew(h, b, nb), bC = tnew(h, c0, nc);
            ck_assert_int_eq(h->be->gemm_strided_batched(h->ctx, ta, tb, m, n, k, 1.25f,
                                                         tref(bA), lda, sa, tref(bB), ldb, sb,
                                                         0.5f, tref(bC), ldc, sc, batch), 0);
            out[s] = malloc(nc * sizeof(float));
            tread(h, bC, out[s], "batched C");
            tfree(h, bA), tfree(h, bB), tfree(h, bC);
        }
        expect_close(out[0], out[1], nc, 1e-4, "gemm_strided_batched");
        free(out[0]), free(out[1]), free(a), free(b), free(c0);
    }
    harness_close(&fast);
    harness_close(&ref);
}
END_TEST

/* The reference itself on a case small enough to do by hand. */
START_TEST(test_cpu_ref_gemm_hand_case)
{
    harness_backend h;
    open_ref(&h);
    /* A = [1 2 3; 4 5 6] (2x3), B = [7 8; 9 10; 11 12] (3x2)
     * A B = [58 64; 139 154]; C = 2 A B + 1 [1 1; 1 1] */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12}, c[4] = {1, 1, 1, 1};
    tbuf ta = tnew(&h, a, 6), tb = tnew(&h, b, 6), tc = tnew(&h, c, 4);
    ck_assert_int_eq(h.be->gemm(h.ctx, 0, 0, 2, 2, 3, 2.0f, tref(ta), 3, tref(tb), 2, 1.0f,
                                tref(tc), 2), 0);
    float out[4];
    tread(&h, tc, out, "C");
    ck_assert_float_eq(out[0], 117.0f);
    ck_assert_float_eq(out[1], 129.0f);
    ck_assert_float_eq(out[2], 279.0f);
    ck_assert_float_eq(out[3], 309.0f);
    /* Both transposed: A^T = [1 4; 2 5; 3 6] (3x2), and B stored 3x2 read as
     * B^T = [7 9 11; 8 10 12] (2x3); beta = 0 ignores the NaNs in C. */
    float nan9[9] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    tbuf t9 = tnew(&h, nan9, 9);
    ck_assert_int_eq(h.be->gemm(h.ctx, 1, 1, 3, 3, 2, 1.0f, tref(ta), 3, tref(tb), 2, 0.0f,
                                tref(t9), 3), 0);
    float o9[9], want9[9] = {39, 49, 59, 54, 68, 82, 69, 87, 105};
    tread(&h, t9, o9, "C");
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(o9[i], want9[i]);
    tfree(&h, ta), tfree(&h, tb), tfree(&h, tc), tfree(&h, t9);
    harness_close(&h);
}
END_TEST

/* ---------------- convolution ---------------- */

static void conv_outsize(mlopt_conv2d_params *p)
{
    p->oh = (p->h + 2 * p->pad_h - p->dil_h * (p->r - 1) - 1) / p->stride_h + 1;
    p->ow = (p->w + 2 * p->pad_w - p->dil_w * (p->s - 1) - 1) / p->stride_w + 1;
}

typedef struct conv_out {
    float *y, *dx, *dw, *db;
} conv_out;

static conv_out run_conv(harness_backend *h, const mlopt_conv2d_params *p, uint32_t seed,
                         int with_bias)
{
    size_t nx = (size_t)p->n * p->c * p->h * p->w, nw = (size_t)p->k * (p->c / p->groups) * p->r * p->s;
    size_t ny = (size_t)p->n * p->k * p->oh * p->ow;
    float *x = rand_floats(&seed, nx, -1, 1), *w = rand_floats(&seed, nw, -1, 1);
    float *bias = rand_floats(&seed, (size_t)p->k, -1, 1), *dy = rand_floats(&seed, ny, -1, 1);
    tbuf bx = tnew(h, x, nx), bw = tnew(h, w, nw), bb = tnew(h, bias, (size_t)p->k);
    tbuf by = tnew(h, NULL, ny), bdy = tnew(h, dy, ny), bdx = tnew(h, NULL, nx);
    tbuf bdw = tnew(h, NULL, nw), bdb = tnew(h, NULL, (size_t)p->k);
    ck_assert_msg(h->be->conv2d_forward(h->ctx, p, tref(bx), tref(bw),
                                        with_bias ? tref(bb) : null_ref(), tref(by)) == 0,
                  "%s", h->be->last_error(h->ctx));
    ck_assert_msg(h->be->conv2d_backward_data(h->ctx, p, tref(bdy), tref(bw), tref(bdx)) == 0,
                  "%s", h->be->last_error(h->ctx));
    ck_assert_msg(h->be->conv2d_backward_filter(h->ctx, p, tref(bx), tref(bdy), tref(bdw),
                                                with_bias ? tref(bdb) : null_ref()) == 0,
                  "%s", h->be->last_error(h->ctx));
    conv_out o = {malloc(ny * 4 + 4), malloc(nx * 4 + 4), malloc(nw * 4 + 4), malloc((size_t)p->k * 4)};
    tread(h, by, o.y, "conv y");
    tread(h, bdx, o.dx, "conv dx");
    tread(h, bdw, o.dw, "conv dw");
    tread(h, bdb, o.db, "conv dbias");
    tfree(h, bx), tfree(h, bw), tfree(h, bb), tfree(h, by), tfree(h, bdy), tfree(h, bdx);
    tfree(h, bdw), tfree(h, bdb);
    free(x), free(w), free(bias), free(dy);
    return o;
}

static void free_conv(conv_out o)
{
    free(o.y), free(o.dx), free(o.dw), free(o.db);
}

static void compare_conv(harness_backend *a, harness_backend *b, mlopt_conv2d_params p,
                         uint32_t seed, double tol)
{
    conv_outsize(&p);
    conv_out x = run_conv(a, &p, seed, 1), y = run_conv(b, &p, seed, 1);
    char what[200];
    snprintf(what, sizeof what, "conv n=%d c=%d %dx%d k=%d %dx%d s%dx%d p%dx%d d%dx%d g%d", p.n,
             p.c, p.h, p.w, p.k, p.r, p.s, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h,
             p.dil_w, p.groups);
    size_t nx = (size_t)p.n * p.c * p.h * p.w, nw = (size_t)p.k * (p.c / p.groups) * p.r * p.s;
    expect_close(x.y, y.y, (size_t)p.n * p.k * p.oh * p.ow, tol, what);
    expect_close(x.dx, y.dx, nx, tol, what);
    expect_close(x.dw, y.dw, nw, tol, what);
    expect_close(x.db, y.db, (size_t)p.k, tol, what);
    free_conv(x), free_conv(y);
}

static const mlopt_conv2d_params conv_cases[] = {
    /* n  c  h   w   k  r  s  sh sw ph pw dh dw g */
    {2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {3, 4, 13, 7, 6, 3, 2, 2, 1, 0, 1, 1, 1, 2, 0, 0},   /* groups, asymmetric */
    {1, 6, 10, 10, 6, 3, 3, 1, 1, 2, 2, 2, 2, 6, 0, 0},  /* depthwise, dilated */
    {4, 8, 5, 5, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0},    /* pointwise */
    {2, 5, 17, 17, 3, 5, 5, 3, 3, 2, 1, 1, 1, 1, 0, 0},  /* stride > 1 */
    {5, 1, 28, 28, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},  /* seed CNN first layer, small */
    {3, 2, 1, 1, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0},    /* 1x1 image */
    {2, 4, 6, 6, 4, 7, 7, 1, 1, 3, 3, 1, 1, 2, 0, 0},    /* kernel larger than image */
    {3, 2, 9, 9, 32, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},   /* fewer taps than filters: dW^T path */
    {1, 1, 12, 12, 16, 3, 3, 2, 2, 0, 0, 1, 1, 1, 0, 0}, /* one image, dW^T, stride 2 */
    /* direct forward of one input channel per group (cpu_conv_avx2.c) */
    {3, 1, 19, 30, 13, 5, 4, 1, 1, 0, 0, 1, 1, 1, 0, 0}, /* 8 filters at once + rest */
    {2, 1, 7, 9, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},    /* rows shorter than a vector */
    {2, 3, 14, 41, 6, 3, 3, 1, 1, 0, 0, 1, 1, 3, 0, 0},  /* depthwise 3x3, 5 vectors a row */
    /* the AVX-512 3x3 direct forward (cpu_conv_direct_avx512.c): rows of 32
     * and 16 outputs, an odd number of rows and of filters */
    {2, 1, 19, 34, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    {1, 1, 18, 18, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    /* AVX-512 masked im2col / col2im rows (cpu_conv_avx512.c): rows of
     * three 16-lane chunks with padding masked at both ends, vertical
     * stride and dilation; rows of exactly one chunk */
    {2, 3, 6, 37, 4, 3, 5, 2, 1, 1, 2, 2, 1, 1, 0, 0},
    {2, 2, 5, 18, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    /* im2col into packed panels by permutes (unpadded, unit strides): the
     * seed CNN's conv2 shape with fewer channels (runs of 16 pixels across
     * two row ends; the last taps of the last image read up to the end of
     * the buffer), vertical dilation, and rows too short for a run to fit
     * in two vectors (the masked-row code) */
    {3, 8, 13, 13, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    {2, 16, 14, 12, 32, 3, 2, 1, 1, 0, 0, 2, 1, 1, 0, 0},
    {2, 4, 20, 20, 32, 17, 17, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    /* the filter gradient's cols^T written into packed panels
     * (cpu_im2col_packed_t_avx512): 12 x 32 tiles with taps ending inside a
     * 16-tap strip (crs 90), and 200 pixels over two 192-deep k slices */
    {2, 10, 13, 13, 36, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    {2, 6, 27, 10, 36, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
    /* 216 taps: the forward's permuted im2col and cols^T over two k slices */
    {2, 24, 13, 13, 36, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0},
};

START_TEST(test_cpu_conv_vs_reference)
{
    harness_backend fast, ref;
    open_fast(&fast);
    open_ref(&ref);
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        compare_conv(&fast, &ref, conv_cases[i], 300u + (uint32_t)i, 1e-4);
    harness_close(&fast);
    open_isa(&fast, "avx2");
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i += 2)
        compare_conv(&fast, &ref, conv_cases[i], 500u + (uint32_t)i, 1e-4);
    harness_close(&fast);
    harness_close(&ref);
}
END_TEST

/* With several images, forward and backward-data pack the weights once
 * per call (cpu_gemm_pack_a), and on AVX-512 the forward im2col writes
 * the packed B panels itself (cpu_im2col_packed_avx512); one image alone
 * packs both inside its GEMM.  The panels are the same, so each image's
 * results must match bit for bit.  Shapes: several k slices (c*r*s = 5*7*7 = 245 > 192 deep), rows
 * ending inside a micro-tile (k = 13 filters; 245 rows of W^T), groups. */
/* One case of the test below on context h. */
static void check_packed_case(harness_backend *h, mlopt_conv2d_params p, size_t ci)
{
    conv_outsize(&p);
    size_t xi = (size_t)p.c * p.h * p.w, yi = (size_t)p.k * p.oh * p.ow;
    size_t nw = (size_t)p.k * (p.c / p.groups) * p.r * p.s;
    uint32_t seed = 900u + (uint32_t)ci;
    float *x = rand_floats(&seed, xi * p.n, -1, 1), *w = rand_floats(&seed, nw, -1, 1);
    float *dy = rand_floats(&seed, yi * p.n, -1, 1);
    tbuf bx = tnew(h, x, xi * p.n), bw = tnew(h, w, nw), bdy = tnew(h, dy, yi * p.n);
    tbuf by = tnew(h, NULL, yi * p.n), bdx = tnew(h, NULL, xi * p.n);
    tbuf by1 = tnew(h, NULL, yi), bdx1 = tnew(h, NULL, xi);
    ck_assert_int_eq(h->be->conv2d_forward(h->ctx, &p, tref(bx), tref(bw), null_ref(), tref(by)), 0);
    ck_assert_int_eq(h->be->conv2d_backward_data(h->ctx, &p, tref(bdy), tref(bw), tref(bdx)), 0);
    float *yall = malloc(yi * p.n * 4), *dxall = malloc(xi * p.n * 4);
    float *y1 = malloc(yi * 4), *dx1 = malloc(xi * 4);
    tread(h, by, yall, "y");
    tread(h, bdx, dxall, "dx");
    mlopt_conv2d_params one = p;
    one.n = 1;
    for (int i = 0; i < p.n; i++) {
        mlopt_ref rx = tref(bx), rdy = tref(bdy);
        rx.offset += (size_t)i * xi * sizeof(float);
        rdy.offset += (size_t)i * yi * sizeof(float);
        ck_assert_int_eq(h->be->conv2d_forward(h->ctx, &one, rx, tref(bw), null_ref(), tref(by1)), 0);
        ck_assert_int_eq(h->be->conv2d_backward_data(h->ctx, &one, rdy, tref(bw), tref(bdx1)), 0);
        tread(h, by1, y1, "y1");
        tread(h, bdx1, dx1, "dx1");
        EXPECT(memcmp(y1, yall + (size_t)i * yi, yi * 4) == 0,
               "case %zu image %d: forward differs alone and in a batch", ci, i);
        EXPECT(memcmp(dx1, dxall + (size_t)i * xi, xi * 4) == 0,
               "case %zu image %d: backward-data differs alone and in a batch", ci, i);
    }
    free(x), free(w), free(dy), free(yall), free(dxall), free(y1), free(dx1);
    tfree(h, bx), tfree(h, bw), tfree(h, bdy), tfree(h, by), tfree(h, bdx);
    tfree(h, by1), tfree(h, bdx1);
}

START_TEST(test_cpu_conv_packed_weights_bit_identical)
{
    static const mlopt_conv2d_params cases[] = {
        {3, 5, 12, 11, 13, 7, 7, 1, 1, 3, 3, 1, 1, 1, 0, 0},
        {3, 4, 9, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},
        /* rows of 40 pixels: 16-wide pieces, pieces cut at 32-wide panel
         * edges; vertical stride and dilation */
        {3, 2, 9, 40, 4, 3, 3, 2, 1, 1, 1, 2, 1, 1, 0, 0},
    };
    /* default threads: images spread over threads, one-thread GEMMs;
     * 4 threads and 3 images: images in turn, each GEMM split into column
     * (forward) or row (backward-data) stripes of the packed operands */
    for (int threads = 0; threads <= 4; threads += 4) {
        harness_backend h;
        if (threads)
            open_threads(&h, threads);
        else
            open_fast(&h);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
            check_packed_case(&h, cases[ci], ci);
        harness_close(&h);
    }
}
END_TEST

START_TEST(test_cpu_ref_conv_hand_case)
{
    harness_backend h;
    open_ref(&h);
    /* 3x3 input 1..9, 2x2 kernel [1 0; 0 -1], bias 0.5, no padding:
     * y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere. */
    mlopt_conv2d_params p = {1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1, 2, 2};
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, -1}, b[1] = {0.5f};
    tbuf bx = tnew(&h, x, 9), bw = tnew(&h, w, 4), bb = tnew(&h, b, 1), by = tnew(&h, NULL, 4);
    ck_assert_int_eq(h.be->conv2d_forward(h.ctx, &p, tref(bx), tref(bw), tref(bb), tref(by)), 0);
    float y[4];
    tread(&h, by, y, "y");
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y[i], -3.5f);
    /* 3x3 kernel of ones, pad 1 on the same input: the centre output is the
     * sum of all nine (45), the corner output sums a 2x2 block (1+2+4+5). */
    mlopt_conv2d_params q = {1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 3, 3};
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    tbuf bw9 = tnew(&h, ones, 9), by9 = tnew(&h, NULL, 9);
    ck_assert_int_eq(h.be->conv2d_forward(h.ctx, &q, tref(bx), tref(bw9), null_ref(), tref(by9)), 0);
    float y9[9];
    tread(&h, by9, y9, "y9");
    ck_assert_float_eq(y9[4], 45.0f);
    ck_assert_float_eq(y9[0], 12.0f);
    ck_assert_float_eq(y9[8], 28.0f); /* 5+6+8+9 */
    /* backward data with dy = 1 everywhere: dx[i] counts the windows that
     * cover pixel i: corners 4, edges 6, centre 9. */
    tbuf bdy = tnew(&h, ones, 9), bdx = tnew(&h, NULL, 9);
    ck_assert_int_eq(h.be->conv2d_backward_data(h.ctx, &q, tref(bdy), tref(bw9), tref(bdx)), 0);
    float dx[9];
    tread(&h, bdx, dx, "dx");
    ck_assert_float_eq(dx[0], 4.0f);
    ck_assert_float_eq(dx[1], 6.0f);
    ck_assert_float_eq(dx[4], 9.0f);
    tfree(&h, bx), tfree(&h, bw), tfree(&h, bb), tfree(&h, by), tfree(&h, bw9), tfree(&h, by9);
    tfree(&h, bdy), tfree(&h, bdx);
    harness_close(&h);
}
END_TEST

/* MLOPT_NUM_THREADS=1 and =2 agree: GEMM bit for bit (same summation
 * order per element), convolution within rounding (filter gradients are
 * summed per thread). */
START_TEST(test_cpu_threads_1_vs_2)
{
    harness_backend one, two;
    open_threads(&one, 1);
    open_threads(&two, 2);
    gemm_case g = {.ta = 0, .tb = 1, .m = 257, .n = 190, .k = 300, .lda = 300, .ldb = 300,
                   .ldc = 190, .alpha = 1.0f, .beta = 0.0f};
    float *c1 = run_gemm(&one, &g, 9), *c2 = run_gemm(&two, &g, 9);
    ck_assert_msg(memcmp(c1, c2, (size_t)g.m * g.ldc * sizeof(float)) == 0,
                  "GEMM differs between 1 and 2 threads");
    free(c1), free(c2);
    /* small GEMMs whose row blocks are split over the threads */
    static const gemm_case small[] = {
        {0, 1, 32, 9, 676, 676, 676, 9, 1.0f, 0.0f},
        {0, 0, 32, 676, 9, 9, 676, 676, 1.0f, 0.0f},
        {1, 0, 9, 676, 32, 9, 676, 676, 1.0f, 0.0f},
    };
    for (int i = 0; i < 3; i++) {
        c1 = run_gemm(&one, &small[i], 10 + (uint32_t)i), c2 = run_gemm(&two, &small[i], 10 + (uint32_t)i);
        ck_assert_msg(memcmp(c1, c2, (size_t)small[i].m * small[i].ldc * sizeof(float)) == 0,
                      "small GEMM %d differs between 1 and 2 threads", i);
        free(c1), free(c2);
    }
    mlopt_conv2d_params p = {6, 3, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    compare_conv(&one, &two, p, 4242u, 1e-5);
    harness_close(&one);
    harness_close(&two);
}
END_TEST

START_TEST(test_cpu_set_num_threads)
{
    harness_backend fast, ref;
    open_fast(&fast);
    open_ref(&ref);
    ck_assert_int_eq(fast.be->set_num_threads(fast.ctx, 1), 0);
    gemm_case g = {.ta = 1, .tb = 0, .m = 100, .n = 90, .k = 80, .lda = 100, .ldb = 90,
                   .ldc = 90, .alpha = 1.0f, .beta = 0.0f};
    compare_gemm(&fast, &ref, &g, 3);
    ck_assert_int_eq(fast.be->set_num_threads(fast.ctx, 3), 0);
    compare_gemm(&fast, &ref, &g, 4);
    ck_assert_int_eq(fast.be->set_num_threads(fast.ctx, 0), 0); /* back to the default */
    compare_gemm(&fast, &ref, &g, 5);
    harness_close(&fast);
    harness_close(&ref);
}
END_TEST

static Suite *cpu_gemm_suite(void)
{
    Suite *s = suite_create("cpu_gemm_conv");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_cpu_gemm_vs_reference);
    tcase_add_test(tc, test_cpu_gemm_small_shapes_vs_reference);
    tcase_add_test(tc, test_cpu_gemm_b_in_place_vs_reference);
    tcase_add_test(tc, test_cpu_gemm_8row_tiles_vs_reference);
    tcase_add_test(tc, test_cpu_gemm_isa_variants_vs_reference);
    tcase_add_test(tc, test_cpu_gemm_alpha_zero_and_empty);
    tcase_add_test(tc, test_cpu_gemm_strided_batched_vs_reference);
    tcase_add_test(tc, test_cpu_ref_gemm_hand_case);
    tcase_add_test(tc, test_cpu_conv_vs_reference);
    tcase_add_test(tc, test_cpu_conv_packed_weights_bit_identical);
    tcase_add_test(tc, test_cpu_ref_conv_hand_case);
    tcase_add_test(tc, test_cpu_threads_1_vs_2);
    tcase_add_test(tc, test_cpu_set_num_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cpu_gemm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
