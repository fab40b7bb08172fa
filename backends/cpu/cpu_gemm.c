/* GEMM slots and the cache-blocked, packed, multi-threaded driver.
 *
 * Loop nest (Goto/BLIS style): for each NC-wide column block of C and each
 * KC-deep slice of k, op(B)[KC x NC] is packed once into NR-wide panels
 * (shared by all threads, stays in L3/L2), then every (MC-row block of A,
 * part of the column block) task packs its own op(A)[MC x KC] into MR-tall
 * panels (stays in L2) and sweeps the micro-kernel over the tile grid,
 * each MR x NR tile of C staying in registers for the whole KC slice. */
#include <string.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

#define CPU_GEMM_KC 256 /* one A micro-panel (6 KiB) + one B micro-panel (16 KiB) fit L1 */
#define CPU_GEMM_MC 144 /* the packed A block (144 KiB) stays in L2 */
#define CPU_GEMM_NC 3072 /* the packed B block (3 MiB) stays in L3 / a large L2 */

/* Below this many multiply-adds a problem runs on one thread: waking the
 * pool would cost more than it saves. */
#define CPU_GEMM_PARALLEL_MIN_FLOPS ((size_t)64 * 64 * 64)

typedef struct cpu_gemm_job {
    int trans_a, trans_b;
    int m, n, k;
    float alpha;
    const float *a;
    int lda;
    const float *b;
    int ldb;
    float *c;
    int ldc;
    cpu_microkernel_fn kernel;
    float *pack_b;
    float **pack_a; /* one per thread */
    /* the current (jc, pc) step */
    int jc, nc, pc, kc;
    float beta;
    int n_panels;   /* NR panels in this column block */
    int m_blocks;   /* MC blocks of rows */
    int n_parts;    /* column block split into this many ranges of panels */
} cpu_gemm_job;

/* Packs op(B)[pc:pc+kc, jc + panel*NR : +NR] as kc rows of NR floats,
 * zero-padding columns beyond n. */
static void cpu_pack_b_panels(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    cpu_gemm_job *g = arg;
    for (size_t panel = begin; panel < end; panel++) {
        int j0 = g->jc + (int)panel * CPU_GEMM_NR;
        int nr = g->n - j0 < CPU_GEMM_NR ? g->n - j0 : CPU_GEMM_NR;
        float *dst = g->pack_b + panel * (size_t)g->kc * CPU_GEMM_NR;
        for (int p = 0; p < g->kc; p++) {
            float *d = dst + (size_t)p * CPU_GEMM_NR;
            int kk = g->pc + p;
            if (!g->trans_b) {
                const float *src = g->b + (size_t)kk * g->ldb + j0;
                if (nr == CPU_GEMM_NR) {
                    memcpy(d, src, CPU_GEMM_NR * sizeof(float));
                    continue;
                }
                for (int j = 0; j < nr; j++)
                    d[j] = src[j];
            } else {
                for (int j = 0; j < nr; j++)
                    d[j] = g->b[(size_t)(j0 + j) * g->ldb + kk];
            }
            for (int j = nr; j < CPU_GEMM_NR; j++)
                d[j] = 0.0f;
        }
    }
}

/* Packs op(A)[i0:i0+mc, pc:pc+kc] as MR-row panels of kc x MR floats. */
static void cpu_pack_a_block(const cpu_gemm_job *g, int i0, int mc, float *dst)
{
    for (int r = 0; r < mc; r += CPU_GEMM_MR) {
        int mr = mc - r < CPU_GEMM_MR ? mc - r : CPU_GEMM_MR;
        float *panel = dst + (size_t)r * g->kc;
        if (g->trans_a) {
            /* A stored k x m: each k step's MR values are contiguous */
            for (int p = 0; p < g->kc; p++) {
                const float *src = g->a + (size_t)(g->pc + p) * g->lda + i0 + r;
                float *d = panel + (size_t)p * CPU_GEMM_MR;
                for (int i = 0; i < mr; i++)
                    d[i] = src[i];
                for (int i = mr; i < CPU_GEMM_MR; i++)
                    d[i] = 0.0f;
            }
        } else {
            for (int i = 0; i < CPU_GEMM_MR; i++) {
                if (i < mr) {
                    const float *src = g->a + (size_t)(i0 + r + i) * g->lda + g->pc;
                    for (int p = 0; p < g->kc; p++)
                        panel[(size_t)p * CPU_GEMM_MR + i] = src[p];
                } else {
                    for (int p = 0; p < g->kc; p++)
                        panel[(size_t)p * CPU_GEMM_MR + i] = 0.0f;
                }
            }
        }
    }
}

/* Task t = (row block, range of column panels). */
static void cpu_gemm_tasks(void *arg, size_t begin, size_t end, int thread)
{
    cpu_gemm_job *g = arg;
    float *pa = g->pack_a[thread];
    int packed_block = -1;
    for (size_t t = begin; t < end; t++) {
        int mb = (int)(t / (size_t)g->n_parts), part = (int)(t % (size_t)g->n_parts);
        int i0 = mb * CPU_GEMM_MC;
        int mc = g->m - i0 < CPU_GEMM_MC ? g->m - i0 : CPU_GEMM_MC;
        int p_begin = (int)((long long)g->n_panels * part / g->n_parts);
        int p_end = (int)((long long)g->n_panels * (part + 1) / g->n_parts);
        if (p_begin >= p_end)
            continue;
        if (packed_block != mb) {
            cpu_pack_a_block(g, i0, mc, pa);
            packed_block = mb;
        }
        for (int jp = p_begin; jp < p_end; jp++) {
            int j0 = g->jc + jp * CPU_GEMM_NR;
            int nr = g->n - j0 < CPU_GEMM_NR ? g->n - j0 : CPU_GEMM_NR;
            const float *bpanel = g->pack_b + (size_t)jp * g->kc * CPU_GEMM_NR;
            for (int r = 0; r < mc; r += CPU_GEMM_MR) {
                int mr = mc - r < CPU_GEMM_MR ? mc - r : CPU_GEMM_MR;
                g->kernel(g->kc, pa + (size_t)r * g->kc, bpanel, g->alpha, g->beta,
                          g->c + (size_t)(i0 + r) * g->ldc + j0, g->ldc, mr, nr);
            }
        }
    }
}

static size_t cpu_pack_b_bytes(int n, int k)
{
    int kc = k < CPU_GEMM_KC ? k : CPU_GEMM_KC;
    int nc = n < CPU_GEMM_NC ? n : CPU_GEMM_NC;
    return (size_t)(nc + CPU_GEMM_NR - 1) / CPU_GEMM_NR * CPU_GEMM_NR * kc * sizeof(float);
}

static size_t cpu_pack_a_bytes(int m, int k)
{
    int kc = k < CPU_GEMM_KC ? k : CPU_GEMM_KC;
    int mc = m < CPU_GEMM_MC ? m : CPU_GEMM_MC;
    return (size_t)(mc + CPU_GEMM_MR - 1) / CPU_GEMM_MR * CPU_GEMM_MR * kc * sizeof(float);
}

int cpu_gemm_reserve(mlopt_backend_ctx *ctx, int thread, int m, int n, int k, const char *call)
{
    if (ctx->reference || m <= 0 || n <= 0 || k <= 0)
        return 0;
    if (!cpu_scratch_reserve(ctx, &ctx->gemm_pack_b[thread], cpu_pack_b_bytes(n, k), call) ||
        !cpu_scratch_reserve(ctx, &ctx->gemm_pack_a[thread], cpu_pack_a_bytes(m, k), call))
        return 1;
    return 0;
}

static int cpu_gemm_blocked(mlopt_backend_ctx *ctx, int thread, int trans_a, int trans_b, int m,
                            int n, int k, float alpha, const float *a, int lda, const float *b,
                            int ldb, float beta, float *c, int ldc, const char *call)
{
    int threads = thread >= 0 ? 1 : cpu_threads(ctx);
    if ((size_t)m * n * k < CPU_GEMM_PARALLEL_MIN_FLOPS)
        threads = 1;
    float *pack_a[CPU_MAX_THREADS];
    cpu_gemm_job g = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                      .alpha = alpha, .a = a, .lda = lda, .b = b, .ldb = ldb, .c = c,
                      .ldc = ldc, .pack_a = pack_a};
    if (thread >= 0) {
        /* sized beforehand by cpu_gemm_reserve(): no allocation (and no
         * shared error state) inside a parallel region */
        g.pack_b = ctx->gemm_pack_b[thread].data;
        pack_a[0] = ctx->gemm_pack_a[thread].data;
    } else {
        for (int t = 0; t < threads; t++)
            if (cpu_gemm_reserve(ctx, t, m, n, k, call))
                return 1;
        g.pack_b = ctx->gemm_pack_b[0].data;
        for (int t = 0; t < threads; t++)
            pack_a[t] = ctx->gemm_pack_a[t].data;
    }
#if defined(CPU_HAVE_AVX2_KERNELS)
    g.kernel = ctx->use_avx2 ? cpu_microkernel_avx2 : cpu_microkernel_scalar;
#else
    g.kernel = cpu_microkernel_scalar;
#endif
    g.m_blocks = (m + CPU_GEMM_MC - 1) / CPU_GEMM_MC;
    cpu_threadpool *pool = threads > 1 ? ctx->pool : NULL;
    for (int jc = 0; jc < n; jc += CPU_GEMM_NC) {
        g.jc = jc;
        g.nc = n - jc < CPU_GEMM_NC ? n - jc : CPU_GEMM_NC;
        g.n_panels = (g.nc + CPU_GEMM_NR - 1) / CPU_GEMM_NR;
        /* Split columns too when there are fewer row blocks than threads,
         * so that short-and-wide products (convolutions) use every core. */
        g.n_parts = 1;
        if (g.m_blocks < threads) {
            g.n_parts = (threads + g.m_blocks - 1) / g.m_blocks;
            if (g.n_parts > g.n_panels)
                g.n_parts = g.n_panels;
        }
        for (int pc = 0; pc < k; pc += CPU_GEMM_KC) {
            g.pc = pc;
            g.kc = k - pc < CPU_GEMM_KC ? k - pc : CPU_GEMM_KC;
            /* Only the first k slice applies the caller's beta; later
             * slices accumulate into what the first one wrote. */
            g.beta = pc == 0 ? beta : 1.0f;
            cpu_threadpool_run(pool, (size_t)g.n_panels, cpu_pack_b_panels, &g);
            cpu_threadpool_run(pool, (size_t)g.m_blocks * g.n_parts, cpu_gemm_tasks, &g);
        }
    }
    return 0;
}

int cpu_gemm_dispatch(mlopt_backend_ctx *ctx, int thread, int trans_a, int trans_b, int m, int n,
                      int k, float alpha, const float *a, int lda, const float *b, int ldb,
                      float beta, float *c, int ldc, const char *call)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (ctx->reference || k <= 0 || alpha == 0.0f) {
        cpu_gemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return 0;
    }
    return cpu_gemm_blocked(ctx, thread, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                            c, ldc, call);
}

/* Bytes spanned by a rows x cols row-major matrix with row stride ld. */
static size_t cpu_matrix_bytes(int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    return ((size_t)(rows - 1) * (size_t)ld + (size_t)cols) * sizeof(float);
}

/* Validates shapes and strides; stored_* are the untransposed dimensions. */
static int cpu_gemm_check(mlopt_backend_ctx *ctx, const char *call, int trans_a, int trans_b,
                          int m, int n, int k, int lda, int ldb, int ldc)
{
    if (m < 0 || n < 0 || k < 0)
        return cpu_fail(ctx, "%s: negative size m=%d n=%d k=%d", call, m, n, k);
    int a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < (n > 1 ? n : 1))
        return cpu_fail(ctx, "%s: leading dimension too small (lda=%d needs >= %d, ldb=%d needs "
                        ">= %d, ldc=%d needs >= %d)", call, lda, a_cols, ldb, b_cols, ldc, n);
    return 0;
}

int cpu_gemm(mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
             mlopt_ref a, int lda, mlopt_ref b, int ldb, float beta, mlopt_ref c, int ldc)
{
    if (cpu_gemm_check(ctx, "gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc))
        return 1;
    if (m == 0 || n == 0)
        return 0;
    int a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    int b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    const float *pa = cpu_ref_ptr(ctx, a, cpu_matrix_bytes(a_rows, a_cols, lda), "gemm", "A");
    const float *pb = pa ? cpu_ref_ptr(ctx, b, cpu_matrix_bytes(b_rows, b_cols, ldb), "gemm", "B") : NULL;
    float *pc = pb ? cpu_ref_ptr(ctx, c, cpu_matrix_bytes(m, n, ldc), "gemm", "C") : NULL;
    if (!pc)
        return 1;
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    return cpu_gemm_dispatch(ctx, -1, trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc,
                             ldc, "gemm");
}

int cpu_gemm_strided_batched(mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n,
                             int k, float alpha, mlopt_ref a, int lda, long long stride_a,
                             mlopt_ref b, int ldb, long long stride_b, float beta, mlopt_ref c,
                             int ldc, long long stride_c, int batch)
{
    const char *call = "gemm_strided_batched";
    if (cpu_gemm_check(ctx, call, trans_a, trans_b, m, n, k, lda, ldb, ldc))
        return 1;
    if (batch < 0 || stride_a < 0 || stride_b < 0 || stride_c < 0)
        return cpu_fail(ctx, "%s: negative batch or stride", call);
    if (batch == 0 || m == 0 || n == 0)
        return 0;
    int a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    int b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    size_t last = (size_t)batch - 1;
    const float *pa = cpu_ref_ptr(ctx, a, (last * stride_a) * sizeof(float) +
                                  cpu_matrix_bytes(a_rows, a_cols, lda), call, "A");
    const float *pb = pa ? cpu_ref_ptr(ctx, b, (last * stride_b) * sizeof(float) +
                                       cpu_matrix_bytes(b_rows, b_cols, ldb), call, "B") : NULL;
    float *pc = pb ? cpu_ref_ptr(ctx, c, (last * stride_c) * sizeof(float) +
                                 cpu_matrix_bytes(m, n, ldc), call, "C") : NULL;
    if (!pc)
        return 1;
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    for (int i = 0; i < batch; i++) {
        if (cpu_gemm_dispatch(ctx, -1, trans_a, trans_b, m, n, k, alpha, pa + i * stride_a, lda,
                              pb + i * stride_b, ldb, beta, pc + i * stride_c, ldc, call))
            return 1;
    }
    return 0;
}
