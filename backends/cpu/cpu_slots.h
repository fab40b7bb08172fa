/* Prototypes of every backend slot the CPU plugin implements; the table in
 * cpu_plugin.c points at them.  Semantics are those of mlopt/backend.h. */
#ifndef MLOPT_CPU_SLOTS_H
#define MLOPT_CPU_SLOTS_H

#include "mlopt/backend.h"

/* cpu_buffer.c */
int cpu_buffer_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out);
void cpu_buffer_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf);
int cpu_upload(mlopt_backend_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes);
int cpu_download(mlopt_backend_ctx *ctx, void *dst, mlopt_ref src, size_t bytes);
int cpu_copy(mlopt_backend_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes);
int cpu_fill(mlopt_backend_ctx *ctx, mlopt_ref dst, float value, size_t count);
int cpu_synchronize(mlopt_backend_ctx *ctx);

/* cpu_gemm.c */
int cpu_gemm(mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
             mlopt_ref a, int lda, mlopt_ref b, int ldb, float beta, mlopt_ref c, int ldc);
int cpu_gemm_strided_batched(mlopt_backend_ctx *ctx, int trans_a, int trans_b, int m, int n,
                             int k, float alpha, mlopt_ref a, int lda, long long stride_a,
                             mlopt_ref b, int ldb, long long stride_b, float beta, mlopt_ref c,
                             int ldc, long long stride_c, int batch);

/* cpu_conv.c */
int cpu_conv2d_forward(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                       mlopt_ref w, mlopt_ref bias, mlopt_ref y);
int cpu_conv2d_backward_data(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref dy,
                             mlopt_ref w, mlopt_ref dx);
int cpu_conv2d_backward_filter(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                               mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias);

/* cpu_pool.c */
int cpu_pool2d_forward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                       mlopt_ref x, mlopt_ref y);
int cpu_pool2d_backward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p,
                        mlopt_ref x, mlopt_ref dy, mlopt_ref dx);

/* cpu_activation.c */
int cpu_act_forward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                    mlopt_ref x, mlopt_ref y);
int cpu_act_backward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n,
                     mlopt_ref x, mlopt_ref y, mlopt_ref dy, mlopt_ref dx);

/* cpu_bias.c */
int cpu_bias_add(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias);
int cpu_bias_grad(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy,
                  mlopt_ref dbias);

/* cpu_batchnorm.c */
int cpu_batchnorm_forward_train(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                                float momentum, mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                                mlopt_ref y, mlopt_ref running_mean, mlopt_ref running_var,
                                mlopt_ref save_mean, mlopt_ref save_invstd);
int cpu_batchnorm_forward_eval(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps,
                               mlopt_ref x, mlopt_ref gamma, mlopt_ref beta,
                               mlopt_ref running_mean, mlopt_ref running_var, mlopt_ref y);
int cpu_batchnorm_backward(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x,
                           mlopt_ref dy, mlopt_ref gamma, mlopt_ref save_mean,
                           mlopt_ref save_invstd, mlopt_ref dx, mlopt_ref dgamma,
                           mlopt_ref dbeta);

/* cpu_dropout.c */
int cpu_dropout_forward(mlopt_backend_ctx *ctx, size_t n, float p, uint32_t seed, mlopt_ref x,
                        mlopt_ref y, mlopt_ref mask);

/* cpu_softmax_loss.c */
int cpu_softmax_forward(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, int log_out,
                        mlopt_ref x, mlopt_ref y);
int cpu_softmax_xent(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp,
                     mlopt_ref logits, mlopt_ref labels, mlopt_ref loss_sum, mlopt_ref dlogits,
                     float grad_scale);
int cpu_softmax_kl(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                   mlopt_ref target_logits, mlopt_ref loss_sum, mlopt_ref dlogits,
                   float grad_scale);
int cpu_argmax(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out);
int cpu_accuracy_count(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref logits,
                       mlopt_ref labels, mlopt_ref count);

/* cpu_elementwise.c */
int cpu_add(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
int cpu_sub(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
int cpu_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y);
int cpu_axpy(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y);
int cpu_scale(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y);
int cpu_mask_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w);

/* cpu_reduce.c */
int cpu_reduce_sum(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out);
int cpu_reduce_max_abs(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out);
int cpu_channel_norm(mlopt_backend_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out);

/* cpu_optimizer.c */
int cpu_sgd_update(mlopt_backend_ctx *ctx, size_t n, float lr, float momentum, float dampening,
                   float weight_decay, int nesterov, int first, mlopt_ref w, mlopt_ref g,
                   mlopt_ref v);
int cpu_adam_update(mlopt_backend_ctx *ctx, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int decoupled, int step, mlopt_ref w,
                    mlopt_ref g, mlopt_ref m, mlopt_ref v);

#endif
