/*
 * Shared between the coordinator's own files only (server.c, txn.c).
 *
 * Locking: co->mu guards the table and the gid counter; tx->mu guards one
 * transaction. Order: co->mu before tx->mu, never the other way. A tx is
 * freed only by the ticker, holding both locks, once it is done, has no
 * asynchronous operation outstanding and no client waiting; so a holder of
 * tx->mu, or of an outstanding operation, can never see it freed.
 */
#ifndef XACT_COORD_INTERNAL_H
#define XACT_COORD_INTERNAL_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clients.h"
#include "config.h"
#include "dlog.h"
#include "gid.h"
#include "hmap.h"
#include "metrics.h"
#include "peer.h"
#include "recent.h"
#include "twopc.h"
#include "wire.h"

struct cctx;

struct coord_stats {
	atomic_uint_fast64_t begun;
	atomic_uint_fast64_t committed;
	atomic_uint_fast64_t aborted;
	atomic_uint_fast64_t one_phase; /* committed in one phase */
	atomic_uint_fast64_t bad_requests;
	atomic_uint_fast64_t leased; /* gauge: begun ahead, not used yet */
	atomic_uint_fast64_t aborts[TWOPC_ABORT_KINDS]; /* by why */
	/* Operators' decisions recorded: [0] commit, [1] abort. */
	atomic_uint_fast64_t heuristic[2];
	/* From COMMIT asked to the client's answer; phase 1 to all votes;
	 * phase 2 from the COMMIT record durable to every ack. */
	struct metrics_histogram commit_latency, phase1, phase2;
	/* Per participant (cfg order): did its last call get an answer,
	 * and how many calls did not. */
	atomic_bool peer_down[DLOG_MAX_NAMES];
	atomic_uint_fast64_t peer_failures[DLOG_MAX_NAMES];
};

struct coordinator {
	const struct coord_config *cfg;
	struct dlog *dlog;
	struct recent *recent;   /* one-phase commits: not in the log */
	struct clients *clients; /* open transactions per client */
	struct peer **peers;     /* index = participant index in cfg */
	size_t npeers;
	nng_socket rep;
	bool rep_open;
	struct cctx *ctxs;
	size_t nctxs;
	pthread_mutex_t mu;
	struct hmap txs;
	uint64_t incarnation;
	uint64_t next_seq;
	pthread_t ticker;
	bool ticker_started;
	bool ticker_ran; /* it started once: the service was up */
	atomic_bool stopping;
	atomic_bool draining; /* stopping: no new work, decisions finish */
	struct twopc_timing timing;
	struct coord_stats stats;
	atomic_uint resolvers;   /* tx_resolve_past() ones in the table */
	struct metrics *metrics; /* /metrics and /healthz, or NULL */
	struct api *api;         /* the HTTP/JSON API, or NULL */
};

/* The statements a SUBMIT gave one branch, sent with its PREPARE. */
struct branch_sql {
	char **stmts;
	size_t n;
};

struct tx {
	struct hmap_node node;
	char gid[GID_MAX];
	struct coordinator *co;
	pthread_mutex_t mu;
	struct twopc sm;
	struct twopc_branch *branches; /* npeers slots; sm uses the first n */
	struct branch_sql *sql;        /* per branch, SUBMIT only */
	bool busy;                     /* a request on it is running */
	uint32_t busy_client;          /* its pipe, when it is an EXEC */
	uint64_t next_stmt;            /* client statements (EXEC seq) */
	uint64_t *peer_stmts;          /* statements sent to each peer */
	size_t last_peer;              /* where statement next_stmt went */
	uint64_t last_active_ms;
	uint64_t begun_ms;    /* when begun (a leased one: first used) */
	uint64_t done_ms;     /* when the ticker first saw it done */
	unsigned outstanding; /* peer calls and log writes in flight */
	bool resolver;        /* asks for a past outcome: not a new tx */
	bool leased;          /* begun ahead (BEGIN count), not used yet */
	bool heuristic;       /* an operator's decision (heuristic.c) */
	uint32_t client;      /* counted for this pipe until decided */
	struct cctx *waiter;  /* client waiting for the outcome */
};

/* txn.c */
/* In the table, ACTIVE; protocol: WIRE_2PC, WIRE_3PC or 0 (config's). */
/* client: the NNG pipe it counts for (clients.h), or 0. */
struct tx *tx_create(struct coordinator *co, uint32_t protocol,
                     uint32_t client);
/* n leased transactions with consecutive gids; the first one's into gid. */
int tx_create_lease(struct coordinator *co, uint32_t protocol, uint32_t n,
                    char gid[GID_MAX], uint32_t client);
/* A leased tx's first request: from now on it is an ordinary one. */
void tx_use_lease(struct tx *tx);
void tx_set_protocol(struct tx *tx, uint32_t protocol);
struct tx *tx_lookup_locked(struct coordinator *co, const char *gid);
size_t tx_branch_for(struct tx *tx, size_t peer); /* adds one if new */
void tx_abort(struct tx *tx, enum twopc_abort_kind kind, const char *why);
void tx_start_commit(struct tx *tx);
int tx_recover_all(struct coordinator *co);
int ticker_start(struct coordinator *co);
void ticker_stop(struct coordinator *co);
void tx_reply_outcome(struct tx *tx); /* answers tx->waiter */
/* Where the answer of coord_outcome() comes from. */
enum coord_source {
	SOURCE_KNOWN,     /* the table, the log, or presumed abort */
	SOURCE_FORGOTTEN, /* older than the log retains: never guess */
	SOURCE_ASK,       /* maybe a one-phase commit: only markers tell */
	SOURCE_UNKNOWN,   /* not issued by this decision log: never presume */
};
/* inquiry: a participant asks about a prepared branch (presumed abort). */
enum wire_outcome coord_outcome(struct coordinator *co, const char *gid,
                                bool inquiry, enum coord_source *src);
/* The same for a gid not in the table: the log, the recent one-phase
 * commits, presumed abort. Takes no lock of the table. */
enum wire_outcome log_outcome(struct coordinator *co, const char *gid,
                              bool inquiry, enum coord_source *src);
/* Ask every participant what became of gid; cc gets the outcome. */
void tx_resolve_past(struct coordinator *co, const char *gid, struct cctx *cc);
void tx_free(struct tx *tx);

/* A request to participant peer ended with rv (0: answered), for the
 * metrics of its reachability. */
void note_peer(struct coordinator *co, size_t peer, int rv);

/*
 * A tx for an operator's decision on gid, with a branch at every
 * participant: in the table (the caller holds co->mu), ACTIVE and busy.
 * NULL when out of memory or gid is in the table already.
 */
struct tx *tx_new_heuristic(struct coordinator *co, const char *gid);

/* heuristic.c: an admin RESOLVE (xact_resolve()). */
void coord_handle_resolve(struct cctx *cc, struct coordinator *co,
                          const struct wire_msg *m);

/* An admin LIST: the transactions in the table (xact_list()). */
void coord_handle_list(struct cctx *cc, struct coordinator *co);

/* stats.c: answers a STATS request */
void coord_handle_stats(struct cctx *cc, struct coordinator *co);
/* The same counters for /metrics, and /healthz (metrics.h). */
void coord_render_metrics(void *co, struct metrics_text *t);
const char *coord_health(void *co);

/* server.c */
void cctx_reply(struct cctx *cc, const struct wire_buf *b);
void cctx_reply_raw(struct cctx *cc, const void *raw, size_t len);
void cctx_reply_error(struct cctx *cc, enum wire_error code, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

#endif
