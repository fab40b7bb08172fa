/* Inference latency: the median wall time of one batch forward, measured
 * the same way for the float model (mlopt_model_latency) and the int8 model
 * (mlopt_qmodel_latency) so that their ratio is fair. */
#ifndef MLOPT_CORE_LATENCY_H
#define MLOPT_CORE_LATENCY_H

#include "mlopt/mlopt.h"

/* One forward of x through the caller's model; its outputs are not read. */
typedef mlopt_status (*mlopt_forward_fn)(void *user, const mlopt_tensor *x);

/* A synthetic batch [batch, c, h, w] on ctx, one warm-up forward
 * (allocations, kernel compiles), then reps timed forwards, each between
 * two context synchronizations; *median_ms is their median. */
mlopt_status mlopt_latency_median(mlopt_context *ctx, int c, int h, int w, int batch, int reps,
                                  mlopt_forward_fn forward, void *user, double *median_ms);

#endif
