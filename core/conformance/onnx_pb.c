/* Protobuf wire format, just enough of it: varints, 64-bit, length-
 * delimited and 32-bit fields; packed and unpacked repeated scalars.
 * Unknown fields are skipped, so newer ONNX files still parse. */
#include "onnx_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pb {
    const uint8_t *p, *end;
    int bad;
} pb;

static uint64_t pb_varint(pb *b)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) {
            b->bad = 1;
            return 0;
        }
        uint8_t byte = *b->p++;
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return v;
    }
    b->bad = 1;
    return 0;
}

/* One field: number, wire type, and its payload (a sub-buffer for type 2,
 * the value for types 0/1/5). */
typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;
    pb sub;
} pb_field;

static int pb_next(pb *b, pb_field *f)
{
    if (b->bad || b->p >= b->end)
        return 0;
    uint64_t key = pb_varint(b);
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0: f->v = pb_varint(b); break;
    case 1:
        if (b->end - b->p < 8) { b->bad = 1; return 0; }
        memcpy(&f->v, b->p, 8);
        b->p += 8;
        break;
    case 5: {
        if (b->end - b->p < 4) { b->bad = 1; return 0; }
        uint32_t v32;
        memcpy(&v32, b->p, 4);
        f->v = v32;
        b->p += 4;
        break;
    }
    case 2: {
        uint64_t len = pb_varint(b);
        if (b->bad || len > (uint64_t)(b->end - b->p)) { b->bad = 1; return 0; }
        f->sub = (pb){ b->p, b->p + len, 0 };
        b->p += len;
        break;
    }
    default: b->bad = 1; return 0;
    }
    return !b->bad;
}

static void pb_string(const pb_field *f, char *buf, size_t len)
{
    size_t n = (size_t)(f->sub.end - f->sub.p);
    if (n >= len)
        n = len - 1;
    memcpy(buf, f->sub.p, n);
    buf[n] = '\0';
}

static float u32_to_float(uint32_t v)
{
    float x;
    memcpy(&x, &v, 4);
    return x;
}

/* Repeated int64 (varint): packed or one per field. */
static void pb_ints(const pb_field *f, int64_t *out, int *n, int max)
{
    if (f->wire == 0) {
        if (*n < max)
            out[(*n)++] = (int64_t)f->v;
        return;
    }
    pb sub = f->sub;
    while (sub.p < sub.end && !sub.bad) {
        int64_t v = (int64_t)pb_varint(&sub);
        if (*n < max)
            out[(*n)++] = v;
    }
}

void onnx_tensor_free(onnx_tensor *t)
{
    free(t->f);
    free(t->i);
    t->f = NULL;
    t->i = NULL;
}

static size_t tensor_count(const onnx_tensor *t)
{
    size_t c = 1;
    for (int d = 0; d < t->ndim; d++)
        c *= (size_t)(t->dims[d] < 0 ? 0 : t->dims[d]);
    return c;
}

/* Growable arrays for float_data / int64_data fields. */
static int push_float(onnx_tensor *t, size_t *cap, size_t *n, float v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        float *p = realloc(t->f, nc * sizeof *p);
        if (!p)
            return 1;
        t->f = p, *cap = nc;
    }
    t->f[(*n)++] = v;
    return 0;
}

static int push_int(onnx_tensor *t, size_t *cap, size_t *n, int64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int64_t *p = realloc(t->i, nc * sizeof *p);
        if (!p)
            return 1;
        t->i = p, *cap = nc;
    }
    t->i[(*n)++] = v;
    return 0;
}

static int parse_tensor(pb b, onnx_tensor *t, char *why, size_t whylen)
{
    memset(t, 0, sizeof *t);
    pb_field f;
    pb raw = { NULL, NULL, 0 };
    size_t fcap = 0, fn = 0, icap = 0, in = 0;
    int oom = 0;
    while (pb_next(&b, &f)) {
        switch (f.num) {
        case 1: {
            int n = t->ndim;
            pb_ints(&f, t->dims, &n, ONNX_MAX_DIMS);
            t->ndim = n;
            break;
        }
        case 2: t->data_type = (int)f.v; break;
        case 4: /* float_data */
            if (f.wire == 5) {
                oom |= push_float(t, &fcap, &fn, u32_to_float((uint32_t)f.v));
            } else if (f.wire == 2) {
                for (const uint8_t *p = f.sub.p; p + 4 <= f.sub.end; p += 4) {
                    uint32_t v;
                    memcpy(&v, p, 4);
                    oom |= push_float(t, &fcap, &fn, u32_to_float(v));
                }
            }
            break;
        case 5:   /* int32_data (also holds bool, uint8, ...) */
        case 7: { /* int64_data */
            if (f.wire == 0) {
                int64_t v = (int64_t)f.v;
                if (f.num == 5)
                    v = (int32_t)(uint32_t)f.v;
                oom |= push_int(t, &icap, &in, v);
            } else if (f.wire == 2) {
                pb sub = f.sub;
                while (sub.p < sub.end && !sub.bad) {
                    uint64_t v = pb_varint(&sub);
                    oom |= push_int(t, &icap, &in, f.num == 5 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v);
                }
            }
            break;
        }
        case 8: pb_string(&f, t->name, sizeof t->name); break;
        case 9: raw = f.sub; break;
        default: break;
        }
    }
    if (b.bad) {
        snprintf(why, whylen, "malformed TensorProto");
        onnx_tensor_free(t);
        return 1;
    }
    if (oom) {
        snprintf(why, whylen, "out of memory reading a tensor");
        onnx_tensor_free(t);
        return 1;
    }
    t->count = tensor_count(t);
    if (raw.p) {
        size_t bytes = (size_t)(raw.end - raw.p);
        size_t esize = t->data_type == ONNX_FLOAT || t->data_type == ONNX_INT32 ? 4
                       : t->data_type == ONNX_INT64 || t->data_type == ONNX_DOUBLE ? 8
                       : t->data_type == ONNX_UINT8 || t->data_type == ONNX_INT8 || t->data_type == ONNX_BOOL ? 1
                                                                                                  : 0;
        if (!esize) {
            snprintf(why, whylen, "tensor data_type %d is not read by this runner", t->data_type);
            return 1;
        }
        if (bytes != t->count * esize) {
            snprintf(why, whylen, "raw_data holds %zu bytes, dims need %zu", bytes, t->count * esize);
            return 1;
        }
        if (t->data_type == ONNX_FLOAT) {
            t->f = malloc(bytes ? bytes : 1);
            if (t->f)
                memcpy(t->f, raw.p, bytes);
        } else {
            t->i = malloc((t->count ? t->count : 1) * sizeof *t->i);
            for (size_t k = 0; t->i && k < t->count; k++) {
                const uint8_t *p = raw.p + k * esize;
                int64_t v = 0;
                if (esize == 8) {
                    memcpy(&v, p, 8);
                } else if (esize == 4) {
                    int32_t v32;
                    memcpy(&v32, p, 4);
                    v = v32;
                } else {
                    v = t->data_type == ONNX_INT8 ? (int8_t)p[0] : p[0];
                }
                t->i[k] = v;
            }
        }
        if (!t->f && !t->i) {
            snprintf(why, whylen, "out of memory reading a tensor");
            return 1;
        }
        return 0;
    }
    if ((t->data_type == ONNX_FLOAT && fn != t->count) || (t->data_type != ONNX_FLOAT && t->i && in != t->count)) {
        snprintf(why, whylen, "tensor %s holds %zu values, dims need %zu", t->name,
                 t->data_type == ONNX_FLOAT ? fn : in, t->count);
        onnx_tensor_free(t);
        return 1;
    }
    return 0;
}

int onnx_parse_tensor(const uint8_t *data, size_t len, onnx_tensor *out, char *why, size_t whylen)
{
    return parse_tensor((pb){ data, data + len, 0 }, out, why, whylen);
}

static void parse_attr(pb b, onnx_attr *a)
{
    memset(a, 0, sizeof *a);
    pb_field f;
    while (pb_next(&b, &f)) {
        switch (f.num) {
        case 1: pb_string(&f, a->name, sizeof a->name); break;
        case 2: a->f = u32_to_float((uint32_t)f.v), a->has_f = 1; break;
        case 3: a->i = (int64_t)f.v, a->has_i = 1; break;
        case 4: pb_string(&f, a->s, sizeof a->s), a->has_s = 1; break;
        case 5: a->has_tensor = 1; break;
        case 7:
            if (f.wire == 5) {
                if (a->nfloats < ONNX_MAX_INTS)
                    a->floats[a->nfloats++] = u32_to_float((uint32_t)f.v);
            } else if (f.wire == 2) {
                for (const uint8_t *p = f.sub.p; p + 4 <= f.sub.end && a->nfloats < ONNX_MAX_INTS; p += 4) {
                    uint32_t v;
                    memcpy(&v, p, 4);
                    a->floats[a->nfloats++] = u32_to_float(v);
                }
            }
            break;
        case 8: pb_ints(&f, a->ints, &a->nints, ONNX_MAX_INTS); break;
        case 20: a->type = (int)f.v; break;
        default: break;
        }
    }
}

static void parse_node(pb b, onnx_node *n)
{
    memset(n, 0, sizeof *n);
    pb_field f;
    while (pb_next(&b, &f)) {
        switch (f.num) {
        case 1:
            if (n->ninputs < ONNX_MAX_IO)
                pb_string(&f, n->inputs[n->ninputs++], 64);
            break;
        case 2:
            if (n->noutputs < ONNX_MAX_IO)
                pb_string(&f, n->outputs[n->noutputs++], 64);
            break;
        case 4: pb_string(&f, n->op_type, sizeof n->op_type); break;
        case 5:
            if (n->nattrs < ONNX_MAX_ATTRS)
                parse_attr(f.sub, &n->attrs[n->nattrs++]);
            break;
        case 7: pb_string(&f, n->domain, sizeof n->domain); break;
        default: break;
        }
    }
}

/* ValueInfoProto: only the name is needed (shapes come from the data). */
static void value_info_name(pb b, char *buf, size_t len)
{
    pb_field f;
    buf[0] = '\0';
    while (pb_next(&b, &f))
        if (f.num == 1)
            pb_string(&f, buf, len);
}

static int parse_graph(pb b, onnx_model *m, char *why, size_t whylen)
{
    pb_field f;
    char names[ONNX_MAX_IO * 2][64];
    int nnames = 0;
    while (pb_next(&b, &f)) {
        switch (f.num) {
        case 1:
            if (m->nnodes++ == 0)
                parse_node(f.sub, &m->node);
            break;
        case 5:
            if (m->ninits >= ONNX_MAX_IO) {
                snprintf(why, whylen, "more than %d initializers", ONNX_MAX_IO);
                return 1;
            }
            if (parse_tensor(f.sub, &m->inits[m->ninits], why, whylen))
                return 1;
            m->ninits++;
            break;
        case 11:
            if (nnames < ONNX_MAX_IO * 2)
                value_info_name(f.sub, names[nnames++], 64);
            break;
        case 12:
            if (m->noutputs < ONNX_MAX_IO)
                value_info_name(f.sub, m->outputs[m->noutputs++], 64);
            break;
        default: break;
        }
    }
    if (b.bad) {
        snprintf(why, whylen, "malformed GraphProto");
        return 1;
    }
    /* Graph inputs that are initializers are not fed by test data. */
    for (int i = 0; i < nnames; i++) {
        int init = 0;
        for (int k = 0; k < m->ninits; k++)
            init |= strcmp(m->inits[k].name, names[i]) == 0;
        if (!init && m->ninputs < ONNX_MAX_IO)
            snprintf(m->inputs[m->ninputs++], 64, "%.63s", names[i]);
    }
    return 0;
}

int onnx_parse_model(const uint8_t *data, size_t len, onnx_model *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    pb b = { data, data + len, 0 };
    pb_field f;
    int have_graph = 0;
    while (pb_next(&b, &f)) {
        if (f.num == 8 && f.wire == 2) { /* opset_import */
            pb s = f.sub;
            pb_field g;
            char domain[64] = "";
            int64_t version = 0;
            while (pb_next(&s, &g)) {
                if (g.num == 1)
                    pb_string(&g, domain, sizeof domain);
                else if (g.num == 2)
                    version = (int64_t)g.v;
            }
            if (domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0)
                out->opset = version;
        } else if (f.num == 7 && f.wire == 2) {
            if (parse_graph(f.sub, out, why, whylen))
                return 1;
            have_graph = 1;
        }
    }
    if (b.bad || !have_graph) {
        snprintf(why, whylen, "%s", b.bad ? "malformed ModelProto" : "ModelProto has no graph");
        return 1;
    }
    return 0;
}

void onnx_model_free(onnx_model *m)
{
    for (int i = 0; i < m->ninits; i++)
        onnx_tensor_free(&m->inits[i]);
    m->ninits = 0;
}

uint8_t *onnx_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

const onnx_attr *onnx_find_attr(const onnx_node *n, const char *name)
{
    for (int i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t onnx_attr_int(const onnx_node *n, const char *name, int64_t def)
{
    const onnx_attr *a = onnx_find_attr(n, name);
    return a && a->has_i ? a->i : def;
}

float onnx_attr_float(const onnx_node *n, const char *name, float def)
{
    const onnx_attr *a = onnx_find_attr(n, name);
    return a && a->has_f ? a->f : def;
}
