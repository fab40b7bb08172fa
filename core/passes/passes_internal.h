/* Shared by the passes: a host copy of a model (specs, shapes, weights and
 * masks) that architecture-changing passes edit and then rebuild on the
 * device.  Surgery is not the hot path, so host math keeps it simple and
 * identical on every backend. */
#ifndef MLOPT_CORE_PASSES_INTERNAL_H
#define MLOPT_CORE_PASSES_INTERNAL_H

#include "mlopt/passes.h"

#include "../model.h"

typedef struct hm_param {
    int ndim;
    int shape[MLOPT_MAX_DIMS];
    size_t numel;
    float *data;
    float *mask; /* NULL: unmasked */
} hm_param;

typedef struct hm_layer {
    mlopt_layer_spec spec;
    int in_ndim, in[3], out_ndim, out[3]; /* shapes before surgery */
    int nparams;
    hm_param p[MLOPT_LAYER_MAX_PARAMS];
} hm_layer;

typedef struct host_model {
    mlopt_context *ctx;
    int in_c, in_h, in_w;
    uint64_t seed, step;
    int n, cap;
    hm_layer *layers;
} host_model;

mlopt_status hm_capture(mlopt_model *m, host_model *hm);
void hm_free(host_model *hm);
/* Build a new initialized model from hm (weights and masks uploaded). */
mlopt_status hm_build(const host_model *hm, mlopt_model **out);
/* Build and swap into m in place; m keeps its address. */
mlopt_status hm_commit(const host_model *hm, mlopt_model *m);
int hm_find(const host_model *hm, const char *name);
/* Insert an empty layer slot at index i (spec copied, no params). */
mlopt_status hm_insert(host_model *hm, int i, const mlopt_layer_spec *spec);
void hm_remove(host_model *hm, int start, int end);
/* Change layer li's output channels to nnew, new channel j copying old
 * channel src[j]; the consumer's inputs from channel j are multiplied by
 * scale[j] (NULL: 1).  Used by structured pruning and Net2WiderNet. */
mlopt_status hm_remap_channels(host_model *hm, int li, int nnew, const int *src, const float *scale);

/* Index of the layer called name, or -1 with an error naming the known layers. */
int passes_find_layer(const mlopt_model *m, const char *name);
int passes_is_weighted(const mlopt_layer *L);
/* Index of the last conv/linear layer (the classifier), or -1. */
int passes_output_layer(const mlopt_model *m);
/* Host copy of a tensor (malloc'ed). */
mlopt_status passes_download(const mlopt_tensor *t, float **out);

/* The training loop shared by mlopt_finetune and mlopt_distill_train: SGD
 * with momentum on m, a cosine learning rate over every step, the first
 * `limit` samples shuffled per epoch, the ragged last batch dropped. */
typedef struct passes_loop {
    int epochs, batch, count;
    long long steps_per_epoch;
    mlopt_schedule sched;
    mlopt_optimizer *opt;
    float *images;
    int32_t *labels;
    int *order;
} passes_loop;
/* what names the caller in errors ("fine-tuning", "distillation"). */
mlopt_status passes_loop_begin(passes_loop *L, mlopt_model *m, const mlopt_dataset *ds,
                               const mlopt_finetune_config *cfg, const char *what);
/* The sample order of epoch e (the first L->count samples, shuffled). */
void passes_loop_epoch(passes_loop *L, const mlopt_dataset *ds, const mlopt_finetune_config *cfg, int e);
/* Batch b of the current epoch into L->images / L->labels. */
void passes_loop_batch(passes_loop *L, const mlopt_dataset *ds, const mlopt_finetune_config *cfg, long long b);
void passes_loop_end(passes_loop *L);

#endif
