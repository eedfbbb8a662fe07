#include "pg.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

struct pg_pool {
	char *conninfo;
	uint32_t statement_timeout_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	PGconn **idle; /* connected and idle */
	size_t nidle;
	size_t size;  /* most connections at once */
	size_t inuse; /* handed out */
};

void
pg_err_set(struct pg_err *e, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* libpq ends messages with a newline; a log line should not. */
static void
set_from_conn(struct pg_err *e, PGconn *c, const char *sqlstate)
{
	size_t n;

	pg_err_set(e, sqlstate, "%s", PQerrorMessage(c));
	n = strlen(e->message);
	while (n > 0 && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
		e->message[--n] = '\0';
}

void
pg_err_from(struct pg_err *e, PGconn *c, const PGresult *r)
{
	const char *st =
	    r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg =
	    r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (PQstatus(c) != CONNECTION_OK)
		st = "08006"; /* the connection itself is gone */
	if (msg != NULL)
		pg_err_set(e, st != NULL ? st : "XX000", "%s", msg);
	else
		set_from_conn(e, c, st != NULL ? st : "08006");
}

int
pg_pool_open(const char *conninfo, size_t size, uint32_t statement_timeout_ms,
             struct pg_pool **out, char *err, size_t errlen)
{
	PQconninfoOption *opts;
	struct pg_pool *p;
	char *why = NULL;

	if ((opts = PQconninfoParse(conninfo, &why)) == NULL) {
		snprintf(err, errlen, "database: %s",
		         why != NULL ? why : "out of memory");
		if (why != NULL) {
			size_t n = strlen(err);
			if (n > 0 && err[n - 1] == '\n')
				err[n - 1] = '\0';
		}
		PQfreemem(why);
		return -1;
	}
	PQconninfoFree(opts);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->conninfo = strdup(conninfo)) == NULL ||
	    (p->idle = calloc(size, sizeof(*p->idle))) == NULL) {
		if (p != NULL)
			free(p->conninfo);
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->size = size;
	p->statement_timeout_ms = statement_timeout_ms;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	*out = p;
	return 0;
}

void
pg_pool_close(struct pg_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->idle);
	free(p->conninfo);
	free(p);
}

static PGconn *
connect_one(struct pg_pool *p, struct pg_err *e)
{
	PGconn *c = PQconnectdb(p->conninfo);
	char sql[96];

	if (PQstatus(c) != CONNECTION_OK) {
		set_from_conn(e, c, "08006");
		PQfinish(c);
		return NULL;
	}
	snprintf(sql, sizeof(sql), "SET statement_timeout = %u",
	         p->statement_timeout_ms);
	if (pg_command(c, sql, e) != 0) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

static void
deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

PGconn *
pg_acquire(struct pg_pool *p, uint32_t wait_ms, struct pg_err *e)
{
	struct timespec until;
	PGconn *c;

	deadline_in(&until, wait_ms);
	pthread_mutex_lock(&p->mu);
	while (p->nidle == 0 && p->inuse >= p->size) {
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0) {
			pthread_mutex_unlock(&p->mu);
			pg_err_set(e, "53300",
			           "all %zu database connections are in use",
			           p->size);
			return NULL;
		}
	}
	p->inuse++;
	c = p->nidle > 0 ? p->idle[--p->nidle] : NULL;
	pthread_mutex_unlock(&p->mu);
	if (c != NULL && PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		c = NULL;
	}
	if (c == NULL && (c = connect_one(p, e)) == NULL) {
		pthread_mutex_lock(&p->mu);
		p->inuse--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return c;
}

void
pg_discard(struct pg_pool *p, PGconn *c)
{
	PQfinish(c);
	pg_release(p, NULL);
}

void
pg_release(struct pg_pool *p, PGconn *c)
{
	if (c != NULL && (PQstatus(c) != CONNECTION_OK ||
	                  PQtransactionStatus(c) != PQTRANS_IDLE ||
	                  PQpipelineStatus(c) != PQ_PIPELINE_OFF)) {
		PQfinish(c);
		c = NULL;
	}
	pthread_mutex_lock(&p->mu);
	p->inuse--;
	if (c != NULL)
		p->idle[p->nidle++] = c;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int
pg_command(PGconn *c, const char *sql, struct pg_err *e)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	pg_err_from(e, c, r);
	PQclear(r);
	return -1;
}

/* End a COPY the client started: we have no data stream to offer. */
static void
refuse_copy(PGconn *c, ExecStatusType st)
{
	PGresult *r;
	char *buf;

	if (st == PGRES_COPY_IN)
		PQputCopyEnd(c, "COPY from the client is not supported");
	else if (st == PGRES_COPY_OUT)
		while (PQgetCopyData(c, &buf, 0) > 0)
			PQfreemem(buf);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
}

PGresult *
pg_statement(PGconn *c, const char *sql, struct pg_err *e)
{
	PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	switch (st) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return r;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		PQclear(r);
		refuse_copy(c, st);
		pg_err_set(e, "0A000",
		           "COPY to or from the client is not supported in a "
		           "branch; use INSERT or COPY with a server file");
		return NULL;
	case PGRES_BAD_RESPONSE:
	case PGRES_NONFATAL_ERROR:
	case PGRES_FATAL_ERROR:
	case PGRES_SINGLE_TUPLE:
	case PGRES_PIPELINE_SYNC:
	case PGRES_PIPELINE_ABORTED:
		break;
	}
	pg_err_from(e, c, r);
	PQclear(r);
	return NULL;
}

/* Skip blanks, -- comments and (nested) block comments. */
static const char *
skip_noise(const char *s)
{
	for (;;) {
		/* PostgreSQL drops empty statements: "; COMMIT" is a
		 * COMMIT. */
		while (isspace((unsigned char)*s) || *s == '(' || *s == ';')
			s++;
		if (s[0] == '-' && s[1] == '-') {
			/* Ended by either, as PostgreSQL's lexer does. */
			while (*s != '\0' && *s != '\n' && *s != '\r')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			int depth = 1;

			for (s += 2; *s != '\0' && depth > 0; s++) {
				if (s[0] == '/' && s[1] == '*')
					depth++, s++;
				else if (s[0] == '*' && s[1] == '/')
					depth--, s++;
			}
		} else
			return s;
	}
}

static bool
word_is(const char *s, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(s, word, n) == 0 && !isalnum((unsigned char)s[n]) &&
	       s[n] != '_';
}

int
pg_touches_session(const char *sql)
{
	const char *s = skip_noise(sql);

	if (word_is(s, "SET")) {
		s = skip_noise(s + strlen("SET"));
		return !word_is(s, "LOCAL") && !word_is(s, "TRANSACTION") &&
		       !word_is(s, "CONSTRAINTS");
	}
	return word_is(s, "RESET") || word_is(s, "DISCARD") ||
	       word_is(s, "LOAD") || word_is(s, "LISTEN");
}

int
pg_is_copy(const char *sql)
{
	return word_is(skip_noise(sql), "COPY");
}

/*
 * The read-only test divides by zero when no transaction id was assigned:
 * an error that we can tell from any other by its place in the pipeline.
 * Behind the savepoint, it leaves the transaction usable for a COMMIT.
 * Function and operator are schema-qualified: a client's search_path must
 * not be able to make a writing branch look read-only.
 */
#define RO_SAVEPOINT "xact_readonly_test"
#define RO_TEST                                                                \
	"SELECT 1 OPERATOR(pg_catalog./) "                                     \
	"(pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL)::int"

/*
 * Read one query's results: the first failure goes to *st (and e, unless
 * it is PGRES_PIPELINE_ABORTED), the command tag to tag. False when there
 * was none: the connection is gone.
 */
static bool
pipeline_result(PGconn *c, ExecStatusType *st, char *tag, size_t taglen,
                struct pg_err *e)
{
	PGresult *r;
	bool any = false;

	*st = PGRES_COMMAND_OK;
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType s = PQresultStatus(r);

		any = true;
		snprintf(tag, taglen, "%s", PQcmdStatus(r));
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK &&
		    s != PGRES_EMPTY_QUERY && *st == PGRES_COMMAND_OK) {
			*st = s;
			if (s != PGRES_PIPELINE_ABORTED)
				pg_err_from(e, c, r);
		}
		PQclear(r);
	}
	return any;
}

enum pg_phase1
pg_prepare_pipelined(PGconn *c, bool begin, const char *const *sql, size_t n,
                     const char *gid, struct pg_err *e)
{
	char prepare[128], tag[64];
	const char *q[4 + 64];
	size_t nq = 0, test;
	ExecStatusType st;
	enum pg_phase1 out = PG_PREPARED;
	bool failed = false, prepared = false;
	PGresult *r;

	if (n > 64) {
		pg_err_set(e, "54000", "more than 64 statements in a branch");
		return PG_FAILED;
	}
	snprintf(prepare, sizeof(prepare), "PREPARE TRANSACTION '%s'", gid);
	if (begin)
		q[nq++] = "BEGIN";
	for (size_t i = 0; i < n; i++)
		q[nq++] = sql[i];
	q[nq++] = "SAVEPOINT " RO_SAVEPOINT;
	test = nq;
	q[nq++] = RO_TEST;
	q[nq++] = prepare;
	if (!PQenterPipelineMode(c)) {
		pg_err_from(e, c, NULL);
		return PG_FAILED;
	}
	for (size_t i = 0; i < nq; i++)
		if (!PQsendQueryParams(c, q[i], 0, NULL, NULL, NULL, NULL, 0)) {
			pg_err_from(e, c, NULL);
			failed = true;
			break;
		}
	if (!failed && !PQpipelineSync(c)) {
		pg_err_from(e, c, NULL);
		failed = true;
	}
	for (size_t i = 0; i < nq && !failed; i++) {
		if (!pipeline_result(c, &st, tag, sizeof(tag), e)) {
			pg_err_from(e, c, NULL); /* connection lost */
			failed = true;
		} else if (st == PGRES_PIPELINE_ABORTED) {
			continue; /* after the failure that was kept */
		} else if (st != PGRES_COMMAND_OK) {
			/* The first failure decides (libpq's own, such as
			 * out of memory, abort nothing on the server). */
			if (out == PG_PREPARED)
				out = i == test &&
				              strcmp(e->sqlstate, "22012") == 0
				          ? PG_READONLY
				          : PG_FAILED;
		} else if (i == nq - 1) {
			/* A "ROLLBACK" tag: nothing was prepared. */
			prepared = strcmp(tag, "PREPARE TRANSACTION") == 0;
			if (!prepared && out == PG_PREPARED) {
				pg_err_set(
				    e, "40000",
				    "PREPARE TRANSACTION rolled the branch "
				    "back");
				out = PG_FAILED;
			}
		}
	}
	/* Then the sync: its result is not followed by a NULL. */
	if (!failed && ((r = PQgetResult(c)) == NULL ||
	                PQresultStatus(r) != PGRES_PIPELINE_SYNC)) {
		PQclear(r);
		pg_err_set(e, "08006", "pipeline ended without its sync");
		failed = true;
	} else if (!failed) {
		PQclear(r);
	}
	if (!PQexitPipelineMode(c))
		failed = true; /* pg_release() closes the connection */
	if (prepared && out == PG_PREPARED)
		return PG_PREPARED; /* durable, whatever came after */
	if (prepared && PQpipelineStatus(c) == PQ_PIPELINE_OFF) {
		/* Prepared on the server, but a failure libpq saw first
		 * makes the vote NO: take it back rather than leave it for
		 * the sweeper, holding its locks. Failing here, the sweeper
		 * still finds it. */
		char rollback[160];
		struct pg_err ignored;

		snprintf(rollback, sizeof(rollback), "ROLLBACK PREPARED '%s'",
		         gid);
		(void)pg_command(c, rollback, &ignored);
	}
	return failed ? PG_FAILED : out;
}

/* Read the sync that ends a pipeline; false if it is not there. */
static bool
pipeline_synced(PGconn *c)
{
	PGresult *r = PQgetResult(c);
	bool ok = r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

	PQclear(r);
	return ok;
}

enum pg_commit1
pg_commit_pipelined(PGconn *c, bool begin, const char *first, const char *param,
                    const char *const *sql, size_t n, size_t *failed_at,
                    struct pg_err *e)
{
	size_t nq = 0, skip = begin ? 1 : 0;
	char tag[64];
	ExecStatusType st;
	bool sent = true, failed = false, committed = false;
	bool commit_failed = false;

	*failed_at = 0;
	if (n > 64) {
		pg_err_set(e, "54000", "more than 64 statements in a branch");
		return PG_COMMIT_FAILED;
	}
	if (!PQenterPipelineMode(c)) {
		pg_err_from(e, c, NULL);
		return PG_COMMIT_FAILED;
	}
	/* Queries: [BEGIN] first sql... COMMIT. */
	if (begin)
		sent = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL,
		                         0) != 0;
	sent = sent &&
	       PQsendQueryParams(c, first, 1, NULL, &param, NULL, NULL, 0) != 0;
	for (size_t i = 0; i < n && sent; i++)
		sent = PQsendQueryParams(c, sql[i], 0, NULL, NULL, NULL, NULL,
		                         0) != 0;
	sent = sent &&
	       PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
	       PQpipelineSync(c);
	if (!sent) {
		/* Nothing reached the server, or COMMIT did not. */
		pg_err_from(e, c, NULL);
		PQexitPipelineMode(c); /* fails: pg_release() closes it */
		return PG_COMMIT_FAILED;
	}
	nq = skip + 1 + n + 1;
	for (size_t i = 0; i < nq; i++) {
		if (!pipeline_result(c, &st, tag, sizeof(tag), e)) {
			/* Lost: after an error seen, nothing committed. */
			if (!failed)
				pg_err_from(e, c, NULL);
			PQexitPipelineMode(c);
			return failed ? PG_COMMIT_FAILED : PG_COMMIT_UNKNOWN;
		}
		if (st == PGRES_PIPELINE_ABORTED)
			continue;
		if (st != PGRES_COMMAND_OK && !failed && i == nq - 1) {
			/* COMMIT itself failed: a deferred check is definite,
			 * but a backend ended while it waited for a standby
			 * had committed locally. Only the marker can tell. */
			commit_failed = true;
		} else if (st != PGRES_COMMAND_OK && !failed) {
			failed = true;
			*failed_at = i < skip ? 0 : i - skip;
		} else if (i == nq - 1 && !failed) {
			/* A "ROLLBACK" tag: the transaction had failed. */
			committed = strcmp(tag, "COMMIT") == 0;
			if (!committed) {
				pg_err_set(e, "40000",
				           "COMMIT rolled the branch back");
				failed = true;
				*failed_at = n + 1;
			}
		}
	}
	if (!pipeline_synced(c) || !PQexitPipelineMode(c)) {
		if (!failed && !committed && !commit_failed)
			pg_err_set(e, "08006",
			           "pipeline ended without its sync");
		return committed ? PG_COMMIT_OK
		       : failed  ? PG_COMMIT_FAILED
		                 : PG_COMMIT_UNKNOWN;
	}
	return committed       ? PG_COMMIT_OK
	       : commit_failed ? PG_COMMIT_UNKNOWN
	                       : PG_COMMIT_FAILED;
}

int
pg_commit_readonly(PGconn *c, struct pg_err *e)
{
	return pg_command(c, "ROLLBACK TO SAVEPOINT " RO_SAVEPOINT "; COMMIT",
	                  e);
}

int
pg_is_txn_control(const char *sql)
{
	static const char *const words[] = {"BEGIN", "START",    "COMMIT",
	                                    "END",   "ROLLBACK", "ABORT"};
	const char *s = skip_noise(sql);

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (word_is(s, words[i]))
			return 1;
	if (word_is(s, "PREPARE")) {
		s = skip_noise(s + strlen("PREPARE"));
		return word_is(s, "TRANSACTION");
	}
	return 0;
}
