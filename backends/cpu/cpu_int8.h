/* The CPU backend's int8 kernels (ABI 1.1): slot prototypes and the shared
 * widened-GEMM micro-kernels.  Semantics are those of mlopt/backend.h. */
#ifndef MLOPT_CPU_INT8_H
#define MLOPT_CPU_INT8_H

#include <stddef.h>
#include <stdint.h>

#include "mlopt/backend.h"

/* cpu_int8_gemm.c */
int cpu_qgemm(mlopt_backend_ctx *ctx, int m, int n, int k, mlopt_ref a, int lda, int a_zp, mlopt_ref b,
              int ldb, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int c_zp, int relu, mlopt_ref c,
              int ldc);
/* cpu_int8_conv.c */
int cpu_qconv2d(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int x_zp, mlopt_ref w,
                mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int y_zp, int relu, mlopt_ref y);
/* cpu_int8_pool.c */
int cpu_qmaxpool(mlopt_backend_ctx *ctx, const mlopt_pool2d_params *p, mlopt_ref x, mlopt_ref y);
/* cpu_int8_quant.c */
int cpu_quantize(mlopt_backend_ctx *ctx, size_t n, float inv_scale, int zp, mlopt_ref x, mlopt_ref y);
int cpu_dequantize(mlopt_backend_ctx *ctx, size_t n, float scale, int zp, mlopt_ref x, mlopt_ref y);
int cpu_fake_quant(mlopt_backend_ctx *ctx, size_t outer, int channels, size_t inner, int qmin, int qmax,
                   mlopt_ref scale, mlopt_ref inv_scale, mlopt_ref zp, mlopt_ref x, mlopt_ref y, mlopt_ref mask);

/* The fast path works on int16 copies: A rows already minus the zero point
 * ((x - zp) fits int16), B rows as they are, both zero-padded to k16 (a
 * multiple of CPU_Q_KSTEP) so that no tail loop is needed.  Integer sums
 * are exact, so any summation order gives the reference's result.
 *   C[i*crs + j*ccs] = requant(bias[j] + sum_p a[i*k16+p] * b[j*k16+p]) */
#define CPU_Q_KSTEP 16
typedef struct cpu_q_out {
    const int32_t *bias, *mult, *shift; /* [n]; bias may be NULL */
    int zp, relu;
    int8_t *c;
    size_t crs, ccs; /* element strides of C's rows (i) and columns (j) */
} cpu_q_out;
void cpu_qgemm16_scalar(int m, int n, int k16, const int16_t *a, const int16_t *b, const cpu_q_out *o);
#if defined(MLOPT_CPU_X86_KERNELS)
void cpu_qgemm16_avx2(int m, int n, int k16, const int16_t *a, const int16_t *b, const cpu_q_out *o);
#endif
/* Resolves and checks the per-channel requantization tables of qgemm and
 * qconv2d into o (bias, mult, shift only). */
int cpu_q_tables(mlopt_backend_ctx *ctx, int n, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift,
                 const char *call, cpu_q_out *o);
/* Picks the AVX2 kernel when the context may use it. */
void cpu_qgemm16(const mlopt_backend_ctx *ctx, int m, int n, int k16, const int16_t *a, const int16_t *b,
                 const cpu_q_out *o);

/* ---- AVX-512 VNNI path (cpu_int8_vnni_*.c) ----
 * vpdpbusd multiplies unsigned by signed bytes and adds groups of four
 * products into int32 lanes with no intermediate saturation, so activations
 * enter as u = x + 128 (x ^ 0x80) and weights as they are:
 *   sum (x - zp) * w = sum u * w - (128 + zp) * sum w,
 * the second term folded into the bias once per call (bias2).  Every sum is
 * exact modulo 2^32 and the true accumulator fits int32, so the result is
 * the reference's bit for bit, in any order of summation. */
#define CPU_QV_CONV_MR 8 /* output channels per register block */
#define CPU_QV_CONV_NR 3 /* 16-position vectors per register block */
#define CPU_QV_GEMM_MR 6 /* rows of A per register block */
#define CPU_QV_GEMM_NR 4 /* 16-column vectors per register block */

/* v[ch][p] = requant(bias2[ch] + sum_q sum_j x[qoff[q] + 4p + j] * w[ch][4q + j])
 * for ch < kch, p < npos (a multiple of 16); mult / shift / bias2 [kch].
 * Vector t (positions 16t .. 16t+15) keeps the lanes set in keep[t],
 * gathered to the front by the byte shuffle pick[t] and stored at
 * out[ch * ldo + dst[t]] (dropping the padded columns on the way out). */
typedef struct cpu_qv_conv {
    const uint8_t *x;
    const int64_t *qoff; /* [nq] byte offset of quad q for position 0 */
    int nq;
    const int8_t *w; /* [kch][4 * nq] */
    const int32_t *bias2, *mult, *shift;
    int zp, relu, kch, npos;
    int8_t *out;
    size_t ldo;
    const uint8_t *pick;  /* [npos / 16][16] */
    const uint16_t *keep; /* [npos / 16] */
    const int32_t *dst;   /* [npos / 16] */
} cpu_qv_conv;

/* c[i * ldc + j] = requant(bias2[j] + sum_q sum_t a[i * lda + 4q + t] * b[(q * n16 + j) * 4 + t])
 * for i < m, j < n; a u8, b s8; bias2 / mult / shift padded to n16. */
typedef struct cpu_qv_gemm {
    const uint8_t *a;
    size_t lda;
    const int8_t *b;
    int nq, n, n16;
    const int32_t *bias2, *mult, *shift;
    int zp, relu;
    int8_t *c;
    size_t ldc;
} cpu_qv_gemm;

/* Whether the context may use the VNNI kernels (AVX-512 allowed, and the CPU
 * has AVX512-BW, -VL and -VNNI). */
int cpu_q_use_vnni(const mlopt_backend_ctx *ctx);
#if defined(MLOPT_CPU_X86_KERNELS)
void cpu_qconv_vnni(const cpu_qv_conv *a);
void cpu_qgemm_vnni(const cpu_qv_gemm *g, int m);
/* dst[q * dst_stride + j] = the 4 bytes b[j * ldb + 4q ..] for q < nquads,
 * j < n (a gather of 16 rows per store; ldb * 15 must fit int32). */
void cpu_q_pack_quads_avx512(int32_t *dst, const int8_t *b, size_t ldb, int n, int nquads, size_t dst_stride);
/* sum of len signed bytes */
int64_t cpu_q_sum_s8_avx512(const int8_t *b, size_t len);
/* dst[4i + j] = src_j[i] for i < count (a multiple of 16). */
void cpu_q_interleave4_avx512(uint8_t *dst, const uint8_t *s0, const uint8_t *s1, const uint8_t *s2,
                              const uint8_t *s3, size_t count);
/* dst[i] = src[i] ^ 0x80 (int8 to u8 = x + 128), i < count. */
void cpu_q_to_u8_avx512(uint8_t *dst, const int8_t *src, size_t count);
/* cpu_int8_avx512.c (AVX-512 BW, gated like the VNNI kernels): the 2x2 /
 * stride-2 max pool of one plane with every window inside it; quantize with
 * backend.h's rounding. */
void cpu_qmaxpool2x2_avx512(const int8_t *x, int w, int8_t *y, int oh, int ow);
void cpu_quantize_avx512(const float *x, size_t n, float inv_scale, int zp, int8_t *y);
/* The slot bodies on these kernels (cpu_int8_conv_vnni.c: stride 1 only;
 * cpu_int8_gemm_vnni.c); arguments already checked, o's tables resolved. */
int cpu_qconv2d_vnni(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, const int8_t *x, int x_zp,
                     const int8_t *w, const cpu_q_out *o);
int cpu_qgemm_vnni_run(mlopt_backend_ctx *ctx, int m, int n, int k, const int8_t *a, int lda, int a_zp,
                       const int8_t *b, int ldb, const cpu_q_out *o);
#endif

static inline int cpu_q_round16(int k)
{
    return (k + CPU_Q_KSTEP - 1) / CPU_Q_KSTEP * CPU_Q_KSTEP;
}

#endif
