/*
 * One-phase commit and its marker table (onephase.h).
 *
 * Why a marker and not pg_xact_status(): the coordinator would have to learn
 * the transaction id before the commit, which costs the round trip that
 * one-phase commit saves. The marker is written first so that a repeated
 * request (NNG may deliver one twice, or after a restart) conflicts on the
 * unique index before any statement can run a second time.
 */
#include "onephase.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define TABLE "xact.one_phase"
#define CREATE                                                                 \
	"CREATE SCHEMA IF NOT EXISTS xact; "                                   \
	"CREATE TABLE IF NOT EXISTS " TABLE " ("                               \
	"gid text PRIMARY KEY, "                                               \
	"aborted boolean NOT NULL DEFAULT false, "                             \
	"at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp())"
/* 0 absent, 1 usable, 2 there but not ours to write. Asked before any
 * CREATE: a CREATE can fail (privileges, read only) on a table that exists
 * and holds markers. */
#define PROBE                                                                  \
	"SELECT CASE WHEN pg_catalog.to_regclass('" TABLE "') IS NULL "        \
	"THEN 0 WHEN pg_catalog.has_table_privilege('" TABLE "', "             \
	"'SELECT, INSERT, DELETE') THEN 1 ELSE 2 END"
#define MARK "INSERT INTO " TABLE " (gid) VALUES ($1)"
#define TOMBSTONE                                                              \
	"INSERT INTO " TABLE " (gid, aborted) VALUES ($1, true) "              \
	"ON CONFLICT (gid) DO NOTHING"
#define LOOKUP "SELECT aborted FROM " TABLE " WHERE gid = $1"
/* A resolver waits this long for a branch that holds the gid's marker. */
#define LOCK_WAIT  "SET LOCAL lock_timeout = '2s'"
#define SQL_UNIQUE "23505"

enum table_state {
	TABLE_UNKNOWN, /* not probed yet, or to be probed again */
	TABLE_READY,
	TABLE_OFF, /* cannot be used: for the life of this process */
};

struct onephase {
	struct pg_pool *resolve;
	uint32_t acquire_wait_ms;
	uint32_t retention_ms;
	pthread_mutex_t mu;
	enum table_state table; /* under mu */
	bool table_exists;      /* under mu: TABLE_OFF but readable, maybe */
	unsigned running;       /* under mu: between enter and commit */
};

int
onephase_open(struct pg_pool *resolve, uint32_t acquire_wait_ms,
              uint32_t retention_ms, struct onephase **out)
{
	struct onephase *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return -1;
	op->resolve = resolve;
	op->acquire_wait_ms = acquire_wait_ms;
	op->retention_ms = retention_ms;
	pthread_mutex_init(&op->mu, NULL);
	*out = op;
	return 0;
}

void
onephase_close(struct onephase *op)
{
	if (op == NULL)
		return;
	pthread_mutex_destroy(&op->mu);
	free(op);
}

/* What PROBE says on c, or -1 (e). */
static int
probe_on(PGconn *c, struct pg_err *e)
{
	PGresult *r = PQexec(c, PROBE);
	int v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = atoi(PQgetvalue(r, 0, 0));
	else
		pg_err_from(e, c, r);
	PQclear(r);
	return v;
}

/* Whether e says the database could not be reached (or asked in time). */
static bool
unreachable(const struct pg_err *e)
{
	return strncmp(e->sqlstate, "08", 2) == 0 ||
	       strncmp(e->sqlstate, "57", 2) == 0 ||
	       strcmp(e->sqlstate, "55P03") == 0;
}

/*
 * Find the marker table, or make it. Two creators at once (two participants
 * on one database) can fail on the catalog's unique indexes: the second try
 * then finds it. Called without mu: the answer is stored under it, and
 * TABLE_OFF, once stored, stays.
 */
static enum table_state
probe(struct onephase *op, struct pg_err *e)
{
	enum table_state st = TABLE_UNKNOWN;
	bool exists = false;
	PGconn *c;
	int v;

	if ((c = pg_acquire(op->resolve, op->acquire_wait_ms, e)) == NULL)
		return TABLE_UNKNOWN;
	for (int tries = 0;; tries++) {
		if ((v = probe_on(c, e)) != 0 || tries == 2)
			break;
		if (pg_command(c, CREATE, e) != 0 &&
		    (unreachable(e) || tries == 1)) {
			v = unreachable(e) ? -1 : 3;
			break;
		}
	}
	pg_release(op->resolve, c);
	if (v == 1) {
		st = TABLE_READY;
	} else if (v == 2) {
		exists = true;
		pg_err_set(e, "42501",
		           "no SELECT, INSERT and DELETE on " TABLE);
		st = TABLE_OFF;
	} else if (v == 3) {
		st = TABLE_OFF;
	}
	pthread_mutex_lock(&op->mu);
	if (op->table == TABLE_OFF) {
		st = TABLE_OFF;
	} else if (st == TABLE_OFF) {
		xlog_warn(
		    "one-phase commit off until this participant restarts: "
		    "cannot use " TABLE ": %s %s; single-branch "
		    "transactions use two-phase commit",
		    e->sqlstate, e->message);
		op->table = TABLE_OFF;
		op->table_exists = exists;
	} else if (st == TABLE_READY) {
		op->table = TABLE_READY;
	}
	pthread_mutex_unlock(&op->mu);
	return st;
}

static enum table_state
table_state(struct onephase *op, struct pg_err *e)
{
	enum table_state st;

	pthread_mutex_lock(&op->mu);
	st = op->table;
	pthread_mutex_unlock(&op->mu);
	return st != TABLE_UNKNOWN ? st : probe(op, e);
}

/* The marker of gid, on c: 1 committed, 0 aborted, 2 none, -1 failed (e). */
static int
lookup(PGconn *c, const char *gid, struct pg_err *e)
{
	PGresult *r = PQexecParams(c, LOOKUP, 1, NULL, &gid, NULL, NULL, 0);
	int v = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		pg_err_from(e, c, r);
	else if (PQntuples(r) == 0)
		v = 2;
	else
		v = PQgetvalue(r, 0, 0)[0] == 't' ? 0 : 1;
	PQclear(r);
	return v;
}

/* The outcome a marker lookup says; none: aborted (the caller knows that
 * no branch can commit in one phase any more). */
static enum onephase_outcome
outcome_of(int v, const char *gid, struct pg_err *e)
{
	switch (v) {
	case 1:
		return OP_COMMITTED;
	case 0:
	case 2:
		pg_err_set(e, "40P01", "%s was not committed in one phase",
		           gid);
		return OP_ABORTED;
	}
	return OP_UNKNOWN;
}

/* With one-phase commit off: what its marker says, as lookup() does. */
static int
read_marker(struct onephase *op, const char *gid, struct pg_err *e)
{
	bool exists;
	PGconn *c;
	int v = -1;

	pthread_mutex_lock(&op->mu);
	exists = op->table_exists;
	pthread_mutex_unlock(&op->mu);
	if (!exists)
		return 2;
	if ((c = pg_acquire(op->resolve, op->acquire_wait_ms, e)) != NULL) {
		v = lookup(c, gid, e);
		pg_release(op->resolve, c);
	}
	return v;
}

/*
 * With one-phase commit off, no branch can start one, so once none is
 * running the marker (if any) is final without a tombstone.
 */
static enum onephase_outcome
resolve_off(struct onephase *op, const char *gid, struct pg_err *e)
{
	unsigned running;

	pthread_mutex_lock(&op->mu);
	running = op->running;
	pthread_mutex_unlock(&op->mu);
	if (running > 0) {
		pg_err_set(e, "55006",
		           "%u one-phase commits still running: ask again",
		           running);
		return OP_UNKNOWN;
	}
	return outcome_of(read_marker(op, gid, e), gid, e);
}

/* The marker insert failed for want of the table or of a privilege: probe
 * again (the resolve that follows does). */
static void
table_lost(struct onephase *op, const struct pg_err *e)
{
	if (strcmp(e->sqlstate, "42P01") != 0 &&
	    strcmp(e->sqlstate, "3F000") != 0 &&
	    strcmp(e->sqlstate, "42501") != 0)
		return;
	pthread_mutex_lock(&op->mu);
	if (op->table == TABLE_READY)
		op->table = TABLE_UNKNOWN;
	pthread_mutex_unlock(&op->mu);
}

enum onephase_outcome
onephase_resolve(struct onephase *op, const char *gid, struct pg_err *e)
{
	enum onephase_outcome out = OP_UNKNOWN;
	PGresult *r;
	PGconn *c;

	switch (table_state(op, e)) {
	case TABLE_UNKNOWN:
		return OP_UNKNOWN;
	case TABLE_OFF:
		return resolve_off(op, gid, e);
	case TABLE_READY:
		break;
	}
	if ((c = pg_acquire(op->resolve, op->acquire_wait_ms, e)) == NULL)
		return OP_UNKNOWN;
	if (pg_command(c, "BEGIN; " LOCK_WAIT, e) != 0)
		goto done;
	r = PQexecParams(c, TOMBSTONE, 1, NULL, &gid, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pg_err_from(e, c, r); /* a lock timeout: still running */
		PQclear(r);
		table_lost(op, e);
		(void)pg_command(c, "ROLLBACK", &(struct pg_err){{0}, {0}});
		goto done;
	}
	PQclear(r);
	if (pg_command(c, "COMMIT", e) != 0)
		goto done;
	out = outcome_of(lookup(c, gid, e), gid, e);
	if (out == OP_ABORTED && strcmp(e->sqlstate, "40P01") == 0)
		pg_err_set(e, "40P01", "%s was not committed (resolved)", gid);
done:
	pg_release(op->resolve, c);
	return out;
}

enum onephase_outcome
onephase_enter(struct onephase *op, const char *gid, bool fresh,
               struct pg_err *e)
{
	enum table_state st = table_state(op, e);

	if (st == TABLE_UNKNOWN) /* not fresh: no past life can have it */
		return fresh ? OP_UNKNOWN : OP_FALLBACK;
	pthread_mutex_lock(&op->mu);
	if (op->table == TABLE_READY) {
		op->running++;
		pthread_mutex_unlock(&op->mu);
		return OP_PROCEED;
	}
	pthread_mutex_unlock(&op->mu);
	if (!fresh)
		return OP_FALLBACK;
	/* A past life may have committed it in one phase: its marker, if
	 * any, is the answer; none means it never did (nor can now). */
	switch (read_marker(op, gid, e)) {
	case 1:
		return OP_COMMITTED;
	case 0:
		pg_err_set(e, "40P01", "%s was resolved as aborted", gid);
		return OP_ABORTED;
	case 2:
		return OP_FALLBACK;
	}
	return OP_UNKNOWN;
}

void
onephase_leave(struct onephase *op)
{
	pthread_mutex_lock(&op->mu);
	op->running--;
	pthread_mutex_unlock(&op->mu);
}

enum onephase_outcome
onephase_commit(struct onephase *op, PGconn *c, bool begin, const char *gid,
                const char *const *sql, size_t n, struct pg_err *e)
{
	enum pg_commit1 rc;
	size_t at;

	rc = pg_commit_pipelined(c, begin, MARK, gid, sql, n, &at, e);
	onephase_leave(op);
	switch (rc) {
	case PG_COMMIT_OK:
		return OP_COMMITTED;
	case PG_COMMIT_UNKNOWN:
		/* Lost with the connection, or the COMMIT itself failed:
		 * the marker tells. */
		xlog_warn("gid=%s one-phase COMMIT without a definite answer "
		          "(%s %s); resolving",
		          gid, e->sqlstate, e->message);
		return onephase_resolve(op, gid, e);
	case PG_COMMIT_FAILED:
		break;
	}
	if (at == 0) {
		/*
		 * The marker is not ours: asked before (a repeat, maybe from a
		 * past life of this process, or a resolver came first), or the
		 * insert failed. Only the marker can tell.
		 */
		if (strcmp(e->sqlstate, SQL_UNIQUE) == 0)
			xlog_info("gid=%s one-phase marker exists: asked "
			          "before, or resolved first",
			          gid);
		else
			xlog_warn("gid=%s one-phase marker not written: %s %s",
			          gid, e->sqlstate, e->message);
		table_lost(op, e);
		return onephase_resolve(op, gid, e);
	}
	return OP_ABORTED; /* our marker went with the rollback */
}

long
onephase_forget_old(struct onephase *op)
{
	char age[32];
	const char *param = age;
	struct pg_err e;
	PGresult *r;
	PGconn *c;
	long n = -1;

	if (table_state(op, &e) != TABLE_READY)
		return 0;
	if ((c = pg_acquire(op->resolve, op->acquire_wait_ms, &e)) == NULL)
		return -1;
	snprintf(age, sizeof(age), "%u milliseconds", op->retention_ms);
	r = PQexecParams(c,
	                 "DELETE FROM " TABLE
	                 " WHERE at < pg_catalog.clock_timestamp() - "
	                 "$1::pg_catalog.interval",
	                 1, NULL, &param, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		n = strtol(PQcmdTuples(r), NULL, 10);
	else {
		pg_err_from(&e, c, r);
		xlog_warn("one-phase markers not trimmed: %s %s", e.sqlstate,
		          e.message);
	}
	PQclear(r);
	pg_release(op->resolve, c);
	return n;
}
