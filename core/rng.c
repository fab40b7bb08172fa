#include "rng.h"

#include <math.h>

uint64_t mlopt_hash64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void mlopt_rng_seed(mlopt_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed = mlopt_hash64(seed);
        r->s[i] = seed;
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t mlopt_rng_next(mlopt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mlopt_rng_double(mlopt_rng *r)
{
    return (double)(mlopt_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t mlopt_rng_below(mlopt_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = mlopt_rng_next(r);
    while (v >= limit);
    return v % n;
}

double mlopt_rng_normal(mlopt_rng *r)
{
    double u1 = mlopt_rng_double(r), u2 = mlopt_rng_double(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
