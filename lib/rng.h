/*
 * rng: splitmix64, a small seedable generator with one word of state, for
 * workloads and tests that must replay from a seed. Not for secrets.
 */
#ifndef XACT_RNG_H
#define XACT_RNG_H

#include <stdint.h>

/* The next value; advances *state. */
static inline uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A value in [0, n), n > 0 (modulo bias is negligible for our n). */
static inline uint64_t
rng_below(uint64_t *state, uint64_t n)
{
	return rng_next(state) % n;
}

#endif
