/*
 * admit: a count of work in flight with a hard limit, taken and given
 * back from any thread (the participant's NNG callbacks and workers).
 */
#ifndef XACT_ADMIT_H
#define XACT_ADMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Take one unit if fewer than limit are taken. The check and the count
 * are one compare-and-swap: a check before a separate count lets
 * concurrent callers all pass it.
 */
static inline bool
admit_take(atomic_size_t *n, size_t limit)
{
	size_t cur = atomic_load(n);

	do {
		if (cur >= limit)
			return false;
	} while (!atomic_compare_exchange_weak(n, &cur, cur + 1));
	return true;
}

static inline void
admit_give(atomic_size_t *n)
{
	atomic_fetch_sub(n, 1);
}

#endif
