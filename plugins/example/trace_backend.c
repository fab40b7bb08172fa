/* "trace": an example third-party mlopt backend.
 *
 * It forwards every slot to another backend (MLOPT_TRACE_TARGET, default
 * "cpu", a backend name looked up on the plugin path or a path to a .so),
 * counting calls and host time per slot.  With MLOPT_TRACE_REPORT=1 it
 * prints a summary to stderr when the context is destroyed.
 *
 * It uses only <mlopt/backend.h>: the ABI is the whole contract.  Times are
 * host-side: for asynchronous targets a kernel's time is its enqueue cost,
 * and synchronize()/download() absorb the waiting. */
#define _GNU_SOURCE 1 /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mlopt/backend.h>

#ifndef TRACE_DEFAULT_PLUGIN_DIR
#define TRACE_DEFAULT_PLUGIN_DIR ""
#endif

/* Every traced slot, in ABI order (the identity and lifecycle slots that
 * do no device work are forwarded without counting). */
#define TRACE_SLOTS(X)                                                                                         \
    X(buffer_alloc) X(buffer_free) X(upload) X(download) X(copy) X(fill) X(synchronize) X(gemm)                \
    X(gemm_strided_batched) X(conv2d_forward) X(conv2d_backward_data) X(conv2d_backward_filter)               \
    X(pool2d_forward) X(pool2d_backward) X(act_forward) X(act_backward) X(bias_add) X(bias_grad)              \
    X(batchnorm_forward_train) X(batchnorm_forward_eval) X(batchnorm_backward) X(dropout_forward)             \
    X(softmax_forward) X(softmax_xent) X(softmax_kl) X(argmax) X(accuracy_count) X(add) X(sub) X(mul) X(axpy)  \
    X(scale) X(mask_mul) X(reduce_sum) X(reduce_max_abs) X(channel_norm) X(sgd_update) X(adam_update)

#define SLOT_ENUM(s) TS_##s,
enum { TRACE_SLOTS(SLOT_ENUM) TS_COUNT_ };
#define SLOT_NAME(s) #s,
static const char *const slot_names[] = { TRACE_SLOTS(SLOT_NAME) };

struct mlopt_backend_ctx {
    mlopt_backend_ctx *inner;
    unsigned long long calls[TS_COUNT_];
    double seconds[TS_COUNT_];
};

static const mlopt_backend *target;  /* the forwarded-to backend's table */
static char target_error[512];       /* why no target could be loaded */
static char description[256] = "trace: forwards every slot to another backend and counts calls";

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- finding and loading the target ---- */

static const mlopt_backend *load_file(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        return NULL;
    mlopt_backend_entry_fn entry;
    void *sym = dlsym(dl, MLOPT_BACKEND_ENTRY_SYMBOL);
    if (!sym)
        return NULL;
    memcpy(&entry, &sym, sizeof entry);
    const mlopt_backend *be = entry();
    /* Never dlclose: GPU drivers keep exit handlers in the module. */
    return be;
}

static const mlopt_backend *try_dir(const char *dir, size_t len, const char *name)
{
    char path[2048];
    if (!len)
        return NULL;
    snprintf(path, sizeof path, "%.*s/mlopt-backend-%s.so", (int)len, dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return load_file(path);
}

/* MLOPT_PLUGIN_PATH, this plugin's own directory, then the installed
 * plugin directory of the mlopt it was built against. */
static const mlopt_backend *find_target(const char *name)
{
    if (strchr(name, '/'))
        return load_file(name);
    const char *env = getenv("MLOPT_PLUGIN_PATH");
    for (const char *p = env; p && *p;) {
        size_t len = strcspn(p, ":");
        const mlopt_backend *be = try_dir(p, len, name);
        if (be)
            return be;
        p += len;
        if (*p == ':')
            p++;
    }
    Dl_info info;
    if (dladdr((void *)&find_target, &info) && info.dli_fname && strrchr(info.dli_fname, '/')) {
        const mlopt_backend *be = try_dir(info.dli_fname, (size_t)(strrchr(info.dli_fname, '/') - info.dli_fname), name);
        if (be)
            return be;
    }
    return try_dir(TRACE_DEFAULT_PLUGIN_DIR, strlen(TRACE_DEFAULT_PLUGIN_DIR), name);
}

/* ---- lifecycle ---- */

static int trace_probe(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen)
{
    if (!target) {
        *count = 0;
        snprintf(err, errlen, "%s", target_error);
        return 1;
    }
    return target->probe(devs, max, count, err, errlen);
}

static int trace_create(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen)
{
    if (!target) {
        snprintf(err, errlen, "%s", target_error);
        return 1;
    }
    mlopt_backend_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "trace create: out of memory");
        return 1;
    }
    if (target->create(selector, &ctx->inner, err, errlen)) {
        free(ctx);
        return 1;
    }
    *out = ctx;
    return 0;
}

static void trace_destroy(mlopt_backend_ctx *ctx)
{
    if (!ctx)
        return;
    const char *report = getenv("MLOPT_TRACE_REPORT");
    if (report && strcmp(report, "1") == 0) {
        double total = 0;
        for (int i = 0; i < TS_COUNT_; i++)
            total += ctx->seconds[i];
        fprintf(stderr, "trace: %s calls and host time per slot\n", target->name);
        fprintf(stderr, "trace: %-26s %12s %12s %7s\n", "slot", "calls", "ms", "%");
        for (int i = 0; i < TS_COUNT_; i++)
            if (ctx->calls[i])
                fprintf(stderr, "trace: %-26s %12llu %12.3f %6.1f%%\n", slot_names[i], ctx->calls[i],
                        ctx->seconds[i] * 1e3, total > 0 ? 100.0 * ctx->seconds[i] / total : 0.0);
        fprintf(stderr, "trace: %-26s %12s %12.3f\n", "total", "", total * 1e3);
    }
    target->destroy(ctx->inner);
    free(ctx);
}

static const char *trace_last_error(mlopt_backend_ctx *ctx)
{
    return target->last_error(ctx->inner);
}

static int trace_device_info(mlopt_backend_ctx *ctx, mlopt_device_info *out)
{
    return target->device_info(ctx->inner, out);
}

static int trace_set_num_threads(mlopt_backend_ctx *ctx, int n)
{
    return target->set_num_threads(ctx->inner, n);
}

static int trace_get_stats(mlopt_backend_ctx *ctx, mlopt_backend_stats *out)
{
    return target->get_stats(ctx->inner, out);
}

static int trace_reset_stats(mlopt_backend_ctx *ctx)
{
    return target->reset_stats(ctx->inner);
}

/* ---- counted slots: time the forwarded call ---- */

#define TIMED(slot, call)                               \
    double t0 = now_seconds();                          \
    int rc = (call);                                    \
    ctx->seconds[TS_##slot] += now_seconds() - t0;      \
    ctx->calls[TS_##slot]++;                            \
    return rc

static int trace_buffer_alloc(mlopt_backend_ctx *ctx, size_t bytes, mlopt_buffer **out)
{
    TIMED(buffer_alloc, target->buffer_alloc(ctx->inner, bytes, out));
}

static void trace_buffer_free(mlopt_backend_ctx *ctx, mlopt_buffer *buf)
{
    ctx->calls[TS_buffer_free]++;
    target->buffer_free(ctx->inner, buf);
}

static int trace_upload(mlopt_backend_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes)
{
    TIMED(upload, target->upload(ctx->inner, dst, src, bytes));
}

static int trace_download(mlopt_backend_ctx *ctx, void *dst, mlopt_ref src, size_t bytes)
{
    TIMED(download, target->download(ctx->inner, dst, src, bytes));
}

static int trace_copy(mlopt_backend_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes)
{
    TIMED(copy, target->copy(ctx->inner, dst, src, bytes));
}

static int trace_fill(mlopt_backend_ctx *ctx, mlopt_ref dst, float value, size_t count)
{
    TIMED(fill, target->fill(ctx->inner, dst, value, count));
}

static int trace_synchronize(mlopt_backend_ctx *ctx)
{
    TIMED(synchronize, target->synchronize(ctx->inner));
}

static int trace_gemm(mlopt_backend_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, mlopt_ref a, int lda,
                      mlopt_ref b, int ldb, float beta, mlopt_ref c, int ldc)
{
    TIMED(gemm, target->gemm(ctx->inner, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}

static int trace_gemm_strided_batched(mlopt_backend_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
                                      mlopt_ref a, int lda, long long sa, mlopt_ref b, int ldb, long long sb,
                                      float beta, mlopt_ref c, int ldc, long long sc, int batch)
{
    TIMED(gemm_strided_batched, target->gemm_strided_batched(ctx->inner, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb,
                                                             sb, beta, c, ldc, sc, batch));
}

static int trace_conv2d_forward(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x, mlopt_ref w,
                                mlopt_ref bias, mlopt_ref y)
{
    TIMED(conv2d_forward, target->conv2d_forward(ctx->inner, p, x, w, bias, y));
}

static int trace_conv2d_backward_data(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref dy,
                                      mlopt_ref w, mlopt_ref dx)
{
    TIMED(conv2d_backward_data, target->conv2d_backward_data(ctx->inner, p, dy, w, dx));
}

static int trace_conv2d_backward_filter(mlopt_backend_ctx *ctx, const mlopt_conv2d_params *p, mlopt_ref x,
                                        mlopt_ref dy, mlopt_ref dw, mlopt_ref dbias)
{
    TIMED(conv2d_backward_filter, target->conv2d_backward_filter(ctx->inner, p, x, dy, dw, dbias));
}

static int trace_pool2d_forward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p, mlopt_ref x,
                                mlopt_ref y)
{
    TIMED(pool2d_forward, target->pool2d_forward(ctx->inner, mode, p, x, y));
}

static int trace_pool2d_backward(mlopt_backend_ctx *ctx, int mode, const mlopt_pool2d_params *p, mlopt_ref x,
                                 mlopt_ref dy, mlopt_ref dx)
{
    TIMED(pool2d_backward, target->pool2d_backward(ctx->inner, mode, p, x, dy, dx));
}

static int trace_act_forward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n, mlopt_ref x,
                             mlopt_ref y)
{
    TIMED(act_forward, target->act_forward(ctx->inner, act, alpha, beta, n, x, y));
}

static int trace_act_backward(mlopt_backend_ctx *ctx, int act, float alpha, float beta, size_t n, mlopt_ref x,
                              mlopt_ref y, mlopt_ref dy, mlopt_ref dx)
{
    TIMED(act_backward, target->act_backward(ctx->inner, act, alpha, beta, n, x, y, dy, dx));
}

static int trace_bias_add(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref bias)
{
    TIMED(bias_add, target->bias_add(ctx->inner, n, c, inner, x, bias));
}

static int trace_bias_grad(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref dy, mlopt_ref dbias)
{
    TIMED(bias_grad, target->bias_grad(ctx->inner, n, c, inner, dy, dbias));
}

static int trace_batchnorm_forward_train(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps, float momentum,
                                         mlopt_ref x, mlopt_ref gamma, mlopt_ref beta, mlopt_ref y, mlopt_ref rm,
                                         mlopt_ref rv, mlopt_ref sm, mlopt_ref si)
{
    TIMED(batchnorm_forward_train,
          target->batchnorm_forward_train(ctx->inner, n, c, inner, eps, momentum, x, gamma, beta, y, rm, rv, sm, si));
}

static int trace_batchnorm_forward_eval(mlopt_backend_ctx *ctx, int n, int c, int inner, float eps, mlopt_ref x,
                                        mlopt_ref gamma, mlopt_ref beta, mlopt_ref rm, mlopt_ref rv, mlopt_ref y)
{
    TIMED(batchnorm_forward_eval, target->batchnorm_forward_eval(ctx->inner, n, c, inner, eps, x, gamma, beta, rm, rv, y));
}

static int trace_batchnorm_backward(mlopt_backend_ctx *ctx, int n, int c, int inner, mlopt_ref x, mlopt_ref dy,
                                    mlopt_ref gamma, mlopt_ref sm, mlopt_ref si, mlopt_ref dx, mlopt_ref dgamma,
                                    mlopt_ref dbeta)
{
    TIMED(batchnorm_backward, target->batchnorm_backward(ctx->inner, n, c, inner, x, dy, gamma, sm, si, dx, dgamma, dbeta));
}

static int trace_dropout_forward(mlopt_backend_ctx *ctx, size_t n, float p, uint32_t seed, mlopt_ref x, mlopt_ref y,
                                 mlopt_ref mask)
{
    TIMED(dropout_forward, target->dropout_forward(ctx->inner, n, p, seed, x, y, mask));
}

static int trace_softmax_forward(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, int log_out,
                                 mlopt_ref x, mlopt_ref y)
{
    TIMED(softmax_forward, target->softmax_forward(ctx->inner, rows, cols, inv_temp, log_out, x, y));
}

static int trace_softmax_xent(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                              mlopt_ref labels, mlopt_ref loss_sum, mlopt_ref dlogits, float grad_scale)
{
    TIMED(softmax_xent,
          target->softmax_xent(ctx->inner, rows, cols, inv_temp, logits, labels, loss_sum, dlogits, grad_scale));
}

static int trace_softmax_kl(mlopt_backend_ctx *ctx, int rows, int cols, float inv_temp, mlopt_ref logits,
                            mlopt_ref target_logits, mlopt_ref loss_sum, mlopt_ref dlogits, float grad_scale)
{
    TIMED(softmax_kl, target->softmax_kl(ctx->inner, rows, cols, inv_temp, logits, target_logits, loss_sum, dlogits,
                                         grad_scale));
}

static int trace_argmax(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref x, mlopt_ref out)
{
    TIMED(argmax, target->argmax(ctx->inner, rows, cols, x, out));
}

static int trace_accuracy_count(mlopt_backend_ctx *ctx, int rows, int cols, mlopt_ref logits, mlopt_ref labels,
                                mlopt_ref count)
{
    TIMED(accuracy_count, target->accuracy_count(ctx->inner, rows, cols, logits, labels, count));
}

static int trace_add(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    TIMED(add, target->add(ctx->inner, n, a, b, y));
}

static int trace_sub(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    TIMED(sub, target->sub(ctx->inner, n, a, b, y));
}

static int trace_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref a, mlopt_ref b, mlopt_ref y)
{
    TIMED(mul, target->mul(ctx->inner, n, a, b, y));
}

static int trace_axpy(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    TIMED(axpy, target->axpy(ctx->inner, n, alpha, x, y));
}

static int trace_scale(mlopt_backend_ctx *ctx, size_t n, float alpha, mlopt_ref x, mlopt_ref y)
{
    TIMED(scale, target->scale(ctx->inner, n, alpha, x, y));
}

static int trace_mask_mul(mlopt_backend_ctx *ctx, size_t n, mlopt_ref mask, mlopt_ref w)
{
    TIMED(mask_mul, target->mask_mul(ctx->inner, n, mask, w));
}

static int trace_reduce_sum(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    TIMED(reduce_sum, target->reduce_sum(ctx->inner, n, x, out));
}

static int trace_reduce_max_abs(mlopt_backend_ctx *ctx, size_t n, mlopt_ref x, mlopt_ref out)
{
    TIMED(reduce_max_abs, target->reduce_max_abs(ctx->inner, n, x, out));
}

static int trace_channel_norm(mlopt_backend_ctx *ctx, int k, int len, int p, mlopt_ref x, mlopt_ref out)
{
    TIMED(channel_norm, target->channel_norm(ctx->inner, k, len, p, x, out));
}

static int trace_sgd_update(mlopt_backend_ctx *ctx, size_t n, float lr, float momentum, float dampening, float wd,
                            int nesterov, int first, mlopt_ref w, mlopt_ref g, mlopt_ref v)
{
    TIMED(sgd_update, target->sgd_update(ctx->inner, n, lr, momentum, dampening, wd, nesterov, first, w, g, v));
}

static int trace_adam_update(mlopt_backend_ctx *ctx, size_t n, float lr, float beta1, float beta2, float eps,
                             float wd, int decoupled, int step, mlopt_ref w, mlopt_ref g, mlopt_ref m, mlopt_ref v)
{
    TIMED(adam_update,
          target->adam_update(ctx->inner, n, lr, beta1, beta2, eps, wd, decoupled, step, w, g, m, v));
}

/* ---- the table ---- */

static mlopt_backend table = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "trace",
    .description = description,
    .probe = trace_probe,
    .create = trace_create,
    .destroy = trace_destroy,
    .last_error = trace_last_error,
};

/* A slot the target lacks (NULL, or beyond its struct_size) stays NULL
 * here too: "not supported" must stay visible through the wrapper. */
#define TARGET_HAS(slot)                                                                              \
    (offsetof(mlopt_backend, slot) + sizeof(void (*)(void)) <= target->struct_size && target->slot != NULL)
#define INSTALL(slot) table.slot = TARGET_HAS(slot) ? trace_##slot : NULL;

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    if (target || target_error[0])
        return &table;
    const char *name = getenv("MLOPT_TRACE_TARGET");
    if (!name || !name[0])
        name = "cpu";
    if (strcmp(name, "trace") == 0) {
        snprintf(target_error, sizeof target_error, "MLOPT_TRACE_TARGET=trace would trace itself; name another backend");
        return &table;
    }
    const mlopt_backend *be = find_target(name);
    if (!be || be->abi_major != MLOPT_BACKEND_ABI_MAJOR) {
        snprintf(target_error, sizeof target_error,
                 "trace: cannot load target backend '%s' (MLOPT_TRACE_TARGET) from MLOPT_PLUGIN_PATH, the trace "
                 "plugin's directory or %s%s",
                 name, TRACE_DEFAULT_PLUGIN_DIR[0] ? TRACE_DEFAULT_PLUGIN_DIR : "(no default directory)",
                 be ? ": its ABI major differs" : "");
        return &table;
    }
    target = be;
    snprintf(description, sizeof description, "trace: forwards every slot to %s and counts calls", be->name);
    INSTALL(device_info) INSTALL(set_num_threads) INSTALL(get_stats) INSTALL(reset_stats)
#define INSTALL_TRACED(s) INSTALL(s)
    TRACE_SLOTS(INSTALL_TRACED)
    return &table;
}
