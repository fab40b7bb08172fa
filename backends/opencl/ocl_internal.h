/* Private declarations shared by the OpenCL backend's source files. */
#ifndef MLOPT_OCL_INTERNAL_H
#define MLOPT_OCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifndef CL_USE_DEPRECATED_OPENCL_1_2_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#endif
#include <CL/cl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mlopt/backend.h"

/* Every kernel of every .cl file; created once at create(). */
#define OCL_KERNEL_LIST(X)                                                   \
    X(fill_f32) X(scale_matrix)                                              \
    X(im2col) X(col2im) X(transpose_batch_rows)                              \
    X(pool_forward) X(pool_backward)                                         \
    X(act_forward) X(act_backward)                                           \
    X(bias_add) X(bias_grad)                                                 \
    X(batchnorm_train) X(batchnorm_eval) X(batchnorm_backward)               \
    X(dropout_forward)                                                       \
    X(softmax_rows) X(softmax_xent_rows) X(softmax_kl_rows)                  \
    X(argmax_rows) X(accuracy_rows) X(accumulate_sum)                        \
    X(elementwise_binary) X(axpy) X(scale) X(mask_mul)                       \
    X(reduce_partial) X(reduce_final) X(channel_norm)                        \
    X(sgd_update) X(adam_update)                                             \
    X(qgemm_i8) X(qconv2d_i8) X(qmaxpool_i8) X(quantize_i8) X(dequantize_i8) \
    X(fake_quant_f32)

#define OCL_ENUM_ENTRY(name) OCL_K_##name,
typedef enum ocl_kernel_id { OCL_KERNEL_LIST(OCL_ENUM_ENTRY) OCL_K_COUNT_ } ocl_kernel_id;
#undef OCL_ENUM_ENTRY

extern const char *const ocl_kernel_names[OCL_K_COUNT_];

struct mlopt_buffer {
    cl_mem mem;
    size_t bytes;
};

/* A device buffer kept in the context and grown on demand, so that hot
 * slots (im2col, reductions) do not allocate on every call. */
typedef struct ocl_scratch {
    cl_mem mem;
    size_t bytes;
} ocl_scratch;

/* A host copy of upload() data that must live until its write completes. */
typedef struct ocl_pending_upload {
    cl_event done;
    void *host_copy;
    size_t bytes;
} ocl_pending_upload;

struct mlopt_backend_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernels[OCL_K_COUNT_];
    size_t kernel_wg[OCL_K_COUNT_]; /* power-of-two work-group size per kernel */
    mlopt_device_info info;
    size_t max_alloc;               /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    size_t col_max_floats;          /* im2col scratch bound; the batch is chunked beyond */

    cl_mem dummy;                   /* bound where an optional tensor is absent */
    cl_mem bad_label;               /* int[2]: first out-of-range label (row+1, label) */
    int bad_label_armed;            /* a kernel that may set it ran since the last check */
    int bad_label_cols;
    ocl_scratch col;                /* im2col / col2im columns */
    ocl_scratch aux;                /* transposed dy for conv filter grads */
    ocl_scratch partials;           /* per-row / per-group reduction partials */
    ocl_scratch gemm_tmp;           /* CLBlast's padded/transposed GEMM operands */

    ocl_pending_upload *uploads;
    size_t n_uploads, cap_uploads, pending_upload_bytes;

    unsigned unflushed;             /* commands enqueued since the last flush */
    mlopt_backend_stats stats;
    char err[1024];
};

typedef struct mlopt_backend_ctx ocl_ctx;

/* ---- errors (ocl_errors.c) ---- */
const char *ocl_status_name(cl_int status);
const char *ocl_clblast_status_name(int status);
/* Sets ctx->err printf-style; returns 1 so callers can `return ocl_fail(...)`. */
int ocl_fail(ocl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats "NAME in CALL(WHAT)[: hint]" for a CL status; returns 1. */
int ocl_fail_status(ocl_ctx *ctx, cl_int status, const char *call, const char *what);

/* ---- queue, memory and launches (ocl_memory.c) ---- */
/* Counts a submitted command and flushes periodically so that a GPU starts
 * working before the host waits. */
int ocl_note_command(ocl_ctx *ctx);
int ocl_ensure_scratch(ocl_ctx *ctx, ocl_scratch *s, size_t bytes, const char *what);
void ocl_release_uploads(ocl_ctx *ctx);
int ocl_finish(ocl_ctx *ctx, const char *why);

/* Kernel argument builder: the first failure is kept and reported by launch. */
typedef struct ocl_args {
    ocl_ctx *ctx;
    ocl_kernel_id id;
    cl_uint index;
    cl_int status;
} ocl_args;

ocl_args ocl_args_begin(ocl_ctx *ctx, ocl_kernel_id id);
void ocl_arg_mem(ocl_args *a, cl_mem mem);
/* A tensor: its buffer (or the dummy when absent) and its offset in floats. */
void ocl_arg_ref(ocl_args *a, mlopt_ref ref);
void ocl_arg_int(ocl_args *a, int v);
void ocl_arg_uint(ocl_args *a, uint32_t v);
void ocl_arg_float(ocl_args *a, float v);
void ocl_arg_local(ocl_args *a, size_t bytes);
/* Enqueues the kernel over global work items (rounded up to local). */
int ocl_launch(ocl_args *a, size_t global, size_t local);
/* Elementwise launch: a grid-stride loop covering n items. */
int ocl_launch_elementwise(ocl_args *a, size_t n);

/* Validation shared by the slots. */
int ocl_check_count(ocl_ctx *ctx, size_t n, const char *slot);
int ocl_check_ref(ocl_ctx *ctx, mlopt_ref r, size_t floats, const char *slot, const char *arg);

/* ---- GEMM through CLBlast (ocl_gemm.c) ---- */
int ocl_gemm_elems(ocl_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
                   cl_mem a, size_t a_off, int lda, long long stride_a,
                   cl_mem b, size_t b_off, int ldb, long long stride_b,
                   float beta, cl_mem c, size_t c_off, int ldc, long long stride_c,
                   int batch, const char *what);

/* ---- slots, one family per file ---- */
int ocl_probe(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen);
int ocl_create(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen);
void ocl_destroy(mlopt_backend_ctx *ctx);

int ocl_buffer_alloc(ocl_ctx *ctx, size_t bytes, mlopt_buffer **out);
void ocl_buffer_free(ocl_ctx *ctx, mlopt_buffer *buf);
int ocl_upload(ocl_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes);
int ocl_download(ocl_ctx *ctx, void *dst, mlopt_ref src, size_t bytes);
int ocl_copy(ocl_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes);
int ocl_fill(ocl_ctx *ctx, mlopt_ref dst, float value, size_t count);
int ocl_synchronize(ocl_ctx *ctx);

int ocl_gemm(ocl_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
             mlopt_ref a, int lda, mlopt_ref b, int ldb, float beta, mlopt_ref c, int ldc);
int ocl_gemm_strided_batched(ocl_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                             float alpha, mlopt_ref a, int lda, long long stride_a,
                             mlopt_ref b, int ldb, long long stride_b, float beta,
                             mlopt_ref c, int ldc, long long stride_c, int batch);

int ocl_conv2d_forward(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, mlopt_ref w,
                       mlopt_ref bias, mlopt_ref y);
int ocl_conv2d_backward_data(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref dy,
                             mlopt_ref w, mlopt_ref dx);
int ocl_conv2d_backward_filter(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                               mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias);

int ocl_pool2d_forward(ocl_ctx *ctx, int mode, const mlopt_pool2d_params *p, mlopt_ref x,
                       mlopt_ref y);
int ocl_pool2d_backward(ocl_ctx *ctx, int mode, const mlopt_pool2d_params *p, mlopt_ref x,
                        mlopt_ref dy, mlopt_ref dx);

int ocl_act_forward(ocl_ctx *ctx, int act, float alpha, float beta, size_t n, mlopt_ref x,
                    mlopt_ref y);
int ocl_act_backward(ocl_ctx *ctx, int act, float alpha, float beta, size_t n, mlopt_ref x,
                     mlopt_ref y, mlopt_ref dy, mlopt_ref dx);
int ocl_dropout_forward(ocl_ctx *ctx, size_t n, float p, uint32_t seed, mlopt_ref x,
                        mlopt_ref y, mlopt_ref mask);

int ocl_bias_add(ocl_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias);
int ocl_bias_grad(ocl_ctx *ctx, int n, int c, int inner, mlopt_ref dy, mlopt_ref dbias);
int ocl_batchnorm_forward_train(ocl_ctx *ctx, int n, int c, int inner, float eps,
                                float momentum, mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                                mlopt_ref y, mlopt_ref running_mean, mlopt_ref running_var,
                                mlopt_ref save_mean, mlopt_ref save_invstd);
int ocl_batchnorm_forward_eval(ocl_ctx *ctx, int n, int c, int inner, float eps, mlopt_ref x,
                               mlopt_ref gamma, mlopt_ref beta, mlopt_ref running_mean,
                               mlopt_ref running_var, mlopt_ref y);
int ocl_batchnorm_backward(ocl_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref dy,
                           mlopt_ref gamma, mlopt_ref save_mean, mlopt_ref save_invstd,
                           mlopt_ref dx, mlopt_ref dgamma, mlopt_ref dbeta);

int ocl_softmax_forward(ocl_ctx *ctx, int rows, int cols, float inv_temp, int log_out,
                        mlopt_ref x, mlopt_ref y);
int ocl_softmax_xent(ocl_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                     mlopt_ref labels, mlopt_ref loss_sum, mlopt_ref dlogits, float grad_scale);
int ocl_softmax_kl(ocl_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                   mlopt_ref target_logits, mlopt_ref loss_sum, mlopt_ref dlogits,
                   float grad_scale);
int ocl_argmax(ocl_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out);
int ocl_accuracy_count(ocl_ctx *ctx, int rows, int cols, mlopt_ref logits, mlopt_ref labels,
                       mlopt_ref count);

int ocl_add(ocl_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);

/* ocl_int8.c (ABI 1.1) */
int ocl_qgemm(ocl_ctx *ctx, int m, int n, int k, mlopt_ref a, int lda, int a_zp, mlopt_ref b, int ldb,
              mlopt_ref bias, mlopt_ref mult, mlopt_ref shift, int c_zp, int relu, mlopt_ref c, int ldc);
int ocl_qconv2d(ocl_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, int x_zp, mlopt_ref w, mlopt_ref bias,
                mlopt_ref mult, mlopt_ref shift, int y_zp, int relu, mlopt_ref y);
int ocl_qmaxpool(ocl_ctx *ctx, const mlopt_pool2d_params *p, mlopt_ref x, mlopt_ref y);
int ocl_quantize(ocl_ctx *ctx, size_t n, float inv_scale, int zp, mlopt_ref x, mlopt_ref y);
int ocl_dequantize(ocl_ctx *ctx, size_t n, float scale, int zp, mlopt_ref x, mlopt_ref y);
int ocl_fake_quant(ocl_ctx *ctx, size_t outer, int channels, size_t inner, int qmin, int qmax, mlopt_ref scale,
                   mlopt_ref inv_scale, mlopt_ref zp, mlopt_ref x, mlopt_ref y, mlopt_ref mask);
int ocl_sub(ocl_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
int ocl_mul(ocl_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
int ocl_axpy(ocl_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y);
int ocl_scale(ocl_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y);
int ocl_mask_mul(ocl_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w);

int ocl_reduce_sum(ocl_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out);
int ocl_reduce_max_abs(ocl_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out);
int ocl_channel_norm(ocl_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out);

int ocl_sgd_update(ocl_ctx *ctx, size_t n, float lr, float momentum, float dampening,
                   float weight_decay, int nesterov, int first, mlopt_ref w, mlopt_ref g,
                   mlopt_ref v);
int ocl_adam_update(ocl_ctx *ctx, size_t n, float lr, float beta1, float beta2, float eps,
                    float weight_decay, int decoupled, int step, mlopt_ref w, mlopt_ref g,
                    mlopt_ref m, mlopt_ref v);

#endif
