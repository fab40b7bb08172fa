#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error.h"

size_t mlopt_dtype_size(mlopt_dtype t)
{
    switch (t) {
    case MLOPT_F32: return 4;
    case MLOPT_I32: return 4;
    case MLOPT_I8: return 1;
    case MLOPT_U8: return 1;
    }
    return 0;
}

size_t mlopt_tensor_numel(const mlopt_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

size_t mlopt_tensor_bytes(const mlopt_tensor *t)
{
    return mlopt_tensor_numel(t) * mlopt_dtype_size(t->dtype);
}

mlopt_status mlopt_tensor_create(mlopt_context *ctx, mlopt_dtype dtype, int ndim, const int *shape,
                                 mlopt_tensor **out)
{
    *out = NULL;
    if (ndim < 1 || ndim > MLOPT_MAX_DIMS)
        return mlopt_set_error(MLOPT_E_INVALID, "tensor rank %d outside 1..%d", ndim, MLOPT_MAX_DIMS);
    if (mlopt_dtype_size(dtype) == 0)
        return mlopt_set_error(MLOPT_E_INVALID, "unknown tensor dtype %d", (int)dtype);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return mlopt_set_error(MLOPT_E_INVALID, "tensor dimension %d is %d; must be positive", i, shape[i]);
        if (numel > ((size_t)1 << 40) / (size_t)shape[i])
            return mlopt_set_error(MLOPT_E_INVALID, "tensor too large");
        numel *= (size_t)shape[i];
    }
    mlopt_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->owns = 1;
    size_t bytes = numel * mlopt_dtype_size(dtype);
    if (ctx->plugin.be.buffer_alloc(ctx->bctx, bytes, &t->ref.buf)) {
        mlopt_status s = mlopt_be_failed(ctx, "buffer_alloc");
        free(t);
        return s;
    }
    *out = t;
    return MLOPT_OK;
}

void mlopt_tensor_destroy(mlopt_tensor *t)
{
    if (!t)
        return;
    if (t->owns && t->ref.buf)
        t->ctx->plugin.be.buffer_free(t->ctx->bctx, t->ref.buf);
    free(t);
}

mlopt_status mlopt_tensor_upload(mlopt_tensor *t, const void *host, size_t bytes)
{
    if (bytes > mlopt_tensor_bytes(t))
        return mlopt_set_error(MLOPT_E_INVALID, "upload of %zu bytes into a %zu-byte tensor", bytes,
                               mlopt_tensor_bytes(t));
    return BE_CALL(t->ctx, upload, t->ref, host, bytes);
}

mlopt_status mlopt_tensor_download(const mlopt_tensor *t, void *host, size_t bytes)
{
    if (bytes > mlopt_tensor_bytes(t))
        return mlopt_set_error(MLOPT_E_INVALID, "download of %zu bytes from a %zu-byte tensor", bytes,
                               mlopt_tensor_bytes(t));
    return BE_CALL(t->ctx, download, host, t->ref, bytes);
}

mlopt_status mlopt_tensor_fill(mlopt_tensor *t, float value)
{
    return BE_CALL(t->ctx, fill, t->ref, value, mlopt_tensor_numel(t));
}
