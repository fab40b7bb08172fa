/* Buffers, transfers, the queue's flush/sync accounting and kernel launch
 * helpers. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

/* Flush after this many commands so a GPU starts early (in-order queue). */
#define OCL_FLUSH_EVERY 32
/* Host copies of uploads in flight above this size make upload() wait. */
#define OCL_MAX_PENDING_UPLOAD_BYTES ((size_t)256 << 20)
/* Elementwise launches cap their groups and loop over the rest. */
#define OCL_MAX_GROUPS 1024

int ocl_note_command(ocl_ctx *ctx)
{
    if (++ctx->unflushed >= OCL_FLUSH_EVERY) {
        cl_int st = clFlush(ctx->queue);
        if (st != CL_SUCCESS)
            return ocl_fail_status(ctx, st, "clFlush", "queue");
        ctx->stats.submissions++;
        ctx->unflushed = 0;
    }
    return 0;
}

/* Frees host copies of uploads whose writes completed (all, when the queue
 * is known to be idle). */
static void reap_uploads(ocl_ctx *ctx, int all)
{
    size_t keep = 0;
    for (size_t i = 0; i < ctx->n_uploads; i++) {
        ocl_pending_upload *u = &ctx->uploads[i];
        cl_int status = CL_COMPLETE;
        if (!all)
            clGetEventInfo(u->done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                           NULL);
        /* negative status: the command failed, and will not touch memory again */
        if (status == CL_COMPLETE || status < 0) {
            clReleaseEvent(u->done);
            free(u->host_copy);
            ctx->pending_upload_bytes -= u->bytes;
        } else {
            ctx->uploads[keep++] = *u;
        }
    }
    ctx->n_uploads = keep;
}

void ocl_release_uploads(ocl_ctx *ctx)
{
    reap_uploads(ctx, 1);
}

/* After the queue drained: reports an out-of-range label that softmax_xent
 * found on the device (the CPU backend refuses those synchronously). */
static int check_bad_label(ocl_ctx *ctx)
{
    if (!ctx->bad_label_armed)
        return 0;
    ctx->bad_label_armed = 0;
    cl_int found[2] = {0, 0};
    cl_int st = clEnqueueReadBuffer(ctx->queue, ctx->bad_label, CL_TRUE, 0, sizeof found, found,
                                    0, NULL, NULL);
    if (st != CL_SUCCESS)
        return ocl_fail_status(ctx, st, "clEnqueueReadBuffer", "label check");
    if (found[0] == 0)
        return 0;
    const cl_int zeros[2] = {0, 0};
    clEnqueueWriteBuffer(ctx->queue, ctx->bad_label, CL_TRUE, 0, sizeof zeros, zeros, 0, NULL,
                         NULL);
    return ocl_fail(ctx, "softmax_xent: label %d of row %d is outside [0, %d)", found[1],
                    found[0] - 1, ctx->bad_label_cols);
}

int ocl_finish(ocl_ctx *ctx, const char *why)
{
    cl_int st = clFinish(ctx->queue);
    ctx->stats.host_syncs++;
    ctx->stats.submissions++;
    ctx->unflushed = 0;
    if (st != CL_SUCCESS)
        return ocl_fail_status(ctx, st, "clFinish", why);
    reap_uploads(ctx, 1);
    return check_bad_label(ctx);
}

int ocl_ensure_scratch(ocl_ctx *ctx, ocl_scratch *s, size_t bytes, const char *what)
{
    if (s->bytes >= bytes)
        return 0;
    /* The in-order queue keeps an old buffer alive until commands using it
     * finish, so releasing it here is safe. */
    if (s->mem)
        clReleaseMemObject(s->mem);
    s->mem = NULL;
    s->bytes = 0;
    if (ctx->max_alloc && bytes > ctx->max_alloc)
        return ocl_fail(ctx,
                        "%s scratch of %zu bytes exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE (%zu "
                        "bytes): try a smaller --batch",
                        what, bytes, ctx->max_alloc);
    cl_int st;
    s->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &st);
    if (st != CL_SUCCESS) {
        s->mem = NULL;
        return ocl_fail(ctx, "%s in clCreateBuffer(%s scratch, %zu bytes): try a smaller --batch",
                        ocl_status_name(st), what, bytes);
    }
    s->bytes = bytes;
    return 0;
}

int ocl_check_count(ocl_ctx *ctx, size_t n, const char *slot)
{
    /* kernels index with int and step by the grid size: keep i + grid in range */
    size_t limit = (size_t)INT_MAX - (size_t)OCL_MAX_GROUPS * 256;
    if (n > limit)
        return ocl_fail(ctx, "%s: %zu elements exceed the OpenCL backend's limit of %zu per call",
                        slot, n, limit);
    return 0;
}

int ocl_check_ref(ocl_ctx *ctx, mlopt_ref r, size_t floats, const char *slot, const char *arg)
{
    if (!r.buf)
        return ocl_fail(ctx, "%s: %s has no buffer", slot, arg);
    if (r.offset % 4)
        return ocl_fail(ctx, "%s: %s offset %zu is not a multiple of 4", slot, arg, r.offset);
    if (r.offset > r.buf->bytes || floats > (r.buf->bytes - r.offset) / 4)
        return ocl_fail(ctx, "%s: %s needs %zu floats at byte offset %zu but its buffer has %zu bytes",
                        slot, arg, floats, r.offset, r.buf->bytes);
    if (r.offset / 4 > (size_t)INT_MAX)
        return ocl_fail(ctx, "%s: %s offset %zu is beyond the backend's 2^31-float limit", slot,
                        arg, r.offset);
    return 0;
}

/* ---- kernel arguments and launches ---- */

ocl_args ocl_args_begin(ocl_ctx *ctx, ocl_kernel_id id)
{
    ocl_args a = {ctx, id, 0, CL_SUCCESS};
    return a;
}

static void set_arg(ocl_args *a, size_t size, const void *value)
{
    if (a->status == CL_SUCCESS) {
        a->status = clSetKernelArg(a->ctx->kernels[a->id], a->index, size, value);
        if (a->status != CL_SUCCESS)
            ocl_fail(a->ctx, "%s in clSetKernelArg(%s, arg %u)", ocl_status_name(a->status),
                     ocl_kernel_names[a->id], a->index);
    }
    a->index++;
}

void ocl_arg_mem(ocl_args *a, cl_mem mem)
{
    set_arg(a, sizeof mem, &mem);
}

void ocl_arg_ref(ocl_args *a, mlopt_ref ref)
{
    cl_mem mem = ref.buf ? ref.buf->mem : a->ctx->dummy;
    cl_int off = ref.buf ? (cl_int)(ref.offset / 4) : 0;
    set_arg(a, sizeof mem, &mem);
    set_arg(a, sizeof off, &off);
}

void ocl_arg_int(ocl_args *a, int v)
{
    cl_int x = v;
    set_arg(a, sizeof x, &x);
}

void ocl_arg_uint(ocl_args *a, uint32_t v)
{
    cl_uint x = v;
    set_arg(a, sizeof x, &x);
}

void ocl_arg_float(ocl_args *a, float v)
{
    cl_float x = v;
    set_arg(a, sizeof x, &x);
}

void ocl_arg_local(ocl_args *a, size_t bytes)
{
    set_arg(a, bytes, NULL);
}

int ocl_launch(ocl_args *a, size_t global, size_t local)
{
    if (a->status != CL_SUCCESS)
        return 1; /* message already set by set_arg */
    if (global == 0)
        return 0;
    global = (global + local - 1) / local * local;
    cl_int st = clEnqueueNDRangeKernel(a->ctx->queue, a->ctx->kernels[a->id], 1, NULL, &global,
                                       &local, 0, NULL, NULL);
    if (st != CL_SUCCESS)
        return ocl_fail_status(a->ctx, st, "clEnqueueNDRangeKernel", ocl_kernel_names[a->id]);
    a->ctx->stats.kernels++;
    return ocl_note_command(a->ctx);
}

int ocl_launch_elementwise(ocl_args *a, size_t n)
{
    size_t local = a->ctx->kernel_wg[a->id];
    size_t groups = (n + local - 1) / local;
    if (groups > OCL_MAX_GROUPS)
        groups = OCL_MAX_GROUPS;
    return ocl_launch(a, groups * local, local);
}

/* ---- slots ---- */

int ocl_buffer_alloc(ocl_ctx *ctx, size_t bytes, mlopt_buffer **out)
{
    *out = NULL;
    if (ctx->max_alloc && bytes > ctx->max_alloc)
        return ocl_fail(ctx,
                        "buffer_alloc: %zu bytes exceed CL_DEVICE_MAX_MEM_ALLOC_SIZE (%zu bytes) "
                        "of %s: try a smaller --batch",
                        bytes, ctx->max_alloc, ctx->info.name);
    mlopt_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return ocl_fail(ctx, "buffer_alloc: out of host memory");
    cl_int st;
    /* OpenCL rejects zero-sized buffers; a tiny one keeps the handle valid. */
    b->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &st);
    if (st != CL_SUCCESS) {
        free(b);
        return ocl_fail(ctx, "%s in clCreateBuffer(%zu bytes): try a smaller --batch",
                        ocl_status_name(st), bytes);
    }
    b->bytes = bytes;
    *out = b;
    return 0;
}

void ocl_buffer_free(ocl_ctx *ctx, mlopt_buffer *buf)
{
    (void)ctx;
    if (!buf)
        return;
    /* Deferred by OpenCL until queued commands using it have finished. */
    clReleaseMemObject(buf->mem);
    free(buf);
}

static int check_bytes(ocl_ctx *ctx, mlopt_ref r, size_t bytes, const char *slot, const char *arg)
{
    if (!r.buf)
        return ocl_fail(ctx, "%s: %s has no buffer", slot, arg);
    if (r.offset > r.buf->bytes || bytes > r.buf->bytes - r.offset)
        return ocl_fail(ctx, "%s: %zu bytes at offset %zu overrun %s's buffer of %zu bytes", slot,
                        bytes, r.offset, arg, r.buf->bytes);
    return 0;
}

int ocl_upload(ocl_ctx *ctx, mlopt_ref dst, const void *src, size_t bytes)
{
    if (check_bytes(ctx, dst, bytes, "upload", "dst"))
        return 1;
    if (bytes == 0)
        return 0;
    /* The caller may reuse src as soon as we return, but the write runs
     * later: it reads from a private host copy freed once it completes. */
    reap_uploads(ctx, 0);
    if (ctx->pending_upload_bytes + bytes > OCL_MAX_PENDING_UPLOAD_BYTES && ctx->n_uploads &&
        ocl_finish(ctx, "upload backlog"))
        return 1;
    if (ctx->n_uploads == ctx->cap_uploads) {
        size_t cap = ctx->cap_uploads ? ctx->cap_uploads * 2 : 16;
        ocl_pending_upload *grown = realloc(ctx->uploads, cap * sizeof *grown);
        if (!grown)
            return ocl_fail(ctx, "upload: out of host memory");
        ctx->uploads = grown;
        ctx->cap_uploads = cap;
    }
    void *copy = malloc(bytes);
    if (!copy)
        return ocl_fail(ctx, "upload: out of host memory staging %zu bytes", bytes);
    memcpy(copy, src, bytes);
    cl_event done;
    cl_int st = clEnqueueWriteBuffer(ctx->queue, dst.buf->mem, CL_FALSE, dst.offset, bytes, copy,
                                     0, NULL, &done);
    if (st != CL_SUCCESS) {
        free(copy);
        return ocl_fail(ctx, "%s in clEnqueueWriteBuffer(upload, %zu bytes)",
                        ocl_status_name(st), bytes);
    }
    ctx->uploads[ctx->n_uploads++] = (ocl_pending_upload){done, copy, bytes};
    ctx->pending_upload_bytes += bytes;
    ctx->stats.bytes_h2d += bytes;
    return ocl_note_command(ctx);
}

int ocl_download(ocl_ctx *ctx, void *dst, mlopt_ref src, size_t bytes)
{
    if (check_bytes(ctx, src, bytes, "download", "src"))
        return 1;
    if (bytes == 0)
        return 0;
    cl_int st = clEnqueueReadBuffer(ctx->queue, src.buf->mem, CL_TRUE, src.offset, bytes, dst, 0,
                                    NULL, NULL);
    ctx->stats.host_syncs++;
    ctx->stats.submissions++;
    ctx->unflushed = 0;
    if (st != CL_SUCCESS)
        return ocl_fail(ctx, "%s in clEnqueueReadBuffer(download, %zu bytes)%s",
                        ocl_status_name(st), bytes,
                        st == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST || st == CL_OUT_OF_RESOURCES
                            ? ": an earlier kernel failed"
                            : "");
    ctx->stats.bytes_d2h += bytes;
    reap_uploads(ctx, 1); /* the queue drained up to this read */
    return check_bad_label(ctx);
}

int ocl_copy(ocl_ctx *ctx, mlopt_ref dst, mlopt_ref src, size_t bytes)
{
    if (check_bytes(ctx, dst, bytes, "copy", "dst") || check_bytes(ctx, src, bytes, "copy", "src"))
        return 1;
    if (bytes == 0 || (dst.buf == src.buf && dst.offset == src.offset))
        return 0;
    cl_int st;
    if (dst.buf == src.buf && dst.offset < src.offset + bytes && src.offset < dst.offset + bytes) {
        /* OpenCL forbids overlapping copies (CL_MEM_COPY_OVERLAP): bounce. */
        if (ocl_ensure_scratch(ctx, &ctx->aux, bytes, "copy"))
            return 1;
        st = clEnqueueCopyBuffer(ctx->queue, src.buf->mem, ctx->aux.mem, src.offset, 0, bytes, 0,
                                 NULL, NULL);
        if (st == CL_SUCCESS)
            st = clEnqueueCopyBuffer(ctx->queue, ctx->aux.mem, dst.buf->mem, 0, dst.offset, bytes,
                                     0, NULL, NULL);
        ctx->stats.kernels++;
    } else {
        st = clEnqueueCopyBuffer(ctx->queue, src.buf->mem, dst.buf->mem, src.offset, dst.offset,
                                 bytes, 0, NULL, NULL);
    }
    if (st != CL_SUCCESS)
        return ocl_fail(ctx, "%s in clEnqueueCopyBuffer(copy, %zu bytes)", ocl_status_name(st),
                        bytes);
    ctx->stats.kernels++;
    return ocl_note_command(ctx);
}

int ocl_fill(ocl_ctx *ctx, mlopt_ref dst, float value, size_t count)
{
    if (count == 0)
        return 0;
    if (ocl_check_count(ctx, count, "fill") || ocl_check_ref(ctx, dst, count, "fill", "dst"))
        return 1;
    ocl_args a = ocl_args_begin(ctx, OCL_K_fill_f32);
    ocl_arg_ref(&a, dst);
    ocl_arg_float(&a, value);
    ocl_arg_int(&a, (int)count);
    return ocl_launch_elementwise(&a, count);
}

int ocl_synchronize(ocl_ctx *ctx)
{
    return ocl_finish(ctx, "synchronize");
}
