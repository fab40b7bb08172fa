/* Internals of the int8 quantization (include/mlopt/quant.h): the
 * quantized model's stages, observers and helpers shared by PTQ, QAT,
 * checkpoints and the report. */
#ifndef MLOPT_CORE_QUANT_INTERNAL_H
#define MLOPT_CORE_QUANT_INTERNAL_H

#include "mlopt/quant.h"

#include "../model.h"

/* ---- observers (observers.c) ---- */
typedef struct qobserver {
    mlopt_observer_kind kind;
    float percentile;
    int batches;
    float lo, hi;            /* minmax / ema state */
    float *sample;           /* percentile / mse: reservoir sample of values */
    size_t ns, cap;
    uint64_t seen;
    uint64_t rng;
} qobserver;
void qobs_init(qobserver *o, mlopt_observer_kind kind, float percentile);
mlopt_status qobs_update(qobserver *o, const float *x, size_t n);
/* The range to quantize: always contains 0. */
void qobs_range(qobserver *o, float *lo, float *hi);
void qobs_free(qobserver *o);
/* Affine int8 parameters of a range containing 0. */
void qparams_from_range(float lo, float hi, float *scale, int *zp);

/* ---- the quantized model (qmodel.c) ---- */
typedef enum qstage_kind {
    QS_CONV = 0,   /* conv2d (+ fused ReLU) */
    QS_LINEAR,     /* linear (+ fused ReLU) */
    QS_MAXPOOL,    /* int8 max pooling: scale and zero point unchanged */
    QS_FLATTEN,    /* no data movement */
    QS_FLOAT       /* a float op between dequantize and quantize (avg-pool, other activations) */
} qstage_kind;

typedef struct qstage {
    qstage_kind kind;
    char name[48];
    mlopt_layer_spec spec;    /* of the main layer */
    mlopt_layer_spec act;     /* QS_FLOAT activations: the activation layer's spec */
    int in_ndim, in[3], out_ndim, out[3];
    int layer;                /* float-model index of the main layer */
    int src_layer;            /* float-model layer whose output this stage's output stands for */
    int relu;                 /* fused ReLU */
    int float_exec;           /* conv/linear computed in float32 (first layer option) */
    float in_scale, out_scale;
    int in_zp, out_zp;
    int nout;                 /* output channels (conv / linear) */
    size_t wcount;            /* weights per output channel */
    /* int8 execution */
    mlopt_tensor *w, *bias, *mult, *shift; /* I8 [nout][wcount], I32 [nout] x 3 */
    float *w_scale;                         /* host [nout] */
    /* float execution */
    mlopt_tensor *wf, *bf;                  /* F32 */
    mlopt_tensor *y;                        /* I8 activations for the current batch (NULL: aliases input) */
} qstage;

struct mlopt_qmodel {
    mlopt_context *ctx;
    int in_c, in_h, in_w;
    float in_scale;
    int in_zp;
    int nstages;
    qstage *st;
    int classes;
    char *spec_text;          /* the folded float architecture */
    uint64_t seed;
    /* per-batch buffers */
    int cap_batch;
    mlopt_tensor *xq;         /* quantized input */
    mlopt_tensor *fa, *fb;    /* float scratch for QS_FLOAT and float_exec stages */
    mlopt_tensor *logits_buf;
    mlopt_tensor logits;
};

/* Build the stage skeletons (kinds, shapes, names, src_layer) of float
 * model m, whose batch-norms must already be folded. */
mlopt_status qm_plan(const mlopt_model *m, mlopt_qmodel **out);
/* Quantize stage s's float weights (host, PyTorch layout) and bias with
 * its in/out scales already set; uploads the int8 tensors. */
mlopt_status qm_set_weights(mlopt_qmodel *q, qstage *s, const float *w, const float *b);
/* Upload float weights for a float_exec stage. */
mlopt_status qm_set_float_weights(mlopt_qmodel *q, qstage *s, const float *w, const float *b);
/* Int8 forward of stages [0, upto) (upto = nstages: all, with logits);
 * returns the output of stage upto-1 as int8 in *last (or float logits). */
mlopt_status qm_forward(mlopt_qmodel *q, const mlopt_tensor *x, int upto);
/* The int8 ref of stage i's output (i = -1: the quantized input). */
mlopt_ref qm_stage_output(const mlopt_qmodel *q, int i);
/* Requantization multiplier of a real factor in (0, 2^30): mult, shift. */
mlopt_status qm_multiplier(double real, int32_t *mult, int32_t *shift);

/* Download any tensor ref of `bytes` bytes to host. */
mlopt_status qm_download(mlopt_context *ctx, void *dst, mlopt_ref src, size_t bytes);

/* The float copy of m with batch-norm folded (new model on m's context). */
mlopt_status qm_folded_copy(mlopt_model *m, mlopt_model **out);
/* Calibrate and fill q from the folded float model f (shared by PTQ and
 * QAT: QAT passes its learned activation ranges in ranges[2 * (nstages+1)],
 * entry 0 the input). */
mlopt_status qm_from_float(mlopt_model *f, const mlopt_dataset *ds, const mlopt_quant_config *cfg,
                           const float *ranges, mlopt_qmodel **out);

#endif
