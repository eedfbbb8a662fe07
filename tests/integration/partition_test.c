/*
 * Network partitions between the coordinator and one participant: bank2
 * and its database run in a network namespace of their own (hnet), and
 * the link is cut silently both ways while a transaction is in phase 1 or
 * phase 2. Needs root (ip netns); the suite fails, not skips, without it.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "xact.h"

#define ACCOUNTS 4
#define BALANCE  1000
#define ISOLATED 1 /* bank2, 0-based */
/*
 * The cut outlasts every timeout of the cluster below: the vote timeout,
 * the participant's idle timeout, several sweeps past the safety window.
 */
#define CUT_MS 4500

static struct hcluster C;

static void
start(char *const *coord_env, char *const *isolated_env)
{
	char why[128];
	struct hcluster_opts o = {
	    .n = 2,
	    .isolate = ISOLATED + 1,
	    .vote_timeout_ms = 1000,
	    .commit_wait_ms = 1000,
	    .retry_max_ms = 500,
	    .part_idle_timeout_ms = 3000,
	    .sweep_interval_ms = 300,
	    .sweep_safety_ms = 1000,
	    .coord_env = coord_env,
	    .accounts = ACCOUNTS,
	    .balance = BALANCE,
	};

	o.part_env[ISOLATED] = isolated_env;
	cr_assert(hnet_supported(why, sizeof why), "%s", why);
	cr_assert_eq(hcluster_start(&C, &o), 0, "cluster did not start");
}

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(partition, .fini = finish, .timeout = 120);

/* A transfer from bank1 to bank2, run on a thread while the test cuts. */
struct transfer {
	pthread_t thread;
	long amount;
	int id;
	int rc;
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
	const struct xact_branch b[] = {{"bank1", d, 1}, {"bank2", k, 1}};
	xact_conn *c;

	snprintf(debit, sizeof debit,
	         "UPDATE accounts SET balance = balance - %ld WHERE id = %d",
	         t->amount, t->id);
	snprintf(credit, sizeof credit,
	         "UPDATE accounts SET balance = balance + %ld WHERE id = %d",
	         t->amount, t->id);
	t->rc = xact_connect(hcluster_url(&C), 10000, &c);
	if (t->rc == 0)
		t->rc = xact_submit(c, b, 2, t->gid, &t->outcome);
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
	cr_assert_eq(pthread_create(&t->thread, NULL, transfer_main, t), 0);
}

static void
wait_log(struct hproc *p, const char *needle)
{
	hc_assert(&C, hwait_log(p->log, needle, 20000),
	          "%s never logged \"%s\"", p->name, needle);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A transaction over both participants commits (retried while healing). */
static bool
commits(void)
{
	struct transfer t;
	uint64_t deadline = clock_now_ms() + 30000;

	do {
		transfer_start(&t, 4, 0);
		pthread_join(t.thread, NULL);
		if (t.rc == 0 && t.outcome == XACT_COMMITTED)
			return true;
		sleep_ms(200);
	} while (clock_now_ms() < deadline);
	fprintf(stderr, "last attempt: rc %d, %s\n", t.rc, t.err);
	return false;
}

static bool
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The harness puts bank2 and its database where only the veth reaches. */
Test(partition, the_isolated_participant_has_its_own_network)
{
	char ours[64], theirs[64], path[PATH_MAX];
	char name[sizeof C.net.name];

	start(NULL, NULL);
	snprintf(ours, sizeof ours, "/proc/%d/ns/net", (int)getpid());
	snprintf(theirs, sizeof theirs, "/proc/%d/ns/net", (int)C.part[1].pid);
	cr_assert(!same_file(ours, theirs), "bank2 runs in our namespace");
	snprintf(theirs, sizeof theirs, "/proc/%d/ns/net", (int)C.part[0].pid);
	cr_assert(same_file(ours, theirs), "bank1 runs in our namespace");
	cr_assert_str_eq(hpg_host(&C.pg[ISOLATED]), C.net.ns_addr);
	cr_assert(commits(), "a transaction over both commits");
	snprintf(name, sizeof name, "%s", C.net.name);
	hcluster_stop(&C);
	snprintf(path, sizeof path, "/run/netns/%s", name);
	cr_assert(access(path, F_OK) != 0, "%s removed with the cluster", path);
}

/*
 * Phase 1: bank2 has prepared and holds its YES vote back when the link is
 * cut, so the vote is lost. The coordinator aborts at the vote timeout;
 * bank2's branch stays in doubt through the cut (its sweeper cannot reach
 * the coordinator and must not guess), and rolls back once healed.
 */
Test(partition, cut_after_prepare_aborts_everywhere)
{
	char *env[] = {
	    "XACT_FAILPOINTS=participant.after_prepare=1*delay(1000)", NULL};
	struct transfer t;

	start(NULL, env);
	transfer_start(&t, 1, 100);
	wait_log(&C.part[ISOLATED], "failpoint participant.after_prepare:");
	cr_assert_eq(hcluster_cut(&C), 0);
	pthread_join(t.thread, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert_eq(t.outcome, XACT_ABORTED, "the lost vote aborts");
	sleep_ms(CUT_MS); /* the cut goes on: sweeps find bank2 in doubt */
	cr_assert_eq(hpg_prepared_socket(&C.pg[ISOLATED]), 1,
	             "bank2 waits, in doubt");
	cr_assert_eq(hpg_prepared_socket(&C.pg[0]), 0, "bank1 rolled back");
	cr_assert_eq(hcluster_heal(&C), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "bank2's branch resolved after healing");
	cr_assert_eq(hbank_balance_socket(&C.pg[0], 1), BALANCE);
	cr_assert_eq(hbank_balance_socket(&C.pg[ISOLATED], 1), BALANCE);
	cr_assert(commits(), "the healed cluster commits");
}

/*
 * Phase 2: the COMMIT record is durable when the link is cut, before any
 * COMMIT leaves. The client learns COMMITTED (commit_wait); bank2 keeps
 * its prepared branch through the cut, whatever its sweeper sees, and
 * commits once the resent COMMIT gets through.
 */
Test(partition, cut_after_commit_record_commits_after_healing)
{
	char *env[] = {
	    "XACT_FAILPOINTS=coord.after_commit_logged=1*delay(1000)", NULL};
	struct transfer t;

	start(env, NULL);
	transfer_start(&t, 2, 100);
	wait_log(&C.coord, "failpoint coord.after_commit_logged:");
	cr_assert_eq(hcluster_cut(&C), 0);
	pthread_join(t.thread, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert_eq(t.outcome, XACT_COMMITTED, "the decision was logged");
	cr_assert_eq(hbank_balance_socket(&C.pg[0], 2), BALANCE - 100,
	             "bank1 committed");
	sleep_ms(CUT_MS);
	cr_assert_eq(hpg_prepared_socket(&C.pg[ISOLATED]), 1,
	             "bank2 still in doubt");
	cr_assert_eq(hbank_balance_socket(&C.pg[ISOLATED], 2), BALANCE,
	             "not yet committed");
	cr_assert_eq(hcluster_heal(&C), 0);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000),
	          "the resent COMMIT reached bank2 after healing");
	cr_assert_eq(hbank_balance_socket(&C.pg[ISOLATED], 2), BALANCE + 100);
	cr_assert(commits(), "the healed cluster commits");
}
