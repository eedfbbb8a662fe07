/*
 * branch: the participant's transaction branches and the handlers of the
 * coordinator's requests (EXEC, PREPARE, COMMIT, ROLLBACK), each idempotent
 * per (gid, phase). See branch.c for the states and rules.
 *
 * Handlers block on PostgreSQL: call them from worker threads only, never
 * from an NNG callback.
 */
#ifndef XACT_BRANCH_H
#define XACT_BRANCH_H

#include <stdbool.h>
#include <stdint.h>

#include "pg.h"
#include "wire.h"

struct branches;
struct termination;

struct branch_limits {
	uint32_t acquire_wait_ms; /* wait for a free connection */
	uint32_t
	    idle_timeout_ms;   /* an open branch with no request: rolled back */
	uint32_t tombstone_ms; /* finished branches remembered this long */
	uint64_t max_result_bytes;       /* a larger result is refused */
	uint32_t one_phase_retention_ms; /* one-phase markers kept this long */
};

/*
 * work: connections for open branches; resolve: connections for COMMIT /
 * ROLLBACK PREPARED and the sweeper, kept apart so that a resolution never
 * waits behind branches that wait for its locks.
 */
int branches_open(struct pg_pool *work, struct pg_pool *resolve,
                  const struct branch_limits *limits, struct branches **out);
void branches_close(struct branches *bs);

/* 3PC: the participant's termination (may be NULL) and its own name. */
void branches_set_termination(struct branches *bs, struct termination *tm,
                              const char *self);

/* Handle one request; the reply is encoded into reply (initialised here). */
void branch_exec(struct branches *bs, const struct wire_msg *m,
                 struct wire_buf *reply);
/* received_ms: when the request arrived (clock_now_ms()). */
void branch_prepare(struct branches *bs, const struct wire_msg *m,
                    uint64_t received_ms, struct wire_buf *reply);
void branch_commit(struct branches *bs, const struct wire_msg *m,
                   struct wire_buf *reply);
void branch_rollback(struct branches *bs, const struct wire_msg *m,
                     struct wire_buf *reply);

/* One-phase: BR_RESOLVE (onephase.h). */
void branch_resolve_one_phase(struct branches *bs, const struct wire_msg *m,
                              struct wire_buf *reply);

/* Open branches this participant rolled back on its own (R1). */
struct branch_stats {
	uint64_t idle;       /* timeouts.idle passed */
	uint64_t superseded; /* their coordinator restarted (R8) */
};

void branch_get_stats(struct branches *bs, struct branch_stats *out);

/* An admin LIST: xact's branches prepared in the database, with age. */
void branch_list_prepared(struct branches *bs, struct wire_buf *reply);

/* Delete one-phase markers past their retention (the sweeper). */
void branch_forget_one_phase(struct branches *bs);

/* True for a 3PC branch: its participants resolve it, not the sweeper. */
bool branch_is_3pc(struct branches *bs, const char *gid);

/* True when the gid is open or being handled here right now. */
bool branch_is_live(struct branches *bs, const char *gid);

/*
 * Resolve a prepared branch found by the sweeper: COMMIT PREPARED or
 * ROLLBACK PREPARED. Returns 0, or -1 (logged) to try again later.
 */
int branch_resolve(struct branches *bs, const char *gid, bool commit);

/* Cancel every statement running now (shutdown: let workers finish). */
void branch_cancel_all(struct branches *bs);

/* Roll back open branches idle too long and forget old finished ones. */
void branch_reap(struct branches *bs, uint64_t now_ms);

#endif
