/* mlopt search: hardware-aware architecture search (random or aging
 * evolution) with successive-halving budgets, cost constraints and a
 * Pareto front of accuracy versus cost. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "mlopt/search.h"

int search_load_data(const char *cmd, const char *dir, int val, int limit, int test_limit, int want_test,
                     uint64_t seed, mlopt_dataset **train, mlopt_dataset **valset, mlopt_dataset **test, float *mean,
                     float *std);

typedef struct search_cfg {
    const char *space_file, *strategy, *out, *data, *cost, *objective, *optimizer, *schedule, *scheduler, *include;
    int trials, seed, jobs, val, limit, test_limit, test, population, sample, eta, min_epochs, max_epochs, brackets;
    int bootstrap;
    int batch, latency_batch, latency_repeats, worker, quiet;
    float lr, momentum, weight_decay, max_latency_ms, max_params, max_flops, time_budget;
} search_cfg;

typedef struct search_ctx {
    search_cfg *c;
    mlopt_arch_space space;
    int in_h, in_w, classes;
    mlopt_trial_env env;
} search_ctx;

static void log_line(void *user, const char *msg)
{
    search_ctx *t = user;
    if (!t->c->quiet || strncmp(msg, "warning", 7) == 0)
        fprintf(stderr, "%s\n", msg);
}

static double cost_of(const search_cfg *c, const mlopt_trial_record *r)
{
    return strcmp(c->cost, "latency") == 0 ? r->latency_ms : strcmp(c->cost, "flops") == 0 ? r->flops : r->params_count;
}

/* Constraints are checked again on what the journal says, so that a
 * reported model never violates them (even one from an older run with
 * looser limits). */
static int feasible(const search_cfg *c, const mlopt_trial_record *r)
{
    if (c->max_params > 0 && !(r->params_count <= c->max_params))
        return 0;
    if (c->max_flops > 0 && !(r->flops <= c->max_flops))
        return 0;
    if (c->max_latency_ms > 0 && !(r->latency_ms <= c->max_latency_ms))
        return 0;
    return 1;
}

#define SEARCH_DEDUPE_TRIES 32

static mlopt_status propose(void *user, int id, const mlopt_journal_data *h, char *params, size_t plen, char *spec,
                            size_t slen)
{
    search_ctx *t = user;
    search_cfg *c = t->c;
    mlopt_rng64 rng;
    mlopt_rng64_seed(&rng, (uint64_t)c->seed, (uint64_t)id);
    mlopt_arch a;
    int parent = -1;
    if (id == 0 && c->include) {
        mlopt_status s = mlopt_arch_parse(&t->space, c->include, &a);
        if (s != MLOPT_OK)
            return s;
        mlopt_arch_format(&t->space, &a, spec, slen);
    } else {
        /* Replay the finished trials into the population, oldest first:
         * the journal is the population's history. */
        int evolution = strcmp(c->strategy, "evolution") == 0;
        mlopt_evo e;
        mlopt_status s = mlopt_evo_init(&e, c->population, c->sample, strcmp(c->objective, "pareto") == 0);
        if (s != MLOPT_OK)
            return s;
        for (int i = 0; evolution && i < h->ntrials; i++) {
            const mlopt_trial_record *r = &h->trials[i];
            mlopt_arch ra;
            if (r->status == MLOPT_TRIAL_RUNNING || r->status == MLOPT_TRIAL_FAILED || !r->epochs ||
                mlopt_arch_parse(&t->space, r->spec, &ra) != MLOPT_OK)
                continue;
            mlopt_evo_add(&e, &ra, r->val_acc[r->epochs - 1], cost_of(c, r), r->id);
        }
        /* An architecture already in the journal (finished, pruned or
         * running) is drawn again, up to SEARCH_DEDUPE_TRIES times from the
         * same seeded stream: a mutation often undoes itself, and 40 of the
         * 200 trials of bench/search_fashion.sh had repeated an earlier
         * architecture (65 of its 246 trial-epochs).  A space too small to
         * avoid repeats runs the last draw. */
        for (int attempt = 0; attempt < SEARCH_DEDUPE_TRIES; attempt++) {
            if (evolution)
                mlopt_evo_propose(&e, &t->space, &rng, t->in_h, t->in_w, &a, &parent);
            else
                mlopt_arch_random(&t->space, &rng, t->in_h, t->in_w, &a);
            mlopt_arch_format(&t->space, &a, spec, slen);
            if (!mlopt_journal_find_spec(h, spec))
                break;
        }
        mlopt_evo_free(&e);
    }
    snprintf(params, plen, "{\"parent\":%d}", parent);
    return MLOPT_OK;
}

static mlopt_status run(void *user, mlopt_driver_trial *t)
{
    search_ctx *sc = user;
    search_cfg *c = sc->c;
    mlopt_arch a;
    mlopt_status s = mlopt_arch_parse(&sc->space, t->spec, &a);
    if (s != MLOPT_OK)
        return s;
    mlopt_trial_config cfg;
    memset(&cfg, 0, sizeof cfg);
    mlopt_layer_spec *specs;
    if ((s = mlopt_arch_to_specs(&sc->space, &a, sc->classes, &specs, &cfg.nspecs)) != MLOPT_OK)
        return s;
    cfg.specs = specs;
    cfg.optim.kind = strcmp(c->optimizer, "adam") == 0    ? MLOPT_OPTIM_ADAM
                     : strcmp(c->optimizer, "adamw") == 0 ? MLOPT_OPTIM_ADAMW
                                                          : MLOPT_OPTIM_SGD;
    cfg.optim.lr = c->lr;
    cfg.optim.momentum = cfg.optim.kind == MLOPT_OPTIM_SGD ? c->momentum : 0;
    cfg.optim.weight_decay = c->weight_decay;
    cfg.schedule = strcmp(c->schedule, "constant") == 0 ? MLOPT_SCHED_CONSTANT
                   : strcmp(c->schedule, "step") == 0   ? MLOPT_SCHED_STEP
                                                        : MLOPT_SCHED_COSINE;
    cfg.epochs = c->max_epochs;
    cfg.batch = c->batch;
    cfg.seed = (uint64_t)c->seed;
    s = mlopt_trial_execute(&sc->env, &cfg, t);
    free(specs);
    return s;
}

/* Copy a checkpoint (hard link when possible) into the front directory. */
static int copy_file(const char *from, const char *to)
{
    unlink(to);
    if (link(from, to) == 0)
        return 0;
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out) {
        if (in)
            fclose(in);
        return 1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = 1;
    fclose(in);
    if (fclose(out) != 0)
        rc = 1;
    return rc;
}

static const char *cost_unit(const search_cfg *c)
{
    return strcmp(c->cost, "latency") == 0 ? "ms" : strcmp(c->cost, "flops") == 0 ? "FLOPs" : "params";
}

static int finish(search_ctx *t, const char *journal)
{
    search_cfg *c = t->c;
    mlopt_journal_data d;
    if (mlopt_journal_read(journal, &d, NULL, NULL) != MLOPT_OK)
        return report_failure("search", "reading the journal", MLOPT_E_IO);
    int n = d.ntrials;
    double *acc = malloc((size_t)(n + 1) * sizeof *acc), *cost = malloc((size_t)(n + 1) * sizeof *cost);
    int *front = malloc((size_t)(n + 1) * sizeof *front);
    if (!acc || !cost || !front) {
        free(acc), free(cost), free(front);
        mlopt_journal_data_free(&d);
        return 1;
    }
    int best = -1, completed = 0, pruned = 0, failed = 0;
    long long trial_epochs = 0;
    for (int i = 0; i < n; i++) {
        const mlopt_trial_record *r = &d.trials[i];
        trial_epochs += r->epochs;
        completed += r->status == MLOPT_TRIAL_COMPLETED;
        pruned += r->status == MLOPT_TRIAL_PRUNED;
        failed += r->status == MLOPT_TRIAL_FAILED;
        int ok = r->status == MLOPT_TRIAL_COMPLETED && feasible(c, r) && r->checkpoint[0];
        acc[i] = ok ? r->final_acc : NAN;
        cost[i] = ok ? cost_of(c, r) : NAN;
        if (ok && isfinite(acc[i]) && (best < 0 || acc[i] > acc[best]))
            best = i;
    }
    int nf = mlopt_pareto_front(acc, cost, n, front);
    char dir[1100], path[1200], fpath[1200];
    snprintf(dir, sizeof dir, "%s/front", c->out);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        fprintf(stderr, "mlopt search: cannot create %s: %s\n", dir, strerror(errno));
    snprintf(fpath, sizeof fpath, "%s/front.json", c->out);
    FILE *fj = fopen(fpath, "w");
    if (fj)
        fprintf(fj, "{\"cost\":\"%s\",\"front\":[", c->cost);
    int k = 0;
    if (!G.json)
        printf("%d trials: %d completed, %d pruned, %d failed; %lld trial-epochs\n"
               "Pareto front (val accuracy vs %s), %d models:\n", n, completed, pruned, failed, trial_epochs,
               c->cost, nf);
    for (int i = 0; i < n; i++) {
        if (!front[i])
            continue;
        const mlopt_trial_record *r = &d.trials[i];
        snprintf(path, sizeof path, "%s/trial-%d.safetensors", dir, r->id);
        if (copy_file(r->checkpoint, path))
            fprintf(stderr, "mlopt search: cannot copy %s to %s\n", r->checkpoint, path);
        if (!G.json)
        {
            printf("  trial %-4d val %.2f%%", r->id, 100 * r->final_acc);
            if (isfinite(r->test_acc))
                printf(" test %.2f%%", 100 * r->test_acc);
            printf("  params %.0f  FLOPs %.3g", r->params_count, r->flops);
            if (isfinite(r->latency_ms))
                printf("  latency %.3f ms", r->latency_ms);
            printf("  %s\n", r->spec);
        }
        if (fj) {
            char sp[1200];
            mlopt_json_escape(r->spec, sp, sizeof sp);
            char lat[32], ta[32], ck[1300];
            snprintf(lat, sizeof lat, isfinite(r->latency_ms) ? "%.6g" : "null", r->latency_ms);
            snprintf(ta, sizeof ta, isfinite(r->test_acc) ? "%.6f" : "null", r->test_acc);
            mlopt_json_escape(path, ck, sizeof ck);
            fprintf(fj, "%s{\"trial\":%d,\"val_acc\":%.6f,\"cost\":%.9g,\"params\":%.0f,\"flops\":%.0f,"
                        "\"latency_ms\":%s,\"test_acc\":%s,\"arch\":%s,\"checkpoint\":%s}",
                    k++ ? "," : "", r->id, r->final_acc, cost[i], r->params_count, r->flops, lat, ta, sp, ck);
        }
    }
    if (fj) {
        fprintf(fj, "]}\n");
        fclose(fj);
    }
    if (best >= 0) {
        snprintf(path, sizeof path, "%s/best.safetensors", c->out);
        copy_file(d.trials[best].checkpoint, path);
    }
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "search");
        json_str(&j, "journal", journal);
        json_int(&j, "trials", n);
        json_int(&j, "completed", completed);
        json_int(&j, "pruned", pruned);
        json_int(&j, "failed", failed);
        json_int(&j, "trial_epochs", trial_epochs);
        json_int(&j, "front_size", nf);
        json_str(&j, "front", fpath);
        if (best >= 0) {
            json_int(&j, "best_trial", d.trials[best].id);
            json_num(&j, "best_val_accuracy", acc[best]);
            json_num(&j, "best_cost", cost[best]);
            json_str(&j, "best_arch", d.trials[best].spec);
        }
        json_end(&j);
    } else if (best >= 0) {
        printf("best: trial %d, val acc %.2f%%, %s %.4g %s, %s\n", d.trials[best].id, 100 * acc[best], c->cost,
               cost[best], cost_unit(c), d.trials[best].spec);
    }
    free(acc), free(cost), free(front);
    mlopt_journal_data_free(&d);
    return 0;
}

int cmd_search(int argc, char **argv)
{
    search_cfg c = { .strategy = "evolution", .out = "mlopt-search", .cost = "params", .objective = "pareto",
                     .optimizer = "sgd", .schedule = "cosine", .scheduler = "asha", .trials = 30, .seed = 1,
                     .jobs = 1, .val = 5000, .population = 10, .sample = 3, .eta = 3, .min_epochs = 1,
                     .max_epochs = 9, .brackets = 1, .batch = 64, .latency_batch = 256, .latency_repeats = 10,
                     .worker = -1, .lr = 0.01f, .momentum = 0.9f };
    cli_option opts[] = {
        { "space", OPT_STRING, &c.space_file, "FILE", "architecture space file (see docs/search.md)", 0, 0 },
        { "strategy", OPT_STRING, &c.strategy, "NAME", "evolution (regularized/aging, default) or random", 0, 0 },
        { "trials", OPT_INT, &c.trials, "N", "number of architectures tried (default 30)", 1, 0 },
        { "population", OPT_INT, &c.population, "P", "evolution: population size (default 10)", 2, 0 },
        { "sample", OPT_INT, &c.sample, "S", "evolution: tournament sample size (default 3)", 1, 0 },
        { "include", OPT_STRING, &c.include, "ARCH", "trial 0 is this architecture, e.g. the seed CNN "
                                                    "conv=32x3:relu,64x3:relu;linear=128:relu;bn=0;pad=valid", 0, 0 },
        { "objective", OPT_STRING, &c.objective, "NAME", "pareto (default: accuracy vs cost) or accuracy", 0, 0 },
        { "cost", OPT_STRING, &c.cost, "NAME", "params (default), flops or latency (measured)", 0, 0 },
        { "latency-batch", OPT_INT, &c.latency_batch, "N", "batch of the latency measurement (default 256)", 1, 0 },
        { "latency-repeats", OPT_INT, &c.latency_repeats, "N", "forwards timed, median taken (default 10)", 1, 0 },
        { "max-latency-ms", OPT_FLOAT, &c.max_latency_ms, "X", "reject models slower than this", 0, 0 },
        { "max-params", OPT_FLOAT, &c.max_params, "N", "reject models with more parameters", 0, 0 },
        { "max-flops", OPT_FLOAT, &c.max_flops, "N", "reject models with more FLOPs per image", 0, 0 },
        { "seed", OPT_INT, &c.seed, "N", "seed (default 1)", 0, 0 },
        { "jobs", OPT_INT, &c.jobs, "N", "trials in parallel processes (default 1)", 1, 0 },
        { "out", OPT_STRING, &c.out, "DIR", "output directory (default mlopt-search); the same DIR resumes", 0, 0 },
        { "data", OPT_STRING, &c.data, "DIR", "IDX dataset directory", 0, 0 },
        { "val", OPT_INT, &c.val, "N", "validation samples held out of the training split (default 5000)", 1, 0 },
        { "limit", OPT_INT, &c.limit, "N", "train on only the first N remaining samples", 0, 0 },
        { "test", OPT_FLAG, &c.test, NULL, "also evaluate completed trials on the test split", 0, 0 },
        { "test-limit", OPT_INT, &c.test_limit, "N", "use only the first N test samples", 0, 0 },
        { "scheduler", OPT_STRING, &c.scheduler, "NAME", "asha (successive halving, default) or none", 0, 0 },
        { "eta", OPT_INT, &c.eta, "N", "reduction factor (default 3)", 2, 0 },
        { "min-epochs", OPT_INT, &c.min_epochs, "N", "minimum epochs before a trial can be stopped (default 1)", 1, 0 },
        { "max-epochs", OPT_INT, &c.max_epochs, "N", "epochs of a full trial (default 9)", 1, 0 },
        { "brackets", OPT_INT, &c.brackets, "N", "Hyperband brackets (default 1)", 1, 0 },
        { "bootstrap", OPT_INT, &c.bootstrap, "N",
          "ASHA: the first N trials to reach a rung stop there (Optuna's bootstrap_count; default 0)", 0, 0 },
        { "batch", OPT_INT, &c.batch, "N", "training batch (default 64)", 1, 0 },
        { "optimizer", OPT_STRING, &c.optimizer, "NAME", "sgd (default), adam, adamw", 0, 0 },
        { "lr", OPT_FLOAT, &c.lr, "X", "learning rate (default 0.01)", 0, 0 },
        { "momentum", OPT_FLOAT, &c.momentum, "X", "SGD momentum (default 0.9)", 0, 0 },
        { "weight-decay", OPT_FLOAT, &c.weight_decay, "X", "weight decay (default 0)", 0, 0 },
        { "schedule", OPT_STRING, &c.schedule, "NAME", "cosine (default), step, constant", 0, 0 },
        { "time-budget", OPT_FLOAT, &c.time_budget, "SECONDS",
          "wall-clock budget: no trial starts after it, running ones stop at an epoch boundary (default: none)", 0,
          0 },
        { "worker", OPT_INT, &c.worker, "ID", "run only trial ID (for an external scheduler), then exit", 0, 0 },
        { "quiet", OPT_FLAG, &c.quiet, NULL, "no per-trial lines on stderr", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("search", argc, argv, opts, pos, 0, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt search [--strategy=evolution] [--cost=latency] [--max-latency-ms=X] [--out=DIR] [options]",
                  "Search CNN architectures (1-3 conv stages, widths, kernels, linear layers, activations, "
                  "batch-norm) for validation accuracy and a cost: parameters, FLOPs or inference latency measured "
                  "on the selected backend. Writes the Pareto front's checkpoints to DIR/front/, the most accurate "
                  "feasible model to DIR/best.safetensors, every trial to DIR/journal.jsonl (resumable).", opts);
        return 0;
    }
    if ((strcmp(c.strategy, "evolution") && strcmp(c.strategy, "random")) ||
        (strcmp(c.cost, "params") && strcmp(c.cost, "flops") && strcmp(c.cost, "latency")) ||
        (strcmp(c.objective, "pareto") && strcmp(c.objective, "accuracy")) ||
        (strcmp(c.scheduler, "asha") && strcmp(c.scheduler, "none"))) {
        fprintf(stderr, "mlopt search: --strategy evolution|random, --cost params|flops|latency, --objective "
                        "pareto|accuracy, --scheduler asha|none\n");
        return 2;
    }
    if (c.sample > c.population) {
        fprintf(stderr, "mlopt search: --sample must not exceed --population\n");
        return 2;
    }
    search_ctx t;
    memset(&t, 0, sizeof t);
    t.c = &c;
    mlopt_arch_space_default(&t.space);
    if (c.space_file) {
        FILE *f = fopen(c.space_file, "rb");
        if (!f) {
            fprintf(stderr, "mlopt search: --space %s: %s\n", c.space_file, strerror(errno));
            return 2;
        }
        char text[8192];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        if (mlopt_arch_space_parse(text, c.space_file, &t.space) != MLOPT_OK) {
            fprintf(stderr, "mlopt search: %s\n", mlopt_last_error());
            return 2;
        }
    }
    mlopt_dataset *train = NULL, *val = NULL, *test = NULL;
    int rc = 1;
    if (search_load_data("search", c.data, c.val, c.limit, c.test_limit, c.test, (uint64_t)c.seed, &train, &val,
                         &test, &t.env.mean, &t.env.std))
        goto out;
    int ic;
    mlopt_dataset_shape(train, &ic, &t.in_h, &t.in_w);
    t.classes = mlopt_dataset_classes(train);
    if (c.include) {
        mlopt_arch a;
        if (mlopt_arch_parse(&t.space, c.include, &a) != MLOPT_OK || !mlopt_arch_valid(&a, t.in_h, t.in_w)) {
            fprintf(stderr, "mlopt search: --include: %s\n", mlopt_last_error());
            goto out;
        }
    }
    if (mkdir(c.out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mlopt search: cannot create %s: %s\n", c.out, strerror(errno));
        goto out;
    }
    char journal[1024], ckdir[1024], exp[2048];
    snprintf(journal, sizeof journal, "%s/journal.jsonl", c.out);
    snprintf(ckdir, sizeof ckdir, "%s/trials", c.out);
    t.env.backend = G.backend;
    t.env.device = G.device;
    t.env.train = train;
    t.env.val = val;
    t.env.test = test;
    t.env.checkpoint_dir = ckdir;
    t.env.measure_latency = strcmp(c.cost, "latency") == 0;
    t.env.latency_batch = c.latency_batch;
    t.env.latency_repeats = c.latency_repeats;
    t.env.max_latency_ms = c.max_latency_ms;
    t.env.max_params = c.max_params;
    t.env.max_flops = c.max_flops;
    int threads = G.threads;
    if (!threads && getenv("MLOPT_NUM_THREADS"))
        threads = atoi(getenv("MLOPT_NUM_THREADS"));
    if (c.jobs > 1) {
        if (!threads)
            threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
        threads = threads / c.jobs > 0 ? threads / c.jobs : 1;
    }
    snprintf(exp, sizeof exp,
             "{\"type\":\"experiment\",\"kind\":\"search\",\"strategy\":\"%s\",\"objective\":\"%s\",\"cost\":\"%s\","
             "\"seed\":%d,\"trials\":%d,\"population\":%d,\"sample\":%d,\"eta\":%d,\"bootstrap\":%d,"
             "\"min_epochs\":%d,\"max_epochs\":%d,\"latency_batch\":%d,\"max_latency_ms\":%g,\"max_params\":%g,"
             "\"max_flops\":%g,\"backend\":\"%s\"}",
             c.strategy, c.objective, c.cost, c.seed, c.trials, c.population, c.sample, c.eta, c.bootstrap,
             c.min_epochs, c.max_epochs, c.latency_batch, (double)c.max_latency_ms, (double)c.max_params,
             (double)c.max_flops,
             G.backend ? G.backend : "");
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
        report_failure("search", "the search", s);
        goto out;
    }
    rc = c.worker >= 0 ? 0 : finish(&t, journal);
out:
    mlopt_dataset_destroy(train);
    mlopt_dataset_destroy(val);
    mlopt_dataset_destroy(test);
    return rc;
}
