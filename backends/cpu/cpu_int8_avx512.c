/* AVX-512 BW helpers of the int8 path around the VNNI kernels: the 2x2 /
 * stride-2 max pool and quantize.  Each gives exactly the bytes of its
 * scalar counterpart. */
#include <immintrin.h>

#include "cpu_int8.h"

static inline __mmask64 cpu_q_mask64(size_t n)
{
    return n >= 64 ? ~(__mmask64)0 : _cvtu64_mask64(((uint64_t)1 << n) - 1);
}

/* y[oy][ox] = max of x[2oy .. 2oy+1][2ox .. 2ox+1], every window inside the
 * plane.  The vertical max is bytewise; the horizontal one sign-extends the
 * even and odd bytes of each 16-bit pair and narrows their max back. */
void cpu_qmaxpool2x2_avx512(const int8_t *x, int w, int8_t *y, int oh, int ow)
{
    for (int oy = 0; oy < oh; oy++) {
        const int8_t *r0 = x + (size_t)2 * oy * w, *r1 = r0 + w;
        int8_t *yr = y + (size_t)oy * ow;
        for (int ox = 0; ox < ow; ox += 32) {
            size_t left = (size_t)(ow - ox);
            __mmask64 kin = cpu_q_mask64(2 * left);
            __m512i m = _mm512_max_epi8(_mm512_maskz_loadu_epi8(kin, r0 + 2 * ox),
                                        _mm512_maskz_loadu_epi8(kin, r1 + 2 * ox));
            __m512i ev = _mm512_srai_epi16(_mm512_slli_epi16(m, 8), 8), od = _mm512_srai_epi16(m, 8);
            __m256i out = _mm512_cvtepi16_epi8(_mm512_max_epi16(ev, od));
            _mm256_mask_storeu_epi8(yr + ox, (__mmask32)(left >= 32 ? 0xFFFFFFFFu : (1u << left) - 1), out);
        }
    }
}

/* backend.h's quantize: one multiply, round half to even, NaN -> zp, the
 * clamp on the float before the conversion. */
void cpu_quantize_avx512(const float *x, size_t n, float inv_scale, int zp, int8_t *y)
{
    const __m512 inv = _mm512_set1_ps(inv_scale), lo = _mm512_set1_ps((float)(-128 - zp)),
                 hi = _mm512_set1_ps((float)(127 - zp));
    const __m512i z = _mm512_set1_epi32(zp);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv);
        __mmask16 nan = _mm512_cmp_ps_mask(t, t, _CMP_UNORD_Q);
        t = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        __m512i q = _mm512_mask_blend_epi32(nan, _mm512_add_epi32(_mm512_cvtps_epi32(t), z), z);
        _mm_mask_storeu_epi8(y + i, k, _mm512_cvtepi32_epi8(q));
    }
}
