/* What the structure-optimization commands (prune, layers,
 * compare-activations) share: loading a checkpoint with its data,
 * measuring a model, the before/after report, and saving. */
#ifndef MLOPT_CLI_PASSES_CLI_H
#define MLOPT_CLI_PASSES_CLI_H

#include "mlopt/passes.h"

#include "common.h"
#include "progress.h"

typedef struct pass_env {
    const char *cmd, *ckpt_path;
    mlopt_checkpoint *ck;
    mlopt_context *ctx;
    mlopt_model *model;         /* edited by the pass */
    mlopt_dataset *train, *test;
    float mean, std;
} pass_env;

/* Options every pass command takes (fine-tuning and measuring). */
typedef struct pass_opts {
    const char *data, *out;
    int finetune_epochs, finetune_limit, batch, seed, test_limit, reps;
    float lr;
} pass_opts;

#define PASS_OPTIONS(o)                                                                                           \
    { "out", OPT_STRING, &(o).out, "FILE", "write the new checkpoint here (required)", 0, 0 },                    \
    { "data", OPT_STRING, &(o).data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)", 0, 0 }, \
    { "finetune-epochs", OPT_INT, &(o).finetune_epochs, "N", "fine-tune N epochs after the pass (default 0)", 0, 0 }, \
    { "finetune-limit", OPT_INT, &(o).finetune_limit, "N", "fine-tune on the first N training samples only", 0, 0 }, \
    { "lr", OPT_FLOAT, &(o).lr, "X", "fine-tuning learning rate, cosine-decayed (default 0.01)", 0, 0 },           \
    { "batch", OPT_INT, &(o).batch, "N", "fine-tuning batch size (default 64)", 1, 0 },                           \
    { "seed", OPT_INT, &(o).seed, "N", "seed for shuffling and Net2Net choices (default 1)", 0, 0 },              \
    { "test-limit", OPT_INT, &(o).test_limit, "N", "measure accuracy on the first N test samples", 0, 0 },        \
    { "reps", OPT_INT, &(o).reps, "N", "latency: batch-256 forwards timed per model (default 15)", 1, 0 }

void pass_opts_default(pass_opts *o);

/* Open the checkpoint, backend, model (with masks) and data. */
int pass_open(const char *cmd, const char *ckpt, const pass_opts *o, pass_env *e);
void pass_close(pass_env *e);

typedef struct pass_measure {
    mlopt_model_summary sum;
    double latency_ms, accuracy, loss;
    long long bytes;
} pass_measure;

/* Summary and test accuracy (latency is measured side by side later). */
int pass_measure_model(pass_env *e, mlopt_model *m, const pass_opts *o, pass_measure *out);
/* Fine-tune e->model if asked (hook: e.g. gradual pruning). */
int pass_finetune(pass_env *e, const pass_opts *o, mlopt_step_hook hook, void *user, int epochs);
/* Save e->model to o->out with the input's normalization; description
 * goes to metadata "passes.history". */
int pass_save(pass_env *e, const pass_opts *o, int flags, const char *description);
/* Reload the original model and time it against e->model in alternating
 * rounds (a fair comparison on a loaded machine); fill latency_ms and
 * bytes of both, print the report (text or --json), return 0. */
int pass_finish(pass_env *e, const pass_opts *o, pass_measure *before, pass_measure *after, const char *description,
                void (*extra_json)(json_out *j, void *user), void *user);

#endif
