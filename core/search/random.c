/* Random sampler: independent draws, log-uniform for log dimensions. */
#include <math.h>

#include "mlopt/search.h"

void mlopt_random_point(const mlopt_hp_space *s, mlopt_rng64 *rng, mlopt_hp_point *out)
{
    for (int i = 0; i < s->ndims; i++) {
        const mlopt_hp_dim *d = &s->dims[i];
        double u = mlopt_rng64_uniform(rng);
        switch (d->type) {
        case MLOPT_HP_CHOICE: out->v[i] = (int)(u * d->nchoices); break;
        case MLOPT_HP_INT: out->v[i] = d->lo + floor(u * (d->hi - d->lo + 1)); break;
        case MLOPT_HP_LOG: out->v[i] = exp(log(d->lo) + u * (log(d->hi) - log(d->lo))); break;
        case MLOPT_HP_FLOAT: out->v[i] = d->lo + u * (d->hi - d->lo); break;
        }
    }
}
