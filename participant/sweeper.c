#include "sweeper.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "gid.h"
#include "log.h"
#include "net.h"

#define REAP_EVERY_MS 1000

struct coord_link {
	const char *node;
	nng_socket sock;
	bool open;
	bool silent; /* did not answer in this scan: skip its gids */
};

/* The gids of one scan, sorted, to find those seen twice in a row. */
struct gid_set {
	char (*v)[GID_MAX];
	size_t n;
};

struct sweeper {
	const struct part_config *cfg;
	struct branches *bs;
	struct pg_pool *pool;
	struct coord_link *links;
	size_t nlinks;
	struct gid_set seen; /* the previous scan */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct sweeper_stats stats; /* under mu */
};

static int
cmp_gid(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool
set_has(const struct gid_set *s, const char *gid)
{
	return s->n > 0 &&
	       bsearch(gid, s->v, s->n, sizeof(*s->v), cmp_gid) != NULL;
}

/* Ask the coordinator that owns gid. -1: no answer (try next scan). */
static int
inquire(struct sweeper *s, const char *gid, enum wire_outcome *out)
{
	struct gid_parts parts;
	struct coord_link *l = NULL;
	struct wire_buf b;
	struct wire_msg m;
	nng_msg *req, *rep;
	char err[200];
	int rv;

	if (!gid_parse(gid, &parts))
		return -1;
	for (size_t i = 0; i < s->nlinks; i++)
		if (strcmp(s->links[i].node, parts.node) == 0)
			l = &s->links[i];
	if (l != NULL && l->silent)
		return -1;
	if (l == NULL) {
		xlog_warn("gid=%s: coordinator %s is not configured; left "
		          "prepared",
		          gid, parts.node);
		return -1;
	}
	wire_buf_init(&b, WIRE_INQUIRE);
	wire_put_str(&b, WIRE_T_GID, gid);
	rv = net_msg_from_buf(&b, &req);
	wire_buf_free(&b);
	if (rv != 0)
		return -1;
	if ((rv = nng_sendmsg(l->sock, req, 0)) != 0) {
		nng_msg_free(req);
		l->silent = true;
		return -1;
	}
	if ((rv = nng_recvmsg(l->sock, &rep, 0)) != 0) {
		/* One timeout per coordinator and scan, not one per gid. */
		l->silent = true;
		xlog_debug("gid=%s: no answer from coordinator %s: %s", gid,
		           parts.node, nng_strerror(rv));
		return -1;
	}
	rv = -1;
	if (net_decode(rep, &m, err, sizeof(err)) != 0)
		xlog_warn("gid=%s: bad inquiry answer: %s", gid, err);
	else {
		if (m.type == WIRE_OUTCOME && m.gid != NULL &&
		    strcmp(m.gid, gid) == 0) {
			*out = (enum wire_outcome)m.code;
			rv = 0;
		} else if (m.type == WIRE_ERROR)
			xlog_warn("gid=%s: coordinator %s: %s", gid, parts.node,
			          m.text);
		wire_msg_free(&m);
	}
	nng_msg_free(rep);
	return rv;
}

static void
resolve_one(struct sweeper *s, const char *gid, uint64_t age_ms)
{
	enum wire_outcome o;

	/* A 3PC branch is finished by its participants (termination.h):
	 * its coordinator's presumed abort could contradict them. */
	if (branch_is_3pc(s->bs, gid) || branch_is_live(s->bs, gid) ||
	    inquire(s, gid, &o) != 0)
		return;
	switch (o) {
	case WIRE_COMMITTED:
		if (branch_resolve(s->bs, gid, true) == 0)
			xlog_info("gid=%s in doubt: committed (coordinator "
			          "says COMMIT)",
			          gid);
		break;
	case WIRE_ABORTED:
		if (!set_has(&s->seen, gid) || age_ms < s->cfg->sweep_safety_ms)
			break; /* not old enough to be sure it is not live */
		if (branch_resolve(s->bs, gid, false) == 0)
			xlog_info("gid=%s in doubt: rolled back (coordinator "
			          "says ABORT)",
			          gid);
		break;
	case WIRE_IN_PROGRESS:
		break;
	}
}

static bool
stopping(struct sweeper *s)
{
	bool stop;

	pthread_mutex_lock(&s->mu);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* Record a scan: n branches (-1: the database could not be read). */
static void
scanned(struct sweeper *s, int n, uint64_t oldest_ms)
{
	pthread_mutex_lock(&s->mu);
	s->stats.last_failed = n < 0;
	if (n < 0) {
		s->stats.failures++;
	} else {
		s->stats.prepared = (uint64_t)n;
		s->stats.oldest_ms = oldest_ms;
	}
	pthread_mutex_unlock(&s->mu);
}

void
sweeper_get_stats(struct sweeper *s, struct sweeper_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}

/* One pass over pg_prepared_xacts. */
static void
scan(struct sweeper *s)
{
	struct gid_set now = {0};
	struct pg_err e;
	PGresult *r;
	PGconn *c;
	int n;

	if ((c = pg_acquire(s->pool, 5000, &e)) == NULL) {
		xlog_warn("sweep skipped: %s %s", e.sqlstate, e.message);
		scanned(s, -1, 0);
		return;
	}
	r = PQexec(c,
	           "SELECT gid, (extract(epoch FROM now() - prepared) * "
	           "1000)::bigint FROM pg_prepared_xacts WHERE database = "
	           "current_database() AND gid LIKE 'xact\\_%' ORDER BY gid");
	pg_release(s->pool, c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		xlog_warn("sweep skipped: %s", PQresultErrorMessage(r));
		PQclear(r);
		scanned(s, -1, 0);
		return;
	}
	n = PQntuples(r);
	{
		uint64_t oldest = 0;

		for (int i = 0; i < n; i++) {
			long long age = strtoll(PQgetvalue(r, i, 1), NULL, 10);

			if (age > 0 && (uint64_t)age > oldest)
				oldest = (uint64_t)age;
		}
		scanned(s, n, oldest);
	}
	for (size_t i = 0; i < s->nlinks; i++)
		s->links[i].silent = false;
	if (n > 0 && (now.v = calloc((size_t)n, sizeof(*now.v))) == NULL) {
		PQclear(r);
		return;
	}
	for (int i = 0; i < n && !stopping(s); i++) {
		const char *gid = PQgetvalue(r, i, 0);
		long long age = strtoll(PQgetvalue(r, i, 1), NULL, 10);

		if (!gid_parse(gid, NULL))
			continue; /* our prefix, not our form: not ours */
		snprintf(now.v[now.n++], GID_MAX, "%s", gid);
		resolve_one(s, gid, age < 0 ? 0 : (uint64_t)age);
	}
	PQclear(r);
	if (now.n > 1)
		qsort(now.v, now.n, sizeof(*now.v), cmp_gid);
	free(s->seen.v);
	s->seen = now;
}

/* Sleep up to ms; false when asked to stop. */
static bool
nap(struct sweeper *s, uint32_t ms)
{
	struct timespec until;
	bool go;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
		;
	go = !s->stop;
	pthread_mutex_unlock(&s->mu);
	return go;
}

static void *
sweeper_main(void *arg)
{
	struct sweeper *s = arg;
	uint64_t next_scan = 0, next_trim = 0;
	/* Trimming scans the marker table: a few times per retention. */
	uint32_t trim_every = s->cfg->one_phase_retention_ms / 4;

	do {
		uint64_t now = clock_now_ms();

		branch_reap(s->bs, now);
		if (now >= next_scan) {
			scan(s);
			next_scan = now + s->cfg->sweep_interval_ms;
		}
		if (now >= next_trim) {
			branch_forget_one_phase(s->bs);
			next_trim = now + trim_every;
		}
	} while (nap(s, s->cfg->sweep_interval_ms < REAP_EVERY_MS
	                    ? s->cfg->sweep_interval_ms
	                    : REAP_EVERY_MS));
	return NULL;
}

int
sweeper_start(const struct part_config *cfg, struct branches *bs,
              struct pg_pool *pool, struct sweeper **out, char *err,
              size_t errlen)
{
	struct sweeper *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->links = calloc(cfg->ncoordinators,
	                                    sizeof(*s->links))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->cfg = cfg;
	s->bs = bs;
	s->pool = pool;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	for (; s->nlinks < cfg->ncoordinators; s->nlinks++) {
		struct coord_link *l = &s->links[s->nlinks];

		l->node = cfg->coordinators[s->nlinks].name;
		if (net_dial_req(cfg->coordinators[s->nlinks].url, &l->sock,
		                 err, errlen) != 0) {
			sweeper_stop(s);
			return -1;
		}
		l->open = true;
		nng_socket_set_ms(l->sock, NNG_OPT_SENDTIMEO,
		                  (nng_duration)cfg->sweep_inquiry_ms);
		nng_socket_set_ms(l->sock, NNG_OPT_RECVTIMEO,
		                  (nng_duration)cfg->sweep_inquiry_ms);
	}
	if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
		snprintf(err, errlen, "cannot start the sweeper thread");
		sweeper_stop(s);
		return -1;
	}
	s->started = true;
	*out = s;
	return 0;
}

void
sweeper_stop(struct sweeper *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	/* Closed before the join: an inquiry to a coordinator that is gone
	 * would hold the thread (and SIGTERM) for its timeouts. */
	for (size_t i = 0; i < s->nlinks; i++)
		if (s->links[i].open)
			nng_close(s->links[i].sock);
	if (s->started)
		pthread_join(s->thread, NULL);
	free(s->links);
	free(s->seen.v);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
