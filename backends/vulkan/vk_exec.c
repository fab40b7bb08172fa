/* Recording and submission: one command buffer collects every kernel and
 * copy until the host must wait (download/synchronize) or the recording
 * budget is reached; then one submission and one fence wait.  Pipelines
 * (per shader + specialization constants) and descriptor sets (per tuple of
 * memory blocks) are cached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

/* Submit after this many recorded commands even without a host wait, so a
 * long stream of work without downloads does not grow without bound
 * (MLOPT_VULKAN_RECORD_BUDGET overrides it, for tests). */
#define VK_RECORD_BUDGET 4096u

static const struct {
    const uint32_t *code;
    size_t bytes;
    const char *name;
} k_shaders[VK_SHADER_COUNT_] = {
#define VK_SHADER_ENTRY(n) {vk_spv_##n, sizeof vk_spv_##n, #n},
    VK_SHADER_LIST(VK_SHADER_ENTRY)
#undef VK_SHADER_ENTRY
};

int vk_exec_init(mlopt_backend_ctx *ctx)
{
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = ctx->queue_family,
    };
    if (vk_check(ctx, ctx->D.vkCreateCommandPool(ctx->dev, &pci, NULL, &ctx->cmd_pool),
                 "vkCreateCommandPool"))
        return 1;
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = ctx->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if (vk_check(ctx, ctx->D.vkAllocateCommandBuffers(ctx->dev, &cai, &ctx->cmd),
                 "vkAllocateCommandBuffers"))
        return 1;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (vk_check(ctx, ctx->D.vkCreateFence(ctx->dev, &fci, NULL, &ctx->fence), "vkCreateFence"))
        return 1;
    VkPipelineCacheCreateInfo pcci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (vk_check(ctx, ctx->D.vkCreatePipelineCache(ctx->dev, &pcci, NULL, &ctx->pipeline_cache),
                 "vkCreatePipelineCache"))
        return 1;
    VkDescriptorSetLayoutBinding bindings[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < VK_MAX_BINDINGS; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dlci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = VK_MAX_BINDINGS,
        .pBindings = bindings,
    };
    if (vk_check(ctx, ctx->D.vkCreateDescriptorSetLayout(ctx->dev, &dlci, NULL,
                                                          &ctx->dset_layout),
                 "vkCreateDescriptorSetLayout"))
        return 1;
    VkPushConstantRange pcr = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_PUSH_BYTES,
    };
    VkPipelineLayoutCreateInfo plci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &ctx->dset_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pcr,
    };
    if (vk_check(ctx, ctx->D.vkCreatePipelineLayout(ctx->dev, &plci, NULL,
                                                     &ctx->pipeline_layout),
                 "vkCreatePipelineLayout"))
        return 1;
    VkDescriptorPoolSize ps = {
        .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = VK_MAX_DSETS * VK_MAX_BINDINGS,
    };
    VkDescriptorPoolCreateInfo dpci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = VK_MAX_DSETS,
        .poolSizeCount = 1,
        .pPoolSizes = &ps,
    };
    if (vk_check(ctx, ctx->D.vkCreateDescriptorPool(ctx->dev, &dpci, NULL, &ctx->dset_pool),
                 "vkCreateDescriptorPool"))
        return 1;
    vk_gemm_choose_tiles(ctx);
    const char *budget = getenv("MLOPT_VULKAN_RECORD_BUDGET");
    ctx->record_budget = budget && atoi(budget) > 0 ? (uint32_t)atoi(budget) : VK_RECORD_BUDGET;
    return 0;
}

void vk_exec_destroy(mlopt_backend_ctx *ctx)
{
    if (!ctx->dev)
        return;
    for (int i = 0; i < ctx->npipelines; i++)
        ctx->D.vkDestroyPipeline(ctx->dev, ctx->pipelines[i].pipeline, NULL);
    ctx->npipelines = 0;
    for (int i = 0; i < VK_SHADER_COUNT_; i++)
        if (ctx->modules[i])
            ctx->D.vkDestroyShaderModule(ctx->dev, ctx->modules[i], NULL);
    if (ctx->dset_pool)
        ctx->D.vkDestroyDescriptorPool(ctx->dev, ctx->dset_pool, NULL);
    if (ctx->pipeline_layout)
        ctx->D.vkDestroyPipelineLayout(ctx->dev, ctx->pipeline_layout, NULL);
    if (ctx->dset_layout)
        ctx->D.vkDestroyDescriptorSetLayout(ctx->dev, ctx->dset_layout, NULL);
    if (ctx->pipeline_cache)
        ctx->D.vkDestroyPipelineCache(ctx->dev, ctx->pipeline_cache, NULL);
    if (ctx->fence)
        ctx->D.vkDestroyFence(ctx->dev, ctx->fence, NULL);
    if (ctx->cmd_pool)
        ctx->D.vkDestroyCommandPool(ctx->dev, ctx->cmd_pool, NULL);
}

int vk_begin(mlopt_backend_ctx *ctx)
{
    if (ctx->recording)
        return 0;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    if (vk_check(ctx, ctx->D.vkBeginCommandBuffer(ctx->cmd, &bi), "vkBeginCommandBuffer"))
        return 1;
    ctx->recording = 1;
    ctx->recorded_ops = 0;
    ctx->need_barrier = 0;
    return 0;
}

/* A global memory barrier between dependent commands.  Conservative (every
 * command after the first waits for the previous ones) but cheap compared to
 * tracking per-buffer hazards, and always correct. */
void vk_barrier(mlopt_backend_ctx *ctx)
{
    if (!ctx->need_barrier)
        return;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                  VK_PIPELINE_STAGE_TRANSFER_BIT;
    ctx->D.vkCmdPipelineBarrier(ctx->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->need_barrier = 0;
}

int vk_flush(mlopt_backend_ctx *ctx)
{
    if (!ctx->recording)
        return 0;
    /* Make device writes visible to host reads of mapped memory. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT,
    };
    ctx->D.vkCmdPipelineBarrier(ctx->cmd,
                                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                    VK_PIPELINE_STAGE_TRANSFER_BIT,
                                VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->recording = 0;
    if (vk_check(ctx, ctx->D.vkEndCommandBuffer(ctx->cmd), "vkEndCommandBuffer"))
        return 1;
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &ctx->cmd,
    };
    if (vk_check(ctx, ctx->D.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence), "vkQueueSubmit"))
        return 1;
    ctx->stats.submissions++;
    ctx->stats.host_syncs++;
    if (vk_check(ctx, ctx->D.vkWaitForFences(ctx->dev, 1, &ctx->fence, VK_TRUE, UINT64_MAX),
                 "vkWaitForFences"))
        return 1;
    if (vk_check(ctx, ctx->D.vkResetFences(ctx->dev, 1, &ctx->fence), "vkResetFences"))
        return 1;
    if (vk_check(ctx, ctx->D.vkResetCommandBuffer(ctx->cmd, 0), "vkResetCommandBuffer"))
        return 1;
    ctx->recorded_ops = 0;
    ctx->staging_used = 0;
    return vk_enter(ctx);
}

static int get_pipeline(mlopt_backend_ctx *ctx, int shader, const uint32_t *spec, int nspec,
                        VkPipeline *out)
{
    uint32_t key[VK_MAX_SPEC] = {0};
    memcpy(key, spec, sizeof *spec * (size_t)nspec);
    for (int i = 0; i < ctx->npipelines; i++)
        if (ctx->pipelines[i].shader == shader && !memcmp(ctx->pipelines[i].spec, key, sizeof key)) {
            *out = ctx->pipelines[i].pipeline;
            return 0;
        }
    if (ctx->npipelines == VK_MAX_PIPELINES)
        return vk_fail(ctx, "vulkan: pipeline cache full (%d variants)", VK_MAX_PIPELINES);
    if (!ctx->modules[shader]) {
        VkShaderModuleCreateInfo smci = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = k_shaders[shader].bytes,
            .pCode = k_shaders[shader].code,
        };
        if (vk_check(ctx, ctx->D.vkCreateShaderModule(ctx->dev, &smci, NULL,
                                                       &ctx->modules[shader]),
                     "vkCreateShaderModule"))
            return 1;
    }
    VkSpecializationMapEntry entries[VK_MAX_SPEC];
    for (int i = 0; i < nspec; i++)
        entries[i] = (VkSpecializationMapEntry){
            .constantID = (uint32_t)i, .offset = (uint32_t)(4 * i), .size = 4,
        };
    VkSpecializationInfo si = {
        .mapEntryCount = (uint32_t)nspec,
        .pMapEntries = entries,
        .dataSize = 4 * (size_t)nspec,
        .pData = key,
    };
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = ctx->modules[shader],
            .pName = "main",
            .pSpecializationInfo = &si,
        },
        .layout = ctx->pipeline_layout,
    };
    VkPipeline p;
    char call[96];
    snprintf(call, sizeof call, "vkCreateComputePipelines(%s)", k_shaders[shader].name);
    if (vk_check(ctx, ctx->D.vkCreateComputePipelines(ctx->dev, ctx->pipeline_cache, 1, &cpci,
                                                       NULL, &p), call))
        return 1;
    vk_pipeline *e = &ctx->pipelines[ctx->npipelines++];
    e->shader = shader;
    memcpy(e->spec, key, sizeof key);
    e->pipeline = p;
    *out = p;
    return 0;
}

static int get_dset(mlopt_backend_ctx *ctx, const uint8_t *blocks, VkDescriptorSet *out)
{
    for (int i = 0; i < ctx->ndsets; i++)
        if (!memcmp(ctx->dsets[i].blocks, blocks, VK_MAX_BINDINGS)) {
            *out = ctx->dsets[i].set;
            return 0;
        }
    if (ctx->ndsets == VK_MAX_DSETS) {
        /* Many block combinations: finish recorded work, start over. */
        if (vk_flush(ctx))
            return 1;
        if (vk_check(ctx, ctx->D.vkResetDescriptorPool(ctx->dev, ctx->dset_pool, 0),
                     "vkResetDescriptorPool"))
            return 1;
        ctx->ndsets = 0;
        if (vk_begin(ctx))
            return 1;
    }
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = ctx->dset_pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &ctx->dset_layout,
    };
    VkDescriptorSet set;
    if (vk_check(ctx, ctx->D.vkAllocateDescriptorSets(ctx->dev, &ai, &set),
                 "vkAllocateDescriptorSets"))
        return 1;
    VkDescriptorBufferInfo infos[VK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[VK_MAX_BINDINGS];
    for (int i = 0; i < VK_MAX_BINDINGS; i++) {
        infos[i] = (VkDescriptorBufferInfo){
            .buffer = ctx->blocks[blocks[i]].buf, .offset = 0, .range = VK_WHOLE_SIZE,
        };
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
    }
    ctx->D.vkUpdateDescriptorSets(ctx->dev, VK_MAX_BINDINGS, writes, 0, NULL);
    vk_dset *e = &ctx->dsets[ctx->ndsets++];
    memcpy(e->blocks, blocks, VK_MAX_BINDINGS);
    e->set = set;
    *out = set;
    return 0;
}

int vk_dispatch(mlopt_backend_ctx *ctx, int shader, const uint32_t *spec, int nspec,
                const mlopt_ref *refs, int nrefs, const void *params, size_t param_bytes,
                uint32_t gx, uint32_t gy, uint32_t gz)
{
    if (!gx || !gy || !gz)
        return 0;
    const uint32_t *maxg = ctx->props.limits.maxComputeWorkGroupCount;
    if (gx > maxg[0] || gy > maxg[1] || gz > maxg[2])
        return vk_fail(ctx, "vulkan: %s needs %ux%ux%u workgroups; the device allows %ux%ux%u",
                       k_shaders[shader].name, gx, gy, gz, maxg[0], maxg[1], maxg[2]);
    if (4 * (size_t)nrefs + param_bytes > VK_PUSH_BYTES || nrefs > VK_MAX_BINDINGS)
        return vk_fail(ctx, "vulkan: internal error: %s push constants too large",
                       k_shaders[shader].name);
    if (ctx->recording && ctx->recorded_ops >= ctx->record_budget && vk_flush(ctx))
        return 1;
    if (vk_begin(ctx))
        return 1;
    uint8_t blocks[VK_MAX_BINDINGS];
    uint32_t push[VK_PUSH_BYTES / 4];
    /* Unused bindings (and NULL optional tensors) point at block 0. */
    memset(blocks, 0, sizeof blocks);
    for (int i = 0; i < nrefs; i++) {
        if (refs[i].buf) {
            blocks[i] = (uint8_t)refs[i].buf->block;
            push[i] = (uint32_t)((refs[i].buf->offset + refs[i].offset) / 4);
        } else {
            push[i] = 0;
        }
    }
    memcpy(push + nrefs, params, param_bytes);
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkDescriptorSet set = VK_NULL_HANDLE;
    if (get_pipeline(ctx, shader, spec, nspec, &pipeline) || get_dset(ctx, blocks, &set))
        return 1;
    vk_barrier(ctx);
    ctx->D.vkCmdBindPipeline(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    ctx->D.vkCmdBindDescriptorSets(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
                                   ctx->pipeline_layout, 0, 1, &set, 0, NULL);
    size_t push_bytes = (4 * (size_t)nrefs + param_bytes + 3) & ~(size_t)3;
    ctx->D.vkCmdPushConstants(ctx->cmd, ctx->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                              (uint32_t)push_bytes, push);
    ctx->D.vkCmdDispatch(ctx->cmd, gx, gy, gz);
    ctx->need_barrier = 1;
    ctx->recorded_ops++;
    ctx->stats.kernels++;
    return vk_enter(ctx);
}

uint32_t vk_groups_1d(mlopt_backend_ctx *ctx, size_t n)
{
    size_t g = (n + ctx->wg - 1) / ctx->wg;
    size_t cap = ctx->props.limits.maxComputeWorkGroupCount[0];
    if (cap > 65535)
        cap = 65535;
    if (g > cap)
        g = cap;
    return (uint32_t)(g ? g : 1);
}
