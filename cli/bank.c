/*
 * xact-bank: a bank-transfer workload for xact, and its checker.
 *
 *   xact-bank init  --db CONNINFO [--db ...] --accounts N --balance B
 *   xact-bank run   --url URL --participants bank1,bank2[,...] --accounts N
 *                   --clients C --seconds S [--max-amount M] [--seed X]
 *                   [--journal FILE] [--steps] [--timeout-ms T]
 *   xact-bank check --db CONNINFO [--db ...] --expect-total T [--wait S]
 *
 * Every database holds accounts(id, balance) with CHECK (balance >= 0).
 * A transfer debits an account in one database and credits one in
 * another, as one global transaction; an overdraft fails the CHECK, the
 * branch votes NO and the transfer aborts. Money only moves, so whatever
 * crashes, at quiescence the sum over all databases is the initial sum, no
 * balance is negative and no prepared branch is left: `check` verifies it.
 *
 * `run` sends each transfer with xact_submit() (one round trip), or with
 * --steps as begin, exec, exec, commit (the client knows the gid before
 * it asks to commit). A call that fails leaves the outcome unknown to the
 * client: with a gid, it is asked with xact_status() at the end; without
 * one (the call failed before the coordinator gave a gid) it counts as
 * lost, which also means it never ran.
 * The journal holds one line per transfer, "<gid> <outcome>", outcome one
 * of committed, aborted, unknown; then one line per unknown gid with
 * resolved-committed, resolved-aborted or unresolved.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "xact.h"

#define MAX_DBS           16
#define MAX_PARTICIPANTS  16
#define MAX_CLIENTS       1024
#define RESOLVE_WINDOW_MS 30000 /* how long unknown outcomes are asked */
#define RESOLVE_POLL_MS   200
#define BACKOFF_MIN_MS    50
#define BACKOFF_MAX_MS    1000
#define WAIT_POLL_MS      500

#define PREPARED_SQL                                                           \
	"SELECT count(*) FROM pg_prepared_xacts "                              \
	"WHERE gid LIKE 'xact\\_%' AND database = current_database()"

static const char usage[] =
    "usage:\n"
    "  xact-bank init  --db CONNINFO [--db ...] --accounts N --balance B\n"
    "  xact-bank run   --url URL --participants NAME,NAME[,...] --accounts N\n"
    "                  --clients C --seconds S [--max-amount M] [--seed X]\n"
    "                  [--journal FILE] [--steps] [--timeout-ms T]\n"
    "  xact-bank check --db CONNINFO [--db ...] --expect-total T [--wait S]\n";

static atomic_bool stopping;       /* SIGINT/SIGTERM: finish early, summarise */
static atomic_bool connect_failed; /* said once, not by every client */

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, true);
}

static _Noreturn __attribute__((format(printf, 1, 2))) void
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("xact-bank: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n%s", usage);
	va_end(ap);
	exit(2);
}

static long long
parse_num(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr,
		        "xact-bank: %s: \"%s\" is not a number in "
		        "[%lld, %lld]\n",
		        opt, s, min, max);
		exit(2);
	}
	return v;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Microseconds for latencies: clock_now_ms() is too coarse for them. */
static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Databases (init, check).
 */

static PGconn *
db_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "xact-bank: cannot connect to \"%s\": %s",
		        conninfo, PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* host:port/dbname, for messages: never the password. */
static const char *
db_name(PGconn *conn, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s/%s", PQhost(conn), PQport(conn), PQdb(conn));
	return buf;
}

static int
db_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
	         PQresultStatus(res) == PGRES_TUPLES_OK;
	char name[256];

	if (!ok)
		fprintf(stderr, "xact-bank: %s: %s",
		        db_name(conn, name, sizeof name), PQerrorMessage(conn));
	PQclear(res);
	return ok ? 0 : -1;
}

/* A query returning integers in one row; NULL reads as 0. */
static int
db_query_row(PGconn *conn, const char *sql, long long *out, int ncols)
{
	PGresult *res = PQexec(conn, sql);
	char name[256];
	int rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    PQnfields(res) == ncols) {
		for (int i = 0; i < ncols; i++)
			out[i] = PQgetisnull(res, 0, i)
			             ? 0
			             : strtoll(PQgetvalue(res, 0, i), NULL, 10);
		rc = 0;
	} else {
		fprintf(stderr, "xact-bank: %s: %s",
		        db_name(conn, name, sizeof name), PQerrorMessage(conn));
	}
	PQclear(res);
	return rc;
}

static int
bank_init(const char *const dbs[], int ndbs, int accounts, long long balance)
{
	char sql[512], name[256];

	/* A prepared branch holding a lock on accounts would block the DROP. */
	snprintf(sql, sizeof sql,
	         "SET client_min_messages = warning;"
	         "SET lock_timeout = '10s';"
	         "BEGIN;"
	         "DROP TABLE IF EXISTS accounts;"
	         "CREATE TABLE accounts (id int PRIMARY KEY,"
	         " balance bigint NOT NULL CHECK (balance >= 0));"
	         "INSERT INTO accounts SELECT g, %lld"
	         " FROM generate_series(1, %d) g;"
	         "COMMIT",
	         balance, accounts);
	for (int i = 0; i < ndbs; i++) {
		PGconn *conn = db_connect(dbs[i]);
		int rc;

		if (conn == NULL)
			return 2;
		rc = db_exec(conn, sql);
		if (rc == 0)
			printf("init %s: %d accounts x %lld\n",
			       db_name(conn, name, sizeof name), accounts,
			       balance);
		PQfinish(conn);
		if (rc != 0)
			return 2;
	}
	return 0;
}

/* Poll until no database holds one of our prepared branches. */
static void
wait_prepared(const char *const dbs[], int ndbs, int seconds)
{
	uint64_t deadline = clock_now_ms() + (uint64_t)seconds * 1000u;
	long long left, n, shown = -1;

	for (;;) {
		left = 0;
		for (int i = 0; i < ndbs; i++) {
			PGconn *conn = db_connect(dbs[i]);

			if (conn != NULL &&
			    db_query_row(conn, PREPARED_SQL, &n, 1) == 0)
				left += n;
			PQfinish(conn);
		}
		if (left == 0 || clock_now_ms() >= deadline)
			return;
		if (left != shown)
			printf("check: %lld prepared transactions left, "
			       "waiting\n",
			       left);
		shown = left;
		sleep_ms(WAIT_POLL_MS);
	}
}

static int
bank_check(const char *const dbs[], int ndbs, long long expect, int wait_s)
{
	long long total = 0, negative = 0, prepared = 0, row[3];
	char name[256];
	bool ok;

	if (wait_s > 0)
		wait_prepared(dbs, ndbs, wait_s);
	for (int i = 0; i < ndbs; i++) {
		PGconn *conn = db_connect(dbs[i]);
		long long n;

		if (conn == NULL)
			return 2;
		if (db_query_row(conn,
		                 "SELECT sum(balance), count(*) FILTER "
		                 "(WHERE balance < 0), count(*) FROM accounts",
		                 row, 3) != 0 ||
		    db_query_row(conn, PREPARED_SQL, &n, 1) != 0) {
			PQfinish(conn);
			return 2;
		}
		printf("check %s: total %lld, accounts %lld, negative %lld, "
		       "prepared %lld\n",
		       db_name(conn, name, sizeof name), row[0], row[2], row[1],
		       n);
		total += row[0];
		negative += row[1];
		prepared += n;
		PQfinish(conn);
	}
	ok = total == expect && negative == 0 && prepared == 0;
	printf("check: total %lld, expected %lld (%s); negative balances %lld; "
	       "prepared left %lld\n",
	       total, expect, total == expect ? "equal" : "DIFFERENT", negative,
	       prepared);
	printf("check: %s\n", ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}

/*
 * The workload (run).
 */

struct run_opts {
	const char *url;
	const char *names[MAX_PARTICIPANTS];
	int nnames;
	int accounts;
	int clients;
	int seconds;
	long long max_amount;
	uint64_t seed;
	const char *journal;
	bool steps;
	unsigned timeout_ms;
};

enum outcome {
	OUT_COMMITTED,
	OUT_ABORTED,
	OUT_UNKNOWN, /* the call failed after the gid was known */
	OUT_LOST,    /* the call failed before the gid was known */
};

/* One transfer as the client saw it. */
struct attempt {
	enum outcome outcome;
	bool call_failed; /* the connection is suspect: reconnect */
	uint64_t latency_us;
	char gid[XACT_GID_MAX];
};

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

struct gidvec {
	char (*v)[XACT_GID_MAX];
	size_t n, cap;
};

struct worker {
	int id;
	const struct run_opts *o;
	uint64_t deadline_ms;
	uint64_t rng;
	xact_conn *conn;
	unsigned backoff_ms;
	long long committed, aborted, lost;
	struct u64vec latencies; /* of committed transfers, in us */
	struct gidvec unknown;
	pthread_t thread;
};

static struct {
	FILE *f;
	pthread_mutex_t mu;
} journal = {NULL, PTHREAD_MUTEX_INITIALIZER};

static void
journal_line(const char *gid, const char *what)
{
	if (journal.f == NULL)
		return;
	pthread_mutex_lock(&journal.mu);
	fprintf(journal.f, "%s %s\n", gid, what);
	pthread_mutex_unlock(&journal.mu);
}

static void *
grow(void *v, size_t *cap, size_t elem)
{
	size_t ncap = *cap != 0 ? *cap * 2 : 256;
	void *nv = realloc(v, ncap * elem);

	if (nv == NULL) {
		fprintf(stderr, "xact-bank: out of memory\n");
		exit(2);
	}
	*cap = ncap;
	return nv;
}

static void
u64_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap)
		a->v = grow(a->v, &a->cap, sizeof *a->v);
	a->v[a->n++] = x;
}

static void
gid_push(struct gidvec *a, const char *gid)
{
	if (a->n == a->cap)
		a->v = grow(a->v, &a->cap, sizeof *a->v);
	snprintf(a->v[a->n++], XACT_GID_MAX, "%s", gid);
}

/* splitmix64: small, seedable, one state per thread. */
static uint64_t
rnd(struct worker *w, uint64_t n)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return (z ^ (z >> 31)) % n;
}

static bool
time_left(const struct worker *w)
{
	return !atomic_load(&stopping) && clock_now_ms() < w->deadline_ms;
}

/* The next wait after a failure: doubling, from 50 ms up to 1 s. */
static void
backoff(struct worker *w)
{
	w->backoff_ms = w->backoff_ms == 0 ? BACKOFF_MIN_MS : w->backoff_ms * 2;
	if (w->backoff_ms > BACKOFF_MAX_MS)
		w->backoff_ms = BACKOFF_MAX_MS;
}

/* Connect, backing off while the coordinator is unreachable. */
static bool
worker_connect(struct worker *w)
{
	while (time_left(w)) {
		if (w->backoff_ms != 0)
			sleep_ms(w->backoff_ms);
		if (xact_connect(w->o->url, w->o->timeout_ms, &w->conn) == 0)
			return true;
		if (w->conn != NULL && !atomic_exchange(&connect_failed, true))
			fprintf(stderr, "xact-bank: %s; retrying\n",
			        xact_errmsg(w->conn));
		xact_disconnect(w->conn); /* allocated even on failure */
		w->conn = NULL;
		backoff(w);
	}
	return false;
}

/* One transfer with xact_submit(): both branches in one request. */
static void
transfer_submit(struct worker *w, const char *const sql[2],
                const char *const names[2], struct attempt *a)
{
	const struct xact_branch br[2] = {{names[0], &sql[0], 1},
	                                  {names[1], &sql[1], 1}};
	xact_outcome out;

	if (xact_submit(w->conn, br, 2, a->gid, &out) != 0) {
		a->call_failed = true;
		a->outcome = a->gid[0] != '\0' ? OUT_UNKNOWN : OUT_LOST;
	} else if (out == XACT_COMMITTED) {
		a->outcome = OUT_COMMITTED;
	} else if (out == XACT_ABORTED) {
		a->outcome = OUT_ABORTED;
	} else {
		a->outcome = OUT_UNKNOWN; /* in progress: not an answer */
	}
}

/*
 * One transfer as begin, exec, exec, commit. Until commit is asked for,
 * any failure means the transfer can never commit: it is aborted.
 */
static void
transfer_steps(struct worker *w, const char *const sql[2],
               const char *const names[2], struct attempt *a)
{
	xact_tx *tx;
	xact_result *r;
	xact_outcome out;

	if (xact_begin(w->conn, &tx) != 0) {
		a->call_failed = true;
		a->outcome = OUT_LOST;
		return;
	}
	snprintf(a->gid, sizeof a->gid, "%s", xact_tx_gid(tx));
	for (int i = 0; i < 2; i++) {
		bool sql_error;

		if (xact_exec(tx, names[i], sql[i], &r) != 0) {
			a->call_failed = true;
			a->outcome = OUT_ABORTED;
			xact_rollback(tx);
			xact_tx_free(tx);
			return;
		}
		sql_error = xact_result_sqlstate(r) != NULL;
		xact_result_free(r);
		if (sql_error) { /* an overdraft */
			a->outcome = OUT_ABORTED;
			a->call_failed = xact_rollback(tx) != 0;
			xact_tx_free(tx);
			return;
		}
	}
	if (xact_commit(tx, &out) != 0) {
		a->call_failed = true;
		a->outcome = OUT_UNKNOWN;
	} else {
		a->outcome =
		    out == XACT_COMMITTED ? OUT_COMMITTED : OUT_ABORTED;
	}
	xact_tx_free(tx);
}

static void
transfer(struct worker *w, struct attempt *a)
{
	const struct run_opts *o = w->o;
	int src = (int)rnd(w, (uint64_t)o->nnames);
	int dst = (src + 1 + (int)rnd(w, (uint64_t)o->nnames - 1)) % o->nnames;
	long long amount = 1 + (long long)rnd(w, (uint64_t)o->max_amount);
	char debit[128], credit[128];
	const char *const sql[2] = {debit, credit};
	const char *const names[2] = {o->names[src], o->names[dst]};
	uint64_t t0;

	snprintf(debit, sizeof debit,
	         "UPDATE accounts SET balance = balance - %lld WHERE id = %d",
	         amount, 1 + (int)rnd(w, (uint64_t)o->accounts));
	snprintf(credit, sizeof credit,
	         "UPDATE accounts SET balance = balance + %lld WHERE id = %d",
	         amount, 1 + (int)rnd(w, (uint64_t)o->accounts));
	memset(a, 0, sizeof *a);
	t0 = now_us();
	if (o->steps)
		transfer_steps(w, sql, names, a);
	else
		transfer_submit(w, sql, names, a);
	a->latency_us = now_us() - t0;
}

static void
record(struct worker *w, const struct attempt *a)
{
	switch (a->outcome) {
	case OUT_COMMITTED:
		w->committed++;
		u64_push(&w->latencies, a->latency_us);
		journal_line(a->gid, "committed");
		break;
	case OUT_ABORTED:
		w->aborted++;
		journal_line(a->gid, "aborted");
		break;
	case OUT_UNKNOWN:
		gid_push(&w->unknown, a->gid);
		journal_line(a->gid, "unknown");
		break;
	case OUT_LOST:
		w->lost++;
		break;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct attempt a;
	bool healthy = true;

	while (time_left(w)) {
		if (w->conn == NULL && !worker_connect(w))
			break;
		transfer(w, &a);
		record(w, &a);
		if (!a.call_failed) {
			healthy = true;
			w->backoff_ms = 0;
			continue;
		}
		if (healthy) /* once per outage, not once per retry */
			fprintf(stderr,
			        "xact-bank: client %d: %s; reconnecting\n",
			        w->id, xact_errmsg(w->conn));
		healthy = false;
		xact_disconnect(w->conn);
		w->conn = NULL;
		backoff(w);
	}
	if (w->conn != NULL)
		xact_disconnect(w->conn);
	w->conn = NULL;
	return NULL;
}

struct resolved {
	long long committed, aborted, unresolved;
};

/*
 * Ask the coordinator for every unknown outcome, for up to
 * RESOLVE_WINDOW_MS while it answers IN_PROGRESS or cannot be reached.
 */
static struct resolved
resolve(const struct run_opts *o, const struct gidvec *unknown)
{
	uint64_t deadline = clock_now_ms() + RESOLVE_WINDOW_MS;
	struct resolved r = {0, 0, 0};
	xact_conn *c = NULL;
	bool reachable = true;

	for (size_t i = 0; i < unknown->n; i++) {
		const char *gid = unknown->v[i];
		xact_outcome out = XACT_IN_PROGRESS;
		bool answered = false;

		for (;;) {
			if (c == NULL &&
			    xact_connect(o->url, o->timeout_ms, &c) != 0) {
				xact_disconnect(c);
				c = NULL;
			}
			answered = c != NULL && xact_status(c, gid, &out) == 0;
			reachable = answered;
			if (!answered && c != NULL) {
				xact_disconnect(c);
				c = NULL;
			}
			if ((answered && out != XACT_IN_PROGRESS) ||
			    clock_now_ms() >= deadline)
				break;
			sleep_ms(RESOLVE_POLL_MS);
		}
		if (answered && out == XACT_COMMITTED) {
			r.committed++;
			journal_line(gid, "resolved-committed");
		} else if (answered && out == XACT_ABORTED) {
			r.aborted++;
			journal_line(gid, "resolved-aborted");
		} else {
			r.unresolved++;
			journal_line(gid, "unresolved");
			fprintf(stderr,
			        "xact-bank: %s: outcome still unknown\n", gid);
		}
		if (!reachable && clock_now_ms() >= deadline) {
			/* past the window and nobody answers: stop asking */
			for (i++; i < unknown->n; i++) {
				r.unresolved++;
				journal_line(unknown->v[i], "unresolved");
			}
		}
	}
	if (c != NULL)
		xact_disconnect(c);
	return r;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of sorted values, in ms. */
static double
quantile_ms(const struct u64vec *sorted, double q)
{
	size_t i;

	if (sorted->n == 0)
		return 0;
	i = (size_t)(q * (double)sorted->n + 0.999999);
	i = i == 0 ? 0 : i - 1;
	return (double)sorted->v[i < sorted->n ? i : sorted->n - 1] / 1000.0;
}

static int
bank_run(const struct run_opts *o)
{
	struct worker *w = calloc((size_t)o->clients, sizeof *w);
	struct u64vec lat = {0};
	struct gidvec unknown = {0};
	long long committed = 0, aborted = 0, lost = 0;
	uint64_t start = clock_now_ms(), elapsed_ms;
	struct resolved r;

	if (w == NULL)
		return 2;
	if (o->journal != NULL &&
	    (journal.f = fopen(o->journal, "w")) == NULL) {
		fprintf(stderr, "xact-bank: cannot create %s: %s\n", o->journal,
		        strerror(errno));
		return 2;
	}
	printf("run: %d clients for %d s on %s, seed %" PRIu64 "%s\n",
	       o->clients, o->seconds, o->url, o->seed,
	       o->steps ? ", step by step" : "");
	fflush(stdout);
	for (int i = 0; i < o->clients; i++) {
		w[i] = (struct worker){.id = i, .o = o};
		w[i].deadline_ms = start + (uint64_t)o->seconds * 1000u;
		w[i].rng = o->seed ^ ((uint64_t)(i + 1) * 0xd1b54a32d192ed03u);
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) !=
		    0) {
			fprintf(stderr, "xact-bank: cannot start a thread\n");
			exit(2);
		}
	}
	for (int i = 0; i < o->clients; i++) {
		pthread_join(w[i].thread, NULL);
		committed += w[i].committed;
		aborted += w[i].aborted;
		lost += w[i].lost;
		for (size_t k = 0; k < w[i].latencies.n; k++)
			u64_push(&lat, w[i].latencies.v[k]);
		for (size_t k = 0; k < w[i].unknown.n; k++)
			gid_push(&unknown, w[i].unknown.v[k]);
		free(w[i].latencies.v);
		free(w[i].unknown.v);
	}
	elapsed_ms = clock_now_ms() - start;
	free(w);
	if (unknown.n > 0)
		printf("run: asking the outcome of %zu unknown transactions\n",
		       unknown.n);
	r = resolve(o, &unknown);
	if (lat.n > 0)
		qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);

	printf("%-18s %lld\n", "committed", committed);
	printf("%-18s %lld\n", "aborted", aborted);
	printf("%-18s %zu\n", "unknown", unknown.n);
	printf("%-18s %lld\n", "unknown_committed", r.committed);
	printf("%-18s %lld\n", "unknown_aborted", r.aborted);
	printf("%-18s %lld\n", "unresolved", r.unresolved);
	printf("%-18s %lld%s\n", "not_started", lost,
	       lost > 0 ? "  (the begin got no answer: no work was sent)" : "");
	printf("%-18s %.1f\n", "tps",
	       elapsed_ms > 0 ? (double)committed * 1000.0 / (double)elapsed_ms
	                      : 0.0);
	printf("%-18s %.2f\n", "latency_p50_ms", quantile_ms(&lat, 0.50));
	printf("%-18s %.2f\n", "latency_p99_ms", quantile_ms(&lat, 0.99));
	free(lat.v);
	free(unknown.v);
	if (journal.f != NULL && fclose(journal.f) != 0) {
		fprintf(stderr, "xact-bank: writing %s failed\n", o->journal);
		return 2;
	}
	if (committed + aborted + (long long)unknown.n == 0) {
		fprintf(stderr, "xact-bank: no transfer got an answer\n");
		return 1;
	}
	return r.unresolved == 0 ? 0 : 1;
}

/* "bank1,bank2,bank3" into names; the string is kept and cut up. */
static int
split_names(char *list, const char **names, int max)
{
	int n = 0;

	for (char *save, *tok = strtok_r(list, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == max)
			usage_error("more than %d participants",
			            MAX_PARTICIPANTS);
		names[n++] = tok;
	}
	return n;
}

/*
 * Command lines.
 */

enum opt {
	OPT_DB = 1000,
	OPT_ACCOUNTS,
	OPT_BALANCE,
	OPT_URL,
	OPT_PARTICIPANTS,
	OPT_CLIENTS,
	OPT_SECONDS,
	OPT_MAX_AMOUNT,
	OPT_SEED,
	OPT_JOURNAL,
	OPT_STEPS,
	OPT_TIMEOUT,
	OPT_EXPECT,
	OPT_WAIT,
};

static const struct option long_opts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"accounts", required_argument, NULL, OPT_ACCOUNTS},
    {"balance", required_argument, NULL, OPT_BALANCE},
    {"url", required_argument, NULL, OPT_URL},
    {"participants", required_argument, NULL, OPT_PARTICIPANTS},
    {"clients", required_argument, NULL, OPT_CLIENTS},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"max-amount", required_argument, NULL, OPT_MAX_AMOUNT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"journal", required_argument, NULL, OPT_JOURNAL},
    {"steps", no_argument, NULL, OPT_STEPS},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"expect-total", required_argument, NULL, OPT_EXPECT},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct args {
	const char *dbs[MAX_DBS];
	int ndbs;
	long long accounts, balance, expect, wait_s;
	bool has_expect;
	char *participants;
	struct run_opts run;
};

static void
parse_args(int argc, char **argv, struct args *a)
{
	int c;

	a->accounts = -1;
	a->balance = -1;
	a->run.max_amount = 100;
	a->run.timeout_ms = 10000;
	a->run.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_DB:
			if (a->ndbs == MAX_DBS)
				usage_error("at most %d --db", MAX_DBS);
			a->dbs[a->ndbs++] = optarg;
			break;
		case OPT_ACCOUNTS:
			a->accounts =
			    parse_num("--accounts", optarg, 1, 100000000);
			break;
		case OPT_BALANCE:
			a->balance =
			    parse_num("--balance", optarg, 0, 1000000000000LL);
			break;
		case OPT_URL:
			a->run.url = optarg;
			break;
		case OPT_PARTICIPANTS:
			a->participants = optarg;
			break;
		case OPT_CLIENTS:
			a->run.clients =
			    (int)parse_num("--clients", optarg, 1, MAX_CLIENTS);
			break;
		case OPT_SECONDS:
			a->run.seconds =
			    (int)parse_num("--seconds", optarg, 1, 86400);
			break;
		case OPT_MAX_AMOUNT:
			a->run.max_amount = parse_num("--max-amount", optarg, 1,
			                              1000000000000LL);
			break;
		case OPT_SEED:
			a->run.seed =
			    (uint64_t)parse_num("--seed", optarg, 0, INT64_MAX);
			break;
		case OPT_JOURNAL:
			a->run.journal = optarg;
			break;
		case OPT_STEPS:
			a->run.steps = true;
			break;
		case OPT_TIMEOUT:
			a->run.timeout_ms = (unsigned)parse_num(
			    "--timeout-ms", optarg, 1, 3600000);
			break;
		case OPT_EXPECT:
			a->expect =
			    parse_num("--expect-total", optarg, 0, INT64_MAX);
			a->has_expect = true;
			break;
		case OPT_WAIT:
			a->wait_s = parse_num("--wait", optarg, 0, 3600);
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			usage_error("bad option");
		}
	}
	if (optind != argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
}

static int
cmd_init(struct args *a)
{
	if (a->ndbs == 0 || a->accounts < 0 || a->balance < 0)
		usage_error("init needs --db, --accounts and --balance");
	return bank_init(a->dbs, a->ndbs, (int)a->accounts, a->balance);
}

static int
cmd_check(struct args *a)
{
	if (a->ndbs == 0 || !a->has_expect)
		usage_error("check needs --db and --expect-total");
	return bank_check(a->dbs, a->ndbs, a->expect, (int)a->wait_s);
}

static int
cmd_run(struct args *a)
{
	struct run_opts *o = &a->run;
	struct sigaction sa = {.sa_handler = on_signal};

	if (o->url == NULL || a->participants == NULL || a->accounts < 0 ||
	    o->clients == 0 || o->seconds == 0)
		usage_error("run needs --url, --participants, --accounts, "
		            "--clients and --seconds");
	o->accounts = (int)a->accounts;
	o->nnames = split_names(a->participants, o->names, MAX_PARTICIPANTS);
	if (o->nnames < 2)
		usage_error("a transfer needs two participants, got \"%s\"",
		            a->participants);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return bank_run(o);
}

int
main(int argc, char **argv)
{
	struct args a = {0};
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2)
		usage_error("no command");
	parse_args(argc - 1, argv + 1, &a);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(&a);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&a);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(&a);
	usage_error("unknown command \"%s\"", cmd);
}
