/*
 * The coordinator's client socket: a fixed pool of REP contexts, each a
 * small state machine (receive, work, send) in the manner of NNG's async
 * demo server. Handlers run on NNG's callback threads and never block: a
 * request that needs participants starts asynchronous work and its context
 * stays busy until that work answers through cctx_reply().
 *
 * Participants send their inquiries (INQUIRE) to the same socket.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "api.h"
#include "clock.h"
#include "coordinator.h"
#include "internal.h"
#include "log.h"
#include "net.h"
#include "tls.h"

enum cctx_state {
	CC_RECV, /* waiting for a request */
	CC_WORK, /* a handler or its asynchronous work owns the context */
	CC_SEND, /* the reply is on its way */
};

struct cctx {
	struct coordinator *co;
	nng_ctx ctx;
	nng_aio *aio;
	enum cctx_state state;
	uint32_t client; /* the pipe of the request being served */
};

static void
cctx_recv(struct cctx *cc)
{
	cc->state = CC_RECV;
	nng_ctx_recv(cc->ctx, cc->aio);
}

void
cctx_reply_raw(struct cctx *cc, const void *raw, size_t len)
{
	nng_msg *msg;

	assert(cc->state == CC_WORK);
	if (nng_msg_alloc(&msg, len) != 0) {
		xlog_error("out of memory for a reply; request dropped");
		cctx_recv(cc);
		return;
	}
	memcpy(nng_msg_body(msg), raw, len);
	cc->state = CC_SEND;
	nng_aio_set_msg(cc->aio, msg);
	nng_ctx_send(cc->ctx, cc->aio);
}

void
cctx_reply(struct cctx *cc, const struct wire_buf *b)
{
	cctx_reply_raw(cc, b->data, b->len);
}

void
cctx_reply_error(struct cctx *cc, enum wire_error code, const char *fmt, ...)
{
	char text[512];
	struct wire_buf b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	net_error_buf(&b, code, text);
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}

static long
find_peer(struct coordinator *co, const char *name)
{
	const struct cfg_endpoint *e =
	    cfg_find(co->cfg->participants, co->cfg->nparticipants, name);

	return e == NULL ? -1 : (long)(e - co->cfg->participants);
}

/*
 * Count n more undecided transactions for the client, or refuse the
 * request (limits.open_per_client). True if counted.
 */
static bool
take_open(struct cctx *cc, uint32_t n)
{
	uint32_t max = cc->co->cfg->max_open_per_client;

	if (clients_take(cc->co->clients, cc->client, n, max))
		return true;
	xlog_warn("client %u refused %u more transactions: it holds %u "
	          "undecided (limits.open_per_client %u)",
	          cc->client, n, clients_open(cc->co->clients, cc->client),
	          max);
	cctx_reply_error(cc, WIRE_E_LIMIT,
	                 "this connection holds %u undecided transactions: "
	                 "limits.open_per_client is %u",
	                 clients_open(cc->co->clients, cc->client), max);
	return false;
}

static void
release_open(struct cctx *cc, uint32_t n)
{
	while (n-- > 0)
		clients_release(cc->co->clients, cc->client);
}

static void
handle_begin(struct cctx *cc, const struct wire_msg *m)
{
	uint32_t n = m->count > 1 ? m->count : 1;
	char gid[GID_MAX];
	struct wire_buf b;
	struct tx *tx;

	if (!take_open(cc, n))
		return;
	if (n > 1) {
		/* A lease for SUBMITs: one round trip saved per transaction. */
		if (tx_create_lease(cc->co, m->protocol, n, gid, cc->client) !=
		    0) {
			release_open(cc, n);
			cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
			return;
		}
		xlog_debug("gid=%s begun with %u leased", gid, n);
	} else if ((tx = tx_create(cc->co, m->protocol, cc->client)) == NULL) {
		release_open(cc, n);
		cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
		return;
	} else {
		snprintf(gid, sizeof(gid), "%s", tx->gid);
		xlog_debug("gid=%s begun", gid);
	}
	wire_buf_init(&b, WIRE_BEGUN);
	wire_put_str(&b, WIRE_T_GID, gid);
	if (m->count > 1)
		wire_put_u32(&b, WIRE_T_COUNT, m->count);
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}

/* A statement forwarded to a participant, on its way back to the client. */
struct exec_call {
	struct tx *tx;
	struct cctx *cc;
	size_t peer;
};

static void
exec_reply(void *arg, int rv, const struct wire_msg *m, const void *raw,
           size_t rawlen)
{
	struct exec_call *ec = arg;
	struct tx *tx = ec->tx;
	struct cctx *cc = ec->cc;
	const char *name = peer_name(tx->co->peers[ec->peer]);
	char why[256];

	pthread_mutex_lock(&tx->mu);
	tx->outstanding--;
	tx->busy = false;
	tx->last_active_ms = clock_now_ms();
	note_peer(tx->co, ec->peer, rv);
	if (rv != 0 || (m->type != WIRE_RESULT && m->type != WIRE_ERROR)) {
		/*
		 * The statement may or may not have run there: the branch is
		 * unknowable, so the transaction cannot commit.
		 */
		snprintf(why, sizeof(why), "%s did not answer a statement: %s",
		         name, rv != 0 ? nng_strerror(rv) : "bad reply");
		tx_abort(tx, TWOPC_ABORT_UNREACHABLE, why);
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_UNAVAILABLE,
		                 "%s; transaction aborted", why);
	} else {
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_raw(cc, raw, rawlen);
	}
	free(ec);
}

/*
 * One more statement at peer would pass a limit (a new participant beyond
 * limits.participants_per_transaction, or a statement beyond
 * limits.statements_per_branch): why says which. Called with tx->mu held.
 */
static bool
exec_over_limit(struct tx *tx, size_t peer, char *why, size_t len)
{
	const struct coord_config *cfg = tx->co->cfg;
	bool known = false;

	for (size_t i = 0; i < tx->sm.nbranches; i++)
		known = known || tx->branches[i].peer == peer;
	if (!known && tx->sm.nbranches >= cfg->max_participants) {
		snprintf(why, len,
		         "transaction %s has %u participants: "
		         "limits.participants_per_transaction",
		         tx->gid, cfg->max_participants);
		return true;
	}
	if (tx->peer_stmts[peer] >= cfg->max_statements) {
		snprintf(why, len,
		         "transaction %s has run %u statements at %s: "
		         "limits.statements_per_branch",
		         tx->gid, cfg->max_statements,
		         cfg->participants[peer].name);
		return true;
	}
	return false;
}

static void
handle_exec(struct cctx *cc, const struct wire_msg *m)
{
	struct coordinator *co = cc->co;
	const char *name = wire_first(m, WIRE_T_NAME);
	long peer = find_peer(co, name);
	struct exec_call *ec;
	struct wire_buf b;
	struct tx *tx;
	bool repeat = false;
	char over[GID_MAX + 160];
	int rv;

	if (peer < 0) {
		cctx_reply_error(cc, WIRE_E_UNKNOWN_NAME,
		                 "unknown participant \"%s\"", name);
		return;
	}
	if ((tx = tx_lookup_locked(co, m->gid)) == NULL) {
		cctx_reply_error(cc, WIRE_E_UNKNOWN_TX,
		                 "no open transaction %s", m->gid);
		return;
	}
	if (tx->sm.state != TWOPC_ACTIVE) {
		char why[TWOPC_REASON_MAX + 64];

		/* Once unlocked the ticker may free tx: copy first. */
		snprintf(why, sizeof(why), "transaction %s is %s%s%s", m->gid,
		         twopc_state_name(tx->sm.state),
		         tx->sm.reason[0] ? ": " : "", tx->sm.reason);
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_NOT_ACTIVE, "%s", why);
		return;
	}
	if (m->seq == 0) {
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "statement numbers start at 1");
		return;
	}
	if (tx->busy && m->seq == tx->next_stmt &&
	    cc->client == tx->busy_client) {
		/*
		 * A REQ socket with a resend time resent the statement that is
		 * running: its answer goes to the same request id, and a reply
		 * here could overtake it. REP contexts keep the request id to
		 * themselves, so the pipe stands for it (libxact never
		 * resends). A copy from another connection (an HTTP retry) is
		 * told to ask again, below.
		 */
		pthread_mutex_unlock(&tx->mu);
		xlog_debug("gid=%s duplicate of statement %llu dropped", m->gid,
		           (unsigned long long)m->seq);
		cctx_recv(cc);
		return;
	}
	if (tx->busy) {
		bool same = m->seq == tx->next_stmt && tx->busy_client != 0 &&
		            (size_t)peer == tx->last_peer;

		pthread_mutex_unlock(&tx->mu);
		if (same)
			cctx_reply_error(
			    cc, WIRE_E_BUSY,
			    "transaction %s: statement %llu is still "
			    "running; ask again when it is done",
			    m->gid, (unsigned long long)m->seq);
		else
			cctx_reply_error(cc, WIRE_E_BUSY,
			                 "transaction %s: another request is "
			                 "running",
			                 m->gid);
		return;
	}
	if (m->seq == tx->next_stmt) {
		/* The answer to the last statement was lost: the participant
		 * still has it and answers a repeat of it from its cache. */
		repeat = true;
	} else if (m->seq < tx->next_stmt) {
		/* Numbers only grow; gaps are fine (a client counts the
		 * statements the coordinator refused too). */
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "transaction %s: statement %llu is older than "
		                 "the last one (%llu)",
		                 m->gid, (unsigned long long)m->seq,
		                 (unsigned long long)tx->next_stmt);
		return;
	}
	if (repeat && (size_t)peer != tx->last_peer) {
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "transaction %s: statement %llu was sent to "
		                 "another participant",
		                 m->gid, (unsigned long long)m->seq);
		return;
	}
	if (!repeat && exec_over_limit(tx, (size_t)peer, over, sizeof(over))) {
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_LIMIT, "%s", over);
		return;
	}
	if ((ec = malloc(sizeof(*ec))) == NULL) {
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
		return;
	}
	tx_branch_for(tx, (size_t)peer);
	/* Participants count statements per branch. */
	if (!repeat)
		tx->peer_stmts[peer]++;
	tx->last_peer = (size_t)peer;
	tx_use_lease(tx);
	tx->busy = true;
	tx->busy_client = cc->client;
	tx->next_stmt = m->seq;
	tx->outstanding++;
	*ec = (struct exec_call){tx, cc, (size_t)peer};
	wire_buf_init(&b, WIRE_BR_EXEC);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	wire_put_u64(&b, WIRE_T_SEQ, tx->peer_stmts[peer]);
	wire_put_str(&b, WIRE_T_SQL, wire_first(m, WIRE_T_SQL));
	rv = peer_call(co->peers[peer], &b, co->cfg->request_timeout_ms,
	               exec_reply, ec);
	wire_buf_free(&b);
	if (rv != 0) {
		tx->outstanding--;
		tx->busy = false;
		note_peer(co, (size_t)peer, rv);
		tx_abort(tx, TWOPC_ABORT_UNREACHABLE,
		         "a participant could not be reached");
		pthread_mutex_unlock(&tx->mu);
		free(ec);
		cctx_reply_error(cc, WIRE_E_UNAVAILABLE, "%s: %s", name,
		                 nng_strerror(rv));
		return;
	}
	pthread_mutex_unlock(&tx->mu);
}

/*
 * An outcome the log cannot tell: never guess, not even presumed abort for
 * a participant (its branch stays prepared). True if it replied.
 */
static bool
reply_not_known(struct cctx *cc, const char *gid, enum coord_source src)
{
	if (src == SOURCE_FORGOTTEN) {
		cctx_reply_error(cc, WIRE_E_UNKNOWN_TX,
		                 "%s is older than the outcomes the decision "
		                 "log retains",
		                 gid);
		return true;
	}
	if (src == SOURCE_UNKNOWN) {
		cctx_reply_error(
		    cc, WIRE_E_UNKNOWN_TX,
		    "%s was not issued by this coordinator's "
		    "decision log (it began at incarnation %llu): "
		    "decide it with xactctl resolve",
		    gid, (unsigned long long)dlog_genesis(cc->co->dlog));
		return true;
	}
	return false;
}

/* COMMIT or ROLLBACK of an interactive transaction. */
static void
handle_finish(struct cctx *cc, const struct wire_msg *m)
{
	struct tx *tx = tx_lookup_locked(cc->co, m->gid);
	enum coord_source src;

	if (tx == NULL) {
		/* Finished and reaped: answer from the log, idempotently. */
		enum wire_outcome o =
		    coord_outcome(cc->co, m->gid, false, &src);
		struct wire_buf b;

		if (src == SOURCE_ASK) {
			tx_resolve_past(cc->co, m->gid, cc);
			return;
		}
		if (reply_not_known(cc, m->gid, src))
			return;
		wire_buf_init(&b, WIRE_OUTCOME);
		wire_put_str(&b, WIRE_T_GID, m->gid);
		wire_put_u32(&b, WIRE_T_CODE, (uint32_t)o);
		if (o == WIRE_ABORTED)
			wire_put_str(&b, WIRE_T_TEXT,
			             "no such open transaction (aborted or "
			             "never begun)");
		cctx_reply(cc, &b);
		wire_buf_free(&b);
		return;
	}
	if (tx->waiter != NULL) {
		/* A resent COMMIT or ROLLBACK: the first one gets the answer
		 * (same request id); a reply here could overtake it. */
		pthread_mutex_unlock(&tx->mu);
		cctx_recv(cc);
		return;
	}
	if (tx->busy) {
		pthread_mutex_unlock(&tx->mu);
		cctx_reply_error(cc, WIRE_E_BUSY,
		                 "transaction %s: a statement is running",
		                 m->gid);
		return;
	}
	tx_use_lease(tx);
	tx->busy = true;
	tx->busy_client = 0;
	tx->waiter = cc;
	if (tx->sm.state != TWOPC_ACTIVE)
		tx_reply_outcome(tx); /* decided already: say so again */
	else if (m->type == WIRE_ROLLBACK)
		tx_abort(tx, TWOPC_ABORT_CLIENT, "rolled back by the client");
	else
		tx_start_commit(tx);
	pthread_mutex_unlock(&tx->mu);
}

/* Append a statement to a branch's list. */
static int
branch_add_sql(struct branch_sql *s, const char *sql)
{
	char **v = realloc(s->stmts, (s->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	s->stmts = v;
	if ((v[s->n] = strdup(sql)) == NULL)
		return -1;
	s->n++;
	return 0;
}

/*
 * A SUBMIT's names are participants and it keeps within the limits
 * (participants per transaction, statements per branch); otherwise it is
 * refused here. True if it may run.
 */
static bool
submit_within_limits(struct cctx *cc, const struct wire_msg *m)
{
	const struct coord_config *cfg = cc->co->cfg;
	uint32_t names = 0, stmts = 0;

	for (uint32_t i = 0; i < m->nitems; i++) {
		const char *s = m->items[i].str;

		if (m->items[i].tag != WIRE_T_NAME) {
			stmts++;
		} else if (find_peer(cc->co, s) < 0) {
			cctx_reply_error(cc, WIRE_E_UNKNOWN_NAME,
			                 "unknown participant \"%s\"", s);
			return false;
		} else {
			names++;
			stmts = 0;
		}
		if (names > cfg->max_participants) {
			cctx_reply_error(cc, WIRE_E_LIMIT,
			                 "more than %u participants: "
			                 "limits.participants_per_transaction",
			                 cfg->max_participants);
			return false;
		}
		if (stmts > cfg->max_statements) {
			cctx_reply_error(cc, WIRE_E_LIMIT,
			                 "more than %u statements for one "
			                 "participant: "
			                 "limits.statements_per_branch",
			                 cfg->max_statements);
			return false;
		}
	}
	return true;
}

static void
handle_submit(struct cctx *cc, const struct wire_msg *m)
{
	struct coordinator *co = cc->co;
	struct tx *tx;
	size_t branch = 0;

	/* Validate every name and limit before a gid exists. */
	if (!submit_within_limits(cc, m))
		return;
	if (m->gid != NULL) {
		/* The client began it to know the gid before any work. */
		if ((tx = tx_lookup_locked(co, m->gid)) == NULL) {
			cctx_reply_error(cc, WIRE_E_UNKNOWN_TX,
			                 "no open transaction %s", m->gid);
			return;
		}
		if (tx->busy || tx->sm.state != TWOPC_ACTIVE ||
		    tx->sm.nbranches != 0) {
			pthread_mutex_unlock(&tx->mu);
			cctx_reply_error(cc, WIRE_E_NOT_ACTIVE,
			                 "transaction %s already has work or "
			                 "an outcome",
			                 m->gid);
			return;
		}
		if (m->protocol != 0)
			tx_set_protocol(tx, m->protocol);
	} else if (!take_open(cc, 1)) {
		return;
	} else if ((tx = tx_create(co, m->protocol, cc->client)) == NULL) {
		release_open(cc, 1);
		cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
		return;
	} else
		pthread_mutex_lock(&tx->mu);
	for (uint32_t i = 0; i < m->nitems; i++) {
		const struct wire_item *it = &m->items[i];

		if (it->tag == WIRE_T_NAME)
			branch =
			    tx_branch_for(tx, (size_t)find_peer(co, it->str));
		else if (branch_add_sql(&tx->sql[branch], it->str) != 0) {
			tx_abort(tx, TWOPC_ABORT_OTHER, "out of memory");
			pthread_mutex_unlock(&tx->mu);
			cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
			return;
		}
	}
	tx_use_lease(tx);
	tx->busy = true;
	tx->busy_client = 0;
	tx->waiter = cc;
	tx_start_commit(tx);
	pthread_mutex_unlock(&tx->mu);
}

static void
handle_status(struct cctx *cc, const struct wire_msg *m)
{
	struct gid_parts p;
	enum coord_source src;
	enum wire_outcome o;
	struct wire_buf b;

	if (!gid_parse(m->gid, &p)) {
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST, "not a gid: \"%s\"",
		                 m->gid);
		return;
	}
	if (strcmp(p.node, cc->co->cfg->node) != 0) {
		/* Another coordinator's gid: presuming abort here could
		 * contradict that coordinator's decision. */
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "%s belongs to coordinator %s; this is %s",
		                 m->gid, p.node, cc->co->cfg->node);
		return;
	}
	o = coord_outcome(cc->co, m->gid, m->type == WIRE_INQUIRE, &src);
	if (src == SOURCE_ASK && m->type == WIRE_STATUS) {
		/* A client's question; a participant's INQUIRE is about a
		 * prepared branch, never a one-phase one: presumed abort. */
		tx_resolve_past(cc->co, m->gid, cc);
		return;
	}
	if (reply_not_known(cc, m->gid, src))
		return;
	wire_buf_init(&b, WIRE_OUTCOME);
	wire_put_str(&b, WIRE_T_GID, m->gid);
	wire_put_u32(&b, WIRE_T_CODE, (uint32_t)o);
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}

static void
dispatch(struct cctx *cc, nng_msg *msg)
{
	struct wire_msg m;
	char err[200];

	cc->client = nng_pipe_id(nng_msg_get_pipe(msg));
	if (nng_msg_len(msg) > cc->co->cfg->max_message_bytes) {
		atomic_fetch_add(&cc->co->stats.bad_requests, 1);
		xlog_warn("request of %zu bytes refused: limits.message_bytes "
		          "is %u",
		          nng_msg_len(msg), cc->co->cfg->max_message_bytes);
		cctx_reply_error(
		    cc, WIRE_E_LIMIT,
		    "request of %zu bytes: limits.message_bytes is "
		    "%u",
		    nng_msg_len(msg), cc->co->cfg->max_message_bytes);
		return;
	}
	if (net_decode(msg, &m, err, sizeof(err)) != 0) {
		atomic_fetch_add(&cc->co->stats.bad_requests, 1);
		xlog_warn("bad request dropped: %s", err);
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST, "%s", err);
		return;
	}
	if (atomic_load(&cc->co->stopping)) {
		cctx_reply_error(cc, WIRE_E_SHUTTING_DOWN,
		                 "coordinator is stopping");
	} else if (atomic_load(&cc->co->draining) &&
	           (m.type == WIRE_BEGIN || m.type == WIRE_SUBMIT ||
	            m.type == WIRE_EXEC)) {
		cctx_reply_error(cc, WIRE_E_SHUTTING_DOWN,
		                 "coordinator is stopping: no new work");
	} else if (m.gid != NULL && !gid_parse(m.gid, &(struct gid_parts){0})) {
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST, "not a gid: \"%s\"",
		                 m.gid);
	} else {
		switch (m.type) {
		case WIRE_BEGIN:
			handle_begin(cc, &m);
			break;
		case WIRE_EXEC:
			handle_exec(cc, &m);
			break;
		case WIRE_COMMIT:
		case WIRE_ROLLBACK:
			handle_finish(cc, &m);
			break;
		case WIRE_SUBMIT:
			handle_submit(cc, &m);
			break;
		case WIRE_STATUS:
		case WIRE_INQUIRE:
			handle_status(cc, &m);
			break;
		case WIRE_STATS:
			coord_handle_stats(cc, cc->co);
			break;
		case WIRE_LIST:
			coord_handle_list(cc, cc->co);
			break;
		case WIRE_RESOLVE:
			coord_handle_resolve(cc, cc->co, &m);
			break;
		case WIRE_BR_EXEC:
		case WIRE_BR_PREPARE:
		case WIRE_BR_COMMIT:
		case WIRE_BR_ROLLBACK:
		case WIRE_BR_STATE:
		case WIRE_BR_PRECOMMIT:
		case WIRE_BR_RESOLVE:
		case WIRE_STATE:
		case WIRE_BEGUN:
		case WIRE_RESULT:
		case WIRE_OUTCOME:
		case WIRE_VOTE:
		case WIRE_ACK:
		case WIRE_ERROR:
			atomic_fetch_add(&cc->co->stats.bad_requests, 1);
			cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
			                 "%s is not a request to a coordinator",
			                 wire_type_name(m.type));
			break;
		}
	}
	wire_msg_free(&m);
}

static void
cctx_cb(void *arg)
{
	struct cctx *cc = arg;
	int rv = nng_aio_result(cc->aio);
	nng_msg *msg;

	switch (cc->state) {
	case CC_RECV:
		if (rv != 0) {
			if (rv != NNG_ECLOSED)
				cctx_recv(cc);
			return;
		}
		msg = nng_aio_get_msg(cc->aio);
		cc->state = CC_WORK;
		dispatch(cc, msg);
		nng_msg_free(msg);
		break;
	case CC_SEND:
		if (rv != 0) {
			/* The client is gone; REP drops its reply. */
			nng_msg_free(nng_aio_get_msg(cc->aio));
			if (rv == NNG_ECLOSED)
				return;
		}
		cctx_recv(cc);
		break;
	case CC_WORK:
		assert(!"callback in CC_WORK");
		break;
	}
}

static int
open_peers(struct coordinator *co, char *err, size_t errlen)
{
	const struct coord_config *cfg = co->cfg;

	if (cfg->nparticipants > DLOG_MAX_NAMES) {
		snprintf(err, errlen, "at most %d participants",
		         DLOG_MAX_NAMES);
		return -1;
	}
	co->npeers = cfg->nparticipants;
	if ((co->peers = calloc(co->npeers, sizeof(*co->peers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < co->npeers; i++)
		if (peer_open(cfg->participants[i].name,
		              cfg->participants[i].url, &co->peers[i], err,
		              errlen) != 0)
			return -1;
	return 0;
}

static int
open_contexts(struct coordinator *co, char *err, size_t errlen)
{
	int rv;

	co->nctxs = co->cfg->contexts;
	if ((co->ctxs = calloc(co->nctxs, sizeof(*co->ctxs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < co->nctxs; i++) {
		struct cctx *cc = &co->ctxs[i];

		cc->co = co;
		if ((rv = nng_aio_alloc(&cc->aio, cctx_cb, cc)) != 0 ||
		    (rv = nng_ctx_open(&cc->ctx, co->rep)) != 0) {
			snprintf(err, errlen, "client contexts: %s",
			         nng_strerror(rv));
			return -1;
		}
	}
	for (size_t i = 0; i < co->nctxs; i++)
		cctx_recv(&co->ctxs[i]);
	return 0;
}

/*
 * The HTTP/JSON API calls this coordinator as a client over inproc://: the
 * same requests, checks and answers as any other client.
 */
static int
start_api(struct coordinator *co, char *err, size_t errlen)
{
	const struct coord_config *cfg = co->cfg;
	char url[64];
	int rv;

	snprintf(url, sizeof(url), "inproc://xact-api-%p", (void *)co);
	if ((rv = nng_listen(co->rep, url, NULL, 0)) != 0) {
		snprintf(err, errlen, "api: listen %s: %s", url,
		         nng_strerror(rv));
		return -1;
	}
	return api_start(cfg->api_listen, url, cfg->api_workers,
	                 cfg->vote_timeout_ms + cfg->commit_wait_ms +
	                     cfg->request_timeout_ms,
	                 &co->api, err, errlen);
}

int
coordinator_start(const struct coord_config *cfg, struct coordinator **out,
                  char *err, size_t errlen)
{
	struct coordinator *co = calloc(1, sizeof(*co));

	if (co == NULL || hmap_init(&co->txs, 1024) != 0) {
		free(co);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	co->cfg = cfg;
	pthread_mutex_init(&co->mu, NULL);
	if (tls_process_use(cfg->tls_ca, cfg->tls_cert, cfg->tls_key, err,
	                    errlen) != 0) {
		hmap_destroy(&co->txs);
		pthread_mutex_destroy(&co->mu);
		free(co);
		return -1;
	}
	co->timing = (struct twopc_timing){
	    .vote_timeout_ms = cfg->vote_timeout_ms,
	    .commit_wait_ms = cfg->commit_wait_ms,
	    .retry_min_ms = 100,
	    .retry_max_ms = cfg->retry_max_ms,
	};
	if (dlog_open(cfg->log_dir, cfg->node, 100000, &co->dlog, err,
	              errlen) != 0)
		goto fail;
	co->incarnation = dlog_incarnation(co->dlog);
	if ((co->recent = recent_new()) == NULL ||
	    (co->clients = clients_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (open_peers(co, err, errlen) != 0)
		goto fail;
	if (tx_recover_all(co) != 0) {
		snprintf(err, errlen, "out of memory during recovery");
		goto fail;
	}
	if (net_listen_rep(cfg->listen, &co->rep, err, errlen) != 0)
		goto fail;
	co->rep_open = true;
	if (open_contexts(co, err, errlen) != 0)
		goto fail;
	if (ticker_start(co) != 0) {
		snprintf(err, errlen, "cannot start the ticker thread");
		goto fail;
	}
	co->ticker_ran = true;
	if (cfg->metrics_listen != NULL &&
	    metrics_start(cfg->metrics_listen, coord_render_metrics,
	                  coord_health, co, &co->metrics, err, errlen) != 0)
		goto fail;
	if (cfg->api_listen != NULL && start_api(co, err, errlen) != 0)
		goto fail;
	xlog_info("node %s incarnation %llu listening on %s with %zu "
	          "participants",
	          cfg->node, (unsigned long long)co->incarnation, cfg->listen,
	          co->npeers);
	*out = co;
	return 0;
fail:
	coordinator_stop(co);
	return -1;
}

static int
count_outstanding(struct hmap_node *n, void *arg)
{
	struct tx *tx = container_of(n, struct tx, node);

	pthread_mutex_lock(&tx->mu);
	*(unsigned *)arg += tx->outstanding;
	pthread_mutex_unlock(&tx->mu);
	return 0;
}

/* Closed sockets fail every call in flight; wait for their callbacks. */
static void
drain_outstanding(struct coordinator *co)
{
	for (int i = 0; i < 500; i++) {
		unsigned n = 0;

		pthread_mutex_lock(&co->mu);
		hmap_foreach(&co->txs, count_outstanding, &n);
		pthread_mutex_unlock(&co->mu);
		if (n == 0)
			return;
		nng_msleep(10);
	}
	xlog_warn("stopping with requests still in flight");
}

static int
free_tx(struct hmap_node *n, void *arg)
{
	struct tx *tx = container_of(n, struct tx, node);

	(void)arg;
	if (tx->outstanding == 0)
		tx_free(tx); /* else a late callback may still touch it */
	return 0;
}

static int
count_deciding(struct hmap_node *n, void *arg)
{
	struct tx *tx = container_of(n, struct tx, node);

	pthread_mutex_lock(&tx->mu);
	switch (tx->waiter == NULL ? TWOPC_ABORTED : tx->sm.state) {
	case TWOPC_PREPARING:
	case TWOPC_PRELOGGING:
	case TWOPC_PRECOMMITTING:
	case TWOPC_LEARNING:
	case TWOPC_LOGGING:
	case TWOPC_COMMITTING:
	case TWOPC_ONE_PHASE:
		*(unsigned *)arg += 1;
		break;
	case TWOPC_ACTIVE:    /* the client's: presumed abort */
	case TWOPC_RESOLVING: /* may wait for a participant for ever */
	case TWOPC_COMMITTED:
	case TWOPC_ABORTED:
		break;
	}
	pthread_mutex_unlock(&tx->mu);
	return 0;
}

/*
 * SIGTERM: refuse new work, and let the transactions whose clients wait
 * for an outcome finish (phase 1, and phase 2 up to the commit wait) for
 * at most a vote timeout and a commit wait. What is left is safe anyway:
 * undecided work is presumed aborted, logged commits resume on the next
 * start.
 */
static void
drain(struct coordinator *co)
{
	uint64_t until =
	    clock_now_ms() + co->cfg->vote_timeout_ms + co->cfg->commit_wait_ms;
	unsigned n = 0;

	atomic_store(&co->draining, true);
	for (bool said = false;; said = true) {
		n = 0;
		pthread_mutex_lock(&co->mu);
		hmap_foreach(&co->txs, count_deciding, &n);
		pthread_mutex_unlock(&co->mu);
		if (n == 0 || clock_now_ms() >= until)
			break;
		if (!said)
			xlog_info("draining: %u clients wait for an outcome",
			          n);
		nng_msleep(20);
	}
	if (n > 0)
		xlog_warn("%u transactions still being decided: they resume "
		          "or are presumed aborted",
		          n);
}

void
coordinator_stop(struct coordinator *co)
{
	struct coord_stats *s = &co->stats;

	if (co->ticker_ran && co->rep_open)
		drain(co);
	api_stop(co->api); /* its requests in progress are answered */
	atomic_store(&co->stopping, true);
	metrics_stop(co->metrics); /* its handlers read what is freed below */
	ticker_stop(co);
	if (co->rep_open)
		nng_close(co->rep); /* no new requests */
	for (size_t i = 0; i < co->npeers; i++)
		peer_close(co->peers[i]); /* in-flight calls fail at once */
	if (co->txs.buckets != NULL)
		drain_outstanding(co);
	/*
	 * Undecided work is presumed aborted; logged commits resume on the
	 * next start. Closing the log flushes what is queued, and its
	 * completions may still try to send: the peers are closed, not freed.
	 */
	dlog_close(co->dlog);
	for (size_t i = 0; i < co->nctxs; i++) {
		if (co->ctxs[i].aio != NULL) {
			nng_aio_stop(co->ctxs[i].aio);
			nng_aio_free(co->ctxs[i].aio);
		}
	}
	if (co->txs.buckets != NULL) {
		hmap_foreach(&co->txs, free_tx, NULL);
		hmap_destroy(&co->txs);
	}
	for (size_t i = 0; i < co->npeers; i++)
		peer_free(co->peers[i]);
	if (co->ticker_ran)
		xlog_info("stopped: %llu begun, %llu committed, %llu aborted, "
		          "%llu bad requests",
		          (unsigned long long)s->begun,
		          (unsigned long long)s->committed,
		          (unsigned long long)s->aborted,
		          (unsigned long long)s->bad_requests);
	pthread_mutex_destroy(&co->mu);
	recent_free(co->recent);
	clients_free(co->clients);
	tls_process_drop();
	free(co->peers);
	free(co->ctxs);
	free(co);
}
