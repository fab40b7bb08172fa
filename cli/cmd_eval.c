/* mlopt eval: accuracy, loss and confusion matrix of a checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int evaluate_dataset(const char *cmd, mlopt_trainer *tr, const mlopt_dataset *ds, int batch, float mean, float std,
                     double *loss, double *acc, long long *confusion)
{
    int c, h, w, count = mlopt_dataset_size(ds), classes = mlopt_dataset_classes(ds);
    mlopt_dataset_shape(ds, &c, &h, &w);
    float *images = malloc((size_t)batch * c * h * w * sizeof *images);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    int32_t *preds = malloc((size_t)batch * sizeof *preds);
    int *order = malloc((size_t)count * sizeof *order);
    if (!images || !labels || !preds || !order) {
        free(images), free(labels), free(preds), free(order);
        fprintf(stderr, "mlopt %s: out of host memory\n", cmd);
        return 1;
    }
    for (int i = 0; i < count; i++)
        order[i] = i;
    mlopt_status s = mlopt_trainer_read_metrics(tr, NULL, NULL, NULL); /* start from zero */
    if (s == MLOPT_E_NONFINITE)
        s = MLOPT_OK;
    for (int start = 0; s == MLOPT_OK && start < count; start += batch) {
        int n = count - start < batch ? count - start : batch;
        mlopt_dataset_batch(ds, order + start, n, mean, std, NULL, 0, images, labels);
        s = mlopt_trainer_eval_step(tr, images, labels, n, confusion ? preds : NULL);
        if (s == MLOPT_OK && confusion)
            for (int i = 0; i < n; i++)
                if (preds[i] >= 0 && preds[i] < classes)
                    confusion[labels[i] * classes + preds[i]]++;
    }
    double loss_sum = 0, correct = 0;
    long long samples = 0;
    if (s == MLOPT_OK)
        s = mlopt_trainer_read_metrics(tr, &loss_sum, &correct, &samples);
    free(images), free(labels), free(preds), free(order);
    if (s != MLOPT_OK)
        return report_failure(cmd, "evaluation", s);
    *loss = samples ? loss_sum / (double)samples : 0;
    *acc = samples ? correct / (double)samples : 0;
    return 0;
}

/* The result of `mlopt eval` (float or int8 checkpoints alike): accuracy,
 * loss and confusion matrix, as text or as one JSON object. */
void print_eval_result(const char *checkpoint, const char *format, const char *split, mlopt_context *ctx,
                       int samples, double acc, double loss, const long long *conf, int classes)
{
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "eval");
        json_str(&j, "checkpoint", checkpoint);
        if (format)
            json_str(&j, "format", format);
        json_backend(&j, ctx);
        json_int(&j, "samples", samples);
        json_num(&j, "accuracy", acc);
        json_num(&j, "loss", loss);
        printf(", \"confusion\": [");
        for (int r = 0; r < classes; r++) {
            printf("%s[", r ? ", " : "");
            for (int c = 0; c < classes; c++)
                printf("%s%lld", c ? ", " : "", conf[r * classes + c]);
            printf("]");
        }
        printf("]");
        json_end(&j);
        return;
    }
    printf("%s%s%s%s on %s: accuracy %.2f%%, loss %.4f (%d samples)\n", checkpoint, format ? " (" : "",
           format ? format : "", format ? ")" : "", split, 100 * acc, loss, samples);
    printf("confusion matrix (rows: true class, columns: predicted):\n      ");
    for (int c = 0; c < classes; c++)
        printf("%6d", c);
    printf("\n");
    for (int r = 0; r < classes; r++) {
        printf("%6d", r);
        for (int c = 0; c < classes; c++)
            printf("%6lld", conf[r * classes + c]);
        printf("\n");
    }
}

int cmd_eval(int argc, char **argv)
{
    const char *data = NULL, *checkpoint = NULL, *split = "t10k";
    int batch = 256, limit = 0;
    cli_option opts[] = {
        { "checkpoint", OPT_STRING, &checkpoint, "FILE", "checkpoint to evaluate (or give it as the argument)", 0, 0 },
        { "data", OPT_STRING, &data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)", 0, 0 },
        { "split", OPT_STRING, &split, "NAME", "t10k (test, default) or train", 0, 0 },
        { "batch", OPT_INT, &batch, "N", "evaluation batch size (default 256)", 1, 0 },
        { "limit", OPT_INT, &limit, "N", "evaluate only the first N samples", 1, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("eval", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt eval CHECKPOINT [--data=DIR] [--json]",
                  "Evaluate a checkpoint on the test set: accuracy, mean cross-entropy loss and the confusion "
                  "matrix (rows: true class, columns: predicted).", opts);
        return 0;
    }
    if (npos)
        checkpoint = pos[0];
    if (!checkpoint) {
        fprintf(stderr, "mlopt eval: which checkpoint? e.g. `mlopt eval model.safetensors`\n");
        return 2;
    }
    mlopt_checkpoint *ck;
    mlopt_status s = mlopt_checkpoint_open(checkpoint, &ck);
    if (s != MLOPT_OK)
        return report_failure("eval", "reading the checkpoint", s);
    mlopt_dataset *ds;
    if ((s = mlopt_dataset_load(data, split, &ds)) != MLOPT_OK) {
        mlopt_checkpoint_close(ck);
        return report_failure("eval", "loading the data", s);
    }
    if (limit)
        mlopt_dataset_truncate(ds, limit);
    float mean, std;
    mlopt_dataset_stats(ds, &mean, &std);
    const char *norm = mlopt_checkpoint_meta(ck, "train.norm");
    if (norm)
        sscanf(norm, "%f,%f", &mean, &std);
    mlopt_context *ctx;
    if (open_context("eval", &ctx)) {
        mlopt_checkpoint_close(ck);
        mlopt_dataset_destroy(ds);
        return 1;
    }
    mlopt_model *m = NULL;
    mlopt_trainer *tr = NULL;
    int rc = 1;
    int qrc = eval_quantized_checkpoint(ck, checkpoint, split, ctx, ds, batch, mean, std); /* int8 (mlopt quantize) */
    if (qrc >= 0) {
        rc = qrc;
        goto out;
    }
    s = mlopt_checkpoint_model(ck, ctx, &m);
    if (s != MLOPT_OK) {
        report_failure("eval", "loading the model", s);
        goto out;
    }
    int classes = mlopt_dataset_classes(ds);
    if (mlopt_model_num_classes(m) < classes) {
        fprintf(stderr, "mlopt eval: the model has %d outputs but the data has %d classes\n",
                mlopt_model_num_classes(m), classes);
        goto out;
    }
    if ((s = mlopt_trainer_create(m, NULL, batch, &tr)) != MLOPT_OK) {
        report_failure("eval", "preparing evaluation", s);
        goto out;
    }
    long long *conf = calloc((size_t)classes * classes, sizeof *conf);
    double loss, acc;
    if (!conf || evaluate_dataset("eval", tr, ds, batch, mean, std, &loss, &acc, conf)) {
        free(conf);
        goto out;
    }
    print_eval_result(checkpoint, NULL, split, ctx, mlopt_dataset_size(ds), acc, loss, conf, classes);
    free(conf);
    rc = 0;
out:
    mlopt_trainer_destroy(tr);
    mlopt_model_destroy(m);
    mlopt_checkpoint_close(ck);
    mlopt_dataset_destroy(ds);
    mlopt_context_destroy(ctx);
    return rc;
}
