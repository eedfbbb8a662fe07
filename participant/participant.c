/*
 * The participant's socket and workers.
 *
 * A fixed pool of REP contexts receives requests. The NNG callback only
 * decodes a request and queues it; worker threads do the database work and
 * send the reply. Two queues, each with its own workers and connections:
 *
 *   work     EXEC and PREPARE: may wait on locks for as long as a
 *            statement runs;
 *   resolve  COMMIT, ROLLBACK and 3PC's state requests and proposals:
 *            short, and they release the locks the work queue may be
 *            waiting for, so they must never queue behind it.
 */
#include "participant.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "branch.h"
#include "clock.h"
#include "failpoint.h"
#include "gid.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "pg.h"
#include "sweeper.h"
#include "termination.h"
#include "tls.h"

#define MAX_RESULT_BYTES (8u << 20)

enum pctx_state {
	PC_RECV,
	PC_WORK,
	PC_SEND,
};

struct pctx {
	struct participant *p;
	nng_ctx ctx;
	nng_aio *aio;
	enum pctx_state state;
	nng_msg *req;
	struct wire_msg m;
	struct pctx *next;    /* in a job queue */
	uint64_t received_ms; /* when the request arrived */
};

struct queue {
	struct participant *p;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pctx *head, *tail;
	bool closed;
	pthread_t *threads;
	size_t nthreads;
};

struct participant {
	const struct part_config *cfg;
	struct pg_pool *work_pool;
	struct pg_pool *resolve_pool;
	struct branches *branches;
	struct sweeper *sweeper;
	struct termination *termination; /* NULL without log_dir */
	nng_socket rep;
	bool rep_open;
	struct pctx *ctxs;
	size_t nctxs;
	struct queue work;
	struct queue resolve;
	atomic_uint_fast64_t bad_requests;
	atomic_size_t work_inflight;  /* EXEC/PREPARE queued or running */
	atomic_uint_fast64_t refused; /* turned away: too much work queued */
	struct metrics *metrics;      /* /metrics and /healthz, or NULL */
};

static void
pctx_recv(struct pctx *pc)
{
	pc->state = PC_RECV;
	nng_ctx_recv(pc->ctx, pc->aio);
}

static void
pctx_send(struct pctx *pc, const struct wire_buf *b)
{
	nng_msg *msg;

	if (net_msg_from_buf(b, &msg) != 0) {
		xlog_error("out of memory for a reply; request dropped");
		pctx_recv(pc);
		return;
	}
	pc->state = PC_SEND;
	nng_aio_set_msg(pc->aio, msg);
	nng_ctx_send(pc->ctx, pc->aio);
}

static void
queue_push(struct queue *q, struct pctx *pc)
{
	pc->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		q->tail->next = pc;
	else
		q->head = pc;
	q->tail = pc;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static struct pctx *
queue_pop(struct queue *q)
{
	struct pctx *pc;

	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->closed)
		pthread_cond_wait(&q->cv, &q->mu);
	if ((pc = q->head) != NULL) {
		q->head = pc->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	pthread_mutex_unlock(&q->mu);
	return pc;
}

static const char *
recv_failpoint(const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_BR_EXEC:
		return "participant.recv_exec";
	case WIRE_BR_PREPARE:
		return "participant.recv_prepare";
	case WIRE_BR_COMMIT:
		return "participant.recv_commit";
	case WIRE_BR_ROLLBACK:
		return "participant.recv_rollback";
	case WIRE_BR_STATE:
		return "participant.recv_state";
	case WIRE_BR_RESOLVE:
		return "participant.recv_resolve";
	case WIRE_BR_PRECOMMIT:
		/* The coordinator's (ballot 1) apart from a backup's. */
		return m->ballot == TERM_BALLOT_COORD
		           ? "participant.recv_coord_precommit"
		           : "participant.recv_precommit";
	case WIRE_BEGIN:
	case WIRE_EXEC:
	case WIRE_COMMIT:
	case WIRE_ROLLBACK:
	case WIRE_SUBMIT:
	case WIRE_STATUS:
	case WIRE_STATS:
	case WIRE_LIST:
	case WIRE_RESOLVE:
	case WIRE_INQUIRE:
	case WIRE_BEGUN:
	case WIRE_RESULT:
	case WIRE_OUTCOME:
	case WIRE_VOTE:
	case WIRE_ACK:
	case WIRE_ERROR:
	case WIRE_STATE:
		break;
	}
	return "participant.recv_other";
}

static void
handle(struct participant *p, const struct wire_msg *m, uint64_t received_ms,
       struct wire_buf *r)
{
	switch (m->type) {
	case WIRE_BR_EXEC:
		branch_exec(p->branches, m, r);
		break;
	case WIRE_BR_PREPARE:
		branch_prepare(p->branches, m, received_ms, r);
		break;
	case WIRE_BR_COMMIT:
		branch_commit(p->branches, m, r);
		break;
	case WIRE_BR_ROLLBACK:
		branch_rollback(p->branches, m, r);
		break;
	case WIRE_BR_STATE:
		termination_on_state(p->termination, m, r);
		break;
	case WIRE_BR_PRECOMMIT:
		termination_on_precommit(p->termination, m, r);
		break;
	case WIRE_BR_RESOLVE:
		branch_resolve_one_phase(p->branches, m, r);
		break;
	case WIRE_LIST:
		branch_list_prepared(p->branches, r);
		break;
	case WIRE_BEGIN:
	case WIRE_EXEC:
	case WIRE_COMMIT:
	case WIRE_ROLLBACK:
	case WIRE_SUBMIT:
	case WIRE_STATUS:
	case WIRE_STATS:
	case WIRE_RESOLVE:
	case WIRE_INQUIRE:
	case WIRE_BEGUN:
	case WIRE_RESULT:
	case WIRE_OUTCOME:
	case WIRE_VOTE:
	case WIRE_ACK:
	case WIRE_ERROR:
	case WIRE_STATE:
		net_error_buf(r, WIRE_E_BAD_REQUEST,
		              "not a request to a participant");
		break;
	}
}

static void
work_one(struct participant *p, struct pctx *pc)
{
	struct wire_buf reply;
	enum fp_action fa = FAILPOINT(recv_failpoint(&pc->m));

	if (fa == FP_DROP) {
		reply.data = NULL;
	} else {
		if (fa == FP_DUP) {
			/* As if NNG had delivered the request twice. */
			handle(p, &pc->m, pc->received_ms, &reply);
			wire_buf_free(&reply);
		}
		handle(p, &pc->m, pc->received_ms, &reply);
	}
	wire_msg_free(&pc->m);
	nng_msg_free(pc->req);
	pc->req = NULL;
	if (fa == FP_DROP) {
		pctx_recv(pc); /* REP forgets the request: no reply */
		return;
	}
	pctx_send(pc, &reply);
	wire_buf_free(&reply);
}

static void *
worker_main(void *arg)
{
	struct queue *q = arg;
	struct pctx *pc;

	while ((pc = queue_pop(q)) != NULL) {
		work_one(q->p, pc);
		if (q == &q->p->work)
			admit_give(&q->p->work_inflight);
	}
	return NULL;
}

/*
 * Too much work is in flight (statements stuck on locks, say). A context
 * held by such work cannot receive, and when none can, the COMMIT that
 * would release those locks is never read: so refuse new work while half
 * the contexts hold work. Before its YES a branch may vote NO (R1).
 */
static void
refuse_overload(struct pctx *pc)
{
	struct wire_buf b;

	if (pc->m.type == WIRE_BR_PREPARE && pc->m.protocol != WIRE_1PC) {
		/* One-phase: a copy may be running, so no NO (branch.h R7). */
		wire_buf_init(&b, WIRE_VOTE);
		wire_put_str(&b, WIRE_T_GID, pc->m.gid);
		wire_put_u32(&b, WIRE_T_CODE, WIRE_VOTE_NO);
		wire_put_str(&b, WIRE_T_SQLSTATE, "53300");
		wire_put_str(&b, WIRE_T_TEXT, "participant overloaded");
	} else
		net_error_buf(&b, WIRE_E_UNAVAILABLE, "participant overloaded");
	atomic_fetch_add(&pc->p->refused, 1);
	xlog_warn("gid=%s refused: too much work queued",
	          pc->m.gid != NULL ? pc->m.gid : "-");
	wire_msg_free(&pc->m);
	nng_msg_free(pc->req);
	pc->req = NULL;
	pctx_send(pc, &b);
	wire_buf_free(&b);
}

/* On an NNG thread: decode and queue, nothing that blocks. */
static void
dispatch(struct pctx *pc)
{
	struct participant *p = pc->p;
	char err[200];
	struct wire_buf b;

	pc->received_ms = clock_now_ms();
	if (net_decode(pc->req, &pc->m, err, sizeof(err)) != 0 ||
	    (pc->m.gid != NULL && !gid_parse(pc->m.gid, NULL))) {
		if (pc->m.gid != NULL) {
			snprintf(err, sizeof(err), "not a gid: \"%.64s\"",
			         pc->m.gid);
			wire_msg_free(&pc->m);
		}
		atomic_fetch_add(&p->bad_requests, 1);
		xlog_warn("bad request dropped: %s", err);
		nng_msg_free(pc->req);
		pc->req = NULL;
		net_error_buf(&b, WIRE_E_BAD_REQUEST, err);
		pctx_send(pc, &b);
		wire_buf_free(&b);
		return;
	}
	if (pc->m.type == WIRE_BR_COMMIT || pc->m.type == WIRE_BR_ROLLBACK ||
	    pc->m.type == WIRE_BR_STATE || pc->m.type == WIRE_BR_PRECOMMIT ||
	    pc->m.type == WIRE_BR_RESOLVE || pc->m.type == WIRE_LIST) {
		queue_push(&p->resolve, pc);
	} else if (!admit_take(&p->work_inflight, p->nctxs / 2)) {
		refuse_overload(pc);
	} else {
		queue_push(&p->work, pc);
	}
}

static void
pctx_cb(void *arg)
{
	struct pctx *pc = arg;
	int rv = nng_aio_result(pc->aio);

	switch (pc->state) {
	case PC_RECV:
		if (rv != 0) {
			if (rv != NNG_ECLOSED)
				pctx_recv(pc);
			return;
		}
		pc->req = nng_aio_get_msg(pc->aio);
		pc->state = PC_WORK;
		dispatch(pc);
		break;
	case PC_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(pc->aio));
			if (rv == NNG_ECLOSED)
				return;
		}
		pctx_recv(pc);
		break;
	case PC_WORK:
		break;
	}
}

static int
queue_start(struct queue *q, struct participant *p, size_t nthreads)
{
	q->p = p;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if ((q->threads = calloc(nthreads, sizeof(*q->threads))) == NULL)
		return -1;
	for (; q->nthreads < nthreads; q->nthreads++)
		if (pthread_create(&q->threads[q->nthreads], NULL, worker_main,
		                   q) != 0)
			return -1;
	return 0;
}

static void
queue_stop(struct queue *q)
{
	if (q->p == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (size_t i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	/* Requests still queued die unanswered; the coordinator resends. */
	for (struct pctx *pc = q->head; pc != NULL; pc = pc->next) {
		wire_msg_free(&pc->m);
		nng_msg_free(pc->req);
	}
	free(q->threads);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

static int
open_contexts(struct participant *p, char *err, size_t errlen)
{
	int rv;

	p->nctxs = p->cfg->contexts;
	if ((p->ctxs = calloc(p->nctxs, sizeof(*p->ctxs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p->nctxs; i++) {
		struct pctx *pc = &p->ctxs[i];

		pc->p = p;
		if ((rv = nng_aio_alloc(&pc->aio, pctx_cb, pc)) != 0 ||
		    (rv = nng_ctx_open(&pc->ctx, p->rep)) != 0) {
			snprintf(err, errlen, "contexts: %s", nng_strerror(rv));
			return -1;
		}
	}
	for (size_t i = 0; i < p->nctxs; i++)
		pctx_recv(&p->ctxs[i]);
	return 0;
}

static void
render_metrics(void *arg, struct metrics_text *t)
{
	struct participant *p = arg;
	struct sweeper_stats st;
	struct branch_stats bst;
	static const char *const why[] = {"idle", "coordinator_restarted"};
	uint64_t rolled[2];

	metrics_put(t, "xact_participant_bad_requests_total", "counter",
	            "Requests dropped as malformed or misdirected.",
	            atomic_load(&p->bad_requests));
	metrics_put(t, "xact_participant_refused_total", "counter",
	            "Requests turned away because too much work was queued.",
	            atomic_load(&p->refused));
	metrics_put(t, "xact_participant_work_in_flight", "gauge",
	            "Statements and PREPAREs queued or running.",
	            atomic_load(&p->work_inflight));
	metrics_put(t, "xact_participant_pool_size", "gauge",
	            "Database connections for branches (pool_size).",
	            p->cfg->pool_size);
	sweeper_get_stats(p->sweeper, &st);
	metrics_put(t, "xact_participant_prepared_branches", "gauge",
	            "Branches prepared in the database, at the last sweep.",
	            st.prepared);
	metrics_put(t, "xact_participant_oldest_prepared_milliseconds", "gauge",
	            "Age of the oldest prepared branch, at the last sweep.",
	            st.oldest_ms);
	metrics_put(t, "xact_participant_sweep_failures_total", "counter",
	            "Sweeps that could not read the database.", st.failures);
	branch_get_stats(p->branches, &bst);
	rolled[0] = bst.idle;
	rolled[1] = bst.superseded;
	metrics_put_labelled(t, "xact_participant_open_rollbacks_total",
	                     "counter",
	                     "Open (unprepared) branches rolled back by the "
	                     "participant, by why.",
	                     "reason", why, rolled, 2);
}

static const char *
health(void *arg)
{
	struct participant *p = arg;
	struct sweeper_stats st;

	sweeper_get_stats(p->sweeper, &st);
	return st.last_failed ? "the database could not be read at the last "
	                        "sweep"
	                      : NULL;
}

int
participant_start(const struct part_config *cfg, struct participant **out,
                  char *err, size_t errlen)
{
	struct participant *p = calloc(1, sizeof(*p));
	size_t nresolve = cfg->pool_size / 2 > 2 ? cfg->pool_size / 2 : 2;
	struct branch_limits lim = {
	    .acquire_wait_ms = 5000,
	    .idle_timeout_ms = cfg->idle_timeout_ms,
	    .tombstone_ms = 10 * 60 * 1000,
	    .max_result_bytes = MAX_RESULT_BYTES,
	    .one_phase_retention_ms = cfg->one_phase_retention_ms,
	};

	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->cfg = cfg;
	if (tls_process_use(cfg->tls_ca, cfg->tls_cert, cfg->tls_key, err,
	                    errlen) != 0) {
		free(p);
		return -1;
	}
	if (pg_pool_open(cfg->database, cfg->pool_size,
	                 cfg->statement_timeout_ms, &p->work_pool, err,
	                 errlen) != 0 ||
	    pg_pool_open(cfg->database, nresolve, cfg->statement_timeout_ms,
	                 &p->resolve_pool, err, errlen) != 0)
		goto fail;
	if (branches_open(p->work_pool, p->resolve_pool, &lim, &p->branches) !=
	    0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (termination_start(cfg, p->branches, &p->termination, err, errlen) !=
	    0)
		goto fail;
	branches_set_termination(p->branches, p->termination, cfg->name);
	/* Open branches may hold every work connection while idle: more
	 * workers than connections keep their next statements flowing. */
	if (queue_start(&p->work, p, 2 * (size_t)cfg->pool_size) != 0 ||
	    queue_start(&p->resolve, p, nresolve) != 0) {
		snprintf(err, errlen, "cannot start worker threads");
		goto fail;
	}
	if (net_listen_rep(cfg->listen, &p->rep, err, errlen) != 0)
		goto fail;
	p->rep_open = true;
	if (open_contexts(p, err, errlen) != 0)
		goto fail;
	if (sweeper_start(cfg, p->branches, p->resolve_pool, &p->sweeper, err,
	                  errlen) != 0)
		goto fail;
	if (cfg->metrics_listen != NULL &&
	    metrics_start(cfg->metrics_listen, render_metrics, health, p,
	                  &p->metrics, err, errlen) != 0)
		goto fail;
	xlog_info("%s listening on %s (pool %u + %zu)", cfg->name, cfg->listen,
	          cfg->pool_size, nresolve);
	*out = p;
	return 0;
fail:
	participant_stop(p);
	return -1;
}

void
participant_stop(struct participant *p)
{
	metrics_stop(p->metrics);
	if (p->rep_open)
		nng_close(p->rep); /* no new requests */
	/* Workers may wait on locks for a whole statement timeout; open
	 * branches die with their connections anyway (R1), prepared ones
	 * are not running anything. */
	if (p->branches != NULL)
		branch_cancel_all(p->branches);
	sweeper_stop(p->sweeper);
	queue_stop(&p->work);
	queue_stop(&p->resolve);
	termination_stop(p->termination);
	for (size_t i = 0; i < p->nctxs; i++) {
		if (p->ctxs[i].aio != NULL) {
			nng_aio_stop(p->ctxs[i].aio);
			nng_aio_free(p->ctxs[i].aio);
		}
	}
	branches_close(p->branches);
	pg_pool_close(p->work_pool);
	pg_pool_close(p->resolve_pool);
	xlog_info("stopped (%llu bad requests)",
	          (unsigned long long)atomic_load(&p->bad_requests));
	free(p->ctxs);
	free(p);
	tls_process_drop();
}
