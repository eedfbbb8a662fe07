/*
 * pg: the participant's PostgreSQL connections.
 *
 * A pool of libpq connections, opened lazily and reopened after a failure,
 * so a database that is down at start or mid-run costs NO votes, not the
 * process. Errors carry PostgreSQL's SQLSTATE untouched; a lost connection
 * is 08006.
 */
#ifndef XACT_PG_H
#define XACT_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_pool;

struct pg_err {
	char sqlstate[6];
	char message[512];
};

/*
 * Check conninfo and make the pool. statement_timeout_ms (0: none) is set on
 * every connection. Returns 0, or -1 with a reason (bad conninfo).
 */
int pg_pool_open(const char *conninfo, size_t size,
                 uint32_t statement_timeout_ms, struct pg_pool **out, char *err,
                 size_t errlen);
void pg_pool_close(struct pg_pool *p);

/* Take a connection, waiting up to wait_ms for one. NULL with e on failure. */
PGconn *pg_acquire(struct pg_pool *p, uint32_t wait_ms, struct pg_err *e);

/* Give it back; a connection that is broken, not idle or still in pipeline
 * mode is closed. */
void pg_release(struct pg_pool *p, PGconn *c);

/* Close it instead of giving it back (its session state was changed). */
void pg_discard(struct pg_pool *p, PGconn *c);

/* Run a command; 0, or -1 with e. */
int pg_command(PGconn *c, const char *sql, struct pg_err *e);

/*
 * Run one client statement with the extended protocol (so one statement
 * only). Returns the result (free with PQclear), or NULL with e. COPY to or
 * from the client is refused.
 */
PGresult *pg_statement(PGconn *c, const char *sql, struct pg_err *e);

enum pg_phase1 {
	PG_PREPARED, /* PREPARE TRANSACTION succeeded */
	PG_READONLY, /* wrote nothing: open, not prepared; see below */
	PG_FAILED,   /* e says why; the transaction is to be rolled back */
};

/*
 * Phase 1 of a branch in one round trip (libpq pipeline mode): BEGIN if
 * begin, the n statements, then a savepoint, the read-only test and
 * PREPARE TRANSACTION 'gid'. The test fails when the transaction wrote
 * nothing, which skips the PREPARE; the transaction is then still open,
 * and pg_commit_readonly() ends it. The statements must not be transaction
 * control or COPY (pg_is_txn_control, pg_is_copy): callers check first.
 */
enum pg_phase1 pg_prepare_pipelined(PGconn *c, bool begin,
                                    const char *const *sql, size_t n,
                                    const char *gid, struct pg_err *e);

enum pg_commit1 {
	PG_COMMIT_OK,      /* COMMIT succeeded */
	PG_COMMIT_FAILED,  /* rolled back (or never began): e says why */
	PG_COMMIT_UNKNOWN, /* the connection was lost, or COMMIT failed: it
	                      may have committed */
};

/*
 * One-phase commit in one round trip (libpq pipeline mode): BEGIN if
 * begin, first with its one parameter, the n statements, COMMIT. On
 * PG_COMMIT_FAILED *failed_at is the index of the query that failed (0:
 * first, n + 1: a COMMIT answered ROLLBACK) and the transaction is rolled
 * back. An error from COMMIT itself is PG_COMMIT_UNKNOWN: a backend
 * terminated while it waited for a synchronous standby has committed
 * locally. The same
 * callers' checks as pg_prepare_pipelined() apply.
 */
enum pg_commit1 pg_commit_pipelined(PGconn *c, bool begin, const char *first,
                                    const char *param, const char *const *sql,
                                    size_t n, size_t *failed_at,
                                    struct pg_err *e);

/* Commit a transaction pg_prepare_pipelined() found read-only. */
int pg_commit_readonly(PGconn *c, struct pg_err *e);

/* True when sql begins (after blanks and comments) with COPY. */
int pg_is_copy(const char *sql);

/*
 * True when sql begins (after blanks and comments) with a statement that
 * would end or nest the branch's transaction: BEGIN, START, COMMIT, END,
 * ROLLBACK, ABORT, PREPARE TRANSACTION. Such a statement must never reach
 * the database inside a branch: a COMMIT there would break atomicity.
 */
int pg_is_txn_control(const char *sql);

/*
 * True when sql (after blanks and comments) changes session state that
 * would outlive the branch on a pooled connection: SET without LOCAL,
 * RESET, DISCARD, LOAD, LISTEN. Such a branch's connection is closed
 * rather than reused. (set_config(..., false) is not caught.)
 */
int pg_touches_session(const char *sql);

/* Fill e from a failed result (or from the connection when r says
 * nothing). */
void pg_err_from(struct pg_err *e, PGconn *c, const PGresult *r);

void pg_err_set(struct pg_err *e, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
