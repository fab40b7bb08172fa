/* The OpenCL backend's slot table: the plugin's one exported symbol. */
#include <string.h>

#include "ocl_internal.h"

static const char *ocl_last_error(ocl_ctx *ctx)
{
    return ctx ? ctx->err : "no OpenCL context";
}

static int ocl_device_info(ocl_ctx *ctx, mlopt_device_info *out)
{
    *out = ctx->info;
    return 0;
}

/* The device runs the kernels; host threads do not apply (PoCL manages
 * its own worker threads, sized by POCL_MAX_PTHREAD_COUNT). */
static int ocl_set_num_threads(ocl_ctx *ctx, int n)
{
    (void)ctx;
    (void)n;
    return 0;
}

static int ocl_get_stats(ocl_ctx *ctx, mlopt_backend_stats *out)
{
    *out = ctx->stats;
    return 0;
}

static int ocl_reset_stats(ocl_ctx *ctx)
{
    memset(&ctx->stats, 0, sizeof ctx->stats);
    return 0;
}

static const mlopt_backend ocl_backend = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "opencl",
    .description = "OpenCL 1.2 kernels with CLBlast GEMM (GPUs, PoCL on CPUs)",
    .probe = ocl_probe,
    .create = ocl_create,
    .destroy = ocl_destroy,
    .last_error = ocl_last_error,
    .device_info = ocl_device_info,
    .set_num_threads = ocl_set_num_threads,
    .get_stats = ocl_get_stats,
    .reset_stats = ocl_reset_stats,
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .upload = ocl_upload,
    .download = ocl_download,
    .copy = ocl_copy,
    .fill = ocl_fill,
    .synchronize = ocl_synchronize,
    .gemm = ocl_gemm,
    .gemm_strided_batched = ocl_gemm_strided_batched,
    .conv2d_forward = ocl_conv2d_forward,
    .conv2d_backward_data = ocl_conv2d_backward_data,
    .conv2d_backward_filter = ocl_conv2d_backward_filter,
    .pool2d_forward = ocl_pool2d_forward,
    .pool2d_backward = ocl_pool2d_backward,
    .act_forward = ocl_act_forward,
    .act_backward = ocl_act_backward,
    .bias_add = ocl_bias_add,
    .bias_grad = ocl_bias_grad,
    .batchnorm_forward_train = ocl_batchnorm_forward_train,
    .batchnorm_forward_eval = ocl_batchnorm_forward_eval,
    .batchnorm_backward = ocl_batchnorm_backward,
    .dropout_forward = ocl_dropout_forward,
    .softmax_forward = ocl_softmax_forward,
    .softmax_xent = ocl_softmax_xent,
    .softmax_kl = ocl_softmax_kl,
    .argmax = ocl_argmax,
    .accuracy_count = ocl_accuracy_count,
    .add = ocl_add,
    .sub = ocl_sub,
    .mul = ocl_mul,
    .axpy = ocl_axpy,
    .scale = ocl_scale,
    .mask_mul = ocl_mask_mul,
    .reduce_sum = ocl_reduce_sum,
    .reduce_max_abs = ocl_reduce_max_abs,
    .channel_norm = ocl_channel_norm,
    .sgd_update = ocl_sgd_update,
    .adam_update = ocl_adam_update,
    .qgemm = ocl_qgemm,
    .qconv2d = ocl_qconv2d,
    .qmaxpool = ocl_qmaxpool,
    .quantize = ocl_quantize,
    .dequantize = ocl_dequantize,
    .fake_quant = ocl_fake_quant,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &ocl_backend;
}
