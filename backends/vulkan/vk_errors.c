/* VkResult names and the context's error message. */
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

const char *vk_result_name(VkResult r)
{
    switch (r) {
#define N(x) case x: return #x;
    N(VK_SUCCESS) N(VK_NOT_READY) N(VK_TIMEOUT) N(VK_EVENT_SET) N(VK_EVENT_RESET)
    N(VK_INCOMPLETE) N(VK_ERROR_OUT_OF_HOST_MEMORY) N(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    N(VK_ERROR_INITIALIZATION_FAILED) N(VK_ERROR_DEVICE_LOST) N(VK_ERROR_MEMORY_MAP_FAILED)
    N(VK_ERROR_LAYER_NOT_PRESENT) N(VK_ERROR_EXTENSION_NOT_PRESENT)
    N(VK_ERROR_FEATURE_NOT_PRESENT) N(VK_ERROR_INCOMPATIBLE_DRIVER)
    N(VK_ERROR_TOO_MANY_OBJECTS) N(VK_ERROR_FORMAT_NOT_SUPPORTED)
    N(VK_ERROR_FRAGMENTED_POOL) N(VK_ERROR_UNKNOWN) N(VK_ERROR_OUT_OF_POOL_MEMORY)
    N(VK_ERROR_INVALID_EXTERNAL_HANDLE) N(VK_ERROR_FRAGMENTATION)
    N(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) N(VK_PIPELINE_COMPILE_REQUIRED)
    N(VK_ERROR_SURFACE_LOST_KHR) N(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR)
    N(VK_SUBOPTIMAL_KHR) N(VK_ERROR_OUT_OF_DATE_KHR) N(VK_ERROR_VALIDATION_FAILED_EXT)
    N(VK_ERROR_INVALID_SHADER_NV)
#undef N
    default: return "VK_RESULT_UNKNOWN";
    }
}

int vk_fail(mlopt_backend_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return 1;
}

void vk_format_result(char *buf, size_t len, VkResult r, const char *call)
{
    const char *hint = "";
    switch (r) {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        hint = " (the device is out of memory: try a smaller batch size or model)";
        break;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        hint = " (the host is out of memory)";
        break;
    case VK_ERROR_DEVICE_LOST:
        hint = " (the GPU device was lost: a driver reset or hang; this context cannot be "
               "used any more, create a new one)";
        break;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        hint = " (no Vulkan driver (ICD) for this loader: install one, e.g. mesa-vulkan-drivers)";
        break;
    case VK_ERROR_LAYER_NOT_PRESENT:
        hint = " (install vulkan-validationlayers or unset MLOPT_VULKAN_VALIDATION)";
        break;
    default:
        break;
    }
    snprintf(buf, len, "%s: %s%s", call, vk_result_name(r), hint);
}

int vk_check(mlopt_backend_ctx *ctx, VkResult r, const char *call)
{
    if (r == VK_SUCCESS)
        return 0;
    if (r == VK_ERROR_DEVICE_LOST)
        ctx->device_lost = 1;
    vk_format_result(ctx->err, sizeof ctx->err, r, call);
    return 1;
}

int vk_enter(mlopt_backend_ctx *ctx)
{
    if (ctx->device_lost)
        return vk_fail(ctx, "vulkan: the device was lost earlier (VK_ERROR_DEVICE_LOST); "
                            "destroy this context and create a new one");
    if (ctx->validation_errors != ctx->validation_reported) {
        ctx->validation_reported = ctx->validation_errors;
        return vk_fail(ctx, "Vulkan validation layer reported an error: %s", ctx->validation_msg);
    }
    return 0;
}
