/* AVX2 micro-kernel of the int8 GEMMs: operands were widened to int16, so
 * vpmaddwd multiplies 16 pairs and adds adjacent products into 8 int32
 * lanes exactly (|product pair| <= 2 * 255 * 128, no saturation - unlike
 * vpmaddubsw, whose int16 sums can saturate).  4 rows of A x 2 rows of B per
 * block keep 8 accumulators and 6 operands in the 16 ymm registers. */
#include <immintrin.h>

#include "cpu_int8.h"

/* [sum(a), sum(b), sum(c), sum(d)] of four int32x8 vectors. */
static inline __m128i cpu_q_hsum4(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

static inline int32_t cpu_q_hsum1(__m256i a)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline void cpu_q_store(const cpu_q_out *o, int i, int j, int32_t dot)
{
    int32_t acc = (o->bias ? o->bias[j] : 0) + dot;
    o->c[(size_t)i * o->crs + (size_t)j * o->ccs] = mlopt_requantize(acc, o->mult[j], o->shift[j], o->zp, o->relu);
}

#define LD(p) _mm256_loadu_si256((const __m256i *)(p))

void cpu_qgemm16_avx2(int m, int n, int k16, const int16_t *a, const int16_t *b, const cpu_q_out *o)
{
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const int16_t *a0 = a + (size_t)i * k16, *a1 = a0 + k16, *a2 = a1 + k16, *a3 = a2 + k16;
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            const int16_t *b0 = b + (size_t)j * k16, *b1 = b0 + k16;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                    c30 = c00, c31 = c00;
            for (int p = 0; p < k16; p += CPU_Q_KSTEP) {
                __m256i w0 = LD(b0 + p), w1 = LD(b1 + p);
                __m256i x = LD(a0 + p);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, w0));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, w1));
                x = LD(a1 + p);
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, w0));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, w1));
                x = LD(a2 + p);
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, w0));
                c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, w1));
                x = LD(a3 + p);
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, w0));
                c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, w1));
            }
            int32_t s0[4], s1[4];
            _mm_storeu_si128((__m128i *)s0, cpu_q_hsum4(c00, c10, c20, c30));
            _mm_storeu_si128((__m128i *)s1, cpu_q_hsum4(c01, c11, c21, c31));
            for (int r = 0; r < 4; r++) {
                cpu_q_store(o, i + r, j, s0[r]);
                cpu_q_store(o, i + r, j + 1, s1[r]);
            }
        }
        for (; j < n; j++) {
            const int16_t *b0 = b + (size_t)j * k16;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
            for (int p = 0; p < k16; p += CPU_Q_KSTEP) {
                __m256i w0 = LD(b0 + p);
                c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(LD(a0 + p), w0));
                c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(LD(a1 + p), w0));
                c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(LD(a2 + p), w0));
                c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(LD(a3 + p), w0));
            }
            int32_t s0[4];
            _mm_storeu_si128((__m128i *)s0, cpu_q_hsum4(c0, c1, c2, c3));
            for (int r = 0; r < 4; r++)
                cpu_q_store(o, i + r, j, s0[r]);
        }
    }
    for (; i < m; i++) {
        const int16_t *a0 = a + (size_t)i * k16;
        for (int j = 0; j < n; j++) {
            const int16_t *b0 = b + (size_t)j * k16;
            __m256i c0 = _mm256_setzero_si256();
            for (int p = 0; p < k16; p += CPU_Q_KSTEP)
                c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(LD(a0 + p), LD(b0 + p)));
            cpu_q_store(o, i, j, cpu_q_hsum1(c0));
        }
    }
}
