/* Private declarations shared by the CPU backend's source files. */
#ifndef MLOPT_CPU_INTERNAL_H
#define MLOPT_CPU_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mlopt/backend.h"

/* ---- thread pool (cpu_threadpool.c) ---- */

typedef struct cpu_threadpool cpu_threadpool;

/* Body of a parallel loop: handles tasks [begin, end) on worker `thread`. */
typedef void (*cpu_parallel_fn)(void *arg, size_t begin, size_t end, int thread);

/* Starts nthreads-1 helper threads (the caller is the remaining one).
 * Returns NULL on failure. */
cpu_threadpool *cpu_threadpool_create(int nthreads);
void cpu_threadpool_destroy(cpu_threadpool *pool);
int cpu_threadpool_size(const cpu_threadpool *pool);
/* Runs fn over [0, ntasks) split into at most size() contiguous chunks of
 * equal size (static chunking) and returns when all are done.  With one
 * thread or one task it simply calls fn on the caller's thread. */
void cpu_threadpool_run(cpu_threadpool *pool, size_t ntasks, cpu_parallel_fn fn, void *arg);
/* Which chunk of a loop over ntasks starts at `begin` (0 .. size()-1).
 * Chunks may run on any thread, so a reduction that wants the same answer
 * every time keys its partial results by chunk, not by thread. */
size_t cpu_threadpool_chunk_index(const cpu_threadpool *pool, size_t ntasks, size_t begin);

/* ---- CPU features (cpu_features.c) ---- */

typedef struct cpu_features {
    int avx2_fma; /* AVX2 + FMA instructions present and YMM state enabled by the OS */
    int avx512f;  /* AVX-512F present and ZMM / opmask state enabled by the OS */
} cpu_features;

/* Instruction set a context's fast path uses, best last. */
enum cpu_isa { CPU_ISA_SCALAR = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2 };

void cpu_detect_features(cpu_features *out);

/* ---- buffers and context ---- */

struct mlopt_buffer {
    void *data;   /* 64-byte aligned */
    size_t bytes;
};

/* A growable scratch area kept in the context so that hot kernels do not
 * allocate on every call. */
typedef struct cpu_scratch {
    void *data;
    size_t bytes;
} cpu_scratch;

#define CPU_MAX_THREADS 256

struct mlopt_backend_ctx {
    char error[512];
    mlopt_backend_stats stats;
    int reference;     /* MLOPT_CPU_REF=1: scalar, single-threaded paths only */
    int isa;           /* enum cpu_isa: best SIMD level detected, capped by MLOPT_CPU_ISA */
    int use_avx2;      /* AVX2/FMA kernels usable (and not in reference mode) */
    cpu_threadpool *pool;
    /* conv im2col columns, and GEMM packing areas (one per thread for A) */
    cpu_scratch conv_cols[CPU_MAX_THREADS];
    cpu_scratch conv_dw[CPU_MAX_THREADS]; /* per-thread partial filter gradients */
    cpu_scratch gemm_pack_b[CPU_MAX_THREADS]; /* [0] is shared by a pooled GEMM */
    cpu_scratch gemm_pack_a[CPU_MAX_THREADS];
    cpu_scratch conv_wpack; /* a convolution's weights packed once per call */
};

/* Records a printf-style message for last_error(); returns 1 so that
 * callers can write `return cpu_fail(ctx, ...)`. */
int cpu_fail(mlopt_backend_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Resolves a ref to a host pointer after checking that `bytes` bytes from
 * its offset lie inside its buffer.  On failure records an error naming
 * `call` and `what` and returns NULL. */
void *cpu_ref_ptr(mlopt_backend_ctx *ctx, mlopt_ref ref, size_t bytes, const char *call,
                  const char *what);

/* Makes sure the scratch area holds at least `bytes`; returns its pointer
 * (64-byte aligned) or NULL with an error recorded. */
void *cpu_scratch_reserve(mlopt_backend_ctx *ctx, cpu_scratch *s, size_t bytes, const char *call);
void cpu_scratch_release(cpu_scratch *s);

void *cpu_aligned_alloc(size_t bytes);

static inline int cpu_threads(const mlopt_backend_ctx *ctx)
{
    return cpu_threadpool_size(ctx->pool);
}

/* Elements per parallel task for streaming elementwise kernels: small
 * arrays stay on one thread because waking helpers costs microseconds. */
#define CPU_PAR_MIN_ELEMS ((size_t)1 << 15)

/* Runs fn over n elements: on the calling thread in reference mode or when
 * n is small, otherwise split evenly over the pool. */
static inline void cpu_parallel_elems(mlopt_backend_ctx *ctx, size_t n, size_t min_parallel,
                                      cpu_parallel_fn fn, void *arg)
{
    if (ctx->reference || n < min_parallel || cpu_threads(ctx) == 1)
        fn(arg, 0, n, 0);
    else
        cpu_threadpool_run(ctx->pool, n, fn, arg);
}

/* Checked float pointer for `count` floats; NULL (error recorded) if the
 * ref does not hold them. */
static inline float *cpu_fptr(mlopt_backend_ctx *ctx, mlopt_ref ref, size_t count,
                              const char *call, const char *what)
{
    if (count > SIZE_MAX / sizeof(float)) {
        cpu_fail(ctx, "%s: %s size overflows", call, what);
        return NULL;
    }
    return (float *)cpu_ref_ptr(ctx, ref, count * sizeof(float), call, what);
}

static inline void cpu_count_kernel(mlopt_backend_ctx *ctx)
{
    ctx->stats.kernels++;
    ctx->stats.submissions++;
}

/* ---- GEMM (cpu_gemm_ref.c, cpu_gemm.c, cpu_gemm_avx2.c) ---- */

/* The scalar reference on raw pointers (row-major, strides in elements). */
void cpu_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc);
/* The dispatched GEMM used by every kernel (reference or packed/SIMD).
 * thread < 0: may use the whole pool.  thread >= 0: the caller is already
 * inside a parallel loop as that worker; runs on it alone with that
 * worker's packing buffers, which cpu_gemm_reserve() must have sized.
 * Returns non-zero only when scratch memory cannot be obtained. */
int cpu_gemm_dispatch(mlopt_backend_ctx *ctx, int thread, int trans_a, int trans_b, int m, int n,
                      int k, float alpha, const float *a, int lda, const float *b, int ldb,
                      float beta, float *c, int ldc, const char *call);
/* op(A) packed once and used by many GEMMs (a convolution's weights, one
 * product per image): cpu_gemm_packed_a_floats() floats at dst (0 in
 * reference mode: then pack nothing and call cpu_gemm_dispatch).  The
 * product is alpha = 1, C = op(A) op(B) + beta C, bit-identical to
 * cpu_gemm_dispatch's blocked path on the unpacked A. */
size_t cpu_gemm_packed_a_floats(const mlopt_backend_ctx *ctx, int m, int k);
/* The product takes the unpacked small-problem path (then packing A
 * ahead is wasted work). */
int cpu_gemm_is_small(const mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k);
void cpu_gemm_pack_a(mlopt_backend_ctx *ctx, int trans_a, int m, int k, const float *a, int lda,
                     float *dst);
int cpu_gemm_dispatch_packed_a(mlopt_backend_ctx *ctx, int thread, int m, int n, int k,
                               const float *apacked, int trans_b, const float *b, int ldb,
                               float beta, float *c, int ldc, const char *call);
/* op(B) produced directly in packed form (a convolution's im2col): for
 * each k slice pc (kc deep, the last one shorter), for each nr-wide panel
 * of columns, the slice's rows of nr floats, columns past n zero; slice pc
 * starts at pc * round_up(n, nr).  With both operands packed the product is
 * C = op(A) op(B) + beta C, bit-identical to cpu_gemm_dispatch's blocked
 * path on the unpacked operands. */
void cpu_gemm_packed_b_layout(const mlopt_backend_ctx *ctx, int m, int *nr, int *kc);
/* op(A) = A (m x k, row stride lda) read as usual, op(B) given packed in
 * that layout: the same product and bits as cpu_gemm_dispatch would give
 * where cpu_gemm_blocked_packs() says it takes the blocked path. */
int cpu_gemm_dispatch_packed_b(mlopt_backend_ctx *ctx, int thread, int m, int n, int k, const float *a,
                               int lda, const float *bpacked, float beta, float *c, int ldc, const char *call);
/* Whether cpu_gemm_dispatch runs this product on the packed, blocked path
 * (not the reference or one of the unpacked small-GEMM kernels). */
int cpu_gemm_blocked_packs(const mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k);
int cpu_gemm_dispatch_packed_ab(mlopt_backend_ctx *ctx, int thread, int m, int n, int k,
                                const float *apacked, const float *bpacked, float beta, float *c,
                                int ldc, const char *call);
/* Sizes worker `thread`'s packing buffers for an m x n x k product. */
int cpu_gemm_reserve(mlopt_backend_ctx *ctx, int thread, int m, int n, int k, const char *call);

/* Blocked GEMM building blocks.  The portable and AVX2 micro-kernels use
 * a 6x16 tile; the AVX-512 one a 12x32 tile. */
#define CPU_GEMM_MR 6
#define CPU_GEMM_NR 16
#define CPU_GEMM512_MR 12
#define CPU_GEMM512_NR 32

/* Micro-kernel: acc[MR][NR] = sum_p apanel[p*MR+i] * bpanel[p*NR+j]; then
 * C[i][j] = alpha*acc + beta*C (beta == 0: C not read) for i < mr, j < nr. */
typedef void (*cpu_microkernel_fn)(int kc, const float *apanel, const float *bpanel, float alpha,
                                   float beta, float *c, int ldc, int mr, int nr);
void cpu_microkernel_scalar(int kc, const float *apanel, const float *bpanel, float alpha,
                            float beta, float *c, int ldc, int mr, int nr);
#if defined(MLOPT_CPU_X86_KERNELS) /* set by CMakeLists.txt when it builds them */
#define CPU_HAVE_AVX2_KERNELS 1
void cpu_microkernel_avx2(int kc, const float *apanel, const float *bpanel, float alpha,
                          float beta, float *c, int ldc, int mr, int nr);
/* cpu_pack_avx2.c: dst[p*dst_stride + i] = src[i*ld + p], i < rows, p < kc */
void cpu_transpose_copy_avx2(const float *src, size_t ld, int rows, int kc, float *dst,
                             int dst_stride);
/* cpu_pack_avx2.c: dst[p*width + j] = src[p*ld + j], width a multiple of 8 */
void cpu_copy_rows_avx2(const float *src, size_t ld, int rows, int width, float *dst);
/* cpu_pool_avx2.c: one output row of 2x2/2 max pooling from input rows r0,
 * r1: forward when y, else backward into d0, d1 (dy given).  Returns how
 * many outputs it did: all of them when ow >= 8, none otherwise. */
int cpu_maxpool2x2_row_avx2(const float *r0, const float *r1, int ow, float *y, const float *dy,
                            float *d0, float *d1);
/* cpu_act_avx2.c: slope 0 is ReLU, otherwise leaky ReLU */
void cpu_relu_forward_avx2(size_t begin, size_t end, float slope, const float *x, float *y);
void cpu_relu_backward_avx2(size_t begin, size_t end, float slope, const float *x,
                            const float *dy, float *dx);
/* cpu_conv_avx2.c: direct convolution of one input channel, stride 1, no
 * padding or dilation: y[ko][oy][ox] = sum_{kr,ks} w[ko][kr][ks] x[oy+kr][ox+ks] (+ bias) */
void cpu_conv_direct_c1_avx2(int r, int s, int w_in, int oh, int ow, int kg, const float *x,
                             const float *wt, const float *bias, float *y);
/* cpu_conv_avx2.c: dW of the same (3x3 only) for one image; accumulate 0 overwrites dw */
void cpu_conv_direct_c1_dw3x3_avx2(int w_in, int oh, int ow, int kg, const float *x,
                                   const float *dy, int accumulate, float *dw);
void cpu_microkernel_avx512(int kc, const float *apanel, const float *bpanel, float alpha,
                            float beta, float *c, int ldc, int mr, int nr);
/* cpu_gemm_avx512_8x48.c: the same contract for 8 x 48 tiles (A panels of
 * 8 rows, B panels of 48 columns) */
void cpu_microkernel_avx512_8x48(int kc, const float *apanel, const float *bpanel, float alpha,
                                 float beta, float *c, int ldc, int mr, int nr);
/* cpu_conv_avx512.c: im2col / col2im (accumulating) of one group of one
 * image, for stride_w == dil_w == 1 */
typedef struct cpu_im2col_geom {
    int cg, h, w, r, s, oh, ow;
    int stride_h, pad_h, pad_w, dil_h, dil_w;
} cpu_im2col_geom;
void cpu_im2col_s1_avx512(const cpu_im2col_geom *g, const float *x, float *cols);
/* col2im writes dx (no need to zero it first) */
void cpu_col2im_s1_avx512(const cpu_im2col_geom *g, const float *cols, float *dx);
/* im2col written straight into the packed B layout of cpu_gemm_packed_b_layout */
void cpu_im2col_packed_avx512(const cpu_im2col_geom *g, const float *x, int nr, int kc,
                              float *dst);
/* The transpose, cols^T (k = output pixels, n = taps), in that layout, for
 * the filter gradient dW = dy . cols^T; 0 (nothing written) where the
 * geometry does not suit it (padding, strides, wide rows) */
int cpu_im2col_packed_t_avx512(const cpu_im2col_geom *g, const float *x, int nr, int kc, float *dst);
/* cpu_conv_direct_avx512.c: cpu_conv_direct_c1_avx2 for 3x3 filters and
 * rows of 16 to 32 outputs (returns 1), 0 (nothing written) otherwise */
int cpu_conv_direct_c1_3x3_avx512(int w_in, int oh, int ow, int kg, const float *x, const float *wt,
                                  const float *bias, float *y);
/* ... and cpu_conv_direct_c1_dw3x3_avx2 (any row length), with the bias
 * gradient into db unless it is NULL */
void cpu_conv_direct_c1_dw3x3_avx512(int w_in, int oh, int ow, int kg, const float *x, const float *dy,
                                     int accumulate, float *dw, float *db);
/* cpu_pool_avx512.c: cpu_maxpool2x2_row_avx2 for rows of 1 to 16 outputs
 * (returns ow), 0 for longer rows */
int cpu_maxpool2x2_row_avx512(const float *r0, const float *r1, int ow, float *y,
                              const float *dy, float *d0, float *d1);
/* cpu_gemm_small_avx512.c: unpacked GEMMs for problems too small to
 * repay packing.  nn: B not transposed, k cut in kc_max slices like the
 * blocked path (same bits); dot: A not transposed, B transposed. */
void cpu_gemm_small_nn_avx512(int trans_a, int m, int n, int k, int kc_max, float alpha,
                              const float *a, int lda, const float *b, int ldb, float beta,
                              float *c, int ldc);
void cpu_gemm_small_narrow_avx512(int trans_a, int m, int n, int k, int kc_max, float alpha,
                                  const float *a, int lda, const float *b, int ldb, float beta,
                                  float *c, int ldc);
void cpu_gemm_small_kstat_avx512(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                                 const float *b, int ldb, float beta, float *c, int ldc);
void cpu_gemm_small_fewrows_avx512(int trans_a, int m, int n, int k, int kc_max, float alpha, const float *a,
                                   int lda, const float *b, int ldb, float beta, float *c, int ldc);
void cpu_gemm_small_dot_narrow_avx512(int m, int n, int k, float alpha, const float *a, int lda,
                                      const float *b, int ldb, float beta, float *c, int ldc);
void cpu_gemm_small_dot_avx512(int m, int n, int k, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc);
#endif

#endif
