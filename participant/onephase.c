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
	"at timestamptz NOT NULL DEFAULT pg_catalog.now())"
#define MARK "INSERT INTO " TABLE " (gid) VALUES ($1)"
/* A resolver waits this long for a branch that holds the gid's marker. */
#define TOMBSTONE                                                              \
	"INSERT INTO " TABLE " (gid, aborted) VALUES ($1, true) "              \
	"ON CONFLICT (gid) DO NOTHING"
#define LOOKUP      "SELECT aborted FROM " TABLE " WHERE gid = $1"
#define LOCK_WAIT   "SET LOCAL lock_timeout = '2s'"
#define SQL_UNIQUE  "23505"
#define RETRY_READY 60000 /* a table we could not make: try again after */

enum table_state { TABLE_UNKNOWN, TABLE_READY, TABLE_ABSENT };

struct onephase {
	struct pg_pool *resolve;
	uint32_t acquire_wait_ms;
	uint32_t retention_ms;
	pthread_mutex_t mu;
	enum table_state table; /* under mu */
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

/*
 * Make the marker table once. Two creators at once (two participants on one
 * database) can fail on the catalog's unique indexes: the second try then
 * finds it. TABLE_UNKNOWN: the database could not be reached.
 */
static enum table_state
table_ready(struct onephase *op, struct pg_err *e)
{
	enum table_state st;
	PGconn *c;

	pthread_mutex_lock(&op->mu);
	st = op->table;
	if (st == TABLE_UNKNOWN &&
	    (c = pg_acquire(op->resolve, op->acquire_wait_ms, e)) != NULL) {
		if (pg_command(c, CREATE, e) == 0 ||
		    pg_command(c, CREATE, e) == 0)
			st = TABLE_READY;
		else if (strncmp(e->sqlstate, "08", 2) != 0) {
			xlog_warn("one-phase commit off: cannot create " TABLE
			          ": %s %s; single-branch transactions use "
			          "two-phase commit",
			          e->sqlstate, e->message);
			st = TABLE_ABSENT;
		}
		pg_release(op->resolve, c);
		op->table = st;
	}
	pthread_mutex_unlock(&op->mu);
	return st;
}

/* What the marker of gid says, on c: 1 committed, 0 aborted, -1 none or
 * failure (e). */
static int
marker(PGconn *c, const char *gid, struct pg_err *e)
{
	PGresult *r = PQexecParams(c, LOOKUP, 1, NULL, &gid, NULL, NULL, 0);
	int v = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		pg_err_from(e, c, r);
	else if (PQntuples(r) == 1)
		v = PQgetvalue(r, 0, 0)[0] == 't' ? 0 : 1;
	else
		pg_err_set(e, "XX000", "no marker for %s after the tombstone",
		           gid);
	PQclear(r);
	return v;
}

enum onephase_outcome
onephase_resolve(struct onephase *op, const char *gid, struct pg_err *e)
{
	enum onephase_outcome out = OP_UNKNOWN;
	PGresult *r;
	PGconn *c;
	int v;

	switch (table_ready(op, e)) {
	case TABLE_UNKNOWN:
		return OP_UNKNOWN;
	case TABLE_ABSENT:
		/* No branch can have committed in one phase here. */
		pg_err_set(e, "40P01", "%s was not committed in one phase",
		           gid);
		return OP_ABORTED;
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
		(void)pg_command(c, "ROLLBACK", &(struct pg_err){{0}, {0}});
		goto done;
	}
	PQclear(r);
	if (pg_command(c, "COMMIT", e) != 0)
		goto done;
	if ((v = marker(c, gid, e)) == 1)
		out = OP_COMMITTED;
	else if (v == 0) {
		pg_err_set(e, "40P01", "%s was not committed (resolved)", gid);
		out = OP_ABORTED;
	}
done:
	pg_release(op->resolve, c);
	return out;
}

enum onephase_outcome
onephase_commit(struct onephase *op, PGconn *c, bool begin, const char *gid,
                const char *const *sql, size_t n, struct pg_err *e)
{
	size_t at;

	if (table_ready(op, e) != TABLE_READY)
		return OP_FALLBACK;
	switch (pg_commit_pipelined(c, begin, MARK, gid, sql, n, &at, e)) {
	case PG_COMMIT_OK:
		return OP_COMMITTED;
	case PG_COMMIT_UNKNOWN:
		/* Lost with the connection: the marker tells. */
		xlog_warn("gid=%s connection lost in one-phase COMMIT (%s); "
		          "resolving",
		          gid, e->message);
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

	if (table_ready(op, &e) != TABLE_READY)
		return 0;
	if ((c = pg_acquire(op->resolve, op->acquire_wait_ms, &e)) == NULL)
		return -1;
	snprintf(age, sizeof(age), "%u milliseconds", op->retention_ms);
	r = PQexecParams(c,
	                 "DELETE FROM " TABLE " WHERE at < pg_catalog.now() - "
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
