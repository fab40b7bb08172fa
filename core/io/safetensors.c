/* safetensors writer and validating reader.  Tensor bytes are written in the
 * host's byte order, which the format requires to be little-endian: mlopt
 * supports little-endian hosts only. */
#include "io/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io/atomic_file.h"
#include "io/json.h"

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

size_t mlopt_st_dtype_size(const char *dtype)
{
    if (!dtype)
        return 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, dtype) == 0)
            return st_dtypes[i].size;
    return 0;
}

const char *mlopt_st_dtype_name(mlopt_dtype t)
{
    switch (t) {
    case MLOPT_F32: return "F32";
    case MLOPT_I32: return "I32";
    case MLOPT_I8: return "I8";
    case MLOPT_U8: return "U8";
    }
    return NULL;
}

mlopt_status mlopt_st_dtype_parse(const char *dtype, mlopt_dtype *out)
{
    static const mlopt_dtype all[] = {MLOPT_F32, MLOPT_I32, MLOPT_I8, MLOPT_U8};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (dtype && strcmp(dtype, mlopt_st_dtype_name(all[i])) == 0) {
            *out = all[i];
            return MLOPT_OK;
        }
    }
    return mlopt_set_error(MLOPT_E_UNSUPPORTED, "safetensors dtype %s has no mlopt tensor type (F32, I32, I8, U8)",
                           dtype ? dtype : "(null)");
}

/* elements(shape) * elem_size in bytes; 0 on overflow of uint64. */
static int st_byte_count(const uint64_t *shape, int ndim, size_t elem_size, uint64_t *out)
{
    uint64_t n = elem_size;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && n > UINT64_MAX / shape[i])
            return 0;
        n *= shape[i];
    }
    *out = n;
    return 1;
}

static int cmp_strptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice, or NULL (names is sorted in place). */
static const char *find_duplicate(const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_strptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(strbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* A JSON string literal; s must be valid UTF-8 (checked by the caller). */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_put(b, esc, 6);
            } else {
                sb_put(b, (const char *)&c, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static int valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = mlopt_utf8_sequence((const unsigned char *)s + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* Check the caller's tensors and metadata; compute each tensor's size. */
static mlopt_status st_validate_input(const char *path, const mlopt_st_tensor *t, int count,
                                      const mlopt_st_kv *meta, int meta_count, uint64_t *sizes)
{
    if (count < 0 || meta_count < 0 || (count > 0 && !t) || (meta_count > 0 && !meta))
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: bad tensor or metadata list", path);
    for (int i = 0; i < count; i++) {
        const char *name = t[i].name;
        if (!name || !*name || strcmp(name, "__metadata__") == 0 || !valid_utf8(name))
            return mlopt_set_error(MLOPT_E_INVALID,
                                   "mlopt_st_write %s: tensor %d: name must be non-empty UTF-8 and not "
                                   "\"__metadata__\"",
                                   path, i);
        size_t es = mlopt_st_dtype_size(t[i].dtype);
        if (!es)
            return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: tensor \"%s\": unknown dtype \"%s\"", path,
                                   name, t[i].dtype ? t[i].dtype : "(null)");
        if (t[i].ndim < 0 || t[i].ndim > MLOPT_ST_MAX_DIMS)
            return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: tensor \"%s\": ndim %d not in 0..%d", path,
                                   name, t[i].ndim, MLOPT_ST_MAX_DIMS);
        uint64_t shape[MLOPT_ST_MAX_DIMS];
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0)
                return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: tensor \"%s\": negative dimension", path,
                                       name);
            shape[d] = (uint64_t)t[i].shape[d];
        }
        if (!st_byte_count(shape, t[i].ndim, es, &sizes[i]) || sizes[i] > SIZE_MAX)
            return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: tensor \"%s\": size overflows", path, name);
        if (sizes[i] > 0 && !t[i].data)
            return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: tensor \"%s\": data is NULL", path, name);
    }
    for (int i = 0; i < meta_count; i++)
        if (!meta[i].key || !meta[i].value || !valid_utf8(meta[i].key) || !valid_utf8(meta[i].value))
            return mlopt_set_error(MLOPT_E_INVALID,
                                   "mlopt_st_write %s: metadata entry %d: key and value must be UTF-8 strings", path,
                                   i);

    size_t n = (size_t)(count > meta_count ? count : meta_count);
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        return mlopt_set_error(MLOPT_E_NOMEM, "mlopt_st_write %s: out of memory", path);
    for (int i = 0; i < count; i++)
        names[i] = t[i].name;
    const char *dup = find_duplicate(names, (size_t)count);
    mlopt_status s = MLOPT_OK;
    if (dup)
        s = mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: duplicate tensor name \"%s\"", path, dup);
    if (!s) {
        for (int i = 0; i < meta_count; i++)
            names[i] = meta[i].key;
        dup = find_duplicate(names, (size_t)meta_count);
        if (dup)
            s = mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: duplicate metadata key \"%s\"", path, dup);
    }
    free(names);
    return s;
}

static mlopt_status st_build_header(const mlopt_st_tensor *t, int count, const mlopt_st_kv *meta, int meta_count,
                                    const uint64_t *sizes, strbuf *b)
{
    char num[32];
    sb_puts(b, "{");
    int first = 1;
    if (meta_count > 0) {
        sb_puts(b, "\"__metadata__\":{");
        for (int i = 0; i < meta_count; i++) {
            if (i)
                sb_puts(b, ",");
            sb_json_string(b, meta[i].key);
            sb_puts(b, ":");
            sb_json_string(b, meta[i].value);
        }
        sb_puts(b, "}");
        first = 0;
    }
    uint64_t offset = 0;
    for (int i = 0; i < count; i++) {
        if (!first)
            sb_puts(b, ",");
        first = 0;
        sb_json_string(b, t[i].name);
        sb_puts(b, ":{\"dtype\":");
        sb_json_string(b, t[i].dtype);
        sb_puts(b, ",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            sb_puts(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,", (unsigned long long)offset);
        sb_puts(b, num);
        offset += sizes[i];
        snprintf(num, sizeof num, "%llu]}", (unsigned long long)offset);
        sb_puts(b, num);
    }
    sb_puts(b, "}");
    /* Pad with spaces so that the data starts 8-byte aligned. */
    while (!b->oom && b->len % 8)
        sb_puts(b, " ");
    return b->oom ? MLOPT_E_NOMEM : MLOPT_OK;
}

mlopt_status mlopt_st_write(const char *path, const mlopt_st_tensor *tensors, int count, const mlopt_st_kv *meta,
                            int meta_count)
{
    if (!path || !*path)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write: empty path");
    uint64_t *sizes = calloc(count > 0 ? (size_t)count : 1, sizeof *sizes);
    if (!sizes)
        return mlopt_set_error(MLOPT_E_NOMEM, "mlopt_st_write %s: out of memory", path);
    strbuf header = {0};
    mlopt_status s = st_validate_input(path, tensors, count, meta, meta_count, sizes);
    if (!s && st_build_header(tensors, count, meta, meta_count, sizes, &header))
        s = mlopt_set_error(MLOPT_E_NOMEM, "mlopt_st_write %s: out of memory building the header", path);
    if (!s && header.len > MLOPT_ST_MAX_HEADER)
        s = mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_write %s: header of %zu bytes exceeds the %llu-byte limit",
                            path, header.len, MLOPT_ST_MAX_HEADER);
    mlopt_atomic_file af;
    if (!s)
        s = mlopt_atomic_open(path, &af);
    if (!s) {
        unsigned char len_le[8];
        for (int i = 0; i < 8; i++)
            len_le[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
        mlopt_atomic_write(&af, len_le, 8);
        mlopt_atomic_write(&af, header.p, header.len);
        for (int i = 0; i < count; i++)
            mlopt_atomic_write(&af, tensors[i].data, (size_t)sizes[i]);
        s = mlopt_atomic_commit(&af);
    }
    free(header.p);
    free(sizes);
    return s;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

typedef struct st_entry {
    const char *name, *dtype; /* point into the parsed header */
    int ndim;
    int64_t shape[MLOPT_ST_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

struct mlopt_st_file {
    char *path;
    mlopt_json *header;
    unsigned char *data; /* the byte buffer after the header */
    uint64_t data_size;
    st_entry *entries;   /* sorted by data offset */
    int count;
    const char **meta_keys, **meta_values;
    int meta_count;
};

void mlopt_st_close(mlopt_st_file *f)
{
    if (!f)
        return;
    free(f->path);
    mlopt_json_free(f->header);
    free(f->data);
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_values);
    free(f);
}

#define ST_FORMAT(f, ...) st_format_error((f)->path, __VA_ARGS__)

static mlopt_status st_format_error(const char *path, const char *fmt, ...) MLOPT_PRINTF(2, 3);
static mlopt_status st_format_error(const char *path, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlopt_set_error(MLOPT_E_FORMAT, "safetensors: %s: %s", path, msg);
}

static mlopt_status st_read_exact(FILE *fp, const char *path, void *buf, size_t n, const char *what)
{
    if (n && fread(buf, 1, n, fp) != n)
        return ferror(fp) ? mlopt_set_error(MLOPT_E_IO, "safetensors: %s: reading %s failed: %s", path, what,
                                            strerror(errno))
                          : st_format_error(path, "file ended while reading %s", what);
    return MLOPT_OK;
}

static mlopt_status st_parse_metadata(mlopt_st_file *f, const mlopt_json *m)
{
    if (m->type != MLOPT_JSON_OBJECT)
        return ST_FORMAT(f, "\"__metadata__\" must be an object, found %s", mlopt_json_type_name(m->type));
    if (m->count > (size_t)INT32_MAX)
        return ST_FORMAT(f, "too many metadata entries");
    f->meta_count = (int)m->count;
    f->meta_keys = malloc((m->count ? m->count : 1) * sizeof *f->meta_keys);
    f->meta_values = malloc((m->count ? m->count : 1) * sizeof *f->meta_values);
    const char **sorted = malloc((m->count ? m->count : 1) * sizeof *sorted);
    if (!f->meta_keys || !f->meta_values || !sorted) {
        free(sorted);
        return mlopt_set_error(MLOPT_E_NOMEM, "safetensors: %s: out of memory", f->path);
    }
    for (size_t i = 0; i < m->count; i++) {
        const mlopt_json *v = &m->items[i];
        if (v->type != MLOPT_JSON_STRING) {
            free(sorted);
            return ST_FORMAT(f, "metadata value of \"%s\" must be a string, found %s", v->key,
                             mlopt_json_type_name(v->type));
        }
        f->meta_keys[i] = sorted[i] = v->key;
        f->meta_values[i] = v->text;
    }
    const char *dup = find_duplicate(sorted, m->count);
    free(sorted);
    if (dup)
        return ST_FORMAT(f, "duplicate metadata key \"%s\"", dup);
    return MLOPT_OK;
}

/* Fill e from one header entry and check it against the data size. */
static mlopt_status st_parse_entry(mlopt_st_file *f, const mlopt_json *v, st_entry *e)
{
    e->name = v->key;
    if (v->type != MLOPT_JSON_OBJECT)
        return ST_FORMAT(f, "tensor \"%s\": entry must be an object, found %s", v->key,
                         mlopt_json_type_name(v->type));
    static const char *const required[] = {"dtype", "shape", "data_offsets"};
    for (int r = 0; r < 3; r++) {
        int seen = 0;
        for (size_t i = 0; i < v->count; i++)
            seen += strcmp(v->items[i].key, required[r]) == 0;
        if (seen != 1)
            return ST_FORMAT(f, "tensor \"%s\": %s \"%s\"", v->key, seen ? "duplicate field" : "missing field",
                             required[r]);
    }
    const mlopt_json *dtype = mlopt_json_get(v, "dtype");
    const mlopt_json *shape = mlopt_json_get(v, "shape");
    const mlopt_json *offs = mlopt_json_get(v, "data_offsets");
    if (dtype->type != MLOPT_JSON_STRING)
        return ST_FORMAT(f, "tensor \"%s\": dtype must be a string", v->key);
    size_t es = mlopt_st_dtype_size(dtype->text);
    if (!es)
        return ST_FORMAT(f, "tensor \"%s\": unknown dtype \"%s\"", v->key, dtype->text);
    e->dtype = dtype->text;
    if (shape->type != MLOPT_JSON_ARRAY)
        return ST_FORMAT(f, "tensor \"%s\": shape must be an array", v->key);
    if (shape->count > MLOPT_ST_MAX_DIMS)
        return ST_FORMAT(f, "tensor \"%s\": %zu dimensions, at most %d supported", v->key, shape->count,
                         MLOPT_ST_MAX_DIMS);
    e->ndim = (int)shape->count;
    uint64_t dims[MLOPT_ST_MAX_DIMS];
    for (size_t d = 0; d < shape->count; d++) {
        if (!mlopt_json_u64(&shape->items[d], &dims[d]) || dims[d] > (uint64_t)INT64_MAX)
            return ST_FORMAT(f, "tensor \"%s\": shape[%zu] is not a non-negative integer", v->key, d);
        e->shape[d] = (int64_t)dims[d];
    }
    if (offs->type != MLOPT_JSON_ARRAY || offs->count != 2 || !mlopt_json_u64(&offs->items[0], &e->begin) ||
        !mlopt_json_u64(&offs->items[1], &e->end))
        return ST_FORMAT(f, "tensor \"%s\": data_offsets must be [begin, end] with non-negative integers", v->key);
    if (e->end < e->begin)
        return ST_FORMAT(f, "tensor \"%s\": data_offsets [%llu, %llu] end before they begin", v->key,
                         (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > f->data_size)
        return ST_FORMAT(f, "tensor \"%s\": data_offsets [%llu, %llu] out of bounds of the %llu-byte data", v->key,
                         (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)f->data_size);
    uint64_t bytes;
    if (!st_byte_count(dims, e->ndim, es, &bytes))
        return ST_FORMAT(f, "tensor \"%s\": shape x dtype size overflows 64 bits", v->key);
    if (bytes != e->end - e->begin)
        return ST_FORMAT(f, "tensor \"%s\": shape x %s size is %llu bytes but data_offsets span %llu", v->key,
                         e->dtype, (unsigned long long)bytes, (unsigned long long)(e->end - e->begin));
    return MLOPT_OK;
}

static int cmp_entry_offsets(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Entries sorted by offset must tile [0, data_size) exactly. */
static mlopt_status st_check_layout(mlopt_st_file *f)
{
    qsort(f->entries, (size_t)f->count, sizeof *f->entries, cmp_entry_offsets);
    uint64_t expected = 0;
    for (int i = 0; i < f->count; i++) {
        const st_entry *e = &f->entries[i];
        if (e->begin < expected)
            return ST_FORMAT(f, "tensor \"%s\" (bytes %llu..%llu) overlaps tensor \"%s\" (ending at %llu)", e->name,
                             (unsigned long long)e->begin, (unsigned long long)e->end, f->entries[i - 1].name,
                             (unsigned long long)expected);
        if (e->begin > expected)
            return ST_FORMAT(f, "gap in the data: bytes %llu..%llu before tensor \"%s\" belong to no tensor",
                             (unsigned long long)expected, (unsigned long long)e->begin, e->name);
        expected = e->end;
    }
    if (expected != f->data_size)
        return ST_FORMAT(f, "%llu trailing bytes after the last tensor belong to no tensor",
                         (unsigned long long)(f->data_size - expected));
    return MLOPT_OK;
}

static mlopt_status st_parse_header(mlopt_st_file *f, const char *text, size_t len)
{
    char why[600];
    mlopt_status s = mlopt_json_parse(text, len, &f->header, why, sizeof why);
    if (s == MLOPT_E_NOMEM)
        return mlopt_set_error(s, "safetensors: %s: out of memory parsing the header", f->path);
    if (s)
        return ST_FORMAT(f, "header is not valid JSON: %s", why);
    const mlopt_json *h = f->header;
    if (h->type != MLOPT_JSON_OBJECT)
        return ST_FORMAT(f, "header must be a JSON object, found %s", mlopt_json_type_name(h->type));
    if (h->count > (size_t)INT32_MAX)
        return ST_FORMAT(f, "too many header entries");
    f->entries = calloc(h->count ? h->count : 1, sizeof *f->entries);
    const char **names = malloc((h->count ? h->count : 1) * sizeof *names);
    if (!f->entries || !names) {
        free(names);
        return mlopt_set_error(MLOPT_E_NOMEM, "safetensors: %s: out of memory", f->path);
    }
    int have_meta = 0;
    for (size_t i = 0; i < h->count && !s; i++) {
        const mlopt_json *v = &h->items[i];
        if (strcmp(v->key, "__metadata__") == 0) {
            if (have_meta++)
                s = ST_FORMAT(f, "duplicate \"__metadata__\"");
            else
                s = st_parse_metadata(f, v);
            continue;
        }
        names[f->count] = v->key;
        s = st_parse_entry(f, v, &f->entries[f->count]);
        f->count++;
    }
    if (!s) {
        const char *dup = find_duplicate(names, (size_t)f->count);
        if (dup)
            s = ST_FORMAT(f, "duplicate tensor name \"%s\"", dup);
    }
    free(names);
    if (!s)
        s = st_check_layout(f);
    return s;
}

mlopt_status mlopt_st_open(const char *path, mlopt_st_file **out)
{
    if (!out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_open: empty path");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mlopt_set_error(MLOPT_E_IO, "safetensors: cannot open %s: %s", path, strerror(errno));
    mlopt_st_file *f = calloc(1, sizeof *f);
    char *header = NULL;
    mlopt_status s = MLOPT_OK;
    if (!f || !(f->path = strdup(path))) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "safetensors: %s: out of memory", path);
        goto done;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        s = mlopt_set_error(MLOPT_E_IO, "safetensors: %s is not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        s = ST_FORMAT(f, "truncated: %llu bytes, too short for the 8-byte header length", (unsigned long long)size);
        goto done;
    }
    unsigned char len_le[8];
    if ((s = st_read_exact(fp, path, len_le, 8, "the header length")))
        goto done;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len_le[i];
    if (n > MLOPT_ST_MAX_HEADER) {
        s = ST_FORMAT(f, "header length %llu exceeds the %llu-byte limit (corrupt or not a safetensors file)",
                      (unsigned long long)n, MLOPT_ST_MAX_HEADER);
        goto done;
    }
    if (n > size - 8) {
        s = ST_FORMAT(f, "header length %llu runs past the end of the %llu-byte file (truncated?)",
                      (unsigned long long)n, (unsigned long long)size);
        goto done;
    }
    f->data_size = size - 8 - n;
    if (f->data_size > SIZE_MAX) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "safetensors: %s: too large for this machine", path);
        goto done;
    }
    header = malloc(n ? (size_t)n : 1);
    /* The data gets its own malloc'ed buffer so that tensors are aligned
     * whatever the header length is. */
    f->data = malloc(f->data_size ? (size_t)f->data_size : 1);
    if (!header || !f->data) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "safetensors: %s: cannot allocate %llu bytes", path,
                            (unsigned long long)size);
        goto done;
    }
    if ((s = st_read_exact(fp, path, header, (size_t)n, "the header")) ||
        (s = st_read_exact(fp, path, f->data, (size_t)f->data_size, "the tensor data")))
        goto done;
    s = st_parse_header(f, header, (size_t)n);
done:
    fclose(fp);
    free(header);
    if (s) {
        mlopt_st_close(f);
        return s;
    }
    *out = f;
    return MLOPT_OK;
}

int mlopt_st_count(const mlopt_st_file *f)
{
    return f ? f->count : 0;
}

static void st_view(const mlopt_st_file *f, const st_entry *e, mlopt_st_tensor *out)
{
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof e->shape);
    out->data = f->data + e->begin;
    out->nbytes = (size_t)(e->end - e->begin);
}

mlopt_status mlopt_st_get(const mlopt_st_file *f, int index, mlopt_st_tensor *out)
{
    if (!f || !out || index < 0 || index >= f->count)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_get: index %d out of range (%d tensors)", index,
                               f ? f->count : 0);
    st_view(f, &f->entries[index], out);
    return MLOPT_OK;
}

mlopt_status mlopt_st_find(const mlopt_st_file *f, const char *name, mlopt_st_tensor *out)
{
    if (!f || !name || !out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_find: NULL argument");
    for (int i = 0; i < f->count; i++) {
        if (strcmp(f->entries[i].name, name) == 0) {
            st_view(f, &f->entries[i], out);
            return MLOPT_OK;
        }
    }
    return mlopt_set_error(MLOPT_E_NOT_FOUND, "safetensors: %s has no tensor \"%s\"", f->path, name);
}

const char *mlopt_st_metadata(const mlopt_st_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (int i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

int mlopt_st_metadata_count(const mlopt_st_file *f)
{
    return f ? f->meta_count : 0;
}

mlopt_status mlopt_st_metadata_at(const mlopt_st_file *f, int index, const char **key, const char **value)
{
    if (!f || index < 0 || index >= f->meta_count)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_st_metadata_at: index %d out of range", index);
    if (key)
        *key = f->meta_keys[index];
    if (value)
        *value = f->meta_values[index];
    return MLOPT_OK;
}
