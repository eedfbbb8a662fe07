/*
 * A storm of client connections: a thousand clients connect at once and
 * all ask at the same time while transfers go on. Every one is answered,
 * nothing crashes, no decision is lost, and the coordinator serves as
 * before once they are gone.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "xact.h"

#define CLIENTS 1000
#define THREADS 8

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(storm, .fini = finish, .timeout = 180);

static xact_conn *clients[CLIENTS];
static char asked[XACT_GID_MAX]; /* the gid every client asks about */
static atomic_int answered;

static void *
ask_all(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int i = t; i < CLIENTS; i += THREADS) {
		xact_outcome o;

		if (xact_status(clients[i], asked, &o) == 0 &&
		    o == XACT_COMMITTED)
			atomic_fetch_add(&answered, 1);
	}
	return NULL;
}

static void
transfer(xact_conn *c, char gid[XACT_GID_MAX])
{
	const char *debit = "UPDATE accounts SET balance = balance - 1 "
	                    "WHERE id = 1";
	const char *credit = "UPDATE accounts SET balance = balance + 1 "
	                     "WHERE id = 1";
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	xact_outcome o;

	cr_assert_eq(xact_submit(c, b, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED, "%s", xact_errmsg(c));
}

Test(storm, a_thousand_clients_at_once)
{
	pthread_t threads[THREADS];
	char gid[XACT_GID_MAX];
	xact_conn *c;

	cr_assert_eq(hcluster_start(&C,
	                            &(struct hcluster_opts){
	                                .n = 2,
	                                .accounts = 2,
	                                .balance = 1000,
	                                .log_level = "warn",
	                            }),
	             0, "cluster did not start");
	cr_assert_eq(xact_connect(hcluster_url(&C), 20000, &c), 0);
	transfer(c, asked);

	for (int i = 0; i < CLIENTS; i++)
		cr_assert_eq(xact_connect(hcluster_url(&C), 60000, &clients[i]),
		             0, "client %d: %s", i,
		             clients[i] != NULL ? xact_errmsg(clients[i])
		                                : "?");
	for (int t = 0; t < THREADS; t++)
		cr_assert_eq(pthread_create(&threads[t], NULL, ask_all,
		                            (void *)(intptr_t)t),
		             0);
	/* Transfers go on through the storm. */
	for (int i = 0; i < 20; i++)
		transfer(c, gid);
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	cr_assert_eq(atomic_load(&answered), CLIENTS, "%d of %d answered",
	             atomic_load(&answered), CLIENTS);
	cr_assert(hproc_alive(&C.coord), "the coordinator died");

	for (int i = 0; i < CLIENTS; i++)
		xact_disconnect(clients[i]);
	transfer(c, gid);
	xact_disconnect(c);
	cr_assert_eq(hbank_total(&C.pg[0]), 2000 - 22);
	cr_assert_eq(hbank_total(&C.pg[1]), 2000 + 22);
}
