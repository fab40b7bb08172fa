/* mlopt train: train a model on an IDX dataset, checkpoint every epoch,
 * resume exactly, log to TensorBoard. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "progress.h"

typedef struct train_cfg {
    const char *model, *activation, *data, *optimizer, *schedule, *out, *resume, *logdir;
    int epochs, batch, seed, nesterov, augment, val, limit, test_limit, step_size, quiet, stop_after;
    float lr, momentum, weight_decay, warmup_epochs, gamma, min_lr;
} train_cfg;

/* Hyperparameters stored in each checkpoint so that --resume continues the
 * same run: an option the user did not give again comes from there. */
typedef struct stored_opt {
    const char *key, *option;
} stored_opt;
static const stored_opt stored[] = {
    { "train.model", "model" },       { "train.activation", "activation" }, { "train.optimizer", "optimizer" },
    { "train.schedule", "schedule" }, { "train.epochs", "epochs" },         { "train.batch", "batch" },
    { "train.seed", "seed" },         { "train.nesterov", "nesterov" },     { "train.augment", "augment" },
    { "train.val", "val" },           { "train.limit", "limit" },           { "train.step_size", "step-size" },
    { "train.lr", "lr" },             { "train.momentum", "momentum" },     { "train.weight_decay", "weight-decay" },
    { "train.warmup_epochs", "warmup-epochs" }, { "train.gamma", "gamma" }, { "train.min_lr", "min-lr" },
};
#define NSTORED ((int)(sizeof stored / sizeof stored[0]))

static void option_text(const cli_option *o, char *buf, size_t len)
{
    switch (o->type) {
    case OPT_FLAG:
    case OPT_INT: snprintf(buf, len, "%d", *(int *)o->value); break;
    case OPT_FLOAT: snprintf(buf, len, "%.9g", (double)*(float *)o->value); break;
    case OPT_STRING: snprintf(buf, len, "%s", *(const char **)o->value ? *(const char **)o->value : ""); break;
    }
}

static int restore_option(cli_option *o, const char *v)
{
    char *end;
    switch (o->type) {
    case OPT_FLAG:
    case OPT_INT: *(int *)o->value = (int)strtol(v, &end, 10); return *end != 0;
    case OPT_FLOAT: *(float *)o->value = strtof(v, &end); return *end != 0;
    case OPT_STRING: *(const char **)o->value = v[0] ? v : NULL; return 0;
    }
    return 1;
}

static int parse_schedule(const train_cfg *c, mlopt_schedule *s, long long steps_per_epoch)
{
    memset(s, 0, sizeof *s);
    s->base_lr = c->lr;
    s->total_steps = steps_per_epoch * c->epochs;
    s->warmup_steps = (long long)(c->warmup_epochs * (float)steps_per_epoch);
    s->step_size = (long long)c->step_size * steps_per_epoch;
    s->gamma = c->gamma;
    s->min_lr = c->min_lr;
    if (strcmp(c->schedule, "constant") == 0)
        s->kind = MLOPT_SCHED_CONSTANT;
    else if (strcmp(c->schedule, "step") == 0)
        s->kind = MLOPT_SCHED_STEP;
    else if (strcmp(c->schedule, "cosine") == 0)
        s->kind = MLOPT_SCHED_COSINE;
    else {
        fprintf(stderr, "mlopt train: --schedule must be constant, step or cosine, got '%s'\n", c->schedule);
        return 2;
    }
    return 0;
}

static int parse_optimizer(const train_cfg *c, mlopt_optim_config *o)
{
    memset(o, 0, sizeof *o);
    o->lr = c->lr;
    o->momentum = c->momentum;
    o->nesterov = c->nesterov;
    o->weight_decay = c->weight_decay;
    if (strcmp(c->optimizer, "sgd") == 0)
        o->kind = MLOPT_OPTIM_SGD;
    else if (strcmp(c->optimizer, "adam") == 0)
        o->kind = MLOPT_OPTIM_ADAM;
    else if (strcmp(c->optimizer, "adamw") == 0)
        o->kind = MLOPT_OPTIM_ADAMW;
    else {
        fprintf(stderr, "mlopt train: --optimizer must be sgd, adam or adamw, got '%s'\n", c->optimizer);
        return 2;
    }
    if (c->lr <= 0 || c->momentum < 0 || c->momentum >= 1 || c->weight_decay < 0) {
        fprintf(stderr, "mlopt train: need --lr > 0, 0 <= --momentum < 1 and --weight-decay >= 0\n");
        return 2;
    }
    return 0;
}

typedef struct run_state {
    mlopt_context *ctx;
    mlopt_dataset *train, *test, *val;
    mlopt_model *model;
    mlopt_optimizer *opt;
    mlopt_trainer *trainer;
    mlopt_logger *log;
    mlopt_checkpoint *resume;
    mlopt_layer_spec *specs;
    float *images;
    int32_t *labels;
    int *order;
} run_state;

static void run_free(run_state *r)
{
    if (r->log)
        mlopt_logger_close(r->log);
    mlopt_trainer_destroy(r->trainer);
    mlopt_optimizer_destroy(r->opt);
    mlopt_model_destroy(r->model);
    mlopt_checkpoint_close(r->resume);
    mlopt_dataset_destroy(r->train);
    mlopt_dataset_destroy(r->test);
    mlopt_dataset_destroy(r->val);
    mlopt_context_destroy(r->ctx);
    free(r->specs);
    free(r->images);
    free(r->labels);
    free(r->order);
}

static int save_checkpoint(const train_cfg *c, cli_option *opts, run_state *r, int epoch, float mean, float std)
{
    char values[NSTORED][256];
    mlopt_meta meta[NSTORED + 4];
    int n = 0;
    for (int i = 0; i < NSTORED; i++) {
        option_text(args_find(opts, stored[i].option), values[i], sizeof values[i]);
        meta[n].key = stored[i].key;
        meta[n++].value = values[i];
    }
    char ep[32], st[32], norm[64];
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(st, sizeof st, "%lld", mlopt_optimizer_steps(r->opt));
    snprintf(norm, sizeof norm, "%.9g,%.9g", (double)mean, (double)std);
    meta[n].key = "train.epoch";
    meta[n++].value = ep;
    meta[n].key = "train.step";
    meta[n++].value = st;
    meta[n].key = "train.norm";
    meta[n++].value = norm;
    meta[n].key = "mlopt.version";
    meta[n++].value = mlopt_version();
    mlopt_status s = mlopt_checkpoint_save(c->out, r->model, r->opt, meta, n);
    if (s != MLOPT_OK)
        return report_failure("train", "writing the checkpoint", s);
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_cfg c = { .model = "seed-cnn", .optimizer = "sgd", .schedule = "cosine", .out = "mlopt-model.safetensors",
                    .epochs = 12, .batch = 64, .seed = 1, .lr = 0.01f, .momentum = 0.9f, .gamma = 0.1f,
                    .step_size = 0 };
    cli_option opts[] = {
        { "model", OPT_STRING, &c.model, "SPEC", "preset (seed-cnn, seed-cnn-deep:N, seed-cnn-bn) or spec file (default seed-cnn)", 0, 0 },
        { "activation", OPT_STRING, &c.activation, "NAME[:P]", "replace every activation, e.g. leaky_relu:0.01", 0, 0 },
        { "data", OPT_STRING, &c.data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)", 0, 0 },
        { "epochs", OPT_INT, &c.epochs, "N", "epochs (default 12)", 1, 0 },
        { "batch", OPT_INT, &c.batch, "N", "batch size (default 64)", 1, 0 },
        { "optimizer", OPT_STRING, &c.optimizer, "NAME", "sgd (default), adam or adamw", 0, 0 },
        { "lr", OPT_FLOAT, &c.lr, "X", "learning rate (default 0.01)", 0, 0 },
        { "momentum", OPT_FLOAT, &c.momentum, "X", "SGD momentum (default 0.9)", 0, 0 },
        { "nesterov", OPT_FLAG, &c.nesterov, NULL, "Nesterov momentum", 0, 0 },
        { "weight-decay", OPT_FLOAT, &c.weight_decay, "X", "weight decay (default 0)", 0, 0 },
        { "schedule", OPT_STRING, &c.schedule, "NAME", "LR schedule: cosine (default), step, constant", 0, 0 },
        { "warmup-epochs", OPT_FLOAT, &c.warmup_epochs, "X", "linear LR warm-up length in epochs (default 0)", 0, 0 },
        { "step-size", OPT_INT, &c.step_size, "N", "step schedule: decay every N epochs", 0, 0 },
        { "gamma", OPT_FLOAT, &c.gamma, "X", "step schedule: decay factor (default 0.1)", 0, 0 },
        { "min-lr", OPT_FLOAT, &c.min_lr, "X", "cosine schedule: final LR (default 0)", 0, 0 },
        { "seed", OPT_INT, &c.seed, "N", "seed for initialization, shuffling, dropout, augmentation (default 1)", 0, 0 },
        { "augment", OPT_FLAG, &c.augment, NULL, "random 2-pixel crops and horizontal flips", 0, 0 },
        { "val", OPT_INT, &c.val, "N", "hold out N training samples as a validation set", 0, 0 },
        { "limit", OPT_INT, &c.limit, "N", "use only the first N training samples", 0, 0 },
        { "test-limit", OPT_INT, &c.test_limit, "N", "use only the first N test samples", 0, 0 },
        { "out", OPT_STRING, &c.out, "FILE", "checkpoint written after every epoch (default mlopt-model.safetensors)", 0, 0 },
        { "resume", OPT_STRING, &c.resume, "FILE", "continue the run saved in this checkpoint", 0, 0 },
        { "logdir", OPT_STRING, &c.logdir, "DIR", "write TensorBoard events and metrics.csv here", 0, 0 },
        { "quiet", OPT_FLAG, &c.quiet, NULL, "no per-epoch lines on stderr", 0, 0 },
        { "stop-after", OPT_INT, &c.stop_after, "N", "stop after N epochs of this invocation (continue later with --resume)", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("train", argc, argv, opts, pos, 0, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt [--backend=NAME] train [options]",
                  "Train a model on Fashion-MNIST (or any IDX dataset). Defaults are the tutorial's: its CNN, SGD "
                  "lr 0.01 momentum 0.9, batch 64, cross-entropy; with a cosine LR schedule over 12 epochs.",
                  opts);
        return 0;
    }
    run_state r = { 0 };
    int rc = 1;
    mlopt_status s;
    int start_epoch = 0;
    long long start_step = 0;
    if (c.resume) {
        if ((s = mlopt_checkpoint_open(c.resume, &r.resume)) != MLOPT_OK) {
            report_failure("train", "--resume", s);
            goto out;
        }
        for (int i = 0; i < NSTORED; i++) {
            cli_option *o = (cli_option *)args_find(opts, stored[i].option);
            const char *v = mlopt_checkpoint_meta(r.resume, stored[i].key);
            if (!o->seen && v && restore_option(o, v)) {
                fprintf(stderr, "mlopt train: %s: bad %s '%s' in the checkpoint\n", c.resume, stored[i].key, v);
                goto out;
            }
        }
        const char *ep = mlopt_checkpoint_meta(r.resume, "train.epoch");
        const char *st = mlopt_checkpoint_meta(r.resume, "train.step");
        if (!ep || !st) {
            fprintf(stderr, "mlopt train: %s has no training state (train.epoch/train.step); it cannot be resumed\n",
                    c.resume);
            goto out;
        }
        start_epoch = atoi(ep);
        start_step = atoll(st);
    }
    mlopt_optim_config ocfg;
    if (parse_optimizer(&c, &ocfg)) {
        rc = 2;
        goto out;
    }
    /* data */
    if ((s = mlopt_dataset_load(c.data, "train", &r.train)) != MLOPT_OK ||
        (s = mlopt_dataset_load(c.data, "t10k", &r.test)) != MLOPT_OK) {
        report_failure("train", "loading the data", s);
        goto out;
    }
    float mean, std;
    mlopt_dataset_stats(r.train, &mean, &std);
    if (r.resume && mlopt_checkpoint_meta(r.resume, "train.norm"))
        sscanf(mlopt_checkpoint_meta(r.resume, "train.norm"), "%f,%f", &mean, &std);
    if (c.val > 0 && (s = mlopt_dataset_split(r.train, c.val, (uint64_t)c.seed, &r.val)) != MLOPT_OK) {
        report_failure("train", "--val", s);
        goto out;
    }
    if ((c.limit && (s = mlopt_dataset_truncate(r.train, c.limit)) != MLOPT_OK) ||
        (c.test_limit && (s = mlopt_dataset_truncate(r.test, c.test_limit)) != MLOPT_OK)) {
        report_failure("train", "--limit", s);
        goto out;
    }
    int ic, ih, iw;
    mlopt_dataset_shape(r.train, &ic, &ih, &iw);
    int classes = mlopt_dataset_classes(r.train);
    /* model */
    if (open_context("train", &r.ctx))
        goto out;
    if (r.resume) {
        s = mlopt_checkpoint_model(r.resume, r.ctx, &r.model);
    } else {
        int n;
        if (load_specs("train", c.model, c.activation, &r.specs, &n))
            goto out;
        s = mlopt_model_from_specs(r.ctx, ic, ih, iw, r.specs, n, (uint64_t)c.seed, &r.model);
    }
    if (s != MLOPT_OK) {
        report_failure("train", "building the model", s);
        goto out;
    }
    if (mlopt_model_num_classes(r.model) < classes) {
        fprintf(stderr, "mlopt train: the model has %d outputs but the data has %d classes; end the spec with "
                        "`linear %d`\n", mlopt_model_num_classes(r.model), classes, classes);
        goto out;
    }
    if ((s = mlopt_optimizer_create(r.model, &ocfg, &r.opt)) != MLOPT_OK ||
        (r.resume && (s = mlopt_checkpoint_load_optimizer(r.resume, r.opt)) != MLOPT_OK) ||
        (s = mlopt_trainer_create(r.model, r.opt, c.batch, &r.trainer)) != MLOPT_OK) {
        report_failure("train", "preparing training", s);
        goto out;
    }
    mlopt_optimizer_set_steps(r.opt, start_step);
    int count = mlopt_dataset_size(r.train);
    long long steps_per_epoch = (count + c.batch - 1) / c.batch;
    mlopt_schedule sched;
    if (parse_schedule(&c, &sched, steps_per_epoch)) {
        rc = 2;
        goto out;
    }
    if (c.logdir && (s = mlopt_logger_open(c.logdir, r.resume != NULL, &r.log)) != MLOPT_OK) {
        report_failure("train", "--logdir", s);
        goto out;
    }
    r.images = malloc((size_t)c.batch * ic * ih * iw * sizeof *r.images);
    r.labels = malloc((size_t)c.batch * sizeof *r.labels);
    r.order = malloc((size_t)count * sizeof *r.order);
    if (!r.images || !r.labels || !r.order) {
        fprintf(stderr, "mlopt train: out of host memory\n");
        goto out;
    }
    mlopt_device_info dev;
    mlopt_context_device_info(r.ctx, &dev);
    if (!c.quiet)
        fprintf(stderr, "training %s on %s (%s), %d samples, batch %d, %s lr %g, %s schedule, epochs %d..%d\n",
                r.resume ? c.resume : c.model, mlopt_context_backend(r.ctx)->name, dev.name, count, c.batch,
                c.optimizer, (double)c.lr, c.schedule, start_epoch + 1, c.epochs);
    progress bar;
    progress_init(&bar, !c.quiet && !G.json);
    double train_loss = NAN, train_acc = NAN, test_loss = NAN, test_acc = NAN, val_acc = NAN, ips = 0;
    double total_time = 0;
    long long total_images = 0;
    mlopt_backend_stats stats_sum = { 0 };
    long long stats_steps = 0;
    int epoch = start_epoch;
    int last_epoch = c.stop_after > 0 && start_epoch + c.stop_after < c.epochs ? start_epoch + c.stop_after : c.epochs;
    for (; epoch < last_epoch; epoch++) {
        mlopt_dataset_shuffle(r.train, (uint64_t)c.seed * 1000003ull + (uint64_t)epoch, r.order);
        mlopt_context_reset_stats(r.ctx);
        double t0 = now_seconds();
        long long done = 0;
        double shown_loss = 0, shown_correct = 0;
        long long shown_n = 0;
        for (long long b = 0; b < steps_per_epoch; b++) {
            int start = (int)(b * c.batch);
            int n = count - start < c.batch ? count - start : c.batch;
            uint64_t aug_seed = ((uint64_t)c.seed << 32) ^ ((uint64_t)epoch << 20) ^ (uint64_t)b;
            mlopt_augment aug = { c.augment ? 2 : 0, c.augment };
            mlopt_dataset_batch(r.train, r.order + start, n, mean, std, &aug, aug_seed, r.images, r.labels);
            float lr = mlopt_schedule_lr(&sched, mlopt_optimizer_steps(r.opt));
            if ((s = mlopt_trainer_train_step(r.trainer, r.images, r.labels, n, lr)) != MLOPT_OK) {
                progress_clear(&bar);
                report_failure("train", "training step", s);
                goto out;
            }
            done += n;
            if (progress_due(&bar)) {
                double ls, cr;
                long long k;
                if ((s = mlopt_trainer_read_metrics(r.trainer, &ls, &cr, &k)) != MLOPT_OK) {
                    progress_clear(&bar);
                    report_failure("train", "training", s);
                    goto out;
                }
                shown_loss += ls, shown_correct += cr, shown_n += k;
                double el = now_seconds() - t0;
                progress_draw(&bar, epoch + 1, c.epochs, done, count, shown_loss / (double)shown_n,
                              shown_correct / (double)shown_n, el > 0 ? (double)done / el : 0);
            }
        }
        double ls, cr;
        long long k;
        s = mlopt_trainer_read_metrics(r.trainer, &ls, &cr, &k);
        double elapsed = now_seconds() - t0;
        progress_clear(&bar);
        if (s != MLOPT_OK) {
            report_failure("train", "training", s);
            if (s == MLOPT_E_NONFINITE)
                fprintf(stderr, "mlopt train: stopped in epoch %d; %s keeps the last good state\n", epoch + 1,
                        epoch > start_epoch || c.resume ? c.out : "(no checkpoint yet)");
            goto out;
        }
        mlopt_backend_stats st;
        if (mlopt_context_stats(r.ctx, &st) == MLOPT_OK) {
            stats_sum.host_syncs += st.host_syncs;
            stats_sum.submissions += st.submissions;
            stats_sum.kernels += st.kernels;
            stats_sum.bytes_h2d += st.bytes_h2d;
            stats_sum.bytes_d2h += st.bytes_d2h;
            stats_steps += steps_per_epoch;
        }
        shown_loss += ls, shown_correct += cr, shown_n += k;
        train_loss = shown_loss / (double)shown_n;
        train_acc = shown_correct / (double)shown_n;
        ips = (double)done / elapsed;
        total_time += elapsed;
        total_images += done;
        if (evaluate_dataset("train", r.trainer, r.test, c.batch,
                             mean, std, &test_loss, &test_acc, NULL))
            goto out;
        if (r.val) {
            double vl;
            if (evaluate_dataset("train", r.trainer, r.val, c.batch, mean, std, &vl, &val_acc, NULL))
                goto out;
        }
        long long step = mlopt_optimizer_steps(r.opt);
        if (!c.quiet) {
            fprintf(stderr, "epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%%", epoch + 1, c.epochs,
                    train_loss, 100 * train_acc, test_loss, 100 * test_acc);
            if (r.val)
                fprintf(stderr, " | val acc %.2f%%", 100 * val_acc);
            fprintf(stderr, " | %.0f img/s, lr %.4g\n", ips, (double)mlopt_schedule_lr(&sched, step));
        }
        if (r.log) {
            mlopt_logger_scalar(r.log, "train/loss", step, train_loss);
            mlopt_logger_scalar(r.log, "train/accuracy", step, train_acc);
            mlopt_logger_scalar(r.log, "test/loss", step, test_loss);
            mlopt_logger_scalar(r.log, "test/accuracy", step, test_acc);
            if (r.val)
                mlopt_logger_scalar(r.log, "val/accuracy", step, val_acc);
            mlopt_logger_scalar(r.log, "lr", step, mlopt_schedule_lr(&sched, step > 0 ? step - 1 : 0));
            mlopt_logger_scalar(r.log, "images_per_sec", step, ips);
            if ((s = mlopt_logger_flush(r.log)) != MLOPT_OK) {
                report_failure("train", "writing logs", s);
                goto out;
            }
        }
        if (save_checkpoint(&c, opts, &r, epoch + 1, mean, std))
            goto out;
    }
    double syncs_per_step = stats_steps ? (double)stats_sum.host_syncs / (double)stats_steps : 0;
    if (G.stats && !G.json)
        fprintf(stderr,
                "stats: %.3f host syncs/step, %.3f submissions/step, %.1f kernels/step, %.0f bytes h2d/step, "
                "%.1f bytes d2h/step (over %lld steps)\n",
                syncs_per_step, stats_steps ? (double)stats_sum.submissions / stats_steps : 0,
                stats_steps ? (double)stats_sum.kernels / stats_steps : 0,
                stats_steps ? (double)stats_sum.bytes_h2d / stats_steps : 0,
                stats_steps ? (double)stats_sum.bytes_d2h / stats_steps : 0, stats_steps);
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "train");
        json_backend(&j, r.ctx);
        json_str(&j, "model", c.model);
        json_int(&j, "epochs", c.epochs);
        json_int(&j, "batch", c.batch);
        json_num(&j, "train_loss", train_loss);
        json_num(&j, "train_accuracy", train_acc);
        json_num(&j, "test_loss", test_loss);
        json_num(&j, "accuracy", test_acc);
        if (r.val)
            json_num(&j, "val_accuracy", val_acc);
        json_num(&j, "images_per_sec", total_time > 0 ? (double)total_images / total_time : 0);
        json_num(&j, "train_seconds", total_time);
        json_num(&j, "host_syncs_per_step", syncs_per_step);
        json_num(&j, "submissions_per_step", stats_steps ? (double)stats_sum.submissions / stats_steps : 0);
        json_num(&j, "bytes_h2d_per_step", stats_steps ? (double)stats_sum.bytes_h2d / stats_steps : 0);
        json_num(&j, "bytes_d2h_per_step", stats_steps ? (double)stats_sum.bytes_d2h / stats_steps : 0);
        json_str(&j, "checkpoint", c.out);
        json_end(&j);
    } else if (!c.quiet) {
        fprintf(stderr, "saved %s (test accuracy %.2f%%)\n", c.out, 100 * test_acc);
    }
    rc = 0;
out:
    run_free(&r);
    return rc;
}
