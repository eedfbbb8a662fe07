/*
 * The coordinator's limits (limits.* in the config): a request past one is
 * refused with a clear error naming the setting, nothing of it runs, and
 * the client can go on within the limits.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xact.h"

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(limits, .fini = finish, .timeout = 120);

static const char *debit = "UPDATE accounts SET balance = balance - 1 "
                           "WHERE id = 1";

static xact_conn *
start(const char *limits)
{
	xact_conn *c;

	cr_assert_eq(hcluster_start(&C,
	                            &(struct hcluster_opts){
	                                .n = 3,
	                                .accounts = 2,
	                                .balance = 100,
	                                .coord_yaml = limits,
	                            }),
	             0, "cluster did not start");
	cr_assert_eq(xact_connect(hcluster_url(&C), 10000, &c), 0);
	return c;
}

static void
assert_limit(xact_conn *c, const char *setting)
{
	cr_assert_eq(xact_errcode(c), XACT_E_LIMIT, "%s", xact_errmsg(c));
	cr_assert(strstr(xact_errmsg(c), setting) != NULL, "%s",
	          xact_errmsg(c));
}

/* One connection cannot hold more undecided transactions than allowed;
 * another one is not held back, and deciding frees the room. */
Test(limits, open_transactions_per_client)
{
	xact_conn *c = start("limits:\n  open_per_client: 16"), *other;
	xact_tx *tx[17];
	xact_outcome o;

	for (int i = 0; i < 16; i++)
		cr_assert_eq(xact_begin(c, &tx[i]), 0, "begin %d: %s", i,
		             xact_errmsg(c));
	cr_assert_neq(xact_begin(c, &tx[16]), 0, "the 17th was begun");
	assert_limit(c, "limits.open_per_client is 16");
	cr_assert(hlog_contains(C.coord.log, "limits.open_per_client 16"),
	          "no log line");

	cr_assert_eq(xact_connect(hcluster_url(&C), 10000, &other), 0);
	cr_assert_eq(xact_begin(other, &tx[16]), 0, "%s", xact_errmsg(other));
	cr_assert_eq(xact_rollback(tx[16]), 0);
	xact_tx_free(tx[16]);
	xact_disconnect(other);

	cr_assert_eq(xact_commit(tx[0], &o), 0, "%s", xact_errmsg(c));
	xact_tx_free(tx[0]);
	cr_assert_eq(xact_begin(c, &tx[0]), 0, "no room after a commit: %s",
	             xact_errmsg(c));
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(xact_rollback(tx[i]), 0, "%s", xact_errmsg(c));
		xact_tx_free(tx[i]);
	}
	/* Submits lease 8 gids at a time, counted, and fit in 16. */
	for (int i = 0; i < 3; i++) {
		struct xact_branch b = {"bank1", &debit, 1};
		char gid[XACT_GID_MAX];

		cr_assert_eq(xact_submit(c, &b, 1, gid, &o), 0, "%s",
		             xact_errmsg(c));
		cr_assert_eq(o, XACT_COMMITTED);
	}
	xact_disconnect(c);
	cr_assert_eq(hbank_total(&C.pg[0]), 197);
}

/* Too many participants or statements: refused, nothing runs. */
Test(limits, participants_and_statements_per_transaction)
{
	xact_conn *c = start("limits:\n  participants_per_transaction: 2\n"
	                     "  statements_per_branch: 2");
	const char *three[] = {debit, debit, debit};
	struct xact_branch wide[] = {
	    {"bank1", three, 1}, {"bank2", three, 1}, {"bank3", three, 1}};
	struct xact_branch deep = {"bank1", three, 3};
	char gid[XACT_GID_MAX];
	xact_result *r;
	xact_outcome o;
	xact_tx *tx;

	cr_assert_neq(xact_submit(c, wide, 3, gid, &o), 0, "3 participants");
	assert_limit(c, "limits.participants_per_transaction");
	cr_assert_neq(xact_submit(c, &deep, 1, gid, &o), 0, "3 statements");
	assert_limit(c, "limits.statements_per_branch");
	cr_assert_eq(xact_submit(c, wide, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);

	cr_assert_eq(xact_begin(c, &tx), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(xact_exec(tx, "bank1", debit, &r), 0);
		xact_result_free(r);
	}
	cr_assert_neq(xact_exec(tx, "bank1", debit, &r), 0, "3rd statement");
	assert_limit(c, "has run 2 statements at bank1");
	cr_assert_eq(xact_exec(tx, "bank2", debit, &r), 0, "%s",
	             xact_errmsg(c));
	xact_result_free(r);
	cr_assert_neq(xact_exec(tx, "bank3", debit, &r), 0, "3rd participant");
	assert_limit(c, "has 2 participants");
	cr_assert_eq(xact_commit(tx, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "a refused statement spoilt it");
	xact_tx_free(tx);
	xact_disconnect(c);
	/* 1 by the submit, 2 in the interactive tx; bank3 never touched. */
	cr_assert_eq(hbank_total(&C.pg[0]), 197);
	cr_assert_eq(hbank_total(&C.pg[2]), 200);
}

/* A request larger than limits.message_bytes: refused, logged. */
Test(limits, message_size)
{
	xact_conn *c = start("limits:\n  message_bytes: 65536");
	size_t big = 70000;
	char *sql = malloc(big + 64), gid[XACT_GID_MAX];
	const char *stmt = sql;
	struct xact_branch b = {"bank1", &stmt, 1};
	xact_outcome o;

	cr_assert_not_null(sql);
	/* A comment pads it: the statement itself is a debit. */
	snprintf(sql, 64, "%s -- ", debit);
	memset(sql + strlen(sql), 'x', big - strlen(sql));
	sql[big] = '\0';
	cr_assert_neq(xact_submit(c, &b, 1, gid, &o), 0, "a 70 KB request");
	assert_limit(c, "limits.message_bytes is 65536");
	cr_assert(hlog_contains(C.coord.log, "limits.message_bytes is 65536"),
	          "no log line");
	sql[1000] = '\0';
	cr_assert_eq(xact_submit(c, &b, 1, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	free(sql);
	xact_disconnect(c);
	cr_assert_eq(hbank_total(&C.pg[0]), 199);
}
