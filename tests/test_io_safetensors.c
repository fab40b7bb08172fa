/* safetensors: bit-exact round trip, atomic replacement, and rejection of
 * every kind of malformed file. */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "error.h"
#include "io/json.h"
#include "io/safetensors.h"
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

/* Bit patterns that a float round trip through text would lose. */
static const uint32_t f32_bits[6] = {0x3f800000u, 0x80000000u /* -0 */, 0x7fc00001u /* NaN payload */,
                                     0x00000001u /* denormal */, 0x7f800000u /* inf */, 0xc2f6e979u};
static const int32_t i32_vals[4] = {INT32_MIN, -1, 0, INT32_MAX};
static const int8_t i8_vals[8] = {-128, -1, 0, 1, 2, 3, 64, 127};
static const uint8_t u8_vals[6] = {0, 1, 2, 128, 254, 255};
static const float scalar = 0.1f;

static int sample_tensors(mlopt_st_tensor *t)
{
    memset(t, 0, 6 * sizeof *t);
    t[0] = (mlopt_st_tensor){.name = "conv1.weight", .dtype = "F32", .ndim = 2, .shape = {2, 3}, .data = f32_bits};
    t[1] = (mlopt_st_tensor){.name = "labels", .dtype = "I32", .ndim = 1, .shape = {4}, .data = i32_vals};
    t[2] = (mlopt_st_tensor){.name = "q\"uoted\\name\n", .dtype = "I8", .ndim = 3, .shape = {2, 2, 2}, .data = i8_vals};
    t[3] = (mlopt_st_tensor){.name = "u8.\xc3\xa9", .dtype = "U8", .ndim = 4, .shape = {3, 1, 1, 2}, .data = u8_vals};
    t[4] = (mlopt_st_tensor){.name = "scalar", .dtype = "F32", .ndim = 0, .data = &scalar};
    t[5] = (mlopt_st_tensor){.name = "empty", .dtype = "F32", .ndim = 2, .shape = {0, 5}, .data = NULL};
    return 6;
}

static const mlopt_st_kv sample_meta[] = {
    {"format", "pt"},
    {"mlopt.step", "1234"},
    {"tricky", "a \"quote\", a \\ backslash,\na newline, a tab\t, \x01 and \xe2\x82\xac"},
};

START_TEST(round_trip_bit_exact)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mlopt_st_tensor t[6];
    int n = sample_tensors(t);
    ck_assert_msg(mlopt_st_write(path, t, n, sample_meta, 3) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_int_eq(io_count_entries(dir), 1); /* no temporary file left behind */

    size_t len;
    unsigned char *raw = io_read_file(path, &len);
    ck_assert_ptr_nonnull(raw);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq(hlen % 8, 0); /* data 8-byte aligned */
    ck_assert_uint_eq(len, 8 + hlen + 24 + 16 + 8 + 6 + 4);
    free(raw);

    mlopt_st_file *f;
    ck_assert_msg(mlopt_st_open(path, &f) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_int_eq(mlopt_st_count(f), n);
    for (int i = 0; i < n; i++) {
        mlopt_st_tensor got;
        ck_assert_int_eq(mlopt_st_find(f, t[i].name, &got), MLOPT_OK);
        ck_assert_str_eq(got.name, t[i].name);
        ck_assert_str_eq(got.dtype, t[i].dtype);
        ck_assert_int_eq(got.ndim, t[i].ndim);
        size_t bytes = mlopt_st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) {
            ck_assert_int_eq(got.shape[d], t[i].shape[d]);
            bytes *= (size_t)t[i].shape[d];
        }
        ck_assert_uint_eq(got.nbytes, bytes);
        if (bytes)
            ck_assert_mem_eq(got.data, t[i].data, bytes);
    }
    /* Index order is data order, which is the writer's order (the empty
     * tensor sits at the end, the scalar before it). */
    for (int i = 0; i < n; i++) {
        mlopt_st_tensor got;
        ck_assert_int_eq(mlopt_st_get(f, i, &got), MLOPT_OK);
        ck_assert_str_eq(got.name, t[i].name);
    }
    mlopt_st_tensor none;
    ck_assert_int_eq(mlopt_st_get(f, n, &none), MLOPT_E_INVALID);
    ck_assert_int_eq(mlopt_st_find(f, "nope", &none), MLOPT_E_NOT_FOUND);
    ck_assert_int_eq(mlopt_st_metadata_count(f), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(mlopt_st_metadata(f, sample_meta[i].key), sample_meta[i].value);
    ck_assert_ptr_null(mlopt_st_metadata(f, "absent"));
    const char *k, *v;
    ck_assert_int_eq(mlopt_st_metadata_at(f, 1, &k, &v), MLOPT_OK);
    ck_assert_str_eq(k, "mlopt.step");
    mlopt_st_close(f);
}
END_TEST

START_TEST(no_tensors_no_metadata)
{
    char path[512];
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    ck_assert_int_eq(mlopt_st_write(path, NULL, 0, NULL, 0), MLOPT_OK);
    mlopt_st_file *f;
    ck_assert_msg(mlopt_st_open(path, &f) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_int_eq(mlopt_st_count(f), 0);
    ck_assert_int_eq(mlopt_st_metadata_count(f), 0);
    mlopt_st_close(f);
}
END_TEST

static float read_first_f32(const char *path)
{
    mlopt_st_file *f;
    ck_assert_msg(mlopt_st_open(path, &f) == MLOPT_OK, "%s", mlopt_last_error());
    mlopt_st_tensor t;
    ck_assert_int_eq(mlopt_st_get(f, 0, &t), MLOPT_OK);
    float v;
    memcpy(&v, t.data, sizeof v);
    mlopt_st_close(f);
    return v;
}

static mlopt_status write_one(const char *path, float value, int64_t count)
{
    float *data = calloc((size_t)count, sizeof *data);
    ck_assert_ptr_nonnull(data);
    data[0] = value;
    mlopt_st_tensor t = {.name = "w", .dtype = "F32", .ndim = 1, .shape = {count}, .data = data};
    mlopt_status s = mlopt_st_write(path, &t, 1, NULL, 0);
    free(data);
    return s;
}

START_TEST(overwrite_replaces_atomically)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    ck_assert_int_eq(write_one(path, 1.0f, 4), MLOPT_OK);
    ck_assert_int_eq(write_one(path, 2.0f, 8), MLOPT_OK);
    ck_assert_float_eq(read_first_f32(path), 2.0f);
    ck_assert_int_eq(io_count_entries(dir), 1);
}
END_TEST

/* A write that fails half way (file size limit hit) removes its temporary
 * file and leaves the previous checkpoint intact. */
START_TEST(failed_write_keeps_old_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    ck_assert_int_eq(write_one(path, 1.0f, 4), MLOPT_OK);
    signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of being killed */
    struct rlimit lim = {64 * 1024, 64 * 1024};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mlopt_status s = write_one(path, 2.0f, 1 << 20);
    ck_assert_int_eq(s, MLOPT_E_IO);
    ck_assert_msg(strstr(mlopt_last_error(), ".tmp."), "message should name the temporary file: %s",
                  mlopt_last_error());
    ck_assert_float_eq(read_first_f32(path), 1.0f);
    ck_assert_int_eq(io_count_entries(dir), 1);
}
END_TEST

START_TEST(failed_rename_and_bad_input_keep_old_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    ck_assert_int_eq(write_one(path, 1.0f, 4), MLOPT_OK);
    /* Invalid input fails before any file is touched. */
    float x[2] = {0};
    mlopt_st_tensor dup[2] = {{.name = "a", .dtype = "F32", .ndim = 1, .shape = {1}, .data = x},
                              {.name = "a", .dtype = "F32", .ndim = 1, .shape = {1}, .data = x + 1}};
    ck_assert_int_eq(mlopt_st_write(path, dup, 2, NULL, 0), MLOPT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), "duplicate"));
    mlopt_st_tensor bad = {.name = "a", .dtype = "F17", .ndim = 1, .shape = {1}, .data = x};
    ck_assert_int_eq(mlopt_st_write(path, &bad, 1, NULL, 0), MLOPT_E_INVALID);
    bad = (mlopt_st_tensor){.name = "__metadata__", .dtype = "F32", .ndim = 1, .shape = {1}, .data = x};
    ck_assert_int_eq(mlopt_st_write(path, &bad, 1, NULL, 0), MLOPT_E_INVALID);
    bad = (mlopt_st_tensor){.name = "a", .dtype = "F32", .ndim = 1, .shape = {-1}, .data = x};
    ck_assert_int_eq(mlopt_st_write(path, &bad, 1, NULL, 0), MLOPT_E_INVALID);
    bad = (mlopt_st_tensor){.name = "bad\xff", .dtype = "F32", .ndim = 1, .shape = {1}, .data = x};
    ck_assert_int_eq(mlopt_st_write(path, &bad, 1, NULL, 0), MLOPT_E_INVALID);
    mlopt_st_kv dup_meta[2] = {{"k", "1"}, {"k", "2"}};
    ck_assert_int_eq(mlopt_st_write(path, NULL, 0, dup_meta, 2), MLOPT_E_INVALID);
    ck_assert_float_eq(read_first_f32(path), 1.0f);
    /* Renaming onto a non-empty directory fails after the data is written. */
    char subdir[512], inner[600];
    snprintf(subdir, sizeof subdir, "%s/is_a_dir", dir);
    ck_assert_int_eq(mkdir(subdir, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", subdir);
    ck_assert_int_eq(io_write_file(inner, "x", 1), 0);
    ck_assert_int_eq(write_one(subdir, 3.0f, 4), MLOPT_E_IO);
    ck_assert_int_eq(io_count_entries(dir), 2);
    /* A directory that does not exist. */
    snprintf(subdir, sizeof subdir, "%s/missing/ckpt.safetensors", dir);
    ck_assert_int_eq(write_one(subdir, 3.0f, 4), MLOPT_E_IO);
    ck_assert_int_eq(io_count_entries(dir), 2);
}
END_TEST

/* ---- Malformed files ---- */

typedef struct bad_case {
    const char *what;
    const char *header;   /* JSON text; NULL: raw bytes below */
    size_t data_len;      /* tensor bytes after the header */
    const char *raw;      /* whole file when header == NULL */
    size_t raw_len;
    const char *phrase;   /* expected in the message */
} bad_case;

#define F32x2 "\"dtype\":\"F32\",\"shape\":[2]"
static const bad_case bad_cases[] = {
    {"file shorter than the length field", NULL, 0, "\x10\0\0\0", 4, "truncated"},
    {"header length beyond the file", NULL, 0, "\x40\0\0\0\0\0\0\0{}", 10, "past the end"},
    {"header length over 100 MB", NULL, 0, "\0\0\0\x40\0\0\0\0{}", 10, "limit"},
    {"header length 2^64-1", NULL, 0, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "limit"},
    {"empty header", "", 0, NULL, 0, "JSON"},
    {"bad JSON", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]}", 8, NULL, 0, "JSON"},
    {"trailing garbage after JSON", "{} x", 0, NULL, 0, "JSON"},
    {"header not an object", "[1,2]", 0, NULL, 0, "object"},
    {"entry not an object", "{\"a\":3}", 0, NULL, 0, "object"},
    {"missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL, 0, "missing field \"dtype\""},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, NULL, 0, "missing field \"shape\""},
    {"missing offsets", "{\"a\":{" F32x2 "}}", 8, NULL, 0, "missing field \"data_offsets\""},
    {"duplicate field", "{\"a\":{" F32x2 ",\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, NULL, 0, "duplicate field"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL, 0, "unknown dtype"},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL, 0, "dtype"},
    {"negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, NULL, 0, "shape[0]"},
    {"fractional dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, NULL, 0, "shape[0]"},
    {"dimension over 2^64", "{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "shape[0]"},
    {"shape x dtype overflows", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}",
     8, NULL, 0, "overflow"},
    {"shape x dtype size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "12 bytes"},
    {"offsets not a pair", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8,8]}}", 8, NULL, 0, "data_offsets"},
    {"negative offset", "{\"a\":{" F32x2 ",\"data_offsets\":[-8,0]}}", 8, NULL, 0, "data_offsets"},
    {"end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, NULL, 0, "before"},
    {"offsets out of bounds", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]}}", 4, NULL, 0, "out of bounds"},
    {"overlapping offsets", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]},\"b\":{" F32x2 ",\"data_offsets\":[4,12]}}", 12,
     NULL, 0, "overlaps"},
    {"same offsets twice", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]},\"b\":{" F32x2 ",\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "overlaps"},
    {"gap between tensors", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]},\"b\":{" F32x2 ",\"data_offsets\":[12,20]}}",
     20, NULL, 0, "gap"},
    {"data not starting at 0", "{\"a\":{" F32x2 ",\"data_offsets\":[4,12]}}", 12, NULL, 0, "gap"},
    {"trailing bytes", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]}}", 12, NULL, 0, "trailing"},
    {"data but no tensors", "{}", 4, NULL, 0, "trailing"},
    {"duplicate names", "{\"a\":{" F32x2 ",\"data_offsets\":[0,8]},\"a\":{" F32x2 ",\"data_offsets\":[8,16]}}", 16,
     NULL, 0, "duplicate tensor name \"a\""},
    {"metadata not an object", "{\"__metadata__\":[\"x\"]}", 0, NULL, 0, "__metadata__"},
    {"metadata value not a string", "{\"__metadata__\":{\"step\":12}}", 0, NULL, 0, "must be a string"},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, NULL, 0, "duplicate metadata key"},
    {"duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, NULL, 0, "duplicate"},
    {"too many dimensions", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, NULL, 0,
     "dimensions"},
    {"control character in a name", "{\"a\x01\":{" F32x2 ",\"data_offsets\":[0,8]}}", 8, NULL, 0, "control"},
    {"invalid UTF-8 in a name", "{\"a\xff\":{" F32x2 ",\"data_offsets\":[0,8]}}", 8, NULL, 0, "UTF-8"},
    {"bad escape", "{\"a\\q\":{" F32x2 ",\"data_offsets\":[0,8]}}", 8, NULL, 0, "escape"},
    {"lone surrogate", "{\"a\\ud800\":{" F32x2 ",\"data_offsets\":[0,8]}}", 8, NULL, 0, "surrogate"},
};
#define N_BAD_CASES ((int)(sizeof bad_cases / sizeof bad_cases[0]))

START_TEST(malformed_file_rejected)
{
    const bad_case *c = &bad_cases[_i];
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    if (c->header) {
        size_t hlen = strlen(c->header);
        size_t total = 8 + hlen + c->data_len;
        unsigned char *b = calloc(1, total);
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        memcpy(b + 8, c->header, hlen);
        ck_assert_int_eq(io_write_file(path, b, total), 0);
        free(b);
    } else {
        ck_assert_int_eq(io_write_file(path, c->raw, c->raw_len), 0);
    }
    mlopt_st_file *f = (mlopt_st_file *)&f;
    mlopt_status s = mlopt_st_open(path, &f);
    ck_assert_msg(s == MLOPT_E_FORMAT, "%s: expected MLOPT_E_FORMAT, got %s (%s)", c->what, mlopt_status_name(s),
                  mlopt_last_error());
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(mlopt_last_error(), path), "%s: message does not name the file: %s", c->what,
                  mlopt_last_error());
    ck_assert_msg(strstr(mlopt_last_error(), c->phrase), "%s: message lacks \"%s\": %s", c->what, c->phrase,
                  mlopt_last_error());
}
END_TEST

START_TEST(missing_file_is_io_error)
{
    char path[512];
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    mlopt_st_file *f;
    ck_assert_int_eq(mlopt_st_open(path, &f), MLOPT_E_IO);
    ck_assert_ptr_nonnull(strstr(mlopt_last_error(), path));
}
END_TEST

/* Unaligned header lengths and unknown extra fields from other writers are
 * accepted; zero-size tensors may share an offset with their neighbour. */
START_TEST(foreign_but_valid_files_accepted)
{
    const char *header = "  {\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3],\"extra\":null},"
                         "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,2],\"data_offsets\":[3,3]},"
                         "\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[3,11]},"
                         "\"__metadata__\":{\"\\u00e9\\ud83d\\ude00\":\"\\/\"}} ";
    size_t hlen = strlen(header);
    unsigned char b[512] = {0};
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, header, hlen);
    b[8 + hlen] = 7;
    double one = 1.0;
    memcpy(b + 8 + hlen + 3, &one, 8);
    char path[512];
    snprintf(path, sizeof path, "%s/foreign.safetensors", dir);
    ck_assert_int_eq(io_write_file(path, b, 8 + hlen + 11), 0);
    mlopt_st_file *f;
    ck_assert_msg(mlopt_st_open(path, &f) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_int_eq(mlopt_st_count(f), 3);
    mlopt_st_tensor t;
    ck_assert_int_eq(mlopt_st_find(f, "b", &t), MLOPT_OK);
    ck_assert_uint_eq((uintptr_t)t.data % 8, 0); /* data buffer aligned despite the odd header length */
    ck_assert_int_eq(((const unsigned char *)t.data)[0], 7);
    ck_assert_int_eq(mlopt_st_find(f, "a", &t), MLOPT_OK);
    double got;
    memcpy(&got, t.data, sizeof got); /* offset 3: not aligned for a double */
    ck_assert_double_eq(got, 1.0);
    ck_assert_str_eq(mlopt_st_metadata(f, "\xc3\xa9\xf0\x9f\x98\x80"), "/");
    mlopt_st_close(f);
}
END_TEST

START_TEST(json_depth_limited)
{
    char text[4001];
    memset(text, '[', 4000);
    text[4000] = 0;
    mlopt_json *v;
    char err[256];
    ck_assert_int_eq(mlopt_json_parse(text, 4000, &v, err, sizeof err), MLOPT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "nesting"));
}
END_TEST

START_TEST(dtype_helpers)
{
    ck_assert_uint_eq(mlopt_st_dtype_size("F32"), 4);
    ck_assert_uint_eq(mlopt_st_dtype_size("I8"), 1);
    ck_assert_uint_eq(mlopt_st_dtype_size("F64"), 8);
    ck_assert_uint_eq(mlopt_st_dtype_size("f32"), 0);
    mlopt_dtype d;
    for (int t = MLOPT_F32; t <= MLOPT_U8; t++) {
        ck_assert_int_eq(mlopt_st_dtype_parse(mlopt_st_dtype_name((mlopt_dtype)t), &d), MLOPT_OK);
        ck_assert_int_eq(d, t);
    }
    ck_assert_int_eq(mlopt_st_dtype_parse("F16", &d), MLOPT_E_UNSUPPORTED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_safetensors");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_bit_exact);
    tcase_add_test(tc, no_tensors_no_metadata);
    tcase_add_test(tc, overwrite_replaces_atomically);
    tcase_add_test(tc, failed_write_keeps_old_file);
    tcase_add_test(tc, failed_rename_and_bad_input_keep_old_file);
    tcase_add_loop_test(tc, malformed_file_rejected, 0, N_BAD_CASES);
    tcase_add_test(tc, missing_file_is_io_error);
    tcase_add_test(tc, foreign_but_valid_files_accepted);
    tcase_add_test(tc, json_depth_limited);
    tcase_add_test(tc, dtype_helpers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
