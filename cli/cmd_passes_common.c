/* Shared by mlopt prune / layers / compare-activations (see passes_cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "passes_cli.h"

void pass_opts_default(pass_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->seed = 1;
    o->lr = 0.01f;
    o->reps = 15;
}

void pass_close(pass_env *e)
{
    mlopt_model_destroy(e->model);
    mlopt_dataset_destroy(e->train);
    mlopt_dataset_destroy(e->test);
    mlopt_checkpoint_close(e->ck);
    mlopt_context_destroy(e->ctx);
    memset(e, 0, sizeof *e);
}

int pass_open(const char *cmd, const char *ckpt, const pass_opts *o, pass_env *e)
{
    memset(e, 0, sizeof *e);
    e->cmd = cmd;
    e->ckpt_path = ckpt;
    mlopt_status s = mlopt_checkpoint_open(ckpt, &e->ck);
    if (s != MLOPT_OK)
        return report_failure(cmd, "reading the checkpoint", s);
    if ((s = mlopt_dataset_load(o->data, "t10k", &e->test)) != MLOPT_OK ||
        (s = mlopt_dataset_load(o->data, "train", &e->train)) != MLOPT_OK) {
        pass_close(e);
        return report_failure(cmd, "loading the data", s);
    }
    if (o->test_limit > 0)
        mlopt_dataset_truncate(e->test, o->test_limit);
    /* Normalize as the model was trained: the training set's statistics. */
    mlopt_dataset_stats(e->train, &e->mean, &e->std);
    const char *norm = mlopt_checkpoint_meta(e->ck, "train.norm");
    if (norm)
        sscanf(norm, "%f,%f", &e->mean, &e->std);
    if (open_context(cmd, &e->ctx)) {
        pass_close(e);
        return 1;
    }
    int loaded;
    if ((s = mlopt_checkpoint_model(e->ck, e->ctx, &e->model)) != MLOPT_OK ||
        (s = mlopt_masks_load(ckpt, e->model, &loaded)) != MLOPT_OK ||
        (mlopt_checkpoint_meta(e->ck, "mlopt.sparse") && (s = mlopt_masks_from_zeros(e->model)) != MLOPT_OK)) {
        pass_close(e);
        return report_failure(cmd, "loading the model", s);
    }
    return 0;
}

int pass_measure_model(pass_env *e, mlopt_model *m, const pass_opts *o, pass_measure *out)
{
    (void)o;
    memset(out, 0, sizeof *out);
    mlopt_status s = mlopt_model_summarize(m, &out->sum);
    if (s == MLOPT_OK)
        s = mlopt_evaluate(m, e->test, e->mean, e->std, 256, &out->loss, &out->accuracy);
    if (s != MLOPT_OK)
        return report_failure(e->cmd, "measuring the model", s);
    return 0;
}

int pass_finetune(pass_env *e, const pass_opts *o, mlopt_step_hook hook, void *user, int epochs)
{
    if (epochs <= 0)
        return 0;
    mlopt_finetune_config c;
    memset(&c, 0, sizeof c);
    c.epochs = epochs;
    c.batch = o->batch;
    c.lr = o->lr;
    c.seed = (uint64_t)o->seed;
    c.mean = e->mean;
    c.std = e->std;
    c.limit = o->finetune_limit;
    c.before_step = hook;
    c.user = user;
    double loss;
    double t0 = now_seconds();
    mlopt_status s = mlopt_finetune(e->model, e->train, &c, &loss);
    if (s != MLOPT_OK)
        return report_failure(e->cmd, "fine-tuning", s);
    if (!G.json)
        fprintf(stderr, "fine-tuned %d epoch(s) in %.1f s: train loss %.4f\n", epochs, now_seconds() - t0, loss);
    return 0;
}

int pass_save(pass_env *e, const pass_opts *o, int flags, const char *description)
{
    const char *prev = mlopt_checkpoint_meta(e->ck, "passes.history");
    char history[2048], norm[64];
    snprintf(history, sizeof history, "%s%s%s", prev ? prev : "", prev ? "; " : "", description);
    snprintf(norm, sizeof norm, "%.9g,%.9g", (double)e->mean, (double)e->std);
    mlopt_meta meta[3] = { { "train.norm", norm }, { "passes.history", history }, { "mlopt.version", mlopt_version() } };
    mlopt_status s = mlopt_passes_save(o->out, e->model, meta, 3, flags);
    if (s != MLOPT_OK)
        return report_failure(e->cmd, "writing the checkpoint", s);
    return 0;
}

static long long file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void json_measure(json_out *j, const char *prefix, const pass_measure *m)
{
    char k[64];
#define K(name) (snprintf(k, sizeof k, "%s_%s", prefix, name), k)
    json_int(j, K("params"), (long long)m->sum.params);
    json_int(j, K("nonzeros"), (long long)m->sum.nonzeros);
    json_int(j, K("flops"), (long long)m->sum.flops);
    json_int(j, K("sparse_flops"), (long long)m->sum.sparse_flops);
    json_int(j, K("checkpoint_bytes"), m->bytes);
    json_num(j, K("latency_ms"), m->latency_ms);
    json_num(j, K("accuracy"), m->accuracy);
#undef K
}

int pass_finish(pass_env *e, const pass_opts *o, pass_measure *before, pass_measure *after, const char *description,
                void (*extra_json)(json_out *j, void *user), void *user)
{
    mlopt_model *orig;
    mlopt_status s = mlopt_checkpoint_model(e->ck, e->ctx, &orig);
    if (s != MLOPT_OK)
        return report_failure(e->cmd, "reloading the original model", s);
    /* Alternate short runs of both models so that load changes on a shared
     * machine hit both alike; report the median of all runs. */
    int rounds = 5, per = (o->reps + rounds - 1) / rounds;
    double tb[64], ta[64];
    for (int r = 0; r < rounds && s == MLOPT_OK; r++) {
        s = mlopt_model_latency(orig, 256, per, &tb[r]);
        if (s == MLOPT_OK)
            s = mlopt_model_latency(e->model, 256, per, &ta[r]);
    }
    mlopt_model_destroy(orig);
    if (s != MLOPT_OK)
        return report_failure(e->cmd, "timing inference", s);
    qsort(tb, (size_t)rounds, sizeof *tb, cmp_double);
    qsort(ta, (size_t)rounds, sizeof *ta, cmp_double);
    before->latency_ms = tb[rounds / 2];
    after->latency_ms = ta[rounds / 2];
    before->bytes = file_bytes(e->ckpt_path);
    after->bytes = file_bytes(o->out);
    const mlopt_backend *be = mlopt_context_backend(e->ctx);
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", e->cmd);
        json_str(&j, "pass", description);
        json_str(&j, "checkpoint", e->ckpt_path);
        json_str(&j, "out", o->out);
        json_backend(&j, e->ctx);
        json_measure(&j, "before", before);
        json_measure(&j, "after", after);
        json_num(&j, "speedup", after->latency_ms > 0 ? before->latency_ms / after->latency_ms : 0);
        json_num(&j, "accuracy_drop_points", 100 * (before->accuracy - after->accuracy));
        if (extra_json)
            extra_json(&j, user);
        json_end(&j);
        return 0;
    }
    printf("%s: %s\n", e->cmd, description);
    printf("%-34s %14s %14s %9s\n", "", "before", "after", "ratio");
#define ROW(label, b, a, fmt)                                                                         \
    printf("%-34s " fmt " " fmt " %8.2fx\n", label, b, a, (double)(a) != 0 ? (double)(b) / (double)(a) : 0.0)
    ROW("parameters", (long long)before->sum.params, (long long)after->sum.params, "%14lld");
    ROW("non-zero parameters", (long long)before->sum.nonzeros, (long long)after->sum.nonzeros, "%14lld");
    ROW("FLOPs / image (dense)", (long long)before->sum.flops, (long long)after->sum.flops, "%14lld");
    ROW("FLOPs / image (non-zero weights)", (long long)before->sum.sparse_flops, (long long)after->sum.sparse_flops,
        "%14lld");
    ROW("checkpoint bytes", before->bytes, after->bytes, "%14lld");
    char lat[64];
    snprintf(lat, sizeof lat, "latency batch 256, %s (ms)", be->name);
    ROW(lat, before->latency_ms, after->latency_ms, "%14.2f");
#undef ROW
    printf("%-34s %13.2f%% %13.2f%% %+8.2f pt\n", "test accuracy", 100 * before->accuracy, 100 * after->accuracy,
           100 * (after->accuracy - before->accuracy));
    printf("saved %s\n", o->out);
    return 0;
}
