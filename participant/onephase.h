/*
 * onephase: one-phase commit of a transaction's only branch, and the marker
 * that keeps its outcome knowable when the answer is lost.
 *
 * The branch inserts its gid into xact.one_phase first, in its own local
 * transaction, then runs its statements and COMMITs: a marker row exists if
 * and only if the branch committed. A coordinator that lost the answer sends
 * BR_RESOLVE: that inserts a tombstone (aborted = true) unless a row exists,
 * waiting on the unique index for a branch that is still running, and
 * answers what the row says. From then on the branch can never commit: its
 * own insert conflicts. No PREPARE, no log write, one database round trip.
 *
 * Markers are deleted after the retention (sweeper): an outcome asked for
 * later than that reads as aborted.
 */
#ifndef XACT_ONEPHASE_H
#define XACT_ONEPHASE_H

#include <stdbool.h>
#include <stdint.h>

#include "pg.h"

struct onephase;

enum onephase_outcome {
	OP_COMMITTED,
	OP_ABORTED,  /* e says why */
	OP_UNKNOWN,  /* the database could not be asked: try again */
	OP_FALLBACK, /* no marker table here: use two-phase commit */
};

int onephase_open(struct pg_pool *resolve, uint32_t acquire_wait_ms,
                  uint32_t retention_ms, struct onephase **out);
void onephase_close(struct onephase *op);

/*
 * Commit on c (a work connection; begin: open its transaction first) the
 * marker, the n statements, COMMIT. OP_ABORTED leaves c's transaction
 * rolled back or failed; the caller rolls back and releases c either way.
 */
enum onephase_outcome onephase_commit(struct onephase *op, PGconn *c,
                                      bool begin, const char *gid,
                                      const char *const *sql, size_t n,
                                      struct pg_err *e);

/* BR_RESOLVE: committed, or aborted for good from now on. */
enum onephase_outcome onephase_resolve(struct onephase *op, const char *gid,
                                       struct pg_err *e);

/* Delete markers older than the retention. Returns rows deleted, or -1. */
long onephase_forget_old(struct onephase *op);

#endif
