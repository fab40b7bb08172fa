/* GEMM slots and the cache-blocked, packed, multi-threaded driver.
 *
 * Loop nest (Goto/BLIS style), per stripe of C: for each NC-wide column
 * block and each KC-deep slice of k, op(B)[KC x NC] is packed into NR-wide
 * panels (stays in L2/L3); for each MC-row block op(A)[MC x KC] is packed
 * into MR-tall panels (stays in L2); then the micro-kernel sweeps the tile
 * grid, each MR x NR tile of C staying in registers for the whole KC slice
 * while one B micro-panel stays in L1.  Threads claim stripes of C (see
 * cpu_gemm_blocked) and run this nest on them with private buffers. */
#include <stdatomic.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

/* A micro-kernel and the cache blocking that suits it. */
typedef struct cpu_gemm_kernel {
    int mr, nr;
    int kc; /* one B micro-panel (kc x nr) stays in L1 across a row sweep */
    int mc; /* the packed A block (mc x kc) stays in L2 */
    int nc; /* the packed B block (kc x nc) stays in L3 / a large L2 */
    cpu_microkernel_fn fn;
} cpu_gemm_kernel;

static const cpu_gemm_kernel cpu_kernel_scalar = {CPU_GEMM_MR, CPU_GEMM_NR, 256, 144, 3072,
                                                  cpu_microkernel_scalar};
#if defined(CPU_HAVE_AVX2_KERNELS)
static const cpu_gemm_kernel cpu_kernel_avx2 = {CPU_GEMM_MR, CPU_GEMM_NR, 256, 144, 3072,
                                                cpu_microkernel_avx2};
/* 32 x 192 x 4 B = 24 KiB of B in L1; 384 x 192 x 4 B = 288 KiB of A in L2 */
static const cpu_gemm_kernel cpu_kernel_avx512 = {CPU_GEMM512_MR, CPU_GEMM512_NR, 192, 384, 4096,
                                                  cpu_microkernel_avx512};

/* 8 x 48 tiles, same KC as the 12 x 32 kernel (so that both give the same
 * bits); a 192 x 48 B micro-panel is 36 KiB of L1 */
static const cpu_gemm_kernel cpu_kernel_avx512_8 = {8, 48, 192, 384, 4096, cpu_microkernel_avx512_8x48};
#endif

/* m up to this many and a multiple of 8 but not of 12: the 8 x 48 kernel */
#define CPU_GEMM_8ROW_MAX_M 256

/* The kernel for an m-row product.  Everything that packs operands for
 * the blocked path (cpu_gemm_pack_a, cpu_gemm_packed_b_layout) asks with
 * the same m, so the layouts match the kernel that reads them. */
static const cpu_gemm_kernel *cpu_gemm_pick(const mlopt_backend_ctx *ctx, int m)
{
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (ctx->isa >= CPU_ISA_AVX512)
        return m <= CPU_GEMM_8ROW_MAX_M && m % 8 == 0 && m % 12 != 0 ? &cpu_kernel_avx512_8
                                                                    : &cpu_kernel_avx512;
    if (ctx->isa >= CPU_ISA_AVX2)
        return &cpu_kernel_avx2;
#else
    (void)ctx, (void)m;
#endif
    return &cpu_kernel_scalar;
}

/* Below this many multiply-adds a problem takes the unpacked small-GEMM
 * kernels (on AVX-512), and the packed path runs on one thread. */
#define CPU_GEMM_PARALLEL_MIN_FLOPS ((size_t)64 * 64 * 64)
/* From this many on, the unpacked small-GEMM kernels split their row
 * blocks over the pool.  Its helpers spin for 100 us after a kernel
 * (cpu_threadpool.c), so a GEMM issued right after another finds them
 * awake.  Measured on the seed CNN's per-image GEMMs (mlopt bench
 * --workloads cnn-gemm --threads 2, medians of 3 alternated runs):
 * 9x676x32 TN 62 -> 78 GFLOP/s and 32x9x676 NT 54 -> 77 at 195 K
 * multiply-adds; at 82 K (fc2: 10x128x64 TN, 64x128x10 NN) the fork-join
 * cost more than it saved, and so did splitting the packed path's
 * 32x676x9 (56 -> 44). */
#define CPU_GEMM_SPLIT_MIN_FLOPS ((size_t)1 << 17)
/* The small dot-product path wants several full 16-float chunks of k.
 * The unpacked NN path reads B rows where they lie (unaligned, split
 * cache lines); with k below 16 (a 3x3 single-channel conv's k = 9) that
 * costs as much as packing saves, measured on the seed CNN's shapes. */
#define CPU_GEMM_SMALL_DOT_MIN_K 64
#define CPU_GEMM_SMALL_NN_MIN_K 16
/* B not transposed and k up to this many: B's 32-column slices held in
 * registers instead (cpu_gemm_small_kstat_avx512).  mlopt bench
 * --workloads cnn-gemm --threads 2, GFLOP/s: the per-image 32x676x9 GEMM
 * of a 3x3 conv with one input channel 55 packed -> 85-90; fc2's 64x128x10
 * 97 packed -> 135-150. */
#define CPU_GEMM_KSTAT_MAX_K 12
/* m up to this many (B not transposed): all rows of C at once
 * (cpu_gemm_small_fewrows_avx512) */
#define CPU_GEMM_FEWROWS_MAX_M 12

/* B not transposed, m up to this many and n from this many on: the
 * blocked path's packing of B is skipped, B's rows are read where they lie
 * by the unpacked 8 x 48 kernel (cpu_gemm_small_nn_avx512) and the threads
 * split the columns.  With few rows, each packed B panel is used by only a
 * few row tiles, so packing it (k x n floats read and written: 800 KiB for
 * fc1's input gradient, 64 x 1600 x 128) costs about as much as the
 * arithmetic; A's m x k floats stay in L1/L2.  Medians of 9-11 alternated
 * runs against the packed path, GFLOP/s, one core unless said:
 * 64x1600x128 NN 119 -> 161 (2 threads 173 -> 205), 128x1600x64 TN
 * 144 -> 156, 32x2000x64 NN 104 -> 150, 128x512x128 NN 142 -> 157.
 * Narrower B (n = 121, 300) lost a few percent to the partial last
 * 48-column block. */
#define CPU_GEMM_BDIRECT_MAX_M 128
#define CPU_GEMM_BDIRECT_MIN_N 384

typedef struct cpu_gemm_job {
    const cpu_gemm_kernel *kern;
    int trans_a, trans_b;
    int m, n, k;
    float alpha, beta;
    const float *a;
    int lda;
    const float *b;
    int ldb;
    float *c;
    int ldc;
    mlopt_backend_ctx *ctx;
    const float *apacked; /* op(A) packed whole by cpu_gemm_pack_a, or NULL */
    const float *bpacked; /* op(B) in cpu_gemm_packed_b_layout, or NULL */
    int split_n;   /* threads take column stripes (else row stripes) */
    int stripe;    /* stripe width/height, a multiple of NR/MR */
    int nstripes;
    atomic_int next_stripe; /* stripes are handed out first come, first served */
} cpu_gemm_job;

/* One thread's view: the sub-problem it computes and its packing buffers. */
typedef struct cpu_gemm_part {
    const cpu_gemm_job *g;
    int m, n;          /* sizes of this part */
    const float *a, *b;
    float *c;
    float *pack_a, *pack_b;
    int row0;          /* first row of this part within C (row stripes) */
    int col0;          /* first column of this part within C (column stripes) */
    int jc, pc, kc;    /* current block */
} cpu_gemm_part;

static int cpu_round_up_int(int v, int to)
{
    return (v + to - 1) / to * to;
}

/* Packs op(B)[pc:pc+kc, jc + panel*NR : +NR] as kc rows of NR floats,
 * zero-padding columns beyond n. */
static void cpu_pack_b_panels(cpu_gemm_part *pt, int npanels)
{
    const cpu_gemm_job *g = pt->g;
    const int NR = g->kern->nr;
    for (int panel = 0; panel < npanels; panel++) {
        int j0 = pt->jc + panel * NR;
        int nr = pt->n - j0 < NR ? pt->n - j0 : NR;
        float *dst = pt->pack_b + (size_t)panel * pt->kc * NR;
        if (!g->trans_b) {
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (g->ctx->use_avx2 && nr == NR && NR % 8 == 0) {
                cpu_copy_rows_avx2(pt->b + (size_t)pt->pc * g->ldb + j0, (size_t)g->ldb, pt->kc, NR, dst);
                continue;
            }
#endif
            for (int p = 0; p < pt->kc; p++) {
                float *d = dst + (size_t)p * NR;
                const float *src = pt->b + (size_t)(pt->pc + p) * g->ldb + j0;
                if (nr == NR) {
                    memcpy(d, src, (size_t)NR * sizeof(float));
                    continue;
                }
                for (int j = 0; j < nr; j++)
                    d[j] = src[j];
                for (int j = nr; j < NR; j++)
                    d[j] = 0.0f;
            }
        } else {
            /* B stored n x k: read nr rows side by side so that every write
             * is a contiguous NR-float row of the panel */
            const float *src = pt->b + (size_t)j0 * g->ldb + pt->pc;
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (g->ctx->use_avx2) {
                cpu_transpose_copy_avx2(src, (size_t)g->ldb, nr, pt->kc, dst, NR);
                for (int p = 0; nr < NR && p < pt->kc; p++)
                    for (int j = nr; j < NR; j++)
                        dst[(size_t)p * NR + j] = 0.0f;
                continue;
            }
#endif
            for (int p = 0; p < pt->kc; p++) {
                float *d = dst + (size_t)p * NR;
                for (int j = 0; j < nr; j++)
                    d[j] = src[(size_t)j * g->ldb + p];
                for (int j = nr; j < NR; j++)
                    d[j] = 0.0f;
            }
        }
    }
}

/* Packs op(A)[i0:i0+mc, pc:pc+kc] as MR-row panels of kc x MR floats. */
static void cpu_pack_a_block(const cpu_gemm_part *pt, int i0, int mc)
{
    const cpu_gemm_job *g = pt->g;
    const int MR = g->kern->mr;
    for (int r = 0; r < mc; r += MR) {
        int mr = mc - r < MR ? mc - r : MR;
        float *panel = pt->pack_a + (size_t)r * pt->kc;
        if (g->trans_a) {
            /* A stored k x m: each k step's MR values are contiguous */
            for (int p = 0; p < pt->kc; p++) {
                const float *src = pt->a + (size_t)(pt->pc + p) * g->lda + i0 + r;
                float *d = panel + (size_t)p * MR;
                for (int i = 0; i < mr; i++)
                    d[i] = src[i];
                for (int i = mr; i < MR; i++)
                    d[i] = 0.0f;
            }
        } else {
            /* A stored m x k: read the mr rows side by side, write each k
             * step's MR values contiguously */
            const float *src = pt->a + (size_t)(i0 + r) * g->lda + pt->pc;
#if defined(CPU_HAVE_AVX2_KERNELS)
            if (g->ctx->use_avx2) {
                cpu_transpose_copy_avx2(src, (size_t)g->lda, mr, pt->kc, panel, MR);
                for (int p = 0; mr < MR && p < pt->kc; p++)
                    for (int i = mr; i < MR; i++)
                        panel[(size_t)p * MR + i] = 0.0f;
                continue;
            }
#endif
            for (int p = 0; p < pt->kc; p++) {
                float *d = panel + (size_t)p * MR;
                for (int i = 0; i < mr; i++)
                    d[i] = src[(size_t)i * g->lda + p];
                for (int i = mr; i < MR; i++)
                    d[i] = 0.0f;
            }
        }
    }
}

/* The sequential blocked algorithm on one part of C. */
static void cpu_gemm_part_run(cpu_gemm_part *pt)
{
    const cpu_gemm_job *g = pt->g;
    const cpu_gemm_kernel *kern = g->kern;
    for (int jc = 0; jc < pt->n; jc += kern->nc) {
        int nc = pt->n - jc < kern->nc ? pt->n - jc : kern->nc;
        int npanels = (nc + kern->nr - 1) / kern->nr;
        pt->jc = jc;
        for (int pc = 0; pc < g->k; pc += kern->kc) {
            pt->pc = pc;
            pt->kc = g->k - pc < kern->kc ? g->k - pc : kern->kc;
            /* Only the first k slice applies the caller's beta; later
             * slices accumulate into what the first one wrote. */
            float beta = pc == 0 ? g->beta : 1.0f;
            const float *bblock = pt->pack_b;
            if (g->bpacked) /* slice pc of all panels, then this block's first panel */
                bblock = g->bpacked + (size_t)pc * cpu_round_up_int(g->n, kern->nr) +
                         (size_t)(pt->col0 + jc) * pt->kc;
            else
                cpu_pack_b_panels(pt, npanels);
            for (int ic = 0; ic < pt->m; ic += kern->mc) {
                int mc = pt->m - ic < kern->mc ? pt->m - ic : kern->mc;
                const float *ablock = pt->pack_a;
                if (g->apacked) /* slice pc of all rows, then the block's panels */
                    ablock = g->apacked + (size_t)pc * cpu_round_up_int(g->m, kern->mr) +
                             (size_t)(pt->row0 + ic) * pt->kc;
                else
                    cpu_pack_a_block(pt, ic, mc);
                for (int jp = 0; jp < npanels; jp++) {
                    int j0 = jc + jp * kern->nr;
                    int nr = pt->n - j0 < kern->nr ? pt->n - j0 : kern->nr;
                    const float *bpanel = bblock + (size_t)jp * pt->kc * kern->nr;
                    for (int r = 0; r < mc; r += kern->mr) {
                        int mr = mc - r < kern->mr ? mc - r : kern->mr;
                        kern->fn(pt->kc, ablock + (size_t)r * pt->kc, bpanel, g->alpha, beta,
                                 pt->c + (size_t)(ic + r) * g->ldc + j0, g->ldc, mr, nr);
                    }
                }
            }
        }
    }
}

/* Each worker claims stripes of C's columns (or rows), with the matching
 * slice of op(B) (or op(A)), until none are left.  Claiming instead of a
 * fixed split keeps all cores busy when one worker starts late (a loaded
 * machine, a slow wake-up). */
static void cpu_gemm_stripes(void *arg, size_t begin, size_t end, int thread)
{
    (void)begin, (void)end;
    cpu_gemm_job *g = arg;
    for (;;) {
        int t = atomic_fetch_add(&g->next_stripe, 1);
        if (t >= g->nstripes)
            break;
        cpu_gemm_part pt = {.g = g, .m = g->m, .n = g->n, .a = g->a, .b = g->b, .c = g->c,
                            .pack_a = g->ctx->gemm_pack_a[thread].data,
                            .pack_b = g->ctx->gemm_pack_b[thread].data};
        int first = t * g->stripe;
        if (g->split_n) {
            if (first >= g->n)
                continue;
            pt.n = g->n - first < g->stripe ? g->n - first : g->stripe;
            pt.col0 = first;
            if (g->b)
                pt.b = g->trans_b ? g->b + (size_t)first * g->ldb : g->b + first;
            pt.c = g->c + first;
        } else {
            if (first >= g->m)
                continue;
            pt.m = g->m - first < g->stripe ? g->m - first : g->stripe;
            pt.row0 = first;
            if (g->a)
                pt.a = g->trans_a ? g->a + first : g->a + (size_t)first * g->lda;
            pt.c = g->c + (size_t)first * g->ldc;
        }
        cpu_gemm_part_run(&pt);
    }
}

static size_t cpu_round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}

/* Packing buffers of worker `thread` for an m x n x k part run with kern. */
static int cpu_gemm_reserve_for(mlopt_backend_ctx *ctx, const cpu_gemm_kernel *kern, int thread, int m, int n,
                                int k, const char *call)
{
    if (ctx->reference || m <= 0 || n <= 0 || k <= 0)
        return 0;
    size_t kc = (size_t)(k < kern->kc ? k : kern->kc);
    size_t nc = cpu_round_up((size_t)(n < kern->nc ? n : kern->nc), (size_t)kern->nr);
    size_t mc = cpu_round_up((size_t)(m < kern->mc ? m : kern->mc), (size_t)kern->mr);
    if (!cpu_scratch_reserve(ctx, &ctx->gemm_pack_b[thread], nc * kc * sizeof(float), call) ||
        !cpu_scratch_reserve(ctx, &ctx->gemm_pack_a[thread], mc * kc * sizeof(float), call))
        return 1;
    return 0;
}

int cpu_gemm_reserve(mlopt_backend_ctx *ctx, int thread, int m, int n, int k, const char *call)
{
    return cpu_gemm_reserve_for(ctx, cpu_gemm_pick(ctx, m), thread, m, n, k, call);
}

/* Multiply-adds of the largest stripe, padded to whole micro-tiles, when
 * kern's tiles are split over `threads` stripes as cpu_gemm_blocked does.
 * With 48-wide panels a 128-column product splits 96 + 32 over two
 * threads (fc1's forward, 64 x 128 x 1600: one thread does three
 * quarters); 12 x 32 tiles split it 64 + 64 at the cost of 72 rows for 64.
 * Both kernels give the same bits, so the better split decides. */
/* Width (split_n) or height of one thread's stripe: whole micro-tiles of
 * the split side, spread evenly over the threads. */
static int cpu_gemm_stripe_len(const cpu_gemm_kernel *kern, int split_n, int m, int n, int threads)
{
    int len = split_n ? n : m, unit = split_n ? kern->nr : kern->mr;
    int units = (len + unit - 1) / unit;
    return (units + threads - 1) / threads * unit;
}

static size_t cpu_gemm_stripe_work(const cpu_gemm_kernel *kern, int split_n, int m, int n, int threads)
{
    int stripe = cpu_gemm_stripe_len(kern, split_n, m, n, threads), len = split_n ? n : m;
    if (stripe > len)
        stripe = len;
    return (size_t)cpu_round_up_int(split_n ? m : stripe, kern->mr) *
           (size_t)cpu_round_up_int(split_n ? stripe : n, kern->nr);
}

/* Threads each take one stripe of C and run the whole blocked algorithm on
 * it with private packing buffers: one fork-join per GEMM and no barriers,
 * which matters on loaded machines where a descheduled helper would stall
 * every barrier.  Every element of C sees the same k slicing whatever the
 * thread count, so results are bit-identical across thread counts. */
static int cpu_gemm_blocked(mlopt_backend_ctx *ctx, int thread, int trans_a, int trans_b, int m,
                            int n, int k, float alpha, const float *a, int lda, const float *b,
                            int ldb, float beta, float *c, int ldc, const float *apacked,
                            const float *bpacked, const char *call)
{
    const cpu_gemm_kernel *kern = cpu_gemm_pick(ctx, m);
    cpu_gemm_job g = {.kern = kern, .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n,
                      .k = k, .alpha = alpha, .beta = beta, .a = a, .lda = lda, .b = b,
                      .ldb = ldb, .c = c, .ldc = ldc, .ctx = ctx, .apacked = apacked,
                      .bpacked = bpacked};
    int threads = thread >= 0 ? 1 : cpu_threads(ctx);
    if ((size_t)m * n * k < CPU_GEMM_PARALLEL_MIN_FLOPS)
        threads = 1;
    if (threads == 1) {
        int t = thread >= 0 ? thread : 0;
        /* inside a parallel loop the buffers were sized by cpu_gemm_reserve()
         * beforehand: no allocation (or shared error state) in workers */
        if (thread < 0 && cpu_gemm_reserve_for(ctx, kern, 0, m, n, k, call))
            return 1;
        g.split_n = 1;
        g.stripe = n;
        g.nstripes = 1;
        atomic_init(&g.next_stripe, 0);
        cpu_gemm_stripes(&g, 0, 1, t);
        return 0;
    }
    /* Split the longer side in whole micro-tiles, one stripe per thread.
     * Each stripe packs its own copy of the other operand, so every extra
     * stripe packs it again: with two stripes per thread (as before) a
     * 1024^3 GEMM packed all of B four times.  2 threads, medians of 7
     * alternated runs, GFLOP/s, two stripes per thread -> one: 256^3 241
     * -> 274, 1024^3 278 -> 291, 2048^3 283 -> 296, 256x128x1600 NT 228 ->
     * 261; 256x1600x128 NN within the noise (252 -> 223, 244 -> 226, 281
     * -> 292, 271 -> 284).  Stripes are still claimed, so a helper that
     * wakes late finds its stripe taken by the caller; one descheduled
     * after claiming holds the GEMM up either way. */
    g.split_n = n > m; /* rows on ties: duplicated B packing is a plain copy */
    if (!apacked && !bpacked && kern != &cpu_kernel_avx512 && ctx->isa >= CPU_ISA_AVX512 &&
        cpu_gemm_stripe_work(&cpu_kernel_avx512, g.split_n, m, n, threads) <
            cpu_gemm_stripe_work(kern, g.split_n, m, n, threads))
        g.kern = kern = &cpu_kernel_avx512;
    int len = g.split_n ? n : m;
    g.stripe = cpu_gemm_stripe_len(kern, g.split_n, m, n, threads);
    g.nstripes = (len + g.stripe - 1) / g.stripe;
    atomic_init(&g.next_stripe, 0);
    for (int t = 0; t < threads; t++)
        if (cpu_gemm_reserve_for(ctx, kern, t, g.split_n ? m : g.stripe, g.split_n ? g.stripe : n, k, call))
            return 1;
    cpu_threadpool_run(ctx->pool, (size_t)threads, cpu_gemm_stripes, &g);
    return 0;
}

#if defined(CPU_HAVE_AVX2_KERNELS)
typedef struct cpu_gemm_small_job {
    int trans_a, trans_b, m, n, k, rows;
    int narrow; /* n <= 16: cpu_gemm_small_narrow_avx512 or, B transposed, ..._dot_narrow_avx512 */
    int kstat;  /* B not transposed, k <= 12, n > 16: cpu_gemm_small_kstat_avx512 */
    int fewrows; /* B not transposed, m <= 12: cpu_gemm_small_fewrows_avx512 */
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} cpu_gemm_small_job;

/* Row blocks [begin, end) of a small GEMM. */
static void cpu_gemm_small_rows(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_gemm_small_job *j = arg;
    if (j->fewrows) { /* blocks of 32 columns: all rows are one block */
        int c0 = (int)begin * 32, c1 = (int)end * 32 < j->n ? (int)end * 32 : j->n;
        if (c1 > c0)
            cpu_gemm_small_fewrows_avx512(j->trans_a, j->m, c1 - c0, j->k, cpu_kernel_avx512.kc, j->alpha, j->a,
                                          j->lda, j->b + c0, j->ldb, j->beta, j->c + c0, j->ldc);
        return;
    }
    int r0 = (int)begin * j->rows, r1 = (int)end * j->rows < j->m ? (int)end * j->rows : j->m;
    if (r1 <= r0)
        return;
    /* op(A) row r: A[r][.] (A[.][r] when transposed) */
    const float *a = j->trans_a ? j->a + r0 : j->a + (size_t)r0 * j->lda;
    float *c = j->c + (size_t)r0 * j->ldc;
    if (j->kstat)
        cpu_gemm_small_kstat_avx512(j->trans_a, r1 - r0, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb, j->beta, c,
                                    j->ldc);
    else if (j->narrow && j->trans_b)
        cpu_gemm_small_dot_narrow_avx512(r1 - r0, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb, j->beta, c,
                                         j->ldc);
    else if (j->narrow)
        cpu_gemm_small_narrow_avx512(j->trans_a, r1 - r0, j->n, j->k, cpu_kernel_avx512.kc, j->alpha, a, j->lda,
                                     j->b, j->ldb, j->beta, c, j->ldc);
    else if (!j->trans_b)
        cpu_gemm_small_nn_avx512(j->trans_a, r1 - r0, j->n, j->k, cpu_kernel_avx512.kc, j->alpha, a, j->lda, j->b,
                                 j->ldb, j->beta, c, j->ldc);
    else
        cpu_gemm_small_dot_avx512(r1 - r0, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb, j->beta, c, j->ldc);
}

static int cpu_gemm_b_in_place(const mlopt_backend_ctx *ctx, int trans_b, int m, int n)
{
    return !trans_b && m <= CPU_GEMM_BDIRECT_MAX_M && n >= CPU_GEMM_BDIRECT_MIN_N && ctx->isa >= CPU_ISA_AVX512;
}

/* Column blocks [begin, end) of a GEMM whose B is read in place. */
static void cpu_gemm_bdirect_cols(void *arg, size_t begin, size_t end, int thread)
{
    (void)thread;
    const cpu_gemm_small_job *j = arg;
    int c0 = (int)begin * 48, c1 = (int)end * 48 < j->n ? (int)end * 48 : j->n;
    if (c1 > c0)
        cpu_gemm_small_nn_avx512(j->trans_a, j->m, c1 - c0, j->k, cpu_kernel_avx512.kc, j->alpha, j->a, j->lda,
                                 j->b + c0, j->ldb, j->beta, j->c + c0, j->ldc);
}
#endif

/* Problems that run on one thread anyway and fit in L2 take the unpacked
 * kernels of cpu_gemm_small_avx512.c.  The dot-product form needs k long
 * enough to fill its vectors. */
int cpu_gemm_is_small(const mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k)
{
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (ctx->reference || ctx->isa < CPU_ISA_AVX512 ||
        (size_t)m * n * k >= CPU_GEMM_PARALLEL_MIN_FLOPS)
        return 0;
    if (n <= 16 && !(trans_a && trans_b))
        return 1; /* the narrow kernels */
    if (!trans_b && k <= CPU_GEMM_KSTAT_MAX_K)
        return 1; /* B held in registers */
    return trans_b ? !trans_a && k >= CPU_GEMM_SMALL_DOT_MIN_K : k >= CPU_GEMM_SMALL_NN_MIN_K;
#else
    (void)ctx, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k;
    return 0;
#endif
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
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (cpu_gemm_is_small(ctx, trans_a, trans_b, m, n, k)) {
        cpu_gemm_small_job j = {.trans_a = trans_a, .trans_b = trans_b, .n = n, .k = k, .alpha = alpha,
                                .a = a, .lda = lda, .b = b, .ldb = ldb, .beta = beta, .c = c, .ldc = ldc};
        /* n <= 16 columns: the narrow kernels */
        if (n <= 16)
            j.narrow = 1;
        else if (!trans_b && k <= CPU_GEMM_KSTAT_MAX_K)
            j.kstat = 1;
        else if (!trans_b && m <= CPU_GEMM_FEWROWS_MAX_M)
            j.fewrows = 1;
        /* row blocks of the kernels (12 rows narrow, 2 narrow dot, 8 kstat,
         * 8 NN, 4 dot; few rows: 32-column blocks);
         * each element's arithmetic is the same whichever block holds it */
        j.rows = j.narrow ? (trans_b ? 2 : 12) : j.kstat ? 8 : trans_b ? 4 : 8;
        size_t blocks = j.fewrows ? ((size_t)n + 31) / 32 : ((size_t)m + (size_t)j.rows - 1) / (size_t)j.rows;
        j.m = m;
        if (thread < 0 && blocks > 1 && (size_t)m * n * k >= CPU_GEMM_SPLIT_MIN_FLOPS)
            cpu_parallel_elems(ctx, blocks, 2, cpu_gemm_small_rows, &j);
        else
            cpu_gemm_small_rows(&j, 0, blocks, 0);
        return 0;
    }
    if (cpu_gemm_b_in_place(ctx, trans_b, m, n)) {
        /* few rows, many columns: B in place, threads split the columns */
        cpu_gemm_small_job j = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k, .alpha = alpha,
                                .a = a, .lda = lda, .b = b, .ldb = ldb, .beta = beta, .c = c, .ldc = ldc};
        size_t blocks = ((size_t)n + 47) / 48;
        if (thread < 0)
            cpu_parallel_elems(ctx, blocks, 2, cpu_gemm_bdirect_cols, &j);
        else
            cpu_gemm_bdirect_cols(&j, 0, blocks, 0);
        return 0;
    }
#endif
    return cpu_gemm_blocked(ctx, thread, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                            c, ldc, NULL, NULL, call);
}

size_t cpu_gemm_packed_a_floats(const mlopt_backend_ctx *ctx, int m, int k)
{
    if (ctx->reference || m <= 0 || k <= 0)
        return 0;
    return (size_t)cpu_round_up_int(m, cpu_gemm_pick(ctx, m)->mr) * (size_t)k;
}

/* Every k slice of op(A), each as the MR-row panels cpu_pack_a_block
 * writes for a block of all m rows. */
void cpu_gemm_pack_a(mlopt_backend_ctx *ctx, int trans_a, int m, int k, const float *a, int lda,
                     float *dst)
{
    const cpu_gemm_kernel *kern = cpu_gemm_pick(ctx, m);
    cpu_gemm_job g = {.kern = kern, .trans_a = trans_a, .m = m, .k = k, .a = a, .lda = lda,
                      .ctx = ctx};
    size_t mpad = (size_t)cpu_round_up_int(m, kern->mr);
    for (int pc = 0; pc < k; pc += kern->kc) {
        cpu_gemm_part pt = {.g = &g, .m = m, .a = a, .pack_a = dst + (size_t)pc * mpad, .pc = pc,
                            .kc = k - pc < kern->kc ? k - pc : kern->kc};
        cpu_pack_a_block(&pt, 0, m);
    }
}

int cpu_gemm_dispatch_packed_a(mlopt_backend_ctx *ctx, int thread, int m, int n, int k,
                               const float *apacked, int trans_b, const float *b, int ldb,
                               float beta, float *c, int ldc, const char *call)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return cpu_gemm_dispatch(ctx, thread, 0, trans_b, m, n, k, 1.0f, NULL, 1, b, ldb, beta,
                                 c, ldc, call);
    return cpu_gemm_blocked(ctx, thread, 0, trans_b, m, n, k, 1.0f, NULL, 1, b, ldb, beta, c,
                            ldc, apacked, NULL, call);
}

int cpu_gemm_blocked_packs(const mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k)
{
    if (ctx->reference || m <= 0 || n <= 0 || k <= 0 || cpu_gemm_is_small(ctx, trans_a, trans_b, m, n, k))
        return 0;
#if defined(CPU_HAVE_AVX2_KERNELS)
    if (cpu_gemm_b_in_place(ctx, trans_b, m, n))
        return 0;
#endif
    return 1;
}

int cpu_gemm_dispatch_packed_b(mlopt_backend_ctx *ctx, int thread, int m, int n, int k, const float *a,
                               int lda, const float *bpacked, float beta, float *c, int ldc, const char *call)
{
    return cpu_gemm_blocked(ctx, thread, 0, 1, m, n, k, 1.0f, a, lda, NULL, 1, beta, c, ldc, NULL, bpacked,
                            call);
}

void cpu_gemm_packed_b_layout(const mlopt_backend_ctx *ctx, int m, int *nr, int *kc)
{
    const cpu_gemm_kernel *kern = cpu_gemm_pick(ctx, m);
    *nr = kern->nr;
    *kc = kern->kc;
}

int cpu_gemm_dispatch_packed_ab(mlopt_backend_ctx *ctx, int thread, int m, int n, int k,
                                const float *apacked, const float *bpacked, float beta, float *c,
                                int ldc, const char *call)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return cpu_gemm_dispatch(ctx, thread, 0, 0, m, n, 0, 1.0f, NULL, 1, NULL, 1, beta, c,
                                 ldc, call);
    return cpu_gemm_blocked(ctx, thread, 0, 0, m, n, k, 1.0f, NULL, 1, NULL, 1, beta, c, ldc,
                            apacked, bpacked, call);
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
