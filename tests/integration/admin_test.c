/*
 * What an operator sees: xact_list() and `xactctl list` show a transaction
 * that is stuck in phase 2 at the coordinator and its branch still
 * prepared at the participant that has not committed it yet.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "xact.h"

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(admin, .fini = finish, .timeout = 60);

struct transfer {
	pthread_t thread;
	int rc;
	xact_outcome o;
};

static void *
transfer_main(void *arg)
{
	struct transfer *t = arg;
	const char *debit = "UPDATE accounts SET balance = balance - 1 "
	                    "WHERE id = 1";
	const char *credit = "UPDATE accounts SET balance = balance + 1 "
	                     "WHERE id = 1";
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	char gid[XACT_GID_MAX];
	xact_conn *c;

	t->rc = xact_connect(hcluster_url(&C), 20000, &c);
	if (t->rc == 0)
		t->rc = xact_submit(c, b, 2, gid, &t->o);
	xact_disconnect(c);
	return NULL;
}

struct listing {
	xact_conn *c;
	char gid[XACT_GID_MAX];
};

/* The coordinator lists one transaction in phase 2: its gid. */
static bool
committing(void *arg)
{
	struct listing *l = arg;
	xact_result *r;
	bool found = false;

	if (xact_list(l->c, &r) != 0)
		return false;
	for (size_t i = 0; i < xact_result_nrows(r); i++)
		if (strcmp(xact_result_value(r, i, 1), "committing") == 0) {
			snprintf(l->gid, sizeof(l->gid), "%s",
			         xact_result_value(r, i, 0));
			cr_assert_str_eq(xact_result_value(r, i, 3),
			                 "bank1=yes bank2=yes");
			found = true;
		}
	xact_result_free(r);
	return found;
}

/*
 * A two-participant transfer in the background whose COMMIT bank2 holds
 * for commit_delay: returns once the coordinator lists it in phase 2, its
 * gid in l->gid (l->c stays connected).
 */
static void
start_in_phase_two(const char *commit_delay, bool metrics, struct transfer *t,
                   struct listing *l)
{
	static char failpoint[128];
	char *const slow_commit[] = {failpoint, NULL};

	snprintf(failpoint, sizeof(failpoint),
	         "XACT_FAILPOINTS=participant.recv_commit=delay(%s)",
	         commit_delay);
	cr_assert_eq(
	    hcluster_start(
	        &C, &(struct hcluster_opts){.n = 2,
	                                    .accounts = 2,
	                                    .balance = 100,
	                                    .commit_wait_ms = 10000,
	                                    .metrics = metrics,
	                                    .part_env = {NULL, slow_commit}}),
	    0, "cluster did not start");
	cr_assert_eq(xact_connect(hcluster_url(&C), 20000, &l->c), 0);
	cr_assert_eq(pthread_create(&t->thread, NULL, transfer_main, t), 0);
	cr_assert(hwait_until(committing, l, 20000), "never in phase 2");
}

Test(admin, list_shows_a_transaction_stuck_in_phase_two)
{
	struct transfer t = {0};
	struct listing l = {0};
	char out[8192], want[256], url[64];
	xact_result *r;
	xact_conn *p2;
	int status;

	start_in_phase_two("4000", false, &t, &l);

	/* bank2 has not had its COMMIT yet: still prepared there. */
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", C.part_port[1]);
	cr_assert_eq(xact_connect(url, 20000, &p2), 0);
	cr_assert_eq(xact_list(p2, &r), 0, "%s", xact_errmsg(p2));
	cr_assert_eq(xact_result_nrows(r), 1);
	cr_assert_str_eq(xact_result_value(r, 0, 0), l.gid);
	xact_result_free(r);
	xact_disconnect(p2);

	status = hxactctl(&C, out, sizeof(out), "list");
	cr_assert_eq(status, 0, "xactctl list: %d\n%s", status, out);
	cr_assert(strstr(out, "coordinator ") != NULL, "%s", out);
	snprintf(want, sizeof(want), "%s", l.gid);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	cr_assert(strstr(out, "committing") != NULL, "%s", out);
	cr_assert(strstr(out, "participant bank2 ") != NULL &&
	              strstr(out, "1 prepared") != NULL,
	          "%s", out);
	status = hxactctl(&C, out, sizeof(out), "list --json");
	cr_assert_eq(status, 0, "xactctl list --json: %d\n%s", status, out);
	snprintf(want, sizeof(want),
	         "{\"gid\": \"%s\", \"state\": "
	         "\"committing\"",
	         l.gid);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	cr_assert(strstr(out, "\"name\": \"bank2\"") != NULL, "%s", out);

	/* -u at a participant lists what it holds prepared. */
	snprintf(want, sizeof(want), "%s/xactctl -u %s list", XACT_BIN_DIR,
	         url);
	{
		FILE *f = popen(want, "r");
		size_t got;

		cr_assert_not_null(f);
		got = fread(out, 1, sizeof(out) - 1, f);
		out[got] = '\0';
		cr_assert_eq(pclose(f), 0, "%s", out);
	}
	cr_assert(strstr(out, ": 1 prepared\n") != NULL &&
	              strstr(out, l.gid) != NULL,
	          "%s", out);

	status = hxactctl(&C, out, sizeof(out), "show %s", l.gid);
	cr_assert_eq(status, 0, "xactctl show: %d\n%s", status, out);
	cr_assert(strstr(out, "outcome       committed\n") != NULL, "%s", out);
	cr_assert(strstr(out, "state         committing\n") != NULL, "%s", out);
	cr_assert(strstr(out, "votes         bank1=yes bank2=yes\n") != NULL,
	          "%s", out);
	cr_assert(strstr(out, "bank1         not prepared\n") != NULL, "%s",
	          out);
	cr_assert(strstr(out, "bank2         prepared for ") != NULL, "%s",
	          out);

	pthread_join(t.thread, NULL);
	cr_assert(t.rc == 0 && t.o == XACT_COMMITTED, "rc %d outcome %d", t.rc,
	          t.o);
	xact_disconnect(l.c);
}

/* A participant that does not answer makes `xactctl list` say so. */
Test(admin, list_says_which_participant_does_not_answer)
{
	char out[8192];
	int status;

	cr_assert_eq(hcluster_start(&C, &(struct hcluster_opts){.n = 2}), 0);
	cr_assert_eq(hproc_kill(&C.part[1], SIGKILL), 0);
	cr_assert_eq(hproc_wait(&C.part[1], 10000, &status), 0);
	status = hxactctl(&C, out, sizeof(out), "list");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "exit %d\n%s",
	          status, out);
	cr_assert(strstr(out, "participant bank2 ") != NULL &&
	              strstr(out, "no answer") != NULL,
	          "%s", out);
	cr_assert(strstr(out, "participant bank1 ") != NULL &&
	              strstr(out, "0 prepared") != NULL,
	          "%s", out);
}

/*
 * SIGTERM while a client waits for phase 2: the coordinator takes no new
 * work but lets the commit finish and answer before it exits, so nothing
 * is left prepared.
 */
Test(admin, sigterm_lets_the_commit_in_progress_finish)
{
	const char *sql = "UPDATE accounts SET balance = balance + 1 WHERE "
	                  "id = 2";
	struct xact_branch one = {"bank1", &sql, 1};
	struct transfer t = {0};
	struct listing l = {0};
	char gid[XACT_GID_MAX], body[256];
	xact_conn *c;
	xact_outcome o;
	int status;

	start_in_phase_two("2000", true, &t, &l);
	xact_disconnect(l.c);
	cr_assert_eq(
	    hhttp_get(C.coord_metrics_port, "/healthz", body, sizeof(body)),
	    200, "%s", body);

	cr_assert_eq(hproc_kill(&C.coord, SIGTERM), 0);
	cr_assert(hwait_log(C.coord.log, "draining", 5000), "no drain");
	/* A load balancer sees it going while it drains. */
	cr_assert_eq(
	    hhttp_get(C.coord_metrics_port, "/healthz", body, sizeof(body)),
	    503, "%s", body);
	cr_assert_eq(xact_connect(hcluster_url(&C), 5000, &c), 0);
	cr_assert_neq(xact_submit(c, &one, 1, gid, &o), 0, "new work taken");
	cr_assert(strstr(xact_errmsg(c), "stopping") != NULL, "%s",
	          xact_errmsg(c));
	xact_disconnect(c);

	pthread_join(t.thread, NULL);
	cr_assert(t.rc == 0 && t.o == XACT_COMMITTED,
	          "the waiting client got rc %d outcome %d", t.rc, t.o);
	cr_assert_eq(hproc_wait(&C.coord, 20000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
	          status);
	cr_assert_eq(hpg_prepared_count(&C.pg[1]), 0, "phase 2 finished");
}

/*
 * SIGTERM while the participant's sweeper waits for a coordinator that
 * took its inquiry and will never answer (the test's own socket, so the
 * test knows the sweeper is waiting): the participant stops at once, not
 * after the inquiry's timeout (30 s here).
 */
Test(admin, sigterm_does_not_wait_for_an_inquiry_in_flight)
{
	const char *gid = "xact_c1_1_1";
	char sql[128];
	nng_socket rep;
	nng_msg *inquiry;
	int status;

	cr_assert_eq(
	    hcluster_start(&C,
	                   &(struct hcluster_opts){.n = 1,
	                                           .sweep_interval_ms = 100,
	                                           .sweep_inquiry_ms = 30000}),
	    0);
	cr_assert_eq(hproc_stop(&C.coord), 0);
	cr_assert_eq(nng_rep0_open(&rep), 0);
	cr_assert_eq(nng_listen(rep, hcluster_url(&C), NULL, 0), 0);
	cr_assert_eq(nng_socket_set_ms(rep, NNG_OPT_RECVTIMEO, 20000), 0);
	snprintf(sql, sizeof(sql), "BEGIN; PREPARE TRANSACTION '%s'", gid);
	cr_assert_eq(hpg_exec(&C.pg[0], sql), 0);
	cr_assert_eq(nng_recvmsg(rep, &inquiry, 0), 0, "no inquiry");
	nng_msg_free(inquiry);

	cr_assert_eq(hproc_kill(&C.part[0], SIGTERM), 0);
	cr_assert_eq(hproc_wait(&C.part[0], 10000, &status), 0,
	             "still waiting for its inquiry");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
	          status);
	nng_close(rep);
	snprintf(sql, sizeof(sql), "ROLLBACK PREPARED '%s'", gid);
	cr_assert_eq(hpg_exec(&C.pg[0], sql), 0);
}
