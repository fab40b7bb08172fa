/* The journal: atomic lines, damaged last lines, resume without repeating
 * finished trials (in-process and with forked workers), and cost
 * constraints never violated by trained models (tiny synthetic data). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mlopt/search.h"

static char dir[256];

static void make_tmp(void)
{
    snprintf(dir, sizeof dir, "/tmp/mlopt-test-search-XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void rm_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int warnings;
static char last_warning[512];
static void count_warn(void *user, const char *msg)
{
    (void)user;
    warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(test_journal_roundtrip_and_damage)
{
    make_tmp();
    char path[300];
    snprintf(path, sizeof path, "%s/j.jsonl", dir);
    mlopt_journal *j;
    long dropped;
    ck_assert_int_eq(mlopt_journal_open(path, &j, &dropped), MLOPT_OK);
    ck_assert_int_eq(dropped, 0);
    ck_assert_int_eq(mlopt_journal_append(j, "{\"type\":\"experiment\",\"kind\":\"tune\"}"), MLOPT_OK);
    ck_assert_int_eq(mlopt_journal_append(j, "{\"type\":\"start\",\"id\":0,\"params\":{\"lr\":\"0.1\"},\"spec\":\"s\"}"),
                     MLOPT_OK);
    ck_assert_int_eq(mlopt_journal_append(j, "{\"type\":\"epoch\",\"id\":0,\"epoch\":1,\"val_acc\":0.5}"), MLOPT_OK);
    ck_assert_int_eq(mlopt_journal_append(j, "{\"type\":\"end\",\"id\":0,\"status\":\"completed\",\"val_acc\":0.5,"
                                             "\"params\":100,\"checkpoint\":\"c.st\"}"), MLOPT_OK);
    ck_assert_int_eq(mlopt_journal_append(j, "{\"type\":\"start\",\"id\":1,\"params\":{},\"spec\":\"t\"}"), MLOPT_OK);
    mlopt_journal_close(j);
    /* a torn write: half a line at the end */
    FILE *f = fopen(path, "ab");
    fputs("{\"type\":\"epoch\",\"id\":1,\"ep", f);
    fclose(f);
    mlopt_journal_data d;
    warnings = 0;
    ck_assert_int_eq(mlopt_journal_read(path, &d, count_warn, NULL), MLOPT_OK);
    ck_assert_int_eq(warnings, 1);
    ck_assert_msg(strstr(last_warning, "truncated") != NULL, "%s", last_warning);
    ck_assert_int_eq(d.ntrials, 2);
    ck_assert_int_eq(d.trials[0].status, MLOPT_TRIAL_COMPLETED);
    ck_assert_str_eq(d.trials[0].params, "{\"lr\":\"0.1\"}");
    ck_assert_str_eq(d.trials[0].checkpoint, "c.st");
    ck_assert(d.trials[0].final_acc == 0.5 && d.trials[0].params_count == 100 && isnan(d.trials[0].latency_ms));
    ck_assert_int_eq(d.trials[1].status, MLOPT_TRIAL_RUNNING);
    ck_assert(strstr(d.experiment, "\"tune\"") != NULL);
    mlopt_journal_data_free(&d);
    /* reopening cuts the partial line, so the next record starts cleanly */
    long before = file_size(path);
    ck_assert_int_eq(mlopt_journal_open(path, &j, &dropped), MLOPT_OK);
    ck_assert_int_eq(dropped, (long)strlen("{\"type\":\"epoch\",\"id\":1,\"ep"));
    ck_assert_int_eq(file_size(path), before - dropped);
    ck_assert_int_eq(mlopt_journal_append(j, "{\"type\":\"end\",\"id\":1,\"status\":\"pruned\"}"), MLOPT_OK);
    mlopt_journal_close(j);
    /* a malformed line in the middle is skipped with a warning too */
    f = fopen(path, "ab");
    fputs("not json\n{\"type\":\"start\",\"id\":2,\"params\":{},\"spec\":\"u\"}\n", f);
    fclose(f);
    warnings = 0;
    ck_assert_int_eq(mlopt_journal_read(path, &d, count_warn, NULL), MLOPT_OK);
    ck_assert_int_eq(warnings, 1);
    ck_assert_int_eq(d.ntrials, 3);
    ck_assert_int_eq(d.trials[1].status, MLOPT_TRIAL_PRUNED);
    mlopt_journal_data_free(&d);
    rm_tmp();
}
END_TEST

/* ---- driver with a synthetic objective ---- */

static int runs[64];
static char journal_path[300];

static mlopt_status synth_propose(void *user, int id, const mlopt_journal_data *h, char *params, size_t plen,
                                  char *spec, size_t slen)
{
    (void)user, (void)h;
    mlopt_rng64 r;
    mlopt_rng64_seed(&r, 11, (uint64_t)id);
    snprintf(params, plen, "{\"q\":\"%.6f\"}", mlopt_rng64_uniform(&r));
    snprintf(spec, slen, "synthetic");
    return MLOPT_OK;
}

static mlopt_status synth_run(void *user, mlopt_driver_trial *t)
{
    (void)user;
    runs[t->id]++;
    /* a record of every run in a file too: forked workers cannot update runs[] */
    char p[320];
    snprintf(p, sizeof p, "%s/runs.txt", dir);
    FILE *f = fopen(p, "a");
    fprintf(f, "%d\n", t->id);
    fclose(f);
    double q = strtod(strstr(t->params_json, ":\"") + 2, NULL);
    for (int e = 1; e <= 9; e++) {
        mlopt_epoch_metrics m = { e, 1 - q, q * e / (e + 1.0), 1 - q, q * e / (e + 1.0), 0 };
        int r = mlopt_driver_epoch(t, &m);
        ck_assert_int_ge(r, 0);
        if (r == 1) {
            t->status = MLOPT_TRIAL_PRUNED;
            return MLOPT_OK;
        }
    }
    t->status = MLOPT_TRIAL_COMPLETED;
    return MLOPT_OK;
}

static mlopt_driver_config synth_config(int trials, int jobs)
{
    mlopt_driver_config c;
    memset(&c, 0, sizeof c);
    snprintf(journal_path, sizeof journal_path, "%s/journal.jsonl", dir);
    c.journal_path = journal_path;
    c.experiment_json = "{\"type\":\"experiment\"}";
    c.trials = trials;
    c.jobs = jobs;
    c.only_id = -1;
    c.use_asha = 1;
    c.asha = (mlopt_asha_config){ 3, 1, 9, 1, 0 };
    c.propose = synth_propose;
    c.run = synth_run;
    c.log = count_warn;
    return c;
}

static int count_lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

START_TEST(test_resume_after_kill)
{
    make_tmp();
    memset(runs, 0, sizeof runs);
    mlopt_driver_config c = synth_config(12, 1);
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(runs[i], 1);
    mlopt_journal_data d;
    ck_assert_int_eq(mlopt_journal_read(journal_path, &d, NULL, NULL), MLOPT_OK);
    ck_assert_int_eq(d.ntrials, 12);
    int finished_before_cut = 0;
    /* "kill" the run: cut the journal in the middle of the line after
     * trial 6's end record (a crash while writing trial 7's start) */
    FILE *f = fopen(journal_path, "r");
    char line[4096];
    long offset = 0, cut = -1;
    while (fgets(line, sizeof line, f)) {
        long len = (long)strlen(line);
        if (strstr(line, "\"type\":\"end\",\"id\":6,")) {
            cut = offset + len + 10;
            break;
        }
        offset += len;
    }
    fclose(f);
    ck_assert_int_gt(cut, 0);
    ck_assert_int_eq(truncate(journal_path, cut), 0);
    for (int i = 0; i < d.ntrials; i++)
        finished_before_cut += d.trials[i].id <= 6;
    mlopt_journal_data_free(&d);
    /* re-run the same command */
    memset(runs, 0, sizeof runs);
    warnings = 0;
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    ck_assert_msg(warnings >= 1, "no warning about the damaged line");
    for (int i = 0; i <= 6; i++)
        ck_assert_msg(runs[i] == 0, "finished trial %d was run again", i);
    for (int i = 7; i < 12; i++)
        ck_assert_int_eq(runs[i], 1);
    ck_assert_int_eq(finished_before_cut, 7);
    ck_assert_int_eq(mlopt_journal_read(journal_path, &d, NULL, NULL), MLOPT_OK);
    ck_assert_int_eq(d.bad_lines, 0);
    ck_assert_int_eq(d.ntrials, 12);
    for (int i = 0; i < 12; i++)
        ck_assert_int_ne(d.trials[i].status, MLOPT_TRIAL_RUNNING);
    mlopt_journal_data_free(&d);
    ck_assert_int_eq(count_lines_with(journal_path, "\"type\":\"start\""), 12);
    /* a third run has nothing left to do */
    memset(runs, 0, sizeof runs);
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(runs[i], 0);
    rm_tmp();
}
END_TEST

START_TEST(test_interrupted_trial_reruns_with_same_params)
{
    make_tmp();
    mlopt_driver_config c = synth_config(3, 1);
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    /* drop trial 2's end record: it was interrupted */
    FILE *f = fopen(journal_path, "r");
    char line[4096], keep[1 << 15] = "";
    char params[256] = "";
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"type\":\"end\",\"id\":2,"))
            continue;
        if (strstr(line, "\"type\":\"start\",\"id\":2,"))
            snprintf(params, sizeof params, "%s", strstr(line, "\"params\""));
        strcat(keep, line);
    }
    fclose(f);
    f = fopen(journal_path, "w");
    fputs(keep, f);
    fclose(f);
    memset(runs, 0, sizeof runs);
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    ck_assert_int_eq(runs[0] + runs[1], 0);
    ck_assert_int_eq(runs[2], 1);
    ck_assert_int_eq(count_lines_with(journal_path, params), 2); /* same parameters both times */
    rm_tmp();
}
END_TEST

START_TEST(test_parallel_workers)
{
    make_tmp();
    mlopt_driver_config c = synth_config(16, 4);
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    mlopt_journal_data d;
    warnings = 0;
    ck_assert_int_eq(mlopt_journal_read(journal_path, &d, count_warn, NULL), MLOPT_OK);
    ck_assert_int_eq(warnings, 0); /* no interleaved (broken) lines */
    ck_assert_int_eq(d.ntrials, 16);
    int pruned = 0;
    for (int i = 0; i < 16; i++) {
        ck_assert_int_ne(d.trials[i].status, MLOPT_TRIAL_RUNNING);
        ck_assert_int_ne(d.trials[i].status, MLOPT_TRIAL_FAILED);
        pruned += d.trials[i].status == MLOPT_TRIAL_PRUNED;
    }
    ck_assert_int_gt(pruned, 0);
    mlopt_journal_data_free(&d);
    char p[320];
    snprintf(p, sizeof p, "%s/runs.txt", dir);
    FILE *f = fopen(p, "r");
    int seen[16] = { 0 }, id;
    while (fscanf(f, "%d", &id) == 1)
        seen[id]++;
    fclose(f);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(seen[i], 1);
    rm_tmp();
}
END_TEST

/* ---- constraints with real (tiny) training ---- */

static void write_idx(const char *path, int images, int n, int side, const unsigned char *data)
{
    FILE *f = fopen(path, "wb");
    unsigned char h[16] = { 0, 0, 8, (unsigned char)(images ? 3 : 1) };
    h[4] = (unsigned char)(n >> 24), h[5] = (unsigned char)(n >> 16), h[6] = (unsigned char)(n >> 8),
    h[7] = (unsigned char)n;
    h[11] = h[15] = (unsigned char)side;
    fwrite(h, 1, images ? 16 : 8, f);
    fwrite(data, 1, (size_t)n * (images ? side * side : 1), f);
    fclose(f);
}

static void write_dataset(const char *d, const char *split, int n)
{
    const int side = 12;
    unsigned char *img = calloc((size_t)n * side * side, 1), *lab = malloc((size_t)n);
    mlopt_rng64 r;
    mlopt_rng64_seed(&r, 5, 0);
    for (int i = 0; i < n; i++) {
        int c = i % 10;
        lab[i] = (unsigned char)c;
        for (int p = 0; p < side * side; p++)
            img[i * side * side + p] = (unsigned char)(mlopt_rng64_below(&r, 40));
        for (int y = 0; y < 3; y++) /* a bright 3x3 block whose place is the class */
            for (int x = 0; x < 3; x++)
                img[i * side * side + ((c / 4) * 4 + y) * side + (c % 4) * 3 + x] = 255;
    }
    char p[400];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", d, split);
    write_idx(p, 1, n, side, img);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", d, split);
    write_idx(p, 0, n, side, lab);
    free(img), free(lab);
}

typedef struct arch_user {
    mlopt_arch_space space;
    mlopt_trial_env env;
} arch_user;

static mlopt_status arch_propose(void *user, int id, const mlopt_journal_data *h, char *params, size_t plen,
                                 char *spec, size_t slen)
{
    arch_user *u = user;
    (void)h;
    mlopt_rng64 r;
    mlopt_rng64_seed(&r, 3, (uint64_t)id);
    mlopt_arch a;
    mlopt_arch_random(&u->space, &r, 12, 12, &a);
    mlopt_arch_format(&u->space, &a, spec, slen);
    snprintf(params, plen, "{}");
    return MLOPT_OK;
}

static mlopt_status arch_run(void *user, mlopt_driver_trial *t)
{
    arch_user *u = user;
    mlopt_arch a;
    mlopt_status s = mlopt_arch_parse(&u->space, t->spec, &a);
    if (s != MLOPT_OK)
        return s;
    mlopt_trial_config cfg;
    memset(&cfg, 0, sizeof cfg);
    mlopt_layer_spec *specs;
    if ((s = mlopt_arch_to_specs(&u->space, &a, 10, &specs, &cfg.nspecs)) != MLOPT_OK)
        return s;
    cfg.specs = specs;
    cfg.optim.kind = MLOPT_OPTIM_SGD;
    cfg.optim.lr = 0.05f;
    cfg.optim.momentum = 0.9f;
    cfg.epochs = 2;
    cfg.batch = 20;
    cfg.seed = 1;
    s = mlopt_trial_execute(&u->env, &cfg, t);
    free(specs);
    return s;
}

START_TEST(test_constraints_never_violated)
{
    const char *plugins = getenv("MLOPT_TEST_PLUGIN_DIR");
    if (plugins)
        setenv("MLOPT_PLUGIN_PATH", plugins, 1);
    make_tmp();
    write_dataset(dir, "train", 120);
    mlopt_dataset *train, *val;
    ck_assert_int_eq(mlopt_dataset_load(dir, "train", &train), MLOPT_OK);
    ck_assert_int_eq(mlopt_dataset_split(train, 40, 1, &val), MLOPT_OK);
    arch_user u;
    memset(&u, 0, sizeof u);
    ck_assert_int_eq(mlopt_arch_space_parse("conv_stages 1 2\nconv_widths 4 8 16\nkernels 3\nlinear_layers 0 1\n"
                                            "linear_widths 16 64\nactivations relu\nbatchnorm search\npad search\n",
                                            "t", &u.space), MLOPT_OK);
    u.env.backend = "cpu";
    u.env.train = train;
    u.env.val = val;
    mlopt_dataset_stats(train, &u.env.mean, &u.env.std);
    u.env.measure_latency = 1;
    u.env.latency_batch = 8;
    u.env.latency_repeats = 3;
    u.env.max_params = 3000;
    u.env.max_flops = 1e9;
    mlopt_driver_config c = synth_config(10, 1);
    c.use_asha = 0;
    c.propose = arch_propose;
    c.run = arch_run;
    c.user = &u;
    c.log = NULL;
    ck_assert_int_eq(mlopt_driver_run(&c), MLOPT_OK);
    mlopt_journal_data d;
    ck_assert_int_eq(mlopt_journal_read(journal_path, &d, NULL, NULL), MLOPT_OK);
    ck_assert_int_eq(d.ntrials, 10);
    int completed = 0, rejected = 0;
    for (int i = 0; i < d.ntrials; i++) {
        const mlopt_trial_record *r = &d.trials[i];
        ck_assert_msg(r->status != MLOPT_TRIAL_FAILED, "trial %d failed: %s", r->id, r->reason);
        ck_assert(isfinite(r->params_count) && isfinite(r->latency_ms) && r->latency_ms > 0);
        if (r->status == MLOPT_TRIAL_COMPLETED) {
            completed++;
            ck_assert_msg(r->params_count <= 3000, "trial %d: %g params", r->id, r->params_count);
            ck_assert_int_eq(r->epochs, 2);
        } else {
            ck_assert(strstr(r->reason, "constraint") != NULL);
            ck_assert(r->params_count > 3000);
            ck_assert_int_eq(r->epochs, 0); /* never trained */
            rejected++;
        }
    }
    ck_assert_msg(completed > 0 && rejected > 0, "completed %d rejected %d", completed, rejected);
    mlopt_journal_data_free(&d);
    mlopt_dataset_destroy(val);
    mlopt_dataset_destroy(train);
    rm_tmp();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search_journal");
    TCase *tc = tcase_create("journal");
    tcase_add_test(tc, test_journal_roundtrip_and_damage);
    tcase_add_test(tc, test_resume_after_kill);
    tcase_add_test(tc, test_interrupted_trial_reruns_with_same_params);
    tcase_add_test(tc, test_parallel_workers);
    tcase_add_test(tc, test_constraints_never_violated);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
