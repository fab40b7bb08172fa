/* TensorBoard event-file writer.  Protobuf field numbers from TensorFlow's
 * event.proto and summary.proto:
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; } */
#include "io/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "io/crc32c.h"

struct mlopt_tb_writer {
    FILE *fp;
    char *path;
    mlopt_status status; /* first write error, reported again by flush/close */
};

/* Protobuf wire types. */
enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

static size_t put_varint(unsigned char *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (unsigned char)v;
    return n;
}

static size_t put_key(unsigned char *o, unsigned field, unsigned wire)
{
    return put_varint(o, (uint64_t)field << 3 | wire);
}

static size_t put_le(unsigned char *o, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        o[i] = (unsigned char)(v >> (8 * i));
    return (size_t)bytes;
}

static size_t put_double(unsigned char *o, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return put_le(o, bits, 8);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Frame one record: length, masked CRC of the length, data, masked CRC of
 * the data. */
static mlopt_status write_record(mlopt_tb_writer *w, const unsigned char *data, size_t n)
{
    if (w->status)
        return w->status;
    unsigned char head[12], tail[4];
    put_le(head, n, 8);
    put_le(head + 8, mlopt_crc32c_mask(mlopt_crc32c(0, head, 8)), 4);
    put_le(tail, mlopt_crc32c_mask(mlopt_crc32c(0, data, n)), 4);
    if (fwrite(head, 1, 12, w->fp) != 12 || fwrite(data, 1, n, w->fp) != n || fwrite(tail, 1, 4, w->fp) != 4)
        w->status = mlopt_set_error(MLOPT_E_IO, "tensorboard: writing %s failed: %s", w->path, strerror(errno));
    return w->status;
}

/* mkdir -p */
static mlopt_status make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return mlopt_set_error(MLOPT_E_NOMEM, "tensorboard: out of memory");
    mlopt_status s = MLOPT_OK;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != 0)
            continue;
        char saved = *c;
        *c = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            s = mlopt_set_error(MLOPT_E_IO, "tensorboard: cannot create directory %s: %s", p, strerror(errno));
            break;
        }
        *c = saved;
        if (!saved)
            break;
    }
    free(p);
    if (!s) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            s = mlopt_set_error(MLOPT_E_IO, "tensorboard: %s is not a directory", dir);
    }
    return s;
}

/* Open a fresh file with O_EXCL so that two runs starting in the same second
 * never write into one file. */
static FILE *create_event_file(const char *logdir, char *path, size_t len)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        strcpy(host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/')
            *c = '_';
    long long t = (long long)time(NULL);
    for (int attempt = 0; attempt < 100; attempt++) {
        if (attempt == 0)
            snprintf(path, len, "%s/events.out.tfevents.%lld.%s", logdir, t, host);
        else
            snprintf(path, len, "%s/events.out.tfevents.%lld.%s.%ld.%d", logdir, t, host, (long)getpid(), attempt);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            FILE *fp = fdopen(fd, "wb");
            if (!fp)
                close(fd);
            return fp;
        }
        if (errno != EEXIST)
            return NULL;
    }
    errno = EEXIST;
    return NULL;
}

mlopt_status mlopt_tb_open(const char *logdir, mlopt_tb_writer **out)
{
    if (!out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_tb_open: out is NULL");
    *out = NULL;
    if (!logdir || !*logdir)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_tb_open: empty log directory");
    mlopt_status s = make_dirs(logdir);
    if (s)
        return s;
    size_t len = strlen(logdir) + 400;
    mlopt_tb_writer *w = calloc(1, sizeof *w);
    char *path = malloc(len);
    if (!w || !path) {
        free(w);
        free(path);
        return mlopt_set_error(MLOPT_E_NOMEM, "tensorboard: out of memory");
    }
    w->path = path;
    w->fp = create_event_file(logdir, path, len);
    if (!w->fp) {
        s = mlopt_set_error(MLOPT_E_IO, "tensorboard: cannot create %s: %s", path, strerror(errno));
        free(path);
        free(w);
        return s;
    }
    static const char version[] = "brain.Event:2";
    unsigned char ev[64];
    size_t n = 0;
    n += put_key(ev + n, 1, WIRE_FIXED64);
    n += put_double(ev + n, now_seconds());
    n += put_key(ev + n, 2, WIRE_VARINT);
    n += put_varint(ev + n, 0);
    n += put_key(ev + n, 3, WIRE_LEN);
    n += put_varint(ev + n, sizeof version - 1);
    memcpy(ev + n, version, sizeof version - 1);
    n += sizeof version - 1;
    s = write_record(w, ev, n);
    if (!s)
        s = mlopt_tb_flush(w);
    if (s) {
        mlopt_tb_close(w);
        return s;
    }
    *out = w;
    return MLOPT_OK;
}

const char *mlopt_tb_path(const mlopt_tb_writer *w)
{
    return w ? w->path : NULL;
}

mlopt_status mlopt_tb_scalar_at(mlopt_tb_writer *w, const char *tag, int64_t step, float value, double wall_time)
{
    if (!w || !tag || !*tag)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_tb_scalar: NULL writer or empty tag");
    size_t tag_len = strlen(tag);
    /* Value: key + varint length + tag, key + 4-byte float. */
    unsigned char lenbuf[10];
    size_t value_len = 1 + put_varint(lenbuf, tag_len) + tag_len + 1 + 4;
    size_t summary_len = 1 + put_varint(lenbuf, value_len) + value_len;
    size_t cap = 1 + 8 + 1 + 10 + 1 + 10 + summary_len;
    unsigned char *ev = malloc(cap);
    if (!ev)
        return mlopt_set_error(MLOPT_E_NOMEM, "tensorboard: out of memory");
    size_t n = 0;
    n += put_key(ev + n, 1, WIRE_FIXED64);
    n += put_double(ev + n, wall_time);
    n += put_key(ev + n, 2, WIRE_VARINT);
    n += put_varint(ev + n, (uint64_t)step); /* negative int64: ten-byte two's complement */
    n += put_key(ev + n, 5, WIRE_LEN);
    n += put_varint(ev + n, summary_len);
    n += put_key(ev + n, 1, WIRE_LEN);
    n += put_varint(ev + n, value_len);
    n += put_key(ev + n, 1, WIRE_LEN);
    n += put_varint(ev + n, tag_len);
    memcpy(ev + n, tag, tag_len);
    n += tag_len;
    n += put_key(ev + n, 2, WIRE_FIXED32);
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    n += put_le(ev + n, bits, 4);
    mlopt_status s = write_record(w, ev, n);
    free(ev);
    return s;
}

mlopt_status mlopt_tb_scalar(mlopt_tb_writer *w, const char *tag, int64_t step, float value)
{
    return mlopt_tb_scalar_at(w, tag, step, value, now_seconds());
}

mlopt_status mlopt_tb_flush(mlopt_tb_writer *w)
{
    if (!w)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_tb_flush: NULL writer");
    if (!w->status && fflush(w->fp) != 0)
        w->status = mlopt_set_error(MLOPT_E_IO, "tensorboard: writing %s failed: %s", w->path, strerror(errno));
    return w->status;
}

mlopt_status mlopt_tb_close(mlopt_tb_writer *w)
{
    if (!w)
        return MLOPT_OK;
    mlopt_status s = mlopt_tb_flush(w);
    if (fclose(w->fp) != 0 && !s)
        s = mlopt_set_error(MLOPT_E_IO, "tensorboard: closing %s failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return s;
}
