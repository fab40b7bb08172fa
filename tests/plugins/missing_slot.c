/* A plugin that forgot a required slot (buffer_alloc): the loader must
 * refuse it and name the slot. */
#include "test_plugin_common.h"

static const mlopt_backend table = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "noslot",
    .description = "test plugin without buffer_alloc",
    TP_DISCOVERY_SLOTS,
    TP_CONTEXT_SLOTS,
    TP_TRANSFER_SLOTS, /* but no buffer_alloc */
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &table;
}
