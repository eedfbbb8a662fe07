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
 * later than that reads as aborted, and a request that waited in this
 * process longer than half of it is not committed (branch.c), so that a
 * tombstone outlives any request it must stop.
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
	OP_FALLBACK, /* no usable marker table here: two-phase commit */
	OP_PROCEED,  /* onephase_enter(): go on with onephase_commit() */
};

int onephase_open(struct pg_pool *resolve, uint32_t acquire_wait_ms,
                  uint32_t retention_ms, struct onephase **out);
void onephase_close(struct onephase *op);

/*
 * Before a one-phase commit of gid. OP_PROCEED: the marker table is usable;
 * onephase_commit() or onephase_leave() must follow. OP_FALLBACK: it is not
 * (cannot be made, no privilege): one-phase commit is off for the life of
 * this process, so that no branch can commit in one phase after a resolve
 * that could not leave a tombstone. OP_UNKNOWN: the database could not be
 * asked. fresh: nothing of this request ran in this process, so a copy may
 * have committed in a past life: without a usable table, its marker (if
 * the table can be read) decides, OP_COMMITTED or OP_ABORTED.
 */
enum onephase_outcome onephase_enter(struct onephase *op, const char *gid,
                                     bool fresh, struct pg_err *e);
/* After OP_PROCEED, when onephase_commit() is not called after all. */
void onephase_leave(struct onephase *op);

/*
 * Commit on c (a work connection; begin: open its transaction first) the
 * marker, the n statements, COMMIT; ends what onephase_enter() began.
 * OP_ABORTED leaves c's transaction rolled back or failed; the caller rolls
 * back and releases c either way. A failure that may have come after the
 * COMMIT took effect is resolved, never guessed.
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
