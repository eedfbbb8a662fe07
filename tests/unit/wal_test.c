#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "failpoint.h"
#include "log.h"
#include "wal.h"

#define REC_HEADER 9 /* u32 length, u32 crc, u8 type */
#define MAX_SEEN   4096

/* Each Criterion test runs in its own process: these are per test. */
static char dir[64];
static char path[128];
static char compact_path[160];
static char err[512];

struct seen {
	size_t n;
	uint8_t type[MAX_SEEN];
	uint32_t len[MAX_SEEN];
	char *payload[MAX_SEEN];
	int fail_at; /* return an error on this record (1-based); 0: never */
};

static struct seen seen;

static void
setup(void)
{
	xlog_init("wal_test", XLOG_ERROR);
	strcpy(dir, "/tmp/wal_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/decisions.log", dir);
	snprintf(compact_path, sizeof(compact_path), "%s.compact", path);
	memset(&seen, 0, sizeof(seen));
}

static void
seen_clear(void)
{
	for (size_t i = 0; i < seen.n; i++)
		free(seen.payload[i]);
	seen.n = 0;
}

static void
teardown(void)
{
	seen_clear();
	unlink(path);
	unlink(compact_path);
	rmdir(dir);
}

TestSuite(wal, .init = setup, .fini = teardown, .timeout = 60);

static int
collect(void *arg, uint8_t type, const void *payload, uint32_t len)
{
	struct seen *s = arg;
	char *copy = malloc(len + 1);

	cr_assert_not_null(copy);
	cr_assert_lt(s->n, MAX_SEEN);
	memcpy(copy, payload, len);
	copy[len] = '\0';
	s->type[s->n] = type;
	s->len[s->n] = len;
	s->payload[s->n] = copy;
	s->n++;
	return s->fail_at != 0 && s->n == (size_t)s->fail_at ? 7 : 0;
}

static struct wal *
open_ok(void)
{
	struct wal *w = NULL;

	seen_clear();
	cr_assert_eq(wal_open(path, collect, &seen, &w, err, sizeof(err)), 0,
	             "wal_open: %s", err);
	cr_assert_not_null(w);
	return w;
}

static void
open_fails(void)
{
	struct wal *w = (struct wal *)1;

	seen_clear();
	err[0] = '\0';
	cr_assert_eq(wal_open(path, collect, &seen, &w, err, sizeof(err)), -1,
	             "wal_open should fail");
	cr_assert_null(w);
	cr_assert_neq(err[0], '\0');
}

static off_t
file_size(const char *p)
{
	struct stat st;

	cr_assert_eq(stat(p, &st), 0);
	return st.st_size;
}

static void
poke(off_t off, const void *bytes, size_t n)
{
	int fd = open(path, O_WRONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, bytes, n, off), (ssize_t)n);
	close(fd);
}

static void
flip_byte(off_t off)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void
append_str(struct wal *w, uint8_t type, const char *s)
{
	cr_assert_eq(wal_append_sync(w, type, s, (uint32_t)strlen(s)), 0);
}

static void
assert_seen(size_t i, uint8_t type, const char *payload)
{
	cr_assert_gt(seen.n, i, "record %zu missing", i);
	cr_assert_eq(seen.type[i], type, "record %zu type", i);
	cr_assert_eq(seen.len[i], strlen(payload), "record %zu length", i);
	cr_assert_str_eq(seen.payload[i], payload, "record %zu", i);
}

/* Three records; their offsets are 0, 14 and 29, the file is 45 bytes. */
static const char *const three[] = {"alpha", "bravo2", "charlie"};
#define OFF2      ((off_t)(REC_HEADER + 5))
#define OFF3      (OFF2 + REC_HEADER + 6)
#define THREE_END (OFF3 + REC_HEADER + 7)

static void
write_three(void)
{
	struct wal *w = open_ok();

	for (int i = 0; i < 3; i++)
		append_str(w, (uint8_t)(i + 1), three[i]);
	wal_close(w);
	cr_assert_eq(file_size(path), THREE_END);
}

Test(wal, replays_records_in_order)
{
	static char big[WAL_MAX_RECORD - 1];
	struct wal_stats st;
	struct wal *w = open_ok();

	cr_assert_eq(seen.n, 0);
	memset(big, 'b', sizeof(big));
	append_str(w, 1, "first");
	cr_assert_eq(wal_append_sync(w, 255, NULL, 0), 0);
	cr_assert_eq(wal_append_sync(w, 42, big, sizeof(big)), 0);
	append_str(w, 2, "last");
	wal_get_stats(w, &st);
	cr_assert_eq(st.records, 4);
	cr_assert_eq(st.bytes, (uint64_t)file_size(path));
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, 4);
	assert_seen(0, 1, "first");
	assert_seen(1, 255, "");
	cr_assert_eq(seen.type[2], 42);
	cr_assert_eq(seen.len[2], sizeof(big));
	cr_assert_eq(memcmp(seen.payload[2], big, sizeof(big)), 0);
	assert_seen(3, 2, "last");
	wal_get_stats(w, &st);
	cr_assert_eq(st.records, 0, "records counts appends since open");
	cr_assert_eq(st.bytes, (uint64_t)file_size(path));
	wal_close(w);
}

Test(wal, rejects_invalid_records)
{
	static char big[WAL_MAX_RECORD];
	struct wal *w = open_ok();

	cr_assert_eq(wal_append(w, 0, "x", 1, NULL, NULL), -1, "type 0");
	cr_assert_eq(wal_append(w, 1, big, sizeof(big), NULL, NULL), -1);
	cr_assert_eq(wal_append(w, 1, NULL, 3, NULL, NULL), -1);
	cr_assert_eq(wal_append_sync(w, 1, big, UINT32_MAX), -1);
	wal_close(w);
	cr_assert_eq(file_size(path), 0);
}

struct appender {
	struct wal *w;
	int id;
};

#define THREADS    8
#define PER_THREAD 200

static void *
append_many(void *arg)
{
	struct appender *a = arg;
	char buf[32];

	for (int i = 0; i < PER_THREAD; i++) {
		int n = snprintf(buf, sizeof(buf), "%d:%d", a->id, i);

		cr_assert_eq(wal_append_sync(a->w, (uint8_t)(a->id + 1), buf,
		                             (uint32_t)n),
		             0);
	}
	return NULL;
}

Test(wal, concurrent_appends_share_fsyncs)
{
	pthread_t th[THREADS];
	struct appender a[THREADS];
	int next[THREADS] = {0};
	struct wal_stats st;
	struct wal *w = open_ok();

	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct appender){w, i};
		cr_assert_eq(pthread_create(&th[i], NULL, append_many, &a[i]),
		             0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	wal_get_stats(w, &st);
	cr_assert_eq(st.records, THREADS * PER_THREAD);
	cr_assert_geq(st.syncs, 1);
	cr_assert_lt(st.syncs, st.records, "no group commit: %llu syncs",
	             (unsigned long long)st.syncs);
	cr_assert_leq(st.syncs, st.batches);
	cr_assert_eq(st.bytes, (uint64_t)file_size(path));
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, THREADS * PER_THREAD);
	/* Each thread's records come back in the order it wrote them. */
	for (size_t i = 0; i < seen.n; i++) {
		int id, seq;

		cr_assert_eq(sscanf(seen.payload[i], "%d:%d", &id, &seq), 2);
		cr_assert_eq(seen.type[i], id + 1);
		cr_assert_eq(seq, next[id]++, "thread %d out of order", id);
	}
	wal_close(w);
}

struct order {
	struct wal *w;
	int ran[64];
	atomic_int n;
	uint64_t syncs_seen[64];
};

struct order_arg {
	struct order *o;
	int i;
};

static void
note_done(void *arg)
{
	struct order_arg *oa = arg;
	struct wal_stats st;
	int k = atomic_fetch_add(&oa->o->n, 1);

	wal_get_stats(oa->o->w, &st);
	oa->o->ran[k] = oa->i;
	oa->o->syncs_seen[k] = st.syncs;
}

Test(wal, done_callbacks_run_in_order_after_sync)
{
	static struct order o;
	struct order_arg args[64];
	struct wal *w = open_ok();

	o.w = w;
	for (int i = 0; i < 64; i++) {
		args[i] = (struct order_arg){&o, i};
		cr_assert_eq(wal_append(w, 3, "d", 1, note_done, &args[i]), 0);
	}
	append_str(w, 4, "barrier");
	cr_assert_eq(atomic_load(&o.n), 64);
	for (int i = 0; i < 64; i++) {
		cr_assert_eq(o.ran[i], i);
		cr_assert_geq(o.syncs_seen[i], 1, "done before any fsync");
	}
	wal_close(w);
}

Test(wal, nondurable_records_written_on_close)
{
	struct wal_stats st;
	char buf[16];
	struct wal *w = open_ok();

	for (int i = 0; i < 100; i++) {
		int n = snprintf(buf, sizeof(buf), "nd%d", i);

		cr_assert_eq(wal_append(w, 5, buf, (uint32_t)n, NULL, NULL), 0);
	}
	wal_get_stats(w, &st);
	cr_assert_eq(st.syncs, 0, "nobody asked for durability");
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, 100);
	for (int i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "nd%d", i);
		assert_seen((size_t)i, 5, buf);
	}
	wal_close(w);
}

struct reentry {
	struct wal *w;
	int sync_rc;
};

static void
append_from_callback(void *arg)
{
	struct reentry *r = arg;

	r->sync_rc = wal_append_sync(r->w, 9, "deadlock", 8);
	cr_assert_eq(wal_append(r->w, 8, "follow-up", 9, NULL, NULL), 0);
}

Test(wal, done_callback_may_append)
{
	struct reentry r = {.sync_rc = 0};
	struct wal *w = open_ok();

	r.w = w;
	cr_assert_eq(wal_append(w, 7, "first", 5, append_from_callback, &r), 0);
	append_str(w, 6, "second");
	cr_assert_eq(r.sync_rc, -1, "a sync append on the writer deadlocks");
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, 3);
	assert_seen(0, 7, "first");
	/* "second" may have been queued before the callback ran, or after. */
	if (seen.type[1] == 8) {
		assert_seen(1, 8, "follow-up");
		assert_seen(2, 6, "second");
	} else {
		assert_seen(1, 6, "second");
		assert_seen(2, 8, "follow-up");
	}
	wal_close(w);
}

/* Reopen a damaged log: the first `good` records survive, then append. */
static void
assert_torn_recovery(size_t good, off_t good_end)
{
	struct wal *w = open_ok();

	cr_assert_eq(seen.n, good);
	for (size_t i = 0; i < good; i++)
		assert_seen(i, (uint8_t)(i + 1), three[i]);
	cr_assert_eq(file_size(path), good_end, "torn tail not truncated");
	append_str(w, 9, "after");
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, good + 1);
	assert_seen(good, 9, "after");
	wal_close(w);
}

Test(wal, torn_tail_cut_mid_record)
{
	write_three();
	cr_assert_eq(truncate(path, THREE_END - 3), 0);
	assert_torn_recovery(2, OFF3);
}

Test(wal, torn_tail_cut_mid_header)
{
	write_three();
	cr_assert_eq(truncate(path, OFF3 + 5), 0);
	assert_torn_recovery(2, OFF3);
}

Test(wal, torn_tail_cut_after_length)
{
	write_three();
	cr_assert_eq(truncate(path, OFF3 + 8), 0);
	assert_torn_recovery(2, OFF3);
}

Test(wal, torn_tail_bad_checksum_on_last_record)
{
	write_three();
	flip_byte(THREE_END - 2);
	assert_torn_recovery(2, OFF3);
}

Test(wal, torn_tail_zeroed_payload_of_last_record)
{
	static const char zeros[7];

	write_three();
	poke(OFF3 + REC_HEADER, zeros, sizeof(zeros));
	assert_torn_recovery(2, OFF3);
}

Test(wal, torn_tail_bad_checksum_then_zeros)
{
	static const char zeros[600];

	write_three();
	flip_byte(OFF3 + REC_HEADER + 3);
	poke(THREE_END, zeros, sizeof(zeros));
	assert_torn_recovery(2, OFF3);
}

Test(wal, torn_tail_zero_fill)
{
	static const char zeros[4096];

	write_three();
	poke(THREE_END, zeros, sizeof(zeros));
	assert_torn_recovery(3, THREE_END);
}

Test(wal, torn_tail_garbage_header_at_end)
{
	static const unsigned char hdr[8] = {0xff, 0xff, 0xff, 0xff,
	                                     1,    2,    3,    4};

	write_three();
	poke(THREE_END, hdr, sizeof(hdr));
	assert_torn_recovery(3, THREE_END);
}

static void
assert_corrupt_at(const char *offset_text)
{
	open_fails();
	cr_assert_not_null(strstr(err, "corrupt"), "err: %s", err);
	cr_assert_not_null(strstr(err, offset_text), "err: %s", err);
	cr_assert_not_null(strstr(err, path), "err: %s", err);
	cr_assert_eq(file_size(path), THREE_END, "a corrupt log was modified");
}

Test(wal, corruption_in_first_record_refuses)
{
	write_three();
	flip_byte(REC_HEADER + 1);
	assert_corrupt_at("at offset 0 ");
	cr_assert_eq(seen.n, 0);
}

Test(wal, corruption_in_middle_record_refuses)
{
	write_three();
	flip_byte(OFF2 + REC_HEADER);
	assert_corrupt_at("at offset 14 ");
	cr_assert_eq(seen.n, 1, "records before the damage are replayed");
}

Test(wal, bad_length_in_middle_refuses)
{
	static const unsigned char zero_len[4];

	write_three();
	poke(OFF2, zero_len, sizeof(zero_len));
	assert_corrupt_at("at offset 14 ");
}

/* A flipped high bit in a length makes a record seem to run past EOF. */
Test(wal, length_past_eof_with_records_after_refuses)
{
	write_three();
	flip_byte(1);
	assert_corrupt_at("at offset 0 ");
	cr_assert_not_null(strstr(err, "valid record follows at offset 14"),
	                   "err: %s", err);
}

Test(wal, second_open_is_locked)
{
	struct wal *w = open_ok();
	struct wal *again = NULL;

	cr_assert_eq(wal_open(path, NULL, NULL, &again, err, sizeof(err)), -1);
	cr_assert_null(again);
	cr_assert_not_null(strstr(err, "locked"), "err: %s", err);
	cr_assert_not_null(strstr(err, path), "err: %s", err);
	wal_close(w);
	w = open_ok();
	wal_close(w);
}

Test(wal, replay_callback_error_fails_open)
{
	write_three();
	seen_clear();
	seen.fail_at = 2;
	cr_assert_eq(wal_open(path, collect, &seen, &(struct wal *){NULL}, err,
	                      sizeof(err)),
	             -1);
	cr_assert_not_null(strstr(err, "offset 14"), "err: %s", err);
	cr_assert_not_null(strstr(err, "callback"), "err: %s", err);
	seen.fail_at = 0;
	struct wal *w = open_ok();
	cr_assert_eq(seen.n, 3, "the lock was released and nothing truncated");
	wal_close(w);
}

struct snap {
	struct wal *w;
	int nemit;
	bool append_meanwhile;
	bool fail;
	bool bad_emit;
};

static int
snapshot(void *arg, wal_emit_fn emit, void *emit_ctx)
{
	struct snap *s = arg;
	char buf[16];

	if (s->append_meanwhile)
		cr_assert_eq(wal_append(s->w, 30, "meanwhile", 9, NULL, NULL),
		             0);
	if (s->fail)
		return -1;
	if (s->bad_emit) {
		/* Ignoring the refusal must not yield a log that lacks it. */
		cr_assert_eq(emit(emit_ctx, 0, "x", 1), -1);
		cr_assert_eq(emit(emit_ctx, 20, "x", 1), -1);
		return 0;
	}
	for (int i = 0; i < s->nemit; i++) {
		int n = snprintf(buf, sizeof(buf), "snap%d", i);

		if (emit(emit_ctx, 20, buf, (uint32_t)n) != 0)
			return -1;
	}
	return 0;
}

Test(wal, compaction_keeps_only_the_snapshot)
{
	struct snap s = {.nemit = 2};
	struct wal_stats st;
	struct wal *w = open_ok();
	struct wal *again = NULL;

	s.w = w;
	for (int i = 0; i < 10; i++)
		append_str(w, 1, "old");
	cr_assert_eq(wal_append(w, 2, "queued", 6, NULL, NULL), 0);
	cr_assert_eq(wal_compact(w, snapshot, &s, err, sizeof(err)), 0,
	             "compact: %s", err);
	wal_get_stats(w, &st);
	cr_assert_eq(st.bytes, 2 * (REC_HEADER + 5));
	cr_assert_eq(file_size(path), 2 * (REC_HEADER + 5));
	cr_assert_eq(access(compact_path, F_OK), -1);
	/* The lock moved to the new file along with the name. */
	cr_assert_eq(wal_open(path, NULL, NULL, &again, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "locked"), "err: %s", err);
	append_str(w, 3, "after");
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, 3);
	assert_seen(0, 20, "snap0");
	assert_seen(1, 20, "snap1");
	assert_seen(2, 3, "after");
	wal_close(w);
}

Test(wal, appends_during_compaction_go_to_new_file)
{
	struct snap s = {.nemit = 1, .append_meanwhile = true};
	struct wal *w = open_ok();

	s.w = w;
	append_str(w, 1, "old");
	cr_assert_eq(wal_compact(w, snapshot, &s, err, sizeof(err)), 0,
	             "compact: %s", err);
	append_str(w, 3, "after");
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, 3);
	assert_seen(0, 20, "snap0");
	assert_seen(1, 30, "meanwhile");
	assert_seen(2, 3, "after");
	wal_close(w);
}

static void
check_failed_compaction(struct snap s)
{
	struct wal *w = open_ok();

	s.w = w;
	append_str(w, 1, "kept");
	cr_assert_eq(wal_compact(w, snapshot, &s, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "compaction failed"), "err: %s", err);
	cr_assert_eq(access(compact_path, F_OK), -1);
	append_str(w, 2, "still");
	wal_close(w);

	w = open_ok();
	cr_assert_eq(seen.n, 2);
	assert_seen(0, 1, "kept");
	assert_seen(1, 2, "still");
	wal_close(w);
}

Test(wal, failed_compaction_leaves_log_alone)
{
	check_failed_compaction((struct snap){.nemit = 1, .fail = true});
}

Test(wal, invalid_emit_fails_compaction)
{
	check_failed_compaction((struct snap){.nemit = 1, .bad_emit = true});
}

/* Run fn in a child with the failpoints armed; return its exit status. */
static int
run_child(const char *failpoints, void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char fperr[256];

		/* No cr_assert here: only the exit status speaks. */
		if (fp_configure(failpoints, fperr, sizeof(fperr)) != 0)
			_exit(101);
		fn();
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died of a signal");
	return WEXITSTATUS(status);
}

static void
child_appends_durable(void)
{
	struct wal *w;
	char e[512];

	if (wal_open(path, NULL, NULL, &w, e, sizeof(e)) != 0)
		_exit(102);
	if (wal_append_sync(w, 4, "decided", 7) != 0)
		_exit(103);
	_exit(0); /* the failpoint should have ended us before this */
}

Test(wal, fsync_error_exits_without_retry)
{
	write_three();
	cr_assert_eq(run_child("wal.fsync=error", child_appends_durable),
	             WAL_EXIT_IO);
	/* On restart the log is believed as it is. */
	struct wal *w = open_ok();
	cr_assert_geq(seen.n, 3);
	wal_close(w);
}

Test(wal, crash_after_sync_keeps_record)
{
	write_three();
	cr_assert_eq(run_child("wal.after_sync=crash", child_appends_durable),
	             FP_CRASH_EXIT);
	struct wal *w = open_ok();
	cr_assert_eq(seen.n, 4);
	assert_seen(3, 4, "decided");
	wal_close(w);
}
