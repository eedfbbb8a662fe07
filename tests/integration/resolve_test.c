/*
 * An operator's decision, `xactctl resolve GID --commit|--abort`: it never
 * contradicts the decision log, and it is what finishes the branches of a
 * coordinator whose log was lost (which the coordinator must not presume
 * aborted: they may have committed).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "failpoint.h"
#include "gid.h"
#include "harness.h"
#include "xact.h"

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(resolve, .fini = finish, .timeout = 90);

static const char *debit = "UPDATE accounts SET balance = balance - 10 "
                           "WHERE id = 1";
static const char *credit = "UPDATE accounts SET balance = balance + 10 "
                            "WHERE id = 1";

static int
exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * bank1 and bank2, 2 accounts of 100 each; a client. sweep_ms: the
 * sweepers' interval, and their safety window twice that (0: defaults).
 */
static xact_conn *
start_two_banks(char *const *coord_env, unsigned sweep_ms)
{
	xact_conn *c;

	cr_assert_eq(hcluster_start(&C,
	                            &(struct hcluster_opts){
	                                .n = 2,
	                                .accounts = 2,
	                                .balance = 100,
	                                .sweep_interval_ms = sweep_ms,
	                                .sweep_safety_ms = 2 * sweep_ms,
	                                .coord_env = coord_env,
	                            }),
	             0, "cluster did not start");
	cr_assert_eq(xact_connect(hcluster_url(&C), 5000, &c), 0);
	return c;
}

/*
 * `xactctl resolve GID DECISION --reason test` exits with want (1: a
 * refusal) and says says.
 */
static void
resolve_expect(const char *gid, const char *decision, int want,
               const char *says)
{
	char out[4096];
	int status = hxactctl(&C, out, sizeof(out),
	                      "resolve %s %s --reason test", gid, decision);

	cr_assert_eq(exit_code(status), want, "resolve %s %s: %s", gid,
	             decision, out);
	cr_assert(strstr(out, says) != NULL, "resolve %s %s: %s", gid, decision,
	          out);
	cr_assert(want != 1 || strstr(out, "refused") != NULL,
	          "exit 1 is a refusal: %s", out);
}

/* The coordinator no longer lists the gid arg (decided, reaped). */
static bool
not_listed(void *arg)
{
	xact_result *r;
	xact_conn *c;
	bool seen = false;

	if (xact_connect(hcluster_url(&C), 5000, &c) != 0 ||
	    xact_list(c, &r) != 0) {
		xact_disconnect(c);
		return false;
	}
	for (size_t i = 0; i < xact_result_nrows(r); i++)
		seen = seen || strcmp(xact_result_value(r, i, 0), arg) == 0;
	xact_result_free(r);
	xact_disconnect(c);
	return !seen;
}

static bool
both_prepared(void *arg)
{
	(void)arg;
	return hpg_prepared_count(&C.pg[0]) == 1 &&
	       hpg_prepared_count(&C.pg[1]) == 1;
}

/*
 * The coordinator crashes right after its COMMIT record is durable and
 * its log is lost with its disk. The restarted coordinator (a new log)
 * must not answer the participants' inquiries with presumed abort: bank1
 * and bank2 keep the transfer prepared until an operator commits it.
 */
Test(resolve, a_lost_log_leaves_the_decision_to_the_operator)
{
	static char *const crash[] = {
	    "XACT_FAILPOINTS=coord.after_commit_logged=crash", NULL};
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	char gid[XACT_GID_MAX], out[4096], rm[HPATH_MAX + 16];
	xact_outcome o;
	xact_conn *c;
	int status;

	c = start_two_banks(crash, 100);
	cr_assert_neq(xact_submit(c, b, 2, gid, &o), 0, "no crash");
	xact_disconnect(c);
	cr_assert_eq(hproc_wait(&C.coord, 10000, &status), 0);
	cr_assert_eq(exit_code(status), FP_CRASH_EXIT);
	cr_assert(hwait_until(both_prepared, NULL, 10000), "not prepared");

	snprintf(rm, sizeof(rm), "rm -rf %s/coord-log", C.dir);
	cr_assert_eq(system(rm), 0);
	C.opts.coord_env = NULL;
	cr_assert_eq(hcluster_restart_coord(&C), 0);

	/* Each sweeper asked and was told the log cannot know. */
	for (int i = 0; i < 2; i++)
		hc_assert(&C,
		          hwait_log(C.part[i].log,
		                    "not issued by this coordinator's "
		                    "decision log",
		                    10000),
		          "bank%d was not told", i + 1);
	cr_assert(both_prepared(NULL), "a branch was presumed aborted");
	status = hxactctl(&C, out, sizeof(out), "status %s", gid);
	cr_assert_eq(exit_code(status), 2, "%s", out);
	cr_assert(strstr(out, "xactctl resolve") != NULL, "%s", out);

	/* The operator sees the transfer at bank1 and decides commit. */
	status = hxactctl(&C, out, sizeof(out),
	                  "resolve %s --commit --reason 'bank1 log shows it' "
	                  "--as ops@test",
	                  gid);
	cr_assert_eq(exit_code(status), 0, "%s", out);
	cr_assert(strstr(out, "committed: heuristic commit by ops@test") !=
	              NULL,
	          "%s", out);
	hc_assert(&C, hcluster_wait_no_prepared(&C, 10000), "still prepared");
	cr_assert_eq(hbank_total(&C.pg[0]), 190);
	cr_assert_eq(hbank_total(&C.pg[1]), 210);

	/* Recorded: it survives a restart and is never contradicted. */
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	status = hxactctl(&C, out, sizeof(out), "status %s", gid);
	cr_assert_eq(exit_code(status), 0, "%s", out);
	status = hxactctl(&C, out, sizeof(out),
	                  "resolve %s --abort --reason 'second thoughts'", gid);
	cr_assert_eq(exit_code(status), 1, "%s", out);
	cr_assert(strstr(out, "refused: the decision log holds its COMMIT") !=
	              NULL,
	          "%s", out);
	cr_assert(hlog_contains(C.coord.log, "heuristic COMMIT by ops@test: "
	                                     "bank1 log shows it"),
	          "no log line");
}

/*
 * Where the log decided, the operator can only agree: a committed
 * transfer cannot be aborted, a gid without a COMMIT record cannot be
 * committed, and an open transaction is left to the coordinator.
 */
Test(resolve, the_log_is_never_contradicted)
{
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	char gid[XACT_GID_MAX], stray[GID_MAX], out[4096], sql[256];
	xact_result *r;
	xact_outcome o;
	xact_conn *c;
	xact_tx *tx;
	int status;

	/* Default sweeps: slow enough to leave the stray branch to us. */
	c = start_two_banks(NULL, 0);
	cr_assert_eq(xact_submit(c, b, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);

	resolve_expect(gid, "--abort", 1, "it is committed");
	resolve_expect(gid, "--commit", 0, "committed");

	/* A gid not issued yet: its transaction could still begin. */
	gid_format(stray, "c1", (uint64_t)hstat(c, "incarnation"), 999999);
	resolve_expect(stray, "--abort", 2, "not issued yet");

	/* One committed in one phase: no record, and yet committed. */
	cr_assert_eq(xact_submit(c, &b[1], 1, gid, &o), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	cr_assert(hwait_until(not_listed, gid, 10000), "still in the table");
	resolve_expect(gid, "--abort", 1, "committed in one phase");

	/* Issued, rolled back and gone from the table: presumed abort. A
	 * branch prepared under it (a lost ROLLBACK) goes at once. */
	cr_assert_eq(xact_begin(c, &tx), 0);
	snprintf(stray, sizeof(stray), "%s", xact_tx_gid(tx));
	cr_assert_eq(xact_rollback(tx), 0);
	xact_tx_free(tx);
	cr_assert(hwait_until(not_listed, stray, 10000), "still in the table");
	snprintf(sql, sizeof(sql),
	         "BEGIN; UPDATE accounts SET balance = 0 WHERE id = 2; "
	         "PREPARE TRANSACTION '%s'",
	         stray);
	cr_assert_eq(hpg_exec(&C.pg[0], sql), 0);
	resolve_expect(stray, "--commit", 1,
	               "no COMMIT for it (presumed abort)");
	cr_assert_eq(hpg_prepared_count(&C.pg[0]), 1, "touched on a refusal");
	resolve_expect(stray, "--abort", 0,
	               "aborted: the decision log holds no COMMIT");
	hc_assert(&C, hcluster_wait_no_prepared(&C, 5000), "not rolled back");
	cr_assert_eq(hbank_total(&C.pg[0]), 190, "the stray branch committed");

	/* Open at the coordinator: it decides, not the operator. */
	cr_assert_eq(xact_begin(c, &tx), 0);
	cr_assert_eq(xact_exec(tx, "bank1", debit, &r), 0, "%s",
	             xact_errmsg(c));
	xact_result_free(r);
	resolve_expect(xact_tx_gid(tx), "--abort", 1,
	               "the coordinator is deciding it (active)");
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "the refused resolve changed it");
	xact_tx_free(tx);

	/* Bad input: a clear error, exit 2. */
	status = hxactctl(&C, out, sizeof(out), "resolve %s --commit", gid);
	cr_assert_eq(exit_code(status), 2, "%s", out);
	cr_assert(strstr(out, "--reason") != NULL, "%s", out);
	resolve_expect("xact_c9_1_1", "--abort", 2,
	               "not a gid of coordinator c1");
	xact_disconnect(c);
}
