/* Plugin entry: the slot table, discovery, context lifecycle, buffers. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

#define VK_MAX_PHYS 16

static int enumerate(const vk_instance_fns *I, VkInstance inst, VkPhysicalDevice *pds,
                     uint32_t *n, char *err, size_t errlen)
{
    *n = VK_MAX_PHYS;
    VkResult r = I->vkEnumeratePhysicalDevices(inst, n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        vk_format_result(err, errlen, r, "vkEnumeratePhysicalDevices");
        return 1;
    }
    if (!*n) {
        snprintf(err, errlen, "vkEnumeratePhysicalDevices: no Vulkan device (no driver for "
                              "this hardware; mesa-vulkan-drivers provides lavapipe on the CPU)");
        return 1;
    }
    return 0;
}

static int vk_probe(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen)
{
    vk_global_fns *G;
    vk_instance_fns I;
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    *count = 0;
    if (vk_load_loader(&G, err, errlen) ||
        vk_create_instance(G, 0, NULL, &inst, &I, &messenger, err, errlen))
        return 1;
    VkPhysicalDevice pds[VK_MAX_PHYS];
    uint32_t n;
    if (enumerate(&I, inst, pds, &n, err, errlen)) {
        I.vkDestroyInstance(inst, NULL);
        return 1;
    }
    for (uint32_t i = 0; i < n && (int)i < max; i++)
        vk_describe_device(&I, pds[i], &devs[i]);
    *count = (int)n;
    I.vkDestroyInstance(inst, NULL);
    return 0;
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return 1;
    }
    return nl == 0;
}

/* "2" or "0:2" (platform:device; Vulkan has one platform) select by index. */
static int parse_index(const char *s, int *out)
{
    const char *p = s;
    if (!*p)
        return 0;
    const char *colon = strchr(s, ':');
    if (colon) {
        for (const char *q = s; q < colon; q++)
            if (!isdigit((unsigned char)*q))
                return 0;
        p = colon + 1;
    }
    if (!*p)
        return 0;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return 0;
    *out = atoi(p);
    return 1;
}

static int pick_device(const vk_instance_fns *I, VkPhysicalDevice *pds, uint32_t n,
                       const char *selector, char *err, size_t errlen)
{
    mlopt_device_info info[VK_MAX_PHYS];
    for (uint32_t i = 0; i < n; i++)
        vk_describe_device(I, pds[i], &info[i]);
    if (selector && *selector) {
        int idx;
        if (parse_index(selector, &idx)) {
            if (idx < 0 || (uint32_t)idx >= n) {
                snprintf(err, errlen, "vulkan: device index %d out of range (%u devices)", idx, n);
                return -1;
            }
            return idx;
        }
        for (uint32_t i = 0; i < n; i++)
            if (ci_contains(info[i].name, selector))
                return (int)i;
        snprintf(err, errlen, "vulkan: no device name contains \"%s\" (first: %s)", selector,
                 info[0].name);
        return -1;
    }
    /* Default: first discrete GPU, else integrated, else anything usable. */
    static const int order[] = {MLOPT_DEVICE_GPU, MLOPT_DEVICE_IGPU, -1};
    for (int o = 0; o < 3; o++)
        for (uint32_t i = 0; i < n; i++)
            if (info[i].usable && (order[o] < 0 || info[i].type == order[o]))
                return (int)i;
    snprintf(err, errlen, "vulkan: no usable device (%s: %s)", info[0].name, info[0].why);
    return -1;
}

static void vk_destroy(mlopt_backend_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->dev) {
        ctx->D.vkDeviceWaitIdle(ctx->dev);
        if (ctx->recording)
            ctx->D.vkEndCommandBuffer(ctx->cmd);
        vk_exec_destroy(ctx);
        vk_memory_destroy(ctx);
        ctx->D.vkDestroyDevice(ctx->dev, NULL);
    }
    if (ctx->instance) {
        if (ctx->messenger && ctx->I.vkDestroyDebugUtilsMessengerEXT)
            ctx->I.vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
        ctx->I.vkDestroyInstance(ctx->instance, NULL);
    }
    free(ctx);
}

static int vk_create(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen)
{
    vk_global_fns *G;
    *out = NULL;
    if (vk_load_loader(&G, err, errlen))
        return 1;
    mlopt_backend_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "vulkan: out of host memory");
        return 1;
    }
    const char *v = getenv("MLOPT_VULKAN_VALIDATION");
    ctx->validation = v && *v && strcmp(v, "0") != 0;
    if (vk_create_instance(G, ctx->validation, ctx, &ctx->instance, &ctx->I, &ctx->messenger,
                           err, errlen)) {
        free(ctx);
        return 1;
    }
    if (!selector || !*selector)
        selector = getenv("MLOPT_VULKAN_DEVICE");
    VkPhysicalDevice pds[VK_MAX_PHYS];
    uint32_t n;
    if (enumerate(&ctx->I, ctx->instance, pds, &n, err, errlen))
        goto fail;
    int idx = pick_device(&ctx->I, pds, n, selector, err, errlen);
    if (idx < 0 || vk_open_device(ctx, pds[idx], err, errlen))
        goto fail;
    if (vk_memory_init(ctx) || vk_exec_init(ctx)) {
        snprintf(err, errlen, "%s", ctx->err);
        goto fail;
    }
    *out = ctx;
    return 0;
fail:
    vk_destroy(ctx);
    return 1;
}

static const char *vk_last_error(mlopt_backend_ctx *ctx)
{
    return ctx ? ctx->err : "vulkan: no context";
}

static int vk_device_info(mlopt_backend_ctx *ctx, mlopt_device_info *out)
{
    *out = ctx->info;
    return 0;
}

static int vk_set_num_threads(mlopt_backend_ctx *ctx, int n)
{
    (void)ctx; /* the device schedules its own work */
    (void)n;
    return 0;
}

static int vk_get_stats(mlopt_backend_ctx *ctx, mlopt_backend_stats *out)
{
    *out = ctx->stats;
    return 0;
}

static int vk_reset_stats(mlopt_backend_ctx *ctx)
{
    memset(&ctx->stats, 0, sizeof ctx->stats);
    return 0;
}

static int vk_buffer_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out)
{
    if (vk_enter(ctx))
        return 1;
    return vk_alloc(ctx, bytes, out);
}

static void vk_buffer_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf)
{
    vk_free(ctx, buf);
}

/* Test hook: validation-layer errors seen by this context so far. */
MLOPT_BACKEND_EXPORT uint64_t mlopt_vulkan_validation_errors(mlopt_backend_ctx *ctx)
{
    return ctx ? ctx->validation_errors : 0;
}

static const mlopt_backend k_backend = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "vulkan",
    .description = "Vulkan compute (GLSL shaders compiled to SPIR-V at build time)",
    .probe = vk_probe,
    .create = vk_create,
    .destroy = vk_destroy,
    .last_error = vk_last_error,
    .device_info = vk_device_info,
    .set_num_threads = vk_set_num_threads,
    .get_stats = vk_get_stats,
    .reset_stats = vk_reset_stats,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .upload = vk_upload,
    .download = vk_download,
    .copy = vk_copy,
    .fill = vk_fill,
    .synchronize = vk_synchronize,
    .gemm = vk_gemm,
    .gemm_strided_batched = vk_gemm_strided_batched,
    .conv2d_forward = vk_conv2d_forward,
    .conv2d_backward_data = vk_conv2d_backward_data,
    .conv2d_backward_filter = vk_conv2d_backward_filter,
    .pool2d_forward = vk_pool2d_forward,
    .pool2d_backward = vk_pool2d_backward,
    .act_forward = vk_act_forward,
    .act_backward = vk_act_backward,
    .bias_add = vk_bias_add,
    .bias_grad = vk_bias_grad,
    .batchnorm_forward_train = vk_batchnorm_forward_train,
    .batchnorm_forward_eval = vk_batchnorm_forward_eval,
    .batchnorm_backward = vk_batchnorm_backward,
    .dropout_forward = vk_dropout_forward,
    .softmax_forward = vk_softmax_forward,
    .softmax_xent = vk_softmax_xent,
    .softmax_kl = vk_softmax_kl,
    .argmax = vk_argmax,
    .accuracy_count = vk_accuracy_count,
    .add = vk_add,
    .sub = vk_sub,
    .mul = vk_mul,
    .axpy = vk_axpy,
    .scale = vk_scale,
    .mask_mul = vk_mask_mul,
    .reduce_sum = vk_reduce_sum,
    .reduce_max_abs = vk_reduce_max_abs,
    .channel_norm = vk_channel_norm,
    .sgd_update = vk_sgd_update,
    .adam_update = vk_adam_update,
    .qgemm = vk_qgemm,
    .qconv2d = vk_qconv2d,
    .qmaxpool = vk_qmaxpool,
    .quantize = vk_quantize,
    .dequantize = vk_dequantize,
    .fake_quant = vk_fake_quant,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &k_backend;
}
