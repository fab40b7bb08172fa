/* A plugin from a future, incompatible ABI major: the loader must refuse it
 * before calling anything in it. */
#include "test_plugin_common.h"

static const mlopt_backend table = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR + 1,
    .abi_minor = 0,
    .struct_size = sizeof(mlopt_backend),
    .name = "wrongabi",
    .description = "test plugin built for ABI major + 1",
    TP_REQUIRED_SLOTS,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &table;
}
