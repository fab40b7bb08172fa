/* The internal layer interface: each layer kind lives in core/layers/ and
 * fills an mlopt_layer_ops table.  Layers talk to the device only through
 * BE_CALL. */
#ifndef MLOPT_CORE_LAYER_H
#define MLOPT_CORE_LAYER_H

#include "context.h"

#define MLOPT_LAYER_MAX_PARAMS 4

typedef struct mlopt_layer mlopt_layer;

typedef struct mlopt_param {
    char name[64];       /* full name, e.g. "conv1.weight" */
    int ndim;
    int shape[MLOPT_MAX_DIMS];
    int trainable;
    int fan_in;          /* for initialization */
    enum { INIT_KAIMING_UNIFORM, INIT_BIAS_UNIFORM, INIT_ONES, INIT_ZEROS } init;
    mlopt_tensor *value;
    mlopt_tensor *grad;  /* NULL when !trainable */
    /* Pruning mask (0/1 floats, same shape) or NULL: the optimizer applies
     * it after every update so pruned weights stay exactly zero. */
    mlopt_tensor *mask;
} mlopt_param;

/* A forward/backward call's view of one batch. */
typedef struct mlopt_layer_io {
    int batch;
    mlopt_ref x;   /* layer input */
    mlopt_ref y;   /* layer output */
    mlopt_ref dy;  /* gradient of the output (backward) */
    mlopt_ref dx;  /* gradient of the input; buf NULL: not needed (first layer) */
    int training;
} mlopt_layer_io;

typedef struct mlopt_layer_ops {
    const char *kind_name;
    /* Validate the spec against the input shape, compute the output shape
     * and declare parameters (names, shapes, init). */
    mlopt_status (*infer)(mlopt_layer *L);
    mlopt_status (*forward)(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io);
    mlopt_status (*backward)(mlopt_layer *L, mlopt_context *ctx, const mlopt_layer_io *io);
    /* Per-image forward FLOPs (multiply-add = 2). */
    uint64_t (*flops)(const mlopt_layer *L);
    /* 1 if the output is the input reinterpreted (no copy, no kernel). */
    int aliases_input;
} mlopt_layer_ops;

struct mlopt_layer {
    mlopt_layer_spec spec;
    const mlopt_layer_ops *ops;
    int in_ndim, in[3];    /* per-sample input shape: (c,h,w) or (features) */
    int out_ndim, out[3];
    int nparams;
    mlopt_param params[MLOPT_LAYER_MAX_PARAMS];
    /* Per-batch scratch some layers keep between forward and backward
     * (batch-norm statistics, dropout masks), sized at first use. */
    mlopt_tensor *scratch[2];
    size_t scratch_elems[2];
    uint32_t seed;   /* per-layer, derived from the model seed */
    uint64_t step;   /* set by the model before each forward (dropout seeds) */
};

const mlopt_layer_ops *mlopt_layer_ops_for(mlopt_layer_kind kind);
size_t mlopt_shape_numel(int ndim, const int *shape);
/* Declare a parameter; returns its index. */
int mlopt_layer_add_param(mlopt_layer *L, const char *suffix, int ndim, const int *shape,
                          int trainable, int init, int fan_in);
/* Ensure scratch slot i holds at least elems floats. */
mlopt_status mlopt_layer_scratch(mlopt_layer *L, mlopt_context *ctx, int i, size_t elems);
static inline mlopt_ref mlopt_null_ref(void)
{
    mlopt_ref r = { NULL, 0 };
    return r;
}

extern const mlopt_layer_ops mlopt_conv2d_ops, mlopt_maxpool2d_ops, mlopt_avgpool2d_ops,
    mlopt_linear_ops, mlopt_flatten_ops, mlopt_batchnorm_ops, mlopt_dropout_ops,
    mlopt_activation_ops;

#endif
