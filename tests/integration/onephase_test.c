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

static bool
sync_rep_waiter(void *arg)
{
	int64_t n = 0;

	(void)arg;
	return hpg_query_i64(&C.pg[0],
	                     "SELECT count(*) FROM pg_stat_activity WHERE "
	                     "wait_event = 'SyncRep'",
	                     &n) == 0 &&
	       n > 0;
}

static void
set_standby(const char *names)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
	         "ALTER SYSTEM SET synchronous_standby_names = '%s'", names);
	cr_assert_eq(hpg_exec(&C.pg[0], sql), 0);
	cr_assert_eq(hpg_exec(&C.pg[0], "SELECT pg_reload_conf()"), 0);
}

/*
 * COMMIT fails, yet the branch committed: a backend ended while it waited
 * for a synchronous standby has committed locally. The participant must
 * resolve, not vote NO: the client's answer matches the database.
 */
Test(onephase, commit_error_after_a_local_commit_is_resolved)
{
	struct bg_submit s = {0};
	xact_conn *c;
	xact_outcome o;
	char gid[XACT_GID_MAX];

	start(&(struct hcluster_opts){.n = 1, .vote_timeout_ms = 20000});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 1, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	xact_disconnect(c);
	/* The cluster runs with synchronous_commit off; the database's own
	 * setting wins, for connections made from now on. */
	cr_assert_eq(hpg_exec(&C.pg[0],
	                      "DO $$BEGIN EXECUTE format('ALTER DATABASE %I "
	                      "SET synchronous_commit = on', "
	                      "current_database()); END$$"),
	             0);
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	set_standby("nobody"); /* every commit now waits, forever */
	bg_start(&s, 19);
	cr_assert(hwait_until(sync_rep_waiter, NULL, 20000),
	          "the one-phase COMMIT never waited for the standby");
	cr_assert_eq(hpg_exec(&C.pg[0],
	                      "SELECT pg_terminate_backend(pid) FROM "
	                      "pg_stat_activity WHERE wait_event = 'SyncRep'"),
	             0);
	set_standby("");
	bg_join(&s);
	cr_assert_eq(balance(1), BALANCE - 1 - 19, "committed locally");
	hc_assert(&C, s.rc == 0 && s.o == XACT_COMMITTED,
	          "the branch committed, the client was told rc %d outcome "
	          "%d: %s",
	          s.rc, s.o, s.err);
	cr_assert_eq(committed_marker(s.gid), 1);
}

/* CREATE TABLE and CREATE SCHEMA refused, even to a superuser: as for a
 * role without the privilege, or a read-only database. */
static void
refuse_create(void)
{
	cr_assert_eq(hpg_exec(&C.pg[0],
	                      "CREATE FUNCTION refuse() RETURNS event_trigger "
	                      "LANGUAGE plpgsql AS $$BEGIN RAISE "
	                      "insufficient_privilege USING MESSAGE = "
	                      "'CREATE refused by the test'; END$$"),
	             0);
	cr_assert_eq(
	    hpg_exec(&C.pg[0],
	             "CREATE EVENT TRIGGER refuse ON ddl_command_start "
	             "WHEN TAG IN ('CREATE TABLE', 'CREATE SCHEMA') "
	             "EXECUTE FUNCTION refuse()"),
	    0);
}

/*
 * No marker table can be made: the participant says so once and commits
 * single-branch transactions with two-phase commit, submitted or
 * interactive, with a decision-log write each.
 */
Test(onephase, without_a_marker_table_falls_back_to_two_phase_commit)
{
	char gid[XACT_GID_MAX];
	uint64_t syncs;
	xact_conn *c;
	xact_tx *tx;
	xact_result *r;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1});
	/*
	 * The participant makes its table when it first needs it, which may be
	 * before or after this point: refuse the CREATE first, then drop
	 * whatever was made.
	 */
	refuse_create();
	cr_assert_eq(hpg_exec(&C.pg[0], "DROP SCHEMA IF EXISTS xact CASCADE"),
	             0);
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	c = connect_c();
	syncs = stat(c, "log_syncs");
	cr_assert_eq(local_transfer(c, 3, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "outcome %d: %s", o, xact_errmsg(c));
	cr_assert_eq(balance(1), BALANCE - 3);
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank1",
	                       "UPDATE accounts SET balance = balance + 1 "
	                       "WHERE id = 3",
	                       &r),
	             0, "%s", xact_errmsg(c));
	xact_result_free(r);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "interactive: %s", xact_errmsg(c));
	xact_tx_free(tx);
	cr_assert_eq(balance(3), BALANCE + 1);
	cr_assert_eq(stat(c, "one_phase"), 0);
	cr_assert_geq(stat(c, "log_syncs"), syncs + 1, "COMMIT records");
	cr_assert(hlog_contains(C.part[0].log, "one-phase commit off"));
	xact_disconnect(c);
}

/*
 * The table exists, with a committed marker, but a new participant process
 * could not CREATE it (IF NOT EXISTS is checked after the privilege): the
 * status of that gid must come from the marker, not from the failed CREATE.
 */
Test(onephase, a_refused_create_does_not_hide_existing_markers)
{
	char gid[XACT_GID_MAX];
	int status;
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 4, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	xact_disconnect(c);
	refuse_create();
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	cr_assert_eq(hproc_kill(&C.coord, SIGKILL), 0);
	cr_assert_eq(hproc_wait(&C.coord, 10000, &status), 0);
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	c = connect_c();
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "outcome %d", o);
	xact_disconnect(c);
}

/*
 * The marker table is dropped under a running participant and cannot be
 * made again: the next one-phase branch gets a definite answer (its marker
 * insert failed, so nothing ran), and later ones use two-phase commit.
 */
Test(onephase, a_dropped_marker_table_turns_one_phase_off)
{
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1, .vote_timeout_ms = 3000});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 1, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(hpg_exec(&C.pg[0], "DROP TABLE xact.one_phase"), 0);
	refuse_create();
	cr_assert_eq(local_transfer(c, 2, gid, &o), 0, "no definite answer: %s",
	             xact_errmsg(c));
	hc_assert(&C, o == XACT_ABORTED, "outcome %d", o);
	cr_assert_eq(balance(1), BALANCE - 1, "nothing of it ran");
	cr_assert_eq(local_transfer(c, 5, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(balance(1), BALANCE - 1 - 5);
	xact_disconnect(c);
}

/*
 * A request that waited here longer than half the marker retention is not
 * committed: the tombstone that may have stopped it could be gone by then.
 */
Test(onephase, a_request_older_than_half_the_retention_is_not_committed)
{
	char *const env[] = {
	    "XACT_FAILPOINTS=participant.recv_prepare=delay(1500)", NULL};
	struct bg_submit s = {0};

	start(&(struct hcluster_opts){.n = 1,
	                              .vote_timeout_ms = 10000,
	                              .one_phase_retention_ms = 2000,
	                              .part_env = {env}});
	bg_start(&s, 6);
	bg_join(&s);
	hc_assert(&C, s.rc == 0 && s.o == XACT_ABORTED, "rc %d outcome %d: %s",
	          s.rc, s.o, s.err);
	cr_assert(hlog_contains(C.part[0].log, "over half the one-phase"));
	cr_assert_eq(balance(1), BALANCE);
}

static bool
decided(void *arg)
{
	xact_conn *c = connect_c();
	xact_outcome o = XACT_IN_PROGRESS;
	int rc = xact_status(c, arg, &o);

	xact_disconnect(c);
	return rc == 0 && o != XACT_IN_PROGRESS;
}

/*
 * The only participant is down: the coordinator cannot learn the outcome,
 * but it does not hold the client (nor one of its request contexts) until
 * it can. The client is told the outcome is not known yet; once the
 * participant is back, the status is definite.
 */
Test(onephase, an_unreachable_participant_does_not_hold_the_client)
{
	char gid[XACT_GID_MAX];
	int status;
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1, .vote_timeout_ms = 1000});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 1, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(hproc_kill(&C.part[0], SIGKILL), 0);
	cr_assert_eq(hproc_wait(&C.part[0], 10000, &status), 0);
	cr_assert_neq(local_transfer(c, 8, gid, &o), 0, "outcome %d", o);
	cr_assert(strstr(xact_errmsg(c), "not known yet") != NULL,
	          "the coordinator did not answer: %s", xact_errmsg(c));
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_IN_PROGRESS);
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	cr_assert(hwait_until(decided, gid, 20000), "never resolved");
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "it never reached the database");
	cr_assert_eq(balance(1), BALANCE - 1);
	xact_disconnect(c);
}

/*
 * A branch left prepared under the gid of a transaction that committed in
 * one phase (a fallback from an earlier life of the participant, say) is
 * not part of that commit: the sweeper's inquiry must roll it back.
 */
Test(onephase, a_prepared_branch_of_a_one_phase_gid_is_rolled_back)
{
	char gid[XACT_GID_MAX], sql[256];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){
	    .n = 1, .sweep_interval_ms = 200, .sweep_safety_ms = 200});
	c = connect_c();
	cr_assert_eq(local_transfer(c, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	snprintf(sql, sizeof(sql),
	         "BEGIN; UPDATE accounts SET balance = balance + 100 WHERE "
	         "id = 5; PREPARE TRANSACTION '%s'",
	         gid);
	cr_assert_eq(hpg_exec(&C.pg[0], sql), 0);
	cr_assert(hcluster_wait_no_prepared(&C, 20000), "still prepared");
	hc_assert(&C, balance(5) == BALANCE, "the stray branch committed");
	xact_disconnect(c);
}
