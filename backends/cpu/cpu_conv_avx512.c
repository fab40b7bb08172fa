/* AVX-512 im2col and col2im for unit horizontal stride and dilation.  A
 * row of the column matrix is ow floats from one input row (11 for the
 * seed CNN's conv2): a scalar copy or a memcpy call per row cost more than
 * the GEMM's packing of the same data (~10 % of a training step).  Here a
 * row is one masked load and one masked store per 16 columns; lanes that
 * fall in the padding are masked off the load (so never read) and stored
 * as zeros.  col2im adds in the scalar code's order (tap by tap), so
 * results are bit-identical to it.  Compiled with -mavx512f; called only
 * when cpu_detect_features() found AVX-512F. */
#include <immintrin.h>
#include <stdint.h>

#include "cpu_internal.h"

/* Lanes [a, b) of a 16-lane chunk, clamped to it. */
static inline __mmask16 cpu_lanes(int a, int b)
{
    if (a < 0)
        a = 0;
    if (b > 16)
        b = 16;
    if (b <= a)
        return 0;
    return (__mmask16)((((uint32_t)1 << b) - 1u) & ~(((uint32_t)1 << a) - 1u));
}

/* Input pixels of a row as an address even when ix lies in the padding:
 * only lanes inside [0, w) are ever dereferenced. */
static inline const float *cpu_at(const float *row, int ix)
{
    return (const float *)((uintptr_t)row + (uintptr_t)((intptr_t)ix * (intptr_t)sizeof(float)));
}

static inline float *cpu_at_mut(float *row, int ix)
{
    return (float *)((uintptr_t)row + (uintptr_t)((intptr_t)ix * (intptr_t)sizeof(float)));
}

void cpu_im2col_s1_avx512(const cpu_im2col_geom *g, const float *x, float *cols)
{
    const size_t hw = (size_t)g->h * g->w, ohw = (size_t)g->oh * g->ow;
    const __m512 zero = _mm512_setzero_ps();
    for (size_t off = 0; off < (size_t)g->cg * hw; off += 16)
        _mm_prefetch((const char *)(x + off), _MM_HINT_T0);
    for (int ci = 0; ci < g->cg; ci++)
        for (int kr = 0; kr < g->r; kr++)
            for (int ks = 0; ks < g->s; ks++) {
                float *row = cols + (((size_t)ci * g->r + kr) * g->s + ks) * ohw;
                const float *xc = x + (size_t)ci * hw;
                /* output column ox reads input column ox + ix0 */
                int ix0 = ks * g->dil_w - g->pad_w;
                int lo = -ix0, hi = g->w - ix0; /* in-image outputs: [lo, hi) */
                for (int oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->stride_h - g->pad_h + kr * g->dil_h;
                    float *out = row + (size_t)oy * g->ow;
                    int inside = iy >= 0 && iy < g->h;
                    const float *src = inside ? cpu_at(xc + (size_t)iy * g->w, ix0) : NULL;
                    for (int ox = 0; ox < g->ow; ox += 16) {
                        __mmask16 st = cpu_lanes(0, g->ow - ox);
                        __m512 v = inside ? _mm512_maskz_loadu_ps(cpu_lanes(lo - ox, hi - ox),
                                                                  cpu_at(src, ox))
                                          : zero;
                        _mm512_mask_storeu_ps(out + ox, st, v);
                    }
                }
            }
}

/* dx = col2im(cols), written rather than accumulated: each 16-column
 * chunk of a dx row is summed in a register over the taps that reach it
 * (one shifted masked load of a column-matrix row per tap), then stored
 * once.  Scattering tap by tap instead (a masked load, add and store of dx
 * per column-matrix row) was 11 % of a training step: every dx row went
 * through memory nine times.  The taps are added in the same order
 * (ci, kr, ks) as the scalar scatter into a zeroed dx, starting from +0, so
 * the sums are the same bits (a masked-off lane adds +0, which changes no
 * sum that is not -0, and a sum starting from +0 is never -0). */
void cpu_col2im_s1_avx512(const cpu_im2col_geom *g, const float *cols, float *dx)
{
    const size_t hw = (size_t)g->h * g->w, ohw = (size_t)g->oh * g->ow;
    /* the lanes each tap reaches depend only on the chunk and the kernel
     * column: computed once per chunk, not per row and tap row */
    enum { MAX_S = 16 };
    __mmask16 tap_mask[MAX_S];
    const int hoist = g->s <= MAX_S;
    for (int x0 = 0; x0 < g->w; x0 += 16) {
        const __mmask16 in_row = cpu_lanes(0, g->w - x0);
        for (int ks = 0; hoist && ks < g->s; ks++) {
            int ix0 = ks * g->dil_w - g->pad_w;
            tap_mask[ks] = in_row & cpu_lanes(ix0 - x0, ix0 + g->ow - x0);
        }
        for (int ci = 0; ci < g->cg; ci++)
            for (int iy = 0; iy < g->h; iy++) {
                float *drow = dx + (size_t)ci * hw + (size_t)iy * g->w;
                __m512 acc = _mm512_setzero_ps();
                for (int kr = 0; kr < g->r; kr++) {
                    int t = iy + g->pad_h - kr * g->dil_h; /* = oy * stride_h */
                    if (t < 0)
                        continue;
                    /* no division for unit strides: two per tap row were a
                     * large part of this loop's time */
                    int oy = t;
                    if (g->stride_h != 1) {
                        if (t % g->stride_h)
                            continue;
                        oy = t / g->stride_h;
                    }
                    if (oy >= g->oh)
                        continue;
                    const float *rows = cols + (((size_t)ci * g->r + kr) * g->s) * ohw + (size_t)oy * g->ow;
                    for (int ks = 0; ks < g->s; ks++) {
                        /* dx column x takes column-matrix column x - ix0 */
                        int ix0 = ks * g->dil_w - g->pad_w;
                        __mmask16 m = hoist ? tap_mask[ks] : in_row & cpu_lanes(ix0 - x0, ix0 + g->ow - x0);
                        if (m)
                            acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, cpu_at(rows + (size_t)ks * ohw,
                                                                                     x0 - ix0)));
                    }
                }
                _mm512_mask_storeu_ps(drow + x0, in_row, acc);
            }
    }
}

/* The same columns written straight into the GEMM's packed B layout (see
 * cpu_gemm_packed_b_layout in cpu_internal.h): no column matrix to write
 * and read back, no packing copy.  Row q of the column matrix is scattered
 * over the nr-wide panels: an output row's pixels are contiguous within a
 * panel, so each piece (at most 16 pixels, never crossing a panel) is
 * again one masked load and one masked store.  Lanes past the last pixel
 * of the last panel only meet columns of C that are never stored, but are
 * zeroed as the GEMM's own packing does, so that stale scratch (NaNs,
 * denormals) cannot slow the micro-kernel. */
/* The same packed panels for an unpadded convolution with unit strides
 * (the seed CNN's conv2: 13x13 -> 11x11), 16 output pixels at a time.  The
 * input offset of pixel p is (p / ow) * w + p % ow plus a base that depends
 * only on the tap, so a run of 16 pixels reads a window of the input that
 * starts at a per-run offset and, for narrow images, spans fewer than 32
 * floats: two loads and one two-source permute (vpermt2ps) with an index
 * vector computed once per call give the run, stored whole.  The generic
 * loop above spent one masked load and store per output row (11 pixels)
 * and computed masks for each; it took 27 % of a batch-256 inference.
 * Returns 0 (and writes nothing) where the geometry does not fit. */
#define CPU_PERMUTE_MAX_RUNS 64
typedef struct cpu_permute_runs {
    int runs;                            /* runs of 16 output pixels */
    int start[CPU_PERMUTE_MAX_RUNS];     /* input offset of a run's first pixel (tap 0) */
    __m512i index[CPU_PERMUTE_MAX_RUNS]; /* its pixels within the two vectors from there */
    __mmask16 valid[CPU_PERMUTE_MAX_RUNS];
} cpu_permute_runs;

/* The runs of an unpadded, unit-stride convolution; 0 where the geometry
 * does not fit (padding, vertical stride, too many runs, or a run that
 * spans more than two vectors of the input). */
static int cpu_permute_runs_init(const cpu_im2col_geom *g, cpu_permute_runs *pr)
{
    const int ohw = g->oh * g->ow, runs = (ohw + 15) / 16;
    if (g->pad_h || g->pad_w || g->stride_h != 1 || runs > CPU_PERMUTE_MAX_RUNS)
        return 0;
    pr->runs = runs;
    for (int r = 0; r < runs; r++) {
        int p0 = 16 * r;
        pr->start[r] = p0 / g->ow * g->w + p0 % g->ow;
        int32_t idx[16];
        for (int l = 0; l < 16; l++) {
            int p = p0 + l < ohw ? p0 + l : p0;
            idx[l] = p / g->ow * g->w + p % g->ow - pr->start[r];
            if (idx[l] >= 32)
                return 0;
        }
        pr->index[r] = _mm512_loadu_si512(idx);
        pr->valid[r] = cpu_lanes(0, ohw - p0);
    }
    return 1;
}

/* Row q of the column matrix, pixels 16r .. 16r + 15 (zero past the last
 * pixel); base is tap q's input offset, limit the image's input size. */
static inline __m512 cpu_permute_run(const cpu_permute_runs *pr, int r, const float *x, size_t base,
                                     size_t limit)
{
    size_t at = base + (size_t)pr->start[r];
    __m512 lo, hi;
    if (at + 32 <= limit) {
        lo = _mm512_loadu_ps(x + at);
        hi = _mm512_loadu_ps(x + at + 16);
    } else { /* the last taps: never read past this image's input */
        lo = _mm512_maskz_loadu_ps(cpu_lanes(0, (int)(limit - at)), x + at);
        hi = _mm512_maskz_loadu_ps(cpu_lanes(0, (int)(limit - at) - 16), cpu_at(x + at, 16));
    }
    return _mm512_maskz_permutex2var_ps(pr->valid[r], lo, pr->index[r], hi);
}

/* Input offsets of the taps q = (channel, kernel row, kernel column) in
 * order, without a division per tap (three per tap, plus one for the k
 * slice, were most of the packing loops' time). */
typedef struct cpu_tap_walk {
    int ci, kr, ks;
} cpu_tap_walk;

static inline size_t cpu_tap_next(const cpu_im2col_geom *g, cpu_tap_walk *t)
{
    size_t base = (size_t)t->ci * g->h * g->w + (size_t)t->kr * g->dil_h * g->w + (size_t)t->ks * g->dil_w;
    if (++t->ks == g->s) {
        t->ks = 0;
        if (++t->kr == g->r)
            t->kr = 0, t->ci++;
    }
    return base;
}

static int cpu_im2col_packed_permute(const cpu_im2col_geom *g, const float *x, int nr, int kc, float *dst)
{
    cpu_permute_runs pr;
    if (nr % 16 || !cpu_permute_runs_init(g, &pr))
        return 0;
    const int ohw = g->oh * g->ow, crs = g->cg * g->r * g->s;
    const int np = (ohw + nr - 1) / nr;
    const size_t limit = (size_t)g->cg * g->h * g->w;
    /* run r's panel and lane: no divisions in the loops below */
    int run_panel[CPU_PERMUTE_MAX_RUNS], run_lane[CPU_PERMUTE_MAX_RUNS];
    for (int r = 0; r < pr.runs; r++)
        run_panel[r] = 16 * r / nr, run_lane[r] = 16 * r % nr;
    cpu_tap_walk walk = {0, 0, 0};
    for (int pc = 0; pc < crs; pc += kc) {
        const int kcs = crs - pc < kc ? crs - pc : kc;
        const size_t pstride = (size_t)kcs * nr;
        for (int q = pc; q < pc + kcs; q++) {
            float *rowp = dst + (size_t)pc * np * nr + (size_t)(q - pc) * nr;
            const size_t base = cpu_tap_next(g, &walk);
            for (int r = 0; r < pr.runs; r++)
                _mm512_storeu_ps(rowp + (size_t)run_panel[r] * pstride + run_lane[r],
                                 cpu_permute_run(&pr, r, x, base, limit));
        }
    }
    return 1;
}

/* v[i] lane j <- v[j] lane i. */
static inline __attribute__((always_inline)) void cpu_transpose16(__m512 v[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) { /* pairs of rows interleaved by element */
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* then by pairs of elements */
        v[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        v[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        v[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        v[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* v[4b + c] now holds, in 128-bit block k, element 4k + c of rows
     * 4b .. 4b + 3; gather the blocks */
    for (int c = 0; c < 4; c++) {
        __m512 a0 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0x88), a1 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0xDD);
        __m512 b0 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0x88),
               b1 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(a0, b0, 0x88);      /* element c */
        t[8 + c] = _mm512_shuffle_f32x4(a0, b0, 0xDD);  /* element 8 + c */
        t[4 + c] = _mm512_shuffle_f32x4(a1, b1, 0x88);  /* element 4 + c */
        t[12 + c] = _mm512_shuffle_f32x4(a1, b1, 0xDD); /* element 12 + c */
    }
    for (int i = 0; i < 16; i++)
        v[i] = t[i];
}

int cpu_im2col_packed_t_avx512(const cpu_im2col_geom *g, const float *x, int nr, int kc, float *dst)
{
    cpu_permute_runs pr;
    /* kc a multiple of 16: a run of 16 pixels never straddles two k slices */
    if (nr % 16 || kc % 16 || !cpu_permute_runs_init(g, &pr))
        return 0;
    const int ohw = g->oh * g->ow, crs = g->cg * g->r * g->s;
    const int nround = (crs + nr - 1) / nr * nr;
    const size_t limit = (size_t)g->cg * g->h * g->w;
    /* where pixel 16r of panel 0 goes, and the panel stride of its slice:
     * no divisions in the loops below */
    size_t run_at[CPU_PERMUTE_MAX_RUNS], run_panel[CPU_PERMUTE_MAX_RUNS];
    for (int r = 0; r < pr.runs; r++) {
        int p0 = 16 * r, pc = p0 / kc * kc, kcs = ohw - pc < kc ? ohw - pc : kc;
        run_at[r] = (size_t)pc * nround + (size_t)(p0 - pc) * nr;
        run_panel[r] = (size_t)kcs * nr;
    }
    cpu_tap_walk walk = {0, 0, 0};
    for (int q0 = 0; q0 < nround; q0 += 16) {
        /* sixteen taps, one 16-column strip of one panel; taps past crs
         * are zero (their columns of C are never stored, but stale scratch
         * must not reach the micro-kernel) */
        size_t base[16];
        for (int t = 0; t < 16; t++)
            base[t] = q0 + t < crs ? cpu_tap_next(g, &walk) : 0;
        const int full = q0 + 16 <= crs;
        float *strip = dst + (size_t)(q0 % nr);
        const int jp = q0 / nr;
        for (int r = 0; r < pr.runs; r++) {
            __m512 v[16];
            if (full) {
#pragma GCC unroll 16
                for (int t = 0; t < 16; t++)
                    v[t] = cpu_permute_run(&pr, r, x, base[t], limit);
            } else {
                for (int t = 0; t < 16; t++)
                    v[t] = q0 + t < crs ? cpu_permute_run(&pr, r, x, base[t], limit) : _mm512_setzero_ps();
            }
            cpu_transpose16(v); /* v[l]: pixel 16r + l, taps q0 .. q0 + 15 */
            float *row = strip + run_at[r] + (size_t)jp * run_panel[r];
            const int rows = ohw - 16 * r < 16 ? ohw - 16 * r : 16;
            if (rows == 16) {
#pragma GCC unroll 16
                for (int l = 0; l < 16; l++)
                    _mm512_storeu_ps(row + (size_t)l * nr, v[l]);
            } else {
                for (int l = 0; l < rows; l++)
                    _mm512_storeu_ps(row + (size_t)l * nr, v[l]);
            }
        }
    }
    return 1;
}

void cpu_im2col_packed_avx512(const cpu_im2col_geom *g, const float *x, int nr, int kc,
                              float *dst)
{
    if (cpu_im2col_packed_permute(g, x, nr, kc, dst))
        return;
    const size_t hw = (size_t)g->h * g->w;
    const int ohw = g->oh * g->ow, crs = g->cg * g->r * g->s;
    const int np = (ohw + nr - 1) / nr, tail = ohw - (np - 1) * nr; /* pixels in the last panel */
    const __m512 zero = _mm512_setzero_ps();
    for (size_t off = 0; off < (size_t)g->cg * hw; off += 16)
        _mm_prefetch((const char *)(x + off), _MM_HINT_T0);
    for (int q = 0; q < crs; q++) {
        int ci = q / (g->r * g->s), kr = q / g->s % g->r, ks = q % g->s;
        int pc = q / kc * kc, kcs = crs - pc < kc ? crs - pc : kc;
        /* row q of panel jp is at rowp + jp * kcs * nr */
        float *rowp = dst + (size_t)pc * np * nr + (size_t)(q - pc) * nr;
        const size_t pstride = (size_t)kcs * nr;
        const float *xc = x + (size_t)ci * hw;
        int ix0 = ks * g->dil_w - g->pad_w;
        int lo = -ix0, hi = g->w - ix0;
        /* pixels run on from row to row: panel and lane of the next one,
         * advanced as pieces are written (no division per piece) */
        float *panel = rowp;
        int lane = 0;
        for (int oy = 0; oy < g->oh; oy++) {
            int iy = oy * g->stride_h - g->pad_h + kr * g->dil_h;
            int inside = iy >= 0 && iy < g->h;
            const float *src = inside ? cpu_at(xc + (size_t)iy * g->w, ix0) : NULL;
            for (int ox = 0; ox < g->ow;) {
                int len = g->ow - ox;
                if (len > 16)
                    len = 16;
                if (len > nr - lane)
                    len = nr - lane;
                __m512 v = inside ? _mm512_maskz_loadu_ps(cpu_lanes(lo - ox, hi - ox),
                                                          cpu_at(src, ox))
                                  : zero;
                _mm512_mask_storeu_ps(panel + lane, cpu_lanes(0, len), v);
                ox += len;
                lane += len;
                if (lane == nr) {
                    lane = 0;
                    panel += pstride;
                }
            }
        }
        if (tail < nr) {
            float *t = rowp + (size_t)(np - 1) * pstride;
            for (int l = tail; l < nr; l += 16)
                _mm512_mask_storeu_ps(t + l, cpu_lanes(0, nr - l), zero);
        }
    }
}
