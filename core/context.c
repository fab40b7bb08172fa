#include "context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

mlopt_status mlopt_be_missing(mlopt_context *ctx, const char *slot)
{
    return mlopt_set_error(MLOPT_E_UNSUPPORTED, "backend %s does not implement %s",
                           ctx->plugin.be.name, slot);
}

mlopt_status mlopt_be_failed(mlopt_context *ctx, const char *slot)
{
    const char *msg = ctx->plugin.be.last_error(ctx->bctx);
    mlopt_status s = MLOPT_E_BACKEND;
    /* Keep out-of-memory distinguishable so the CLI can suggest a smaller batch. */
    if (msg && (strstr(msg, "OUT_OF") || strstr(msg, "out of memory") ||
                strstr(msg, "ALLOCATION_FAILURE")))
        s = MLOPT_E_NOMEM;
    return mlopt_set_error(s, "backend %s: %s failed: %s", ctx->plugin.be.name, slot,
                           msg && msg[0] ? msg : "(no message)");
}

/* Best real device among the scanned plugins: discrete GPU, then integrated
 * GPU.  Software devices (PoCL, lavapipe) are never picked automatically. */
static void pick_automatic(char *name, size_t len)
{
    snprintf(name, len, "cpu");
    mlopt_plugin_report *list = NULL;
    int n = 0;
    if (mlopt_plugins_scan(&list, &n) != MLOPT_OK)
        return;
    int best_rank = 0;
    for (int i = 0; i < n; i++) {
        if (!list[i].usable || strcmp(list[i].name, "cpu") == 0)
            continue;
        for (int d = 0; d < list[i].device_count; d++) {
            const mlopt_device_info *dev = &list[i].devices[d];
            int rank = !dev->usable ? 0 : dev->type == MLOPT_DEVICE_GPU ? 2 : dev->type == MLOPT_DEVICE_IGPU ? 1 : 0;
            if (rank > best_rank) {
                best_rank = rank;
                snprintf(name, len, "%s", list[i].name);
            }
        }
    }
    free(list);
}

mlopt_status mlopt_context_create(const char *backend, const char *device, mlopt_context **out)
{
    *out = NULL;
    char name[64];
    if (!backend || !backend[0])
        backend = getenv("MLOPT_BACKEND");
    if (!backend || !backend[0]) {
        pick_automatic(name, sizeof name);
        backend = name;
    }
    mlopt_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of memory creating a context");
    mlopt_status s = mlopt_plugin_open_by_name(backend, &ctx->plugin);
    if (s != MLOPT_OK) {
        free(ctx);
        return s;
    }
    char err[1024] = "";
    if (ctx->plugin.be.create(device, &ctx->bctx, err, sizeof err)) {
        s = mlopt_set_error(strstr(err, "OUT_OF") ? MLOPT_E_NOMEM : MLOPT_E_BACKEND,
                            "backend %s (%s) could not start%s%s: %s", backend, ctx->plugin.path,
                            device ? " on device " : "", device ? device : "",
                            err[0] ? err : "no reason given");
        mlopt_plugin_close(&ctx->plugin);
        free(ctx);
        return s;
    }
    if (ctx->plugin.be.device_info)
        ctx->plugin.be.device_info(ctx->bctx, &ctx->dev);
    if (!ctx->dev.name[0])
        snprintf(ctx->dev.name, sizeof ctx->dev.name, "%s device", backend);
    *out = ctx;
    return MLOPT_OK;
}

void mlopt_context_destroy(mlopt_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->bctx)
        ctx->plugin.be.destroy(ctx->bctx);
    mlopt_plugin_close(&ctx->plugin);
    free(ctx);
}

const mlopt_backend *mlopt_context_backend(mlopt_context *ctx) { return &ctx->plugin.be; }
mlopt_backend_ctx *mlopt_context_backend_ctx(mlopt_context *ctx) { return ctx->bctx; }
const char *mlopt_context_backend_path(mlopt_context *ctx) { return ctx->plugin.path; }

mlopt_status mlopt_context_device_info(mlopt_context *ctx, mlopt_device_info *out)
{
    *out = ctx->dev;
    return MLOPT_OK;
}

mlopt_status mlopt_context_set_threads(mlopt_context *ctx, int n)
{
    if (n < 0)
        return mlopt_set_error(MLOPT_E_INVALID, "thread count must be >= 0 (0 = all cores), got %d", n);
    if (!ctx->plugin.be.set_num_threads)
        return MLOPT_OK; /* meaningless for this backend */
    return BE_CALL(ctx, set_num_threads, n);
}

mlopt_status mlopt_context_stats(mlopt_context *ctx, mlopt_backend_stats *out)
{
    memset(out, 0, sizeof *out);
    return BE_CALL(ctx, get_stats, out);
}

mlopt_status mlopt_context_reset_stats(mlopt_context *ctx)
{
    if (!ctx->plugin.be.reset_stats)
        return mlopt_be_missing(ctx, "reset_stats");
    return ctx->plugin.be.reset_stats(ctx->bctx) ? mlopt_be_failed(ctx, "reset_stats") : MLOPT_OK;
}

mlopt_status mlopt_context_synchronize(mlopt_context *ctx)
{
    return ctx->plugin.be.synchronize(ctx->bctx) ? mlopt_be_failed(ctx, "synchronize") : MLOPT_OK;
}
