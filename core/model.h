/* The model's internal layout, shared by the core's passes. */
#ifndef MLOPT_CORE_MODEL_H
#define MLOPT_CORE_MODEL_H

#include "layer.h"

/* An optional observer of the forward and backward passes, owned by whoever
 * sets it (quantization-aware training, core/quant/qat_fq.c, inserts fake
 * quantization with it).  after_forward may rewrite layer i's output y in
 * place; before_backward may rewrite the gradient dy of layer i's output in
 * place before layer i's backward runs.  Called only for layers that do not
 * alias their input; a NULL function is skipped. */
typedef struct mlopt_model_hook {
    mlopt_status (*after_forward)(void *user, mlopt_model *m, int layer, int batch, int training, mlopt_ref y);
    mlopt_status (*before_backward)(void *user, mlopt_model *m, int layer, int batch, mlopt_ref dy);
    void *user;
} mlopt_model_hook;

struct mlopt_model {
    mlopt_context *ctx;
    int in_c, in_h, in_w;
    int nlayers, cap;
    mlopt_layer *layers;
    int initialized;
    uint64_t seed;
    /* Activations of the last forward: acts[i] is layer i's output (NULL for
     * layers whose output aliases their input). */
    int act_batch;
    mlopt_tensor **acts;
    /* Two ping-pong buffers for gradients flowing backwards. */
    mlopt_tensor *grad[2];
    size_t grad_elems;
    int last_batch, last_training;
    mlopt_ref last_input;
    mlopt_tensor logits;
    int kind_count[MLOPT_LAYER_KIND_COUNT_];
    /* Training step counter: seeds dropout so a resumed run draws the same masks. */
    uint64_t step;
    /* NULL unless a pass observes forward / backward (see mlopt_model_hook). */
    const mlopt_model_hook *hook;
    /* Set by passes that read intermediate outputs (mlopt_model_output_ref)
     * after a forward: every layer's output is then written, with no
     * ReLU / max-pool swap (model_relu_pool.c). */
    int keep_outputs;
    /* mlopt_model_set_rewrites(m, 0) */
    int no_rewrites;
    /* Whether the last forward swapped ReLU / max-pool pairs. */
    int last_swap;
};

/* Reference to layer i's output in the last forward (i = -1: the input). */
mlopt_ref mlopt_model_output_ref(const mlopt_model *m, int i);
/* Flat parameter index -> (layer, param) */
mlopt_param *mlopt_model_param_at(mlopt_model *m, int index);
/* ReLU then max-pool as max-pool then ReLU (model_relu_pool.c): whether
 * this forward may swap (no hook, no keep_outputs), whether layers i, i+1
 * are such a pair, and the pair's forward / backward (io: the pool layer's,
 * with x the ReLU's input). */
int mlopt_model_swap_allowed(const mlopt_model *m);
int mlopt_model_swaps_relu_pool(const mlopt_model *m, int i);
mlopt_status mlopt_model_relu_pool_forward(mlopt_model *m, int i, const mlopt_layer_io *io);
mlopt_status mlopt_model_relu_pool_backward(mlopt_model *m, int i, const mlopt_layer_io *io, mlopt_ref scratch);
/* Drop the activation buffers (after surgery changes shapes). */
void mlopt_model_release_activations(mlopt_model *m);

#endif
