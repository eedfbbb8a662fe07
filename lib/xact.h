/*
 * xact.h: the client library of xact.
 *
 * One global transaction spans several PostgreSQL databases; each database
 * is served by a participant known to the coordinator by name. Either run
 * statements one by one:
 *
 *     xact_conn *c;  xact_tx *tx;  xact_result *r;  xact_outcome o;
 *     if (xact_connect("tcp://127.0.0.1:7600", &c) != 0) ...
 *     xact_begin(c, &tx);
 *     xact_exec(tx, "bank1", "UPDATE accounts SET ...", &r);  // check r
 *     xact_exec(tx, "bank2", "UPDATE accounts SET ...", &r);
 *     xact_commit(tx, &o);         // XACT_COMMITTED or XACT_ABORTED
 *     xact_tx_free(tx);
 *
 * or submit every branch at once with xact_submit() (one round trip per
 * participant, the fast path).
 *
 * Return values: 0 on success; -1 when the call could not be carried out
 * (connection lost, timeout, refused request). xact_errmsg() then says why.
 * A SQL error is not a call failure: xact_exec() returns 0 with an error
 * result (xact_result_sqlstate() != NULL).
 *
 * If xact_commit() fails with -1 the outcome is unknown to the client, not
 * lost: ask again with xact_status(gid) once the coordinator is reachable.
 *
 * A connection serves one request at a time: use one per thread.
 */
#ifndef XACT_H
#define XACT_H

#include <stddef.h>
#include <stdint.h>

typedef struct xact_conn xact_conn;
typedef struct xact_tx xact_tx;
typedef struct xact_result xact_result;

typedef enum xact_outcome {
	XACT_COMMITTED = 1,
	XACT_ABORTED = 2,
	XACT_IN_PROGRESS = 3, /* only from xact_status(): not decided yet */
} xact_outcome;

/* Largest gid, with its NUL. */
#define XACT_GID_MAX 96

/* Open a connection; timeout_ms bounds every later request (0: 30 s). */
int xact_connect(const char *url, unsigned timeout_ms, xact_conn **out);
void xact_disconnect(xact_conn *c);

/*
 * The same over tls+tcp://, showing the certificate cert (key: its
 * private key) and accepting only a peer whose certificate the CA in ca
 * signed and names the host in url. All three are PEM files.
 */
int xact_connect_tls(const char *url, unsigned timeout_ms, const char *ca,
                     const char *cert, const char *key, xact_conn **out);

/* Why the last call on c (or on a tx of c) failed, or aborted. */
const char *xact_errmsg(const xact_conn *c);

/* The coordinator's refusal of the last call on c (its answer). */
typedef enum xact_error {
	XACT_E_NONE = 0, /* not a refusal: no answer, or a local error */
	XACT_E_BAD_REQUEST = 1,
	XACT_E_UNKNOWN_TX = 2,   /* no such open transaction */
	XACT_E_UNKNOWN_NAME = 3, /* no such participant */
	XACT_E_BUSY = 4,         /* another request on it is running */
	XACT_E_NOT_ACTIVE = 5,   /* aborted or ending */
	XACT_E_UNAVAILABLE = 6,  /* a participant did not answer */
	XACT_E_LIMIT = 7,
	XACT_E_INTERNAL = 8,
	XACT_E_SHUTTING_DOWN = 9,
	XACT_E_CONFLICT = 10, /* contradicts a decision (xact_resolve) */
} xact_error;
xact_error xact_errcode(const xact_conn *c);

typedef enum xact_protocol {
	XACT_PROTOCOL_DEFAULT = 0, /* the coordinator's `protocol` setting */
	XACT_PROTOCOL_2PC = 2,
	XACT_PROTOCOL_3PC = 3, /* participants finish without the coordinator */
} xact_protocol;

/* The commit protocol of the transactions begun on c from now on. */
int xact_set_protocol(xact_conn *c, xact_protocol p);

int xact_begin(xact_conn *c, xact_tx **out);

/*
 * A handle on gid, begun elsewhere, whose statements so far were numbered
 * up to last_seq (0: none): for a gateway relaying a client's statements.
 * The next xact_exec() is statement last_seq + 1; the coordinator answers
 * a repeat of the last number from its cache and refuses older ones. A
 * repeat while that statement still runs fails with XACT_E_BUSY: to ask
 * again, resume with the same last_seq (a next xact_exec() on the same
 * handle would be a new statement).
 */
int xact_tx_resume(xact_conn *c, const char *gid, uint64_t last_seq,
                   xact_tx **out);
const char *xact_tx_gid(const xact_tx *tx);

/* Run one statement on the named participant inside tx. */
int xact_exec(xact_tx *tx, const char *participant, const char *sql,
              xact_result **out);

/*
 * Commit: *out is XACT_COMMITTED, or XACT_ABORTED with the reason in
 * xact_errmsg(). Returns -1 when the outcome could not be learnt.
 */
int xact_commit(xact_tx *tx, xact_outcome *out);
/* Abort tx. -1 also when it committed already (XACT_E_NOT_ACTIVE). */
int xact_rollback(xact_tx *tx);
void xact_tx_free(xact_tx *tx);

/* The outcome of any gid: committed, aborted or still in progress. */
int xact_status(xact_conn *c, const char *gid, xact_outcome *out);

/*
 * An operator's decision on gid: decision XACT_COMMITTED or XACT_ABORTED,
 * who decides and why (recorded with it). The coordinator never
 * contradicts its decision log: 0 when gid's outcome is now the decision
 * (*out; xact_errmsg() says how: already decided so, or recorded now as
 * a heuristic decision); 1 when refused, as contradicting a decision or
 * because the coordinator is still deciding (xact_errmsg() says which);
 * -1 on error. See docs/operations.md.
 */
int xact_resolve(xact_conn *c, const char *gid, xact_outcome decision,
                 const char *who, const char *why, xact_outcome *out);

/*
 * The coordinator's counters as a result of two columns, name and value
 * (a decimal string): transactions begun, committed, aborted (one_phase:
 * committed in one phase), in flight, leased (begun ahead for xact_submit, not
 * used yet); decision-log records, write batches and fdatasyncs (log_syncs);
 * the coordinator's CPU time (cpu_user_us, cpu_system_us); and more.
 */
int xact_stats(xact_conn *c, xact_result **out);

/*
 * What is open where c points. A coordinator: its transactions in flight,
 * four columns: gid, state (active, preparing, committing, resolving...),
 * age_ms (since begun) and participants ("bank1=yes bank2=?": each one's
 * vote so far). A participant (xact_connect() to its URL): the branches
 * prepared in its database, gid and age_ms (since PREPARE TRANSACTION).
 */
int xact_list(xact_conn *c, xact_result **out);

struct xact_branch {
	const char *participant;
	const char *const *sql; /* nsql statements, run in order */
	size_t nsql;
};

/*
 * Run all branches as one transaction and commit it. gid_out (at least
 * XACT_GID_MAX bytes, may be NULL) receives the gid before the work is
 * sent, so that after a -1 the outcome can still be asked for. The gids
 * come from a lease of a few transactions begun at once, renewed every
 * few seconds: most submits cost one round trip.
 */
int xact_submit(xact_conn *c, const struct xact_branch *branches, size_t n,
                char *gid_out, xact_outcome *out);

/* Results. A result owns its memory until xact_result_free(). */
const char *xact_result_sqlstate(const xact_result *r); /* NULL if ok */
const char *xact_result_message(const xact_result *r);  /* NULL if ok */
uint64_t xact_result_affected(const xact_result *r);
size_t xact_result_ncols(const xact_result *r);
size_t xact_result_nrows(const xact_result *r);
const char *xact_result_colname(const xact_result *r, size_t col);
/* NULL for SQL NULL. */
const char *xact_result_value(const xact_result *r, size_t row, size_t col);
void xact_result_free(xact_result *r);

#endif
