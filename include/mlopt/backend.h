/*
 * mlopt backend plugin ABI.
 *
 * A backend is a shared module that exports one C symbol,
 *
 *     const mlopt_backend *mlopt_backend_entry(void);
 *
 * returning a statically allocated table of function pointers.  This header
 * (with <stddef.h>/<stdint.h>) is all a third-party backend needs.
 *
 * Versioning (in the spirit of sqlite3_vfs.iVersion):
 *   - abi_major must equal MLOPT_BACKEND_ABI_MAJOR of the core, or the plugin
 *     is refused.  The major version changes only if an existing slot changes
 *     meaning or signature, which we promise not to do within a major.
 *   - The struct is append-only.  New slots go at the end and bump
 *     MLOPT_BACKEND_ABI_MINOR.  A plugin sets struct_size = sizeof(mlopt_backend)
 *     as it was compiled; the core treats every slot at or beyond struct_size
 *     as NULL, so an old plugin keeps working with a newer core.
 *   - A NULL slot means "not supported": the core reports
 *     "backend NAME does not implement SLOT" instead of crashing.
 *
 * Conventions for every slot:
 *   - Tensors are dense, row-major (NCHW for images), float32 unless a slot
 *     says otherwise.  A tensor argument is an mlopt_ref: a buffer plus a byte
 *     offset into it.  Offsets of float tensors are multiples of 4.
 *   - Kernels may run asynchronously, in submission order.  Only
 *     synchronize() and download() wait.  Host pointers passed to upload()
 *     may be reused as soon as upload() returns.
 *   - Every slot returns 0 on success; non-zero means failure, and
 *     last_error(ctx) then describes it (naming the failing call).
 *   - Outputs are overwritten unless a slot says it accumulates ("+=").
 *   - A context is used by one host thread at a time.
 */
#ifndef MLOPT_BACKEND_H
#define MLOPT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLOPT_BACKEND_ABI_MAJOR 1
#define MLOPT_BACKEND_ABI_MINOR 1
#define MLOPT_BACKEND_ENTRY_SYMBOL "mlopt_backend_entry"

#if defined(_WIN32)
#define MLOPT_BACKEND_EXPORT __declspec(dllexport)
#else
#define MLOPT_BACKEND_EXPORT __attribute__((visibility("default")))
#endif

typedef struct mlopt_buffer mlopt_buffer;           /* opaque, backend-defined */
typedef struct mlopt_backend_ctx mlopt_backend_ctx; /* opaque, backend-defined */

/* A tensor location: buffer and byte offset. */
typedef struct mlopt_ref {
    mlopt_buffer *buf;
    size_t offset;
} mlopt_ref;

typedef enum mlopt_device_type {
    MLOPT_DEVICE_CPU = 0,      /* the host CPU, native code */
    MLOPT_DEVICE_GPU = 1,      /* discrete GPU */
    MLOPT_DEVICE_IGPU = 2,     /* integrated GPU */
    MLOPT_DEVICE_SOFTWARE = 3, /* a GPU API emulated on the CPU (PoCL, lavapipe) */
    MLOPT_DEVICE_OTHER = 4
} mlopt_device_type;

typedef struct mlopt_device_info {
    char name[128];
    char vendor[64];
    char driver[64];       /* driver / API version string */
    int type;              /* mlopt_device_type */
    uint64_t memory_bytes; /* 0 if unknown */
    int compute_units;     /* cores / CUs / SMs, 0 if unknown */
    int subgroup_size;     /* 0 if unknown / not applicable */
    int usable;            /* 0: listed but cannot be used (see why) */
    char why[128];         /* reason when !usable */
} mlopt_device_info;

/* Counters since create() or the last reset_stats(). */
typedef struct mlopt_backend_stats {
    uint64_t host_syncs;   /* times the host waited for the device */
    uint64_t submissions;  /* command-buffer / queue submissions */
    uint64_t kernels;      /* kernels enqueued */
    uint64_t bytes_h2d;
    uint64_t bytes_d2h;
} mlopt_backend_stats;

typedef enum mlopt_act {
    MLOPT_ACT_IDENTITY = 0,
    MLOPT_ACT_RELU = 1,
    MLOPT_ACT_LEAKY_RELU = 2, /* alpha = negative slope */
    MLOPT_ACT_ELU = 3,        /* alpha */
    MLOPT_ACT_GELU = 4,       /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    MLOPT_ACT_SILU = 5,
    MLOPT_ACT_TANH = 6,
    MLOPT_ACT_SIGMOID = 7,
    MLOPT_ACT_HARD_SIGMOID = 8, /* max(0, min(1, alpha x + beta)) */
    MLOPT_ACT_HARD_SWISH = 9,   /* x * max(0, min(1, x/6 + 1/2)) */
    MLOPT_ACT_COUNT_ = 10
} mlopt_act;

typedef enum mlopt_pool_mode {
    MLOPT_POOL_MAX = 0,
    MLOPT_POOL_AVG = 1,          /* divisor: elements inside the input */
    MLOPT_POOL_AVG_INCL_PAD = 2  /* divisor: kernel area */
} mlopt_pool_mode;

/* Convolution geometry.  The caller computes oh/ow (so ceil modes and
 * asymmetric end padding need no extra fields): input positions outside
 * [0,h) x [0,w) read as zero. Weights are [k][c/groups][r][s]. */
typedef struct mlopt_conv2d_params {
    int n, c, h, w;       /* input */
    int k, r, s;          /* output channels, kernel height, kernel width */
    int stride_h, stride_w;
    int pad_h, pad_w;     /* leading (top/left) padding */
    int dil_h, dil_w;
    int groups;
    int oh, ow;           /* output spatial size */
} mlopt_conv2d_params;

typedef struct mlopt_pool2d_params {
    int n, c, h, w;
    int kh, kw;
    int stride_h, stride_w;
    int pad_h, pad_w;     /* leading padding */
    int dil_h, dil_w;
    int oh, ow;
} mlopt_pool2d_params;

/* Dropout's keep decision, shared by every backend so that masks are
 * identical everywhere: element i of a call with seed s is kept when
 * mlopt_dropout_u24(s, i) >= p * 2^24. Backends reimplement this exact
 * integer function in their kernel language. */
static inline uint32_t mlopt_dropout_u24(uint32_t seed, uint32_t i)
{
    uint32_t h = i * 0x9E3779B1u ^ seed;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h >> 8;
}

typedef struct mlopt_backend mlopt_backend;

struct mlopt_backend {
    /* ---- identity (ABI 1.0) ---- */
    uint32_t abi_major;   /* MLOPT_BACKEND_ABI_MAJOR */
    uint32_t abi_minor;   /* MLOPT_BACKEND_ABI_MINOR the plugin was built with */
    size_t struct_size;   /* sizeof(mlopt_backend) the plugin was built with */
    const char *name;     /* short, lower-case: "cpu", "opencl", ... */
    const char *description;

    /* ---- discovery and lifecycle ---- */
    /* Fill up to max entries of devs, set *count to the number found.  Return
     * non-zero (with err) when the backend cannot run at all (no driver). */
    int (*probe)(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen);
    /* selector: NULL = default device; otherwise an index ("0", "1:0") or a
     * case-insensitive substring of the device name. */
    int (*create)(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen);
    void (*destroy)(mlopt_backend_ctx *ctx);
    const char *(*last_error)(mlopt_backend_ctx *ctx);
    int (*device_info)(mlopt_backend_ctx *ctx, mlopt_device_info *out);
    int (*set_num_threads)(mlopt_backend_ctx *ctx, int n); /* host threads, where meaningful */
    int (*get_stats)(mlopt_backend_ctx *ctx, mlopt_backend_stats *out);
    int (*reset_stats)(mlopt_backend_ctx *ctx);

    /* ---- memory ---- */
    int (*buffer_alloc)(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out);
    void (*buffer_free)(mlopt_backend_ctx *ctx, mlopt_buffer *buf);
    int (*upload)(mlopt_backend_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes);
    int (*download)(mlopt_backend_ctx *ctx, void *dst, mlopt_ref src, size_t bytes); /* waits */
    int (*copy)(mlopt_backend_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes);
    int (*fill)(mlopt_backend_ctx *ctx, mlopt_ref dst, float value, size_t count); /* count floats */
    int (*synchronize)(mlopt_backend_ctx *ctx);

    /* ---- dense linear algebra ---- */
    /* C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.  Row-major; lda etc.
     * are row strides in elements of the stored (untransposed) matrices.
     * beta == 0 means C is not read (NaNs in C do not propagate). */
    int (*gemm)(mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                float alpha, mlopt_ref a, int lda, mlopt_ref b, int ldb,
                float beta, mlopt_ref c, int ldc);
    /* batch independent GEMMs, matrix i at base + i * stride (elements). */
    int (*gemm_strided_batched)(mlopt_backend_ctx *ctx, int trans_a, int trans_b,
                                int m, int n, int k, float alpha,
                                mlopt_ref a, int lda, long long stride_a,
                                mlopt_ref b, int ldb, long long stride_b,
                                float beta, mlopt_ref c, int ldc, long long stride_c,
                                int batch);

    /* ---- convolution ---- */
    /* y = conv(x, w) + bias; bias.buf may be NULL. */
    int (*conv2d_forward)(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p,
                          mlopt_ref x, mlopt_ref w, mlopt_ref bias, mlopt_ref y);
    int (*conv2d_backward_data)(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p,
                                mlopt_ref dy, mlopt_ref w, mlopt_ref dx);
    /* dw = grad wrt weights; dbias (may be NULL buf) = sum of dy over n,h,w. */
    int (*conv2d_backward_filter)(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p,
                                  mlopt_ref x, mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias);

    /* ---- pooling ---- */
    int (*pool2d_forward)(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                          mlopt_ref x, mlopt_ref y);
    /* Max: the gradient goes to the first maximum of each window (row-major
     * scan order), recomputed from x; overlapping windows accumulate. */
    int (*pool2d_backward)(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                           mlopt_ref x, mlopt_ref dy, mlopt_ref dx);

    /* ---- activations (elementwise, n elements; y may alias x) ---- */
    int (*act_forward)(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                       mlopt_ref x, mlopt_ref y);
    /* dx = dy * f'(x); y = f(x) is passed too for kernels that prefer it. */
    int (*act_backward)(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                        mlopt_ref x, mlopt_ref y, mlopt_ref dy, mlopt_ref dx);

    /* ---- bias (x viewed as [n][c][inner]) ---- */
    int (*bias_add)(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias);
    int (*bias_grad)(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy, mlopt_ref dbias);

    /* ---- batch normalization (x viewed as [n][c][inner]) ---- */
    /* Training: batch statistics; running stats updated as PyTorch does
     * (running = (1-momentum) running + momentum batch, variance unbiased);
     * save_mean/save_invstd [c] are kept for backward. */
    int (*batchnorm_forward_train)(mlopt_backend_ctx *ctx, int n, int c, int inner,
                                   float eps, float momentum, mlopt_ref x,
                                   mlopt_ref gamma, mlopt_ref beta, mlopt_ref y,
                                   mlopt_ref running_mean, mlopt_ref running_var,
                                   mlopt_ref save_mean, mlopt_ref save_invstd);
    int (*batchnorm_forward_eval)(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                                  mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                                  mlopt_ref running_mean, mlopt_ref running_var, mlopt_ref y);
    int (*batchnorm_backward)(mlopt_backend_ctx *ctx, int n, int c, int inner,
                              mlopt_ref x, mlopt_ref dy, mlopt_ref gamma,
                              mlopt_ref save_mean, mlopt_ref save_invstd,
                              mlopt_ref dx, mlopt_ref dgamma, mlopt_ref dbeta);

    /* ---- dropout ---- */
    /* mask[i] = keep ? 1/(1-p) : 0 with keep from mlopt_dropout_u24(seed, i);
     * y = x * mask.  Backward is mul(dy, mask). */
    int (*dropout_forward)(mlopt_backend_ctx *ctx, size_t n, float p, uint32_t seed,
                           mlopt_ref x, mlopt_ref y, mlopt_ref mask);

    /* ---- softmax and losses (x viewed as [rows][cols]) ---- */
    /* y = softmax(x * inv_temp) along cols, or its log when log_out. */
    int (*softmax_forward)(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp,
                           int log_out, mlopt_ref x, mlopt_ref y);
    /* Hard-label cross-entropy on z = logits * inv_temp, labels int32 [rows].
     * loss_sum[0] += sum over rows of -log softmax(z)[label];
     * if dlogits.buf: dlogits = (softmax(z) - onehot) * inv_temp * grad_scale. */
    int (*softmax_xent)(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp,
                        mlopt_ref logits, mlopt_ref labels, mlopt_ref loss_sum,
                        mlopt_ref dlogits, float grad_scale);
    /* Soft-target loss KL(p_t || p_s), p_t = softmax(target * inv_temp),
     * p_s = softmax(logits * inv_temp). loss_sum[0] += sum of KL over rows;
     * if dlogits.buf: dlogits = (p_s - p_t) * inv_temp * grad_scale. */
    int (*softmax_kl)(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp,
                      mlopt_ref logits, mlopt_ref target_logits, mlopt_ref loss_sum,
                      mlopt_ref dlogits, float grad_scale);
    /* out int32 [rows] = index of the first maximum of each row. */
    int (*argmax)(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out);
    /* count[0] (float) += number of rows whose argmax equals labels[row] (int32). */
    int (*accuracy_count)(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref logits,
                          mlopt_ref labels, mlopt_ref count);

    /* ---- elementwise (n floats; outputs may alias inputs) ---- */
    int (*add)(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
    int (*sub)(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
    int (*mul)(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
    int (*axpy)(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y); /* y += alpha x */
    int (*scale)(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y); /* y = alpha x */
    /* w *= mask (mask holds 0/1): keeps pruned weights at exactly zero. */
    int (*mask_mul)(mlopt_backend_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w);

    /* ---- reductions (result is a float written to out[0] or out[0..k)) ---- */
    int (*reduce_sum)(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out);
    int (*reduce_max_abs)(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out);
    /* x viewed as [k][len]; out[i] = L1 (p=1) or L2 (p=2) norm of row i. */
    int (*channel_norm)(mlopt_backend_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out);

    /* ---- optimizer updates (n floats, in place) ---- */
    /* PyTorch SGD: g' = g + wd*w; v = first ? g' : momentum*v + (1-dampening)*g';
     * d = nesterov ? g' + momentum*v : v (d = g' when momentum == 0); w -= lr*d. */
    int (*sgd_update)(mlopt_backend_ctx *ctx, size_t n, float lr, float momentum,
                      float dampening, float weight_decay, int nesterov, int first,
                      mlopt_ref w, mlopt_ref g, mlopt_ref v);
    /* Adam (decoupled=0: g' = g + wd*w) or AdamW (decoupled=1: w *= 1-lr*wd);
     * m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2; step t >= 1;
     * w -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps). */
    int (*adam_update)(mlopt_backend_ctx *ctx, size_t n, float lr, float beta1, float beta2,
                       float eps, float weight_decay, int decoupled, int step,
                       mlopt_ref w, mlopt_ref g, mlopt_ref m, mlopt_ref v);

    /* ---- ABI 1.1: integer (int8) inference and fake quantization ---- */
    /*
     * Quantized tensors are int8 (int8_t, two's complement), row-major /
     * NCHW like float ones; their mlopt_ref offsets are byte offsets and
     * must be multiples of 4 (GPU backends pack 4 int8 per 32-bit word),
     * int32 tensors are int32_t with offsets multiple of 4.  A real value
     * r is represented as q with r = scale * (q - zero_point).
     *
     * Every formula below is exact integer arithmetic (or one correctly
     * rounded float multiply), so all backends give bit-identical results.
     * ">>" is an arithmetic (sign-propagating) shift, int64 arithmetic is
     * exact (no intermediate here exceeds 2^62 in magnitude).
     *
     * Requantization of an int32 accumulator acc to an int8 output with
     * the fixed-point multiplier mult (0 <= mult < 2^31) and the total
     * right shift shift (1 <= shift <= 62), i.e. the real multiplier
     * mult * 2^-shift, rounding halves up (towards +infinity):
     *
     *   v   = ((int64)acc * mult + ((int64)1 << (shift - 1))) >> shift
     *   out = clamp(v + out_zp, relu ? max(out_zp, -128) : -128, 127)
     *
     * (mlopt_requantize below is this formula in C; fused ReLU clamps at
     * the zero point, which is exactly max(0, r) in real terms.)
     * Accumulators: the caller guarantees |acc| < 2^31 (e.g. k * 255 * 128
     * plus the bias), so int32 arithmetic on them never overflows.
     */

    /* C[m,n] int8 = requant(acc[i][j], mult[j], shift[j], c_zp, relu) with
     *   acc[i][j] = bias[j] + sum_p (A[i][p] - a_zp) * B[j][p]
     * A int8 [m][lda], B int8 [n][ldb] (the transpose: one row per output
     * channel, weights symmetric so B has no zero point), bias int32 [n]
     * (bias.buf NULL: 0), mult, shift int32 [n] (per output channel),
     * C int8 [m][ldc].  -128 <= a_zp, c_zp <= 127. */
    int (*qgemm)(mlopt_backend_ctx *ctx, int m, int n, int k, mlopt_ref a, int lda, int a_zp,
                 mlopt_ref b, int ldb, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift,
                 int c_zp, int relu, mlopt_ref c, int ldc);
    /* Int8 convolution, geometry as conv2d_forward: x int8 NCHW with zero
     * point x_zp; input positions outside the image read as x_zp (a real
     * zero); w int8 [k][c/groups][r][s] (symmetric); y int8 NKHW =
     *   requant(bias[k] + sum_{c in group, r, s} (x - x_zp) * w, mult[k], shift[k], y_zp, relu). */
    int (*qconv2d)(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int x_zp,
                   mlopt_ref w, mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int y_zp, int relu,
                   mlopt_ref y);
    /* Int8 max pooling (scale and zero point unchanged): y = max of the
     * window's positions inside the input; -128 when none is. */
    int (*qmaxpool)(mlopt_backend_ctx *ctx, const mlopt_pool2d_params *p, mlopt_ref x, mlopt_ref y);
    /* y int8 [n] from x float [n]:
     *   t = x[i] * inv_scale            (one correctly rounded float multiply)
     *   y[i] = zp                              if t is NaN
     *          clamp(roundeven(t), -128 - zp, 127 - zp) + zp   otherwise
     * roundeven rounds halves to even (C rintf in the default rounding mode,
     * OpenCL rint, GLSL roundEven); the clamp is done on the float, before
     * any conversion to int, so infinities saturate. */
    int (*quantize)(mlopt_backend_ctx *ctx, size_t n, float inv_scale, int zp, mlopt_ref x,
                    mlopt_ref y);
    /* y float [n] = (float)(x[i] - zp) * scale, x int8 [n]. */
    int (*dequantize)(mlopt_backend_ctx *ctx, size_t n, float scale, int zp, mlopt_ref x,
                      mlopt_ref y);
    /* Fake quantization for quantization-aware training, x and y float
     * viewed as [outer][channels][inner] (y may alias x); channel ch uses
     * scale[ch], inv_scale[ch] (float) and zp[ch] (int32), all [channels]:
     *   t = x * inv_scale; r = roundeven(t)  (as in quantize)
     *   q = NaN t ? zp : clamp(r, qmin - zp, qmax - zp) + zp
     *   y = (float)(q - zp) * scale
     * if mask.buf: mask[i] = 1.0f when qmin - zp <= r <= qmax - zp (not
     * clipped; NaN counts as clipped) else 0.0f, so that the straight-
     * through estimator's backward is mul(dy, mask). */
    int (*fake_quant)(mlopt_backend_ctx *ctx, size_t outer, int channels, size_t inner, int qmin,
                      int qmax, mlopt_ref scale, mlopt_ref inv_scale, mlopt_ref zp, mlopt_ref x,
                      mlopt_ref y, mlopt_ref mask);

    /* ---- ABI 1.2 and later: append new slots here, never above. ---- */
};

/* The requantization of ABI 1.1 (qgemm, qconv2d) in C, for backends and
 * tests; 1 <= shift <= 62, 0 <= mult < 2^31. */
static inline int8_t mlopt_requantize(int32_t acc, int32_t mult, int32_t shift, int out_zp, int relu)
{
    int64_t v = ((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift;
    int64_t lo = relu && out_zp > -128 ? out_zp : -128;
    v += out_zp;
    return (int8_t)(v < lo ? lo : v > 127 ? 127 : v);
}


/* The one symbol a plugin exports. */
typedef const mlopt_backend *(*mlopt_backend_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* MLOPT_BACKEND_H */
