/* upload / download / copy / fill / synchronize. */
#include <string.h>

#include "vk_internal.h"

static VkBuffer block_buf(mlopt_backend_ctx *ctx, mlopt_ref r)
{
    return ctx->blocks[r.buf->block].buf;
}

static VkDeviceSize abs_offset(mlopt_ref r)
{
    return r.buf->offset + r.offset;
}

static void record_copy(mlopt_backend_ctx *ctx, VkBuffer src, VkDeviceSize so, VkBuffer dst,
                        VkDeviceSize dof, VkDeviceSize bytes)
{
    vk_barrier(ctx);
    VkBufferCopy region = {.srcOffset = so, .dstOffset = dof, .size = bytes};
    ctx->D.vkCmdCopyBuffer(ctx->cmd, src, dst, 1, &region);
    ctx->need_barrier = 1;
    ctx->recorded_ops++;
}

int vk_upload(mlopt_backend_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes)
{
    if (vk_enter(ctx) || vk_ref_check(ctx, "upload", "dst", dst, bytes))
        return 1;
    if (!bytes)
        return 0;
    ctx->stats.bytes_h2d += bytes;
    vk_block *b = &ctx->blocks[dst.buf->block];
    /* Nothing recorded or running: the block can be written directly.
     * Otherwise recorded kernels may still read this memory, so the data
     * goes through the staging ring as a copy recorded in order. */
    if (b->map && !ctx->recording) {
        memcpy(b->map + abs_offset(dst), src, bytes);
        return 0;
    }
    const unsigned char *p = src;
    size_t done = 0;
    while (done < bytes) {
        size_t chunk = bytes - done;
        if (chunk > ctx->staging_size)
            chunk = (size_t)ctx->staging_size;
        VkDeviceSize so;
        if (vk_staging_reserve(ctx, chunk, &so))
            return 1;
        if (b->map && !ctx->recording) { /* the reservation flushed everything */
            memcpy(b->map + abs_offset(dst) + done, p + done, bytes - done);
            return 0;
        }
        memcpy(ctx->staging_map + so, p + done, chunk);
        if (vk_begin(ctx))
            return 1;
        record_copy(ctx, ctx->staging_buf, so, block_buf(ctx, dst), abs_offset(dst) + done,
                    chunk);
        done += chunk;
    }
    return vk_enter(ctx);
}

int vk_download(mlopt_backend_ctx *ctx, void *dst, mlopt_ref src, size_t bytes)
{
    if (vk_enter(ctx) || vk_ref_check(ctx, "download", "src", src, bytes))
        return 1;
    ctx->stats.bytes_d2h += bytes;
    vk_block *b = &ctx->blocks[src.buf->block];
    if (b->map) {
        if (vk_flush(ctx))
            return 1;
        memcpy(dst, b->map + abs_offset(src), bytes);
        return 0;
    }
    unsigned char *p = dst;
    size_t done = 0;
    if (!bytes)
        return vk_flush(ctx);
    while (done < bytes) {
        size_t chunk = bytes - done;
        if (chunk > ctx->staging_size / 2)
            chunk = (size_t)ctx->staging_size / 2;
        VkDeviceSize so;
        if (vk_staging_reserve(ctx, chunk, &so) || vk_begin(ctx))
            return 1;
        record_copy(ctx, block_buf(ctx, src), abs_offset(src) + done, ctx->staging_buf, so,
                    chunk);
        if (vk_flush(ctx))
            return 1;
        memcpy(p + done, ctx->staging_map + so, chunk);
        done += chunk;
    }
    return 0;
}

int vk_copy(mlopt_backend_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes)
{
    if (vk_enter(ctx) || vk_ref_check(ctx, "copy", "dst", dst, bytes) ||
        vk_ref_check(ctx, "copy", "src", src, bytes))
        return 1;
    if (!bytes)
        return 0;
    VkDeviceSize so = abs_offset(src), dof = abs_offset(dst);
    if (dst.buf->block == src.buf->block && so == dof)
        return 0;
    if (vk_begin(ctx))
        return 1;
    int overlap = dst.buf->block == src.buf->block && so < dof + bytes && dof < so + bytes;
    if (overlap) {
        /* vkCmdCopyBuffer forbids overlapping regions: go through scratch. */
        mlopt_ref tmp;
        if (vk_scratch(ctx, VK_SCRATCH_COPY, bytes, &tmp))
            return 1;
        record_copy(ctx, block_buf(ctx, src), so, block_buf(ctx, tmp), abs_offset(tmp), bytes);
        record_copy(ctx, block_buf(ctx, tmp), abs_offset(tmp), block_buf(ctx, dst), dof, bytes);
    } else {
        record_copy(ctx, block_buf(ctx, src), so, block_buf(ctx, dst), dof, bytes);
    }
    ctx->stats.kernels++;
    return vk_enter(ctx);
}

int vk_fill(mlopt_backend_ctx *ctx, mlopt_ref dst, float value, size_t count)
{
    if (vk_enter(ctx) || vk_ref_check(ctx, "fill", "dst", dst, count * 4))
        return 1;
    if (!count)
        return 0;
    if (vk_begin(ctx))
        return 1;
    vk_barrier(ctx);
    ctx->D.vkCmdFillBuffer(ctx->cmd, block_buf(ctx, dst), abs_offset(dst), 4 * count,
                           vk_f2u(value));
    ctx->need_barrier = 1;
    ctx->recorded_ops++;
    ctx->stats.kernels++;
    return vk_enter(ctx);
}

int vk_synchronize(mlopt_backend_ctx *ctx)
{
    if (vk_enter(ctx))
        return 1;
    return vk_flush(ctx);
}
