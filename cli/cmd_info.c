/* mlopt info: per-layer output shape, parameters, FLOPs and memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void shape_text(char *buf, size_t len, int ndim, const int *shape)
{
    if (ndim == 3)
        snprintf(buf, len, "%dx%dx%d", shape[0], shape[1], shape[2]);
    else
        snprintf(buf, len, "%d", shape[0]);
}

int cmd_info(int argc, char **argv)
{
    const char *model = "seed-cnn", *activation = NULL, *input = "1x28x28";
    cli_option opts[] = {
        { "model", OPT_STRING, &model, "SPEC", "preset (seed-cnn, seed-cnn-deep:N, seed-cnn-bn), spec file, or a .safetensors checkpoint", 0, 0 },
        { "activation", OPT_STRING, &activation, "NAME[:P]", "replace every activation (e.g. leaky_relu:0.01)", 0, 0 },
        { "input", OPT_STRING, &input, "CxHxW", "input shape (default 1x28x28)", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("info", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt info [--model=SPEC | CHECKPOINT] [--json]",
                  "Show each layer's output shape, parameter count, forward FLOPs per image (a multiply-add "
                  "counts 2) and activation memory, with totals.", opts);
        return 0;
    }
    if (npos)
        model = pos[0];
    int c, h, w;
    char tail;
    if (sscanf(input, "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c <= 0 || h <= 0 || w <= 0) {
        fprintf(stderr, "mlopt info: --input expects CxHxW (e.g. 1x28x28), got '%s'\n", input);
        return 2;
    }
    mlopt_layer_spec *specs = NULL;
    int n = 0;
    size_t ml = strlen(model);
    if (ml > 12 && strcmp(model + ml - 12, ".safetensors") == 0) {
        mlopt_checkpoint *ck;
        mlopt_status s = mlopt_checkpoint_open(model, &ck);
        if (s != MLOPT_OK)
            return report_failure("info", "reading the checkpoint", s);
        sscanf(mlopt_checkpoint_meta(ck, "mlopt.input"), "%dx%dx%d", &c, &h, &w);
        s = mlopt_spec_parse(mlopt_checkpoint_meta(ck, "mlopt.spec"), model, &specs, &n);
        mlopt_checkpoint_close(ck);
        if (s != MLOPT_OK)
            return report_failure("info", "reading the checkpoint's model", s);
    } else if (load_specs("info", model, activation, &specs, &n)) {
        return 1;
    }
    /* Shapes and counts need no device: the model is never initialized. */
    mlopt_model *m;
    mlopt_status s = mlopt_model_create(NULL, c, h, w, &m);
    for (int i = 0; s == MLOPT_OK && i < n; i++)
        if ((s = mlopt_model_add(m, &specs[i])) != MLOPT_OK)
            fprintf(stderr, "mlopt info: layer %d: %s\n", i + 1, mlopt_last_error());
    free(specs);
    if (s != MLOPT_OK) {
        mlopt_model_destroy(m);
        return 1;
    }
    unsigned long long tp = 0, tf = 0, tm = 0;
    json_out j;
    if (G.json) {
        json_begin(&j, stdout);
        json_str(&j, "command", "info");
        json_str(&j, "model", model);
        printf(", \"layers\": [");
    } else {
        printf("%-10s %-10s %-12s %10s %14s %12s\n", "layer", "kind", "output", "params", "FLOPs/image", "act bytes");
    }
    for (int i = 0; i < mlopt_model_layer_count(m); i++) {
        const mlopt_layer_spec *sp = mlopt_model_layer_spec(m, i);
        mlopt_layer_stats st;
        mlopt_model_layer_stats(m, i, &st);
        int nd, shape[3];
        mlopt_model_layer_shape(m, i, &nd, shape);
        char sh[48];
        shape_text(sh, sizeof sh, nd, shape);
        static const char *kinds[] = { "conv", "maxpool", "avgpool", "linear", "flatten", "batchnorm", "dropout", "act" };
        const char *kind = sp->kind == MLOPT_LAYER_ACTIVATION ? mlopt_act_name(sp->act) : kinds[sp->kind];
        tp += st.params;
        tf += st.flops;
        tm += st.activation_bytes;
        if (G.json)
            printf("%s{\"name\": \"%s\", \"kind\": \"%s\", \"output\": \"%s\", \"params\": %llu, \"flops\": %llu, "
                   "\"activation_bytes\": %llu}",
                   i ? ", " : "", sp->name, kind, sh, (unsigned long long)st.params, (unsigned long long)st.flops,
                   (unsigned long long)st.activation_bytes);
        else
            printf("%-10s %-10s %-12s %10llu %14llu %12llu\n", sp->name, kind, sh, (unsigned long long)st.params,
                   (unsigned long long)st.flops, (unsigned long long)st.activation_bytes);
    }
    if (G.json) {
        printf("]");
        json_int(&j, "params", (long long)tp);
        json_int(&j, "flops", (long long)tf);
        json_int(&j, "activation_bytes", (long long)tm);
        json_int(&j, "param_bytes", (long long)tp * 4);
        json_end(&j);
    } else {
        printf("%-10s %-10s %-12s %10llu %14llu %12llu\n", "total", "", "", tp, tf, tm);
        printf("parameters: %llu (%.2f MB as float32); forward: %.2f MFLOPs per image\n", tp, tp * 4.0 / 1e6,
               tf / 1e6);
    }
    mlopt_model_destroy(m);
    return 0;
}
