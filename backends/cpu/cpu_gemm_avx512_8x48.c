/* AVX-512F GEMM micro-kernel for 8-row tiles: an 8 x 48 block of C in 24
 * ZMM registers; per k step three loads of the packed B panel, eight
 * broadcasts of packed A, 24 FMAs.  The blocked driver (cpu_gemm.c) picks
 * it over the 12 x 32 kernel when m is a multiple of 8 but not of 12 and
 * small: the seed CNN's 64 output channels and batch of 64 are five
 * 12-row tiles and a sixth that computes 12 rows for 4 (72 rows' work for
 * 64), but exactly eight 8-row tiles.  A last panel of 32 or 16 columns
 * (121 output pixels: 48 + 48 + 25) runs with two or one vectors, so the
 * 48-wide panels waste no more columns than 32-wide ones.  Per element of
 * C the arithmetic is the 12 x 32 kernel's (FMAs in k order from zero,
 * then alpha, then beta): the choice of kernel changes no bit.  Compiled
 * with -mavx512f; called only when cpu_detect_features() found AVX-512F. */
#include <immintrin.h>

#include "cpu_internal.h"

#define CPU_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

static inline __attribute__((always_inline)) void cpu_mk8x48(const int nv, int kc, const float *ap,
                                                            const float *bp, float alpha, float beta,
                                                            float *c, int ldc, int mr, int nr)
{
#define MK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0;
    CPU_ROWS8(MK_DECL)
#undef MK_DECL
#define MK_PREFETCH_C(r)                                                                   \
    if (r < mr)                                                                            \
        for (int v = 0; v < nv; v++)                                                       \
            _mm_prefetch((const char *)(c + (size_t)(r) * ldc + 16 * v), _MM_HINT_T0);
    CPU_ROWS8(MK_PREFETCH_C)
#undef MK_PREFETCH_C
#define MK_FMA(r)                                                                          \
    {                                                                                      \
        __m512 a = _mm512_set1_ps(ap[r]);                                                  \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                         \
        if (nv > 1)                                                                        \
            c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                     \
        if (nv > 2)                                                                        \
            c##r##2 = _mm512_fmadd_ps(a, b2, c##r##2);                                     \
    }
    for (int p = 0; p < kc; p++) {
        /* the panel rows are 48 floats apart whatever nv is */
        __m512 b0 = _mm512_load_ps(bp), b1 = b0, b2 = b0;
        if (nv > 1)
            b1 = _mm512_load_ps(bp + 16);
        if (nv > 2)
            b2 = _mm512_load_ps(bp + 32);
        /* A comes from L2 (8 floats per k step): one line ahead every step */
        _mm_prefetch((const char *)(ap + 8 * 16), _MM_HINT_T0);
        CPU_ROWS8(MK_FMA)
        ap += 8;
        bp += 48;
    }
#undef MK_FMA
    const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    const int beta_zero = beta == 0.0f;
    __mmask16 mask[3];
    for (int v = 0; v < 3; v++) {
        int cols = nr - 16 * v;
        mask[v] = cols >= 16 ? (__mmask16)0xFFFF : cols <= 0 ? (__mmask16)0 : (__mmask16)((1u << cols) - 1u);
    }
#define MK_STORE1(r, v)                                                                    \
    if (nv > v) {                                                                          \
        __m512 out = _mm512_mul_ps(c##r##v, valpha);                                       \
        if (!beta_zero)                                                                    \
            out = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v), out); \
        _mm512_mask_storeu_ps(cr + 16 * v, mask[v], out);                                  \
    }
#define MK_STORE(r)                                                                        \
    if (r < mr) {                                                                          \
        float *cr = c + (size_t)(r) * ldc;                                                 \
        MK_STORE1(r, 0) MK_STORE1(r, 1) MK_STORE1(r, 2)                                    \
    }
    CPU_ROWS8(MK_STORE)
#undef MK_STORE
#undef MK_STORE1
}

void cpu_microkernel_avx512_8x48(int kc, const float *apanel, const float *bpanel, float alpha,
                                 float beta, float *c, int ldc, int mr, int nr)
{
    if (nr > 32)
        cpu_mk8x48(3, kc, apanel, bpanel, alpha, beta, c, ldc, mr, nr);
    else if (nr > 16)
        cpu_mk8x48(2, kc, apanel, bpanel, alpha, beta, c, ldc, mr, nr);
    else
        cpu_mk8x48(1, kc, apanel, bpanel, alpha, beta, c, ldc, mr, nr);
}
