/*
 * A ring of sequence numbers. Lookups scan it: they serve clients that
 * lost an answer, which is rare, and a scan of 512 KiB costs less than the
 * round trip that asked.
 */
#include "recent.h"

#include <pthread.h>
#include <stdlib.h>

struct recent {
	pthread_mutex_t mu;
	uint64_t seq[RECENT_MAX]; /* 0: empty (sequence numbers start at 1) */
	size_t next;
	uint64_t dropped_max; /* the highest seq pushed out of the ring */
};

struct recent *
recent_new(void)
{
	struct recent *r = calloc(1, sizeof(*r));

	if (r != NULL)
		pthread_mutex_init(&r->mu, NULL);
	return r;
}

void
recent_free(struct recent *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r);
}

void
recent_add(struct recent *r, uint64_t seq)
{
	pthread_mutex_lock(&r->mu);
	if (r->seq[r->next] > r->dropped_max)
		r->dropped_max = r->seq[r->next];
	r->seq[r->next] = seq;
	r->next = (r->next + 1) % RECENT_MAX;
	pthread_mutex_unlock(&r->mu);
}

enum recent_answer
recent_lookup(struct recent *r, uint64_t seq)
{
	enum recent_answer a = RECENT_NOT_COMMITTED;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < RECENT_MAX; i++)
		if (r->seq[i] == seq) {
			a = RECENT_COMMITTED;
			break;
		}
	/* Commits finish out of order: one older than a dropped one may
	 * have been dropped too. */
	if (a != RECENT_COMMITTED && seq <= r->dropped_max)
		a = RECENT_UNKNOWN;
	pthread_mutex_unlock(&r->mu);
	return a;
}
