/* mlopt compare-activations: train the same model with each candidate
 * activation under one budget and seed (or several seeds), and print
 * accuracy and time per epoch side by side. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes_cli.h"

#define MAX_CANDIDATES 16
#define MAX_SEEDS 16

int cmd_compare_activations(int argc, char **argv)
{
    const char *model = "seed-cnn", *data = NULL, *candidates = "relu,leaky_relu:0.01,elu,gelu,silu,tanh";
    int epochs = 1, limit = 0, test_limit = 0, seeds = 1, seed = 1, batch = 64;
    float lr = 0.01f;
    cli_option opts[] = {
        { "model", OPT_STRING, &model, "SPEC", "preset or spec file (default seed-cnn); a CKPT argument fine-tunes its weights instead", 0, 0 },
        { "candidates", OPT_STRING, &candidates, "A,B", "activations (default relu,leaky_relu:0.01,elu,gelu,silu,tanh)", 0, 0 },
        { "epochs", OPT_INT, &epochs, "N", "epochs per candidate (default 1)", 1, 0 },
        { "limit", OPT_INT, &limit, "N", "train on the first N samples only", 1, 0 },
        { "test-limit", OPT_INT, &test_limit, "N", "test on the first N samples only", 1, 0 },
        { "seeds", OPT_INT, &seeds, "N", "repeat with N seeds and report mean +- std (default 1)", 1, 0 },
        { "seed", OPT_INT, &seed, "N", "first seed (default 1)", 0, 0 },
        { "batch", OPT_INT, &batch, "N", "batch size (default 64)", 1, 0 },
        { "lr", OPT_FLOAT, &lr, "X", "SGD learning rate, momentum 0.9, cosine (default 0.01)", 0, 0 },
        { "data", OPT_STRING, &data, "DIR", "IDX dataset directory", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("compare-activations", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt compare-activations [CKPT] [--model SPEC] [--candidates relu,gelu,...] [--epochs N] [--seeds N]",
                  "Train each candidate activation with the same initialization seed, data order and budget, then "
                  "print test accuracy and time per epoch (mean +- std over --seeds).", opts);
        return 0;
    }
    if (seeds > MAX_SEEDS) {
        fprintf(stderr, "mlopt compare-activations: at most %d seeds\n", MAX_SEEDS);
        return 2;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", candidates);
    const char *cand[MAX_CANDIDATES];
    int nc = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int a;
        float al, be;
        if (nc == MAX_CANDIDATES) {
            fprintf(stderr, "mlopt compare-activations: at most %d candidates\n", MAX_CANDIDATES);
            return 2;
        }
        if (mlopt_act_parse(t, &a, &al, &be) != MLOPT_OK) {
            fprintf(stderr, "mlopt compare-activations: %s\n", mlopt_last_error());
            return 2;
        }
        cand[nc++] = t;
    }
    mlopt_checkpoint *ck = NULL;
    mlopt_status s;
    if (npos && (s = mlopt_checkpoint_open(pos[0], &ck)) != MLOPT_OK)
        return report_failure("compare-activations", "reading the checkpoint", s);
    mlopt_layer_spec *specs = NULL;
    int nspecs = 0;
    if (!ck && load_specs("compare-activations", model, NULL, &specs, &nspecs))
        return 1;
    mlopt_dataset *train = NULL, *test = NULL;
    mlopt_context *ctx = NULL;
    int rc = 1;
    if ((s = mlopt_dataset_load(data, "train", &train)) != MLOPT_OK ||
        (s = mlopt_dataset_load(data, "t10k", &test)) != MLOPT_OK) {
        report_failure("compare-activations", "loading the data", s);
        goto out;
    }
    if (test_limit)
        mlopt_dataset_truncate(test, test_limit);
    float mean, std;
    mlopt_dataset_stats(train, &mean, &std);
    if (ck && mlopt_checkpoint_meta(ck, "train.norm"))
        sscanf(mlopt_checkpoint_meta(ck, "train.norm"), "%f,%f", &mean, &std);
    if (open_context("compare-activations", &ctx))
        goto out;
    int c, h, w;
    mlopt_dataset_shape(train, &c, &h, &w);
    double acc[MAX_CANDIDATES][MAX_SEEDS], sec[MAX_CANDIDATES][MAX_SEEDS];
    for (int i = 0; i < nc; i++)
        for (int k = 0; k < seeds; k++) {
            mlopt_model *m = NULL;
            s = ck ? mlopt_checkpoint_model(ck, ctx, &m)
                   : mlopt_model_from_specs(ctx, c, h, w, specs, nspecs, (uint64_t)(seed + k), &m);
            if (s == MLOPT_OK)
                s = mlopt_model_set_activation(m, cand[i]);
            mlopt_finetune_config fc;
            memset(&fc, 0, sizeof fc);
            fc.epochs = epochs, fc.batch = batch, fc.lr = lr, fc.seed = (uint64_t)(seed + k);
            fc.mean = mean, fc.std = std, fc.limit = limit;
            double t0 = now_seconds(), loss;
            if (s == MLOPT_OK)
                s = mlopt_finetune(m, train, &fc, &loss);
            sec[i][k] = (now_seconds() - t0) / epochs;
            if (s == MLOPT_OK)
                s = mlopt_evaluate(m, test, mean, std, 256, &loss, &acc[i][k]);
            mlopt_model_destroy(m);
            if (s != MLOPT_OK) {
                char what[96];
                snprintf(what, sizeof what, "training with %s", cand[i]);
                report_failure("compare-activations", what, s);
                goto out;
            }
            if (!G.json)
                fprintf(stderr, "%s seed %d: test accuracy %.2f%%, %.1f s/epoch\n", cand[i], seed + k,
                        100 * acc[i][k], sec[i][k]);
        }
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "compare-activations");
        json_backend(&j, ctx);
        json_str(&j, "model", ck ? pos[0] : model);
        json_int(&j, "epochs", epochs);
        json_int(&j, "seeds", seeds);
        printf(", \"results\": [");
    } else {
        printf("%-16s %22s %16s   (%d epoch(s), %d seed(s), %s)\n", "activation", "test accuracy (%)", "s / epoch",
               epochs, seeds, mlopt_context_backend(ctx)->name);
    }
    for (int i = 0; i < nc; i++) {
        double ma = 0, sa = 0, mt = 0;
        for (int k = 0; k < seeds; k++)
            ma += acc[i][k] / seeds, mt += sec[i][k] / seeds;
        for (int k = 0; k < seeds; k++)
            sa += (acc[i][k] - ma) * (acc[i][k] - ma);
        sa = seeds > 1 ? sqrt(sa / (seeds - 1)) : 0;
        if (G.json) {
            printf("%s{\"activation\": ", i ? ", " : "");
            json_write_string(stdout, cand[i]);
            printf(", \"accuracy_mean\": %.6f, \"accuracy_std\": %.6f, \"seconds_per_epoch\": %.3f}", ma, sa, mt);
        } else {
            printf("%-16s %14.2f +- %5.2f %16.1f\n", cand[i], 100 * ma, 100 * sa, mt);
        }
    }
    if (G.json) {
        printf("]");
        json_out j = { stdout, 1 };
        json_end(&j);
    }
    rc = 0;
out:
    free(specs);
    mlopt_checkpoint_close(ck);
    mlopt_dataset_destroy(train);
    mlopt_dataset_destroy(test);
    mlopt_context_destroy(ctx);
    return rc;
}
