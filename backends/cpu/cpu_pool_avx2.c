/* AVX2 2x2 stride-2 max pooling, eight windows per step: the even and odd
 * columns of two input rows are split into the window corners a b / c d,
 * and forward takes their maximum while backward routes the gradient to
 * the first maximum with compare masks.  Same selection rule (and the same
 * results, NaNs included) as the scalar code in cpu_pool.c.  Compiled with
 * -mavx2; called only when cpu_detect_features() found AVX2. */
#include <immintrin.h>

#include "cpu_internal.h"

/* Splits 16 consecutive floats into their even and odd elements, in order. */
static inline void cpu_deinterleave(const float *src, __m256 *even, __m256 *odd)
{
    __m256 lo = _mm256_loadu_ps(src), hi = _mm256_loadu_ps(src + 8);
    __m256 e = _mm256_shuffle_ps(lo, hi, 0x88), o = _mm256_shuffle_ps(lo, hi, 0xDD);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}

/* The inverse: writes even[0] odd[0] even[1] odd[1] ... to dst[0..16). */
static inline void cpu_interleave_store(float *dst, __m256 even, __m256 odd)
{
    __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

int cpu_maxpool2x2_row_avx2(const float *r0, const float *r1, int ow, float *y, const float *dy,
                            float *d0, float *d1)
{
    if (ow < 8)
        return 0;
    /* A ragged end is done as one more group ending at ow, overlapping the
     * previous one: both passes only assign (windows do not overlap), so
     * recomputing a window writes the same values again. */
    for (int ox = 0; ox < ow; ox = ox + 8 < ow && ox + 16 > ow ? ow - 8 : ox + 8) {
        __m256 a, b, c, d;
        cpu_deinterleave(r0 + 2 * ox, &a, &b);
        cpu_deinterleave(r1 + 2 * ox, &c, &d);
        /* max_ps(x, y) is x > y ? x : y, the scalar select */
        __m256 m = _mm256_max_ps(_mm256_max_ps(d, c), _mm256_max_ps(b, a));
        if (y) {
            _mm256_storeu_ps(y + ox, m);
            continue;
        }
        __m256 na = _mm256_cmp_ps(a, m, _CMP_NEQ_UQ), nb = _mm256_cmp_ps(b, m, _CMP_NEQ_UQ);
        __m256 nc = _mm256_cmp_ps(c, m, _CMP_NEQ_UQ);
        __m256 eb = _mm256_and_ps(_mm256_cmp_ps(b, m, _CMP_EQ_OQ), na);
        __m256 ec = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(c, m, _CMP_EQ_OQ), na), nb);
        __m256 ed = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(d, m, _CMP_EQ_OQ), na),
                                  _mm256_and_ps(nb, nc));
        __m256 g = _mm256_loadu_ps(dy + ox);
        __m256 ga = _mm256_andnot_ps(_mm256_or_ps(eb, _mm256_or_ps(ec, ed)), g);
        cpu_interleave_store(d0 + 2 * ox, ga, _mm256_and_ps(eb, g));
        cpu_interleave_store(d1 + 2 * ox, _mm256_and_ps(ec, g), _mm256_and_ps(ed, g));
    }
    return ow;
}
