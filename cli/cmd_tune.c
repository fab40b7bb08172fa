/* mlopt tune: hyperparameter search (grid, random, TPE) with ASHA /
 * Hyperband early stopping, a resumable journal and parallel trials. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "io/json.h"
#include "mlopt/search.h"

typedef struct tune_cfg {
    const char *space_file, *sampler, *out, *model, *data, *scheduler;
    const char *lr, *momentum, *weight_decay, *batch, *optimizer, *schedule, *activation;
    int trials, seed, jobs, val, limit, test_limit, test, eta, min_epochs, max_epochs, brackets, worker, quiet;
    int bootstrap;
    int candidates, startup, augment;
    float gamma, time_budget;
} tune_cfg;

typedef struct tune_ctx {
    tune_cfg *c;
    mlopt_hp_space space;
    mlopt_layer_spec *specs; /* the model (activation replaced per trial) */
    int nspecs;
    mlopt_trial_env env;
} tune_ctx;

static const char *const default_space[] = {
    "lr log 0.001 0.3",           "momentum float 0.5 0.99",   "weight_decay choice 0 0.0001 0.0005",
    "batch choice 32 64 128",     "optimizer choice sgd adam adamw", "schedule choice cosine constant",
};

static void log_line(void *user, const char *msg)
{
    tune_ctx *t = user;
    if (!t->c->quiet || strncmp(msg, "warning", 7) == 0)
        fprintf(stderr, "%s\n", msg);
}

/* --lr 1e-3:0.1 -> "lr log 1e-3 0.1"; --lr 0.01 -> "lr fixed 0.01";
 * --batch 32,64 -> "batch choice 32 64". */
static int flag_dim(mlopt_hp_space *s, const char *name, const char *type, const char *value)
{
    if (!value)
        return 0;
    char line[512], v[400];
    snprintf(v, sizeof v, "%s", value);
    const char *colon = strchr(v, ':');
    if (colon && strcmp(type, "choice") != 0) {
        v[colon - v] = ' ';
        snprintf(line, sizeof line, "%s %s %s", name, type, v);
    } else if (strchr(v, ',')) {
        for (char *p = v; *p; p++)
            if (*p == ',')
                *p = ' ';
        snprintf(line, sizeof line, "%s choice %s", name, v);
    } else {
        snprintf(line, sizeof line, "%s fixed %s", name, v);
    }
    int i = mlopt_hp_space_find(s, name);
    if (i >= 0) { /* replace: remove, then add */
        for (int k = i; k + 1 < s->ndims; k++)
            s->dims[k] = s->dims[k + 1];
        s->ndims--;
    }
    if (mlopt_hp_space_add(s, line) != MLOPT_OK) {
        fprintf(stderr, "mlopt tune: --%s: %s\n", name, mlopt_last_error());
        return 1;
    }
    return 0;
}

static int build_space(tune_cfg *c, mlopt_hp_space *s)
{
    memset(s, 0, sizeof *s);
    if (c->space_file) {
        FILE *f = fopen(c->space_file, "rb");
        if (!f) {
            fprintf(stderr, "mlopt tune: --space %s: %s\n", c->space_file, strerror(errno));
            return 1;
        }
        char text[16384];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        if (mlopt_hp_space_parse(text, c->space_file, s) != MLOPT_OK) {
            fprintf(stderr, "mlopt tune: %s\n", mlopt_last_error());
            return 1;
        }
    } else {
        for (size_t i = 0; i < sizeof default_space / sizeof default_space[0]; i++)
            mlopt_hp_space_add(s, default_space[i]);
    }
    static const char *const known[] = { "lr", "momentum", "weight_decay", "batch", "optimizer", "schedule",
                                         "epochs", "activation", "warmup_epochs" };
    for (int i = 0; i < s->ndims; i++) {
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strcmp(s->dims[i].name, known[k]) == 0;
        if (!ok) {
            fprintf(stderr, "mlopt tune: unknown dimension '%s' (lr, momentum, weight_decay, batch, optimizer, "
                            "schedule, epochs, activation, warmup_epochs)\n", s->dims[i].name);
            return 1;
        }
    }
    return flag_dim(s, "lr", "log", c->lr) || flag_dim(s, "momentum", "float", c->momentum) ||
           flag_dim(s, "weight_decay", "choice", c->weight_decay) || flag_dim(s, "batch", "choice", c->batch) ||
           flag_dim(s, "optimizer", "choice", c->optimizer) || flag_dim(s, "schedule", "choice", c->schedule) ||
           flag_dim(s, "activation", "choice", c->activation);
}

/* A trial's point from the journal's params object. */
static int point_from_params(const mlopt_hp_space *s, const char *params, mlopt_hp_point *p)
{
    mlopt_json *v = NULL;
    char err[128];
    if (mlopt_json_parse(params, strlen(params), &v, err, sizeof err) != MLOPT_OK)
        return 0;
    int ok = 1;
    for (int i = 0; i < s->ndims && ok; i++) {
        const mlopt_json *m = mlopt_json_get(v, s->dims[i].name);
        ok = m && (m->type == MLOPT_JSON_STRING || m->type == MLOPT_JSON_NUMBER) &&
             mlopt_hp_value_parse(s, i, m->text, p) == MLOPT_OK;
    }
    mlopt_json_free(v);
    return ok;
}

static void params_json(const mlopt_hp_space *s, const mlopt_hp_point *p, char *buf, size_t len)
{
    size_t u = (size_t)snprintf(buf, len, "{");
    for (int i = 0; i < s->ndims && u < len; i++) {
        char v[64];
        mlopt_hp_value_text(s, p, i, v, sizeof v);
        u += (size_t)snprintf(buf + u, len - u, "%s\"%s\":\"%s\"", i ? "," : "", s->dims[i].name, v);
    }
    if (u < len)
        snprintf(buf + u, len - u, "}");
}

static mlopt_status propose(void *user, int id, const mlopt_journal_data *h, char *params, size_t plen, char *spec,
                            size_t slen)
{
    tune_ctx *t = user;
    mlopt_hp_point p;
    mlopt_rng64 rng;
    mlopt_rng64_seed(&rng, (uint64_t)t->c->seed, (uint64_t)id);
    if (strcmp(t->c->sampler, "grid") == 0) {
        mlopt_grid_point(&t->space, id % mlopt_grid_size(&t->space), &p);
    } else if (strcmp(t->c->sampler, "random") == 0) {
        mlopt_random_point(&t->space, &rng, &p);
    } else {
        /* TPE on every finished trial: its last validation accuracy (the
         * deepest fidelity it reached); failed trials are left out. */
        mlopt_hp_point *obs = malloc((size_t)(h->ntrials + 1) * sizeof *obs);
        double *vals = malloc((size_t)(h->ntrials + 1) * sizeof *vals);
        if (!obs || !vals) {
            free(obs), free(vals);
            return MLOPT_E_NOMEM;
        }
        int n = 0;
        for (int i = 0; i < h->ntrials; i++) {
            const mlopt_trial_record *r = &h->trials[i];
            if (r->status == MLOPT_TRIAL_RUNNING || r->status == MLOPT_TRIAL_FAILED || !r->epochs)
                continue;
            if (!point_from_params(&t->space, r->params, &obs[n]))
                continue;
            vals[n++] = r->val_acc[r->epochs - 1];
        }
        mlopt_tpe_config tc = { t->c->gamma, t->c->candidates, t->c->startup };
        mlopt_status s = mlopt_tpe_suggest(&t->space, &tc, obs, vals, n, &rng, &p);
        free(obs), free(vals);
        if (s != MLOPT_OK)
            return s;
    }
    params_json(&t->space, &p, params, plen);
    snprintf(spec, slen, "%s", t->c->model);
    return MLOPT_OK;
}

static const char *param(const mlopt_json *v, const char *key, const char *def)
{
    const mlopt_json *m = mlopt_json_get(v, key);
    return m && (m->type == MLOPT_JSON_STRING || m->type == MLOPT_JSON_NUMBER) ? m->text : def;
}

static mlopt_status run(void *user, mlopt_driver_trial *t)
{
    tune_ctx *tc = user;
    tune_cfg *c = tc->c;
    mlopt_json *v = NULL;
    char err[128];
    if (mlopt_json_parse(t->params_json, strlen(t->params_json), &v, err, sizeof err) != MLOPT_OK)
        return MLOPT_E_FORMAT;
    mlopt_trial_config cfg;
    memset(&cfg, 0, sizeof cfg);
    mlopt_status s = MLOPT_OK;
    mlopt_layer_spec *specs = malloc((size_t)tc->nspecs * sizeof *specs);
    if (!specs) {
        mlopt_json_free(v);
        return MLOPT_E_NOMEM;
    }
    memcpy(specs, tc->specs, (size_t)tc->nspecs * sizeof *specs);
    const char *opt = param(v, "optimizer", "sgd"), *sched = param(v, "schedule", "cosine");
    const char *act = param(v, "activation", NULL);
    cfg.optim.kind = strcmp(opt, "adam") == 0 ? MLOPT_OPTIM_ADAM : strcmp(opt, "adamw") == 0 ? MLOPT_OPTIM_ADAMW
                                                                                              : MLOPT_OPTIM_SGD;
    cfg.optim.lr = strtof(param(v, "lr", "0.01"), NULL);
    cfg.optim.momentum = strtof(param(v, "momentum", "0.9"), NULL);
    if (cfg.optim.kind != MLOPT_OPTIM_SGD)
        cfg.optim.momentum = 0;
    cfg.optim.weight_decay = strtof(param(v, "weight_decay", "0"), NULL);
    cfg.schedule = strcmp(sched, "constant") == 0 ? MLOPT_SCHED_CONSTANT
                   : strcmp(sched, "step") == 0   ? MLOPT_SCHED_STEP
                                                  : MLOPT_SCHED_COSINE;
    cfg.warmup_epochs = strtof(param(v, "warmup_epochs", "0"), NULL);
    cfg.batch = atoi(param(v, "batch", "64"));
    int epochs = atoi(param(v, "epochs", "0"));
    cfg.epochs = epochs > 0 && epochs < c->max_epochs ? epochs : c->max_epochs;
    cfg.seed = (uint64_t)c->seed;
    cfg.augment = c->augment;
    if (act)
        s = mlopt_spec_set_activation(specs, tc->nspecs, act);
    mlopt_json_free(v);
    if (s == MLOPT_OK && (cfg.batch < 1 || cfg.optim.lr <= 0))
        s = mlopt_set_error(MLOPT_E_INVALID, "bad batch or lr");
    if (s == MLOPT_OK) {
        cfg.specs = specs;
        cfg.nspecs = tc->nspecs;
        s = mlopt_trial_execute(&tc->env, &cfg, t);
    }
    free(specs);
    return s;
}

/* Train split minus --val for training, --val for validation, optional
 * test split; shared with `mlopt search`. */
int search_load_data(const char *cmd, const char *dir, int val, int limit, int test_limit, int want_test,
                     uint64_t seed, mlopt_dataset **train, mlopt_dataset **valset, mlopt_dataset **test, float *mean,
                     float *std)
{
    mlopt_status s;
    *train = *valset = *test = NULL;
    if ((s = mlopt_dataset_load(dir, "train", train)) != MLOPT_OK)
        return report_failure(cmd, "loading the data", s);
    mlopt_dataset_stats(*train, mean, std);
    if (val < 1 || val >= mlopt_dataset_size(*train)) {
        fprintf(stderr, "mlopt %s: --val must be between 1 and the training set size\n", cmd);
        return 1;
    }
    if ((s = mlopt_dataset_split(*train, val, seed, valset)) != MLOPT_OK)
        return report_failure(cmd, "--val", s);
    if (limit && (s = mlopt_dataset_truncate(*train, limit)) != MLOPT_OK)
        return report_failure(cmd, "--limit", s);
    if (want_test) {
        if ((s = mlopt_dataset_load(dir, "t10k", test)) != MLOPT_OK)
            return report_failure(cmd, "loading the test split", s);
        if (test_limit && (s = mlopt_dataset_truncate(*test, test_limit)) != MLOPT_OK)
            return report_failure(cmd, "--test-limit", s);
    }
    return 0;
}

static int make_dir(const char *cmd, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mlopt %s: cannot create %s: %s\n", cmd, dir, strerror(errno));
        return 1;
    }
    return 0;
}

static void summarize(tune_ctx *t, const char *journal)
{
    mlopt_journal_data d;
    if (mlopt_journal_read(journal, &d, NULL, NULL) != MLOPT_OK)
        return;
    int best = -1, completed = 0, pruned = 0, failed = 0;
    long long trial_epochs = 0;
    for (int i = 0; i < d.ntrials; i++) {
        const mlopt_trial_record *r = &d.trials[i];
        trial_epochs += r->epochs;
        completed += r->status == MLOPT_TRIAL_COMPLETED;
        pruned += r->status == MLOPT_TRIAL_PRUNED;
        failed += r->status == MLOPT_TRIAL_FAILED;
        if (r->status == MLOPT_TRIAL_COMPLETED && isfinite(r->final_acc) &&
            (best < 0 || r->final_acc > d.trials[best].final_acc))
            best = i;
    }
    const mlopt_trial_record *b = best >= 0 ? &d.trials[best] : NULL;
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "tune");
        json_str(&j, "journal", journal);
        json_int(&j, "trials", d.ntrials);
        json_int(&j, "completed", completed);
        json_int(&j, "pruned", pruned);
        json_int(&j, "failed", failed);
        json_int(&j, "trial_epochs", trial_epochs);
        if (b) {
            json_int(&j, "best_trial", b->id);
            json_num(&j, "best_val_accuracy", b->final_acc);
            if (isfinite(b->test_acc))
                json_num(&j, "best_test_accuracy", b->test_acc);
            json_raw(&j, "best_params", b->params);
            json_str(&j, "best_checkpoint", b->checkpoint);
        }
        json_end(&j);
    } else {
        printf("%d trials: %d completed, %d pruned, %d failed; %lld trial-epochs\n", d.ntrials, completed, pruned,
               failed, trial_epochs);
        if (b) {
            printf("best: trial %d, val acc %.2f%%", b->id, 100 * b->final_acc);
            if (isfinite(b->test_acc))
                printf(", test acc %.2f%%", 100 * b->test_acc);
            printf("\n  params %s\n  checkpoint %s\n", b->params, b->checkpoint[0] ? b->checkpoint : "(none)");
        }
    }
    (void)t;
    mlopt_journal_data_free(&d);
}

int cmd_tune(int argc, char **argv)
{
    tune_cfg c = { .sampler = "tpe", .out = "mlopt-tune", .model = "seed-cnn", .scheduler = "asha", .trials = 20,
                   .seed = 1, .jobs = 1, .val = 5000, .eta = 3, .min_epochs = 1, .max_epochs = 9, .brackets = 1,
                   .worker = -1, .candidates = 24, .startup = 8, .gamma = 0.25f };
    cli_option opts[] = {
        { "space", OPT_STRING, &c.space_file, "FILE", "search space file (see docs/search.md); default: lr, momentum, "
                                                      "weight_decay, batch, optimizer, schedule", 0, 0 },
        { "sampler", OPT_STRING, &c.sampler, "NAME", "grid, random or tpe (default tpe)", 0, 0 },
        { "trials", OPT_INT, &c.trials, "N", "number of trials (default 20; grid: at most the grid size)", 1, 0 },
        { "seed", OPT_INT, &c.seed, "N", "seed of the sampler and of every trial's training (default 1)", 0, 0 },
        { "jobs", OPT_INT, &c.jobs, "N", "trials in parallel processes, threads split between them (default 1)", 1, 0 },
        { "out", OPT_STRING, &c.out, "DIR", "output directory: journal.jsonl, trials/ (default mlopt-tune); "
                                           "running again with the same DIR resumes", 0, 0 },
        { "model", OPT_STRING, &c.model, "SPEC", "model preset or spec file (default seed-cnn)", 0, 0 },
        { "data", OPT_STRING, &c.data, "DIR", "IDX dataset directory", 0, 0 },
        { "val", OPT_INT, &c.val, "N", "validation samples held out of the training split (default 5000)", 1, 0 },
        { "limit", OPT_INT, &c.limit, "N", "train on only the first N remaining samples", 0, 0 },
        { "test", OPT_FLAG, &c.test, NULL, "also evaluate completed trials on the test split", 0, 0 },
        { "test-limit", OPT_INT, &c.test_limit, "N", "use only the first N test samples", 0, 0 },
        { "augment", OPT_FLAG, &c.augment, NULL, "random crops and flips while training", 0, 0 },
        { "scheduler", OPT_STRING, &c.scheduler, "NAME", "asha (default; Hyperband with --brackets > 1) or none", 0, 0 },
        { "eta", OPT_INT, &c.eta, "N", "ASHA reduction factor (default 3)", 2, 0 },
        { "min-epochs", OPT_INT, &c.min_epochs, "N", "ASHA minimum resource (default 1)", 1, 0 },
        { "max-epochs", OPT_INT, &c.max_epochs, "N", "epochs of a trial that is never stopped (default 9)", 1, 0 },
        { "brackets", OPT_INT, &c.brackets, "N", "Hyperband brackets (default 1 = ASHA)", 1, 0 },
        { "bootstrap", OPT_INT, &c.bootstrap, "N",
          "ASHA: the first N trials to reach a rung stop there (Optuna's bootstrap_count; default 0)", 0, 0 },
        { "gamma", OPT_FLOAT, &c.gamma, "X", "TPE: fraction of good observations (default 0.25)", 0, 0 },
        { "candidates", OPT_INT, &c.candidates, "N", "TPE: candidates drawn per suggestion (default 24)", 1, 0 },
        { "startup", OPT_INT, &c.startup, "N", "TPE: random trials before the model is used (default 8)", 1, 0 },
        { "lr", OPT_STRING, &c.lr, "LO:HI|X", "learning rate range (log-uniform) or value", 0, 0 },
        { "momentum", OPT_STRING, &c.momentum, "LO:HI|X", "SGD momentum range or value", 0, 0 },
        { "weight-decay", OPT_STRING, &c.weight_decay, "A,B,..", "weight decay choices", 0, 0 },
        { "batch", OPT_STRING, &c.batch, "A,B,..", "batch size choices", 0, 0 },
        { "optimizer", OPT_STRING, &c.optimizer, "A,B,..", "optimizers among sgd, adam, adamw", 0, 0 },
        { "schedule", OPT_STRING, &c.schedule, "A,B,..", "LR schedules among cosine, step, constant", 0, 0 },
        { "activation", OPT_STRING, &c.activation, "A,B,..", "activations (replacing the model's)", 0, 0 },
        { "time-budget", OPT_FLOAT, &c.time_budget, "SECONDS",
          "wall-clock budget: no trial starts after it, running ones stop at an epoch boundary (default: none)", 0,
          0 },
        { "worker", OPT_INT, &c.worker, "ID", "run only trial ID (for an external scheduler), then exit", 0, 0 },
        { "quiet", OPT_FLAG, &c.quiet, NULL, "no per-trial lines on stderr", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("tune", argc, argv, opts, pos, 0, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt tune [--space=FILE] [--sampler=tpe] [--trials=N] [--out=DIR] [options]",
                  "Tune training hyperparameters on a validation split: grid, random or TPE sampling, ASHA / "
                  "Hyperband early stopping on the per-epoch validation accuracy. Every trial is journaled in "
                  "DIR/journal.jsonl; running the same command again resumes.", opts);
        return 0;
    }
    if (strcmp(c.sampler, "grid") && strcmp(c.sampler, "random") && strcmp(c.sampler, "tpe")) {
        fprintf(stderr, "mlopt tune: --sampler must be grid, random or tpe\n");
        return 2;
    }
    if (strcmp(c.scheduler, "asha") && strcmp(c.scheduler, "none")) {
        fprintf(stderr, "mlopt tune: --scheduler must be asha or none\n");
        return 2;
    }
    tune_ctx t;
    memset(&t, 0, sizeof t);
    t.c = &c;
    if (build_space(&c, &t.space))
        return 2;
    if (strcmp(c.sampler, "grid") == 0) {
        long long g = mlopt_grid_size(&t.space);
        if (!args_find(opts, "trials")->seen || c.trials > g)
            c.trials = g > 1000000 ? 1000000 : (int)g;
    }
    if (load_specs("tune", c.model, NULL, &t.specs, &t.nspecs))
        return 1;
    mlopt_dataset *train = NULL, *val = NULL, *test = NULL;
    int rc = 1;
    if (search_load_data("tune", c.data, c.val, c.limit, c.test_limit, c.test, (uint64_t)c.seed, &train, &val, &test,
                         &t.env.mean, &t.env.std))
        goto out;
    if (make_dir("tune", c.out))
        goto out;
    char journal[1024], ckdir[1024], exp[4096];
    snprintf(journal, sizeof journal, "%s/journal.jsonl", c.out);
    snprintf(ckdir, sizeof ckdir, "%s/trials", c.out);
    t.env.backend = G.backend;
    t.env.device = G.device;
    t.env.train = train;
    t.env.val = val;
    t.env.test = test;
    t.env.checkpoint_dir = ckdir;
    int threads = G.threads;
    if (!threads && getenv("MLOPT_NUM_THREADS"))
        threads = atoi(getenv("MLOPT_NUM_THREADS"));
    if (c.jobs > 1) {
        if (!threads)
            threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
        threads = threads / c.jobs > 0 ? threads / c.jobs : 1;
    }
    size_t u = (size_t)snprintf(exp, sizeof exp,
                                "{\"type\":\"experiment\",\"kind\":\"tune\",\"sampler\":\"%s\",\"scheduler\":\"%s\","
                                "\"seed\":%d,\"trials\":%d,\"eta\":%d,\"min_epochs\":%d,\"max_epochs\":%d,"
                                "\"brackets\":%d,\"bootstrap\":%d,\"model\":\"%s\",\"val\":%d,\"limit\":%d,\"space\":[",
                                c.sampler, c.scheduler, c.seed, c.trials, c.eta, c.min_epochs, c.max_epochs,
                                c.brackets, c.bootstrap, c.model, c.val, c.limit);
    for (int i = 0; i < t.space.ndims && u < sizeof exp; i++)
        u += (size_t)snprintf(exp + u, sizeof exp - u, "%s\"%s\"", i ? "," : "", t.space.dims[i].name);
    if (u < sizeof exp)
        snprintf(exp + u, sizeof exp - u, "]}");
    mlopt_driver_config dc = { 0 };
    dc.journal_path = journal;
    dc.experiment_json = exp;
    dc.trials = c.trials;
    dc.jobs = c.jobs;
    dc.threads = threads;
    dc.only_id = c.worker;
    dc.time_budget_s = c.time_budget;
    dc.use_asha = strcmp(c.scheduler, "asha") == 0;
    dc.asha.eta = c.eta;
    dc.asha.r_min = c.min_epochs;
    dc.asha.r_max = c.max_epochs;
    dc.asha.brackets = c.brackets;
    dc.asha.bootstrap = c.bootstrap;
    dc.propose = propose;
    dc.run = run;
    dc.log = log_line;
    dc.user = &t;
    mlopt_status s = mlopt_driver_run(&dc);
    if (s != MLOPT_OK) {
        report_failure("tune", "the search", s);
        goto out;
    }
    summarize(&t, journal);
    rc = 0;
out:
    free(t.specs);
    mlopt_dataset_destroy(train);
    mlopt_dataset_destroy(val);
    mlopt_dataset_destroy(test);
    return rc;
}
