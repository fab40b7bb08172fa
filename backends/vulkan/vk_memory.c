/* Device memory: a few large VkDeviceMemory blocks, each with one VkBuffer
 * bound whole, sub-allocated first-fit with a coalescing free list.  Tensors
 * are (block, offset) pairs; kernels get element offsets in push constants. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

#define VK_SUBALLOC_ALIGN 256u
#define VK_STAGING_BYTES (16u << 20)

static VkDeviceSize round_up(VkDeviceSize x, VkDeviceSize a)
{
    return (x + a - 1) / a * a;
}

static const VkBufferUsageFlags k_usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                          VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                          VK_BUFFER_USAGE_TRANSFER_DST_BIT;

static int find_type(mlopt_backend_ctx *ctx, uint32_t bits, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < ctx->mem_props.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (ctx->mem_props.memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

/* A buffer plus memory of the given type, optionally mapped. */
static int make_buffer(mlopt_backend_ctx *ctx, VkDeviceSize size, uint32_t type, int map,
                       VkBuffer *buf, VkDeviceMemory *mem, unsigned char **ptr)
{
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = k_usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    if (vk_check(ctx, ctx->D.vkCreateBuffer(ctx->dev, &bci, NULL, buf), "vkCreateBuffer"))
        return 1;
    VkMemoryRequirements req;
    ctx->D.vkGetBufferMemoryRequirements(ctx->dev, *buf, &req);
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    if (!(req.memoryTypeBits & (1u << type))) {
        ctx->D.vkDestroyBuffer(ctx->dev, *buf, NULL);
        return vk_fail(ctx, "vulkan: memory type %u cannot back a storage buffer", type);
    }
    if (vk_check(ctx, ctx->D.vkAllocateMemory(ctx->dev, &mai, NULL, mem), "vkAllocateMemory")) {
        ctx->D.vkDestroyBuffer(ctx->dev, *buf, NULL);
        return 1;
    }
    if (vk_check(ctx, ctx->D.vkBindBufferMemory(ctx->dev, *buf, *mem, 0), "vkBindBufferMemory"))
        goto fail;
    *ptr = NULL;
    if (map && vk_check(ctx, ctx->D.vkMapMemory(ctx->dev, *mem, 0, VK_WHOLE_SIZE, 0,
                                                 (void **)ptr), "vkMapMemory"))
        goto fail;
    return 0;
fail:
    ctx->D.vkFreeMemory(ctx->dev, *mem, NULL);
    ctx->D.vkDestroyBuffer(ctx->dev, *buf, NULL);
    return 1;
}

int vk_memory_init(mlopt_backend_ctx *ctx)
{
    /* Which memory types can back our storage buffers at all. */
    VkBuffer probe;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 4096, .usage = k_usage,
    };
    if (vk_check(ctx, ctx->D.vkCreateBuffer(ctx->dev, &bci, NULL, &probe), "vkCreateBuffer"))
        return 1;
    VkMemoryRequirements req;
    ctx->D.vkGetBufferMemoryRequirements(ctx->dev, probe, &req);
    ctx->D.vkDestroyBuffer(ctx->dev, probe, NULL);

    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags hvc = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                      VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    /* Unified memory (lavapipe, integrated GPUs): use device-local host-visible
     * memory directly.  A discrete GPU's host-visible device memory (BAR) is
     * slow to read from the host, so there we stage instead. */
    const char *force_staging = getenv("MLOPT_VULKAN_STAGING"); /* tests the dGPU path */
    if (ctx->info.type != MLOPT_DEVICE_GPU && !(force_staging && *force_staging == '1'))
        t = find_type(ctx, req.memoryTypeBits, dl | hvc);
    ctx->direct_host = t >= 0;
    if (t < 0)
        t = find_type(ctx, req.memoryTypeBits, dl);
    if (t < 0)
        t = find_type(ctx, req.memoryTypeBits, 0);
    if (t < 0)
        return vk_fail(ctx, "vulkan: no memory type can back a storage buffer");
    ctx->mem_type = (uint32_t)t;

    VkDeviceSize heap = ctx->mem_props.memoryHeaps[ctx->mem_props.memoryTypes[t].heapIndex].size;
    VkDeviceSize bs = 256ull << 20;
    if (bs > ctx->props.limits.maxStorageBufferRange)
        bs = ctx->props.limits.maxStorageBufferRange / VK_SUBALLOC_ALIGN * VK_SUBALLOC_ALIGN;
    while (bs > (64ull << 20) && bs > heap / 8)
        bs /= 2;
    /* Test/tuning override: small blocks exercise multi-block binding. */
    const char *mb = getenv("MLOPT_VULKAN_BLOCK_MB");
    if (mb && atoi(mb) > 0 && ((VkDeviceSize)atoi(mb) << 20) <= bs)
        bs = (VkDeviceSize)atoi(mb) << 20;
    ctx->block_size = bs;

    int st = find_type(ctx, req.memoryTypeBits, hvc | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (st < 0)
        st = find_type(ctx, req.memoryTypeBits, hvc);
    if (st < 0)
        return vk_fail(ctx, "vulkan: no host-visible coherent memory type for staging");
    ctx->staging_size = VK_STAGING_BYTES;
    return make_buffer(ctx, ctx->staging_size, (uint32_t)st, 1, &ctx->staging_buf,
                       &ctx->staging_mem, &ctx->staging_map);
}

void vk_memory_destroy(mlopt_backend_ctx *ctx)
{
    for (int i = 0; i < VK_SCRATCH_COUNT_; i++)
        if (ctx->scratch[i]) {
            free(ctx->scratch[i]);
            ctx->scratch[i] = NULL;
        }
    for (uint32_t i = 0; i < ctx->nblocks; i++) {
        vk_block *b = &ctx->blocks[i];
        if (b->map)
            ctx->D.vkUnmapMemory(ctx->dev, b->mem);
        ctx->D.vkDestroyBuffer(ctx->dev, b->buf, NULL);
        ctx->D.vkFreeMemory(ctx->dev, b->mem, NULL);
        free(b->free_list);
    }
    ctx->nblocks = 0;
    if (ctx->staging_buf) {
        ctx->D.vkUnmapMemory(ctx->dev, ctx->staging_mem);
        ctx->D.vkDestroyBuffer(ctx->dev, ctx->staging_buf, NULL);
        ctx->D.vkFreeMemory(ctx->dev, ctx->staging_mem, NULL);
        ctx->staging_buf = VK_NULL_HANDLE;
    }
}

static int add_block(mlopt_backend_ctx *ctx, VkDeviceSize min_size)
{
    if (ctx->nblocks >= VK_MAX_BLOCKS)
        return vk_fail(ctx, "vulkan: out of memory blocks (%d blocks of %llu MiB in use): try "
                       "a smaller batch size or model", VK_MAX_BLOCKS,
                       (unsigned long long)(ctx->block_size >> 20));
    VkDeviceSize size = min_size > ctx->block_size ? min_size : ctx->block_size;
    vk_block *b = &ctx->blocks[ctx->nblocks];
    memset(b, 0, sizeof *b);
    if (make_buffer(ctx, size, ctx->mem_type, ctx->direct_host, &b->buf, &b->mem, &b->map)) {
        /* A whole block did not fit: try just what is needed. */
        if (size == min_size)
            return 1;
        size = min_size;
        if (make_buffer(ctx, size, ctx->mem_type, ctx->direct_host, &b->buf, &b->mem, &b->map))
            return 1;
    }
    b->size = size;
    b->cap_free = 16;
    b->free_list = malloc(sizeof *b->free_list * (size_t)b->cap_free);
    if (!b->free_list)
        return vk_fail(ctx, "vulkan: out of host memory");
    b->free_list[0].offset = 0;
    b->free_list[0].size = size;
    b->nfree = 1;
    ctx->nblocks++;
    return 0;
}

static int block_take(vk_block *b, VkDeviceSize span, VkDeviceSize *offset)
{
    for (int i = 0; i < b->nfree; i++) {
        if (b->free_list[i].size < span)
            continue;
        *offset = b->free_list[i].offset;
        b->free_list[i].offset += span;
        b->free_list[i].size -= span;
        if (!b->free_list[i].size) {
            memmove(&b->free_list[i], &b->free_list[i + 1],
                    sizeof *b->free_list * (size_t)(b->nfree - i - 1));
            b->nfree--;
        }
        b->used += span;
        return 0;
    }
    return 1;
}

int vk_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out)
{
    VkDeviceSize span = round_up(bytes ? bytes : 1, VK_SUBALLOC_ALIGN);
    if (span > ctx->props.limits.maxStorageBufferRange)
        return vk_fail(ctx, "buffer_alloc: %zu bytes exceed this device's maxStorageBufferRange "
                       "(%u bytes): use a smaller batch size or split the tensor", bytes,
                       ctx->props.limits.maxStorageBufferRange);
    mlopt_buffer *buf = calloc(1, sizeof *buf);
    if (!buf)
        return vk_fail(ctx, "buffer_alloc: out of host memory");
    VkDeviceSize off = 0;
    uint32_t i;
    for (i = 0; i < ctx->nblocks; i++)
        if (!block_take(&ctx->blocks[i], span, &off))
            break;
    if (i == ctx->nblocks) {
        if (add_block(ctx, span) || block_take(&ctx->blocks[i], span, &off)) {
            free(buf);
            return 1;
        }
    }
    buf->block = i;
    buf->offset = off;
    buf->size = bytes;
    buf->span = span;
    *out = buf;
    return 0;
}

void vk_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf)
{
    if (!buf)
        return;
    vk_block *b = &ctx->blocks[buf->block];
    VkDeviceSize off = buf->offset, size = buf->span;
    int i = 0;
    while (i < b->nfree && b->free_list[i].offset < off)
        i++;
    int merge_prev = i > 0 && b->free_list[i - 1].offset + b->free_list[i - 1].size == off;
    int merge_next = i < b->nfree && off + size == b->free_list[i].offset;
    if (merge_prev && merge_next) {
        b->free_list[i - 1].size += size + b->free_list[i].size;
        memmove(&b->free_list[i], &b->free_list[i + 1],
                sizeof *b->free_list * (size_t)(b->nfree - i - 1));
        b->nfree--;
    } else if (merge_prev) {
        b->free_list[i - 1].size += size;
    } else if (merge_next) {
        b->free_list[i].offset = off;
        b->free_list[i].size += size;
    } else {
        if (b->nfree == b->cap_free) {
            vk_free_range *nl = realloc(b->free_list, sizeof *nl * (size_t)b->cap_free * 2);
            if (!nl) { /* leak the range rather than corrupt the list */
                free(buf);
                return;
            }
            b->free_list = nl;
            b->cap_free *= 2;
        }
        memmove(&b->free_list[i + 1], &b->free_list[i],
                sizeof *b->free_list * (size_t)(b->nfree - i));
        b->free_list[i].offset = off;
        b->free_list[i].size = size;
        b->nfree++;
    }
    b->used -= size;
    free(buf);
}

int vk_scratch(mlopt_backend_ctx *ctx, int slot, size_t bytes, mlopt_ref *out)
{
    mlopt_buffer *cur = ctx->scratch[slot];
    if (!cur || cur->size < bytes) {
        /* Grow by half again so that slowly growing needs do not thrash. */
        size_t want = bytes + bytes / 2;
        if (cur && want < cur->size * 2)
            want = (size_t)cur->size * 2;
        if (want > ctx->props.limits.maxStorageBufferRange)
            want = bytes;
        mlopt_buffer *nb;
        if (vk_alloc(ctx, want, &nb))
            return 1;
        if (cur)
            vk_free(ctx, cur);
        ctx->scratch[slot] = cur = nb;
    }
    out->buf = cur;
    out->offset = 0;
    return 0;
}

int vk_ref_check(mlopt_backend_ctx *ctx, const char *slot, const char *what, mlopt_ref r,
                 size_t bytes)
{
    if (!r.buf)
        return vk_fail(ctx, "%s: %s is a NULL buffer", slot, what);
    if (r.offset % 4)
        return vk_fail(ctx, "%s: %s offset %zu is not a multiple of 4", slot, what, r.offset);
    if (r.offset > r.buf->size || bytes > r.buf->size - r.offset)
        return vk_fail(ctx, "%s: %s needs %zu bytes at offset %zu but the buffer holds %llu",
                       slot, what, bytes, r.offset, (unsigned long long)r.buf->size);
    return 0;
}

int vk_staging_reserve(mlopt_backend_ctx *ctx, VkDeviceSize bytes, VkDeviceSize *offset)
{
    if (bytes > ctx->staging_size)
        return vk_fail(ctx, "vulkan: staging request of %llu bytes exceeds the ring",
                       (unsigned long long)bytes);
    VkDeviceSize start = round_up(ctx->staging_used, 16);
    if (start + bytes > ctx->staging_size) {
        if (vk_flush(ctx)) /* recorded copies still read the ring: finish them */
            return 1;
        start = 0;
    }
    ctx->staging_used = start + bytes;
    *offset = start;
    return 0;
}
