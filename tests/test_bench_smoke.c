/* `mlopt bench --quick --workloads gemm --repeat 1` finishes and appends one
 * valid JSON line per GEMM size, each with every field of the schema;
 * `mlopt bench --compare` turns the file into a markdown table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"

static const char *const required_strings[] = { "workload", "shape", "backend", "device", "vendor", "driver",
                                                 "cpu_model", "hostname", "mlopt_version", "timestamp", "unit" };
static const char *const required_numbers[] = { "threads", "value", "median", "min", "max", "repeat", "warmup",
                                                "iters" };

static void temp_path(char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "/tmp/mlopt-bench-smoke-%ld%s", (long)getpid(), suffix);
}

START_TEST(gemm_quick_writes_json_lines)
{
    char out[256], cmd[1024];
    temp_path(out, sizeof out, ".jsonl");
    unlink(out);
    snprintf(cmd, sizeof cmd,
             "'%s' --backend cpu --threads 1 bench --quick --workloads gemm --repeat 1 --out '%s' >/dev/null 2>&1",
             MLOPT_BENCH_CLI, out);
    ck_assert_int_eq(system(cmd), 0);

    FILE *f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        mlopt_json *o = NULL;
        char err[256];
        ck_assert_msg(mlopt_json_parse(line, strlen(line), &o, err, sizeof err) == MLOPT_OK, "line %d: %s", lines + 1,
                      err);
        ck_assert_int_eq(o->type, MLOPT_JSON_OBJECT);
        for (size_t i = 0; i < sizeof required_strings / sizeof *required_strings; i++) {
            const mlopt_json *v = mlopt_json_get(o, required_strings[i]);
            ck_assert_msg(v && v->type == MLOPT_JSON_STRING && v->text[0], "missing string %s", required_strings[i]);
        }
        for (size_t i = 0; i < sizeof required_numbers / sizeof *required_numbers; i++) {
            const mlopt_json *v = mlopt_json_get(o, required_numbers[i]);
            ck_assert_msg(v && v->type == MLOPT_JSON_NUMBER, "missing number %s", required_numbers[i]);
        }
        ck_assert_str_eq(mlopt_json_get(o, "workload")->text, "gemm");
        ck_assert_str_eq(mlopt_json_get(o, "backend")->text, "cpu");
        ck_assert_str_eq(mlopt_json_get(o, "unit")->text, "GFLOP/s");
        ck_assert_str_eq(mlopt_json_get(o, "threads")->text, "1");
        double lo = strtod(mlopt_json_get(o, "min")->text, NULL), med = strtod(mlopt_json_get(o, "median")->text, NULL),
               hi = strtod(mlopt_json_get(o, "max")->text, NULL);
        ck_assert(lo > 0 && lo <= med && med <= hi);
        mlopt_json_free(o);
        lines++;
    }
    fclose(f);
    ck_assert_int_eq(lines, 3); /* 256, 512, 1024; --quick skips 2048 */

    char table[256];
    temp_path(table, sizeof table, ".md");
    snprintf(cmd, sizeof cmd, "'%s' bench --compare '%s' > '%s'", MLOPT_BENCH_CLI, out, table);
    ck_assert_int_eq(system(cmd), 0);
    f = fopen(table, "r");
    ck_assert_ptr_nonnull(f);
    int rows = 0, has_1024 = 0;
    while (fgets(line, sizeof line, f)) {
        rows += line[0] == '|';
        has_1024 |= strstr(line, "| gemm | 1024x1024x1024 NN | GFLOP/s |") != NULL;
    }
    fclose(f);
    ck_assert_int_eq(rows, 2 + 3);
    ck_assert(has_1024);
    unlink(out);
    unlink(table);
}
END_TEST

START_TEST(compare_rejects_a_non_result_file)
{
    char in[256], cmd[1024];
    temp_path(in, sizeof in, "-bad.jsonl");
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"workload\": \"gemm\"}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' bench --compare '%s' >/dev/null 2>&1", MLOPT_BENCH_CLI, in);
    ck_assert_int_ne(system(cmd), 0);
    unlink(in);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("smoke");
    tcase_add_test(tc, gemm_quick_writes_json_lines);
    tcase_add_test(tc, compare_rejects_a_non_result_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
