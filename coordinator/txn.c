/*
 * The coordinator's transactions: the in-flight table, the I/O that each
 * twopc state machine asks for (peer messages, log records, the client's
 * answer), the ticker that drives time, and recovery from the log.
 *
 * Everything here runs on NNG callback threads, the log's writer thread or
 * the ticker, and never blocks: sends and log appends only queue work.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "failpoint.h"
#include "internal.h"
#include "log.h"

#define TICK_MS   10
#define LINGER_MS 1000 /* a finished tx still answers duplicates this long */
/* Past outcomes asked for at once (STATUS of a past life's gid): each is a
 * tx that resolves until every participant answers. */
#define RESOLVERS_MAX 1024
/* A leased tx lives at least this long unused; clients use a lease for
 * less than half of it (lib/client.c), whatever timeouts.idle says. */
#define LEASE_MS 30000

static const struct twopc_io tx_io;

static struct tx *
tx_alloc(struct coordinator *co)
{
	struct tx *tx = calloc(1, sizeof(*tx));

	if (tx == NULL)
		return NULL;
	tx->branches = calloc(co->npeers, sizeof(*tx->branches));
	tx->sql = calloc(co->npeers, sizeof(*tx->sql));
	tx->peer_stmts = calloc(co->npeers, sizeof(*tx->peer_stmts));
	if (tx->branches == NULL || tx->sql == NULL || tx->peer_stmts == NULL) {
		free(tx->branches);
		free(tx->sql);
		free(tx->peer_stmts);
		free(tx);
		return NULL;
	}
	tx->co = co;
	pthread_mutex_init(&tx->mu, NULL);
	twopc_init(&tx->sm, tx->branches, 0, &tx_io, tx, &co->timing);
	tx->last_active_ms = clock_now_ms();
	tx->begun_ms = tx->last_active_ms;
	return tx;
}

void
tx_free(struct tx *tx)
{
	if (tx->resolver)
		atomic_fetch_sub(&tx->co->resolvers, 1);
	for (size_t i = 0; i < tx->co->npeers; i++) {
		for (size_t j = 0; j < tx->sql[i].n; j++)
			free(tx->sql[i].stmts[j]);
		free(tx->sql[i].stmts);
	}
	pthread_mutex_destroy(&tx->mu);
	free(tx->peer_stmts);
	free(tx->sql);
	free(tx->branches);
	free(tx);
}

void
tx_set_protocol(struct tx *tx, uint32_t protocol)
{
	const struct coord_config *cfg = tx->co->cfg;

	if (protocol == 0)
		protocol = cfg->protocol == CFG_3PC ? WIRE_3PC : WIRE_2PC;
	tx->sm.three_phase = false;
	tx->sm.one_phase = protocol == WIRE_2PC && cfg->one_phase;
	if (protocol == WIRE_3PC)
		twopc_set_3pc(&tx->sm, cfg->three_phase_mode == CFG_QUORUM);
}

struct tx *
tx_create(struct coordinator *co, uint32_t protocol, uint32_t client)
{
	struct tx *tx = tx_alloc(co);

	if (tx == NULL)
		return NULL;
	tx->client = client;
	tx_set_protocol(tx, protocol);
	pthread_mutex_lock(&co->mu);
	gid_format(tx->gid, co->cfg->node, co->incarnation, ++co->next_seq);
	hmap_put(&co->txs, &tx->node, tx->gid);
	pthread_mutex_unlock(&co->mu);
	atomic_fetch_add(&co->stats.begun, 1);
	return tx;
}

int
tx_create_lease(struct coordinator *co, uint32_t protocol, uint32_t n,
                char gid[GID_MAX], uint32_t client)
{
	struct tx *txs[WIRE_MAX_LEASE];

	assert(n >= 1 && n <= WIRE_MAX_LEASE);
	for (uint32_t i = 0; i < n; i++) {
		if ((txs[i] = tx_alloc(co)) == NULL) {
			while (i > 0)
				tx_free(txs[--i]);
			return -1;
		}
		tx_set_protocol(txs[i], protocol);
		txs[i]->leased = true;
		txs[i]->client = client;
	}
	pthread_mutex_lock(&co->mu);
	for (uint32_t i = 0; i < n; i++) {
		gid_format(txs[i]->gid, co->cfg->node, co->incarnation,
		           ++co->next_seq);
		hmap_put(&co->txs, &txs[i]->node, txs[i]->gid);
	}
	snprintf(gid, GID_MAX, "%s", txs[0]->gid);
	/* Under co->mu, like the table's count (coordinator/stats.c). */
	atomic_fetch_add(&co->stats.leased, n);
	pthread_mutex_unlock(&co->mu); /* from here on txs[] may be gone */
	return 0;
}

void
tx_use_lease(struct tx *tx)
{
	if (tx->leased) {
		tx->leased = false;
		tx->begun_ms = clock_now_ms();
		atomic_fetch_sub(&tx->co->stats.leased, 1);
		atomic_fetch_add(&tx->co->stats.begun, 1);
	}
}

/* Returns the tx locked, or NULL. */
struct tx *
tx_lookup_locked(struct coordinator *co, const char *gid)
{
	struct hmap_node *n;
	struct tx *tx = NULL;

	pthread_mutex_lock(&co->mu);
	if ((n = hmap_get(&co->txs, gid)) != NULL) {
		tx = container_of(n, struct tx, node);
		pthread_mutex_lock(&tx->mu);
	}
	pthread_mutex_unlock(&co->mu);
	return tx;
}

size_t
tx_branch_for(struct tx *tx, size_t peer)
{
	for (size_t i = 0; i < tx->sm.nbranches; i++)
		if (tx->branches[i].peer == peer)
			return i;
	assert(tx->sm.nbranches < tx->co->npeers);
	tx->branches[tx->sm.nbranches].peer = peer;
	tx->branches[tx->sm.nbranches].vote = TWOPC_VOTE_NONE;
	return tx->sm.nbranches++;
}

void
tx_abort(struct tx *tx, enum twopc_abort_kind kind, const char *why)
{
	twopc_abort(&tx->sm, kind, why, clock_now_ms());
}

void
tx_start_commit(struct tx *tx)
{
	twopc_start(&tx->sm, clock_now_ms());
}

/* ---- requests to participants ---- */

void
note_peer(struct coordinator *co, size_t peer, int rv)
{
	atomic_store(&co->stats.peer_down[peer], rv != 0);
	if (rv != 0)
		atomic_fetch_add(&co->stats.peer_failures[peer], 1);
}

enum call_kind {
	CALL_PREPARE,
	CALL_COMMIT,
	CALL_ROLLBACK,
	CALL_PRECOMMIT, /* 3PC */
	CALL_PROBE,     /* 3PC: what did the participants decide? */
	CALL_RESOLVE,   /* one-phase: what became of the branch? */
};

struct branch_call {
	struct tx *tx;
	size_t branch;
	enum call_kind kind;
};

static const char *
branch_name(struct tx *tx, size_t branch)
{
	return peer_name(tx->co->peers[tx->branches[branch].peer]);
}

static void
branch_reply(void *arg, int rv, const struct wire_msg *m, const void *raw,
             size_t rawlen)
{
	struct branch_call *bc = arg;
	struct tx *tx = bc->tx;
	uint64_t now = clock_now_ms();
	char why[256];

	(void)raw;
	(void)rawlen;
	pthread_mutex_lock(&tx->mu);
	tx->outstanding--;
	note_peer(tx->co, tx->branches[bc->branch].peer, rv);
	switch (bc->kind) {
	case CALL_PREPARE:
		if (rv == NNG_ETIMEDOUT) {
			snprintf(why, sizeof(why),
			         "vote timeout: %s did not answer within %ums",
			         branch_name(tx, bc->branch),
			         tx->co->cfg->vote_timeout_ms);
			twopc_vote_failed(&tx->sm, bc->branch, why, now);
		} else if (rv != 0) {
			snprintf(why, sizeof(why), "no vote from %s: %s",
			         branch_name(tx, bc->branch), nng_strerror(rv));
			twopc_vote_failed(&tx->sm, bc->branch, why, now);
		} else if (m->type == WIRE_VOTE) {
			enum twopc_vote v = m->code == WIRE_VOTE_YES
			                        ? TWOPC_VOTE_YES
			                    : m->code == WIRE_VOTE_READONLY
			                        ? TWOPC_VOTE_READONLY
			                    : m->code == WIRE_VOTE_COMMITTED
			                        ? TWOPC_VOTE_COMMITTED
			                        : TWOPC_VOTE_NO;
			char text[TWOPC_REASON_MAX];

			snprintf(text, sizeof(text), "%s: %s",
			         branch_name(tx, bc->branch),
			         m->text != NULL ? m->text : "no reason");
			xlog_debug("gid=%s %s voted %s", tx->gid,
			           branch_name(tx, bc->branch),
			           v == TWOPC_VOTE_YES         ? "YES"
			           : v == TWOPC_VOTE_READONLY  ? "READ-ONLY"
			           : v == TWOPC_VOTE_COMMITTED ? "COMMITTED"
			                                       : "NO");
			twopc_vote(&tx->sm, bc->branch, v, m->sqlstate, text,
			           now);
		} else {
			snprintf(why, sizeof(why), "%s: %s",
			         branch_name(tx, bc->branch),
			         m->text != NULL ? m->text : "bad vote");
			twopc_vote_failed(&tx->sm, bc->branch, why, now);
		}
		break;
	case CALL_COMMIT:
		if (rv == 0 && m->type == WIRE_ACK) {
			twopc_ack(&tx->sm, bc->branch, now);
			break;
		}
		xlog_warn("gid=%s COMMIT to %s not acked (%s); will resend",
		          tx->gid, branch_name(tx, bc->branch),
		          rv != 0           ? nng_strerror(rv)
		          : m->text != NULL ? m->text
		                            : wire_type_name(m->type));
		twopc_commit_failed(&tx->sm, bc->branch, now);
		break;
	case CALL_ROLLBACK:
		break; /* presumed abort: acks are not needed */
	case CALL_RESOLVE:
		if (rv == 0 && m->type == WIRE_OUTCOME &&
		    m->code != WIRE_IN_PROGRESS) {
			snprintf(why, sizeof(why), "%s: %s",
			         branch_name(tx, bc->branch),
			         m->text != NULL ? m->text : "aborted");
			xlog_info("gid=%s resolved by %s: %s", tx->gid,
			          branch_name(tx, bc->branch),
			          m->code == WIRE_COMMITTED ? "committed"
			                                    : "aborted");
			twopc_resolved(&tx->sm, bc->branch,
			               m->code == WIRE_COMMITTED, why, now);
			break;
		}
		xlog_warn("gid=%s %s cannot tell the one-phase outcome yet "
		          "(%s); will ask again",
		          tx->gid, branch_name(tx, bc->branch),
		          rv != 0           ? nng_strerror(rv)
		          : m->text != NULL ? m->text
		                            : wire_type_name(m->type));
		twopc_resolve_failed(&tx->sm, bc->branch, now);
		break;
	case CALL_PRECOMMIT:
	case CALL_PROBE:
		if (rv == 0 && m->type == WIRE_STATE &&
		    m->code != WIRE_ST_FORGOTTEN) {
			bool accepted = m->code == WIRE_ST_ACCEPTED;

			xlog_debug("gid=%s %s %s %s", tx->gid,
			           bc->kind == CALL_PROBE ? "probe of"
			                                  : "PRE-COMMIT",
			           branch_name(tx, bc->branch),
			           accepted ? "accepted" : "answered");
			if (bc->kind == CALL_PRECOMMIT && !accepted &&
			    m->value == TERM_NONE)
				xlog_info("gid=%s PRE-COMMIT refused by %s: a "
				          "backup coordinator took over",
				          tx->gid, branch_name(tx, bc->branch));
			if (accepted)
				FAILPOINT("coord.after_precommit_ack");
			twopc_precommit_answer(&tx->sm, bc->branch, accepted,
			                       (enum term_value)m->value, now);
		} else
			twopc_precommit_failed(&tx->sm, bc->branch, now);
		break;
	}
	pthread_mutex_unlock(&tx->mu);
	free(bc);
}

/* Called with tx->mu held. */
static void
call_branch(struct tx *tx, size_t branch, enum call_kind kind,
            const struct wire_buf *req, uint32_t timeout_ms)
{
	struct branch_call *bc = malloc(sizeof(*bc));
	struct peer *p = tx->co->peers[tx->branches[branch].peer];
	int rv = NNG_ENOMEM;

	if (bc != NULL) {
		bc->tx = tx;
		bc->branch = branch;
		bc->kind = kind;
		tx->outstanding++;
		if ((rv = peer_call(p, req, timeout_ms, branch_reply, bc)) == 0)
			return;
		tx->outstanding--;
		free(bc);
	}
	note_peer(tx->co, tx->branches[branch].peer, rv);
	xlog_warn("gid=%s cannot send a request to %s: %s", tx->gid,
	          peer_name(p), nng_strerror(rv));
	if (kind == CALL_PREPARE)
		twopc_vote_failed(&tx->sm, branch, nng_strerror(rv),
		                  clock_now_ms());
	else if (kind == CALL_COMMIT)
		twopc_commit_failed(&tx->sm, branch, clock_now_ms());
	else if (kind == CALL_PRECOMMIT || kind == CALL_PROBE)
		twopc_precommit_failed(&tx->sm, branch, clock_now_ms());
	else if (kind == CALL_RESOLVE)
		twopc_resolve_failed(&tx->sm, branch, clock_now_ms());
}

static void
io_send_prepare(void *ctx, struct twopc *t, size_t i)
{
	struct tx *tx = ctx;
	struct wire_buf b;

	if (FAILPOINT("coord.before_prepare_send") == FP_DROP)
		return;
	wire_buf_init(&b, WIRE_BR_PREPARE);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	if (t->state == TWOPC_ONE_PHASE)
		wire_put_u32(&b, WIRE_T_PROTOCOL, WIRE_1PC);
	if (t->three_phase) {
		/* Everyone the termination protocol may need, in rank order. */
		wire_put_u32(&b, WIRE_T_PROTOCOL, WIRE_3PC);
		wire_put_u32(&b, WIRE_T_RANK, (uint32_t)i);
		wire_put_u32(&b, WIRE_T_QUORUM, t->round.quorum ? 1 : 0);
		for (size_t j = 0; j < t->nbranches; j++) {
			const struct cfg_endpoint *e =
			    &tx->co->cfg->participants[t->branches[j].peer];

			wire_put_str(&b, WIRE_T_NAME, e->name);
			wire_put_str(&b, WIRE_T_URL, e->url);
		}
	}
	for (size_t j = 0; j < tx->sql[i].n; j++)
		wire_put_str(&b, WIRE_T_SQL, tx->sql[i].stmts[j]);
	call_branch(tx, i, CALL_PREPARE, &b, tx->co->cfg->vote_timeout_ms);
	wire_buf_free(&b);
}

static void
send_gid_only(struct tx *tx, size_t i, enum call_kind kind)
{
	struct wire_buf b;

	wire_buf_init(&b, kind == CALL_COMMIT    ? WIRE_BR_COMMIT
	                  : kind == CALL_RESOLVE ? WIRE_BR_RESOLVE
	                                         : WIRE_BR_ROLLBACK);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	if (tx->sm.three_phase && kind != CALL_RESOLVE) /* logged there */
		wire_put_u32(&b, WIRE_T_PROTOCOL, WIRE_3PC);
	/* A COMMIT call lives no longer than the resend cap: the next try
	 * waits for it (one in flight per branch). */
	call_branch(tx, i, kind, &b,
	            kind == CALL_COMMIT ? tx->co->cfg->retry_max_ms
	                                : tx->co->cfg->request_timeout_ms);
	wire_buf_free(&b);
}

static void
io_send_resolve(void *ctx, struct twopc *t, size_t i)
{
	(void)t;
	send_gid_only(ctx, i, CALL_RESOLVE);
}

static void
io_send_commit(void *ctx, struct twopc *t, size_t i)
{
	struct tx *tx = ctx;

	/* I1: the record is durable before any COMMIT leaves. */
	assert(t->state == TWOPC_COMMITTING);
	(void)t;
	if (FAILPOINT("coord.before_commit_send") == FP_DROP)
		return;
	send_gid_only(tx, i, CALL_COMMIT);
	FAILPOINT("coord.after_commit_send");
}

static void
io_send_rollback(void *ctx, struct twopc *t, size_t i)
{
	(void)t;
	if (FAILPOINT("coord.before_rollback_send") == FP_DROP)
		return;
	send_gid_only(ctx, i, CALL_ROLLBACK);
}

/* 3PC: PRE-COMMIT (ballot 1) or a probe (a state request of ballot 0). */
static void
send_3pc_request(struct tx *tx, size_t i, enum call_kind kind)
{
	struct wire_buf b;

	wire_buf_init(&b, kind == CALL_PRECOMMIT ? WIRE_BR_PRECOMMIT
	                                         : WIRE_BR_STATE);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	wire_put_u64(&b, WIRE_T_BALLOT,
	             kind == CALL_PRECOMMIT ? TERM_BALLOT_COORD : 0);
	if (kind == CALL_PRECOMMIT)
		wire_put_u32(&b, WIRE_T_VALUE, TERM_COMMIT);
	call_branch(tx, i, kind, &b, tx->co->cfg->retry_max_ms);
	wire_buf_free(&b);
}

static void
io_send_precommit(void *ctx, struct twopc *t, size_t i)
{
	(void)t;
	if (FAILPOINT("coord.before_precommit_send") == FP_DROP)
		return;
	send_3pc_request(ctx, i, CALL_PRECOMMIT);
	FAILPOINT("coord.after_precommit_send");
}

static void
io_send_probe(void *ctx, struct twopc *t, size_t i)
{
	(void)t;
	send_3pc_request(ctx, i, CALL_PROBE);
}

/* On the log's writer thread, once the PRECOMMIT record is durable. */
static void
tx_precommit_logged(void *arg)
{
	struct tx *tx = arg;

	pthread_mutex_lock(&tx->mu);
	tx->outstanding--;
	xlog_debug("gid=%s PRECOMMIT record durable", tx->gid);
	twopc_precommit_logged(&tx->sm, clock_now_ms());
	pthread_mutex_unlock(&tx->mu);
}

static void
io_log_precommit(void *ctx, struct twopc *t)
{
	struct tx *tx = ctx;
	const char *names[DLOG_MAX_NAMES];

	FAILPOINT("coord.before_precommit_log");
	for (size_t i = 0; i < t->nbranches; i++)
		names[i] = branch_name(tx, i);
	tx->outstanding++;
	if (dlog_precommit(tx->co->dlog, tx->gid, names, t->nbranches,
	                   tx_precommit_logged, tx) != 0)
		/* Nothing proposed yet: exiting leaves an abort. */
		xlog_fatal(1,
		           "gid=%s cannot queue the PRECOMMIT record; "
		           "exiting",
		           tx->gid);
}

/* On the log's writer thread, once the COMMIT record is durable. */
static void
tx_logged(void *arg)
{
	struct tx *tx = arg;

	pthread_mutex_lock(&tx->mu);
	tx->outstanding--;
	xlog_debug("gid=%s COMMIT record durable", tx->gid);
	twopc_logged(&tx->sm, clock_now_ms());
	pthread_mutex_unlock(&tx->mu);
}

static void
io_log_commit(void *ctx, struct twopc *t)
{
	struct tx *tx = ctx;
	const char *names[DLOG_MAX_NAMES];
	size_t n = 0;

	if (t->started_ms != 0 && !t->three_phase)
		metrics_observe(&tx->co->stats.phase1,
		                (clock_now_ms() - t->started_ms) * 1000);
	FAILPOINT("coord.before_commit_log");
	for (size_t i = 0; i < t->nbranches; i++)
		if (t->branches[i].vote == TWOPC_VOTE_YES)
			names[n++] = branch_name(tx, i);
	tx->outstanding++;
	if (dlog_commit(tx->co->dlog, tx->gid, names, n, tx_logged, tx) != 0)
		/* Nothing is sent yet, so exiting keeps presumed abort true. */
		xlog_fatal(1, "gid=%s cannot queue the COMMIT record; exiting",
		           tx->gid);
}

static void
io_log_end(void *ctx, struct twopc *t)
{
	struct tx *tx = ctx;

	if (t->logged_ms != 0 && !t->three_phase)
		metrics_observe(&tx->co->stats.phase2,
		                (clock_now_ms() - t->logged_ms) * 1000);
	FAILPOINT("coord.before_end_log");
	dlog_end(tx->co->dlog, tx->gid);
}

void
tx_reply_outcome(struct tx *tx)
{
	struct cctx *cc = tx->waiter;
	enum wire_outcome o = twopc_outcome(&tx->sm);
	struct wire_buf b;

	if (cc == NULL)
		return;
	tx->waiter = NULL;
	tx->busy = false;
	if (o == WIRE_IN_PROGRESS && !tx->resolver) {
		/* A commit waits for a decision: this one is not made yet
		 * (twopc_overdue()). A status question gets IN_PROGRESS. */
		cctx_reply_error(cc, WIRE_E_UNAVAILABLE,
		                 "outcome of %s not known yet: its participant "
		                 "is being asked; ask for its status later",
		                 tx->gid);
		return;
	}
	wire_buf_init(&b, WIRE_OUTCOME);
	wire_put_str(&b, WIRE_T_GID, tx->gid);
	wire_put_u32(&b, WIRE_T_CODE, (uint32_t)o);
	if (o == WIRE_ABORTED) {
		wire_put_str(&b, WIRE_T_TEXT, tx->sm.reason);
		if (tx->sm.reason_sqlstate[0] != '\0') {
			wire_put_str(&b, WIRE_T_SQLSTATE,
			             tx->sm.reason_sqlstate);
			wire_put_str(&b, WIRE_T_NAME,
			             branch_name(tx, tx->sm.reason_branch));
		}
	}
	FAILPOINT("coord.before_reply");
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}

static void
io_reply(void *ctx, struct twopc *t)
{
	struct tx *tx = ctx;

	/* Decided: no longer one of its client's open ones. */
	clients_release(tx->co->clients, tx->client);
	tx->client = 0;
	if (tx->heuristic)
		return; /* heuristic.c answers the operator */
	if (t->one_phase_done) {
		struct gid_parts p;

		/* Before the tx can leave the table (recent.h). */
		if (gid_parse(tx->gid, &p) &&
		    p.incarnation == tx->co->incarnation)
			recent_add(tx->co->recent, p.seq);
		if (!tx->resolver)
			atomic_fetch_add(&tx->co->stats.one_phase, 1);
	}
	if (tx->resolver) {
		xlog_info("gid=%s resolved: %s", tx->gid,
		          t->state == TWOPC_ABORTED ? "aborted" : "committed");
	} else if (tx->leased) {
		xlog_debug("gid=%s lease expired unused", tx->gid);
	} else if (t->state == TWOPC_ABORTED) {
		atomic_fetch_add(&tx->co->stats.aborted, 1);
		atomic_fetch_add(&tx->co->stats.aborts[t->abort_kind], 1);
		if (t->started_ms != 0)
			metrics_observe(&tx->co->stats.commit_latency,
			                (clock_now_ms() - t->started_ms) *
			                    1000);
		if (t->reason_sqlstate[0] != '\0')
			xlog_info("gid=%s aborted by %s: %s", tx->gid,
			          branch_name(tx, t->reason_branch), t->reason);
		else
			xlog_info("gid=%s aborted: %s", tx->gid, t->reason);
	} else {
		atomic_fetch_add(&tx->co->stats.committed, 1);
		if (t->started_ms != 0)
			metrics_observe(&tx->co->stats.commit_latency,
			                (clock_now_ms() - t->started_ms) *
			                    1000);
		xlog_debug("gid=%s committed", tx->gid);
	}
	tx_reply_outcome(tx);
}

static const struct twopc_io tx_io = {
    .send_prepare = io_send_prepare,
    .send_commit = io_send_commit,
    .send_rollback = io_send_rollback,
    .log_commit = io_log_commit,
    .log_end = io_log_end,
    .reply = io_reply,
    .log_precommit = io_log_precommit,
    .send_precommit = io_send_precommit,
    .send_probe = io_send_probe,
    .send_resolve = io_send_resolve,
};

/* ---- outcome of any gid ---- */

enum wire_outcome
coord_outcome(struct coordinator *co, const char *gid, bool inquiry,
              enum coord_source *src)
{
	struct tx *tx = tx_lookup_locked(co, gid);
	enum wire_outcome o;

	*src = SOURCE_KNOWN;
	if (tx != NULL) {
		o = twopc_outcome(&tx->sm);
		/*
		 * A prepared branch of a one-phase tx is a fallback whose YES
		 * was not taken (it resolves, or committed in one phase from
		 * a later request): no COMMIT record can name it.
		 */
		if (inquiry &&
		    (tx->sm.one_phase_done || tx->sm.state == TWOPC_RESOLVING))
			o = WIRE_ABORTED;
		pthread_mutex_unlock(&tx->mu);
		return o;
	}
	return log_outcome(co, gid, inquiry, src);
}

enum wire_outcome
log_outcome(struct coordinator *co, const char *gid, bool inquiry,
            enum coord_source *src)
{
	struct gid_parts p;

	*src = SOURCE_KNOWN;
	switch (dlog_lookup(co->dlog, gid)) {
	case DLOG_COMMITTED:
		return WIRE_COMMITTED;
	case DLOG_ABORTED:
		return WIRE_ABORTED;
	case DLOG_FORGOTTEN:
		*src = SOURCE_FORGOTTEN;
		return WIRE_ABORTED;
	case DLOG_PRECOMMITTED:
		return WIRE_IN_PROGRESS;
	case DLOG_NONE:
		break;
	}
	if (!dlog_issued(co->dlog, gid)) {
		/* The log was lost or replaced: nothing to presume from. */
		*src = SOURCE_UNKNOWN;
		return WIRE_IN_PROGRESS;
	}
	/*
	 * Not in flight and no durable COMMIT: presumed abort, unless it
	 * may have committed in one phase (recent.h). A tx enters the table
	 * before its gid leaves this process and leaves it only once
	 * decided, so this answer can never be contradicted later.
	 */
	if (gid_parse(gid, &p) && p.incarnation == co->incarnation) {
		switch (recent_lookup(co->recent, p.seq)) {
		case RECENT_COMMITTED:
			return inquiry ? WIRE_ABORTED : WIRE_COMMITTED;
		case RECENT_UNKNOWN:
			*src = SOURCE_ASK;
			break;
		case RECENT_NOT_COMMITTED:
			break;
		}
	} else if (gid_parse(gid, &p) && p.incarnation < co->incarnation) {
		*src = SOURCE_ASK; /* a past life's commits are not in memory */
	}
	return WIRE_ABORTED;
}

void
tx_resolve_past(struct coordinator *co, const char *gid, struct cctx *cc)
{
	struct hmap_node *n;
	struct tx *tx;

	if (atomic_fetch_add(&co->resolvers, 1) >= RESOLVERS_MAX) {
		atomic_fetch_sub(&co->resolvers, 1);
		cctx_reply_error(
		    cc, WIRE_E_BUSY,
		    "%u past outcomes are being asked for already: "
		    "ask again later",
		    RESOLVERS_MAX);
		return;
	}
	if ((tx = tx_alloc(co)) == NULL) {
		atomic_fetch_sub(&co->resolvers, 1);
		cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
		return;
	}
	snprintf(tx->gid, sizeof(tx->gid), "%s", gid);
	tx->resolver = true;
	for (size_t i = 0; i < co->npeers; i++)
		tx_branch_for(tx, i);
	pthread_mutex_lock(&co->mu);
	if ((n = hmap_get(&co->txs, gid)) != NULL) {
		/* Asked twice at once: the first one is resolving it. */
		struct wire_buf b;

		pthread_mutex_unlock(&co->mu);
		tx_free(tx);
		wire_buf_init(&b, WIRE_OUTCOME);
		wire_put_str(&b, WIRE_T_GID, gid);
		wire_put_u32(&b, WIRE_T_CODE, WIRE_IN_PROGRESS);
		cctx_reply(cc, &b);
		wire_buf_free(&b);
		return;
	}
	hmap_put(&co->txs, &tx->node, tx->gid);
	pthread_mutex_lock(&tx->mu);
	pthread_mutex_unlock(&co->mu);
	xlog_info("gid=%s not known here: asking %zu participants", gid,
	          co->npeers);
	tx->busy = true;
	tx->busy_client = 0;
	tx->waiter = cc;
	twopc_start_resolving(&tx->sm, clock_now_ms());
	pthread_mutex_unlock(&tx->mu);
}

struct tx *
tx_new_heuristic(struct coordinator *co, const char *gid)
{
	struct tx *tx;

	if (hmap_get(&co->txs, gid) != NULL || (tx = tx_alloc(co)) == NULL)
		return NULL;
	snprintf(tx->gid, sizeof(tx->gid), "%s", gid);
	tx->heuristic = true;
	tx->busy = true; /* nothing else may run on it */
	tx->busy_client = 0;
	for (size_t i = 0; i < co->npeers; i++)
		tx_branch_for(tx, i);
	hmap_put(&co->txs, &tx->node, tx->gid);
	return tx;
}

/* ---- recovery ---- */

static struct tx *
recover_tx(struct coordinator *co, const char *gid, const char *const *names,
           size_t n)
{
	struct tx *tx = tx_alloc(co);

	if (tx == NULL)
		xlog_fatal(1, "out of memory recovering %s", gid);
	snprintf(tx->gid, sizeof(tx->gid), "%s", gid);
	for (size_t i = 0; i < n; i++) {
		const struct cfg_endpoint *e =
		    cfg_find(co->cfg->participants, co->npeers, names[i]);

		if (e == NULL) {
			/* Its branch stays prepared; the record stays open
			 * (no END) so its sweeper's inquiry gets COMMIT. */
			tx->sm.keep_record = true;
			xlog_error("gid=%s participant %s is no longer "
			           "configured; its branch cannot be committed "
			           "from here",
			           gid, names[i]);
			continue;
		}
		tx_branch_for(tx, (size_t)(e - co->cfg->participants));
	}
	pthread_mutex_lock(&co->mu);
	hmap_put(&co->txs, &tx->node, tx->gid);
	pthread_mutex_unlock(&co->mu);
	return tx;
}

static void
recover_one(void *arg, const char *gid, const char *const *names, size_t n)
{
	struct tx *tx = recover_tx(arg, gid, names, n);

	pthread_mutex_lock(&tx->mu);
	xlog_info("gid=%s recovered: resending COMMIT to %zu participants", gid,
	          tx->sm.nbranches);
	twopc_recover(&tx->sm, clock_now_ms());
	pthread_mutex_unlock(&tx->mu);
}

/* PRE-COMMIT may have been accepted: only the participants can tell. */
static void
recover_precommit(void *arg, const char *gid, const char *const *names,
                  size_t n)
{
	struct tx *tx = recover_tx(arg, gid, names, n);

	pthread_mutex_lock(&tx->mu);
	xlog_info("gid=%s recovered in 3PC pre-commit: asking %zu participants "
	          "for their decision",
	          gid, tx->sm.nbranches);
	twopc_recover_learning(&tx->sm, clock_now_ms());
	pthread_mutex_unlock(&tx->mu);
}

int
tx_recover_all(struct coordinator *co)
{
	if (dlog_foreach_open(co->dlog, recover_one, co) != 0)
		return -1;
	return dlog_foreach_precommit(co->dlog, recover_precommit, co);
}

/* ---- the ticker: timeouts, resends, reaping ---- */

struct sweep {
	struct coordinator *co;
	uint64_t now;
};

static int
tick_one(struct hmap_node *n, void *arg)
{
	struct tx *tx = container_of(n, struct tx, node);
	struct sweep *s = arg;
	struct coordinator *co = s->co;

	pthread_mutex_lock(&tx->mu);
	if (tx->sm.state == TWOPC_ACTIVE && !tx->busy &&
	    s->now >= tx->last_active_ms + co->cfg->idle_timeout_ms &&
	    (!tx->leased || s->now >= tx->last_active_ms + LEASE_MS))
		twopc_abort(&tx->sm, TWOPC_ABORT_IDLE,
		            "idle timeout: no request from the client", s->now);
	twopc_tick(&tx->sm, s->now);
	if (tx->waiter != NULL && twopc_overdue(&tx->sm, s->now))
		tx_reply_outcome(tx); /* not known yet; resolving goes on */
	if (twopc_done(&tx->sm) && tx->done_ms == 0)
		tx->done_ms = s->now;
	if (tx->done_ms != 0 && tx->outstanding == 0 && tx->waiter == NULL &&
	    s->now >= tx->done_ms + LINGER_MS) {
		hmap_remove(&co->txs, tx->gid);
		if (tx->leased) /* expired unused */
			atomic_fetch_sub(&co->stats.leased, 1);
		pthread_mutex_unlock(&tx->mu);
		tx_free(tx);
		return 0;
	}
	pthread_mutex_unlock(&tx->mu);
	return 0;
}

static void *
ticker_main(void *arg)
{
	struct coordinator *co = arg;
	uint64_t last_compact = clock_now_ms();
	char err[256];

	while (!atomic_load(&co->stopping)) {
		struct sweep s = {co, clock_now_ms()};

		pthread_mutex_lock(&co->mu);
		hmap_foreach(&co->txs, tick_one, &s);
		pthread_mutex_unlock(&co->mu);
		if (s.now >= last_compact + 1000) {
			last_compact = s.now;
			if (dlog_maybe_compact(co->dlog, co->cfg->compact_bytes,
			                       err, sizeof(err)) != 0)
				xlog_error("log compaction failed: %s", err);
		}
		nng_msleep(TICK_MS);
	}
	return NULL;
}

int
ticker_start(struct coordinator *co)
{
	if (pthread_create(&co->ticker, NULL, ticker_main, co) != 0)
		return -1;
	co->ticker_started = true;
	return 0;
}

void
ticker_stop(struct coordinator *co)
{
	atomic_store(&co->stopping, true);
	if (co->ticker_started)
		pthread_join(co->ticker, NULL);
	co->ticker_started = false;
}

/* ---- admin: LIST ---- */

static const char *
vote_name(enum twopc_vote v)
{
	switch (v) {
	case TWOPC_VOTE_NONE:
		return "?";
	case TWOPC_VOTE_YES:
		return "yes";
	case TWOPC_VOTE_NO:
		return "no";
	case TWOPC_VOTE_READONLY:
		return "readonly";
	case TWOPC_VOTE_COMMITTED:
		return "committed";
	}
	return "?";
}

struct list_walk {
	struct wire_buf *b;
	uint64_t now;
};

static int
list_one(struct hmap_node *n, void *arg)
{
	struct tx *tx = container_of(n, struct tx, node);
	struct list_walk *w = arg;
	char age[24], parts[512];
	size_t len = 0;

	pthread_mutex_lock(&tx->mu);
	if (tx->leased) { /* a gid handed out, nothing begun */
		pthread_mutex_unlock(&tx->mu);
		return 0;
	}
	parts[0] = '\0';
	for (size_t i = 0; i < tx->sm.nbranches && len < sizeof(parts); i++) {
		int k = snprintf(parts + len, sizeof(parts) - len, "%s%s=%s",
		                 i > 0 ? " " : "", branch_name(tx, i),
		                 vote_name(tx->sm.branches[i].vote));

		len += k > 0 ? (size_t)k : 0;
	}
	/* begun after now was read: age 0 */
	snprintf(age, sizeof(age), "%llu",
	         (unsigned long long)(w->now > tx->begun_ms
	                                  ? w->now - tx->begun_ms
	                                  : 0));
	wire_put_str(w->b, WIRE_T_CELL, tx->gid);
	wire_put_str(w->b, WIRE_T_CELL, twopc_state_name(tx->sm.state));
	wire_put_str(w->b, WIRE_T_CELL, age);
	wire_put_str(w->b, WIRE_T_CELL, parts);
	pthread_mutex_unlock(&tx->mu);
	return 0;
}

void
coord_handle_list(struct cctx *cc, struct coordinator *co)
{
	static const char *const cols[] = {"gid", "state", "age_ms",
	                                   "participants"};
	struct wire_buf b;
	struct list_walk w = {&b, clock_now_ms()};

	wire_buf_init(&b, WIRE_RESULT);
	for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++)
		wire_put_str(&b, WIRE_T_COLUMN, cols[i]);
	pthread_mutex_lock(&co->mu);
	hmap_foreach(&co->txs, list_one, &w);
	pthread_mutex_unlock(&co->mu);
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}
