/*
 * xact-fault: run the fault scenarios one at a time and print a table.
 *
 *   xact-fault [--only SUBSTRING] [--seed N] [--soak MINUTES] [--list]
 *              [--verbose] [--keep]
 *
 * Every scenario's random choices (victim, moment, failpoint hit) come from
 * the seed, printed first: a failure is rerun with --seed N --only NAME.
 * --soak runs randomly chosen scenarios with fresh seeds until the time is
 * up. The last line is "N passed, N failed"; the exit status is 1 if any
 * scenario failed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "rng.h"

static const char usage[] =
    "usage: xact-fault [--only SUBSTRING] [--seed N] [--soak MINUTES]\n"
    "                  [--list] [--verbose] [--keep]\n";

struct results {
	struct fresult *v;
	size_t n, cap;
};

static struct fresult *
results_add(struct results *a)
{
	if (a->n == a->cap) {
		size_t cap = a->cap != 0 ? a->cap * 2 : 64;
		struct fresult *v = realloc(a->v, cap * sizeof *v);

		if (v == NULL) {
			fprintf(stderr, "xact-fault: out of memory\n");
			exit(2);
		}
		a->v = v;
		a->cap = cap;
	}
	return &a->v[a->n++];
}

/* splitmix64 over the base seed: scenario seeds independent of order. */
static uint64_t
mix(uint64_t x)
{
	return rng_next(&x);
}

/*
 * Run scenario number idx of the table. Its seed derives from the base
 * seed and idx alone, so --seed BASE --only NAME reruns it exactly.
 */
static void
run_one(int idx, uint64_t base, bool verbose, struct results *res, int index,
        int total)
{
	const struct scenario *s = &fault_scenarios[idx];
	struct fresult *r = results_add(res);

	if (total > 0)
		printf("[%2d/%d] %-36s ", index, total, s->name);
	else
		printf("[%d] %-36s ", index, s->name);
	fflush(stdout);
	frun_scenario(s, mix(base ^ (uint64_t)idx), verbose, r);
	printf("%s  %5.1fs\n", r->pass ? "pass" : "FAIL", r->seconds);
	if (!r->pass)
		printf("    %s\n    rerun: xact-fault --seed %" PRIu64
		       " --only %s\n",
		       r->why, base, s->name);
	fflush(stdout);
}

static void
print_table(const struct results *res, double total_s)
{
	int passed = 0, failed = 0;
	char unk[32];

	printf("\n%-36s %-6s %10s %8s %18s %7s\n", "scenario", "result",
	       "committed", "aborted", "unknown->resolved", "time");
	for (size_t i = 0; i < res->n; i++) {
		const struct fresult *r = &res->v[i];

		snprintf(unk, sizeof unk, "%lld->%lld", r->unknown,
		         r->resolved);
		printf("%-36s %-6s %10lld %8lld %18s %6.1fs\n", r->name,
		       r->pass ? "pass" : "FAIL", r->committed, r->aborted, unk,
		       r->seconds);
		if (r->pass)
			passed++;
		else
			failed++;
	}
	printf("total time %.1fs\n", total_s);
	printf("%d passed, %d failed\n", passed, failed);
}

static bool
selected(const struct scenario *s, const char *only)
{
	return only == NULL || strstr(s->name, only) != NULL;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"only", required_argument, NULL, 'o'},
	    {"seed", required_argument, NULL, 's'},
	    {"soak", required_argument, NULL, 'k'},
	    {"list", no_argument, NULL, 'l'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"keep", no_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *only = NULL;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	double soak_min = 0;
	bool list = false, verbose = false;
	struct results res = {0};
	int pick[64], npick = 0, failed = 0, c;
	uint64_t start = clock_now_ms();
	char *end;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			only = optarg;
			break;
		case 's':
			seed = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0') {
				fprintf(stderr, "xact-fault: bad --seed\n%s",
				        usage);
				return 2;
			}
			break;
		case 'k':
			soak_min = strtod(optarg, &end);
			if (*end != '\0' || soak_min <= 0) {
				fprintf(stderr, "xact-fault: bad --soak\n%s",
				        usage);
				return 2;
			}
			break;
		case 'l':
			list = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'K':
			setenv("XACT_KEEP_TMP", "1", 1);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 0; i < fault_nscenarios && npick < 64; i++)
		if (selected(&fault_scenarios[i], only))
			pick[npick++] = i;
	if (list) {
		for (int i = 0; i < npick; i++)
			printf("%-36s %s\n", fault_scenarios[pick[i]].name,
			       fault_scenarios[pick[i]].what);
		return 0;
	}
	if (npick == 0) {
		fprintf(stderr, "xact-fault: no scenario matches \"%s\"\n",
		        only);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("xact-fault: seed %" PRIu64 " (rerun one scenario with --seed "
	       "%" PRIu64 " --only NAME)\n",
	       seed, seed);
	if (soak_min > 0) {
		uint64_t until = start + (uint64_t)(soak_min * 60000.0);
		uint64_t x = seed;

		for (int i = 1; clock_now_ms() < until; i++) {
			x = mix(x);
			run_one(pick[x % (uint64_t)npick], x, verbose, &res, i,
			        0);
		}
	} else {
		for (int i = 0; i < npick; i++)
			run_one(pick[i], seed, verbose, &res, i + 1, npick);
	}
	print_table(&res, (double)(clock_now_ms() - start) / 1000.0);
	for (size_t i = 0; i < res.n; i++)
		failed += !res.v[i].pass;
	free(res.v);
	return failed == 0 ? 0 : 1;
}
