/* Layer gradients on any backend, through the public model API:
 *   - the backend's logits and parameter gradients against the reference
 *     backend's, for the same weights, input and upstream gradient;
 *   - the backend's gradients against central finite differences of a
 *     host-side (double) cross-entropy, on a few elements per tensor;
 *   - whole training steps (optimizer on the device) against the reference.
 * Kinks (ReLU at 0, max-pool ties) make a finite difference meaningless
 * where a perturbation crosses one: an element whose quotient moves when
 * the step is quartered is skipped, and only a few may be. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_internal.h"
#include "error.h"

#define FD_EPS 1e-3
#define FD_RTOL 1e-2
#define FD_ATOL 5e-4
#define FD_PER_TENSOR 4
#define MAX_N 8
#define MAX_CLASSES 16

typedef enum { GC_GRADIENTS = 0, GC_TRAIN_SGD, GC_TRAIN_ADAMW } gc_kind;

typedef struct grad_case {
    const char *name;
    const char *spec;
    int c, h, w, n;
    int kind;
} grad_case;

static const grad_case grad_cases[] = {
    { "conv", "conv 3 k=3 p=1\nact tanh\nconv 3 k=3 s=2 p=1\nflatten\nlinear 4\n", 2, 5, 5, 3, GC_GRADIENTS },
    { "conv_dilation_groups", "conv 4 k=3 p=2 d=2 g=2\nact tanh\navgpool 2\nflatten\nlinear 5\n", 2, 5, 5, 2,
      GC_GRADIENTS },
    { "conv_no_bias_stride", "conv 3 k=2 s=2 bias=0\nact sigmoid\nflatten\nlinear 3 bias=0\n", 1, 7, 7, 2,
      GC_GRADIENTS },
    { "linear", "flatten\nlinear 6\nact tanh\nlinear 5\n", 2, 3, 3, 4, GC_GRADIENTS },
    { "maxpool", "conv 3 k=3 p=1\nmaxpool 3 s=2 p=1\nflatten\nlinear 5\n", 2, 5, 5, 2, GC_GRADIENTS },
    { "avgpool", "conv 3 k=3 p=1\navgpool 3 s=2 p=1\nflatten\nlinear 5\n", 2, 5, 5, 2, GC_GRADIENTS },
    { "act_relu", "flatten\nlinear 6\nact relu\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_leaky_relu", "flatten\nlinear 6\nact leaky_relu 0.1\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_elu", "flatten\nlinear 6\nact elu 0.5\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_gelu", "flatten\nlinear 6\nact gelu\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_silu", "flatten\nlinear 6\nact silu\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_sigmoid", "flatten\nlinear 6\nact sigmoid\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_hard_sigmoid", "flatten\nlinear 6\nact hard_sigmoid\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "act_hard_swish", "flatten\nlinear 6\nact hard_swish\nlinear 4\n", 1, 3, 3, 3, GC_GRADIENTS },
    { "batchnorm_2d", "conv 3 k=3 p=1 bias=0\nbatchnorm\nact tanh\navgpool 2\nflatten\nlinear 5\n", 2, 4, 4, 3,
      GC_GRADIENTS },
    { "batchnorm_1d", "flatten\nlinear 6 bias=0\nbatchnorm\nact tanh\nlinear 5\n", 2, 3, 3, 5, GC_GRADIENTS },
    { "dropout", "flatten\nlinear 8\nact tanh\ndropout 0.5\nlinear 6\n", 2, 3, 3, 4, GC_GRADIENTS },
    { "small_cnn", "conv 3 k=3\nact relu\nmaxpool 2\nconv 4 k=2\nact relu\nflatten\nlinear 6\nact relu\nlinear 4\n",
      1, 8, 8, 3, GC_GRADIENTS },
    { "train_step_sgd", "conv 3 k=3\nact relu\nmaxpool 2\nflatten\nlinear 6\nact relu\nlinear 4\n", 1, 8, 8, 4,
      GC_TRAIN_SGD },
    { "train_step_adamw", "conv 3 k=3 bias=0\nbatchnorm\nact relu\nmaxpool 2\nflatten\nlinear 6\ndropout 0.25\nlinear 4\n",
      1, 8, 8, 4, GC_TRAIN_ADAMW },
};
#define N_GRAD_CASES ((int)(sizeof grad_cases / sizeof grad_cases[0]))

int mlopt_conformance_grad_count(void)
{
    return N_GRAD_CASES;
}

const char *mlopt_conformance_grad_name(int i)
{
    return i >= 0 && i < N_GRAD_CASES ? grad_cases[i].name : NULL;
}

/* One model with its input on one context. */
typedef struct gc_side {
    mlopt_context *ctx;
    mlopt_model *m;
    mlopt_tensor *x, *dl;
} gc_side;

typedef struct gc_run {
    const grad_case *gc;
    gc_side side[2]; /* 0: tested backend, 1: reference */
    int classes;
    float *xhost;
    int32_t labels[MAX_N];
    mlopt_conf_result *out;
} gc_run;

static void side_close(gc_side *s)
{
    mlopt_tensor_destroy(s->x);
    mlopt_tensor_destroy(s->dl);
    mlopt_model_destroy(s->m);
    memset(s, 0, sizeof *s);
}

static mlopt_status side_open(gc_run *r, int which, mlopt_context *ctx)
{
    const grad_case *gc = r->gc;
    gc_side *s = &r->side[which];
    s->ctx = ctx;
    mlopt_layer_spec *specs = NULL;
    int n = 0;
    mlopt_status st = mlopt_spec_parse(gc->spec, gc->name, &specs, &n);
    if (st != MLOPT_OK)
        return st;
    st = mlopt_model_from_specs(ctx, gc->c, gc->h, gc->w, specs, n, 1234, &s->m);
    free(specs);
    if (st != MLOPT_OK)
        return st;
    int xs[4] = { gc->n, gc->c, gc->h, gc->w };
    if ((st = mlopt_tensor_create(ctx, MLOPT_F32, 4, xs, &s->x)) != MLOPT_OK)
        return st;
    int ds[2] = { gc->n, mlopt_model_num_classes(s->m) };
    if ((st = mlopt_tensor_create(ctx, MLOPT_F32, 2, ds, &s->dl)) != MLOPT_OK)
        return st;
    return mlopt_tensor_upload(s->x, r->xhost, (size_t)gc->n * gc->c * gc->h * gc->w * sizeof(float));
}

/* The tested model starts from the reference's weights (and buffers). */
static mlopt_status copy_params(gc_run *r)
{
    int np = mlopt_model_param_count(r->side[1].m);
    for (int i = 0; i < np; i++) {
        mlopt_tensor *src = mlopt_model_param(r->side[1].m, i, NULL, NULL);
        mlopt_tensor *dst = mlopt_model_param(r->side[0].m, i, NULL, NULL);
        size_t bytes = mlopt_tensor_bytes(src);
        float *tmp = malloc(bytes ? bytes : 1);
        if (!tmp)
            return mlopt_set_error(MLOPT_E_NOMEM, "conformance: out of host memory");
        mlopt_status s = mlopt_tensor_download(src, tmp, bytes);
        if (s == MLOPT_OK)
            s = mlopt_tensor_upload(dst, tmp, bytes);
        free(tmp);
        if (s != MLOPT_OK)
            return s;
    }
    return MLOPT_OK;
}

/* Mean cross-entropy (double) of logits; dl (may be NULL) its gradient. */
static double host_loss(const gc_run *r, const float *logits, double *dl)
{
    int n = r->gc->n, C = r->classes;
    double total = 0;
    for (int i = 0; i < n; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < C; j++)
            mx = fmax(mx, logits[i * C + j]);
        for (int j = 0; j < C; j++)
            sum += exp(logits[i * C + j] - mx);
        total += -(logits[i * C + r->labels[i]] - mx - log(sum));
        if (dl)
            for (int j = 0; j < C; j++)
                dl[i * C + j] = (exp(logits[i * C + j] - mx) / sum - (j == r->labels[i])) / n;
    }
    return total / n;
}

static mlopt_status forward(gc_side *s, int n, int classes, float *logits)
{
    mlopt_tensor *t = NULL;
    mlopt_status st = mlopt_model_forward(s->m, s->x, 1, &t);
    if (st != MLOPT_OK)
        return st;
    return mlopt_tensor_download(t, logits, (size_t)n * classes * sizeof(float));
}

static void fail(gc_run *r, const char *fmt, const char *a, double x, double y, double z)
{
    if (r->out->outcome == MLOPT_CONF_FAIL)
        return;
    r->out->outcome = MLOPT_CONF_FAIL;
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a, x, y, z);
    snprintf(r->out->detail, sizeof r->out->detail, "%s: %s", r->gc->name, msg);
}

static void backend_failed(gc_run *r, const char *what)
{
    if (r->out->outcome == MLOPT_CONF_FAIL)
        return;
    r->out->outcome = MLOPT_CONF_FAIL;
    snprintf(r->out->detail, sizeof r->out->detail, "%s: %s: %s", r->gc->name, what, mlopt_last_error());
}

static void compare_into(gc_run *r, const char *what, const float *got, const float *want, size_t n, double tol_nmse,
                         double tol_rel)
{
    conf_cmp cmp;
    conf_compare(got, want, n, 1e-2, 1e-4, &cmp);
    if (cmp.nmse > r->out->nmse)
        r->out->nmse = cmp.nmse;
    if (cmp.nonfinite_mismatch || !(cmp.nmse <= tol_nmse) || !(cmp.max_rel <= tol_rel)) {
        char name[160];
        snprintf(name, sizeof name, "%s[%zu] vs reference", what, cmp.worst);
        fail(r, "%s: got %.7g want %.7g (nmse %.3g)", name, (double)cmp.got, (double)cmp.want, cmp.nmse);
    }
}

static double fd_at(gc_run *r, mlopt_tensor *p, float *host, size_t n, size_t j, double eps, int *err)
{
    gc_side *s = &r->side[0];
    float logits[MAX_N * MAX_CLASSES];
    float orig = host[j];
    double l[2], steps[2];
    for (int k = 0; k < 2; k++) {
        host[j] = (float)(orig + (k ? -eps : eps));
        steps[k] = fabs((double)host[j] - orig);
        if (mlopt_tensor_upload(p, host, n * sizeof *host) != MLOPT_OK ||
            forward(s, r->gc->n, r->classes, logits) != MLOPT_OK) {
            *err = 1;
            host[j] = orig;
            return 0;
        }
        l[k] = host_loss(r, logits, NULL);
    }
    host[j] = orig;
    if (mlopt_tensor_upload(p, host, n * sizeof *host) != MLOPT_OK)
        *err = 1;
    /* The float perturbation is not exactly eps: divide by what was applied. */
    return (l[0] - l[1]) / (steps[0] + steps[1]);
}

static void run_gradients(gc_run *r)
{
    int n = r->gc->n, C = r->classes;
    float logits[2][MAX_N * MAX_CLASSES];
    for (int k = 0; k < 2; k++)
        if (forward(&r->side[k], n, C, logits[k]) != MLOPT_OK)
            return backend_failed(r, k ? "reference forward" : "forward");
    compare_into(r, "logits", logits[0], logits[1], (size_t)n * C, 1e-9, 1e-3);
    /* Both backwards get the reference's upstream gradient. */
    double dl[MAX_N * MAX_CLASSES];
    float dlf[MAX_N * MAX_CLASSES];
    host_loss(r, logits[1], dl);
    for (int i = 0; i < n * C; i++)
        dlf[i] = (float)dl[i];
    for (int k = 0; k < 2; k++)
        if (mlopt_tensor_upload(r->side[k].dl, dlf, (size_t)n * C * sizeof(float)) != MLOPT_OK ||
            mlopt_model_backward(r->side[k].m, r->side[k].dl) != MLOPT_OK)
            return backend_failed(r, k ? "reference backward" : "backward");
    int np = mlopt_model_param_count(r->side[0].m);
    int compared = 0, skipped = 0;
    for (int i = 0; i < np && r->out->outcome != MLOPT_CONF_FAIL; i++) {
        const char *name = NULL;
        int trainable = 0;
        mlopt_tensor *p = mlopt_model_param(r->side[0].m, i, &name, &trainable);
        if (!trainable)
            continue;
        size_t cnt = mlopt_tensor_numel(p);
        float *g[2], *host = malloc(cnt * sizeof(float));
        g[0] = malloc(cnt * sizeof(float));
        g[1] = malloc(cnt * sizeof(float));
        int ok = host && g[0] && g[1];
        for (int k = 0; ok && k < 2; k++)
            ok = mlopt_tensor_download(mlopt_model_grad(r->side[k].m, i), g[k], cnt * sizeof(float)) == MLOPT_OK;
        ok = ok && mlopt_tensor_download(p, host, cnt * sizeof(float)) == MLOPT_OK;
        if (!ok) {
            backend_failed(r, "reading gradients");
        } else {
            char what[96];
            snprintf(what, sizeof what, "d %s", name);
            compare_into(r, what, g[0], g[1], cnt, 1e-6, 5e-2);
            /* Finite differences on a few spread-out elements. */
            size_t stride = cnt / FD_PER_TENSOR + 1;
            for (size_t j = (size_t)i % stride; j < cnt && r->out->outcome != MLOPT_CONF_FAIL; j += stride) {
                int err = 0;
                double fd = fd_at(r, p, host, cnt, j, FD_EPS, &err), an = g[0][j];
                double tol = FD_RTOL * fmax(fabs(fd), fabs(an)) + FD_ATOL;
                if (!err && fabs(fd - an) > tol) {
                    double fd2 = fd_at(r, p, host, cnt, j, FD_EPS / 4, &err);
                    if (!err && (fabs(fd2 - an) <= tol || fabs(fd2 - fd) > tol / 4)) {
                        skipped++;
                        continue;
                    }
                    if (!err) {
                        char at[128];
                        snprintf(at, sizeof at, "d loss / d %s[%zu]", name, j);
                        fail(r, "%s: backward %.6g, finite differences %.6g (eps/4: %.6g)", at, an, fd, fd2);
                    }
                }
                if (err) {
                    backend_failed(r, "finite-difference forward");
                    break;
                }
                double rel = fabs(fd - an) / (fmax(fabs(fd), fabs(an)) + FD_ATOL);
                if (rel > r->out->max_rel)
                    r->out->max_rel = rel;
                compared++;
            }
        }
        free(host);
        free(g[0]);
        free(g[1]);
    }
    r->out->cases = compared;
    if (r->out->outcome != MLOPT_CONF_FAIL && skipped * 4 > compared)
        fail(r, "%s: %g of %g finite-difference elements at kinks (%g): too many to trust", "gradients",
             (double)skipped, (double)(compared + skipped), 0.0);
}

static void run_training(gc_run *r)
{
    mlopt_optim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (r->gc->kind == GC_TRAIN_SGD) {
        cfg.kind = MLOPT_OPTIM_SGD, cfg.lr = 0.05f, cfg.momentum = 0.9f, cfg.nesterov = 1, cfg.weight_decay = 1e-3f;
    } else {
        cfg.kind = MLOPT_OPTIM_ADAMW, cfg.lr = 0.01f, cfg.weight_decay = 0.01f;
    }
    mlopt_optimizer *opt[2] = { NULL, NULL };
    mlopt_trainer *tr[2] = { NULL, NULL };
    int n = r->gc->n;
    for (int k = 0; k < 2; k++) {
        if (mlopt_optimizer_create(r->side[k].m, &cfg, &opt[k]) != MLOPT_OK ||
            mlopt_trainer_create(r->side[k].m, opt[k], n, &tr[k]) != MLOPT_OK) {
            backend_failed(r, k ? "reference optimizer/trainer" : "creating the optimizer and trainer");
            goto done;
        }
        for (int step = 0; step < 3; step++)
            if (mlopt_trainer_train_step(tr[k], r->xhost, r->labels, n, cfg.lr) != MLOPT_OK) {
                backend_failed(r, k ? "reference training step" : "training step");
                goto done;
            }
    }
    double loss[2], correct[2];
    long long samples[2];
    for (int k = 0; k < 2; k++)
        if (mlopt_trainer_read_metrics(tr[k], &loss[k], &correct[k], &samples[k]) != MLOPT_OK) {
            backend_failed(r, "reading metrics");
            goto done;
        }
    float lg = (float)loss[0], lw = (float)loss[1];
    compare_into(r, "summed loss of 3 steps", &lg, &lw, 1, 1e-8, 1e-3);
    int np = mlopt_model_param_count(r->side[0].m);
    for (int i = 0; i < np && r->out->outcome != MLOPT_CONF_FAIL; i++) {
        const char *name = NULL;
        mlopt_tensor *p0 = mlopt_model_param(r->side[0].m, i, &name, NULL);
        mlopt_tensor *p1 = mlopt_model_param(r->side[1].m, i, NULL, NULL);
        size_t cnt = mlopt_tensor_numel(p0);
        float *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b);
        if (a && b && mlopt_tensor_download(p0, a, cnt * sizeof *a) == MLOPT_OK &&
            mlopt_tensor_download(p1, b, cnt * sizeof *b) == MLOPT_OK) {
            char what[96];
            snprintf(what, sizeof what, "%s after 3 steps", name);
            compare_into(r, what, a, b, cnt, 1e-8, 5e-2);
            r->out->cases += (int)cnt;
        } else {
            backend_failed(r, "reading parameters");
        }
        free(a);
        free(b);
    }
done:
    for (int k = 0; k < 2; k++) {
        mlopt_trainer_destroy(tr[k]);
        mlopt_optimizer_destroy(opt[k]);
    }
}

mlopt_status mlopt_conformance_grad(mlopt_context *ctx, mlopt_context *ref, int i, mlopt_conf_result *out)
{
    if (i < 0 || i >= N_GRAD_CASES || !ctx || !ref || !out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_conformance_grad: no case %d (there are %d) or NULL argument",
                               i, N_GRAD_CASES);
    memset(out, 0, sizeof *out);
    const grad_case *gc = &grad_cases[i];
    snprintf(out->name, sizeof out->name, "%s", gc->name);
    snprintf(out->op, sizeof out->op, "%s", gc->kind == GC_GRADIENTS ? "backward" : "training");
    out->tol_nmse = 1e-6;
    out->tol_rel = FD_RTOL;
    gc_run r;
    memset(&r, 0, sizeof r);
    r.gc = gc;
    r.out = out;
    size_t nx = (size_t)gc->n * gc->c * gc->h * gc->w;
    r.xhost = malloc(nx * sizeof(float));
    if (!r.xhost)
        return mlopt_set_error(MLOPT_E_NOMEM, "conformance: out of host memory");
    conf_rng rng = { 7919u * (uint64_t)(i + 1) };
    conf_fill_uniform(&rng, r.xhost, nx, -2, 2);
    mlopt_status st = side_open(&r, 1, ref);
    if (st == MLOPT_OK) {
        r.classes = mlopt_model_num_classes(r.side[1].m);
        for (int k = 0; k < gc->n; k++)
            r.labels[k] = conf_rng_int(&rng, 0, r.classes - 1);
        st = side_open(&r, 0, ctx);
        if (st == MLOPT_OK)
            st = copy_params(&r);
        if (st != MLOPT_OK)
            backend_failed(&r, "building the model");
        else if (gc->kind == GC_GRADIENTS)
            run_gradients(&r);
        else
            run_training(&r);
        st = MLOPT_OK;
    } else {
        st = mlopt_set_error(st, "conformance %s: building the reference model: %s", gc->name, mlopt_last_error());
    }
    side_close(&r.side[0]);
    side_close(&r.side[1]);
    free(r.xhost);
    return st;
}
