/* mlopt: train, evaluate and optimize neural networks on any backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    { "backends", cmd_backends, "list backend plugins, their devices, and why any cannot be used" },
    { "train", cmd_train, "train a model (default: the tutorial CNN on Fashion-MNIST)" },
    { "eval", cmd_eval, "accuracy, loss and confusion matrix of a checkpoint on the test set" },
    { "info", cmd_info, "per-layer shapes, parameters, FLOPs and memory of a model" },
    { "conformance", cmd_conformance, "check every backend's kernels against the CPU reference and ONNX tests" },
    { "bench", cmd_bench, "benchmark GEMM, convolutions, training and inference on each backend" },
    { "tune", cmd_tune, "tune hyperparameters: grid/random/TPE, ASHA/Hyperband, resumable journal" },
    { "search", cmd_search, "architecture search: random/aging evolution, cost constraints, Pareto front" },
    { "report", cmd_report, "one self-contained HTML report of a tune/search directory or a training log" },
    { "prune", cmd_prune, "prune weights or whole filters/neurons of a checkpoint, fine-tune, report speed" },
    { "layers", cmd_layers, "layer importance, layer removal, Net2Net deepen/widen of a checkpoint" },
    { "compare-activations", cmd_compare_activations, "train each activation under one budget and compare" },
    { "distill", cmd_distill, "knowledge distillation of a teacher checkpoint into a smaller student" },
    { "quantize", cmd_quantize, "INT8 post-training / quantization-aware quantization of a checkpoint, float vs int8 report" },
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: mlopt [--backend=NAME] [--device=SEL] [--threads=N] [--json] COMMAND [options]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun `mlopt COMMAND --help` for a command's options.\n"
               "Environment: MLOPT_BACKEND, MLOPT_PLUGIN_PATH, MLOPT_NUM_THREADS, MLOPT_OPENCL_DEVICE, "
               "MLOPT_VULKAN_DEVICE, MLOPT_CPU_REF.\n");
}

/* Global options that take a separate value word (`--backend opencl`). */
static int takes_value(const char *a)
{
    static const char *const names[] = { "--backend", "--device", "--threads" };
    for (int i = 0; i < 3; i++)
        if (strcmp(a, names[i]) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int cmd_index = -1;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (takes_value(argv[i]))
                i++;
            continue;
        }
        cmd_index = i;
        break;
    }
    if (cmd_index < 0) {
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--version") == 0) {
                printf("mlopt %s (backend ABI %d.%d)\n", mlopt_version(), MLOPT_BACKEND_ABI_MAJOR,
                       MLOPT_BACKEND_ABI_MINOR);
                return 0;
            }
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                usage(stdout);
                return 0;
            }
        }
        usage(stderr);
        return 2;
    }
    const char *name = argv[cmd_index];
    for (int c = 0; c < NCOMMANDS; c++) {
        if (strcmp(commands[c].name, name) != 0)
            continue;
        /* The command sees every other argument, global options included. */
        char **rest = malloc((size_t)argc * sizeof *rest);
        if (!rest)
            return 1;
        int n = 0;
        for (int i = 1; i < argc; i++)
            if (i != cmd_index)
                rest[n++] = argv[i];
        int rc = commands[c].fn(n, rest);
        free(rest);
        return rc;
    }
    fprintf(stderr, "mlopt: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
