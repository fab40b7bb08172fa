/* AVX-512 2x2 stride-2 max pooling of rows too short for the AVX2 code
 * (fewer than 8 outputs: the seed CNN's second pool, 11x11 -> 5x5, which
 * fell to the scalar loop).  One row of up to 8 windows per step: two
 * masked loads, the even / odd columns split by permutes, then exactly the
 * AVX2 kernel's max and first-maximum selection (cpu_pool_avx2.c), so the
 * results, NaNs included, equal the scalar code's.  Compiled with
 * -mavx512f; called only when cpu_detect_features() found AVX-512F. */
#include <immintrin.h>

#include "cpu_internal.h"

int cpu_maxpool2x2_row_avx512(const float *r0, const float *r1, int ow, float *y,
                              const float *dy, float *d0, float *d1)
{
    if (ow > 8 || ow < 1)
        return 0;
    const __m512i even = _mm512_set_epi32(14, 12, 10, 8, 6, 4, 2, 0, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 15, 13, 11, 9, 7, 5, 3, 1);
    const __mmask16 in = (__mmask16)((1u << (2 * ow)) - 1u), out = (__mmask16)((1u << ow) - 1u);
    __m512 x0 = _mm512_maskz_loadu_ps(in, r0), x1 = _mm512_maskz_loadu_ps(in, r1);
    __m512 a = _mm512_permutexvar_ps(even, x0), b = _mm512_permutexvar_ps(odd, x0);
    __m512 c = _mm512_permutexvar_ps(even, x1), d = _mm512_permutexvar_ps(odd, x1);
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
    /* lane 2i of a row gets window i's a (or c), lane 2i+1 its b (or d) */
    const __m512i mix = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 top = _mm512_permutex2var_ps(_mm512_maskz_mov_ps(ea, g), mix, _mm512_maskz_mov_ps(eb, g));
    __m512 bot = _mm512_permutex2var_ps(_mm512_maskz_mov_ps(ec, g), mix, _mm512_maskz_mov_ps(ed, g));
    _mm512_mask_storeu_ps(d0, in, top);
    _mm512_mask_storeu_ps(d1, in, bot);
    return ow;
}
