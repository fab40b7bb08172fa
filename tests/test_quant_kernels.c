/* Int8 kernels of ABI 1.1 (qgemm, qconv2d, qmaxpool, quantize, dequantize,
 * fake_quant): every backend must produce exactly the bytes of backend.h's
 * formulas, computed here on the host.  That covers the CPU reference
 * (MLOPT_CPU_REF=1), the CPU SIMD paths (the best the machine has - AVX-512
 * VNNI where present - and AVX2 alone, MLOPT_CPU_ISA=avx2), OpenCL and Vulkan
 * where they run, so their outputs are also bit-identical to each other. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_harness.h"

enum { B_CPU_REF, B_CPU, B_CPU_AVX2, B_OPENCL, B_VULKAN, B_COUNT };
static const char *const backend_names[B_COUNT] = { "cpu-reference", "cpu", "cpu-avx2", "opencl", "vulkan" };

/* Opens backend `which`; 0 when it cannot run here or lacks the int8 slots
 * (then the test case checks nothing for it, and says so). */
static int open_backend(int which, harness_backend *h)
{
    char err[4096];
    int rc;
    /* Vulkan runs under the Khronos validation layer, as in test_vulkan_kernels:
     * any validation error fails the slot call. */
    if (which == B_VULKAN && !getenv("MLOPT_VULKAN_VALIDATION"))
        setenv("MLOPT_VULKAN_VALIDATION", "1", 1);
    if (which == B_CPU_REF) {
        rc = harness_open_cpu_reference(h, err, sizeof err);
    } else if (which == B_CPU_AVX2) {
        setenv("MLOPT_CPU_ISA", "avx2", 1);
        setenv("MLOPT_NUM_THREADS", "3", 1);
        rc = harness_open("cpu", NULL, h, err, sizeof err);
        unsetenv("MLOPT_CPU_ISA");
        unsetenv("MLOPT_NUM_THREADS");
    } else if (which == B_CPU) {
        /* More threads than most cases have images or rows: a pooled
         * loop's few chunks then run on arbitrary thread indices. */
        setenv("MLOPT_NUM_THREADS", "5", 1);
        rc = harness_open("cpu", NULL, h, err, sizeof err);
        unsetenv("MLOPT_NUM_THREADS");
    } else
        rc = harness_open(which == B_CPU ? "cpu" : backend_names[which], NULL, h, err, sizeof err);
    if (rc) {
        fprintf(stderr, "skip %s: %s\n", backend_names[which], err);
        return 0;
    }
    if (h->be->struct_size < offsetof(mlopt_backend, fake_quant) + sizeof(void *) || !h->be->qgemm ||
        !h->be->qconv2d || !h->be->qmaxpool || !h->be->quantize || !h->be->dequantize || !h->be->fake_quant) {
        fprintf(stderr, "skip %s: no ABI 1.1 int8 slots\n", backend_names[which]);
        harness_close(h);
        return 0;
    }
    return 1;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* Device buffer with contents; offset 4 bytes into it, to exercise offsets. */
static mlopt_ref put(harness_backend *h, const void *data, size_t bytes)
{
    mlopt_buffer *buf;
    ck_assert_int_eq(h->be->buffer_alloc(h->ctx, bytes + 8, &buf), 0);
    mlopt_ref r = { buf, 4 };
    if (data)
        ck_assert_int_eq(h->be->upload(h->ctx, r, data, bytes), 0);
    return r;
}

static void get(harness_backend *h, void *dst, mlopt_ref r, size_t bytes)
{
    ck_assert_msg(h->be->download(h->ctx, dst, r, bytes) == 0, "download: %s", h->be->last_error(h->ctx));
}

static void release(harness_backend *h, mlopt_ref r) { h->be->buffer_free(h->ctx, r.buf); }

static void random_tables(int n, int32_t *bias, int32_t *mult, int32_t *shift, int big_bias)
{
    for (int j = 0; j < n; j++) {
        bias[j] = rnd_int(-(big_bias ? 200000 : 2000), big_bias ? 200000 : 2000);
        mult[j] = (int32_t)(((uint32_t)1 << 30) + rnd() % ((uint32_t)1 << 30)); /* [2^30, 2^31) */
        shift[j] = rnd_int(36, 46);
    }
    shift[0] = 1;  /* extremes of the allowed range */
    shift[n - 1] = 62;
}

START_TEST(qgemm_matches_formula_on_every_backend)
{
    /* m n k; the VNNI kernel's tails: rows % 6, columns % 16 and % 64,
     * k % 4, more rows than one converted block (96), the seed CNN's fc1. */
    const int shapes[][3] = { { 1, 1, 1 },   { 37, 19, 53 },    { 8, 10, 128 },    { 5, 3, 300 },
                              { 13, 33, 7 }, { 100, 70, 1601 }, { 7, 128, 1600 }, { 197, 65, 6 } };
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
        int lda = k + 3, ldb = k + 1, ldc = n + 4;
        int8_t *a = malloc((size_t)m * lda), *b = malloc((size_t)n * ldb), *want = calloc((size_t)m * ldc, 1),
               *got = malloc((size_t)m * ldc);
        int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
        for (int i = 0; i < m * lda; i++)
            a[i] = (int8_t)rnd_int(-128, 127);
        for (int i = 0; i < n * ldb; i++)
            b[i] = (int8_t)rnd_int(-127, 127);
        random_tables(n, bias, mult, shift, 0);
        for (int relu = 0; relu <= 1; relu++) {
            int a_zp = relu ? -128 : rnd_int(-20, 20), c_zp = rnd_int(-100, 100);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    int32_t acc = bias[j];
                    for (int p = 0; p < k; p++)
                        acc += (a[i * lda + p] - a_zp) * b[j * ldb + p];
                    want[i * ldc + j] = mlopt_requantize(acc, mult[j], shift[j], c_zp, relu);
                }
            for (int w = 0; w < B_COUNT; w++) {
                harness_backend h;
                if (!open_backend(w, &h))
                    continue;
                mlopt_ref ra = put(&h, a, (size_t)m * lda), rb = put(&h, b, (size_t)n * ldb),
                          rbias = put(&h, bias, 4 * (size_t)n), rm = put(&h, mult, 4 * (size_t)n),
                          rs = put(&h, shift, 4 * (size_t)n), rc = put(&h, want, (size_t)m * ldc);
                ck_assert_msg(h.be->qgemm(h.ctx, m, n, k, ra, lda, a_zp, rb, ldb, rbias, rm, rs, c_zp, relu, rc,
                                          ldc) == 0,
                              "%s qgemm: %s", backend_names[w], h.be->last_error(h.ctx));
                get(&h, got, rc, (size_t)m * ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        ck_assert_msg(got[i * ldc + j] == want[i * ldc + j],
                                      "%s qgemm %dx%dx%d relu=%d C[%d][%d] = %d, formula %d", backend_names[w], m, n,
                                      k, relu, i, j, got[i * ldc + j], want[i * ldc + j]);
                release(&h, ra), release(&h, rb), release(&h, rbias), release(&h, rm), release(&h, rs),
                    release(&h, rc);
                harness_close(&h);
            }
        }
        free(a), free(b), free(want), free(got), free(bias), free(mult), free(shift);
    }
}
END_TEST

static int8_t conv_ref_at(const mlopt_conv2d_params *p, const int8_t *x, int x_zp, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, int y_zp, int relu, int n, int k, int oy, int ox)
{
    int cpg = p->c / p->groups, g = k / (p->k / p->groups);
    int32_t acc = bias ? bias[k] : 0;
    for (int c = 0; c < cpg; c++)
        for (int r = 0; r < p->r; r++)
            for (int s = 0; s < p->s; s++) {
                int iy = oy * p->stride_h - p->pad_h + r * p->dil_h, ix = ox * p->stride_w - p->pad_w + s * p->dil_w;
                int xv = (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                             ? x[(((size_t)n * p->c + g * cpg + c) * p->h + iy) * p->w + ix]
                             : x_zp;
                acc += (xv - x_zp) * w[(((size_t)k * cpg + c) * p->r + r) * p->s + s];
            }
    return mlopt_requantize(acc, mult[k], shift[k], y_zp, relu);
}

START_TEST(qconv2d_matches_formula_on_every_backend)
{
    /* n c h w  k r s  stride pad dil groups */
    /* The VNNI path (stride 1) interleaves channels by four when c/groups %
     * 4 == 0 and builds quads of (c, r, s) otherwise; the cases cover both
     * with padding, dilation, groups, channel counts % 8 (its register
     * block) and rows spanning several 48-position blocks; 4 and 5 are the
     * seed CNN's conv1 / conv2. */
    const int geo[][11] = { { 2, 1, 9, 9, 5, 3, 3, 1, 0, 1, 1 },    { 3, 4, 7, 6, 6, 3, 3, 2, 1, 1, 2 },
                            { 1, 3, 8, 8, 4, 3, 2, 1, 2, 2, 1 },    { 2, 32, 6, 6, 8, 3, 3, 1, 1, 1, 1 },
                            { 3, 1, 28, 28, 32, 3, 3, 1, 0, 1, 1 }, { 2, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1 },
                            { 2, 8, 9, 7, 10, 3, 3, 1, 1, 1, 2 },   { 1, 6, 10, 11, 9, 3, 3, 1, 2, 2, 1 },
                            { 2, 12, 5, 5, 17, 1, 1, 1, 0, 1, 1 },  { 1, 4, 6, 40, 3, 5, 5, 1, 2, 1, 1 } };
    for (size_t t = 0; t < sizeof geo / sizeof geo[0]; t++) {
        mlopt_conv2d_params p = { geo[t][0], geo[t][1], geo[t][2], geo[t][3], geo[t][4], geo[t][5], geo[t][6],
                                  geo[t][7], geo[t][7], geo[t][8], geo[t][8], geo[t][9], geo[t][9], geo[t][10], 0, 0 };
        p.oh = (p.h + 2 * p.pad_h - p.dil_h * (p.r - 1) - 1) / p.stride_h + 1;
        p.ow = (p.w + 2 * p.pad_w - p.dil_w * (p.s - 1) - 1) / p.stride_w + 1;
        size_t nx = (size_t)p.n * p.c * p.h * p.w, nw = (size_t)p.k * (p.c / p.groups) * p.r * p.s,
               ny = (size_t)p.n * p.k * p.oh * p.ow;
        int8_t *x = malloc(nx), *w = malloc(nw), *want = malloc(ny), *got = malloc(ny);
        int32_t *bias = malloc(4 * (size_t)p.k), *mult = malloc(4 * (size_t)p.k), *shift = malloc(4 * (size_t)p.k);
        for (size_t i = 0; i < nx; i++)
            x[i] = (int8_t)rnd_int(-128, 127);
        for (size_t i = 0; i < nw; i++)
            w[i] = (int8_t)rnd_int(-127, 127);
        random_tables(p.k, bias, mult, shift, 0);
        /* zero points at both ends of the range too (padding reads x_zp) */
        int x_zp = t == 6 ? -128 : t == 7 ? 127 : rnd_int(-30, 30), y_zp = rnd_int(-50, 50), relu = (int)(t % 2);
        for (int n = 0; n < p.n; n++)
            for (int k = 0; k < p.k; k++)
                for (int oy = 0; oy < p.oh; oy++)
                    for (int ox = 0; ox < p.ow; ox++)
                        want[(((size_t)n * p.k + k) * p.oh + oy) * p.ow + ox] =
                            conv_ref_at(&p, x, x_zp, w, t == 2 ? NULL : bias, mult, shift, y_zp, relu, n, k, oy, ox);
        for (int b = 0; b < B_COUNT; b++) {
            harness_backend h;
            if (!open_backend(b, &h))
                continue;
            mlopt_ref rx = put(&h, x, nx), rw = put(&h, w, nw), rbias = put(&h, bias, 4 * (size_t)p.k),
                      rm = put(&h, mult, 4 * (size_t)p.k), rs = put(&h, shift, 4 * (size_t)p.k), ry = put(&h, NULL, ny);
            mlopt_ref nobias = { NULL, 0 };
            ck_assert_msg(h.be->qconv2d(h.ctx, &p, rx, x_zp, rw, t == 2 ? nobias : rbias, rm, rs, y_zp, relu, ry) == 0,
                          "%s qconv2d: %s", backend_names[b], h.be->last_error(h.ctx));
            get(&h, got, ry, ny);
            for (size_t i = 0; i < ny; i++)
                ck_assert_msg(got[i] == want[i], "%s qconv2d case %zu: y[%zu] = %d, formula %d", backend_names[b], t, i,
                              got[i], want[i]);
            release(&h, rx), release(&h, rw), release(&h, rbias), release(&h, rm), release(&h, rs), release(&h, ry);
            harness_close(&h);
        }
        free(x), free(w), free(want), free(got), free(bias), free(mult), free(shift);
    }
}
END_TEST

START_TEST(qmaxpool_matches_formula_on_every_backend)
{
    /* n c h w kh kw stride pad; 1-3 take the 2x2 / stride-2 fast paths
     * (odd sizes drop the last row / column; rows longer than a vector). */
    const int geo[][8] = { { 2, 3, 7, 9, 3, 2, 2, 1 }, { 3, 5, 26, 26, 2, 2, 2, 0 }, { 2, 3, 11, 11, 2, 2, 2, 0 },
                           { 1, 2, 5, 141, 2, 2, 2, 0 } };
    for (size_t t = 0; t < sizeof geo / sizeof geo[0]; t++) {
        mlopt_pool2d_params p = { geo[t][0], geo[t][1], geo[t][2], geo[t][3], geo[t][4], geo[t][5], geo[t][6],
                                  geo[t][6], geo[t][7], geo[t][7], 1, 1, 0, 0 };
        p.oh = (p.h + 2 * p.pad_h - (p.kh - 1) - 1) / p.stride_h + 1;
        p.ow = (p.w + 2 * p.pad_w - (p.kw - 1) - 1) / p.stride_w + 1;
        size_t nx = (size_t)p.n * p.c * p.h * p.w, ny = (size_t)p.n * p.c * p.oh * p.ow;
        int8_t *x = malloc(nx), *want = malloc(ny), *got = malloc(ny);
        for (size_t i = 0; i < nx; i++)
            x[i] = (int8_t)rnd_int(-128, 127);
        for (int pl = 0; pl < p.n * p.c; pl++)
            for (int oy = 0; oy < p.oh; oy++)
                for (int ox = 0; ox < p.ow; ox++) {
                    int best = -128;
                    for (int r = 0; r < p.kh; r++)
                        for (int s = 0; s < p.kw; s++) {
                            int iy = oy * p.stride_h - p.pad_h + r, ix = ox * p.stride_w - p.pad_w + s;
                            if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w &&
                                x[((size_t)pl * p.h + iy) * p.w + ix] > best)
                                best = x[((size_t)pl * p.h + iy) * p.w + ix];
                        }
                    want[((size_t)pl * p.oh + oy) * p.ow + ox] = (int8_t)best;
                }
        for (int b = 0; b < B_COUNT; b++) {
            harness_backend h;
            if (!open_backend(b, &h))
                continue;
            mlopt_ref rx = put(&h, x, nx), ry = put(&h, NULL, ny);
            ck_assert_msg(h.be->qmaxpool(h.ctx, &p, rx, ry) == 0, "%s qmaxpool: %s", backend_names[b],
                          h.be->last_error(h.ctx));
            get(&h, got, ry, ny);
            ck_assert_msg(memcmp(got, want, ny) == 0, "%s qmaxpool case %zu differs", backend_names[b], t);
            release(&h, rx), release(&h, ry);
            harness_close(&h);
        }
        free(x), free(want), free(got);
    }
}
END_TEST

/* Halves round to even, NaN gives the zero point, infinities saturate. */
START_TEST(quantize_rounding_and_round_trip_on_every_backend)
{
    enum { N = 4096 };
    static float x[N], back[N];
    static int8_t want[N], got[N];
    const float scale = 0.05f, inv = 1.0f / scale;
    const int zp = -7;
    const float special[] = { 0.0f, -0.0f, 0.5f * scale, 1.5f * scale, 2.5f * scale, -0.5f * scale, -2.5f * scale,
                              NAN, INFINITY, -INFINITY, 1e30f, -1e30f };
    const int8_t special_q[] = { -7, -7, -7, -5, -5, -7, -9, -7, 127, -128, 127, -128 };
    int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < N; i++)
        x[i] = i < ns ? special[i] : ((float)rnd_int(-100000, 100000) / 100000.0f) * 6.0f;
    for (int i = 0; i < N; i++) {
        float r = rintf(x[i] * inv);
        if (isnan(r))
            want[i] = (int8_t)zp;
        else
            want[i] = (int8_t)((int)fminf(fmaxf(r, (float)(-128 - zp)), (float)(127 - zp)) + zp);
    }
    /* The halves are exact multiples here only when x * inv rounds to them;
     * check the table only where it does (0.5*scale*inv may not be 0.5). */
    for (int i = 0; i < ns; i++)
        if (isnan(x[i]) || isinf(x[i]) || fabsf(x[i]) > 1 || rintf(x[i] * inv) == rintf(x[i] / scale))
            ck_assert_msg(want[i] == special_q[i] || fmodf(fabsf(x[i] * inv), 1.0f) != 0.5f,
                          "host formula for %g gives %d, table %d", (double)x[i], want[i], special_q[i]);
    for (int b = 0; b < B_COUNT; b++) {
        harness_backend h;
        if (!open_backend(b, &h))
            continue;
        mlopt_ref rx = put(&h, x, sizeof x), rq = put(&h, NULL, N), rb = put(&h, NULL, sizeof back);
        ck_assert_int_eq(h.be->quantize(h.ctx, N, inv, zp, rx, rq), 0);
        ck_assert_int_eq(h.be->dequantize(h.ctx, N, scale, zp, rq, rb), 0);
        get(&h, got, rq, N);
        get(&h, back, rb, sizeof back);
        for (int i = 0; i < N; i++) {
            ck_assert_msg(got[i] == want[i], "%s quantize(%.9g) = %d, formula %d", backend_names[b], (double)x[i],
                          got[i], want[i]);
            float exact = (float)(got[i] - zp) * scale;
            ck_assert_msg(memcmp(&back[i], &exact, 4) == 0, "%s dequantize not bit-exact", backend_names[b]);
            /* Round trip: within half a step inside the representable range. */
            float lo = (float)(-128 - zp) * scale, hi = (float)(127 - zp) * scale;
            if (x[i] >= lo && x[i] <= hi)
                ck_assert_msg(fabsf(back[i] - x[i]) <= scale / 2 * (1 + 1e-5f), "%s round trip of %g gave %g",
                              backend_names[b], (double)x[i], (double)back[i]);
        }
        /* A count that ends inside a 32-bit word: the bytes after it stay. */
        static int8_t tail[N];
        memset(tail, 0x55, N);
        ck_assert_int_eq(h.be->upload(h.ctx, rq, tail, N), 0);
        ck_assert_int_eq(h.be->quantize(h.ctx, N - 3, inv, zp, rx, rq), 0);
        get(&h, got, rq, N);
        for (int i = 0; i < N; i++)
            ck_assert_msg(got[i] == (i < N - 3 ? want[i] : 0x55), "%s quantize(n=%d) byte %d = %d", backend_names[b],
                          N - 3, i, got[i]);
        release(&h, rx), release(&h, rq), release(&h, rb);
        harness_close(&h);
    }
}
END_TEST

START_TEST(fake_quant_per_channel_on_every_backend)
{
    enum { OUTER = 3, CH = 5, INNER = 7, N = OUTER * CH * INNER };
    float x[N], want[N], wmask[N], got[N], mask[N], scale[CH], inv[CH];
    int32_t zp[CH];
    for (int c = 0; c < CH; c++) {
        scale[c] = 0.01f * (float)(c + 1);
        inv[c] = 1.0f / scale[c];
        zp[c] = c == 0 ? 0 : rnd_int(-20, 20);
    }
    for (int i = 0; i < N; i++)
        x[i] = ((float)rnd_int(-100000, 100000) / 100000.0f) * 3.0f;
    x[0] = NAN;
    for (int i = 0; i < N; i++) {
        int c = (i / INNER) % CH;
        float r = rintf(x[i] * inv[c]);
        int q = isnan(r) ? zp[c] : (int)fminf(fmaxf(r, (float)(-127 - zp[c])), (float)(127 - zp[c])) + zp[c];
        wmask[i] = !isnan(r) && r >= (float)(-127 - zp[c]) && r <= (float)(127 - zp[c]);
        want[i] = (float)(q - zp[c]) * scale[c];
    }
    for (int b = 0; b < B_COUNT; b++) {
        harness_backend h;
        if (!open_backend(b, &h))
            continue;
        mlopt_ref rx = put(&h, x, sizeof x), ry = put(&h, NULL, sizeof x), rm = put(&h, NULL, sizeof x),
                  rs = put(&h, scale, sizeof scale), ri = put(&h, inv, sizeof inv), rz = put(&h, zp, sizeof zp);
        ck_assert_msg(h.be->fake_quant(h.ctx, OUTER, CH, INNER, -127, 127, rs, ri, rz, rx, ry, rm) == 0, "%s: %s",
                      backend_names[b], h.be->last_error(h.ctx));
        get(&h, got, ry, sizeof got);
        get(&h, mask, rm, sizeof mask);
        ck_assert_msg(memcmp(got, want, sizeof got) == 0, "%s fake_quant values differ", backend_names[b]);
        ck_assert_msg(memcmp(mask, wmask, sizeof mask) == 0, "%s fake_quant mask differs", backend_names[b]);
        /* In place (y aliases x), without a mask. */
        mlopt_ref nomask = { NULL, 0 };
        ck_assert_msg(h.be->fake_quant(h.ctx, OUTER, CH, INNER, -127, 127, rs, ri, rz, rx, rx, nomask) == 0, "%s: %s",
                      backend_names[b], h.be->last_error(h.ctx));
        get(&h, got, rx, sizeof got);
        ck_assert_msg(memcmp(got, want, sizeof got) == 0, "%s in-place fake_quant values differ", backend_names[b]);
        release(&h, rx), release(&h, ry), release(&h, rm), release(&h, rs), release(&h, ri), release(&h, rz);
        harness_close(&h);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant_kernels");
    TCase *tc = tcase_create("int8");
    tcase_add_test(tc, qgemm_matches_formula_on_every_backend);
    tcase_add_test(tc, qconv2d_matches_formula_on_every_backend);
    tcase_add_test(tc, qmaxpool_matches_formula_on_every_backend);
    tcase_add_test(tc, quantize_rounding_and_round_trip_on_every_backend);
    tcase_add_test(tc, fake_quant_per_channel_on_every_backend);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
