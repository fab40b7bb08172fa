/* qgemm on the AVX-512 VNNI kernel.  The weights B [n][k] are reordered
 * once per call into [k/4][n16][4] (16 output columns of one quad per
 * 64-byte load), their row sums folded into bias2; each thread converts a
 * block of rows of A to u8 (x + 128, zero-padded to a multiple of 4) and
 * runs the micro-kernel on it. */
#include <string.h>

#include "cpu_int8.h"
#include "cpu_internal.h"

#if defined(MLOPT_CPU_X86_KERNELS)

#define CPU_QVG_ROWS 96 /* rows of A converted at a time (a multiple of the kernel's 6) */

typedef struct cpu_qvg_job {
    mlopt_backend_ctx *ctx;
    const int8_t *a;
    size_t lda;
    int k, k4;
    cpu_qv_gemm g;
} cpu_qvg_job;

static void cpu_qvg_rows(void *arg, size_t begin, size_t end, int thread)
{
    const cpu_qvg_job *j = arg;
    uint8_t *a8 = j->ctx->conv_cols[thread].data;
    for (size_t r0 = begin; r0 < end; r0 += CPU_QVG_ROWS) {
        size_t rows = end - r0 < CPU_QVG_ROWS ? end - r0 : CPU_QVG_ROWS;
        for (size_t i = 0; i < rows; i++) {
            uint8_t *dst = a8 + i * (size_t)j->k4;
            cpu_q_to_u8_avx512(dst, j->a + (r0 + i) * j->lda, (size_t)j->k);
            memset(dst + j->k, 0, (size_t)(j->k4 - j->k)); /* against zero weights */
        }
        cpu_qv_gemm g = j->g;
        g.a = a8;
        g.c += r0 * g.ldc;
        cpu_qgemm_vnni(&g, (int)rows);
    }
}

int cpu_qgemm_vnni_run(mlopt_backend_ctx *ctx, int m, int n, int k, const int8_t *A, int lda, int a_zp,
                       const int8_t *B, int ldb, const cpu_q_out *o)
{
    const char *call = "qgemm";
    int nq = (k + 3) / 4, n16 = (n + 15) / 16 * 16;
    size_t b_bytes = ((size_t)nq * n16 * 4 + 63) / 64 * 64, t_bytes = (size_t)n16 * 4;
    uint8_t *sh = cpu_scratch_reserve(ctx, &ctx->gemm_pack_b[0], b_bytes + 3 * t_bytes, call);
    if (!sh)
        return 1;
    int8_t *bq = (int8_t *)sh;
    int32_t *bias2 = (int32_t *)(sh + b_bytes), *mult = bias2 + n16, *shift = mult + n16;
    /* Quad-major copy: 16 rows gathered per 64-byte store. */
    int full = k / 4;
    if ((size_t)ldb * 15 <= 0x7FFFFFFF)
        cpu_q_pack_quads_avx512((int32_t *)bq, B, (size_t)ldb, n, full, (size_t)n16);
    for (int q = 0; q < nq; q++) {
        int32_t *dq = (int32_t *)(bq + (size_t)q * n16 * 4);
        if (q < full) {
            if ((size_t)ldb * 15 > 0x7FFFFFFF)
                for (int jn = 0; jn < n; jn++)
                    memcpy(dq + jn, B + (size_t)jn * ldb + 4 * (size_t)q, 4);
        } else { /* the last, partial quad: zero weights beyond k */
            for (int jn = 0; jn < n; jn++) {
                int8_t t[4] = { 0, 0, 0, 0 };
                memcpy(t, B + (size_t)jn * ldb + 4 * (size_t)q, (size_t)(k - 4 * q));
                memcpy(dq + jn, t, 4);
            }
        }
        memset(dq + n, 0, (size_t)(n16 - n) * 4);
    }
    for (int jn = 0; jn < n; jn++) {
        const int8_t *br = B + (size_t)jn * ldb;
        int64_t sum = cpu_q_sum_s8_avx512(br, (size_t)k);
        int64_t b = o->bias ? o->bias[jn] : 0;
        bias2[jn] = (int32_t)(uint32_t)(uint64_t)(b - (int64_t)(128 + a_zp) * sum);
        mult[jn] = o->mult[jn], shift[jn] = o->shift[jn];
    }
    for (int jn = n; jn < n16; jn++) /* padding columns: computed, never stored */
        bias2[jn] = 0, mult[jn] = 0, shift[jn] = 1;
    int threads = cpu_threads(ctx);
    /* Few rows (batch-1 inference) are not worth waking the pool. */
    if ((size_t)m * n * k < ((size_t)1 << 18))
        threads = 1;
    for (int t = 0; t < threads; t++)
        if (!cpu_scratch_reserve(ctx, &ctx->conv_cols[t], (size_t)CPU_QVG_ROWS * nq * 4, call))
            return 1;
    cpu_qvg_job j = { ctx, A, (size_t)lda, k, 4 * nq,
                      { NULL, (size_t)4 * nq, bq, nq, n, n16, bias2, mult, shift, o->zp, o->relu, o->c, o->crs } };
    if (threads == 1)
        cpu_qvg_rows(&j, 0, (size_t)m, 0);
    else
        cpu_threadpool_run(ctx->pool, (size_t)m, cpu_qvg_rows, &j);
    return 0;
}

#endif
