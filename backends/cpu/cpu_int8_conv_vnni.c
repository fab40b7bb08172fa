/* qconv2d on the AVX-512 VNNI kernel, for stride-1 convolutions (any
 * padding, dilation and groups).
 *
 * Per image and group the input is copied once as u8 (x + 128) into planes
 * padded to Hp x Wp with the zero point's byte.  Output positions are
 * computed on the padded width ("virtual" positions p = oy * Wp + ox, ox <
 * Wp), so that tap (r, s) of position p reads the plane at p + r*dh*Wp +
 * s*dw: one contiguous run per tap, no per-position gather.  The columns
 * ox >= ow are computed and dropped in the kernel's stores (a byte shuffle
 * packs each vector's kept lanes, a masked store writes them in place).
 *
 * vpdpbusd wants four consecutive reduction indices per 32-bit lane:
 *  - cpg % 4 == 0: the planes are interleaved by four channels ([c/4][pos][4]),
 *    and quad (c/4, r, s) for 16 positions is one 64-byte load at a fixed
 *    offset: no im2col at all;
 *  - otherwise (conv1: one channel): quads of consecutive (c, r, s) indices,
 *    interleaved from four shifted runs of the planes into [quad][pos][4].
 * The weights are reordered to match the quads (zero-padded). */
#include <string.h>

#include "cpu_int8.h"
#include "cpu_internal.h"

#if defined(MLOPT_CPU_X86_KERNELS)

typedef struct cpu_qvc_job {
    mlopt_backend_ctx *ctx;
    const mlopt_conv2d_params *p;
    const int8_t *x;
    int x_zp;
    int cpg, cpg4, kpg, c4, hp, wp, nq;
    size_t lp16, npos;  /* plane stride; virtual positions (multiple of 16) */
    size_t xp_bytes, q_bytes; /* per-thread scratch parts */
    const int8_t *wq;   /* [k][4 nq] */
    const int32_t *bias2;
    const int64_t *qoff; /* [nq] */
    const int64_t *coff; /* [4 nq], columns mode: offset of each index in the planes */
    const uint8_t *pick; /* output compaction tables, see cpu_qv_conv */
    const uint16_t *keep;
    const int32_t *dst;
    cpu_q_out o;
} cpu_qvc_job;

static void cpu_qvc_images(void *arg, size_t begin, size_t end, int thread)
{
    const cpu_qvc_job *j = arg;
    const mlopt_conv2d_params *p = j->p;
    uint8_t *xp = j->ctx->conv_cols[thread].data, *xq = xp + j->xp_bytes;
    const uint8_t pad = (uint8_t)(j->x_zp + 128);
    size_t ohow = (size_t)p->oh * p->ow, hw = (size_t)p->h * p->w;
    for (size_t n = begin; n < end; n++)
        for (int g = 0; g < p->groups; g++) {
            const int8_t *xg = j->x + ((size_t)n * p->c + (size_t)g * j->cpg) * hw;
            for (int c = 0; c < j->cpg; c++) {
                uint8_t *plane = xp + (size_t)c * j->lp16;
                if (p->pad_h == 0 && p->pad_w == 0) {
                    cpu_q_to_u8_avx512(plane, xg + c * hw, hw);
                    memset(plane + hw, pad, j->lp16 - hw);
                } else {
                    memset(plane, pad, j->lp16);
                    for (int iy = 0; iy < p->h; iy++)
                        cpu_q_to_u8_avx512(plane + (size_t)(iy + p->pad_h) * j->wp + p->pad_w,
                                           xg + c * hw + (size_t)iy * p->w, (size_t)p->w);
                }
            }
            if (j->c4) {
                for (int c = j->cpg; c < j->cpg4; c++) /* channels of zero weight */
                    memset(xp + (size_t)c * j->lp16, 0, j->lp16);
                for (int cq = 0; cq < j->cpg4 / 4; cq++) {
                    const uint8_t *s = xp + (size_t)4 * cq * j->lp16;
                    cpu_q_interleave4_avx512(xq + (size_t)4 * cq * j->lp16, s, s + j->lp16, s + 2 * j->lp16,
                                             s + 3 * j->lp16, j->lp16);
                }
            } else {
                for (int q = 0; q < j->nq; q++)
                    cpu_q_interleave4_avx512(xq + (size_t)4 * q * j->npos, xp + j->coff[4 * q],
                                             xp + j->coff[4 * q + 1], xp + j->coff[4 * q + 2],
                                             xp + j->coff[4 * q + 3], j->npos);
            }
            size_t k0 = (size_t)g * j->kpg;
            cpu_qv_conv a = { .x = xq, .qoff = j->qoff, .nq = j->nq, .w = j->wq + k0 * 4 * j->nq,
                              .bias2 = j->bias2 + k0, .mult = j->o.mult + k0, .shift = j->o.shift + k0,
                              .zp = j->o.zp, .relu = j->o.relu, .kch = j->kpg, .npos = (int)j->npos,
                              .out = j->o.c + ((size_t)n * p->k + k0) * ohow, .ldo = ohow,
                              .pick = j->pick, .keep = j->keep, .dst = j->dst };
            cpu_qconv_vnni(&a);
        }
}

static size_t cpu_qvc_align(size_t b)
{
    return (b + 63) / 64 * 64;
}

int cpu_qconv2d_vnni(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, const int8_t *X, int x_zp,
                     const int8_t *W, const cpu_q_out *o)
{
    const char *call = "qconv2d";
    cpu_qvc_job j;
    memset(&j, 0, sizeof j);
    j.ctx = ctx, j.p = p, j.x = X, j.x_zp = x_zp, j.o = *o;
    j.cpg = p->c / p->groups, j.kpg = p->k / p->groups;
    j.c4 = j.cpg % 4 == 0;
    j.cpg4 = (j.cpg + 3) / 4 * 4;
    j.hp = p->h + 2 * p->pad_h, j.wp = p->w + 2 * p->pad_w;
    int rs = p->r * p->s, crs = j.cpg * rs;
    j.nq = j.c4 ? j.cpg4 / 4 * rs : (crs + 3) / 4;
    j.npos = ((size_t)p->oh * j.wp + 15) / 16 * 16;
    /* A plane must hold the padded image and every tap's run of npos bytes. */
    size_t tap_max = (size_t)(p->r - 1) * p->dil_h * j.wp + (size_t)(p->s - 1) * p->dil_w;
    size_t lp = (size_t)j.hp * j.wp > j.npos + tap_max ? (size_t)j.hp * j.wp : j.npos + tap_max;
    j.lp16 = (lp + 15) / 16 * 16;
    j.xp_bytes = cpu_qvc_align((size_t)j.cpg4 * j.lp16);
    j.q_bytes = cpu_qvc_align(j.c4 ? (size_t)j.cpg4 * j.lp16 : (size_t)4 * j.nq * j.npos);
    size_t per_thread = j.xp_bytes + j.q_bytes;

    /* Shared tables: reordered weights, bias2, quad offsets, index offsets. */
    size_t wq_bytes = cpu_qvc_align((size_t)p->k * 4 * j.nq), b2_bytes = cpu_qvc_align((size_t)p->k * 4),
           qo_bytes = cpu_qvc_align((size_t)j.nq * 8);
    size_t co_bytes = cpu_qvc_align((size_t)j.nq * 32), nv = j.npos / 16;
    uint8_t *sh = cpu_scratch_reserve(ctx, &ctx->gemm_pack_b[0],
                                      wq_bytes + b2_bytes + qo_bytes + co_bytes + nv * (16 + 2 + 4), call);
    if (!sh)
        return 1;
    int8_t *wq = (int8_t *)sh;
    int32_t *bias2 = (int32_t *)(sh + wq_bytes);
    int64_t *qoff = (int64_t *)(sh + wq_bytes + b2_bytes), *coff = qoff + qo_bytes / 8;
    memset(wq, 0, (size_t)p->k * 4 * j.nq);
    for (int k = 0; k < p->k; k++) {
        const int8_t *wk = W + (size_t)k * crs;
        int8_t *dk = wq + (size_t)k * 4 * j.nq;
        int64_t sum = cpu_q_sum_s8_avx512(wk, (size_t)crs);
        if (j.c4) { /* quad (cq, r, s) holds channels 4cq .. 4cq+3 at tap (r, s) */
            for (int c = 0; c < j.cpg; c++) {
                int8_t *d = dk + (size_t)(c / 4) * rs * 4 + c % 4;
                for (int t = 0; t < rs; t++)
                    d[4 * t] = wk[(size_t)c * rs + t];
            }
        } else {
            memcpy(dk, wk, (size_t)crs);
        }
        int64_t b = o->bias ? o->bias[k] : 0;
        bias2[k] = (int32_t)(uint32_t)(uint64_t)(b - (int64_t)(128 + x_zp) * sum);
    }
    for (int q = 0; q < j.nq; q++) {
        if (j.c4) {
            int cq = q / rs, r = q % rs / p->s, s = q % p->s;
            qoff[q] = (int64_t)(4 * ((size_t)cq * j.lp16 + (size_t)r * p->dil_h * j.wp + (size_t)s * p->dil_w));
        } else {
            qoff[q] = (int64_t)4 * q * (int64_t)j.npos;
        }
    }
    for (int t = 0; !j.c4 && t < 4 * j.nq; t++) {
        int c = t / rs, r = t % rs / p->s, s = t % p->s;
        coff[t] = t < crs ? (int64_t)((size_t)c * j.lp16 + (size_t)r * p->dil_h * j.wp + (size_t)s * p->dil_w) : 0;
    }
    /* Virtual position p = oy * wp + ox is output oy * ow + ox when ox < ow:
     * each vector's kept lanes are consecutive outputs. */
    uint8_t *pick = sh + wq_bytes + b2_bytes + qo_bytes + co_bytes;
    int32_t *dst = (int32_t *)(pick + 16 * nv);
    uint16_t *keep = (uint16_t *)(dst + nv);
    for (size_t t = 0, oy = 0, ox = 0; t < nv; t++) {
        int kept = 0;
        keep[t] = 0, dst[t] = 0;
        memset(pick + 16 * t, 0x80, 16);
        for (int l = 0; l < 16; l++, ox = ox + 1 == (size_t)j.wp ? (oy++, 0) : ox + 1) {
            if (oy >= (size_t)p->oh || ox >= (size_t)p->ow)
                continue;
            if (kept == 0)
                dst[t] = (int32_t)(oy * p->ow + ox);
            pick[16 * t + kept] = (uint8_t)l;
            keep[t] |= (uint16_t)(1u << kept);
            kept++;
        }
    }
    j.wq = wq, j.bias2 = bias2, j.qoff = qoff, j.coff = coff, j.pick = pick, j.keep = keep, j.dst = dst;

    /* A pooled loop's chunks run on any of the pool's threads (by index),
     * however few chunks there are: every thread needs its scratch. */
    int threads = p->n > 1 ? cpu_threads(ctx) : 1;
    for (int t = 0; t < threads; t++)
        if (!cpu_scratch_reserve(ctx, &ctx->conv_cols[t], per_thread, call))
            return 1;
    if (threads <= 1)
        cpu_qvc_images(&j, 0, (size_t)p->n, 0);
    else
        cpu_threadpool_run(ctx->pool, (size_t)p->n, cpu_qvc_images, &j);
    return 0;
}

#endif
