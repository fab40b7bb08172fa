/* qgemm (ABI 1.1): int8 x int8 -> int32 -> requantized int8.
 * The reference path is the formula of backend.h on the int8 data; the
 * fast path widens both operands to int16 once (A minus its zero point)
 * and runs a vpmaddwd micro-kernel.  Integer arithmetic is exact, so both
 * paths, and every thread split, give identical bytes. */
#include <pthread.h>
#include <string.h>

#include "cpu_int8.h"
#include "cpu_internal.h"

#if defined(MLOPT_CPU_X86_KERNELS)
#include <cpuid.h>

static int cpu_q_vnni_present;
static pthread_once_t cpu_q_vnni_once = PTHREAD_ONCE_INIT;

/* CPUID leaf 7: EBX bit 30 AVX512-BW, bit 31 AVX512-VL; ECX bit 11
 * AVX512-VNNI.  The OS support for the ZMM / opmask state is already part
 * of the context's CPU_ISA_AVX512. */
static void cpu_q_detect_vnni(void)
{
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    cpu_q_vnni_present = ((ebx >> 30) & 1) && ((ebx >> 31) & 1) && ((ecx >> 11) & 1);
}
#endif

int cpu_q_use_vnni(const mlopt_backend_ctx *ctx)
{
#if defined(MLOPT_CPU_X86_KERNELS)
    if (!ctx->use_avx2 || ctx->isa < CPU_ISA_AVX512)
        return 0;
    pthread_once(&cpu_q_vnni_once, cpu_q_detect_vnni);
    return cpu_q_vnni_present;
#else
    (void)ctx;
    return 0;
#endif
}

void cpu_qgemm16_scalar(int m, int n, int k16, const int16_t *a, const int16_t *b, const cpu_q_out *o)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            int32_t acc = o->bias ? o->bias[j] : 0;
            const int16_t *ar = a + (size_t)i * k16, *br = b + (size_t)j * k16;
            for (int p = 0; p < k16; p++)
                acc += (int32_t)ar[p] * br[p];
            o->c[(size_t)i * o->crs + (size_t)j * o->ccs] = mlopt_requantize(acc, o->mult[j], o->shift[j], o->zp, o->relu);
        }
}

void cpu_qgemm16(const mlopt_backend_ctx *ctx, int m, int n, int k16, const int16_t *a, const int16_t *b,
                 const cpu_q_out *o)
{
#if defined(MLOPT_CPU_X86_KERNELS)
    if (ctx->use_avx2) {
        cpu_qgemm16_avx2(m, n, k16, a, b, o);
        return;
    }
#endif
    (void)ctx;
    cpu_qgemm16_scalar(m, n, k16, a, b, o);
}

int cpu_q_tables(mlopt_backend_ctx *ctx, int n, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift,
                        const char *call, cpu_q_out *o)
{
    o->bias = bias.buf ? cpu_ref_ptr(ctx, bias, (size_t)n * 4, call, "bias") : NULL;
    if (bias.buf && !o->bias)
        return 1;
    if (!(o->mult = cpu_ref_ptr(ctx, mult, (size_t)n * 4, call, "mult")) ||
        !(o->shift = cpu_ref_ptr(ctx, shift, (size_t)n * 4, call, "shift")))
        return 1;
    for (int j = 0; j < n; j++)
        if (o->shift[j] < 1 || o->shift[j] > 62 || o->mult[j] < 0)
            return cpu_fail(ctx, "%s: channel %d has shift %d / mult %d; need 1 <= shift <= 62 and mult >= 0",
                            call, j, (int)o->shift[j], (int)o->mult[j]);
    return 0;
}

typedef struct cpu_qgemm_job {
    mlopt_backend_ctx *ctx;
    int n, k, k16, lda;
    int a_zp;
    const int8_t *a;
    const int16_t *b16;
    cpu_q_out out;
} cpu_qgemm_job;

/* Rows [begin, end) of C: widen that block of A, then the micro-kernel. */
static void cpu_qgemm_rows(void *arg, size_t begin, size_t end, int thread)
{
    cpu_qgemm_job *j = arg;
    int16_t *a16 = j->ctx->conv_cols[thread].data;
    const size_t rows_per_block = 64;
    for (size_t r0 = begin; r0 < end; r0 += rows_per_block) {
        size_t rows = end - r0 < rows_per_block ? end - r0 : rows_per_block;
        for (size_t i = 0; i < rows; i++) {
            const int8_t *src = j->a + (r0 + i) * (size_t)j->lda;
            int16_t *dst = a16 + i * (size_t)j->k16;
            for (int p = 0; p < j->k; p++)
                dst[p] = (int16_t)(src[p] - j->a_zp);
            for (int p = j->k; p < j->k16; p++)
                dst[p] = 0;
        }
        cpu_q_out o = j->out;
        o.c += r0 * o.crs;
        cpu_qgemm16(j->ctx, (int)rows, j->n, j->k16, a16, j->b16, &o);
    }
}

int cpu_qgemm(mlopt_backend_ctx *ctx, int m, int n, int k, mlopt_ref a, int lda, int a_zp, mlopt_ref b,
              int ldb, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int c_zp, int relu, mlopt_ref c,
              int ldc)
{
    const char *call = "qgemm";
    if (m < 0 || n < 0 || k < 0 || lda < k || ldb < k || ldc < n || a_zp < -128 || a_zp > 127 || c_zp < -128 ||
        c_zp > 127)
        return cpu_fail(ctx, "%s: bad arguments m=%d n=%d k=%d lda=%d ldb=%d ldc=%d a_zp=%d c_zp=%d", call, m, n,
                        k, lda, ldb, ldc, a_zp, c_zp);
    if (m == 0 || n == 0)
        return 0;
    const int8_t *A = cpu_ref_ptr(ctx, a, (size_t)(m - 1) * lda + k, call, "a");
    const int8_t *B = A ? cpu_ref_ptr(ctx, b, (size_t)(n - 1) * ldb + k, call, "b") : NULL;
    int8_t *C = B ? cpu_ref_ptr(ctx, c, (size_t)(m - 1) * ldc + n, call, "c") : NULL;
    cpu_q_out o;
    if (!C || cpu_q_tables(ctx, n, bias, mult, shift, call, &o))
        return 1;
    o.zp = c_zp, o.relu = relu, o.c = C, o.crs = (size_t)ldc, o.ccs = 1;
    cpu_count_kernel(ctx);
    if (!ctx->use_avx2) { /* the reference: backend.h's formula, one thread */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                int32_t acc = o.bias ? o.bias[j] : 0;
                for (int p = 0; p < k; p++)
                    acc += ((int32_t)A[(size_t)i * lda + p] - a_zp) * B[(size_t)j * ldb + p];
                C[(size_t)i * ldc + j] = mlopt_requantize(acc, o.mult[j], o.shift[j], c_zp, relu);
            }
        return 0;
    }
#if defined(MLOPT_CPU_X86_KERNELS)
    if (cpu_q_use_vnni(ctx))
        return cpu_qgemm_vnni_run(ctx, m, n, k, A, lda, a_zp, B, ldb, &o);
#endif
    int k16 = cpu_q_round16(k);
    int16_t *b16 = cpu_scratch_reserve(ctx, &ctx->gemm_pack_b[0], (size_t)n * k16 * 2, call);
    if (!b16)
        return 1;
    for (int j = 0; j < n; j++) {
        for (int p = 0; p < k; p++)
            b16[(size_t)j * k16 + p] = B[(size_t)j * ldb + p];
        for (int p = k; p < k16; p++)
            b16[(size_t)j * k16 + p] = 0;
    }
    int threads = cpu_threads(ctx);
    /* Few rows (batch-1 inference) are not worth waking the pool. */
    if ((size_t)m * n * k < ((size_t)1 << 18))
        threads = 1;
    for (int t = 0; t < threads; t++)
        if (!cpu_scratch_reserve(ctx, &ctx->conv_cols[t], (size_t)64 * k16 * 2, call))
            return 1;
    cpu_qgemm_job job = { ctx, n, k, k16, lda, a_zp, A, b16, o };
    if (threads == 1)
        cpu_qgemm_rows(&job, 0, (size_t)m, 0);
    else
        cpu_threadpool_run(ctx->pool, (size_t)m, cpu_qgemm_rows, &job);
    return 0;
}
