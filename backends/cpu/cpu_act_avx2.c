/* AVX2 versions of the activations a CNN spends its elementwise time in
 * (ReLU and leaky ReLU, forward and backward).  Compiled with -mavx2 and
 * only called when cpu_detect_features() found AVX2.  Each vector is
 * loaded before it is stored, so outputs may alias inputs as the ABI
 * allows.  Results are bit-identical to the portable loops: selects and a
 * single multiply, no reassociation. */
#include <immintrin.h>

#include "cpu_internal.h"

/* y = x > 0 ? x : slope * x   (slope 0: ReLU) */
void cpu_relu_forward_avx2(size_t begin, size_t end, float slope, const float *x, float *y)
{
    const __m256 zero = _mm256_setzero_ps(), vslope = _mm256_set1_ps(slope);
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 pos = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
        __m256 neg = slope == 0.0f ? zero : _mm256_mul_ps(v, vslope);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(neg, v, pos));
    }
    for (; i < end; i++)
        y[i] = x[i] > 0.0f ? x[i] : (slope == 0.0f ? 0.0f : slope * x[i]);
}

/* dx = x > 0 ? dy : slope * dy   (slope 0: ReLU) */
void cpu_relu_backward_avx2(size_t begin, size_t end, float slope, const float *x,
                            const float *dy, float *dx)
{
    const __m256 zero = _mm256_setzero_ps(), vslope = _mm256_set1_ps(slope);
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), g = _mm256_loadu_ps(dy + i);
        __m256 pos = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
        __m256 neg = slope == 0.0f ? zero : _mm256_mul_ps(g, vslope);
        _mm256_storeu_ps(dx + i, _mm256_blendv_ps(neg, g, pos));
    }
    for (; i < end; i++)
        dx[i] = x[i] > 0.0f ? dy[i] : (slope == 0.0f ? 0.0f : slope * dy[i]);
}
