/* Regularized (aging) evolution: a FIFO population where the oldest
 * member dies, whatever its fitness (Real et al. 2019). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mlopt/search.h"

mlopt_status mlopt_evo_init(mlopt_evo *e, int population, int sample, int multi_objective)
{
    memset(e, 0, sizeof *e);
    if (population < 2 || sample < 1 || sample > population)
        return mlopt_set_error(MLOPT_E_INVALID, "evolution: need population >= 2 and 1 <= sample <= population "
                                                "(got %d, %d)", population, sample);
    e->members = calloc((size_t)population, sizeof *e->members);
    if (!e->members)
        return mlopt_set_error(MLOPT_E_NOMEM, "evolution: out of host memory");
    e->population = population;
    e->sample = sample;
    e->multi_objective = multi_objective;
    return MLOPT_OK;
}

void mlopt_evo_free(mlopt_evo *e)
{
    free(e->members);
    e->members = NULL;
}

const mlopt_evo_member *mlopt_evo_member_at(const mlopt_evo *e, int i)
{
    if (i < 0 || i >= e->count)
        return NULL;
    return &e->members[(e->head + i) % e->population];
}

void mlopt_evo_add(mlopt_evo *e, const mlopt_arch *a, double fitness, double cost, int id)
{
    mlopt_evo_member m = { *a, fitness, cost, id };
    if (e->count < e->population) {
        e->members[(e->head + e->count) % e->population] = m;
        e->count++;
    } else {
        /* the oldest slot is overwritten by the newest: head moves on */
        e->members[e->head] = m;
        e->head = (e->head + 1) % e->population;
    }
    e->added++;
}

void mlopt_evo_propose(const mlopt_evo *e, const mlopt_arch_space *s, mlopt_rng64 *rng, int in_h, int in_w,
                       mlopt_arch *child, int *parent_id)
{
    if (e->count < e->population) {
        mlopt_arch_random(s, rng, in_h, in_w, child);
        *parent_id = -1;
        return;
    }
    int idx[256];
    int ns = e->sample < 256 ? e->sample : 256;
    for (int i = 0; i < ns; i++)
        idx[i] = mlopt_rng64_below(rng, e->count);
    int best = -1;
    if (!e->multi_objective) {
        for (int i = 0; i < ns; i++) {
            const mlopt_evo_member *m = mlopt_evo_member_at(e, idx[i]);
            if (best < 0 || m->fitness > mlopt_evo_member_at(e, best)->fitness)
                best = idx[i];
        }
    } else {
        /* uniformly among the sample's non-dominated members */
        int cand[256], nc = 0;
        for (int i = 0; i < ns; i++) {
            const mlopt_evo_member *m = mlopt_evo_member_at(e, idx[i]);
            int dominated = 0;
            for (int j = 0; j < ns && !dominated; j++) {
                const mlopt_evo_member *o = mlopt_evo_member_at(e, idx[j]);
                dominated = o->fitness >= m->fitness && o->cost <= m->cost &&
                            (o->fitness > m->fitness || o->cost < m->cost);
            }
            if (!dominated)
                cand[nc++] = idx[i];
        }
        best = cand[mlopt_rng64_below(rng, nc)];
    }
    const mlopt_evo_member *parent = mlopt_evo_member_at(e, best);
    mlopt_arch_mutate(s, rng, in_h, in_w, &parent->arch, child);
    *parent_id = parent->id;
}
