/* CPU backend: plugin descriptor, device discovery, context lifecycle,
 * error reporting, statistics and thread control. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_int8.h"
#include "cpu_internal.h"
#include "cpu_slots.h"

int cpu_fail(mlopt_backend_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    return 1;
}

void *cpu_ref_ptr(mlopt_backend_ctx *ctx, mlopt_ref ref, size_t bytes, const char *call,
                  const char *what)
{
    if (!ref.buf) {
        cpu_fail(ctx, "%s: %s buffer is NULL", call, what);
        return NULL;
    }
    if (ref.offset > ref.buf->bytes || bytes > ref.buf->bytes - ref.offset) {
        cpu_fail(ctx, "%s: %s needs %zu bytes at offset %zu but its buffer holds %zu", call, what,
                 bytes, ref.offset, ref.buf->bytes);
        return NULL;
    }
    return (char *)ref.buf->data + ref.offset;
}

static void cpu_model_name(char *out, size_t outlen)
{
    snprintf(out, outlen, "Host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *colon = strchr(line, ':');
        if (!colon)
            break;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        snprintf(out, outlen, "%s", colon);
        size_t len = strlen(out);
        while (len && isspace((unsigned char)out[len - 1]))
            out[--len] = '\0';
        break;
    }
    fclose(f);
}

static int cpu_online_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CPU_MAX_THREADS ? CPU_MAX_THREADS : (int)n;
}

static void cpu_fill_device_info(mlopt_device_info *d)
{
    memset(d, 0, sizeof *d);
    cpu_model_name(d->name, sizeof d->name);
    snprintf(d->vendor, sizeof d->vendor, "host");
    cpu_features f;
    cpu_detect_features(&f);
    snprintf(d->driver, sizeof d->driver, "mlopt-cpu %s",
             f.avx512f ? "avx512f" : f.avx2_fma ? "avx2+fma" : "scalar");
    d->type = MLOPT_DEVICE_CPU;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    d->memory_bytes = (pages > 0 && page > 0) ? (uint64_t)pages * (uint64_t)page : 0;
    d->compute_units = cpu_online_count();
    d->usable = 1;
}

static int cpu_probe(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (devs && max > 0)
        cpu_fill_device_info(&devs[0]);
    if (count)
        *count = 1;
    return 0;
}

/* Case-insensitive substring test for device selectors. */
static int cpu_contains_nocase(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return 1;
    }
    return nl == 0;
}

static int cpu_env_int(const char *name, int fallback)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1)
        return fallback;
    return v > CPU_MAX_THREADS ? CPU_MAX_THREADS : (int)v;
}

static int cpu_default_threads(void)
{
    return cpu_env_int("MLOPT_NUM_THREADS", cpu_online_count());
}

static int cpu_create(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen)
{
    *out = NULL;
    if (selector && *selector) {
        mlopt_device_info d;
        cpu_fill_device_info(&d);
        int ok = strcmp(selector, "0") == 0 || strcmp(selector, "0:0") == 0 ||
                 cpu_contains_nocase(d.name, selector) || cpu_contains_nocase("cpu", selector) ||
                 cpu_contains_nocase("host", selector);
        if (!ok) {
            snprintf(err, errlen,
                     "cpu create: no device matches selector \"%s\" (the only device is 0: %s)",
                     selector, d.name);
            return 1;
        }
    }
    mlopt_backend_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "cpu create: out of memory");
        return 1;
    }
    const char *ref = getenv("MLOPT_CPU_REF");
    ctx->reference = ref && ref[0] && strcmp(ref, "0") != 0;
    cpu_features f;
    cpu_detect_features(&f);
    ctx->isa = f.avx512f ? CPU_ISA_AVX512 : f.avx2_fma ? CPU_ISA_AVX2 : CPU_ISA_SCALAR;
    /* MLOPT_CPU_ISA=scalar|avx2 caps the SIMD level, so that every kernel
     * variant can be tested (and compared) on one machine. */
    const char *isa = getenv("MLOPT_CPU_ISA");
    if (isa && strcmp(isa, "scalar") == 0)
        ctx->isa = CPU_ISA_SCALAR;
    else if (isa && strcmp(isa, "avx2") == 0 && ctx->isa > CPU_ISA_AVX2)
        ctx->isa = CPU_ISA_AVX2;
#if !defined(CPU_HAVE_AVX2_KERNELS)
    ctx->isa = CPU_ISA_SCALAR;
#endif
    if (ctx->reference)
        ctx->isa = CPU_ISA_SCALAR;
    ctx->use_avx2 = ctx->isa >= CPU_ISA_AVX2;
    /* The reference path is single-threaded: no pool threads needed. */
    ctx->pool = cpu_threadpool_create(ctx->reference ? 1 : cpu_default_threads());
    if (!ctx->pool) {
        snprintf(err, errlen, "cpu create: cannot start the thread pool");
        free(ctx);
        return 1;
    }
    *out = ctx;
    return 0;
}

static void cpu_destroy(mlopt_backend_ctx *ctx)
{
    if (!ctx)
        return;
    cpu_threadpool_destroy(ctx->pool);
    for (int i = 0; i < CPU_MAX_THREADS; i++) {
        cpu_scratch_release(&ctx->conv_cols[i]);
        cpu_scratch_release(&ctx->conv_dw[i]);
        cpu_scratch_release(&ctx->gemm_pack_a[i]);
        cpu_scratch_release(&ctx->gemm_pack_b[i]);
    }
    cpu_scratch_release(&ctx->conv_wpack);
    free(ctx);
}

static const char *cpu_last_error(mlopt_backend_ctx *ctx)
{
    return ctx ? ctx->error : "cpu: no context";
}

static int cpu_device_info(mlopt_backend_ctx *ctx, mlopt_device_info *out)
{
    (void)ctx;
    cpu_fill_device_info(out);
    return 0;
}

static int cpu_set_num_threads(mlopt_backend_ctx *ctx, int n)
{
    if (ctx->reference)
        return 0; /* the reference path always runs on the calling thread */
    if (n <= 0)
        n = cpu_default_threads();
    if (n > CPU_MAX_THREADS)
        n = CPU_MAX_THREADS;
    if (n == cpu_threadpool_size(ctx->pool))
        return 0;
    cpu_threadpool *pool = cpu_threadpool_create(n);
    if (!pool)
        return cpu_fail(ctx, "set_num_threads: cannot start %d threads", n);
    cpu_threadpool_destroy(ctx->pool);
    ctx->pool = pool;
    return 0;
}

static int cpu_get_stats(mlopt_backend_ctx *ctx, mlopt_backend_stats *out)
{
    *out = ctx->stats;
    return 0;
}

static int cpu_reset_stats(mlopt_backend_ctx *ctx)
{
    memset(&ctx->stats, 0, sizeof ctx->stats);
    return 0;
}

static const mlopt_backend cpu_backend = {
    .abi_major = MLOPT_BACKEND_ABI_MAJOR,
    .abi_minor = MLOPT_BACKEND_ABI_MINOR,
    .struct_size = sizeof(mlopt_backend),
    .name = "cpu",
    .description = "Host CPU: packed AVX-512/AVX2 GEMM, im2col convolution, thread pool; "
                   "MLOPT_CPU_REF=1 selects the scalar reference path",
    .probe = cpu_probe,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .last_error = cpu_last_error,
    .device_info = cpu_device_info,
    .set_num_threads = cpu_set_num_threads,
    .get_stats = cpu_get_stats,
    .reset_stats = cpu_reset_stats,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .synchronize = cpu_synchronize,
    .gemm = cpu_gemm,
    .gemm_strided_batched = cpu_gemm_strided_batched,
    .conv2d_forward = cpu_conv2d_forward,
    .conv2d_backward_data = cpu_conv2d_backward_data,
    .conv2d_backward_filter = cpu_conv2d_backward_filter,
    .pool2d_forward = cpu_pool2d_forward,
    .pool2d_backward = cpu_pool2d_backward,
    .act_forward = cpu_act_forward,
    .act_backward = cpu_act_backward,
    .bias_add = cpu_bias_add,
    .bias_grad = cpu_bias_grad,
    .batchnorm_forward_train = cpu_batchnorm_forward_train,
    .batchnorm_forward_eval = cpu_batchnorm_forward_eval,
    .batchnorm_backward = cpu_batchnorm_backward,
    .dropout_forward = cpu_dropout_forward,
    .softmax_forward = cpu_softmax_forward,
    .softmax_xent = cpu_softmax_xent,
    .softmax_kl = cpu_softmax_kl,
    .argmax = cpu_argmax,
    .accuracy_count = cpu_accuracy_count,
    .add = cpu_add,
    .sub = cpu_sub,
    .mul = cpu_mul,
    .axpy = cpu_axpy,
    .scale = cpu_scale,
    .mask_mul = cpu_mask_mul,
    .reduce_sum = cpu_reduce_sum,
    .reduce_max_abs = cpu_reduce_max_abs,
    .channel_norm = cpu_channel_norm,
    .sgd_update = cpu_sgd_update,
    .adam_update = cpu_adam_update,
    .qgemm = cpu_qgemm,
    .qconv2d = cpu_qconv2d,
    .qmaxpool = cpu_qmaxpool,
    .quantize = cpu_quantize,
    .dequantize = cpu_dequantize,
    .fake_quant = cpu_fake_quant,
};

MLOPT_BACKEND_EXPORT const mlopt_backend *mlopt_backend_entry(void)
{
    return &cpu_backend;
}
