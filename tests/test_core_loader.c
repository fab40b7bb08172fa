/* Plugin loader: which plugin files are refused, and what the messages say.
 * The broken plugins live in MLOPT_CORE_TEST_PLUGIN_DIR (never in
 * build/plugins); each test points MLOPT_PLUGIN_PATH there.  Check forks
 * per test, so setenv in one test does not leak into the next. */
#include <stddef.h>

#include "test_core_util.h"

#ifndef MLOPT_CORE_TEST_PLUGIN_DIR
#error "MLOPT_CORE_TEST_PLUGIN_DIR must name the directory of the test plugins"
#endif

static void use_test_plugins(void)
{
    setenv("MLOPT_PLUGIN_PATH", MLOPT_CORE_TEST_PLUGIN_DIR, 1);
}

static mlopt_context *open_cpu(void)
{
    mlopt_context *ctx = NULL;
    setenv("MLOPT_NUM_THREADS", "2", 0);
    CK_OK(mlopt_context_create("cpu", NULL, &ctx));
    return ctx;
}

static const mlopt_plugin_report *find_report(const mlopt_plugin_report *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

START_TEST(unknown_backend_names_it_and_lists_available)
{
    unsetenv("MLOPT_PLUGIN_PATH");
    mlopt_context *ctx = (mlopt_context *)1;
    CK_FAILS(mlopt_context_create("nosuch", NULL, &ctx), MLOPT_E_NOT_FOUND, "'nosuch'",
             "mlopt-backend-nosuch.so", "available backends", "cpu");
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(cpu_opens_and_is_listed_usable)
{
    mlopt_context *ctx = open_cpu();
    ck_assert_str_eq(mlopt_context_backend(ctx)->name, "cpu");
    ck_assert_ptr_nonnull(strstr(mlopt_context_backend_path(ctx), "mlopt-backend-cpu.so"));
    mlopt_device_info info;
    CK_OK(mlopt_context_device_info(ctx, &info));
    ck_assert(info.name[0] != '\0');
    mlopt_context_destroy(ctx);

    mlopt_plugin_report *list = NULL;
    int n = 0;
    CK_OK(mlopt_plugins_scan(&list, &n));
    const mlopt_plugin_report *cpu = find_report(list, n, "cpu");
    ck_assert_msg(cpu != NULL, "scan does not list cpu");
    ck_assert_msg(cpu->usable, "cpu listed unusable: %s", cpu->why);
    ck_assert_int_ge(cpu->device_count, 1);
    ck_assert_int_eq(cpu->abi_major, MLOPT_BACKEND_ABI_MAJOR);
    ck_assert(cpu->devices[0].usable);
    free(list);
}
END_TEST

START_TEST(search_path_starts_with_env)
{
    setenv("MLOPT_PLUGIN_PATH", "/nonexistent/a:/nonexistent/b", 1);
    char buf[4096];
    mlopt_plugin_search_path(buf, sizeof buf);
    ck_assert_msg(strncmp(buf, "/nonexistent/a:/nonexistent/b:", 30) == 0, "search path: %s", buf);
}
END_TEST

START_TEST(wrong_abi_major_is_refused)
{
    use_test_plugins();
    mlopt_context *ctx = NULL;
    char abi[32];
    snprintf(abi, sizeof abi, "ABI %d.0", MLOPT_BACKEND_ABI_MAJOR + 1);
    CK_FAILS(mlopt_context_create("wrongabi", NULL, &ctx), MLOPT_E_BACKEND, "mlopt-backend-wrongabi.so", abi,
             "rebuild");
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(missing_required_slot_is_named)
{
    use_test_plugins();
    mlopt_context *ctx = NULL;
    CK_FAILS(mlopt_context_create("noslot", NULL, &ctx), MLOPT_E_BACKEND, "mlopt-backend-noslot.so",
             "buffer_alloc");
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(no_entry_symbol_is_refused)
{
    use_test_plugins();
    mlopt_context *ctx = NULL;
    CK_FAILS(mlopt_context_create("noentry", NULL, &ctx), MLOPT_E_BACKEND, "mlopt-backend-noentry.so",
             "mlopt_backend_entry");
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(garbage_file_is_refused)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/mlopt-backend-garbage.so", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a shared object\n", f);
    fclose(f);
    setenv("MLOPT_PLUGIN_PATH", dir, 1);

    mlopt_context *ctx = NULL;
    CK_FAILS(mlopt_context_create("garbage", NULL, &ctx), MLOPT_E_BACKEND, "garbage", path);
    ck_assert_ptr_null(ctx);

    /* The scan lists it as unusable with the same kind of reason, and the
     * real backends behind it on the path still work. */
    mlopt_plugin_report *list = NULL;
    int n = 0;
    CK_OK(mlopt_plugins_scan(&list, &n));
    const mlopt_plugin_report *g = find_report(list, n, "garbage");
    ck_assert_msg(g != NULL, "scan does not list the garbage file");
    ck_assert(!g->usable);
    ck_assert_msg(strstr(g->why, path) != NULL, "reason lacks the path: %s", g->why);
    const mlopt_plugin_report *cpu = find_report(list, n, "cpu");
    ck_assert_msg(cpu && cpu->usable, "cpu unusable next to a garbage plugin");
    free(list);
    CK_OK(mlopt_context_create("cpu", NULL, &ctx));
    mlopt_context_destroy(ctx);
    remove_dir(dir);
}
END_TEST

static void copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ck_assert_msg(in && out, "copy %s -> %s", src, dst);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

START_TEST(plugin_named_differently_from_its_file_is_refused)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/mlopt-backend-alias.so", dir);
    copy_file(MLOPT_CORE_TEST_PLUGIN_DIR "/mlopt-backend-minimal.so", path);
    setenv("MLOPT_PLUGIN_PATH", dir, 1);
    mlopt_context *ctx = NULL;
    CK_FAILS(mlopt_context_create("alias", NULL, &ctx), MLOPT_E_BACKEND, "mlopt-backend-alias.so", "'minimal'",
             "'alias'");
    ck_assert_ptr_null(ctx);
    remove_dir(dir);
}
END_TEST

START_TEST(scan_reports_every_test_plugin)
{
    use_test_plugins();
    mlopt_plugin_report *list = NULL;
    int n = 0;
    CK_OK(mlopt_plugins_scan(&list, &n));

    const mlopt_plugin_report *r = find_report(list, n, "nodevice");
    ck_assert_msg(r != NULL, "scan does not list nodevice");
    ck_assert(!r->usable);
    ck_assert_int_eq(r->device_count, 0);
    ck_assert_msg(strstr(r->why, "no device") != NULL, "nodevice reason: %s", r->why);
    ck_assert_ptr_nonnull(strstr(r->path, "mlopt-backend-nodevice.so"));

    r = find_report(list, n, "wrongabi");
    ck_assert_msg(r != NULL, "scan does not list wrongabi");
    ck_assert(!r->usable);
    ck_assert_msg(strstr(r->why, "ABI") != NULL, "wrongabi reason: %s", r->why);

    r = find_report(list, n, "noslot");
    ck_assert_msg(r != NULL, "scan does not list noslot");
    ck_assert(!r->usable);
    ck_assert_msg(strstr(r->why, "buffer_alloc") != NULL, "noslot reason: %s", r->why);

    r = find_report(list, n, "noentry");
    ck_assert_msg(r != NULL && !r->usable, "noentry should be listed unusable");

    r = find_report(list, n, "minimal");
    ck_assert_msg(r != NULL, "scan does not list minimal");
    ck_assert_msg(r->usable, "minimal plugin unusable: %s", r->why);
    ck_assert_int_eq(r->device_count, 1);

    r = find_report(list, n, "cpu");
    ck_assert_msg(r != NULL && r->usable, "cpu must stay usable with test plugins on the path");
    free(list);
}
END_TEST

START_TEST(nodevice_create_fails_with_reason)
{
    use_test_plugins();
    mlopt_context *ctx = NULL;
    CK_FAILS(mlopt_context_create("nodevice", NULL, &ctx), MLOPT_E_BACKEND, "nodevice", "no device found");
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(automatic_choice_ignores_broken_plugins)
{
    use_test_plugins();
    unsetenv("MLOPT_BACKEND");
    mlopt_context *ctx = NULL;
    CK_OK(mlopt_context_create(NULL, NULL, &ctx));
    /* minimal's device is MLOPT_DEVICE_OTHER: never preferred over cpu. */
    ck_assert_str_ne(mlopt_context_backend(ctx)->name, "minimal");
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(missing_kernel_is_reported_at_use)
{
    use_test_plugins();
    mlopt_context *ctx = NULL;
    CK_OK(mlopt_context_create("minimal", NULL, &ctx));
    ck_assert_str_eq(mlopt_context_backend(ctx)->name, "minimal");

    /* Tensors work: they need only the required slots. */
    int shape[1] = { 4 };
    mlopt_tensor *t = NULL;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 1, shape, &t));
    float in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
    CK_OK(mlopt_tensor_upload(t, in, sizeof in));
    CK_OK(mlopt_tensor_download(t, out, sizeof out));
    ck_assert(memcmp(in, out, sizeof in) == 0);
    mlopt_tensor_destroy(t);

    mlopt_backend_stats st;
    CK_FAILS(mlopt_context_stats(ctx, &st), MLOPT_E_UNSUPPORTED, "backend minimal does not implement get_stats");
    CK_FAILS(mlopt_context_reset_stats(ctx), MLOPT_E_UNSUPPORTED,
             "backend minimal does not implement reset_stats");

    mlopt_model *m = model_from_text(ctx, 1, 6, 6, "conv 2 k=3\nflatten\nlinear 3\n", 1);
    int xs[4] = { 2, 1, 6, 6 };
    mlopt_tensor *x = NULL;
    CK_OK(mlopt_tensor_create(ctx, MLOPT_F32, 4, xs, &x));
    CK_OK(mlopt_tensor_fill(x, 0.5f));
    mlopt_tensor *logits = NULL;
    CK_FAILS(mlopt_model_forward(m, x, 1, &logits), MLOPT_E_UNSUPPORTED,
             "backend minimal does not implement conv2d_forward");
    mlopt_tensor_destroy(x);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(older_plugin_loads_and_newer_slots_read_null)
{
    use_test_plugins();
    mlopt_context *ctx = NULL;
    CK_OK(mlopt_context_create("old", NULL, &ctx));
    const mlopt_backend *be = mlopt_context_backend(ctx);
    ck_assert_str_eq(be->name, "old");
    ck_assert_uint_eq(be->struct_size, offsetof(mlopt_backend, sgd_update));
    /* The plugin's table holds an aborting function in sgd_update, past its
     * struct_size: the core must not have copied it. */
    ck_assert_msg(be->sgd_update == NULL, "slot past struct_size was read");
    ck_assert_ptr_null(be->adam_update);
    ck_assert_ptr_nonnull(be->fill);

    /* Using it: a clear error, not a call into the plugin. */
    mlopt_model *m = model_from_text(ctx, 1, 2, 2, "flatten\nlinear 2\n", 1);
    mlopt_optim_config cfg = { .kind = MLOPT_OPTIM_SGD, .lr = 0.1f };
    mlopt_optimizer *o = NULL;
    CK_OK(mlopt_optimizer_create(m, &cfg, &o));
    CK_FAILS(mlopt_optimizer_step(o, 0.1f), MLOPT_E_UNSUPPORTED, "backend old does not implement sgd_update");
    mlopt_optimizer_destroy(o);
    mlopt_model_destroy(m);
    mlopt_context_destroy(ctx);
}
END_TEST

START_TEST(env_path_wins_over_build_tree)
{
    /* A directory on MLOPT_PLUGIN_PATH that has no cpu plugin does not hide
     * the build tree's cpu backend. */
    use_test_plugins();
    mlopt_context *ctx = NULL;
    CK_OK(mlopt_context_create("cpu", NULL, &ctx));
    mlopt_context_destroy(ctx);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("core_loader");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, unknown_backend_names_it_and_lists_available);
    tcase_add_test(tc, cpu_opens_and_is_listed_usable);
    tcase_add_test(tc, search_path_starts_with_env);
    tcase_add_test(tc, wrong_abi_major_is_refused);
    tcase_add_test(tc, missing_required_slot_is_named);
    tcase_add_test(tc, no_entry_symbol_is_refused);
    tcase_add_test(tc, garbage_file_is_refused);
    tcase_add_test(tc, plugin_named_differently_from_its_file_is_refused);
    tcase_add_test(tc, scan_reports_every_test_plugin);
    tcase_add_test(tc, nodevice_create_fails_with_reason);
    tcase_add_test(tc, automatic_choice_ignores_broken_plugins);
    tcase_add_test(tc, missing_kernel_is_reported_at_use);
    tcase_add_test(tc, older_plugin_loads_and_newer_slots_read_null);
    tcase_add_test(tc, env_path_wins_over_build_tree);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
