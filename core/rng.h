/* Deterministic random numbers: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 * Independent streams come from one run seed plus a stream id (e.g. a hash of "init.layers.0.w"
 * or "data"), so every consumer of randomness has its own reproducible sequence. The whole state
 * is four words: checkpoints save it verbatim. */
#ifndef LRPE_RNG_H
#define LRPE_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s[4]; } rng;

/* Seeds r for the stream `stream` of the run seed `seed`. */
void rng_seed(rng *r, uint64_t seed, uint64_t stream);
/* A stream id from a name (64-bit FNV-1a), for rng_seed. Not a checksum: part of the seeding contract
 * (every initial weight and data order depends on it), so it stays as it is. */
uint64_t rng_stream_id(const char *name);
/* Next 64 random bits. */
uint64_t rng_next(rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t rng_below(rng *r, uint32_t n);
/* Standard normal N(0, 1) by Box-Muller (uses two uniforms, keeps no spare: the state stays
 * four words). */
double rng_normal(rng *r);

#endif
