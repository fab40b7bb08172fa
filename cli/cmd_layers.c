/* mlopt layers: layer importance, layer pruning (remove the least
 * important shape-preserving blocks), and Net2Net enhancement (insert an
 * identity layer, widen a layer) that leaves outputs unchanged at surgery. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes_cli.h"

#define MAX_BLOCKS 128

/* Logits of the first n test images (host copy in out[n*classes]). */
static mlopt_status probe_logits(pass_env *e, int n, float *out)
{
    int c, h, w;
    mlopt_dataset_shape(e->test, &c, &h, &w);
    int shape[4] = { n, c, h, w };
    float *img = malloc((size_t)n * c * h * w * sizeof *img);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    int *order = malloc((size_t)n * sizeof *order);
    mlopt_tensor *x = NULL, *logits;
    mlopt_status s = img && lab && order ? mlopt_tensor_create(e->ctx, MLOPT_F32, 4, shape, &x) : MLOPT_E_NOMEM;
    for (int i = 0; order && i < n; i++)
        order[i] = i;
    if (s == MLOPT_OK) {
        mlopt_dataset_batch(e->test, order, n, e->mean, e->std, NULL, 0, img, lab);
        s = mlopt_tensor_upload(x, img, (size_t)n * c * h * w * sizeof *img);
    }
    if (s == MLOPT_OK)
        s = mlopt_model_forward(e->model, x, 0, &logits);
    if (s == MLOPT_OK)
        s = mlopt_tensor_download(logits, out, (size_t)n * mlopt_model_num_classes(e->model) * sizeof *out);
    mlopt_tensor_destroy(x);
    free(img), free(lab), free(order);
    return s;
}

typedef struct layers_extra {
    int has_diff;
    double max_diff;
    int removed;
    const char *removed_names;
} layers_extra;

static void extra_json(json_out *j, void *user)
{
    layers_extra *x = user;
    if (x->has_diff)
        json_num(j, "max_abs_logit_change_at_surgery", x->max_diff);
    if (x->removed_names) {
        json_int(j, "blocks_removed", x->removed);
        json_str(j, "removed", x->removed_names);
    }
}

static int do_importance(pass_env *e, mlopt_dataset *val, int print)
{
    mlopt_block blocks[MAX_BLOCKS];
    double drops[MAX_BLOCKS], base;
    int n;
    mlopt_status s = mlopt_block_importance(e->model, val, e->mean, e->std, 256, &base, blocks, drops, MAX_BLOCKS, &n);
    if (s != MLOPT_OK)
        return report_failure("layers", "measuring layer importance", s);
    if (!print)
        return 0;
    if (G.json) {
        json_out j;
        json_begin(&j, stdout);
        json_str(&j, "command", "layers importance");
        json_str(&j, "checkpoint", e->ckpt_path);
        json_backend(&j, e->ctx);
        json_int(&j, "validation_samples", mlopt_dataset_size(val));
        json_num(&j, "accuracy", base);
        printf(", \"blocks\": [");
        for (int b = 0; b < n; b++) {
            printf("%s{\"name\": ", b ? ", " : "");
            json_write_string(stdout, blocks[b].name);
            printf(", \"layers\": [%d, %d], \"accuracy_drop\": %.6f}", blocks[b].start, blocks[b].end, drops[b]);
        }
        printf("]");
        json_end(&j);
        return 0;
    }
    printf("validation accuracy %.2f%% (%d samples); removable shape-preserving blocks:\n", 100 * base,
           mlopt_dataset_size(val));
    printf("  %-12s %-10s %s\n", "block", "layers", "accuracy drop when bypassed");
    for (int b = 0; b < n; b++) {
        char range[32];
        snprintf(range, sizeof range, "%d..%d", blocks[b].start, blocks[b].end - 1);
        printf("  %-12s %-10s %+.2f pt\n", blocks[b].name, range, 100 * drops[b]);
    }
    if (!n)
        printf("  (none: no conv/linear layer keeps its input shape)\n");
    return 0;
}

int cmd_layers(int argc, char **argv)
{
    pass_opts o;
    pass_opts_default(&o);
    const char *after = NULL, *name = NULL;
    int target = -1, count = 0, width = 0, val_n = 5000;
    cli_option opts[] = {
        { "target", OPT_INT, &target, "N", "remove: keep N removable blocks (drop the least important)", 0, 0 },
        { "count", OPT_INT, &count, "N", "remove: drop N blocks", 1, 0 },
        { "after", OPT_STRING, &after, "NAME", "insert: the layer after which the identity block goes", 0, 0 },
        { "name", OPT_STRING, &name, "NAME", "insert: name of the new layer (default deepN)", 0, 0 },
        { "width", OPT_INT, &width, "N", "widen: the new number of units / filters", 1, 0 },
        { "val", OPT_INT, &val_n, "N", "importance/remove: validation samples held out of the training set (default 5000)", 1, 0 },
        PASS_OPTIONS(o), GLOBAL_OPTIONS, { 0 } };
    const char *pos[3];
    int npos;
    if (args_parse("layers", argc, argv, opts, pos, 3, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt layers CKPT importance | remove --target N | insert --after NAME | widen NAME --width N "
                  "[--out NEW]",
                  "Layer pruning and enhancement. importance: validation accuracy drop when each shape-preserving "
                  "block (a conv/linear keeping its shape, plus its activation/batch-norm/dropout) is bypassed. "
                  "remove: drop the least important blocks (re-ranked after each removal) down to --target. "
                  "insert: Net2DeeperNet identity Linear or 3x3 conv (+ReLU after a ReLU). widen: Net2WiderNet. "
                  "Outputs are unchanged at surgery; --finetune-epochs trains on.", opts);
        return 0;
    }
    if (npos < 2) {
        fprintf(stderr, "mlopt layers: usage: mlopt layers CKPT importance|remove|insert|widen ... (see --help)\n");
        return 2;
    }
    const char *action = pos[1];
    int act = strcmp(action, "importance") == 0 ? 0 : strcmp(action, "remove") == 0 ? 1
            : strcmp(action, "insert") == 0 ? 2 : strcmp(action, "widen") == 0 ? 3 : -1;
    if (act < 0) {
        fprintf(stderr, "mlopt layers: unknown action '%s' (importance, remove, insert, widen)\n", action);
        return 2;
    }
    if (act != 3 && npos > 2) {
        fprintf(stderr, "mlopt layers: unexpected argument '%s'\n", pos[2]);
        return 2;
    }
    if (act && !o.out) {
        fprintf(stderr, "mlopt layers %s: --out FILE is required\n", action);
        return 2;
    }
    if (act == 1 && target < 0 && count <= 0) {
        fprintf(stderr, "mlopt layers remove: give --target N (blocks to keep) or --count N (blocks to drop)\n");
        return 2;
    }
    if (act == 2 && !after) {
        fprintf(stderr, "mlopt layers insert: --after NAME is required\n");
        return 2;
    }
    if (act == 3 && (npos < 3 || width <= 0)) {
        fprintf(stderr, "mlopt layers widen: usage: mlopt layers CKPT widen NAME --width N --out NEW\n");
        return 2;
    }
    pass_env e;
    if (pass_open("layers", pos[0], &o, &e))
        return 1;
    int rc = 1;
    mlopt_dataset *val = NULL;
    mlopt_status s;
    if (act <= 1) {
        if (val_n >= mlopt_dataset_size(e.train)) {
            fprintf(stderr, "mlopt layers: --val %d leaves no training data\n", val_n);
            goto out;
        }
        if ((s = mlopt_dataset_split(e.train, val_n, (uint64_t)o.seed, &val)) != MLOPT_OK) {
            report_failure("layers", "holding out validation data", s);
            goto out;
        }
    }
    if (act == 0) {
        rc = do_importance(&e, val, 1);
        goto out;
    }
    pass_measure before, after_m;
    if (pass_measure_model(&e, e.model, &o, &before))
        goto out;
    layers_extra x = { 0 };
    char desc[512], removed[512] = "";
    int classes = mlopt_model_num_classes(e.model), probe = 64;
    float *l0 = malloc((size_t)probe * classes * sizeof *l0), *l1 = malloc((size_t)probe * classes * sizeof *l1);
    if (!l0 || !l1) {
        free(l0), free(l1);
        fprintf(stderr, "mlopt layers: out of host memory\n");
        goto out;
    }
    if (act == 1) {
        mlopt_block blocks[MAX_BLOCKS];
        int n;
        mlopt_removable_blocks(e.model, blocks, MAX_BLOCKS, &n);
        int keep = target >= 0 ? target : n - count;
        if (keep < 0 || keep > n) {
            fprintf(stderr, "mlopt layers remove: the model has %d removable blocks; cannot keep %d\n", n, keep);
            free(l0), free(l1);
            goto out;
        }
        while (n > keep) {
            double drops[MAX_BLOCKS], base;
            s = mlopt_block_importance(e.model, val, e.mean, e.std, 256, &base, blocks, drops, MAX_BLOCKS, &n);
            if (s != MLOPT_OK)
                break;
            int best = 0;
            for (int b = 1; b < n; b++)
                if (drops[b] < drops[best])
                    best = b;
            if (!G.json)
                fprintf(stderr, "removing %s (validation accuracy drop %+.2f pt when bypassed, base %.2f%%)\n",
                        blocks[best].name, 100 * drops[best], 100 * base);
            snprintf(removed + strlen(removed), sizeof removed - strlen(removed), "%s%s", x.removed ? "," : "",
                     blocks[best].name);
            if ((s = mlopt_remove_layers(e.model, blocks[best].start, blocks[best].end)) != MLOPT_OK)
                break;
            x.removed++;
            n--;
        }
        x.removed_names = removed;
        snprintf(desc, sizeof desc, "layers remove %.400s (kept %d blocks) finetune=%d", removed, keep, o.finetune_epochs);
    } else {
        s = probe_logits(&e, probe, l0);
        if (s == MLOPT_OK)
            s = act == 2 ? mlopt_net2deeper(e.model, after, name) : mlopt_net2wider(e.model, pos[2], width, (uint64_t)o.seed);
        if (s == MLOPT_OK)
            s = probe_logits(&e, probe, l1);
        if (s == MLOPT_OK) {
            x.has_diff = 1;
            for (int i = 0; i < probe * classes; i++)
                if (fabs((double)l1[i] - l0[i]) > x.max_diff)
                    x.max_diff = fabs((double)l1[i] - l0[i]);
            if (!G.json)
                fprintf(stderr, "function preserved: max |logit change| at surgery %.3g over %d test images\n",
                        x.max_diff, probe);
        }
        if (act == 2)
            snprintf(desc, sizeof desc, "layers insert after %s finetune=%d", after, o.finetune_epochs);
        else
            snprintf(desc, sizeof desc, "layers widen %s to %d finetune=%d", pos[2], width, o.finetune_epochs);
    }
    free(l0), free(l1);
    if (s != MLOPT_OK) {
        report_failure("layers", action, s);
        goto out;
    }
    if (pass_finetune(&e, &o, NULL, NULL, o.finetune_epochs) || pass_measure_model(&e, e.model, &o, &after_m) ||
        pass_save(&e, &o, MLOPT_SAVE_MASKS, desc))
        goto out;
    rc = pass_finish(&e, &o, &before, &after_m, desc, extra_json, &x);
out:
    mlopt_dataset_destroy(val);
    pass_close(&e);
    return rc;
}
