/*
 * 2PC end to end: real PostgreSQL clusters, the real daemons as processes,
 * the client library. Every test ends by checking that no prepared
 * transaction is left anywhere (DESIGN.md invariant 5).
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gid.h"
#include "harness.h"
#include "wire.h"
#include "xact.h"

#define ACCOUNTS 10
#define BALANCE  1000

static struct hcluster C;

static void
start(struct hcluster_opts *o)
{
	if (o->accounts == 0) {
		o->accounts = ACCOUNTS;
		o->balance = BALANCE;
	}
	cr_assert_eq(hcluster_start(&C, o), 0, "cluster did not start");
}

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(commit, .fini = finish, .timeout = 120);

static xact_conn *
connect_c(void)
{
	xact_conn *c;

	cr_assert_eq(xact_connect(hcluster_url(&C), 10000, &c), 0,
	             "connect: %s", c != NULL ? xact_errmsg(c) : "?");
	return c;
}

static int64_t
balance(int db, int id)
{
	char sql[96];
	int64_t v = -1;

	snprintf(sql, sizeof(sql), "SELECT balance FROM accounts WHERE id = %d",
	         id);
	cr_assert_eq(hpg_query_i64(&C.pg[db], sql, &v), 0, "query failed");
	return v;
}

/* A transfer of amount from bank<from+1> account id to bank<to+1>. */
static int
transfer(xact_conn *c, int from, int to, int id, long amount, char *gid,
         xact_outcome *o)
{
	char debit[128], credit[128], names[2][16];
	const char *d[] = {debit}, *k[] = {credit};
	struct xact_branch b[2];

	snprintf(names[0], sizeof(names[0]), "bank%d", from + 1);
	snprintf(names[1], sizeof(names[1]), "bank%d", to + 1);
	snprintf(debit, sizeof(debit),
	         "UPDATE accounts SET balance = balance - %ld WHERE id = %d",
	         amount, id);
	snprintf(credit, sizeof(credit),
	         "UPDATE accounts SET balance = balance + %ld WHERE id = %d",
	         amount, id);
	b[0] = (struct xact_branch){names[0], d, 1};
	b[1] = (struct xact_branch){names[1], k, 1};
	return xact_submit(c, b, 2, gid, o);
}

Test(commit, three_databases_commit)
{
	char a[128], b[128], c3[128];
	const char *sa[] = {a}, *sb[] = {b}, *sc[] = {c3};
	struct xact_branch br[] = {
	    {"bank1", sa, 1}, {"bank2", sb, 1}, {"bank3", sc, 1}};
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){0});
	c = connect_c();
	snprintf(a, sizeof(a),
	         "UPDATE accounts SET balance = balance - 30 "
	         "WHERE id = 1");
	snprintf(b, sizeof(b),
	         "UPDATE accounts SET balance = balance + 10 "
	         "WHERE id = 1");
	snprintf(c3, sizeof(c3),
	         "UPDATE accounts SET balance = balance + 20 "
	         "WHERE id = 1");
	cr_assert_eq(xact_submit(c, br, 3, gid, &o), 0, "submit: %s",
	             xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "aborted: %s", xact_errmsg(c));
	cr_assert_eq(strncmp(gid, "xact_c1_", 8), 0, "gid %s", gid);
	cr_assert_eq(balance(0, 1), BALANCE - 30);
	cr_assert_eq(balance(1, 1), BALANCE + 10);
	cr_assert_eq(balance(2, 1), BALANCE + 20);
	cr_assert_eq(xact_status(c, gid, &o), 0, "status: %s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	xact_disconnect(c);
}

/* One counter of the coordinator's STATS answer. */
static uint64_t
stat(xact_conn *c, const char *name)
{
	int64_t v = hstat(c, name);

	cr_assert_geq(v, 0, "no counter %s: %s", name, xact_errmsg(c));
	return (uint64_t)v;
}

/*
 * A commit forces one record (one fdatasync); presumed abort forces
 * nothing for an abort. The benchmark charges syncs and CPU time to
 * transactions by these counters.
 */
Test(commit, stats_count_outcomes_and_forced_writes)
{
	char gid[XACT_GID_MAX];
	uint64_t syncs, cpu;
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){0});
	c = connect_c();
	syncs = stat(c, "log_syncs");
	cr_assert_eq(stat(c, "committed"), 0);
	cr_assert_eq(transfer(c, 0, 1, 3, 5, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(stat(c, "committed"), 1);
	cr_assert_eq(stat(c, "log_syncs"), syncs + 1,
	             "one forced COMMIT record");
	cr_assert_eq(transfer(c, 0, 1, 3, BALANCE * 2, gid, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert_eq(stat(c, "aborted"), 1);
	cr_assert_eq(stat(c, "log_syncs"), syncs + 1,
	             "an abort forces nothing");
	cr_assert_geq(stat(c, "begun"), 2);
	cpu = stat(c, "cpu_user_us") + stat(c, "cpu_system_us");
	cr_assert_gt(cpu, 0, "the coordinator's CPU time");
	xact_disconnect(c);
}

Test(commit, no_vote_aborts_every_branch)
{
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){0});
	c = connect_c();
	/* The debit breaks the check constraint (balance >= 0). */
	cr_assert_eq(transfer(c, 0, 1, 2, BALANCE + 1, gid, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert(strstr(xact_errmsg(c), "23514") != NULL, "reason: %s",
	          xact_errmsg(c));
	cr_assert(strstr(xact_errmsg(c), "bank1") != NULL, "reason: %s",
	          xact_errmsg(c));
	cr_assert_eq(balance(0, 2), BALANCE);
	cr_assert_eq(balance(1, 2), BALANCE, "the credit must not survive");
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	xact_disconnect(c);
}

Test(commit, silent_participant_times_out_and_aborts)
{
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.vote_timeout_ms = 1000});
	c = connect_c();
	/* bank2 never answers while stopped. */
	cr_assert_eq(hproc_kill(&C.part[1], SIGSTOP), 0);
	cr_assert_eq(transfer(c, 0, 1, 3, 5, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_ABORTED, "must abort on vote timeout");
	cr_assert(strstr(xact_errmsg(c), "timeout") != NULL, "reason: %s",
	          xact_errmsg(c));
	cr_assert_eq(hproc_kill(&C.part[1], SIGCONT), 0);
	/* finish() checks that bank2's late branch is rolled back too. */
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000), "left prepared");
	cr_assert_eq(balance(0, 3), BALANCE);
	cr_assert_eq(balance(1, 3), BALANCE);
	xact_disconnect(c);
}

Test(commit, coordinator_crash_after_commit_record_commits_all)
{
	char *env[] = {"XACT_FAILPOINTS=coord.after_commit_logged=crash", NULL};
	char gid[XACT_GID_MAX] = "";
	xact_conn *c;
	xact_outcome o;
	int status;

	start(&(struct hcluster_opts){.coord_env = env});
	c = connect_c();
	/* The coordinator dies right after the commit point: no answer. */
	cr_assert_eq(transfer(c, 0, 2, 4, 7, gid, &o), -1,
	             "the crash must cut the answer off");
	cr_assert_eq(hproc_wait(&C.coord, 10000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 86,
	          "exit by the failpoint, status %d", status);
	cr_assert_eq(hpg_prepared_count(&C.pg[0]), 1, "bank1 in doubt");
	cr_assert_eq(hpg_prepared_count(&C.pg[2]), 1, "bank3 in doubt");
	C.opts.coord_env = NULL; /* restart without the failpoint */
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "recovery must finish phase 2");
	cr_assert_eq(balance(0, 4), BALANCE - 7);
	cr_assert_eq(balance(2, 4), BALANCE + 7);
	/* The client lost its answer but knew the gid: it can ask. */
	cr_assert_neq(gid[0], '\0', "the gid is known before the work");
	xact_disconnect(c);
	c = connect_c();
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	xact_disconnect(c);
}

Test(commit, coordinator_crash_before_commit_record_aborts_all)
{
	char *env[] = {"XACT_FAILPOINTS=coord.before_commit_log=crash", NULL};
	char gid[XACT_GID_MAX] = "";
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.coord_env = env,
	                              .sweep_interval_ms = 500,
	                              .sweep_safety_ms = 1000});
	c = connect_c();
	cr_assert_eq(transfer(c, 1, 2, 5, 9, gid, &o), -1, "no answer");
	cr_assert_eq(hproc_wait(&C.coord, 10000, NULL), 0);
	C.opts.coord_env = NULL;
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	/* Presumed abort: the sweepers ask and roll back. */
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000), "left prepared");
	cr_assert_eq(balance(1, 5), BALANCE);
	cr_assert_eq(balance(2, 5), BALANCE);
	xact_disconnect(c);
	c = connect_c();
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "no record: presumed abort");
	xact_disconnect(c);
}

/*
 * The coordinator dies while a client's branch at bank1 is open, holding a
 * row lock (participant rule R8): the first branch of its next incarnation
 * rolls that orphan back, so a transfer of the same row commits at once
 * instead of waiting for the participant's idle timeout (2 min by default;
 * the statement timeout here is 10 s).
 */
Test(commit, a_restarted_coordinator_frees_the_locks_of_its_dead_branches)
{
	const char *debit = "UPDATE accounts SET balance = balance - 1 WHERE "
	                    "id = 6";
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_tx *tx;
	xact_result *r;
	xact_outcome o;

	start(&(struct hcluster_opts){.statement_timeout_ms = 10000,
	                              .metrics = true});
	c = connect_c();
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank1", debit, &r), 0, "%s",
	             xact_errmsg(c));
	xact_result_free(r);
	cr_assert_eq(hproc_kill(&C.coord, SIGKILL), 0);
	cr_assert_eq(hproc_wait(&C.coord, 10000, NULL), 0);
	xact_tx_free(tx);
	xact_disconnect(c);
	cr_assert_eq(hcluster_restart_coord(&C), 0);

	c = connect_c();
	cr_assert_eq(transfer(c, 0, 1, 6, 5, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "outcome %d: %s", o, xact_errmsg(c));
	cr_assert(hlog_contains(C.part[0].log, "coordinator c1 restarted"));
	{
		char body[8192];

		cr_assert_eq(hhttp_get(C.part_metrics_port[0], "/metrics", body,
		                       sizeof(body)),
		             200);
		cr_assert_eq(hmetric(body, "xact_participant_open_rollbacks_"
		                           "total{reason=\"coordinator_"
		                           "restarted\"}"),
		             1, "%s", body);
	}
	cr_assert_eq(balance(0, 6), BALANCE - 5,
	             "the dead branch's debit never happened");
	cr_assert_eq(balance(1, 6), BALANCE + 5);
	xact_disconnect(c);
}

Test(commit, participant_crash_after_prepare_is_resolved)
{
	char *env[] = {"XACT_FAILPOINTS=participant.after_prepare=crash", NULL};
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.part_env = {NULL, env},
	                              .vote_timeout_ms = 2000,
	                              .sweep_interval_ms = 500,
	                              .sweep_safety_ms = 1000});
	c = connect_c();
	cr_assert_eq(transfer(c, 0, 1, 6, 11, gid, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "bank2's vote was lost");
	cr_assert_eq(hproc_wait(&C.part[1], 10000, NULL), 0);
	cr_assert_eq(hpg_prepared_count(&C.pg[1]), 1, "bank2 in doubt");
	C.opts.part_env[1] = NULL;
	cr_assert_eq(hcluster_restart_part(&C, 1), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000), "left prepared");
	cr_assert_eq(balance(0, 6), BALANCE);
	cr_assert_eq(balance(1, 6), BALANCE);
	xact_disconnect(c);
}

Test(commit, participant_crash_after_commit_prepared_is_acked)
{
	char *env[] = {"XACT_FAILPOINTS=participant.after_commit=1*crash",
	               NULL};
	char gid[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(
	    &(struct hcluster_opts){.part_env = {env}, .commit_wait_ms = 1000});
	c = connect_c();
	/* bank1 commits and dies before its ack. The decision is durable,
	 * so after commit_wait the client hears COMMITTED anyway. */
	cr_assert_eq(transfer(c, 0, 1, 7, 13, gid, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	cr_assert_eq(hproc_wait(&C.part[0], 10000, NULL), 0, "bank1 crashed");
	/* Back up, the resent COMMIT finds no such gid (42704): acked. */
	C.opts.part_env[0] = NULL;
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000), "left prepared");
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	cr_assert_eq(balance(0, 7), BALANCE - 13);
	cr_assert_eq(balance(1, 7), BALANCE + 13);
	xact_disconnect(c);
}

Test(commit, duplicated_messages_change_nothing)
{
	char *env[] = {"XACT_FAILPOINTS=participant.recv_exec=dup;"
	               "participant.recv_prepare=dup;"
	               "participant.recv_commit=dup;"
	               "participant.recv_rollback=dup",
	               NULL};
	char gid[XACT_GID_MAX];
	xact_result *r;
	xact_conn *c;
	xact_tx *tx;
	xact_outcome o;

	start(&(struct hcluster_opts){.part_env = {env, env, env}});
	c = connect_c();
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(transfer(c, 0, 1, 8, 10, gid, &o), 0, "%s",
		             xact_errmsg(c));
		cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	}
	/* Statement by statement: a duplicated EXEC must not run twice. */
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank3",
	                       "UPDATE accounts SET balance = balance + 1 "
	                       "WHERE id = 8",
	                       &r),
	             0, "%s", xact_errmsg(c));
	cr_assert_null(xact_result_sqlstate(r), "%s", xact_result_message(r));
	cr_assert_eq(xact_result_affected(r), 1);
	xact_result_free(r);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	xact_tx_free(tx);
	/* An abort with duplicated ROLLBACKs. */
	cr_assert_eq(transfer(c, 0, 1, 8, BALANCE * 10, gid, &o), 0);
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert_eq(balance(0, 8), BALANCE - 50);
	cr_assert_eq(balance(1, 8), BALANCE + 50);
	cr_assert_eq(balance(2, 8), BALANCE + 1);
	xact_disconnect(c);
}

Test(commit, interactive_statements_rollback_and_errors)
{
	xact_result *r;
	xact_conn *c;
	xact_tx *tx;
	xact_outcome o;

	start(&(struct hcluster_opts){0});
	c = connect_c();

	/* Rows come back; the commit makes both writes visible. */
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank1",
	                       "SELECT id, balance, NULL AS n FROM accounts "
	                       "WHERE id <= 2 ORDER BY id",
	                       &r),
	             0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_result_ncols(r), 3);
	cr_assert_eq(xact_result_nrows(r), 2);
	cr_assert_str_eq(xact_result_colname(r, 1), "balance");
	cr_assert_str_eq(xact_result_value(r, 1, 0), "2");
	cr_assert_null(xact_result_value(r, 0, 2));
	xact_result_free(r);
	cr_assert_eq(xact_exec(tx, "bank2",
	                       "UPDATE accounts SET balance = 5 WHERE id = 9",
	                       &r),
	             0);
	xact_result_free(r);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	xact_tx_free(tx);
	cr_assert_eq(balance(1, 9), 5);

	/* Rollback undoes everything. */
	cr_assert_eq(xact_begin(c, &tx), 0);
	cr_assert_eq(xact_exec(tx, "bank1",
	                       "UPDATE accounts SET balance = 0 WHERE id = 9",
	                       &r),
	             0);
	xact_result_free(r);
	cr_assert_eq(xact_rollback(tx), 0, "%s", xact_errmsg(c));
	xact_tx_free(tx);
	cr_assert_eq(balance(0, 9), BALANCE);

	/* A SQL error comes back with its SQLSTATE; committing aborts. */
	cr_assert_eq(xact_begin(c, &tx), 0);
	cr_assert_eq(xact_exec(tx, "bank3", "SELECT 1/0", &r), 0);
	cr_assert_str_eq(xact_result_sqlstate(r), "22012");
	xact_result_free(r);
	cr_assert_eq(xact_exec(tx, "bank3", "COMMIT", &r), 0);
	cr_assert_str_eq(xact_result_sqlstate(r), "0A000");
	xact_result_free(r);
	cr_assert_eq(xact_exec(tx, "nosuch", "SELECT 1", &r), -1);
	cr_assert(strstr(xact_errmsg(c), "nosuch") != NULL, "%s",
	          xact_errmsg(c));
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert(strstr(xact_errmsg(c), "22012") != NULL, "%s",
	          xact_errmsg(c));
	xact_tx_free(tx);
	xact_disconnect(c);
}

Test(commit, idle_client_transaction_is_aborted)
{
	xact_result *r;
	xact_conn *c;
	xact_tx *tx;
	xact_outcome o;

	start(&(struct hcluster_opts){.idle_timeout_ms = 500});
	c = connect_c();
	cr_assert_eq(xact_begin(c, &tx), 0);
	cr_assert_eq(xact_exec(tx, "bank1",
	                       "UPDATE accounts SET balance = 1 WHERE id = 10",
	                       &r),
	             0);
	xact_result_free(r);
	/* The client vanishes; the coordinator aborts it by itself and the
	 * row lock is released (the update below would wait otherwise). */
	hc_assert(&C,
	          hpg_exec(&C.pg[0], "SET lock_timeout = '20s'; UPDATE "
	                             "accounts SET balance = balance WHERE "
	                             "id = 10") == 0,
	          "row still locked");
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert(strstr(xact_errmsg(c), "idle") != NULL, "%s", xact_errmsg(c));
	cr_assert_eq(balance(0, 10), BALANCE);
	xact_tx_free(tx);
	xact_disconnect(c);
}

struct log_has {
	const char *path;
	char needle[160];
};

static bool
log_contains(void *arg)
{
	struct log_has *l = arg;
	char line[1024];
	bool found = false;
	FILE *f = fopen(l->path, "r");

	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, l->needle) != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

Test(commit, abort_overtaking_prepare_leaves_no_branch)
{
	/* bank2 holds the PREPARE back past the vote timeout, so the
	 * coordinator's ROLLBACK is handled first and leaves a tombstone.
	 * The sweeper is made too slow to help: only the tombstone can keep
	 * the late PREPARE from leaving a prepared branch behind. */
	char *env[] = {"XACT_FAILPOINTS=participant.recv_prepare=1*delay(1500)",
	               NULL};
	char gid[XACT_GID_MAX];
	struct log_has late = {C.part[1].log, ""};
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.part_env = {NULL, env},
	                              .vote_timeout_ms = 500,
	                              .sweep_interval_ms = 3600000,
	                              .log_level = "debug"});
	late.path = C.part[1].log;
	c = connect_c();
	cr_assert_eq(transfer(c, 0, 1, 9, 3, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert(strstr(xact_errmsg(c), "vote timeout") != NULL, "%s",
	          xact_errmsg(c));
	/* Once the late PREPARE is answered, nothing may be prepared. */
	snprintf(late.needle, sizeof(late.needle), "gid=%s vote ", gid);
	hc_assert(&C, hwait_until(log_contains, &late, 10000),
	          "the late PREPARE was never answered");
	cr_assert_eq(hpg_prepared_count(&C.pg[1]), 0,
	             "a prepared branch outlived its abort");
	cr_assert_eq(balance(1, 9), BALANCE);
	xact_disconnect(c);
}

/* One raw request and its decoded answer (the caller frees both). */
static void
raw_call(nng_socket s, struct wire_buf *b, nng_msg **msg, struct wire_msg *m)
{
	char err[200];
	nng_msg *req;

	cr_assert_eq(nng_msg_alloc(&req, 0), 0);
	cr_assert_eq(nng_msg_append(req, b->data, b->len), 0);
	wire_buf_free(b);
	cr_assert_eq(nng_sendmsg(s, req, 0), 0);
	cr_assert_eq(nng_recvmsg(s, msg, 0), 0, "no answer");
	cr_assert_eq(wire_decode(nng_msg_body(*msg), nng_msg_len(*msg), m, err,
	                         sizeof(err)),
	             0, "%s", err);
}

/*
 * R8 also when a new incarnation's first word to a participant is a
 * ROLLBACK (an abort that overtook its PREPARE): sent here by hand for a
 * gid one incarnation above the live coordinator's, so the open branch of
 * the live one is rolled back: its commit then aborts, atomically.
 */
Test(commit, a_rollback_from_a_new_incarnation_supersedes_too)
{
	const char *debit = "UPDATE accounts SET balance = balance - 1 WHERE "
	                    "id = 8";
	char url[64], newer[XACT_GID_MAX];
	struct gid_parts p;
	struct wire_buf b;
	struct wire_msg m;
	nng_socket s;
	nng_msg *msg;
	xact_conn *c;
	xact_tx *tx;
	xact_result *r;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 1});
	c = connect_c();
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank1", debit, &r), 0, "%s",
	             xact_errmsg(c));
	xact_result_free(r);
	cr_assert(gid_parse(xact_tx_gid(tx), &p));
	gid_format(newer, p.node, p.incarnation + 1, 1);

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", C.part_port[0]);
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
	wire_buf_init(&b, WIRE_BR_ROLLBACK);
	wire_put_str(&b, WIRE_T_GID, newer);
	raw_call(s, &b, &msg, &m);
	cr_assert_eq(m.type, WIRE_ACK, "%s", m.text);
	wire_msg_free(&m);
	nng_msg_free(msg);
	nng_close(s);

	cr_assert(hlog_contains(C.part[0].log, "coordinator c1 restarted"));
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "its branch was rolled back");
	xact_tx_free(tx);
	cr_assert_eq(balance(0, 8), BALANCE);
	xact_disconnect(c);
}

struct raw_wait {
	pthread_t thread;
	nng_socket s;
	nng_msg *msg;
	int rv;
};

static void *
raw_wait_main(void *arg)
{
	struct raw_wait *w = arg;

	w->rv = nng_recvmsg(w->s, &w->msg, 0);
	return NULL;
}

/*
 * A REQ socket that resends (not libxact's: a client of the wire protocol
 * with NNG's default) while its statement waits on a lock: the copies on
 * its connection are dropped, so the answer it gets is the statement's,
 * not a "still running" that would overtake it (same request id).
 */
Test(commit, a_resent_statement_gets_its_own_answer)
{
	struct raw_wait w = {0};
	struct wire_buf b;
	struct wire_msg m;
	char err[200];
	nng_msg *req;
	xact_conn *c;
	xact_tx *tx;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 2, .log_level = "debug"});
	cr_assert_eq(hpg_exec(&C.pg[1], "BEGIN; UPDATE accounts SET balance = "
	                                "balance WHERE id = 3; PREPARE "
	                                "TRANSACTION 'test_holds_row_3'"),
	             0);
	c = connect_c();
	cr_assert_eq(xact_begin(c, &tx), 0);
	cr_assert_eq(nng_req0_open(&w.s), 0);
	nng_socket_set_ms(w.s, NNG_OPT_REQ_RESENDTIME, 100);
	nng_socket_set_ms(w.s, NNG_OPT_RECVTIMEO, 20000);
	cr_assert_eq(nng_dial(w.s, hcluster_url(&C), NULL, 0), 0);
	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, xact_tx_gid(tx));
	wire_put_str(&b, WIRE_T_NAME, "bank2");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_SQL,
	             "UPDATE accounts SET balance = balance + 1 WHERE id = 3");
	cr_assert_eq(nng_msg_alloc(&req, 0), 0);
	cr_assert_eq(nng_msg_append(req, b.data, b.len), 0);
	wire_buf_free(&b);
	cr_assert_eq(nng_sendmsg(w.s, req, 0), 0);
	cr_assert_eq(pthread_create(&w.thread, NULL, raw_wait_main, &w), 0);

	cr_assert(
	    hwait_log(C.coord.log, "duplicate of statement 1 dropped", 10000),
	    "no resend seen");
	cr_assert_eq(hpg_exec(&C.pg[1], "ROLLBACK PREPARED 'test_holds_row_3'"),
	             0);
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.rv, 0, "no answer: %s", nng_strerror(w.rv));
	cr_assert_eq(wire_decode(nng_msg_body(w.msg), nng_msg_len(w.msg), &m,
	                         err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(m.type, WIRE_RESULT, "%s", m.text);
	cr_assert_eq(m.affected, 1);
	wire_msg_free(&m);
	nng_msg_free(w.msg);
	nng_close(w.s);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	xact_tx_free(tx);
	cr_assert_eq(balance(1, 3), BALANCE + 1, "it ran once");
	xact_disconnect(c);
}

Test(commit, repeated_statement_runs_once)
{
	xact_conn *c;
	xact_tx *tx;
	xact_outcome o;
	struct wire_buf b;
	struct wire_msg m;
	nng_socket s;
	nng_msg *msg;
	char gid[XACT_GID_MAX];

	start(&(struct hcluster_opts){0});
	c = connect_c();
	cr_assert_eq(xact_begin(c, &tx), 0);
	snprintf(gid, sizeof(gid), "%s", xact_tx_gid(tx));
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, hcluster_url(&C), NULL, 0), 0);
	/* The same statement twice, as after a lost answer. */
	for (int i = 0; i < 2; i++) {
		wire_buf_init(&b, WIRE_EXEC);
		wire_put_str(&b, WIRE_T_GID, gid);
		wire_put_str(&b, WIRE_T_NAME, "bank2");
		wire_put_u64(&b, WIRE_T_SEQ, 1);
		wire_put_str(&b, WIRE_T_SQL,
		             "UPDATE accounts SET balance = balance + 1 "
		             "WHERE id = 10");
		raw_call(s, &b, &msg, &m);
		cr_assert_eq(m.type, WIRE_RESULT, "%s", m.text);
		cr_assert_eq(m.affected, 1);
		wire_msg_free(&m);
		nng_msg_free(msg);
	}
	/* A gap is fine (the client counts refused calls too)... */
	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, gid);
	wire_put_str(&b, WIRE_T_NAME, "bank2");
	wire_put_u64(&b, WIRE_T_SEQ, 3);
	wire_put_str(&b, WIRE_T_SQL, "SELECT 1");
	raw_call(s, &b, &msg, &m);
	cr_assert_eq(m.type, WIRE_RESULT, "%s", m.text);
	wire_msg_free(&m);
	nng_msg_free(msg);
	/* ...but an older number is refused, and does not run. */
	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, gid);
	wire_put_str(&b, WIRE_T_NAME, "bank2");
	wire_put_u64(&b, WIRE_T_SEQ, 2);
	wire_put_str(&b, WIRE_T_SQL, "UPDATE accounts SET balance = 0");
	raw_call(s, &b, &msg, &m);
	cr_assert_eq(m.type, WIRE_ERROR);
	cr_assert_eq(m.code, WIRE_E_BAD_REQUEST, "%s", m.text);
	wire_msg_free(&m);
	nng_msg_free(msg);
	nng_close(s);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	xact_tx_free(tx);
	cr_assert_eq(balance(1, 10), BALANCE + 1, "ran once");
	xact_disconnect(c);
}

Test(commit, hostile_statements_cannot_break_atomicity)
{
	static const char *smuggle[] = {
	    "; COMMIT", " ;; ROLLBACK", "/* x */ ; PREPARE TRANSACTION 'x'",
	    "(BEGIN)",  "end",          "-- ends at a carriage return\rCOMMIT"};
	const char *sa[] = {"SET LOCAL search_path = public, pg_catalog",
	                    "UPDATE accounts SET balance = balance - 10 "
	                    "WHERE id = 1"};
	const char *sb[] = {"UPDATE accounts SET balance = balance + 10 "
	                    "WHERE id = 1"};
	struct xact_branch br[] = {{"bank1", sa, 2}, {"bank2", sb, 1}};
	xact_result *r;
	xact_conn *c;
	xact_tx *tx;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 2});
	c = connect_c();
	/* Statements that would end the local transaction are refused,
	 * however they are dressed, and the branch's write is undone. */
	for (size_t i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
		cr_assert_eq(xact_begin(c, &tx), 0);
		cr_assert_eq(xact_exec(tx, "bank1",
		                       "UPDATE accounts SET balance = 0 "
		                       "WHERE id = 2",
		                       &r),
		             0);
		xact_result_free(r);
		cr_assert_eq(xact_exec(tx, "bank1", smuggle[i], &r), 0, "%s",
		             xact_errmsg(c));
		cr_assert_str_eq(xact_result_sqlstate(r), "0A000", "%s",
		                 smuggle[i]);
		xact_result_free(r);
		cr_assert_eq(xact_rollback(tx), 0, "%s", xact_errmsg(c));
		xact_tx_free(tx);
		cr_assert_eq(balance(0, 2), BALANCE, "after %s", smuggle[i]);
	}
	/* A function that shadows the read-only check through search_path
	 * must not turn the branch into a fake YES or READ-ONLY. */
	cr_assert_eq(hpg_exec(&C.pg[0],
	                      "CREATE FUNCTION public."
	                      "pg_current_xact_id_if_assigned() RETURNS "
	                      "xid8 LANGUAGE plpgsql AS $$ BEGIN RAISE "
	                      "EXCEPTION 'shadow'; END $$"),
	             0);
	cr_assert_eq(xact_submit(c, br, 2, NULL, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(balance(0, 1), BALANCE - 10);
	cr_assert_eq(balance(1, 1), BALANCE + 10);
	/* Nor may an operator that shadows the test's division: bank1's
	 * write would commit as "read-only" while bank2 votes NO. */
	cr_assert_eq(hpg_exec(&C.pg[0],
	                      "CREATE FUNCTION public.fake_div(int, int) "
	                      "RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
	                      "RAISE EXCEPTION USING ERRCODE = "
	                      "'division_by_zero'; END $$; "
	                      "CREATE OPERATOR public./ (LEFTARG = int, "
	                      "RIGHTARG = int, FUNCTION = public.fake_div)"),
	             0);
	sb[0] = "UPDATE accounts SET balance = balance - 100000 WHERE id = 1";
	cr_assert_eq(xact_submit(c, br, 2, NULL, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "bank2 overdraws");
	cr_assert_eq(balance(0, 1), BALANCE - 10, "bank1's write undone");
	cr_assert_eq(balance(1, 1), BALANCE + 10);
	xact_disconnect(c);
}

/*
 * Phase 1 goes to the database as one pipeline (statements, read-only
 * test, PREPARE). The test fails with division by zero on purpose: a
 * client statement failing the same way must still vote NO.
 */
Test(commit, read_only_branch_leaves_after_phase_one)
{
	const char *ro[] = {"SELECT balance FROM accounts WHERE id = 4"};
	const char *credit[] = {"UPDATE accounts SET balance = balance + 1 "
	                        "WHERE id = 4"};
	const char *div0_after_write[] = {
	    "UPDATE accounts SET balance = balance - 1 WHERE id = 4",
	    "SELECT 1 / 0"};
	const char *div0[] = {"SELECT 1 / 0"};
	struct xact_branch br[2] = {{"bank1", ro, 1}, {"bank2", credit, 1}};
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.n = 2, .log_level = "debug"});
	c = connect_c();
	cr_assert_eq(xact_submit(c, br, 2, NULL, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(balance(1, 4), BALANCE + 1);
	cr_assert(hlog_contains(C.part[0].log, "vote READ-ONLY"),
	          "bank1 read only");
	cr_assert(hlog_contains(C.part[1].log, "vote YES"));

	br[0] = (struct xact_branch){"bank1", div0_after_write, 2};
	cr_assert_eq(xact_submit(c, br, 2, NULL, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED);
	cr_assert(strstr(xact_errmsg(c), "22012") != NULL, "%s",
	          xact_errmsg(c));
	br[0] = (struct xact_branch){"bank1", div0, 1};
	cr_assert_eq(xact_submit(c, br, 2, NULL, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "a failed read is not a read-only vote");
	cr_assert(strstr(xact_errmsg(c), "22012") != NULL, "%s",
	          xact_errmsg(c));
	cr_assert_eq(balance(0, 4), BALANCE);
	cr_assert_eq(balance(1, 4), BALANCE + 1);
	xact_disconnect(c);
}

struct bg_submit {
	int rc;
	xact_outcome o;
	char err[256];
};

/* A transfer on row 3, from a thread: it blocks until bank2 votes. */
static void *
bg_transfer(void *arg)
{
	struct bg_submit *bg = arg;
	char gid[XACT_GID_MAX];
	xact_conn *c;

	if (xact_connect(hcluster_url(&C), 20000, &c) != 0) {
		bg->rc = -1;
		return NULL;
	}
	bg->rc = transfer(c, 0, 1, 3, 1, gid, &bg->o);
	snprintf(bg->err, sizeof(bg->err), "%s", xact_errmsg(c));
	xact_disconnect(c);
	return NULL;
}

/* Send EXEC without waiting for the answer (it blocks on a lock). */
static void
fire_exec(nng_socket *s, const char *gid, const char *sql)
{
	struct wire_buf b;
	nng_msg *req;

	cr_assert_eq(nng_req0_open(s), 0);
	cr_assert_eq(nng_dial(*s, hcluster_url(&C), NULL, 0), 0);
	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, gid);
	wire_put_str(&b, WIRE_T_NAME, "bank1");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_SQL, sql);
	cr_assert_eq(nng_msg_alloc(&req, 0), 0);
	cr_assert_eq(nng_msg_append(req, b.data, b.len), 0);
	wire_buf_free(&b);
	cr_assert_eq(nng_sendmsg(*s, req, 0), 0);
}

Test(commit, overloaded_participant_still_reads_commits)
{
	/*
	 * bank1 has 4 contexts. A transfer prepares on bank1 (holding row
	 * 3's lock) while bank2 holds its vote back. Statements that need
	 * row 3 flood bank1. Without a limit they would hold every context
	 * until the statement timeout, and the COMMIT that releases the
	 * lock could not be read: the limit refuses new work instead.
	 */
	char *slow[] = {
	    "XACT_FAILPOINTS=participant.recv_prepare=1*delay(1500)", NULL};
	struct bg_submit bg = {0};
	nng_socket socks[6];
	xact_tx *tx[6];
	pthread_t th;
	xact_conn *c;

	start(&(struct hcluster_opts){.n = 2,
	                              .part_contexts = 4,
	                              .part_env = {NULL, slow},
	                              .vote_timeout_ms = 20000,
	                              .statement_timeout_ms = 60000});
	c = connect_c();
	cr_assert_eq(pthread_create(&th, NULL, bg_transfer, &bg), 0);
	for (int i = 0; i < 400 && hpg_prepared_count(&C.pg[0]) < 1; i++)
		usleep(5 * 1000);
	cr_assert_eq(hpg_prepared_count(&C.pg[0]), 1, "bank1 prepared");
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(xact_begin(c, &tx[i]), 0);
		fire_exec(&socks[i], xact_tx_gid(tx[i]),
		          "UPDATE accounts SET balance = balance + 1 "
		          "WHERE id = 3");
	}
	pthread_join(th, NULL);
	cr_assert_eq(bg.rc, 0, "no answer in time: %s", bg.err);
	cr_assert_eq(bg.o, XACT_COMMITTED, "%s", bg.err);
	for (int i = 0; i < 6; i++) {
		nng_close(socks[i]);
		xact_rollback(tx[i]);
		xact_tx_free(tx[i]);
	}
	cr_assert_eq(balance(0, 3), BALANCE - 1, "only the transfer ran");
	xact_disconnect(c);
}

static uint64_t
gid_seq(const char *gid)
{
	const char *last = strrchr(gid, '_');

	cr_assert_not_null(last, "gid %s", gid);
	return strtoull(last + 1, NULL, 10);
}

/*
 * Submits take their gids from a lease (lib/client.c): one BEGIN for
 * several transactions. The leased ones wait, unused, past timeouts.idle.
 */
Test(commit, submits_use_a_lease_that_outlives_the_idle_timeout)
{
	char gid[XACT_GID_MAX], prev[XACT_GID_MAX];
	xact_conn *c;
	xact_outcome o;

	start(&(struct hcluster_opts){.idle_timeout_ms = 300});
	c = connect_c();
	cr_assert_eq(transfer(c, 0, 1, 4, 1, prev, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(stat(c, "begun"), 1, "leased ones count once used");
	/* Time passing is the point here: three idle timeouts. */
	usleep(900 * 1000);
	cr_assert_eq(transfer(c, 0, 1, 4, 1, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert_eq(gid_seq(gid), gid_seq(prev) + 1, "%s after %s: no lease",
	             gid, prev);
	cr_assert_eq(stat(c, "begun"), 2);
	cr_assert_eq(stat(c, "aborted"), 0, "an unused lease is no abort");
	cr_assert_eq(balance(0, 4), BALANCE - 2);
	xact_disconnect(c);
}
