/*
 * mlopt conformance checks: every backend slot against the CPU scalar
 * reference on generated cases, layer gradients against finite differences
 * and against the reference backend, and ONNX single-node backend tests.
 *
 * Every check fills an mlopt_conf_result; a check that finds a wrong
 * answer is an outcome (MLOPT_CONF_FAIL), not an error: the functions
 * return a non-OK status only when the check itself could not run (host
 * out of memory, unreadable file).
 */
#ifndef MLOPT_CONFORMANCE_H
#define MLOPT_CONFORMANCE_H

#include "mlopt/mlopt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mlopt_conf_outcome {
    MLOPT_CONF_PASS = 0,
    MLOPT_CONF_FAIL = 1,
    MLOPT_CONF_UNSUPPORTED = 2 /* NULL slot, or an ONNX variant mlopt cannot express */
} mlopt_conf_outcome;

typedef struct mlopt_conf_result {
    char name[96];     /* check name: a slot ("gemm"), a gradient case, an ONNX test */
    char op[32];       /* ONNX op_type; the slot for kernel checks */
    int outcome;       /* mlopt_conf_outcome */
    int cases;         /* generated cases (kernels) or compared elements (gradients) */
    double nmse;       /* worst normalized mean squared error over the cases */
    double max_rel;    /* worst max relative error over the cases */
    double tol_nmse, tol_rel; /* the declared tolerance */
    char detail[512];  /* FAIL: worst case (shape, index, got, want); UNSUPPORTED: the reason */
} mlopt_conf_result;

const char *mlopt_conf_outcome_name(int outcome);

/* The reference: the cpu backend's scalar path (MLOPT_CPU_REF=1 at create). */
mlopt_status mlopt_conformance_open_reference(mlopt_context **out);

/* ---- generated kernel cases, one check per slot ---- */
int mlopt_conformance_kernel_count(void);
const char *mlopt_conformance_kernel_name(int i);
/* Run check i on ctx, comparing with ref. */
mlopt_status mlopt_conformance_kernel(mlopt_context *ctx, mlopt_context *ref, int i, mlopt_conf_result *out);

/* ---- layer gradients: finite differences and cross-backend ---- */
int mlopt_conformance_grad_count(void);
const char *mlopt_conformance_grad_name(int i);
mlopt_status mlopt_conformance_grad(mlopt_context *ctx, mlopt_context *ref, int i, mlopt_conf_result *out);

/* ---- ONNX node tests (onnx/backend/test/data/node layout) ---- */
/* Sorted names of the test directories in dir (each holding model.onnx);
 * free with mlopt_conformance_free_names. */
mlopt_status mlopt_conformance_onnx_list(const char *dir, char ***names, int *count);
void mlopt_conformance_free_names(char **names, int count);
/* Run test_dir/model.onnx on test_data_set_0.  out->op is the node's op_type. */
mlopt_status mlopt_conformance_onnx(mlopt_context *ctx, const char *test_dir, mlopt_conf_result *out);

/* ---- training conformance level ---- */
typedef enum mlopt_conf_level {
    MLOPT_CONF_LEVEL_NONE = 0,     /* some forward kernel fails */
    MLOPT_CONF_LEVEL_FORWARD = 1,  /* inference */
    MLOPT_CONF_LEVEL_BACKWARD = 2, /* + backward kernels and layer gradients */
    MLOPT_CONF_LEVEL_TRAINING = 3  /* + optimizer updates on the device and whole training steps */
} mlopt_conf_level;

const char *mlopt_conf_level_name(int level);
/* The level a set of results supports: kernels from mlopt_conformance_kernel
 * (all of them), grads from mlopt_conformance_grad (all of them). */
int mlopt_conformance_level(const mlopt_conf_result *kernels, int nkernels, const mlopt_conf_result *grads,
                            int ngrads);
/* $XDG_CACHE_HOME/mlopt/conformance-BACKEND.json (else ~/.cache/...). */
mlopt_status mlopt_conformance_cache_path(const char *backend, char *buf, size_t len);
/* Record the level (and a short summary, plain text) for backend. */
mlopt_status mlopt_conformance_cache_write(const char *backend, const char *device, int level,
                                           const char *summary);
/* Read it back: MLOPT_E_NOT_FOUND when never recorded.  when: ISO time. */
mlopt_status mlopt_conformance_cache_read(const char *backend, int *level, char *device, size_t devlen,
                                          char *when, size_t whenlen);

#ifdef __cplusplus
}
#endif
#endif /* MLOPT_CONFORMANCE_H */
