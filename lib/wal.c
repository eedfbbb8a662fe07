/*
 * wal: append-only checksummed records, one writer thread, group commit.
 *
 * Threads and ownership
 *
 *   appenders --(mu: pending batch, compaction request, closing)--> writer
 *
 * Appenders only copy their record into the pending batch under mu and wake
 * the writer; they never touch the file. The writer swaps the pending batch
 * for an empty one, and with mu released write()s it, fdatasync()s it when
 * any record in it carries a done callback, and then runs the callbacks in
 * order. Records that arrive meanwhile pile up in the new pending batch and
 * share the next fdatasync: that is the group commit. The file descriptor,
 * the file size and the "written but not synced" flag belong to the writer
 * alone once it runs (wal_open before, wal_close after the join).
 *
 * Invariants
 *   1. A done callback runs only after its record and every record queued
 *      before it have been written and fdatasync'd.
 *   2. Records reach the file in the order their wal_append() took mu.
 *   3. A write or fdatasync error ends the process (WAL_EXIT_IO); nothing is
 *      retried, so nothing is ever acknowledged from pages the kernel may
 *      have dropped.
 *   4. The flock is held on whatever file is at the log's path for as long
 *      as the log is open, compaction included.
 *
 * Compaction replaces the file under the writer: records queued before the
 * request go to the old file first (their callbacks run), then the snapshot
 * is written to PATH.compact, synced, locked and renamed over PATH, and the
 * directory is synced before any later record is appended to the new file.
 */
#include "wal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "failpoint.h"
#include "log.h"

/* On-disk header before the type byte: u32 length, u32 crc32c. */
#define WAL_HEADER 8
/* Replay reads at least this much at a time. */
#define WAL_READ_CHUNK ((size_t)256 * 1024)
/* Compaction writes its new file in pieces of about this size. */
#define WAL_EMIT_FLUSH  ((size_t)64 * 1024)
#define WAL_COMPACT_EXT ".compact"

struct wal_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

struct wal_cb {
	wal_done_fn fn;
	void *arg;
};

/* Records queued together, and the callbacks to run once they are durable. */
struct wal_batch {
	struct wal_buf bytes;
	struct wal_cb *cbs;
	size_t ncbs;
	size_t cbcap;
	uint64_t nrecords;
};

struct wal_compact_req {
	wal_snapshot_fn snapshot;
	void *arg;
	struct wal_batch before; /* queued before the request: old file */
	char *err;
	size_t errlen;
	int rc;
	bool done;
};

struct wal {
	char *path;
	int fd;        /* writer thread only while it runs */
	uint64_t size; /* end of the last record; writer thread only */
	bool unsynced; /* written since the last fdatasync; writer only */
	pthread_t writer;
	pthread_mutex_t mu;
	pthread_cond_t work; /* writer: something queued, or closing */
	pthread_cond_t idle; /* compaction finished */
	/* The rest is guarded by mu. */
	struct wal_batch pending;
	struct wal_compact_req *compact;
	bool closing;
	struct wal_stats stats;
};

/* Builds the replacement file during compaction; emit_ctx of wal_emit_fn. */
struct wal_emitter {
	int fd;
	const char *path;
	struct wal_buf buf;
	uint64_t off;
	const char *why; /* first failure, for the error message */
	int err_no;
};

/* Sequential reads over the log during replay, one chunk at a time. */
struct wal_reader {
	int fd;
	uint64_t size;
	uint8_t *buf;
	size_t cap;
	uint64_t start; /* file offset of buf[0] */
	size_t len;
};

/* Completion of one wal_append_sync(). */
struct wal_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void
put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static bool
record_valid(uint8_t type, const void *payload, uint32_t len)
{
	return type != 0 && len <= WAL_MAX_RECORD - 1 &&
	       (len == 0 || payload != NULL);
}

static uint32_t
record_crc(uint8_t type, const void *payload, uint32_t len)
{
	return crc32c(crc32c(0, &type, 1), payload, len);
}

static size_t
record_size(uint32_t len)
{
	return WAL_HEADER + 1 + (size_t)len;
}

/* Lay out one record at dst, which has record_size(len) bytes. */
static void
record_put(uint8_t *dst, uint32_t crc, uint8_t type, const void *payload,
           uint32_t len)
{
	put_u32le(dst, len + 1);
	put_u32le(dst + 4, crc);
	dst[WAL_HEADER] = type;
	if (len > 0)
		memcpy(dst + WAL_HEADER + 1, payload, len);
}

static int
buf_reserve(struct wal_buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (b->len + extra <= b->cap)
		return 0;
	while (cap < b->len + extra)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

static int
batch_reserve_cb(struct wal_batch *b)
{
	size_t cap = b->cbcap ? b->cbcap * 2 : 64;
	struct wal_cb *p;

	if (b->ncbs < b->cbcap)
		return 0;
	if ((p = realloc(b->cbs, cap * sizeof(*p))) == NULL)
		return -1;
	b->cbs = p;
	b->cbcap = cap;
	return 0;
}

static void
batch_reset(struct wal_batch *b)
{
	b->bytes.len = 0;
	b->ncbs = 0;
	b->nrecords = 0;
}

static void
batch_free(struct wal_batch *b)
{
	free(b->bytes.data);
	free(b->cbs);
	memset(b, 0, sizeof(*b));
}

static bool
on_writer(struct wal *w)
{
	return pthread_equal(pthread_self(), w->writer);
}

static int
pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int
pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* We hold the lock: the file cannot shrink under us. */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* A rename or a new file is durable only once its directory is synced. */
static int
fsync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc, saved;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* Never retried: see invariant 3. */
static void
sync_or_die(struct wal *w)
{
	int rc;

	(void)FAILPOINT("wal.before_sync");
	if (FAILPOINT("wal.fsync") == FP_ERROR) {
		errno = EIO;
		rc = -1;
	} else {
		rc = fdatasync(w->fd);
	}
	if (rc != 0)
		xlog_fatal(WAL_EXIT_IO,
		           "%s: fdatasync failed: %s; exiting, the log is "
		           "trusted as it is on restart",
		           w->path, strerror(errno));
	w->unsynced = false;
	(void)FAILPOINT("wal.after_sync");
}

static void
write_or_die(struct wal *w, const struct wal_buf *b)
{
	(void)FAILPOINT("wal.before_write");
	if (pwrite_full(w->fd, b->data, b->len, w->size) != 0)
		xlog_fatal(WAL_EXIT_IO,
		           "%s: write at offset %" PRIu64
		           " failed: %s; exiting, the log is trusted as it "
		           "is on restart",
		           w->path, w->size, strerror(errno));
	w->size += b->len;
	w->unsynced = true;
	(void)FAILPOINT("wal.after_write");
}

/* Write one batch, make it durable if anyone waits on it, then tell them. */
static void
batch_flush(struct wal *w, struct wal_batch *b)
{
	bool sync = b->ncbs > 0;

	if (b->bytes.len == 0)
		return;
	write_or_die(w, &b->bytes);
	if (sync)
		sync_or_die(w);
	pthread_mutex_lock(&w->mu);
	w->stats.records += b->nrecords;
	w->stats.batches++;
	w->stats.syncs += sync;
	w->stats.bytes = w->size;
	pthread_mutex_unlock(&w->mu);
	for (size_t i = 0; i < b->ncbs; i++)
		b->cbs[i].fn(b->cbs[i].arg);
}

static int
emitter_flush(struct wal_emitter *em)
{
	if (pwrite_full(em->fd, em->buf.data, em->buf.len, em->off) != 0) {
		em->why = "write failed";
		em->err_no = errno;
		return -1;
	}
	em->off += em->buf.len;
	em->buf.len = 0;
	return 0;
}

static int
wal_emit(void *emit_ctx, uint8_t type, const void *payload, uint32_t len)
{
	struct wal_emitter *em = emit_ctx;

	if (em->why != NULL)
		return -1;
	if (!record_valid(type, payload, len)) {
		em->why = "snapshot emitted an invalid record (type 0 or too "
		          "long)";
		return -1;
	}
	if (buf_reserve(&em->buf, record_size(len)) != 0) {
		em->why = "out of memory";
		em->err_no = ENOMEM;
		return -1;
	}
	record_put(em->buf.data + em->buf.len, record_crc(type, payload, len),
	           type, payload, len);
	em->buf.len += record_size(len);
	if (em->buf.len >= WAL_EMIT_FLUSH)
		return emitter_flush(em);
	return 0;
}

/* Fill the new file from the snapshot and make it durable. Not yet renamed. */
static int
compact_build(struct wal_emitter *em, struct wal_compact_req *req)
{
	if (flock(em->fd, LOCK_EX | LOCK_NB) != 0) {
		em->why = "cannot lock";
		em->err_no = errno;
		return -1;
	}
	if (req->snapshot(req->arg, wal_emit, em) != 0 && em->why == NULL)
		em->why = "snapshot callback failed";
	if (em->why != NULL || emitter_flush(em) != 0)
		return -1;
	if (fdatasync(em->fd) != 0) {
		em->why = "fdatasync failed";
		em->err_no = errno;
		return -1;
	}
	return 0;
}

static int
compact_fail(struct wal_compact_req *req, const char *path, const char *why,
             int err_no)
{
	snprintf(req->err, req->errlen,
	         "%s: compaction failed: %s%s%s; the log is unchanged", path,
	         why, err_no != 0 ? ": " : "",
	         err_no != 0 ? strerror(err_no) : "");
	return -1;
}

/* Runs on the writer thread with nothing in flight. */
static int
compact_run(struct wal *w, struct wal_compact_req *req)
{
	struct wal_emitter em = {.fd = -1};
	char *tmp;
	int rc;

	if (asprintf(&tmp, "%s%s", w->path, WAL_COMPACT_EXT) < 0)
		return compact_fail(req, w->path, "out of memory", 0);
	em.path = tmp;
	em.fd = open(tmp, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	if (em.fd < 0) {
		em.why = "cannot create";
		em.err_no = errno;
	} else if (compact_build(&em, req) == 0 && rename(tmp, w->path) != 0) {
		em.why = "cannot rename over the log";
		em.err_no = errno;
	}
	free(em.buf.data);
	if (em.why != NULL) {
		rc = compact_fail(req, tmp, em.why, em.err_no);
		if (em.fd >= 0) {
			close(em.fd);
			unlink(tmp);
		}
		free(tmp);
		return rc;
	}
	free(tmp);
	/*
	 * Past the rename: if the directory entry were lost, a restart could
	 * see the old file without the records we are about to append.
	 */
	if (fsync_dir(w->path) != 0)
		xlog_fatal(WAL_EXIT_IO,
		           "%s: fsync of the directory after compaction "
		           "failed: %s; exiting, the log is trusted as it is "
		           "on restart",
		           w->path, strerror(errno));
	close(w->fd);
	w->fd = em.fd;
	w->size = em.off;
	w->unsynced = false;
	pthread_mutex_lock(&w->mu);
	w->stats.syncs++;
	w->stats.bytes = w->size;
	pthread_mutex_unlock(&w->mu);
	xlog_info("%s: compacted to %" PRIu64 " bytes", w->path, w->size);
	return 0;
}

static void *
writer_main(void *arg)
{
	struct wal *w = arg;
	struct wal_batch batch = {0};

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct wal_compact_req *req = w->compact;

		if (req != NULL) {
			pthread_mutex_unlock(&w->mu);
			batch_flush(w, &req->before);
			int rc = compact_run(w, req);
			pthread_mutex_lock(&w->mu);
			req->rc = rc;
			req->done = true;
			w->compact = NULL;
			pthread_cond_broadcast(&w->idle);
		} else if (w->pending.bytes.len > 0) {
			struct wal_batch full = w->pending;

			w->pending = batch;
			batch = full;
			pthread_mutex_unlock(&w->mu);
			batch_flush(w, &batch);
			batch_reset(&batch);
			pthread_mutex_lock(&w->mu);
		} else if (w->closing) {
			break;
		} else {
			pthread_cond_wait(&w->work, &w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	batch_free(&batch);
	return NULL;
}

int
wal_append(struct wal *w, uint8_t type, const void *payload, uint32_t len,
           wal_done_fn done, void *arg)
{
	struct wal_batch *b = &w->pending;
	uint32_t crc;
	int rc = -1;

	if (!record_valid(type, payload, len))
		return -1;
	/* Outside the lock, so that appenders checksum in parallel. */
	crc = record_crc(type, payload, len);
	pthread_mutex_lock(&w->mu);
	if (!w->closing && buf_reserve(&b->bytes, record_size(len)) == 0 &&
	    (done == NULL || batch_reserve_cb(b) == 0)) {
		record_put(b->bytes.data + b->bytes.len, crc, type, payload,
		           len);
		b->bytes.len += record_size(len);
		b->nrecords++;
		if (done != NULL)
			b->cbs[b->ncbs++] = (struct wal_cb){done, arg};
		pthread_cond_signal(&w->work);
		rc = 0;
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void
waiter_done(void *arg)
{
	struct wal_waiter *wt = arg;

	pthread_mutex_lock(&wt->mu);
	wt->done = true;
	pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&wt->mu);
}

int
wal_append_sync(struct wal *w, uint8_t type, const void *payload, uint32_t len)
{
	struct wal_waiter wt = {.done = false};
	int rc;

	if (on_writer(w)) {
		xlog_error("%s: wal_append_sync() from a done callback would "
		           "wait for itself",
		           w->path);
		return -1;
	}
	pthread_mutex_init(&wt.mu, NULL);
	pthread_cond_init(&wt.cv, NULL);
	rc = wal_append(w, type, payload, len, waiter_done, &wt);
	if (rc == 0) {
		pthread_mutex_lock(&wt.mu);
		while (!wt.done)
			pthread_cond_wait(&wt.cv, &wt.mu);
		pthread_mutex_unlock(&wt.mu);
	}
	pthread_cond_destroy(&wt.cv);
	pthread_mutex_destroy(&wt.mu);
	return rc;
}

int
wal_compact(struct wal *w, wal_snapshot_fn snapshot, void *arg, char *err,
            size_t errlen)
{
	struct wal_compact_req req = {
	    .snapshot = snapshot, .arg = arg, .err = err, .errlen = errlen};

	if (on_writer(w)) {
		snprintf(err, errlen,
		         "%s: wal_compact() called from a done callback",
		         w->path);
		return -1;
	}
	pthread_mutex_lock(&w->mu);
	while (w->compact != NULL && !w->closing)
		pthread_cond_wait(&w->idle, &w->mu);
	if (w->closing) {
		pthread_mutex_unlock(&w->mu);
		snprintf(err, errlen, "%s: the log is closing", w->path);
		return -1;
	}
	/* What is queued now belongs to the old file; later appends wait. */
	req.before = w->pending;
	memset(&w->pending, 0, sizeof(w->pending));
	w->compact = &req;
	pthread_cond_signal(&w->work);
	while (!req.done)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
	batch_free(&req.before);
	return req.rc;
}

void
wal_get_stats(struct wal *w, struct wal_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	pthread_mutex_unlock(&w->mu);
}

void
wal_close(struct wal *w)
{
	if (w == NULL)
		return;
	assert(!on_writer(w) && "wal_close() from a done callback");
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->writer, NULL);
	/* A clean shutdown leaves nothing to the torn-tail rules. */
	if (w->unsynced)
		sync_or_die(w);
	close(w->fd);
	batch_free(&w->pending);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w->path);
	free(w);
}

/* ---- wal_open: lock, replay, truncate a torn tail, start the writer ---- */

enum wal_rec_state {
	WAL_REC_OK,      /* valid record */
	WAL_REC_TORN,    /* damage with nothing after it: truncate */
	WAL_REC_CORRUPT, /* damage with data after it: refuse to open */
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Point *out at bytes [off, off + n) of the file; off + n <= size. */
static int
reader_get(struct wal_reader *r, uint64_t off, size_t n, const uint8_t **out)
{
	assert(n > 0 && off + n <= r->size);
	if (off < r->start || off + n > r->start + r->len) {
		size_t want = n > WAL_READ_CHUNK ? n : WAL_READ_CHUNK;

		if (want > r->size - off)
			want = (size_t)(r->size - off);
		if (want > r->cap) {
			uint8_t *p = realloc(r->buf, want);

			if (p == NULL) {
				errno = ENOMEM;
				return -1;
			}
			r->buf = p;
			r->cap = want;
		}
		r->len = 0;
		if (pread_full(r->fd, r->buf, want, off) != 0)
			return -1;
		r->start = off;
		r->len = want;
	}
	*out = r->buf + (off - r->start);
	return 0;
}

/* 1 if every byte from off to the end of the file is zero, 0 if not. */
static int
tail_is_zero(struct wal_reader *r, uint64_t off)
{
	while (off < r->size) {
		size_t n = r->size - off > WAL_READ_CHUNK
		               ? WAL_READ_CHUNK
		               : (size_t)(r->size - off);
		const uint8_t *p;

		if (reader_get(r, off, n, &p) != 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (p[i] != 0)
				return 0;
		off += n;
	}
	return 1;
}

/* 1 if a whole record with a good checksum starts at off. */
static int
good_record_at(struct wal_reader *r, uint64_t off)
{
	const uint8_t *p;
	uint32_t len, crc;

	if (r->size - off < WAL_HEADER + 1)
		return 0;
	if (reader_get(r, off, WAL_HEADER, &p) != 0)
		return -1;
	len = get_u32le(p);
	crc = get_u32le(p + 4);
	if (len == 0 || len > WAL_MAX_RECORD ||
	    len > r->size - off - WAL_HEADER)
		return 0;
	if (reader_get(r, off + WAL_HEADER, len, &p) != 0)
		return -1;
	return crc32c(0, p, len) == crc;
}

/*
 * A damaged record whose bytes run to the end of the file (or into zeros up
 * to it) looks torn, but if a good record starts inside its extent, the
 * damage is really in the middle (say, a flipped bit in a length), and
 * truncating would drop that record. Past `to` the file is zeros or ends,
 * where no record can start.
 */
static int
later_record(struct wal_reader *r, uint64_t from, uint64_t to, uint64_t *at)
{
	for (uint64_t off = from; off < to; off++) {
		int rc = good_record_at(r, off);

		if (rc != 0) {
			*at = off;
			return rc;
		}
	}
	return 0;
}

static int
torn_unless_later(struct wal_reader *r, uint64_t off, uint64_t end, char *why,
                  size_t whylen, enum wal_rec_state *state)
{
	uint64_t at = 0;
	int rc = later_record(r, off + WAL_HEADER, end, &at);
	size_t used = strlen(why);

	if (rc < 0)
		return -1;
	*state = rc ? WAL_REC_CORRUPT : WAL_REC_TORN;
	if (rc)
		snprintf(why + used, whylen - used,
		         ", but a valid record follows at offset %" PRIu64, at);
	return 0;
}

/*
 * Look at the record at off. On WAL_REC_OK, *rec points at its type and
 * *len is the length of type + payload; otherwise why says what is wrong.
 */
static int
examine(struct wal_reader *r, uint64_t off, const uint8_t **rec, uint32_t *len,
        char *why, size_t whylen, enum wal_rec_state *state)
{
	uint64_t left = r->size - off;
	const uint8_t *p;
	uint32_t crc;
	int zero;

	*state = WAL_REC_TORN;
	if (left < WAL_HEADER) {
		snprintf(why, whylen, "record header cut short");
		return 0;
	}
	if (reader_get(r, off, WAL_HEADER, &p) != 0)
		return -1;
	*len = get_u32le(p);
	crc = get_u32le(p + 4);
	if (*len == 0 || *len > WAL_MAX_RECORD) {
		snprintf(why, whylen, "bad length %" PRIu32, *len);
		if ((zero = tail_is_zero(r, off + WAL_HEADER)) < 0)
			return -1;
		*state = zero ? WAL_REC_TORN : WAL_REC_CORRUPT;
		return 0;
	}
	if (*len > left - WAL_HEADER) {
		snprintf(why, whylen,
		         "length %" PRIu32 " runs past end of file", *len);
		return torn_unless_later(r, off, r->size, why, whylen, state);
	}
	if (reader_get(r, off + WAL_HEADER, *len, rec) != 0)
		return -1;
	if (crc32c(0, *rec, *len) == crc) {
		*state = WAL_REC_OK;
		return 0;
	}
	snprintf(why, whylen, "bad checksum");
	if ((zero = tail_is_zero(r, off + WAL_HEADER + *len)) < 0)
		return -1;
	if (!zero) {
		*state = WAL_REC_CORRUPT;
		return 0;
	}
	return torn_unless_later(r, off, off + WAL_HEADER + *len, why, whylen,
	                         state);
}

static int
truncate_tail(struct wal *w, uint64_t off, uint64_t size, const char *why,
              char *err, size_t errlen)
{
	xlog_warn("%s: torn tail at offset %" PRIu64
	          " (%s): truncating, %" PRIu64 " bytes dropped",
	          w->path, off, why, size - off);
	if (ftruncate(w->fd, (off_t)off) != 0 || fsync(w->fd) != 0)
		return fail(
		    err, errlen,
		    "%s: cannot truncate the torn tail at offset %" PRIu64
		    ": %s",
		    w->path, off, strerror(errno));
	return 0;
}

static int
deliver(struct wal *w, wal_replay_fn fn, void *arg, uint64_t off,
        const uint8_t *rec, uint32_t len, char *err, size_t errlen)
{
	int cb = fn == NULL ? 0 : fn(arg, rec[0], rec + 1, len - 1);

	if (cb == 0)
		return 0;
	return fail(err, errlen,
	            "%s: replay of the record at offset %" PRIu64
	            " failed (callback returned %d)",
	            w->path, off, cb);
}

/* Replay every good record; leaves w->size at the end of the last one. */
static int
replay(struct wal *w, wal_replay_fn fn, void *arg, char *err, size_t errlen)
{
	struct wal_reader r = {.fd = w->fd};
	enum wal_rec_state state = WAL_REC_OK;
	struct stat st;
	char why[160] = "";
	uint64_t off = 0;
	int rc = 0;

	if (fstat(w->fd, &st) != 0)
		return fail(err, errlen, "%s: cannot stat: %s", w->path,
		            strerror(errno));
	r.size = (uint64_t)st.st_size;
	while (rc == 0 && state == WAL_REC_OK && off < r.size) {
		const uint8_t *rec = NULL;
		uint32_t len = 0;

		if (examine(&r, off, &rec, &len, why, sizeof(why), &state)) {
			rc = fail(err, errlen,
			          "%s: read at offset %" PRIu64 " failed: %s",
			          w->path, off, strerror(errno));
		} else if (state == WAL_REC_OK) {
			rc = deliver(w, fn, arg, off, rec, len, err, errlen);
			off += rc == 0 ? WAL_HEADER + len : 0;
		}
	}
	free(r.buf);
	if (rc == 0 && state == WAL_REC_CORRUPT)
		rc =
		    fail(err, errlen,
		         "%s: corrupt record at offset %" PRIu64
		         " (%s); refusing to start: the log may hold decisions "
		         "after it. Inspect or restore the file.",
		         w->path, off, why);
	if (rc == 0 && state == WAL_REC_TORN)
		rc = truncate_tail(w, off, r.size, why, err, errlen);
	w->size = off;
	return rc;
}

static int
open_locked(struct wal *w, char *err, size_t errlen)
{
	struct stat st;

	w->fd = open(w->path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return fail(err, errlen, "%s: cannot open: %s", w->path,
		            strerror(errno));
	if (flock(w->fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return fail(err, errlen,
			            "%s: locked by another process (is another "
			            "coordinator running on this log?)",
			            w->path);
		return fail(err, errlen, "%s: cannot lock: %s", w->path,
		            strerror(errno));
	}
	if (fstat(w->fd, &st) != 0)
		return fail(err, errlen, "%s: cannot stat: %s", w->path,
		            strerror(errno));
	/* A new file must not vanish with the records later put in it. */
	if (st.st_size == 0 && fsync_dir(w->path) != 0)
		return fail(err, errlen, "%s: cannot fsync its directory: %s",
		            w->path, strerror(errno));
	/*
	 * Replay must act only on what is on disk. After a failed fsync
	 * (the last life exited on it) the page cache may still hold pages
	 * that never reached the disk, now marked clean; a new fsync would
	 * succeed. So sync what is dirty, then drop the cached pages, and
	 * read the file from the disk.
	 */
	if (fdatasync(w->fd) != 0)
		return fail(err, errlen, "%s: fdatasync before replay: %s",
		            w->path, strerror(errno));
	(void)posix_fadvise(w->fd, 0, 0, POSIX_FADV_DONTNEED);
	return 0;
}

static int
start_writer(struct wal *w, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	/* Signals go to the daemon's own threads, never mid-fsync here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->writer, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		return 0;
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	return fail(err, errlen, "%s: cannot start the writer thread: %s",
	            w->path, strerror(rc));
}

int
wal_open(const char *path, wal_replay_fn fn, void *arg, struct wal **out,
         char *err, size_t errlen)
{
	struct wal *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL || (w->path = strdup(path)) == NULL) {
		free(w);
		return fail(err, errlen, "%s: out of memory", path);
	}
	w->fd = -1;
	if (open_locked(w, err, errlen) == 0 &&
	    replay(w, fn, arg, err, errlen) == 0) {
		w->stats.bytes = w->size;
		if (start_writer(w, err, errlen) == 0) {
			*out = w;
			return 0;
		}
	}
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w);
	return -1;
}

int
wal_snap_add(struct wal_snap *s, uint8_t type, const void *payload,
             uint32_t len)
{
	size_t need = s->len + 5 + len;

	if (s->rc != 0)
		return -1;
	if (need > s->cap) {
		size_t cap = s->cap != 0 ? s->cap : 64 * 1024;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(s->buf, cap)) == NULL)
			return s->rc = -1;
		s->buf = p;
		s->cap = cap;
	}
	s->buf[s->len] = type;
	memcpy(s->buf + s->len + 1, &len, 4);
	memcpy(s->buf + s->len + 5, payload, len);
	s->len = need;
	return 0;
}

int
wal_snap_emit(struct wal_snap *s, wal_emit_fn emit, void *emit_ctx)
{
	uint32_t len;

	for (size_t off = 0; s->rc == 0 && off < s->len; off += 5 + len) {
		memcpy(&len, s->buf + off + 1, 4);
		s->rc = emit(emit_ctx, s->buf[off], s->buf + off + 5, len);
	}
	return s->rc;
}

void
wal_snap_free(struct wal_snap *s)
{
	free(s->buf);
	*s = (struct wal_snap){0};
}
