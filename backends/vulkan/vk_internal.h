/* Vulkan backend internals shared by the plugin's source files. */
#ifndef MLOPT_VK_INTERNAL_H
#define MLOPT_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mlopt/backend.h"
#include "vk_shader_table.h"

/* ---- entry points, loaded from the loader with dlopen (vk_device.c) ---- */
#define VK_GLOBAL_FUNCS(X) \
    X(vkCreateInstance) X(vkEnumerateInstanceLayerProperties) \
    X(vkEnumerateInstanceExtensionProperties)
#define VK_INSTANCE_FUNCS(X) \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkCreateDevice) X(vkGetDeviceProcAddr)
#define VK_DEVICE_FUNCS(X) \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkAllocateMemory) X(vkFreeMemory) \
    X(vkMapMemory) X(vkUnmapMemory) X(vkCreateBuffer) X(vkDestroyBuffer) \
    X(vkGetBufferMemoryRequirements) X(vkBindBufferMemory) X(vkCreateShaderModule) \
    X(vkDestroyShaderModule) X(vkCreatePipelineCache) X(vkDestroyPipelineCache) \
    X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreatePipelineLayout) \
    X(vkDestroyPipelineLayout) X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) \
    X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) X(vkResetDescriptorPool) \
    X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreateCommandPool) \
    X(vkDestroyCommandPool) X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer) \
    X(vkEndCommandBuffer) X(vkResetCommandBuffer) X(vkCmdBindPipeline) \
    X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdFillBuffer) X(vkCreateFence) \
    X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkQueueSubmit) \
    X(vkDeviceWaitIdle)

#define VK_DECLARE_PFN(name) PFN_##name name;
typedef struct vk_global_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    VK_GLOBAL_FUNCS(VK_DECLARE_PFN)
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion; /* NULL on 1.0 loaders */
} vk_global_fns;
typedef struct vk_instance_fns {
    VK_INSTANCE_FUNCS(VK_DECLARE_PFN)
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} vk_instance_fns;
typedef struct vk_device_fns {
    VK_DEVICE_FUNCS(VK_DECLARE_PFN)
} vk_device_fns;

/* ---- shaders ---- */
enum {
#define VK_SHADER_ENUM(name) VK_SHADER_##name,
    VK_SHADER_LIST(VK_SHADER_ENUM)
#undef VK_SHADER_ENUM
    VK_SHADER_COUNT_
};

/* Every pipeline shares one layout: VK_MAX_BINDINGS storage buffers (each the
 * whole VkBuffer of a memory block) and a push-constant block that starts
 * with one element offset per bound tensor. */
#define VK_MAX_BINDINGS 8
#define VK_PUSH_BYTES 128
#define VK_MAX_SPEC 8
#define VK_MAX_BLOCKS 250 /* block ids are uint8_t in descriptor-set keys */
#define VK_MAX_PIPELINES 128
#define VK_MAX_DSETS 256

/* ---- memory ---- */
typedef struct vk_free_range {
    VkDeviceSize offset, size;
} vk_free_range;

typedef struct vk_block {
    VkDeviceMemory mem;
    VkBuffer buf;
    VkDeviceSize size;
    unsigned char *map;         /* non-NULL when the block is host-visible */
    vk_free_range *free_list;   /* sorted by offset, coalesced */
    int nfree, cap_free;
    VkDeviceSize used;
} vk_block;

struct mlopt_buffer {
    uint32_t block;
    VkDeviceSize offset; /* within the block */
    VkDeviceSize size;   /* as requested */
    VkDeviceSize span;   /* as reserved (aligned) */
};

enum { VK_SCRATCH_COL, VK_SCRATCH_PERMUTE, VK_SCRATCH_PARTIAL, VK_SCRATCH_COPY, VK_SCRATCH_SPLIT,
       VK_SCRATCH_COUNT_ };

typedef struct vk_pipeline {
    int shader;
    uint32_t spec[VK_MAX_SPEC];
    VkPipeline pipeline;
} vk_pipeline;

typedef struct vk_dset {
    uint8_t blocks[VK_MAX_BINDINGS];
    VkDescriptorSet set;
} vk_dset;

/* GEMM tiling chosen per device (specialization constants). */
typedef struct vk_gemm_tiles {
    uint32_t bm, bn, bk, tm, tn;
} vk_gemm_tiles;

struct mlopt_backend_ctx {
    vk_instance_fns I;
    vk_device_fns D;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    mlopt_device_info info;
    uint32_t wg;          /* 1-D workgroup size: power of two <= 256 */

    /* memory: device blocks, sub-allocated */
    uint32_t mem_type;
    int direct_host;      /* blocks are host-visible+coherent: map directly */
    VkDeviceSize block_size;
    vk_block blocks[VK_MAX_BLOCKS];
    uint32_t nblocks;
    /* staging ring (host-visible, coherent) for uploads/downloads */
    VkDeviceMemory staging_mem;
    VkBuffer staging_buf;
    unsigned char *staging_map;
    VkDeviceSize staging_size, staging_used;
    /* context-owned scratch, grown on demand */
    mlopt_buffer *scratch[VK_SCRATCH_COUNT_];

    /* execution */
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording;
    uint32_t recorded_ops;  /* commands recorded since the last submission */
    uint32_t record_budget; /* submit after this many commands */
    int need_barrier;
    VkPipelineCache pipeline_cache;
    VkDescriptorSetLayout dset_layout;
    VkPipelineLayout pipeline_layout;
    VkDescriptorPool dset_pool;
    vk_dset dsets[VK_MAX_DSETS];
    int ndsets;
    VkShaderModule modules[VK_SHADER_COUNT_];
    vk_pipeline pipelines[VK_MAX_PIPELINES];
    int npipelines;
    vk_gemm_tiles gemm_big, gemm_small;

    mlopt_backend_stats stats;
    int device_lost;
    /* validation (MLOPT_VULKAN_VALIDATION=1) */
    int validation;
    uint64_t validation_errors, validation_reported;
    char validation_msg[512];
    char err[1024];
};

/* ---- errors (vk_errors.c) ---- */
const char *vk_result_name(VkResult r);
int vk_fail(mlopt_backend_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Turn a VkResult into the context's error: "call: VK_ERROR_..." plus a hint. */
int vk_check(mlopt_backend_ctx *ctx, VkResult r, const char *call);
void vk_format_result(char *buf, size_t len, VkResult r, const char *call);
/* Slot prologue: refuse after device loss; report new validation errors. */
int vk_enter(mlopt_backend_ctx *ctx);

/* ---- loader and devices (vk_device.c) ---- */
int vk_load_loader(vk_global_fns **out, char *err, size_t errlen);
int vk_create_instance(const vk_global_fns *G, int validation, mlopt_backend_ctx *dbg_ctx,
                       VkInstance *out, vk_instance_fns *I, VkDebugUtilsMessengerEXT *messenger,
                       char *err, size_t errlen);
void vk_describe_device(const vk_instance_fns *I, VkPhysicalDevice pd, mlopt_device_info *info);
int vk_open_device(mlopt_backend_ctx *ctx, VkPhysicalDevice pd, char *err, size_t errlen);

/* ---- memory (vk_memory.c) ---- */
int vk_memory_init(mlopt_backend_ctx *ctx);
void vk_memory_destroy(mlopt_backend_ctx *ctx);
int vk_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out);
void vk_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf);
/* Freeing while recorded work still uses buf is safe: work runs in order
 * with barriers, every submission is waited for, and uploads made while work
 * is recorded go through recorded staging copies, never a direct memcpy. */
/* A context scratch buffer of at least bytes (contents undefined). */
int vk_scratch(mlopt_backend_ctx *ctx, int slot, size_t bytes, mlopt_ref *out);
/* Reserve bytes of the staging ring (flushing when it is full). */
int vk_staging_reserve(mlopt_backend_ctx *ctx, VkDeviceSize bytes, VkDeviceSize *offset);
int vk_ref_check(mlopt_backend_ctx *ctx, const char *slot, const char *what, mlopt_ref r,
                 size_t bytes);

/* ---- execution (vk_exec.c) ---- */
int vk_exec_init(mlopt_backend_ctx *ctx);
void vk_exec_destroy(mlopt_backend_ctx *ctx);
int vk_begin(mlopt_backend_ctx *ctx);
void vk_barrier(mlopt_backend_ctx *ctx);
/* Submit what is recorded and wait for it. */
int vk_flush(mlopt_backend_ctx *ctx);
/* Record a compute dispatch.  refs[i] is bound at binding i; its element
 * offset is the i-th uint of the push constants, params follow. spec[0] is
 * the workgroup size (local_size_x_id = 0). */
int vk_dispatch(mlopt_backend_ctx *ctx, int shader, const uint32_t *spec, int nspec,
                const mlopt_ref *refs, int nrefs, const void *params, size_t param_bytes,
                uint32_t gx, uint32_t gy, uint32_t gz);
/* Workgroups for a grid-stride loop over n items, one per invocation. */
uint32_t vk_groups_1d(mlopt_backend_ctx *ctx, size_t n);

/* One workgroup per row (row_index() in common.glsl): rows beyond 65535
 * spill into the y dimension. */
static inline void vk_row_groups(uint32_t rows, uint32_t *gx, uint32_t *gy)
{
    *gx = rows < 65535u ? rows : 65535u;
    *gy = *gx ? (rows + *gx - 1) / *gx : 0;
}

static inline uint32_t vk_f2u(float f)
{
    union { float f; uint32_t u; } v;
    v.f = f;
    return v.u;
}

/* Internal GEMM on refs (vk_gemm.c), used by the convolution too. */
int vk_gemm_batched(mlopt_backend_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
                    mlopt_ref a, int lda, long long sa, mlopt_ref b, int ldb, long long sb,
                    float beta, mlopt_ref c, int ldc, long long sc, int batch);
void vk_gemm_choose_tiles(mlopt_backend_ctx *ctx);
/* Reduce x viewed as [rows][len] into out[row] (vk_reduce.c). mode: VK_RED_* */
enum { VK_RED_SUM = 0, VK_RED_MAX_ABS = 1, VK_RED_SUM_ABS = 2, VK_RED_SUM_SQ = 3 };
int vk_reduce_rows(mlopt_backend_ctx *ctx, int mode, int sqrt_out, int accumulate,
                   uint32_t rows, uint32_t len, mlopt_ref x, mlopt_ref out);
int vk_bias_add_internal(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x,
                         mlopt_ref bias);
int vk_bias_grad_internal(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy,
                          mlopt_ref dbias);

/* ---- slots (one family per file) ---- */
int vk_upload(mlopt_backend_ctx *, mlopt_ref, const void *, size_t);
int vk_download(mlopt_backend_ctx *, void *, mlopt_ref, size_t);
int vk_copy(mlopt_backend_ctx *, mlopt_ref, mlopt_ref, size_t);
int vk_fill(mlopt_backend_ctx *, mlopt_ref, float, size_t);
int vk_synchronize(mlopt_backend_ctx *);
int vk_gemm(mlopt_backend_ctx *, int, int, int, int, int, float, mlopt_ref, int, mlopt_ref,
            int, float, mlopt_ref, int);
int vk_gemm_strided_batched(mlopt_backend_ctx *, int, int, int, int, int, float, mlopt_ref,
                            int, long long, mlopt_ref, int, long long, float, mlopt_ref, int,
                            long long, int);
int vk_conv2d_forward(mlopt_backend_ctx *, const mlopt_conv2d_params *, mlopt_ref, mlopt_ref,
                      mlopt_ref, mlopt_ref);
int vk_conv2d_backward_data(mlopt_backend_ctx *, const mlopt_conv2d_params *, mlopt_ref,
                            mlopt_ref, mlopt_ref);
int vk_conv2d_backward_filter(mlopt_backend_ctx *, const mlopt_conv2d_params *, mlopt_ref,
                              mlopt_ref, mlopt_ref, mlopt_ref);
int vk_pool2d_forward(mlopt_backend_ctx *, int, const mlopt_pool2d_params *, mlopt_ref,
                      mlopt_ref);
int vk_pool2d_backward(mlopt_backend_ctx *, int, const mlopt_pool2d_params *, mlopt_ref,
                       mlopt_ref, mlopt_ref);
int vk_act_forward(mlopt_backend_ctx *, int, float, float, size_t, mlopt_ref, mlopt_ref);
int vk_act_backward(mlopt_backend_ctx *, int, float, float, size_t, mlopt_ref, mlopt_ref,
                    mlopt_ref, mlopt_ref);
int vk_bias_add(mlopt_backend_ctx *, int, int, int, mlopt_ref, mlopt_ref);
int vk_bias_grad(mlopt_backend_ctx *, int, int, int, mlopt_ref, mlopt_ref);
int vk_batchnorm_forward_train(mlopt_backend_ctx *, int, int, int, float, float, mlopt_ref,
                               mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref,
                               mlopt_ref, mlopt_ref);
int vk_batchnorm_forward_eval(mlopt_backend_ctx *, int, int, int, float, mlopt_ref, mlopt_ref,
                              mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_batchnorm_backward(mlopt_backend_ctx *, int, int, int, mlopt_ref, mlopt_ref, mlopt_ref,
                          mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_dropout_forward(mlopt_backend_ctx *, size_t, float, uint32_t, mlopt_ref, mlopt_ref,
                       mlopt_ref);
int vk_softmax_forward(mlopt_backend_ctx *, int, int, float, int, mlopt_ref, mlopt_ref);
int vk_softmax_xent(mlopt_backend_ctx *, int, int, float, mlopt_ref, mlopt_ref, mlopt_ref,
                    mlopt_ref, float);
int vk_softmax_kl(mlopt_backend_ctx *, int, int, float, mlopt_ref, mlopt_ref, mlopt_ref,
                  mlopt_ref, float);
int vk_argmax(mlopt_backend_ctx *, int, int, mlopt_ref, mlopt_ref);
int vk_accuracy_count(mlopt_backend_ctx *, int, int, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_add(mlopt_backend_ctx *, size_t, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_sub(mlopt_backend_ctx *, size_t, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_mul(mlopt_backend_ctx *, size_t, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_axpy(mlopt_backend_ctx *, size_t, float, mlopt_ref, mlopt_ref);
int vk_scale(mlopt_backend_ctx *, size_t, float, mlopt_ref, mlopt_ref);
int vk_mask_mul(mlopt_backend_ctx *, size_t, mlopt_ref, mlopt_ref);
int vk_qgemm(mlopt_backend_ctx *, int, int, int, mlopt_ref, int, int, mlopt_ref, int, mlopt_ref,
             mlopt_ref, mlopt_ref, int, int, mlopt_ref, int);
int vk_qconv2d(mlopt_backend_ctx *, const mlopt_conv2d_params *, mlopt_ref, int, mlopt_ref,
               mlopt_ref, mlopt_ref, mlopt_ref, int, int, mlopt_ref);
int vk_qmaxpool(mlopt_backend_ctx *, const mlopt_pool2d_params *, mlopt_ref, mlopt_ref);
int vk_quantize(mlopt_backend_ctx *, size_t, float, int, mlopt_ref, mlopt_ref);
int vk_dequantize(mlopt_backend_ctx *, size_t, float, int, mlopt_ref, mlopt_ref);
int vk_fake_quant(mlopt_backend_ctx *, size_t, int, size_t, int, int, mlopt_ref, mlopt_ref,
                  mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref);
int vk_reduce_sum(mlopt_backend_ctx *, size_t, mlopt_ref, mlopt_ref);
int vk_reduce_max_abs(mlopt_backend_ctx *, size_t, mlopt_ref, mlopt_ref);
int vk_channel_norm(mlopt_backend_ctx *, int, int, int, mlopt_ref, mlopt_ref);
int vk_sgd_update(mlopt_backend_ctx *, size_t, float, float, float, float, int, int, mlopt_ref,
                  mlopt_ref, mlopt_ref);
int vk_adam_update(mlopt_backend_ctx *, size_t, float, float, float, float, float, int, int,
                   mlopt_ref, mlopt_ref, mlopt_ref, mlopt_ref);

#endif
