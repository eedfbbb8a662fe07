/*
 * twopc: the coordinator's 2PC state machine, driven by hand.
 *
 * twopc does no I/O and reads no clock, so a fake io records every action it
 * asks for (in order, with the state it was in), and each test passes `now`
 * explicitly: that is the whole clock. The rules checked are DESIGN.md
 * section 3 and the invariants of section 5 that live in this file: log
 * before send, one decision, a COMMIT record only after all YES, reply once.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "twopc.h"

#define MAX_EVENTS   4096
#define MAX_BRANCHES 8

/* Short timings so that the arithmetic in the tests stays readable. */
#define VOTE_TIMEOUT 1000
#define COMMIT_WAIT  500
#define RETRY_MIN    100
#define RETRY_MAX    1000

enum ev_kind {
	EV_PREPARE,
	EV_COMMIT,
	EV_ROLLBACK,
	EV_LOG_COMMIT,
	EV_LOG_END,
	EV_REPLY,
	EV_RESOLVE,
};

struct ev {
	enum ev_kind kind;
	size_t branch;          /* send_* only */
	enum twopc_state state; /* t->state when the action was asked for */
	uint64_t now;           /* the time of the call that caused it */
};

/* The fake io: an ordered log of everything the machine asked for. */
struct fake {
	struct ev ev[MAX_EVENTS];
	size_t n;
	uint64_t now;  /* the time the test is passing in */
	bool logged;   /* twopc_logged() (or recovery) happened */
	bool in_check; /* property test: check invariants in callbacks */
	bool commit_calls_fail; /* every COMMIT call times out at once */
};

static struct fake fk;
static struct twopc tp;
static struct twopc_branch br[MAX_BRANCHES];

static const struct twopc_timing timing = {
    .vote_timeout_ms = VOTE_TIMEOUT,
    .commit_wait_ms = COMMIT_WAIT,
    .retry_min_ms = RETRY_MIN,
    .retry_max_ms = RETRY_MAX,
};

static void
record(enum ev_kind kind, struct twopc *t, size_t branch)
{
	cr_assert_lt(fk.n, MAX_EVENTS, "event log full");
	fk.ev[fk.n++] = (struct ev){kind, branch, t->state, fk.now};
}

static void
fake_send_prepare(void *ctx, struct twopc *t, size_t i)
{
	cr_assert_eq(ctx, &fk);
	cr_assert_lt(i, t->nbranches);
	record(EV_PREPARE, t, i);
}

static void
fake_send_commit(void *ctx, struct twopc *t, size_t i)
{
	cr_assert_eq(ctx, &fk);
	cr_assert_lt(i, t->nbranches);
	/* I1, checked at the moment of sending, whatever the test does. */
	cr_assert(fk.logged,
	          "COMMIT sent to branch %zu before the record "
	          "was durable",
	          i);
	cr_assert_eq(t->state, TWOPC_COMMITTING);
	cr_assert_eq(t->branches[i].vote, TWOPC_VOTE_YES,
	             "COMMIT to branch %zu that did not vote YES", i);
	cr_assert(t->branches[i].sending, "a second COMMIT in flight");
	record(EV_COMMIT, t, i);
	if (fk.commit_calls_fail)
		twopc_commit_failed(t, i, fk.now); /* as call_branch does */
}

static void
fake_send_rollback(void *ctx, struct twopc *t, size_t i)
{
	cr_assert_eq(ctx, &fk);
	cr_assert_lt(i, t->nbranches);
	/* I2: a ROLLBACK only ever follows an abort decision. */
	cr_assert_eq(t->state, TWOPC_ABORTED, "ROLLBACK in state %s",
	             twopc_state_name(t->state));
	record(EV_ROLLBACK, t, i);
}

static void
fake_log_commit(void *ctx, struct twopc *t)
{
	cr_assert_eq(ctx, &fk);
	cr_assert_eq(t->state, TWOPC_LOGGING);
	record(EV_LOG_COMMIT, t, 0);
}

static void
fake_log_end(void *ctx, struct twopc *t)
{
	cr_assert_eq(ctx, &fk);
	for (size_t i = 0; i < t->nbranches; i++)
		cr_assert(t->branches[i].vote != TWOPC_VOTE_YES ||
		              t->branches[i].acked,
		          "END before branch %zu acked", i);
	record(EV_LOG_END, t, 0);
}

static void
fake_reply(void *ctx, struct twopc *t)
{
	cr_assert_eq(ctx, &fk);
	cr_assert(t->replied, "reply() with replied still false");
	record(EV_REPLY, t, 0);
}

static void
fake_send_resolve(void *ctx, struct twopc *t, size_t i)
{
	cr_assert_eq(ctx, &fk);
	cr_assert_lt(i, t->nbranches);
	cr_assert_eq(t->state, TWOPC_RESOLVING);
	cr_assert(t->branches[i].sending, "a second resolve in flight");
	record(EV_RESOLVE, t, i);
}

static const struct twopc_io fake_io = {
    .send_resolve = fake_send_resolve,
    .send_prepare = fake_send_prepare,
    .send_commit = fake_send_commit,
    .send_rollback = fake_send_rollback,
    .log_commit = fake_log_commit,
    .log_end = fake_log_end,
    .reply = fake_reply,
};

/* ---- helpers ---- */

static void
setup_n(size_t n)
{
	cr_assert_leq(n, MAX_BRANCHES);
	memset(&fk, 0, sizeof(fk));
	memset(br, 0xA5, sizeof(br)); /* init must reset what it relies on */
	for (size_t i = 0; i < n; i++)
		br[i].peer = i;
	twopc_init(&tp, br, n, &fake_io, &fk, &timing);
	cr_assert_eq(tp.state, TWOPC_ACTIVE);
	cr_assert_not(tp.replied);
}

static size_t
count(enum ev_kind kind)
{
	size_t c = 0;

	for (size_t i = 0; i < fk.n; i++)
		c += fk.ev[i].kind == kind;
	return c;
}

static size_t
count_to(enum ev_kind kind, size_t branch)
{
	size_t c = 0;

	for (size_t i = 0; i < fk.n; i++)
		c += fk.ev[i].kind == kind && fk.ev[i].branch == branch;
	return c;
}

/* Index of the first event of this kind, or fk.n. */
static size_t
first(enum ev_kind kind)
{
	for (size_t i = 0; i < fk.n; i++)
		if (fk.ev[i].kind == kind)
			return i;
	return fk.n;
}

/* Index of the last event of this kind, or fk.n. */
static size_t
last(enum ev_kind kind)
{
	for (size_t i = fk.n; i > 0; i--)
		if (fk.ev[i - 1].kind == kind)
			return i - 1;
	return fk.n;
}

static const struct ev *
the_reply(void)
{
	cr_assert_eq(count(EV_REPLY), 1, "expected exactly one reply, got %zu",
	             count(EV_REPLY));
	return &fk.ev[first(EV_REPLY)];
}

static void
at(uint64_t now)
{
	fk.now = now;
}

static void
start(uint64_t now)
{
	at(now);
	twopc_start(&tp, now);
}

static void
vote(size_t b, enum twopc_vote v, uint64_t now)
{
	at(now);
	twopc_vote(&tp, b, v, v == TWOPC_VOTE_NO ? "23514" : NULL,
	           v == TWOPC_VOTE_NO ? "check constraint violated" : NULL,
	           now);
}

static void
tick(uint64_t now)
{
	at(now);
	twopc_tick(&tp, now);
}

static void
logged(uint64_t now)
{
	at(now);
	fk.logged = true;
	twopc_logged(&tp, now);
}

static void
ack(size_t b, uint64_t now)
{
	at(now);
	twopc_ack(&tp, b, now);
}

/* n branches, all prepared and voted YES at t=10, record durable at t=20. */
static void
to_committing_with(size_t n, bool commit_calls_fail)
{
	setup_n(n);
	fk.commit_calls_fail = commit_calls_fail;
	start(0);
	for (size_t i = 0; i < n; i++)
		vote(i, TWOPC_VOTE_YES, 10);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	logged(20);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
}

/* All YES, record durable at 20, every COMMIT in flight (none answers). */
static void
to_committing(size_t n)
{
	to_committing_with(n, false);
}

TestSuite(twopc, .timeout = 60);

/* ---- the commit path ---- */

Test(twopc, start_sends_prepare_to_every_branch)
{
	setup_n(3);
	start(0);
	cr_assert_eq(tp.state, TWOPC_PREPARING);
	cr_assert_eq(fk.n, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(fk.ev[i].kind, EV_PREPARE);
		cr_assert_eq(fk.ev[i].branch, i);
		cr_assert_eq(br[i].vote, TWOPC_VOTE_NONE);
		cr_assert_not(br[i].acked);
	}
	cr_assert_eq(tp.vote_deadline_ms, VOTE_TIMEOUT);
}

Test(twopc, all_yes_logs_before_any_commit)
{
	setup_n(3);
	start(0);
	vote(0, TWOPC_VOTE_YES, 5);
	vote(2, TWOPC_VOTE_YES, 6);
	cr_assert_eq(tp.state, TWOPC_PREPARING);
	cr_assert_eq(count(EV_LOG_COMMIT), 0, "logged before the last vote");
	vote(1, TWOPC_VOTE_YES, 7);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(count(EV_LOG_COMMIT), 1);
	cr_assert_eq(fk.ev[fk.n - 1].kind, EV_LOG_COMMIT);

	/* Not durable yet: nothing goes out and nothing is answered, even
	 * long after, and whatever else arrives. */
	tick(7 + COMMIT_WAIT * 10);
	ack(0, 7 + COMMIT_WAIT * 10);
	vote(1, TWOPC_VOTE_YES, 7 + COMMIT_WAIT * 10);
	twopc_abort(&tp, TWOPC_ABORT_CLIENT, "client gave up",
	            7 + COMMIT_WAIT * 10);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(count(EV_COMMIT), 0,
	             "COMMIT before the record is durable");
	cr_assert_eq(count(EV_REPLY), 0);
	cr_assert_eq(count(EV_ROLLBACK), 0);
	cr_assert_eq(twopc_outcome(&tp), WIRE_IN_PROGRESS);

	logged(6000);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
	cr_assert_eq(tp.logged_ms, 6000);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(count_to(EV_COMMIT, i), 1, "branch %zu", i);
	cr_assert_gt(first(EV_COMMIT), first(EV_LOG_COMMIT));
	cr_assert_eq(count(EV_REPLY), 0,
	             "replied before the acks or "
	             "commit_wait");

	ack(2, 6001);
	ack(0, 6002);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
	cr_assert_eq(count(EV_LOG_END), 0, "END before every ack");
	ack(1, 6003);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert(twopc_done(&tp));
	cr_assert_eq(count(EV_LOG_END), 1);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert_gt(first(EV_REPLY), last(EV_COMMIT));

	/* Duplicates and ticks after the end change nothing. */
	size_t n = fk.n;
	ack(1, 6004);
	tick(100000);
	vote(0, TWOPC_VOTE_YES, 100000);
	twopc_abort(&tp, TWOPC_ABORT_CLIENT, "late", 100000);
	cr_assert_eq(fk.n, n);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
}

Test(twopc, single_branch_commit)
{
	to_committing(1);
	cr_assert_eq(count(EV_COMMIT), 1);
	ack(0, 30);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 1);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
}

Test(twopc, ack_before_commit_is_ignored)
{
	setup_n(2);
	start(0);
	ack(0, 1); /* PREPARING: nobody was sent COMMIT */
	vote(0, TWOPC_VOTE_YES, 2);
	vote(1, TWOPC_VOTE_YES, 3);
	ack(0, 4); /* LOGGING */
	ack(1, 4);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_not(br[0].acked);
	cr_assert_not(br[1].acked);
	logged(5);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
	cr_assert_eq(count(EV_LOG_END), 0);
}

/* ---- the abort path ---- */

Test(twopc, no_vote_aborts_at_once)
{
	setup_n(4);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_READONLY, 2);
	size_t before = fk.n;
	vote(2, TWOPC_VOTE_NO, 3);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(tp.abort_kind, TWOPC_ABORT_VOTED_NO);
	cr_assert(twopc_done(&tp));
	/* YES (0) and unvoted (3) may hold a prepared branch; the NO voter
	 * rolled back itself and the READ-ONLY one has nothing prepared. */
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1);
	cr_assert_eq(count_to(EV_ROLLBACK, 1), 0);
	cr_assert_eq(count_to(EV_ROLLBACK, 2), 0);
	cr_assert_eq(count_to(EV_ROLLBACK, 3), 1);
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(count(EV_COMMIT), 0);
	cr_assert_eq(count(EV_LOG_END), 0, "presumed abort logs nothing");
	/* The answer goes out after the rollbacks, in the same call. */
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_gt(first(EV_REPLY), last(EV_ROLLBACK));
	cr_assert_geq(first(EV_ROLLBACK), before);

	cr_assert_not_null(strstr(tp.reason, "NO"), "%s", tp.reason);
	cr_assert_not_null(strstr(tp.reason, "check constraint violated"), "%s",
	                   tp.reason);
	cr_assert_str_eq(tp.reason_sqlstate, "23514");
	cr_assert_eq(tp.reason_branch, 2);
	cr_assert_eq(twopc_outcome(&tp), WIRE_ABORTED);
}

Test(twopc, no_vote_without_detail_still_has_a_reason)
{
	setup_n(2);
	start(0);
	at(1);
	twopc_vote(&tp, 1, TWOPC_VOTE_NO, NULL, NULL, 1);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_neq(tp.reason[0], '\0');
	cr_assert_neq(tp.reason_sqlstate[0], '\0',
	              "a NO must carry some SQLSTATE");
	cr_assert_eq(strlen(tp.reason_sqlstate), 5);
	cr_assert_eq(tp.reason_branch, 1);
}

Test(twopc, first_no_names_the_reason)
{
	setup_n(3);
	start(0);
	at(1);
	twopc_vote(&tp, 1, TWOPC_VOTE_NO, "40001", "serialization failure", 1);
	at(2);
	twopc_vote(&tp, 2, TWOPC_VOTE_NO, "23505", "duplicate key", 2);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_str_eq(tp.reason_sqlstate, "40001");
	cr_assert_eq(tp.reason_branch, 1);
	cr_assert_not_null(strstr(tp.reason, "serialization failure"));
	cr_assert_null(strstr(tp.reason, "duplicate key"));
	cr_assert_eq(count(EV_REPLY), 1);
}

Test(twopc, long_reason_is_truncated_safely)
{
	char text[4 * TWOPC_REASON_MAX];

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	setup_n(1);
	start(0);
	at(1);
	twopc_vote(&tp, 0, TWOPC_VOTE_NO, "XX000", text, 1);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(strlen(tp.reason), TWOPC_REASON_MAX - 1);
}

Test(twopc, vote_timeout)
{
	setup_n(3);
	start(100);
	vote(1, TWOPC_VOTE_YES, 200);
	vote(2, TWOPC_VOTE_READONLY, 300);
	size_t n = fk.n;

	tick(100);
	tick(500);
	tick(100 + VOTE_TIMEOUT - 1);
	cr_assert_eq(tp.state, TWOPC_PREPARING, "aborted before the deadline");
	cr_assert_eq(fk.n, n, "a tick before the deadline did something");

	tick(100 + VOTE_TIMEOUT);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(tp.abort_kind, TWOPC_ABORT_VOTE_TIMEOUT);
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1, "unvoted");
	cr_assert_eq(count_to(EV_ROLLBACK, 1), 1, "voted YES");
	cr_assert_eq(count_to(EV_ROLLBACK, 2), 0, "READ-ONLY");
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_not_null(strstr(tp.reason, "timeout"), "%s", tp.reason);
	cr_assert_neq(tp.reason_sqlstate[0], '\0');
	cr_assert_eq(tp.reason_branch, 0, "the branch that did not answer");

	/* The decision stands; more ticks do nothing. */
	n = fk.n;
	tick(100 + 10 * VOTE_TIMEOUT);
	cr_assert_eq(fk.n, n);
}

Test(twopc, vote_timeout_late_tick)
{
	setup_n(2);
	start(0);
	tick(50 * VOTE_TIMEOUT); /* the ticker was late: still an abort */
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(count(EV_ROLLBACK), 2);
	cr_assert_eq(count(EV_REPLY), 1);
}

Test(twopc, no_timeout_once_decided)
{
	setup_n(2);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_YES, 2);
	tick(VOTE_TIMEOUT * 3); /* LOGGING: the deadline no longer applies */
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(count(EV_ROLLBACK), 0);
}

Test(twopc, vote_failed_aborts)
{
	setup_n(3);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	at(2);
	twopc_vote_failed(&tp, 1, "connection refused", 2);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(tp.abort_kind, TWOPC_ABORT_UNREACHABLE);
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1);
	/* An unreachable branch may still have prepared: roll it back too. */
	cr_assert_eq(count_to(EV_ROLLBACK, 1), 1);
	cr_assert_eq(count_to(EV_ROLLBACK, 2), 1);
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_not_null(strstr(tp.reason, "connection refused"), "%s",
	                   tp.reason);
	cr_assert_eq(tp.reason_branch, 1);
	cr_assert_neq(tp.reason_sqlstate[0], '\0');
}

Test(twopc, vote_failed_after_decision_changes_nothing)
{
	setup_n(2);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_YES, 2);
	size_t n = fk.n;
	at(3);
	twopc_vote_failed(&tp, 1, "lost", 3);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(fk.n, n);
	logged(4);
	at(5);
	twopc_vote_failed(&tp, 0, "lost", 5);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
	cr_assert_eq(count(EV_ROLLBACK), 0);
}

/* ---- read-only branches ---- */

Test(twopc, all_read_only_commits_without_log)
{
	setup_n(3);
	start(0);
	for (size_t i = 0; i < 3; i++)
		vote(i, TWOPC_VOTE_READONLY, 1 + i);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert(twopc_done(&tp));
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(count(EV_LOG_END), 0);
	cr_assert_eq(count(EV_COMMIT), 0);
	cr_assert_eq(count(EV_ROLLBACK), 0);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert_eq(twopc_outcome(&tp), WIRE_COMMITTED);
	tick(VOTE_TIMEOUT * 5);
	cr_assert_eq(count(EV_REPLY), 1);
}

Test(twopc, read_only_branches_drop_out_of_phase_2)
{
	setup_n(4);
	start(0);
	vote(0, TWOPC_VOTE_READONLY, 1);
	vote(1, TWOPC_VOTE_YES, 2);
	vote(2, TWOPC_VOTE_READONLY, 3);
	vote(3, TWOPC_VOTE_YES, 4);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(count(EV_LOG_COMMIT), 1);
	logged(5);
	cr_assert_eq(count_to(EV_COMMIT, 0), 0);
	cr_assert_eq(count_to(EV_COMMIT, 1), 1);
	cr_assert_eq(count_to(EV_COMMIT, 2), 0);
	cr_assert_eq(count_to(EV_COMMIT, 3), 1);
	/* Only the YES branches are awaited, and resent to. */
	tick(5 + RETRY_MAX * 20);
	cr_assert_eq(count_to(EV_COMMIT, 0), 0);
	cr_assert_eq(count_to(EV_COMMIT, 2), 0);
	ack(1, 5 + RETRY_MAX * 20);
	ack(3, 5 + RETRY_MAX * 20);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 1);
}

/* ---- degenerate transactions ---- */

Test(twopc, zero_branches_commit_at_once)
{
	setup_n(0);
	start(0);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert(twopc_done(&tp));
	cr_assert_eq(fk.n, 1, "only the reply");
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(count(EV_LOG_END), 0);
	tick(VOTE_TIMEOUT * 5);
	cr_assert_eq(fk.n, 1);
}

/* ---- duplicate and late votes ---- */

Test(twopc, duplicate_votes_are_ignored)
{
	setup_n(2);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	size_t n = fk.n;
	vote(0, TWOPC_VOTE_YES, 2);
	vote(0, TWOPC_VOTE_NO, 3); /* a different duplicate is no vote */
	vote(0, TWOPC_VOTE_READONLY, 4);
	cr_assert_eq(tp.state, TWOPC_PREPARING);
	cr_assert_eq(br[0].vote, TWOPC_VOTE_YES);
	cr_assert_eq(fk.n, n);
	vote(1, TWOPC_VOTE_YES, 5);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(count(EV_LOG_COMMIT), 1);
	vote(1, TWOPC_VOTE_YES, 6);
	cr_assert_eq(count(EV_LOG_COMMIT), 1, "a duplicate logged twice");
}

Test(twopc, late_yes_after_abort_is_rolled_back)
{
	setup_n(3);
	start(0);
	vote(0, TWOPC_VOTE_NO, 1);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	size_t rb1 = count_to(EV_ROLLBACK, 1);
	size_t rb2 = count_to(EV_ROLLBACK, 2);

	vote(1, TWOPC_VOTE_YES, 2); /* it prepared: roll it back now */
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(count_to(EV_ROLLBACK, 1), rb1 + 1);
	cr_assert_eq(fk.ev[fk.n - 1].kind, EV_ROLLBACK);
	cr_assert_eq(fk.ev[fk.n - 1].branch, 1);

	vote(2, TWOPC_VOTE_READONLY, 3); /* nothing prepared */
	vote(2, TWOPC_VOTE_NO, 3);       /* rolled back itself */
	cr_assert_eq(count_to(EV_ROLLBACK, 2), rb2);
	vote(0, TWOPC_VOTE_YES, 4); /* voted NO already: not a late YES */
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 0);
	cr_assert_eq(count(EV_REPLY), 1);
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
}

Test(twopc, yes_voter_not_rolled_back_again_by_its_duplicate)
{
	setup_n(2);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_NO, 2);
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1);
	vote(0, TWOPC_VOTE_YES, 3); /* a resent YES: its vote counted */
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1);
}

Test(twopc, votes_after_commit_decided_change_nothing)
{
	setup_n(2);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_YES, 2);
	size_t n = fk.n;
	vote(0, TWOPC_VOTE_NO, 3);
	vote(1, TWOPC_VOTE_READONLY, 3);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(fk.n, n);
	cr_assert_eq(br[0].vote, TWOPC_VOTE_YES);
	cr_assert_eq(br[1].vote, TWOPC_VOTE_YES);
	logged(4);
	n = fk.n;
	vote(0, TWOPC_VOTE_NO, 5);
	vote(1, TWOPC_VOTE_YES, 5);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
	cr_assert_eq(fk.n, n);
	cr_assert_eq(count(EV_ROLLBACK), 0);
}

/* ---- phase 2 resends ---- */

Test(twopc, commit_resend_backoff)
{
	/* Expected resend times of an unacked branch after logged at 20:
	 * intervals 100, 200, 400, 800, then the 1000 cap. */
	const uint64_t sends[] = {20,   120,  320,  720,  1520,
	                          2520, 3520, 4520, 5520, 6520};
	const size_t nsends = sizeof(sends) / sizeof(sends[0]);

	to_committing_with(2, true);
	ack(1, 21); /* branch 1 acks at once and is never resent to */
	cr_assert_eq(count_to(EV_COMMIT, 0), 1);

	/* Tick every millisecond and note when COMMIT goes to branch 0. */
	size_t seen = 1;
	for (uint64_t now = 21; now <= sends[nsends - 1] + 10; now++) {
		tick(now);
		size_t c = count_to(EV_COMMIT, 0);

		if (c == seen)
			continue;
		cr_assert_eq(c, seen + 1, "two sends in one tick at %llu",
		             (unsigned long long)now);
		cr_assert_lt(seen, nsends, "extra resend at %llu",
		             (unsigned long long)now);
		cr_assert_eq(now, sends[seen], "resend %zu at %llu, want %llu",
		             seen, (unsigned long long)now,
		             (unsigned long long)sends[seen]);
		seen = c;
	}
	cr_assert_eq(seen, nsends);
	cr_assert_eq(count_to(EV_COMMIT, 1), 1, "an acked branch resent");
	cr_assert_eq(br[0].backoff_ms, RETRY_MAX);
}

Test(twopc, commit_resend_coarse_ticks)
{
	to_committing_with(1, true);
	/* A late tick sends once, not once per missed interval. */
	tick(20 + 5 * RETRY_MAX);
	cr_assert_eq(count(EV_COMMIT), 2);
	tick(20 + 5 * RETRY_MAX);
	cr_assert_eq(count(EV_COMMIT), 2);
	/* The next interval counts from the resend: 200. */
	tick(20 + 5 * RETRY_MAX + 2 * RETRY_MIN - 1);
	cr_assert_eq(count(EV_COMMIT), 2);
	tick(20 + 5 * RETRY_MAX + 2 * RETRY_MIN);
	cr_assert_eq(count(EV_COMMIT), 3);
	ack(0, 20 + 6 * RETRY_MAX);
	tick(20 + 100 * RETRY_MAX);
	cr_assert_eq(count(EV_COMMIT), 3);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
}

Test(twopc, one_commit_in_flight_per_branch)
{
	to_committing(1);
	cr_assert_eq(count_to(EV_COMMIT, 0), 1);
	/* The first call has not answered: however long, no second one. */
	tick(20 + RETRY_MAX * 10);
	cr_assert_eq(count_to(EV_COMMIT, 0), 1, "no pile-up while in flight");
	/* It times out: the resend goes at the next tick that is due. */
	twopc_commit_failed(&tp, 0, 20 + RETRY_MAX * 10);
	tick(20 + RETRY_MAX * 10 + 1);
	cr_assert_eq(count_to(EV_COMMIT, 0), 2);
	ack(0, 20 + RETRY_MAX * 10 + 2);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
}

Test(twopc, commit_resend_fixed_interval)
{
	static const struct twopc_timing odd = {
	    .vote_timeout_ms = VOTE_TIMEOUT,
	    .commit_wait_ms = COMMIT_WAIT,
	    .retry_min_ms = 300,
	    .retry_max_ms = 300,
	};

	memset(&fk, 0, sizeof(fk));
	fk.commit_calls_fail = true; /* each call times out */
	twopc_init(&tp, br, 1, &fake_io, &fk, &odd);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	logged(2);
	for (uint64_t now = 3; now <= 2 + 5 * 300; now++)
		tick(now);
	cr_assert_eq(count(EV_COMMIT), 6, "fixed 300 ms interval");
}

/* ---- commit_wait: answer the client without every ack ---- */

Test(twopc, commit_wait_replies_once)
{
	to_committing(2); /* logged at 20 */
	ack(0, 21);
	for (uint64_t now = 22; now < 20 + COMMIT_WAIT; now++)
		tick(now);
	cr_assert_eq(count(EV_REPLY), 0, "replied before commit_wait");
	tick(20 + COMMIT_WAIT);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTING);
	cr_assert_eq(the_reply()->now, 20 + COMMIT_WAIT);
	cr_assert_eq(twopc_outcome(&tp), WIRE_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 0);
	for (uint64_t now = 20 + COMMIT_WAIT; now < 5000; now += 7)
		tick(now);
	cr_assert_eq(count(EV_REPLY), 1);

	ack(1, 5000);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 1);
	cr_assert_eq(count(EV_REPLY), 1, "a second reply after the acks");
	tick(10000);
	cr_assert_eq(count(EV_REPLY), 1);
	cr_assert_eq(count(EV_LOG_END), 1);
}

Test(twopc, all_acks_before_commit_wait_reply_at_once)
{
	to_committing(2);
	ack(0, 21);
	ack(1, 22);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert_eq(the_reply()->now, 22);
	tick(20 + COMMIT_WAIT);
	tick(20 + 10 * COMMIT_WAIT);
	cr_assert_eq(count(EV_REPLY), 1);
	cr_assert_eq(count(EV_LOG_END), 1);
}

/* ---- client abort ---- */

Test(twopc, abort_in_active)
{
	setup_n(2);
	at(5);
	twopc_abort(&tp, TWOPC_ABORT_CLIENT, "client rollback", 5);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(count(EV_PREPARE), 0);
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_not_null(strstr(tp.reason, "client rollback"), "%s",
	                   tp.reason);
	/* Statements ran in open local transactions: they are undone. */
	cr_assert_eq(count(EV_ROLLBACK), 2);
	cr_assert_eq(twopc_outcome(&tp), WIRE_ABORTED);
}

Test(twopc, abort_in_preparing)
{
	setup_n(3);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_READONLY, 1);
	at(2);
	twopc_abort(&tp, TWOPC_ABORT_IDLE, "idle timeout", 2);
	cr_assert_eq(tp.state, TWOPC_ABORTED);
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1);
	cr_assert_eq(count_to(EV_ROLLBACK, 1), 0);
	cr_assert_eq(count_to(EV_ROLLBACK, 2), 1);
	cr_assert_eq(count(EV_LOG_COMMIT), 0);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_not_null(strstr(tp.reason, "idle timeout"));
	/* A second abort keeps the first reason and answers nothing. */
	twopc_abort(&tp, TWOPC_ABORT_CLIENT, "second", 3);
	cr_assert_null(strstr(tp.reason, "second"));
	cr_assert_eq(count(EV_REPLY), 1);
	cr_assert_eq(count(EV_ROLLBACK), 2);
}

static void
abort_changes_nothing(void)
{
	enum twopc_state s = tp.state;
	size_t n = fk.n;

	twopc_abort(&tp, TWOPC_ABORT_CLIENT, "too late", fk.now + 1);
	cr_assert_eq(tp.state, s, "abort moved %s to %s", twopc_state_name(s),
	             twopc_state_name(tp.state));
	cr_assert_eq(fk.n, n, "abort in %s did something", twopc_state_name(s));
	cr_assert_null(strstr(tp.reason, "too late"));
}

Test(twopc, no_abort_after_the_decision)
{
	setup_n(2);
	start(0);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_YES, 2);
	abort_changes_nothing(); /* LOGGING */
	logged(3);
	abort_changes_nothing(); /* COMMITTING */
	ack(0, 4);
	ack(1, 5);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	abort_changes_nothing(); /* COMMITTED */
	cr_assert_eq(count(EV_ROLLBACK), 0);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
}

/* ---- recovery after a coordinator restart ---- */

Test(twopc, recover_resends_commit_and_never_replies)
{
	setup_n(3);
	fk.commit_calls_fail = true; /* each call times out */
	fk.logged = true;            /* the record was durable in a past life */
	at(1000);
	twopc_recover(&tp, 1000);
	cr_assert_eq(tp.state, TWOPC_COMMITTING);
	cr_assert(tp.replied);
	cr_assert_eq(count(EV_PREPARE), 0);
	cr_assert_eq(count(EV_LOG_COMMIT), 0, "the record exists already");
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(count_to(EV_COMMIT, i), 1);
	cr_assert_eq(twopc_outcome(&tp), WIRE_COMMITTED);

	tick(1000 + RETRY_MIN - 1);
	cr_assert_eq(count(EV_COMMIT), 3);
	tick(1000 + RETRY_MIN);
	cr_assert_eq(count(EV_COMMIT), 6, "resends after recovery");
	tick(1000 + COMMIT_WAIT);
	ack(0, 2000);
	ack(1, 2000);
	ack(2, 2000);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 1);
	cr_assert_eq(count(EV_REPLY), 0, "nobody is waiting for a reply");
}

Test(twopc, recover_with_no_branch_left)
{
	setup_n(0);
	fk.logged = true;
	at(1);
	twopc_recover(&tp, 1);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 1);
	cr_assert_eq(count(EV_REPLY), 0);
}

Test(twopc, recover_keeps_the_record_for_an_unreachable_branch)
{
	/* A participant named in the record is no longer configured: the
	 * others finish, but END would let the record be forgotten and its
	 * branch be presumed aborted later. */
	setup_n(1);
	fk.logged = true;
	tp.keep_record = true;
	at(1);
	twopc_recover(&tp, 1);
	ack(0, 2);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 0, "the record must stay open");
}

/* ---- outcomes and names ---- */

Test(twopc, outcome_of_every_state)
{
	static const struct {
		enum twopc_state s;
		enum wire_outcome o;
	} want[] = {
	    {TWOPC_ACTIVE, WIRE_IN_PROGRESS},
	    {TWOPC_PREPARING, WIRE_IN_PROGRESS},
	    /* Queued, not durable: a crash now loses it, so not committed. */
	    {TWOPC_LOGGING, WIRE_IN_PROGRESS},
	    {TWOPC_COMMITTING, WIRE_COMMITTED},
	    {TWOPC_COMMITTED, WIRE_COMMITTED},
	    {TWOPC_ABORTED, WIRE_ABORTED},
	};

	setup_n(1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		tp.state = want[i].s;
		cr_assert_eq(twopc_outcome(&tp), want[i].o, "state %s",
		             twopc_state_name(want[i].s));
		cr_assert_eq(twopc_done(&tp),
		             want[i].s == TWOPC_COMMITTED ||
		                 want[i].s == TWOPC_ABORTED,
		             "done in %s", twopc_state_name(want[i].s));
		cr_assert_str_neq(twopc_state_name(want[i].s), "?");
	}
}

Test(twopc, outcome_along_a_real_run)
{
	setup_n(2);
	cr_assert_eq(twopc_outcome(&tp), WIRE_IN_PROGRESS);
	start(0);
	cr_assert_eq(twopc_outcome(&tp), WIRE_IN_PROGRESS);
	vote(0, TWOPC_VOTE_YES, 1);
	vote(1, TWOPC_VOTE_YES, 1);
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(twopc_outcome(&tp), WIRE_IN_PROGRESS);
	logged(2);
	cr_assert_eq(twopc_outcome(&tp), WIRE_COMMITTED);
	ack(0, 3);
	ack(1, 3);
	cr_assert_eq(twopc_outcome(&tp), WIRE_COMMITTED);
}

/* ---- property: random interleavings keep the invariants ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: deterministic, good enough to shuffle events. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t
rnd(size_t n)
{
	return (size_t)(rng() % n);
}

/* What the test knows about one run, beside the event log. */
struct model {
	bool cause;          /* something was sent that justifies an abort */
	bool was_aborted;    /* ever ABORTED */
	bool was_committing; /* ever LOGGING, COMMITTING or COMMITTED */
	enum twopc_vote first_vote[MAX_BRANCHES];
	bool commit_sent[MAX_BRANCHES];
	enum wire_outcome decided; /* IN_PROGRESS until a final outcome */
};

struct prop_stats {
	size_t committed, aborted, replied_early;
};

static void
check_invariants(const struct model *m, size_t step)
{
	size_t replies = count(EV_REPLY);
	size_t ends = count(EV_LOG_END);
	size_t logs = count(EV_LOG_COMMIT);
	enum wire_outcome o = twopc_outcome(&tp);

	cr_assert_leq(replies, 1, "step %zu: %zu replies", step, replies);
	cr_assert_eq(tp.replied, replies == 1, "step %zu", step);
	cr_assert_leq(ends, 1, "step %zu: %zu END records", step, ends);
	cr_assert_leq(logs, 1, "step %zu: %zu COMMIT records", step, logs);
	/* I2: one decision. */
	cr_assert_not(m->was_aborted && m->was_committing,
	              "step %zu: both aborted and committing", step);
	cr_assert(logs == 0 || !m->was_aborted, "step %zu", step);
	cr_assert(count(EV_ROLLBACK) == 0 || !m->was_committing,
	          "step %zu: ROLLBACK of a committing transaction", step);
	/* Nothing aborts without a reason to. */
	cr_assert(!m->was_aborted || m->cause,
	          "step %zu: aborted with no NO, failure, timeout or abort",
	          step);
	if (m->was_aborted)
		cr_assert_neq(tp.reason[0], '\0', "step %zu", step);
	/* I3: a COMMIT record only over unanimous YES/READ-ONLY votes. */
	if (tp.state == TWOPC_LOGGING || tp.state == TWOPC_COMMITTING ||
	    (tp.state == TWOPC_COMMITTED && logs > 0)) {
		cr_assert_eq(logs, 1, "step %zu", step);
		for (size_t i = 0; i < tp.nbranches; i++)
			cr_assert(m->first_vote[i] == TWOPC_VOTE_YES ||
			              m->first_vote[i] == TWOPC_VOTE_READONLY,
			          "step %zu: branch %zu voted %d", step, i,
			          m->first_vote[i]);
	}
	/* I1: COMMIT only after the record is durable. */
	if (count(EV_COMMIT) > 0)
		cr_assert(fk.logged && first(EV_COMMIT) > first(EV_LOG_COMMIT),
		          "step %zu", step);
	/* END only once every YES branch acked. */
	if (ends == 1)
		for (size_t i = 0; i < tp.nbranches; i++)
			cr_assert(br[i].vote != TWOPC_VOTE_YES || br[i].acked,
			          "step %zu", step);
	/* The machine's votes are the first ones each branch sent. */
	for (size_t i = 0; i < tp.nbranches; i++)
		if (tp.state != TWOPC_ABORTED)
			cr_assert_eq(br[i].vote, m->first_vote[i],
			             "step %zu branch %zu", step, i);
	/* What an inquiry is told never changes once final. */
	if (m->decided != WIRE_IN_PROGRESS)
		cr_assert_eq(o, m->decided, "step %zu: outcome flipped", step);
	/* A reply tells a final answer. */
	if (replies == 1) {
		const struct ev *r = &fk.ev[first(EV_REPLY)];

		cr_assert(
		    r->state == TWOPC_ABORTED || r->state == TWOPC_COMMITTING ||
		        r->state == TWOPC_COMMITTED,
		    "step %zu: reply in %s", step, twopc_state_name(r->state));
	}
}

static void
note_state(struct model *m)
{
	switch (tp.state) {
	case TWOPC_ACTIVE:
	case TWOPC_PREPARING:
	case TWOPC_PRELOGGING:
	case TWOPC_PRECOMMITTING:
	case TWOPC_LEARNING:
	case TWOPC_ONE_PHASE:
	case TWOPC_RESOLVING:
		break;
	case TWOPC_LOGGING:
		m->was_committing = true;
		break;
	case TWOPC_COMMITTING:
	case TWOPC_COMMITTED:
		m->was_committing = true;
		m->decided = WIRE_COMMITTED;
		break;
	case TWOPC_ABORTED:
		m->was_aborted = true;
		m->decided = WIRE_ABORTED;
		break;
	}
	for (size_t i = 0; i < fk.n; i++)
		if (fk.ev[i].kind == EV_COMMIT)
			m->commit_sent[fk.ev[i].branch] = true;
}

/* One random event, legal for what a real network could deliver. */
static void
random_step(struct model *m, size_t n, struct prop_stats *st)
{
	static const enum twopc_vote votes[] = {
	    TWOPC_VOTE_YES, TWOPC_VOTE_YES,      TWOPC_VOTE_YES,
	    TWOPC_VOTE_YES, TWOPC_VOTE_READONLY, TWOPC_VOTE_NO,
	};
	size_t r = rnd(100);
	size_t b = n > 0 ? rnd(n) : 0;
	bool preparing = tp.state == TWOPC_PREPARING;

	if (r < 40 && n > 0) {
		enum twopc_vote v =
		    votes[rnd(sizeof(votes) / sizeof(votes[0]))];

		if (preparing && br[b].vote == TWOPC_VOTE_NONE) {
			m->first_vote[b] = v;
			if (v == TWOPC_VOTE_NO)
				m->cause = true;
		}
		twopc_vote(&tp, b, v, v == TWOPC_VOTE_NO ? "40001" : NULL,
		           v == TWOPC_VOTE_NO ? "could not serialize" : NULL,
		           fk.now);
	} else if (r < 45 && n > 0) {
		if (preparing)
			m->cause = true;
		twopc_vote_failed(&tp, b, "connection reset", fk.now);
	} else if (r < 55 && n > 0) {
		/* A duplicate of what this branch said first. */
		if (m->first_vote[b] != TWOPC_VOTE_NONE)
			twopc_vote(&tp, b, m->first_vote[b], "40001", "dup",
			           fk.now);
	} else if (r < 70 && n > 0) {
		/* Acks come only from branches that were sent COMMIT, and
		 * may be duplicated. */
		if (m->commit_sent[b])
			ack(b, fk.now);
	} else if (r < 90) {
		uint64_t step = rnd(4) == 0 ? rnd(2 * VOTE_TIMEOUT) : rnd(150);

		if (preparing && fk.now + step >= tp.vote_deadline_ms)
			m->cause = true;
		tick(fk.now + step);
	} else if (r < 93) {
		if (tp.state == TWOPC_ACTIVE || preparing)
			m->cause = true;
		twopc_abort(&tp, TWOPC_ABORT_CLIENT, "client rollback", fk.now);
	} else if (tp.state == TWOPC_LOGGING) {
		logged(fk.now + rnd(50));
	}
	if (tp.state == TWOPC_COMMITTING && tp.replied &&
	    count(EV_LOG_END) == 0)
		st->replied_early++;
}

/* Drive a run to its end the way a healthy system would. */
static void
settle(struct model *m, size_t n)
{
	if (tp.state == TWOPC_PREPARING) {
		for (size_t i = 0; i < n; i++)
			if (br[i].vote == TWOPC_VOTE_NONE) {
				m->first_vote[i] = TWOPC_VOTE_YES;
				vote(i, TWOPC_VOTE_YES, fk.now);
			}
	}
	note_state(m);
	if (tp.state == TWOPC_LOGGING)
		logged(fk.now + 1);
	note_state(m);
	for (size_t i = 0; i < n; i++)
		if (m->commit_sent[i])
			ack(i, fk.now);
	note_state(m);
}

Test(twopc, property_random_interleavings)
{
	struct prop_stats st = {0};
	const size_t runs = 4000;

	rng_state = 0x9E3779B97F4A7C15ULL; /* fixed: failures reproduce */
	for (size_t run = 0; run < runs; run++) {
		size_t n = rnd(6); /* 0..5 branches */
		size_t steps = 5 + rnd(60);
		struct model m = {.decided = WIRE_IN_PROGRESS};

		setup_n(n);
		fk.now = rnd(1000);
		if (rnd(20) == 0) {
			m.cause = true;
			twopc_abort(&tp, TWOPC_ABORT_CLIENT,
			            "client rollback before commit", fk.now);
		} else {
			start(fk.now);
		}
		note_state(&m);
		check_invariants(&m, 0);
		for (size_t s = 1; s <= steps; s++) {
			random_step(&m, n, &st);
			note_state(&m);
			check_invariants(&m, s);
		}
		settle(&m, n);
		check_invariants(&m, steps + 1);
		/* Every run ends decided, answered once, with the log
		 * records its decision needs and no others. */
		cr_assert(twopc_done(&tp), "run %zu ends in %s", run,
		          twopc_state_name(tp.state));
		cr_assert_eq(count(EV_REPLY), 1, "run %zu", run);
		if (tp.state == TWOPC_COMMITTED) {
			bool any_yes = false;

			for (size_t i = 0; i < n; i++)
				any_yes |= m.first_vote[i] == TWOPC_VOTE_YES;
			cr_assert_eq(count(EV_LOG_COMMIT), any_yes ? 1 : 0,
			             "run %zu", run);
			cr_assert_eq(count(EV_LOG_END), any_yes ? 1 : 0,
			             "run %zu", run);
			st.committed++;
		} else {
			cr_assert_eq(count(EV_LOG_COMMIT), 0, "run %zu", run);
			cr_assert_eq(count(EV_LOG_END), 0, "run %zu", run);
			st.aborted++;
		}
	}
	/* The generator must reach both outcomes and early replies, or the
	 * property proves little. */
	cr_assert_gt(st.committed, runs / 10, "committed %zu", st.committed);
	cr_assert_gt(st.aborted, runs / 10, "aborted %zu", st.aborted);
	cr_assert_gt(st.replied_early, 0);
}

/* ---- one-phase commit (I8) ---- */

static void
one_phase_start(size_t n)
{
	setup_n(n);
	tp.one_phase = true;
	start(0);
}

Test(twopc, one_phase_commits_with_no_log_write)
{
	one_phase_start(1);
	cr_assert_eq(tp.state, TWOPC_ONE_PHASE);
	cr_assert_eq(count(EV_PREPARE), 1);
	vote(0, TWOPC_VOTE_COMMITTED, 5);
	cr_assert_eq(tp.state, TWOPC_COMMITTED);
	cr_assert(tp.one_phase_done);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_COMMIT) + count(EV_LOG_END), 0);
	cr_assert_eq(count(EV_COMMIT) + count(EV_ROLLBACK), 0);
}

Test(twopc, one_phase_no_aborts_and_sends_nothing)
{
	one_phase_start(1);
	vote(0, TWOPC_VOTE_NO, 5);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_str_eq(tp.reason_sqlstate, "23514");
	cr_assert_eq(fk.n, 2, "PREPARE and the reply, nothing else");
	cr_assert_not(tp.one_phase_done);
}

Test(twopc, one_phase_yes_continues_as_two_phase)
{
	one_phase_start(1);
	vote(0, TWOPC_VOTE_YES, 5); /* the branch prepared instead */
	cr_assert_eq(tp.state, TWOPC_LOGGING);
	cr_assert_eq(count(EV_LOG_COMMIT), 1);
	logged(6);
	ack(0, 7);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert_eq(count(EV_LOG_END), 1);
	cr_assert_not(tp.one_phase_done);
}

Test(twopc, one_phase_lost_answer_is_asked_for_never_guessed)
{
	one_phase_start(1);
	at(5);
	twopc_vote_failed(&tp, 0, "connection lost", 5);
	cr_assert_eq(tp.state, TWOPC_RESOLVING);
	cr_assert_eq(count(EV_RESOLVE), 1);
	cr_assert_eq(count(EV_REPLY) + count(EV_ROLLBACK), 0);
	/* Unanswered: resent after the backoff, one at a time. */
	at(6);
	twopc_resolve_failed(&tp, 0, 6);
	tick(5 + RETRY_MIN - 1);
	cr_assert_eq(count(EV_RESOLVE), 1);
	tick(5 + RETRY_MIN);
	cr_assert_eq(count(EV_RESOLVE), 2);
	tick(5 + 10 * RETRY_MAX); /* still in flight: no second call */
	cr_assert_eq(count(EV_RESOLVE), 2);
	at(20000);
	twopc_resolved(&tp, 0, true, NULL, 20000);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	cr_assert(tp.one_phase_done);
	cr_assert_eq(count(EV_LOG_COMMIT) + count(EV_ROLLBACK), 0);
}

Test(twopc, one_phase_vote_timeout_resolves_instead_of_aborting)
{
	one_phase_start(1);
	tick(VOTE_TIMEOUT - 1);
	cr_assert_eq(tp.state, TWOPC_ONE_PHASE);
	tick(VOTE_TIMEOUT);
	cr_assert_eq(tp.state, TWOPC_RESOLVING);
	cr_assert_eq(twopc_outcome(&tp), WIRE_IN_PROGRESS);
	/* A late YES (it prepared) does not commit: the resolve decides. */
	vote(0, TWOPC_VOTE_YES, VOTE_TIMEOUT + 1);
	cr_assert_eq(tp.state, TWOPC_RESOLVING);
	at(VOTE_TIMEOUT + 2);
	twopc_resolved(&tp, 0, false, "bank1: resolved", VOTE_TIMEOUT + 2);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_eq(tp.abort_kind, TWOPC_ABORT_RESOLVED);
	/* A prepared fallback must not wait for the sweeper. */
	cr_assert_eq(count_to(EV_ROLLBACK, 0), 1);
	cr_assert_str_eq(tp.reason, "bank1: resolved");
}

/* A resolve that takes long does not hold the waiter: after a vote timeout
 * it is told the outcome is not known yet, and resolving goes on. */
Test(twopc, one_phase_resolve_overdue_after_a_vote_timeout)
{
	one_phase_start(1);
	tick(VOTE_TIMEOUT);
	cr_assert_eq(tp.state, TWOPC_RESOLVING);
	cr_assert_not(twopc_overdue(&tp, 2 * VOTE_TIMEOUT - 1));
	cr_assert(twopc_overdue(&tp, 2 * VOTE_TIMEOUT));
	tick(2 * VOTE_TIMEOUT);
	cr_assert_eq(tp.state, TWOPC_RESOLVING, "never guessed");
	cr_assert_eq(count(EV_REPLY), 0);
	at(2 * VOTE_TIMEOUT + 1);
	twopc_resolved(&tp, 0, true, NULL, 2 * VOTE_TIMEOUT + 1);
	cr_assert_not(twopc_overdue(&tp, 3 * VOTE_TIMEOUT));
}

Test(twopc, one_phase_late_answer_settles_a_resolve)
{
	one_phase_start(1);
	tick(VOTE_TIMEOUT);
	vote(0, TWOPC_VOTE_COMMITTED, VOTE_TIMEOUT + 1);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);
	/* The resolve's answer after that changes nothing. */
	twopc_resolved(&tp, 0, true, NULL, VOTE_TIMEOUT + 2);
	cr_assert_eq(count(EV_REPLY), 1);
}

Test(twopc, one_phase_only_for_a_single_two_phase_branch)
{
	one_phase_start(2);
	cr_assert_eq(tp.state, TWOPC_PREPARING);
	setup_n(1);
	tp.one_phase = true;
	twopc_set_3pc(&tp, true);
	start(0);
	cr_assert_eq(tp.state, TWOPC_PREPARING);
	setup_n(1); /* one_phase off */
	start(0);
	cr_assert_eq(tp.state, TWOPC_PREPARING);
}

Test(twopc, resolving_a_past_gid_asks_every_branch)
{
	setup_n(3);
	at(0);
	twopc_start_resolving(&tp, 0);
	cr_assert_eq(count(EV_RESOLVE), 3);
	twopc_resolved(&tp, 0, false, "bank1: resolved", 1);
	twopc_resolved(&tp, 2, false, "bank3: resolved", 1);
	cr_assert_eq(tp.state, TWOPC_RESOLVING, "bank2 has not answered");
	twopc_resolved(&tp, 1, true, NULL, 2);
	cr_assert_eq(the_reply()->state, TWOPC_COMMITTED);

	setup_n(2);
	twopc_start_resolving(&tp, 0);
	twopc_resolved(&tp, 1, false, "bank2: resolved", 1);
	twopc_resolved(&tp, 0, false, "bank1: resolved", 1);
	cr_assert_eq(the_reply()->state, TWOPC_ABORTED);
	cr_assert_eq(count(EV_ROLLBACK), 2);
}
