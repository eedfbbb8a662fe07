/*
 * One-phase commit of a single-participant transaction, end to end: no
 * PREPARE and no decision-log write, and an outcome that stays knowable
 * when the answer is lost (participant/onephase.h, coordinator/twopc.c I8).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "xact.h"

#define ACCOUNTS 10
#define BALANCE  1000

static struct hcluster C;

static void
start(struct hcluster_opts *o)
{
	o->accounts = ACCOUNTS;
	o->balance = BALANCE;
	cr_assert_eq(hcluster_start(&C, o), 0, "cluster did not start");
}

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(onephase, .fini = finish, .timeout = 120);

static xact_conn *
connect_c(void)
{
	xact_conn *c;

	cr_assert_eq(xact_connect(hcluster_url(&C), 20000, &c), 0,
	             "connect: %s", c != NULL ? xact_errmsg(c) : "?");
	return c;
}

static int64_t
query(int db, const char *fmt, const char *arg)
{
	char sql[256];
	int64_t v = -1;

	snprintf(sql, sizeof(sql), fmt, arg);
	cr_assert_eq(hpg_query_i64(&C.pg[db], sql, &v), 0, "%s failed", sql);
	return v;
}

static int64_t
balance(int id)
{
	char s[16];

	snprintf(s, sizeof(s), "%d", id);
	return query(0, "SELECT balance FROM accounts WHERE id = %s", s);
}

/* Committed markers of gid in bank1 (1 once it committed in one phase). */
static int64_t
committed_marker(const char *gid)
{
	return query(0,
	             "SELECT count(*) FROM xact.one_phase WHERE gid = '%s' "
	             "AND NOT aborted",
	             gid);
}

static uint64_t
stat(xact_conn *c, const char *name)
{
	int64_t v = hstat(c, name);

	cr_assert_geq(v, 0, "no counter %s: %s", name, xact_errmsg(c));
	return (uint64_t)v;
}

/* Move amount from account 1 to account 2, both in bank1. */
static int
local_transfer(xact_conn *c, long amount, char *gid, xact_outcome *o)
{
	char debit[128], credit[128];
	const char *sql[] = {debit, credit};
	struct xact_branch b = {"bank1", sql, 2};

	snprintf(debit, sizeof(debit),
	         "UPDATE accounts SET balance = balance - %ld WHERE id = 1",
	         amount);
	snprintf(credit, sizeof(credit),
	         "UPDATE accounts SET balance = balance + %ld WHERE id = 2",
	         amount);
	return xact_submit(c, &b, 1, gid, o);
}

struct bg_submit {
	pthread_t thread;
	xact_conn *c;
	long amount;
	int rc;
	xact_outcome o;
	char gid[XACT_GID_MAX];
	char err[256];
};

static void *
bg_main(void *arg)
{
	struct bg_submit *s = arg;

	s->rc = local_transfer(s->c, s->amount, s->gid, &s->o);
	snprintf(s->err, sizeof(s->err), "%s", xact_errmsg(s->c));
	return NULL;
}

static void
bg_start(struct bg_submit *s, long amount)
{
	s->c = connect_c();
	s->amount = amount;
	cr_assert_eq(pthread_create(&s->thread, NULL, bg_main, s), 0);
}

static void
bg_join(struct bg_submit *s)
{
	pthread_join(s->thread, NULL);
	xact_disconnect(s->c);
}

static bool
coord_idle(void *arg)
{
	return stat(arg, "in_flight") == 0;
}

Test(onephase, single_branch_commits_without_prepare_or_log_write)
{
	char gid[XACT_GID_MAX], gid2[XACT_GID_MAX];
	uint64_t syncs;
	xact_conn *c;
	xact_tx *tx;
	xact_result *r;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 2});
	c = connect_c();
	syncs = stat(c, "log_syncs");
	cr_assert_eq(local_transfer(c, 7, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "aborted: %s", xact_errmsg(c));
	cr_assert_eq(balance(1), BALANCE - 7);
	cr_assert_eq(balance(2), BALANCE + 7);
	cr_assert_eq(committed_marker(gid), 1, "the marker commits with it");
	cr_assert_eq(stat(c, "one_phase"), 1);
	cr_assert_eq(stat(c, "log_syncs"), syncs, "no decision-log write");

	/* An overdraft: a definite NO, and its marker went with it. */
	cr_assert_eq(local_transfer(c, BALANCE * 2, gid2, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert(strstr(xact_errmsg(c), "23514") != NULL, "reason: %s",
	          xact_errmsg(c));
	cr_assert_eq(query(0,
	                   "SELECT count(*) FROM xact.one_phase WHERE "
	                   "gid = '%s'",
	                   gid2),
	             0);

	/* Interactive, one participant: one phase too. */
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank1",
	                       "UPDATE accounts SET balance = balance + 1 "
	                       "WHERE id = 3",
	                       &r),
	             0, "%s", xact_errmsg(c));
	xact_result_free(r);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(committed_marker(xact_tx_gid(tx)), 1);
	xact_tx_free(tx);
	cr_assert_eq(stat(c, "one_phase"), 2);
	cr_assert_eq(stat(c, "log_syncs"), syncs);

	/* Once the transactions have left the table, status still knows. */
	cr_assert(hwait_until(coord_idle, c, 10000), "still in flight");
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "a one-phase commit is remembered");
	cr_assert_eq(xact_status(c, gid2, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	xact_disconnect(c);
}

/*
 * The participant commits and dies before it answers. Its answer is lost,
 * never guessed: the coordinator asks again (the request is delivered to
 * the new process, or BR_RESOLVE is sent) and the marker says committed.
 */
Test(onephase, answer_lost_after_commit_is_resolved_as_committed)
{
	char *const env[] = {
	    "XACT_FAILPOINTS=participant.after_one_phase=crash", NULL};
	struct bg_submit s = {0};
	int status;

	start(&(struct hcluster_opts){
	    .n = 1, .vote_timeout_ms = 1000, .part_env = {env}});
	bg_start(&s, 11);
	cr_assert_eq(hproc_wait(&C.part[0], 30000, &status), 0,
	             "the participant did not crash");
	cr_assert_eq(balance(1), BALANCE - 11, "committed before the crash");
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	bg_join(&s);
	hc_assert(&C, s.rc == 0 && s.o == XACT_COMMITTED,
	          "rc %d outcome %d: %s", s.rc, s.o, s.err);
	cr_assert_eq(committed_marker(s.gid), 1);
	cr_assert_eq(balance(2), BALANCE + 11);
}

/*
 * The branch is too slow: the coordinator stops waiting and resolves. Its
 * tombstone gets in first, so the branch, when it finally runs, can never
 * commit: the client is told aborted and nothing moved.
 */
Test(onephase, resolve_before_the_branch_runs_means_it_never_commits)
{
	char *const env[] = {
	    "XACT_FAILPOINTS=participant.before_one_phase=delay(3000)", NULL};
	/* Without the ROLLBACK that follows the abort, which would stop the
	 * branch before it tries: the tombstone alone must stop it. */
	char *const coord_env[] = {
	    "XACT_FAILPOINTS=coord.before_rollback_send=drop", NULL};
	struct bg_submit s = {0};

	start(&(struct hcluster_opts){.n = 1,
	                              .vote_timeout_ms = 500,
	                              .coord_env = coord_env,
	                              .part_env = {env}});
	bg_start(&s, 13);
	bg_join(&s);
	hc_assert(&C, s.rc == 0 && s.o == XACT_ABORTED, "rc %d outcome %d: %s",
	          s.rc, s.o, s.err);
	cr_assert(hwait_log(C.part[0].log, "one-phase marker exists", 10000),
	          "the late branch found the tombstone");
	cr_assert_eq(balance(1), BALANCE);
	cr_assert_eq(balance(2), BALANCE);
	cr_assert_eq(query(0,
	                   "SELECT count(*) FROM xact.one_phase WHERE gid = "
	                   "'%s' AND aborted",
	                   s.gid),
	             1);
}

/*
 * After a coordinator crash nothing in memory or in the log knows a
 * one-phase commit: a status question asks the participants' markers.
 */
Test(onephase, status_after_coordinator_restart_asks_the_markers)
{
	char committed[XACT_GID_MAX], aborted[XACT_GID_MAX];
	int status;
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 2});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 5, committed, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(local_transfer(c, BALANCE * 3, aborted, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	xact_disconnect(c);
	cr_assert_eq(hproc_kill(&C.coord, SIGKILL), 0);
	cr_assert_eq(hproc_wait(&C.coord, 10000, &status), 0);
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	c = connect_c();
	cr_assert_eq(xact_status(c, committed, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "outcome %d", o);
	cr_assert_eq(xact_status(c, aborted, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	/* bank2 never saw either: it was asked, and now never can commit
	 * them. */
	cr_assert_eq(query(1,
	                   "SELECT count(*) FROM xact.one_phase WHERE gid "
	                   "= '%s' AND aborted",
	                   committed),
	             1);
	xact_disconnect(c);
}

/* A request handled twice (NNG may deliver it twice) runs once. */
Test(onephase, duplicate_request_runs_once)
{
	char *const env[] = {"XACT_FAILPOINTS=participant.recv_prepare=dup",
	                     NULL};
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1, .part_env = {env}});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 17, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(balance(1), BALANCE - 17, "debited once");
	xact_disconnect(c);
}

static bool
markers_gone(void *arg)
{
	int64_t n = -1;

	(void)arg;
	return hpg_query_i64(&C.pg[0], "SELECT count(*) FROM xact.one_phase",
	                     &n) == 0 &&
	       n == 0;
}

/* Markers go after their retention, so the table does not grow. */
Test(onephase, markers_are_trimmed_after_their_retention)
{
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1, .one_phase_retention_ms = 1000});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 1, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert(hwait_until(markers_gone, NULL, 15000),
	          "the marker outlived its retention");
	xact_disconnect(c);
}

/* one_phase: false keeps two-phase commit for a single participant. */
Test(onephase, can_be_switched_off)
{
	char gid[XACT_GID_MAX];
	uint64_t syncs;
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1, .one_phase = "false"});
	c = connect_c();
	syncs = stat(c, "log_syncs");
	cr_assert_eq(local_transfer(c, 3, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(stat(c, "one_phase"), 0);
	cr_assert_eq(stat(c, "log_syncs"), syncs + 1, "a COMMIT record");
	xact_disconnect(c);
}
