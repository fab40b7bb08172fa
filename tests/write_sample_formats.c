/* Helper for tests/check_formats.py, which checks mlopt's files with the
 * reference Python packages (safetensors, tensorboard):
 *   write_sample_formats write OUTDIR   writes OUTDIR/sample.safetensors and
 *                                       a TensorBoard run in OUTDIR/tb
 *   write_sample_formats dump FILE      reads a safetensors file with mlopt's
 *                                       reader and prints one line per tensor:
 *                                       name dtype d0xd1.. byte-hex-prefix */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "io/safetensors.h"
#include "io/tensorboard.h"

/* The values check_formats.py expects. */
static int write_samples(const char *outdir)
{
    char path[4096];
    float w[6];
    for (int i = 0; i < 6; i++)
        w[i] = (float)i * 0.5f - 1.0f;
    const int bias[3] = {-1, 0, 7};
    const signed char q[4] = {-128, -1, 0, 127};
    const unsigned char u[4] = {0, 1, 128, 255};
    mlopt_st_tensor t[4] = {
        {.name = "fc.weight", .dtype = "F32", .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "fc.bias", .dtype = "I32", .ndim = 1, .shape = {3}, .data = bias},
        {.name = "q", .dtype = "I8", .ndim = 2, .shape = {2, 2}, .data = q},
        {.name = "u", .dtype = "U8", .ndim = 1, .shape = {4}, .data = u},
    };
    mlopt_st_kv meta[2] = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n e-acute \xc3\xa9"}};
    snprintf(path, sizeof path, "%s/sample.safetensors", outdir);
    if (mlopt_st_write(path, t, 4, meta, 2)) {
        fprintf(stderr, "%s\n", mlopt_last_error());
        return 1;
    }
    snprintf(path, sizeof path, "%s/tb", outdir);
    mlopt_tb_writer *tb;
    if (mlopt_tb_open(path, &tb)) {
        fprintf(stderr, "%s\n", mlopt_last_error());
        return 1;
    }
    mlopt_status s = MLOPT_OK;
    for (int step = 0; step < 5 && !s; step++)
        s = mlopt_tb_scalar(tb, "train/loss", step, 1.0f / (float)(step + 1));
    if (!s)
        s = mlopt_tb_scalar(tb, "eval/accuracy", 4, 0.75f);
    if (!s)
        s = mlopt_tb_flush(tb);
    mlopt_status c = mlopt_tb_close(tb);
    if (s || c) {
        fprintf(stderr, "%s\n", mlopt_last_error());
        return 1;
    }
    return 0;
}

static int dump(const char *path)
{
    mlopt_st_file *f;
    if (mlopt_st_open(path, &f)) {
        fprintf(stderr, "%s\n", mlopt_last_error());
        return 1;
    }
    for (int i = 0; i < mlopt_st_count(f); i++) {
        mlopt_st_tensor t;
        mlopt_st_get(f, i, &t);
        printf("tensor %s %s ", t.name, t.dtype);
        for (int d = 0; d < t.ndim; d++)
            printf("%s%lld", d ? "x" : "", (long long)t.shape[d]);
        printf(" ");
        for (size_t b = 0; b < t.nbytes; b++)
            printf("%02x", ((const unsigned char *)t.data)[b]);
        printf("\n");
    }
    for (int i = 0; i < mlopt_st_metadata_count(f); i++) {
        const char *k, *v;
        mlopt_st_metadata_at(f, i, &k, &v);
        printf("meta %s %s\n", k, v);
    }
    mlopt_st_close(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        return write_samples(argv[2]);
    if (argc == 3 && strcmp(argv[1], "dump") == 0)
        return dump(argv[2]);
    fprintf(stderr, "usage: %s write OUTDIR | dump FILE.safetensors\n", argv[0]);
    return 2;
}
