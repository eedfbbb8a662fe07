/*
 * admit: the participant's limit on work in flight, hammered from many
 * threads at once. Never more than the limit may hold a unit, or every
 * REP context can fill with work and a COMMIT go unread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "admit.h"

#define THREADS 8
#define ROUNDS  1000000
#define LIMIT   2
#define REPEAT  10

static atomic_size_t inflight;
static atomic_size_t holding; /* admitted and not yet given back */
static atomic_size_t most;    /* the largest holding ever seen */
static atomic_size_t admitted;

static void *
hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (!admit_take(&inflight, LIMIT))
			continue;
		size_t now = atomic_fetch_add(&holding, 1) + 1;
		size_t seen = atomic_load(&most);

		while (now > seen &&
		       !atomic_compare_exchange_weak(&most, &seen, now))
			;
		atomic_fetch_add(&admitted, 1);
		atomic_fetch_sub(&holding, 1);
		admit_give(&inflight);
	}
	return NULL;
}

Test(admit, never_more_than_the_limit_from_many_threads, .timeout = 60)
{
	pthread_t t[THREADS];

	/* The race window is a few instructions wide: try it many times. */
	for (int rep = 0; rep < REPEAT && atomic_load(&most) <= LIMIT; rep++) {
		for (int i = 0; i < THREADS; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL),
			             0);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
	}
	cr_assert_leq(atomic_load(&most), LIMIT, "%zu held at once",
	              atomic_load(&most));
	cr_assert_eq(atomic_load(&inflight), 0, "every unit given back");
	cr_assert_gt(atomic_load(&admitted), ROUNDS, "work got through");
}

Test(admit, a_full_count_refuses_and_gives_nothing_away)
{
	atomic_size_t n = 0;

	cr_assert(admit_take(&n, 2));
	cr_assert(admit_take(&n, 2));
	cr_assert_not(admit_take(&n, 2));
	cr_assert_eq(atomic_load(&n), 2, "a refusal leaves the count");
	admit_give(&n);
	cr_assert(admit_take(&n, 2));
}
