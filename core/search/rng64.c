/* splitmix64 streams for the samplers: tiny, fast and identical on every
 * platform, so that a seed reproduces a search everywhere. */
#include <math.h>

#include "mlopt/search.h"

void mlopt_rng64_seed(mlopt_rng64 *r, uint64_t seed, uint64_t stream)
{
    r->state = seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull;
    (void)mlopt_rng64_next(r);
}

uint64_t mlopt_rng64_next(mlopt_rng64 *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double mlopt_rng64_uniform(mlopt_rng64 *r)
{
    return (double)(mlopt_rng64_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

int mlopt_rng64_below(mlopt_rng64 *r, int n)
{
    if (n <= 1)
        return 0;
    return (int)(mlopt_rng64_uniform(r) * n);
}

double mlopt_rng64_normal(mlopt_rng64 *r)
{
    /* Box-Muller; one of the pair is dropped to keep the stream stateless. */
    double u1 = mlopt_rng64_uniform(r), u2 = mlopt_rng64_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
