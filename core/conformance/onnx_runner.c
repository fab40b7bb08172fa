/* ONNX single-node backend tests on an mlopt backend: each node is mapped
 * onto backend slots (never computed on the host), run on
 * test_data_set_0, and compared with the expected outputs.  Variants mlopt
 * cannot express are reported "unsupported: <reason>", never passed. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf_internal.h"
#include "error.h"
#include "onnx_pb.h"

#define ONNX_RTOL 1e-3
#define ONNX_ATOL 1e-5
#define MAX_BUFS 16

enum { RUN_OK = 0, RUN_UNSUPPORTED = 1, RUN_FAIL = 2, RUN_NOMEM = 3 };

typedef struct runner {
    const mlopt_backend *be;
    mlopt_backend_ctx *b;
    mlopt_buffer *bufs[MAX_BUFS];
    int nbufs;
    const onnx_node *nd;
    onnx_tensor *in[ONNX_MAX_IO]; /* NULL: optional input absent */
    int nin;
    const onnx_tensor *expect[ONNX_MAX_IO];
    int nout;
    mlopt_buffer *result; /* output 0 on the device */
    size_t result_count;
    char why[400];
} runner;

static int unsupported(runner *r, const char *fmt, ...) MLOPT_PRINTF(2, 3);
static int unsupported(runner *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return RUN_UNSUPPORTED;
}

static int backend_fail(runner *r, const char *slot)
{
    snprintf(r->why, sizeof r->why, "%s failed: %s", slot, r->be->last_error(r->b));
    return RUN_FAIL;
}

/* A device buffer of count floats, freed with the runner. */
static mlopt_buffer *dev_alloc(runner *r, size_t count)
{
    if (r->nbufs >= MAX_BUFS)
        return NULL;
    mlopt_buffer *buf = NULL;
    if (r->be->buffer_alloc(r->b, (count ? count : 1) * sizeof(float), &buf))
        return NULL;
    r->bufs[r->nbufs++] = buf;
    return buf;
}

static mlopt_buffer *dev_put(runner *r, const float *host, size_t count)
{
    mlopt_buffer *buf = dev_alloc(r, count);
    if (buf && count && r->be->upload(r->b, (mlopt_ref){ buf, 0 }, host, count * sizeof(float)))
        return NULL;
    return buf;
}

static mlopt_ref R(mlopt_buffer *b)
{
    return (mlopt_ref){ b, 0 };
}

static int has_slot(runner *r, size_t off, const char *name)
{
    if (off + sizeof(void (*)(void)) <= r->be->struct_size) {
        void (*fn)(void);
        memcpy(&fn, (const char *)r->be + off, sizeof fn);
        if (fn)
            return 1;
    }
    unsupported(r, "backend %s does not implement %s", r->be->name, name);
    return 0;
}
#define NEED(slot)                                                      \
    do {                                                                \
        if (!has_slot(r, offsetof(mlopt_backend, slot), #slot))         \
            return RUN_UNSUPPORTED;                                     \
    } while (0)
#define CALL(slot, ...)                                                 \
    do {                                                                \
        if (r->be->slot(r->b, __VA_ARGS__))                             \
            return backend_fail(r, #slot);                              \
    } while (0)

static int float_input(runner *r, int i)
{
    if (i >= r->nin || !r->in[i]) {
        unsupported(r, "input %d is missing", i);
        return 0;
    }
    if (r->in[i]->data_type != ONNX_FLOAT) {
        unsupported(r, "input %d has data type %d: only float tensors are mapped (int types)", i,
                    r->in[i]->data_type);
        return 0;
    }
    return 1;
}
#define NEED_FLOAT(i)               \
    do {                            \
        if (!float_input(r, i))     \
            return RUN_UNSUPPORTED; \
    } while (0)

static int same_shape(const onnx_tensor *a, const onnx_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

static int single_output(runner *r, const char *what)
{
    if (r->nout > 1)
        return unsupported(r, "%s output %d requested (%s)", r->nd->op_type, r->nout - 1, what), 0;
    return 1;
}

/* ---- elementwise activations and unary maps ---- */

static int run_act(runner *r, int act, float alpha, float beta, float post_scale)
{
    NEED_FLOAT(0);
    NEED(act_forward);
    const onnx_tensor *x = r->in[0];
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, x->count);
    if (!bx || !by)
        return RUN_NOMEM;
    CALL(act_forward, act, alpha, beta, x->count, R(bx), R(by));
    if (post_scale != 1.0f) {
        NEED(scale);
        CALL(scale, x->count, post_scale, R(by), R(by));
    }
    r->result = by, r->result_count = x->count;
    return RUN_OK;
}

static int run_scale(runner *r, float alpha)
{
    NEED_FLOAT(0);
    NEED(scale);
    const onnx_tensor *x = r->in[0];
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, x->count);
    if (!bx || !by)
        return RUN_NOMEM;
    CALL(scale, x->count, alpha, R(bx), R(by));
    r->result = by, r->result_count = x->count;
    return RUN_OK;
}

/* Identity, Flatten, Reshape: the data is unchanged, only the shape. */
static int run_copy(runner *r)
{
    NEED_FLOAT(0);
    NEED(copy);
    const onnx_tensor *x = r->in[0];
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, x->count);
    if (!bx || !by)
        return RUN_NOMEM;
    CALL(copy, R(by), R(bx), x->count * sizeof(float));
    r->result = by, r->result_count = x->count;
    return RUN_OK;
}

static int run_dropout(runner *r)
{
    if (!single_output(r, "the mask is a bool tensor"))
        return RUN_UNSUPPORTED;
    if (onnx_attr_int(r->nd, "training_mode", 0))
        return unsupported(r, "training_mode attribute");
    if (r->nin > 2 && r->in[2]) {
        const onnx_tensor *t = r->in[2];
        if (t->count && ((t->i && t->i[0]) || (t->f && t->f[0] != 0)))
            return unsupported(r, "training_mode input is true (random masks are not ONNX's)");
    }
    NEED_FLOAT(0);
    NEED(dropout_forward);
    /* Inference: the identity, through the dropout slot with p = 0. */
    const onnx_tensor *x = r->in[0];
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, x->count), *bm = dev_alloc(r, x->count);
    if (!bx || !by || !bm)
        return RUN_NOMEM;
    CALL(dropout_forward, x->count, 0.0f, 1u, R(bx), R(by), R(bm));
    r->result = by, r->result_count = x->count;
    return RUN_OK;
}

/* ---- binary elementwise ---- */

static int run_binary(runner *r, const char *op)
{
    NEED_FLOAT(0);
    NEED_FLOAT(1);
    if (!same_shape(r->in[0], r->in[1]))
        return unsupported(r, "broadcasting (input shapes differ)");
    const onnx_tensor *a = r->in[0], *b = r->in[1];
    mlopt_buffer *ba = dev_put(r, a->f, a->count), *bb = dev_put(r, b->f, b->count), *by = dev_alloc(r, a->count);
    if (!ba || !bb || !by)
        return RUN_NOMEM;
    if (strcmp(op, "Add") == 0) {
        NEED(add);
        CALL(add, a->count, R(ba), R(bb), R(by));
    } else if (strcmp(op, "Sub") == 0) {
        NEED(sub);
        CALL(sub, a->count, R(ba), R(bb), R(by));
    } else {
        NEED(mul);
        CALL(mul, a->count, R(ba), R(bb), R(by));
    }
    r->result = by, r->result_count = a->count;
    return RUN_OK;
}

/* Sum / Mean of same-shape inputs: a chain of adds (then a scale). */
static int run_sum(runner *r, int mean)
{
    for (int i = 0; i < r->nin; i++) {
        NEED_FLOAT(i);
        if (!same_shape(r->in[0], r->in[i]))
            return unsupported(r, "broadcasting (input shapes differ)");
    }
    NEED(copy);
    NEED(add);
    size_t n = r->in[0]->count;
    mlopt_buffer *acc = dev_put(r, r->in[0]->f, n), *y = dev_alloc(r, n);
    if (!acc || !y)
        return RUN_NOMEM;
    CALL(copy, R(y), R(acc), n * sizeof(float));
    for (int i = 1; i < r->nin; i++) {
        mlopt_buffer *b = dev_put(r, r->in[i]->f, n);
        if (!b)
            return RUN_NOMEM;
        CALL(add, n, R(y), R(b), R(y));
    }
    if (mean && r->nin > 1) {
        NEED(scale);
        CALL(scale, n, 1.0f / (float)r->nin, R(y), R(y));
    }
    r->result = y, r->result_count = n;
    return RUN_OK;
}

/* ---- softmax ---- */

static int run_softmax(runner *r, int opset, int log_out)
{
    NEED_FLOAT(0);
    NEED(softmax_forward);
    const onnx_tensor *x = r->in[0];
    int rank = x->ndim;
    int64_t axis = onnx_attr_int(r->nd, "axis", opset < 13 ? 1 : -1);
    if (axis < 0)
        axis += rank;
    if (rank == 0 || axis < 0 || axis >= rank)
        return unsupported(r, "axis %lld out of range for rank %d", (long long)axis, rank);
    long long before = 1, at = 1, after = 1;
    for (int d = 0; d < rank; d++) {
        if (d < axis)
            before *= x->dims[d];
        else if (d == axis)
            at *= x->dims[d];
        else
            after *= x->dims[d];
    }
    long long rows, cols;
    if (opset < 13) { /* the input is coerced to 2-D at axis */
        rows = before, cols = at * after;
    } else {
        if (after != 1)
            return unsupported(r, "softmax over axis %lld of a rank-%d tensor: not the last axis and not 2-D reducible",
                               (long long)axis, rank);
        rows = before, cols = at;
    }
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, x->count);
    if (!bx || !by)
        return RUN_NOMEM;
    CALL(softmax_forward, (int)rows, (int)cols, 1.0f, log_out, R(bx), R(by));
    r->result = by, r->result_count = x->count;
    return RUN_OK;
}

/* ---- Gemm and MatMul ---- */

static int run_gemm(runner *r)
{
    NEED_FLOAT(0);
    NEED_FLOAT(1);
    NEED(gemm);
    const onnx_tensor *a = r->in[0], *b = r->in[1], *c = r->nin > 2 ? r->in[2] : NULL;
    if (a->ndim != 2 || b->ndim != 2)
        return unsupported(r, "Gemm operands of rank %d and %d", a->ndim, b->ndim);
    int ta = (int)onnx_attr_int(r->nd, "transA", 0), tb = (int)onnx_attr_int(r->nd, "transB", 0);
    float alpha = onnx_attr_float(r->nd, "alpha", 1.0f), beta = onnx_attr_float(r->nd, "beta", 1.0f);
    int m = (int)(ta ? a->dims[1] : a->dims[0]), k = (int)(ta ? a->dims[0] : a->dims[1]);
    int n = (int)(tb ? b->dims[0] : b->dims[1]);
    size_t ny = (size_t)m * n;
    mlopt_buffer *ba = dev_put(r, a->f, a->count), *bb = dev_put(r, b->f, b->count), *by = dev_alloc(r, ny);
    if (!ba || !bb || !by)
        return RUN_NOMEM;
    int lda = (int)a->dims[1], ldb = (int)b->dims[1];
    if (!c || c->count == 0) {
        CALL(gemm, ta, tb, m, n, k, alpha, R(ba), lda, R(bb), ldb, 0.0f, R(by), n);
    } else {
        NEED_FLOAT(2);
        if (c->count == ny && (c->ndim != 2 || (c->dims[0] == m && c->dims[1] == n))) {
            if (r->be->upload(r->b, R(by), c->f, ny * sizeof(float)))
                return backend_fail(r, "upload");
            CALL(gemm, ta, tb, m, n, k, alpha, R(ba), lda, R(bb), ldb, beta, R(by), n);
        } else if (c->count == 1) {
            NEED(fill);
            CALL(fill, R(by), beta * c->f[0], ny);
            CALL(gemm, ta, tb, m, n, k, alpha, R(ba), lda, R(bb), ldb, 1.0f, R(by), n);
        } else {
            /* A row [N] / [1,N] or a column [M,1]: bias_add broadcasts it. */
            int row = c->count == (size_t)n && (c->ndim == 1 || (c->ndim == 2 && c->dims[0] == 1));
            int col = c->ndim == 2 && c->dims[0] == m && c->dims[1] == 1;
            if (!row && !col)
                return unsupported(r, "Gemm bias of this shape needs general broadcasting");
            NEED(bias_add);
            mlopt_buffer *bc = dev_put(r, c->f, c->count);
            if (!bc)
                return RUN_NOMEM;
            if (beta != 1.0f) {
                NEED(scale);
                CALL(scale, c->count, beta, R(bc), R(bc));
            }
            CALL(gemm, ta, tb, m, n, k, alpha, R(ba), lda, R(bb), ldb, 0.0f, R(by), n);
            if (row)
                CALL(bias_add, m, n, 1, R(by), R(bc));
            else
                CALL(bias_add, 1, m, n, R(by), R(bc));
        }
    }
    r->result = by, r->result_count = ny;
    return RUN_OK;
}

static int run_matmul(runner *r)
{
    NEED_FLOAT(0);
    NEED_FLOAT(1);
    const onnx_tensor *a = r->in[0], *b = r->in[1];
    if (a->ndim < 2 || b->ndim < 2)
        return unsupported(r, "MatMul with a 1-D operand");
    int m = (int)a->dims[a->ndim - 2], k = (int)a->dims[a->ndim - 1], n = (int)b->dims[b->ndim - 1];
    if (b->dims[b->ndim - 2] != k)
        return unsupported(r, "MatMul inner dimensions differ");
    long long batch_a = 1, batch_b = 1;
    for (int d = 0; d < a->ndim - 2; d++)
        batch_a *= a->dims[d];
    for (int d = 0; d < b->ndim - 2; d++)
        batch_b *= b->dims[d];
    mlopt_buffer *ba = dev_put(r, a->f, a->count), *bb = dev_put(r, b->f, b->count);
    size_t ny = (size_t)batch_a * m * n;
    if (b->ndim == 2) {
        /* [.., M, K] x [K, N]: one GEMM with the batch folded into M. */
        NEED(gemm);
        mlopt_buffer *by = dev_alloc(r, ny);
        if (!ba || !bb || !by)
            return RUN_NOMEM;
        CALL(gemm, 0, 0, (int)(batch_a * m), n, k, 1.0f, R(ba), k, R(bb), n, 0.0f, R(by), n);
        r->result = by, r->result_count = ny;
        return RUN_OK;
    }
    if (a->ndim != b->ndim || batch_a != batch_b)
        return unsupported(r, "MatMul batch dimensions broadcast");
    for (int d = 0; d < a->ndim - 2; d++)
        if (a->dims[d] != b->dims[d])
            return unsupported(r, "MatMul batch dimensions broadcast");
    NEED(gemm_strided_batched);
    mlopt_buffer *by = dev_alloc(r, ny);
    if (!ba || !bb || !by)
        return RUN_NOMEM;
    CALL(gemm_strided_batched, 0, 0, m, n, k, 1.0f, R(ba), k, (long long)m * k, R(bb), n, (long long)k * n, 0.0f,
         R(by), n, (long long)m * n, (int)batch_a);
    r->result = by, r->result_count = ny;
    return RUN_OK;
}

/* ---- convolution and pooling geometry ---- */

typedef struct geom {
    int pad_begin[2], pad_end[2], out[2];
} geom;

/* Output size and leading pads for one spatial axis from the attributes. */
static int spatial_geometry(runner *r, const onnx_tensor *x, const int64_t *kernel, const int64_t *stride,
                            const int64_t *dil, int ceil_mode, geom *g)
{
    const onnx_attr *pads = onnx_find_attr(r->nd, "pads");
    const onnx_attr *ap = onnx_find_attr(r->nd, "auto_pad");
    const char *auto_pad = ap && ap->has_s ? ap->s : "NOTSET";
    for (int d = 0; d < 2; d++) {
        int in = (int)x->dims[2 + d];
        int span = (int)(dil[d] * (kernel[d] - 1) + 1);
        if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
            int out = (int)((in + stride[d] - 1) / stride[d]);
            int total = (int)((out - 1) * stride[d] + span - in);
            if (total < 0)
                total = 0;
            int small = total / 2, big = total - small;
            g->pad_begin[d] = auto_pad[5] == 'U' ? small : big;
            g->pad_end[d] = total - g->pad_begin[d];
            g->out[d] = out;
            continue;
        }
        if (strcmp(auto_pad, "VALID") == 0) {
            g->pad_begin[d] = g->pad_end[d] = 0;
        } else if (strcmp(auto_pad, "NOTSET") == 0 || auto_pad[0] == '\0') {
            g->pad_begin[d] = pads && pads->nints == 4 ? (int)pads->ints[d] : 0;
            g->pad_end[d] = pads && pads->nints == 4 ? (int)pads->ints[2 + d] : 0;
        } else {
            return unsupported(r, "auto_pad=%s", auto_pad);
        }
        int room = in + g->pad_begin[d] + g->pad_end[d] - span;
        if (room < 0)
            return unsupported(r, "kernel larger than the padded input");
        int out = ceil_mode ? (int)((room + stride[d] - 1) / stride[d]) + 1 : (int)(room / stride[d]) + 1;
        /* The last window must start inside the input or its leading pad. */
        if (ceil_mode && (out - 1) * stride[d] >= in + g->pad_begin[d])
            out--;
        g->out[d] = out;
    }
    return RUN_OK;
}

static void ints2(const onnx_node *nd, const char *name, int64_t def, int64_t out[2])
{
    const onnx_attr *a = onnx_find_attr(nd, name);
    out[0] = out[1] = def;
    if (a && a->nints >= 2)
        out[0] = a->ints[0], out[1] = a->ints[1];
}

static int run_conv(runner *r)
{
    NEED_FLOAT(0);
    NEED_FLOAT(1);
    NEED(conv2d_forward);
    const onnx_tensor *x = r->in[0], *w = r->in[1], *b = r->nin > 2 ? r->in[2] : NULL;
    if (x->ndim != 4 || w->ndim != 4)
        return unsupported(r, "%dD convolution (only 2-D is mapped)", x->ndim - 2);
    int64_t kernel[2] = { w->dims[2], w->dims[3] }, stride[2], dil[2];
    ints2(r->nd, "strides", 1, stride);
    ints2(r->nd, "dilations", 1, dil);
    geom g;
    int rc = spatial_geometry(r, x, kernel, stride, dil, 0, &g);
    if (rc != RUN_OK)
        return rc;
    mlopt_conv2d_params p = { (int)x->dims[0], (int)x->dims[1], (int)x->dims[2], (int)x->dims[3], (int)w->dims[0],
                              (int)kernel[0], (int)kernel[1], (int)stride[0], (int)stride[1], g.pad_begin[0],
                              g.pad_begin[1], (int)dil[0], (int)dil[1], (int)onnx_attr_int(r->nd, "group", 1),
                              g.out[0], g.out[1] };
    if (p.groups <= 0 || p.c % p.groups || w->dims[1] != p.c / p.groups)
        return unsupported(r, "inconsistent group / weight shape");
    size_t ny = (size_t)p.n * p.k * p.oh * p.ow;
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *bw = dev_put(r, w->f, w->count), *by = dev_alloc(r, ny);
    mlopt_buffer *bb = NULL;
    if (b && b->count) {
        NEED_FLOAT(2);
        if (!(bb = dev_put(r, b->f, b->count)))
            return RUN_NOMEM;
    }
    if (!bx || !bw || !by)
        return RUN_NOMEM;
    CALL(conv2d_forward, &p, R(bx), R(bw), (mlopt_ref){ bb, 0 }, R(by));
    r->result = by, r->result_count = ny;
    return RUN_OK;
}

static int run_pool(runner *r, int max, int global)
{
    NEED_FLOAT(0);
    NEED(pool2d_forward);
    if (!single_output(r, "the indices output"))
        return RUN_UNSUPPORTED;
    const onnx_tensor *x = r->in[0];
    if (x->ndim != 4)
        return unsupported(r, "%dD pooling (only 2-D is mapped)", x->ndim - 2);
    if (onnx_attr_int(r->nd, "storage_order", 0))
        return unsupported(r, "storage_order=1");
    int64_t kernel[2] = { x->dims[2], x->dims[3] }, stride[2] = { 1, 1 }, dil[2] = { 1, 1 };
    int ceil_mode = 0, incl_pad = 0;
    geom g = { { 0, 0 }, { 0, 0 }, { 1, 1 } };
    if (!global) {
        const onnx_attr *ks = onnx_find_attr(r->nd, "kernel_shape");
        if (!ks || ks->nints != 2)
            return unsupported(r, "kernel_shape missing or not 2-D");
        kernel[0] = ks->ints[0], kernel[1] = ks->ints[1];
        ints2(r->nd, "strides", 1, stride);
        ints2(r->nd, "dilations", 1, dil);
        ceil_mode = (int)onnx_attr_int(r->nd, "ceil_mode", 0);
        incl_pad = !max && onnx_attr_int(r->nd, "count_include_pad", 0);
        if (ceil_mode && incl_pad)
            return unsupported(r, "ceil_mode=1 with count_include_pad=1 (the divisor of clipped windows)");
        int rc = spatial_geometry(r, x, kernel, stride, dil, ceil_mode, &g);
        if (rc != RUN_OK)
            return rc;
    }
    mlopt_pool2d_params p = { (int)x->dims[0], (int)x->dims[1], (int)x->dims[2], (int)x->dims[3], (int)kernel[0],
                              (int)kernel[1], (int)stride[0], (int)stride[1], g.pad_begin[0], g.pad_begin[1],
                              (int)dil[0], (int)dil[1], g.out[0], g.out[1] };
    size_t ny = (size_t)p.n * p.c * p.oh * p.ow;
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, ny);
    if (!bx || !by)
        return RUN_NOMEM;
    int mode = max ? MLOPT_POOL_MAX : incl_pad ? MLOPT_POOL_AVG_INCL_PAD : MLOPT_POOL_AVG;
    CALL(pool2d_forward, mode, &p, R(bx), R(by));
    r->result = by, r->result_count = ny;
    return RUN_OK;
}

static int run_batchnorm(runner *r)
{
    if (onnx_attr_int(r->nd, "training_mode", 0))
        return unsupported(r, "training_mode=1 (batch statistics and running-stat outputs)");
    if (!single_output(r, "running statistics outputs"))
        return RUN_UNSUPPORTED;
    for (int i = 0; i < 5; i++)
        NEED_FLOAT(i);
    NEED(batchnorm_forward_eval);
    const onnx_tensor *x = r->in[0];
    if (x->ndim < 2)
        return unsupported(r, "BatchNormalization of a rank-%d tensor", x->ndim);
    long long inner = 1;
    for (int d = 2; d < x->ndim; d++)
        inner *= x->dims[d];
    mlopt_buffer *bx = dev_put(r, x->f, x->count), *by = dev_alloc(r, x->count);
    mlopt_buffer *bp[4];
    for (int i = 0; i < 4; i++)
        if (!(bp[i] = dev_put(r, r->in[1 + i]->f, r->in[1 + i]->count)))
            return RUN_NOMEM;
    if (!bx || !by)
        return RUN_NOMEM;
    CALL(batchnorm_forward_eval, (int)x->dims[0], (int)x->dims[1], (int)inner,
         onnx_attr_float(r->nd, "epsilon", 1e-5f), R(bx), R(bp[0]), R(bp[1]), R(bp[2]), R(bp[3]), R(by));
    r->result = by, r->result_count = x->count;
    return RUN_OK;
}

static int op_is_mapped(const char *op)
{
    static const char *const mapped[] = { "Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "HardSigmoid",
                                          "HardSwish", "Gelu", "Neg", "Identity", "Flatten", "Reshape", "Dropout",
                                          "Add", "Sub", "Mul", "Sum", "Mean", "Softmax", "LogSoftmax", "Gemm",
                                          "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalMaxPool",
                                          "GlobalAveragePool", "BatchNormalization" };
    for (size_t i = 0; i < sizeof mapped / sizeof mapped[0]; i++)
        if (strcmp(op, mapped[i]) == 0)
            return 1;
    return 0;
}

/* The mapping of every op type mlopt can run. */
static int run_node(runner *r, int64_t opset)
{
    const char *op = r->nd->op_type;
    if (r->nd->domain[0] && strcmp(r->nd->domain, "ai.onnx") != 0)
        return unsupported(r, "operator domain %s", r->nd->domain);
    if (strcmp(op, "Dropout") != 0 && strcmp(op, "MaxPool") != 0 && strcmp(op, "BatchNormalization") != 0 &&
        !single_output(r, "extra outputs"))
        return RUN_UNSUPPORTED;
    if (strcmp(op, "Relu") == 0) return run_act(r, MLOPT_ACT_RELU, 0, 0, 1);
    if (strcmp(op, "LeakyRelu") == 0) return run_act(r, MLOPT_ACT_LEAKY_RELU, onnx_attr_float(r->nd, "alpha", 0.01f), 0, 1);
    if (strcmp(op, "Elu") == 0) return run_act(r, MLOPT_ACT_ELU, onnx_attr_float(r->nd, "alpha", 1.0f), 0, 1);
    if (strcmp(op, "Selu") == 0)
        return run_act(r, MLOPT_ACT_ELU, onnx_attr_float(r->nd, "alpha", 1.67326319217681884765625f), 0,
                       onnx_attr_float(r->nd, "gamma", 1.05070102214813232421875f));
    if (strcmp(op, "Sigmoid") == 0) return run_act(r, MLOPT_ACT_SIGMOID, 0, 0, 1);
    if (strcmp(op, "Tanh") == 0) return run_act(r, MLOPT_ACT_TANH, 0, 0, 1);
    if (strcmp(op, "HardSigmoid") == 0)
        return run_act(r, MLOPT_ACT_HARD_SIGMOID, onnx_attr_float(r->nd, "alpha", 0.2f),
                       onnx_attr_float(r->nd, "beta", 0.5f), 1);
    if (strcmp(op, "HardSwish") == 0) return run_act(r, MLOPT_ACT_HARD_SWISH, 0, 0, 1);
    if (strcmp(op, "Gelu") == 0) {
        const onnx_attr *a = onnx_find_attr(r->nd, "approximate");
        if (a && a->has_s && strcmp(a->s, "none") != 0)
            return unsupported(r, "Gelu approximate=%s (mlopt's GELU is exact)", a->s);
        return run_act(r, MLOPT_ACT_GELU, 0, 0, 1);
    }
    if (strcmp(op, "Neg") == 0) return run_scale(r, -1.0f);
    if (strcmp(op, "Identity") == 0 || strcmp(op, "Flatten") == 0 || strcmp(op, "Reshape") == 0)
        return run_copy(r);
    if (strcmp(op, "Dropout") == 0) return run_dropout(r);
    if (strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0) return run_binary(r, op);
    if (strcmp(op, "Sum") == 0) return run_sum(r, 0);
    if (strcmp(op, "Mean") == 0) return run_sum(r, 1);
    if (strcmp(op, "Softmax") == 0) return run_softmax(r, (int)opset, 0);
    if (strcmp(op, "LogSoftmax") == 0) return run_softmax(r, (int)opset, 1);
    if (strcmp(op, "Gemm") == 0) return run_gemm(r);
    if (strcmp(op, "MatMul") == 0) return run_matmul(r);
    if (strcmp(op, "Conv") == 0) return run_conv(r);
    if (strcmp(op, "MaxPool") == 0) return run_pool(r, 1, 0);
    if (strcmp(op, "AveragePool") == 0) return run_pool(r, 0, 0);
    if (strcmp(op, "GlobalMaxPool") == 0) return run_pool(r, 1, 1);
    if (strcmp(op, "GlobalAveragePool") == 0) return run_pool(r, 0, 1);
    if (strcmp(op, "BatchNormalization") == 0) return run_batchnorm(r);
    return unsupported(r, "op %s has no mlopt mapping", op);
}

static const char *base_name(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *s = path + len;
    while (s > path && s[-1] != '/')
        s--;
    return s;
}

static int load_tensor(const char *path, onnx_tensor *t, char *why, size_t whylen)
{
    size_t len = 0;
    uint8_t *data = onnx_read_file(path, &len);
    if (!data) {
        snprintf(why, whylen, "cannot read %s", path);
        return 1;
    }
    int rc = onnx_parse_tensor(data, len, t, why, whylen);
    free(data);
    return rc;
}

mlopt_status mlopt_conformance_onnx(mlopt_context *ctx, const char *test_dir, mlopt_conf_result *out)
{
    memset(out, 0, sizeof *out);
    const char *bn = base_name(test_dir);
    snprintf(out->name, sizeof out->name, "%.*s", (int)strcspn(bn, "/"), bn);
    out->tol_rel = ONNX_RTOL;
    char path[2048], why[400] = "";
    snprintf(path, sizeof path, "%s/model.onnx", test_dir);
    size_t len = 0;
    uint8_t *data = onnx_read_file(path, &len);
    if (!data)
        return mlopt_set_error(MLOPT_E_IO, "conformance: cannot read %s", path);
    onnx_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(data);
        return mlopt_set_error(MLOPT_E_NOMEM, "conformance: out of host memory");
    }
    int bad = onnx_parse_model(data, len, m, why, sizeof why);
    free(data);
    if (bad) {
        out->outcome = MLOPT_CONF_UNSUPPORTED;
        snprintf(out->detail, sizeof out->detail, "cannot parse model.onnx: %s", why);
        free(m);
        return MLOPT_OK;
    }
    snprintf(out->op, sizeof out->op, "%s", m->node.op_type);
    runner r;
    memset(&r, 0, sizeof r);
    r.be = mlopt_context_backend(ctx);
    r.b = mlopt_context_backend_ctx(ctx);
    r.nd = &m->node;
    onnx_tensor fed[ONNX_MAX_IO], expect[ONNX_MAX_IO];
    int nfed = 0, nexpect = 0, rc = RUN_OK;
    memset(fed, 0, sizeof fed);
    memset(expect, 0, sizeof expect);
    if (m->nnodes != 1) {
        rc = unsupported(&r, "graph of %d nodes (only single-node models are mapped)", m->nnodes);
        goto finish;
    }
    if (!op_is_mapped(m->node.op_type)) {
        rc = unsupported(&r, "op %s has no mlopt mapping", m->node.op_type);
        goto finish;
    }
    for (int i = 0; i < m->ninputs; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", test_dir, i);
        if (load_tensor(path, &fed[i], why, sizeof why)) {
            rc = unsupported(&r, "input %d: %s", i, why);
            goto finish;
        }
        nfed = i + 1;
    }
    for (int i = 0; i < m->noutputs; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%d.pb", test_dir, i);
        if (load_tensor(path, &expect[i], why, sizeof why)) {
            rc = unsupported(&r, "output %d: %s", i, why);
            goto finish;
        }
        nexpect = i + 1;
    }
    /* Node inputs by name: fed graph inputs first, then initializers. */
    r.nin = m->node.ninputs;
    for (int i = 0; i < r.nin; i++) {
        const char *nm = m->node.inputs[i];
        if (!nm[0])
            continue;
        for (int k = 0; k < m->ninputs && !r.in[i]; k++)
            if (strcmp(m->inputs[k], nm) == 0)
                r.in[i] = &fed[k];
        for (int k = 0; k < m->ninits && !r.in[i]; k++)
            if (strcmp(m->inits[k].name, nm) == 0)
                r.in[i] = &m->inits[k];
    }
    r.nout = m->node.noutputs;
    for (int i = 0; i < nexpect; i++)
        r.expect[i] = &expect[i];
    if (nexpect < 1 || expect[0].data_type != ONNX_FLOAT) {
        rc = unsupported(&r, "output data type %d: only float outputs are mapped", nexpect ? expect[0].data_type : 0);
        goto finish;
    }
    rc = run_node(&r, m->opset);
    if (rc == RUN_OK) {
        if (r.result_count != expect[0].count) {
            snprintf(r.why, sizeof r.why, "produced %zu elements, the expected output has %zu", r.result_count,
                     expect[0].count);
            rc = RUN_FAIL;
        } else {
            float *got = malloc((r.result_count ? r.result_count : 1) * sizeof *got);
            if (!got) {
                rc = RUN_NOMEM;
            } else if (r.result_count &&
                       r.be->download(r.b, got, R(r.result), r.result_count * sizeof(float))) {
                rc = backend_fail(&r, "download");
            } else {
                const float *want = expect[0].f;
                out->cases = (int)r.result_count;
                double err2 = 0, ref2 = 0;
                for (size_t i = 0; i < r.result_count; i++) {
                    float g = got[i], w = want[i];
                    int ok;
                    if (isnan(w) || isnan(g))
                        ok = isnan(w) && isnan(g);
                    else if (isinf(w) || isinf(g))
                        ok = g == w;
                    else
                        ok = fabs((double)g - w) <= ONNX_ATOL + ONNX_RTOL * fabs((double)w);
                    if (isfinite(w) && isfinite(g)) {
                        err2 += ((double)g - w) * ((double)g - w);
                        ref2 += (double)w * w;
                        double rel = fabs((double)g - w) / fmax(fabs((double)w), ONNX_ATOL / ONNX_RTOL);
                        if (rel > out->max_rel)
                            out->max_rel = rel;
                    }
                    if (!ok && rc == RUN_OK) {
                        char shape[96] = "";
                        for (int d = 0; d < expect[0].ndim; d++) {
                            size_t used = strlen(shape);
                            snprintf(shape + used, sizeof shape - used, "%s%lld", d ? "x" : "",
                                     (long long)expect[0].dims[d]);
                        }
                        snprintf(r.why, sizeof r.why, "output %s[%zu] got %.9g want %.9g", shape, i, (double)g,
                                 (double)w);
                        rc = RUN_FAIL;
                    }
                }
                out->nmse = ref2 > 0 ? err2 / ref2 : 0;
            }
            free(got);
        }
    }
finish:
    for (int i = 0; i < r.nbufs; i++)
        r.be->buffer_free(r.b, r.bufs[i]);
    for (int i = 0; i < nfed; i++)
        onnx_tensor_free(&fed[i]);
    for (int i = 0; i < nexpect; i++)
        onnx_tensor_free(&expect[i]);
    onnx_model_free(m);
    free(m);
    if (rc == RUN_NOMEM)
        return mlopt_set_error(MLOPT_E_NOMEM, "conformance %s: out of memory (host or device)", out->name);
    out->outcome = rc == RUN_OK ? MLOPT_CONF_PASS : rc == RUN_UNSUPPORTED ? MLOPT_CONF_UNSUPPORTED : MLOPT_CONF_FAIL;
    if (rc != RUN_OK)
        snprintf(out->detail, sizeof out->detail, "%s", r.why);
    return MLOPT_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

mlopt_status mlopt_conformance_onnx_list(const char *dir, char ***names, int *count)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return mlopt_set_error(MLOPT_E_IO,
                               "conformance: cannot open ONNX test directory %s (install Debian's libonnx-testdata "
                               "or pass --onnx DIR with onnx/backend/test/data/node)",
                               dir);
    int cap = 0;
    struct dirent *e;
    mlopt_status s = MLOPT_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 256;
            char **nn = realloc(*names, (size_t)cap * sizeof *nn);
            if (!nn) {
                s = MLOPT_E_NOMEM;
                break;
            }
            *names = nn;
        }
        if (!((*names)[*count] = strdup(e->d_name))) {
            s = MLOPT_E_NOMEM;
            break;
        }
        (*count)++;
    }
    closedir(d);
    if (s != MLOPT_OK) {
        mlopt_conformance_free_names(*names, *count);
        *names = NULL;
        *count = 0;
        return mlopt_set_error(s, "conformance: out of host memory listing %s", dir);
    }
    if (*count)
        qsort(*names, (size_t)*count, sizeof **names, cmp_names);
    return MLOPT_OK;
}

void mlopt_conformance_free_names(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
