/*
 * Record payloads (after the wal's length, crc and type):
 *
 *   INCARNATION  u64 LE
 *   COMMIT       gid NUL, u8 count, count x (name NUL)
 *   END          gid NUL
 *   PRECOMMIT    as COMMIT (3PC: the coordinator proposed commit)
 *   HORIZON      u64 LE incarnation, u64 LE seq (written by compaction)
 *   GENESIS      u64 LE: the log's first incarnation
 *   HEURISTIC    as COMMIT, then u8 decision (1 commit, 2 abort),
 *                who NUL, why NUL: an operator's decision
 *
 * HORIZON carries the retention horizon across a compaction: the COMMIT and
 * END records whose replay would rebuild it are exactly what compaction
 * drops, and without it a forgotten commit would read as presumed abort.
 *
 * Replay is idempotent (compaction may write a COMMIT that a queued append
 * writes again; an END may arrive for a COMMIT compacted away): a repeated
 * COMMIT is ignored and an END without COMMIT is dropped.
 *
 * GENESIS marks a log that keeps every INCARNATION record (compaction
 * writes them all again): a gid was issued by this log only if its
 * incarnation is one of them (dlog_issued), and only then may an absent
 * record mean presumed abort. Each start takes the wall clock in ms, or
 * the last incarnation + 1 if that is higher: a new log, or one restored
 * from an older copy, never reuses an incarnation of the log it replaces,
 * so the gids that log issued are never taken for its own. A log from
 * before GENESIS counted from 1: it issued every incarnation up to now.
 *
 * HEURISTIC: an operator decided a gid this log holds no decision for.
 * Commit opens an entry like COMMIT (phase 2 finishes it, END closes it);
 * abort is an ended entry answering DLOG_ABORTED. Neither is ever dropped
 * by retention: a forgotten decision could be contradicted later.
 *
 * 3PC: PRECOMMIT opens an entry that a later COMMIT turns into a commit.
 * END of a PRECOMMIT without COMMIT means the participants aborted it:
 * the entry goes, and presumed abort answers for it again.
 */
#include "dlog.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "failpoint.h"
#include "gid.h"
#include "hmap.h"
#include "le.h"
#include "log.h"

enum {
	REC_INCARNATION = 1,
	REC_COMMIT = 2,
	REC_END = 3,
	REC_HORIZON = 4,
	REC_PRECOMMIT = 5,
	REC_GENESIS = 6,
	REC_HEURISTIC = 7,
};

enum { HEUR_NONE, HEUR_COMMIT, HEUR_ABORT };

#define MAX_NAMES DLOG_MAX_NAMES

struct entry {
	struct hmap_node node;
	struct entry *next_ended; /* FIFO of ended entries, oldest first */
	bool ended;
	bool precommit;    /* PRECOMMIT without COMMIT (yet) */
	uint8_t heuristic; /* HEUR_*: an operator decided it */
	size_t nnames;
	char gid[GID_MAX];
	char blob[]; /* names, then (heuristic) who and why, NUL separated */
};

struct dlog {
	struct wal *wal;
	char node[33];
	uint64_t incarnation;
	uint64_t genesis; /* the first incarnation; 0: a log before GENESIS */
	uint64_t *incs;   /* with genesis: every incarnation, ascending */
	size_t nincs, capincs;
	uint64_t retain;
	pthread_mutex_t mu; /* guards everything below */
	struct hmap map;
	uint64_t nopen;
	uint64_t nended;
	struct entry *ended_head, *ended_tail;
	/* The newest gid evicted by retention: older unknown gids are
	 * forgotten, not aborted. */
	uint64_t horizon_inc, horizon_seq;
};

/* Payload of a COMMIT record; returns its length or 0 if too large. */
static size_t
encode_commit(char *buf, size_t cap, const char *gid, const char *const *names,
              size_t n)
{
	size_t len = strlen(gid) + 1, off;

	if (n > MAX_NAMES || len + 1 > cap)
		return 0;
	memcpy(buf, gid, len);
	buf[len] = (char)n;
	off = len + 1;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;

		if (off + l > cap)
			return 0;
		memcpy(buf + off, names[i], l);
		off += l;
	}
	return off;
}

/* who and why: NULL unless an operator decided (heuristic). */
static struct entry *
entry_new(const char *gid, const char *const *names, size_t n, const char *who,
          const char *why)
{
	const char *note[2] = {who != NULL ? who : "", why != NULL ? why : ""};
	size_t blob = strlen(note[0]) + strlen(note[1]) + 2;
	struct entry *e;
	char *p;

	for (size_t i = 0; i < n; i++)
		blob += strlen(names[i]) + 1;
	if ((e = calloc(1, sizeof(*e) + blob)) == NULL)
		return NULL;
	snprintf(e->gid, sizeof(e->gid), "%s", gid);
	e->nnames = n;
	p = e->blob;
	for (size_t i = 0; i < n + 2; i++) {
		const char *s = i < n ? names[i] : note[i - n];
		size_t l = strlen(s) + 1;

		memcpy(p, s, l);
		p += l;
	}
	return e;
}

/* Bytes of the entry with its blob. */
static size_t
entry_size(const struct entry *e)
{
	const char *p = e->blob;

	for (size_t i = 0; i < e->nnames + 2; i++)
		p += strlen(p) + 1;
	return sizeof(*e) + (size_t)(p - e->blob);
}

/* The operator and the reason of a heuristic entry. */
static const char *
entry_who(const struct entry *e)
{
	const char *p = e->blob;

	for (size_t i = 0; i < e->nnames; i++)
		p += strlen(p) + 1;
	return p;
}

static const char *
entry_why(const struct entry *e)
{
	const char *who = entry_who(e);

	return who + strlen(who) + 1;
}

/* Point names[] at the entry's participant names. */
static void
entry_names(const struct entry *e, const char *names[MAX_NAMES])
{
	const char *p = e->blob;

	for (size_t i = 0; i < e->nnames; i++) {
		names[i] = p;
		p += strlen(p) + 1;
	}
}

/* Called with mu held. */
static void
add_commit(struct dlog *d, struct entry *e)
{
	struct hmap_node *n = hmap_get(&d->map, e->gid);

	if (n != NULL) {
		if (!e->precommit)
			container_of(n, struct entry, node)->precommit = false;
		free(e);
		return;
	}
	hmap_put(&d->map, &e->node, e->gid);
	d->nopen++;
}

/* Called with mu held (or during replay). The horizon only moves up. */
static void
raise_horizon(struct dlog *d, uint64_t inc, uint64_t seq)
{
	if (inc > d->horizon_inc ||
	    (inc == d->horizon_inc && seq > d->horizon_seq)) {
		d->horizon_inc = inc;
		d->horizon_seq = seq;
	}
}

/* Called with mu held (or during replay). */
static bool
issued(const struct dlog *d, const struct gid_parts *p)
{
	size_t lo = 0, hi = d->nincs;

	if (strcmp(p->node, d->node) != 0)
		return false;
	if (d->genesis == 0)
		return p->incarnation >= 1 && p->incarnation <= d->incarnation;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->incs[mid] < p->incarnation)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->nincs && d->incs[lo] == p->incarnation;
}

/* Record an incarnation (replay or start). Returns 0, or -1 (memory). */
static int
add_incarnation(struct dlog *d, uint64_t inc)
{
	size_t i;

	if (inc > d->incarnation)
		d->incarnation = inc;
	for (i = d->nincs; i > 0 && d->incs[i - 1] >= inc; i--)
		if (d->incs[i - 1] == inc)
			return 0; /* compaction wrote it again */
	if (d->nincs == d->capincs) {
		size_t cap = d->capincs != 0 ? d->capincs * 2 : 16;
		uint64_t *v = realloc(d->incs, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		d->incs = v;
		d->capincs = cap;
	}
	memmove(d->incs + i + 1, d->incs + i,
	        (d->nincs - i) * sizeof(*d->incs));
	d->incs[i] = inc;
	d->nincs++;
	return 0;
}

static void
evict_oldest(struct dlog *d)
{
	struct entry *e = d->ended_head;
	struct gid_parts p;

	d->ended_head = e->next_ended;
	if (d->ended_head == NULL)
		d->ended_tail = NULL;
	hmap_remove(&d->map, e->gid);
	d->nended--;
	/* Gids this log did not issue are not within its horizon. */
	if (gid_parse(e->gid, &p) && issued(d, &p))
		raise_horizon(d, p.incarnation, p.seq);
	free(e);
}

/* Called with mu held. */
static void
mark_ended(struct dlog *d, const char *gid)
{
	struct hmap_node *n = hmap_get(&d->map, gid);
	struct entry *e;

	if (n == NULL)
		return;
	e = container_of(n, struct entry, node);
	if (e->ended)
		return;
	if (e->precommit) {
		hmap_remove(&d->map, gid);
		d->nopen--;
		free(e);
		return;
	}
	e->ended = true;
	d->nopen--;
	if (e->heuristic != HEUR_NONE)
		return; /* kept for ever, out of the retention FIFO */
	d->nended++;
	e->next_ended = NULL;
	if (d->ended_tail != NULL)
		d->ended_tail->next_ended = e;
	else
		d->ended_head = e;
	d->ended_tail = e;
	while (d->nended > d->retain)
		evict_oldest(d);
}

/* The next NUL-terminated string in [*p, end), or NULL. */
static const char *
take_str(const char **p, const char *end)
{
	const char *s = *p;
	size_t l;

	if (s >= end ||
	    (l = strnlen(s, (size_t)(end - s))) == (size_t)(end - s))
		return NULL;
	*p = s + l + 1;
	return s;
}

/*
 * Split the COMMIT part of a payload; returns where it ends, or NULL if
 * malformed.
 */
static const char *
decode_names(const char *p, const char *end, const char **gid,
             const char *names[MAX_NAMES], size_t *n)
{
	if ((*gid = take_str(&p, end)) == NULL ||
	    !gid_parse(*gid, &(struct gid_parts){0}) || p >= end)
		return NULL;
	*n = (unsigned char)*p++;
	for (size_t i = 0; i < *n; i++)
		if ((names[i] = take_str(&p, end)) == NULL)
			return NULL;
	return p;
}

static bool
decode_commit(const char *p, uint32_t len, const char **gid,
              const char *names[MAX_NAMES], size_t *n)
{
	return decode_names(p, p + len, gid, names, n) == p + len;
}

/* A HEURISTIC payload: the COMMIT part, decision, who, why. */
static struct entry *
decode_heuristic(const char *p, uint32_t len)
{
	const char *names[MAX_NAMES], *gid, *who, *why, *end = p + len;
	struct entry *e;
	uint8_t decision;
	size_t n;

	if ((p = decode_names(p, end, &gid, names, &n)) == NULL || p >= end)
		return NULL;
	decision = (uint8_t)*p++;
	if ((decision != HEUR_COMMIT && decision != HEUR_ABORT) ||
	    (who = take_str(&p, end)) == NULL ||
	    (why = take_str(&p, end)) == NULL || p != end ||
	    (e = entry_new(gid, names, n, who, why)) == NULL)
		return NULL;
	e->heuristic = decision;
	return e;
}

/* Called with mu held (or during replay). */
static void
add_heuristic(struct dlog *d, struct entry *e)
{
	bool abort = e->heuristic == HEUR_ABORT;
	char gid[GID_MAX];

	memcpy(gid, e->gid, sizeof(gid));
	add_commit(d, e); /* e may be freed: a repeat */
	if (abort)
		mark_ended(d, gid); /* nothing is left to do for it */
}

static int
replay(void *arg, uint8_t type, const void *payload, uint32_t len)
{
	struct dlog *d = arg;
	const char *names[MAX_NAMES], *gid;
	struct entry *e;
	size_t n;

	switch (type) {
	case REC_INCARNATION:
		if (len != 8)
			return -1;
		return add_incarnation(d, le64_get(payload));
	case REC_COMMIT:
	case REC_PRECOMMIT:
		if (!decode_commit(payload, len, &gid, names, &n))
			return -1;
		if ((e = entry_new(gid, names, n, NULL, NULL)) == NULL)
			return -1;
		e->precommit = type == REC_PRECOMMIT;
		add_commit(d, e);
		return 0;
	case REC_HEURISTIC:
		if ((e = decode_heuristic(payload, len)) == NULL)
			return -1;
		add_heuristic(d, e);
		return 0;
	case REC_GENESIS:
		if (len != 8)
			return -1;
		d->genesis = le64_get(payload);
		return 0;
	case REC_END:
		if (len == 0 || ((const char *)payload)[len - 1] != '\0')
			return -1;
		mark_ended(d, payload);
		return 0;
	case REC_HORIZON:
		if (len != 16)
			return -1;
		raise_horizon(d, le64_get(payload),
		              le64_get((const uint8_t *)payload + 8));
		return 0;
	default:
		return -1;
	}
}

int
dlog_open(const char *dir, const char *node, uint64_t retain_ended,
          struct dlog **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct dlog *d;
	uint8_t buf[8];
	uint64_t inc;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "log_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    hmap_init(&d->map, 1024) != 0) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(d->node, sizeof(d->node), "%s", node);
	d->retain = retain_ended;
	pthread_mutex_init(&d->mu, NULL);
	snprintf(path, sizeof(path), "%s/decision.log", dir);
	if (wal_open(path, replay, d, &d->wal, err, errlen) != 0) {
		dlog_close(d);
		return -1;
	}
	/* See GENESIS above. */
	inc = d->incarnation + 1;
	if (d->genesis != 0 || d->incarnation == 0)
		inc = clock_wall_ms() > inc ? clock_wall_ms() : inc;
	if (d->incarnation == 0) {
		d->genesis = inc;
		le64_put(buf, inc);
		if (wal_append_sync(d->wal, REC_GENESIS, buf, sizeof(buf)) !=
		    0) {
			snprintf(err, errlen, "%s: cannot write genesis", path);
			dlog_close(d);
			return -1;
		}
	}
	le64_put(buf, inc);
	if (add_incarnation(d, inc) != 0 ||
	    wal_append_sync(d->wal, REC_INCARNATION, buf, sizeof(buf)) != 0) {
		snprintf(err, errlen, "%s: cannot write incarnation", path);
		dlog_close(d);
		return -1;
	}
	*out = d;
	return 0;
}

uint64_t
dlog_incarnation(const struct dlog *d)
{
	return d->incarnation;
}

struct open_list {
	struct entry **v;
	size_t n, cap;
	bool failed;
	bool precommit; /* which entries: PRECOMMIT only, or COMMIT only */
};

static int
collect_open(struct hmap_node *n, void *arg)
{
	struct entry *e = container_of(n, struct entry, node), *copy;
	struct open_list *l = arg;
	size_t size = entry_size(e);

	if (e->ended || e->precommit != l->precommit)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 64;
		struct entry **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			l->failed = true;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	if ((copy = malloc(size)) == NULL) {
		l->failed = true;
		return 1;
	}
	memcpy(copy, e, size);
	l->v[l->n++] = copy;
	return 0;
}

static int
foreach_entry(struct dlog *d, bool precommit,
              void (*fn)(void *, const char *, const char *const *, size_t),
              void *arg)
{
	struct open_list l = {.precommit = precommit};
	const char *names[MAX_NAMES];

	/* Copies, so that fn may call back into the log (dlog_end). */
	pthread_mutex_lock(&d->mu);
	hmap_foreach(&d->map, collect_open, &l);
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < l.n; i++) {
		if (!l.failed) {
			entry_names(l.v[i], names);
			fn(arg, l.v[i]->gid, names, l.v[i]->nnames);
		}
		free(l.v[i]);
	}
	free(l.v);
	return l.failed ? -1 : 0;
}

int
dlog_foreach_open(struct dlog *d,
                  void (*fn)(void *, const char *, const char *const *, size_t),
                  void *arg)
{
	return foreach_entry(d, false, fn, arg);
}

int
dlog_foreach_precommit(struct dlog *d,
                       void (*fn)(void *, const char *, const char *const *,
                                  size_t),
                       void *arg)
{
	return foreach_entry(d, true, fn, arg);
}

struct pending_commit {
	struct dlog *d;
	struct entry *e;
	wal_done_fn done;
	void *arg;
};

/* On the writer thread, after fdatasync: the record is the commit point. */
static void
commit_durable(void *arg)
{
	struct pending_commit *pc = arg;

	if (!pc->e->precommit && pc->e->heuristic == HEUR_NONE)
		FAILPOINT("coord.after_commit_logged");
	pthread_mutex_lock(&pc->d->mu);
	if (pc->e->heuristic != HEUR_NONE)
		add_heuristic(pc->d, pc->e);
	else
		add_commit(pc->d, pc->e);
	pthread_mutex_unlock(&pc->d->mu);
	pc->done(pc->arg);
	free(pc);
}

static int
append_decision(struct dlog *d, uint8_t type, const char *gid,
                const char *const *names, size_t n, wal_done_fn done, void *arg)
{
	char buf[GID_MAX + 1 + MAX_NAMES * 33];
	size_t len = encode_commit(buf, sizeof(buf), gid, names, n);
	struct pending_commit *pc = malloc(sizeof(*pc));

	if (len == 0 || pc == NULL ||
	    (pc->e = entry_new(gid, names, n, NULL, NULL)) == NULL) {
		free(pc);
		return -1;
	}
	pc->d = d;
	pc->done = done;
	pc->arg = arg;
	pc->e->precommit = type == REC_PRECOMMIT;
	if (wal_append(d->wal, type, buf, (uint32_t)len, commit_durable, pc) !=
	    0) {
		free(pc->e);
		free(pc);
		return -1;
	}
	return 0;
}

int
dlog_commit(struct dlog *d, const char *gid, const char *const *names, size_t n,
            wal_done_fn done, void *arg)
{
	return append_decision(d, REC_COMMIT, gid, names, n, done, arg);
}

int
dlog_precommit(struct dlog *d, const char *gid, const char *const *names,
               size_t n, wal_done_fn done, void *arg)
{
	return append_decision(d, REC_PRECOMMIT, gid, names, n, done, arg);
}

int
dlog_heuristic(struct dlog *d, const char *gid, bool commit,
               const char *const *names, size_t n, const char *who,
               const char *why, wal_done_fn done, void *arg)
{
	char
	    buf[GID_MAX + 1 + MAX_NAMES * 33 + 1 + DLOG_WHO_MAX + DLOG_WHY_MAX];
	size_t len = encode_commit(buf, sizeof(buf), gid, names, n);
	size_t lwho = strlen(who) + 1, lwhy = strlen(why) + 1;
	struct pending_commit *pc;

	if (len == 0 || lwho > DLOG_WHO_MAX || lwhy > DLOG_WHY_MAX ||
	    (pc = malloc(sizeof(*pc))) == NULL)
		return -1;
	if ((pc->e = entry_new(gid, names, n, who, why)) == NULL) {
		free(pc);
		return -1;
	}
	buf[len++] = (char)(commit ? HEUR_COMMIT : HEUR_ABORT);
	memcpy(buf + len, who, lwho);
	memcpy(buf + len + lwho, why, lwhy);
	len += lwho + lwhy;
	pc->d = d;
	pc->done = done;
	pc->arg = arg;
	pc->e->heuristic = commit ? HEUR_COMMIT : HEUR_ABORT;
	if (wal_append(d->wal, REC_HEURISTIC, buf, (uint32_t)len,
	               commit_durable, pc) != 0) {
		free(pc->e);
		free(pc);
		return -1;
	}
	return 0;
}

bool
dlog_issued(struct dlog *d, const char *gid)
{
	struct gid_parts p;
	bool yes;

	if (!gid_parse(gid, &p))
		return false;
	pthread_mutex_lock(&d->mu);
	yes = issued(d, &p);
	pthread_mutex_unlock(&d->mu);
	return yes;
}

uint64_t
dlog_genesis(const struct dlog *d)
{
	return d->genesis;
}

bool
dlog_heuristic_note(struct dlog *d, const char *gid, char *who, size_t wholen,
                    char *why, size_t whylen)
{
	struct hmap_node *n;
	bool found = false;

	pthread_mutex_lock(&d->mu);
	if ((n = hmap_get(&d->map, gid)) != NULL) {
		const struct entry *e = container_of(n, struct entry, node);

		if ((found = e->heuristic != HEUR_NONE)) {
			snprintf(who, wholen, "%s", entry_who(e));
			snprintf(why, whylen, "%s", entry_why(e));
		}
	}
	pthread_mutex_unlock(&d->mu);
	return found;
}

void
dlog_end(struct dlog *d, const char *gid)
{
	pthread_mutex_lock(&d->mu);
	mark_ended(d, gid);
	pthread_mutex_unlock(&d->mu);
	if (wal_append(d->wal, REC_END, gid, (uint32_t)strlen(gid) + 1, NULL,
	               NULL) != 0)
		xlog_warn("gid=%s END not queued (log closing)", gid);
}

enum dlog_answer
dlog_lookup(struct dlog *d, const char *gid)
{
	enum dlog_answer a = DLOG_NONE;
	struct gid_parts p;
	struct hmap_node *n;

	pthread_mutex_lock(&d->mu);
	if ((n = hmap_get(&d->map, gid)) != NULL) {
		const struct entry *e = container_of(n, struct entry, node);

		a = e->precommit                 ? DLOG_PRECOMMITTED
		    : e->heuristic == HEUR_ABORT ? DLOG_ABORTED
		                                 : DLOG_COMMITTED;
	} else if (gid_parse(gid, &p) && issued(d, &p) &&
	           (d->horizon_inc | d->horizon_seq) &&
	           (p.incarnation < d->horizon_inc ||
	            (p.incarnation == d->horizon_inc &&
	             p.seq <= d->horizon_seq)))
		a = DLOG_FORGOTTEN;
	pthread_mutex_unlock(&d->mu);
	return a;
}

/*
 * A snapshot is encoded in memory (struct wal_snap) under d->mu and written
 * after it is released: d->mu is taken on NNG callback threads, which must
 * never wait for a disk.
 */
static int
collect_entry(struct wal_snap *s, struct entry *e)
{
	char
	    buf[GID_MAX + 1 + MAX_NAMES * 33 + 1 + DLOG_WHO_MAX + DLOG_WHY_MAX];
	const char *names[MAX_NAMES], *who = entry_who(e), *why = entry_why(e);
	uint8_t type = e->precommit ? REC_PRECOMMIT : REC_COMMIT;
	size_t len;

	entry_names(e, names);
	len = encode_commit(buf, sizeof(buf), e->gid, names, e->nnames);
	if (e->heuristic != HEUR_NONE) {
		type = REC_HEURISTIC;
		buf[len++] = (char)e->heuristic;
		memcpy(buf + len, who, strlen(who) + 1);
		len += strlen(who) + 1;
		memcpy(buf + len, why, strlen(why) + 1);
		len += strlen(why) + 1;
	}
	if (wal_snap_add(s, type, buf, (uint32_t)len) != 0)
		return -1;
	if (e->ended)
		return wal_snap_add(s, REC_END, e->gid,
		                    (uint32_t)strlen(e->gid) + 1);
	return 0;
}

static int
snap_open(struct hmap_node *n, void *arg)
{
	struct entry *e = container_of(n, struct entry, node);

	/* The retention FIFO holds the other ended ones. */
	if (!e->ended || e->heuristic != HEUR_NONE)
		return collect_entry(arg, e) != 0;
	return 0;
}

/* On the writer thread: everything still needed, oldest ended first. */
static int
snapshot(void *arg, wal_emit_fn emit, void *emit_ctx)
{
	struct wal_snap s = {0};
	struct dlog *d = arg;
	uint8_t buf[16];
	int rc;

	pthread_mutex_lock(&d->mu);
	if (d->genesis != 0) {
		le64_put(buf, d->genesis);
		wal_snap_add(&s, REC_GENESIS, buf, 8);
		for (size_t i = 0; i < d->nincs; i++) {
			le64_put(buf, d->incs[i]);
			wal_snap_add(&s, REC_INCARNATION, buf, 8);
		}
	} else {
		le64_put(buf, d->incarnation);
		wal_snap_add(&s, REC_INCARNATION, buf, 8);
	}
	/* The horizon, or forgotten commits would read as never committed. */
	if ((d->horizon_inc | d->horizon_seq) != 0) {
		le64_put(buf, d->horizon_inc);
		le64_put(buf + 8, d->horizon_seq);
		wal_snap_add(&s, REC_HORIZON, buf, sizeof(buf));
	}
	for (struct entry *e = d->ended_head; e != NULL && s.rc == 0;
	     e = e->next_ended)
		collect_entry(&s, e);
	if (s.rc == 0)
		hmap_foreach(&d->map, snap_open, &s);
	pthread_mutex_unlock(&d->mu);
	rc = wal_snap_emit(&s, emit, emit_ctx);
	wal_snap_free(&s);
	return rc;
}

int
dlog_maybe_compact(struct dlog *d, uint64_t threshold, char *err, size_t errlen)
{
	struct wal_stats ws;

	wal_get_stats(d->wal, &ws);
	if (ws.bytes < threshold)
		return 0;
	return wal_compact(d->wal, snapshot, d, err, errlen);
}

void
dlog_get_stats(struct dlog *d, struct dlog_stats *out)
{
	pthread_mutex_lock(&d->mu);
	out->incarnation = d->incarnation;
	out->open = d->nopen;
	out->ended = d->nended;
	pthread_mutex_unlock(&d->mu);
	wal_get_stats(d->wal, &out->wal);
}

static int
free_entry(struct hmap_node *n, void *arg)
{
	(void)arg;
	free(container_of(n, struct entry, node));
	return 0;
}

void
dlog_close(struct dlog *d)
{
	if (d == NULL)
		return;
	if (d->wal != NULL)
		wal_close(d->wal);
	if (d->map.buckets != NULL) {
		hmap_foreach(&d->map, free_entry, NULL);
		hmap_destroy(&d->map);
	}
	pthread_mutex_destroy(&d->mu);
	free(d->incs);
	free(d);
}
