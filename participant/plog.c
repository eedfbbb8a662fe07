/*
 * Record payloads (after the wal's length, crc and type):
 *
 *   WAIT     gid NUL, u8 rank, u8 quorum, u8 n, n x (name NUL, url NUL)
 *   STATE    gid NUL, u8 voted_yes, u64 LE promised,
 *            u64 LE accepted_ballot, u8 accepted, u8 decided
 *   DONE     gid NUL
 *   HORIZON  node NUL, u64 LE incarnation, u64 LE seq (by compaction)
 *
 * STATE carries the whole acceptor, so replay keeps the last one. The
 * part of WAIT after the gid is kept in memory as it is on disk (the
 * "peer blob"), so that an entry costs tens of bytes, not a full
 * struct plog_wait.
 *
 * HORIZON is per coordinator node, since gids from several coordinators
 * meet here: an unknown gid at or below its node's horizon was forgotten.
 * Replay is idempotent, as compaction may write what a queued append
 * writes again.
 */
#include "plog.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gid.h"
#include "hmap.h"
#include "le.h"
#include "wal.h"

enum {
	REC_WAIT = 1,
	REC_STATE = 2,
	REC_DONE = 3,
	REC_HORIZON = 4,
};

#define STATE_TAIL 19 /* STATE payload after the gid */
#define BLOB_MAX   (3 + TERM_MAX_PARTS * (PLOG_NAME_MAX + PLOG_URL_MAX))

struct entry {
	struct hmap_node node;
	struct entry *next_done; /* FIFO of done entries, oldest first */
	bool done;
	struct term_acceptor acc;
	uint8_t *blob; /* the WAIT payload after the gid; NULL: no WAIT */
	size_t bloblen;
	char gid[GID_MAX];
};

struct horizon {
	char node[33];
	uint64_t inc, seq;
};

struct plog {
	struct wal *wal;
	uint64_t retain;
	pthread_mutex_t mu; /* guards everything below */
	struct hmap map;
	uint64_t ndone;
	struct entry *done_head, *done_tail;
	struct horizon *hz;
	size_t nhz, caphz;
};

/* Decode a peer blob into w (may be NULL: validate only). */
static bool
decode_blob(const uint8_t *p, size_t len, struct plog_wait *w)
{
	const uint8_t *end = p + len;
	unsigned rank, quorum, n;

	if (len < 3)
		return false;
	rank = p[0];
	quorum = p[1];
	n = p[2];
	p += 3;
	if (n == 0 || n > TERM_MAX_PARTS || rank >= n || quorum > 1)
		return false;
	if (w != NULL) {
		w->rank = rank;
		w->quorum = quorum;
		w->npeers = n;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *name = (const char *)p, *url;
		size_t nl, ul;

		if (p >= end || (nl = strnlen(name, (size_t)(end - p))) ==
		                    (size_t)(end - p))
			return false;
		p += nl + 1;
		url = (const char *)p;
		if (p >= end ||
		    (ul = strnlen(url, (size_t)(end - p))) == (size_t)(end - p))
			return false;
		p += ul + 1;
		if (!gid_valid_name(name) || ul == 0 || ul >= PLOG_URL_MAX)
			return false;
		if (w != NULL) {
			memcpy(w->peers[i].name, name, nl + 1);
			memcpy(w->peers[i].url, url, ul + 1);
		}
	}
	return p == end;
}

/* Encode w as a peer blob; returns its length, or 0 if w is invalid. */
static size_t
encode_blob(uint8_t *buf, const struct plog_wait *w)
{
	size_t off = 3;

	if (w->npeers == 0 || w->npeers > TERM_MAX_PARTS ||
	    w->rank >= w->npeers)
		return 0;
	buf[0] = (uint8_t)w->rank;
	buf[1] = w->quorum;
	buf[2] = (uint8_t)w->npeers;
	for (size_t i = 0; i < w->npeers; i++) {
		size_t nl = strnlen(w->peers[i].name, PLOG_NAME_MAX);
		size_t ul = strnlen(w->peers[i].url, PLOG_URL_MAX);

		if (!gid_valid_name(w->peers[i].name) || ul == 0 ||
		    ul == PLOG_URL_MAX)
			return 0;
		memcpy(buf + off, w->peers[i].name, nl + 1);
		off += nl + 1;
		memcpy(buf + off, w->peers[i].url, ul + 1);
		off += ul + 1;
	}
	return off;
}

static void
encode_state(uint8_t *p, const struct term_acceptor *a)
{
	p[0] = a->voted_yes;
	le64_put(p + 1, a->promised);
	le64_put(p + 9, a->accepted_ballot);
	p[17] = (uint8_t)a->accepted;
	p[18] = (uint8_t)a->decided;
}

static bool
decode_state(const uint8_t *p, struct term_acceptor *a)
{
	if (p[0] > 1 || p[17] > TERM_ABORT || p[18] > TERM_ABORT)
		return false;
	a->voted_yes = p[0];
	a->promised = le64_get(p + 1);
	a->accepted_ballot = le64_get(p + 9);
	a->accepted = (enum term_value)p[17];
	a->decided = (enum term_value)p[18];
	return true;
}

/* The gid at the head of a payload, if it is a valid one. */
static const char *
payload_gid(const void *payload, uint32_t len, size_t *gidlen)
{
	const char *gid = payload;
	size_t l = strnlen(gid, len);

	if (l == len || !gid_parse(gid, &(struct gid_parts){0}))
		return NULL;
	*gidlen = l + 1;
	return gid;
}

/* Called with mu held (or during replay). */
static struct horizon *
find_horizon(struct plog *l, const char *node)
{
	for (size_t i = 0; i < l->nhz; i++)
		if (strcmp(l->hz[i].node, node) == 0)
			return &l->hz[i];
	return NULL;
}

static int
raise_horizon(struct plog *l, const char *node, uint64_t inc, uint64_t seq)
{
	struct horizon *h = find_horizon(l, node);

	if (h == NULL) {
		if (l->nhz == l->caphz) {
			size_t cap = l->caphz != 0 ? 2 * l->caphz : 4;
			struct horizon *p = realloc(l->hz, cap * sizeof(*p));

			if (p == NULL)
				return -1;
			l->hz = p;
			l->caphz = cap;
		}
		h = &l->hz[l->nhz++];
		*h = (struct horizon){0};
		snprintf(h->node, sizeof(h->node), "%s", node);
	}
	if (inc > h->inc || (inc == h->inc && seq > h->seq)) {
		h->inc = inc;
		h->seq = seq;
	}
	return 0;
}

static bool
forgotten(struct plog *l, const char *gid)
{
	struct gid_parts p;
	struct horizon *h;

	if (!gid_parse(gid, &p) || (h = find_horizon(l, p.node)) == NULL)
		return false;
	return p.incarnation < h->inc ||
	       (p.incarnation == h->inc && p.seq <= h->seq);
}

static struct entry *
lookup(struct plog *l, const char *gid)
{
	struct hmap_node *n = hmap_get(&l->map, gid);

	return n != NULL ? container_of(n, struct entry, node) : NULL;
}

static struct entry *
lookup_or_add(struct plog *l, const char *gid)
{
	struct entry *e = lookup(l, gid);

	if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL) {
		snprintf(e->gid, sizeof(e->gid), "%s", gid);
		hmap_put(&l->map, &e->node, e->gid);
	}
	return e;
}

static void
free_entry(struct entry *e)
{
	free(e->blob);
	free(e);
}

static int
evict_oldest(struct plog *l)
{
	struct entry *e = l->done_head;
	struct gid_parts p;
	int rc = 0;

	l->done_head = e->next_done;
	if (l->done_head == NULL)
		l->done_tail = NULL;
	hmap_remove(&l->map, e->gid);
	l->ndone--;
	if (gid_parse(e->gid, &p))
		rc = raise_horizon(l, p.node, p.incarnation, p.seq);
	free_entry(e);
	return rc;
}

static int
mark_done(struct plog *l, const char *gid)
{
	struct entry *e = lookup(l, gid);

	if (e == NULL || e->done)
		return 0;
	e->done = true;
	l->ndone++;
	e->next_done = NULL;
	if (l->done_tail != NULL)
		l->done_tail->next_done = e;
	else
		l->done_head = e;
	l->done_tail = e;
	while (l->ndone > l->retain)
		if (evict_oldest(l) != 0)
			return -1;
	return 0;
}

static int
attach_blob(struct entry *e, const uint8_t *blob, size_t len)
{
	if (e->blob != NULL)
		return 0; /* replayed twice (compaction): the same list */
	if ((e->blob = malloc(len)) == NULL)
		return -1;
	memcpy(e->blob, blob, len);
	e->bloblen = len;
	return 0;
}

static int
replay(void *arg, uint8_t type, const void *payload, uint32_t len)
{
	struct plog *l = arg;
	const uint8_t *p = payload;
	const char *gid = NULL;
	struct term_acceptor acc;
	struct entry *e;
	size_t gl = 0, nl;

	if (type != REC_HORIZON &&
	    (gid = payload_gid(payload, len, &gl)) == NULL)
		return -1;
	/* Records of a gid that retention dropped earlier in the file. */
	if (gid != NULL && lookup(l, gid) == NULL && forgotten(l, gid))
		return 0;
	switch (type) {
	case REC_WAIT:
		if (!decode_blob(p + gl, len - gl, NULL) ||
		    (e = lookup_or_add(l, gid)) == NULL)
			return -1;
		return attach_blob(e, p + gl, len - gl);
	case REC_STATE:
		if (len - gl != STATE_TAIL || !decode_state(p + gl, &acc) ||
		    (e = lookup_or_add(l, gid)) == NULL)
			return -1;
		e->acc = acc;
		return 0;
	case REC_DONE:
		return len == gl ? mark_done(l, gid) : -1;
	case REC_HORIZON:
		nl = strnlen(payload, len);
		if (nl == len || len - nl - 1 != 16 || !gid_valid_name(payload))
			return -1;
		return raise_horizon(l, payload, le64_get(p + nl + 1),
		                     le64_get(p + nl + 9));
	default:
		return -1;
	}
}

int
plog_open(const char *dir, uint64_t retain_done, struct plog **out, char *err,
          size_t errlen)
{
	char path[PATH_MAX];
	struct plog *l;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "log_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    hmap_init(&l->map, 1024) != 0) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->retain = retain_done;
	pthread_mutex_init(&l->mu, NULL);
	snprintf(path, sizeof(path), "%s/participant.log", dir);
	if (wal_open(path, replay, l, &l->wal, err, errlen) != 0) {
		plog_close(l);
		return -1;
	}
	*out = l;
	return 0;
}

/* gid NUL then tail, into buf; returns the length, or 0 if too long. */
static size_t
with_gid(uint8_t *buf, size_t cap, const char *gid, const void *tail,
         size_t taillen)
{
	size_t gl = strlen(gid) + 1;

	if (gl + taillen > cap)
		return 0;
	memcpy(buf, gid, gl);
	memcpy(buf + gl, tail, taillen);
	return gl + taillen;
}

int
plog_wait(struct plog *l, const char *gid, const struct plog_wait *w)
{
	uint8_t blob[BLOB_MAX], rec[GID_MAX + BLOB_MAX];
	size_t bl, len;
	struct entry *e;
	bool known;

	if (!gid_parse(gid, &(struct gid_parts){0}) ||
	    (bl = encode_blob(blob, w)) == 0 ||
	    (len = with_gid(rec, sizeof(rec), gid, blob, bl)) == 0)
		return -1;
	pthread_mutex_lock(&l->mu);
	known = lookup(l, gid) != NULL || forgotten(l, gid);
	pthread_mutex_unlock(&l->mu);
	if (known || wal_append_sync(l->wal, REC_WAIT, rec, (uint32_t)len) != 0)
		return -1;
	pthread_mutex_lock(&l->mu);
	e = lookup_or_add(l, gid);
	if (e == NULL || attach_blob(e, blob, bl) != 0) {
		pthread_mutex_unlock(&l->mu);
		return -1;
	}
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int
plog_put(struct plog *l, const char *gid, const struct term_acceptor *acc)
{
	uint8_t tail[STATE_TAIL], rec[GID_MAX + STATE_TAIL];
	size_t len;
	struct entry *e;
	bool gone;

	if (!gid_parse(gid, &(struct gid_parts){0}))
		return -1;
	encode_state(tail, acc);
	len = with_gid(rec, sizeof(rec), gid, tail, sizeof(tail));
	pthread_mutex_lock(&l->mu);
	gone = lookup(l, gid) == NULL && forgotten(l, gid);
	pthread_mutex_unlock(&l->mu);
	/* A forgotten gid must not come back with a partial history. */
	if (gone || wal_append_sync(l->wal, REC_STATE, rec, (uint32_t)len) != 0)
		return -1;
	pthread_mutex_lock(&l->mu);
	e = lookup(l, gid);
	/* Retention may have dropped it since the check: leave it gone. */
	if (e == NULL && !forgotten(l, gid) &&
	    (e = lookup_or_add(l, gid)) == NULL)
		gone = true;
	if (e != NULL)
		e->acc = *acc;
	pthread_mutex_unlock(&l->mu);
	return gone ? -1 : 0;
}

int
plog_done(struct plog *l, const char *gid)
{
	int rc;

	if (!gid_parse(gid, &(struct gid_parts){0}) ||
	    wal_append(l->wal, REC_DONE, gid, (uint32_t)strlen(gid) + 1, NULL,
	               NULL) != 0)
		return -1;
	pthread_mutex_lock(&l->mu);
	rc = mark_done(l, gid);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

enum plog_find
plog_get(struct plog *l, const char *gid, struct term_acceptor *acc,
         struct plog_wait *w, bool *has_wait)
{
	enum plog_find f = PLOG_UNKNOWN;
	struct entry *e;

	pthread_mutex_lock(&l->mu);
	if ((e = lookup(l, gid)) != NULL) {
		f = PLOG_KNOWN;
		if (acc != NULL)
			*acc = e->acc;
		if (has_wait != NULL)
			*has_wait = e->blob != NULL;
		if (w != NULL && e->blob != NULL)
			decode_blob(e->blob, e->bloblen, w);
	} else if (forgotten(l, gid)) {
		f = PLOG_FORGOTTEN;
	}
	pthread_mutex_unlock(&l->mu);
	return f;
}

struct open_list {
	char (*gids)[GID_MAX];
	size_t n, cap;
	int rc;
};

static int
collect_open(struct hmap_node *n, void *arg)
{
	struct entry *e = container_of(n, struct entry, node);
	struct open_list *o = arg;

	if (e->done)
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap != 0 ? 2 * o->cap : 64;
		char(*p)[GID_MAX] = realloc(o->gids, cap * GID_MAX);

		if (p == NULL) {
			o->rc = -1;
			return 1;
		}
		o->gids = p;
		o->cap = cap;
	}
	memcpy(o->gids[o->n++], e->gid, GID_MAX);
	return 0;
}

int
plog_foreach_open(struct plog *l, void (*fn)(void *arg, const char *gid),
                  void *arg)
{
	struct open_list o = {0};

	pthread_mutex_lock(&l->mu);
	hmap_foreach(&l->map, collect_open, &o);
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; o.rc == 0 && i < o.n; i++)
		fn(arg, o.gids[i]);
	free(o.gids);
	return o.rc;
}

static int
snap_entry(struct wal_snap *s, const struct entry *e)
{
	uint8_t rec[GID_MAX + BLOB_MAX], tail[STATE_TAIL];
	size_t len;

	if (e->blob != NULL) {
		len = with_gid(rec, sizeof(rec), e->gid, e->blob, e->bloblen);
		wal_snap_add(s, REC_WAIT, rec, (uint32_t)len);
	}
	encode_state(tail, &e->acc);
	len = with_gid(rec, sizeof(rec), e->gid, tail, sizeof(tail));
	wal_snap_add(s, REC_STATE, rec, (uint32_t)len);
	if (e->done)
		wal_snap_add(s, REC_DONE, e->gid, (uint32_t)strlen(e->gid) + 1);
	return s->rc;
}

static int
snap_open(struct hmap_node *n, void *arg)
{
	struct entry *e = container_of(n, struct entry, node);

	return !e->done ? snap_entry(arg, e) != 0 : 0;
}

/* On the writer thread: horizons, done entries oldest first, open ones. */
static int
snapshot(void *arg, wal_emit_fn emit, void *emit_ctx)
{
	struct plog *l = arg;
	struct wal_snap s = {0};
	uint8_t rec[33 + 16];
	int rc;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->nhz; i++) {
		size_t nl = strlen(l->hz[i].node) + 1;

		memcpy(rec, l->hz[i].node, nl);
		le64_put(rec + nl, l->hz[i].inc);
		le64_put(rec + nl + 8, l->hz[i].seq);
		wal_snap_add(&s, REC_HORIZON, rec, (uint32_t)(nl + 16));
	}
	for (struct entry *e = l->done_head; e != NULL && s.rc == 0;
	     e = e->next_done)
		snap_entry(&s, e);
	if (s.rc == 0)
		hmap_foreach(&l->map, snap_open, &s);
	pthread_mutex_unlock(&l->mu);
	rc = wal_snap_emit(&s, emit, emit_ctx);
	wal_snap_free(&s);
	return rc;
}

int
plog_maybe_compact(struct plog *l, uint64_t threshold, char *err, size_t errlen)
{
	struct wal_stats ws;

	wal_get_stats(l->wal, &ws);
	if (ws.bytes < threshold)
		return 0;
	return wal_compact(l->wal, snapshot, l, err, errlen);
}

static int
free_node(struct hmap_node *n, void *arg)
{
	(void)arg;
	free_entry(container_of(n, struct entry, node));
	return 0;
}

void
plog_close(struct plog *l)
{
	if (l == NULL)
		return;
	if (l->wal != NULL)
		wal_close(l->wal);
	if (l->map.buckets != NULL) {
		hmap_foreach(&l->map, free_node, NULL);
		hmap_destroy(&l->map);
	}
	free(l->hz);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
