/*
 * mlopt structure-optimization passes: pruning (unstructured magnitude,
 * structured channels, whole layers), layer enhancement (Net2Net) and
 * activation selection.
 *
 * Passes that change the architecture (structured pruning, layer removal,
 * Net2Net) rebuild the model in place: the mlopt_model pointer stays valid
 * but every tensor, optimizer and trainer made from it before the call must
 * be recreated.  Unstructured pruning keeps the architecture and attaches a
 * 0/1 mask to each pruned parameter; the optimizer multiplies the weights by
 * it (backend slot mask_mul) after every update, on every backend.
 */
#ifndef MLOPT_PASSES_H
#define MLOPT_PASSES_H

#include "mlopt/mlopt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Masks                                                               */
/* ------------------------------------------------------------------ */

/* Attach (or replace) the mask of parameter `param` from numel host floats
 * (0 or 1) and zero the masked weights at once. */
mlopt_status mlopt_mask_set(mlopt_model *m, const char *param, const float *mask);
/* 1 if the parameter has a mask; mask (may be NULL) receives it. */
mlopt_status mlopt_mask_get(mlopt_model *m, const char *param, float *mask, int *has_mask);
/* Fold every mask into its weights (they are zero already) and drop the
 * masks: the result is a plain dense model ("--permanent"). */
mlopt_status mlopt_masks_fold(mlopt_model *m);
/* Masks from the zero pattern of every conv/linear weight (after loading
 * a sparse checkpoint: its stored non-zeros are the kept weights). */
mlopt_status mlopt_masks_from_zeros(mlopt_model *m);
/* Masks stored as "<param>_mask" tensors in a file written by
 * mlopt_passes_save(.., MLOPT_SAVE_MASKS); absent masks are fine. */
mlopt_status mlopt_masks_load(const char *path, mlopt_model *m, int *loaded);

/* ------------------------------------------------------------------ */
/* Unstructured magnitude pruning                                       */
/* ------------------------------------------------------------------ */

typedef enum mlopt_prune_scope { MLOPT_SCOPE_LAYER = 0, MLOPT_SCOPE_GLOBAL = 1 } mlopt_prune_scope;

/* Optional custom scores: fill scores[0..n) for parameter `param` whose
 * weights are w; lower scores are pruned first.  Default: |w|. */
typedef mlopt_status (*mlopt_score_fn)(void *user, const char *param, const float *w, size_t n, float *scores);

typedef struct mlopt_prune_config {
    mlopt_prune_scope scope;
    double amount;        /* target fraction of zero weights, in [0, 1) */
    long long count;      /* > 0: prune this many weights instead of `amount` */
    const char *const *layers; /* layer names to prune; NULL: every conv and linear */
    int nlayers;
    mlopt_score_fn score;
    void *score_user;
} mlopt_prune_config;

/* Prune weights (not biases) to the target sparsity.  Already-pruned
 * weights count towards the target, so calling it with growing amounts
 * (iterative and gradual schedules) only adds zeros. */
mlopt_status mlopt_prune_magnitude(mlopt_model *m, const mlopt_prune_config *cfg);

/* Zhu & Gupta (2017): s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3,
 * clamped to s_i before t0 and s_f after t0 + n dt. */
double mlopt_gradual_sparsity(double s_i, double s_f, long long t, long long t0, long long n, long long dt);

/* ------------------------------------------------------------------ */
/* Structured pruning (conv filters, linear neurons)                   */
/* ------------------------------------------------------------------ */

typedef enum mlopt_channel_score {
    MLOPT_CHANNEL_L1 = 0,     /* L1 norm of the filter / neuron's weights */
    MLOPT_CHANNEL_L2 = 1,     /* L2 norm */
    MLOPT_CHANNEL_BN = 2,     /* |gamma| of the batch-norm that follows (network slimming) */
    MLOPT_CHANNEL_TAYLOR = 3  /* sum over the channel of |w dL/dw|, over a few batches */
} mlopt_channel_score;

/* Data for data-driven scores (Taylor). */
typedef struct mlopt_score_data {
    const mlopt_dataset *ds;
    float mean, std;
    int batch;    /* default 64 */
    int batches;  /* default 8 */
} mlopt_score_data;

/* Scores of the output channels of layer `layer` (conv or linear),
 * scores[0..out). */
mlopt_status mlopt_channel_scores(mlopt_model *m, const char *layer, mlopt_channel_score how,
                                  const mlopt_score_data *data, float *scores);

/* Surgery: keep only output channels keep[0..nkeep) (ascending) of layer
 * `layer` and rewrite its consumers: the batch-norm after it, the next
 * conv's input channels, or the next linear's input columns (through a
 * flatten, channel c owns columns c*H*W .. (c+1)*H*W-1). */
mlopt_status mlopt_keep_channels(mlopt_model *m, const char *layer, const int *keep, int nkeep);

typedef struct mlopt_structured_config {
    mlopt_channel_score score;
    mlopt_prune_scope scope; /* global: scores normalized by each layer's mean */
    double amount;           /* fraction of channels removed, in [0, 1) */
    const char *const *layers; /* NULL: every conv/linear except the output layer */
    int nlayers;
    mlopt_score_data data;   /* for MLOPT_CHANNEL_TAYLOR */
} mlopt_structured_config;

/* Score and remove channels; every layer keeps at least one. */
mlopt_status mlopt_prune_structured(mlopt_model *m, const mlopt_structured_config *cfg);

/* ------------------------------------------------------------------ */
/* Layer pruning and enhancement                                       */
/* ------------------------------------------------------------------ */

/* A removable block: layers [start, end) that begin with a conv or linear
 * whose output shape equals its input shape, followed by per-element layers
 * (activation, batch-norm, dropout).  Never the output layer. */
typedef struct mlopt_block {
    int start, end;
    char name[32]; /* name of the first layer */
} mlopt_block;
mlopt_status mlopt_removable_blocks(const mlopt_model *m, mlopt_block *blocks, int max, int *count);
/* Remove layers [start, end) (must be shape-preserving). */
mlopt_status mlopt_remove_layers(mlopt_model *m, int start, int end);
/* Accuracy on ds of the model, and with each block bypassed (drops[i] =
 * base - accuracy without block i; blocks as mlopt_removable_blocks). */
mlopt_status mlopt_block_importance(mlopt_model *m, const mlopt_dataset *ds, float mean, float std, int batch,
                                    double *base_acc, mlopt_block *blocks, double *drops, int max, int *count);

/* Net2DeeperNet: insert after layer `after` an identity-initialized
 * Linear(n,n) (flat input) or 3x3 conv (c->c, pad 1, identity kernel),
 * followed by a ReLU when the input is the output of a ReLU (so the
 * function is unchanged).  name: the new layer's name (NULL: automatic). */
mlopt_status mlopt_net2deeper(mlopt_model *m, const char *after, const char *name);
/* Net2WiderNet: widen conv/linear `layer` to `width` outputs by replicating
 * randomly chosen units (seeded) and dividing their outgoing weights by the
 * number of copies, so the function is unchanged. */
mlopt_status mlopt_net2wider(mlopt_model *m, const char *layer, int width, uint64_t seed);

/* Replace every activation ("relu", "leaky_relu:0.01", ...); weights kept. */
mlopt_status mlopt_model_set_activation(mlopt_model *m, const char *act);

/* ------------------------------------------------------------------ */
/* Fine-tuning, evaluation, reports, checkpoints                       */
/* ------------------------------------------------------------------ */

typedef mlopt_status (*mlopt_step_hook)(void *user, mlopt_model *m, long long step, long long total);

typedef struct mlopt_finetune_config {
    int epochs;        /* default 1 */
    int batch;         /* default 64 */
    float lr;          /* default 0.01, cosine-decayed to 0 */
    float momentum;    /* default 0.9 (SGD); < 0: none */
    uint64_t seed;     /* shuffling */
    float mean, std;   /* input normalization */
    int limit;         /* > 0: use only the first `limit` training samples */
    mlopt_step_hook before_step; /* e.g. the gradual pruning schedule */
    void *user;
} mlopt_finetune_config;
/* SGD training of m on ds (masks hold). train_loss may be NULL. */
mlopt_status mlopt_finetune(mlopt_model *m, const mlopt_dataset *ds, const mlopt_finetune_config *cfg,
                            double *train_loss);

/* Gradual pruning during mlopt_finetune: pass mlopt_gradual_hook as
 * before_step and a mlopt_gradual_state as user. */
typedef struct mlopt_gradual_state {
    mlopt_prune_config prune; /* amount = final sparsity s_f */
    double initial;           /* s_i */
    long long t0, n, dt;      /* start step, pruning events, steps between events */
} mlopt_gradual_state;
mlopt_status mlopt_gradual_hook(void *user, mlopt_model *m, long long step, long long total);

mlopt_status mlopt_evaluate(mlopt_model *m, const mlopt_dataset *ds, float mean, float std, int batch,
                            double *loss, double *accuracy);

typedef struct mlopt_model_summary {
    uint64_t params;        /* trainable parameters */
    uint64_t nonzeros;      /* of those, non-zero */
    uint64_t flops;         /* dense forward FLOPs per image */
    uint64_t sparse_flops;  /* conv/linear FLOPs scaled by their weights' density */
} mlopt_model_summary;
mlopt_status mlopt_model_summarize(mlopt_model *m, mlopt_model_summary *out);
/* Median wall time in milliseconds of `reps` evaluation-mode forwards of a
 * batch of `batch` images (after one warm-up), synchronized each time. */
mlopt_status mlopt_model_latency(mlopt_model *m, int batch, int reps, double *median_ms);

enum {
    MLOPT_SAVE_MASKS = 1,  /* also store masks as "<param>_mask" */
    MLOPT_SAVE_SPARSE = 2  /* conv/linear weights as "<param>.indices" I32 + "<param>.values" F32 */
};
/* A checkpoint of m (spec, input, seed and meta as mlopt_checkpoint_save,
 * no optimizer state), readable by mlopt_checkpoint_model: sparse tensors
 * are densified on load. */
mlopt_status mlopt_passes_save(const char *path, mlopt_model *m, const mlopt_meta *meta, int nmeta, int flags);


/* ------------------------------------------------------------------ */
/* Knowledge distillation (Hinton, Vinyals & Dean 2015)                */
/*                                                                     */
/* Per sample: alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))
 *           + (1 - alpha) * CE(student, label)
 *           + hint_weight * mean((P(student feature) - teacher feature)^2)
 * where P is a learned 1x1 convolution (both features images of the same
 * spatial size) or linear map (otherwise, on the flattened features).  The
 * teacher runs forward in evaluation mode on the student's context and is
 * never updated; its logits and features never leave the device.        */
/* ------------------------------------------------------------------ */

/* Averages over the samples since the last read. */
typedef struct mlopt_distill_metrics {
    long long samples;
    double loss;     /* the combined loss above */
    double kl;       /* KL(p_t || p_s) at temperature T (without the T^2 factor) */
    double ce;       /* hard-label cross-entropy of the student */
    double hint;     /* mean squared error of the hint (0 without one) */
    double accuracy; /* student training accuracy */
} mlopt_distill_metrics;

typedef struct mlopt_distill_config {
    float temperature;        /* T > 0 (default 4) */
    float alpha;              /* soft-target weight in [0, 1] (default 0.9); 0: plain cross-entropy */
    const char *hint_teacher; /* layer names for the hint loss; NULL: none */
    const char *hint_student;
    float hint_weight;        /* default 1 when a hint is given */
    uint64_t seed;            /* initialization of the hint projection */
    /* mlopt_distill_train only: called after every epoch (may be NULL). */
    mlopt_status (*after_epoch)(void *user, int epoch, const mlopt_distill_metrics *m);
    void *user;
} mlopt_distill_config;


/* temperature 4, alpha 0.9, no hint, hint_weight 1, seed 1. */
void mlopt_distill_defaults(mlopt_distill_config *c);

/* The combined soft/hard loss of one batch on the device.  student and
 * teacher: [rows, cols] logits; labels: int32 [rows]; sums: at least 2
 * floats, sums[0] += sum of KL over rows, sums[1] += sum of CE over rows.
 * dlogits (may be NULL): gradient of the batch mean of the combined loss
 * wrt the student logits; scratch: [rows, cols], needed when dlogits is
 * given and 0 < alpha < 1.  teacher may be NULL when alpha == 0. */
mlopt_status mlopt_distill_loss(mlopt_context *ctx, int rows, int cols, float temperature, float alpha,
                                const mlopt_tensor *student, const mlopt_tensor *teacher, const mlopt_tensor *labels,
                                mlopt_tensor *sums, mlopt_tensor *dlogits, mlopt_tensor *scratch);

/* A distillation trainer: one step uploads the batch once, runs the
 * teacher (eval) and student (train) forwards on it, the loss and its
 * gradient, backward and the optimizer step, all enqueued on the device;
 * only mlopt_distiller_read_metrics synchronizes.  teacher may be NULL
 * when alpha == 0 and there is no hint (the baseline). */
typedef struct mlopt_distiller mlopt_distiller;
mlopt_status mlopt_distiller_create(mlopt_model *teacher, mlopt_model *student, mlopt_optimizer *opt, int max_batch,
                                    const mlopt_distill_config *cfg, mlopt_distiller **out);
void mlopt_distiller_destroy(mlopt_distiller *d);
mlopt_status mlopt_distiller_step(mlopt_distiller *d, const float *images, const int32_t *labels, int n, float lr);
/* Read and zero the accumulated metrics (one host synchronization). */
mlopt_status mlopt_distiller_read_metrics(mlopt_distiller *d, mlopt_distill_metrics *out);

/* Distil teacher into student on ds with the fine-tuning loop of
 * mlopt_finetune (SGD with momentum, cosine learning rate, the same
 * shuffling; loop->before_step is ignored).  last (may be NULL): metrics
 * of the last epoch. */
mlopt_status mlopt_distill_train(mlopt_model *teacher, mlopt_model *student, const mlopt_dataset *ds,
                                 const mlopt_distill_config *cfg, const mlopt_finetune_config *loop,
                                 mlopt_distill_metrics *last);

#ifdef __cplusplus
}
#endif
#endif /* MLOPT_PASSES_H */
