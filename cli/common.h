/* What every subcommand shares: global options, opening the backend, and
 * reporting failures. */
#ifndef MLOPT_CLI_COMMON_H
#define MLOPT_CLI_COMMON_H

#include "mlopt/mlopt.h"

#include "args.h"
#include "json_out.h"

typedef struct global_opts {
    const char *backend;
    const char *device;
    int threads;
    int json;
    int stats;
    int help;
} global_opts;

extern global_opts G;

#define GLOBAL_OPTIONS                                                                                        \
    { "backend", OPT_STRING, &G.backend, "NAME",                                                              \
      "backend: cpu, opencl, vulkan or a plugin (default: $MLOPT_BACKEND, else the best device)", 0, 0 },     \
    { "device", OPT_STRING, &G.device, "SEL", "device index or name substring within the backend", 0, 0 },   \
    { "threads", OPT_INT, &G.threads, "N", "host threads (0 = all cores; default $MLOPT_NUM_THREADS)", 0, 0 }, \
    { "json", OPT_FLAG, &G.json, NULL, "print one JSON object with the results on stdout", 0, 0 },            \
    { "stats", OPT_FLAG, &G.stats, NULL, "report host synchronizations and transfers per step", 0, 0 },       \
    { "help", OPT_FLAG, &G.help, NULL, "show this help", 0, 0 }

/* Print "mlopt CMD: WHAT: <last error>" (+ a hint for out-of-memory) to
 * stderr; returns the exit code 1. */
int report_failure(const char *cmd, const char *what, mlopt_status s);
/* Open the selected backend; on failure prints why and returns non-zero. */
int open_context(const char *cmd, mlopt_context **ctx);
const char *device_type_name(int type);
/* Put backend/device fields into a JSON object. */
void json_backend(json_out *j, mlopt_context *ctx);
/* Read a whole model spec (preset name or file) with --activation applied. */
int load_specs(const char *cmd, const char *model, const char *activation, mlopt_layer_spec **specs, int *n);

int cmd_backends(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_compare_activations(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int eval_quantized_checkpoint(mlopt_checkpoint *ck, const char *path, const char *split, mlopt_context *ctx, const mlopt_dataset *ds, int batch, float mean, float std); /* cmd_quantize.c: -1 if ck is not int8 */



/* Print `mlopt eval`'s result; format NULL for float checkpoints. */
void print_eval_result(const char *checkpoint, const char *format, const char *split, mlopt_context *ctx,
                       int samples, double acc, double loss, const long long *conf, int classes);

/* Evaluate a model over a whole dataset: mean loss and accuracy, and the
 * confusion matrix (classes x classes, row = true label) when non-NULL. */
int evaluate_dataset(const char *cmd, mlopt_trainer *tr, const mlopt_dataset *ds, int batch, float mean, float std,
                     double *loss, double *acc, long long *confusion);
#endif
