/*
 * mlopt hyperparameter tuning and architecture search.
 *
 * Building blocks, each usable on its own (and by an external scheduler):
 *   - hyperparameter spaces and samplers: grid, random, TPE;
 *   - ASHA (asynchronous successive halving) with Hyperband brackets;
 *   - architecture spaces, random sampling and mutation, and regularized
 *     (aging) evolution;
 *   - Pareto fronts (maximize accuracy, minimize cost);
 *   - an append-only JSON-lines experiment journal;
 *   - a trial runner: train a spec for N epochs, report per-epoch
 *     validation metrics to a callback that may stop it early.
 * Like the rest of the library: functions return mlopt_status, set
 * mlopt_last_error() on failure, never print to stdout and never exit.
 */
#ifndef MLOPT_SEARCH_H
#define MLOPT_SEARCH_H

#include <stdint.h>
#include <stdio.h>

#include "mlopt/mlopt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Deterministic random numbers for samplers (splitmix64).            */
/* ------------------------------------------------------------------ */

typedef struct mlopt_rng64 {
    uint64_t state;
} mlopt_rng64;

/* A stream for (seed, stream): trial i of a search uses stream i, so a
 * trial's draws never depend on how many draws other trials made. */
void mlopt_rng64_seed(mlopt_rng64 *r, uint64_t seed, uint64_t stream);
uint64_t mlopt_rng64_next(mlopt_rng64 *r);
double mlopt_rng64_uniform(mlopt_rng64 *r); /* [0, 1) */
int mlopt_rng64_below(mlopt_rng64 *r, int n); /* [0, n) */
double mlopt_rng64_normal(mlopt_rng64 *r);

/* ------------------------------------------------------------------ */
/* Hyperparameter spaces.                                             */
/*                                                                    */
/* Text format, one dimension per line ('#' comments):                */
/*   NAME float LO HI [grid=N]     uniform in [LO, HI]                */
/*   NAME log LO HI [grid=N]       log-uniform (LO > 0)               */
/*   NAME int LO HI                integers LO..HI, uniform           */
/*   NAME choice A B C ...         categorical (numbers or words)     */
/*   NAME fixed VALUE              a constant                         */
/* grid=N: points per continuous dimension for the grid sampler       */
/* (default 3; log dimensions are spaced geometrically); int         */
/* dimensions enumerate every integer when there are at most 10.      */
/* ------------------------------------------------------------------ */

#define MLOPT_HP_MAX_DIMS 16
#define MLOPT_HP_MAX_CHOICES 16

typedef enum mlopt_hp_type {
    MLOPT_HP_FLOAT = 0,
    MLOPT_HP_LOG,
    MLOPT_HP_INT,
    MLOPT_HP_CHOICE
} mlopt_hp_type;

typedef struct mlopt_hp_dim {
    char name[32];
    mlopt_hp_type type;
    double lo, hi;     /* FLOAT / LOG / INT bounds (inclusive) */
    int grid;          /* grid points for FLOAT / LOG */
    int nchoices;      /* CHOICE (a "fixed" dimension is a 1-choice CHOICE) */
    char choices[MLOPT_HP_MAX_CHOICES][32];
} mlopt_hp_dim;

typedef struct mlopt_hp_space {
    int ndims;
    mlopt_hp_dim dims[MLOPT_HP_MAX_DIMS];
} mlopt_hp_space;

/* A point: the value of each dimension; CHOICE holds the choice index. */
typedef struct mlopt_hp_point {
    double v[MLOPT_HP_MAX_DIMS];
} mlopt_hp_point;

mlopt_status mlopt_hp_space_parse(const char *text, const char *source, mlopt_hp_space *out);
/* Add one dimension from a line of the text format ("lr log 1e-4 1e-1"). */
mlopt_status mlopt_hp_space_add(mlopt_hp_space *s, const char *line);
int mlopt_hp_space_find(const mlopt_hp_space *s, const char *name);
/* Value of dimension i as text (a choice's word, or a number). */
void mlopt_hp_value_text(const mlopt_hp_space *s, const mlopt_hp_point *p, int i, char *buf, size_t len);
/* Parse text produced by mlopt_hp_value_text back into p->v[i]. */
mlopt_status mlopt_hp_value_parse(const mlopt_hp_space *s, int i, const char *text, mlopt_hp_point *p);

/* Grid sampler: the number of grid points (product over dimensions), and
 * point number index (0 <= index < size), last dimension fastest. */
long long mlopt_grid_size(const mlopt_hp_space *s);
void mlopt_grid_point(const mlopt_hp_space *s, long long index, mlopt_hp_point *out);

/* Random sampler: one independent draw per dimension. */
void mlopt_random_point(const mlopt_hp_space *s, mlopt_rng64 *rng, mlopt_hp_point *out);

/* TPE (Bergstra et al. 2011).  Observations are (point, value) pairs with
 * larger values better.  Fewer than n_startup observations: a random
 * point.  Otherwise the best ceil(gamma * n) observations form l(x), the
 * rest g(x); each dimension gets a Parzen estimator (Gaussian kernels in
 * the [0,1]-normalized, log-transformed-for-LOG space, bandwidths from
 * neighbour distances, plus a uniform prior component; categorical
 * dimensions: smoothed counts), n_candidates draws from l are scored by
 * sum over dimensions of log l(x) - log g(x) and the best is returned. */
typedef struct mlopt_tpe_config {
    double gamma;     /* default 0.25 */
    int n_candidates; /* default 24 */
    int n_startup;    /* default 8 */
} mlopt_tpe_config;
mlopt_status mlopt_tpe_suggest(const mlopt_hp_space *s, const mlopt_tpe_config *cfg,
                               const mlopt_hp_point *obs, const double *values, int nobs,
                               mlopt_rng64 *rng, mlopt_hp_point *out);

/* ------------------------------------------------------------------ */
/* ASHA: asynchronous successive halving (Li et al. 2020) with        */
/* Hyperband brackets.                                                */
/*                                                                    */
/* Bracket b (0 <= b < brackets) has rungs at r_min * eta^(b+k)       */
/* epochs (k = 0, 1, ...) below r_max.  Trial t is in bracket          */
/* t mod brackets.  When a trial reports its metric at a rung epoch,  */
/* the value joins that rung's record; the trial continues iff its    */
/* rank among the n values recorded there (itself included, ties      */
/* favouring values recorded earlier) is <= max(1, floor(n / eta))    */
/* and n > bootstrap.  Otherwise it is pruned.  Trials reaching r_max */
/* complete.  bootstrap (Optuna's bootstrap_count) stops the first    */
/* arrivals at a rung from continuing just because they have nobody  */
/* to lose to: with trials run one after another, plain ASHA lets the */
/* first trial run to r_max whatever its metric.                      */
/* ------------------------------------------------------------------ */

#define MLOPT_ASHA_MAX_RUNGS 16
#define MLOPT_ASHA_MAX_BRACKETS 8

typedef struct mlopt_asha_config {
    int eta;       /* reduction factor (>= 2) */
    int r_min;     /* minimum resource (epochs) */
    int r_max;     /* maximum resource (epochs) */
    int brackets;  /* Hyperband brackets (1 = plain ASHA) */
    int bootstrap; /* a rung with <= bootstrap values stops the trial (0 = none) */
} mlopt_asha_config;

typedef struct mlopt_asha mlopt_asha;
mlopt_status mlopt_asha_create(const mlopt_asha_config *cfg, mlopt_asha **out);
void mlopt_asha_destroy(mlopt_asha *a);
int mlopt_asha_bracket(const mlopt_asha *a, int trial_id);
/* 1 if `epoch` is a rung of this bracket (decisions are made there). */
int mlopt_asha_is_rung(const mlopt_asha *a, int bracket, int epoch);
/* Record a value at a rung without deciding (replaying a journal). */
mlopt_status mlopt_asha_record(mlopt_asha *a, int bracket, int epoch, double value);
/* Record value and decide: *keep = 1 to continue training, 0 to prune.
 * Epochs that are not rungs always keep. */
mlopt_status mlopt_asha_report(mlopt_asha *a, int bracket, int epoch, double value, int *keep);
/* Decide without recording, against rung values that already contain
 * this trial's value (used when the rung record is rebuilt from a shared
 * journal that the trial has already written to).  position: index of the
 * trial's value within the record (values recorded before it win ties);
 * n <= bootstrap prunes. */
int mlopt_asha_rank_keep(const double *values, int n, int position, int eta, int bootstrap);

/* Synchronous successive halving: the sizes of its rungs when n trials
 * start at r_min and each rung keeps the best floor(n_k / eta) (at least
 * 1) until r_max: writes up to max entries of (trials, epochs) and
 * returns the number of rungs. */
int mlopt_sh_plan(int n, int eta, int r_min, int r_max, int *trials, int *epochs, int max);

/* ------------------------------------------------------------------ */
/* Architectures.                                                     */
/*                                                                    */
/* conv stages: conv W k=K p=(pad ? K/2 : 0) [batchnorm] act, maxpool 2 */
/* then flatten, linear layers: linear W [batchnorm] act, then        */
/* linear CLASSES.                                                    */
/* ------------------------------------------------------------------ */

#define MLOPT_ARCH_MAX_CONV 3
#define MLOPT_ARCH_MAX_LINEAR 3
#define MLOPT_ARCH_MAX_CHOICES 8

typedef struct mlopt_arch {
    int conv_stages;
    int conv_width[MLOPT_ARCH_MAX_CONV];
    int conv_kernel[MLOPT_ARCH_MAX_CONV];
    int conv_act[MLOPT_ARCH_MAX_CONV];       /* index into the space's activations */
    int linear_layers;
    int linear_width[MLOPT_ARCH_MAX_LINEAR];
    int linear_act[MLOPT_ARCH_MAX_LINEAR];
    int batchnorm;
    int pad;                                 /* "same" padding */
} mlopt_arch;

typedef struct mlopt_arch_space {
    int min_conv, max_conv;                  /* 1..3 */
    int nconv_widths, conv_widths[MLOPT_ARCH_MAX_CHOICES];
    int nkernels, kernels[MLOPT_ARCH_MAX_CHOICES];
    int min_linear, max_linear;              /* 0..3 hidden linear layers */
    int nlinear_widths, linear_widths[MLOPT_ARCH_MAX_CHOICES];
    int nacts;
    char acts[MLOPT_ARCH_MAX_CHOICES][24];   /* activation names (mlopt_act_parse) */
    int batchnorm;                           /* 0 off, 1 on, 2 searched */
    int pad;                                 /* 0 valid, 1 same, 2 searched */
} mlopt_arch_space;

/* The default space (contains the seed CNN). */
void mlopt_arch_space_default(mlopt_arch_space *s);
/* Text format, "key: values" per line: conv_stages 1 3 | conv_widths 8 16
 * 32 | kernels 3 5 | linear_layers 0 2 | linear_widths 32 64 128 |
 * activations relu gelu | batchnorm on|off|search | pad valid|same|search */
mlopt_status mlopt_arch_space_parse(const char *text, const char *source, mlopt_arch_space *s);
/* 1 if the architecture fits an in_h x in_w input (every stage >= 1 px). */
int mlopt_arch_valid(const mlopt_arch *a, int in_h, int in_w);
void mlopt_arch_random(const mlopt_arch_space *s, mlopt_rng64 *rng, int in_h, int in_w, mlopt_arch *out);
/* One random mutation (one field of one layer, a stage or layer added or
 * removed, batch-norm or padding toggled) that yields a valid, different
 * architecture. */
void mlopt_arch_mutate(const mlopt_arch_space *s, mlopt_rng64 *rng, int in_h, int in_w, const mlopt_arch *parent,
                       mlopt_arch *out);
/* Layer specs (malloc'ed) ending in `linear classes`. */
mlopt_status mlopt_arch_to_specs(const mlopt_arch_space *s, const mlopt_arch *a, int classes,
                                 mlopt_layer_spec **specs, int *count);
/* Compact one-line description, e.g. "c32k3-c64k3|l128|relu,relu;relu|bn0|valid";
 * and its parser (round trip). */
void mlopt_arch_format(const mlopt_arch_space *s, const mlopt_arch *a, char *buf, size_t len);
mlopt_status mlopt_arch_parse(const mlopt_arch_space *s, const char *text, mlopt_arch *out);

/* ------------------------------------------------------------------ */
/* Regularized (aging) evolution (Real et al. 2019).                  */
/* A FIFO population of at most P members.  propose(): while the      */
/* population is smaller than P, a random architecture; else sample S */
/* members uniformly (with replacement), take the best and mutate it. */
/* add(): append the evaluated child; beyond P the OLDEST is removed. */
/* Multi-objective mode: "best of the sample" is drawn uniformly among */
/* the sample's non-dominated members (accuracy up, cost down).        */
/* ------------------------------------------------------------------ */

typedef struct mlopt_evo_member {
    mlopt_arch arch;
    double fitness; /* validation accuracy */
    double cost;
    int id;         /* trial id */
} mlopt_evo_member;

typedef struct mlopt_evo {
    int population, sample, multi_objective;
    int count, head; /* ring buffer: head = oldest */
    mlopt_evo_member *members;
    long long added;
} mlopt_evo;

mlopt_status mlopt_evo_init(mlopt_evo *e, int population, int sample, int multi_objective);
void mlopt_evo_free(mlopt_evo *e);
/* The parent chosen (returned through *parent_id, -1 for a random
 * architecture) and the child. */
void mlopt_evo_propose(const mlopt_evo *e, const mlopt_arch_space *s, mlopt_rng64 *rng, int in_h, int in_w,
                       mlopt_arch *child, int *parent_id);
void mlopt_evo_add(mlopt_evo *e, const mlopt_arch *a, double fitness, double cost, int id);
/* Member i, 0 = oldest. */
const mlopt_evo_member *mlopt_evo_member_at(const mlopt_evo *e, int i);

/* ------------------------------------------------------------------ */
/* Pareto front: maximize acc, minimize cost.  on_front[i] = 1 iff no  */
/* j has acc[j] >= acc[i] and cost[j] <= cost[i] with one strict.     */
/* Exact duplicates are all kept.  Returns the front's size.           */
/* ------------------------------------------------------------------ */
int mlopt_pareto_front(const double *acc, const double *cost, int n, int *on_front);

/* ------------------------------------------------------------------ */
/* Experiment journal: one JSON object per line, appended with a       */
/* single write() on an O_APPEND descriptor and fsync'ed, so that      */
/* concurrent writers never interleave and a crash loses at most the   */
/* line being written.                                                */
/*   {"type":"experiment", ...}                                        */
/*   {"type":"start","id":N,"params":{...},"spec":"..."...}            */
/*   {"type":"epoch","id":N,"epoch":E,"val_acc":..,"train_loss":..}    */
/*   {"type":"end","id":N,"status":"completed|pruned|failed",...}      */
/* ------------------------------------------------------------------ */

typedef struct mlopt_journal mlopt_journal;
/* Open (creating) path for appending.  If the file ends in a partial
 * line (a crash while writing), that line is cut off; *dropped (may be
 * NULL) receives its length in bytes (0 if none). */
mlopt_status mlopt_journal_open(const char *path, mlopt_journal **out, long *dropped);
/* Append one line (a complete JSON object, without the newline). */
mlopt_status mlopt_journal_append(mlopt_journal *j, const char *json_object);
void mlopt_journal_close(mlopt_journal *j);

/* A trial as rebuilt from the journal. */
typedef enum mlopt_trial_status {
    MLOPT_TRIAL_RUNNING = 0, /* started, never ended (interrupted) */
    MLOPT_TRIAL_COMPLETED,
    MLOPT_TRIAL_PRUNED,
    MLOPT_TRIAL_FAILED
} mlopt_trial_status;
const char *mlopt_trial_status_name(mlopt_trial_status s);

#define MLOPT_TRIAL_MAX_EPOCHS 128

typedef struct mlopt_trial_record {
    int id;
    mlopt_trial_status status;
    char params[1024];  /* the start line's "params" object, as JSON text */
    char spec[1024];    /* model spec text or arch string */
    char checkpoint[512];
    char reason[256];
    int epochs;         /* epoch records seen */
    double val_acc[MLOPT_TRIAL_MAX_EPOCHS], val_loss[MLOPT_TRIAL_MAX_EPOCHS];
    double train_acc[MLOPT_TRIAL_MAX_EPOCHS], train_loss[MLOPT_TRIAL_MAX_EPOCHS];
    long long epoch_line[MLOPT_TRIAL_MAX_EPOCHS]; /* journal line of each epoch record (ASHA tie order) */
    double final_acc;   /* last validation accuracy (end line), NAN if none */
    double test_acc;    /* NAN if not measured */
    double params_count, flops, latency_ms; /* NAN if not measured */
    long long order;    /* line number of the start record */
} mlopt_trial_record;

typedef struct mlopt_journal_data {
    int ntrials;
    mlopt_trial_record *trials; /* sorted by id */
    char experiment[2048];      /* the experiment line, "" if none */
    int bad_lines;
} mlopt_journal_data;

/* Read path (a missing file gives zero trials).  Malformed lines are
 * skipped; each one is described through warn(user, message) when warn
 * is non-NULL.  A later "start" for the same id (a re-run after an
 * interruption) resets that trial. */
mlopt_status mlopt_journal_read(const char *path, mlopt_journal_data *out,
                                void (*warn)(void *user, const char *message), void *user);
void mlopt_journal_data_free(mlopt_journal_data *d);
const mlopt_trial_record *mlopt_journal_find(const mlopt_journal_data *d, int id);
/* The first trial started with exactly this spec, or NULL. */
const mlopt_trial_record *mlopt_journal_find_spec(const mlopt_journal_data *d, const char *spec);

/* Append s to buf as a JSON string literal (quotes included). */
void mlopt_json_escape(const char *s, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Trial runner.                                                      */
/* ------------------------------------------------------------------ */

typedef struct mlopt_epoch_metrics {
    int epoch;          /* 1-based */
    double train_loss, train_acc, val_loss, val_acc;
    double seconds;
} mlopt_epoch_metrics;

/* Return 0 to continue, 1 to stop (pruned), anything else to abort with
 * MLOPT_E_INVALID. */
typedef int (*mlopt_epoch_callback)(void *user, const mlopt_epoch_metrics *m);

typedef struct mlopt_trial_config {
    const mlopt_layer_spec *specs;
    int nspecs;
    mlopt_optim_config optim;
    mlopt_sched_kind schedule;
    float warmup_epochs;
    int schedule_epochs;  /* the schedule's length (cosine); 0 = epochs */
    int epochs;
    int batch;
    uint64_t seed;
    int augment;
    const mlopt_dataset *train, *val; /* val required */
    float mean, std;      /* normalization */
    mlopt_epoch_callback on_epoch;
    void *user;
} mlopt_trial_config;

typedef struct mlopt_trial_result {
    int epochs_run;
    int pruned;
    mlopt_epoch_metrics last;
    mlopt_model *model;          /* trained model; caller destroys */
    mlopt_optimizer *optimizer;  /* caller destroys */
} mlopt_trial_result;

mlopt_status mlopt_trial_run(mlopt_context *ctx, const mlopt_trial_config *cfg, mlopt_trial_result *out);
void mlopt_trial_result_free(mlopt_trial_result *r);

/* Mean loss and accuracy of m over a dataset (inference mode). */
mlopt_status mlopt_search_evaluate(mlopt_model *m, const mlopt_dataset *ds, int batch, float mean, float std,
                            double *loss, double *acc);

/* Cost of a model: parameters and forward FLOPs per image summed over
 * mlopt_model_layer_stats. */
void mlopt_model_cost(const mlopt_model *m, double *params, double *flops);
/* Inference latency measured on ctx (m's context): two warm-up forwards,
 * then the median over `repeats` synchronized inference forwards of a
 * [batch, in_c, in_h, in_w] input, in milliseconds. */
mlopt_status mlopt_measure_latency(mlopt_context *ctx, mlopt_model *m, int batch, int in_c, int in_h, int in_w,
                                   int repeats, double *median_ms);


/* ------------------------------------------------------------------ */
/* Experiment driver: runs trials 0..trials-1 through the journal,     */
/* skipping those the journal shows finished (resume), re-running the  */
/* interrupted ones with their recorded parameters, optionally in      */
/* `jobs` forked processes.  ASHA decisions are made against the rung  */
/* values in the journal, so parallel workers share them.              */
/* ------------------------------------------------------------------ */

typedef struct mlopt_driver mlopt_driver;

typedef struct mlopt_driver_trial {
    int id, bracket, threads;
    const char *params_json; /* the start record's params object */
    const char *spec;        /* the start record's spec text */
    /* filled in by run() */
    mlopt_trial_status status;
    double val_acc, test_acc, params, flops, latency_ms; /* NAN when unknown */
    int epochs;
    char checkpoint[512];
    char reason[256];
    mlopt_driver *driver;
} mlopt_driver_trial;

typedef struct mlopt_driver_config {
    const char *journal_path;
    const char *experiment_json; /* written once as the first line (a JSON object), may be NULL */
    int trials;
    int jobs;            /* parallel processes (1 = in this process) */
    int threads;         /* threads per trial (0 = backend default) */
    int only_id;         /* >= 0: run just this trial (an external scheduler's worker) */
    int use_asha;
    mlopt_asha_config asha;
    /* Choose trial id's parameters from the finished trials in history:
     * a flat JSON object into params, and spec text (model spec or
     * architecture string) into spec. */
    mlopt_status (*propose)(void *user, int id, const mlopt_journal_data *history, char *params, size_t plen,
                            char *spec, size_t slen);
    /* Run one trial (in a forked child when jobs > 1): call
     * mlopt_driver_epoch after each epoch and fill the result fields. */
    mlopt_status (*run)(void *user, mlopt_driver_trial *t);
    void (*log)(void *user, const char *message); /* progress lines, may be NULL */
    void *user;
    /* Wall-clock budget of this invocation in seconds (0 = none), like
     * NNI's max_experiment_duration: no trial starts after it (except the
     * invocation's first, so that every run makes progress), and a running
     * trial stops at its next epoch boundary (status pruned, reason "time
     * budget").  Running the command again resumes with a new budget. */
    double time_budget_s;
} mlopt_driver_config;

/* Write the epoch record; returns 1 when the scheduler prunes the trial
 * (stop training), 0 to continue, -1 on a journal error. */
int mlopt_driver_epoch(mlopt_driver_trial *t, const mlopt_epoch_metrics *m);
mlopt_status mlopt_driver_run(const mlopt_driver_config *cfg);

/* One complete trial for a driver: open a context, build the model, check
 * cost constraints (params, FLOPs, measured latency) before training, train
 * with per-epoch journal records and ASHA decisions, evaluate on test
 * (when given), save a checkpoint of a completed trial. */
typedef struct mlopt_trial_env {
    const char *backend, *device;
    const mlopt_dataset *train, *val, *test; /* test may be NULL */
    float mean, std;
    const char *checkpoint_dir;  /* NULL: no checkpoints */
    int measure_latency;         /* also without a latency constraint */
    int latency_batch, latency_repeats;
    double max_latency_ms, max_params, max_flops; /* 0 = unconstrained */
} mlopt_trial_env;

mlopt_status mlopt_trial_execute(const mlopt_trial_env *env, const mlopt_trial_config *cfg, mlopt_driver_trial *t);

#ifdef __cplusplus
}
#endif
#endif /* MLOPT_SEARCH_H */
