/*
 * 3PC at the participant: the acceptor, the timers, the backup rounds.
 *
 * Rules this file keeps (docs/protocols.md, lib/term.h):
 *  T1 Every change of a gid's acceptor is in the log (forced) before it is
 *     answered or acted on; WAIT and the YES vote are logged before
 *     PREPARE TRANSACTION.
 *  T2 A gid's acceptor changes only under its stripe lock, so a state
 *     request and a PREPARE of one gid never interleave.
 *  T3 Only a decision moves a prepared 3PC branch, and a decision is
 *     logged before COMMIT / ROLLBACK PREPARED runs.
 *  T4 The backup never decides alone: it runs a round of lib/term (quorum
 *     mode: a majority must answer and accept, or it waits).
 *
 * A probe is a state request of ballot 0: it changes nothing (no ballot
 * is lower than a promise) and tells whether the peer voted and what it
 * decided. Elections use it: a candidate defers to a lower-ranked peer
 * that voted YES and is undecided, since that peer runs its own timer.
 */
#include "termination.h"

#include <inttypes.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "failpoint.h"
#include "gid.h"
#include "hmap.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "plog.h"

#define NSTRIPES      64
#define RETAIN_DONE   65536 /* resolved gids still answered to peers */
#define COMPACT_BYTES (64u << 20)
#define MAX_DEFER     3  /* periods a candidate waits for a lower rank */
#define MAX_PEERS     64 /* distinct peer URLs with an open socket */
#define BATCH_DUE     32 /* gids handled per pass of the thread */
#define RESOLVE_RETRY 1000

/* A 3PC gid this participant must see finished. */
struct pending {
	struct hmap_node node;
	char gid[GID_MAX];
	unsigned rank;
	uint64_t due_ms;
	unsigned deferrals;
	uint64_t seen; /* highest ballot a peer refused us with */
};

struct tpeer {
	char url[PLOG_URL_MAX];
	struct peer *p;
};

struct due {
	uint64_t now;
	size_t n;
	char gid[BATCH_DUE][GID_MAX];
	unsigned deferrals[BATCH_DUE];
	uint64_t seen[BATCH_DUE];
	const struct termination *t;
};

struct termination {
	const struct part_config *cfg;
	struct branches *bs;
	struct plog *log;
	pthread_mutex_t stripe[NSTRIPES];
	pthread_mutex_t mu; /* guards pending */
	struct hmap pending;
	atomic_bool stopping;
	pthread_t thread;
	bool thread_started;
	/* The thread's own: */
	struct tpeer peers[MAX_PEERS];
	size_t npeers;
	uint64_t last_compact_ms;
	struct due due;
};

/* One peer's answer, as the thread sees it. */
struct answer {
	bool got;
	uint32_t code; /* wire_state; 0: no STATE came back */
	enum term_value decided;
	enum term_value accepted;
	uint64_t acc_ballot;
	uint64_t promised;
	bool voted;
};

static pthread_mutex_t *
stripe(struct termination *t, const char *gid)
{
	uint32_t h = 2166136261u;

	for (const char *p = gid; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return &t->stripe[h % NSTRIPES];
}

static bool
same_acceptor(const struct term_acceptor *a, const struct term_acceptor *b)
{
	return a->voted_yes == b->voted_yes && a->promised == b->promised &&
	       a->accepted_ballot == b->accepted_ballot &&
	       a->accepted == b->accepted && a->decided == b->decided;
}

/* Later for higher ranks, so that the lowest reachable one goes first. */
static uint64_t
next_due(const struct termination *t, unsigned rank, uint64_t now)
{
	uint64_t base = t->cfg->termination_timeout_ms;

	return now + base + (uint64_t)rank * base / 2;
}

/* ---- the pending table ---- */

static void
pending_arm(struct termination *t, const char *gid, unsigned rank, uint64_t due)
{
	struct hmap_node *n;
	struct pending *p;

	pthread_mutex_lock(&t->mu);
	if ((n = hmap_get(&t->pending, gid)) != NULL) {
		p = container_of(n, struct pending, node);
		p->due_ms = due;
	} else if ((p = calloc(1, sizeof(*p))) != NULL) {
		snprintf(p->gid, sizeof(p->gid), "%s", gid);
		p->rank = rank;
		p->due_ms = due;
		hmap_put(&t->pending, &p->node, p->gid);
	} else
		xlog_error("gid=%s out of memory for its 3PC timer", gid);
	pthread_mutex_unlock(&t->mu);
}

/* Someone is at work on gid (a coordinator, a backup): wait longer. */
static void
pending_push(struct termination *t, const char *gid)
{
	struct hmap_node *n;
	struct pending *p;
	uint64_t due;

	pthread_mutex_lock(&t->mu);
	if ((n = hmap_get(&t->pending, gid)) != NULL) {
		p = container_of(n, struct pending, node);
		due = next_due(t, p->rank, clock_now_ms());
		if (due > p->due_ms)
			p->due_ms = due;
	}
	pthread_mutex_unlock(&t->mu);
}

static void
pending_drop(struct termination *t, const char *gid)
{
	struct hmap_node *n;

	pthread_mutex_lock(&t->mu);
	n = hmap_remove(&t->pending, gid);
	pthread_mutex_unlock(&t->mu);
	free(n != NULL ? container_of(n, struct pending, node) : NULL);
}

/* ---- the acceptor (T1, T2) ---- */

/* Read gid's acceptor; UNKNOWN reads as the initial state. */
static enum plog_find
load(struct termination *t, const char *gid, struct term_acceptor *acc)
{
	enum plog_find f = plog_get(t->log, gid, acc, NULL, NULL);

	if (f != PLOG_KNOWN)
		memset(acc, 0, sizeof(*acc));
	return f;
}

/* Log acc if it differs from before. -1: the log failed. */
static int
store(struct termination *t, const char *gid,
      const struct term_acceptor *before, const struct term_acceptor *acc)
{
	if (same_acceptor(before, acc))
		return 0;
	if (plog_put(t->log, gid, acc) != 0) {
		xlog_error("gid=%s cannot write the 3PC log", gid);
		return -1;
	}
	return 0;
}

static void
answer_state(struct termination *t, const char *gid, uint64_t ballot,
             struct answer *out)
{
	struct term_acceptor acc, before;
	struct term_state st;
	enum plog_find f;
	bool push = false;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(stripe(t, gid));
	f = load(t, gid, &acc);
	before = acc;
	out->got = true;
	if (f == PLOG_FORGOTTEN) {
		out->code = WIRE_ST_FORGOTTEN;
	} else if (ballot == 0 || !term_on_state(&acc, ballot, &st)) {
		/* A probe, or a ballot not above the promise. */
		out->code = ballot == 0 ? WIRE_ST_ANSWER : WIRE_ST_REFUSED;
		out->decided = acc.decided;
		if (ballot == 0) {
			out->accepted = acc.accepted;
			out->acc_ballot = acc.accepted_ballot;
		}
	} else if (store(t, gid, &before, &acc) != 0) {
		out->got = false;
	} else {
		out->code = WIRE_ST_ANSWER;
		out->decided = st.decided;
		out->accepted = st.accepted;
		out->acc_ballot = st.accepted_ballot;
		push = st.decided == TERM_NONE;
	}
	out->promised = acc.promised;
	out->voted = acc.voted_yes;
	pthread_mutex_unlock(stripe(t, gid));
	if (push)
		pending_push(t, gid);
}

static void
answer_precommit(struct termination *t, const char *gid, uint64_t ballot,
                 enum term_value v, struct answer *out)
{
	struct term_acceptor acc, before;
	enum plog_find f;
	enum term_accept r = TERM_REFUSED;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(stripe(t, gid));
	f = load(t, gid, &acc);
	before = acc;
	out->got = true;
	if (f == PLOG_FORGOTTEN)
		out->code = WIRE_ST_FORGOTTEN;
	else if ((r = term_on_accept(&acc, ballot, v)) != TERM_REFUSED &&
	         store(t, gid, &before, &acc) != 0)
		out->got = false;
	else
		out->code =
		    r == TERM_ACCEPTED ? WIRE_ST_ACCEPTED : WIRE_ST_REFUSED;
	out->decided = acc.decided;
	out->promised = acc.promised;
	out->voted = acc.voted_yes;
	pthread_mutex_unlock(stripe(t, gid));
	if (out->got && r == TERM_ACCEPTED)
		pending_push(t, gid);
}

static void
encode_answer(struct wire_buf *r, const char *gid, const struct answer *a)
{
	if (!a->got) {
		net_error_buf(r, WIRE_E_INTERNAL, "cannot write the 3PC log");
		return;
	}
	wire_buf_init(r, WIRE_STATE);
	wire_put_str(r, WIRE_T_GID, gid);
	wire_put_u32(r, WIRE_T_CODE, a->code);
	wire_put_u32(r, WIRE_T_VALUE, (uint32_t)a->decided);
	wire_put_u32(r, WIRE_T_ACCEPTED, (uint32_t)a->accepted);
	wire_put_u64(r, WIRE_T_ACC_BALLOT, a->acc_ballot);
	wire_put_u64(r, WIRE_T_BALLOT, a->promised);
	wire_put_u32(r, WIRE_T_VOTED, a->voted ? 1 : 0);
}

/* Without a log there is no 3PC state to answer from. */
static bool
refused_without_log(const struct termination *t, struct wire_buf *reply)
{
	if (t != NULL)
		return false;
	net_error_buf(reply, WIRE_E_BAD_REQUEST,
	              "this participant has no 3PC log (log_dir)");
	return true;
}

void
termination_on_state(struct termination *t, const struct wire_msg *m,
                     struct wire_buf *reply)
{
	struct answer a;

	if (refused_without_log(t, reply))
		return;
	answer_state(t, m->gid, m->ballot, &a);
	encode_answer(reply, m->gid, &a);
}

void
termination_on_precommit(struct termination *t, const struct wire_msg *m,
                         struct wire_buf *reply)
{
	struct answer a;

	if (refused_without_log(t, reply))
		return;
	answer_precommit(t, m->gid, m->ballot, (enum term_value)m->value, &a);
	if (a.code == WIRE_ST_ACCEPTED)
		FAILPOINT("participant.after_accept");
	encode_answer(reply, m->gid, &a);
}

/* ---- hooks of branch.c ---- */

enum termination_prior
termination_prior(struct termination *t, const char *gid)
{
	struct term_acceptor acc, before;
	enum termination_prior p = TERMINATION_UNKNOWN;
	enum plog_find f;

	if (t == NULL)
		return TERMINATION_UNKNOWN;
	pthread_mutex_lock(stripe(t, gid));
	f = load(t, gid, &acc);
	before = acc;
	if (f == PLOG_UNKNOWN)
		p = TERMINATION_NEW;
	else if (f == PLOG_KNOWN && acc.decided != TERM_NONE)
		p = acc.decided == TERM_COMMIT ? TERMINATION_COMMIT
		                               : TERMINATION_ABORT;
	else if (f == PLOG_KNOWN && acc.voted_yes)
		p = TERMINATION_VOTED;
	else if (f == PLOG_KNOWN) {
		/* WAIT without the vote: it never prepared, so no YES left
		 * this participant; abort for good. */
		term_abort_unvoted(&acc);
		if (store(t, gid, &before, &acc) == 0)
			p = TERMINATION_ABORT;
	}
	pthread_mutex_unlock(stripe(t, gid));
	return p;
}

int
termination_wait(struct termination *t, const struct wire_msg *m,
                 const char *self, struct pg_err *e)
{
	struct plog_wait *w;
	struct term_acceptor acc;
	uint32_t k = 0;
	int rc = -1;

	if (t == NULL) {
		pg_err_set(e, "0A000",
		           "3PC needs the participant's log_dir in its config");
		return -1;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		pg_err_set(e, "53200", "out of memory");
		return -1;
	}
	w->rank = m->rank;
	w->quorum = m->quorum == 1;
	for (uint32_t i = 0; i + 1 < m->nitems; i += 2) {
		if (m->items[i].tag != WIRE_T_NAME)
			break;
		if (strlen(m->items[i].str) >= PLOG_NAME_MAX ||
		    strlen(m->items[i + 1].str) >= PLOG_URL_MAX ||
		    k == TERM_MAX_PARTS) {
			pg_err_set(e, "22023", "3PC participant list too long");
			goto out;
		}
		snprintf(w->peers[k].name, PLOG_NAME_MAX, "%s",
		         m->items[i].str);
		snprintf(w->peers[k].url, PLOG_URL_MAX, "%s",
		         m->items[i + 1].str);
		k++;
	}
	w->npeers = k;
	if (w->rank >= k || strcmp(w->peers[w->rank].name, self) != 0) {
		pg_err_set(
		    e, "22023", "3PC PREPARE gives rank %u to %s, not to %s",
		    w->rank, w->rank < k ? w->peers[w->rank].name : "nobody",
		    self);
		goto out;
	}
	memset(&acc, 0, sizeof(acc));
	pthread_mutex_lock(stripe(t, m->gid));
	if (plog_get(t->log, m->gid, NULL, NULL, NULL) != PLOG_UNKNOWN)
		pg_err_set(e, "40P01", "gid %s is known to the 3PC log",
		           m->gid);
	else if (!term_vote_yes(&acc))
		pg_err_set(e, "40P01", "gid %s was aborted", m->gid);
	else if (plog_wait(t->log, m->gid, w) != 0 ||
	         plog_put(t->log, m->gid, &acc) != 0)
		pg_err_set(e, "58030", "cannot write the 3PC log");
	else
		rc = 0;
	pthread_mutex_unlock(stripe(t, m->gid));
out:
	free(w);
	return rc;
}

static int decide_logged(struct termination *t, const char *gid,
                         enum term_value v);

void
termination_prepared(struct termination *t, const char *gid, bool ok)
{
	struct plog_wait *w;
	bool has_wait = false;
	unsigned rank = 0;

	if (!ok) {
		/* No YES left this participant: abort is the only outcome. */
		if (decide_logged(t, gid, TERM_ABORT) == 0)
			termination_done(t, gid);
		return;
	}
	if ((w = malloc(sizeof(*w))) != NULL &&
	    plog_get(t->log, gid, NULL, w, &has_wait) == PLOG_KNOWN && has_wait)
		rank = w->rank;
	free(w);
	pending_arm(t, gid, rank, next_due(t, rank, clock_now_ms()));
}

static int
decide_logged(struct termination *t, const char *gid, enum term_value v)
{
	struct term_acceptor acc, before;
	enum plog_find f;
	int rc = 0;

	pthread_mutex_lock(stripe(t, gid));
	f = load(t, gid, &acc);
	before = acc;
	if (f == PLOG_FORGOTTEN) {
		/* Resolved long ago: PostgreSQL no longer holds it, so
		 * acting finds nothing. */
	} else if (!term_on_decide(&acc, v)) {
		xlog_error("gid=%s decision %s refused: this participant "
		           "decided %s (plain 3PC under a partition?)",
		           gid, term_value_name(v),
		           term_value_name(acc.decided));
		rc = -1;
	} else
		rc = store(t, gid, &before, &acc);
	pthread_mutex_unlock(stripe(t, gid));
	return rc;
}

int
termination_decide(struct termination *t, const char *gid, enum term_value v)
{
	if (t == NULL)
		return v == TERM_ABORT ? 0 : -1;
	return decide_logged(t, gid, v);
}

void
termination_done(struct termination *t, const char *gid)
{
	if (t == NULL)
		return;
	plog_done(t->log, gid);
	pending_drop(t, gid);
}

bool
termination_owns(struct termination *t, const char *gid)
{
	return t != NULL &&
	       plog_get(t->log, gid, NULL, NULL, NULL) != PLOG_UNKNOWN;
}

/* ---- calls to other participants (the thread only) ---- */

static struct peer *
peer_for(struct termination *t, const struct plog_peer *pp)
{
	char err[256];
	struct peer *p;

	for (size_t i = 0; i < t->npeers; i++)
		if (strcmp(t->peers[i].url, pp->url) == 0)
			return t->peers[i].p;
	if (t->npeers == MAX_PEERS) {
		/* Peers come and go over months: start afresh. */
		for (size_t i = 0; i < t->npeers; i++) {
			peer_close(t->peers[i].p);
			peer_free(t->peers[i].p);
		}
		t->npeers = 0;
	}
	if (peer_open(pp->name, pp->url, &p, err, sizeof(err)) != 0) {
		xlog_warn("peer %s: %s", pp->name, err);
		return NULL;
	}
	snprintf(t->peers[t->npeers].url, PLOG_URL_MAX, "%s", pp->url);
	t->peers[t->npeers++].p = p;
	return p;
}

struct batch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	struct answer ans[TERM_MAX_PARTS];
};

struct batch_call {
	struct batch *b;
	size_t i;
};

static void
batch_reply(void *arg, int rv, const struct wire_msg *m, const void *raw,
            size_t rawlen)
{
	struct batch_call *c = arg;
	struct batch *b = c->b;
	struct answer *a = &b->ans[c->i];

	(void)raw;
	(void)rawlen;
	pthread_mutex_lock(&b->mu);
	if (rv == 0 && m->type == WIRE_STATE) {
		a->got = true;
		a->code = m->code;
		a->decided = (enum term_value)m->value;
		a->accepted = (enum term_value)m->accepted;
		a->acc_ballot = m->acc_ballot;
		a->promised = m->ballot;
		a->voted = m->voted == 1;
	} else if (rv == 0 && m->type == WIRE_ACK) {
		a->got = true; /* a decision delivered */
	}
	b->pending--;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	free(c);
}

/*
 * Send req to every peer i with want[i] (self excluded: the caller
 * answers for itself) and wait for every answer or its timeout.
 */
static void
batch_run(struct termination *t, const struct plog_wait *w, const bool *want,
          const struct wire_buf *req, struct batch *b)
{
	uint32_t timeout = t->cfg->termination_timeout_ms / 2;

	if (timeout < 100)
		timeout = 100;
	if (timeout > 1000)
		timeout = 1000;
	memset(b->ans, 0, sizeof(b->ans));
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->pending = 0;
	for (size_t i = 0; i < w->npeers; i++) {
		struct batch_call *c;
		struct peer *p;

		if (!want[i] || i == w->rank)
			continue;
		if ((p = peer_for(t, &w->peers[i])) == NULL ||
		    (c = malloc(sizeof(*c))) == NULL)
			continue;
		c->b = b;
		c->i = i;
		pthread_mutex_lock(&b->mu);
		b->pending++;
		pthread_mutex_unlock(&b->mu);
		if (peer_call(p, req, timeout, batch_reply, c) != 0) {
			pthread_mutex_lock(&b->mu);
			b->pending--;
			pthread_mutex_unlock(&b->mu);
			free(c);
		}
	}
	pthread_mutex_lock(&b->mu);
	while (b->pending > 0)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
}

static void
request(struct wire_buf *req, enum wire_type type, const char *gid,
        uint64_t ballot, enum term_value v)
{
	wire_buf_init(req, type);
	wire_put_str(req, WIRE_T_GID, gid);
	if (type == WIRE_BR_COMMIT || type == WIRE_BR_ROLLBACK) {
		wire_put_u32(req, WIRE_T_PROTOCOL, WIRE_3PC);
		return;
	}
	wire_put_u64(req, WIRE_T_BALLOT, ballot);
	if (type == WIRE_BR_PRECOMMIT)
		wire_put_u32(req, WIRE_T_VALUE, (uint32_t)v);
}

/* ---- the thread: finishing what the coordinator left ---- */

/* Apply a decision here, then tell the others (they may not know). */
static void
finish(struct termination *t, const char *gid, const struct plog_wait *w,
       enum term_value v, const char *how)
{
	struct wire_buf req;
	struct batch b;
	bool want[TERM_MAX_PARTS];

	if (decide_logged(t, gid, v) != 0) {
		pending_arm(t, gid, w->rank, clock_now_ms() + RESOLVE_RETRY);
		return;
	}
	xlog_info("gid=%s %s: %s", gid, term_value_name(v), how);
	if (branch_resolve(t->bs, gid, v == TERM_COMMIT) == 0)
		termination_done(t, gid);
	else
		pending_arm(t, gid, w->rank, clock_now_ms() + RESOLVE_RETRY);
	for (size_t i = 0; i < w->npeers; i++)
		want[i] = true;
	request(&req, v == TERM_COMMIT ? WIRE_BR_COMMIT : WIRE_BR_ROLLBACK, gid,
	        0, v);
	batch_run(t, w, want, &req, &b);
	wire_buf_free(&req);
}

static bool
lower_rank_active(struct termination *t, const char *gid,
                  const struct plog_wait *w, enum term_value *learnt)
{
	struct wire_buf req;
	struct batch b;
	bool want[TERM_MAX_PARTS] = {false}, active = false;

	for (size_t i = 0; i < w->rank; i++)
		want[i] = true;
	request(&req, WIRE_BR_STATE, gid, 0, TERM_NONE);
	batch_run(t, w, want, &req, &b);
	wire_buf_free(&req);
	for (size_t i = 0; i < w->rank; i++) {
		const struct answer *a = &b.ans[i];

		if (!a->got || a->code != WIRE_ST_ANSWER)
			continue;
		if (a->decided != TERM_NONE)
			*learnt = a->decided;
		else if (a->voted)
			active = true;
	}
	return active;
}

/* A peer promised a higher ballot: the next round must go above it. */
static void
note_refusal(struct termination *t, const char *gid, uint64_t promised)
{
	struct hmap_node *n;

	pthread_mutex_lock(&t->mu);
	if ((n = hmap_get(&t->pending, gid)) != NULL) {
		struct pending *p = container_of(n, struct pending, node);

		if (promised > p->seen)
			p->seen = promised;
	}
	pthread_mutex_unlock(&t->mu);
}

/* One round of lib/term as backup coordinator. */
static void
run_round(struct termination *t, const char *gid, const struct plog_wait *w,
          uint64_t seen)
{
	struct term_round r;
	struct wire_buf req;
	struct batch b;
	struct answer self;
	bool want[TERM_MAX_PARTS];
	enum term_value learnt = TERM_NONE;
	uint64_t ballot = term_next_ballot(seen, w->rank);
	char how[160];

	if (term_round_start(&r, ballot, w->npeers, w->quorum) != 0)
		return;
	for (size_t i = 0; i < w->npeers; i++)
		want[i] = true;
	request(&req, WIRE_BR_STATE, gid, ballot, TERM_NONE);
	batch_run(t, w, want, &req, &b);
	wire_buf_free(&req);
	answer_state(t, gid, ballot, &self);
	b.ans[w->rank] = self;
	for (size_t i = 0; i < w->npeers; i++) {
		const struct answer *a = &b.ans[i];
		struct term_state st = {a->decided, a->acc_ballot, a->accepted};

		if (!a->got)
			continue;
		if (a->decided != TERM_NONE)
			learnt = a->decided;
		if (a->code == WIRE_ST_ANSWER)
			term_round_answer(&r, i, &st);
		else if (a->code == WIRE_ST_REFUSED)
			note_refusal(t, gid, a->promised);
	}
	FAILPOINT("participant.backup_collected");
	if (learnt != TERM_NONE) {
		finish(t, gid, w, learnt, "learnt from a participant");
		return;
	}
	if (!term_round_choose(&r)) {
		xlog_warn("gid=%s backup round %" PRIu64
		          ": too few answers (%s mode); waiting",
		          gid, ballot, w->quorum ? "quorum" : "plain");
		pending_arm(t, gid, w->rank,
		            next_due(t, w->rank, clock_now_ms()));
		return;
	}
	if (r.phase == TERM_ACCEPTING) {
		for (size_t i = 0; i < w->npeers; i++)
			want[i] = r.heard[i];
		request(&req, WIRE_BR_PRECOMMIT, gid, ballot, r.value);
		batch_run(t, w, want, &req, &b);
		wire_buf_free(&req);
		answer_precommit(t, gid, ballot, r.value, &self);
		b.ans[w->rank] = self;
		for (size_t i = 0; i < w->npeers; i++) {
			const struct answer *a = &b.ans[i];

			if (!a->got || !r.heard[i])
				continue;
			if (a->code == WIRE_ST_ACCEPTED)
				term_round_ack(&r, i);
			else if (a->decided != TERM_NONE)
				learnt = a->decided;
			else if (a->code == WIRE_ST_REFUSED)
				note_refusal(t, gid, a->promised);
		}
	}
	if (learnt != TERM_NONE) {
		finish(t, gid, w, learnt, "learnt from a participant");
		return;
	}
	if (r.phase != TERM_DECIDED) {
		xlog_warn("gid=%s backup round %" PRIu64
		          ": PRE-%s not accepted by enough; retrying",
		          gid, ballot,
		          r.value == TERM_COMMIT ? "COMMIT" : "ABORT");
		pending_arm(t, gid, w->rank,
		            next_due(t, w->rank, clock_now_ms()));
		return;
	}
	snprintf(how, sizeof(how),
	         "decided as backup coordinator (ballot %" PRIu64 ", %s mode)",
	         ballot, w->quorum ? "quorum" : "plain");
	finish(t, gid, w, r.value, how);
}

static void
handle_due(struct termination *t, const char *gid, unsigned deferrals,
           uint64_t refused_seen)
{
	struct term_acceptor acc;
	struct plog_wait *w = malloc(sizeof(*w));
	enum term_value learnt = TERM_NONE;
	bool has_wait = false;
	enum plog_find f;

	if (w == NULL)
		return;
	pthread_mutex_lock(stripe(t, gid));
	f = plog_get(t->log, gid, &acc, w, &has_wait);
	pthread_mutex_unlock(stripe(t, gid));
	if (f != PLOG_KNOWN || !has_wait) {
		pending_drop(t, gid);
	} else if (acc.decided != TERM_NONE) {
		/* Decided, PostgreSQL not told yet (or it failed). */
		if (branch_resolve(t->bs, gid, acc.decided == TERM_COMMIT) == 0)
			termination_done(t, gid);
		else
			pending_arm(t, gid, w->rank,
			            clock_now_ms() + RESOLVE_RETRY);
	} else if (!acc.voted_yes) {
		pending_drop(t, gid);
	} else if (w->rank > 0 && deferrals < MAX_DEFER &&
	           lower_rank_active(t, gid, w, &learnt) &&
	           learnt == TERM_NONE) {
		/* Election: a lower rank is alive and undecided; its timer
		 * fires first. Re-election happens when it stops answering
		 * (or after MAX_DEFER periods without progress). */
		struct hmap_node *n;

		pthread_mutex_lock(&t->mu);
		if ((n = hmap_get(&t->pending, gid)) != NULL) {
			struct pending *p =
			    container_of(n, struct pending, node);

			p->deferrals++;
			p->due_ms = next_due(t, p->rank, clock_now_ms());
		}
		pthread_mutex_unlock(&t->mu);
	} else if (learnt != TERM_NONE) {
		finish(t, gid, w, learnt, "learnt from a lower rank");
	} else {
		uint64_t seen = acc.promised > acc.accepted_ballot
		                    ? acc.promised
		                    : acc.accepted_ballot;

		if (refused_seen > seen)
			seen = refused_seen;

		xlog_info("gid=%s no word from the coordinator: running the "
		          "termination protocol as backup (rank %u)",
		          gid, w->rank);
		run_round(t, gid, w, seen);
	}
	free(w);
}

static int
collect_due(struct hmap_node *n, void *arg)
{
	struct pending *p = container_of(n, struct pending, node);
	struct due *d = arg;

	if (p->due_ms > d->now)
		return 0;
	if (d->n == BATCH_DUE)
		return 1;
	snprintf(d->gid[d->n], GID_MAX, "%s", p->gid);
	d->seen[d->n] = p->seen;
	d->deferrals[d->n++] = p->deferrals;
	/* Not picked again while it is handled; handling re-arms it. */
	p->due_ms = next_due(d->t, p->rank, d->now);
	return 0;
}

static void *
thread_main(void *arg)
{
	struct termination *t = arg;
	struct due *d = &t->due;
	char err[256];

	while (!atomic_load(&t->stopping)) {
		d->now = clock_now_ms();
		d->n = 0;
		d->t = t;
		pthread_mutex_lock(&t->mu);
		hmap_foreach(&t->pending, collect_due, d);
		pthread_mutex_unlock(&t->mu);
		for (size_t i = 0; i < d->n && !atomic_load(&t->stopping); i++)
			handle_due(t, d->gid[i], d->deferrals[i], d->seen[i]);
		if (d->now >= t->last_compact_ms + 1000) {
			t->last_compact_ms = d->now;
			if (plog_maybe_compact(t->log, COMPACT_BYTES, err,
			                       sizeof(err)) != 0)
				xlog_error("3PC log compaction failed: %s",
				           err);
		}
		if (d->n == 0)
			nng_msleep(20);
	}
	return NULL;
}

/* ---- start and stop ---- */

static void
recover_one(void *arg, const char *gid)
{
	struct termination *t = arg;
	struct plog_wait *w = malloc(sizeof(*w));
	bool has_wait = false;
	unsigned rank = 0;

	if (w != NULL &&
	    plog_get(t->log, gid, NULL, w, &has_wait) == PLOG_KNOWN && has_wait)
		rank = w->rank;
	free(w);
	xlog_info("gid=%s 3PC branch open at start: finishing it", gid);
	/* Soon, but staggered by rank like any timer. */
	pending_arm(t, gid, rank,
	            clock_now_ms() +
	                (uint64_t)rank * t->cfg->termination_timeout_ms / 2);
}

int
termination_start(const struct part_config *cfg, struct branches *bs,
                  struct termination **out, char *err, size_t errlen)
{
	struct termination *t;

	*out = NULL;
	if (cfg->log_dir == NULL)
		return 0;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    hmap_init(&t->pending, 256) != 0) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->cfg = cfg;
	t->bs = bs;
	for (size_t i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&t->stripe[i], NULL);
	pthread_mutex_init(&t->mu, NULL);
	if (plog_open(cfg->log_dir, RETAIN_DONE, &t->log, err, errlen) != 0)
		goto fail;
	if (plog_foreach_open(t->log, recover_one, t) != 0) {
		snprintf(err, errlen, "out of memory reading the 3PC log");
		goto fail;
	}
	if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
		snprintf(err, errlen, "cannot start the 3PC thread");
		goto fail;
	}
	t->thread_started = true;
	*out = t;
	return 0;
fail:
	termination_stop(t);
	return -1;
}

static int
free_pending(struct hmap_node *n, void *arg)
{
	(void)arg;
	free(container_of(n, struct pending, node));
	return 0;
}

void
termination_stop(struct termination *t)
{
	if (t == NULL)
		return;
	atomic_store(&t->stopping, true);
	if (t->thread_started)
		pthread_join(t->thread, NULL);
	for (size_t i = 0; i < t->npeers; i++)
		peer_close(t->peers[i].p);
	for (size_t i = 0; i < t->npeers; i++)
		peer_free(t->peers[i].p);
	if (t->log != NULL)
		plog_close(t->log);
	hmap_foreach(&t->pending, free_pending, NULL);
	hmap_destroy(&t->pending);
	for (size_t i = 0; i < NSTRIPES; i++)
		pthread_mutex_destroy(&t->stripe[i]);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
