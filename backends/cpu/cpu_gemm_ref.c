/* The scalar reference GEMM (what every other backend is checked against)
 * and the portable micro-kernel used by the blocked GEMM on CPUs without
 * AVX2.  Both are deliberately plain loops. */
#include "cpu_internal.h"

/* Scales C by beta in place, honouring "beta == 0 means C is not read". */
static void cpu_scale_c(int m, int n, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
}

void cpu_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) { /* A and B are not referenced, as in BLAS */
        cpu_scale_c(m, n, beta, c, ldc);
        return;
    }
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            /* Double accumulation keeps the reference's own rounding error far
             * below the tolerances used to judge the fast paths. */
            double acc = 0.0;
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                acc += (double)av * (double)bv;
            }
            float *cij = &c[(size_t)i * ldc + j];
            double out = (double)alpha * acc;
            if (beta != 0.0f)
                out += (double)beta * (double)*cij;
            *cij = (float)out;
        }
    }
}

void cpu_microkernel_scalar(int kc, const float *apanel, const float *bpanel, float alpha,
                            float beta, float *c, int ldc, int mr, int nr)
{
    float acc[CPU_GEMM_MR][CPU_GEMM_NR] = {{0}};
    for (int p = 0; p < kc; p++) {
        const float *ap = apanel + (size_t)p * CPU_GEMM_MR;
        const float *bp = bpanel + (size_t)p * CPU_GEMM_NR;
        for (int i = 0; i < CPU_GEMM_MR; i++)
            for (int j = 0; j < CPU_GEMM_NR; j++)
                acc[i][j] += ap[i] * bp[j];
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < nr; j++)
            ci[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
    }
}
