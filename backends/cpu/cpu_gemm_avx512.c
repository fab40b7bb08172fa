/* AVX-512F GEMM micro-kernel: a 12x32 block of C lives in 24 ZMM registers
 * while packed A (12 values per k step) and B (32 values per k step)
 * stream through; each k step is 2 loads, 12 broadcasts and 24 FMAs,
 * twice the work per instruction of the AVX2 kernel.  Compiled with
 * -mavx512f and only called after cpu_detect_features() has confirmed the
 * CPU and OS support.  Edge tiles use masked loads/stores, so C outside
 * the m x n region is never touched. */
#include <immintrin.h>

#include "cpu_internal.h"

#if CPU_GEMM512_MR != 12 || CPU_GEMM512_NR != 32
#error "cpu_gemm_avx512.c is written for a 12x32 micro-tile"
#endif

#define CPU_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

void cpu_microkernel_avx512(int kc, const float *apanel, const float *bpanel, float alpha,
                            float beta, float *c, int ldc, int mr, int nr)
{
#define CPU_DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
    CPU_ROWS(CPU_DECL)
#undef CPU_DECL
    const float *ap = apanel, *bp = bpanel;
    /* C is touched only after the k loop: start fetching its rows now so
     * the misses overlap with the arithmetic. */
#define CPU_PREFETCH_C(i)                                                                  \
    if (i < mr) {                                                                          \
        _mm_prefetch((const char *)(c + (size_t)(i) * ldc), _MM_HINT_T0);                  \
        _mm_prefetch((const char *)(c + (size_t)(i) * ldc + 16), _MM_HINT_T0);             \
    }
    CPU_ROWS(CPU_PREFETCH_C)
#undef CPU_PREFETCH_C
#define CPU_FMA(i)                                                                         \
    {                                                                                      \
        __m512 a = _mm512_set1_ps(ap[i]);                                                  \
        c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                                         \
        c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);                                         \
    }
    /* The B micro-panel stays in L1 across calls; the A micro-panel comes
     * from L2, so it is what gets prefetched (one line per k step covers
     * its 48 bytes per step). */
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        _mm_prefetch((const char *)(ap + 12 * 16), _MM_HINT_T0);
        CPU_ROWS(CPU_FMA)
        ap += 12;
        bp += 32;
    }
#undef CPU_FMA

    const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    const int beta_zero = beta == 0.0f;
    /* columns [0,16) and [16,32) that lie inside C */
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                                  : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
#define CPU_STORE(i)                                                                        \
    if (i < mr) {                                                                           \
        float *ci = c + (size_t)(i) * ldc;                                                  \
        __m512 lo = _mm512_mul_ps(c##i##0, valpha), hi = _mm512_mul_ps(c##i##1, valpha);    \
        if (!beta_zero) {                                                                   \
            lo = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m0, ci), lo);                 \
            hi = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m1, ci + 16), hi);            \
        }                                                                                   \
        _mm512_mask_storeu_ps(ci, m0, lo);                                                  \
        _mm512_mask_storeu_ps(ci + 16, m1, hi);                                             \
    }
    CPU_ROWS(CPU_STORE)
#undef CPU_STORE
}
