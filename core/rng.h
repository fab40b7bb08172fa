/* Deterministic random numbers for initialization, shuffling and search:
 * splitmix64 to mix seeds, xoshiro256** for streams.  Same seed, same
 * numbers on every machine. */
#ifndef MLOPT_CORE_RNG_H
#define MLOPT_CORE_RNG_H

#include <stdint.h>

typedef struct mlopt_rng {
    uint64_t s[4];
} mlopt_rng;

uint64_t mlopt_hash64(uint64_t x);
void mlopt_rng_seed(mlopt_rng *r, uint64_t seed);
uint64_t mlopt_rng_next(mlopt_rng *r);
double mlopt_rng_double(mlopt_rng *r);             /* [0, 1) */
uint64_t mlopt_rng_below(mlopt_rng *r, uint64_t n); /* [0, n) without modulo bias */
double mlopt_rng_normal(mlopt_rng *r);

#endif
