/* SGD (momentum, Nesterov, weight decay), Adam and AdamW: one state tensor
 * set per trainable parameter, updated on the device by the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

struct mlopt_optimizer {
    mlopt_model *model;
    mlopt_optim_config cfg;
    long long steps;
    int n;            /* trainable parameters */
    int *index;       /* flat parameter index of each */
    mlopt_tensor **s1; /* momentum buffer / exp_avg */
    mlopt_tensor **s2; /* exp_avg_sq (Adam) */
};

mlopt_status mlopt_optimizer_create(mlopt_model *m, const mlopt_optim_config *cfg, mlopt_optimizer **out)
{
    *out = NULL;
    if (!m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "optimizer needs an initialized model");
    if (cfg->kind != MLOPT_OPTIM_SGD && cfg->kind != MLOPT_OPTIM_ADAM && cfg->kind != MLOPT_OPTIM_ADAMW)
        return mlopt_set_error(MLOPT_E_INVALID, "unknown optimizer kind %d", (int)cfg->kind);
    if (!(cfg->lr >= 0) || !(cfg->momentum >= 0) || !(cfg->weight_decay >= 0))
        return mlopt_set_error(MLOPT_E_INVALID, "learning rate, momentum and weight decay must be >= 0");
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
        return mlopt_set_error(MLOPT_E_INVALID, "Nesterov momentum requires momentum > 0 and zero dampening");
    mlopt_optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    o->model = m;
    o->cfg = *cfg;
    if (o->cfg.kind != MLOPT_OPTIM_SGD) {
        if (o->cfg.beta1 == 0) o->cfg.beta1 = 0.9f;
        if (o->cfg.beta2 == 0) o->cfg.beta2 = 0.999f;
        if (o->cfg.eps == 0) o->cfg.eps = 1e-8f;
    }
    int total = mlopt_model_param_count(m);
    o->index = calloc((size_t)total, sizeof *o->index);
    o->s1 = calloc((size_t)total, sizeof *o->s1);
    o->s2 = calloc((size_t)total, sizeof *o->s2);
    if (!o->index || !o->s1 || !o->s2) {
        mlopt_optimizer_destroy(o);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    int need1 = o->cfg.kind != MLOPT_OPTIM_SGD || o->cfg.momentum > 0;
    int need2 = o->cfg.kind != MLOPT_OPTIM_SGD;
    for (int i = 0; i < total; i++) {
        mlopt_param *p = mlopt_model_param_at(m, i);
        if (!p->trainable)
            continue;
        int k = o->n++;
        o->index[k] = i;
        mlopt_status s = MLOPT_OK;
        if (need1 && (s = mlopt_tensor_create(m->ctx, MLOPT_F32, p->ndim, p->shape, &o->s1[k])) == MLOPT_OK)
            s = mlopt_tensor_fill(o->s1[k], 0.0f);
        if (s == MLOPT_OK && need2 &&
            (s = mlopt_tensor_create(m->ctx, MLOPT_F32, p->ndim, p->shape, &o->s2[k])) == MLOPT_OK)
            s = mlopt_tensor_fill(o->s2[k], 0.0f);
        if (s != MLOPT_OK) {
            mlopt_optimizer_destroy(o);
            return s;
        }
    }
    *out = o;
    return MLOPT_OK;
}

void mlopt_optimizer_destroy(mlopt_optimizer *o)
{
    if (!o)
        return;
    for (int k = 0; k < o->n; k++) {
        mlopt_tensor_destroy(o->s1[k]);
        mlopt_tensor_destroy(o->s2[k]);
    }
    free(o->index);
    free(o->s1);
    free(o->s2);
    free(o);
}

mlopt_status mlopt_optimizer_step(mlopt_optimizer *o, float lr)
{
    mlopt_context *ctx = o->model->ctx;
    const mlopt_optim_config *c = &o->cfg;
    for (int k = 0; k < o->n; k++) {
        mlopt_param *p = mlopt_model_param_at(o->model, o->index[k]);
        size_t n = mlopt_tensor_numel(p->value);
        if (c->kind == MLOPT_OPTIM_SGD) {
            mlopt_ref v = o->s1[k] ? o->s1[k]->ref : mlopt_null_ref();
            TRY(BE_CALL(ctx, sgd_update, n, lr, c->momentum, c->dampening, c->weight_decay, c->nesterov,
                        o->steps == 0, p->value->ref, p->grad->ref, v));
        } else {
            int step = (int)(o->steps + 1 > 0x7fffffff ? 0x7fffffff : o->steps + 1);
            TRY(BE_CALL(ctx, adam_update, n, lr, c->beta1, c->beta2, c->eps, c->weight_decay,
                        c->kind == MLOPT_OPTIM_ADAMW, step, p->value->ref, p->grad->ref, o->s1[k]->ref,
                        o->s2[k]->ref));
        }
        if (p->mask) /* pruned weights stay exactly zero through training */
            TRY(BE_CALL(ctx, mask_mul, n, p->mask->ref, p->value->ref));
    }
    o->steps++;
    return MLOPT_OK;
}

long long mlopt_optimizer_steps(const mlopt_optimizer *o) { return o->steps; }
void mlopt_optimizer_set_steps(mlopt_optimizer *o, long long steps) { o->steps = steps; }

int mlopt_optimizer_state_count(const mlopt_optimizer *o)
{
    int n = 0;
    for (int k = 0; k < o->n; k++)
        n += (o->s1[k] != NULL) + (o->s2[k] != NULL);
    return n;
}

mlopt_tensor *mlopt_optimizer_state(mlopt_optimizer *o, int i, char *name, size_t len)
{
    for (int k = 0; k < o->n; k++) {
        mlopt_param *p = mlopt_model_param_at(o->model, o->index[k]);
        const char *n1 = o->cfg.kind == MLOPT_OPTIM_SGD ? "momentum_buffer" : "exp_avg";
        if (o->s1[k] && i-- == 0) {
            snprintf(name, len, "%s.%s", p->name, n1);
            return o->s1[k];
        }
        if (o->s2[k] && i-- == 0) {
            snprintf(name, len, "%s.exp_avg_sq", p->name);
            return o->s2[k];
        }
    }
    return NULL;
}
