/* Unstructured magnitude pruning (per layer or global, by fraction or
 * count, |w| or custom scores) and the gradual schedule of Zhu & Gupta. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "passes_internal.h"

typedef struct target {
    mlopt_param *p;
    float *w, *score;
    size_t n;
} target;

static int selected(const mlopt_prune_config *cfg, const mlopt_layer *L)
{
    if (!cfg->layers)
        return passes_is_weighted(L);
    for (int i = 0; i < cfg->nlayers; i++)
        if (strcmp(cfg->layers[i], L->spec.name) == 0)
            return 1;
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Prune the k lowest-scored weights of one group of targets: the threshold
 * is the k-th smallest score; ties at the threshold are broken in order. */
static mlopt_status prune_group(mlopt_model *m, target *t, int nt, size_t k)
{
    size_t total = 0;
    for (int i = 0; i < nt; i++)
        total += t[i].n;
    if (k == 0 || total == 0)
        return MLOPT_OK;
    float *all = malloc(total * sizeof *all);
    if (!all)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    size_t u = 0;
    for (int i = 0; i < nt; i++) {
        memcpy(all + u, t[i].score, t[i].n * sizeof *all);
        u += t[i].n;
    }
    qsort(all, total, sizeof *all, cmp_float);
    float thr = all[k - 1];
    size_t below = 0;
    for (size_t i = 0; i < total; i++)
        below += all[i] < thr;
    free(all);
    size_t ties_left = k - below; /* how many weights scored exactly thr to prune */
    mlopt_status s = MLOPT_OK;
    for (int i = 0; i < nt && s == MLOPT_OK; i++) {
        float *mask = malloc(t[i].n * sizeof *mask);
        if (!mask)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        for (size_t j = 0; j < t[i].n; j++) {
            int cut = t[i].score[j] < thr || (t[i].score[j] == thr && ties_left > 0 && ties_left--);
            mask[j] = cut ? 0.0f : 1.0f;
        }
        s = mlopt_mask_set(m, t[i].p->name, mask);
        free(mask);
    }
    return s;
}

mlopt_status mlopt_prune_magnitude(mlopt_model *m, const mlopt_prune_config *cfg)
{
    if (!(cfg->amount >= 0.0 && cfg->amount < 1.0) && cfg->count <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "pruning amount %g must be in [0, 1)", cfg->amount);
    if (cfg->count < 0)
        return mlopt_set_error(MLOPT_E_INVALID, "pruning count %lld must be positive", cfg->count);
    for (int i = 0; cfg->layers && i < cfg->nlayers; i++) {
        int li = passes_find_layer(m, cfg->layers[i]);
        if (li < 0)
            return MLOPT_E_NOT_FOUND;
        if (!passes_is_weighted(&m->layers[li]))
            return mlopt_set_error(MLOPT_E_INVALID, "layer %s has no weights to prune (only conv and linear do)",
                                   cfg->layers[i]);
    }
    target *t = calloc((size_t)m->nlayers + 1, sizeof *t);
    if (!t)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    int nt = 0;
    size_t total = 0;
    mlopt_status s = MLOPT_OK;
    for (int i = 0; i < m->nlayers && s == MLOPT_OK; i++) {
        mlopt_layer *L = &m->layers[i];
        if (!selected(cfg, L))
            continue;
        target *x = &t[nt++];
        x->p = &L->params[0];
        x->n = mlopt_tensor_numel(x->p->value);
        total += x->n;
        if ((s = passes_download(x->p->value, &x->w)) != MLOPT_OK)
            break;
        x->score = malloc(x->n * sizeof *x->score);
        if (!x->score) {
            s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
            break;
        }
        if (cfg->score)
            s = cfg->score(cfg->score_user, x->p->name, x->w, x->n, x->score);
        else
            for (size_t j = 0; j < x->n; j++)
                x->score[j] = fabsf(x->w[j]);
        if (s != MLOPT_OK || !x->p->mask)
            continue;
        /* Already-pruned weights go first, so sparsity only grows. */
        float *mask;
        if ((s = passes_download(x->p->mask, &mask)) != MLOPT_OK)
            break;
        for (size_t j = 0; j < x->n; j++)
            if (mask[j] == 0.0f)
                x->score[j] = -INFINITY;
        free(mask);
    }
    if (s == MLOPT_OK && cfg->count > 0 && (size_t)cfg->count >= total)
        s = mlopt_set_error(MLOPT_E_INVALID, "cannot prune %lld of %zu weights: keep at least one", cfg->count, total);
    if (s == MLOPT_OK) {
        if (cfg->scope == MLOPT_SCOPE_GLOBAL) {
            size_t k = cfg->count > 0 ? (size_t)cfg->count : (size_t)floor(cfg->amount * (double)total + 0.5);
            s = prune_group(m, t, nt, k);
        } else {
            for (int i = 0; i < nt && s == MLOPT_OK; i++) {
                /* a count is shared out in proportion to layer sizes */
                double frac = cfg->count > 0 ? (double)cfg->count / (double)total : cfg->amount;
                s = prune_group(m, &t[i], 1, (size_t)floor(frac * (double)t[i].n + 0.5));
            }
        }
    }
    for (int i = 0; i < nt; i++) {
        free(t[i].w);
        free(t[i].score);
    }
    free(t);
    return s;
}

double mlopt_gradual_sparsity(double s_i, double s_f, long long t, long long t0, long long n, long long dt)
{
    if (t <= t0)
        return s_i;
    double span = (double)n * (double)dt;
    if (span <= 0 || (double)(t - t0) >= span)
        return s_f;
    double r = 1.0 - (double)(t - t0) / span;
    return s_f + (s_i - s_f) * r * r * r;
}

mlopt_status mlopt_gradual_hook(void *user, mlopt_model *m, long long step, long long total)
{
    (void)total;
    mlopt_gradual_state *g = user;
    if (step < g->t0 || g->dt <= 0 || (step - g->t0) % g->dt != 0 || step > g->t0 + g->n * g->dt)
        return MLOPT_OK;
    mlopt_prune_config c = g->prune;
    c.count = 0;
    c.amount = mlopt_gradual_sparsity(g->initial, g->prune.amount, step, g->t0, g->n, g->dt);
    return mlopt_prune_magnitude(m, &c);
}
