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

/* Arithmetic right shift of int64 lanes by per-lane counts (AVX2 has only
 * the logical one): shifting ~x for negative x and flipping back. */
static inline __m256i cpu_q_sra64(__m256i x, __m256i s)
{
    __m256i m = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, m), s), m);
}

/* backend.h's requantization of the int32 lanes selected by `lanes` (even:
 * the low halves of the 64-bit lanes, odd: the high halves), before the
 * zero point; clamped to +-1024, which the final int8 clamp cannot tell
 * from the exact value. */
static inline __m256i cpu_q_rq_half(__m256i acc, __m256i mult, __m256i shift)
{
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFF), one = _mm256_set1_epi64x(1);
    const __m256i hi = _mm256_set1_epi64x(1024), lo = _mm256_set1_epi64x(-1024);
    __m256i sh = _mm256_and_si256(shift, low);
    __m256i v = _mm256_mul_epi32(acc, mult); /* exact int64 products */
    v = _mm256_add_epi64(v, _mm256_sllv_epi64(one, _mm256_sub_epi64(sh, one)));
    v = cpu_q_sra64(v, sh);
    v = _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
    return _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
}

/* Eight accumulators (lanes 0-3: column j, 4-7: column j+1) to int8 values. */
static inline __m256i cpu_q_requant8(__m256i acc, __m256i mult, __m256i shift, int zp, int relu)
{
    __m256i ev = cpu_q_rq_half(acc, mult, shift);
    __m256i od = cpu_q_rq_half(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(mult, 32), _mm256_srli_epi64(shift, 32));
    __m256i r = _mm256_blend_epi32(ev, _mm256_slli_epi64(od, 32), 0xAA);
    r = _mm256_add_epi32(r, _mm256_set1_epi32(zp));
    r = _mm256_max_epi32(r, _mm256_set1_epi32(relu && zp > -128 ? zp : -128));
    return _mm256_min_epi32(r, _mm256_set1_epi32(127));
}

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
            __m256i acc = _mm256_set_m128i(cpu_q_hsum4(c01, c11, c21, c31), cpu_q_hsum4(c00, c10, c20, c30));
            __m256i bias = o->bias ? _mm256_set_m128i(_mm_set1_epi32(o->bias[j + 1]), _mm_set1_epi32(o->bias[j]))
                                   : _mm256_setzero_si256();
            __m256i mult = _mm256_set_m128i(_mm_set1_epi32(o->mult[j + 1]), _mm_set1_epi32(o->mult[j]));
            __m256i shift = _mm256_set_m128i(_mm_set1_epi32(o->shift[j + 1]), _mm_set1_epi32(o->shift[j]));
            int32_t q[8];
            _mm256_storeu_si256((__m256i *)q, cpu_q_requant8(_mm256_add_epi32(acc, bias), mult, shift, o->zp, o->relu));
            int8_t *c0 = o->c + (size_t)i * o->crs + (size_t)j * o->ccs, *c1 = c0 + o->ccs;
            for (int r = 0; r < 4; r++) {
                c0[(size_t)r * o->crs] = (int8_t)q[r];
                c1[(size_t)r * o->crs] = (int8_t)q[4 + r];
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
