/* AVX-512 GEMMs for small problems, without packing.  Below a few hundred
 * thousand multiply-adds (the seed CNN's fc2 layer, its first convolution
 * as one GEMM per image) the blocked driver's packing, zero padding to a
 * 12 x 32 tile and per-tile overhead cost more than the arithmetic: fc2's
 * 64 x 10 x 128 product ran at 19 GFLOP/s, conv1's 32 x 9 x 676 filter
 * gradient at 17.  Everything here fits in L1/L2, so the operands are read
 * where they lie.  Compiled with -mavx512f; called only when
 * cpu_detect_features() found AVX-512F. */
#include <immintrin.h>
#include <math.h>

#include "cpu_internal.h"

/* B not transposed: C[i][j] = alpha * sum_p op(A)[i][p] B[p][j] (+ beta C).
 * Eight rows by 48 columns of C in 24 ZMM accumulators; per k step three
 * loads of B's row, eight broadcasts of op(A), 24 FMAs.  k is cut into the
 * blocked AVX-512 path's KC slices, each accumulated from zero and added
 * to C with the same mul / fma, so results are bit-identical to it.
 * Also the kernel of the blocked driver's place for few rows and a wide B
 * (cpu_gemm.c, "B in place"): fc1's input gradient, 64 x 1600 x 128.
 * Eight rows rather than six: m = 64 is eight whole blocks where six-row
 * blocks compute 66 rows, and a 48-column block of B (k x 48 floats, 24 KiB
 * at k = 128) stays in L1 beside the streamed rows of A; 1,600 columns
 * also split into 34 blocks, evenly over two threads.  Medians of 15
 * alternated runs, 64 x 1536 x 128, one core: 8 x 48 171, 6 x 64 165,
 * 8 x 32 163 GFLOP/s. */
#define SMALL_MR 8
#define SMALL_NV 3 /* vectors of 16 columns */
#define SMALL_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* a##r: row i0 + r of op(A) (A[.][i0 + r] when transposed); rows past the
 * block's mr valid ones repeat the last valid row, so nothing is read out
 * of bounds (their results are never stored) */
#define SMALL_AROW(r)                                                                      \
    const float *a##r = trans_a ? a + (i0 + (r < mr ? r : mr - 1))                         \
                                : a + (size_t)(i0 + (r < mr ? r : mr - 1)) * lda;

static inline __mmask16 cpu_cols_mask(int cols)
{
    return cols >= 16 ? (__mmask16)0xFFFF : cols <= 0 ? (__mmask16)0 : (__mmask16)((1u << cols) - 1u);
}

void cpu_gemm_small_nn_avx512(int trans_a, int m, int n, int k, int kc_max, float alpha,
                              const float *a, int lda, const float *b, int ldb, float beta,
                              float *c, int ldc)
{
    const __m512 valpha = _mm512_set1_ps(alpha);
    for (int j0 = 0; j0 < n; j0 += 16 * SMALL_NV) {
        __mmask16 mask[SMALL_NV];
        for (int v = 0; v < SMALL_NV; v++)
            mask[v] = cpu_cols_mask(n - j0 - 16 * v);
        for (int i0 = 0; i0 < m; i0 += SMALL_MR) {
            int mr = m - i0 < SMALL_MR ? m - i0 : SMALL_MR;
            /* rows past m repeat the last valid row's reads (never stored),
             * so op(A) is not read out of bounds */
            size_t astep = trans_a ? (size_t)lda : 1;
            SMALL_ROWS(SMALL_AROW)
            for (int pc = 0; pc < k; pc += kc_max) {
                int kc = k - pc < kc_max ? k - pc : kc_max;
                /* named accumulators: an array here was kept on the stack */
#define SM_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0;
                SMALL_ROWS(SM_DECL)
#undef SM_DECL
                const __mmask16 m0 = mask[0], m1 = mask[1], m2 = mask[2];
#define SM_FMA(r)                                                                          \
    {                                                                                      \
        __m512 av = _mm512_set1_ps(a##r[off]);                                             \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                                        \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);                                        \
        c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);                                        \
    }
                if (m2 == 0xFFFF) {
                    /* a whole 48-column block: plain loads, no mask
                     * registers to keep (or reload) in the loop */
                    for (int p = pc; p < pc + kc; p++) {
                        const float *bp = b + (size_t)p * ldb + j0;
                        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
                        __m512 b2 = _mm512_loadu_ps(bp + 32);
                        /* keep each B vector in a register rather than
                         * folding its load into all eight FMAs */
                        __asm__("" : "+v"(b0), "+v"(b1), "+v"(b2));
                        size_t off = (size_t)p * astep;
                        SMALL_ROWS(SM_FMA)
                    }
                } else {
                    for (int p = pc; p < pc + kc; p++) {
                        const float *bp = b + (size_t)p * ldb + j0;
                        __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
                        __m512 b2 = _mm512_maskz_loadu_ps(m2, bp + 32);
                        size_t off = (size_t)p * astep;
                        SMALL_ROWS(SM_FMA)
                    }
                }
#undef SM_FMA
                /* only the first slice applies the caller's beta */
                float bt = pc == 0 ? beta : 1.0f;
                const __m512 vbeta = _mm512_set1_ps(bt);
#define SM_STORE1(r, v)                                                                    \
    if (mask[v]) {                                                                         \
        __m512 out = _mm512_mul_ps(c##r##v, valpha);                                       \
        if (bt != 0.0f)                                                                    \
            out = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v), out); \
        _mm512_mask_storeu_ps(cr + 16 * v, mask[v], out);                                  \
    }
#define SM_STORE(r)                                                                        \
    if (r < mr) {                                                                          \
        float *cr = c + (size_t)(i0 + r) * ldc + j0;                                       \
        SM_STORE1(r, 0) SM_STORE1(r, 1) SM_STORE1(r, 2)                                    \
    }
                SMALL_ROWS(SM_STORE)
#undef SM_STORE
#undef SM_STORE1
            }
        }
    }
}

/* The same product for n <= 16: one (masked) vector of B per k step and
 * twelve rows of C at a time, so that twelve independent FMAs hide the FMA
 * latency.  The general kernel above would compute four column vectors
 * of which three are empty (fc2's n = 10: a quarter of its FMAs useful).
 * Same KC slicing, alpha and beta steps, hence the same bits. */
#define NARROW_MR 12
#define NARROW_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

void cpu_gemm_small_narrow_avx512(int trans_a, int m, int n, int k, int kc_max, float alpha,
                                  const float *a, int lda, const float *b, int ldb, float beta,
                                  float *c, int ldc)
{
    const __m512 valpha = _mm512_set1_ps(alpha);
    const __mmask16 mask = cpu_cols_mask(n);
    const size_t astep = trans_a ? (size_t)lda : 1;
    for (int i0 = 0; i0 < m; i0 += NARROW_MR) {
        int mr = m - i0 < NARROW_MR ? m - i0 : NARROW_MR;
        NARROW_ROWS(SMALL_AROW)
        for (int pc = 0; pc < k; pc += kc_max) {
            int kc = k - pc < kc_max ? k - pc : kc_max;
#define NA_DECL(r) __m512 c##r = _mm512_setzero_ps();
            NARROW_ROWS(NA_DECL)
#undef NA_DECL
            for (int p = pc; p < pc + kc; p++) {
                __m512 bv = _mm512_maskz_loadu_ps(mask, b + (size_t)p * ldb);
                size_t off = (size_t)p * astep;
#define NA_FMA(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(a##r[off]), bv, c##r);
                NARROW_ROWS(NA_FMA)
#undef NA_FMA
            }
            float bt = pc == 0 ? beta : 1.0f;
            const __m512 vbeta = _mm512_set1_ps(bt);
#define NA_STORE(r)                                                                        \
    if (r < mr) {                                                                          \
        float *cr = c + (size_t)(i0 + r) * ldc;                                            \
        __m512 out = _mm512_mul_ps(c##r, valpha);                                          \
        if (bt != 0.0f)                                                                    \
            out = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask, cr), out);            \
        _mm512_mask_storeu_ps(cr, mask, out);                                              \
    }
            NARROW_ROWS(NA_STORE)
#undef NA_STORE
        }
    }
}

/* A not transposed, B transposed (both read along k): C[i][j] is the dot
 * product of row i of A and row j of B.  Four rows by three columns of C
 * in 12 ZMM accumulators over 16-wide chunks of k (a masked last chunk),
 * each reduced in the fixed order of _mm512_reduce_add_ps: deterministic,
 * but not the blocked path's summation order. */
#define DOT_MR 4
#define DOT_NR 3

void cpu_gemm_small_dot_avx512(int m, int n, int k, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc)
{
    const __mmask16 tail = cpu_cols_mask(k % 16);
    const int kfull = k - k % 16;
    for (int i0 = 0; i0 < m; i0 += DOT_MR) {
        int mr = m - i0 < DOT_MR ? m - i0 : DOT_MR;
        const float *ar[DOT_MR];
        for (int r = 0; r < DOT_MR; r++)
            ar[r] = a + (size_t)(i0 + (r < mr ? r : mr - 1)) * lda;
        for (int j0 = 0; j0 < n; j0 += DOT_NR) {
            int nr = n - j0 < DOT_NR ? n - j0 : DOT_NR;
            const float *br[DOT_NR];
            for (int q = 0; q < DOT_NR; q++)
                br[q] = b + (size_t)(j0 + (q < nr ? q : nr - 1)) * ldb;
            __m512 acc[DOT_MR][DOT_NR];
            for (int r = 0; r < DOT_MR; r++)
                for (int q = 0; q < DOT_NR; q++)
                    acc[r][q] = _mm512_setzero_ps();
            for (int p = 0; p < kfull; p += 16) {
                __m512 bv[DOT_NR];
                for (int q = 0; q < DOT_NR; q++)
                    bv[q] = _mm512_loadu_ps(br[q] + p);
                for (int r = 0; r < DOT_MR; r++) {
                    __m512 av = _mm512_loadu_ps(ar[r] + p);
                    for (int q = 0; q < DOT_NR; q++)
                        acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);
                }
            }
            if (tail) {
                __m512 bv[DOT_NR];
                for (int q = 0; q < DOT_NR; q++)
                    bv[q] = _mm512_maskz_loadu_ps(tail, br[q] + kfull);
                for (int r = 0; r < DOT_MR; r++) {
                    __m512 av = _mm512_maskz_loadu_ps(tail, ar[r] + kfull);
                    for (int q = 0; q < DOT_NR; q++)
                        acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);
                }
            }
            for (int r = 0; r < mr; r++) {
                float *cr = c + (size_t)(i0 + r) * ldc + j0;
                for (int q = 0; q < nr; q++) {
                    float s = alpha * _mm512_reduce_add_ps(acc[r][q]);
                    cr[q] = beta == 0.0f ? s : fmaf(beta, cr[q], s);
                }
            }
        }
    }
}

/* Sums of sixteen vectors: lane j of the result is the sum of the lanes of
 * v[j] (v[n..15] must be zero).  Four levels of shuffles and adds (15 adds for 16 sums) instead of
 * a full reduction per vector; the order of the additions is fixed. */
static inline __attribute__((always_inline)) __m512 cpu_sum16(const __m512 v[16], int n)
{
    /* v[n..15] are zero: with n a constant, their part of the tree folds away */
    __m512 x[8], y[4], z[2];
    for (int t = 0; t < 8; t++) /* lanes 0-7: v[2t] folded, 8-15: v[2t+1] */
        x[t] = 2 * t >= n ? _mm512_setzero_ps()
                          : _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * t], v[2 * t + 1], 0x44),
                                          _mm512_shuffle_f32x4(v[2 * t], v[2 * t + 1], 0xEE));
    for (int u = 0; u < 4; u++) /* 128-bit block q: v[4u + q], four partials */
        y[u] = 4 * u >= n ? _mm512_setzero_ps()
                          : _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * u], x[2 * u + 1], 0x88),
                                          _mm512_shuffle_f32x4(x[2 * u], x[2 * u + 1], 0xDD));
    for (int s = 0; s < 2; s++) /* block q: v[8s + q] (2 partials), v[8s + 4 + q] (2) */
        z[s] = _mm512_add_ps(_mm512_shuffle_ps(y[2 * s], y[2 * s + 1], 0x44),
                             _mm512_shuffle_ps(y[2 * s], y[2 * s + 1], 0xEE));
    /* lane 4q + s holds the sum of v[4s + q] */
    __m512 w = _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    return _mm512_permutexvar_ps(order, w);
}

/* C[i][0..N) for ROWS rows of A at once: N accumulators per row, one load
 * of each B row per 16 floats of k, shared by the rows. */
static inline __attribute__((always_inline)) void cpu_dot_narrow_rows(int rows, int n, int k, float alpha,
                                                                       const float *a, int lda, const float *b,
                                                                       int ldb, float beta, float *c, int ldc)
{
    __m512 acc[2][16];
    for (int r = 0; r < 2; r++)
        for (int q = 0; q < 16; q++)
            acc[r][q] = _mm512_setzero_ps();
    const int kfull = k & ~15;
    for (int p = 0; p < kfull; p += 16) {
        __m512 av[2];
        for (int r = 0; r < rows; r++)
            av[r] = _mm512_loadu_ps(a + (size_t)r * lda + p);
        for (int q = 0; q < n; q++) {
            __m512 bv = _mm512_loadu_ps(b + (size_t)q * ldb + p);
            /* one load per B row: folded into each FMA it would be loaded
             * once per row of A (20 loads per 18 FMAs, split lines) */
            __asm__("" : "+v"(bv));
            for (int r = 0; r < rows; r++)
                acc[r][q] = _mm512_fmadd_ps(av[r], bv, acc[r][q]);
        }
    }
    if (kfull < k) { /* the last, partial chunk of k */
        __mmask16 mk = cpu_cols_mask(k - kfull);
        __m512 av[2];
        for (int r = 0; r < rows; r++)
            av[r] = _mm512_maskz_loadu_ps(mk, a + (size_t)r * lda + kfull);
        for (int q = 0; q < n; q++) {
            __m512 bv = _mm512_maskz_loadu_ps(mk, b + (size_t)q * ldb + kfull);
            for (int r = 0; r < rows; r++)
                acc[r][q] = _mm512_fmadd_ps(av[r], bv, acc[r][q]);
        }
    }
    const __mmask16 out = cpu_cols_mask(n);
    for (int r = 0; r < rows; r++) {
        __m512 s = _mm512_mul_ps(cpu_sum16(acc[r], n), _mm512_set1_ps(alpha));
        float *cr = c + (size_t)r * ldc;
        if (beta != 0.0f)
            s = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(out, cr), s);
        _mm512_mask_storeu_ps(cr, out, s);
    }
}

#define CPU_DOT_NARROW_CASE(N)                                                                                 \
    case N:                                                                                                    \
        for (; i + 2 <= m && N <= 14; i += 2)                                                                  \
            cpu_dot_narrow_rows(2, N, k, alpha, a + (size_t)i * lda, lda, b, ldb, beta, c + (size_t)i * ldc, ldc); \
        for (; i < m; i++)                                                                                     \
            cpu_dot_narrow_rows(1, N, k, alpha, a + (size_t)i * lda, lda, b, ldb, beta, c + (size_t)i * ldc, ldc); \
        break;

/* A not transposed, B transposed, n <= 16 (fc2's forward: 64 x 10 x 128;
 * a 3x3 single-channel conv's filter gradient: 32 x 9 x 676): each row of C
 * is n dot products whose partial vectors are summed together by
 * cpu_sum16, one masked store per row.  The general dot kernel above
 * reduces every C element on its own and computes 3-column groups. */
void cpu_gemm_small_dot_narrow_avx512(int m, int n, int k, float alpha, const float *a, int lda,
                                      const float *b, int ldb, float beta, float *c, int ldc)
{
    int i = 0;
    switch (n) {
        CPU_DOT_NARROW_CASE(1) CPU_DOT_NARROW_CASE(2) CPU_DOT_NARROW_CASE(3) CPU_DOT_NARROW_CASE(4)
        CPU_DOT_NARROW_CASE(5) CPU_DOT_NARROW_CASE(6) CPU_DOT_NARROW_CASE(7) CPU_DOT_NARROW_CASE(8)
        CPU_DOT_NARROW_CASE(9) CPU_DOT_NARROW_CASE(10) CPU_DOT_NARROW_CASE(11) CPU_DOT_NARROW_CASE(12)
        CPU_DOT_NARROW_CASE(13) CPU_DOT_NARROW_CASE(14) CPU_DOT_NARROW_CASE(15) CPU_DOT_NARROW_CASE(16)
    default: break;
    }
}

/* C[0..32) = alpha * (o0, o1) + beta * C, masked to the valid columns.
 * x * 1 is x exactly, so skipping the multiply when alpha is 1 changes no
 * bit. */
static inline void cpu_store_pair(float *c, __m512 o0, __m512 o1, float alpha, float beta, __mmask16 m0,
                                  __mmask16 m1)
{
    if (alpha != 1.0f) {
        const __m512 va = _mm512_set1_ps(alpha);
        o0 = _mm512_mul_ps(o0, va), o1 = _mm512_mul_ps(o1, va);
    }
    if (beta != 0.0f) {
        const __m512 vb = _mm512_set1_ps(beta);
        o0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), o0);
        o1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), o1);
    }
    _mm512_mask_storeu_ps(c, m0, o0);
    _mm512_mask_storeu_ps(c + 16, m1, o1);
}

/* B not transposed and k <= 12 (fc2's input gradient: 64 x 128 x 10): a
 * 32-column slice of B (k x 2 vectors) stays in registers while the rows
 * of C are computed, four at a time (eight FMA chains), from k broadcasts
 * of op(A); each C vector is written once.  The 8 x 48 kernel above
 * reloads B and re-enters a k loop of ten steps for every eight rows, and
 * stores its 24 accumulators after only 240 FMAs.  Per element the same
 * FMA sequence from zero, then alpha and beta, as the kernels above (k
 * fits one KC slice): the same bits. */
#define KSTAT_MAX_K 12
static inline __attribute__((always_inline)) void cpu_kstat(int trans_a, int m, int n, int k, float alpha,
                                                              const float *a, int lda, const float *b, int ldb,
                                                              float beta, float *c, int ldc)
{
    const size_t astep = trans_a ? (size_t)lda : 1, arow = trans_a ? 1 : (size_t)lda;
    for (int j0 = 0; j0 < n; j0 += 32) {
        const __mmask16 m0 = cpu_cols_mask(n - j0), m1 = cpu_cols_mask(n - j0 - 16);
        __m512 b0[KSTAT_MAX_K], b1[KSTAT_MAX_K];
        for (int p = 0; p < KSTAT_MAX_K; p++) {
            b0[p] = p < k ? _mm512_maskz_loadu_ps(m0, b + (size_t)p * ldb + j0) : _mm512_setzero_ps();
            b1[p] = p < k ? _mm512_maskz_loadu_ps(m1, b + (size_t)p * ldb + j0 + 16) : _mm512_setzero_ps();
        }
        /* four rows at a time: eight independent FMA chains of length k */
        for (int i = 0; i < m; i += 4) {
            int rows = m - i < 4 ? m - i : 4;
            const float *a0 = a + (size_t)i * arow;
            const float *a1 = rows > 1 ? a0 + arow : a0, *a2 = rows > 2 ? a0 + 2 * arow : a0;
            const float *a3 = rows > 3 ? a0 + 3 * arow : a0;
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                   c31 = c00;
            for (int p = 0; p < KSTAT_MAX_K; p++)
                if (p < k) {
                    size_t o = (size_t)p * astep;
                    c00 = _mm512_fmadd_ps(_mm512_set1_ps(a0[o]), b0[p], c00);
                    c01 = _mm512_fmadd_ps(_mm512_set1_ps(a0[o]), b1[p], c01);
                    c10 = _mm512_fmadd_ps(_mm512_set1_ps(a1[o]), b0[p], c10);
                    c11 = _mm512_fmadd_ps(_mm512_set1_ps(a1[o]), b1[p], c11);
                    c20 = _mm512_fmadd_ps(_mm512_set1_ps(a2[o]), b0[p], c20);
                    c21 = _mm512_fmadd_ps(_mm512_set1_ps(a2[o]), b1[p], c21);
                    c30 = _mm512_fmadd_ps(_mm512_set1_ps(a3[o]), b0[p], c30);
                    c31 = _mm512_fmadd_ps(_mm512_set1_ps(a3[o]), b1[p], c31);
                }
            __m512 out[4][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 } };
            for (int r = 0; r < rows; r++)
                cpu_store_pair(c + (size_t)(i + r) * ldc + j0, out[r][0], out[r][1], alpha, beta, m0, m1);
        }
    }
}

/* B not transposed and m <= 12 (fc2's weight gradient: 10 x 128 x 64): all
 * m rows of C by 32 columns in 2m accumulators, one pair of B loads and m
 * broadcasts per k step.  The 8 x 48 kernel computes whole 8-row blocks
 * (16 rows' work for m = 10).  Same KC slices, alpha and beta steps as the
 * kernels above, hence the same bits. */
#define FEWROWS_MAX_M 12
static inline __attribute__((always_inline)) void cpu_fewrows_block(int mr, int trans_a, int k, int kc_max,
                                                                     float alpha, const float *a, int lda,
                                                                     const float *b, int ldb, float beta, float *c,
                                                                     int ldc, __mmask16 m0, __mmask16 m1)
{
    const size_t astep = trans_a ? (size_t)lda : 1, arow = trans_a ? 1 : (size_t)lda;
    for (int pc = 0; pc < k; pc += kc_max) {
        int kc = k - pc < kc_max ? k - pc : kc_max;
        __m512 acc0[FEWROWS_MAX_M], acc1[FEWROWS_MAX_M];
        for (int r = 0; r < FEWROWS_MAX_M; r++)
            acc0[r] = acc1[r] = _mm512_setzero_ps();
        const int full = m1 == 0xFFFF;
        for (int p = pc; p < pc + kc; p++) {
            __m512 b0, b1;
            if (full) { /* plain loads, kept in registers (not folded into every FMA) */
                b0 = _mm512_loadu_ps(b + (size_t)p * ldb);
                b1 = _mm512_loadu_ps(b + (size_t)p * ldb + 16);
                __asm__("" : "+v"(b0), "+v"(b1));
            } else {
                b0 = _mm512_maskz_loadu_ps(m0, b + (size_t)p * ldb);
                b1 = _mm512_maskz_loadu_ps(m1, b + (size_t)p * ldb + 16);
            }
            for (int r = 0; r < FEWROWS_MAX_M; r++)
                if (r < mr) {
                    __m512 x = _mm512_set1_ps(a[(size_t)r * arow + (size_t)p * astep]);
                    acc0[r] = _mm512_fmadd_ps(x, b0, acc0[r]);
                    acc1[r] = _mm512_fmadd_ps(x, b1, acc1[r]);
                }
        }
        /* only the first KC slice applies the caller's beta */
        for (int r = 0; r < mr; r++)
            cpu_store_pair(c + (size_t)r * ldc, acc0[r], acc1[r], alpha, pc == 0 ? beta : 1.0f, m0, m1);
    }
}

#define CPU_FEWROWS_CASE(M)                                                                                    \
    case M:                                                                                                    \
        if (trans_a)                                                                                           \
            cpu_fewrows_block(M, 1, k, kc_max, alpha, a, lda, b + j0, ldb, beta, c + j0, ldc, m0, m1);         \
        else                                                                                                   \
            cpu_fewrows_block(M, 0, k, kc_max, alpha, a, lda, b + j0, ldb, beta, c + j0, ldc, m0, m1);         \
        break;

void cpu_gemm_small_fewrows_avx512(int trans_a, int m, int n, int k, int kc_max, float alpha, const float *a,
                                   int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int j0 = 0; j0 < n; j0 += 32) {
        const __mmask16 m0 = cpu_cols_mask(n - j0), m1 = cpu_cols_mask(n - j0 - 16);
        switch (m) {
            CPU_FEWROWS_CASE(1) CPU_FEWROWS_CASE(2) CPU_FEWROWS_CASE(3) CPU_FEWROWS_CASE(4)
            CPU_FEWROWS_CASE(5) CPU_FEWROWS_CASE(6) CPU_FEWROWS_CASE(7) CPU_FEWROWS_CASE(8)
            CPU_FEWROWS_CASE(9) CPU_FEWROWS_CASE(10) CPU_FEWROWS_CASE(11) CPU_FEWROWS_CASE(12)
        default: break;
        }
    }
}

#define CPU_KSTAT_CASE(K)                                                                                      \
    case K:                                                                                                    \
        if (trans_a)                                                                                           \
            cpu_kstat(1, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);                                        \
        else                                                                                                   \
            cpu_kstat(0, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);                                        \
        break;

/* k and trans_a as constants in each copy: the k loop is straight-line
 * code with constant offsets into op(A). */
void cpu_gemm_small_kstat_avx512(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                                 const float *b, int ldb, float beta, float *c, int ldc)
{
    switch (k) {
        CPU_KSTAT_CASE(1) CPU_KSTAT_CASE(2) CPU_KSTAT_CASE(3) CPU_KSTAT_CASE(4) CPU_KSTAT_CASE(5) CPU_KSTAT_CASE(6)
        CPU_KSTAT_CASE(7) CPU_KSTAT_CASE(8) CPU_KSTAT_CASE(9) CPU_KSTAT_CASE(10) CPU_KSTAT_CASE(11)
        CPU_KSTAT_CASE(12)
    default: break;
    }
}
