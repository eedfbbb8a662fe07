/*
 * wal: an append-only file of checksummed records with group commit.
 *
 * This is the storage under the coordinator's decision log (and later the
 * participant's own log). It knows nothing of what records mean.
 *
 * On disk each record is
 *
 *   u32 length      bytes of type + payload (little endian)
 *   u32 crc32c      of type + payload
 *   u8  type        caller's record type, 1..255
 *   ... payload
 *
 * Durability: wal_append() queues a record and returns at once. One writer
 * thread takes everything queued, write()s it as one batch, calls
 * fdatasync() once for the batch when any record in it asked to be durable,
 * and then runs the batch's completion callbacks in order. Concurrent
 * commits therefore share one fdatasync (group commit).
 *
 * An fdatasync (or write) error is fatal: the writer logs it and the process
 * _exit()s with WAL_EXIT_IO at once. It never retries, because after a failed
 * fsync the kernel may have dropped the dirty pages and a second fsync can
 * report success with the data gone. On restart the log is believed as it is.
 *
 * Recovery (wal_open): records are replayed in order. A torn tail (a record
 * cut short at end of file, a bad checksum on the very last record, or a
 * zero-filled tail) is truncated away with a warning. A bad record followed
 * by more data is corruption in the middle: wal_open refuses to open the log
 * and says at which offset, because guessing could lose a decision.
 *
 * The log file is locked (flock) while open: a second process opening the
 * same log fails with a clear message.
 */
#ifndef XACT_WAL_H
#define XACT_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_EXIT_IO    75 /* process exit code after a write/fsync error */
#define WAL_MAX_RECORD (1u << 20) /* largest payload + 1 accepted */

struct wal;

/* Called once per valid record during wal_open(). Return 0 to go on. */
typedef int (*wal_replay_fn)(void *arg, uint8_t type, const void *payload,
                             uint32_t len);

/* Called on the writer thread once the record is on disk (after fsync). */
typedef void (*wal_done_fn)(void *arg);

struct wal_stats {
	uint64_t records; /* records written since open */
	uint64_t batches; /* write() batches */
	uint64_t syncs;   /* fdatasync() calls */
	uint64_t bytes;   /* current file size */
};

/*
 * Open (creating if needed) the log at path, replay it through fn, truncate a
 * torn tail, lock the file, and start the writer thread. Returns 0, or -1
 * with a one-line reason in err (corruption in the middle, locked by another
 * process, I/O error, replay callback failure).
 */
int wal_open(const char *path, wal_replay_fn fn, void *arg, struct wal **out,
             char *err, size_t errlen);

/*
 * Queue a record. If done is not NULL, the record is durable (fdatasync'd)
 * before done(arg) runs on the writer thread; if done is NULL the record is
 * written with the next batch but need not be synced by itself.
 * The payload is copied. Returns 0, or -1 if len is too large or the log is
 * closing. Never blocks on I/O.
 */
int wal_append(struct wal *w, uint8_t type, const void *payload, uint32_t len,
               wal_done_fn done, void *arg);

/* Queue a durable record and wait until it is on disk. */
int wal_append_sync(struct wal *w, uint8_t type, const void *payload,
                    uint32_t len);

/*
 * Compaction. emit() writes one record into the new file being built.
 * The snapshot callback receives emit and emit_ctx and must emit every
 * record that is still needed. It runs on the writer thread between batches,
 * after every earlier record's done() has run, while new appends wait.
 * The new file is fdatasync'd, renamed over the old one and the directory is
 * fsync'd before appends resume on it. Returns 0 or -1 with err.
 */
typedef int (*wal_emit_fn)(void *emit_ctx, uint8_t type, const void *payload,
                           uint32_t len);
typedef int (*wal_snapshot_fn)(void *arg, wal_emit_fn emit, void *emit_ctx);
int wal_compact(struct wal *w, wal_snapshot_fn snapshot, void *arg, char *err,
                size_t errlen);

/*
 * A snapshot gathered in memory, so that it can be taken under the
 * owner's lock and emitted after the lock is released. Zero-initialise;
 * after the first error every call fails and emit returns -1.
 */
struct wal_snap {
	uint8_t *buf; /* records as type(1) len(4, host order) payload */
	size_t len, cap;
	int rc;
};
int wal_snap_add(struct wal_snap *s, uint8_t type, const void *payload,
                 uint32_t len);
int wal_snap_emit(struct wal_snap *s, wal_emit_fn emit, void *emit_ctx);
void wal_snap_free(struct wal_snap *s);

void wal_get_stats(struct wal *w, struct wal_stats *out);

/* Write out and sync everything queued, stop the writer, unlock, free. */
void wal_close(struct wal *w);

#endif
