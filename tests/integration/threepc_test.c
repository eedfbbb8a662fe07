/*
 * Three-phase commit with real processes and databases: the participants
 * finish a transaction without the coordinator (docs/protocols.md).
 *
 * Three participants, bank1..bank3 (ranks 0..2 in every transaction). A
 * transfer moves an amount from bank1's account to bank2's and bank3's,
 * so atomicity shows in the balances: all three moved, or none.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "harness.h"
#include "net.h"
#include "wire.h"
#include "xact.h"

#define ACCOUNTS 4
#define BALANCE  1000
#define TERM_MS  1000 /* timeouts.termination */

static struct hcluster C;

static void
start_with(struct hcluster_opts *o)
{
	o->n = 3;
	o->protocol = "3pc";
	o->vote_timeout_ms = o->vote_timeout_ms ? o->vote_timeout_ms : 2000;
	o->commit_wait_ms = 1000;
	o->retry_max_ms = 300;
	if (o->termination_timeout_ms == 0)
		o->termination_timeout_ms = TERM_MS;
	o->sweep_interval_ms = 300;
	o->sweep_safety_ms = 1000;
	o->accounts = ACCOUNTS;
	o->balance = BALANCE;
	o->log_level = "debug";
	cr_assert_eq(hcluster_start(&C, o), 0, "cluster did not start");
}

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(threepc, .fini = finish, .timeout = 120);

struct transfer {
	pthread_t thread;
	long amount;
	int id;
	int rc;
	xact_protocol protocol;
	xact_outcome outcome;
	char gid[XACT_GID_MAX];
	char err[256];
};

static void *
transfer_main(void *arg)
{
	struct transfer *t = arg;
	char debit[128], credit[128];
	const char *d[] = {debit}, *k[] = {credit};
	const struct xact_branch b[] = {
	    {"bank1", d, 1}, {"bank2", k, 1}, {"bank3", k, 1}};
	xact_conn *c;

	snprintf(debit, sizeof debit,
	         "UPDATE accounts SET balance = balance - %ld WHERE id = %d",
	         2 * t->amount, t->id);
	snprintf(credit, sizeof credit,
	         "UPDATE accounts SET balance = balance + %ld WHERE id = %d",
	         t->amount, t->id);
	t->rc = xact_connect(hcluster_url(&C), 20000, &c);
	if (t->rc == 0)
		t->rc = xact_set_protocol(c, t->protocol);
	if (t->rc == 0)
		t->rc = xact_submit(c, b, 3, t->gid, &t->outcome);
	snprintf(t->err, sizeof t->err, "%s",
	         c != NULL ? xact_errmsg(c) : "out of memory");
	xact_disconnect(c);
	return NULL;
}

static void
transfer_start(struct transfer *t, int id, long amount)
{
	memset(t, 0, sizeof *t);
	t->id = id;
	t->amount = amount;
	t->protocol = XACT_PROTOCOL_3PC;
	cr_assert_eq(pthread_create(&t->thread, NULL, transfer_main, t), 0);
}

static void
wait_log(struct hproc *p, const char *needle, int ms)
{
	hc_assert(&C, hwait_log(p->log, needle, ms), "%s never logged \"%s\"",
	          p->name, needle);
}

static bool
logged(struct hproc *p, const char *needle)
{
	return hlog_contains(p->log, needle);
}

/* The coordinator hit a crash failpoint: it is gone and stays gone. */
static void
wait_coord_crashed(void)
{
	int status;

	hc_assert(&C, hproc_wait(&C.coord, 20000, &status) == 0,
	          "the coordinator did not crash");
}

/* Balances of account id: moved on all three (1), on none (0), else -1. */
static int
moved(int id, long amount)
{
	int64_t a = hbank_balance_socket(&C.pg[0], id),
	        b = hbank_balance_socket(&C.pg[1], id),
	        c = hbank_balance_socket(&C.pg[2], id);

	if (a == BALANCE - 2 * amount && b == BALANCE + amount &&
	    c == BALANCE + amount)
		return 1;
	if (a == BALANCE && b == BALANCE && c == BALANCE)
		return 0;
	fprintf(stderr, "account %d: %lld %lld %lld\n", id, (long long)a,
	        (long long)b, (long long)c);
	return -1;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

Test(threepc, commits_and_aborts_with_the_coordinator_up)
{
	struct hcluster_opts o = {0};
	struct transfer t;
	xact_conn *c;
	xact_tx *tx;
	xact_result *r;
	xact_outcome out;

	start_with(&o);
	transfer_start(&t, 1, 10);
	pthread_join(t.thread, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert_eq(t.outcome, XACT_COMMITTED, "%s", t.err);
	cr_assert_eq(moved(1, 10), 1);
	cr_assert(logged(&C.coord, "PRECOMMIT record durable"),
	          "the coordinator ran the PRE-COMMIT round");
	/* Interactive, with a read-only branch (it prepares in 3PC too) and
	 * a failed statement: the NO aborts before any PRE-COMMIT. */
	cr_assert_eq(xact_connect(hcluster_url(&C), 10000, &c), 0);
	cr_assert_eq(xact_set_protocol(c, XACT_PROTOCOL_3PC), 0);
	cr_assert_eq(xact_begin(c, &tx), 0);
	cr_assert_eq(xact_exec(tx, "bank1", "SELECT 1", &r), 0);
	xact_result_free(r);
	cr_assert_eq(xact_exec(tx, "bank2",
	                       "UPDATE accounts SET balance = balance + 1 "
	                       "WHERE id = 3",
	                       &r),
	             0);
	xact_result_free(r);
	cr_assert_eq(xact_exec(tx, "bank3", "SELECT 1/0", &r), 0);
	cr_assert_not_null(xact_result_sqlstate(r), "division by zero");
	xact_result_free(r);
	cr_assert_eq(xact_commit(tx, &out), 0, "%s", xact_errmsg(c));
	cr_assert_eq(out, XACT_ABORTED, "bank3's failed statement votes NO");
	xact_tx_free(tx);
	cr_assert_eq(hbank_balance_socket(&C.pg[1], 3), BALANCE);
	cr_assert_eq(xact_set_protocol(c, (xact_protocol)7), -1);
	xact_disconnect(c);
}

/*
 * The coordinator dies when every vote is in, before its PRECOMMIT record:
 * nobody can have accepted commit, so the participants abort on their own
 * (the coordinator stays down).
 */
Test(threepc, coordinator_dead_before_precommit_participants_abort)
{
	char *env[] = {"XACT_FAILPOINTS=coord.before_precommit_log=crash",
	               NULL};
	struct hcluster_opts o = {.coord_env = env};
	struct transfer t;
	uint64_t crashed;

	start_with(&o);
	transfer_start(&t, 1, 10);
	wait_coord_crashed();
	crashed = clock_now_ms();
	pthread_join(t.thread, NULL);
	cr_assert_neq(t.rc, 0, "the client cannot learn the outcome");
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "the participants finished without the coordinator");
	fprintf(stderr, "3pc: participants aborted %llu ms after the crash\n",
	        (unsigned long long)(clock_now_ms() - crashed));
	cr_assert_eq(moved(1, 10), 0, "aborted everywhere");
	cr_assert(logged(&C.part[0], "running the termination protocol"),
	          "bank1, rank 0, ran the termination protocol");
}

/*
 * The coordinator dies once a participant accepted its PRE-COMMIT: commit
 * may have been chosen, and the participants commit on their own.
 */
Test(threepc, coordinator_dead_after_precommit_participants_commit)
{
	char *env[] = {"XACT_FAILPOINTS=coord.after_precommit_ack=crash", NULL};
	struct hcluster_opts o = {.coord_env = env,
	                          .three_phase_mode = "plain"};
	struct transfer t;
	uint64_t crashed;

	start_with(&o);
	transfer_start(&t, 1, 10);
	wait_coord_crashed();
	crashed = clock_now_ms();
	pthread_join(t.thread, NULL);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "the participants finished without the coordinator");
	fprintf(stderr, "3pc: participants committed %llu ms after the crash\n",
	        (unsigned long long)(clock_now_ms() - crashed));
	cr_assert_eq(moved(1, 10), 1, "committed everywhere");
	/* The coordinator comes back and learns the outcome. */
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	wait_log(&C.coord, "recovered in 3PC pre-commit", 10000);
	{
		xact_conn *c;
		xact_outcome out = XACT_IN_PROGRESS;
		uint64_t deadline = clock_now_ms() + 20000;

		cr_assert_eq(xact_connect(hcluster_url(&C), 5000, &c), 0);
		while (clock_now_ms() < deadline) {
			cr_assert_eq(xact_status(c, t.gid, &out), 0, "%s",
			             xact_errmsg(c));
			if (out != XACT_IN_PROGRESS)
				break;
			sleep_ms(50);
		}
		xact_disconnect(c);
		cr_assert_eq(out, XACT_COMMITTED,
		             "the restarted coordinator learnt COMMIT");
	}
}

/*
 * bank2 crashes right after PREPARE TRANSACTION, before its YES leaves: the
 * coordinator aborts at the vote timeout. bank2 comes back in "wait" and
 * finishes its branch from its log, asking the others.
 */
/*
 * A transfer during which participant idx crashes at the failpoint in env:
 * the client hears expect, the crashed participant's branch survives in
 * PostgreSQL, and the participant is restarted without the failpoint.
 */
static void
crash_mid_transfer(struct hcluster_opts *o, int idx, char **env,
                   xact_outcome expect)
{
	struct transfer t;
	int status;

	o->part_env[idx] = env;
	start_with(o);
	transfer_start(&t, 1, 10);
	hc_assert(&C, hproc_wait(&C.part[idx], 20000, &status) == 0,
	          "bank%d did not crash", idx + 1);
	pthread_join(t.thread, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert_eq(t.outcome, expect, "%s", t.err);
	cr_assert_eq(hpg_prepared_socket(&C.pg[idx]), 1,
	             "bank%d's branch survived the crash", idx + 1);
	C.opts.part_env[idx] = NULL;
	cr_assert_eq(hcluster_restart_part(&C, idx), 0);
}

Test(threepc, participant_restarts_from_wait)
{
	char *env[] = {"XACT_FAILPOINTS=participant.after_prepare=crash", NULL};
	struct hcluster_opts o = {.vote_timeout_ms = 1000};

	crash_mid_transfer(&o, 1, env, XACT_ABORTED);
	wait_log(&C.part[1], "3PC branch open at start", 10000);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "bank2 finished its branch after the restart");
	cr_assert_eq(moved(1, 10), 0);
}

/*
 * bank3 crashes after it accepted PRE-COMMIT (quorum mode: two of three
 * accepted, so the coordinator commits). bank3 restarts pre-committed and
 * commits too. Its COMMIT is held back a while: on another worker it
 * could otherwise commit before the crash (CI saw it).
 */
Test(threepc, participant_restarts_from_precommitted)
{
	char *env[] = {"XACT_FAILPOINTS=participant.after_accept=crash;"
	               "participant.recv_commit=delay(3000)",
	               NULL};
	struct hcluster_opts o = {0};

	crash_mid_transfer(&o, 2, env, XACT_COMMITTED);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "bank3 committed after the restart");
	cr_assert_eq(moved(1, 10), 1);
}

/*
 * The coordinator dies after a PRE-COMMIT was accepted, and bank1, the
 * first backup, dies in the middle of its round (after the state
 * requests). bank2 takes over with a higher ballot; bank1 finishes when it
 * comes back. Whatever was chosen, it is the same everywhere.
 */
Test(threepc, backup_killed_mid_termination)
{
	char *cenv[] = {"XACT_FAILPOINTS=coord.after_precommit_ack=crash",
	                NULL};
	char *penv[] = {"XACT_FAILPOINTS=participant.backup_collected=crash",
	                NULL};
	struct hcluster_opts o = {.coord_env = cenv};
	struct transfer t;
	int status, m;

	o.part_env[0] = penv;
	start_with(&o);
	transfer_start(&t, 1, 10);
	wait_coord_crashed();
	pthread_join(t.thread, NULL);
	hc_assert(&C, hproc_wait(&C.part[0], 20000, &status) == 0,
	          "bank1 did not crash as backup");
	wait_log(&C.part[1], "decided as backup coordinator", 20000);
	cr_assert_eq(hpg_prepared_socket(&C.pg[1]), 0, "bank2 finished");
	cr_assert_eq(hpg_prepared_socket(&C.pg[2]), 0, "bank3 finished");
	C.opts.part_env[0] = NULL;
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "bank1 finished after the restart");
	m = moved(1, 10);
	cr_assert(m == 0 || m == 1, "atomic");
	fprintf(stderr, "3pc: backup killed, outcome %s\n",
	        m ? "commit" : "abort");
}

/*
 * The partition that 3PC's textbook form cannot survive: bank1 (in a
 * network namespace) accepted PRE-COMMIT, bank2 and bank3 never saw it
 * (their failpoint drops it), then the coordinator dies and bank1 is cut
 * off from the others. Returns when the cut is in place.
 */
static void
split_precommitted_from_uncertain(const char *mode)
{
	char *drop[] = {"XACT_FAILPOINTS=participant.recv_coord_precommit=drop",
	                NULL};
	struct hcluster_opts o = {.isolate = 1, .three_phase_mode = mode};
	char why[128];
	struct transfer t;

	o.part_env[1] = drop;
	o.part_env[2] = drop;
	cr_assert(hnet_supported(why, sizeof why), "%s", why);
	start_with(&o);
	transfer_start(&t, 1, 10);
	wait_log(&C.coord, "PRE-COMMIT bank1 accepted", 20000);
	cr_assert_eq(hproc_kill(&C.coord, SIGKILL), 0);
	cr_assert_eq(hcluster_cut(&C), 0);
	hproc_wait(&C.coord, 5000, NULL);
	pthread_join(t.thread, NULL);
}

static bool
resolved(int db)
{
	return hpg_prepared_socket(&C.pg[db]) == 0;
}

static bool
others_resolved(void *arg)
{
	(void)arg;
	return resolved(1) && resolved(2);
}

static bool
bank1_resolved(void *arg)
{
	(void)arg;
	return resolved(0);
}

/* Plain 3PC, the known limitation: the two sides decide differently. */
Test(threepc, plain_mode_splits_under_a_partition)
{
	split_precommitted_from_uncertain("plain");
	hc_assert(&C, hwait_until(others_resolved, NULL, 20000),
	          "bank2 and bank3 decided on their side");
	hc_assert(&C, hwait_until(bank1_resolved, NULL, 20000),
	          "bank1 decided alone on its side");
	cr_assert_eq(hbank_balance_socket(&C.pg[0], 1), BALANCE - 20,
	             "bank1 committed");
	cr_assert_eq(hbank_balance_socket(&C.pg[1], 1), BALANCE,
	             "bank2 aborted");
	cr_assert_eq(hbank_balance_socket(&C.pg[2], 1), BALANCE,
	             "bank3 aborted");
	cr_assert_eq(hcluster_heal(&C), 0);
}

/*
 * Quorum mode: bank2 and bank3 are a majority and abort (commit was
 * accepted by bank1 alone, so it was never chosen); bank1, a minority,
 * blocks through the cut and learns the abort once healed.
 */
Test(threepc, quorum_mode_blocks_the_minority_until_healed)
{
	split_precommitted_from_uncertain("quorum");
	hc_assert(&C, hwait_until(others_resolved, NULL, 20000),
	          "the majority side decided");
	cr_assert_eq(hbank_balance_socket(&C.pg[1], 1), BALANCE,
	             "bank2 aborted");
	cr_assert_eq(hbank_balance_socket(&C.pg[2], 1), BALANCE,
	             "bank3 aborted");
	wait_log(&C.part[0], "too few answers (quorum mode); waiting", 10000);
	sleep_ms(3 * TERM_MS); /* the cut goes on: bank1 keeps waiting */
	cr_assert_eq(hpg_prepared_socket(&C.pg[0]), 1,
	             "bank1 blocks, pre-committed");
	cr_assert_eq(hcluster_heal(&C), 0);
	hc_assert(&C, hwait_until(bank1_resolved, NULL, 30000),
	          "bank1 finished once healed");
	cr_assert_eq(moved(1, 10), 0, "aborted everywhere");
}

/* A ROLLBACK without the 3PC tag, as an operator's abort sends it
 * (coordinator/heuristic.c): the ERROR's text, or "" for an ACK. */
static void
untagged_rollback(int port, const char *gid, char *out, size_t len)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_socket s;
	nng_msg *msg;
	char url[64], err[200];

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
	wire_buf_init(&b, WIRE_BR_ROLLBACK);
	wire_put_str(&b, WIRE_T_GID, gid);
	cr_assert_eq(net_msg_from_buf(&b, &msg), 0);
	wire_buf_free(&b);
	cr_assert_eq(nng_sendmsg(s, msg, 0), 0);
	cr_assert_eq(nng_recvmsg(s, &msg, 0), 0, "no answer");
	cr_assert_eq(net_decode(msg, &m, err, sizeof(err)), 0, "%s", err);
	snprintf(out, len, "%s", m.type == WIRE_ERROR ? m.text : "");
	wire_msg_free(&m);
	nng_msg_free(msg);
	nng_close(s);
}

/*
 * bank1 decided COMMIT in its 3PC log and crashed before COMMIT PREPARED;
 * the coordinator is down, and so is bank1's database (its restart cannot
 * finish the branch yet). A ROLLBACK without the 3PC tag (an operator's
 * abort of a gid whose coordinator lost its log) must be refused by bank1's
 * log: bank2 and bank3 committed.
 */
Test(threepc, a_decided_branch_refuses_an_untagged_rollback)
{
	char *crash[] = {"XACT_FAILPOINTS=participant.before_commit=crash",
	                 NULL};
	struct hcluster_opts o = {0};
	struct transfer t;
	char out[512];
	int status;

	o.part_env[0] = crash;
	start_with(&o);
	transfer_start(&t, 1, 10);
	hc_assert(&C, hproc_wait(&C.part[0], 20000, &status) == 0,
	          "bank1 did not crash");
	pthread_join(t.thread, NULL);
	cr_assert_eq(hproc_kill(&C.coord, SIGKILL), 0);
	cr_assert_eq(hproc_wait(&C.coord, 10000, &status), 0);
	cr_assert_eq(hpg_kill(&C.pg[0]), 0);
	C.opts.part_env[0] = NULL;
	cr_assert_eq(hcluster_restart_part(&C, 0), 0);
	wait_log(&C.part[0], "3PC branch open at start", 10000);

	untagged_rollback(C.part_port[0], t.gid, out, sizeof(out));
	cr_assert(strstr(out, "refused by its 3PC log") != NULL,
	          "the ROLLBACK was taken: \"%s\"", out);

	cr_assert_eq(hpg_restart(&C.pg[0]), 0);
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000), "still prepared");
	cr_assert_eq(moved(1, 10), 1, "committed everywhere");
}
