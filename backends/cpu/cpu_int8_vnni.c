/* AVX-512 VNNI micro-kernels of the int8 convolution and GEMM (see
 * cpu_int8.h for why u8 x s8 vpdpbusd is exact here), and the byte
 * shuffles and weight preparation that feed them.  One vpdpbusd does 64
 * multiply-adds, against 16 for the AVX2 vpmaddwd path on int16 copies. */
#include <immintrin.h>
#include <string.h>

#include "cpu_int8.h"

#define INLINE static inline __attribute__((always_inline))

/* backend.h's requantization of 16 int32 lanes with per-lane mult / shift
 * (int32 each).  Even and odd lanes go through exact int64 products and an
 * arithmetic shift, then narrow with signed saturation to int16 (a value
 * beyond int16 ends beyond int8 after the zero point either way), are
 * re-interleaved, get the zero point (saturating) and the lower clamp, and
 * narrow with saturation to int8, which is the upper clamp at 127. */
INLINE __m128i cpu_qv_requant(__m512i acc, __m512i mult, __m512i shift, __m256i zp, __m256i lo)
{
    const __m512i one = _mm512_set1_epi64(1), low = _mm512_set1_epi64(0xFFFFFFFF);
    __m512i she = _mm512_and_si512(shift, low), sho = _mm512_srli_epi64(shift, 32);
    __m512i ev = _mm512_mul_epi32(acc, mult);
    __m512i od = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), _mm512_srli_epi64(mult, 32));
    ev = _mm512_srav_epi64(_mm512_add_epi64(ev, _mm512_sllv_epi64(one, _mm512_sub_epi64(she, one))), she);
    od = _mm512_srav_epi64(_mm512_add_epi64(od, _mm512_sllv_epi64(one, _mm512_sub_epi64(sho, one))), sho);
    __m128i e16 = _mm512_cvtsepi64_epi16(ev), o16 = _mm512_cvtsepi64_epi16(od);
    __m256i r = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(e16, o16)),
                                        _mm_unpackhi_epi16(e16, o16), 1);
    r = _mm256_max_epi16(_mm256_adds_epi16(r, zp), lo);
    return _mm256_cvtsepi16_epi8(r);
}

/* acc += vpdpbusd(u, s).  Written as asm with the accumulator tied in and
 * out: GCC 12's intrinsic copies the accumulator around each instruction. */
INLINE __m512i cpu_qv_dp(__m512i acc, __m512i u, __m512i s)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

INLINE int32_t cpu_qv_quad(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* One register block of the convolution: MR channels x NR vectors of 16
 * positions.  Per quad: NR position loads, MR weight broadcasts. */
INLINE void cpu_qv_conv_block(const cpu_qv_conv *a, int ch0, int p0, const int MR, const int NR)
{
    __m512i acc[CPU_QV_CONV_MR][CPU_QV_CONV_NR];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < MR; i++)
        _Pragma("GCC unroll 8")
        for (int v = 0; v < NR; v++)
            acc[i][v] = _mm512_setzero_si512();
    const uint8_t *xb = a->x + (size_t)p0 * 4;
    const size_t wstride = (size_t)a->nq * 4;
    const int8_t *w0 = a->w + (size_t)ch0 * wstride;
    for (int q = 0; q < a->nq; q++) {
        const uint8_t *xq = xb + a->qoff[q];
        __m512i xv[CPU_QV_CONV_NR];
        _Pragma("GCC unroll 8")
        for (int v = 0; v < NR; v++)
            xv[v] = _mm512_loadu_si512((const void *)(xq + 64 * v));
        _Pragma("GCC unroll 8")
        for (int i = 0; i < MR; i++) {
            __m512i wb = _mm512_set1_epi32(cpu_qv_quad(w0 + i * wstride + 4 * (size_t)q));
            _Pragma("GCC unroll 8")
            for (int v = 0; v < NR; v++)
                acc[i][v] = cpu_qv_dp(acc[i][v], xv[v], wb);
        }
    }
    const __m256i zp = _mm256_set1_epi16((short)a->zp),
                  lo = _mm256_set1_epi16((short)(a->relu && a->zp > -128 ? a->zp : -128));
    _Pragma("GCC unroll 8")
    for (int i = 0; i < MR; i++) {
        int ch = ch0 + i;
        __m512i b = _mm512_set1_epi32(a->bias2[ch]), m = _mm512_set1_epi32(a->mult[ch]),
                s = _mm512_set1_epi32(a->shift[ch]);
        _Pragma("GCC unroll 8")
        for (int v = 0; v < NR; v++) {
            int t = p0 / 16 + v;
            __m128i r = cpu_qv_requant(_mm512_add_epi32(acc[i][v], b), m, s, zp, lo);
            r = _mm_shuffle_epi8(r, _mm_loadu_si128((const __m128i *)(a->pick + 16 * (size_t)t)));
            _mm_mask_storeu_epi8(a->out + (size_t)ch * a->ldo + a->dst[t], a->keep[t], r);
        }
    }
}

#define CONV_NR_CASES(MR)                                                                                   \
    case MR * 4 + 1: cpu_qv_conv_block(a, ch0, p0, MR, 1); break;                                           \
    case MR * 4 + 2: cpu_qv_conv_block(a, ch0, p0, MR, 2); break;                                           \
    case MR * 4 + 3: cpu_qv_conv_block(a, ch0, p0, MR, 3); break;

void cpu_qconv_vnni(const cpu_qv_conv *a)
{
    for (int ch0 = 0; ch0 < a->kch; ch0 += CPU_QV_CONV_MR) {
        int mr = a->kch - ch0 < CPU_QV_CONV_MR ? a->kch - ch0 : CPU_QV_CONV_MR;
        for (int p0 = 0; p0 < a->npos; p0 += 16 * CPU_QV_CONV_NR) {
            int nr = (a->npos - p0) / 16 < CPU_QV_CONV_NR ? (a->npos - p0) / 16 : CPU_QV_CONV_NR;
            switch (mr * 4 + nr) {
                CONV_NR_CASES(1)
                CONV_NR_CASES(2)
                CONV_NR_CASES(3)
                CONV_NR_CASES(4)
                CONV_NR_CASES(5)
                CONV_NR_CASES(6)
                CONV_NR_CASES(7)
                CONV_NR_CASES(8)
            default: break;
            }
        }
    }
}

/* One register block of the GEMM: MR rows x NR vectors of 16 columns.  Per
 * quad: NR weight loads, MR activation broadcasts. */
INLINE void cpu_qv_gemm_block(const cpu_qv_gemm *g, int i0, int j0, const int MR, const int NR)
{
    __m512i acc[CPU_QV_GEMM_MR][CPU_QV_GEMM_NR];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < MR; i++)
        _Pragma("GCC unroll 8")
        for (int v = 0; v < NR; v++)
            acc[i][v] = _mm512_setzero_si512();
    const uint8_t *a0 = g->a + (size_t)i0 * g->lda;
    const int8_t *b0 = g->b + (size_t)j0 * 4;
    const size_t bstride = (size_t)g->n16 * 4;
    for (int q = 0; q < g->nq; q++) {
        const int8_t *bq = b0 + (size_t)q * bstride;
        __m512i bv[CPU_QV_GEMM_NR];
        _Pragma("GCC unroll 8")
        for (int v = 0; v < NR; v++)
            bv[v] = _mm512_loadu_si512((const void *)(bq + 64 * v));
        _Pragma("GCC unroll 8")
        for (int i = 0; i < MR; i++) {
            __m512i ab = _mm512_set1_epi32(cpu_qv_quad((const int8_t *)a0 + i * g->lda + 4 * (size_t)q));
            _Pragma("GCC unroll 8")
            for (int v = 0; v < NR; v++)
                acc[i][v] = cpu_qv_dp(acc[i][v], ab, bv[v]);
        }
    }
    const __m256i zp = _mm256_set1_epi16((short)g->zp),
                  lo = _mm256_set1_epi16((short)(g->relu && g->zp > -128 ? g->zp : -128));
    _Pragma("GCC unroll 8")
    for (int v = 0; v < NR; v++) {
        int j = j0 + 16 * v;
        __m512i b = _mm512_loadu_si512((const void *)(g->bias2 + j)), m = _mm512_loadu_si512((const void *)(g->mult + j)),
                s = _mm512_loadu_si512((const void *)(g->shift + j));
        __mmask16 keep = g->n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (g->n - j)) - 1);
        _Pragma("GCC unroll 8")
        for (int i = 0; i < MR; i++)
            _mm_mask_storeu_epi8(g->c + (size_t)(i0 + i) * g->ldc + j, keep,
                                 cpu_qv_requant(_mm512_add_epi32(acc[i][v], b), m, s, zp, lo));
    }
}

#define GEMM_NR_CASES(MR)                                                                                   \
    case MR * 8 + 1: cpu_qv_gemm_block(g, i0, j0, MR, 1); break;                                            \
    case MR * 8 + 2: cpu_qv_gemm_block(g, i0, j0, MR, 2); break;                                            \
    case MR * 8 + 3: cpu_qv_gemm_block(g, i0, j0, MR, 3); break;                                            \
    case MR * 8 + 4: cpu_qv_gemm_block(g, i0, j0, MR, 4); break;

void cpu_qgemm_vnni(const cpu_qv_gemm *g, int m)
{
    int nv = g->n16 / 16;
    for (int i0 = 0; i0 < m; i0 += CPU_QV_GEMM_MR) {
        int mr = m - i0 < CPU_QV_GEMM_MR ? m - i0 : CPU_QV_GEMM_MR;
        for (int v0 = 0; v0 < nv; v0 += CPU_QV_GEMM_NR) {
            int nr = nv - v0 < CPU_QV_GEMM_NR ? nv - v0 : CPU_QV_GEMM_NR, j0 = 16 * v0;
            switch (mr * 8 + nr) {
                GEMM_NR_CASES(1)
                GEMM_NR_CASES(2)
                GEMM_NR_CASES(3)
                GEMM_NR_CASES(4)
                GEMM_NR_CASES(5)
                GEMM_NR_CASES(6)
            default: break;
            }
        }
    }
}

void cpu_q_interleave4_avx512(uint8_t *dst, const uint8_t *s0, const uint8_t *s1, const uint8_t *s2,
                              const uint8_t *s3, size_t count)
{
    for (size_t i = 0; i < count; i += 16) {
        __m128i v0 = _mm_loadu_si128((const __m128i *)(s0 + i)), v1 = _mm_loadu_si128((const __m128i *)(s1 + i));
        __m128i v2 = _mm_loadu_si128((const __m128i *)(s2 + i)), v3 = _mm_loadu_si128((const __m128i *)(s3 + i));
        __m128i t0 = _mm_unpacklo_epi8(v0, v1), t1 = _mm_unpackhi_epi8(v0, v1);
        __m128i t2 = _mm_unpacklo_epi8(v2, v3), t3 = _mm_unpackhi_epi8(v2, v3);
        __m128i *d = (__m128i *)(dst + 4 * i);
        _mm_storeu_si128(d, _mm_unpacklo_epi16(t0, t2));
        _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(t0, t2));
        _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(t1, t3));
        _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(t1, t3));
    }
}

void cpu_q_to_u8_avx512(uint8_t *dst, const int8_t *src, size_t count)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    size_t i = 0;
    for (; i + 64 <= count; i += 64)
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(_mm512_loadu_si512((const void *)(src + i)), flip));
    if (i < count) {
        __mmask64 k = _cvtu64_mask64(((uint64_t)1 << (count - i)) - 1);
        _mm512_mask_storeu_epi8(dst + i, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, src + i), flip));
    }
}

void cpu_q_pack_quads_avx512(int32_t *dst, const int8_t *b, size_t ldb, int n, int nquads, size_t dst_stride)
{
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)ldb));
    for (int q = 0; q < nquads; q++) {
        int32_t *d = dst + (size_t)q * dst_stride;
        const int8_t *src = b + 4 * (size_t)q;
        int j = 0;
        for (; j + 16 <= n; j += 16)
            _mm512_storeu_si512((void *)(d + j), _mm512_i32gather_epi32(idx, (const void *)(src + (size_t)j * ldb), 1));
        for (; j < n; j++)
            memcpy(d + j, src + (size_t)j * ldb, 4);
    }
}

int64_t cpu_q_sum_s8_avx512(const int8_t *b, size_t len)
{
    const __m512i ones = _mm512_set1_epi8(1);
    int64_t total = 0;
    for (size_t c0 = 0; c0 < len; c0 += (size_t)1 << 20) { /* 2^20 / 64 * 4 * 128 fits an int32 lane */
        size_t end = len - c0 < ((size_t)1 << 20) ? len : c0 + ((size_t)1 << 20);
        __m512i acc = _mm512_setzero_si512();
        size_t i = c0;
        for (; i + 64 <= end; i += 64)
            acc = cpu_qv_dp(acc, ones, _mm512_loadu_si512((const void *)(b + i)));
        if (i < end)
            acc = cpu_qv_dp(acc, ones, _mm512_maskz_loadu_epi8(_cvtu64_mask64(((uint64_t)1 << (end - i)) - 1), b + i));
        total += _mm512_reduce_add_epi32(acc);
    }
    return total;
}
