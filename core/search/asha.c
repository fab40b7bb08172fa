/* ASHA: asynchronous successive halving with Hyperband brackets, and the
 * rung plan of synchronous successive halving. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mlopt/search.h"

typedef struct rung {
    int epoch;
    int n, cap;
    double *values; /* in recording order */
} rung;

struct mlopt_asha {
    mlopt_asha_config cfg;
    int nrungs[MLOPT_ASHA_MAX_BRACKETS];
    rung rungs[MLOPT_ASHA_MAX_BRACKETS][MLOPT_ASHA_MAX_RUNGS];
};

mlopt_status mlopt_asha_create(const mlopt_asha_config *cfg, mlopt_asha **out)
{
    if (cfg->eta < 2 || cfg->r_min < 1 || cfg->r_max < cfg->r_min || cfg->brackets < 1 ||
        cfg->brackets > MLOPT_ASHA_MAX_BRACKETS || cfg->bootstrap < 0)
        return mlopt_set_error(MLOPT_E_INVALID,
                               "ASHA: need eta >= 2, 1 <= r_min <= r_max, 1..%d brackets and bootstrap >= 0 (got eta "
                               "%d, r_min %d, r_max %d, brackets %d, bootstrap %d)",
                               MLOPT_ASHA_MAX_BRACKETS, cfg->eta, cfg->r_min, cfg->r_max, cfg->brackets,
                               cfg->bootstrap);
    mlopt_asha *a = calloc(1, sizeof *a);
    if (!a)
        return mlopt_set_error(MLOPT_E_NOMEM, "ASHA: out of host memory");
    a->cfg = *cfg;
    for (int b = 0; b < cfg->brackets; b++) {
        long long r = cfg->r_min;
        for (int k = 0; k < b; k++)
            r *= cfg->eta;
        while (r < cfg->r_max && a->nrungs[b] < MLOPT_ASHA_MAX_RUNGS) {
            a->rungs[b][a->nrungs[b]++].epoch = (int)r;
            r *= cfg->eta;
        }
    }
    *out = a;
    return MLOPT_OK;
}

void mlopt_asha_destroy(mlopt_asha *a)
{
    if (!a)
        return;
    for (int b = 0; b < MLOPT_ASHA_MAX_BRACKETS; b++)
        for (int k = 0; k < MLOPT_ASHA_MAX_RUNGS; k++)
            free(a->rungs[b][k].values);
    free(a);
}

int mlopt_asha_bracket(const mlopt_asha *a, int trial_id)
{
    int b = trial_id % a->cfg.brackets;
    return b < 0 ? -b : b;
}

static rung *find_rung(mlopt_asha *a, int bracket, int epoch)
{
    if (bracket < 0 || bracket >= a->cfg.brackets)
        return NULL;
    for (int k = 0; k < a->nrungs[bracket]; k++)
        if (a->rungs[bracket][k].epoch == epoch)
            return &a->rungs[bracket][k];
    return NULL;
}

int mlopt_asha_is_rung(const mlopt_asha *a, int bracket, int epoch)
{
    return find_rung((mlopt_asha *)a, bracket, epoch) != NULL;
}

mlopt_status mlopt_asha_record(mlopt_asha *a, int bracket, int epoch, double value)
{
    rung *r = find_rung(a, bracket, epoch);
    if (!r)
        return MLOPT_OK;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        double *v = realloc(r->values, (size_t)cap * sizeof *v);
        if (!v)
            return mlopt_set_error(MLOPT_E_NOMEM, "ASHA: out of host memory");
        r->values = v, r->cap = cap;
    }
    r->values[r->n++] = value;
    return MLOPT_OK;
}

int mlopt_asha_rank_keep(const double *values, int n, int position, int eta, int bootstrap)
{
    if (n <= bootstrap)
        return 0;
    /* rank: 1 + values strictly better, + equal values recorded earlier */
    int rank = 1;
    for (int i = 0; i < n; i++)
        if (i != position && (values[i] > values[position] || (values[i] == values[position] && i < position)))
            rank++;
    int top = n / eta;
    if (top < 1)
        top = 1;
    return rank <= top;
}

mlopt_status mlopt_asha_report(mlopt_asha *a, int bracket, int epoch, double value, int *keep)
{
    *keep = 1;
    rung *r = find_rung(a, bracket, epoch);
    if (!r)
        return MLOPT_OK;
    mlopt_status s = mlopt_asha_record(a, bracket, epoch, value);
    if (s != MLOPT_OK)
        return s;
    *keep = mlopt_asha_rank_keep(r->values, r->n, r->n - 1, a->cfg.eta, a->cfg.bootstrap);
    return MLOPT_OK;
}

int mlopt_sh_plan(int n, int eta, int r_min, int r_max, int *trials, int *epochs, int max)
{
    int k = 0;
    long long r = r_min;
    while (k < max && n >= 1) {
        trials[k] = n;
        epochs[k] = (int)(r < r_max ? r : r_max);
        k++;
        if (r >= r_max || n == 1)
            break;
        n = n / eta < 1 ? 1 : n / eta;
        r *= eta;
    }
    return k;
}
