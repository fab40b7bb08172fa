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

static inline int cpu_q_round16(int k)
{
    return (k + CPU_Q_KSTEP - 1) / CPU_Q_KSTEP * CPU_Q_KSTEP;
}

#endif
