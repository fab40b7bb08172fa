/* Device discovery, selection, context creation and the kernel program. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "ocl_internal.h"

#include <clblast_c.h>
#include "ocl_kernel_sources.h"

#define OCL_NAME_ENTRY(name) #name,
const char *const ocl_kernel_names[OCL_K_COUNT_] = {OCL_KERNEL_LIST(OCL_NAME_ENTRY)};
#undef OCL_NAME_ENTRY

/* Reduction kernels use at most this many work items per group. */
#define OCL_MAX_WG 256

/* Live contexts: CLBlast's program cache is global, so it is cleared only
 * when the last context goes away (otherwise it would pin dead contexts). */
static _Atomic int live_contexts;

typedef struct ocl_device_ref {
    cl_platform_id platform;
    cl_device_id device;
    int platform_index, device_index;
} ocl_device_ref;

/* Lists every device of every platform; *out is malloc'd.  Returns 0, or
 * writes why into err. */
static int list_devices(ocl_device_ref **out, int *count, char *err, size_t errlen)
{
    cl_uint nplat = 0;
    *out = NULL;
    *count = 0;
    cl_int st = clGetPlatformIDs(0, NULL, &nplat);
    if (st != CL_SUCCESS || nplat == 0) {
        snprintf(err, errlen,
                 "no OpenCL platform (clGetPlatformIDs: %s); install an OpenCL driver "
                 "(ICD) such as pocl-opencl-icd",
                 st != CL_SUCCESS ? ocl_status_name(st) : "0 platforms");
        return 1;
    }
    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats) {
        snprintf(err, errlen, "out of host memory listing OpenCL platforms");
        return 1;
    }
    clGetPlatformIDs(nplat, plats, NULL);
    ocl_device_ref *list = NULL;
    int n = 0;
    for (cl_uint p = 0; p < nplat; p++) {
        cl_uint ndev = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS || !ndev)
            continue; /* CL_DEVICE_NOT_FOUND: an empty platform */
        cl_device_id *devs = calloc(ndev, sizeof *devs);
        ocl_device_ref *grown = realloc(list, (size_t)(n + ndev) * sizeof *list);
        if (!devs || !grown) {
            free(devs);
            free(grown ? grown : list);
            free(plats);
            snprintf(err, errlen, "out of host memory listing OpenCL devices");
            return 1;
        }
        list = grown;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, devs, NULL);
        for (cl_uint d = 0; d < ndev; d++)
            list[n++] = (ocl_device_ref){plats[p], devs[d], (int)p, (int)d};
        free(devs);
    }
    free(plats);
    if (n == 0) {
        free(list);
        snprintf(err, errlen,
                 "no OpenCL device (clGetDeviceIDs: CL_DEVICE_NOT_FOUND on every platform)");
        return 1;
    }
    *out = list;
    *count = n;
    return 0;
}

static void get_string(cl_device_id dev, cl_device_info what, char *dst, size_t len)
{
    dst[0] = '\0';
    if (clGetDeviceInfo(dev, what, len, dst, NULL) != CL_SUCCESS) {
        /* longer than dst: read it whole and truncate */
        size_t need = 0;
        if (clGetDeviceInfo(dev, what, 0, NULL, &need) == CL_SUCCESS && need) {
            char *tmp = malloc(need);
            if (tmp && clGetDeviceInfo(dev, what, need, tmp, NULL) == CL_SUCCESS)
                snprintf(dst, len, "%s", tmp);
            free(tmp);
        }
    }
    dst[len - 1] = '\0';
}

static void fill_info(const ocl_device_ref *ref, mlopt_device_info *info)
{
    memset(info, 0, sizeof *info);
    char version[64], driver[64];
    get_string(ref->device, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_string(ref->device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_string(ref->device, CL_DEVICE_VERSION, version, sizeof version);
    get_string(ref->device, CL_DRIVER_VERSION, driver, sizeof driver);
    /* "OpenCL 3.0 PoCL HSTR: ..." -> keep "OpenCL 3.0", then the driver's own version */
    char *space = strchr(version, ' ');
    if (space && (space = strchr(space + 1, ' ')) != NULL)
        *space = '\0';
    snprintf(info->driver, sizeof info->driver, "%.20s, driver %.30s", version, driver);

    cl_device_type type = 0;
    cl_bool unified = CL_FALSE, available = CL_FALSE, compiler = CL_FALSE;
    cl_ulong mem = 0;
    cl_uint units = 0;
    clGetDeviceInfo(ref->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(ref->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    clGetDeviceInfo(ref->device, CL_DEVICE_AVAILABLE, sizeof available, &available, NULL);
    clGetDeviceInfo(ref->device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    clGetDeviceInfo(ref->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(ref->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    if (type & CL_DEVICE_TYPE_GPU)
        info->type = unified ? MLOPT_DEVICE_IGPU : MLOPT_DEVICE_GPU;
    else if (type & CL_DEVICE_TYPE_CPU)
        info->type = MLOPT_DEVICE_SOFTWARE; /* an OpenCL runtime on the CPU, e.g. PoCL */
    else
        info->type = MLOPT_DEVICE_OTHER;
    info->memory_bytes = mem;
    info->compute_units = (int)units;
    info->subgroup_size = 0; /* not queryable in OpenCL 1.2 */
    info->usable = available && compiler;
    if (!available)
        snprintf(info->why, sizeof info->why, "CL_DEVICE_AVAILABLE is false");
    else if (!compiler)
        snprintf(info->why, sizeof info->why,
                 "no OpenCL C compiler (CL_DEVICE_COMPILER_AVAILABLE is false)");
}

int ocl_probe(mlopt_device_info *devs, int max, int *count, char *err, size_t errlen)
{
    ocl_device_ref *list;
    int n;
    *count = 0;
    if (list_devices(&list, &n, err, errlen))
        return 1;
    for (int i = 0; i < n && i < max; i++)
        fill_info(&list[i], &devs[i]);
    *count = n;
    free(list);
    return 0;
}

static int all_digits(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return 1;
    }
    return nl == 0;
}

/* Picks a device by selector ("P:D", flat index "N", or a name substring);
 * NULL/empty: the first usable GPU, else the first usable device. */
static int select_device(const ocl_device_ref *list, int n, const char *selector, int *chosen,
                         char *err, size_t errlen)
{
    mlopt_device_info info;
    if (!selector || !*selector) {
        int first_usable = -1;
        for (int i = 0; i < n; i++) {
            fill_info(&list[i], &info);
            if (!info.usable)
                continue;
            if (first_usable < 0)
                first_usable = i;
            if (info.type == MLOPT_DEVICE_GPU || info.type == MLOPT_DEVICE_IGPU) {
                *chosen = i;
                return 0;
            }
        }
        if (first_usable < 0) {
            fill_info(&list[0], &info);
            snprintf(err, errlen, "no usable OpenCL device (%s: %s)", info.name, info.why);
            return 1;
        }
        *chosen = first_usable;
        return 0;
    }
    const char *colon = strchr(selector, ':');
    if (colon && all_digits(selector, (size_t)(colon - selector)) &&
        all_digits(colon + 1, strlen(colon + 1))) {
        int p = atoi(selector), d = atoi(colon + 1);
        for (int i = 0; i < n; i++)
            if (list[i].platform_index == p && list[i].device_index == d) {
                *chosen = i;
                return 0;
            }
        snprintf(err, errlen, "no OpenCL device %d:%d (platform:device); see `mlopt devices`",
                 p, d);
        return 1;
    }
    if (all_digits(selector, strlen(selector))) {
        int idx = atoi(selector);
        if (idx < n) {
            *chosen = idx;
            return 0;
        }
        snprintf(err, errlen, "no OpenCL device with index %d (there are %d)", idx, n);
        return 1;
    }
    char names[512] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        fill_info(&list[i], &info);
        if (contains_nocase(info.name, selector)) {
            *chosen = i;
            return 0;
        }
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%d:%d %s",
                                     i ? ", " : "", list[i].platform_index,
                                     list[i].device_index, info.name);
    }
    snprintf(err, errlen, "no OpenCL device matches '%s' (available: %s)", selector, names);
    return 1;
}

static size_t floor_pow2(size_t v)
{
    size_t p = 1;
    while (p * 2 <= v)
        p *= 2;
    return p;
}

/* Builds the one program from all embedded .cl sources and creates every
 * kernel, so that no slot compiles anything later. */
static int build_program(ocl_ctx *ctx)
{
    size_t nsrc = sizeof ocl_kernel_sources / sizeof ocl_kernel_sources[0];
    cl_int st;
    ctx->program = clCreateProgramWithSource(ctx->context, (cl_uint)nsrc, (const char **)ocl_kernel_sources,
                                             ocl_kernel_source_lengths, &st);
    if (st != CL_SUCCESS)
        return ocl_fail_status(ctx, st, "clCreateProgramWithSource", "mlopt kernels");
    st = clBuildProgram(ctx->program, 1, &ctx->device, "", NULL, NULL);
    if (st != CL_SUCCESS) {
        char log[768] = "";
        size_t len = 0;
        clGetProgramBuildInfo(ctx->program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
        if (len) {
            char *full = malloc(len + 1);
            if (full && clGetProgramBuildInfo(ctx->program, ctx->device, CL_PROGRAM_BUILD_LOG,
                                              len, full, NULL) == CL_SUCCESS) {
                full[len] = '\0';
                snprintf(log, sizeof log, "%s", full);
            }
            free(full);
        }
        return ocl_fail(ctx, "%s in clBuildProgram(mlopt kernels); build log:\n%s",
                        ocl_status_name(st), log);
    }
    size_t dev_wg = 1;
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof dev_wg, &dev_wg, NULL);
    for (int i = 0; i < OCL_K_COUNT_; i++) {
        ctx->kernels[i] = clCreateKernel(ctx->program, ocl_kernel_names[i], &st);
        if (st != CL_SUCCESS)
            return ocl_fail_status(ctx, st, "clCreateKernel", ocl_kernel_names[i]);
        size_t wg = dev_wg;
        size_t kwg = 0;
        if (clGetKernelWorkGroupInfo(ctx->kernels[i], ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                     sizeof kwg, &kwg, NULL) == CL_SUCCESS && kwg && kwg < wg)
            wg = kwg;
        ctx->kernel_wg[i] = floor_pow2(wg < OCL_MAX_WG ? wg : OCL_MAX_WG);
    }
    return 0;
}

int ocl_create(const char *selector, mlopt_backend_ctx **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!selector || !*selector)
        selector = getenv("MLOPT_OPENCL_DEVICE");
    ocl_device_ref *list;
    int n, chosen = 0;
    if (list_devices(&list, &n, err, errlen))
        return 1;
    if (select_device(list, n, selector, &chosen, err, errlen)) {
        free(list);
        return 1;
    }
    ocl_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        free(list);
        snprintf(err, errlen, "out of host memory creating the OpenCL context");
        return 1;
    }
    ctx->platform = list[chosen].platform;
    ctx->device = list[chosen].device;
    fill_info(&list[chosen], &ctx->info);
    free(list);
    live_contexts++;
    if (!ctx->info.usable) {
        ocl_fail(ctx, "OpenCL device %s is not usable: %s", ctx->info.name, ctx->info.why);
        goto fail;
    }
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    ctx->max_alloc = (size_t)max_alloc;
    /* 128 MiB of columns by default; the variable lets tests force chunking */
    ctx->col_max_floats = (size_t)32 << 20;
    const char *col_env = getenv("MLOPT_OPENCL_MAX_COL_FLOATS");
    if (col_env && atol(col_env) > 0)
        ctx->col_max_floats = (size_t)atol(col_env);

    cl_int st;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &st);
    if (st != CL_SUCCESS) {
        ocl_fail_status(ctx, st, "clCreateContext", ctx->info.name);
        goto fail;
    }
    /* One in-order queue: slots run in submission order without events. */
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, 0, &st);
    if (st != CL_SUCCESS) {
        ocl_fail_status(ctx, st, "clCreateCommandQueue", ctx->info.name);
        goto fail;
    }
    ctx->dummy = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, 16, NULL, &st);
    if (st != CL_SUCCESS) {
        ocl_fail_status(ctx, st, "clCreateBuffer", "16 bytes");
        goto fail;
    }
    const cl_int zeros[2] = {0, 0};
    ctx->bad_label = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                    sizeof zeros, (void *)zeros, &st);
    if (st != CL_SUCCESS) {
        ocl_fail_status(ctx, st, "clCreateBuffer", "8 bytes");
        goto fail;
    }
    if (build_program(ctx))
        goto fail;
    *out = ctx;
    return 0;
fail:
    snprintf(err, errlen, "%s", ctx->err);
    ocl_destroy(ctx);
    return 1;
}

static void release_scratch(ocl_scratch *s)
{
    if (s->mem)
        clReleaseMemObject(s->mem);
    s->mem = NULL;
    s->bytes = 0;
}

void ocl_destroy(mlopt_backend_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue)
        clFinish(ctx->queue);
    ocl_release_uploads(ctx);
    free(ctx->uploads);
    for (int i = 0; i < OCL_K_COUNT_; i++)
        if (ctx->kernels[i])
            clReleaseKernel(ctx->kernels[i]);
    if (ctx->program)
        clReleaseProgram(ctx->program);
    release_scratch(&ctx->col);
    release_scratch(&ctx->aux);
    release_scratch(&ctx->partials);
    release_scratch(&ctx->gemm_tmp);
    if (ctx->dummy)
        clReleaseMemObject(ctx->dummy);
    if (ctx->bad_label)
        clReleaseMemObject(ctx->bad_label);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (--live_contexts == 0)
        CLBlastClearCache();
    if (ctx->context)
        clReleaseContext(ctx->context);
    free(ctx);
}
