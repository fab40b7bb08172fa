/* mlopt quantize: post-training (or quantization-aware) INT8 quantization
 * of a checkpoint, with a float-vs-int8 report (size, accuracy, latency at
 * batch 1 and 256, per-layer SQNR).  Also evaluates int8 checkpoints for
 * mlopt eval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mlopt/passes.h"
#include "mlopt/quant.h"

#include "common.h"
#include "progress.h"

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time both models in alternating short rounds (fair on a loaded machine). */
static mlopt_status side_by_side(mlopt_model *m, mlopt_qmodel *q, int batch, int reps, double *tf, double *tq)
{
    enum { ROUNDS = 5 };
    double a[ROUNDS], b[ROUNDS];
    int per = (reps + ROUNDS - 1) / ROUNDS;
    mlopt_status s = MLOPT_OK;
    for (int r = 0; r < ROUNDS && s == MLOPT_OK; r++) {
        s = mlopt_model_latency(m, batch, per, &a[r]);
        if (s == MLOPT_OK)
            s = mlopt_qmodel_latency(q, batch, per, &b[r]);
    }
    if (s != MLOPT_OK)
        return s;
    qsort(a, ROUNDS, sizeof *a, cmp_d);
    qsort(b, ROUNDS, sizeof *b, cmp_d);
    *tf = a[ROUNDS / 2];
    *tq = b[ROUNDS / 2];
    return MLOPT_OK;
}

int eval_quantized_checkpoint(mlopt_checkpoint *ck, const char *path, const char *split, mlopt_context *ctx,
                              const mlopt_dataset *ds, int batch, float mean, float std)
{
    if (!mlopt_checkpoint_is_quantized(ck))
        return -1;
    mlopt_qmodel *q;
    mlopt_status s = mlopt_qmodel_load(path, ctx, &q);
    if (s != MLOPT_OK)
        return report_failure("eval", "loading the int8 model", s);
    int classes = mlopt_dataset_classes(ds);
    long long *conf = calloc((size_t)classes * classes, sizeof *conf);
    double loss = 0, acc = 0;
    s = conf ? mlopt_qmodel_evaluate(q, ds, mean, std, batch, &loss, &acc, conf) : MLOPT_E_NOMEM;
    mlopt_qmodel_destroy(q);
    if (s != MLOPT_OK) {
        free(conf);
        return report_failure("eval", "evaluating the int8 model", s);
    }
    print_eval_result(path, "int8", split, ctx, mlopt_dataset_size(ds), acc, loss, conf, classes);
    free(conf);
    return 0;
}

int cmd_quantize(int argc, char **argv)
{
    const char *out = NULL, *data = NULL, *observer = "minmax", *first = "auto";
    int calib_batches = 16, calib_batch = 64, qat = 0, epochs = 1, limit = 0, test_limit = 0, reps = 15,
        qat_batch = 64, seed = 1;
    /* QAT fine-tunes a converged model: 1e-4 measured best of 1e-4, 3e-4,
     * 1e-3 on the tutorial CNN (bench/quant_seed_cnn.sh). */
    float percentile = 99.99f, lr = 0.0001f;
    cli_option opts[] = {
        { "out", OPT_STRING, &out, "FILE", "write the int8 checkpoint here (required)", 0, 0 },
        { "data", OPT_STRING, &data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)", 0, 0 },
        { "calib-batches", OPT_INT, &calib_batches, "N", "calibration batches from the training set (default 16)", 1, 0 },
        { "calib-batch", OPT_INT, &calib_batch, "N", "samples per calibration batch (default 64)", 1, 0 },
        { "observer", OPT_STRING, &observer, "NAME", "minmax (default), ema, percentile or mse", 0, 0 },
        { "percentile", OPT_FLOAT, &percentile, "P", "percentile observer's quantile (default 99.99)", 0, 0 },
        { "first-layer", OPT_STRING, &first, "MODE", "auto (default: float32 when more accurate; int8 with --qat), int8 or float", 0, 0 },
        { "qat", OPT_FLAG, &qat, NULL, "quantization-aware fine-tuning before conversion", 0, 0 },
        { "epochs", OPT_INT, &epochs, "N", "QAT epochs (default 1)", 1, 0 },
        { "lr", OPT_FLOAT, &lr, "X", "QAT learning rate, cosine-decayed (default 0.0001)", 0, 0 },
        { "batch", OPT_INT, &qat_batch, "N", "QAT batch size (default 64)", 1, 0 },
        { "limit", OPT_INT, &limit, "N", "QAT on the first N training samples only", 0, 0 },
        { "seed", OPT_INT, &seed, "N", "seed for calibration samples and QAT shuffling (default 1)", 0, 0 },
        { "test-limit", OPT_INT, &test_limit, "N", "measure accuracy on the first N test samples", 0, 0 },
        { "reps", OPT_INT, &reps, "N", "latency: forwards timed per model and batch size (default 15)", 1, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("quantize", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt quantize CHECKPOINT --out=Q.safetensors [--observer=minmax|ema|percentile|mse] [--qat]",
                  "INT8 quantization: batch-norm folding, int8 per-channel weights, int8 per-tensor activations "
                  "calibrated on training batches (or learned by quantization-aware training), int8 kernels of "
                  "the backend. Reports float32 vs int8 size, accuracy, latency and per-layer SQNR.",
                  opts);
        return 0;
    }
    if (!npos || !out) {
        fprintf(stderr, "mlopt quantize: need a checkpoint and --out, e.g. `mlopt quantize model.safetensors "
                        "--out model-int8.safetensors`\n");
        return 2;
    }
    const char *ckpt = pos[0];
    mlopt_quant_config qc;
    mlopt_quant_config_default(&qc);
    qc.calib_batches = calib_batches;
    qc.calib_batch = calib_batch;
    qc.percentile = percentile;
    qc.seed = (uint64_t)seed;
    if (mlopt_observer_parse(observer, &qc.observer) != MLOPT_OK) {
        fprintf(stderr, "mlopt quantize: %s\n", mlopt_last_error());
        return 2;
    }
    if (strcmp(first, "auto") == 0)
        qc.first_layer_float = -1;
    else if (strcmp(first, "int8") == 0)
        qc.first_layer_float = 0;
    else if (strcmp(first, "float") == 0)
        qc.first_layer_float = 1;
    else {
        fprintf(stderr, "mlopt quantize: --first-layer must be auto, int8 or float\n");
        return 2;
    }
    mlopt_checkpoint *ck = NULL;
    mlopt_dataset *train = NULL, *test = NULL;
    mlopt_context *ctx = NULL;
    mlopt_model *m = NULL, *ref = NULL;
    mlopt_qmodel *q = NULL;
    int rc = 1;
    mlopt_status s = mlopt_checkpoint_open(ckpt, &ck);
    if (s != MLOPT_OK)
        return report_failure("quantize", "reading the checkpoint", s);
    if ((s = mlopt_dataset_load(data, "train", &train)) != MLOPT_OK ||
        (s = mlopt_dataset_load(data, "t10k", &test)) != MLOPT_OK) {
        report_failure("quantize", "loading the data", s);
        goto done;
    }
    if (test_limit > 0)
        mlopt_dataset_truncate(test, test_limit);
    mlopt_dataset_stats(train, &qc.mean, &qc.std);
    const char *norm = mlopt_checkpoint_meta(ck, "train.norm");
    if (norm)
        sscanf(norm, "%f,%f", &qc.mean, &qc.std);
    if (open_context("quantize", &ctx))
        goto done;
    if ((s = mlopt_checkpoint_model(ck, ctx, &m)) != MLOPT_OK) {
        report_failure("quantize", "loading the model", s);
        goto done;
    }
    double t0 = now_seconds(), qat_loss = 0;
    if (qat) {
        mlopt_qat_config cfg = { epochs, qat_batch, lr, limit, (uint64_t)seed };
        s = mlopt_quantize_qat(m, train, &qc, &cfg, &q, &qat_loss);
    } else {
        s = mlopt_quantize_ptq(m, train, &qc, &q);
    }
    if (s != MLOPT_OK) {
        report_failure("quantize", qat ? "quantization-aware training" : "post-training quantization", s);
        goto done;
    }
    double tq = now_seconds() - t0;
    char history[256], normv[64];
    if (qat)
        snprintf(history, sizeof history, "quantize qat epochs=%d lr=%g batch=%d limit=%d first_layer=%s", epochs,
                 (double)lr, qat_batch, limit, mlopt_qmodel_first_layer_float(q) ? "float32" : "int8");
    else
        snprintf(history, sizeof history, "quantize ptq observer=%s calib=%dx%d first_layer=%s", observer,
                 calib_batches, calib_batch, mlopt_qmodel_first_layer_float(q) ? "float32" : "int8");
    snprintf(normv, sizeof normv, "%.9g,%.9g", (double)qc.mean, (double)qc.std);
    mlopt_meta meta[3] = { { "train.norm", normv }, { "passes.history", history }, { "mlopt.version", mlopt_version() } };
    if ((s = mlopt_qmodel_save(out, q, meta, 3)) != MLOPT_OK) {
        report_failure("quantize", "writing the int8 checkpoint", s);
        goto done;
    }
    /* The float baseline is the checkpoint as trained (QAT changed m). */
    if ((s = mlopt_checkpoint_model(ck, ctx, &ref)) != MLOPT_OK) {
        report_failure("quantize", "reloading the float model", s);
        goto done;
    }
    double floss, facc, qloss, qacc, f1, q1, f256, q256;
    mlopt_qlayer_report layers[64];
    int nl = 0;
    if ((s = mlopt_evaluate(ref, test, qc.mean, qc.std, 256, &floss, &facc)) != MLOPT_OK ||
        (s = mlopt_qmodel_evaluate(q, test, qc.mean, qc.std, 256, &qloss, &qacc, NULL)) != MLOPT_OK ||
        (s = mlopt_qmodel_report(q, ref, test, qc.mean, qc.std, 256, layers, 64, &nl)) != MLOPT_OK ||
        (s = side_by_side(ref, q, 1, reps * 4, &f1, &q1)) != MLOPT_OK ||
        (s = side_by_side(ref, q, 256, reps, &f256, &q256)) != MLOPT_OK) {
        report_failure("quantize", "measuring", s);
        goto done;
    }
    long long fb = file_size(ckpt), qb = file_size(out);
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "quantize");
        json_str(&j, "mode", qat ? "qat" : "ptq");
        json_str(&j, "observer", mlopt_observer_name(qc.observer));
        json_str(&j, "checkpoint", ckpt);
        json_str(&j, "out", out);
        json_backend(&j, ctx);
        json_bool(&j, "first_layer_float", mlopt_qmodel_first_layer_float(q));
        json_int(&j, "float_bytes", fb);
        json_int(&j, "int8_bytes", qb);
        json_num(&j, "size_ratio", qb > 0 ? (double)fb / qb : 0);
        json_num(&j, "float_accuracy", facc);
        json_num(&j, "int8_accuracy", qacc);
        json_num(&j, "accuracy_drop_points", 100 * (facc - qacc));
        json_num(&j, "float_latency_b1_ms", f1);
        json_num(&j, "int8_latency_b1_ms", q1);
        json_num(&j, "float_latency_b256_ms", f256);
        json_num(&j, "int8_latency_b256_ms", q256);
        json_num(&j, "speedup_b256", q256 > 0 ? f256 / q256 : 0);
        json_num(&j, "quantize_seconds", tq);
        if (qat)
            json_num(&j, "qat_final_loss", qat_loss);
        printf(", \"layers\": [");
        for (int i = 0; i < nl; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            json_write_string(stdout, layers[i].name);
            printf(", \"kind\": ");
            json_write_string(stdout, layers[i].kind);
            printf(", \"sqnr_db\": %.3f, \"scale\": %.9g, \"zero_point\": %d}", layers[i].sqnr_db,
                   (double)layers[i].scale, layers[i].zero_point);
        }
        printf("]");
        json_end(&j);
    } else {
        if (qat)
            printf("quantize (QAT, %d epoch%s at lr %g, final training loss %.4f) in %.1f s; first layer kept in %s\n",
                   epochs, epochs == 1 ? "" : "s", (double)lr, qat_loss, tq,
                   mlopt_qmodel_first_layer_float(q) ? "float32 (requested)" : "int8");
        else
            printf("quantize (PTQ, observer %s, %d x %d calibration samples) in %.1f s; first layer kept in %s\n",
                   mlopt_observer_name(qc.observer), calib_batches, calib_batch, tq,
                   mlopt_qmodel_first_layer_float(q) ? "float32 (more accurate)" : "int8");
        printf("%-32s %14s %14s %9s\n", "", "float32", "int8", "ratio");
        printf("%-32s %14lld %14lld %8.2fx\n", "checkpoint bytes", fb, qb, qb > 0 ? (double)fb / qb : 0.0);
        printf("%-32s %13.2f%% %13.2f%% %+8.2f pt\n", "test accuracy", 100 * facc, 100 * qacc, 100 * (qacc - facc));
        printf("%-32s %14.4f %14.4f\n", "test loss", floss, qloss);
        char lab[64];
        snprintf(lab, sizeof lab, "latency batch 1, %s (ms)", mlopt_context_backend(ctx)->name);
        printf("%-32s %14.3f %14.3f %8.2fx\n", lab, f1, q1, q1 > 0 ? f1 / q1 : 0.0);
        snprintf(lab, sizeof lab, "latency batch 256, %s (ms)", mlopt_context_backend(ctx)->name);
        printf("%-32s %14.2f %14.2f %8.2fx\n", lab, f256, q256, q256 > 0 ? f256 / q256 : 0.0);
        printf("per-layer output SQNR vs float32 (256 test images):\n");
        for (int i = 0; i < nl; i++)
            printf("  %-16s %-13s %7.2f dB   scale %.6g  zero point %d\n", layers[i].name, layers[i].kind,
                   layers[i].sqnr_db, (double)layers[i].scale, layers[i].zero_point);
        printf("saved %s\n", out);
    }
    rc = 0;
done:
    mlopt_qmodel_destroy(q);
    mlopt_model_destroy(ref);
    mlopt_model_destroy(m);
    mlopt_dataset_destroy(train);
    mlopt_dataset_destroy(test);
    mlopt_checkpoint_close(ck);
    mlopt_context_destroy(ctx);
    return rc;
}
