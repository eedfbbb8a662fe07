/*
 * The client library: synchronous calls over one REQ socket per connection.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gid.h"
#include "net.h"
#include "tls.h"
#include "wire.h"
#include "xact.h"

#define DEFAULT_TIMEOUT_MS 30000
/*
 * xact_submit() takes its gids from a lease: LEASE_SIZE transactions begun
 * by one BEGIN, so that a transaction costs one round trip, not two. The
 * coordinator keeps an unused one for at least 30 s (coordinator/txn.c
 * LEASE_MS); a lease is used for at most LEASE_AGE_MS, well within that.
 */
#define LEASE_SIZE   8
#define LEASE_AGE_MS 10000

struct xact_conn {
	nng_socket sock;
	xact_protocol protocol;
	char err[768];
	uint32_t error_code;    /* of the last WIRE_ERROR answer, or 0 */
	struct gid_parts lease; /* the next leased gid */
	uint32_t leased;        /* gids left in the lease */
	uint64_t lease_until;   /* clock_now_ms() after which it is dropped */
};

struct xact_tx {
	xact_conn *c;
	char gid[XACT_GID_MAX];
	uint64_t seq; /* statements sent: the coordinator drops repeats */
};

struct xact_result {
	nng_msg *msg; /* owns the bytes m points into */
	struct wire_msg m;
	const char **cols;
	const char **cells;
	size_t ncols, nrows;
};

static int
fail(xact_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -1;
}

xact_error
xact_errcode(const xact_conn *c)
{
	return (xact_error)c->error_code;
}

const char *
xact_errmsg(const xact_conn *c)
{
	return c->err;
}

static int
connect_with(const char *url, unsigned timeout_ms,
             const struct tls_identity *id, xact_conn **out)
{
	xact_conn *c = calloc(1, sizeof(*c));
	char err[256];
	nng_duration t =
	    timeout_ms != 0 ? (nng_duration)timeout_ms : DEFAULT_TIMEOUT_MS;
	int rv;

	*out = c;
	if (c == NULL)
		return -1;
	if ((rv = nng_req0_open(&c->sock)) != 0)
		return fail(c, "socket: %s", nng_strerror(rv));
	/* A lost reply is the caller's to handle (ask xact_status): a
	 * resend could run a statement twice. */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	                  NNG_DURATION_INFINITE);
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, t);
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, t);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG + 1024);
	if (tls_dial(c->sock, url, id, 0, err, sizeof(err)) != 0)
		return fail(c, "cannot connect: %s", err);
	return 0;
}

int
xact_connect(const char *url, unsigned timeout_ms, xact_conn **out)
{
	return connect_with(url, timeout_ms, NULL, out);
}

int
xact_connect_tls(const char *url, unsigned timeout_ms, const char *ca,
                 const char *cert, const char *key, xact_conn **out)
{
	struct tls_identity *id;
	char err[256];
	int rc;

	if (ca == NULL || cert == NULL || key == NULL)
		snprintf(err, sizeof(err),
		         "TLS needs a CA, a certificate and "
		         "its key");
	if (ca == NULL || cert == NULL || key == NULL ||
	    tls_identity_load(ca, cert, key, &id, err, sizeof(err)) != 0) {
		*out = calloc(1, sizeof(**out));
		if (*out != NULL)
			fail(*out, "%s", err);
		return -1;
	}
	rc = connect_with(url, timeout_ms, id, out);
	tls_identity_free(id); /* the dialer keeps what it needs */
	return rc;
}

void
xact_disconnect(xact_conn *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	free(c);
}

/*
 * Send b, wait for the reply and decode it into m (pointing into *msg).
 * A WIRE_ERROR reply is turned into -1 with its text.
 */
static int
call(xact_conn *c, struct wire_buf *b, nng_msg **msg, struct wire_msg *m)
{
	char err[200];
	nng_msg *req;
	int rv;

	c->error_code = 0;
	rv = net_msg_from_buf(b, &req);
	wire_buf_free(b);
	if (rv != 0)
		return fail(c, "request too large or out of memory");
	if ((rv = nng_sendmsg(c->sock, req, 0)) != 0) {
		nng_msg_free(req);
		return fail(c, "send: %s", nng_strerror(rv));
	}
	if ((rv = nng_recvmsg(c->sock, msg, 0)) != 0)
		return fail(c, "no answer from the coordinator: %s",
		            nng_strerror(rv));
	if (net_decode(*msg, m, err, sizeof(err)) != 0) {
		nng_msg_free(*msg);
		return fail(c, "bad answer from the coordinator: %s", err);
	}
	if (m->type == WIRE_ERROR) {
		c->error_code = m->code;
		fail(c, "%s", m->text);
		wire_msg_free(m);
		nng_msg_free(*msg);
		return -1;
	}
	return 0;
}

/* Read an OUTCOME reply into *out, with the abort reason in c->err. */
static int
take_outcome(xact_conn *c, nng_msg *msg, struct wire_msg *m, char *gid_out,
             xact_outcome *out)
{
	const char *name = wire_first(m, WIRE_T_NAME);
	int rc = 0;

	if (m->type != WIRE_OUTCOME)
		rc = fail(c, "unexpected answer %s", wire_type_name(m->type));
	else {
		*out = (xact_outcome)m->code;
		if (gid_out != NULL)
			snprintf(gid_out, XACT_GID_MAX, "%s", m->gid);
		if (m->code == WIRE_ABORTED && name != NULL)
			fail(c, "%s (participant %s, SQLSTATE %s)",
			     m->text != NULL ? m->text : "aborted", name,
			     m->sqlstate != NULL ? m->sqlstate : "?");
		else if (m->code == WIRE_ABORTED)
			fail(c, "%s", m->text != NULL ? m->text : "aborted");
		else
			c->err[0] = '\0';
	}
	wire_msg_free(m);
	nng_msg_free(msg);
	return rc;
}

int
xact_set_protocol(xact_conn *c, xact_protocol p)
{
	if (p != XACT_PROTOCOL_DEFAULT && p != XACT_PROTOCOL_2PC &&
	    p != XACT_PROTOCOL_3PC) {
		snprintf(c->err, sizeof(c->err), "unknown protocol %d", (int)p);
		return -1;
	}
	c->protocol = p;
	c->leased = 0; /* begun with the old protocol */
	return 0;
}

int
xact_begin(xact_conn *c, xact_tx **out)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;
	xact_tx *tx;

	*out = NULL;
	wire_buf_init(&b, WIRE_BEGIN);
	if (c->protocol != XACT_PROTOCOL_DEFAULT)
		wire_put_u32(&b, WIRE_T_PROTOCOL, (uint32_t)c->protocol);
	if (call(c, &b, &msg, &m) != 0)
		return -1;
	if (m.type != WIRE_BEGUN || (tx = calloc(1, sizeof(*tx))) == NULL) {
		wire_msg_free(&m);
		nng_msg_free(msg);
		return fail(c, "begin: unexpected answer");
	}
	tx->c = c;
	snprintf(tx->gid, sizeof(tx->gid), "%s", m.gid);
	wire_msg_free(&m);
	nng_msg_free(msg);
	*out = tx;
	return 0;
}

int
xact_tx_resume(xact_conn *c, const char *gid, uint64_t last_seq, xact_tx **out)
{
	xact_tx *tx;

	*out = NULL;
	if (strlen(gid) >= sizeof(tx->gid))
		return fail(c, "gid longer than %d bytes", XACT_GID_MAX - 1);
	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return fail(c, "out of memory");
	tx->c = c;
	snprintf(tx->gid, sizeof(tx->gid), "%s", gid);
	tx->seq = last_seq;
	*out = tx;
	return 0;
}

const char *
xact_tx_gid(const xact_tx *tx)
{
	return tx->gid;
}

static int
make_result(xact_conn *c, nng_msg *msg, struct wire_msg *m, xact_result **out)
{
	xact_result *r = calloc(1, sizeof(*r));
	size_t nvalues = 0;

	if (r == NULL)
		goto nomem;
	r->msg = msg;
	r->m = *m;
	r->ncols = wire_count(m, WIRE_T_COLUMN);
	r->cols = calloc(r->ncols + 1, sizeof(*r->cols));
	r->cells = calloc(m->nitems + 1, sizeof(*r->cells));
	if (r->cols == NULL || r->cells == NULL) {
		xact_result_free(r);
		return fail(c, "out of memory");
	}
	for (uint32_t i = 0, k = 0; i < m->nitems; i++) {
		if (m->items[i].tag == WIRE_T_COLUMN)
			r->cols[k++] = m->items[i].str;
		else
			r->cells[nvalues++] = m->items[i].str; /* NULL: NULL */
	}
	r->nrows = r->ncols > 0 ? nvalues / r->ncols : 0;
	*out = r;
	return 0;
nomem:
	wire_msg_free(m);
	nng_msg_free(msg);
	return fail(c, "out of memory");
}

int
xact_exec(xact_tx *tx, const char *participant, const char *sql,
          xact_result **out)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;

	*out = NULL;
	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	wire_put_str(&b, WIRE_T_NAME, participant);
	wire_put_u64(&b, WIRE_T_SEQ, ++tx->seq);
	wire_put_str(&b, WIRE_T_SQL, sql);
	if (call(tx->c, &b, &msg, &m) != 0)
		return -1;
	if (m.type != WIRE_RESULT) {
		wire_msg_free(&m);
		nng_msg_free(msg);
		return fail(tx->c, "exec: unexpected answer");
	}
	return make_result(tx->c, msg, &m, out);
}

static int
finish(xact_tx *tx, enum wire_type type, xact_outcome *out)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;

	wire_buf_init(&b, type);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	if (call(tx->c, &b, &msg, &m) != 0)
		return -1;
	return take_outcome(tx->c, msg, &m, NULL, out);
}

int
xact_commit(xact_tx *tx, xact_outcome *out)
{
	return finish(tx, WIRE_COMMIT, out);
}

int
xact_rollback(xact_tx *tx)
{
	xact_outcome o;

	if (finish(tx, WIRE_ROLLBACK, &o) != 0)
		return -1;
	if (o == XACT_COMMITTED) {
		fail(tx->c, "%s is committed: too late to roll back", tx->gid);
		tx->c->error_code = XACT_E_NOT_ACTIVE;
		return -1;
	}
	return 0;
}

void
xact_tx_free(xact_tx *tx)
{
	free(tx);
}

int
xact_status(xact_conn *c, const char *gid, xact_outcome *out)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;

	wire_buf_init(&b, WIRE_STATUS);
	wire_put_str(&b, WIRE_T_GID, gid);
	if (call(c, &b, &msg, &m) != 0)
		return -1;
	return take_outcome(c, msg, &m, NULL, out);
}

/* A request without fields whose answer is a result table. */
static int
table_call(xact_conn *c, enum wire_type type, xact_result **out)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;

	*out = NULL;
	wire_buf_init(&b, type);
	if (call(c, &b, &msg, &m) != 0)
		return -1;
	if (m.type != WIRE_RESULT) {
		wire_msg_free(&m);
		nng_msg_free(msg);
		return fail(c, "%s: unexpected answer",
		            type == WIRE_STATS ? "stats" : "list");
	}
	return make_result(c, msg, &m, out);
}

int
xact_resolve(xact_conn *c, const char *gid, xact_outcome decision,
             const char *who, const char *why, xact_outcome *out)
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;

	if (decision != XACT_COMMITTED && decision != XACT_ABORTED)
		return fail(c, "resolve: decide commit or abort");
	wire_buf_init(&b, WIRE_RESOLVE);
	wire_put_str(&b, WIRE_T_GID, gid);
	wire_put_u32(&b, WIRE_T_CODE, (uint32_t)decision);
	wire_put_str(&b, WIRE_T_TEXT, why);
	wire_put_str(&b, WIRE_T_NAME, who);
	if (call(c, &b, &msg, &m) != 0)
		return c->error_code == XACT_E_CONFLICT ||
		               c->error_code == XACT_E_BUSY
		           ? 1
		           : -1;
	if (m.type != WIRE_OUTCOME) {
		wire_msg_free(&m);
		nng_msg_free(msg);
		return fail(c, "resolve: unexpected answer");
	}
	*out = (xact_outcome)m.code;
	fail(c, "%s", m.text != NULL ? m.text : "");
	wire_msg_free(&m);
	nng_msg_free(msg);
	return 0;
}

int
xact_stats(xact_conn *c, xact_result **out)
{
	return table_call(c, WIRE_STATS, out);
}

int
xact_list(xact_conn *c, xact_result **out)
{
	return table_call(c, WIRE_LIST, out);
}

/* The next gid of the lease; a new lease when it is used up or old. */
static int
next_leased(xact_conn *c, char gid[XACT_GID_MAX])
{
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;
	uint64_t now = clock_now_ms();

	if (c->leased == 0 || now >= c->lease_until) {
		c->leased = 0;
		wire_buf_init(&b, WIRE_BEGIN);
		if (c->protocol != XACT_PROTOCOL_DEFAULT)
			wire_put_u32(&b, WIRE_T_PROTOCOL,
			             (uint32_t)c->protocol);
		wire_put_u32(&b, WIRE_T_COUNT, LEASE_SIZE);
		if (call(c, &b, &msg, &m) != 0)
			return -1;
		if (m.type != WIRE_BEGUN || !gid_parse(m.gid, &c->lease)) {
			wire_msg_free(&m);
			nng_msg_free(msg);
			return fail(c, "begin: unexpected answer");
		}
		/* A coordinator that leases fewer (or none) says so. */
		c->leased = m.count > 1 ? m.count : 1;
		c->lease_until = now + LEASE_AGE_MS;
		wire_msg_free(&m);
		nng_msg_free(msg);
	}
	gid_format(gid, c->lease.node, c->lease.incarnation, c->lease.seq++);
	c->leased--;
	return 0;
}

int
xact_submit(xact_conn *c, const struct xact_branch *branches, size_t n,
            char *gid_out, xact_outcome *out)
{
	char gid[XACT_GID_MAX];
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *msg;

	if (n == 0)
		return fail(c, "submit: no branches");
	for (size_t i = 0; i < n; i++)
		if (branches[i].nsql == 0)
			return fail(c, "submit: branch %s has no statements",
			            branches[i].participant);
	/* Learn the gid first: if the answer to the submit is lost, the
	 * caller can still ask for the outcome (xact_status). */
	if (next_leased(c, gid) != 0)
		return -1;
	if (gid_out != NULL)
		snprintf(gid_out, XACT_GID_MAX, "%s", gid);
	wire_buf_init(&b, WIRE_SUBMIT);
	wire_put_str(&b, WIRE_T_GID, gid);
	if (c->protocol != XACT_PROTOCOL_DEFAULT)
		wire_put_u32(&b, WIRE_T_PROTOCOL, (uint32_t)c->protocol);
	for (size_t i = 0; i < n; i++) {
		if (branches[i].nsql == 0) {
			wire_buf_free(&b);
			/* The begun transaction dies by idle timeout. */
			return fail(c, "submit: branch %s has no statements",
			            branches[i].participant);
		}
		wire_put_str(&b, WIRE_T_NAME, branches[i].participant);
		for (size_t j = 0; j < branches[i].nsql; j++)
			wire_put_str(&b, WIRE_T_SQL, branches[i].sql[j]);
	}
	if (call(c, &b, &msg, &m) != 0) {
		/* Maybe the coordinator restarted: its leases died with it. */
		c->leased = 0;
		return -1;
	}
	return take_outcome(c, msg, &m, gid_out, out);
}

const char *
xact_result_sqlstate(const xact_result *r)
{
	return r->m.sqlstate;
}

const char *
xact_result_message(const xact_result *r)
{
	return r->m.text;
}

uint64_t
xact_result_affected(const xact_result *r)
{
	return r->m.affected;
}

size_t
xact_result_ncols(const xact_result *r)
{
	return r->ncols;
}

size_t
xact_result_nrows(const xact_result *r)
{
	return r->nrows;
}

const char *
xact_result_colname(const xact_result *r, size_t col)
{
	return col < r->ncols ? r->cols[col] : NULL;
}

const char *
xact_result_value(const xact_result *r, size_t row, size_t col)
{
	if (row >= r->nrows || col >= r->ncols)
		return NULL;
	return r->cells[row * r->ncols + col];
}

void
xact_result_free(xact_result *r)
{
	if (r == NULL)
		return;
	free(r->cols);
	free(r->cells);
	wire_msg_free(&r->m);
	nng_msg_free(r->msg);
	free(r);
}
