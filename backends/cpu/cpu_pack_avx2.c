/* AVX2 transposing copy for GEMM packing: the panels want op(A) column by
 * column (and op(B)^T row by row), which is a transpose of how A (and a
 * transposed B) are stored.  Gathering one float at a time with a stride
 * is what made packing a sixth of a CNN training step; an 8x8 register
 * transpose moves whole rows instead.  Compiled with -mavx2 and only
 * called when cpu_detect_features() found AVX2. */
#include <immintrin.h>

#include "cpu_internal.h"

/* dst[p*dst_stride + i] = src[i*ld + p] for i < rows, p < kc. */
void cpu_transpose_copy_avx2(const float *src, size_t ld, int rows, int kc, float *dst,
                             int dst_stride)
{
    int i0 = 0;
    for (; i0 + 8 <= rows; i0 += 8) {
        const float *s = src + (size_t)i0 * ld;
        int p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r0 = _mm256_loadu_ps(s + 0 * ld + p), r1 = _mm256_loadu_ps(s + 1 * ld + p);
            __m256 r2 = _mm256_loadu_ps(s + 2 * ld + p), r3 = _mm256_loadu_ps(s + 3 * ld + p);
            __m256 r4 = _mm256_loadu_ps(s + 4 * ld + p), r5 = _mm256_loadu_ps(s + 5 * ld + p);
            __m256 r6 = _mm256_loadu_ps(s + 6 * ld + p), r7 = _mm256_loadu_ps(s + 7 * ld + p);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *d = dst + (size_t)p * dst_stride + i0;
            _mm256_storeu_ps(d + 0 * (size_t)dst_stride, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + 1 * (size_t)dst_stride, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * (size_t)dst_stride, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * (size_t)dst_stride, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * (size_t)dst_stride, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * (size_t)dst_stride, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * (size_t)dst_stride, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * (size_t)dst_stride, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; p < kc; p++)
            for (int i = 0; i < 8; i++)
                dst[(size_t)p * dst_stride + i0 + i] = s[(size_t)i * ld + p];
    }
    /* four more rows (a 12-row AVX-512 panel's last four): 4 x 4 SSE
     * transposes; element by element they were a third of the packing time
     * for a third of the data */
    for (; i0 + 4 <= rows; i0 += 4) {
        const float *s = src + (size_t)i0 * ld;
        int p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m128 r0 = _mm_loadu_ps(s + p), r1 = _mm_loadu_ps(s + ld + p);
            __m128 r2 = _mm_loadu_ps(s + 2 * ld + p), r3 = _mm_loadu_ps(s + 3 * ld + p);
            __m128 t0 = _mm_unpacklo_ps(r0, r1), t1 = _mm_unpackhi_ps(r0, r1);
            __m128 t2 = _mm_unpacklo_ps(r2, r3), t3 = _mm_unpackhi_ps(r2, r3);
            float *d = dst + (size_t)p * dst_stride + i0;
            _mm_storeu_ps(d, _mm_movelh_ps(t0, t2));
            _mm_storeu_ps(d + (size_t)dst_stride, _mm_movehl_ps(t2, t0));
            _mm_storeu_ps(d + 2 * (size_t)dst_stride, _mm_movelh_ps(t1, t3));
            _mm_storeu_ps(d + 3 * (size_t)dst_stride, _mm_movehl_ps(t3, t1));
        }
        for (; p < kc; p++)
            for (int i = 0; i < 4; i++)
                dst[(size_t)p * dst_stride + i0 + i] = s[(size_t)i * ld + p];
    }
    /* fewer than 4 rows left */
    for (int p = 0; p < kc; p++)
        for (int i = i0; i < rows; i++)
            dst[(size_t)p * dst_stride + i] = src[(size_t)i * ld + p];
}

/* dst[p*width + j] = src[p*ld + j] for p < rows, j < width, width a
 * multiple of 8: B panels of an untransposed B, one row of NR floats per k
 * step.  The memcpy call per 128-byte row it replaces took 3.9 % of a
 * 1024^3 GEMM's samples; one core, medians of 5 alternated runs: 146.8
 * -> 147.1 GFLOP/s, within the noise, but one libc call less per row. */
void cpu_copy_rows_avx2(const float *src, size_t ld, int rows, int width, float *dst)
{
    for (int p = 0; p < rows; p++, src += ld, dst += width)
        for (int j = 0; j < width; j += 8)
            _mm256_storeu_ps(dst + j, _mm256_loadu_ps(src + j));
}
