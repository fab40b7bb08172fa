/* The experiment journal: JSON lines appended atomically, read back into
 * per-trial records for resuming and reporting. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io/json.h"
#include "mlopt/search.h"

struct mlopt_journal {
    int fd;
    char path[1024];
};

const char *mlopt_trial_status_name(mlopt_trial_status s)
{
    switch (s) {
    case MLOPT_TRIAL_RUNNING: return "running";
    case MLOPT_TRIAL_COMPLETED: return "completed";
    case MLOPT_TRIAL_PRUNED: return "pruned";
    case MLOPT_TRIAL_FAILED: return "failed";
    }
    return "unknown";
}

void mlopt_json_escape(const char *s, char *buf, size_t len)
{
    size_t u = 0;
    if (len < 3) {
        if (len)
            buf[0] = 0;
        return;
    }
    buf[u++] = '"';
    for (; *s && u + 8 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[u++] = '\\';
            buf[u++] = (char)c;
        } else if (c == '\n') {
            buf[u++] = '\\', buf[u++] = 'n';
        } else if (c < 0x20) {
            u += (size_t)snprintf(buf + u, len - u, "\\u%04x", c);
        } else {
            buf[u++] = (char)c;
        }
    }
    buf[u++] = '"';
    buf[u] = 0;
}

mlopt_status mlopt_journal_open(const char *path, mlopt_journal **out, long *dropped)
{
    if (dropped)
        *dropped = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return mlopt_set_error(MLOPT_E_IO, "journal %s: %s", path, strerror(errno));
    /* A crash in the middle of a write leaves a partial last line: cut it
     * off so that the next record starts on a line of its own. */
    off_t size = lseek(fd, 0, SEEK_END);
    if (size > 0) {
        off_t pos = size;
        char buf[4096];
        int found = 0;
        while (pos > 0 && !found) {
            off_t start = pos > (off_t)sizeof buf ? pos - (off_t)sizeof buf : 0;
            ssize_t n = pread(fd, buf, (size_t)(pos - start), start);
            if (n != pos - start) {
                close(fd);
                return mlopt_set_error(MLOPT_E_IO, "journal %s: read failed", path);
            }
            for (ssize_t i = n - 1; i >= 0; i--)
                if (buf[i] == '\n') {
                    pos = start + i + 1;
                    found = 1;
                    break;
                }
            if (!found)
                pos = start;
        }
        if (pos != size) {
            if (ftruncate(fd, pos) != 0) {
                close(fd);
                return mlopt_set_error(MLOPT_E_IO, "journal %s: cannot cut its partial last line: %s", path,
                                       strerror(errno));
            }
            if (dropped)
                *dropped = (long)(size - pos);
        }
    }
    mlopt_journal *j = calloc(1, sizeof *j);
    if (!j) {
        close(fd);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    j->fd = fd;
    snprintf(j->path, sizeof j->path, "%s", path);
    *out = j;
    return MLOPT_OK;
}

mlopt_status mlopt_journal_append(mlopt_journal *j, const char *json_object)
{
    size_t n = strlen(json_object);
    char *line = malloc(n + 2);
    if (!line)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    memcpy(line, json_object, n);
    line[n] = '\n';
    /* One write() per line on an O_APPEND descriptor: concurrent trial
     * processes never interleave within a line. */
    ssize_t w = write(j->fd, line, n + 1);
    free(line);
    if (w != (ssize_t)(n + 1))
        return mlopt_set_error(MLOPT_E_IO, "journal %s: write failed: %s", j->path, w < 0 ? strerror(errno) : "short");
    if (fsync(j->fd) != 0 && errno != EINVAL)
        return mlopt_set_error(MLOPT_E_IO, "journal %s: fsync failed: %s", j->path, strerror(errno));
    return MLOPT_OK;
}

void mlopt_journal_close(mlopt_journal *j)
{
    if (!j)
        return;
    close(j->fd);
    free(j);
}

/* ---- reading ---- */

static double num(const mlopt_json *o, const char *key)
{
    const mlopt_json *v = mlopt_json_get(o, key);
    return v && v->type == MLOPT_JSON_NUMBER ? strtod(v->text, NULL) : NAN;
}

static const char *str(const mlopt_json *o, const char *key)
{
    const mlopt_json *v = mlopt_json_get(o, key);
    return v && v->type == MLOPT_JSON_STRING ? v->text : NULL;
}

/* Re-serialize a flat object (string / number / bool / null values). */
static void flat_object(const mlopt_json *o, char *buf, size_t len)
{
    size_t u = 0;
    u += (size_t)snprintf(buf, len, "{");
    for (size_t i = 0; o && o->type == MLOPT_JSON_OBJECT && i < o->count && u < len; i++) {
        const mlopt_json *v = &o->items[i];
        char k[128], val[512];
        mlopt_json_escape(v->key, k, sizeof k);
        if (v->type == MLOPT_JSON_STRING)
            mlopt_json_escape(v->text, val, sizeof val);
        else if (v->type == MLOPT_JSON_NUMBER)
            snprintf(val, sizeof val, "%s", v->text);
        else
            snprintf(val, sizeof val, "%s", v->type == MLOPT_JSON_TRUE ? "true" : v->type == MLOPT_JSON_FALSE ? "false" : "null");
        u += (size_t)snprintf(buf + u, u < len ? len - u : 0, "%s%s:%s", i ? "," : "", k, val);
    }
    if (u < len)
        snprintf(buf + u, len - u, "}");
}

static void reset_trial(mlopt_trial_record *t, int id)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->final_acc = t->test_acc = t->params_count = t->flops = t->latency_ms = NAN;
    for (int e = 0; e < MLOPT_TRIAL_MAX_EPOCHS; e++)
        t->val_acc[e] = t->val_loss[e] = t->train_acc[e] = t->train_loss[e] = NAN;
}

static mlopt_trial_record *get_trial(mlopt_journal_data *d, int id, int *cap)
{
    for (int i = 0; i < d->ntrials; i++)
        if (d->trials[i].id == id)
            return &d->trials[i];
    if (d->ntrials == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        mlopt_trial_record *t = realloc(d->trials, (size_t)nc * sizeof *t);
        if (!t)
            return NULL;
        d->trials = t, *cap = nc;
    }
    mlopt_trial_record *t = &d->trials[d->ntrials++];
    reset_trial(t, id);
    return t;
}

static int cmp_id(const void *a, const void *b)
{
    return ((const mlopt_trial_record *)a)->id - ((const mlopt_trial_record *)b)->id;
}

static void warnf(void (*warn)(void *, const char *), void *user, const char *fmt, ...) MLOPT_PRINTF(3, 4);
#include <stdarg.h>
static void warnf(void (*warn)(void *, const char *), void *user, const char *fmt, ...)
{
    if (!warn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warn(user, msg);
}

mlopt_status mlopt_journal_read(const char *path, mlopt_journal_data *out,
                                void (*warn)(void *user, const char *message), void *user)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return MLOPT_OK;
        return mlopt_set_error(MLOPT_E_IO, "journal %s: %s", path, strerror(errno));
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text) {
        fclose(f);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    text[got] = 0;
    int cap = 0;
    long long lineno = 0;
    char *p = text;
    mlopt_status st = MLOPT_OK;
    while (*p && st == MLOPT_OK) {
        char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        lineno++;
        char *line = p;
        p += len + (e ? 1 : 0);
        if (len == 0)
            continue;
        if (!e) {
            warnf(warn, user, "%s:%lld: truncated last line (%zu bytes, no newline) skipped", path, lineno, len);
            out->bad_lines++;
            break;
        }
        mlopt_json *v = NULL;
        char err[256];
        if (mlopt_json_parse(line, len, &v, err, sizeof err) != MLOPT_OK || v->type != MLOPT_JSON_OBJECT) {
            warnf(warn, user, "%s:%lld: malformed line skipped (%s)", path, lineno, v ? "not an object" : err);
            mlopt_json_free(v);
            out->bad_lines++;
            continue;
        }
        const char *type = str(v, "type");
        double idv = num(v, "id");
        if (type && strcmp(type, "experiment") == 0) {
            if (len < sizeof out->experiment) {
                memcpy(out->experiment, line, len);
                out->experiment[len] = 0;
            }
        } else if (type && isfinite(idv) && (strcmp(type, "start") == 0 || strcmp(type, "epoch") == 0 ||
                                             strcmp(type, "end") == 0)) {
            mlopt_trial_record *t = get_trial(out, (int)idv, &cap);
            if (!t) {
                st = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
            } else if (type[0] == 's') {
                reset_trial(t, (int)idv); /* a re-run after an interruption */
                t->order = lineno;
                flat_object(mlopt_json_get(v, "params"), t->params, sizeof t->params);
                const char *spec = str(v, "spec");
                snprintf(t->spec, sizeof t->spec, "%s", spec ? spec : "");
            } else if (type[1] == 'p') {
                int ep = (int)num(v, "epoch");
                if (ep >= 1 && ep <= MLOPT_TRIAL_MAX_EPOCHS) {
                    t->val_acc[ep - 1] = num(v, "val_acc");
                    t->val_loss[ep - 1] = num(v, "val_loss");
                    t->train_acc[ep - 1] = num(v, "train_acc");
                    t->train_loss[ep - 1] = num(v, "train_loss");
                    t->epoch_line[ep - 1] = lineno;
                    if (ep > t->epochs)
                        t->epochs = ep;
                }
            } else {
                const char *status = str(v, "status");
                t->status = !status                              ? MLOPT_TRIAL_FAILED
                            : strcmp(status, "completed") == 0 ? MLOPT_TRIAL_COMPLETED
                            : strcmp(status, "pruned") == 0    ? MLOPT_TRIAL_PRUNED
                                                               : MLOPT_TRIAL_FAILED;
                t->final_acc = num(v, "val_acc");
                t->test_acc = num(v, "test_acc");
                t->params_count = num(v, "params");
                t->flops = num(v, "flops");
                t->latency_ms = num(v, "latency_ms");
                const char *ck = str(v, "checkpoint"), *why = str(v, "reason");
                snprintf(t->checkpoint, sizeof t->checkpoint, "%s", ck ? ck : "");
                snprintf(t->reason, sizeof t->reason, "%s", why ? why : "");
            }
        } else {
            warnf(warn, user, "%s:%lld: unknown record skipped", path, lineno);
            out->bad_lines++;
        }
        mlopt_json_free(v);
    }
    free(text);
    if (st != MLOPT_OK) {
        mlopt_journal_data_free(out);
        return st;
    }
    if (out->ntrials > 1)
        qsort(out->trials, (size_t)out->ntrials, sizeof *out->trials, cmp_id);
    return MLOPT_OK;
}

void mlopt_journal_data_free(mlopt_journal_data *d)
{
    free(d->trials);
    memset(d, 0, sizeof *d);
}

const mlopt_trial_record *mlopt_journal_find(const mlopt_journal_data *d, int id)
{
    for (int i = 0; i < d->ntrials; i++)
        if (d->trials[i].id == id)
            return &d->trials[i];
    return NULL;
}

const mlopt_trial_record *mlopt_journal_find_spec(const mlopt_journal_data *d, const char *spec)
{
    for (int i = 0; i < d->ntrials; i++)
        if (strcmp(d->trials[i].spec, spec) == 0)
            return &d->trials[i];
    return NULL;
}
