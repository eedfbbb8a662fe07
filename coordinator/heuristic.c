/*
 * heuristic: an operator decides a gid (xactctl resolve, WIRE_RESOLVE).
 *
 * The decision log is never contradicted. Where it holds a decision (a
 * COMMIT record, an earlier operator's decision, or the presumed abort of
 * a gid this log issued) the request either agrees and is answered with
 * that outcome, or is refused (WIRE_E_CONFLICT). While the coordinator is
 * still deciding (phase 1, 3PC pre-commit) it is refused (WIRE_E_BUSY).
 *
 * Only a gid the log did not issue (the log was lost or replaced; its
 * participants' inquiries hold their branches prepared) takes the
 * operator's decision: a forced HEURISTIC record with who and why, then
 * COMMIT or ROLLBACK to every configured participant, as after a COMMIT
 * record (one without the branch acks). An agreeing abort of a gid this
 * log issued sends ROLLBACK to every participant now, without a record:
 * the log decided it already.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coordinator.h"
#include "internal.h"
#include "log.h"

struct decision {
	struct tx *tx;
	struct cctx *cc;
	bool commit;
	char who[DLOG_WHO_MAX];
	char why[DLOG_WHY_MAX];
};

static void
reply_outcome(struct cctx *cc, const char *gid, enum wire_outcome o,
              const char *text)
{
	struct wire_buf b;

	wire_buf_init(&b, WIRE_OUTCOME);
	wire_put_str(&b, WIRE_T_GID, gid);
	wire_put_u32(&b, WIRE_T_CODE, (uint32_t)o);
	wire_put_str(&b, WIRE_T_TEXT, text);
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}

/* The outcome is known already (o; IN_PROGRESS: being decided). */
static void
answer_known(struct cctx *cc, const char *gid, bool commit, enum wire_outcome o,
             const char *source)
{
	enum wire_outcome want = commit ? WIRE_COMMITTED : WIRE_ABORTED;

	if (o == WIRE_IN_PROGRESS)
		cctx_reply_error(cc, WIRE_E_BUSY, "%s: refused: %s", gid,
		                 source);
	else if (o != want)
		cctx_reply_error(cc, WIRE_E_CONFLICT,
		                 "%s: refused: %s: it is %s", gid, source,
		                 wire_outcome_name(o));
	else
		reply_outcome(cc, gid, o, source);
}

/* On the log's writer thread: the operator's decision is durable. */
static void
decision_durable(void *arg)
{
	struct decision *dc = arg;
	struct tx *tx = dc->tx;
	struct coordinator *co = tx->co;
	uint64_t now = clock_now_ms();
	char text[128], gid[GID_MAX];

	/* Once unlocked, the ticker may free tx (after it lingered). */
	snprintf(gid, sizeof(gid), "%s", tx->gid);
	pthread_mutex_lock(&tx->mu);
	tx->busy = false;
	tx->outstanding--;
	if (dc->commit)
		twopc_recover(&tx->sm, now);
	else
		twopc_abort(&tx->sm, TWOPC_ABORT_OTHER,
		            "an operator decided abort", now);
	pthread_mutex_unlock(&tx->mu);
	atomic_fetch_add(&co->stats.heuristic[dc->commit ? 0 : 1], 1);
	xlog_warn("gid=%s heuristic %s by %s: %s", gid,
	          dc->commit ? "COMMIT" : "ABORT", dc->who, dc->why);
	snprintf(text, sizeof(text),
	         "heuristic %s by %s recorded in the decision log",
	         dc->commit ? "commit" : "abort", dc->who);
	reply_outcome(dc->cc, gid, dc->commit ? WIRE_COMMITTED : WIRE_ABORTED,
	              text);
	free(dc);
}

/* The queueing failed: the tx leaves the table as if never made. */
static void
drop_tx(struct coordinator *co, struct tx *tx)
{
	pthread_mutex_lock(&co->mu);
	pthread_mutex_lock(&tx->mu);
	hmap_remove(&co->txs, tx->gid);
	pthread_mutex_unlock(&tx->mu);
	pthread_mutex_unlock(&co->mu);
	tx_free(tx);
}

/* Called with co->mu held, which it releases. */
static void
decide(struct cctx *cc, struct coordinator *co, const struct wire_msg *m,
       const char *who)
{
	const char *names[DLOG_MAX_NAMES];
	struct decision *dc = calloc(1, sizeof(*dc));
	struct tx *tx = dc != NULL ? tx_new_heuristic(co, m->gid) : NULL;

	if (tx == NULL) {
		pthread_mutex_unlock(&co->mu);
		free(dc);
		cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
		return;
	}
	tx->outstanding++;
	pthread_mutex_unlock(&co->mu);
	dc->tx = tx;
	dc->cc = cc;
	dc->commit = m->code == WIRE_COMMITTED;
	snprintf(dc->who, sizeof(dc->who), "%s", who);
	snprintf(dc->why, sizeof(dc->why), "%s", m->text);
	for (size_t i = 0; i < co->npeers; i++)
		names[i] = co->cfg->participants[i].name;
	if (dlog_heuristic(co->dlog, m->gid, dc->commit, names, co->npeers, who,
	                   m->text, decision_durable, dc) != 0) {
		drop_tx(co, tx);
		free(dc);
		cctx_reply_error(cc, WIRE_E_SHUTTING_DOWN,
		                 "%s: the decision log takes no more records",
		                 m->gid);
	}
}

/*
 * An abort agreeing with the log (why it is aborted): ROLLBACK again to
 * every participant. Called with co->mu held, which it releases.
 */
static void
resend_rollback(struct cctx *cc, struct coordinator *co,
                const struct wire_msg *m, const char *who, const char *why)
{
	char text[256];

	struct tx *tx = tx_new_heuristic(co, m->gid);

	pthread_mutex_unlock(&co->mu);
	if (tx == NULL) {
		cctx_reply_error(cc, WIRE_E_INTERNAL, "out of memory");
		return;
	}
	pthread_mutex_lock(&tx->mu);
	tx->busy = false;
	twopc_abort(&tx->sm, TWOPC_ABORT_OTHER, "presumed abort",
	            clock_now_ms());
	pthread_mutex_unlock(&tx->mu);
	xlog_info("gid=%s resolve --abort by %s (%s): agrees (%s); ROLLBACK "
	          "sent to every participant",
	          m->gid, who, m->text, why);
	snprintf(text, sizeof(text), "%s: ROLLBACK sent to every participant",
	         why);
	reply_outcome(cc, m->gid, WIRE_ABORTED, text);
}

/*
 * Not in the table: the log's answer, as an inquiry or a status gets it
 * (coord_outcome). Called with co->mu held, which it releases.
 */
static void
resolve_from_log(struct cctx *cc, struct coordinator *co,
                 const struct wire_msg *m, const char *who)
{
	bool commit = m->code == WIRE_COMMITTED;
	enum dlog_answer a = dlog_lookup(co->dlog, m->gid);
	enum coord_source src;
	enum wire_outcome o = log_outcome(co, m->gid, false, &src);
	const char *why = a == DLOG_ABORTED
	                      ? "the decision log holds an operator's abort"
	                      : "the decision log holds no COMMIT for it "
	                        "(presumed abort)";

	if (src == SOURCE_UNKNOWN) {
		decide(cc, co, m, who);
		return;
	}
	if (src == SOURCE_FORGOTTEN)
		/* An ended commit has no branch left prepared: one still
		 * prepared aborted, also when the log forgot which. */
		why = "older than the outcomes the decision log retains: a "
		      "branch still prepared of it aborted";
	if (!commit && (src == SOURCE_FORGOTTEN ||
	                (src == SOURCE_KNOWN && o == WIRE_ABORTED))) {
		resend_rollback(cc, co, m, who, why);
		return;
	}
	pthread_mutex_unlock(&co->mu);
	if (src == SOURCE_ASK) {
		cctx_reply_error(cc, WIRE_E_BUSY,
		                 "%s: refused: only its participants know (it "
		                 "may have committed in one phase): xactctl "
		                 "status %s asks them",
		                 m->gid, m->gid);
		return;
	}
	if (a == DLOG_COMMITTED)
		why = "the decision log holds its COMMIT";
	else if (a == DLOG_PRECOMMITTED)
		why = "3PC pre-commit: its participants decide it";
	else if (o == WIRE_COMMITTED)
		why = "it committed in one phase";
	answer_known(cc, m->gid, commit,
	             src == SOURCE_FORGOTTEN ? WIRE_ABORTED : o, why);
}

void
coord_handle_resolve(struct cctx *cc, struct coordinator *co,
                     const struct wire_msg *m)
{
	const char *who = wire_first(m, WIRE_T_NAME);
	bool commit = m->code == WIRE_COMMITTED;
	struct hmap_node *n;
	struct gid_parts p;

	if (strlen(who) >= DLOG_WHO_MAX || strlen(m->text) >= DLOG_WHY_MAX) {
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "resolve: who is at most %d bytes, why at "
		                 "most %d",
		                 DLOG_WHO_MAX - 1, DLOG_WHY_MAX - 1);
		return;
	}
	if (!gid_parse(m->gid, &p) || strcmp(p.node, co->cfg->node) != 0) {
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "%s is not a gid of coordinator %s", m->gid,
		                 co->cfg->node);
		return;
	}
	pthread_mutex_lock(&co->mu);
	if ((n = hmap_get(&co->txs, m->gid)) != NULL) {
		struct tx *tx = container_of(n, struct tx, node);
		enum wire_outcome o;
		char state[96];

		pthread_mutex_lock(&tx->mu);
		pthread_mutex_unlock(&co->mu);
		o = twopc_outcome(&tx->sm);
		if (tx->heuristic && tx->busy)
			o = WIRE_IN_PROGRESS; /* its record is being written */
		snprintf(state, sizeof(state),
		         o == WIRE_IN_PROGRESS
		             ? "the coordinator is deciding it (%s)"
		             : "the coordinator decided it (%s)",
		         twopc_state_name(tx->sm.state));
		pthread_mutex_unlock(&tx->mu);
		answer_known(cc, m->gid, commit, o, state);
		return;
	}
	if (p.incarnation == co->incarnation && p.seq > co->next_seq) {
		/* Its tx could still begin: a ROLLBACK now would spoil it. */
		pthread_mutex_unlock(&co->mu);
		cctx_reply_error(cc, WIRE_E_BAD_REQUEST,
		                 "%s: refused: not issued yet", m->gid);
		return;
	}
	resolve_from_log(cc, co, m, who);
}
