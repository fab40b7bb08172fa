/* The context: one opened backend plus its device context. */
#ifndef MLOPT_CORE_CONTEXT_H
#define MLOPT_CORE_CONTEXT_H

#include "mlopt/mlopt.h"
#include "plugin_loader.h"

struct mlopt_context {
    mlopt_loaded_plugin plugin;
    mlopt_backend_ctx *bctx;
    mlopt_device_info dev;
};

mlopt_status mlopt_be_missing(mlopt_context *ctx, const char *slot);
mlopt_status mlopt_be_failed(mlopt_context *ctx, const char *slot);

/* Call a backend slot: a NULL slot reports "backend X does not implement
 * SLOT"; a failing one reports the backend's own message. */
#define BE_CALL(ctx, slot, ...)                                                                \
    ((ctx)->plugin.be.slot == NULL                          ? mlopt_be_missing((ctx), #slot) \
     : (ctx)->plugin.be.slot((ctx)->bctx, __VA_ARGS__) != 0 ? mlopt_be_failed((ctx), #slot)  \
                                                            : MLOPT_OK)

/* Early-return on failure. */
#define TRY(expr)                         \
    do {                                  \
        mlopt_status try_s_ = (expr);     \
        if (try_s_ != MLOPT_OK)           \
            return try_s_;                \
    } while (0)

#endif
