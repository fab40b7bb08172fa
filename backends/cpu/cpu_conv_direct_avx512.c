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
