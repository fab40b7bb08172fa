#include "io/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"

/* IDX magic: two zero bytes, the element type (0x08 = unsigned byte) and the
 * number of dimensions. */
#define IDX_TYPE_UBYTE 0x08
#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

/* A bogus header must fail as a format error before it turns into a huge
 * allocation: no real IDX image set comes near these. */
#define IDX_MAX_SIDE 65535u
#define IDX_MAX_BYTES ((uint64_t)4 << 30)

/* gzread reads plain files transparently; it tells the two apart by the gzip
 * magic (1f 8b), so the name suffix does not matter. */
typedef struct idx_file {
    gzFile gz;
    const char *path;
    int compressed;
    uint64_t raw_size; /* size on disk, used to check plain files up front */
} idx_file;

static mlopt_status idx_open(const char *path, idx_file *f)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return mlopt_set_error(MLOPT_E_IO, "idx: cannot open %s: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, probe);
    struct stat st;
    if (fstat(fileno(probe), &st) == 0)
        f->raw_size = (uint64_t)st.st_size;
    fclose(probe);
    f->compressed = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return mlopt_set_error(errno ? MLOPT_E_IO : MLOPT_E_NOMEM, "idx: cannot open %s: %s", path,
                               errno ? strerror(errno) : "out of memory");
    gzbuffer(f->gz, 1 << 17);
    return MLOPT_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* Read exactly n bytes of `what`; a short read is a truncated file. */
static mlopt_status idx_read(idx_file *f, void *buf, uint64_t n, const char *what)
{
    unsigned char *p = buf;
    uint64_t done = 0;
    while (done < n) {
        uint64_t want = n - done;
        if (want > (1u << 30))
            want = 1u << 30;
        int got = gzread(f->gz, p + done, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f->gz, &zerr);
            return mlopt_set_error(zerr == Z_ERRNO ? MLOPT_E_IO : MLOPT_E_FORMAT,
                                   "idx: %s: reading %s failed: %s", f->path, what,
                                   zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (got == 0)
            break;
        done += (uint64_t)got;
    }
    if (done < n) {
        int zerr = Z_OK;
        const char *msg = gzerror(f->gz, &zerr);
        if (zerr != Z_OK)
            return mlopt_set_error(MLOPT_E_FORMAT,
                                   "idx: %s: truncated or corrupt gzip stream while reading %s "
                                   "(%llu of %llu bytes): %s",
                                   f->path, what, (unsigned long long)done, (unsigned long long)n, msg);
        return mlopt_set_error(MLOPT_E_FORMAT,
                               "idx: %s: truncated file: %s needs %llu bytes, only %llu present",
                               f->path, what, (unsigned long long)n, (unsigned long long)done);
    }
    return MLOPT_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read the magic and ndims dimensions; check the magic names unsigned bytes
 * with the expected number of dimensions. */
static mlopt_status idx_read_header(idx_file *f, uint32_t expected_magic, uint32_t *dims, int ndims,
                                    const char *kind)
{
    unsigned char hdr[16];
    mlopt_status s = idx_read(f, hdr, 4 + 4 * (uint64_t)ndims, "the header");
    if (s)
        return s;
    uint32_t magic = be32(hdr);
    if (magic != expected_magic) {
        return mlopt_set_error(MLOPT_E_FORMAT,
                               "idx: %s: wrong magic number 0x%08x, expected 0x%08x for an %s file "
                               "(unsigned bytes, %d dimension%s); is this the right file?",
                               f->path, magic, expected_magic, kind, ndims, ndims == 1 ? "" : "s");
    }
    for (int i = 0; i < ndims; i++)
        dims[i] = be32(hdr + 4 + 4 * i);
    return MLOPT_OK;
}

/* After the payload the file must end: extra bytes mean the header lies. */
static mlopt_status idx_expect_end(idx_file *f, uint64_t payload)
{
    unsigned char extra;
    int got = gzread(f->gz, &extra, 1);
    if (got > 0)
        return mlopt_set_error(MLOPT_E_FORMAT,
                               "idx: %s: trailing data after the %llu bytes the header describes",
                               f->path, (unsigned long long)payload);
    if (got < 0) {
        int zerr;
        const char *msg = gzerror(f->gz, &zerr);
        return mlopt_set_error(MLOPT_E_FORMAT, "idx: %s: corrupt end of gzip stream: %s", f->path, msg);
    }
    return MLOPT_OK;
}

/* Plain files can be checked against the header before allocating. */
static mlopt_status idx_check_plain_size(const idx_file *f, uint64_t header, uint64_t payload)
{
    if (f->compressed || f->raw_size == header + payload)
        return MLOPT_OK;
    if (f->raw_size < header + payload)
        return mlopt_set_error(MLOPT_E_FORMAT,
                               "idx: %s: truncated file: the header describes %llu bytes of data, "
                               "the file has %llu",
                               f->path, (unsigned long long)payload,
                               (unsigned long long)(f->raw_size - header));
    return mlopt_set_error(MLOPT_E_FORMAT,
                           "idx: %s: trailing data: the header describes %llu bytes of data, the file has %llu",
                           f->path, (unsigned long long)payload, (unsigned long long)(f->raw_size - header));
}

static mlopt_status load_images(const char *path, mlopt_idx_dataset *out)
{
    idx_file f;
    mlopt_status s = idx_open(path, &f);
    if (s)
        return s;
    uint32_t dims[3];
    s = idx_read_header(&f, IDX_IMAGES_MAGIC, dims, 3, "idx3 image");
    if (s)
        goto done;
    if (dims[0] == 0 || dims[0] > INT_MAX || dims[1] == 0 || dims[1] > IDX_MAX_SIDE || dims[2] == 0 ||
        dims[2] > IDX_MAX_SIDE) {
        s = mlopt_set_error(MLOPT_E_FORMAT,
                            "idx: %s: implausible dimensions %u x %u x %u (count must be 1..%d, "
                            "rows and cols 1..%u)",
                            path, dims[0], dims[1], dims[2], INT_MAX, IDX_MAX_SIDE);
        goto done;
    }
    uint64_t bytes = (uint64_t)dims[0] * dims[1] * dims[2]; /* < 2^63: no overflow */
    if (bytes > IDX_MAX_BYTES) {
        s = mlopt_set_error(MLOPT_E_FORMAT, "idx: %s: %u images of %u x %u is %llu bytes, over the %llu-byte limit",
                            path, dims[0], dims[1], dims[2], (unsigned long long)bytes,
                            (unsigned long long)IDX_MAX_BYTES);
        goto done;
    }
    s = idx_check_plain_size(&f, 16, bytes);
    if (s)
        goto done;
    out->images = malloc((size_t)bytes);
    if (!out->images) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "idx: %s: cannot allocate %llu bytes for the images", path,
                            (unsigned long long)bytes);
        goto done;
    }
    s = idx_read(&f, out->images, bytes, "the image data");
    if (!s)
        s = idx_expect_end(&f, bytes);
    if (!s) {
        out->count = (int)dims[0];
        out->rows = (int)dims[1];
        out->cols = (int)dims[2];
    }
done:
    idx_close(&f);
    return s;
}

static mlopt_status load_labels(const char *path, int *count, mlopt_idx_dataset *out)
{
    idx_file f;
    mlopt_status s = idx_open(path, &f);
    if (s)
        return s;
    uint32_t n;
    s = idx_read_header(&f, IDX_LABELS_MAGIC, &n, 1, "idx1 label");
    if (s)
        goto done;
    if (n == 0 || n > INT_MAX) {
        s = mlopt_set_error(MLOPT_E_FORMAT, "idx: %s: implausible label count %u (must be 1..%d)", path, n,
                            INT_MAX);
        goto done;
    }
    s = idx_check_plain_size(&f, 8, n);
    if (s)
        goto done;
    out->labels = malloc(n);
    if (!out->labels) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "idx: %s: cannot allocate %u bytes for the labels", path, n);
        goto done;
    }
    s = idx_read(&f, out->labels, n, "the labels");
    if (!s)
        s = idx_expect_end(&f, n);
    if (!s)
        *count = (int)n;
done:
    idx_close(&f);
    return s;
}

mlopt_status mlopt_idx_load_files(const char *images_path, const char *labels_path, mlopt_idx_dataset *out)
{
    if (!out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_idx_load_files: out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_idx_load_files: NULL path");
    int label_count = 0;
    mlopt_status s = load_images(images_path, out);
    if (!s)
        s = load_labels(labels_path, &label_count, out);
    if (!s && label_count != out->count)
        s = mlopt_set_error(MLOPT_E_FORMAT, "idx: count mismatch: %s has %d images but %s has %d labels",
                            images_path, out->count, labels_path, label_count);
    if (s) {
        mlopt_idx_free(out);
        return s;
    }
    int max_label = 0;
    for (int i = 0; i < out->count; i++)
        if (out->labels[i] > max_label)
            max_label = out->labels[i];
    out->num_classes = max_label + 1;
    return MLOPT_OK;
}

/* <dir>/<stem>, else <dir>/<stem>.gz. */
static mlopt_status find_file(const char *dir, const char *stem, char *path, size_t len)
{
    int n = snprintf(path, len, "%s/%s", dir, stem);
    if (n < 0 || (size_t)n + 3 >= len)
        return mlopt_set_error(MLOPT_E_INVALID, "idx: path too long: %s/%s", dir, stem);
    if (access(path, F_OK) == 0)
        return MLOPT_OK;
    strcat(path, ".gz");
    if (access(path, F_OK) == 0)
        return MLOPT_OK;
    return mlopt_set_error(MLOPT_E_IO, "idx: missing file %s/%s (also tried %s); set the data directory",
                           dir, stem, path);
}

mlopt_status mlopt_idx_load(const char *dir, const char *split, mlopt_idx_dataset *out)
{
    if (!out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir || !*dir)
        dir = MLOPT_IDX_DEFAULT_DIR;
    if (!split || !*split || strchr(split, '/'))
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_idx_load: split must be \"train\" or \"t10k\", got \"%s\"",
                               split ? split : "(null)");
    char stem[256], images[4096], labels[4096];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", split);
    mlopt_status s = find_file(dir, stem, images, sizeof images);
    if (s)
        return s;
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", split);
    s = find_file(dir, stem, labels, sizeof labels);
    if (s)
        return s;
    return mlopt_idx_load_files(images, labels, out);
}

void mlopt_idx_free(mlopt_idx_dataset *ds)
{
    if (!ds)
        return;
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}
