/*
 * termination: the participant's side of 3PC (docs/protocols.md).
 *
 * It owns the participant's 3PC log (plog), answers the state requests and
 * PRE-COMMIT / PRE-ABORT proposals of the coordinator and of backup
 * coordinators (the acceptor of lib/term.h), and runs a thread that
 * finishes what the coordinator left: a prepared 3PC branch that hears
 * nothing for timeouts.termination elects a backup (the lowest-ranked
 * participant still undecided and reachable), and the backup runs one
 * round of lib/term with everyone it can reach. Every state change is
 * durable before it is answered or acted on.
 *
 * branch.c calls the termination_* hooks under its per-branch lock, so
 * that PREPARE and a decision of one gid never interleave.
 */
#ifndef XACT_TERMINATION_H
#define XACT_TERMINATION_H

#include <stdbool.h>
#include <stddef.h>

#include "branch.h"
#include "config.h"
#include "pg.h"
#include "term.h"
#include "wire.h"

struct termination;

/*
 * Open the 3PC log in cfg->log_dir (if set) and start the thread; branches
 * left open by a past life are finished by it. *out is NULL (and 0 is
 * returned) when no log_dir is configured: 3PC PREPAREs are then refused.
 */
int termination_start(const struct part_config *cfg, struct branches *bs,
                      struct termination **out, char *err, size_t errlen);
void termination_stop(struct termination *t);

/* What the log says of gid before a PREPARE runs. */
enum termination_prior {
	TERMINATION_NEW,     /* never seen: log WAIT and prepare */
	TERMINATION_VOTED,   /* voted YES in a past request: do not re-run */
	TERMINATION_COMMIT,  /* decided commit */
	TERMINATION_ABORT,   /* decided abort (a NO, or learnt before voting) */
	TERMINATION_UNKNOWN, /* the log failed or forgot it: vote NO */
};
enum termination_prior termination_prior(struct termination *t,
                                         const char *gid);

/*
 * Before PREPARE TRANSACTION of a 3PC branch: log WAIT (the participants
 * of m) and the YES vote. -1 with e set: vote NO (an abort was learnt
 * first, m is inconsistent, or the log failed).
 */
int termination_wait(struct termination *t, const struct wire_msg *m,
                     const char *self, struct pg_err *e);

/* PREPARE TRANSACTION ran: prepared (the timer starts) or not (abort). */
void termination_prepared(struct termination *t, const char *gid, bool ok);

/*
 * A decision for gid, from the coordinator or a backup: logged before the
 * branch acts on it. -1: refused (the other value was decided; logged as
 * an error) or the log failed; the branch must not act.
 */
int termination_decide(struct termination *t, const char *gid,
                       enum term_value v);

/* The branch has been committed or rolled back in PostgreSQL. */
void termination_done(struct termination *t, const char *gid);

/* True when gid is a 3PC branch of this log: the sweeper leaves it alone. */
bool termination_owns(struct termination *t, const char *gid);

/* BR_STATE and BR_PRECOMMIT: the acceptor's answers (a STATE reply). */
void termination_on_state(struct termination *t, const struct wire_msg *m,
                          struct wire_buf *reply);
void termination_on_precommit(struct termination *t, const struct wire_msg *m,
                              struct wire_buf *reply);

#endif
