/* GEMM through CLBlast's C API (row-major, offsets in elements). */
#include <limits.h>

#include "ocl_internal.h"

#include <clblast_c.h>

/* C = beta * C over the (batched) m x n output, or C = 0 when beta == 0.
 * Done by our own kernel so that "beta == 0 means C is not read" holds
 * whatever CLBlast does internally with 0 * NaN. */
static int scale_output(ocl_ctx *ctx, int m, int n, cl_mem c, size_t c_off, int ldc,
                        long long stride_c, int batch, float beta)
{
    long long total = (long long)m * n * batch;
    long long last = (long long)c_off + (long long)(batch - 1) * stride_c +
                     (long long)(m - 1) * ldc + n;
    if (total > INT_MAX || last > INT_MAX || stride_c > INT_MAX)
        return ocl_fail(ctx, "gemm: output of %lld elements exceeds the 2^31 limit", last);
    ocl_args a = ocl_args_begin(ctx, OCL_K_scale_matrix);
    ocl_arg_mem(&a, c);
    ocl_arg_int(&a, (int)c_off);
    ocl_arg_int(&a, m);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, ldc);
    ocl_arg_int(&a, (int)stride_c);
    ocl_arg_int(&a, batch);
    ocl_arg_float(&a, beta);
    return ocl_launch_elementwise(&a, (size_t)total);
}

int ocl_gemm_elems(ocl_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
                   cl_mem a, size_t a_off, int lda, long long stride_a,
                   cl_mem b, size_t b_off, int ldb, long long stride_b,
                   float beta, cl_mem c, size_t c_off, int ldc, long long stride_c,
                   int batch, const char *what)
{
    if (m < 0 || n < 0 || k < 0 || batch < 0)
        return ocl_fail(ctx, "%s: negative GEMM size m=%d n=%d k=%d batch=%d", what, m, n, k,
                        batch);
    if (stride_a < 0 || stride_b < 0 || stride_c < 0)
        return ocl_fail(ctx, "%s: negative GEMM batch strides are not supported", what);
    if (m == 0 || n == 0 || batch == 0)
        return 0;
    if (beta == 0.0f || k == 0) {
        if (scale_output(ctx, m, n, c, c_off, ldc, stride_c, batch, beta))
            return 1;
        if (k == 0 || alpha == 0.0f)
            return 0;
    }
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode st;
    const char *call;
    if (batch == 1) {
        /* CLBlast would otherwise create (and free) its temporary buffer on
         * every call; keep one in the context instead. */
        size_t tmp_bytes = 0;
        call = "CLBlastSGemmTempBufferSize";
        st = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)n,
                                        (size_t)k, a_off, (size_t)lda, b_off, (size_t)ldb, c_off,
                                        (size_t)ldc, &ctx->queue, &tmp_bytes);
        if (st == CLBlastSuccess && tmp_bytes > 0) {
            if (ocl_ensure_scratch(ctx, &ctx->gemm_tmp, tmp_bytes, "GEMM temporary"))
                return 1;
            call = "CLBlastSgemmWithTempBuffer";
            st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)n,
                                            (size_t)k, alpha, a, a_off, (size_t)lda, b, b_off,
                                            (size_t)ldb, beta, c, c_off, (size_t)ldc,
                                            &ctx->queue, NULL, ctx->gemm_tmp.mem);
        } else if (st == CLBlastSuccess) {
            call = "CLBlastSgemm";
            st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)n, (size_t)k,
                              alpha, a, a_off, (size_t)lda, b, b_off, (size_t)ldb, beta, c, c_off,
                              (size_t)ldc, &ctx->queue, NULL);
        }
    } else {
        call = "CLBlastSgemmStridedBatched";
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)n,
                                        (size_t)k, alpha, a, a_off, (size_t)lda,
                                        (size_t)stride_a, b, b_off, (size_t)ldb,
                                        (size_t)stride_b, beta, c, c_off, (size_t)ldc,
                                        (size_t)stride_c, (size_t)batch, &ctx->queue, NULL);
    }
    if (st != CLBlastSuccess)
        return ocl_fail(ctx, "%s in %s(%s: m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d)%s",
                        ocl_clblast_status_name(st), call, what, m, n, k, lda, ldb, ldc, batch,
                        st == CLBlastTempBufferAllocFailure || st == CLBlastOpenCLOutOfResources
                            ? ": try a smaller --batch"
                            : "");
    ctx->stats.kernels++;
    return ocl_note_command(ctx);
}

/* Elements a stored matrix spans: rows x cols with row stride ld. */
static size_t matrix_span(int rows, int cols, int ld)
{
    return rows && cols ? (size_t)(rows - 1) * (size_t)ld + (size_t)cols : 0;
}

static int check_operands(ocl_ctx *ctx, const char *slot, int trans_a, int trans_b, int m, int n,
                          int k, mlopt_ref a, int lda, long long sa, mlopt_ref b, int ldb,
                          long long sb, mlopt_ref c, int ldc, long long sc, int batch)
{
    if (m <= 0 || n <= 0 || batch <= 0)
        return 0;
    int ar = trans_a ? k : m, ac = trans_a ? m : k;
    int br = trans_b ? n : k, bc = trans_b ? k : n;
    if (lda < (ac > 1 ? ac : 1) || ldb < (bc > 1 ? bc : 1) || ldc < n)
        return ocl_fail(ctx, "%s: leading dimension too small (lda=%d needs >= %d, ldb=%d needs "
                        ">= %d, ldc=%d needs >= %d)", slot, lda, ac, ldb, bc, ldc, n);
    if (sa < 0 || sb < 0 || sc < 0)
        return ocl_fail(ctx, "%s: negative batch strides are not supported", slot);
    size_t extra = (size_t)(batch - 1);
    if (k > 0 && (ocl_check_ref(ctx, a, matrix_span(ar, ac, lda) + extra * (size_t)sa, slot, "A") ||
                  ocl_check_ref(ctx, b, matrix_span(br, bc, ldb) + extra * (size_t)sb, slot, "B")))
        return 1;
    return ocl_check_ref(ctx, c, matrix_span(m, n, ldc) + extra * (size_t)sc, slot, "C");
}

int ocl_gemm(ocl_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
             mlopt_ref a, int lda, mlopt_ref b, int ldb, float beta, mlopt_ref c, int ldc)
{
    if (m < 0 || n < 0 || k < 0)
        return ocl_fail(ctx, "gemm: negative size m=%d n=%d k=%d", m, n, k);
    if (m == 0 || n == 0)
        return 0;
    if (check_operands(ctx, "gemm", trans_a, trans_b, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, 1))
        return 1;
    return ocl_gemm_elems(ctx, trans_a, trans_b, m, n, k, alpha,
                          a.buf ? a.buf->mem : ctx->dummy, a.offset / 4, lda, 0,
                          b.buf ? b.buf->mem : ctx->dummy, b.offset / 4, ldb, 0, beta,
                          c.buf->mem, c.offset / 4, ldc, 0, 1, "gemm");
}

int ocl_gemm_strided_batched(ocl_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                             float alpha, mlopt_ref a, int lda, long long stride_a,
                             mlopt_ref b, int ldb, long long stride_b, float beta,
                             mlopt_ref c, int ldc, long long stride_c, int batch)
{
    if (m < 0 || n < 0 || k < 0 || batch < 0)
        return ocl_fail(ctx, "gemm_strided_batched: negative size m=%d n=%d k=%d batch=%d", m, n,
                        k, batch);
    if (check_operands(ctx, "gemm_strided_batched", trans_a, trans_b, m, n, k, a, lda, stride_a,
                       b, ldb, stride_b, c, ldc, stride_c, batch))
        return 1;
    if (m <= 0 || n <= 0 || batch <= 0)
        return 0;
    return ocl_gemm_elems(ctx, trans_a, trans_b, m, n, k, alpha,
                          a.buf ? a.buf->mem : ctx->dummy, a.offset / 4, lda, stride_a,
                          b.buf ? b.buf->mem : ctx->dummy, b.offset / 4, ldb, stride_b, beta,
                          c.buf->mem, c.offset / 4, ldc, stride_c, batch,
                          "gemm_strided_batched");
}
