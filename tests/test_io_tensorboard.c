/* CRC-32C, TensorBoard event files (write, re-read, corruption) and the CSV
 * metrics log. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "io/crc32c.h"
#include "io/csv_log.h"
#include "io/tensorboard.h"
#include "test_io_util.h"

static char dir[256];

static void setup(void)
{
    io_tmpdir(dir, sizeof dir);
    ck_assert_msg(dir[0], "cannot create a scratch directory");
}

static void teardown(void)
{
    io_rmtree(dir);
}

START_TEST(crc32c_known_vectors)
{
    ck_assert_uint_eq(mlopt_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(mlopt_crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) B.4 vectors. */
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    ck_assert_uint_eq(mlopt_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    ck_assert_uint_eq(mlopt_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    ck_assert_uint_eq(mlopt_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(mlopt_crc32c(0, buf, 32), 0x113FDB5Cu);
    /* Incremental equals one-shot at every split point (exercises the
     * byte-wise tail and the 4-byte body). */
    for (size_t cut = 0; cut <= 9; cut++)
        ck_assert_uint_eq(mlopt_crc32c(mlopt_crc32c(0, "123456789", cut), "123456789" + cut, 9 - cut), 0xE3069283u);
    for (uint32_t c = 0; c < 1000000; c += 9973)
        ck_assert_uint_eq(mlopt_crc32c_unmask(mlopt_crc32c_mask(c)), c);
}
END_TEST

typedef struct collected {
    int n;
    char tags[16][64];
    int64_t steps[16];
    float values[16];
    double wall[16];
} collected;

static int collect(void *user, const mlopt_tb_scalar_event *ev)
{
    collected *c = user;
    if (c->n < 16) {
        snprintf(c->tags[c->n], sizeof c->tags[0], "%s", ev->tag);
        c->steps[c->n] = ev->step;
        c->values[c->n] = ev->value;
        c->wall[c->n] = ev->wall_time;
    }
    c->n++;
    return 0;
}

static const struct {
    const char *tag;
    int64_t step;
    float value;
} samples[] = {
    {"train/loss", 0, 2.302585f},  {"train/accuracy", 1, 0.8125f}, {"eval/loss", 937, 0.3333333f},
    {"lr", -5, 1e-30f},            {"big_step", INT64_MAX, -0.0f}, {"\xc3\xa9t\xc3\xa9/loss", 3, 1e30f},
    {"neg", INT64_MIN, -1.5f},
};
#define N_SAMPLES ((int)(sizeof samples / sizeof samples[0]))

static void write_samples(const char *logdir, char *path, size_t len)
{
    mlopt_tb_writer *w;
    ck_assert_msg(mlopt_tb_open(logdir, &w) == MLOPT_OK, "%s", mlopt_last_error());
    snprintf(path, len, "%s", mlopt_tb_path(w));
    for (int i = 0; i < N_SAMPLES; i++)
        ck_assert_int_eq(mlopt_tb_scalar(w, samples[i].tag, samples[i].step, samples[i].value), MLOPT_OK);
    ck_assert_int_eq(mlopt_tb_flush(w), MLOPT_OK);
    ck_assert_int_eq(mlopt_tb_scalar_at(w, "fixed_time", 7, 42.0f, 1234.5), MLOPT_OK);
    ck_assert_int_eq(mlopt_tb_close(w), MLOPT_OK);
}

START_TEST(tensorboard_round_trip)
{
    char logdir[512], path[1024];
    snprintf(logdir, sizeof logdir, "%s/runs/exp1", dir); /* parents created */
    write_samples(logdir, path, sizeof path);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/events.out.tfevents.", logdir);
    ck_assert_int_eq(strncmp(path, prefix, strlen(prefix)), 0);

    collected c = {0};
    mlopt_tb_read_info info;
    ck_assert_msg(mlopt_tb_read_scalars(path, collect, &c, &info) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_str_eq(info.file_version, "brain.Event:2");
    ck_assert_int_eq(info.records, 1 + N_SAMPLES + 1);
    ck_assert_int_eq(info.scalars, N_SAMPLES + 1);
    ck_assert_int_eq(c.n, N_SAMPLES + 1);
    for (int i = 0; i < N_SAMPLES; i++) {
        ck_assert_str_eq(c.tags[i], samples[i].tag);
        ck_assert_int_eq(c.steps[i], samples[i].step);
        ck_assert_mem_eq(&c.values[i], &samples[i].value, sizeof(float)); /* bit-exact */
        ck_assert_double_gt(c.wall[i], 1.5e9);
    }
    ck_assert_str_eq(c.tags[N_SAMPLES], "fixed_time");
    ck_assert_double_eq(c.wall[N_SAMPLES], 1234.5);
}
END_TEST

static int stop_after_two(void *user, const mlopt_tb_scalar_event *ev)
{
    (void)ev;
    return ++*(int *)user >= 2;
}

START_TEST(tensorboard_callback_can_stop)
{
    char path[1024];
    write_samples(dir, path, sizeof path);
    int n = 0;
    ck_assert_int_eq(mlopt_tb_read_scalars(path, stop_after_two, &n, NULL), MLOPT_OK);
    ck_assert_int_eq(n, 2);
}
END_TEST

/* Flip one bit at offset `at` (from the end if negative) and expect `phrase`. */
static void expect_corrupt(const char *path, long at, const char *phrase)
{
    size_t len = 0;
    unsigned char *b = io_read_file(path, &len);
    ck_assert_ptr_nonnull(b);
    size_t pos = at < 0 ? len + (size_t)at : (size_t)at;
    char bad[1100];
    snprintf(bad, sizeof bad, "%s.bad", path);
    b[pos] ^= 0x10;
    ck_assert_int_eq(io_write_file(bad, b, len), 0);
    free(b);
    mlopt_status s = mlopt_tb_read_scalars(bad, NULL, NULL, NULL);
    ck_assert_msg(s == MLOPT_E_FORMAT, "flip at %ld: got %s", at, mlopt_status_name(s));
    ck_assert_msg(strstr(mlopt_last_error(), bad) && strstr(mlopt_last_error(), phrase), "flip at %ld: %s", at,
                  mlopt_last_error());
    remove(bad);
}

START_TEST(tensorboard_corruption_detected)
{
    char path[1024];
    write_samples(dir, path, sizeof path);
    expect_corrupt(path, 0, "length CRC");      /* first record's length */
    expect_corrupt(path, 9, "length CRC");      /* its length CRC */
    expect_corrupt(path, 14, "data CRC");       /* its payload */
    expect_corrupt(path, -1, "data CRC");       /* last record's data CRC */
    expect_corrupt(path, -10, "data CRC");      /* last record's payload */
    /* Truncation: inside the last record and inside a record header. */
    size_t len = 0;
    unsigned char *b = io_read_file(path, &len);
    char bad[1100];
    snprintf(bad, sizeof bad, "%s.cut", path);
    ck_assert_int_eq(io_write_file(bad, b, len - 3), 0);
    ck_assert_int_eq(mlopt_tb_read_scalars(bad, NULL, NULL, NULL), MLOPT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), "truncated"));
    ck_assert_int_eq(io_write_file(bad, b, 5), 0);
    ck_assert_int_eq(mlopt_tb_read_scalars(bad, NULL, NULL, NULL), MLOPT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), "truncated"));
    free(b);
    ck_assert_int_eq(mlopt_tb_read_scalars("/nonexistent/events", NULL, NULL, NULL), MLOPT_E_IO);
}
END_TEST

START_TEST(tensorboard_two_writers_get_two_files)
{
    mlopt_tb_writer *a, *b;
    ck_assert_int_eq(mlopt_tb_open(dir, &a), MLOPT_OK);
    ck_assert_int_eq(mlopt_tb_open(dir, &b), MLOPT_OK);
    ck_assert_str_ne(mlopt_tb_path(a), mlopt_tb_path(b));
    ck_assert_int_eq(mlopt_tb_close(a), MLOPT_OK);
    ck_assert_int_eq(mlopt_tb_close(b), MLOPT_OK);
    ck_assert_int_eq(io_count_entries(dir), 2);
    /* A log "directory" that is a file. */
    char file[512];
    snprintf(file, sizeof file, "%s/plain", dir);
    ck_assert_int_eq(io_write_file(file, "x", 1), 0);
    ck_assert_int_eq(mlopt_tb_open(file, &a), MLOPT_E_IO);
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), file));
}
END_TEST

START_TEST(csv_log_header_once_and_quoting)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    mlopt_csv_log *log;
    ck_assert_int_eq(mlopt_csv_open(path, 0, &log), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_row(log, 1, "train/loss", 0.5), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_row(log, 2, "odd,\"tag\"", 0.1f), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_close(log), MLOPT_OK);
    /* Resume: append without a second header. */
    ck_assert_int_eq(mlopt_csv_open(path, 1, &log), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_row(log, -3, "eval/acc", 0.9123), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_row(log, 4, "nan", NAN), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_flush(log), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_close(log), MLOPT_OK);
    size_t len = 0;
    char *text = (char *)io_read_file(path, &len);
    ck_assert_str_eq(text, "step,tag,value\n"
                           "1,train/loss,0.5\n"
                           "2,\"odd,\"\"tag\"\"\",0.100000001\n"
                           "-3,eval/acc,0.9123\n"
                           "4,nan,nan\n");
    free(text);
    /* Truncating open starts over with a header. */
    ck_assert_int_eq(mlopt_csv_open(path, 0, &log), MLOPT_OK);
    ck_assert_int_eq(mlopt_csv_close(log), MLOPT_OK);
    text = (char *)io_read_file(path, &len);
    ck_assert_str_eq(text, "step,tag,value\n");
    free(text);
    snprintf(path, sizeof path, "%s/missing/metrics.csv", dir);
    ck_assert_int_eq(mlopt_csv_open(path, 1, &log), MLOPT_E_IO);
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), path));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_tensorboard");
    TCase *tc = tcase_create("tensorboard");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, crc32c_known_vectors);
    tcase_add_test(tc, tensorboard_round_trip);
    tcase_add_test(tc, tensorboard_callback_can_stop);
    tcase_add_test(tc, tensorboard_corruption_detected);
    tcase_add_test(tc, tensorboard_two_writers_get_two_files);
    tcase_add_test(tc, csv_log_header_once_and_quoting);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
