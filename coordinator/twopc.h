/*
 * twopc: the coordinator's two-phase commit of one transaction, presumed
 * abort, and its three-phase variant (docs/protocols.md). A pure state machine:
 * it does no I/O and reads no clock. Events come in as calls with the current
 * time; what to do goes out through struct twopc_io. The owner serialises all
 * calls for one transaction (a mutex). See twopc.c for the states and the rules
 * they keep.
 */
#ifndef XACT_TWOPC_H
#define XACT_TWOPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "term.h"
#include "wire.h"

#define TWOPC_REASON_MAX 512

enum twopc_state {
	TWOPC_ACTIVE,     /* open: statements run; nothing prepared yet */
	TWOPC_PREPARING,  /* PREPARE sent to every branch; collecting votes */
	TWOPC_PRELOGGING, /* 3PC: all YES; PRECOMMIT record queued */
	TWOPC_PRECOMMITTING, /* 3PC: PRE-COMMIT (ballot 1) sent; acks */
	TWOPC_LEARNING, /* 3PC: refused, or recovered: asks for the decision */
	TWOPC_LOGGING,  /* all voted YES; COMMIT record queued, not durable */
	TWOPC_COMMITTING, /* COMMIT record durable; COMMIT sent until acked */
	TWOPC_COMMITTED,  /* every branch acked; END record appended */
	TWOPC_ABORTED,    /* decided abort; ROLLBACK sent; nothing logged */
	TWOPC_ONE_PHASE,  /* the only branch asked to commit in one phase */
	TWOPC_RESOLVING,  /* one-phase answer lost: asking for the outcome */
};

/* Why a transaction aborted, for the metrics (reason has the words). */
enum twopc_abort_kind {
	TWOPC_ABORT_NONE,
	TWOPC_ABORT_VOTED_NO,     /* a participant voted NO */
	TWOPC_ABORT_VOTE_TIMEOUT, /* no vote within the vote timeout */
	TWOPC_ABORT_UNREACHABLE,  /* a branch was lost or not reached */
	TWOPC_ABORT_CLIENT,       /* the client rolled back */
	TWOPC_ABORT_IDLE,         /* the client went quiet (idle timeout) */
	TWOPC_ABORT_RESOLVED,     /* one-phase: resolved as not committed */
	TWOPC_ABORT_TERMINATION,  /* 3PC: the participants decided abort */
	TWOPC_ABORT_OTHER,
	TWOPC_ABORT_KINDS
};

/* "voted_no", "vote_timeout", ...: a metric label. */
const char *twopc_abort_kind_name(enum twopc_abort_kind k);

enum twopc_vote {
	TWOPC_VOTE_NONE, /* no answer yet */
	TWOPC_VOTE_YES,
	TWOPC_VOTE_NO,
	TWOPC_VOTE_READONLY,
	TWOPC_VOTE_COMMITTED, /* one-phase: committed */
};

struct twopc_branch {
	size_t peer; /* index of the participant */
	enum twopc_vote vote;
	bool acked;            /* COMMIT acknowledged */
	bool sending;          /* a request is in flight: no resend yet */
	uint64_t next_send_ms; /* when to resend COMMIT */
	uint32_t backoff_ms;   /* current resend interval */
};

struct twopc;

/* What the machine asks its owner to do. None of these may block. */
struct twopc_io {
	void (*send_prepare)(void *ctx, struct twopc *t, size_t branch);
	void (*send_commit)(void *ctx, struct twopc *t, size_t branch);
	void (*send_rollback)(void *ctx, struct twopc *t, size_t branch);
	/* Queue the COMMIT record; call twopc_logged() once it is durable. */
	void (*log_commit)(void *ctx, struct twopc *t);
	/* 3PC: queue PRECOMMIT; call twopc_precommit_logged() once durable. */
	void (*log_precommit)(void *ctx, struct twopc *t);
	/* 3PC: PRE-COMMIT of ballot 1; a state probe (ballot 0). */
	void (*send_precommit)(void *ctx, struct twopc *t, size_t branch);
	void (*send_probe)(void *ctx, struct twopc *t, size_t branch);
	/* One-phase: what became of the branch (committed or aborted)? */
	void (*send_resolve)(void *ctx, struct twopc *t, size_t branch);
	void (*log_end)(void *ctx, struct twopc *t);
	/* The client's answer is known: t->state and t->reason tell it. */
	void (*reply)(void *ctx, struct twopc *t);
};

struct twopc_timing {
	uint32_t vote_timeout_ms; /* PREPARING longer than this: abort */
	uint32_t commit_wait_ms;  /* reply COMMITTED without all acks after */
	uint32_t retry_min_ms;    /* first COMMIT resend interval */
	uint32_t retry_max_ms;    /* resend interval cap */
};

struct twopc {
	enum twopc_state state;
	struct twopc_branch *branches;
	size_t nbranches;
	const struct twopc_io *io;
	void *io_ctx;
	struct twopc_timing timing;
	uint64_t vote_deadline_ms;
	uint64_t started_ms; /* when twopc_start() was called */
	uint64_t logged_ms;  /* when the COMMIT record became durable */
	enum twopc_abort_kind abort_kind; /* set when ABORTED */
	bool replied;                     /* reply() has been called */
	bool three_phase;                 /* 3PC (twopc_set_3pc) */
	bool one_phase;          /* a single branch may commit in one phase */
	bool one_phase_done;     /* committed so: nothing in the decision log */
	struct term_round round; /* 3PC: the coordinator's ballot 1 */
	/* Never END: a branch named in the record cannot be reached from
	 * here, so the record must keep answering COMMIT to inquiries. */
	bool keep_record;
	/* Why it aborted, for the client: "bank2 voted NO: 23514 ...". */
	char reason[TWOPC_REASON_MAX];
	char reason_sqlstate[6];
	size_t reason_branch; /* valid when reason_sqlstate[0] != 0 */
};

/* Set up in ACTIVE over branches (owned by the caller). */
void twopc_init(struct twopc *t, struct twopc_branch *branches, size_t n,
                const struct twopc_io *io, void *io_ctx,
                const struct twopc_timing *timing);

/* Run this transaction with 3PC, in quorum or plain mode. */
void twopc_set_3pc(struct twopc *t, bool quorum);

/*
 * ACTIVE -> PREPARING: PREPARE to every branch. No branch: commit at once.
 * One branch and one_phase: ONE_PHASE, the branch commits on its own.
 */
void twopc_start(struct twopc *t, uint64_t now);

/* A branch's vote arrived. sqlstate/text describe a NO (may be NULL). */
void twopc_vote(struct twopc *t, size_t branch, enum twopc_vote vote,
                const char *sqlstate, const char *text, uint64_t now);

/* A branch could not be asked (unreachable, timed out): a NO vote. */
void twopc_vote_failed(struct twopc *t, size_t branch, const char *why,
                       uint64_t now);

/* LOGGING -> COMMITTING: the COMMIT record is durable. */
void twopc_logged(struct twopc *t, uint64_t now);

/* A branch acknowledged COMMIT. */
void twopc_ack(struct twopc *t, size_t branch, uint64_t now);

/* A COMMIT to a branch failed or timed out: resend when due. */
void twopc_commit_failed(struct twopc *t, size_t branch, uint64_t now);

/* Abort before the decision (client rollback, idle timeout, lost branch). */
void twopc_abort(struct twopc *t, enum twopc_abort_kind kind, const char *why,
                 uint64_t now);

/* 3PC: PRELOGGING -> PRECOMMITTING: the PRECOMMIT record is durable. */
void twopc_precommit_logged(struct twopc *t, uint64_t now);

/*
 * 3PC: a branch answered PRE-COMMIT or a probe. accepted: it accepted
 * ballot 1. Otherwise decided is what it knows (TERM_NONE: it refused,
 * having promised a backup: the coordinator only learns from now on).
 */
void twopc_precommit_answer(struct twopc *t, size_t branch, bool accepted,
                            enum term_value decided, uint64_t now);

/* 3PC: a PRE-COMMIT or probe got no answer: resend when due. */
void twopc_precommit_failed(struct twopc *t, size_t branch, uint64_t now);

/* 3PC after a restart with PRECOMMIT but no COMMIT: learn, never decide. */
void twopc_recover_learning(struct twopc *t, uint64_t now);

/* Re-enter COMMITTING after a restart: the record is durable already. */
void twopc_recover(struct twopc *t, uint64_t now);

/*
 * One-phase: a branch said what became of it (BR_RESOLVE). committed
 * false: aborted, and it never commits from now on.
 */
void twopc_resolved(struct twopc *t, size_t branch, bool committed,
                    const char *why, uint64_t now);

/* One-phase: a BR_RESOLVE got no answer: resend when due. */
void twopc_resolve_failed(struct twopc *t, size_t branch, uint64_t now);

/*
 * An outcome nothing here remembers (a gid of a past life): ask every
 * branch. Committed if one says so, aborted once all say aborted.
 */
void twopc_start_resolving(struct twopc *t, uint64_t now);

/* Time passed: vote timeout, COMMIT resends, commit_wait. */
void twopc_tick(struct twopc *t, uint64_t now);

/* The answer an inquiry gets for a transaction in this state. */
enum wire_outcome twopc_outcome(const struct twopc *t);

/*
 * RESOLVING for longer than the vote timeout: the one waiting for the
 * outcome should be told it is not known yet (and ask later); resolving
 * goes on.
 */
bool twopc_overdue(const struct twopc *t, uint64_t now);

/* True when nothing more will happen (COMMITTED, or ABORTED). */
bool twopc_done(const struct twopc *t);

const char *twopc_state_name(enum twopc_state s);

#endif
