/* A plugin with the required slots only (plus fill, which model
 * initialization needs): every kernel is NULL, so the core must report
 * "backend minimal does not implement SLOT" at use time, not crash. */
#include "test_plugin_common.h"

static const mlopt_backend table = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "minimal",
    .description = "test plugin with only the required slots",
    TP_REQUIRED_SLOTS,
    .fill = tp_fill,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &table;
}
