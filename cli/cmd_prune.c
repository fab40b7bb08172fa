/* mlopt prune: unstructured magnitude pruning (masks that hold through
 * fine-tuning) or structured removal of conv filters / linear neurons
 * (a smaller dense model), one-shot, iterative or gradual, with fine-tuning
 * and a before/after report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes_cli.h"

#define MAX_LAYERS 64

static int split_layers(const char *list, char *buf, size_t len, const char **names, int *n)
{
    *n = 0;
    if (!list)
        return 0;
    snprintf(buf, len, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LAYERS)
            return 1;
        names[(*n)++] = t;
    }
    return 0;
}

int cmd_prune(int argc, char **argv)
{
    pass_opts o;
    pass_opts_default(&o);
    const char *method = "magnitude", *scope = "layer", *schedule = "oneshot", *layers = NULL;
    float amount = -1;
    int count = 0, permanent = 0, sparse = 0, rounds = 3, taylor_batches = 8;
    cli_option opts[] = {
        { "method", OPT_STRING, &method, "NAME", "magnitude (default), l1-filter, l2-filter, bn-slim or taylor", 0, 0 },
        { "amount", OPT_FLOAT, &amount, "X", "fraction to prune in [0,1): weights (magnitude) or channels", 0, 0 },
        { "count", OPT_INT, &count, "N", "magnitude: prune N weights instead of a fraction", 1, 0 },
        { "scope", OPT_STRING, &scope, "NAME", "layer (each layer by --amount, default) or global", 0, 0 },
        { "layers", OPT_STRING, &layers, "A,B", "only these layers (default: every conv/linear; structured: not the output)", 0, 0 },
        { "schedule", OPT_STRING, &schedule, "NAME", "oneshot (default), iterative or gradual (magnitude, during fine-tuning)", 0, 0 },
        { "rounds", OPT_INT, &rounds, "N", "iterative: prune/fine-tune rounds (default 3)", 1, 0 },
        { "taylor-batches", OPT_INT, &taylor_batches, "N", "taylor: batches of gradients to score with (default 8)", 1, 0 },
        { "permanent", OPT_FLAG, &permanent, NULL, "fold masks into the weights (no masks in the checkpoint)", 0, 0 },
        { "sparse", OPT_FLAG, &sparse, NULL, "store conv/linear weights as indices + values (non-zeros only)", 0, 0 },
        PASS_OPTIONS(o), GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("prune", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt prune CKPT --method magnitude|l1-filter|l2-filter|bn-slim|taylor --amount X --out NEW",
                  "Prune a checkpoint. magnitude zeroes the smallest weights and keeps them zero through fine-tuning "
                  "(masks applied after every optimizer step on the device); the other methods remove whole conv "
                  "filters / linear neurons and rewrite the layers that consume them, giving a smaller dense model. "
                  "Ends with parameters, non-zeros, FLOPs, checkpoint size, batch-256 latency and test accuracy "
                  "before and after.", opts);
        return 0;
    }
    if (!npos) {
        fprintf(stderr, "mlopt prune: which checkpoint? e.g. `mlopt prune model.safetensors --amount 0.5 --out pruned.safetensors`\n");
        return 2;
    }
    if (!o.out) {
        fprintf(stderr, "mlopt prune: --out FILE is required\n");
        return 2;
    }
    int structured;
    mlopt_channel_score how = MLOPT_CHANNEL_L1;
    if (strcmp(method, "magnitude") == 0)
        structured = 0;
    else if (strcmp(method, "l1-filter") == 0)
        structured = 1, how = MLOPT_CHANNEL_L1;
    else if (strcmp(method, "l2-filter") == 0)
        structured = 1, how = MLOPT_CHANNEL_L2;
    else if (strcmp(method, "bn-slim") == 0)
        structured = 1, how = MLOPT_CHANNEL_BN;
    else if (strcmp(method, "taylor") == 0)
        structured = 1, how = MLOPT_CHANNEL_TAYLOR;
    else {
        fprintf(stderr, "mlopt prune: --method must be magnitude, l1-filter, l2-filter, bn-slim or taylor, got '%s'\n", method);
        return 2;
    }
    if (count > 0 && structured) {
        fprintf(stderr, "mlopt prune: --count applies to --method magnitude only\n");
        return 2;
    }
    if (count <= 0 && !(amount >= 0.0f && amount < 1.0f)) {
        fprintf(stderr, "mlopt prune: --amount must be in [0, 1) (the fraction to prune), got %s\n",
                amount < 0 && !args_find(opts, "amount")->seen ? "nothing" : "a value outside it");
        return 2;
    }
    mlopt_prune_scope sc;
    if (strcmp(scope, "layer") == 0)
        sc = MLOPT_SCOPE_LAYER;
    else if (strcmp(scope, "global") == 0)
        sc = MLOPT_SCOPE_GLOBAL;
    else {
        fprintf(stderr, "mlopt prune: --scope must be layer or global, got '%s'\n", scope);
        return 2;
    }
    int sched = strcmp(schedule, "oneshot") == 0 ? 0 : strcmp(schedule, "iterative") == 0 ? 1
              : strcmp(schedule, "gradual") == 0 ? 2 : -1;
    if (sched < 0) {
        fprintf(stderr, "mlopt prune: --schedule must be oneshot, iterative or gradual, got '%s'\n", schedule);
        return 2;
    }
    if (sched == 2 && (structured || o.finetune_epochs <= 0 || count > 0)) {
        fprintf(stderr, "mlopt prune: --schedule gradual prunes during fine-tuning: it needs --method magnitude, "
                        "--amount and --finetune-epochs >= 1\n");
        return 2;
    }
    char lbuf[1024];
    const char *names[MAX_LAYERS];
    int nnames;
    if (split_layers(layers, lbuf, sizeof lbuf, names, &nnames)) {
        fprintf(stderr, "mlopt prune: at most %d --layers\n", MAX_LAYERS);
        return 2;
    }

    pass_env e;
    if (pass_open("prune", pos[0], &o, &e))
        return 1;
    int rc = 1;
    pass_measure before, after;
    if (pass_measure_model(&e, e.model, &o, &before))
        goto out;
    mlopt_status s = MLOPT_OK;
    char desc[512];
    snprintf(desc, sizeof desc, "%s %s amount=%g scope=%s schedule=%s finetune=%d%s%s", method,
             layers ? layers : "all", count > 0 ? (double)count : (double)amount, scope, schedule, o.finetune_epochs,
             permanent ? " permanent" : "", sparse ? " sparse" : "");
    if (!structured) {
        mlopt_prune_config pc;
        memset(&pc, 0, sizeof pc);
        pc.scope = sc;
        pc.amount = amount;
        pc.count = count;
        pc.layers = layers ? names : NULL;
        pc.nlayers = nnames;
        if (sched == 0) {
            if ((s = mlopt_prune_magnitude(e.model, &pc)) != MLOPT_OK) {
                report_failure("prune", "pruning", s);
                goto out;
            }
            if (pass_finetune(&e, &o, NULL, NULL, o.finetune_epochs))
                goto out;
        } else if (sched == 1) {
            for (int r = 1; r <= rounds; r++) {
                /* equal multiplicative steps: keep (1-a)^(r/R) of the weights after round r */
                pc.amount = count > 0 ? 0 : 1.0 - pow(1.0 - amount, (double)r / rounds);
                pc.count = count > 0 ? (long long)((double)count * r / rounds) : 0;
                if ((s = mlopt_prune_magnitude(e.model, &pc)) != MLOPT_OK) {
                    report_failure("prune", "pruning", s);
                    goto out;
                }
                if (!G.json)
                    fprintf(stderr, "round %d/%d: sparsity target %.3f\n", r, rounds, pc.amount);
                if (pass_finetune(&e, &o, NULL, NULL, o.finetune_epochs))
                    goto out;
            }
        } else {
            mlopt_gradual_state g;
            memset(&g, 0, sizeof g);
            g.prune = pc;
            g.initial = 0;
            int train_n = mlopt_dataset_size(e.train);
            if (o.finetune_limit > 0 && o.finetune_limit < train_n)
                train_n = o.finetune_limit;
            long long total = (long long)(train_n / o.batch) * o.finetune_epochs;
            /* Prune over the first 3/4 of fine-tuning in 10 events (or every step when short); recover after. */
            g.t0 = 0;
            g.n = total >= 40 ? 10 : 1;
            g.dt = (long long)(0.75 * (double)total / (double)g.n);
            if (g.dt < 1)
                g.dt = 1;
            if (pass_finetune(&e, &o, mlopt_gradual_hook, &g, o.finetune_epochs))
                goto out;
        }
    } else {
        mlopt_structured_config c;
        memset(&c, 0, sizeof c);
        c.score = how;
        c.scope = sc;
        c.layers = layers ? names : NULL;
        c.nlayers = nnames;
        c.data.ds = e.train;
        c.data.mean = e.mean;
        c.data.std = e.std;
        c.data.batches = taylor_batches;
        int R = sched == 1 ? rounds : 1;
        for (int r = 1; r <= R; r++) {
            /* each round removes the same fraction of the channels left */
            c.amount = 1.0 - pow(1.0 - amount, 1.0 / R);
            if ((s = mlopt_prune_structured(e.model, &c)) != MLOPT_OK) {
                report_failure("prune", "structured pruning", s);
                goto out;
            }
            if (pass_finetune(&e, &o, NULL, NULL, o.finetune_epochs))
                goto out;
        }
    }
    if (permanent && (s = mlopt_masks_fold(e.model)) != MLOPT_OK) {
        report_failure("prune", "folding masks", s);
        goto out;
    }
    if (pass_measure_model(&e, e.model, &o, &after))
        goto out;
    if (pass_save(&e, &o, (permanent ? 0 : MLOPT_SAVE_MASKS) | (sparse ? MLOPT_SAVE_SPARSE : 0), desc))
        goto out;
    if (!G.json && structured) {
        fprintf(stdout, "layer widths after pruning:");
        for (int i = 0; i < mlopt_model_layer_count(e.model); i++) {
            const mlopt_layer_spec *ls = mlopt_model_layer_spec(e.model, i);
            if (ls->kind == MLOPT_LAYER_CONV2D || ls->kind == MLOPT_LAYER_LINEAR)
                fprintf(stdout, " %s=%d", ls->name, ls->out);
        }
        fprintf(stdout, "\n");
    }
    rc = pass_finish(&e, &o, &before, &after, desc, NULL, NULL);
out:
    pass_close(&e);
    return rc;
}
