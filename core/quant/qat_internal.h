/* Internals of quantization-aware training (include/mlopt/quant.h):
 * the fake-quantization state of a session (qat_fq.c) and the session
 * itself (qat.c). */
#ifndef MLOPT_CORE_QUANT_QAT_INTERNAL_H
#define MLOPT_CORE_QUANT_QAT_INTERNAL_H

#include "quant_internal.h"

/* Per-tensor affine fake quantization of one activation: the network input
 * (layer -1) or the output of the float layer that an int8 stage's output
 * stands for.  All of its state lives on the device. */
typedef struct qat_point {
    int layer;        /* float-model layer whose output is fake-quantized; -1: the input */
    int stage;        /* qmodel stage (-1: the input) */
    int nonneg;       /* after a fused ReLU: the range's low end is 0 */
    size_t per;       /* elements per sample */
    int seen;         /* batches observed (the first one initializes the average) */
    /* F32 [8]: batch lo, hi | average lo, hi | scale, 1/scale | two temporaries */
    mlopt_tensor *st;
    mlopt_tensor *zp;   /* I32 [1]: zero point + 128 (fake_quant runs with qmin 0, qmax 255) */
    mlopt_tensor *mask; /* F32 [batch * per]: straight-through gradient mask of the last training forward */
    int mask_valid;
} qat_point;

/* Per-output-channel symmetric fake quantization of a conv / linear weight. */
typedef struct qat_weight {
    int layer;
    int k;            /* output channels */
    size_t per;       /* weights per channel */
    mlopt_tensor *fq;    /* fake-quantized weights (swapped into the layer for a pass) */
    mlopt_tensor *mask;  /* STE mask; also scratch for |w| */
    mlopt_tensor *absw;  /* |w| */
    mlopt_tensor *par;   /* F32 [4k]: max|w|, scale, scale^2, 1/scale */
    int swapped;
} qat_weight;

struct mlopt_qat {
    mlopt_model *m;
    mlopt_context *ctx;
    mlopt_quant_config qcfg;
    int first_float;        /* the first conv/linear stays float32 (no input / first-weight fake quantization) */
    int frozen;             /* scales fixed to a converted int8 model's: no observation */
    int nstages;
    int npoints, nweights;
    qat_point *points;
    qat_weight *weights;
    int *point_of_layer;    /* layer -> index into points, or -1 */
    mlopt_model_hook hook;
    /* shared device constants and scratch */
    mlopt_tensor *ones, *zeros, *zeros_i32; /* [max channels] */
    mlopt_tensor *ramp, *ramp_tmp;          /* F32 [256]: 0..255 and a working copy */
    mlopt_tensor *scratch;                  /* F32: two-sided observation of one activation */
    size_t scratch_elems;
    mlopt_tensor *x;                        /* F32 input batch (fake-quantized in place) */
    int x_batch;
};

/* Set up points, weights and t->hook (installed in the model by qat.c for
 * the session's own passes only) for the batch-norm-folded model t->m
 * (t->m, t->ctx, t->qcfg, t->first_float set). */
mlopt_status qat_fq_init(mlopt_qat *t);
void qat_fq_free(mlopt_qat *t);
/* Masks and scratch for batches of up to `batch` samples. */
mlopt_status qat_fq_reserve(mlopt_qat *t, int batch);
/* Observe (unless frozen) and fake-quantize the input batch x in place. */
mlopt_status qat_fq_input(mlopt_qat *t, mlopt_ref x, int batch, int training);
/* Fake-quantize every weight from its current value and swap the
 * fake-quantized tensors into the layers (training: with STE masks). */
mlopt_status qat_fq_weights_in(mlopt_qat *t, int training);
/* Swap the float weights back; training: gradients *= STE masks. */
mlopt_status qat_fq_weights_out(mlopt_qat *t, int training);
/* Learned ranges for qm_from_float: ranges[2 * (nstages + 1)]. */
mlopt_status qat_fq_ranges(mlopt_qat *t, float *ranges);
/* Use exactly q's scales and zero points from now on. */
mlopt_status qat_fq_freeze(mlopt_qat *t, const mlopt_qmodel *q);

#endif
