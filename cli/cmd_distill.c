/* mlopt distill: train a small student from a trained teacher's softened
 * outputs (Hinton et al. 2015), optionally with a hint loss between two
 * intermediate layers, and optionally next to a student trained alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlopt/passes.h"

#include "common.h"
#include "progress.h"

typedef struct distill_opts {
    const char *teacher, *student, *activation, *data, *out, *hint;
    int epochs, batch, seed, limit, test_limit, val, val_seed, baseline, only_baseline, quiet;
    float temperature, alpha, lr, baseline_lr, momentum, hint_weight;
} distill_opts;

typedef struct epoch_log {
    const char *label;
    int epochs, quiet;
} epoch_log;

static mlopt_status print_epoch(void *user, int epoch, const mlopt_distill_metrics *m)
{
    const epoch_log *l = user;
    if (!l->quiet)
        fprintf(stderr, "%s epoch %d/%d: loss %.4f (KL %.4f, CE %.4f%s) train acc %.2f%%\n", l->label, epoch + 1,
                l->epochs, m->loss, m->kl, m->ce, m->hint > 0 ? ", hint" : "", 100 * m->accuracy);
    return MLOPT_OK;
}

typedef struct run_result {
    double accuracy, loss, val_accuracy, val_loss, seconds;
    mlopt_distill_metrics last;
} run_result;

/* Train student (built from specs with the seed) at learning rate lr and
 * measure it on test and, when there is one, on the validation split. */
static int run_one(const char *label, mlopt_model *teacher, mlopt_model *student, const mlopt_dataset *train,
                   const mlopt_dataset *val, const mlopt_dataset *test, const mlopt_distill_config *dc,
                   const distill_opts *o, float lr, float mean, float std, run_result *r)
{
    mlopt_finetune_config loop;
    memset(&loop, 0, sizeof loop);
    loop.epochs = o->epochs;
    loop.batch = o->batch;
    loop.lr = lr;
    loop.momentum = o->momentum > 0 ? o->momentum : -1.0f;
    loop.seed = (uint64_t)o->seed;
    loop.mean = mean;
    loop.std = std;
    loop.limit = o->limit;
    epoch_log log = { label, o->epochs, o->quiet || G.json };
    mlopt_distill_config c = *dc;
    c.after_epoch = print_epoch;
    c.user = &log;
    double t0 = now_seconds();
    mlopt_status s = mlopt_distill_train(teacher, student, train, &c, &loop, &r->last);
    r->seconds = now_seconds() - t0;
    if (s != MLOPT_OK)
        return report_failure("distill", label, s);
    if ((s = mlopt_evaluate(student, test, mean, std, 256, &r->loss, &r->accuracy)) != MLOPT_OK ||
        (val && (s = mlopt_evaluate(student, val, mean, std, 256, &r->val_loss, &r->val_accuracy)) != MLOPT_OK))
        return report_failure("distill", "evaluating the student", s);
    return 0;
}

static uint64_t trainable_params(mlopt_model *m)
{
    mlopt_model_summary sum;
    return mlopt_model_summarize(m, &sum) == MLOPT_OK ? sum.params : 0;
}

int cmd_distill(int argc, char **argv)
{
    distill_opts o = { .out = "mlopt-student.safetensors", .epochs = 2, .batch = 64, .seed = 1, .temperature = 4.0f,
                       .alpha = 0.9f, .lr = 0.01f, .momentum = 0.9f, .hint_weight = 1.0f };
    cli_option opts[] = {
        { "teacher", OPT_STRING, &o.teacher, "CKPT", "trained teacher checkpoint (required)", 0, 0 },
        { "student", OPT_STRING, &o.student, "SPEC", "student: preset or spec file (required)", 0, 0 },
        { "activation", OPT_STRING, &o.activation, "NAME[:P]", "replace every activation of the student", 0, 0 },
        { "temperature", OPT_FLOAT, &o.temperature, "T", "softmax temperature (default 4)", 0, 0 },
        { "alpha", OPT_FLOAT, &o.alpha, "A", "weight of the soft-target loss, 0..1 (default 0.9)", 0, 0 },
        { "hint", OPT_STRING, &o.hint, "T:S", "hint loss between teacher layer T and student layer S (e.g. conv2:conv2)", 0, 0 },
        { "hint-weight", OPT_FLOAT, &o.hint_weight, "X", "weight of the hint loss (default 1)", 0, 0 },
        { "epochs", OPT_INT, &o.epochs, "N", "epochs (default 2)", 1, 0 },
        { "batch", OPT_INT, &o.batch, "N", "batch size (default 64)", 1, 0 },
        { "lr", OPT_FLOAT, &o.lr, "X", "SGD learning rate, cosine-decayed to 0 (default 0.01)", 0, 0 },
        { "momentum", OPT_FLOAT, &o.momentum, "X", "SGD momentum (default 0.9)", 0, 0 },
        { "seed", OPT_INT, &o.seed, "N", "student initialization and shuffling (default 1)", 0, 0 },
        { "data", OPT_STRING, &o.data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)", 0, 0 },
        { "limit", OPT_INT, &o.limit, "N", "train on the first N training samples", 0, 0 },
        { "test-limit", OPT_INT, &o.test_limit, "N", "measure on the first N test samples", 0, 0 },
        { "val", OPT_INT, &o.val, "N", "hold out N training samples as a validation set (choose hyperparameters on it)", 0, 0 },
        { "val-seed", OPT_INT, &o.val_seed, "N", "seed of the --val split (default: the teacher's train.seed when it was "
          "trained with the same --val, so it never saw these samples; else 1)", 0, 0 },
        { "baseline", OPT_FLAG, &o.baseline, NULL, "also train the student alone (alpha 0) with the same budget and seed", 0, 0 },
        { "baseline-lr", OPT_FLOAT, &o.baseline_lr, "X", "learning rate of the student trained alone (default --lr)", 0, 0 },
        { "only-baseline", OPT_FLAG, &o.only_baseline, NULL, "train only the student alone (e.g. to tune its lr)", 0, 0 },
        { "out", OPT_STRING, &o.out, "FILE", "distilled student checkpoint (default mlopt-student.safetensors)", 0, 0 },
        { "quiet", OPT_FLAG, &o.quiet, NULL, "no per-epoch lines on stderr", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("distill", argc, argv, opts, pos, 0, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt [--backend=NAME] distill --teacher CKPT --student SPEC [options]",
                  "Knowledge distillation: loss = alpha T^2 KL(softmax(teacher/T) || softmax(student/T)) + "
                  "(1 - alpha) CE(student, labels) [+ hint-weight MSE(P(student layer), teacher layer)]. The teacher "
                  "runs on the same device in evaluation mode; its outputs never leave the device.",
                  opts);
        return 0;
    }
    if (!o.teacher || !o.student) {
        fprintf(stderr, "mlopt distill: --teacher CKPT and --student SPEC are required\n");
        return 2;
    }
    if (!(o.temperature > 0) || !(o.alpha >= 0 && o.alpha <= 1) || !(o.lr > 0) || o.momentum < 0 || o.momentum >= 1 ||
        o.baseline_lr < 0 || o.val < 0) {
        fprintf(stderr, "mlopt distill: need --temperature > 0, 0 <= --alpha <= 1, --lr > 0, --baseline-lr >= 0, "
                        "0 <= --momentum < 1, --val >= 0\n");
        return 2;
    }
    if (o.only_baseline)
        o.baseline = 1;
    if (!(o.baseline_lr > 0))
        o.baseline_lr = o.lr;
    char hint_t[64] = "", hint_s[64] = "";
    if (o.hint) {
        const char *colon = strchr(o.hint, ':');
        if (!colon || colon == o.hint || !colon[1] || (size_t)(colon - o.hint) >= sizeof hint_t ||
            strlen(colon + 1) >= sizeof hint_s) {
            fprintf(stderr, "mlopt distill: --hint wants TEACHER_LAYER:STUDENT_LAYER (e.g. fc1:fc1), got '%s'\n", o.hint);
            return 2;
        }
        memcpy(hint_t, o.hint, (size_t)(colon - o.hint));
        strcpy(hint_s, colon + 1);
    }
    int rc = 1;
    mlopt_checkpoint *ck = NULL;
    mlopt_dataset *train = NULL, *test = NULL, *val = NULL;
    mlopt_context *ctx = NULL;
    mlopt_model *teacher = NULL, *student = NULL, *alone = NULL;
    mlopt_layer_spec *specs = NULL;
    int nspecs = 0;
    mlopt_status s;
    if ((s = mlopt_checkpoint_open(o.teacher, &ck)) != MLOPT_OK) {
        report_failure("distill", "reading the teacher", s);
        goto out;
    }
    if ((s = mlopt_dataset_load(o.data, "train", &train)) != MLOPT_OK ||
        (s = mlopt_dataset_load(o.data, "t10k", &test)) != MLOPT_OK) {
        report_failure("distill", "loading the data", s);
        goto out;
    }
    if (o.test_limit > 0)
        mlopt_dataset_truncate(test, o.test_limit);
    /* Normalize as the teacher was trained, so it sees what it learned on
     * (mlopt train measures the statistics before its --val split). */
    float mean, std;
    mlopt_dataset_stats(train, &mean, &std);
    const char *norm = mlopt_checkpoint_meta(ck, "train.norm");
    if (norm)
        sscanf(norm, "%f,%f", &mean, &std);
    if (o.val > 0) {
        /* The split of `mlopt train --val N --seed S` when the teacher was
         * trained so: its validation samples are unseen by the teacher too. */
        const char *tv = mlopt_checkpoint_meta(ck, "train.val"), *ts = mlopt_checkpoint_meta(ck, "train.seed");
        uint64_t vseed = o.val_seed > 0 ? (uint64_t)o.val_seed
                         : tv && ts && atoi(tv) == o.val ? strtoull(ts, NULL, 10)
                                                         : 1;
        if ((s = mlopt_dataset_split(train, o.val, vseed, &val)) != MLOPT_OK) {
            report_failure("distill", "--val", s);
            goto out;
        }
    }
    if (open_context("distill", &ctx))
        goto out;
    if ((s = mlopt_checkpoint_model(ck, ctx, &teacher)) != MLOPT_OK) {
        report_failure("distill", "loading the teacher", s);
        goto out;
    }
    if (load_specs("distill", o.student, o.activation, &specs, &nspecs))
        goto out;
    int ic, ih, iw;
    mlopt_dataset_shape(train, &ic, &ih, &iw);
    if ((s = mlopt_model_from_specs(ctx, ic, ih, iw, specs, nspecs, (uint64_t)o.seed, &student)) != MLOPT_OK) {
        report_failure("distill", "building the student", s);
        goto out;
    }
    double teacher_acc, teacher_loss;
    if ((s = mlopt_evaluate(teacher, test, mean, std, 256, &teacher_loss, &teacher_acc)) != MLOPT_OK) {
        report_failure("distill", "evaluating the teacher", s);
        goto out;
    }
    uint64_t tp = trainable_params(teacher), sp = trainable_params(student);
    int count = mlopt_dataset_size(train);
    if (o.limit > 0 && o.limit < count)
        count = o.limit;
    double teacher_val_acc = 0, teacher_val_loss;
    if (val && (s = mlopt_evaluate(teacher, val, mean, std, 256, &teacher_val_loss, &teacher_val_acc)) != MLOPT_OK) {
        report_failure("distill", "evaluating the teacher", s);
        goto out;
    }
    if (!o.quiet && !G.json)
        fprintf(stderr, "distilling %s (%llu params, test acc %.2f%%) into %s (%llu params, %.2fx fewer) on %s: "
                        "T=%g alpha=%g, %d samples (%d held out), %d epochs, batch %d, lr %g (alone %g)\n",
                o.teacher, (unsigned long long)tp, 100 * teacher_acc, o.student, (unsigned long long)sp,
                sp ? (double)tp / (double)sp : 0.0, mlopt_context_backend(ctx)->name, (double)o.temperature,
                (double)o.alpha, count, o.val, o.epochs, o.batch, (double)o.lr, (double)o.baseline_lr);
    mlopt_distill_config dc;
    mlopt_distill_defaults(&dc);
    dc.temperature = o.temperature;
    dc.alpha = o.alpha;
    dc.seed = (uint64_t)o.seed;
    if (o.hint) {
        dc.hint_teacher = hint_t;
        dc.hint_student = hint_s;
        dc.hint_weight = o.hint_weight;
    }
    run_result rd, rb;
    memset(&rd, 0, sizeof rd);
    memset(&rb, 0, sizeof rb);
    if (!o.only_baseline && run_one("distilled", teacher, student, train, val, test, &dc, &o, o.lr, mean, std, &rd))
        goto out;
    char normbuf[64], tbuf[32], abuf[32];
    snprintf(normbuf, sizeof normbuf, "%.9g,%.9g", (double)mean, (double)std);
    snprintf(tbuf, sizeof tbuf, "%g", (double)o.temperature);
    snprintf(abuf, sizeof abuf, "%g", (double)o.alpha);
    mlopt_meta meta[6] = { { "train.norm", normbuf },       { "distill.teacher", o.teacher },
                           { "distill.temperature", tbuf }, { "distill.alpha", abuf },
                           { "distill.hint", o.hint ? o.hint : "" }, { "mlopt.version", mlopt_version() } };
    if (!o.only_baseline && (s = mlopt_passes_save(o.out, student, meta, 6, 0)) != MLOPT_OK) {
        report_failure("distill", "writing the checkpoint", s);
        goto out;
    }
    if (o.baseline) {
        mlopt_distill_config bc;
        mlopt_distill_defaults(&bc);
        bc.alpha = 0.0f; /* plain cross-entropy, no teacher */
        if ((s = mlopt_model_from_specs(ctx, ic, ih, iw, specs, nspecs, (uint64_t)o.seed, &alone)) != MLOPT_OK) {
            report_failure("distill", "building the baseline student", s);
            goto out;
        }
        if (run_one("alone", NULL, alone, train, val, test, &bc, &o, o.baseline_lr, mean, std, &rb))
            goto out;
    }
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "distill");
        json_backend(&j, ctx);
        json_str(&j, "teacher", o.teacher);
        json_str(&j, "student", o.student);
        json_int(&j, "teacher_params", (long long)tp);
        json_int(&j, "student_params", (long long)sp);
        json_num(&j, "param_ratio", sp ? (double)tp / (double)sp : 0);
        json_num(&j, "temperature", o.temperature);
        json_num(&j, "alpha", o.alpha);
        if (o.hint) {
            json_str(&j, "hint", o.hint);
            json_num(&j, "hint_weight", o.hint_weight);
            json_num(&j, "train_hint_mse", rd.last.hint);
        }
        json_int(&j, "epochs", o.epochs);
        json_int(&j, "batch", o.batch);
        json_num(&j, "lr", o.lr);
        json_int(&j, "seed", o.seed);
        json_int(&j, "train_samples", count);
        json_int(&j, "val_samples", o.val);
        json_num(&j, "teacher_accuracy", teacher_acc);
        if (val)
            json_num(&j, "teacher_val_accuracy", teacher_val_acc);
        if (!o.only_baseline) {
            json_num(&j, "accuracy", rd.accuracy);
            json_num(&j, "test_loss", rd.loss);
            if (val)
                json_num(&j, "val_accuracy", rd.val_accuracy);
            json_num(&j, "train_loss", rd.last.loss);
            json_num(&j, "train_kl", rd.last.kl);
            json_num(&j, "train_ce", rd.last.ce);
            json_num(&j, "train_seconds", rd.seconds);
        }
        if (o.baseline) {
            json_num(&j, "baseline_lr", o.baseline_lr);
            json_num(&j, "baseline_accuracy", rb.accuracy);
            json_num(&j, "baseline_test_loss", rb.loss);
            if (val)
                json_num(&j, "baseline_val_accuracy", rb.val_accuracy);
            json_num(&j, "baseline_train_seconds", rb.seconds);
        }
        if (o.baseline && !o.only_baseline) {
            json_num(&j, "gain_points", 100 * (rd.accuracy - rb.accuracy));
            if (val)
                json_num(&j, "val_gain_points", 100 * (rd.val_accuracy - rb.val_accuracy));
        }
        if (!o.only_baseline)
            json_str(&j, "checkpoint", o.out);
        json_end(&j);
    } else {
        printf("%-26s %12s %12s%s\n", "", "params", "test acc", val ? "      val acc" : "");
        printf("%-26s %12llu %11.2f%%", "teacher", (unsigned long long)tp, 100 * teacher_acc);
        if (val)
            printf(" %11.2f%%", 100 * teacher_val_acc);
        printf("\n");
        const run_result *rows[2] = { o.only_baseline ? NULL : &rd, o.baseline ? &rb : NULL };
        const char *names[2] = { "student, distilled", "student, trained alone" };
        for (int i = 0; i < 2; i++) {
            if (!rows[i])
                continue;
            printf("%-26s %12llu %11.2f%%", names[i], (unsigned long long)sp, 100 * rows[i]->accuracy);
            if (val)
                printf(" %11.2f%%", 100 * rows[i]->val_accuracy);
            printf("   (%.1f s)\n", rows[i]->seconds);
        }
        if (o.baseline && !o.only_baseline)
            printf("distillation gain: %+.2f points on test\n", 100 * (rd.accuracy - rb.accuracy));
        if (!o.only_baseline)
            printf("saved %s\n", o.out);
    }
    rc = 0;
out:
    mlopt_model_destroy(alone);
    mlopt_model_destroy(student);
    mlopt_model_destroy(teacher);
    free(specs);
    mlopt_context_destroy(ctx);
    mlopt_dataset_destroy(train);
    mlopt_dataset_destroy(test);
    mlopt_dataset_destroy(val);
    mlopt_checkpoint_close(ck);
    return rc;
}
