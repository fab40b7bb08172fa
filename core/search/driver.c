/* The experiment driver: trial bookkeeping through the journal, resume,
 * parallel trial processes, and ASHA decisions shared via the journal. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "mlopt/search.h"

struct mlopt_driver {
    const mlopt_driver_config *cfg;
    mlopt_journal *journal;
    double deadline; /* monotonic seconds; 0 = no time budget (shared by forked workers) */
};

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int budget_spent(const mlopt_driver *d)
{
    return d->deadline > 0 && monotonic_seconds() >= d->deadline;
}

static void logf_(const mlopt_driver_config *cfg, const char *fmt, ...) MLOPT_PRINTF(2, 3);
static void logf_(const mlopt_driver_config *cfg, const char *fmt, ...)
{
    if (!cfg->log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg->log(cfg->user, msg);
}

static void warn_cb(void *user, const char *msg)
{
    const mlopt_driver_config *cfg = user;
    logf_(cfg, "warning: %s", msg);
}

/* A JSON number, or null for NaN/Inf (JSON has neither). */
static void jnum(char *buf, size_t len, double v)
{
    if (isfinite(v))
        snprintf(buf, len, "%.9g", v);
    else
        snprintf(buf, len, "null");
}

int mlopt_driver_epoch(mlopt_driver_trial *t, const mlopt_epoch_metrics *m)
{
    mlopt_driver *d = t->driver;
    const mlopt_driver_config *cfg = d->cfg;
    char a[32], b[32], c[32], e[32], line[512];
    jnum(a, sizeof a, m->train_loss), jnum(b, sizeof b, m->train_acc), jnum(c, sizeof c, m->val_loss);
    jnum(e, sizeof e, m->val_acc);
    snprintf(line, sizeof line,
             "{\"type\":\"epoch\",\"id\":%d,\"epoch\":%d,\"train_loss\":%s,\"train_acc\":%s,\"val_loss\":%s,"
             "\"val_acc\":%s,\"seconds\":%.3f}",
             t->id, m->epoch, a, b, c, e, m->seconds);
    if (mlopt_journal_append(d->journal, line) != MLOPT_OK)
        return -1;
    t->epochs = m->epoch;
    t->val_acc = m->val_acc;
    if (budget_spent(d)) {
        snprintf(t->reason, sizeof t->reason, "time budget of %g s spent at epoch %d", cfg->time_budget_s, m->epoch);
        return 1;
    }
    if (!cfg->use_asha || m->epoch > MLOPT_TRIAL_MAX_EPOCHS)
        return 0;
    mlopt_asha *asha;
    if (mlopt_asha_create(&cfg->asha, &asha) != MLOPT_OK)
        return -1;
    int rung = mlopt_asha_is_rung(asha, t->bracket, m->epoch);
    mlopt_asha_destroy(asha);
    if (!rung)
        return 0;
    /* The rung's record is every value written at this epoch by trials of
     * this bracket, in journal order: the same for every worker process. */
    mlopt_journal_data data;
    if (mlopt_journal_read(cfg->journal_path, &data, NULL, NULL) != MLOPT_OK)
        return -1;
    int n = 0, position = -1;
    double *values = malloc((size_t)(data.ntrials + 1) * sizeof *values);
    long long *lines = malloc((size_t)(data.ntrials + 1) * sizeof *lines);
    if (!values || !lines) {
        free(values), free(lines);
        mlopt_journal_data_free(&data);
        return -1;
    }
    for (int i = 0; i < data.ntrials; i++) {
        const mlopt_trial_record *r = &data.trials[i];
        if (r->id % cfg->asha.brackets != t->bracket || r->epochs < m->epoch || !r->epoch_line[m->epoch - 1])
            continue;
        double v = r->val_acc[m->epoch - 1];
        long long ln = r->epoch_line[m->epoch - 1];
        int k = n++; /* insertion sort by journal line */
        while (k > 0 && lines[k - 1] > ln) {
            lines[k] = lines[k - 1];
            values[k] = values[k - 1];
            k--;
        }
        lines[k] = ln;
        values[k] = isfinite(v) ? v : -1.0;
    }
    for (int i = 0; i < data.ntrials; i++)
        if (data.trials[i].id == t->id && data.trials[i].epochs >= m->epoch)
            for (int k = 0; k < n; k++)
                if (lines[k] == data.trials[i].epoch_line[m->epoch - 1])
                    position = k;
    int keep = position < 0 ? 1 : mlopt_asha_rank_keep(values, n, position, cfg->asha.eta, cfg->asha.bootstrap);
    free(values), free(lines);
    mlopt_journal_data_free(&data);
    return keep ? 0 : 1;
}

static mlopt_status write_end(mlopt_driver *d, const mlopt_driver_trial *t)
{
    char va[32], ta[32], pa[32], fl[32], la[32], ck[600], why[600], line[2048];
    jnum(va, sizeof va, t->val_acc), jnum(ta, sizeof ta, t->test_acc), jnum(pa, sizeof pa, t->params);
    jnum(fl, sizeof fl, t->flops), jnum(la, sizeof la, t->latency_ms);
    mlopt_json_escape(t->checkpoint, ck, sizeof ck);
    mlopt_json_escape(t->reason, why, sizeof why);
    snprintf(line, sizeof line,
             "{\"type\":\"end\",\"id\":%d,\"status\":\"%s\",\"epochs\":%d,\"val_acc\":%s,\"test_acc\":%s,"
             "\"params\":%s,\"flops\":%s,\"latency_ms\":%s,\"checkpoint\":%s,\"reason\":%s}",
             t->id, mlopt_trial_status_name(t->status), t->epochs, va, ta, pa, fl, la, ck, why);
    return mlopt_journal_append(d->journal, line);
}

static void run_one(mlopt_driver *d, mlopt_driver_trial *t)
{
    const mlopt_driver_config *cfg = d->cfg;
    t->status = MLOPT_TRIAL_COMPLETED;
    t->val_acc = t->test_acc = t->params = t->flops = t->latency_ms = NAN;
    mlopt_status s = cfg->run(cfg->user, t);
    if (s != MLOPT_OK) {
        t->status = MLOPT_TRIAL_FAILED;
        snprintf(t->reason, sizeof t->reason, "%s", mlopt_last_error());
    }
    if (write_end(d, t) != MLOPT_OK)
        logf_(cfg, "trial %d: cannot write its end record: %s", t->id, mlopt_last_error());
    char acc[32];
    if (isfinite(t->val_acc))
        snprintf(acc, sizeof acc, "%.2f%%", 100 * t->val_acc);
    else
        snprintf(acc, sizeof acc, "-");
    logf_(cfg, "trial %d %s after %d epochs: val acc %s%s%s", t->id, mlopt_trial_status_name(t->status), t->epochs,
          acc, t->reason[0] ? " - " : "", t->reason);
}

typedef struct child {
    pid_t pid;
    int id;
} child;

/* After a worker exits: if it never wrote its end record (a crash), write
 * a "failed" one on its behalf. */
static void reap(mlopt_driver *d, child *kids, int *nkids, int block)
{
    const mlopt_driver_config *cfg = d->cfg;
    int status;
    pid_t pid = waitpid(-1, &status, block ? 0 : WNOHANG);
    if (pid <= 0)
        return;
    for (int k = 0; k < *nkids; k++) {
        if (kids[k].pid != pid)
            continue;
        int id = kids[k].id;
        kids[k] = kids[--*nkids];
        mlopt_journal_data data;
        if (mlopt_journal_read(cfg->journal_path, &data, NULL, NULL) != MLOPT_OK)
            return;
        const mlopt_trial_record *r = mlopt_journal_find(&data, id);
        if (r && r->status == MLOPT_TRIAL_RUNNING) {
            mlopt_driver_trial t;
            memset(&t, 0, sizeof t);
            t.id = id;
            t.status = MLOPT_TRIAL_FAILED;
            t.epochs = r->epochs;
            t.val_acc = t.test_acc = t.params = t.flops = t.latency_ms = NAN;
            if (WIFSIGNALED(status))
                snprintf(t.reason, sizeof t.reason, "worker process killed by signal %d", WTERMSIG(status));
            else
                snprintf(t.reason, sizeof t.reason, "worker process exited with status %d", WEXITSTATUS(status));
            write_end(d, &t);
            logf_(cfg, "trial %d failed: %s", id, t.reason);
        }
        mlopt_journal_data_free(&data);
        return;
    }
}

mlopt_status mlopt_driver_run(const mlopt_driver_config *cfg)
{
    if (cfg->trials < 1 || cfg->jobs < 1 || !cfg->propose || !cfg->run || !cfg->journal_path)
        return mlopt_set_error(MLOPT_E_INVALID, "driver: needs trials >= 1, jobs >= 1, propose, run, a journal path");
    mlopt_asha *check;
    if (cfg->use_asha) {
        mlopt_status s = mlopt_asha_create(&cfg->asha, &check);
        if (s != MLOPT_OK)
            return s;
        mlopt_asha_destroy(check);
    }
    if (!(cfg->time_budget_s >= 0))
        return mlopt_set_error(MLOPT_E_INVALID, "driver: the time budget must be >= 0 seconds");
    mlopt_driver d = { cfg, NULL, cfg->time_budget_s > 0 ? monotonic_seconds() + cfg->time_budget_s : 0 };
    long dropped = 0;
    mlopt_journal_data data;
    /* read first (to warn about a damaged last line), then open (cuts it) */
    mlopt_status s = mlopt_journal_read(cfg->journal_path, &data, warn_cb, (void *)cfg);
    if (s != MLOPT_OK)
        return s;
    int fresh = data.ntrials == 0 && !data.experiment[0];
    int done = 0;
    for (int i = 0; i < data.ntrials; i++)
        done += data.trials[i].status != MLOPT_TRIAL_RUNNING;
    if (!fresh && cfg->only_id < 0)
        logf_(cfg, "resuming from %s: %d trials finished, %d interrupted", cfg->journal_path, done,
              data.ntrials - done);
    mlopt_journal_data_free(&data);
    if ((s = mlopt_journal_open(cfg->journal_path, &d.journal, &dropped)) != MLOPT_OK)
        return s;
    if (dropped)
        logf_(cfg, "warning: %s: cut %ld bytes of a partial last line", cfg->journal_path, dropped);
    if (fresh && cfg->experiment_json && (s = mlopt_journal_append(d.journal, cfg->experiment_json)) != MLOPT_OK)
        goto out;
    child *kids = calloc((size_t)cfg->jobs, sizeof *kids);
    int nkids = 0, started = 0;
    if (!kids) {
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        goto out;
    }
    for (int id = 0; id < cfg->trials && s == MLOPT_OK; id++) {
        if (cfg->only_id >= 0 && id != cfg->only_id)
            continue;
        while (nkids >= cfg->jobs)
            reap(&d, kids, &nkids, 1);
        /* the first trial of an invocation always starts, so that every
         * run of the same command makes progress */
        if (started && budget_spent(&d)) {
            logf_(cfg, "time budget of %g s spent: trials %d..%d not started (run the same command again to go on)",
                  cfg->time_budget_s, id, cfg->trials - 1);
            break;
        }
        if ((s = mlopt_journal_read(cfg->journal_path, &data, NULL, NULL)) != MLOPT_OK)
            break;
        const mlopt_trial_record *r = mlopt_journal_find(&data, id);
        if (r && r->status != MLOPT_TRIAL_RUNNING) {
            mlopt_journal_data_free(&data);
            continue;
        }
        int running_elsewhere = 0;
        for (int k = 0; k < nkids; k++)
            running_elsewhere |= kids[k].id == id;
        if (running_elsewhere) {
            mlopt_journal_data_free(&data);
            continue;
        }
        char params[1024], spec[1024];
        if (r) { /* interrupted: run again with the same parameters */
            snprintf(params, sizeof params, "%s", r->params);
            snprintf(spec, sizeof spec, "%s", r->spec);
            logf_(cfg, "trial %d: re-running (interrupted before)", id);
        } else if ((s = cfg->propose(cfg->user, id, &data, params, sizeof params, spec, sizeof spec)) != MLOPT_OK) {
            mlopt_journal_data_free(&data);
            break;
        }
        mlopt_journal_data_free(&data);
        int bracket = cfg->use_asha ? id % cfg->asha.brackets : 0;
        char sp[1200], line[2600];
        mlopt_json_escape(spec, sp, sizeof sp);
        snprintf(line, sizeof line, "{\"type\":\"start\",\"id\":%d,\"bracket\":%d,\"params\":%s,\"spec\":%s}", id,
                 bracket, params[0] ? params : "{}", sp);
        if ((s = mlopt_journal_append(d.journal, line)) != MLOPT_OK)
            break;
        logf_(cfg, "trial %d started: %s %s", id, params, spec);
        started++;
        mlopt_driver_trial t;
        memset(&t, 0, sizeof t);
        t.id = id;
        t.bracket = bracket;
        t.threads = cfg->threads;
        t.params_json = params;
        t.spec = spec;
        t.driver = &d;
        if (cfg->jobs == 1) {
            run_one(&d, &t);
            continue;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            s = mlopt_set_error(MLOPT_E_IO, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            /* The worker: its own backend context is created inside run(). */
            run_one(&d, &t);
            fflush(NULL);
            _exit(t.status == MLOPT_TRIAL_FAILED ? 1 : 0);
        }
        kids[nkids].pid = pid;
        kids[nkids++].id = id;
    }
    while (nkids > 0)
        reap(&d, kids, &nkids, 1);
    free(kids);
out:
    mlopt_journal_close(d.journal);
    return s;
}
