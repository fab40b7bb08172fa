/* TensorBoard event-file reader: checks the TFRecord framing (both masked
 * CRC-32Cs of every record) and decodes scalar summaries, so tests and tools
 * can verify what mlopt_tb_* wrote. */
#include "io/tensorboard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io/crc32c.h"

typedef struct pb_reader {
    const unsigned char *p, *end;
} pb_reader;

static int pb_varint(pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return 0;
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0; /* more than 10 bytes */
}

static int pb_fixed(pb_reader *r, int bytes, uint64_t *out)
{
    if (r->end - r->p < bytes)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    *out = v;
    return 1;
}

/* A length-delimited field: *sub covers its bytes. */
static int pb_bytes(pb_reader *r, pb_reader *sub)
{
    uint64_t n;
    if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p))
        return 0;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 1;
}

/* Read one field's key and value.  Varint and fixed values land in *num,
 * length-delimited ones in *sub.  0 on malformed input (groups included). */
static int pb_field(pb_reader *r, unsigned *field, unsigned *wire, uint64_t *num, pb_reader *sub)
{
    uint64_t key;
    if (!pb_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
        return 0;
    *field = (unsigned)(key >> 3);
    *wire = (unsigned)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(r, num);
    case 1: return pb_fixed(r, 8, num);
    case 2: return pb_bytes(r, sub);
    case 5: return pb_fixed(r, 4, num);
    default: return 0;
    }
}

typedef struct tb_read_state {
    const char *path;
    long offset; /* of the current record, for messages */
    mlopt_tb_scalar_fn fn;
    void *user;
    mlopt_tb_read_info *info;
    int stop;
} tb_read_state;

static mlopt_status tb_malformed(const tb_read_state *st, const char *what)
{
    return mlopt_set_error(MLOPT_E_FORMAT, "tensorboard: %s: record at byte %ld: malformed %s", st->path, st->offset,
                           what);
}

static mlopt_status decode_value(tb_read_state *st, pb_reader v, double wall_time, int64_t step)
{
    pb_reader tag = {NULL, NULL};
    int have_simple = 0;
    uint64_t simple_bits = 0;
    while (v.p < v.end) {
        unsigned field, wire;
        uint64_t num = 0;
        pb_reader sub = {NULL, NULL};
        if (!pb_field(&v, &field, &wire, &num, &sub))
            return tb_malformed(st, "Summary.Value");
        if (field == 1 && wire == 2)
            tag = sub;
        else if (field == 2 && wire == 5) {
            have_simple = 1;
            simple_bits = num;
        }
    }
    if (!have_simple)
        return MLOPT_OK; /* images, histograms, tensors: not scalars */
    size_t n = (size_t)(tag.end - tag.p);
    char *name = malloc(n + 1);
    if (!name)
        return mlopt_set_error(MLOPT_E_NOMEM, "tensorboard: out of memory");
    if (n)
        memcpy(name, tag.p, n);
    name[n] = 0;
    uint32_t bits32 = (uint32_t)simple_bits;
    mlopt_tb_scalar_event ev = {wall_time, step, name, 0};
    memcpy(&ev.value, &bits32, sizeof ev.value);
    if (st->info)
        st->info->scalars++;
    if (st->fn && st->fn(st->user, &ev))
        st->stop = 1;
    free(name);
    return MLOPT_OK;
}

static mlopt_status decode_event(tb_read_state *st, pb_reader r)
{
    double wall_time = 0;
    int64_t step = 0;
    pb_reader summary = {NULL, NULL};
    /* Fields may come in any order: find them all before reporting. */
    while (r.p < r.end) {
        unsigned field, wire;
        uint64_t num = 0;
        pb_reader sub = {NULL, NULL};
        if (!pb_field(&r, &field, &wire, &num, &sub))
            return tb_malformed(st, "Event");
        if (field == 1 && wire == 1)
            memcpy(&wall_time, &num, sizeof wall_time);
        else if (field == 2 && wire == 0)
            step = (int64_t)num;
        else if (field == 3 && wire == 2 && st->info) {
            size_t n = (size_t)(sub.end - sub.p);
            if (n >= sizeof st->info->file_version)
                n = sizeof st->info->file_version - 1;
            memcpy(st->info->file_version, sub.p, n);
            st->info->file_version[n] = 0;
        } else if (field == 5 && wire == 2)
            summary = sub;
    }
    while (summary.p && summary.p < summary.end && !st->stop) {
        unsigned field, wire;
        uint64_t num = 0;
        pb_reader sub = {NULL, NULL};
        if (!pb_field(&summary, &field, &wire, &num, &sub))
            return tb_malformed(st, "Summary");
        if (field == 1 && wire == 2) {
            mlopt_status s = decode_value(st, sub, wall_time, step);
            if (s)
                return s;
        }
    }
    return MLOPT_OK;
}

static uint64_t le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static mlopt_status read_whole_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mlopt_set_error(MLOPT_E_IO, "tensorboard: cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    mlopt_status s = MLOPT_OK;
    while (b) {
        if (n == cap) {
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (!b)
        s = mlopt_set_error(MLOPT_E_NOMEM, "tensorboard: %s: out of memory", path);
    else if (ferror(fp)) {
        s = mlopt_set_error(MLOPT_E_IO, "tensorboard: reading %s failed: %s", path, strerror(errno));
        free(b);
    }
    fclose(fp);
    if (!s) {
        *buf = b;
        *len = n;
    }
    return s;
}

mlopt_status mlopt_tb_read_scalars(const char *path, mlopt_tb_scalar_fn fn, void *user, mlopt_tb_read_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!path)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_tb_read_scalars: NULL path");
    unsigned char *buf = NULL;
    size_t len = 0;
    mlopt_status s = read_whole_file(path, &buf, &len);
    if (s)
        return s;
    tb_read_state st = {path, 0, fn, user, info, 0};
    size_t pos = 0;
    while (pos < len && !s && !st.stop) {
        st.offset = (long)pos;
        if (len - pos < 12) {
            s = mlopt_set_error(MLOPT_E_FORMAT, "tensorboard: %s: truncated record header at byte %zu", path, pos);
            break;
        }
        uint64_t n = le(buf + pos, 8);
        uint32_t len_crc = (uint32_t)le(buf + pos + 8, 4);
        if (mlopt_crc32c_mask(mlopt_crc32c(0, buf + pos, 8)) != len_crc) {
            s = mlopt_set_error(MLOPT_E_FORMAT, "tensorboard: %s: record at byte %zu: length CRC mismatch", path, pos);
            break;
        }
        if (n > len - pos - 12 || len - pos - 12 - n < 4) {
            s = mlopt_set_error(MLOPT_E_FORMAT, "tensorboard: %s: record at byte %zu: truncated (%llu data bytes)",
                                path, pos, (unsigned long long)n);
            break;
        }
        const unsigned char *data = buf + pos + 12;
        uint32_t data_crc = (uint32_t)le(data + n, 4);
        if (mlopt_crc32c_mask(mlopt_crc32c(0, data, (size_t)n)) != data_crc) {
            s = mlopt_set_error(MLOPT_E_FORMAT, "tensorboard: %s: record at byte %zu: data CRC mismatch", path, pos);
            break;
        }
        if (info)
            info->records++;
        s = decode_event(&st, (pb_reader){data, data + n});
        pos += 12 + (size_t)n + 4;
    }
    free(buf);
    return s;
}
