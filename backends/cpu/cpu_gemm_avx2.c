/* AVX2/FMA GEMM micro-kernel: a 6x16 block of C lives in 12 YMM registers
 * while the packed A (6 values per k step) and B (16 values per k step)
 * panels stream through; each k step is 2 loads, 6 broadcasts and 12 FMAs.
 * Compiled with -mavx2 -mfma and only called after cpu_detect_features()
 * has confirmed the CPU and OS support. */
#include <immintrin.h>
#include <math.h>

#include "cpu_internal.h"

#if CPU_GEMM_MR != 6 || CPU_GEMM_NR != 16
#error "cpu_gemm_avx2.c is written for a 6x16 micro-tile"
#endif

static inline void cpu_store_row(float *c, __m256 lo, __m256 hi, __m256 valpha, __m256 vbeta,
                                 int beta_zero)
{
    lo = _mm256_mul_ps(lo, valpha);
    hi = _mm256_mul_ps(hi, valpha);
    if (!beta_zero) {
        lo = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c), lo);
        hi = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c + 8), hi);
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
}

void cpu_microkernel_avx2(int kc, const float *apanel, const float *bpanel, float alpha,
                          float beta, float *c, int ldc, int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const float *ap = apanel, *bp = bpanel;

#define CPU_KSTEP(off)                                                                     \
    do {                                                                                   \
        __m256 b0 = _mm256_load_ps(bp + (off) * 16), b1 = _mm256_load_ps(bp + (off) * 16 + 8); \
        __m256 a;                                                                          \
        a = _mm256_broadcast_ss(ap + (off) * 6 + 0);                                       \
        c00 = _mm256_fmadd_ps(a, b0, c00);                                                 \
        c01 = _mm256_fmadd_ps(a, b1, c01);                                                 \
        a = _mm256_broadcast_ss(ap + (off) * 6 + 1);                                       \
        c10 = _mm256_fmadd_ps(a, b0, c10);                                                 \
        c11 = _mm256_fmadd_ps(a, b1, c11);                                                 \
        a = _mm256_broadcast_ss(ap + (off) * 6 + 2);                                       \
        c20 = _mm256_fmadd_ps(a, b0, c20);                                                 \
        c21 = _mm256_fmadd_ps(a, b1, c21);                                                 \
        a = _mm256_broadcast_ss(ap + (off) * 6 + 3);                                       \
        c30 = _mm256_fmadd_ps(a, b0, c30);                                                 \
        c31 = _mm256_fmadd_ps(a, b1, c31);                                                 \
        a = _mm256_broadcast_ss(ap + (off) * 6 + 4);                                       \
        c40 = _mm256_fmadd_ps(a, b0, c40);                                                 \
        c41 = _mm256_fmadd_ps(a, b1, c41);                                                 \
        a = _mm256_broadcast_ss(ap + (off) * 6 + 5);                                       \
        c50 = _mm256_fmadd_ps(a, b0, c50);                                                 \
        c51 = _mm256_fmadd_ps(a, b1, c51);                                                 \
    } while (0)

    int p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(bp + 16 * 16), _MM_HINT_T0);
        CPU_KSTEP(0);
        CPU_KSTEP(1);
        _mm_prefetch((const char *)(bp + 16 * 16 + 32), _MM_HINT_T0);
        CPU_KSTEP(2);
        CPU_KSTEP(3);
        ap += 24;
        bp += 64;
    }
    for (; p < kc; p++) {
        CPU_KSTEP(0);
        ap += 6;
        bp += 16;
    }
#undef CPU_KSTEP

    __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
    int beta_zero = beta == 0.0f;
    if (mr == 6 && nr == 16) {
        cpu_store_row(c + 0 * (size_t)ldc, c00, c01, valpha, vbeta, beta_zero);
        cpu_store_row(c + 1 * (size_t)ldc, c10, c11, valpha, vbeta, beta_zero);
        cpu_store_row(c + 2 * (size_t)ldc, c20, c21, valpha, vbeta, beta_zero);
        cpu_store_row(c + 3 * (size_t)ldc, c30, c31, valpha, vbeta, beta_zero);
        cpu_store_row(c + 4 * (size_t)ldc, c40, c41, valpha, vbeta, beta_zero);
        cpu_store_row(c + 5 * (size_t)ldc, c50, c51, valpha, vbeta, beta_zero);
        return;
    }
    /* Edge tile: spill to a local tile and write only the valid part, so
     * that C outside the m x n region is never touched. */
    _Alignas(32) float tile[6][16];
    _mm256_store_ps(tile[0], c00), _mm256_store_ps(tile[0] + 8, c01);
    _mm256_store_ps(tile[1], c10), _mm256_store_ps(tile[1] + 8, c11);
    _mm256_store_ps(tile[2], c20), _mm256_store_ps(tile[2] + 8, c21);
    _mm256_store_ps(tile[3], c30), _mm256_store_ps(tile[3] + 8, c31);
    _mm256_store_ps(tile[4], c40), _mm256_store_ps(tile[4] + 8, c41);
    _mm256_store_ps(tile[5], c50), _mm256_store_ps(tile[5] + 8, c51);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < nr; j++)
            /* fmaf rounds like the full-tile path's vfmadd */
            ci[j] = beta_zero ? alpha * tile[i][j] : fmaf(beta, ci[j], alpha * tile[i][j]);
    }
}
