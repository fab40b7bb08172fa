/*
 * mlopt INT8 quantization: batch-norm folding, post-training quantization
 * (PTQ) with calibration observers, quantization-aware training (QAT), an
 * int8 inference path through the ABI 1.1 integer slots, and quantized
 * checkpoints.
 *
 * Scheme (see backend.h for the exact kernel formulas):
 *   - weights: int8 symmetric per output channel, scale = max|w| / 127,
 *     values in [-127, 127];
 *   - activations: int8 affine per tensor, r = scale * (q - zero_point),
 *     the calibrated range always contains 0 (so padding is exact);
 *   - bias: int32 with scale s_in * s_w[channel];
 *   - requantization: per-channel fixed-point multiplier and shift for
 *     s_in * s_w / s_out; ReLU after conv/linear is fused (clamp at the
 *     output zero point); max-pool and flatten run on int8 directly;
 *     other layers (avg-pool, other activations) run in float between a
 *     dequantize and a quantize.
 *   - the network input is quantized with its own calibrated scale, and
 *     the logits are dequantized to float at the end.
 */
#ifndef MLOPT_QUANT_H
#define MLOPT_QUANT_H

#include "mlopt/mlopt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mlopt_observer_kind {
    MLOPT_OBSERVER_MINMAX = 0,     /* running min / max over all batches */
    MLOPT_OBSERVER_EMA = 1,        /* moving-average min / max per batch (constant 0.01, as PyTorch) */
    MLOPT_OBSERVER_PERCENTILE = 2, /* the 'percentile' and 100-'percentile' quantiles of a value sample */
    MLOPT_OBSERVER_MSE = 3         /* range minimizing the quantization MSE on a value sample */
} mlopt_observer_kind;

/* "minmax", "ema", "percentile", "mse" -> kind; MLOPT_E_INVALID otherwise. */
mlopt_status mlopt_observer_parse(const char *name, mlopt_observer_kind *out);
const char *mlopt_observer_name(mlopt_observer_kind k);

typedef struct mlopt_quant_config {
    mlopt_observer_kind observer;
    int calib_batches;   /* default 16 */
    int calib_batch;     /* samples per calibration batch, default 64 */
    float percentile;    /* percentile observer, default 99.99 */
    /* First conv/linear layer: 0 = int8, 1 = keep float32, -1 = automatic
     * (float when that gives a higher logit SQNR on calibration data). */
    int first_layer_float;
    uint64_t seed;       /* which training samples calibrate */
    float mean, std;     /* input normalization */
} mlopt_quant_config;

void mlopt_quant_config_default(mlopt_quant_config *c);

/* Fold every batch-norm that directly follows a conv / linear layer into
 * that layer's weights and bias (eval-mode statistics); the model loses
 * those layers and computes the same function. *folded: how many. */
mlopt_status mlopt_quant_fold_batchnorm(mlopt_model *m, int *folded);

typedef struct mlopt_qmodel mlopt_qmodel;

/* Post-training quantization of float model m (not modified; batch-norm is
 * folded on a copy) calibrated on cfg->calib_batches batches of ds. The
 * int8 model lives on m's context. */
mlopt_status mlopt_quantize_ptq(mlopt_model *m, const mlopt_dataset *ds, const mlopt_quant_config *cfg,
                                mlopt_qmodel **out);
void mlopt_qmodel_destroy(mlopt_qmodel *q);

/* Int8 inference: x float [n, c, h, w] on q's context; *logits (float
 * [n, classes]) is owned by q and valid until the next forward. */
mlopt_status mlopt_qmodel_forward(mlopt_qmodel *q, const mlopt_tensor *x, mlopt_tensor **logits);
/* Mean cross-entropy and accuracy over ds; confusion (classes x classes,
 * row = true label) may be NULL. */
mlopt_status mlopt_qmodel_evaluate(mlopt_qmodel *q, const mlopt_dataset *ds, float mean, float std, int batch,
                                   double *loss, double *accuracy, long long *confusion);
/* Median wall time of one batch forward (after a warm-up). */
mlopt_status mlopt_qmodel_latency(mlopt_qmodel *q, int batch, int reps, double *median_ms);
int mlopt_qmodel_num_classes(const mlopt_qmodel *q);

/* Per-layer report: each quantized stage's output against the float
 * model's output at the same point, on the same input. */
typedef struct mlopt_qlayer_report {
    char name[48];        /* "conv1+relu", "pool1", "fc2", ... */
    char kind[16];        /* "int8 conv", "float conv", "int8 maxpool", ... */
    double sqnr_db;       /* 10 log10(sum f^2 / sum (f - q)^2) */
    float scale;          /* output scale */
    int zero_point;
} mlopt_qlayer_report;
/* Compare q with float model m on n samples of ds; *count stages (at most max). */
mlopt_status mlopt_qmodel_report(mlopt_qmodel *q, mlopt_model *m, const mlopt_dataset *ds, float mean, float std,
                                 int n, mlopt_qlayer_report *out, int max, int *count);
/* 1 when the first conv/linear runs in float32. */
int mlopt_qmodel_first_layer_float(const mlopt_qmodel *q);

/* Quantized checkpoints: safetensors with I8 weights, I32 biases and
 * requantization tables, F32 scales; metadata "mlopt.quant" = "int8-v1",
 * "quant.stages" (per-stage scales / zero points), plus mlopt.spec (the
 * batch-norm-folded float architecture) and mlopt.input. */
mlopt_status mlopt_qmodel_save(const char *path, mlopt_qmodel *q, const mlopt_meta *meta, int nmeta);
/* 1 when an opened checkpoint is a quantized one. */
int mlopt_checkpoint_is_quantized(const mlopt_checkpoint *ck);
mlopt_status mlopt_qmodel_load(const char *path, mlopt_context *ctx, mlopt_qmodel **out);

/* Quantization-aware training: fine-tune m in place for cfg epochs with
 * fake-quantized weights (per channel, symmetric) and activations (per
 * tensor, ranges tracked by moving average) through the fake_quant slot
 * and the straight-through estimator, then convert to int8 with the
 * learned ranges. */
typedef struct mlopt_qat_config {
    int epochs;        /* default 1 */
    int batch;         /* default 64 */
    float lr;          /* cosine-decayed; mlopt quantize's default 0.0001 */
    int limit;         /* train on the first N samples (0: all) */
    uint64_t seed;
} mlopt_qat_config;
mlopt_status mlopt_quantize_qat(mlopt_model *m, const mlopt_dataset *train, const mlopt_quant_config *qcfg,
                                const mlopt_qat_config *cfg, mlopt_qmodel **out, double *final_loss);

/* QAT in steps, for callers that want the fake-quantized float model
 * itself (mlopt_quantize_qat is create, train, convert, destroy).  A
 * session folds m's batch-norms in place and hooks fake quantization into
 * m's forward and backward during its own passes only (elsewhere m is the
 * plain float model with the fine-tuned weights).
 * qcfg (NULL: defaults) gives the input normalization; its first layer
 * stays float32 only when first_layer_float is 1 (automatic means int8:
 * the model is trained for the int8 first layer). */
typedef struct mlopt_qat mlopt_qat;
mlopt_status mlopt_qat_create(mlopt_model *m, const mlopt_quant_config *qcfg, mlopt_qat **out);
/* Fine-tune for cfg->epochs epochs of SGD (momentum 0.9, cosine-decayed
 * cfg->lr); activation ranges follow a moving average of batch min / max.
 * *final_loss (may be NULL): mean training loss of the last epoch. */
mlopt_status mlopt_qat_train(mlopt_qat *t, const mlopt_dataset *train, const mlopt_qat_config *cfg,
                             double *final_loss);
/* Convert to int8 with the learned ranges (ds: the training data, for
 * shapes).  Afterwards the session's fake quantization uses exactly the
 * int8 model's scales and zero points until the next mlopt_qat_train. */
mlopt_status mlopt_qat_convert(mlopt_qat *t, const mlopt_dataset *ds, mlopt_qmodel **out);
/* The fake-quantized float forward (inference mode) of x float [n,c,h,w]
 * on m's context; *logits is owned by the model, valid until its next
 * forward. */
mlopt_status mlopt_qat_forward(mlopt_qat *t, const mlopt_tensor *x, mlopt_tensor **logits);
void mlopt_qat_destroy(mlopt_qat *t);

#ifdef __cplusplus
}
#endif
#endif /* MLOPT_QUANT_H */
