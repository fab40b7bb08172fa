#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

global_opts G;

int report_failure(const char *cmd, const char *what, mlopt_status s)
{
    fprintf(stderr, "mlopt %s: %s: %s\n", cmd, what, mlopt_last_error());
    if (s == MLOPT_E_NOMEM)
        fprintf(stderr, "mlopt %s: the device ran out of memory; try a smaller --batch\n", cmd);
    return 1;
}

int open_context(const char *cmd, mlopt_context **ctx)
{
    mlopt_status s = mlopt_context_create(G.backend, G.device, ctx);
    if (s != MLOPT_OK) {
        fprintf(stderr, "mlopt %s: %s\n", cmd, mlopt_last_error());
        return 1;
    }
    int threads = G.threads;
    if (!threads && getenv("MLOPT_NUM_THREADS"))
        threads = atoi(getenv("MLOPT_NUM_THREADS"));
    if (threads > 0 && (s = mlopt_context_set_threads(*ctx, threads)) != MLOPT_OK) {
        report_failure(cmd, "setting the thread count", s);
        mlopt_context_destroy(*ctx);
        *ctx = NULL;
        return 1;
    }
    return 0;
}

const char *device_type_name(int type)
{
    switch (type) {
    case MLOPT_DEVICE_CPU: return "cpu";
    case MLOPT_DEVICE_GPU: return "gpu";
    case MLOPT_DEVICE_IGPU: return "integrated-gpu";
    case MLOPT_DEVICE_SOFTWARE: return "software";
    default: return "other";
    }
}

void json_backend(json_out *j, mlopt_context *ctx)
{
    mlopt_device_info dev;
    mlopt_context_device_info(ctx, &dev);
    json_str(j, "backend", mlopt_context_backend(ctx)->name);
    json_str(j, "device", dev.name);
    json_str(j, "vendor", dev.vendor);
    json_str(j, "driver", dev.driver);
    json_str(j, "device_type", device_type_name(dev.type));
    json_str(j, "mlopt_version", mlopt_version());
}

int load_specs(const char *cmd, const char *model, const char *activation, mlopt_layer_spec **specs, int *n)
{
    mlopt_status s = mlopt_spec_load(model, specs, n);
    if (s != MLOPT_OK) {
        fprintf(stderr, "mlopt %s: %s\n", cmd, mlopt_last_error());
        return 1;
    }
    if (activation && (s = mlopt_spec_set_activation(*specs, *n, activation)) != MLOPT_OK) {
        fprintf(stderr, "mlopt %s: --activation: %s\n", cmd, mlopt_last_error());
        free(*specs);
        *specs = NULL;
        return 1;
    }
    return 0;
}
