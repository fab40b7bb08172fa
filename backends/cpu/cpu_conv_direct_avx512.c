/* AVX-512 direct 3x3 convolution of one input channel (the seed CNN's first
 * layer: 1 -> 32 filters on 28x28), stride 1, no padding or dilation, for
 * output rows of 16 to 32 pixels: each row is two 16-pixel vectors (the
 * second overlapping the first when ow < 32, same pixels, same values).
 * Two filters' nine weights stay in 18 registers; two output rows by two
 * vectors by two filters are eight independent FMA chains, each input
 * vector loaded once for all of them.  The AVX2 kernel (cpu_conv_avx2.c)
 * did eight pixels per instruction with nine loads per nine FMAs.  Per
 * pixel the arithmetic is the AVX2 kernel's: taps in (kr, ks) order from
 * zero, bias last, so the values are the same bits.  Compiled with
 * -mavx512f; called only when cpu_detect_features() found AVX-512F. */
#include <immintrin.h>

#include "cpu_internal.h"

/* Output rows oy0 .. oy0 + nrows - 1 (nrows 1 or 2) of filters f and f + 1
 * (wa, wb: their nine broadcast weights). */
static inline __attribute__((always_inline)) void cpu_direct3x3_rows(int nrows, int w_in, int ow, const float *x,
                                                                      int oy0, const __m512 *wa, const __m512 *wb,
                                                                      float ba, float bb, int bias, float *ya,
                                                                      float *yb)
{
    const int o1 = ow - 16; /* the second vector's first pixel */
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00; /* filter a: row, vector */
    __m512 b00 = a00, b01 = a00, b10 = a00, b11 = a00;
    /* input row oy0 + i is tap row i of output row oy0 and tap row i - 1
     * of output row oy0 + 1: each accumulator still sees kr = 0, 1, 2 in
     * order, and ks = 0, 1, 2 within a row */
    for (int i = 0; i < nrows + 2; i++) {
        const float *xr = x + (size_t)(oy0 + i) * w_in;
        for (int ks = 0; ks < 3; ks++) {
            __m512 v0 = _mm512_loadu_ps(xr + ks), v1 = _mm512_loadu_ps(xr + o1 + ks);
            if (i < 3) {
                int t = i * 3 + ks;
                a00 = _mm512_fmadd_ps(wa[t], v0, a00);
                a01 = _mm512_fmadd_ps(wa[t], v1, a01);
                b00 = _mm512_fmadd_ps(wb[t], v0, b00);
                b01 = _mm512_fmadd_ps(wb[t], v1, b01);
            }
            if (nrows == 2 && i >= 1) {
                int t = (i - 1) * 3 + ks;
                a10 = _mm512_fmadd_ps(wa[t], v0, a10);
                a11 = _mm512_fmadd_ps(wa[t], v1, a11);
                b10 = _mm512_fmadd_ps(wb[t], v0, b10);
                b11 = _mm512_fmadd_ps(wb[t], v1, b11);
            }
        }
    }
    if (bias) {
        const __m512 va = _mm512_set1_ps(ba), vb = _mm512_set1_ps(bb);
        a00 = _mm512_add_ps(a00, va), a01 = _mm512_add_ps(a01, va);
        a10 = _mm512_add_ps(a10, va), a11 = _mm512_add_ps(a11, va);
        b00 = _mm512_add_ps(b00, vb), b01 = _mm512_add_ps(b01, vb);
        b10 = _mm512_add_ps(b10, vb), b11 = _mm512_add_ps(b11, vb);
    }
    float *ra = ya + (size_t)oy0 * ow, *rb = yb + (size_t)oy0 * ow;
    /* the overlapping vector first, then the first one over it: both hold
     * the same values where they overlap */
    _mm512_storeu_ps(ra + o1, a01), _mm512_storeu_ps(ra, a00);
    _mm512_storeu_ps(rb + o1, b01), _mm512_storeu_ps(rb, b00);
    if (nrows == 2) {
        _mm512_storeu_ps(ra + ow + o1, a11), _mm512_storeu_ps(ra + ow, a10);
        _mm512_storeu_ps(rb + ow + o1, b11), _mm512_storeu_ps(rb + ow, b10);
    }
}

int cpu_conv_direct_c1_3x3_avx512(int w_in, int oh, int ow, int kg, const float *x, const float *wt,
                                  const float *bias, float *y)
{
    if (ow < 16 || ow > 32 || kg < 1)
        return 0;
    const size_t plane = (size_t)oh * ow;
    for (int f = 0; f < kg; f += 2) {
        /* an odd last filter is computed twice (as a and b), stored once */
        int g = f + 1 < kg ? f + 1 : f;
        __m512 wa[9], wb[9];
        for (int t = 0; t < 9; t++) {
            wa[t] = _mm512_set1_ps(wt[(size_t)f * 9 + t]);
            wb[t] = _mm512_set1_ps(wt[(size_t)g * 9 + t]);
        }
        float ba = bias ? bias[f] : 0.0f, bb = bias ? bias[g] : 0.0f;
        float *ya = y + (size_t)f * plane, *yb = y + (size_t)g * plane;
        int oy = 0;
        for (; oy + 2 <= oh; oy += 2)
            cpu_direct3x3_rows(2, w_in, ow, x, oy, wa, wb, ba, bb, bias != NULL, ya, yb);
        if (oy < oh)
            cpu_direct3x3_rows(1, w_in, ow, x, oy, wa, wb, ba, bb, bias != NULL, ya, yb);
    }
    return 1;
}

/* Sum of the 16 lanes in a fixed order (the same whichever thread runs). */
static inline float cpu_lane_sum16(__m512 v)
{
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* Filter gradient of the same convolution for one image:
 * dw[ko][t] (+)= sum_p dy[ko][p] x[p + tap t], and, when db is given, the
 * bias gradient db[ko] (+)= sum_p dy[ko][p] from the same loads of dy (a
 * separate pass re-read the 5.5 MB dy of the seed CNN's conv1 at batch
 * 64 from L3).  Two filters at once share
 * the nine input loads of every 16 pixels (18 accumulators, 11 loads per
 * 18 FMAs; the AVX2 kernel: 10 loads per 9 FMAs on 8 pixels); a row's
 * last chunk is masked, so nothing past the image is read.  Each
 * accumulator is reduced in a fixed lane order: deterministic, though not
 * the AVX2 kernel's order. */
void cpu_conv_direct_c1_dw3x3_avx512(int w_in, int oh, int ow, int kg, const float *x, const float *dy,
                                     int accumulate, float *dw, float *db)
{
    const size_t plane = (size_t)oh * ow;
#define DW_TAPS(X) X(0, q0, 0) X(1, q0, 1) X(2, q0, 2) X(3, q1, 0) X(4, q1, 1) X(5, q1, 2) X(6, q2, 0) X(7, q2, 1) X(8, q2, 2)
    for (int f = 0; f < kg; f += 2) {
        const int pair = f + 1 < kg;
        const float *dya = dy + (size_t)f * plane, *dyb = pair ? dya + plane : dya;
        /* named accumulators: as arrays, GCC kept them on the stack */
#define DW_DECL(t, q, ks) __m512 a##t = _mm512_setzero_ps(), b##t = a##t;
        DW_TAPS(DW_DECL)
#undef DW_DECL
        __m512 sa = _mm512_setzero_ps(), sb = sa;
        for (int oy = 0; oy < oh; oy++) {
            const float *q0 = x + (size_t)oy * w_in, *q1 = q0 + w_in, *q2 = q1 + w_in;
            const float *ra = dya + (size_t)oy * ow, *rb = dyb + (size_t)oy * ow;
            for (int o = 0; o < ow; o += 16) {
                /* dy comes from L3 (the pooling's backward wrote all images
                 * first) in short runs of one plane per filter, too short
                 * for the hardware prefetcher: fetch half a KiB ahead */
                _mm_prefetch((const char *)(ra + o + 128), _MM_HINT_T0);
                _mm_prefetch((const char *)(rb + o + 128), _MM_HINT_T0);
                const __mmask16 m = ow - o >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (ow - o)) - 1u);
                __m512 ga = _mm512_maskz_loadu_ps(m, ra + o), gb = _mm512_maskz_loadu_ps(m, rb + o);
                if (db)
                    sa = _mm512_add_ps(sa, ga), sb = _mm512_add_ps(sb, gb);
#define DW_TAP(t, q, ks)                                                                   \
    {                                                                                      \
        __m512 v = _mm512_maskz_loadu_ps(m, (q) + o + (ks));                               \
        a##t = _mm512_fmadd_ps(ga, v, a##t);                                               \
        b##t = _mm512_fmadd_ps(gb, v, b##t);                                               \
    }
                DW_TAPS(DW_TAP)
#undef DW_TAP
            }
        }
#define DW_OUT(t, q, ks)                                                                   \
    {                                                                                      \
        float va = cpu_lane_sum16(a##t);                                                   \
        dw[(size_t)f * 9 + t] = accumulate ? dw[(size_t)f * 9 + t] + va : va;              \
        if (pair) {                                                                        \
            float vb = cpu_lane_sum16(b##t);                                               \
            dw[(size_t)(f + 1) * 9 + t] = accumulate ? dw[(size_t)(f + 1) * 9 + t] + vb : vb; \
        }                                                                                  \
    }
        DW_TAPS(DW_OUT)
#undef DW_OUT
        if (db) {
            float va = cpu_lane_sum16(sa);
            db[f] = accumulate ? db[f] + va : va;
            if (pair) {
                float vb = cpu_lane_sum16(sb);
                db[f + 1] = accumulate ? db[f + 1] + vb : vb;
            }
        }
    }
#undef DW_TAPS
}
