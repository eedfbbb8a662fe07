/*
 * Two-phase commit, presumed abort, for one global transaction.
 *
 *                 start                all YES            durable
 *   ACTIVE ------------------> PREPARING -------> LOGGING -------> COMMITTING
 *     |                          |  NO, timeout,                       | all
 * acked | rollback, idle           |  lost branch, rollback              v
 *     +-----------------------> ABORTED <----+                     COMMITTED
 *
 * Invariants this file keeps (DESIGN.md section 5):
 *  I1 No COMMIT is sent before the COMMIT record is durable: send_commit is
 *     only called in COMMITTING, which only twopc_logged() (or recovery of a
 *     logged record) enters.
 *  I2 One decision: COMMITTING/COMMITTED and ABORTED are absorbing and
 *     exclusive; nothing leaves them except COMMITTING -> COMMITTED.
 *  I3 The COMMIT record is queued only when every branch voted YES or
 *     READ-ONLY, and only the YES branches are in phase 2.
 *  I4 Presumed abort: the abort path writes nothing to the log; ROLLBACK
 *     goes to every branch that may have prepared and its acks are not
 *     awaited (a participant's sweeper resolves what a lost ROLLBACK leaves).
 *  I5 COMMIT is resent with exponential backoff until each YES branch acks;
 *     only then is END appended.
 *
 * 3PC (twopc_set_3pc) inserts, between all YES and the COMMIT record:
 *
 *   PREPARING --all YES--> PRELOGGING --durable--> PRECOMMITTING --enough
 *   acks (lib/term)--> LOGGING;  a refusal --> LEARNING --decision--> ...
 *
 *  I6 PRE-COMMIT is sent only once the PRECOMMIT record is durable, so a
 *     restarted coordinator knows it may have proposed commit.
 *  I7 After PRE-COMMIT the coordinator never aborts on its own: it commits
 *     when ballot 1 was accepted by enough (all; quorum: a majority), and
 *     otherwise only learns the participants' decision (a refusal means a
 *     backup coordinator has taken over).
 *
 * One-phase (t->one_phase, a single branch) replaces all of it:
 *
 *   ACTIVE --start--> ONE_PHASE --COMMITTED--> COMMITTED
 *                       |   YES (it prepared instead) --> PREPARING ...
 *                       |   NO --> ABORTED
 *                       | no answer, timeout
 *                       v
 *                    RESOLVING --committed / aborted (BR_RESOLVE)--> ...
 *
 *  I8 The branch decides and the coordinator writes nothing. It reports
 *     COMMITTED only when the branch said so and ABORTED only on a NO or a
 *     resolve that made the branch's commit impossible; a lost answer is
 *     asked for until it comes, never guessed.
 */
#include "twopc.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void
twopc_init(struct twopc *t, struct twopc_branch *branches, size_t n,
           const struct twopc_io *io, void *io_ctx,
           const struct twopc_timing *timing)
{
	memset(t, 0, sizeof(*t));
	t->state = TWOPC_ACTIVE;
	t->branches = branches;
	t->nbranches = n;
	t->io = io;
	t->io_ctx = io_ctx;
	t->timing = *timing;
	for (size_t i = 0; i < n; i++) {
		branches[i].vote = TWOPC_VOTE_NONE;
		branches[i].acked = false;
		branches[i].sending = false;
	}
}

void
twopc_set_3pc(struct twopc *t, bool quorum)
{
	t->three_phase = true;
	t->round.quorum = quorum;
}

static void
reply_once(struct twopc *t)
{
	if (!t->replied) {
		t->replied = true;
		t->io->reply(t->io_ctx, t);
	}
}

static void
decide_abort(struct twopc *t, enum twopc_abort_kind kind)
{
	assert(t->state == TWOPC_ACTIVE || t->state == TWOPC_PREPARING ||
	       t->state == TWOPC_RESOLVING);
	t->state = TWOPC_ABORTED;
	t->abort_kind = kind;
	/* A NO voter rolled back already; everyone else may hold a branch. */
	for (size_t i = 0; i < t->nbranches; i++)
		if (t->branches[i].vote != TWOPC_VOTE_NO &&
		    t->branches[i].vote != TWOPC_VOTE_READONLY)
			t->io->send_rollback(t->io_ctx, t, i);
	reply_once(t);
}

static void
set_reason(struct twopc *t, const char *fmt, const char *a, const char *b)
{
	if (t->reason[0] == '\0')
		snprintf(t->reason, sizeof(t->reason), fmt, a, b);
}

void
twopc_abort(struct twopc *t, enum twopc_abort_kind kind, const char *why,
            uint64_t now)
{
	(void)now;
	if (t->state != TWOPC_ACTIVE && t->state != TWOPC_PREPARING)
		return; /* decided already: a late abort changes nothing */
	set_reason(t, "%s%s", why, "");
	decide_abort(t, kind);
}

const char *
twopc_abort_kind_name(enum twopc_abort_kind k)
{
	switch (k) {
	case TWOPC_ABORT_NONE:
		return "none";
	case TWOPC_ABORT_VOTED_NO:
		return "voted_no";
	case TWOPC_ABORT_VOTE_TIMEOUT:
		return "vote_timeout";
	case TWOPC_ABORT_UNREACHABLE:
		return "unreachable";
	case TWOPC_ABORT_CLIENT:
		return "client";
	case TWOPC_ABORT_IDLE:
		return "idle";
	case TWOPC_ABORT_RESOLVED:
		return "resolved";
	case TWOPC_ABORT_TERMINATION:
		return "termination";
	case TWOPC_ABORT_OTHER:
	case TWOPC_ABORT_KINDS:
		break;
	}
	return "other";
}

static void
enter_committed(struct twopc *t)
{
	t->state = TWOPC_COMMITTED;
	if (!t->keep_record)
		t->io->log_end(t->io_ctx, t);
	reply_once(t);
}

void
twopc_start(struct twopc *t, uint64_t now)
{
	assert(t->state == TWOPC_ACTIVE);
	if (t->nbranches == 0) {
		/* Nothing ran anywhere: there is nothing to make atomic. */
		t->state = TWOPC_COMMITTED;
		reply_once(t);
		return;
	}
	t->started_ms = now;
	t->vote_deadline_ms = now + t->timing.vote_timeout_ms;
	if (t->one_phase && t->nbranches == 1 && !t->three_phase) {
		t->state = TWOPC_ONE_PHASE; /* I8 */
		t->io->send_prepare(t->io_ctx, t, 0);
		return;
	}
	t->state = TWOPC_PREPARING;
	for (size_t i = 0; i < t->nbranches && t->state == TWOPC_PREPARING; i++)
		t->io->send_prepare(t->io_ctx, t, i);
}

/* A request to branch i goes out now; the next, if needed, after backoff. */
static void
schedule(struct twopc *t, size_t i, uint64_t now)
{
	struct twopc_branch *b = &t->branches[i];

	b->sending = true;
	b->next_send_ms = now + b->backoff_ms;
	b->backoff_ms = b->backoff_ms * 2 > t->timing.retry_max_ms
	                    ? t->timing.retry_max_ms
	                    : b->backoff_ms * 2;
}

static void
send_commit(struct twopc *t, size_t i, uint64_t now)
{
	assert(t->state == TWOPC_COMMITTING); /* I1 */
	schedule(t, i, now);
	t->io->send_commit(t->io_ctx, t, i);
}

static void
send_resolve(struct twopc *t, size_t i, uint64_t now)
{
	assert(t->state == TWOPC_RESOLVING);
	schedule(t, i, now);
	t->io->send_resolve(t->io_ctx, t, i);
}

static void
enter_resolving(struct twopc *t, uint64_t now)
{
	t->state = TWOPC_RESOLVING;
	t->vote_deadline_ms = now + t->timing.vote_timeout_ms;
	for (size_t i = 0; i < t->nbranches; i++) {
		t->branches[i].acked = false; /* here: answered aborted */
		t->branches[i].backoff_ms = t->timing.retry_min_ms;
		if (!t->branches[i].sending)
			send_resolve(t, i, now);
	}
}

void
twopc_start_resolving(struct twopc *t, uint64_t now)
{
	assert(t->state == TWOPC_ACTIVE);
	enter_resolving(t, now);
}

void
twopc_resolved(struct twopc *t, size_t branch, bool committed, const char *why,
               uint64_t now)
{
	(void)now;
	if (t->state != TWOPC_RESOLVING)
		return;
	t->branches[branch].sending = false;
	if (committed) {
		t->state = TWOPC_COMMITTED;
		t->one_phase_done = true;
		reply_once(t);
		return;
	}
	t->branches[branch].acked = true;
	for (size_t i = 0; i < t->nbranches; i++)
		if (!t->branches[i].acked)
			return;
	set_reason(t, "%s%s", why, "");
	/* a prepared fallback is rolled back too */
	decide_abort(t, TWOPC_ABORT_RESOLVED);
}

void
twopc_resolve_failed(struct twopc *t, size_t branch, uint64_t now)
{
	(void)now;
	if (t->state == TWOPC_RESOLVING)
		t->branches[branch].sending = false;
}

static bool
all_acked(const struct twopc *t)
{
	for (size_t i = 0; i < t->nbranches; i++)
		if (t->branches[i].vote == TWOPC_VOTE_YES &&
		    !t->branches[i].acked)
			return false;
	return true;
}

/* Phase 2 begins: the decision is durable (I1). */
static void
enter_committing(struct twopc *t, uint64_t now)
{
	t->state = TWOPC_COMMITTING;
	t->logged_ms = now;
	for (size_t i = 0; i < t->nbranches; i++) {
		struct twopc_branch *b = &t->branches[i];

		if (b->vote != TWOPC_VOTE_YES)
			continue;
		b->backoff_ms = t->timing.retry_min_ms;
		send_commit(t, i, now);
	}
	if (all_acked(t))
		enter_committed(t);
}

void
twopc_vote(struct twopc *t, size_t branch, enum twopc_vote vote,
           const char *sqlstate, const char *text, uint64_t now)
{
	struct twopc_branch *b = &t->branches[branch];
	bool any_yes = false;

	assert(vote != TWOPC_VOTE_NONE);
	if (t->state == TWOPC_ONE_PHASE || t->state == TWOPC_RESOLVING) {
		/* I8: a definite answer, even a late one. */
		if (vote == TWOPC_VOTE_COMMITTED ||
		    vote == TWOPC_VOTE_READONLY) {
			b->vote = vote;
			t->state = TWOPC_COMMITTED;
			t->one_phase_done = true;
			reply_once(t);
			return;
		}
		if (vote == TWOPC_VOTE_YES && t->state == TWOPC_RESOLVING)
			return; /* prepared: the resolve decides (and rolls
			           it back if aborted) */
		t->state = TWOPC_PREPARING; /* NO, or YES: two-phase */
	}
	if (t->state != TWOPC_PREPARING) {
		/*
		 * A vote after the decision. After an abort a late YES holds a
		 * prepared branch: roll it back now rather than leave it to the
		 * sweeper.
		 */
		if (t->state == TWOPC_ABORTED && vote == TWOPC_VOTE_YES &&
		    b->vote == TWOPC_VOTE_NONE)
			t->io->send_rollback(t->io_ctx, t, branch);
		return;
	}
	if (b->vote != TWOPC_VOTE_NONE)
		return; /* a duplicate */
	b->vote = vote;
	if (vote == TWOPC_VOTE_NO) {
		if (t->reason[0] == '\0') {
			snprintf(t->reason, sizeof(t->reason), "voted NO: %s",
			         text != NULL ? text : "no reason given");
			if (sqlstate != NULL)
				snprintf(t->reason_sqlstate,
				         sizeof(t->reason_sqlstate), "%s",
				         sqlstate);
			else
				snprintf(t->reason_sqlstate,
				         sizeof(t->reason_sqlstate), "XX000");
			t->reason_branch = branch;
		}
		decide_abort(t, TWOPC_ABORT_VOTED_NO);
		return;
	}
	for (size_t i = 0; i < t->nbranches; i++) {
		if (t->branches[i].vote == TWOPC_VOTE_NONE)
			return;
		any_yes |= t->branches[i].vote == TWOPC_VOTE_YES;
	}
	if (!any_yes) {
		/* Every branch read only and committed locally: done. */
		t->state = TWOPC_COMMITTED;
		reply_once(t);
		return;
	}
	(void)now;
	if (t->three_phase) {
		t->state = TWOPC_PRELOGGING; /* I6 */
		t->io->log_precommit(t->io_ctx, t);
		return;
	}
	t->state = TWOPC_LOGGING; /* I3 */
	t->io->log_commit(t->io_ctx, t);
}

/* One request in flight per branch; resent with backoff when it fails. */
static void
send_3pc(struct twopc *t, size_t i, uint64_t now)
{
	schedule(t, i, now);
	if (t->state == TWOPC_PRECOMMITTING)
		t->io->send_precommit(t->io_ctx, t, i);
	else
		t->io->send_probe(t->io_ctx, t, i);
}

static void
enter_3pc_phase(struct twopc *t, enum twopc_state s, uint64_t now)
{
	t->state = s;
	for (size_t i = 0; i < t->nbranches; i++) {
		t->branches[i].backoff_ms = t->timing.retry_min_ms;
		t->branches[i].acked = false;
		if (!t->branches[i].sending)
			send_3pc(t, i, now);
	}
}

void
twopc_precommit_logged(struct twopc *t, uint64_t now)
{
	assert(t->state == TWOPC_PRELOGGING);
	/* Ballot 1 over every branch: all voted YES (I3). */
	term_round_propose(&t->round, t->nbranches, t->round.quorum,
	                   TERM_COMMIT);
	enter_3pc_phase(t, TWOPC_PRECOMMITTING, now);
}

/* The participants decided (or enough accepted ballot 1): follow. */
static void
follow(struct twopc *t, enum term_value v)
{
	if (v == TERM_COMMIT) {
		t->state = TWOPC_LOGGING;
		t->io->log_commit(t->io_ctx, t);
		return;
	}
	t->state = TWOPC_ABORTED;
	t->abort_kind = TWOPC_ABORT_TERMINATION;
	snprintf(t->reason, sizeof(t->reason),
	         "aborted by the participants' termination protocol");
	t->io->log_end(t->io_ctx, t); /* closes the PRECOMMIT record */
	reply_once(t);
}

void
twopc_precommit_answer(struct twopc *t, size_t branch, bool accepted,
                       enum term_value decided, uint64_t now)
{
	if (t->state != TWOPC_PRECOMMITTING && t->state != TWOPC_LEARNING)
		return;
	t->branches[branch].sending = false;
	if (decided != TERM_NONE) {
		follow(t, decided);
		return;
	}
	if (t->state == TWOPC_PRECOMMITTING && accepted) {
		t->branches[branch].acked = true;
		if (term_round_ack(&t->round, branch))
			follow(t, TERM_COMMIT); /* I7 */
		return;
	}
	if (t->state == TWOPC_PRECOMMITTING && !accepted)
		enter_3pc_phase(t, TWOPC_LEARNING, now);
}

void
twopc_precommit_failed(struct twopc *t, size_t branch, uint64_t now)
{
	(void)now;
	if (t->state == TWOPC_PRECOMMITTING || t->state == TWOPC_LEARNING)
		t->branches[branch].sending = false;
}

void
twopc_recover_learning(struct twopc *t, uint64_t now)
{
	assert(t->state == TWOPC_ACTIVE);
	for (size_t i = 0; i < t->nbranches; i++)
		t->branches[i].vote = TWOPC_VOTE_YES; /* the record says so */
	t->three_phase = true;
	t->replied = true;
	enter_3pc_phase(t, TWOPC_LEARNING, now);
}

void
twopc_vote_failed(struct twopc *t, size_t branch, const char *why, uint64_t now)
{
	if (t->state == TWOPC_ONE_PHASE) {
		enter_resolving(t, now); /* I8: never a NO */
		return;
	}
	if (t->state != TWOPC_PREPARING)
		return;
	if (t->reason[0] == '\0') {
		snprintf(t->reason, sizeof(t->reason), "%s", why);
		snprintf(t->reason_sqlstate, sizeof(t->reason_sqlstate),
		         "08006");
		t->reason_branch = branch;
	}
	/* The call's own timeout is the vote timeout. */
	decide_abort(t, now >= t->vote_deadline_ms ? TWOPC_ABORT_VOTE_TIMEOUT
	                                           : TWOPC_ABORT_UNREACHABLE);
}

void
twopc_logged(struct twopc *t, uint64_t now)
{
	assert(t->state == TWOPC_LOGGING);
	enter_committing(t, now);
}

void
twopc_recover(struct twopc *t, uint64_t now)
{
	assert(t->state == TWOPC_ACTIVE);
	for (size_t i = 0; i < t->nbranches; i++)
		t->branches[i].vote = TWOPC_VOTE_YES; /* the record says so */
	t->replied = true; /* the client of a past life is gone */
	enter_committing(t, now);
}

void
twopc_ack(struct twopc *t, size_t branch, uint64_t now)
{
	(void)now;
	if (t->state != TWOPC_COMMITTING)
		return;
	t->branches[branch].acked = true;
	t->branches[branch].sending = false;
	if (all_acked(t))
		enter_committed(t);
}

void
twopc_commit_failed(struct twopc *t, size_t branch, uint64_t now)
{
	(void)now;
	/* I5: keep resending; one call at a time per branch, so a long
	 * partition does not pile up calls that all land when it heals. */
	if (t->state == TWOPC_COMMITTING)
		t->branches[branch].sending = false;
}

void
twopc_tick(struct twopc *t, uint64_t now)
{
	switch (t->state) {
	case TWOPC_PREPARING:
		if (now >= t->vote_deadline_ms) {
			for (size_t i = 0; i < t->nbranches; i++) {
				if (t->branches[i].vote != TWOPC_VOTE_NONE)
					continue;
				snprintf(t->reason, sizeof(t->reason),
				         "vote timeout: no answer within %ums",
				         t->timing.vote_timeout_ms);
				/* the sqlstate of a query cancelled by
				 * timeout */
				snprintf(t->reason_sqlstate,
				         sizeof(t->reason_sqlstate), "57014");
				t->reason_branch = i;
				break;
			}
			decide_abort(t, TWOPC_ABORT_VOTE_TIMEOUT);
		}
		break;
	case TWOPC_COMMITTING:
		for (size_t i = 0; i < t->nbranches; i++) {
			struct twopc_branch *b = &t->branches[i];

			if (b->vote == TWOPC_VOTE_YES && !b->acked &&
			    !b->sending && now >= b->next_send_ms)
				send_commit(t, i, now);
		}
		if (now >= t->logged_ms + t->timing.commit_wait_ms)
			reply_once(t); /* durable: committed, acks or not */
		break;
	case TWOPC_PRECOMMITTING:
	case TWOPC_LEARNING:
		for (size_t i = 0; i < t->nbranches; i++) {
			struct twopc_branch *b = &t->branches[i];

			if (!b->acked && !b->sending && now >= b->next_send_ms)
				send_3pc(t, i, now);
		}
		break;
	case TWOPC_ONE_PHASE:
		/* A branch still running holds its marker: the resolve
		 * waits for it (onephase.h), no ROLLBACK needed. */
		if (now >= t->vote_deadline_ms)
			enter_resolving(t, now);
		break;
	case TWOPC_RESOLVING:
		for (size_t i = 0; i < t->nbranches; i++) {
			struct twopc_branch *b = &t->branches[i];

			if (!b->acked && !b->sending && now >= b->next_send_ms)
				send_resolve(t, i, now);
		}
		break;
	case TWOPC_PRELOGGING:
	case TWOPC_ACTIVE:
	case TWOPC_LOGGING:
	case TWOPC_COMMITTED:
	case TWOPC_ABORTED:
		break;
	}
}

enum wire_outcome
twopc_outcome(const struct twopc *t)
{
	switch (t->state) {
	case TWOPC_ACTIVE:
	case TWOPC_PREPARING:
	case TWOPC_LOGGING: /* not durable yet: it may still be lost */
	case TWOPC_PRELOGGING:
	case TWOPC_PRECOMMITTING:
	case TWOPC_LEARNING:
	case TWOPC_ONE_PHASE:
	case TWOPC_RESOLVING:
		return WIRE_IN_PROGRESS;
	case TWOPC_COMMITTING:
	case TWOPC_COMMITTED:
		return WIRE_COMMITTED;
	case TWOPC_ABORTED:
		return WIRE_ABORTED;
	}
	return WIRE_IN_PROGRESS;
}

bool
twopc_overdue(const struct twopc *t, uint64_t now)
{
	return t->state == TWOPC_RESOLVING && now >= t->vote_deadline_ms;
}

bool
twopc_done(const struct twopc *t)
{
	return t->state == TWOPC_COMMITTED || t->state == TWOPC_ABORTED;
}

const char *
twopc_state_name(enum twopc_state s)
{
	switch (s) {
	case TWOPC_ACTIVE:
		return "active";
	case TWOPC_PREPARING:
		return "preparing";
	case TWOPC_PRELOGGING:
		return "prelogging";
	case TWOPC_PRECOMMITTING:
		return "precommitting";
	case TWOPC_LEARNING:
		return "learning";
	case TWOPC_LOGGING:
		return "logging";
	case TWOPC_COMMITTING:
		return "committing";
	case TWOPC_COMMITTED:
		return "committed";
	case TWOPC_ABORTED:
		return "aborted";
	case TWOPC_ONE_PHASE:
		return "one-phase";
	case TWOPC_RESOLVING:
		return "resolving";
	}
	return "?";
}
