/*
 * dlog: the coordinator's decision log, on top of lib/wal.
 *
 * Records: INCARNATION(n) forced at every start; COMMIT(gid, participants)
 * forced before any COMMIT is sent (the commit point); END(gid) not forced,
 * once every participant acked. Presumed abort: aborts are never logged.
 * An operator's decision where the log has none is HEURISTIC(gid, commit or
 * abort, participants, who, why), forced. A new log starts at an
 * incarnation from the wall clock (ms), so that gids of a lost or replaced
 * log are never taken for its own.
 * 3PC adds PRECOMMIT(gid, participants), forced before any PRE-COMMIT is
 * sent; END after PRECOMMIT without COMMIT records that the participants
 * aborted.
 *
 * In memory it keeps the set of durable COMMIT records: the open ones (no
 * END yet, to be finished after a restart) and the most recent ended ones,
 * so that a client asking for an outcome gets the truth. A gid whose record
 * was dropped by that retention is reported as forgotten, never guessed.
 */
#ifndef XACT_DLOG_H
#define XACT_DLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

struct dlog;

#define DLOG_MAX_NAMES 255 /* participants in one COMMIT record */
#define DLOG_WHO_MAX   65  /* bytes of a heuristic's operator, with NUL */
#define DLOG_WHY_MAX   257 /* bytes of its reason, with NUL */

enum dlog_answer {
	DLOG_COMMITTED,    /* a durable COMMIT record exists */
	DLOG_NONE,         /* no record: presumed abort if not in flight */
	DLOG_FORGOTTEN,    /* older than what the log retains */
	DLOG_PRECOMMITTED, /* 3PC: PRECOMMIT without COMMIT: in doubt */
	DLOG_ABORTED,      /* an operator decided abort (HEURISTIC) */
};

struct dlog_stats {
	uint64_t incarnation;
	uint64_t open;  /* COMMIT without END */
	uint64_t ended; /* retained ended commits */
	struct wal_stats wal;
};

/*
 * Open dir/decision.log, replay it, and make a new incarnation durable.
 * retain_ended bounds the ended commits kept for outcome queries.
 */
int dlog_open(const char *dir, const char *node, uint64_t retain_ended,
              struct dlog **out, char *err, size_t errlen);

uint64_t dlog_incarnation(const struct dlog *d);

/* The log's first incarnation (the wall clock in ms when it began), or 0
 * for a log from before GENESIS (which counted from 1). */
uint64_t dlog_genesis(const struct dlog *d);

/*
 * True if this log issued gid: its node, an incarnation between genesis
 * and now. Only then may an absent record mean presumed abort.
 */
bool dlog_issued(struct dlog *d, const char *gid);

/*
 * Visit each COMMIT without END (at start, to finish phase 2). fn runs
 * without the log's lock held. Returns 0, or -1 when out of memory.
 */
int dlog_foreach_open(struct dlog *d,
                      void (*fn)(void *arg, const char *gid,
                                 const char *const *names, size_t n),
                      void *arg);

/*
 * Queue a forced COMMIT record; done(arg) runs on the log's writer thread
 * once it is durable, after which dlog_lookup() reports it committed.
 */
int dlog_commit(struct dlog *d, const char *gid, const char *const *names,
                size_t n, wal_done_fn done, void *arg);

/* 3PC: visit each PRECOMMIT without COMMIT or END (as dlog_foreach_open). */
int dlog_foreach_precommit(struct dlog *d,
                           void (*fn)(void *arg, const char *gid,
                                      const char *const *names, size_t n),
                           void *arg);

/* 3PC: queue a forced PRECOMMIT record; done(arg) once durable. */
int dlog_precommit(struct dlog *d, const char *gid, const char *const *names,
                   size_t n, wal_done_fn done, void *arg);

/*
 * Queue a forced HEURISTIC record: an operator's decision on a gid the log
 * holds no decision for. A commit names the participants to finish it and
 * is then an open COMMIT (dlog_foreach_open, END); an abort answers
 * DLOG_ABORTED. who and why: under DLOG_WHO_MAX and DLOG_WHY_MAX bytes.
 * done(arg) on the log's writer thread once durable.
 */
int dlog_heuristic(struct dlog *d, const char *gid, bool commit,
                   const char *const *names, size_t n, const char *who,
                   const char *why, wal_done_fn done, void *arg);

/* who and why of a retained heuristic decision on gid; false if none. */
bool dlog_heuristic_note(struct dlog *d, const char *gid, char *who,
                         size_t wholen, char *why, size_t whylen);

/* Queue END (not forced). */
void dlog_end(struct dlog *d, const char *gid);

enum dlog_answer dlog_lookup(struct dlog *d, const char *gid);

/* Compact when the file passed threshold bytes. Returns 0 or -1 with err. */
int dlog_maybe_compact(struct dlog *d, uint64_t threshold, char *err,
                       size_t errlen);

void dlog_get_stats(struct dlog *d, struct dlog_stats *out);

void dlog_close(struct dlog *d);

#endif
