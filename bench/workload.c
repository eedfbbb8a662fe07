/*
 * One benchmark client: the same transfer in every mode. The raw modes
 * drive PostgreSQL as a careful hand-written client would: each database's
 * part is one multi-statement query, sent to every database before any
 * answer is awaited, so that the databases work in parallel.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "rng.h"

#define SQL_MAX 128

static const char *const mode_names[MODE_COUNT] = {
    [MODE_XACT_2PC] = "xact-2pc", [MODE_XACT_3PC] = "xact-3pc",
    [MODE_RAW_2PC] = "raw-2pc",   [MODE_RAW_NONATOMIC] = "raw-nonatomic",
    [MODE_LOCAL] = "local",
};

const char *
bench_mode_name(enum bench_mode m)
{
	return m < MODE_COUNT ? mode_names[m] : "?";
}

enum bench_mode
bench_mode_parse(const char *s)
{
	for (int m = 0; m < MODE_COUNT; m++)
		if (strcmp(s, mode_names[m]) == 0)
			return (enum bench_mode)m;
	return MODE_COUNT;
}

bool
bench_mode_is_xact(enum bench_mode m)
{
	return m == MODE_XACT_2PC || m == MODE_XACT_3PC;
}

/* The statements of one transfer: sql[db][k], nsql[db] per database. */
struct plan {
	int ndb;
	int nsql[BENCH_MAX_N];
	char sql[BENCH_MAX_N][2][SQL_MAX];
	char gid[64];
};

static uint64_t
rnd(struct bench_client *c, uint64_t n)
{
	return rng_below(&c->rng, n);
}

/* k distinct accounts of this client's share. */
static void
pick_ids(struct bench_client *c, int k, int *ids)
{
	int per = (c->env->accounts - c->index + c->nclients - 1) / c->nclients;

	for (int i = 0; i < k; i++) {
		bool again;

		do {
			ids[i] = 1 + c->index +
			         c->nclients * (int)rnd(c, (uint64_t)per);
			again = false;
			for (int j = 0; j < i; j++)
				again |= ids[j] == ids[i];
		} while (again);
	}
}

static void
update(char *buf, int delta, int id)
{
	snprintf(buf, SQL_MAX,
	         "UPDATE " BENCH_TABLE " SET balance = balance + %d "
	         "WHERE id = %d",
	         delta, id);
}

/*
 * One database: debit and credit there. Several: the debit rotates over
 * them, each other one gets a credit, and the ids are distinct overall so
 * that the local mode can run every statement in one database.
 */
static void
make_plan(struct bench_client *c, struct plan *p)
{
	int ids[BENCH_MAX_N], debit;

	memset(p->nsql, 0, sizeof(p->nsql));
	c->seq++;
	snprintf(p->gid, sizeof(p->gid), BENCH_GID_PREFIX "%d_%" PRIu64,
	         c->index, c->seq);
	p->ndb = c->n;
	if (c->n == 1) {
		pick_ids(c, 2, ids);
		update(p->sql[0][0], -1, ids[0]);
		update(p->sql[0][1], 1, ids[1]);
		p->nsql[0] = 2;
		return;
	}
	pick_ids(c, c->n, ids);
	debit = (int)(c->seq % (uint64_t)c->n);
	for (int i = 0; i < c->n; i++) {
		update(p->sql[i][0], i == debit ? -(c->n - 1) : 1, ids[i]);
		p->nsql[i] = 1;
	}
}

/* "BEGIN; s1; s2; <end>" for the statements of databases [from, to). */
static void
block(const struct plan *p, int from, int to, const char *end, char *q,
      size_t len)
{
	size_t n = (size_t)snprintf(q, len, "BEGIN");

	for (int i = from; i < to; i++)
		for (int k = 0; k < p->nsql[i]; k++)
			n += (size_t)snprintf(q + n, len - n, "; %s",
			                      p->sql[i][k]);
	snprintf(q + n, len - n, "; %s", end);
}

/*
 * Wait for every result of what was sent on conn. Returns 0 if all went
 * well, 1 on a SQL error, -1 when the connection failed; c->err says why.
 */
static int
drain(struct bench_client *c, PGconn *conn)
{
	PGresult *r;
	int rc = 0;

	while ((r = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
		    rc == 0) {
			snprintf(c->err, sizeof(c->err), "%s",
			         PQresultErrorMessage(r));
			rc = 1;
		}
		PQclear(r);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(c->err, sizeof(c->err), "connection lost: %s",
		         PQerrorMessage(conn));
		rc = -1;
	}
	return rc;
}

static int
send_all(struct bench_client *c, int n, char (*q)[512])
{
	for (int i = 0; i < n; i++)
		if (!PQsendQuery(c->pg[i], q[i])) {
			snprintf(c->err, sizeof(c->err), "send: %s",
			         PQerrorMessage(c->pg[i]));
			return -1;
		}
	return 0;
}

static enum bench_outcome
raw_2pc(struct bench_client *c, const struct plan *p)
{
	char q[BENCH_MAX_N][512], end[96];
	int rc[BENCH_MAX_N], worst = 0;

	snprintf(end, sizeof(end), "PREPARE TRANSACTION '%s'", p->gid);
	for (int i = 0; i < p->ndb; i++)
		block(p, i, i + 1, end, q[i], sizeof(q[i]));
	if (send_all(c, p->ndb, q) != 0)
		return BENCH_ERROR;
	for (int i = 0; i < p->ndb; i++) {
		rc[i] = drain(c, c->pg[i]);
		if (rc[i] < 0 || (rc[i] > 0 && worst == 0))
			worst = rc[i];
	}
	if (worst < 0)
		return BENCH_ERROR;
	for (int i = 0; i < p->ndb; i++)
		if (worst == 0)
			snprintf(q[i], sizeof(q[i]), "COMMIT PREPARED '%s'",
			         p->gid);
		else if (rc[i] == 0)
			snprintf(q[i], sizeof(q[i]), "ROLLBACK PREPARED '%s'",
			         p->gid);
		else
			snprintf(q[i], sizeof(q[i]), "ROLLBACK");
	if (send_all(c, p->ndb, q) != 0)
		return BENCH_ERROR;
	for (int i = 0; i < p->ndb; i++)
		if (drain(c, c->pg[i]) != 0)
			return BENCH_ERROR; /* half done: no ceiling to speak of
			                     */
	return worst == 0 ? BENCH_COMMITTED : BENCH_ABORTED;
}

/* Each database's part committed on its own, one after the other. */
static enum bench_outcome
raw_nonatomic(struct bench_client *c, const struct plan *p)
{
	char q[512];

	for (int i = 0; i < p->ndb; i++) {
		block(p, i, i + 1, "COMMIT", q, sizeof(q));
		if (!PQsendQuery(c->pg[i], q) || drain(c, c->pg[i]) != 0)
			return BENCH_ERROR; /* earlier parts stay committed */
	}
	return BENCH_COMMITTED;
}

static enum bench_outcome
local(struct bench_client *c, const struct plan *p)
{
	char q[1024];
	int rc;

	block(p, 0, p->ndb, "COMMIT", q, sizeof(q));
	if (!PQsendQuery(c->pg[0], q))
		return BENCH_ERROR;
	rc = drain(c, c->pg[0]);
	if (rc > 0) {
		PQclear(PQexec(c->pg[0], "ROLLBACK"));
		return BENCH_ABORTED;
	}
	return rc == 0 ? BENCH_COMMITTED : BENCH_ERROR;
}

static enum bench_outcome
via_coordinator(struct bench_client *c, const struct plan *p)
{
	const char *sql[BENCH_MAX_N][2];
	struct xact_branch br[BENCH_MAX_N];
	xact_outcome o;

	for (int i = 0; i < p->ndb; i++) {
		for (int k = 0; k < p->nsql[i]; k++)
			sql[i][k] = p->sql[i][k];
		br[i] = (struct xact_branch){c->env->names[i], sql[i],
		                             (size_t)p->nsql[i]};
	}
	if (xact_submit(c->xc, br, (size_t)p->ndb, NULL, &o) != 0) {
		snprintf(c->err, sizeof(c->err), "%s", xact_errmsg(c->xc));
		return BENCH_ERROR;
	}
	if (o == XACT_COMMITTED)
		return BENCH_COMMITTED;
	snprintf(c->err, sizeof(c->err), "%s", xact_errmsg(c->xc));
	return o == XACT_ABORTED ? BENCH_ABORTED : BENCH_ERROR;
}

enum bench_outcome
bench_transfer(struct bench_client *c)
{
	struct plan p;

	make_plan(c, &p);
	switch (c->mode) {
	case MODE_XACT_2PC:
	case MODE_XACT_3PC:
		return via_coordinator(c, &p);
	case MODE_RAW_2PC:
		return raw_2pc(c, &p);
	case MODE_RAW_NONATOMIC:
		return raw_nonatomic(c, &p);
	case MODE_LOCAL:
		return local(c, &p);
	case MODE_COUNT:
		break;
	}
	snprintf(c->err, sizeof(c->err), "no such mode");
	return BENCH_ERROR;
}

int
bench_client_open(struct bench_client *c)
{
	int ndb = c->mode == MODE_LOCAL ? 1 : c->n;

	c->rng = 0x5eed0000u + (uint64_t)c->index;
	if (bench_mode_is_xact(c->mode)) {
		if (xact_connect(c->env->url, c->env->timeout_ms, &c->xc) !=
		    0) {
			snprintf(c->err, sizeof(c->err), "%s",
			         c->xc != NULL ? xact_errmsg(c->xc)
			                       : "out of memory");
			return -1;
		}
		return xact_set_protocol(c->xc, c->mode == MODE_XACT_3PC
		                                    ? XACT_PROTOCOL_3PC
		                                    : XACT_PROTOCOL_2PC);
	}
	for (int i = 0; i < ndb; i++) {
		c->pg[i] = PQconnectdb(c->env->dbs[i]);
		if (PQstatus(c->pg[i]) != CONNECTION_OK) {
			snprintf(c->err, sizeof(c->err), "database %d: %s",
			         i + 1, PQerrorMessage(c->pg[i]));
			return -1;
		}
	}
	return 0;
}

void
bench_client_close(struct bench_client *c)
{
	for (int i = 0; i < BENCH_MAX_N; i++) {
		if (c->pg[i] != NULL)
			PQfinish(c->pg[i]);
		c->pg[i] = NULL;
	}
	xact_disconnect(c->xc);
	c->xc = NULL;
}
