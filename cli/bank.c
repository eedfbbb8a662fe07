/*
 * xact-bank: a bank-transfer workload for xact, and its checker.
 *
 *   xact-bank init  --db CONNINFO [--db ...] --accounts N --balance B
 *   xact-bank run   --url URL --participants bank1,bank2[,...] --accounts N
 *                   --clients C --seconds S [--max-amount M] [--seed X]
 *                   [--journal FILE] [--submit] [--timeout-ms T]
 *                   [--local-pct P]
 *   xact-bank check --db CONNINFO [--db ...] --expect-total T [--wait S]
 *                   [--participants NAME,NAME[,...] --journal FILE]
 *
 * Every database holds accounts(id, balance) with CHECK (balance >= 0),
 * ledger(gid, amount) and bank_meta(initial_total). A transfer debits an
 * account in one database and credits one in another, as one global
 * transaction, and writes a ledger row on both sides under the same key:
 * -amount where it debits, +amount where it credits. An overdraft fails
 * the CHECK, the branch votes NO and the transfer aborts.
 *
 * With --local-pct P, P percent of the transfers stay inside one database
 * (a single-participant transaction: one-phase commit); their ledger row
 * is one row of amount 0, as the two balances there move by +-amount.
 *
 * That makes atomicity visible per transaction: a key is in the ledger of
 * both databases of its transfer or of neither, and in each database the
 * balances sum to the initial total plus the ledger. Money only moves, so
 * whatever crashes, at quiescence the sum over all databases is the
 * initial sum, no balance is negative and no prepared branch is left.
 *
 * `run` sends each transfer statement by statement (begin, then debit,
 * ledger row, credit, ledger row, commit): the key is the gid, which the
 * client knows before any work is sent. With --submit it sends both
 * branches at once with xact_submit(); the statements are written before
 * the library learns the gid, so the key is a transfer id made by the
 * client and the journal pairs it with the gid.
 *
 * A call that fails leaves the outcome unknown to the client: it is asked
 * with xact_status() at the end. Before commit is asked for, a failure
 * means the transfer can never commit: it counts as aborted. A transfer
 * whose begin got no answer never sent work: it counts as lost.
 *
 * The journal holds one line per transfer,
 *
 *   KEY OUTCOME FROM,TO GID
 *
 * OUTCOME one of committed, aborted, unknown, lost (GID "-" when the
 * client never learnt it); then one line "KEY RESOLUTION" per unknown
 * outcome, RESOLUTION one of resolved-committed, resolved-aborted,
 * unresolved. `check --journal` holds the databases to it (DESIGN.md
 * invariant 8): what the client was told committed is in both ledgers,
 * what it was told aborted (or never sent) is in neither, and every
 * unknown outcome was resolved and matches the ledgers.
 *
 * `check` prints one line starting "VIOLATION" per broken invariant and
 * exits 1 if there is any, 2 if it could not look.
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
#include "rng.h"
#include "xact.h"

#define MAX_DBS           16
#define MAX_PARTICIPANTS  16
#define MAX_CLIENTS       1024
#define KEY_MAX           XACT_GID_MAX /* a ledger key: a gid or a tid */
#define RESOLVE_WINDOW_MS 30000        /* how long unknown outcomes are asked */
#define RESOLVE_POLL_MS   200
#define BACKOFF_MIN_MS    50
#define BACKOFF_MAX_MS    1000
#define WAIT_POLL_MS      500
#define MAX_SHOWN         50 /* violations printed in full */

#define PREPARED_SQL                                                           \
	"SELECT count(*) FROM pg_prepared_xacts "                              \
	"WHERE gid LIKE 'xact\\_%' AND database = current_database()"

static const char usage[] =
    "usage:\n"
    "  xact-bank init  --db CONNINFO [--db ...] --accounts N --balance B\n"
    "  xact-bank run   --url URL --participants NAME,NAME[,...] --accounts N\n"
    "                  --clients C --seconds S [--max-amount M] [--seed X]\n"
    "                  [--journal FILE] [--submit] [--timeout-ms T]\n"
    "                  [--protocol 2pc|3pc] [--local-pct P]\n"
    "  xact-bank check --db CONNINFO [--db ...] --expect-total T [--wait S]\n"
    "                  [--participants NAME,NAME[,...] --journal FILE]\n";

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
		fprintf(stderr, "xact-bank: %s: %s: %s",
		        db_name(conn, name, sizeof name), sql,
		        PQresultStatus(res) == PGRES_TUPLES_OK
		            ? "expected one row\n"
		            : PQerrorMessage(conn));
	}
	PQclear(res);
	return rc;
}

static int
bank_init(const char *const dbs[], int ndbs, int accounts, long long balance)
{
	char sql[1024], name[256];

	/* A prepared branch holding a lock on accounts would block the DROP. */
	snprintf(sql, sizeof sql,
	         "SET client_min_messages = warning;"
	         "SET lock_timeout = '10s';"
	         "BEGIN;"
	         "DROP TABLE IF EXISTS accounts, ledger, bank_meta;"
	         "CREATE TABLE accounts (id int PRIMARY KEY,"
	         " balance bigint NOT NULL CHECK (balance >= 0));"
	         "INSERT INTO accounts SELECT g, %lld"
	         " FROM generate_series(1, %d) g;"
	         "CREATE TABLE ledger (gid text PRIMARY KEY,"
	         " amount bigint NOT NULL);"
	         "CREATE TABLE bank_meta (initial_total bigint NOT NULL);"
	         "INSERT INTO bank_meta VALUES (%lld);"
	         "COMMIT",
	         balance, accounts, balance * accounts);
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

/* One ledger row, with the database it was found in. */
struct lrow {
	char key[KEY_MAX];
	int db;
	long long amount;
};

struct lrows {
	struct lrow *v;
	size_t n, cap;
};

enum jout {
	J_COMMITTED,
	J_ABORTED,
	J_UNKNOWN,
	J_LOST,
};

enum jres {
	R_NONE, /* no resolution line */
	R_COMMITTED,
	R_ABORTED,
	R_UNRESOLVED,
};

/* One transfer as the journal tells it. */
struct jent {
	char key[KEY_MAX];
	char gid[XACT_GID_MAX];
	enum jout out;
	enum jres res;
	int from, to; /* database indexes */
	unsigned line;
	bool in_ledger; /* set while checking */
};

struct jents {
	struct jent *v;
	size_t n, cap;
};

static int
cmp_lrow(const void *a, const void *b)
{
	const struct lrow *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : x->db - y->db;
}

static int
cmp_jent(const void *a, const void *b)
{
	return strcmp(((const struct jent *)a)->key,
	              ((const struct jent *)b)->key);
}

static struct jent *
jent_find(struct jents *j, const char *key)
{
	struct jent k;

	if (j->n == 0)
		return NULL;
	snprintf(k.key, sizeof k.key, "%s", key);
	return bsearch(&k, j->v, j->n, sizeof *j->v, cmp_jent);
}

/* What check knows about each database. */
struct dbinfo {
	char name[256]; /* participant name, else host:port/db */
	long long total, accounts, negative, prepared;
	long long initial, ledger_sum, ledger_rows;
};

struct checker {
	int ndbs;
	struct dbinfo db[MAX_DBS];
	const char *const *names; /* participant names, or NULL */
	int nnames;
	struct lrows rows;
	struct jents journal;
	bool has_journal;
	long long violations;
};

static __attribute__((format(printf, 2, 3))) void
violation(struct checker *ck, const char *fmt, ...)
{
	va_list ap;

	if (++ck->violations > MAX_SHOWN)
		return;
	va_start(ap, fmt);
	fputs("VIOLATION ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
}

/* The databases in mask, by name: "bank1, bank3". */
static const char *
db_list(const struct checker *ck, unsigned mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < ck->ndbs && off < len; i++)
		if (mask & (1u << i))
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
			                        off > 0 ? ", " : "",
			                        ck->db[i].name);
	if (off == 0)
		snprintf(buf, len, "none");
	return buf;
}

/* Balances, prepared branches and the ledger of database i. */
static int
load_db(struct checker *ck, int i, const char *conninfo)
{
	struct dbinfo *d = &ck->db[i];
	PGconn *conn = db_connect(conninfo);
	long long row[3];
	PGresult *res;
	int rc = -1;

	if (conn == NULL)
		return -1;
	if (ck->names == NULL)
		db_name(conn, d->name, sizeof d->name);
	else
		snprintf(d->name, sizeof d->name, "%s", ck->names[i]);
	/* One snapshot for everything read here. */
	if (db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ") != 0 ||
	    db_query_row(conn,
	                 "SELECT sum(balance), count(*) FILTER "
	                 "(WHERE balance < 0), count(*) FROM accounts",
	                 row, 3) != 0)
		goto out;
	d->total = row[0];
	d->negative = row[1];
	d->accounts = row[2];
	if (db_query_row(conn, PREPARED_SQL, &d->prepared, 1) != 0 ||
	    db_query_row(conn, "SELECT initial_total FROM bank_meta",
	                 &d->initial, 1) != 0 ||
	    db_query_row(conn, "SELECT sum(amount), count(*) FROM ledger", row,
	                 2) != 0)
		goto out;
	d->ledger_sum = row[0];
	d->ledger_rows = row[1];
	res = PQexec(conn, "SELECT gid, amount FROM ledger");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "xact-bank: %s: %s", d->name,
		        PQerrorMessage(conn));
		PQclear(res);
		goto out;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct lrow *l;

		if (ck->rows.n == ck->rows.cap)
			ck->rows.v =
			    grow(ck->rows.v, &ck->rows.cap, sizeof *ck->rows.v);
		l = &ck->rows.v[ck->rows.n++];
		snprintf(l->key, sizeof l->key, "%s", PQgetvalue(res, r, 0));
		l->db = i;
		l->amount = strtoll(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
	rc = db_exec(conn, "COMMIT");
out:
	PQfinish(conn);
	return rc;
}

static int
name_index(const struct checker *ck, const char *name)
{
	for (int i = 0; i < ck->nnames; i++)
		if (strcmp(ck->names[i], name) == 0)
			return i;
	return -1;
}

/* Parse one journal line into the checker. Returns -1 if malformed. */
static int
journal_parse_line(struct checker *ck, char *line, unsigned lineno)
{
	char key[KEY_MAX], word[32], parts[160], gid[XACT_GID_MAX];
	int n = sscanf(line, "%95s %31s %159s %95s", key, word, parts, gid);
	struct jent *e;
	char *comma;

	if (n == 4) {
		if (ck->journal.n == ck->journal.cap)
			ck->journal.v = grow(ck->journal.v, &ck->journal.cap,
			                     sizeof *ck->journal.v);
		e = &ck->journal.v[ck->journal.n++];
		memset(e, 0, sizeof *e);
		snprintf(e->key, sizeof e->key, "%s", key);
		snprintf(e->gid, sizeof e->gid, "%s", gid);
		e->line = lineno;
		if (strcmp(word, "committed") == 0)
			e->out = J_COMMITTED;
		else if (strcmp(word, "aborted") == 0)
			e->out = J_ABORTED;
		else if (strcmp(word, "unknown") == 0)
			e->out = J_UNKNOWN;
		else if (strcmp(word, "lost") == 0)
			e->out = J_LOST;
		else
			return -1;
		if ((comma = strchr(parts, ',')) == NULL)
			return -1;
		*comma = '\0';
		e->from = name_index(ck, parts);
		e->to = name_index(ck, comma + 1);
		if (e->from < 0 || e->to < 0) {
			fprintf(stderr,
			        "xact-bank: journal line %u: participant "
			        "\"%s\" or \"%s\" is not in --participants\n",
			        lineno, parts, comma + 1);
			return -1;
		}
		return 0;
	}
	/* Resolutions come after every attempt: matched in journal_load. */
	return n == 2 ? 1 : -1;
}

/* Read the journal: attempts first, then the resolutions of unknowns. */
static int
journal_load(struct checker *ck, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512], key[KEY_MAX], word[32];
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "xact-bank: cannot open %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof line, f) != NULL)
		if ((rc = journal_parse_line(ck, line, ++lineno)) > 0)
			rc = 0;
	if (rc == 0 && ck->journal.n > 1)
		qsort(ck->journal.v, ck->journal.n, sizeof *ck->journal.v,
		      cmp_jent);
	for (size_t i = 1; rc == 0 && i < ck->journal.n; i++)
		if (strcmp(ck->journal.v[i].key, ck->journal.v[i - 1].key) == 0)
			violation(
			    ck, "journal: %s was sent twice (lines %u, %u)",
			    ck->journal.v[i].key, ck->journal.v[i - 1].line,
			    ck->journal.v[i].line);
	rewind(f);
	lineno = 0;
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		struct jent *e;

		lineno++;
		if (sscanf(line, "%95s %31s %*s", key, word) != 2 ||
		    strchr(line, ',') != NULL)
			continue; /* an attempt */
		if ((e = jent_find(&ck->journal, key)) == NULL ||
		    e->out != J_UNKNOWN) {
			fprintf(stderr,
			        "xact-bank: journal line %u: a resolution of "
			        "%s, which was not unknown\n",
			        lineno, key);
			rc = -1;
		} else if (strcmp(word, "resolved-committed") == 0)
			e->res = R_COMMITTED;
		else if (strcmp(word, "resolved-aborted") == 0)
			e->res = R_ABORTED;
		else if (strcmp(word, "unresolved") == 0)
			e->res = R_UNRESOLVED;
		else
			rc = -1;
	}
	if (rc != 0 && lineno > 0)
		fprintf(stderr, "xact-bank: %s:%u: malformed journal line\n",
		        path, lineno);
	fclose(f);
	return rc;
}

static const char *
jout_name(const struct jent *e)
{
	switch (e->out) {
	case J_COMMITTED:
		return "acked committed";
	case J_ABORTED:
		return "acked aborted";
	case J_LOST:
		return "never sent (begin failed)";
	case J_UNKNOWN:
		break;
	}
	switch (e->res) {
	case R_COMMITTED:
		return "unknown, then committed by xact_status";
	case R_ABORTED:
		return "unknown, then aborted by xact_status";
	case R_UNRESOLVED:
	case R_NONE:
		break;
	}
	return "unknown and never resolved";
}

/* Should the transfer be in the ledgers (1), not (0), or is it unknown? */
static int
jent_expect(const struct jent *e)
{
	switch (e->out) {
	case J_COMMITTED:
		return 1;
	case J_ABORTED:
	case J_LOST:
		return 0;
	case J_UNKNOWN:
		break;
	}
	return e->res == R_COMMITTED ? 1 : e->res == R_ABORTED ? 0 : -1;
}

/*
 * Invariants 1 and 8 over one key: the rows rows[0..n) (one per database
 * that holds the key) against the journal.
 */
static void
check_key(struct checker *ck, const struct lrow *rows, size_t n,
          long long *both)
{
	const char *key = rows[0].key;
	struct jent *e = ck->has_journal ? jent_find(&ck->journal, key) : NULL;
	unsigned have = 0, want;
	long long sum = 0;
	char h[256], w[256];

	for (size_t i = 0; i < n; i++) {
		have |= 1u << rows[i].db;
		sum += rows[i].amount;
	}
	if (ck->has_journal && e == NULL) {
		violation(ck,
		          "journal: %s is in the ledger of %s but the client "
		          "never sent it",
		          key, db_list(ck, have, h, sizeof h));
		return;
	}
	if (e != NULL) {
		e->in_ledger = true;
		want = (1u << e->from) | (1u << e->to);
		if (have != want) {
			violation(ck,
			          "invariant 1 (atomicity): %s (gid %s) "
			          "committed at %s but its participants are %s",
			          key, e->gid, db_list(ck, have, h, sizeof h),
			          db_list(ck, want, w, sizeof w));
			return;
		}
		if (jent_expect(e) == 0)
			violation(ck,
			          "invariant 8 (client view): %s (gid %s) "
			          "committed at %s but the client saw it %s",
			          key, e->gid, db_list(ck, have, h, sizeof h),
			          jout_name(e));
	} else if (n != 2 && !(n == 1 && rows[0].amount == 0)) {
		violation(ck,
		          "invariant 1 (atomicity): %s committed at %s only; a "
		          "transfer has two participants",
		          key, db_list(ck, have, h, sizeof h));
		return;
	}
	if (sum != 0)
		violation(ck, "ledger: the rows of %s sum to %lld, not 0", key,
		          sum);
	else
		(*both)++;
}

/* Journal entries that no ledger holds. */
static void
check_absent(struct checker *ck)
{
	for (size_t i = 0; i < ck->journal.n; i++) {
		const struct jent *e = &ck->journal.v[i];
		char w[256];

		if (e->out == J_UNKNOWN &&
		    (e->res == R_NONE || e->res == R_UNRESOLVED)) {
			violation(ck,
			          "invariant 8 (client view): %s (gid %s) was "
			          "never resolved by xact_status",
			          e->key, e->gid);
			continue;
		}
		if (!e->in_ledger && jent_expect(e) == 1)
			violation(
			    ck,
			    "invariant 8 (client view): %s (gid %s) is %s "
			    "but in neither ledger (%s)",
			    e->key, e->gid, jout_name(e),
			    db_list(ck, (1u << e->from) | (1u << e->to), w,
			            sizeof w));
	}
}

static void
journal_summary(const struct checker *ck)
{
	long long n[4] = {0}, r[4] = {0};

	for (size_t i = 0; i < ck->journal.n; i++) {
		n[ck->journal.v[i].out]++;
		if (ck->journal.v[i].out == J_UNKNOWN)
			r[ck->journal.v[i].res]++;
	}
	printf("check: journal: %lld committed, %lld aborted, %lld lost, "
	       "%lld unknown (%lld resolved committed, %lld resolved "
	       "aborted, %lld unresolved)\n",
	       n[J_COMMITTED], n[J_ABORTED], n[J_LOST], n[J_UNKNOWN],
	       r[R_COMMITTED], r[R_ABORTED], r[R_UNRESOLVED] + r[R_NONE]);
}

static int
bank_check(struct checker *ck, const char *const dbs[], long long expect,
           int wait_s, const char *journal_path)
{
	long long total = 0, negative = 0, prepared = 0, both = 0;

	if (journal_path != NULL) {
		ck->has_journal = true;
		if (journal_load(ck, journal_path) != 0)
			return 2;
	}
	if (wait_s > 0)
		wait_prepared(dbs, ck->ndbs, wait_s);
	for (int i = 0; i < ck->ndbs; i++) {
		struct dbinfo *d = &ck->db[i];

		if (load_db(ck, i, dbs[i]) != 0)
			return 2;
		printf("check %s: total %lld, accounts %lld, negative %lld, "
		       "prepared %lld, ledger rows %lld\n",
		       d->name, d->total, d->accounts, d->negative, d->prepared,
		       d->ledger_rows);
		total += d->total;
		negative += d->negative;
		prepared += d->prepared;
		if (d->negative > 0)
			violation(ck,
			          "invariant 7 (bank): %s has %lld negative "
			          "balances",
			          d->name, d->negative);
		if (d->prepared > 0)
			violation(ck,
			          "invariant 5 (no orphans): %s still holds "
			          "%lld prepared transactions%s",
			          d->name, d->prepared,
			          wait_s > 0 ? " after the wait" : "");
		if (d->total != d->initial + d->ledger_sum)
			violation(ck,
			          "ledger: %s: balances sum to %lld, but the "
			          "initial %lld plus its ledger %lld is %lld",
			          d->name, d->total, d->initial, d->ledger_sum,
			          d->initial + d->ledger_sum);
	}
	if (total != expect)
		violation(ck,
		          "invariant 7 (bank): the balances sum to %lld, not "
		          "the initial %lld",
		          total, expect);
	if (ck->rows.n > 1)
		qsort(ck->rows.v, ck->rows.n, sizeof *ck->rows.v, cmp_lrow);
	for (size_t i = 0, j; i < ck->rows.n; i = j) {
		for (j = i + 1;
		     j < ck->rows.n &&
		     strcmp(ck->rows.v[j].key, ck->rows.v[i].key) == 0;
		     j++)
			;
		check_key(ck, &ck->rows.v[i], j - i, &both);
	}
	if (ck->has_journal) {
		check_absent(ck);
		journal_summary(ck);
	}
	printf("check: ledger: %lld transfers committed on both sides\n", both);
	printf("check: total %lld, expected %lld (%s); negative balances %lld; "
	       "prepared left %lld\n",
	       total, expect, total == expect ? "equal" : "DIFFERENT", negative,
	       prepared);
	if (ck->violations > MAX_SHOWN)
		printf("VIOLATION ... and %lld more\n",
		       ck->violations - MAX_SHOWN);
	if (ck->violations == 0)
		printf("check: OK\n");
	else
		printf("check: FAILED (%lld violations)\n", ck->violations);
	return ck->violations == 0 ? 0 : 1;
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
	bool submit;
	int local_pct; /* transfers inside one database, percent */
	xact_protocol protocol;
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
	int from, to; /* participant indexes */
	char key[KEY_MAX];
	char gid[XACT_GID_MAX];
};

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

/* An unknown outcome: the key it is journaled under, the gid to ask. */
struct unknown {
	char key[KEY_MAX];
	char gid[XACT_GID_MAX];
};

struct unknowns {
	struct unknown *v;
	size_t n, cap;
};

struct worker {
	int id;
	const struct run_opts *o;
	uint64_t deadline_ms;
	uint64_t rng;
	uint64_t ntransfers; /* for transfer ids (--submit) */
	char tid_prefix[48];
	xact_conn *conn;
	unsigned backoff_ms;
	long long committed, aborted, lost;
	struct u64vec latencies; /* of committed transfers, in us */
	struct unknowns unknown;
	pthread_t thread;
};

static struct {
	FILE *f;
	pthread_mutex_t mu;
} journal = {NULL, PTHREAD_MUTEX_INITIALIZER};

static __attribute__((format(printf, 1, 2))) void
journal_line(const char *fmt, ...)
{
	va_list ap;

	if (journal.f == NULL)
		return;
	va_start(ap, fmt);
	pthread_mutex_lock(&journal.mu);
	vfprintf(journal.f, fmt, ap);
	fputc('\n', journal.f);
	pthread_mutex_unlock(&journal.mu);
	va_end(ap);
}

static void
u64_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap)
		a->v = grow(a->v, &a->cap, sizeof *a->v);
	a->v[a->n++] = x;
}

static void
unknown_push(struct unknowns *a, const char *key, const char *gid)
{
	if (a->n == a->cap)
		a->v = grow(a->v, &a->cap, sizeof *a->v);
	snprintf(a->v[a->n].key, KEY_MAX, "%s", key);
	snprintf(a->v[a->n].gid, XACT_GID_MAX, "%s", gid);
	a->n++;
}

static uint64_t
rnd(struct worker *w, uint64_t n)
{
	return rng_below(&w->rng, n);
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
		if (xact_connect(w->o->url, w->o->timeout_ms, &w->conn) == 0) {
			xact_set_protocol(w->conn, w->o->protocol);
			return true;
		}
		if (w->conn != NULL && !atomic_exchange(&connect_failed, true))
			fprintf(stderr, "xact-bank: %s; retrying\n",
			        xact_errmsg(w->conn));
		xact_disconnect(w->conn); /* allocated even on failure */
		w->conn = NULL;
		backoff(w);
	}
	return false;
}

/* The statements of one transfer, once the ledger key is known. */
struct transfer_sql {
	char debit[128], debit_row[KEY_MAX + 64];
	char credit[128], credit_row[KEY_MAX + 64];
	char local_row[KEY_MAX + 64];
};

static void
transfer_sql(struct transfer_sql *t, const char *key, long long amount,
             int from_id, int to_id)
{
	snprintf(t->debit, sizeof t->debit,
	         "UPDATE accounts SET balance = balance - %lld WHERE id = %d",
	         amount, from_id);
	snprintf(t->credit, sizeof t->credit,
	         "UPDATE accounts SET balance = balance + %lld WHERE id = %d",
	         amount, to_id);
	/* Keys are gids or our own transfer ids: nothing to quote. */
	snprintf(t->debit_row, sizeof t->debit_row,
	         "INSERT INTO ledger VALUES ('%s', %lld)", key, -amount);
	snprintf(t->credit_row, sizeof t->credit_row,
	         "INSERT INTO ledger VALUES ('%s', %lld)", key, amount);
	/* Inside one database: the key is the ledger's primary key there. */
	snprintf(t->local_row, sizeof t->local_row,
	         "INSERT INTO ledger VALUES ('%s', 0)", key);
}

/* One transfer with xact_submit(): both branches in one request. */
static void
transfer_submit(struct worker *w, long long amount, int from_id, int to_id,
                struct attempt *a)
{
	const struct run_opts *o = w->o;
	struct transfer_sql t;
	const char *from_sql[2], *to_sql[2], *local_sql[3];
	xact_outcome out;

	snprintf(a->key, sizeof a->key, "%s_%" PRIu64, w->tid_prefix,
	         ++w->ntransfers);
	transfer_sql(&t, a->key, amount, from_id, to_id);
	from_sql[0] = t.debit;
	from_sql[1] = t.debit_row;
	to_sql[0] = t.credit;
	to_sql[1] = t.credit_row;
	const struct xact_branch br[2] = {{o->names[a->from], from_sql, 2},
	                                  {o->names[a->to], to_sql, 2}};
	const struct xact_branch local = {o->names[a->from], local_sql, 3};
	int rc;

	local_sql[0] = t.debit;
	local_sql[1] = t.credit;
	local_sql[2] = t.local_row;
	if (a->from == a->to)
		rc = xact_submit(w->conn, &local, 1, a->gid, &out);
	else
		rc = xact_submit(w->conn, br, 2, a->gid, &out);
	if (rc != 0) {
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
 * One transfer as begin, four statements, commit. Until commit is asked
 * for, any failure means the transfer can never commit: it is aborted.
 */
static void
transfer_steps(struct worker *w, long long amount, int from_id, int to_id,
               struct attempt *a)
{
	const struct run_opts *o = w->o;
	struct transfer_sql t;
	xact_tx *tx;
	xact_result *r;
	xact_outcome out;

	if (xact_begin(w->conn, &tx) != 0) {
		a->call_failed = true;
		a->outcome = OUT_LOST;
		return;
	}
	snprintf(a->gid, sizeof a->gid, "%s", xact_tx_gid(tx));
	snprintf(a->key, sizeof a->key, "%s", a->gid);
	transfer_sql(&t, a->key, amount, from_id, to_id);
	const bool local = a->from == a->to;
	const char *const sql[4] = {t.debit, local ? t.local_row : t.debit_row,
	                            t.credit, t.credit_row};
	const char *const names[4] = {o->names[a->from], o->names[a->from],
	                              o->names[a->to], o->names[a->to]};
	for (int i = 0; i < (local ? 3 : 4); i++) {
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
		a->outcome = out == XACT_COMMITTED ? OUT_COMMITTED
		             : out == XACT_ABORTED ? OUT_ABORTED
		                                   : OUT_UNKNOWN;
	}
	xact_tx_free(tx);
}

static void
transfer(struct worker *w, struct attempt *a)
{
	const struct run_opts *o = w->o;
	long long amount;
	int from_id, to_id;
	uint64_t t0;

	memset(a, 0, sizeof *a);
	a->from = (int)rnd(w, (uint64_t)o->nnames);
	if (o->nnames == 1 ||
	    (o->local_pct > 0 && (int)rnd(w, 100) < o->local_pct))
		a->to = a->from; /* one database: one phase */
	else
		a->to = (a->from + 1 + (int)rnd(w, (uint64_t)o->nnames - 1)) %
		        o->nnames;
	amount = 1 + (long long)rnd(w, (uint64_t)o->max_amount);
	from_id = 1 + (int)rnd(w, (uint64_t)o->accounts);
	to_id = 1 + (int)rnd(w, (uint64_t)o->accounts);
	t0 = now_us();
	if (o->submit)
		transfer_submit(w, amount, from_id, to_id, a);
	else
		transfer_steps(w, amount, from_id, to_id, a);
	a->latency_us = now_us() - t0;
}

static void
record(struct worker *w, const struct attempt *a)
{
	static const char *const words[] = {
	    [OUT_COMMITTED] = "committed",
	    [OUT_ABORTED] = "aborted",
	    [OUT_UNKNOWN] = "unknown",
	    [OUT_LOST] = "lost",
	};

	/* Interactive transfers lost at begin have no key: nothing ran. */
	if (a->key[0] != '\0')
		journal_line("%s %s %s,%s %s", a->key, words[a->outcome],
		             w->o->names[a->from], w->o->names[a->to],
		             a->gid[0] != '\0' ? a->gid : "-");
	switch (a->outcome) {
	case OUT_COMMITTED:
		w->committed++;
		u64_push(&w->latencies, a->latency_us);
		break;
	case OUT_ABORTED:
		w->aborted++;
		break;
	case OUT_UNKNOWN:
		unknown_push(&w->unknown, a->key, a->gid);
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
resolve(const struct run_opts *o, const struct unknowns *unknown)
{
	uint64_t deadline = clock_now_ms() + RESOLVE_WINDOW_MS;
	struct resolved r = {0, 0, 0};
	xact_conn *c = NULL;
	bool reachable = true;

	for (size_t i = 0; i < unknown->n; i++) {
		const struct unknown *u = &unknown->v[i];
		xact_outcome out = XACT_IN_PROGRESS;
		bool answered = false;

		for (;;) {
			if (c == NULL &&
			    xact_connect(o->url, o->timeout_ms, &c) != 0) {
				xact_disconnect(c);
				c = NULL;
			}
			answered =
			    c != NULL && xact_status(c, u->gid, &out) == 0;
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
			journal_line("%s resolved-committed", u->key);
		} else if (answered && out == XACT_ABORTED) {
			r.aborted++;
			journal_line("%s resolved-aborted", u->key);
		} else {
			r.unresolved++;
			journal_line("%s unresolved", u->key);
			fprintf(stderr,
			        "xact-bank: %s: outcome still unknown\n",
			        u->gid);
		}
		if (!reachable && clock_now_ms() >= deadline) {
			/* past the window and nobody answers: stop asking */
			for (i++; i < unknown->n; i++) {
				r.unresolved++;
				journal_line("%s unresolved",
				             unknown->v[i].key);
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
	struct unknowns unknown = {0};
	long long committed = 0, aborted = 0, lost = 0;
	uint64_t start = clock_now_ms(), elapsed_ms;
	/* Transfer ids must not repeat across runs on the same ledger. */
	uint64_t run_id = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
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
	       o->submit ? ", submit" : ", step by step");
	fflush(stdout);
	for (int i = 0; i < o->clients; i++) {
		w[i] = (struct worker){.id = i, .o = o};
		w[i].deadline_ms = start + (uint64_t)o->seconds * 1000u;
		w[i].rng = o->seed ^ ((uint64_t)(i + 1) * 0xd1b54a32d192ed03u);
		snprintf(w[i].tid_prefix, sizeof w[i].tid_prefix,
		         "tid_%" PRIx64 "_%d", run_id, i);
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
			unknown_push(&unknown, w[i].unknown.v[k].key,
			             w[i].unknown.v[k].gid);
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
	OPT_SUBMIT,
	OPT_PROTOCOL,
	OPT_TIMEOUT,
	OPT_LOCAL_PCT,
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
    {"submit", no_argument, NULL, OPT_SUBMIT},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"local-pct", required_argument, NULL, OPT_LOCAL_PCT},
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
		case OPT_LOCAL_PCT:
			a->run.local_pct =
			    (int)parse_num("--local-pct", optarg, 0, 100);
			break;
		case OPT_SUBMIT:
			a->run.submit = true;
			break;
		case OPT_PROTOCOL:
			if (strcmp(optarg, "2pc") == 0)
				a->run.protocol = XACT_PROTOCOL_2PC;
			else if (strcmp(optarg, "3pc") == 0)
				a->run.protocol = XACT_PROTOCOL_3PC;
			else
				usage_error("--protocol takes 2pc or 3pc");
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
	static struct checker ck;
	static const char *names[MAX_PARTICIPANTS];

	if (a->ndbs == 0 || !a->has_expect)
		usage_error("check needs --db and --expect-total");
	ck.ndbs = a->ndbs;
	if (a->participants != NULL) {
		ck.nnames =
		    split_names(a->participants, names, MAX_PARTICIPANTS);
		if (ck.nnames != a->ndbs)
			usage_error("--participants names %d databases, --db "
			            "gives %d",
			            ck.nnames, a->ndbs);
		ck.names = names;
	} else if (a->run.journal != NULL) {
		usage_error("check --journal needs --participants, in the "
		            "order of --db");
	}
	return bank_check(&ck, a->dbs, a->expect, (int)a->wait_s,
	                  a->run.journal);
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
