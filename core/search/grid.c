/* Grid sampler: every combination, last dimension fastest. */
#include <math.h>

#include "mlopt/search.h"

static int dim_points(const mlopt_hp_dim *d)
{
    switch (d->type) {
    case MLOPT_HP_CHOICE: return d->nchoices;
    case MLOPT_HP_INT: {
        /* every integer when there are at most 10, else `grid` spread points */
        double span = d->hi - d->lo + 1;
        return span <= 10 || d->grid < 2 ? (int)span : d->grid;
    }
    default: return d->lo == d->hi ? 1 : d->grid;
    }
}

long long mlopt_grid_size(const mlopt_hp_space *s)
{
    long long n = 1;
    for (int i = 0; i < s->ndims; i++)
        n *= dim_points(&s->dims[i]);
    return n;
}

void mlopt_grid_point(const mlopt_hp_space *s, long long index, mlopt_hp_point *out)
{
    for (int i = s->ndims - 1; i >= 0; i--) {
        const mlopt_hp_dim *d = &s->dims[i];
        int k = dim_points(d);
        int j = (int)(index % k);
        index /= k;
        double t = k > 1 ? (double)j / (k - 1) : 0.0;
        switch (d->type) {
        case MLOPT_HP_CHOICE: out->v[i] = j; break;
        case MLOPT_HP_INT:
            out->v[i] = (d->hi - d->lo + 1 <= k) ? d->lo + j : floor(d->lo + t * (d->hi - d->lo) + 0.5);
            break;
        case MLOPT_HP_LOG: out->v[i] = exp(log(d->lo) + t * (log(d->hi) - log(d->lo))); break;
        case MLOPT_HP_FLOAT: out->v[i] = d->lo + t * (d->hi - d->lo); break;
        }
    }
}
