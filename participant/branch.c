/*
 * A branch is this database's part of one global transaction.
 *
 *              EXEC / PREPARE with statements
 *   (new) ---------------------------------> ACTIVE  (local tx on a connection)
 *     |                                        |  PREPARE TRANSACTION ok
 *     | ROLLBACK first: tombstone              v
 *     |                                     PREPARED ----- COMMIT ---->
 * COMMITTED v                                        | ABORTED <----- error, NO
 * vote, ROLLBACK ---+     (read-only: ACTIVE -> COMMITTED)
 *
 * Rules:
 *  R1 Before voting YES the branch may abort on its own (SQL error, idle
 *     timeout, lost connection); after PREPARE TRANSACTION succeeded it never
 *     does: only COMMIT, ROLLBACK from the coordinator or the sweeper's
 *     inquiry decide it.
 *  R2 Idempotence per (gid, phase): a repeated EXEC (same seq) gets the
 *     cached reply; a repeated PREPARE gets the same vote; COMMIT of a gid
 *     PostgreSQL no longer knows (42704) was committed already and is acked;
 *     ROLLBACK of an unknown gid is acked.
 *  R3 A ROLLBACK that arrives before its PREPARE leaves a tombstone
 *     (ABORTED), so the late PREPARE votes NO.
 *  R4 A ROLLBACK for a branch a worker is busy with sets abort_requested
 *     and cancels the running statement; whoever holds the branch next sees
 *     the flag and rolls back (see branch_unlock()).
 *  R5 No client statement may end or nest the local transaction
 *     (pg_is_txn_control): a COMMIT inside a branch would break atomicity.
 *  R6 3PC branches (termination.h): WAIT and the YES vote are logged before
 *     PREPARE TRANSACTION, and a decision before it is acted on. A branch
 *     that voted YES in a past life is never prepared again; a read-only
 *     branch prepares too, since its peers may ask it for its state.
 *  R7 One-phase (protocol 1, onephase.h): the only branch commits at once.
 *     Its answers are definite: COMMITTED, or NO only when it can never
 *     commit. A COMMIT whose result was lost leaves it IN-DOUBT, and only
 *     its marker row tells; so does every one-phase request for a gid not
 *     known here. Where one-phase cannot run, it prepares (YES): two-phase.
 *  R8 A coordinator's new incarnation (a gid of a higher incarnation than
 *     any this node opened a branch with) means its last process is gone,
 *     and with it the only memory of that process's open branches: no one
 *     will prepare them. Their local transactions are rolled back then (R1),
 *     not at their idle timeout, so that their row locks do not stall the
 *     new process's work. Only a rise triggers it: a clock set back or a
 *     late message of the dead process rolls back nothing.
 *
 * Locking: bs->mu guards the table and each branch's refs; b->mu is held by
 * the one thread working on a branch. Order: bs->mu, then b->mu (only with
 * trylock in the reaper), never the reverse.
 */
#include "branch.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "failpoint.h"
#include "gid.h"
#include "hmap.h"
#include "log.h"
#include "onephase.h"
#include "termination.h"

enum branch_state {
	BR_ACTIVE,    /* local transaction open (or about to be) */
	BR_PREPARED,  /* PREPARE TRANSACTION done; only a decision moves it */
	BR_COMMITTED, /* COMMIT PREPARED done, or read-only and committed */
	BR_ABORTED,   /* rolled back, or a tombstone (R3) */
	BR_IN_DOUBT,  /* one-phase COMMIT sent, its result lost (R7) */
};

struct branch {
	struct hmap_node node;
	char gid[GID_MAX];
	unsigned refs; /* under bs->mu */
	pthread_mutex_t mu;
	atomic_bool abort_requested;
	atomic_bool supersedes; /* its gid names a new incarnation: see R8 */
	atomic_uint_fast64_t touched_ms;
	/* Under mu: */
	enum branch_state state;
	bool readonly;
	bool one_phase; /* BR_COMMITTED by one-phase commit */
	PGconn *conn;   /* BR_ACTIVE with a local transaction open */
	uint64_t last_seq;
	struct wire_buf last_reply; /* the reply to last_seq (R2) */
	bool failed;                /* a statement failed: vote NO */
	bool dirty_session;         /* changed session state: close its conn */
	struct pg_err fail;
	/* The running statement's cancel handle, for R4. */
	pthread_mutex_t cancel_mu;
	PGcancel *cancel;
};

#define NODES_MAX 64 /* the most nodes `coordinators:` may list */

/* A coordinator node and the newest incarnation it opened a branch with. */
struct node_seen {
	char node[sizeof(((struct gid_parts *)0)->node)];
	uint64_t incarnation;
};

struct branches {
	pthread_mutex_t mu;
	struct hmap map;
	struct node_seen seen[NODES_MAX]; /* under mu */
	size_t nseen;
	atomic_uint_fast64_t rolled_idle, rolled_superseded;
	struct pg_pool *work;
	struct pg_pool *resolve;
	struct branch_limits lim;
	struct termination *tm; /* 3PC; NULL: refused */
	struct onephase *op;
	const char *self; /* this participant's name */
};

static const char *
state_name(enum branch_state s)
{
	switch (s) {
	case BR_ACTIVE:
		return "active";
	case BR_PREPARED:
		return "prepared";
	case BR_COMMITTED:
		return "committed";
	case BR_ABORTED:
		return "aborted";
	case BR_IN_DOUBT:
		return "in doubt";
	}
	return "?";
}

int
branches_open(struct pg_pool *work, struct pg_pool *resolve,
              const struct branch_limits *limits, struct branches **out)
{
	struct branches *bs = calloc(1, sizeof(*bs));

	if (bs == NULL || hmap_init(&bs->map, 1024) != 0) {
		free(bs);
		return -1;
	}
	if (onephase_open(resolve, limits->acquire_wait_ms,
	                  limits->one_phase_retention_ms, &bs->op) != 0) {
		hmap_destroy(&bs->map);
		free(bs);
		return -1;
	}
	pthread_mutex_init(&bs->mu, NULL);
	bs->work = work;
	bs->resolve = resolve;
	bs->lim = *limits;
	*out = bs;
	return 0;
}

void
branches_set_termination(struct branches *bs, struct termination *tm,
                         const char *self)
{
	bs->tm = tm;
	bs->self = self;
}

static void
branch_free(struct branches *bs, struct branch *b)
{
	if (b->conn != NULL)
		pg_release(bs->work, b->conn); /* closes it: not idle */
	if (b->cancel != NULL)
		PQfreeCancel(b->cancel);
	wire_buf_free(&b->last_reply);
	pthread_mutex_destroy(&b->mu);
	pthread_mutex_destroy(&b->cancel_mu);
	free(b);
}

static int
free_one(struct hmap_node *n, void *arg)
{
	branch_free(arg, container_of(n, struct branch, node));
	return 0;
}

void
branches_close(struct branches *bs)
{
	if (bs == NULL)
		return;
	hmap_foreach(&bs->map, free_one, bs);
	hmap_destroy(&bs->map);
	onephase_close(bs->op);
	pthread_mutex_destroy(&bs->mu);
	free(bs);
}

/*
 * R8: record gid's incarnation of its node; true when it is higher than
 * any before. Called with bs->mu held. Past NODES_MAX nodes: false (the
 * idle timeout still applies).
 */
static bool
newer_incarnation(struct branches *bs, const char *gid)
{
	struct gid_parts p;
	struct node_seen *ns = NULL;

	if (!gid_parse(gid, &p))
		return false;
	for (size_t i = 0; i < bs->nseen && ns == NULL; i++)
		if (strcmp(bs->seen[i].node, p.node) == 0)
			ns = &bs->seen[i];
	if (ns == NULL) {
		if (bs->nseen == NODES_MAX)
			return false;
		ns = &bs->seen[bs->nseen++];
		snprintf(ns->node, sizeof(ns->node), "%s", p.node);
	} else if (p.incarnation <= ns->incarnation) {
		return false;
	}
	ns->incarnation = p.incarnation;
	return true;
}

/* Find (or create) a branch and take a reference. NULL: none / no memory. */
static struct branch *
branch_get(struct branches *bs, const char *gid, bool create)
{
	struct hmap_node *n;
	struct branch *b = NULL;

	pthread_mutex_lock(&bs->mu);
	if ((n = hmap_get(&bs->map, gid)) != NULL)
		b = container_of(n, struct branch, node);
	else if (create && (b = calloc(1, sizeof(*b))) != NULL) {
		snprintf(b->gid, sizeof(b->gid), "%s", gid);
		pthread_mutex_init(&b->mu, NULL);
		pthread_mutex_init(&b->cancel_mu, NULL);
		b->state = BR_ACTIVE;
		atomic_store(&b->touched_ms, clock_now_ms());
		atomic_store(&b->supersedes, newer_incarnation(bs, gid));
		hmap_put(&bs->map, &b->node, b->gid);
	}
	if (b != NULL)
		b->refs++;
	pthread_mutex_unlock(&bs->mu);
	return b;
}

static void
branch_put(struct branches *bs, struct branch *b)
{
	pthread_mutex_lock(&bs->mu);
	b->refs--;
	pthread_mutex_unlock(&bs->mu);
}

static void
set_conn(struct branch *b, PGconn *c)
{
	pthread_mutex_lock(&b->cancel_mu);
	if (b->cancel != NULL)
		PQfreeCancel(b->cancel);
	b->cancel = c != NULL ? PQgetCancel(c) : NULL;
	b->conn = c;
	pthread_mutex_unlock(&b->cancel_mu);
}

/*
 * Give the branch's work connection back. The cancel handle goes first: a
 * ROLLBACK's cancel must never reach the next user of the connection.
 */
static void
drop_conn(struct branches *bs, struct branch *b)
{
	PGconn *c = b->conn;

	set_conn(b, NULL);
	if (b->dirty_session)
		pg_discard(bs->work, c);
	else
		pg_release(bs->work, c);
}

/* End the local transaction of an ACTIVE branch and give back its conn. */
static void
close_local(struct branches *bs, struct branch *b, const char *how)
{
	struct pg_err e;

	if (b->conn == NULL)
		return;
	if (pg_command(b->conn, how, &e) != 0)
		xlog_warn("gid=%s %s failed: %s %s", b->gid, how, e.sqlstate,
		          e.message);
	drop_conn(bs, b);
}

/* Run "COMMIT PREPARED" or "ROLLBACK PREPARED" on a resolve connection. */
static int
finish_prepared(struct branches *bs, const char *gid, bool commit,
                struct pg_err *e)
{
	char sql[GID_MAX + 32];
	PGconn *c;
	int rc;

	assert(gid_parse(gid, NULL)); /* so quoting it is safe */
	if ((c = pg_acquire(bs->resolve, bs->lim.acquire_wait_ms, e)) == NULL)
		return -1;
	snprintf(sql, sizeof(sql), "%s PREPARED '%s'",
	         commit ? "COMMIT" : "ROLLBACK", gid);
	rc = pg_command(c, sql, e);
	pg_release(bs->resolve, c);
	if (rc != 0 && strcmp(e->sqlstate, "42704") == 0)
		return 0; /* R2: finished already */
	return rc;
}

/* Roll back whatever the branch holds. Called with b->mu held. */
static void
abort_locked(struct branches *bs, struct branch *b)
{
	struct pg_err e;

	switch (b->state) {
	case BR_ACTIVE:
		if (b->conn != NULL)
			close_local(bs, b, "ROLLBACK");
		else if (b->last_seq == 0 &&
		         finish_prepared(bs, b->gid, false, &e) != 0)
			/* Unknown here but maybe prepared in a past life:
			 * the sweeper will find it if this failed. */
			xlog_warn("gid=%s ROLLBACK PREPARED failed: %s %s",
			          b->gid, e.sqlstate, e.message);
		b->state = BR_ABORTED;
		break;
	case BR_PREPARED:
		if (finish_prepared(bs, b->gid, false, &e) != 0) {
			xlog_warn("gid=%s ROLLBACK PREPARED failed: %s %s; the "
			          "sweeper will retry",
			          b->gid, e.sqlstate, e.message);
			return;
		}
		b->state = BR_ABORTED;
		break;
	case BR_COMMITTED:
		if (!b->readonly)
			xlog_error("gid=%s ROLLBACK for a committed branch "
			           "refused",
			           b->gid);
		break;
	case BR_ABORTED:
	case BR_IN_DOUBT: /* only its marker can tell (R7) */
		break;
	}
}

static void
branch_lock(struct branch *b)
{
	pthread_mutex_lock(&b->mu);
}

/* Unlock; then honour a ROLLBACK that came while we held the lock (R4). */
static void
branch_unlock(struct branches *bs, struct branch *b)
{
	atomic_store(&b->touched_ms, clock_now_ms());
	if (b->state != BR_ACTIVE)
		wire_buf_free(&b->last_reply); /* only EXEC repeats need it */
	pthread_mutex_unlock(&b->mu);
	if (atomic_load(&b->abort_requested) &&
	    pthread_mutex_trylock(&b->mu) == 0) {
		abort_locked(bs, b);
		pthread_mutex_unlock(&b->mu);
	}
}

/* ---- rolling back open branches on their own (R1) ---- */

/* Open branches to roll back: idle ones, or those R8 supersedes. */
struct reap {
	struct branches *bs;
	uint64_t now;
	const struct gid_parts *newer; /* NULL: by idle time */
	struct branch *pick[64];       /* each with a reference */
	size_t npick;
	size_t rolled; /* of those picked, rolled back */
};

/* R8: an open local transaction of an older incarnation of newer's node. */
static bool
superseded(const struct branch *b, const struct gid_parts *newer)
{
	struct gid_parts p;

	return b->conn != NULL && gid_parse(b->gid, &p) &&
	       strcmp(p.node, newer->node) == 0 &&
	       p.incarnation < newer->incarnation;
}

static int
reap_one(struct hmap_node *n, void *arg)
{
	struct branch *b = container_of(n, struct branch, node);
	struct reap *r = arg;
	uint64_t touched = atomic_load(&b->touched_ms);
	bool room = r->npick < sizeof(r->pick) / sizeof(r->pick[0]), pick;

	if (!room && r->newer != NULL)
		return 1; /* the caller comes back for the rest */
	if (b->refs > 0 || pthread_mutex_trylock(&b->mu) != 0)
		return 0;
	if (b->state == BR_ACTIVE) {
		pick = r->newer != NULL
		           ? superseded(b, r->newer)
		           : r->now >= touched + r->bs->lim.idle_timeout_ms;
		if (pick && room) {
			b->refs++;
			r->pick[r->npick++] = b;
		}
		pthread_mutex_unlock(&b->mu);
		return 0;
	}
	pthread_mutex_unlock(&b->mu);
	/* Finished or prepared (PostgreSQL remembers those): forget it. */
	if (r->newer == NULL && r->now >= touched + r->bs->lim.tombstone_ms) {
		hmap_remove(&r->bs->map, b->gid);
		branch_free(r->bs, b);
	}
	return 0;
}

/* One pass: pick under bs->mu, roll back outside it. The number picked. */
static size_t
reap(struct branches *bs, struct reap *r)
{
	pthread_mutex_lock(&bs->mu);
	hmap_foreach(&bs->map, reap_one, r);
	pthread_mutex_unlock(&bs->mu);
	/* R1: not prepared yet, so this branch may abort on its own. */
	for (size_t i = 0; i < r->npick; i++) {
		struct branch *b = r->pick[i];

		/* R8 runs on a request's thread: it does not wait for a
		 * branch someone took since (a late message of the dead
		 * process); the idle timeout is still there for it. */
		if (r->newer == NULL)
			branch_lock(b);
		else if (pthread_mutex_trylock(&b->mu) != 0) {
			branch_put(bs, b);
			continue;
		}
		if (b->state == BR_ACTIVE) {
			if (r->newer != NULL)
				xlog_info(
				    "gid=%s rolled back: coordinator %s "
				    "restarted (incarnation %llu)",
				    b->gid, r->newer->node,
				    (unsigned long long)r->newer->incarnation);
			else
				xlog_info("gid=%s rolled back: idle for %ums",
				          b->gid, bs->lim.idle_timeout_ms);
			close_local(bs, b, "ROLLBACK");
			b->state = BR_ABORTED;
			r->rolled++;
			atomic_fetch_add(r->newer != NULL
			                     ? &bs->rolled_superseded
			                     : &bs->rolled_idle,
			                 1);
		}
		branch_unlock(bs, b);
		branch_put(bs, b);
	}
	return r->npick;
}

void
branch_get_stats(struct branches *bs, struct branch_stats *out)
{
	out->idle = atomic_load(&bs->rolled_idle);
	out->superseded = atomic_load(&bs->rolled_superseded);
}

void
branch_reap(struct branches *bs, uint64_t now_ms)
{
	struct reap r = {.bs = bs, .now = now_ms};

	reap(bs, &r);
}

/* R8: b's gid opened a new incarnation; roll back the older ones' work. */
static void
supersede(struct branches *bs, struct branch *b)
{
	struct gid_parts p;
	struct reap r;

	if (!atomic_exchange(&b->supersedes, false) || !gid_parse(b->gid, &p))
		return;
	/* Again while a pass was full and got somewhere. */
	do
		r = (struct reap){.bs = bs, .newer = &p};
	while (reap(bs, &r) == sizeof(r.pick) / sizeof(r.pick[0]) &&
	       r.rolled > 0);
}

/* ---- replies ---- */

static void
reply_sql_error(struct wire_buf *r, const struct pg_err *e)
{
	wire_buf_init(r, WIRE_RESULT);
	wire_put_str(r, WIRE_T_SQLSTATE, e->sqlstate);
	wire_put_str(r, WIRE_T_TEXT, e->message);
}

static void
reply_vote(struct wire_buf *r, const char *gid, enum wire_vote v,
           const struct pg_err *e)
{
	wire_buf_init(r, WIRE_VOTE);
	wire_put_str(r, WIRE_T_GID, gid);
	wire_put_u32(r, WIRE_T_CODE, (uint32_t)v);
	if (v == WIRE_VOTE_NO && e != NULL) {
		wire_put_str(r, WIRE_T_SQLSTATE, e->sqlstate);
		wire_put_str(r, WIRE_T_TEXT, e->message);
	}
}

static void
reply_ack(struct wire_buf *r, const char *gid)
{
	wire_buf_init(r, WIRE_ACK);
	wire_put_str(r, WIRE_T_GID, gid);
}

static void __attribute__((format(printf, 3, 4)))
reply_error(struct wire_buf *r, enum wire_error code, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	wire_buf_init(r, WIRE_ERROR);
	wire_put_u32(r, WIRE_T_CODE, (uint32_t)code);
	wire_put_str(r, WIRE_T_TEXT, text);
}

/* Encode a statement's result; false if it exceeds the limit. */
static bool
encode_result(struct wire_buf *r, PGresult *res, uint64_t limit)
{
	int ncols = PQnfields(res), nrows = PQntuples(res);
	const char *affected = PQcmdTuples(res);

	wire_buf_init(r, WIRE_RESULT);
	for (int c = 0; c < ncols; c++)
		wire_put_str(r, WIRE_T_COLUMN, PQfname(res, c));
	for (int row = 0; row < nrows; row++) {
		for (int c = 0; c < ncols; c++) {
			if (PQgetisnull(res, row, c))
				wire_put_null(r);
			else
				wire_put_str(r, WIRE_T_CELL,
				             PQgetvalue(res, row, c));
		}
		if (r->len > limit || r->failed)
			return false;
	}
	if (affected != NULL && affected[0] != '\0')
		wire_put_u64(r, WIRE_T_AFFECTED, strtoull(affected, NULL, 10));
	return !r->failed;
}

/* Open the local transaction on a work connection. */
static int
open_local(struct branches *bs, struct branch *b, struct pg_err *e)
{
	PGconn *c;

	if (b->conn != NULL)
		return 0;
	if ((c = pg_acquire(bs->work, bs->lim.acquire_wait_ms, e)) == NULL)
		return -1;
	if (pg_command(c, "BEGIN", e) != 0) {
		pg_release(bs->work, c);
		return -1;
	}
	set_conn(b, c);
	return 0;
}

/* Mark the branch as failed: it can only vote NO from now on (R1). */
static void
fail_branch(struct branch *b, const struct pg_err *e)
{
	if (!b->failed) {
		b->failed = true;
		b->fail = *e;
	}
}

/* Run one client statement in the branch. */
static void
run_statement(struct branches *bs, struct branch *b, const char *sql,
              struct wire_buf *reply)
{
	struct pg_err e;
	PGresult *res;

	if (pg_is_txn_control(sql)) {
		pg_err_set(&e, "0A000",
		           "transaction control is not allowed in a branch: "
		           "the coordinator commits and rolls back");
		reply_sql_error(reply, &e);
		return;
	}
	if (open_local(bs, b, &e) != 0) {
		fail_branch(b, &e);
		reply_sql_error(reply, &e);
		return;
	}
	if (pg_touches_session(sql))
		b->dirty_session = true;
	if ((res = pg_statement(b->conn, sql, &e)) == NULL) {
		fail_branch(b, &e);
		reply_sql_error(reply, &e);
		return;
	}
	if (PQtransactionStatus(b->conn) != PQTRANS_INTRANS) {
		/* R5's backstop: something ended the local transaction. */
		PQclear(res);
		xlog_error("gid=%s a statement ended the branch's transaction",
		           b->gid);
		pg_err_set(&e, "0A000",
		           "the statement ended the branch's transaction; "
		           "transaction control is not allowed in a branch");
		fail_branch(b, &e);
		reply_sql_error(reply, &e);
		return;
	}
	if (!encode_result(reply, res, bs->lim.max_result_bytes)) {
		wire_buf_free(reply);
		pg_err_set(&e, "54000",
		           "result larger than %llu bytes; select fewer rows",
		           (unsigned long long)bs->lim.max_result_bytes);
		/* It ran, but the client is told it failed: never commit it. */
		fail_branch(b, &e);
		reply_sql_error(reply, &e);
	}
	PQclear(res);
}

static void
cache_reply(struct branch *b, uint64_t seq, const struct wire_buf *reply)
{
	wire_buf_free(&b->last_reply);
	b->last_seq = seq;
	if (reply->failed)
		return;
	b->last_reply.data = malloc(reply->len);
	if (b->last_reply.data != NULL) {
		memcpy(b->last_reply.data, reply->data, reply->len);
		b->last_reply.len = b->last_reply.cap = reply->len;
	}
}

static void
copy_reply(struct wire_buf *dst, const struct wire_buf *src)
{
	dst->data = malloc(src->len);
	dst->len = dst->cap = dst->data != NULL ? src->len : 0;
	dst->failed = dst->data == NULL;
	if (dst->data != NULL)
		memcpy(dst->data, src->data, src->len);
}

void
branch_exec(struct branches *bs, const struct wire_msg *m,
            struct wire_buf *reply)
{
	struct branch *b = branch_get(bs, m->gid, true);

	if (b == NULL) {
		reply_error(reply, WIRE_E_INTERNAL, "out of memory");
		return;
	}
	supersede(bs, b);
	branch_lock(b);
	if (b->state != BR_ACTIVE)
		reply_error(reply, WIRE_E_NOT_ACTIVE, "branch %s is %s", b->gid,
		            state_name(b->state));
	else if (m->seq == b->last_seq && b->last_reply.data != NULL)
		copy_reply(reply, &b->last_reply); /* R2: a resend */
	else if (m->seq != b->last_seq + 1) {
		if (b->last_seq == 0) {
			/* Earlier statements ran in a life of this process
			 * that ended, and died with its connection. */
			b->state = BR_ABORTED;
			reply_error(reply, WIRE_E_NOT_ACTIVE,
			            "branch %s lost its earlier statements "
			            "(participant restarted)",
			            b->gid);
		} else
			reply_error(reply, WIRE_E_BAD_REQUEST,
			            "branch %s: statement out of order",
			            b->gid);
	} else {
		run_statement(bs, b, wire_first(m, WIRE_T_SQL), reply);
		cache_reply(b, m->seq, reply);
	}
	branch_unlock(bs, b);
	branch_put(bs, b);
}

/* Does PostgreSQL hold this gid prepared? -1 if it cannot tell. */
static int
is_prepared(struct branches *bs, const char *gid, struct pg_err *e)
{
	const char *params[1] = {gid};
	PGconn *c;
	PGresult *r;
	int found;

	if ((c = pg_acquire(bs->resolve, bs->lim.acquire_wait_ms, e)) == NULL)
		return -1;
	r = PQexecParams(c,
	                 "SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND "
	                 "database = current_database()",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_err_set(e, "08006", "%s", PQerrorMessage(c));
		found = -1;
	} else
		found = PQntuples(r) > 0;
	PQclear(r);
	pg_release(bs->resolve, c);
	return found;
}

/* Roll the branch back and vote NO (R1: it has not voted YES). */
static enum wire_vote
abort_vote(struct branches *bs, struct branch *b)
{
	close_local(bs, b, "ROLLBACK");
	b->state = BR_ABORTED;
	return WIRE_VOTE_NO;
}

#define PIPELINE_MAX 64 /* statements sent in one round trip */

/* Can the statements of this PREPARE go in one pipeline? */
static bool
can_pipeline(const struct wire_msg *m)
{
	uint32_t n = 0;

	if (m->protocol == WIRE_3PC)
		return false; /* R6: its log writes come between the steps */
	for (uint32_t i = 0; i < m->nitems; i++) {
		const char *s = m->items[i].str;

		if (m->items[i].tag != WIRE_T_SQL)
			continue;
		/* Refused one by one, with the reason (R5). */
		if (++n > PIPELINE_MAX || pg_is_txn_control(s) || pg_is_copy(s))
			return false;
	}
	return true;
}

/* The statements of a message that can_pipeline() accepted. */
static size_t
pipeline_sql(struct branch *b, const struct wire_msg *m,
             const char *sql[PIPELINE_MAX])
{
	size_t n = 0;

	for (uint32_t i = 0; i < m->nitems; i++)
		if (m->items[i].tag == WIRE_T_SQL) {
			sql[n] = m->items[i].str;
			if (pg_touches_session(sql[n++]))
				b->dirty_session = true;
		}
	return n;
}

/*
 * 2PC phase 1 in one database round trip (pg_prepare_pipelined): BEGIN
 * unless statements ran already, the statements of a SUBMIT, the
 * read-only test and PREPARE TRANSACTION.
 */
static enum wire_vote
prepare_pipelined(struct branches *bs, struct branch *b,
                  const struct wire_msg *m, struct pg_err *e)
{
	const char *sql[PIPELINE_MAX];
	bool begin = b->conn == NULL;
	size_t n;
	PGconn *c;

	n = pipeline_sql(b, m, sql);
	if (begin) {
		if ((c = pg_acquire(bs->work, bs->lim.acquire_wait_ms, e)) ==
		    NULL)
			goto no;
		set_conn(b, c);
	}
	if (atomic_load(&b->abort_requested)) {
		pg_err_set(e, "40P01", "rolled back by the coordinator");
		goto no;
	}
	if (FAILPOINT("participant.before_prepare") == FP_ERROR) {
		pg_err_set(e, "XX000", "failpoint participant.before_prepare");
		goto no;
	}
	switch (pg_prepare_pipelined(b->conn, begin, sql, n, b->gid, e)) {
	case PG_PREPARED:
		drop_conn(bs, b);
		b->state = BR_PREPARED;
		FAILPOINT("participant.after_prepare");
		return WIRE_VOTE_YES;
	case PG_READONLY:
		/* A failed commit (serialization) voids what it read. */
		if (pg_commit_readonly(b->conn, e) != 0)
			break;
		drop_conn(bs, b);
		b->state = BR_COMMITTED;
		b->readonly = true;
		return WIRE_VOTE_READONLY;
	case PG_FAILED:
		break;
	}
no:
	fail_branch(b, e); /* a repeated PREPARE gets the same reason (R2) */
	return abort_vote(bs, b);
}

/* PREPARE of an ACTIVE branch: statements, read-only test, PREPARE. */
static enum wire_vote
prepare_active(struct branches *bs, struct branch *b, const struct wire_msg *m,
               struct pg_err *e)
{
	char sql[GID_MAX + 32];
	PGresult *r;
	bool readonly;

	if (!b->failed && can_pipeline(m))
		return prepare_pipelined(bs, b, m, e);

	for (uint32_t i = 0; i < m->nitems && !b->failed; i++) {
		struct wire_buf scratch;

		if (m->items[i].tag != WIRE_T_SQL)
			continue; /* 3PC's participant list */

		if (pg_is_txn_control(m->items[i].str)) {
			pg_err_set(e, "0A000",
			           "transaction control is not allowed in a "
			           "branch");
			fail_branch(b, e);
			break;
		}
		run_statement(bs, b, m->items[i].str, &scratch);
		wire_buf_free(&scratch);
	}
	if (atomic_load(&b->abort_requested)) {
		pg_err_set(e, "40P01", "rolled back by the coordinator");
		fail_branch(b, e);
	}
	if (!b->failed && open_local(bs, b, e) != 0)
		fail_branch(b, e);
	if (b->failed) {
		*e = b->fail;
		return abort_vote(bs, b);
	}
	/*
	 * Wrote nothing: commit now and leave phase 2 (read-only vote). The
	 * function is schema-qualified so a client's search_path cannot
	 * shadow it, and a failed check is a NO: it leaves the block aborted,
	 * and PREPARE in an aborted block quietly rolls back.
	 */
	r = PQexec(b->conn,
	           "SELECT pg_catalog.pg_current_xact_id_if_assigned() "
	           "IS NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		pg_err_from(e, b->conn, r);
		PQclear(r);
		return abort_vote(bs, b);
	}
	readonly = PQgetvalue(r, 0, 0)[0] == 't' && m->protocol != WIRE_3PC;
	PQclear(r);
	if (readonly) {
		close_local(bs, b, "COMMIT");
		b->state = BR_COMMITTED;
		b->readonly = true;
		return WIRE_VOTE_READONLY;
	}
	if (FAILPOINT("participant.before_prepare") == FP_ERROR) {
		pg_err_set(e, "XX000", "failpoint participant.before_prepare");
		return abort_vote(bs, b);
	}
	if (PQtransactionStatus(b->conn) != PQTRANS_INTRANS) {
		pg_err_set(e, "25P02", "the branch's transaction is not open");
		return abort_vote(bs, b);
	}
	if (m->protocol == WIRE_3PC &&
	    termination_wait(bs->tm, m, bs->self, e) != 0)
		return abort_vote(bs, b);
	snprintf(sql, sizeof(sql), "PREPARE TRANSACTION '%s'", b->gid);
	r = PQexec(b->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK ||
	    strcmp(PQcmdStatus(r), "PREPARE TRANSACTION") != 0) {
		/* An error, or a "ROLLBACK" tag: nothing was prepared. */
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			pg_err_set(
			    e, "40000",
			    "PREPARE TRANSACTION rolled the branch back");
		else
			pg_err_from(e, b->conn, r);
		PQclear(r);
		if (m->protocol == WIRE_3PC)
			termination_prepared(bs->tm, b->gid, false);
		return abort_vote(bs, b);
	}
	PQclear(r);
	drop_conn(bs, b);
	b->state = BR_PREPARED;
	if (m->protocol == WIRE_3PC)
		termination_prepared(bs->tm, b->gid, true);
	FAILPOINT("participant.after_prepare");
	return WIRE_VOTE_YES;
}

/*
 * A 3PC PREPARE of an ACTIVE branch: what the log says comes first (R6).
 * True when that settles the vote (*v, *e); false: prepare as usual.
 */
static bool
prepare_3pc_prior(struct branches *bs, struct branch *b, enum wire_vote *v,
                  struct pg_err *e)
{
	int found;

	switch (termination_prior(bs->tm, b->gid)) {
	case TERMINATION_NEW:
		return false;
	case TERMINATION_COMMIT:
		*v = WIRE_VOTE_YES;
		return true;
	case TERMINATION_VOTED:
		/* Voted YES in a past life: prepared then, or never. */
		found = is_prepared(bs, b->gid, e);
		if (found == 1) {
			b->state = BR_PREPARED;
			*v = WIRE_VOTE_YES;
			return true;
		}
		if (found == 0) {
			/* PREPARE TRANSACTION never succeeded, so no YES
			 * left: abort is the only outcome. */
			termination_prepared(bs->tm, b->gid, false);
			pg_err_set(e, "40P01",
			           "branch %s was lost before it prepared",
			           b->gid);
		}
		break;
	case TERMINATION_ABORT:
		pg_err_set(e, "40P01", "branch %s was aborted", b->gid);
		break;
	case TERMINATION_UNKNOWN:
		pg_err_set(e, "58030",
		           "the 3PC log cannot tell the state of %s", b->gid);
		break;
	}
	*v = abort_vote(bs, b);
	return true;
}

/* The answer of a one-phase request once the outcome is known (R7). */
static void
settle_one_phase(struct branch *b, enum onephase_outcome o,
                 const struct pg_err *e, struct wire_buf *reply)
{
	switch (o) {
	case OP_COMMITTED:
		b->state = BR_COMMITTED;
		b->one_phase = true;
		xlog_debug("gid=%s committed in one phase", b->gid);
		reply_vote(reply, b->gid, WIRE_VOTE_COMMITTED, NULL);
		return;
	case OP_ABORTED:
		b->state = BR_ABORTED;
		fail_branch(b, e); /* a repeat gets the same reason */
		reply_vote(reply, b->gid, WIRE_VOTE_NO, &b->fail);
		return;
	case OP_UNKNOWN:
	case OP_FALLBACK:
	case OP_PROCEED:
		break;
	}
	b->state = BR_IN_DOUBT;
	xlog_warn("gid=%s one-phase outcome unknown: %s %s", b->gid,
	          e->sqlstate, e->message);
	reply_error(reply, WIRE_E_UNAVAILABLE, "outcome of %s unknown: %s",
	            b->gid, e->message);
}

/* Commit the only branch now: marker, statements, COMMIT (onephase.h). */
static enum onephase_outcome
commit_one_phase(struct branches *bs, struct branch *b,
                 const struct wire_msg *m, struct pg_err *e)
{
	const char *sql[PIPELINE_MAX];
	bool begin = b->conn == NULL;
	enum onephase_outcome o;
	size_t n;
	PGconn *c;

	/* Before a connection is taken: a fallback opens its own. Fresh (a
	 * copy may have committed in a past life of this process), only its
	 * marker can say NO (R7). */
	if ((o = onephase_enter(bs->op, b->gid, begin, e)) != OP_PROCEED)
		return o;
	n = pipeline_sql(b, m, sql);
	if (begin) {
		if ((c = pg_acquire(bs->work, bs->lim.acquire_wait_ms, e)) ==
		    NULL) {
			onephase_leave(bs->op);
			return OP_UNKNOWN;
		}
		set_conn(b, c);
	}
	if (atomic_load(&b->abort_requested)) {
		onephase_leave(bs->op);
		pg_err_set(e, "40P01", "rolled back by the coordinator");
		o = OP_UNKNOWN;
	} else if (FAILPOINT("participant.before_one_phase") == FP_ERROR) {
		onephase_leave(bs->op);
		pg_err_set(e, "XX000",
		           "failpoint participant.before_one_phase");
		o = OP_ABORTED;
	} else {
		o = onephase_commit(bs->op, b->conn, begin, b->gid, sql, n, e);
	}
	if (o == OP_COMMITTED) {
		drop_conn(bs, b);
		FAILPOINT("participant.after_one_phase");
	} else {
		close_local(bs, b, "ROLLBACK"); /* closes a broken one */
	}
	return o;
}

/*
 * A one-phase PREPARE (protocol 1): the coordinator's only branch. R7: an
 * answer other than COMMITTED or a definite NO is an error, and the
 * coordinator resolves (BR_RESOLVE).
 */
static void
prepare_one_phase(struct branches *bs, struct branch *b,
                  const struct wire_msg *m, uint64_t received_ms,
                  struct wire_buf *reply)
{
	uint64_t waited = clock_now_ms() - received_ms;
	enum onephase_outcome o;
	enum wire_vote v;
	struct pg_err e;

	pg_err_set(&e, "40P01", "branch %s was rolled back", b->gid);
	switch (b->state) {
	case BR_COMMITTED:
		reply_vote(reply, b->gid, WIRE_VOTE_COMMITTED, NULL);
		return;
	case BR_PREPARED: /* it fell back to two-phase commit */
		reply_vote(reply, b->gid, WIRE_VOTE_YES, NULL);
		return;
	case BR_ABORTED:
		reply_vote(reply, b->gid, WIRE_VOTE_NO,
		           b->failed ? &b->fail : &e);
		return;
	case BR_IN_DOUBT:
		settle_one_phase(b, onephase_resolve(bs->op, b->gid, &e), &e,
		                 reply);
		return;
	case BR_ACTIVE:
		break;
	}
	if (b->failed) {
		e = b->fail;
		reply_vote(reply, b->gid, abort_vote(bs, b), &e);
		return;
	}
	if (b->conn == NULL && b->last_seq == 0 &&
	    wire_count(m, WIRE_T_SQL) == 0) {
		/* Its statements ran in a past life (or it was asked
		 * already and the answer was lost): the marker tells. */
		settle_one_phase(b, onephase_resolve(bs->op, b->gid, &e), &e,
		                 reply);
		return;
	}
	if (waited > bs->lim.one_phase_retention_ms / 2) {
		/* A tombstone that stopped this request may be trimmed
		 * before it commits: let the marker decide instead. */
		close_local(bs, b, "ROLLBACK");
		pg_err_set(&e, "57014",
		           "the request waited %llu ms here, over half the "
		           "one-phase marker retention",
		           (unsigned long long)waited);
		settle_one_phase(b, OP_UNKNOWN, &e, reply);
		return;
	}
	o = can_pipeline(m) ? commit_one_phase(bs, b, m, &e) : OP_FALLBACK;
	if (o != OP_FALLBACK) {
		settle_one_phase(b, o, &e, reply);
		return;
	}
	/* Statements one-phase cannot pipeline, or no marker table here:
	 * two-phase commit, whose answers are definite too. */
	v = prepare_active(bs, b, m, &e);
	reply_vote(reply, b->gid, v, &e);
}

void
branch_resolve_one_phase(struct branches *bs, const struct wire_msg *m,
                         struct wire_buf *reply)
{
	struct pg_err e;

	/* The marker, not memory, is the truth: no branch lock is taken, so
	 * a branch still committing cannot hold this up past the marker's
	 * lock wait. */
	switch (onephase_resolve(bs->op, m->gid, &e)) {
	case OP_COMMITTED:
		wire_buf_init(reply, WIRE_OUTCOME);
		wire_put_str(reply, WIRE_T_GID, m->gid);
		wire_put_u32(reply, WIRE_T_CODE, WIRE_COMMITTED);
		return;
	case OP_ABORTED:
		wire_buf_init(reply, WIRE_OUTCOME);
		wire_put_str(reply, WIRE_T_GID, m->gid);
		wire_put_u32(reply, WIRE_T_CODE, WIRE_ABORTED);
		wire_put_str(reply, WIRE_T_TEXT, e.message);
		return;
	case OP_UNKNOWN:
	case OP_FALLBACK:
	case OP_PROCEED:
		break;
	}
	reply_error(reply, WIRE_E_UNAVAILABLE, "cannot resolve %s: %s %s",
	            m->gid, e.sqlstate, e.message);
}

void
branch_forget_one_phase(struct branches *bs)
{
	long n = onephase_forget_old(bs->op);

	if (n > 0)
		xlog_debug("%ld one-phase markers past their retention deleted",
		           n);
}

void
branch_prepare(struct branches *bs, const struct wire_msg *m,
               uint64_t received_ms, struct wire_buf *reply)
{
	struct branch *b = branch_get(bs, m->gid, true);
	enum wire_vote v = WIRE_VOTE_NO;
	struct pg_err e;
	int found;

	if (b == NULL) {
		pg_err_set(&e, "53200", "out of memory");
		reply_vote(reply, m->gid, WIRE_VOTE_NO, &e);
		return;
	}
	supersede(bs, b);
	branch_lock(b);
	if (m->protocol == WIRE_1PC) {
		prepare_one_phase(bs, b, m, received_ms, reply);
		branch_unlock(bs, b);
		branch_put(bs, b);
		return;
	}
	pg_err_set(&e, "40P01", "branch %s was rolled back", m->gid);
	switch (b->state) {
	case BR_PREPARED:
		v = WIRE_VOTE_YES;
		break;
	case BR_COMMITTED:
		v = b->readonly ? WIRE_VOTE_READONLY : WIRE_VOTE_YES;
		break;
	case BR_ABORTED:
		if (b->failed)
			e = b->fail;
		break;
	case BR_IN_DOUBT:
		pg_err_set(&e, "40P01", "branch %s is a one-phase branch",
		           b->gid);
		break;
	case BR_ACTIVE:
		if (m->protocol == WIRE_3PC && prepare_3pc_prior(bs, b, &v, &e))
			break;
		if (b->conn == NULL && b->last_seq == 0 &&
		    wire_count(m, WIRE_T_SQL) == 0) {
			/* Nothing ran here in this life: maybe it was
			 * prepared before a restart. */
			found = is_prepared(bs, b->gid, &e);
			if (found == 1) {
				b->state = BR_PREPARED;
				v = WIRE_VOTE_YES;
				break;
			}
			if (found == 0) {
				pg_err_set(&e, "40P01",
				           "branch %s is unknown here "
				           "(participant restarted?)",
				           b->gid);
				b->state = BR_ABORTED;
			}
			break;
		}
		v = prepare_active(bs, b, m, &e);
		break;
	}
	xlog_debug("gid=%s vote %s", b->gid,
	           v == WIRE_VOTE_YES        ? "YES"
	           : v == WIRE_VOTE_READONLY ? "READ-ONLY"
	                                     : "NO");
	reply_vote(reply, b->gid, v, &e);
	branch_unlock(bs, b);
	branch_put(bs, b);
}

void
branch_commit(struct branches *bs, const struct wire_msg *m,
              struct wire_buf *reply)
{
	const char *gid = m->gid;
	/* Untagged (an operator's decision, heuristic.c) a 3PC branch's
	 * own log still has the last word. */
	bool three = m->protocol == WIRE_3PC || termination_owns(bs->tm, gid);
	struct branch *b = branch_get(bs, gid, false);
	struct pg_err e;

	if (b != NULL)
		branch_lock(b);
	if (b != NULL && b->state == BR_COMMITTED) {
		reply_ack(reply, gid);
	} else if (three && termination_decide(bs->tm, gid, TERM_COMMIT) != 0) {
		reply_error(reply, WIRE_E_BAD_REQUEST,
		            "branch %s: COMMIT refused by its 3PC log", gid);
	} else if (b != NULL &&
	           (b->state == BR_ACTIVE || b->state == BR_ABORTED ||
	            b->state == BR_IN_DOUBT)) {
		/* The coordinator commits only after a YES: this is a bug
		 * somewhere, and committing could break atomicity. */
		xlog_error("gid=%s COMMIT for a branch that is %s: refused",
		           gid, state_name(b->state));
		reply_error(reply, WIRE_E_BAD_REQUEST,
		            "branch %s is %s: cannot commit", gid,
		            state_name(b->state));
	} else {
		FAILPOINT("participant.before_commit");
		if (finish_prepared(bs, gid, true, &e) != 0) {
			xlog_warn("gid=%s COMMIT PREPARED failed: %s %s", gid,
			          e.sqlstate, e.message);
			reply_error(reply, WIRE_E_UNAVAILABLE,
			            "COMMIT PREPARED failed: %s %s", e.sqlstate,
			            e.message);
		} else {
			if (b != NULL)
				b->state = BR_COMMITTED;
			if (three)
				termination_done(bs->tm, gid);
			FAILPOINT("participant.after_commit");
			reply_ack(reply, gid);
		}
	}
	if (b != NULL) {
		branch_unlock(bs, b);
		branch_put(bs, b);
	}
}

void
branch_rollback(struct branches *bs, const struct wire_msg *m,
                struct wire_buf *reply)
{
	const char *gid = m->gid;
	bool three = m->protocol == WIRE_3PC || termination_owns(bs->tm, gid);
	struct branch *b;

	if (three && termination_decide(bs->tm, gid, TERM_ABORT) != 0) {
		/* Decided COMMIT: rolling back would break atomicity. */
		reply_error(reply, WIRE_E_BAD_REQUEST,
		            "branch %s: ROLLBACK refused by its 3PC log", gid);
		return;
	}
	if ((b = branch_get(bs, gid, true)) == NULL) {
		reply_error(reply, WIRE_E_INTERNAL, "out of memory");
		return;
	}
	supersede(bs, b);
	atomic_store(&b->abort_requested, true);
	if (pthread_mutex_trylock(&b->mu) == 0) {
		abort_locked(bs, b);
		if (three && b->state == BR_ABORTED)
			termination_done(bs->tm, gid);
		pthread_mutex_unlock(&b->mu);
	} else {
		/* R4: a worker holds it; stop its statement, it rolls back
		 * when it lets go. */
		char errbuf[256];

		pthread_mutex_lock(&b->cancel_mu);
		if (b->cancel != NULL)
			PQcancel(b->cancel, errbuf, sizeof(errbuf));
		pthread_mutex_unlock(&b->cancel_mu);
		/* The holder may have let go before it could see the flag. */
		if (pthread_mutex_trylock(&b->mu) == 0) {
			abort_locked(bs, b);
			pthread_mutex_unlock(&b->mu);
		}
	}
	reply_ack(reply, gid);
	branch_put(bs, b);
}

bool
branch_is_3pc(struct branches *bs, const char *gid)
{
	return termination_owns(bs->tm, gid);
}

bool
branch_is_live(struct branches *bs, const char *gid)
{
	struct hmap_node *n;
	struct branch *b;
	bool live = false;

	pthread_mutex_lock(&bs->mu);
	if ((n = hmap_get(&bs->map, gid)) != NULL) {
		b = container_of(n, struct branch, node);
		/* Someone holds or works on it: it is live. */
		if (b->refs > 0 || pthread_mutex_trylock(&b->mu) != 0)
			live = true;
		else {
			live = b->state == BR_ACTIVE;
			pthread_mutex_unlock(&b->mu);
		}
	}
	pthread_mutex_unlock(&bs->mu);
	return live;
}

int
branch_resolve(struct branches *bs, const char *gid, bool commit)
{
	struct branch *b = branch_get(bs, gid, false);
	struct pg_err e;
	int rc = 0;

	if (b != NULL)
		branch_lock(b);
	/*
	 * The sweeper has just seen gid in pg_prepared_xacts: act on
	 * PostgreSQL whatever memory says (a tombstone whose ROLLBACK PREPARED
	 * failed says ABORTED while the branch is still prepared).
	 */
	if (b != NULL && b->state == BR_ACTIVE) {
		rc = -1; /* live again: the next scan decides */
	} else if (b != NULL && !commit && b->state == BR_COMMITTED &&
	           !b->readonly && !b->one_phase) {
		/* (Committed in one phase, it never prepared: a prepared
		 * one of its gid is a stray, and goes.) */
		xlog_error("gid=%s ROLLBACK of a committed branch refused",
		           gid);
		rc = -1;
	} else if (finish_prepared(bs, gid, commit, &e) != 0) {
		xlog_warn("gid=%s %s PREPARED failed: %s %s", gid,
		          commit ? "COMMIT" : "ROLLBACK", e.sqlstate,
		          e.message);
		rc = -1;
	} else if (b != NULL && !b->one_phase)
		b->state = commit ? BR_COMMITTED : BR_ABORTED;
	if (b != NULL) {
		branch_unlock(bs, b);
		branch_put(bs, b);
	}
	return rc;
}

static int
cancel_one(struct hmap_node *n, void *arg)
{
	struct branch *b = container_of(n, struct branch, node);
	char errbuf[256];

	(void)arg;
	pthread_mutex_lock(&b->cancel_mu);
	if (b->cancel != NULL)
		PQcancel(b->cancel, errbuf, sizeof(errbuf));
	pthread_mutex_unlock(&b->cancel_mu);
	return 0;
}

void
branch_cancel_all(struct branches *bs)
{
	pthread_mutex_lock(&bs->mu);
	hmap_foreach(&bs->map, cancel_one, NULL);
	pthread_mutex_unlock(&bs->mu);
}

void
branch_list_prepared(struct branches *bs, struct wire_buf *reply)
{
	struct pg_err e;
	PGresult *r;
	PGconn *c;
	char age[24];

	if ((c = pg_acquire(bs->resolve, bs->lim.acquire_wait_ms, &e)) ==
	    NULL) {
		reply_error(reply, WIRE_E_UNAVAILABLE, "database: %s %s",
		            e.sqlstate, e.message);
		return;
	}
	r = PQexec(c, "SELECT gid, (extract(epoch FROM clock_timestamp() - "
	              "prepared) * 1000)::bigint FROM pg_prepared_xacts "
	              "WHERE database = current_database() ORDER BY prepared");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_err_from(&e, c, r);
		reply_error(reply, WIRE_E_UNAVAILABLE, "database: %s %s",
		            e.sqlstate, e.message);
	} else {
		wire_buf_init(reply, WIRE_RESULT);
		wire_put_str(reply, WIRE_T_COLUMN, "gid");
		wire_put_str(reply, WIRE_T_COLUMN, "age_ms");
		for (int i = 0; i < PQntuples(r); i++) {
			/* Only xact's: other prepared work is not ours. */
			if (!gid_parse(PQgetvalue(r, i, 0), NULL))
				continue;
			snprintf(age, sizeof(age), "%s", PQgetvalue(r, i, 1));
			wire_put_str(reply, WIRE_T_CELL, PQgetvalue(r, i, 0));
			wire_put_str(reply, WIRE_T_CELL, age);
		}
	}
	PQclear(r);
	pg_release(bs->resolve, c);
}
