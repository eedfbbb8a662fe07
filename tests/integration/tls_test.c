/*
 * tls+tcp:// with mutual authentication (lib/tls.h): a cluster whose
 * every link is TLS commits, and a coordinator and a participant refuse a
 * peer whose certificate their CA did not sign, or that shows none.
 */
#include <criterion/criterion.h>
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

TestSuite(tls, .fini = finish, .timeout = 90);

/* Connect to url as "node" (the cluster's own certificate) or as
 * "stranger" (signed by another CA); the CA trusted is the cluster's. */
static int
connect_as(const char *who, const char *url, unsigned timeout_ms, xact_conn **c)
{
	char ca[512], cert[512], key[512];

	snprintf(ca, sizeof(ca), "%s/certs/ca.pem", C.dir);
	snprintf(cert, sizeof(cert), "%s/certs/%s.pem", C.dir, who);
	snprintf(key, sizeof(key), "%s/certs/%s.key", C.dir, who);
	return xact_connect_tls(url, timeout_ms, ca, cert, key, c);
}

/* Whether a request over c gets an answer (STATS always has one). */
static bool
answers(int connected, xact_conn *c)
{
	xact_result *r;

	if (connected != 0 || xact_stats(c, &r) != 0)
		return false;
	xact_result_free(r);
	return true;
}

Test(tls, a_tls_cluster_commits_and_refuses_strangers)
{
	const char *debit = "UPDATE accounts SET balance = balance - 5 "
	                    "WHERE id = 1";
	const char *credit = "UPDATE accounts SET balance = balance + 5 "
	                     "WHERE id = 1";
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	char gid[XACT_GID_MAX], purl[96];
	xact_conn *c;
	xact_result *r;
	xact_outcome o;
	int rc;

	cr_assert_eq(hcluster_start(&C, &(struct hcluster_opts){.n = 2,
	                                                        .accounts = 2,
	                                                        .balance = 100,
	                                                        .tls = true}),
	             0, "cluster did not start");
	cr_assert(strncmp(C.url, "tls+tcp://", 10) == 0, "%s", C.url);

	/* Every link TLS: client to coordinator to both participants. */
	cr_assert_eq(connect_as("node", C.url, 20000, &c), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(xact_submit(c, b, 2, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "%s", xact_errmsg(c));
	cr_assert(answers(0, c), "no answer to the node: %s", xact_errmsg(c));
	xact_disconnect(c);

	/* xactctl -c uses the config's identity. */
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "%s/xactctl -c %s list >/dev/null",
		         XACT_BIN_DIR, C.coord_conf);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}

	/* A client with a certificate from another CA, and one with none. */
	rc = connect_as("stranger", C.url, 2000, &c);
	cr_assert_not(answers(rc, c), "the coordinator answered a stranger");
	xact_disconnect(c);
	snprintf(purl, sizeof(purl), "tcp://127.0.0.1:%d", C.coord_port);
	rc = xact_connect(purl, 2000, &c);
	cr_assert_not(answers(rc, c), "the coordinator answered plain TCP");
	xact_disconnect(c);

	/* A participant: its own CA's certificate gets an answer, a
	 * stranger's does not. */
	snprintf(purl, sizeof(purl), "tls+tcp://localhost:%d", C.part_port[0]);
	cr_assert_eq(connect_as("node", purl, 20000, &c), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(xact_list(c, &r), 0, "%s", xact_errmsg(c));
	xact_result_free(r);
	xact_disconnect(c);
	rc = connect_as("stranger", purl, 2000, &c);
	cr_assert(rc != 0 || xact_list(c, &r) != 0,
	          "the participant answered a stranger");
	xact_disconnect(c);
}

/*
 * Clients with certificates from a CA of their own (docs/operations.md):
 * the coordinator trusts both CAs (one PEM file), the participants only
 * the daemons' one, so a client reaches the coordinator but cannot send a
 * participant COMMIT or ROLLBACK behind the coordinator's back.
 */
Test(tls, a_client_ca_reaches_the_coordinator_not_the_participants)
{
	const char *credit = "UPDATE accounts SET balance = balance + 5 "
	                     "WHERE id = 1";
	struct xact_branch b = {"bank1", &credit, 1};
	char gid[XACT_GID_MAX], purl[96];
	xact_conn *c;
	xact_result *r;
	xact_outcome o;
	int rc;

	cr_assert_eq(
	    hcluster_start(&C, &(struct hcluster_opts){.n = 1,
	                                               .accounts = 1,
	                                               .balance = 100,
	                                               .tls = true,
	                                               .tls_clients_ca = true}),
	    0, "cluster did not start");
	cr_assert_eq(connect_as("stranger", C.url, 20000, &c), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(xact_submit(c, &b, 1, gid, &o), 0, "%s", xact_errmsg(c));
	hc_assert(&C, o == XACT_COMMITTED, "%s", xact_errmsg(c));
	xact_disconnect(c);

	snprintf(purl, sizeof(purl), "tls+tcp://localhost:%d", C.part_port[0]);
	rc = connect_as("stranger", purl, 2000, &c);
	cr_assert(rc != 0 || xact_list(c, &r) != 0,
	          "the participant answered a client's certificate");
	xact_disconnect(c);
	cr_assert_eq(connect_as("node", purl, 20000, &c), 0, "%s",
	             xact_errmsg(c));
	cr_assert_eq(xact_list(c, &r), 0, "the participant is up: %s",
	             xact_errmsg(c));
	xact_result_free(r);
	xact_disconnect(c);
}

/* A config naming tls.cert without the rest is refused at start. */
Test(tls, a_partial_tls_config_is_refused)
{
	char path[512], cmd[4096], out[512] = "";
	FILE *f;
	size_t n;

	cr_assert_eq(hcluster_start(&C, &(struct hcluster_opts){.n = 1}), 0);
	snprintf(path, sizeof(path), "%s/partial.yaml", C.dir);
	snprintf(cmd, sizeof(cmd),
	         "cp %s %s && printf 'tls:\\n  cert: x.pem\\n' >> %s",
	         C.coord_conf, path, path);
	cr_assert_eq(system(cmd), 0);
	/* It stops at TLS, before the log or the port of the running one. */
	snprintf(cmd, sizeof(cmd), "%s/xact-coordinator --config %s 2>&1",
	         XACT_BIN_DIR, path);
	cr_assert_not_null(f = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	cr_assert_neq(pclose(f), 0, "started: %s", out);
	cr_assert(strstr(out, "ca, cert and key go together") != NULL, "%s",
	          out);
}
