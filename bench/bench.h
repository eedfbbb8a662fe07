/*
 * xact-bench: what one benchmark client does (workload.c) and what the
 * driver (main.c) hands it.
 *
 * A transaction moves one unit of money: it debits one account and credits
 * N - 1 others, one statement per database over N databases (N = 1: a
 * debit and a credit in the same database). Each client works on its own
 * accounts (id % clients == client), so no two transactions ever wait for
 * each other's locks: the benchmark measures the cost of committing, not
 * contention.
 */
#ifndef XACT_BENCH_H
#define XACT_BENCH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "xact.h"

#define BENCH_MAX_N      4
#define BENCH_TABLE      "xact_bench_accounts"
#define BENCH_BALANCE    1000000000LL /* per account: never overdrawn */
#define BENCH_GID_PREFIX "bench_"     /* never xact_: sweepers skip it */
#define BENCH_ERR_MAX    256

enum bench_mode {
	MODE_XACT_2PC,      /* xact_submit() through the coordinator */
	MODE_XACT_3PC,      /* the same with three-phase commit */
	MODE_RAW_2PC,       /* PREPARE / COMMIT PREPARED by hand: the ceiling */
	MODE_RAW_NONATOMIC, /* one plain commit per database in turn */
	MODE_LOCAL,         /* all the work in one database, one commit */
	MODE_COUNT,
};

const char *bench_mode_name(enum bench_mode m);
/* MODE_COUNT when s names no mode. */
enum bench_mode bench_mode_parse(const char *s);
/* Whether the mode goes through the coordinator. */
bool bench_mode_is_xact(enum bench_mode m);

/* What every client of a run shares. */
struct bench_env {
	const char *dbs[BENCH_MAX_N];   /* conninfo, in participant order */
	const char *names[BENCH_MAX_N]; /* participant names */
	int ndbs;
	const char *url; /* the coordinator */
	int accounts;    /* per database */
	unsigned timeout_ms;
};

enum bench_outcome {
	BENCH_COMMITTED,
	BENCH_ABORTED,
	BENCH_ERROR, /* a call failed: the err says why */
};

struct bench_client {
	const struct bench_env *env;
	enum bench_mode mode;
	int n;     /* databases per transaction */
	int index; /* this client's accounts: id % nclients == index */
	int nclients;
	PGconn *pg[BENCH_MAX_N]; /* raw modes and local */
	xact_conn *xc;           /* xact modes */
	uint64_t seq;
	uint64_t rng;
	char err[BENCH_ERR_MAX];
};

/* Connect for c->mode. Returns 0, or -1 with c->err. */
int bench_client_open(struct bench_client *c);
void bench_client_close(struct bench_client *c);
/* One transaction. */
enum bench_outcome bench_transfer(struct bench_client *c);

#endif
