/*
 * mlopt public API.
 *
 * Every function returns an mlopt_status (MLOPT_OK == 0) or a value plus a
 * documented failure value; on failure mlopt_last_error() holds a message for
 * the calling thread naming what failed and how to fix it.  The library never
 * exits and never writes to stdout.
 */
#ifndef MLOPT_MLOPT_H
#define MLOPT_MLOPT_H

#include <stddef.h>
#include <stdint.h>

#include "mlopt/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLOPT_VERSION_STRING "0.1.0"

typedef enum mlopt_status {
    MLOPT_OK = 0,
    MLOPT_E_INVALID = 1,     /* bad argument or value */
    MLOPT_E_NOMEM = 2,       /* host or device out of memory */
    MLOPT_E_IO = 3,          /* file system error */
    MLOPT_E_FORMAT = 4,      /* malformed or truncated file */
    MLOPT_E_BACKEND = 5,     /* a backend call failed */
    MLOPT_E_UNSUPPORTED = 6, /* a backend lacks a slot */
    MLOPT_E_NOT_FOUND = 7,   /* unknown name */
    MLOPT_E_NONFINITE = 8    /* NaN/Inf loss */
} mlopt_status;

const char *mlopt_version(void);
const char *mlopt_last_error(void);
const char *mlopt_status_name(mlopt_status s);

/* ------------------------------------------------------------------ */
/* Backends                                                            */
/* ------------------------------------------------------------------ */

#define MLOPT_MAX_DEVICES 16

/* One plugin file the loader looked at. */
typedef struct mlopt_plugin_report {
    char name[64];      /* backend name, or file stem if it never loaded */
    char path[1024];
    int usable;         /* can be selected */
    char why[1024];     /* reason when !usable */
    unsigned abi_major, abi_minor;
    int device_count;
    mlopt_device_info devices[MLOPT_MAX_DEVICES];
} mlopt_plugin_report;

/* Scan the plugin search path (MLOPT_PLUGIN_PATH, then the install
 * directory, then the build tree).  *out is malloc'ed; free with free(). */
mlopt_status mlopt_plugins_scan(mlopt_plugin_report **out, int *count);

/* The directories searched, ':'-joined, into buf. */
void mlopt_plugin_search_path(char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

typedef struct mlopt_context mlopt_context;

/* backend: NULL or "" selects MLOPT_BACKEND, else the best real device,
 * else cpu.  device: NULL = the backend's own default / env var. */
mlopt_status mlopt_context_create(const char *backend, const char *device, mlopt_context **out);
void mlopt_context_destroy(mlopt_context *ctx);
const mlopt_backend *mlopt_context_backend(mlopt_context *ctx);
mlopt_backend_ctx *mlopt_context_backend_ctx(mlopt_context *ctx);
const char *mlopt_context_backend_path(mlopt_context *ctx);
mlopt_status mlopt_context_device_info(mlopt_context *ctx, mlopt_device_info *out);
mlopt_status mlopt_context_set_threads(mlopt_context *ctx, int n);
mlopt_status mlopt_context_stats(mlopt_context *ctx, mlopt_backend_stats *out);
mlopt_status mlopt_context_reset_stats(mlopt_context *ctx);
mlopt_status mlopt_context_synchronize(mlopt_context *ctx);

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

typedef enum mlopt_dtype {
    MLOPT_F32 = 0,
    MLOPT_I32 = 1, /* labels now; quantization accumulators later */
    MLOPT_I8 = 2,  /* reserved for quantization */
    MLOPT_U8 = 3   /* reserved for quantization */
} mlopt_dtype;

#define MLOPT_MAX_DIMS 4

typedef struct mlopt_tensor {
    mlopt_context *ctx;
    mlopt_dtype dtype;
    int ndim;
    int shape[MLOPT_MAX_DIMS];
    mlopt_ref ref;      /* device location */
    int owns;           /* buffer freed with the tensor */
} mlopt_tensor;

size_t mlopt_dtype_size(mlopt_dtype t);
size_t mlopt_tensor_numel(const mlopt_tensor *t);
size_t mlopt_tensor_bytes(const mlopt_tensor *t);
mlopt_status mlopt_tensor_create(mlopt_context *ctx, mlopt_dtype dtype, int ndim,
                                 const int *shape, mlopt_tensor **out);
void mlopt_tensor_destroy(mlopt_tensor *t);
mlopt_status mlopt_tensor_upload(mlopt_tensor *t, const void *host, size_t bytes);
mlopt_status mlopt_tensor_download(const mlopt_tensor *t, void *host, size_t bytes);
mlopt_status mlopt_tensor_fill(mlopt_tensor *t, float value);

/* ------------------------------------------------------------------ */
/* Models: a sequence of layers with inferred shapes                   */
/* ------------------------------------------------------------------ */

typedef enum mlopt_layer_kind {
    MLOPT_LAYER_CONV2D = 0,
    MLOPT_LAYER_MAXPOOL2D,
    MLOPT_LAYER_AVGPOOL2D,
    MLOPT_LAYER_LINEAR,
    MLOPT_LAYER_FLATTEN,
    MLOPT_LAYER_BATCHNORM, /* 1d after linear, 2d after conv: inferred */
    MLOPT_LAYER_DROPOUT,
    MLOPT_LAYER_ACTIVATION,
    MLOPT_LAYER_KIND_COUNT_
} mlopt_layer_kind;

/* Description of one layer.  Unused fields are ignored; zero means the
 * documented default. */
typedef struct mlopt_layer_spec {
    mlopt_layer_kind kind;
    int out;            /* conv: out channels; linear: out features */
    int kernel;         /* conv / pool kernel size (square) */
    int stride;         /* default: 1 for conv, kernel for pools */
    int pad;            /* default 0 */
    int dilation;       /* default 1 */
    int groups;         /* default 1 */
    int no_bias;        /* conv / linear without bias */
    int act;            /* activation: mlopt_act */
    float alpha, beta;  /* activation params; dropout: alpha = p; bn: alpha = eps, beta = momentum */
    char name[32];      /* optional; default conv1, fc1, bn1, ... */
} mlopt_layer_spec;

typedef struct mlopt_model mlopt_model;

/* in_c/in_h/in_w: one sample's shape (1, 28, 28 for Fashion-MNIST). */
mlopt_status mlopt_model_create(mlopt_context *ctx, int in_c, int in_h, int in_w,
                                mlopt_model **out);
void mlopt_model_destroy(mlopt_model *m);
/* Append a layer; its input shape is the previous output: rejected with a
 * message when the shape does not fit (e.g. a conv after a flatten). */
mlopt_status mlopt_model_add(mlopt_model *m, const mlopt_layer_spec *spec);
/* Allocate parameters and initialize them from seed (PyTorch defaults:
 * Kaiming-uniform a=sqrt(5) for weights, U(+-1/sqrt(fan_in)) for biases). */
mlopt_status mlopt_model_init(mlopt_model *m, uint64_t seed);

int mlopt_model_layer_count(const mlopt_model *m);
const mlopt_layer_spec *mlopt_model_layer_spec(const mlopt_model *m, int i);
/* Output shape of layer i for one sample; ndim 3 (c,h,w) or 1 (features). */
void mlopt_model_layer_shape(const mlopt_model *m, int i, int *ndim, int shape[3]);
int mlopt_model_num_classes(const mlopt_model *m);

/* Statistics of one layer, per image. */
typedef struct mlopt_layer_stats {
    uint64_t params;
    uint64_t flops;       /* forward FLOPs per image (multiply-add = 2) */
    uint64_t activation_bytes;
} mlopt_layer_stats;
void mlopt_model_layer_stats(const mlopt_model *m, int i, mlopt_layer_stats *out);

/* Parameters: "conv1.weight", "fc1.bias", "bn1.running_mean", ...  in
 * PyTorch's layouts.  Buffers that are not trained (running stats) are
 * listed too, with trainable == 0. */
int mlopt_model_param_count(const mlopt_model *m);
mlopt_tensor *mlopt_model_param(mlopt_model *m, int i, const char **name, int *trainable);
mlopt_tensor *mlopt_model_find_param(mlopt_model *m, const char *name);

/* Forward a batch x [n, c, h, w] (f32, on this context).  training selects
 * batch statistics and dropout.  *logits is owned by the model and valid
 * until the next forward. */
mlopt_status mlopt_model_forward(mlopt_model *m, const mlopt_tensor *x, int training,
                                 mlopt_tensor **logits);
/* Backpropagate dlogits through the last forward; parameter gradients are
 * overwritten (not accumulated). */
mlopt_status mlopt_model_backward(mlopt_model *m, const mlopt_tensor *dlogits);
/* The gradient tensor of parameter i (NULL for non-trainable). */
mlopt_tensor *mlopt_model_grad(mlopt_model *m, int i);
/* Graph rewrites that change no bit of any result, on by default.  Today
 * one: ReLU followed by max-pooling runs as max-pooling then ReLU, on the
 * pooled (smaller) tensor.  Off (0): every layer runs as written, for
 * cross-checks and debugging. */
void mlopt_model_set_rewrites(mlopt_model *m, int on);

/* ------------------------------------------------------------------ */
/* Model specs: a text format, one layer per line:                     */
/*   conv 32 k=3 [s=1] [p=0] [d=1] [g=1] [bias=0] [name=conv1]          */
/*   maxpool 2 [s=2] [p=0] | avgpool 2 | flatten | linear 128 [bias=0]  */
/*   act relu | act leaky_relu 0.01 | batchnorm [eps=..] | dropout 0.5  */
/* '#' starts a comment.                                                */
/* ------------------------------------------------------------------ */

/* Parse spec text; source names the file in messages ("model.txt:3: ..."). */
mlopt_status mlopt_spec_parse(const char *text, const char *source, mlopt_layer_spec **layers, int *count);
/* Built-in presets: "seed-cnn" (the tutorial's CNN), "seed-cnn-deep:N"
 * (N extra Linear(128,128)+activation blocks), "seed-cnn-bn" (batch-norm
 * after each conv and fc1). */
mlopt_status mlopt_spec_preset(const char *name, mlopt_layer_spec **layers, int *count);
/* A preset name or a spec file path. */
mlopt_status mlopt_spec_load(const char *name_or_path, mlopt_layer_spec **layers, int *count);
/* Replace every activation layer by act ("leaky_relu:0.01", "gelu", ...). */
mlopt_status mlopt_spec_set_activation(mlopt_layer_spec *layers, int count, const char *act);
/* Canonical text (malloc'ed) that mlopt_spec_parse reads back identically. */
mlopt_status mlopt_spec_format(const mlopt_layer_spec *layers, int count, char **text);
/* Activation names: relu, leaky_relu, elu, gelu, silu, tanh, sigmoid,
 * hard_sigmoid, hard_swish, identity; "name:param" sets alpha. */
mlopt_status mlopt_act_parse(const char *text, int *act, float *alpha, float *beta);
const char *mlopt_act_name(int act);
/* Build and initialize a model from specs. */
mlopt_status mlopt_model_from_specs(mlopt_context *ctx, int in_c, int in_h, int in_w,
                                    const mlopt_layer_spec *layers, int count, uint64_t seed,
                                    mlopt_model **out);

/* ------------------------------------------------------------------ */
/* Optimizers and schedules                                            */
/* ------------------------------------------------------------------ */

typedef enum mlopt_optim_kind { MLOPT_OPTIM_SGD = 0, MLOPT_OPTIM_ADAM, MLOPT_OPTIM_ADAMW } mlopt_optim_kind;

typedef struct mlopt_optim_config {
    mlopt_optim_kind kind;
    float lr;
    float momentum, dampening; /* SGD */
    int nesterov;
    float weight_decay;
    float beta1, beta2, eps;   /* Adam; 0 = defaults 0.9, 0.999, 1e-8 */
} mlopt_optim_config;

typedef struct mlopt_optimizer mlopt_optimizer;
mlopt_status mlopt_optimizer_create(mlopt_model *m, const mlopt_optim_config *cfg,
                                    mlopt_optimizer **out);
void mlopt_optimizer_destroy(mlopt_optimizer *o);
/* One update of every trainable parameter with learning rate lr. */
mlopt_status mlopt_optimizer_step(mlopt_optimizer *o, float lr);
long long mlopt_optimizer_steps(const mlopt_optimizer *o);
/* State tensors ("conv1.weight.momentum_buffer", "...exp_avg") for checkpoints. */
int mlopt_optimizer_state_count(const mlopt_optimizer *o);
mlopt_tensor *mlopt_optimizer_state(mlopt_optimizer *o, int i, char *name, size_t len);
void mlopt_optimizer_set_steps(mlopt_optimizer *o, long long steps);

typedef enum mlopt_sched_kind { MLOPT_SCHED_CONSTANT = 0, MLOPT_SCHED_STEP, MLOPT_SCHED_COSINE } mlopt_sched_kind;
typedef struct mlopt_schedule {
    mlopt_sched_kind kind;
    float base_lr;
    long long total_steps;   /* cosine: length of the whole run */
    long long warmup_steps;  /* linear warm-up from 0 (any kind) */
    long long step_size;     /* step: decay every step_size steps */
    float gamma;             /* step: factor */
    float min_lr;            /* cosine: floor */
} mlopt_schedule;
float mlopt_schedule_lr(const mlopt_schedule *s, long long step);

/* ------------------------------------------------------------------ */
/* Training and evaluation steps: everything stays on the device; the  */
/* loss and correct counts accumulate there until read.               */
/* ------------------------------------------------------------------ */

typedef struct mlopt_trainer mlopt_trainer;
mlopt_status mlopt_trainer_create(mlopt_model *m, mlopt_optimizer *o, int max_batch,
                                  mlopt_trainer **out);
void mlopt_trainer_destroy(mlopt_trainer *t);
/* images: n*c*h*w floats (already normalized); labels: n int32. */
mlopt_status mlopt_trainer_train_step(mlopt_trainer *t, const float *images,
                                      const int32_t *labels, int n, float lr);
/* Forward only; preds (may be NULL) receives n argmax indices (syncs). */
mlopt_status mlopt_trainer_eval_step(mlopt_trainer *t, const float *images,
                                     const int32_t *labels, int n, int32_t *preds);
/* Read and zero the accumulated loss sum, correct count and sample count
 * (one host synchronization). */
mlopt_status mlopt_trainer_read_metrics(mlopt_trainer *t, double *loss_sum,
                                        double *correct, long long *samples);

/* ------------------------------------------------------------------ */
/* Datasets: IDX (MNIST / Fashion-MNIST layout) kept as bytes, turned  */
/* into normalized float batches on demand.                            */
/* ------------------------------------------------------------------ */

typedef struct mlopt_dataset mlopt_dataset;

/* dir NULL: /usr/share/datasets/fashion-mnist; split "train" or "t10k". */
mlopt_status mlopt_dataset_load(const char *dir, const char *split, mlopt_dataset **out);
void mlopt_dataset_destroy(mlopt_dataset *ds);
int mlopt_dataset_size(const mlopt_dataset *ds);
void mlopt_dataset_shape(const mlopt_dataset *ds, int *c, int *h, int *w);
int mlopt_dataset_classes(const mlopt_dataset *ds);
/* Pixel mean and standard deviation (of values scaled to [0,1]). */
void mlopt_dataset_stats(const mlopt_dataset *ds, float *mean, float *std);
/* Move `count` samples (a seeded random choice) into a new dataset *out:
 * a validation split.  Both share the pixel data. */
mlopt_status mlopt_dataset_split(mlopt_dataset *ds, int count, uint64_t seed, mlopt_dataset **out);
/* Keep only the first `count` samples (quick runs, tests). */
mlopt_status mlopt_dataset_truncate(mlopt_dataset *ds, int count);
/* A seeded permutation of 0..size-1 for one epoch. */
void mlopt_dataset_shuffle(const mlopt_dataset *ds, uint64_t seed, int *order);

typedef struct mlopt_augment {
    int crop_pad; /* random crop after zero-padding by this many pixels (0: off) */
    int hflip;    /* random horizontal flip */
} mlopt_augment;

/* Fill images (n*c*h*w floats, (x/255 - mean)/std) and labels for the
 * samples order[0..n).  aug may be NULL; seed drives augmentation. */
void mlopt_dataset_batch(const mlopt_dataset *ds, const int *order, int n, float mean, float std,
                         const mlopt_augment *aug, uint64_t seed, float *images, int32_t *labels);

/* ------------------------------------------------------------------ */
/* Training logs: TensorBoard event file plus metrics.csv in logdir.   */
/* ------------------------------------------------------------------ */

typedef struct mlopt_logger mlopt_logger;
mlopt_status mlopt_logger_open(const char *logdir, int append, mlopt_logger **out);
mlopt_status mlopt_logger_scalar(mlopt_logger *l, const char *tag, long long step, double value);
mlopt_status mlopt_logger_flush(mlopt_logger *l);
mlopt_status mlopt_logger_close(mlopt_logger *l);
const char *mlopt_logger_event_path(const mlopt_logger *l);

/* ------------------------------------------------------------------ */
/* Checkpoints: safetensors files with PyTorch tensor names/layouts;  */
/* __metadata__ holds the model spec ("mlopt.spec"), input shape      */
/* ("mlopt.input"), and whatever the caller adds (training state).    */
/* Optimizer state is stored under "optim.<param>.<state>".           */
/* Written to a temporary file, fsynced and renamed.                  */
/* ------------------------------------------------------------------ */

typedef struct mlopt_meta {
    const char *key;
    const char *value;
} mlopt_meta;

typedef struct mlopt_checkpoint mlopt_checkpoint;

mlopt_status mlopt_checkpoint_save(const char *path, mlopt_model *m, mlopt_optimizer *opt,
                                   const mlopt_meta *meta, int nmeta);
/* Open and validate a checkpoint file. */
mlopt_status mlopt_checkpoint_open(const char *path, mlopt_checkpoint **out);
void mlopt_checkpoint_close(mlopt_checkpoint *ck);
/* A metadata value, or NULL. */
const char *mlopt_checkpoint_meta(const mlopt_checkpoint *ck, const char *key);
/* Build the checkpoint's model on ctx and load its weights. */
mlopt_status mlopt_checkpoint_model(const mlopt_checkpoint *ck, mlopt_context *ctx, mlopt_model **out);
/* Load weights into an existing model of the same structure. */
mlopt_status mlopt_checkpoint_load_weights(const mlopt_checkpoint *ck, mlopt_model *m);
/* Restore optimizer state saved with the checkpoint (same optimizer kind),
 * including its step count. */
mlopt_status mlopt_checkpoint_load_optimizer(const mlopt_checkpoint *ck, mlopt_optimizer *o);

#ifdef __cplusplus
}
#endif
#endif /* MLOPT_MLOPT_H */
