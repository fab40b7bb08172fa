/* An "old" plugin of the current major: its struct_size stops before the
 * optimizer slots, as if it was built before they existed.  The slots past
 * struct_size hold a function that aborts: the core must treat them as
 * NULL and never read, let alone call, them. */
#include <stddef.h>

#include "test_plugin_common.h"

static int must_not_be_called(mlopt_backend_ctx *ctx, size_t n, float lr, float momentum, float dampening,
                              float weight_decay, int nesterov, int first, mlopt_ref w, mlopt_ref g,
                              mlopt_ref v)
{
    (void)ctx, (void)n, (void)lr, (void)momentum, (void)dampening, (void)weight_decay;
    (void)nesterov, (void)first, (void)w, (void)g, (void)v;
    abort();
}

static const mlopt_backend table = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = offsetof(mlopt_backend, sgd_update),
    .name = "old",
    .description = "test plugin with a struct_size ending before sgd_update",
    TP_REQUIRED_SLOTS,
    .fill = tp_fill,
    .sgd_update = must_not_be_called,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &table;
}
