/*
 * GET /metrics and /healthz on both daemons (lib/metrics.h): what
 * Prometheus scrapes moves with the work done.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "xact.h"

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(metrics, .fini = finish, .timeout = 60);

static char body[65536];

static int64_t
coord_metric(const char *name)
{
	cr_assert_eq(
	    hhttp_get(C.coord_metrics_port, "/metrics", body, sizeof(body)),
	    200, "GET /metrics");
	return hmetric(body, name);
}

Test(metrics, coordinator_and_participants_serve_metrics_and_health)
{
	const char *debit = "UPDATE accounts SET balance = balance - 5 "
	                    "WHERE id = 1";
	/* b points at debit: the second transfer changes it. */
	const char *credit = "UPDATE accounts SET balance = balance + 5 "
	                     "WHERE id = 1";
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	char gid[XACT_GID_MAX];
	int64_t syncs;
	xact_conn *c;
	xact_outcome o;

	cr_assert_eq(hcluster_start(
	                 &C, &(struct hcluster_opts){.n = 2,
	                                             .accounts = 4,
	                                             .balance = 100,
	                                             .request_timeout_ms = 2000,
	                                             .metrics = true}),
	             0, "cluster did not start");
	cr_assert_eq(coord_metric("xact_transactions_committed_total"), 0, "%s",
	             body);
	cr_assert(strstr(body, "# TYPE xact_transactions_committed_total "
	                       "counter\n") != NULL,
	          "%s", body);
	cr_assert(strstr(body, "# TYPE xact_transactions_in_flight gauge\n") !=
	              NULL,
	          "%s", body);
	syncs = hmetric(body, "xact_decision_log_fsyncs_total");
	cr_assert_geq(syncs, 0, "%s", body);

	cr_assert_eq(xact_connect(hcluster_url(&C), 20000, &c), 0);
	cr_assert_eq(xact_submit(c, b, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
	xact_disconnect(c);
	cr_assert_eq(coord_metric("xact_transactions_committed_total"), 1, "%s",
	             body);
	cr_assert_gt(hmetric(body, "xact_decision_log_fsyncs_total"), syncs,
	             "a two-participant commit is logged: %s", body);
	cr_assert_eq(hmetric(body, "xact_commit_seconds_count"), 1, "%s", body);
	cr_assert_eq(hmetric(body, "xact_phase1_seconds_count"), 1, "%s", body);
	cr_assert_eq(hmetric(body, "xact_phase2_seconds_count"), 1, "%s", body);
	cr_assert_eq(hmetric(body, "xact_commit_seconds_bucket{le=\"+Inf\"}"),
	             1, "%s", body);
	cr_assert_eq(
	    hmetric(body, "xact_participant_up{participant=\"bank2\"}"), 1,
	    "%s", body);

	/* An overdraft: bank1 votes NO. */
	debit = "UPDATE accounts SET balance = balance - 1000 WHERE id = 2";
	cr_assert_eq(xact_connect(hcluster_url(&C), 20000, &c), 0);
	cr_assert_eq(xact_submit(c, b, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "%s", xact_errmsg(c));
	xact_disconnect(c);
	cr_assert_eq(coord_metric("xact_aborts_total{reason=\"voted_no\"}"), 1,
	             "%s", body);
	cr_assert_eq(hmetric(body, "xact_aborts_total{reason=\"client\"}"), 0,
	             "%s", body);

	cr_assert_eq(
	    hhttp_get(C.coord_metrics_port, "/healthz", body, sizeof(body)),
	    200);
	cr_assert_str_eq(body, "ok\n");
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(hhttp_get(C.part_metrics_port[i], "/metrics", body,
		                       sizeof(body)),
		             200);
		cr_assert_eq(
		    hmetric(body, "xact_participant_bad_requests_total"), 0,
		    "%s", body);
		cr_assert_gt(hmetric(body, "xact_participant_pool_size"), 0,
		             "%s", body);
		cr_assert_eq(hhttp_get(C.part_metrics_port[i], "/healthz", body,
		                       sizeof(body)),
		             200);
	}
	cr_assert_eq(
	    hhttp_get(C.coord_metrics_port, "/nothing", body, sizeof(body)),
	    404);

	/* bank2 gone: a statement sent there marks it down. */
	{
		int status;
		xact_tx *tx;
		xact_result *r = NULL;

		cr_assert_eq(hproc_kill(&C.part[1], SIGKILL), 0);
		cr_assert_eq(hproc_wait(&C.part[1], 10000, &status), 0);
		cr_assert_eq(xact_connect(hcluster_url(&C), 20000, &c), 0);
		cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
		cr_assert_neq(xact_exec(tx, "bank2", "SELECT 1", &r), 0);
		xact_result_free(r);
		xact_tx_free(tx);
		xact_disconnect(c);
	}
	cr_assert_eq(coord_metric("xact_participant_up{participant=\"bank2\"}"),
	             0, "%s", body);
	cr_assert_gt(hmetric(body, "xact_participant_failed_requests_total{"
	                           "participant=\"bank2\"}"),
	             0, "%s", body);
	cr_assert_eq(
	    hmetric(body, "xact_participant_up{participant=\"bank1\"}"), 1,
	    "%s", body);
}

static int part_port;

static int64_t
part_metric(const char *name)
{
	if (hhttp_get(part_port, "/metrics", body, sizeof(body)) != 200)
		return -1;
	return hmetric(body, name);
}

static bool
one_prepared_seen(void *arg)
{
	(void)arg;
	return part_metric("xact_participant_prepared_branches") == 1 &&
	       hmetric(body, "xact_participant_oldest_prepared_milliseconds") >
	           0;
}

static bool
unhealthy(void *arg)
{
	(void)arg;
	return hhttp_get(part_port, "/healthz", body, sizeof(body)) == 503;
}

/*
 * A participant reports the branches prepared in its database and the age
 * of the oldest (as of its last sweep), and is unhealthy once its database
 * cannot be read.
 */
Test(metrics, participant_reports_prepared_branches_and_its_database)
{
	cr_assert_eq(hcluster_start(
	                 &C, &(struct hcluster_opts){.n = 1,
	                                             .accounts = 2,
	                                             .balance = 100,
	                                             .sweep_interval_ms = 200,
	                                             .sweep_safety_ms = 600000,
	                                             .metrics = true}),
	             0, "cluster did not start");
	part_port = C.part_metrics_port[0];
	/* In doubt, and too young for the sweeper to roll back. */
	cr_assert_eq(hpg_exec(&C.pg[0], "BEGIN; UPDATE accounts SET balance = "
	                                "balance + 1 WHERE id = 2; PREPARE "
	                                "TRANSACTION 'xact_c1_1_77'"),
	             0);
	cr_assert(hwait_until(one_prepared_seen, NULL, 10000), "%s", body);
	cr_assert_eq(hhttp_get(part_port, "/healthz", body, sizeof(body)), 200,
	             "%s", body);
	cr_assert_eq(hpg_exec(&C.pg[0], "ROLLBACK PREPARED 'xact_c1_1_77'"), 0);
	hpg_stop(&C.pg[0]);
	cr_assert(hwait_until(unhealthy, NULL, 10000),
	          "still healthy without its database");
	cr_assert(strstr(body, "database") != NULL, "%s", body);
	cr_assert_gt(part_metric("xact_participant_sweep_failures_total"), 0,
	             "%s", body);
	cr_assert_eq(hpg_start(&C.pg[0]), 0);
}

static bool
one_idle_rollback(void *arg)
{
	(void)arg;
	return part_metric("xact_participant_open_rollbacks_total{reason="
	                   "\"idle\"}") == 1;
}

/*
 * An open branch that hears nothing for timeouts.idle is rolled back by
 * the participant, and counted; its transaction can then only abort.
 */
Test(metrics, participant_counts_the_open_branches_it_rolls_back)
{
	const char *sql = "UPDATE accounts SET balance = balance + 1 WHERE "
	                  "id = 1";
	xact_conn *c;
	xact_tx *tx;
	xact_result *r;
	xact_outcome o;

	cr_assert_eq(
	    hcluster_start(&C,
	                   &(struct hcluster_opts){.n = 1,
	                                           .accounts = 2,
	                                           .balance = 100,
	                                           .part_idle_timeout_ms = 500,
	                                           .sweep_interval_ms = 100,
	                                           .metrics = true}),
	    0, "cluster did not start");
	part_port = C.part_metrics_port[0];
	cr_assert_eq(part_metric("xact_participant_open_rollbacks_total{reason="
	                         "\"idle\"}"),
	             0, "%s", body);
	cr_assert_eq(xact_connect(hcluster_url(&C), 10000, &c), 0);
	cr_assert_eq(xact_begin(c, &tx), 0, "%s", xact_errmsg(c));
	cr_assert_eq(xact_exec(tx, "bank1", sql, &r), 0, "%s", xact_errmsg(c));
	xact_result_free(r);
	cr_assert(hwait_until(one_idle_rollback, NULL, 10000), "%s", body);
	cr_assert_eq(hmetric(body, "xact_participant_open_rollbacks_total{"
	                           "reason=\"coordinator_restarted\"}"),
	             0, "%s", body);
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_ABORTED, "its branch was rolled back");
	xact_tx_free(tx);
	xact_disconnect(c);
}
