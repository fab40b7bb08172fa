/* Gradient conformance on every backend through the public API: each
 * layer's backward against central finite differences (host double loss)
 * and against the CPU reference's gradients for the same weights, plus
 * whole training steps (optimizer on the device).  One Check tcase per
 * backend; a backend that cannot be opened here (no driver) is skipped
 * with a note on stderr. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlopt/conformance.h"

static const char *const backends[] = { "cpu", "opencl", "vulkan" };

static void run_case(const char *backend, int i)
{
    setenv("MLOPT_NUM_THREADS", "2", 0);
    mlopt_context *ref = NULL, *ctx = NULL;
    ck_assert_msg(mlopt_conformance_open_reference(&ref) == MLOPT_OK, "%s", mlopt_last_error());
    if (mlopt_context_create(backend, NULL, &ctx) != MLOPT_OK) {
        ck_assert_msg(strcmp(backend, "cpu") != 0, "cpu: %s", mlopt_last_error());
        fprintf(stderr, "skipping %s: %s\n", backend, mlopt_last_error());
        mlopt_context_destroy(ref);
        return;
    }
    mlopt_conf_result r;
    ck_assert_msg(mlopt_conformance_grad(ctx, ref, i, &r) == MLOPT_OK, "%s", mlopt_last_error());
    ck_assert_msg(r.outcome == MLOPT_CONF_PASS, "%s %s: %s", backend, r.name, r.detail);
    ck_assert_int_gt(r.cases, 0);
    mlopt_context_destroy(ctx);
    mlopt_context_destroy(ref);
}

START_TEST(grad_cpu) { run_case("cpu", _i); }
END_TEST
START_TEST(grad_opencl) { run_case("opencl", _i); }
END_TEST
START_TEST(grad_vulkan) { run_case("vulkan", _i); }
END_TEST

START_TEST(level_rules)
{
    /* Levels follow from results: a failing backward slot caps at forward. */
    int nk = mlopt_conformance_kernel_count(), ng = mlopt_conformance_grad_count();
    mlopt_conf_result *k = calloc((size_t)nk, sizeof *k), *g = calloc((size_t)ng, sizeof *g);
    for (int i = 0; i < nk; i++)
        snprintf(k[i].name, sizeof k[i].name, "%s", mlopt_conformance_kernel_name(i));
    for (int i = 0; i < ng; i++)
        snprintf(g[i].op, sizeof g[i].op, "%s", i == ng - 1 ? "training" : "backward");
    ck_assert_int_eq(mlopt_conformance_level(k, nk, g, ng), MLOPT_CONF_LEVEL_TRAINING);
    g[ng - 1].outcome = MLOPT_CONF_FAIL;
    ck_assert_int_eq(mlopt_conformance_level(k, nk, g, ng), MLOPT_CONF_LEVEL_BACKWARD);
    for (int i = 0; i < nk; i++)
        if (strcmp(k[i].name, "conv2d_backward_data") == 0)
            k[i].outcome = MLOPT_CONF_UNSUPPORTED;
    ck_assert_int_eq(mlopt_conformance_level(k, nk, g, ng), MLOPT_CONF_LEVEL_FORWARD);
    for (int i = 0; i < nk; i++)
        if (strcmp(k[i].name, "gemm") == 0)
            k[i].outcome = MLOPT_CONF_FAIL;
    ck_assert_int_eq(mlopt_conformance_level(k, nk, g, ng), MLOPT_CONF_LEVEL_NONE);
    ck_assert_int_eq(mlopt_conformance_level(k, nk, NULL, 0), MLOPT_CONF_LEVEL_NONE);
    free(k);
    free(g);
}
END_TEST

START_TEST(cache_round_trip)
{
    char dir[] = "/tmp/mlopt-conf-cache-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("XDG_CACHE_HOME", dir, 1);
    int level = -1;
    char dev[64], when[64];
    ck_assert_int_eq(mlopt_conformance_cache_read("nosuch", &level, dev, sizeof dev, when, sizeof when),
                     MLOPT_E_NOT_FOUND);
    ck_assert_int_eq(mlopt_conformance_cache_write("cpu", "Some \"CPU\"", MLOPT_CONF_LEVEL_BACKWARD, "x"), MLOPT_OK);
    ck_assert_int_eq(mlopt_conformance_cache_read("cpu", &level, dev, sizeof dev, when, sizeof when), MLOPT_OK);
    ck_assert_int_eq(level, MLOPT_CONF_LEVEL_BACKWARD);
    ck_assert_int_eq((int)strlen(when), 20);
    char path[512];
    ck_assert_int_eq(mlopt_conformance_cache_path("cpu", path, sizeof path), MLOPT_OK);
    remove(path);
    snprintf(path, sizeof path, "%s/mlopt", dir);
    rmdir(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conformance_gradcheck");
    int ng = mlopt_conformance_grad_count();
    TCase *tcs[3];
    for (int b = 0; b < 3; b++) {
        tcs[b] = tcase_create(backends[b]);
        tcase_add_loop_test(tcs[b], b == 0 ? grad_cpu : b == 1 ? grad_opencl : grad_vulkan, 0, ng);
        suite_add_tcase(s, tcs[b]);
    }
    TCase *misc = tcase_create("level");
    tcase_add_test(misc, level_rules);
    tcase_add_test(misc, cache_round_trip);
    suite_add_tcase(s, misc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
