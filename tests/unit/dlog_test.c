/*
 * dlog: the coordinator's decision log, on a real file in a fresh directory
 * per test. What it must keep: the incarnation grows on every start; a
 * COMMIT is reported only once durable; open commits survive a restart and
 * are handed back for phase 2; ended ones are retained for outcome queries
 * and then forgotten, never guessed; compaction changes no answer.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dlog.h"
#include "failpoint.h"
#include "gid.h"
#include "log.h"
#include "wal.h"

#define NODE     "c1"
#define RETAIN   1000
#define MAX_SEEN 512

/* Each Criterion test runs in its own process: these are per test. */
static char dir[64];
static char path[128];
static char compact_path[160];
static char err[512];

static void
setup(void)
{
	xlog_init("dlog_test", XLOG_ERROR);
	strcpy(dir, "/tmp/dlog_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/decision.log", dir);
	snprintf(compact_path, sizeof(compact_path), "%s.compact", path);
	cr_assert_eq(fp_configure(NULL, err, sizeof(err)), 0);
}

static void
teardown(void)
{
	unlink(path);
	unlink(compact_path);
	rmdir(dir);
}

TestSuite(dlog, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

/* The log's genesis, and the incarnation of each open of this test. */
static uint64_t genesis;
static uint64_t incs[64];
static size_t nincs;

/* The incarnation of the k-th open (from 1); 0: one before the log. */
static uint64_t
inc_of(size_t k)
{
	cr_assert_leq(k, nincs, "open %zu did not happen", k);
	return k == 0 ? genesis - 1 : incs[k - 1];
}

#define INC(k) inc_of(k)

static struct dlog *
open_log(uint64_t retain)
{
	struct dlog *d = NULL;

	err[0] = '\0';
	cr_assert_eq(dlog_open(dir, NODE, retain, &d, err, sizeof(err)), 0,
	             "dlog_open: %s", err);
	cr_assert_not_null(d);
	if (genesis == 0)
		genesis = dlog_genesis(d);
	cr_assert_eq(dlog_genesis(d), genesis, "genesis changed");
	cr_assert(nincs == 0 || dlog_incarnation(d) > incs[nincs - 1],
	          "incarnation %llu reused or lower",
	          (unsigned long long)dlog_incarnation(d));
	cr_assert_lt(nincs, 64);
	incs[nincs++] = dlog_incarnation(d);
	return d;
}

/* A gid of the k-th open's incarnation (INC). */
static const char *
mkgid(char buf[GID_MAX], size_t k, uint64_t seq)
{
	gid_format(buf, NODE, INC(k), seq);
	return buf;
}

/* k of the log's current incarnation. */
static size_t
current_k(const struct dlog *d)
{
	(void)d;
	return nincs;
}

static off_t
file_size(const char *p)
{
	struct stat st;

	cr_assert_eq(stat(p, &st), 0, "stat %s", p);
	return st.st_size;
}

/* Counts done callbacks; the test waits on it, never sleeps. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned done;
};

static void
waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = 0;
}

static void
waiter_destroy(struct waiter *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

static void
on_durable(void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
wait_for(struct waiter *w, unsigned n)
{
	pthread_mutex_lock(&w->mu);
	while (w->done < n)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* COMMIT and wait until it is durable. */
static void
commit_sync(struct dlog *d, const char *gid, const char *const *names, size_t n)
{
	struct waiter w;

	waiter_init(&w);
	cr_assert_eq(dlog_commit(d, gid, names, n, on_durable, &w), 0,
	             "dlog_commit %s", gid);
	wait_for(&w, 1);
	waiter_destroy(&w);
}

static const char *const two_names[] = {"bank1", "bank2"};

/* What dlog_foreach_open handed out. */
struct seen {
	size_t n;
	char gid[MAX_SEEN][GID_MAX];
	size_t nnames[MAX_SEEN];
	char names[MAX_SEEN][4][40];
	struct dlog *end_them; /* call dlog_end from inside the visit */
};

static void
collect(void *arg, const char *gid, const char *const *names, size_t n)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, MAX_SEEN);
	snprintf(s->gid[s->n], GID_MAX, "%s", gid);
	s->nnames[s->n] = n;
	for (size_t i = 0; i < n && i < 4; i++)
		snprintf(s->names[s->n][i], sizeof(s->names[s->n][i]), "%s",
		         names[i]);
	s->n++;
	if (s->end_them != NULL)
		dlog_end(s->end_them, gid);
}

/* Index of gid among what was visited, or s->n. */
static size_t
seen_index(const struct seen *s, const char *gid)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->gid[i], gid) == 0)
			return i;
	return s->n;
}

static void
visit_open(struct dlog *d, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(dlog_foreach_open(d, collect, s), 0);
}

static void
assert_stats(struct dlog *d, uint64_t open, uint64_t ended)
{
	struct dlog_stats st;

	dlog_get_stats(d, &st);
	cr_assert_eq(st.open, open, "open %llu, want %llu",
	             (unsigned long long)st.open, (unsigned long long)open);
	cr_assert_eq(st.ended, ended, "ended %llu, want %llu",
	             (unsigned long long)st.ended, (unsigned long long)ended);
	cr_assert_eq(st.incarnation, dlog_incarnation(d));
}

/* ---- incarnation ---- */

Test(dlog, incarnation_grows_on_every_start)
{
	for (uint64_t want = 1; want <= 3; want++) {
		struct dlog *d = open_log(RETAIN);
		struct dlog_stats st;

		cr_assert_eq(dlog_incarnation(d), INC(want));
		dlog_get_stats(d, &st);
		cr_assert_eq(st.incarnation, INC(want));
		cr_assert_eq(st.open, 0);
		cr_assert_eq(st.ended, 0);
		dlog_close(d);
	}
}

Test(dlog, incarnation_is_durable_before_open_returns)
{
	struct dlog *d = open_log(RETAIN);

	/* The record is on disk while the first log is still open: a crash
	 * right now must not let the next start reuse incarnation 1. */
	cr_assert_gt(file_size(path), 0);
	dlog_close(d);
	d = open_log(RETAIN);
	cr_assert_eq(dlog_incarnation(d), INC(2));
	dlog_close(d);
}

Test(dlog, second_open_of_the_same_log_fails)
{
	struct dlog *d = open_log(RETAIN), *d2 = (struct dlog *)1;

	err[0] = '\0';
	cr_assert_eq(dlog_open(dir, NODE, RETAIN, &d2, err, sizeof(err)), -1);
	cr_assert_neq(err[0], '\0');
	dlog_close(d);
	d = open_log(RETAIN);
	cr_assert_eq(dlog_incarnation(d), INC(2),
	             "the refused open wrote nothing");
	dlog_close(d);
}

/* ---- COMMIT: reported only once durable ---- */

/* A done callback that holds the writer thread until the test lets go. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open;
	struct dlog *d;
	const char *gid;
	enum dlog_answer seen_inside;
};

static void
gate_cb(void *arg)
{
	struct gate *g = arg;
	enum dlog_answer a = dlog_lookup(g->d, g->gid);

	pthread_mutex_lock(&g->mu);
	g->seen_inside = a;
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

Test(dlog, commit_visible_only_once_durable)
{
	struct dlog *d = open_log(RETAIN);
	char a[GID_MAX], b[GID_MAX];
	struct gate g = {.d = d};
	struct waiter w;

	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	waiter_init(&w);
	g.gid = mkgid(a, current_k(d), 1);
	mkgid(b, current_k(d), 2);
	cr_assert_eq(dlog_lookup(d, a), DLOG_NONE);

	cr_assert_eq(dlog_commit(d, a, two_names, 2, gate_cb, &g), 0);
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	/* Its done callback runs: the record is durable and reported. */
	cr_assert_eq(g.seen_inside, DLOG_COMMITTED);
	cr_assert_eq(dlog_lookup(d, a), DLOG_COMMITTED);

	/* b is queued behind a writer held in a's callback: not durable, so
	 * not committed, however long we look. */
	cr_assert_eq(dlog_commit(d, b, two_names, 1, on_durable, &w), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(dlog_lookup(d, b), DLOG_NONE);
	pthread_mutex_lock(&w.mu);
	cr_assert_eq(w.done, 0);
	pthread_mutex_unlock(&w.mu);
	assert_stats(d, 1, 0);

	pthread_mutex_lock(&g.mu);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	wait_for(&w, 1);
	cr_assert_eq(dlog_lookup(d, b), DLOG_COMMITTED);
	assert_stats(d, 2, 0);

	dlog_close(d);
	waiter_destroy(&w);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
}

Test(dlog, group_of_commits)
{
	enum { N = 200 };
	struct dlog *d = open_log(RETAIN);
	char gids[N][GID_MAX];
	struct dlog_stats st;
	struct waiter w;

	waiter_init(&w);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(dlog_commit(d, mkgid(gids[i], current_k(d), i + 1),
		                         two_names, 2, on_durable, &w),
		             0);
	wait_for(&w, N);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(dlog_lookup(d, gids[i]), DLOG_COMMITTED);
	dlog_get_stats(d, &st);
	cr_assert_eq(st.open, N);
	cr_assert_geq(st.wal.records, N);
	cr_assert_leq(st.wal.syncs, st.wal.batches);
	cr_assert_eq(st.wal.bytes, (uint64_t)file_size(path));
	dlog_close(d);
	waiter_destroy(&w);
}

Test(dlog, commit_refuses_too_many_names)
{
	const char *names[DLOG_MAX_NAMES + 1];
	struct dlog *d = open_log(RETAIN);
	char g[GID_MAX];
	struct waiter w;

	waiter_init(&w);
	for (size_t i = 0; i <= DLOG_MAX_NAMES; i++)
		names[i] = "p";
	mkgid(g, current_k(d), 1);
	cr_assert_eq(
	    dlog_commit(d, g, names, DLOG_MAX_NAMES + 1, on_durable, &w), -1);
	cr_assert_eq(dlog_lookup(d, g), DLOG_NONE);
	assert_stats(d, 0, 0);
	dlog_close(d);
	waiter_destroy(&w);
}

/* The largest record: 255 participants with 32-character names. */
Test(dlog, most_participants_survive_a_restart)
{
	static char name[DLOG_MAX_NAMES][33];
	const char *names[DLOG_MAX_NAMES];
	struct dlog *d = open_log(RETAIN);
	char g[GID_MAX];
	struct seen *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	for (size_t i = 0; i < DLOG_MAX_NAMES; i++) {
		snprintf(name[i], sizeof(name[i]), "%032zu", i);
		names[i] = name[i];
	}
	commit_sync(d, mkgid(g, current_k(d), 1), names, DLOG_MAX_NAMES);
	dlog_close(d);
	d = open_log(RETAIN);
	visit_open(d, s);
	cr_assert_eq(s->n, 1);
	cr_assert_str_eq(s->gid[0], g);
	cr_assert_eq(s->nnames[0], DLOG_MAX_NAMES);
	for (size_t i = 0; i < 4; i++)
		cr_assert_str_eq(s->names[0][i], name[i]);
	dlog_close(d);
	free(s);
}

/* ---- restart: open commits come back for phase 2 ---- */

Test(dlog, open_commit_is_visited_after_restart)
{
	static const char *const three[] = {"bank-c", "bank-a", "bank-b"};
	static const char *const one[] = {"solo"};
	struct dlog *d = open_log(RETAIN);
	char g1[GID_MAX], g2[GID_MAX];
	struct seen s;
	size_t i;

	commit_sync(d, mkgid(g1, 1, 1), three, 3);
	commit_sync(d, mkgid(g2, 1, 2), one, 1);
	dlog_close(d);

	d = open_log(RETAIN);
	cr_assert_eq(dlog_incarnation(d), INC(2));
	assert_stats(d, 2, 0);
	visit_open(d, &s);
	cr_assert_eq(s.n, 2);
	i = seen_index(&s, g1);
	cr_assert_lt(i, s.n, "%s not visited", g1);
	cr_assert_eq(s.nnames[i], 3);
	/* In the order the record gave them, not sorted. */
	cr_assert_str_eq(s.names[i][0], "bank-c");
	cr_assert_str_eq(s.names[i][1], "bank-a");
	cr_assert_str_eq(s.names[i][2], "bank-b");
	i = seen_index(&s, g2);
	cr_assert_lt(i, s.n, "%s not visited", g2);
	cr_assert_eq(s.nnames[i], 1);
	cr_assert_str_eq(s.names[i][0], "solo");
	cr_assert_eq(dlog_lookup(d, g1), DLOG_COMMITTED);
	cr_assert_eq(dlog_lookup(d, g2), DLOG_COMMITTED);
	dlog_close(d);
}

Test(dlog, ended_commit_is_retained_not_visited)
{
	struct dlog *d = open_log(RETAIN);
	char g1[GID_MAX], g2[GID_MAX];
	struct seen s;

	commit_sync(d, mkgid(g1, 1, 1), two_names, 2);
	commit_sync(d, mkgid(g2, 1, 2), two_names, 2);
	dlog_end(d, g1);
	assert_stats(d, 1, 1);
	visit_open(d, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.gid[0], g2);
	cr_assert_eq(dlog_lookup(d, g1), DLOG_COMMITTED);
	dlog_close(d);

	d = open_log(RETAIN);
	assert_stats(d, 1, 1);
	visit_open(d, &s);
	cr_assert_eq(s.n, 1, "an ended commit came back for phase 2");
	cr_assert_str_eq(s.gid[0], g2);
	cr_assert_eq(dlog_lookup(d, g1), DLOG_COMMITTED, "retained");
	cr_assert_eq(dlog_lookup(d, g2), DLOG_COMMITTED);
	dlog_close(d);
}

Test(dlog, duplicate_end_counts_once)
{
	struct dlog *d = open_log(RETAIN);
	char g1[GID_MAX], g2[GID_MAX];

	commit_sync(d, mkgid(g1, 1, 1), two_names, 2);
	commit_sync(d, mkgid(g2, 1, 2), two_names, 2);
	dlog_end(d, g1);
	dlog_end(d, g1);
	assert_stats(d, 1, 1);
	dlog_close(d);
	d = open_log(RETAIN);
	assert_stats(d, 1, 1);
	dlog_close(d);
}

/* ---- retention ---- */

/* Answers of a log after: 5 commits of incarnation 1 ended in order, with
 * retain 3, and one open commit (seq 6). */
static void
assert_retention_answers(struct dlog *d)
{
	char g[GID_MAX];

	/* The two oldest ended ones were dropped: not guessed, forgotten. */
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 1)), DLOG_FORGOTTEN);
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 2)), DLOG_FORGOTTEN);
	for (uint64_t seq = 3; seq <= 6; seq++)
		cr_assert_eq(dlog_lookup(d, mkgid(g, 1, seq)), DLOG_COMMITTED,
		             "seq %llu", (unsigned long long)seq);
	/* Older than the horizon and unknown: may have been a commit. */
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 0)), DLOG_FORGOTTEN);
	/* Newer than the horizon and unknown: never committed. */
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 7)), DLOG_NONE);
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 1000)), DLOG_NONE);
	/* Not issued by this log (before it began): not its to forget. */
	cr_assert_eq(dlog_lookup(d, mkgid(g, 0, 99)), DLOG_NONE);
	/* Not a gid of ours at all: no record. */
	cr_assert_eq(dlog_lookup(d, "someone_else_1"), DLOG_NONE);
	assert_stats(d, 1, 3);
}

static void
write_retention_history(struct dlog *d)
{
	char g[GID_MAX];

	cr_assert_eq(dlog_incarnation(d), INC(1));
	for (uint64_t seq = 1; seq <= 6; seq++)
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		dlog_end(d, mkgid(g, 1, seq));
		cr_assert_eq(dlog_lookup(d, g), DLOG_COMMITTED,
		             "the newest ended commit is retained");
	}
}

Test(dlog, retention_forgets_the_oldest)
{
	struct dlog *d = open_log(3);

	write_retention_history(d);
	assert_retention_answers(d);
	dlog_close(d);

	d = open_log(3); /* replay evicts the same ones */
	assert_retention_answers(d);
	dlog_close(d);
}

Test(dlog, no_horizon_until_something_is_forgotten)
{
	struct dlog *d = open_log(3);
	char g[GID_MAX];

	for (uint64_t seq = 1; seq <= 3; seq++) {
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
		dlog_end(d, g);
	}
	/* All three retained: an unknown gid is simply not committed. */
	cr_assert_eq(dlog_lookup(d, mkgid(g, 0, 5)), DLOG_NONE);
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 0)), DLOG_NONE);
	cr_assert_eq(dlog_lookup(d, mkgid(g, 0, 0)), DLOG_NONE);
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 1)), DLOG_COMMITTED);
	dlog_close(d);
}

Test(dlog, retain_zero_forgets_at_end)
{
	struct dlog *d = open_log(0);
	char g[GID_MAX];

	commit_sync(d, mkgid(g, 1, 1), two_names, 2);
	dlog_end(d, g);
	cr_assert_eq(dlog_lookup(d, g), DLOG_FORGOTTEN);
	assert_stats(d, 0, 0);
	dlog_close(d);
}

/* ---- compaction ---- */

Test(dlog, compaction_keeps_every_answer)
{
	struct dlog *d = open_log(3);
	struct dlog_stats st;
	off_t before, after;
	struct seen s;
	char g[GID_MAX];

	write_retention_history(d);
	/* Bulk for compaction to drop: 100 more commits of incarnation 1,
	 * ended, pushing the horizon to seq 104. */
	for (uint64_t seq = 7; seq <= 106; seq++)
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
	for (uint64_t seq = 7; seq <= 106; seq++)
		dlog_end(d, mkgid(g, 1, seq));
	dlog_close(d); /* ENDs are not forced: let close write them */

	d = open_log(3);
	cr_assert_eq(dlog_incarnation(d), INC(2));
	before = file_size(path);
	cr_assert_eq(
	    dlog_maybe_compact(d, (uint64_t)before + 1, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(file_size(path), before, "compacted below threshold");

	cr_assert_eq(dlog_maybe_compact(d, 1, err, sizeof(err)), 0, "%s", err);
	after = file_size(path);
	cr_assert_lt(after, before / 4, "%lld -> %lld bytes", (long long)before,
	             (long long)after);
	cr_assert_eq(access(compact_path, F_OK), -1, "temporary file left");
	dlog_get_stats(d, &st);
	cr_assert_eq(st.wal.bytes, (uint64_t)after);

	for (int round = 0; round < 2; round++) {
		/* Same answers in memory, and from the compacted file. */
		cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 6)), DLOG_COMMITTED);
		for (uint64_t seq = 104; seq <= 106; seq++)
			cr_assert_eq(dlog_lookup(d, mkgid(g, 1, seq)),
			             DLOG_COMMITTED, "round %d seq %llu", round,
			             (unsigned long long)seq);
		for (uint64_t seq = 1; seq <= 103; seq++)
			if (seq != 6)
				cr_assert_eq(dlog_lookup(d, mkgid(g, 1, seq)),
				             DLOG_FORGOTTEN,
				             "round %d seq %llu: "
				             "compaction lost the "
				             "horizon",
				             round, (unsigned long long)seq);
		cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 107)), DLOG_NONE);
		cr_assert_eq(dlog_lookup(d, mkgid(g, 2, 1)), DLOG_NONE);
		assert_stats(d, 1, 3);
		visit_open(d, &s);
		cr_assert_eq(s.n, 1);
		cr_assert_str_eq(s.gid[0], mkgid(g, 1, 6));
		cr_assert_eq(s.nnames[0], 2);
		cr_assert_str_eq(s.names[0][0], "bank1");
		cr_assert_str_eq(s.names[0][1], "bank2");
		dlog_close(d);
		d = open_log(3);
		cr_assert_eq(dlog_incarnation(d), INC((uint64_t)round + 3),
		             "incarnation lost by compaction");
	}
	dlog_close(d);
}

Test(dlog, appends_after_compaction_land_in_the_new_file)
{
	struct dlog *d = open_log(RETAIN);
	char g[GID_MAX];
	struct seen s;

	for (uint64_t seq = 1; seq <= 20; seq++) {
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
		if (seq != 5)
			dlog_end(d, g);
	}
	cr_assert_eq(dlog_maybe_compact(d, 1, err, sizeof(err)), 0, "%s", err);
	commit_sync(d, mkgid(g, 1, 21), two_names, 2);
	commit_sync(d, mkgid(g, 1, 22), two_names, 2);
	dlog_end(d, mkgid(g, 1, 5));
	dlog_end(d, mkgid(g, 1, 21));
	dlog_close(d);

	d = open_log(RETAIN);
	assert_stats(d, 1, 21);
	visit_open(d, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.gid[0], mkgid(g, 1, 22));
	for (uint64_t seq = 1; seq <= 22; seq++)
		cr_assert_eq(dlog_lookup(d, mkgid(g, 1, seq)), DLOG_COMMITTED);
	dlog_close(d);
}

/* ---- replay details ---- */

Test(dlog, end_without_commit_is_ignored_on_replay)
{
	struct dlog *d = open_log(RETAIN);
	char g[GID_MAX], other[GID_MAX];

	/* An END whose COMMIT is not in the log (compacted away, say). */
	dlog_end(d, mkgid(g, 1, 1));
	commit_sync(d, mkgid(other, 1, 2), two_names, 2);
	assert_stats(d, 1, 0);
	dlog_close(d);

	d = open_log(RETAIN);
	assert_stats(d, 1, 0);
	cr_assert_eq(dlog_lookup(d, g), DLOG_NONE);
	cr_assert_eq(dlog_lookup(d, other), DLOG_COMMITTED);
	dlog_close(d);
}

Test(dlog, unknown_record_refuses_to_open)
{
	struct dlog *d = open_log(RETAIN);
	struct wal *w = NULL;
	char g[GID_MAX];

	commit_sync(d, mkgid(g, 1, 1), two_names, 2);
	dlog_close(d);
	/* A record this version does not know: guessing could lose a
	 * decision, so the log must not open. */
	cr_assert_eq(wal_open(path, NULL, NULL, &w, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(wal_append_sync(w, 200, "?", 1), 0);
	wal_close(w);
	d = (struct dlog *)1;
	err[0] = '\0';
	cr_assert_eq(dlog_open(dir, NODE, RETAIN, &d, err, sizeof(err)), -1);
	cr_assert_neq(err[0], '\0');
}

Test(dlog, foreach_callback_may_end)
{
	struct dlog *d = open_log(RETAIN);
	char g[GID_MAX];
	struct seen s;

	for (uint64_t seq = 1; seq <= 3; seq++)
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
	memset(&s, 0, sizeof(s));
	s.end_them = d;
	cr_assert_eq(dlog_foreach_open(d, collect, &s), 0);
	cr_assert_eq(s.n, 3);
	assert_stats(d, 0, 3);
	visit_open(d, &s);
	cr_assert_eq(s.n, 0);
	dlog_close(d);

	d = open_log(RETAIN);
	assert_stats(d, 0, 3);
	visit_open(d, &s);
	cr_assert_eq(s.n, 0);
	dlog_close(d);
}

Test(dlog, stats_count)
{
	struct dlog *d = open_log(2);
	struct dlog_stats st;
	char g[GID_MAX];

	assert_stats(d, 0, 0);
	dlog_get_stats(d, &st);
	cr_assert_eq(st.incarnation, INC(1));
	cr_assert_eq(st.wal.records, 2, "the genesis and incarnation records");
	cr_assert_eq(st.wal.syncs, 2);
	for (uint64_t seq = 1; seq <= 4; seq++)
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
	assert_stats(d, 4, 0);
	dlog_get_stats(d, &st);
	cr_assert_eq(st.wal.records, 6);
	cr_assert_eq(st.wal.syncs, 6, "one forced sync per lone commit");
	cr_assert_eq(st.wal.bytes, (uint64_t)file_size(path));
	dlog_end(d, mkgid(g, 1, 1));
	assert_stats(d, 3, 1);
	dlog_end(d, mkgid(g, 1, 2));
	dlog_end(d, mkgid(g, 1, 3));
	assert_stats(d, 1, 2);        /* retention caps ended at 2 */
	dlog_end(d, mkgid(g, 1, 99)); /* unknown: changes no count */
	assert_stats(d, 1, 2);
	dlog_close(d);
}

/* ---- crash right after the commit point ---- */

Test(dlog, crash_after_commit_logged_keeps_the_commit)
{
	static const char *const names[] = {"bank1", "bank2", "bank3"};
	char g[GID_MAX];
	struct seen s;
	int status;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Child: no Criterion asserts here, exit codes only. */
		struct dlog *d = NULL;
		struct waiter w;
		char cerr[256];

		if (dlog_open(dir, NODE, RETAIN, &d, cerr, sizeof(cerr)) != 0 ||
		    dlog_incarnation(d) != dlog_genesis(d))
			_exit(2);
		gid_format(g, NODE, dlog_incarnation(d), 1);
		if (fp_configure("coord.after_commit_logged=crash", cerr,
		                 sizeof(cerr)) != 0)
			_exit(3);
		waiter_init(&w);
		if (dlog_commit(d, g, names, 3, on_durable, &w) != 0)
			_exit(4);
		wait_for(&w, 1); /* the failpoint ends us before this */
		_exit(5);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died by a signal");
	cr_assert_eq(WEXITSTATUS(status), FP_CRASH_EXIT,
	             "child exited %d, not at the failpoint",
	             WEXITSTATUS(status));

	struct dlog *d = open_log(RETAIN);
	/* The child's open was the first: its incarnation the genesis. */
	cr_assert_gt(dlog_incarnation(d), genesis);
	gid_format(g, NODE, genesis, 1);
	cr_assert_eq(dlog_lookup(d, g), DLOG_COMMITTED);
	assert_stats(d, 1, 0);
	visit_open(d, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.gid[0], g);
	cr_assert_eq(s.nnames[0], 3);
	cr_assert_str_eq(s.names[0][0], "bank1");
	cr_assert_str_eq(s.names[0][1], "bank2");
	cr_assert_str_eq(s.names[0][2], "bank3");
	dlog_close(d);
}

static void
precommit_sync(struct dlog *d, const char *gid)
{
	struct waiter w;

	waiter_init(&w);
	cr_assert_eq(dlog_precommit(d, gid, two_names, 2, on_durable, &w), 0);
	wait_for(&w, 1);
	waiter_destroy(&w);
}

static void
visit_precommit(struct dlog *d, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(dlog_foreach_precommit(d, collect, s), 0);
}

/*
 * 3PC: PRECOMMIT without COMMIT is in doubt (recovery must ask the
 * participants); COMMIT after it is a commit; END after it alone is the
 * participants' abort, and presumed abort answers again. Through a
 * restart and a compaction alike.
 */
Test(dlog, precommit_states_survive_restart_and_compaction)
{
	struct dlog *d = open_log(RETAIN);
	char pc[GID_MAX], cm[GID_MAX], ab[GID_MAX];
	struct seen s;

	precommit_sync(d, mkgid(pc, 1, 1));
	precommit_sync(d, mkgid(cm, 1, 2));
	commit_sync(d, cm, two_names, 2);
	precommit_sync(d, mkgid(ab, 1, 3));
	dlog_end(d, ab);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(dlog_lookup(d, pc), DLOG_PRECOMMITTED, "round %d",
		             round);
		cr_assert_eq(dlog_lookup(d, cm), DLOG_COMMITTED);
		cr_assert_eq(dlog_lookup(d, ab), DLOG_NONE);
		visit_precommit(d, &s);
		cr_assert_eq(s.n, 1);
		cr_assert_str_eq(s.gid[0], pc);
		cr_assert_eq(s.nnames[0], 2);
		visit_open(d, &s);
		cr_assert_eq(s.n, 1, "only the commit is open for phase 2");
		cr_assert_str_eq(s.gid[0], cm);
		if (round == 1)
			cr_assert_eq(dlog_maybe_compact(d, 1, err, sizeof(err)),
			             0, "%s", err);
		dlog_close(d);
		d = open_log(RETAIN);
	}
	dlog_close(d);
}

/* ---- genesis: gids this log did not issue ---- */

Test(dlog, a_new_log_begins_at_the_wall_clock_and_keeps_it)
{
	uint64_t before = clock_wall_ms(), after;
	struct dlog *d = open_log(RETAIN);
	char g[GID_MAX];

	after = clock_wall_ms();
	cr_assert(genesis >= before && genesis <= after,
	          "genesis %llu not taken from the wall clock",
	          (unsigned long long)genesis);
	cr_assert_eq(dlog_incarnation(d), genesis);
	dlog_close(d);
	d = open_log(RETAIN); /* asserts the genesis is unchanged */
	cr_assert_eq(dlog_maybe_compact(d, 1, err, sizeof(err)), 0, "%s", err);
	dlog_close(d);
	d = open_log(RETAIN);
	for (size_t k = 1; k <= 3; k++)
		cr_assert(dlog_issued(d, mkgid(g, k, 9)), "start %zu", k);
	cr_assert_not(dlog_issued(d, mkgid(g, 0, 1)), "before the log began");
	gid_format(g, NODE, INC(3) + 1, 1);
	cr_assert_not(dlog_issued(d, g), "after its last start");
	for (uint64_t i = INC(1) + 1; i < INC(3); i++) {
		gid_format(g, NODE, i, 1);
		cr_assert_eq(dlog_issued(d, g), i == INC(2),
		             "%llu between two starts", (unsigned long long)i);
	}
	gid_format(g, "c2", INC(1), 1);
	cr_assert_not(dlog_issued(d, g), "another coordinator's");
	cr_assert_not(dlog_issued(d, "xact_c1_x_1"));
	dlog_close(d);
}

/* ---- heuristic decisions ---- */

static void
heuristic_sync(struct dlog *d, const char *gid, bool commit, const char *who,
               const char *why)
{
	struct waiter w;

	waiter_init(&w);
	cr_assert_eq(dlog_heuristic(d, gid, commit, two_names, 2, who, why,
	                            on_durable, &w),
	             0, "dlog_heuristic %s", gid);
	wait_for(&w, 1);
	waiter_destroy(&w);
}

static void
assert_note(struct dlog *d, const char *gid, const char *who, const char *why)
{
	char w[DLOG_WHO_MAX], y[DLOG_WHY_MAX];

	cr_assert(dlog_heuristic_note(d, gid, w, sizeof(w), y, sizeof(y)),
	          "no note for %s", gid);
	cr_assert_str_eq(w, who);
	cr_assert_str_eq(y, why);
}

Test(dlog, heuristic_decisions_survive_restarts_and_compaction)
{
	struct dlog *d = open_log(RETAIN);
	char c[GID_MAX], a[GID_MAX], plain[GID_MAX];
	struct seen s;

	/* Gids of a lost log: incarnations before this one began. */
	mkgid(c, 0, 7);
	mkgid(a, 0, 8);
	cr_assert_eq(dlog_lookup(d, c), DLOG_NONE);
	heuristic_sync(d, c, true, "ops@db1", "bank1 shows the transfer");
	heuristic_sync(d, a, false, "ops@db2", "never reached bank2");
	commit_sync(d, mkgid(plain, 1, 1), two_names, 2);
	cr_assert_not(
	    dlog_heuristic_note(d, plain, (char[8]){0}, 8, (char[8]){0}, 8),
	    "an ordinary COMMIT has no note");
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(dlog_lookup(d, c), DLOG_COMMITTED, "round %d",
		             round);
		cr_assert_eq(dlog_lookup(d, a), DLOG_ABORTED, "round %d",
		             round);
		assert_note(d, c, "ops@db1", "bank1 shows the transfer");
		assert_note(d, a, "ops@db2", "never reached bank2");
		/* The commit is finished by phase 2, the abort is not open. */
		visit_open(d, &s);
		cr_assert_eq(s.n, 2, "round %d: %zu open", round, s.n);
		cr_assert_lt(seen_index(&s, c), s.n);
		cr_assert_eq(s.nnames[seen_index(&s, c)], 2);
		cr_assert_eq(seen_index(&s, a), s.n);
		assert_stats(d, 2, 0); /* the abort is not in retention */
		if (round == 1)
			cr_assert_eq(dlog_maybe_compact(d, 1, err, sizeof(err)),
			             0, "%s", err);
		dlog_close(d);
		d = open_log(RETAIN);
	}
	dlog_end(d, c);
	cr_assert_eq(dlog_lookup(d, c), DLOG_COMMITTED, "ended, retained");
	dlog_close(d);
}

/* Retention drops ended commits, never an operator's decision: a
 * forgotten one could be contradicted by the next. */
Test(dlog, heuristic_decisions_outlive_retention)
{
	struct dlog *d = open_log(1);
	char lost[GID_MAX], g[GID_MAX];

	mkgid(lost, 0, 500);
	heuristic_sync(d, lost, false, "ops", "lost log");
	for (uint64_t seq = 1; seq <= 3; seq++) {
		commit_sync(d, mkgid(g, 1, seq), two_names, 2);
		dlog_end(d, g);
	}
	cr_assert_eq(dlog_lookup(d, mkgid(g, 1, 1)), DLOG_FORGOTTEN);
	cr_assert_eq(dlog_lookup(d, lost), DLOG_ABORTED);
	cr_assert_eq(dlog_maybe_compact(d, 1, err, sizeof(err)), 0, "%s", err);
	dlog_close(d);
	d = open_log(1);
	cr_assert_eq(dlog_lookup(d, lost), DLOG_ABORTED);
	assert_note(d, lost, "ops", "lost log");
	dlog_close(d);
}

/*
 * A log restored from an older copy never takes an incarnation of the log
 * it replaces: their gids read as not issued, never as presumed abort.
 */
Test(dlog, a_restored_log_does_not_reuse_incarnations)
{
	char backup[160], cmd[512], g[GID_MAX];
	struct dlog *d = open_log(RETAIN);

	dlog_close(d);
	snprintf(backup, sizeof(backup), "%s.backup", path);
	snprintf(cmd, sizeof(cmd), "cp %s %s", path, backup);
	cr_assert_eq(system(cmd), 0);
	for (int i = 0; i < 2; i++)
		dlog_close(open_log(RETAIN));
	/* The lost log's last start must be in the past of the clock. */
	while (clock_wall_ms() <= INC(3))
		;
	snprintf(cmd, sizeof(cmd), "mv %s %s", backup, path);
	cr_assert_eq(system(cmd), 0);
	d = open_log(RETAIN); /* asserts it is above every earlier one */
	cr_assert_not(dlog_issued(d, mkgid(g, 2, 1)), "the lost log's");
	cr_assert_not(dlog_issued(d, mkgid(g, 3, 1)), "the lost log's");
	cr_assert(dlog_issued(d, mkgid(g, 1, 1)));
	cr_assert(dlog_issued(d, mkgid(g, 4, 1)));
	dlog_close(d);
}

Test(dlog, heuristic_with_an_overlong_reason_is_refused)
{
	struct dlog *d = open_log(RETAIN);
	char why[DLOG_WHY_MAX + 1], g[GID_MAX];

	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	cr_assert_eq(dlog_heuristic(d, mkgid(g, 0, 1), true, two_names, 2,
	                            "ops", why, on_durable, NULL),
	             -1);
	cr_assert_eq(dlog_lookup(d, g), DLOG_NONE);
	dlog_close(d);
}
