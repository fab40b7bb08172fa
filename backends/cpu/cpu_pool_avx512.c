/* AVX-512 2x2 stride-2 max pooling of rows of up to 16 outputs (the seed
 * CNN's pools, 26x26 -> 13x13 and 11x11 -> 5x5).  One row of windows per
 * step: masked loads of the two input rows, the even / odd columns split by
 * two-source permutes, then exactly the
 * AVX2 kernel's max and first-maximum selection (cpu_pool_avx2.c), so the
 * results, NaNs included, equal the scalar code's.  For 13 outputs the
 * AVX2 code needs two overlapping groups of 8 with four deinterleaves each
 * (16 shuffles); this is 4 permutes, and it was 13 % of a batch-256
 * inference.  Compiled with
 * -mavx512f; called only when cpu_detect_features() found AVX-512F. */
#include <immintrin.h>

#include "cpu_internal.h"

/* Lanes [0, n) of a 16-lane vector, n clamped to 0..16. */
static inline __mmask16 cpu_first_lanes(int n)
{
    return n <= 0 ? 0 : n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

int cpu_maxpool2x2_row_avx512(const float *r0, const float *r1, int ow, float *y,
                              const float *dy, float *d0, float *d1)
{
    if (ow > 16 || ow < 1)
        return 0;
    /* even / odd elements of the 32 floats lo:hi */
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __mmask16 in_lo = cpu_first_lanes(2 * ow), in_hi = cpu_first_lanes(2 * ow - 16),
                    out = cpu_first_lanes(ow);
    __m512 x0l = _mm512_maskz_loadu_ps(in_lo, r0), x0h = _mm512_maskz_loadu_ps(in_hi, r0 + 16);
    __m512 x1l = _mm512_maskz_loadu_ps(in_lo, r1), x1h = _mm512_maskz_loadu_ps(in_hi, r1 + 16);
    __m512 a = _mm512_permutex2var_ps(x0l, even, x0h), b = _mm512_permutex2var_ps(x0l, odd, x0h);
    __m512 c = _mm512_permutex2var_ps(x1l, even, x1h), d = _mm512_permutex2var_ps(x1l, odd, x1h);
    __m512 m = _mm512_max_ps(_mm512_max_ps(d, c), _mm512_max_ps(b, a));
    if (y) {
        _mm512_mask_storeu_ps(y, out, m);
        return ow;
    }
    __mmask16 na = _mm512_cmp_ps_mask(a, m, _CMP_NEQ_UQ), nb = _mm512_cmp_ps_mask(b, m, _CMP_NEQ_UQ);
    __mmask16 nc = _mm512_cmp_ps_mask(c, m, _CMP_NEQ_UQ);
    __mmask16 eb = _mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ) & na;
    __mmask16 ec = _mm512_cmp_ps_mask(c, m, _CMP_EQ_OQ) & na & nb;
    __mmask16 ed = _mm512_cmp_ps_mask(d, m, _CMP_EQ_OQ) & na & nb & nc;
    __mmask16 ea = (__mmask16)~(eb | ec | ed);
    __m512 g = _mm512_maskz_loadu_ps(out, dy);
    /* lane 2i of a row gets window i's a (or c), lane 2i+1 its b (or d):
     * windows 0-7 fill the first 16 lanes, windows 8-15 the next 16 */
    const __m512i mix_lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i mix_hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    __m512 ga = _mm512_maskz_mov_ps(ea, g), gb = _mm512_maskz_mov_ps(eb, g);
    __m512 gc = _mm512_maskz_mov_ps(ec, g), gd = _mm512_maskz_mov_ps(ed, g);
    _mm512_mask_storeu_ps(d0, in_lo, _mm512_permutex2var_ps(ga, mix_lo, gb));
    _mm512_mask_storeu_ps(d1, in_lo, _mm512_permutex2var_ps(gc, mix_lo, gd));
    if (ow > 8) {
        _mm512_mask_storeu_ps(d0 + 16, in_hi, _mm512_permutex2var_ps(ga, mix_hi, gb));
        _mm512_mask_storeu_ps(d1 + 16, in_hi, _mm512_permutex2var_ps(gc, mix_hi, gd));
    }
    return ow;
}
