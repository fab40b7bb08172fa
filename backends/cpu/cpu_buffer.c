/* Device memory on the CPU is host memory: 64-byte aligned so that SIMD
 * loads never split cache lines at buffer starts.  Kernels run
 * synchronously, so synchronize() has nothing to wait for. */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_slots.h"

void *cpu_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    /* posix_memalign rejects size 0 on some libcs; always allocate >= 64. */
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64) != 0)
        return NULL;
    return p;
}

void *cpu_scratch_reserve(mlopt_backend_ctx *ctx, cpu_scratch *s, size_t bytes, const char *call)
{
    if (s->bytes >= bytes && s->data)
        return s->data;
    /* Grow geometrically so that slowly growing shapes do not reallocate
     * every call. */
    size_t want = bytes + bytes / 2;
    void *p = cpu_aligned_alloc(want);
    if (!p) {
        cpu_fail(ctx, "%s: cannot allocate %zu bytes of scratch memory", call, want);
        return NULL;
    }
    free(s->data);
    s->data = p;
    s->bytes = want;
    return p;
}

void cpu_scratch_release(cpu_scratch *s)
{
    free(s->data);
    s->data = NULL;
    s->bytes = 0;
}

int cpu_buffer_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out)
{
    *out = NULL;
    mlopt_buffer *b = malloc(sizeof *b);
    if (!b)
        return cpu_fail(ctx, "buffer_alloc: out of memory");
    b->data = cpu_aligned_alloc(bytes);
    if (!b->data) {
        free(b);
        return cpu_fail(ctx, "buffer_alloc: cannot allocate %zu bytes", bytes);
    }
    b->bytes = bytes;
    *out = b;
    return 0;
}

void cpu_buffer_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf)
{
    (void)ctx;
    if (!buf)
        return;
    free(buf->data);
    free(buf);
}

int cpu_upload(mlopt_backend_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes)
{
    void *d = cpu_ref_ptr(ctx, dst, bytes, "upload", "dst");
    if (!d)
        return 1;
    if (bytes)
        memcpy(d, src, bytes);
    ctx->stats.bytes_h2d += bytes;
    return 0;
}

int cpu_download(mlopt_backend_ctx *ctx, void *dst, mlopt_ref src, size_t bytes)
{
    const void *s = cpu_ref_ptr(ctx, src, bytes, "download", "src");
    if (!s)
        return 1;
    if (bytes)
        memcpy(dst, s, bytes);
    ctx->stats.bytes_d2h += bytes;
    ctx->stats.host_syncs++;
    return 0;
}

int cpu_copy(mlopt_backend_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes)
{
    void *d = cpu_ref_ptr(ctx, dst, bytes, "copy", "dst");
    const void *s = d ? cpu_ref_ptr(ctx, src, bytes, "copy", "src") : NULL;
    if (!s)
        return 1;
    if (bytes)
        memmove(d, s, bytes); /* ranges of one buffer may overlap */
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    return 0;
}

int cpu_fill(mlopt_backend_ctx *ctx, mlopt_ref dst, float value, size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        return cpu_fail(ctx, "fill: count %zu is too large", count);
    float *d = cpu_ref_ptr(ctx, dst, count * sizeof(float), "fill", "dst");
    if (!d)
        return 1;
    for (size_t i = 0; i < count; i++)
        d[i] = value;
    ctx->stats.kernels++;
    ctx->stats.submissions++;
    return 0;
}

int cpu_synchronize(mlopt_backend_ctx *ctx)
{
    ctx->stats.host_syncs++;
    return 0;
}
