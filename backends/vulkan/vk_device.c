/* Loader (dlopen), instance, physical-device description, logical device. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static vk_global_fns g_fns;
static int g_loaded;

int vk_load_loader(vk_global_fns **out, char *err, size_t errlen)
{
    if (!g_loaded) {
        /* Opened once and never closed: ICDs register atexit handlers. */
        void *dl = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!dl)
            dl = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
            snprintf(err, errlen, "no Vulkan loader: dlopen libvulkan.so.1: %s (install libvulkan1)",
                     dlerror());
            return 1;
        }
        *(void **)&g_fns.vkGetInstanceProcAddr = dlsym(dl, "vkGetInstanceProcAddr");
        if (!g_fns.vkGetInstanceProcAddr) {
            snprintf(err, errlen, "libvulkan.so.1 has no vkGetInstanceProcAddr");
            return 1;
        }
#define LOAD_GLOBAL(name) \
        g_fns.name = (PFN_##name)g_fns.vkGetInstanceProcAddr(NULL, #name); \
        if (!g_fns.name) { snprintf(err, errlen, "Vulkan loader lacks %s", #name); return 1; }
        VK_GLOBAL_FUNCS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
        g_fns.vkEnumerateInstanceVersion = (PFN_vkEnumerateInstanceVersion)
            g_fns.vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
        g_loaded = 1;
    }
    *out = &g_fns;
    return 0;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
vk_debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                  VkDebugUtilsMessageTypeFlagsEXT types,
                  const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    mlopt_backend_ctx *ctx = user;
    if (ctx && (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        if (ctx->validation_errors == ctx->validation_reported)
            snprintf(ctx->validation_msg, sizeof ctx->validation_msg, "%s",
                     data && data->pMessage ? data->pMessage : "(no message)");
        ctx->validation_errors++;
    }
    return VK_FALSE;
}

static int has_layer(const vk_global_fns *G, const char *name)
{
    uint32_t n = 0;
    if (G->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n)
        return 0;
    VkLayerProperties *props = calloc(n, sizeof *props);
    int found = 0;
    if (props && G->vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (!strcmp(props[i].layerName, name))
                found = 1;
    free(props);
    return found;
}

static int has_instance_ext(const vk_global_fns *G, const char *layer, const char *name)
{
    uint32_t n = 0;
    if (G->vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || !n)
        return 0;
    VkExtensionProperties *props = calloc(n, sizeof *props);
    int found = 0;
    if (props && G->vkEnumerateInstanceExtensionProperties(layer, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (!strcmp(props[i].extensionName, name))
                found = 1;
    free(props);
    return found;
}

int vk_create_instance(const vk_global_fns *G, int validation, mlopt_backend_ctx *dbg_ctx,
                       VkInstance *out, vk_instance_fns *I, VkDebugUtilsMessengerEXT *messenger,
                       char *err, size_t errlen)
{
    uint32_t api = VK_API_VERSION_1_0;
    if (G->vkEnumerateInstanceVersion)
        G->vkEnumerateInstanceVersion(&api);
    if (api < VK_API_VERSION_1_1) {
        snprintf(err, errlen, "the Vulkan loader supports only Vulkan 1.0; mlopt needs 1.1");
        return 1;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "mlopt",
        .pEngineName = "mlopt",
        .apiVersion = VK_API_VERSION_1_1,
    };
    const char *layers[1];
    const char *exts[1];
    uint32_t nlayers = 0, nexts = 0;
    const char *vl = "VK_LAYER_KHRONOS_validation";
    int debug_utils = 0;
    if (validation && has_layer(G, vl)) {
        layers[nlayers++] = vl;
        if (has_instance_ext(G, NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
            has_instance_ext(G, vl, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
            debug_utils = 1;
        }
    }
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = vk_debug_callback,
        .pUserData = dbg_ctx,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = debug_utils ? &dbg : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = nlayers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = nexts,
        .ppEnabledExtensionNames = exts,
    };
    VkInstance inst;
    VkResult r = G->vkCreateInstance(&ci, NULL, &inst);
    if (r != VK_SUCCESS) {
        vk_format_result(err, errlen, r, "vkCreateInstance");
        return 1;
    }
#define LOAD_INSTANCE(name) \
    I->name = (PFN_##name)G->vkGetInstanceProcAddr(inst, #name); \
    if (!I->name) { snprintf(err, errlen, "Vulkan instance lacks %s", #name); return 1; }
    VK_INSTANCE_FUNCS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
    I->vkCreateDebugUtilsMessengerEXT = NULL;
    I->vkDestroyDebugUtilsMessengerEXT = NULL;
    *messenger = VK_NULL_HANDLE;
    if (debug_utils) {
        I->vkCreateDebugUtilsMessengerEXT = (PFN_vkCreateDebugUtilsMessengerEXT)
            G->vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT");
        I->vkDestroyDebugUtilsMessengerEXT = (PFN_vkDestroyDebugUtilsMessengerEXT)
            G->vkGetInstanceProcAddr(inst, "vkDestroyDebugUtilsMessengerEXT");
        if (I->vkCreateDebugUtilsMessengerEXT && messenger) {
            r = I->vkCreateDebugUtilsMessengerEXT(inst, &dbg, NULL, messenger);
            if (r != VK_SUCCESS) {
                vk_format_result(err, errlen, r, "vkCreateDebugUtilsMessengerEXT");
                I->vkDestroyInstance(inst, NULL);
                return 1;
            }
        }
    }
    *out = inst;
    return 0;
}

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x1010: return "Imagination";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return NULL;
    }
}

static int find_compute_queue(const vk_instance_fns *I, VkPhysicalDevice pd, uint32_t *family)
{
    uint32_t n = 0;
    I->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties props[32];
    if (n > 32)
        n = 32;
    I->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, props);
    /* Prefer a compute queue without graphics (async compute), else any. */
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(props[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || !props[i].queueCount)
            continue;
        if (best < 0 || !(props[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            best = (int)i;
    }
    if (best < 0)
        return 1;
    *family = (uint32_t)best;
    return 0;
}

void vk_describe_device(const vk_instance_fns *I, VkPhysicalDevice pd, mlopt_device_info *info)
{
    VkPhysicalDeviceProperties props;
    I->vkGetPhysicalDeviceProperties(pd, &props);
    VkPhysicalDeviceSubgroupProperties sub = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
    };
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
    };
    VkPhysicalDeviceProperties2 p2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub,
    };
    int have_driver_props = props.apiVersion >= VK_API_VERSION_1_2;
    if (have_driver_props)
        sub.pNext = &drv;
    if (props.apiVersion >= VK_API_VERSION_1_1)
        I->vkGetPhysicalDeviceProperties2(pd, &p2);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%.127s", props.deviceName);
    const char *vendor = vendor_name(props.vendorID);
    if (vendor)
        snprintf(info->vendor, sizeof info->vendor, "%s", vendor);
    else
        snprintf(info->vendor, sizeof info->vendor, "0x%04x", props.vendorID);
    char api[24];
    snprintf(api, sizeof api, "VK %u.%u.%u", VK_API_VERSION_MAJOR(props.apiVersion),
             VK_API_VERSION_MINOR(props.apiVersion), VK_API_VERSION_PATCH(props.apiVersion));
    if (have_driver_props && drv.driverName[0])
        snprintf(info->driver, sizeof info->driver, "%.20s %.30s, %.10s", drv.driverName,
                 drv.driverInfo, api);
    else if (props.vendorID == 0x10DE) /* NVIDIA packs 10.8.8.6 bits */
        snprintf(info->driver, sizeof info->driver, "%u.%u.%u, %s", props.driverVersion >> 22,
                 (props.driverVersion >> 14) & 0xff, (props.driverVersion >> 6) & 0xff, api);
    else
        snprintf(info->driver, sizeof info->driver, "%u.%u.%u, %s",
                 VK_API_VERSION_MAJOR(props.driverVersion),
                 VK_API_VERSION_MINOR(props.driverVersion),
                 VK_API_VERSION_PATCH(props.driverVersion), api);
    switch (props.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->type = MLOPT_DEVICE_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->type = MLOPT_DEVICE_IGPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: info->type = MLOPT_DEVICE_SOFTWARE; break;
    default: info->type = MLOPT_DEVICE_OTHER; break;
    }
    VkPhysicalDeviceMemoryProperties mp;
    I->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            info->memory_bytes += mp.memoryHeaps[i].size;
    info->compute_units = 0; /* Vulkan core does not expose it */
    info->subgroup_size = props.apiVersion >= VK_API_VERSION_1_1 ? (int)sub.subgroupSize : 0;
    uint32_t family;
    info->usable = 1;
    if (props.apiVersion < VK_API_VERSION_1_1) {
        info->usable = 0;
        snprintf(info->why, sizeof info->why, "device supports only Vulkan 1.0; 1.1 is needed");
    } else if (find_compute_queue(I, pd, &family)) {
        info->usable = 0;
        snprintf(info->why, sizeof info->why, "no queue family with VK_QUEUE_COMPUTE_BIT");
    }
}

int vk_open_device(mlopt_backend_ctx *ctx, VkPhysicalDevice pd, char *err, size_t errlen)
{
    ctx->phys = pd;
    ctx->I.vkGetPhysicalDeviceProperties(pd, &ctx->props);
    ctx->I.vkGetPhysicalDeviceMemoryProperties(pd, &ctx->mem_props);
    vk_describe_device(&ctx->I, pd, &ctx->info);
    if (!ctx->info.usable) {
        snprintf(err, errlen, "Vulkan device %s is not usable: %s", ctx->info.name, ctx->info.why);
        return 1;
    }
    find_compute_queue(&ctx->I, pd, &ctx->queue_family);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = ctx->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    VkResult r = ctx->I.vkCreateDevice(pd, &dci, NULL, &ctx->dev);
    if (r != VK_SUCCESS) {
        vk_format_result(err, errlen, r, "vkCreateDevice");
        ctx->dev = VK_NULL_HANDLE;
        return 1;
    }
#define LOAD_DEVICE(name) \
    ctx->D.name = (PFN_##name)ctx->I.vkGetDeviceProcAddr(ctx->dev, #name); \
    if (!ctx->D.name) { snprintf(err, errlen, "Vulkan device lacks %s", #name); return 1; }
    VK_DEVICE_FUNCS(LOAD_DEVICE)
#undef LOAD_DEVICE
    ctx->D.vkGetDeviceQueue(ctx->dev, ctx->queue_family, 0, &ctx->queue);
    /* 1-D kernels: 256 invocations where allowed (128 is the guaranteed minimum). */
    uint32_t wg = 256;
    const char *wg_env = getenv("MLOPT_VULKAN_WG"); /* tuning override, power of two */
    if (wg_env && atoi(wg_env) >= 32 && atoi(wg_env) <= 1024 && !(atoi(wg_env) & (atoi(wg_env) - 1)))
        wg = (uint32_t)atoi(wg_env);
    while (wg > ctx->props.limits.maxComputeWorkGroupInvocations ||
           wg > ctx->props.limits.maxComputeWorkGroupSize[0])
        wg >>= 1;
    ctx->wg = wg;
    return 0;
}
