/* A well-formed plugin whose probe finds no device (like an OpenCL plugin
 * on a machine without any OpenCL platform): listed, but unusable. */
#include "test_plugin_common.h"

static int probe_none(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen)
{
    (void)devs, (void)max, (void)err, (void)errlen;
    *count = 0;
    return 0;
}

static int create_none(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen)
{
    (void)selector;
    *out = NULL;
    snprintf(err, errlen, "nodevice create: no device found (test plugin)");
    return 1;
}

static const mlopt_backend table = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "nodevice",
    .description = "test plugin without devices",
    .probe = probe_none,
    .create = create_none,
    TP_CONTEXT_SLOTS,
    .buffer_alloc = tp_buffer_alloc,
    TP_TRANSFER_SLOTS,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &table;
}
