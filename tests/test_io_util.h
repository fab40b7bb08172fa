/* Helpers shared by the tests/test_io_*.c suites: scratch directories and
 * whole-file reads and writes.  Header-only. */
#ifndef MLOPT_TEST_IO_UTIL_H
#define MLOPT_TEST_IO_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* A fresh directory under $TMPDIR (or /tmp); written into buf. */
static inline void io_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/mlopt-io-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf))
        buf[0] = 0;
}

/* rm -r (the scratch trees are small and hold no symlinks to follow). */
static inline void io_rmtree(const char *path)
{
    struct stat st;
    if (!path || !path[0] || lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char child[4096];
            int n = snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            if (n > 0 && (size_t)n < sizeof child)
                io_rmtree(child);
        }
        if (d)
            closedir(d);
    }
    remove(path);
}

static inline int io_write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(data, 1, n, fp);
    return (fclose(fp) == 0 && w == n) ? 0 : -1;
}

/* malloc'ed contents (NUL-terminated for convenience) or NULL. */
static inline unsigned char *io_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    if (b) {
        b[n] = 0;
        *len = (size_t)n;
    }
    return b;
}

/* Number of entries in dir other than . and .. */
static inline int io_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

#endif
