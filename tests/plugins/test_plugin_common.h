/* Shared pieces of the deliberately broken test plugins: the slots every
 * backend must have, implemented on host memory with malloc.  Each plugin
 * includes this once and builds its own (broken) table from it. */
#ifndef MLOPT_TEST_PLUGIN_COMMON_H
#define MLOPT_TEST_PLUGIN_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlopt/backend.h"

struct mlopt_backend_ctx {
    char err[256];
};

/* A buffer is just host memory; mlopt_buffer is opaque to the core. */
static inline char *tp_ptr(mlopt_ref r)
{
    return (char *)r.buf + r.offset;
}

static inline int tp_probe_one(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    if (max > 0) {
        memset(&devs[0], 0, sizeof devs[0]);
        snprintf(devs[0].name, sizeof devs[0].name, "test host memory");
        devs[0].type = MLOPT_DEVICE_OTHER;
        devs[0].usable = 1;
    }
    *count = 1;
    return 0;
}

static inline int tp_create(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen)
{
    (void)selector;
    *out = calloc(1, sizeof **out);
    if (!*out) {
        snprintf(err, errlen, "test plugin create: out of memory");
        return 1;
    }
    return 0;
}

static inline void tp_destroy(mlopt_backend_ctx *ctx)
{
    free(ctx);
}

static inline const char *tp_last_error(mlopt_backend_ctx *ctx)
{
    return ctx->err;
}

static inline int tp_buffer_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out)
{
    *out = malloc(bytes ? bytes : 1);
    if (!*out) {
        snprintf(ctx->err, sizeof ctx->err, "buffer_alloc: out of memory");
        return 1;
    }
    return 0;
}

static inline void tp_buffer_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf)
{
    (void)ctx;
    free(buf);
}

static inline int tp_upload(mlopt_backend_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes)
{
    (void)ctx;
    memcpy(tp_ptr(dst), src, bytes);
    return 0;
}

static inline int tp_download(mlopt_backend_ctx *ctx, void *dst, mlopt_ref src, size_t bytes)
{
    (void)ctx;
    memcpy(dst, tp_ptr(src), bytes);
    return 0;
}

static inline int tp_fill(mlopt_backend_ctx *ctx, mlopt_ref dst, float value, size_t count)
{
    (void)ctx;
    float *p = (float *)(void *)tp_ptr(dst);
    for (size_t i = 0; i < count; i++)
        p[i] = value;
    return 0;
}

static inline int tp_synchronize(mlopt_backend_ctx *ctx)
{
    (void)ctx;
    return 0;
}

/* The required slots, as designated initializers for a table (split so a
 * plugin can replace some without initializing a field twice). */
#define TP_DISCOVERY_SLOTS .probe = tp_probe_one, .create = tp_create
#define TP_CONTEXT_SLOTS .destroy = tp_destroy, .last_error = tp_last_error
#define TP_TRANSFER_SLOTS                                                         \
    .buffer_free = tp_buffer_free, .upload = tp_upload, .download = tp_download, \
    .synchronize = tp_synchronize
#define TP_REQUIRED_SLOTS \
    TP_DISCOVERY_SLOTS, TP_CONTEXT_SLOTS, .buffer_alloc = tp_buffer_alloc, TP_TRANSFER_SLOTS

#endif
