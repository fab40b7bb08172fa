/* Shared machinery of the conformance checks: a deterministic generator,
 * generated kernel cases (arguments with guard regions), and comparison
 * of a backend's outputs with the reference's. */
#ifndef MLOPT_CORE_CONF_INTERNAL_H
#define MLOPT_CORE_CONF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mlopt/conformance.h"

/* ---- splitmix64: independent of the library's own generator ---- */
typedef struct conf_rng {
    uint64_t s;
} conf_rng;

uint64_t conf_rng_next(conf_rng *r);
double conf_rng_uniform(conf_rng *r, double lo, double hi);
int conf_rng_int(conf_rng *r, int lo, int hi); /* inclusive */

/* ---- one generated case of a kernel check ---- */
#define CONF_MAX_ARGS 10

typedef enum conf_arg_kind {
    CONF_IN = 0,    /* read only: must come back unchanged */
    CONF_OUT = 1,   /* written: initial contents are the sentinel */
    CONF_INOUT = 2, /* read and written (accumulators, in-place updates) */
    CONF_NULL = 3   /* passed as a NULL buffer */
} conf_arg_kind;

typedef struct conf_arg {
    const char *name;
    int kind;       /* conf_arg_kind */
    int is_int;     /* int32 elements: compared exactly */
    size_t n;       /* elements (4 bytes each) */
    float *data;    /* initial contents (IN, INOUT); int32 stored bitwise */
    /* Elements whose output value is undefined by the slot (skipped). */
} conf_arg;

typedef struct conf_case {
    char desc[200]; /* "m=7 n=5 k=3 ta=1 ..." */
    int nargs;
    conf_arg args[CONF_MAX_ARGS];
    int ip[16];
    float fp[8];
    mlopt_conv2d_params conv;
    mlopt_pool2d_params pool;
    /* y aliases x: the launch passes args[alias_of] as the output too. */
    int alias_out, alias_in;
    double tol_scale; /* 0 = 1: widens this case's tolerance (long reductions) */
} conf_case;

/* Add an argument; returns its data (n floats, zeroed) or NULL on no memory. */
float *conf_add_arg(conf_case *c, const char *name, int kind, size_t n);
int32_t *conf_add_int_arg(conf_case *c, const char *name, int kind, size_t n);
void conf_case_free(conf_case *c);

/* Fill with values in [lo, hi); "edge" mixes in zeros, negatives, large
 * magnitudes and denormals; specials adds +-inf and NaN. */
void conf_fill_uniform(conf_rng *r, float *x, size_t n, double lo, double hi);
void conf_fill_edge(conf_rng *r, float *x, size_t n, double scale, int specials);

/* A kernel check: generator of cases and the launch of one slot. */
typedef int (*conf_gen_fn)(conf_case *c, int index, conf_rng *r); /* 0: no such case */
typedef int (*conf_launch_fn)(const mlopt_backend *be, mlopt_backend_ctx *ctx, const conf_case *c,
                              const mlopt_ref *refs);

typedef struct conf_kernel_check {
    const char *name;
    size_t slot;      /* offsetof(mlopt_backend, ...) */
    conf_gen_fn gen;
    conf_launch_fn launch;
    double tol_nmse, tol_rel;
    int level;        /* mlopt_conf_level that needs this slot; 0: optional */
} conf_kernel_check;

/* The check tables of each kernel family file. */
extern const conf_kernel_check conf_checks_linalg[];
extern const int conf_checks_linalg_count;
extern const conf_kernel_check conf_checks_nn[];
extern const int conf_checks_nn_count;
extern const conf_kernel_check conf_checks_elementwise[];
extern const int conf_checks_elementwise_count;

/* Run one check on ctx against ref (conf_harness.c). */
mlopt_status conf_run_kernel_check(const conf_kernel_check *k, mlopt_context *ctx, mlopt_context *ref,
                                   mlopt_conf_result *out);
const conf_kernel_check *conf_kernel_check_at(int i);

/* Host definitions of the activations (double). */
double conf_act_host(int act, double alpha, double beta, double x);

/* Compare got with want (n floats): NaN must match NaN, infinities must
 * match with sign; finite values feed the normalized MSE and the worst
 * relative error, relative to max(|want|, floor_frac * max|want|).
 * Returns 1 when within tolerance. worst_idx/got/want describe the worst
 * element. */
typedef struct conf_cmp {
    double nmse, max_rel;
    size_t worst;
    float got, want;
    int nonfinite_mismatch;
} conf_cmp;
/* abs_floor: differences below it count as noise in the nmse (gradients
 * that are zero in exact arithmetic). */
void conf_compare(const float *got, const float *want, size_t n, double floor_frac, double abs_floor,
                  conf_cmp *out);

#endif
