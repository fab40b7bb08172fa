/* AVX2/FMA direct convolution for a single input channel per group
 * (a first layer: 1 -> 32 filters, 3x3), stride 1, no dilation, no
 * padding.  Eight output pixels of one row per vector, the r*s taps
 * accumulated in registers in a fixed order (kr, ks), bias added last:
 * no im2col copy and no GEMM packing of a K = 9 product.  A row shorter
 * than a vector, or its tail, is done with scalar fmaf in the same order;
 * when the row holds at least one vector, the tail is a vector overlapping
 * the previous one (same pixels, same arithmetic, same values). */
#include <immintrin.h>
#include <math.h>

#include "cpu_internal.h"

/* Eight filters at once: eight independent accumulators share every input
 * load.  Same per-pixel arithmetic (taps in (kr, ks) order, bias last) as
 * the one-filter loop below, so the split does not change any value. */
static void cpu_conv_direct_c1_k8(int r, int s, int w_in, int oh, int ow, const float *x,
                                  const float *wt, const float *bias, float *y)
{
    const int rs = r * s;
    for (int oy = 0; oy < oh; oy++) {
        const float *xr = x + (size_t)oy * w_in;
        for (int ox0 = 0; ox0 < ow; ox0 += 8) {
            int ox = ox0 + 8 <= ow ? ox0 : ow - 8;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                   a6 = a0, a7 = a0;
            for (int kr = 0; kr < r; kr++) {
                const float *xs = xr + (size_t)kr * w_in + ox;
                const float *wk = wt + kr * s;
                for (int ks = 0; ks < s; ks++) {
                    __m256 v = _mm256_loadu_ps(xs + ks);
                    const float *wp = wk + ks;
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp), v, a0);
                    a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + rs), v, a1);
                    a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + 2 * rs), v, a2);
                    a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + 3 * rs), v, a3);
                    a4 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + 4 * rs), v, a4);
                    a5 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + 5 * rs), v, a5);
                    a6 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + 6 * rs), v, a6);
                    a7 = _mm256_fmadd_ps(_mm256_broadcast_ss(wp + 7 * rs), v, a7);
                }
            }
            size_t plane = (size_t)oh * ow, at = (size_t)oy * ow + ox;
            if (bias) {
                a0 = _mm256_add_ps(a0, _mm256_broadcast_ss(bias));
                a1 = _mm256_add_ps(a1, _mm256_broadcast_ss(bias + 1));
                a2 = _mm256_add_ps(a2, _mm256_broadcast_ss(bias + 2));
                a3 = _mm256_add_ps(a3, _mm256_broadcast_ss(bias + 3));
                a4 = _mm256_add_ps(a4, _mm256_broadcast_ss(bias + 4));
                a5 = _mm256_add_ps(a5, _mm256_broadcast_ss(bias + 5));
                a6 = _mm256_add_ps(a6, _mm256_broadcast_ss(bias + 6));
                a7 = _mm256_add_ps(a7, _mm256_broadcast_ss(bias + 7));
            }
            _mm256_storeu_ps(y + at, a0);
            _mm256_storeu_ps(y + plane + at, a1);
            _mm256_storeu_ps(y + 2 * plane + at, a2);
            _mm256_storeu_ps(y + 3 * plane + at, a3);
            _mm256_storeu_ps(y + 4 * plane + at, a4);
            _mm256_storeu_ps(y + 5 * plane + at, a5);
            _mm256_storeu_ps(y + 6 * plane + at, a6);
            _mm256_storeu_ps(y + 7 * plane + at, a7);
        }
    }
}

/* 3x3 filters: the nine weights of one filter stay in registers and four
 * vectors of one output row are computed at once (one load per FMA, no
 * broadcasts).  Same per-pixel arithmetic as the loops below. */
static void cpu_conv_direct_c1_3x3(int w_in, int oh, int ow, const float *x, const float *wk,
                                   const float *bias, float *y)
{
    const __m256 w0 = _mm256_broadcast_ss(wk), w1 = _mm256_broadcast_ss(wk + 1),
                 w2 = _mm256_broadcast_ss(wk + 2), w3 = _mm256_broadcast_ss(wk + 3),
                 w4 = _mm256_broadcast_ss(wk + 4), w5 = _mm256_broadcast_ss(wk + 5),
                 w6 = _mm256_broadcast_ss(wk + 6), w7 = _mm256_broadcast_ss(wk + 7),
                 w8 = _mm256_broadcast_ss(wk + 8);
    const int nblk = (ow + 7) / 8;
#define CPU_TAPS(acc, p)                                                                     \
    do {                                                                                     \
        const float *q0 = (p), *q1 = q0 + w_in, *q2 = q1 + w_in;                             \
        acc = _mm256_fmadd_ps(w0, _mm256_loadu_ps(q0), _mm256_setzero_ps());                 \
        acc = _mm256_fmadd_ps(w1, _mm256_loadu_ps(q0 + 1), acc);                             \
        acc = _mm256_fmadd_ps(w2, _mm256_loadu_ps(q0 + 2), acc);                             \
        acc = _mm256_fmadd_ps(w3, _mm256_loadu_ps(q1), acc);                                 \
        acc = _mm256_fmadd_ps(w4, _mm256_loadu_ps(q1 + 1), acc);                             \
        acc = _mm256_fmadd_ps(w5, _mm256_loadu_ps(q1 + 2), acc);                             \
        acc = _mm256_fmadd_ps(w6, _mm256_loadu_ps(q2), acc);                                 \
        acc = _mm256_fmadd_ps(w7, _mm256_loadu_ps(q2 + 1), acc);                             \
        acc = _mm256_fmadd_ps(w8, _mm256_loadu_ps(q2 + 2), acc);                             \
    } while (0)
    for (int oy = 0; oy < oh; oy++) {
        const float *xr = x + (size_t)oy * w_in;
        float *yr = y + (size_t)oy * ow;
        for (int b = 0; b < nblk; b += 4) {
            int o0 = b * 8, o1 = o0 + 8, o2 = o0 + 16, o3 = o0 + 24;
            o0 = o0 + 8 <= ow ? o0 : ow - 8;
            o1 = o1 + 8 <= ow ? o1 : ow - 8;
            o2 = o2 + 8 <= ow ? o2 : ow - 8;
            o3 = o3 + 8 <= ow ? o3 : ow - 8;
            __m256 a0, a1, a2, a3;
            CPU_TAPS(a0, xr + o0);
            CPU_TAPS(a1, xr + o1);
            CPU_TAPS(a2, xr + o2);
            CPU_TAPS(a3, xr + o3);
            if (bias) {
                __m256 vb = _mm256_broadcast_ss(bias);
                a0 = _mm256_add_ps(a0, vb);
                a1 = _mm256_add_ps(a1, vb);
                a2 = _mm256_add_ps(a2, vb);
                a3 = _mm256_add_ps(a3, vb);
            }
            _mm256_storeu_ps(yr + o0, a0);
            _mm256_storeu_ps(yr + o1, a1);
            _mm256_storeu_ps(yr + o2, a2);
            _mm256_storeu_ps(yr + o3, a3);
        }
    }
#undef CPU_TAPS
}

void cpu_conv_direct_c1_avx2(int r, int s, int w_in, int oh, int ow, int kg, const float *x,
                             const float *wt, const float *bias, float *y)
{
    if (r == 3 && s == 3 && ow >= 8) {
        for (int ko = 0; ko < kg; ko++)
            cpu_conv_direct_c1_3x3(w_in, oh, ow, x, wt + (size_t)ko * 9, bias ? bias + ko : NULL,
                                   y + (size_t)ko * oh * ow);
        return;
    }
    int k8 = ow >= 8 ? kg / 8 * 8 : 0;
    for (int ko = 0; ko < k8; ko += 8)
        cpu_conv_direct_c1_k8(r, s, w_in, oh, ow, x, wt + (size_t)ko * r * s,
                              bias ? bias + ko : NULL, y + (size_t)ko * oh * ow);
    for (int ko = k8; ko < kg; ko++) {
        const float *wk = wt + (size_t)ko * r * s;
        float b = bias ? bias[ko] : 0.0f;
        __m256 vb = _mm256_set1_ps(b);
        for (int oy = 0; oy < oh; oy++) {
            float *yr = y + ((size_t)ko * oh + oy) * ow;
            const float *xr = x + (size_t)oy * w_in;
            if (ow >= 8) {
                for (int ox0 = 0; ox0 < ow; ox0 += 8) {
                    int ox = ox0 + 8 <= ow ? ox0 : ow - 8;
                    __m256 acc = _mm256_setzero_ps();
                    for (int kr = 0; kr < r; kr++) {
                        const float *xs = xr + (size_t)kr * w_in + ox;
                        for (int ks = 0; ks < s; ks++)
                            acc = _mm256_fmadd_ps(_mm256_set1_ps(wk[kr * s + ks]),
                                                  _mm256_loadu_ps(xs + ks), acc);
                    }
                    if (bias)
                        acc = _mm256_add_ps(acc, vb);
                    _mm256_storeu_ps(yr + ox, acc);
                }
            } else {
                for (int ox = 0; ox < ow; ox++) {
                    float acc = 0.0f;
                    for (int kr = 0; kr < r; kr++)
                        for (int ks = 0; ks < s; ks++)
                            acc = fmaf(wk[kr * s + ks], xr[(size_t)kr * w_in + ox + ks], acc);
                    yr[ox] = bias ? acc + b : acc;
                }
            }
        }
    }
}

/* Filter gradient of a 3x3 convolution of one input channel, stride 1, no
 * padding or dilation, for one image: dw[ko][t] (+)= sum_p dy[ko][p] x[p + tap t].
 * Nine vector accumulators per filter over the image's rows (a row's tail
 * with masked loads), then each reduced in a fixed lane order: the same
 * value whichever thread runs it. */
void cpu_conv_direct_c1_dw3x3_avx2(int w_in, int oh, int ow, int kg, const float *x,
                                   const float *dy, int accumulate, float *dw)
{
    static const int lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const int full = ow / 8 * 8, rem = ow - full;
    const __m256i tail = _mm256_loadu_si256((const __m256i *)(lanes + 8 - rem));
    for (int ko = 0; ko < kg; ko++) {
        const float *d = dy + (size_t)ko * oh * ow;
        __m256 t0 = _mm256_setzero_ps(), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0,
               t7 = t0, t8 = t0;
        for (int oy = 0; oy < oh; oy++) {
            const float *q0 = x + (size_t)oy * w_in, *q1 = q0 + w_in, *q2 = q1 + w_in;
            const float *dr = d + (size_t)oy * ow;
            int ox = 0;
            for (; ox < full; ox += 8) {
                __m256 g = _mm256_loadu_ps(dr + ox);
                t0 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q0 + ox), t0);
                t1 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q0 + ox + 1), t1);
                t2 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q0 + ox + 2), t2);
                t3 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q1 + ox), t3);
                t4 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q1 + ox + 1), t4);
                t5 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q1 + ox + 2), t5);
                t6 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q2 + ox), t6);
                t7 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q2 + ox + 1), t7);
                t8 = _mm256_fmadd_ps(g, _mm256_loadu_ps(q2 + ox + 2), t8);
            }
            if (rem) {
                __m256 g = _mm256_maskload_ps(dr + ox, tail);
                t0 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q0 + ox, tail), t0);
                t1 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q0 + ox + 1, tail), t1);
                t2 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q0 + ox + 2, tail), t2);
                t3 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q1 + ox, tail), t3);
                t4 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q1 + ox + 1, tail), t4);
                t5 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q1 + ox + 2, tail), t5);
                t6 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q2 + ox, tail), t6);
                t7 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q2 + ox + 1, tail), t7);
                t8 = _mm256_fmadd_ps(g, _mm256_maskload_ps(q2 + ox + 2, tail), t8);
            }
        }
        float out[9][8];
        _mm256_storeu_ps(out[0], t0);
        _mm256_storeu_ps(out[1], t1);
        _mm256_storeu_ps(out[2], t2);
        _mm256_storeu_ps(out[3], t3);
        _mm256_storeu_ps(out[4], t4);
        _mm256_storeu_ps(out[5], t5);
        _mm256_storeu_ps(out[6], t6);
        _mm256_storeu_ps(out[7], t7);
        _mm256_storeu_ps(out[8], t8);
        float *dk = dw + (size_t)ko * 9;
        for (int t = 0; t < 9; t++) {
            const float *o = out[t];
            float sum = ((o[0] + o[4]) + (o[1] + o[5])) + ((o[2] + o[6]) + (o[3] + o[7]));
            dk[t] = accumulate ? dk[t] + sum : sum;
        }
    }
}
