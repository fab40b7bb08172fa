/* IDX loader: the real Fashion-MNIST files and synthetic good and bad ones. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "io/idx.h"
#include "test_io_util.h"

#define SYN_COUNT 5
#define SYN_ROWS 3
#define SYN_COLS 4

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Build an image file in buf; returns its length. */
static size_t make_images(unsigned char *buf, uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols)
{
    put_be32(buf, magic);
    put_be32(buf + 4, count);
    put_be32(buf + 8, rows);
    put_be32(buf + 12, cols);
    size_t n = (size_t)count * rows * cols;
    for (size_t i = 0; i < n; i++)
        buf[16 + i] = (unsigned char)(i * 7 + 3);
    return 16 + n;
}

static size_t make_labels(unsigned char *buf, uint32_t count, const unsigned char *labels)
{
    put_be32(buf, 0x00000801u);
    put_be32(buf + 4, count);
    memcpy(buf + 8, labels, count);
    return 8 + count;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

static const unsigned char syn_labels[SYN_COUNT] = {0, 3, 9, 1, 3};

/* A valid pair in dir with the given split, raw or gzipped. */
static void write_pair(const char *dir, const char *split, int gz)
{
    unsigned char img[16 + SYN_COUNT * SYN_ROWS * SYN_COLS], lab[8 + SYN_COUNT];
    size_t ni = make_images(img, 0x00000803u, SYN_COUNT, SYN_ROWS, SYN_COLS);
    size_t nl = make_labels(lab, SYN_COUNT, syn_labels);
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
    if (gz)
        write_gz(path, img, ni);
    else
        ck_assert_int_eq(io_write_file(path, img, ni), 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
    if (gz)
        write_gz(path, lab, nl);
    else
        ck_assert_int_eq(io_write_file(path, lab, nl), 0);
}

static void check_synthetic(const mlopt_idx_dataset *ds)
{
    ck_assert_int_eq(ds->count, SYN_COUNT);
    ck_assert_int_eq(ds->rows, SYN_ROWS);
    ck_assert_int_eq(ds->cols, SYN_COLS);
    ck_assert_int_eq(ds->num_classes, 10);
    for (int i = 0; i < SYN_COUNT * SYN_ROWS * SYN_COLS; i++)
        ck_assert_int_eq(ds->images[i], (unsigned char)(i * 7 + 3));
    ck_assert_mem_eq(ds->labels, syn_labels, SYN_COUNT);
}

/* Expect failure with status s and a message that names the file. */
static void expect_fail(const char *dir, mlopt_status s, const char *file, const char *phrase)
{
    mlopt_idx_dataset ds;
    mlopt_status got = mlopt_idx_load(dir, "train", &ds);
    ck_assert_msg(got == s, "expected %s, got %s: %s", mlopt_status_name(s), mlopt_status_name(got),
                  mlopt_last_error());
    ck_assert_ptr_null(ds.images);
    ck_assert_ptr_null(ds.labels);
    char full[512];
    snprintf(full, sizeof full, "%s/%s", dir, file);
    ck_assert_msg(strstr(mlopt_last_error(), full), "message does not name %s: %s", full, mlopt_last_error());
    if (phrase)
        ck_assert_msg(strstr(mlopt_last_error(), phrase), "message lacks \"%s\": %s", phrase, mlopt_last_error());
}

START_TEST(real_fashion_mnist)
{
    if (access(MLOPT_IDX_DEFAULT_DIR "/train-labels-idx1-ubyte.gz", R_OK) != 0 &&
        access(MLOPT_IDX_DEFAULT_DIR "/train-labels-idx1-ubyte", R_OK) != 0) {
        fprintf(stderr, "skipped: Fashion-MNIST is not installed in %s\n", MLOPT_IDX_DEFAULT_DIR);
        return;
    }
    static const struct {
        const char *split;
        int count;
    } splits[] = {{"train", 60000}, {"t10k", 10000}};
    for (int s = 0; s < 2; s++) {
        mlopt_idx_dataset ds;
        ck_assert_msg(mlopt_idx_load(NULL, splits[s].split, &ds) == MLOPT_OK, "%s", mlopt_last_error());
        ck_assert_int_eq(ds.count, splits[s].count);
        ck_assert_int_eq(ds.rows, 28);
        ck_assert_int_eq(ds.cols, 28);
        ck_assert_int_eq(ds.num_classes, 10);
        /* Fashion-MNIST is balanced: every class has count/10 samples. */
        int per_class[10] = {0};
        for (int i = 0; i < ds.count; i++) {
            ck_assert_int_lt(ds.labels[i], 10);
            per_class[ds.labels[i]]++;
        }
        for (int c = 0; c < 10; c++)
            ck_assert_int_eq(per_class[c], splits[s].count / 10);
        /* Images are not blank. */
        long sum = 0;
        for (int i = 0; i < 28 * 28; i++)
            sum += ds.images[i];
        ck_assert_int_gt(sum, 0);
        mlopt_idx_free(&ds);
        ck_assert_ptr_null(ds.images);
        mlopt_idx_free(&ds); /* idempotent */
    }
}
END_TEST

START_TEST(synthetic_raw_and_gz)
{
    char dir[256];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 0);
    write_pair(dir, "t10k", 1);
    mlopt_idx_dataset ds;
    ck_assert_msg(mlopt_idx_load(dir, "train", &ds) == MLOPT_OK, "%s", mlopt_last_error());
    check_synthetic(&ds);
    mlopt_idx_free(&ds);
    ck_assert_msg(mlopt_idx_load(dir, "t10k", &ds) == MLOPT_OK, "%s", mlopt_last_error());
    check_synthetic(&ds);
    mlopt_idx_free(&ds);
    /* Content, not the name, decides: a gzip stream without .gz loads too. */
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(b, sizeof b, "%s/other-images", dir);
    ck_assert_int_eq(rename(a, b), 0);
    snprintf(a, sizeof a, "%s/train-labels-idx1-ubyte", dir);
    ck_assert_msg(mlopt_idx_load_files(b, a, &ds) == MLOPT_OK, "%s", mlopt_last_error());
    check_synthetic(&ds);
    mlopt_idx_free(&ds);
    io_rmtree(dir);
}
END_TEST

START_TEST(labels_above_nine_widen_classes)
{
    char dir[256], path[512];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 0);
    unsigned char lab[8 + SYN_COUNT];
    const unsigned char wide[SYN_COUNT] = {0, 12, 3, 4, 5};
    size_t nl = make_labels(lab, SYN_COUNT, wide);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    ck_assert_int_eq(io_write_file(path, lab, nl), 0);
    mlopt_idx_dataset ds;
    ck_assert_int_eq(mlopt_idx_load(dir, "train", &ds), MLOPT_OK);
    ck_assert_int_eq(ds.num_classes, 13);
    mlopt_idx_free(&ds);
    io_rmtree(dir);
}
END_TEST

START_TEST(missing_files)
{
    char dir[256], path[512];
    io_tmpdir(dir, sizeof dir);
    expect_fail(dir, MLOPT_E_IO, "train-images-idx3-ubyte", "missing");
    write_pair(dir, "train", 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    ck_assert_int_eq(remove(path), 0);
    expect_fail(dir, MLOPT_E_IO, "train-labels-idx1-ubyte", "missing");
    io_rmtree(dir);
}
END_TEST

/* Cut file `name` in dir to keep bytes; optionally gzip it instead. */
static void truncate_file(const char *dir, const char *name, size_t keep)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *b = io_read_file(path, &len);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_lt(keep, len);
    ck_assert_int_eq(io_write_file(path, b, keep), 0);
    free(b);
}

START_TEST(truncated_raw_images)
{
    char dir[256];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 0);
    truncate_file(dir, "train-images-idx3-ubyte", 16 + 20);
    expect_fail(dir, MLOPT_E_FORMAT, "train-images-idx3-ubyte", "truncated");
    truncate_file(dir, "train-images-idx3-ubyte", 10); /* inside the header */
    expect_fail(dir, MLOPT_E_FORMAT, "train-images-idx3-ubyte", "truncated");
    io_rmtree(dir);
}
END_TEST

START_TEST(truncated_raw_labels)
{
    char dir[256];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 0);
    truncate_file(dir, "train-labels-idx1-ubyte", 8 + 2);
    expect_fail(dir, MLOPT_E_FORMAT, "train-labels-idx1-ubyte", "truncated");
    io_rmtree(dir);
}
END_TEST

START_TEST(truncated_gz)
{
    char dir[256];
    io_tmpdir(dir, sizeof dir);
    /* Big enough that the cut lands inside the deflate data. */
    static unsigned char img[16 + 2000 * 28 * 28];
    size_t ni = make_images(img, 0x00000803u, 2000, 28, 28);
    char path[512];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_gz(path, img, ni);
    unsigned char lab[8 + 2000];
    static unsigned char labels[2000];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    write_gz(path, lab, make_labels(lab, 2000, labels));
    mlopt_idx_dataset ds;
    ck_assert_msg(mlopt_idx_load(dir, "train", &ds) == MLOPT_OK, "%s", mlopt_last_error());
    mlopt_idx_free(&ds);
    size_t len = 0;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    free(io_read_file(path, &len));
    truncate_file(dir, "train-images-idx3-ubyte.gz", len / 2);
    expect_fail(dir, MLOPT_E_FORMAT, "train-images-idx3-ubyte.gz", NULL);
    io_rmtree(dir);
}
END_TEST

START_TEST(wrong_magic)
{
    char dir[256], path[512];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 0);
    unsigned char img[16 + SYN_COUNT * SYN_ROWS * SYN_COLS];
    size_t ni = make_images(img, 0x00000804u, SYN_COUNT, SYN_ROWS, SYN_COLS);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    ck_assert_int_eq(io_write_file(path, img, ni), 0);
    expect_fail(dir, MLOPT_E_FORMAT, "train-images-idx3-ubyte", "magic");
    /* Labels and images swapped. */
    write_pair(dir, "train", 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    ni = make_images(img, 0x00000803u, SYN_COUNT, SYN_ROWS, SYN_COLS);
    ck_assert_int_eq(io_write_file(path, img, ni), 0);
    expect_fail(dir, MLOPT_E_FORMAT, "train-labels-idx1-ubyte", "magic");
    io_rmtree(dir);
}
END_TEST

START_TEST(count_mismatch)
{
    char dir[256], path[512];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 1);
    unsigned char lab[8 + SYN_COUNT];
    size_t nl = make_labels(lab, SYN_COUNT - 1, syn_labels);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    write_gz(path, lab, nl);
    expect_fail(dir, MLOPT_E_FORMAT, "train-labels-idx1-ubyte.gz", "mismatch");
    io_rmtree(dir);
}
END_TEST

START_TEST(absurd_dimensions)
{
    char dir[256], path[512];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 0);
    static const uint32_t dims[][3] = {
        {0, 28, 28},          /* empty */
        {0x80000000u, 28, 28}, /* negative as int32 */
        {5, 0, 28},
        {5, 28, 0x7fffffffu},
        {0xffffffffu, 0xffffffffu, 0xffffffffu},
        {2000000000u, 2000, 2000}, /* over the size limit */
    };
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        unsigned char hdr[16];
        put_be32(hdr, 0x00000803u);
        put_be32(hdr + 4, dims[i][0]);
        put_be32(hdr + 8, dims[i][1]);
        put_be32(hdr + 12, dims[i][2]);
        ck_assert_int_eq(io_write_file(path, hdr, 16), 0);
        expect_fail(dir, MLOPT_E_FORMAT, "train-images-idx3-ubyte", NULL);
    }
    io_rmtree(dir);
}
END_TEST

START_TEST(trailing_data)
{
    char dir[256], path[512];
    io_tmpdir(dir, sizeof dir);
    write_pair(dir, "train", 1);
    unsigned char lab[8 + SYN_COUNT + 3];
    size_t nl = make_labels(lab, SYN_COUNT, syn_labels);
    memset(lab + nl, 1, 3);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    write_gz(path, lab, nl + 3);
    expect_fail(dir, MLOPT_E_FORMAT, "train-labels-idx1-ubyte.gz", "trailing");
    io_rmtree(dir);
}
END_TEST

START_TEST(bad_arguments)
{
    mlopt_idx_dataset ds;
    ck_assert_int_eq(mlopt_idx_load("/tmp", NULL, &ds), MLOPT_E_INVALID);
    ck_assert_int_eq(mlopt_idx_load("/tmp", "../x", &ds), MLOPT_E_INVALID);
    ck_assert_int_eq(mlopt_idx_load("/tmp", "train", NULL), MLOPT_E_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_idx");
    TCase *tc = tcase_create("idx");
    tcase_add_test(tc, real_fashion_mnist);
    tcase_add_test(tc, synthetic_raw_and_gz);
    tcase_add_test(tc, labels_above_nine_widen_classes);
    tcase_add_test(tc, missing_files);
    tcase_add_test(tc, truncated_raw_images);
    tcase_add_test(tc, truncated_raw_labels);
    tcase_add_test(tc, truncated_gz);
    tcase_add_test(tc, wrong_magic);
    tcase_add_test(tc, count_mismatch);
    tcase_add_test(tc, absurd_dimensions);
    tcase_add_test(tc, trailing_data);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
