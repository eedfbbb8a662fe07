/*
 * harness_internal.h: what harness.c shares with the harness's other
 * files (hnet.c). Not for tests.
 */
#ifndef XACT_HARNESS_INTERNAL_H
#define XACT_HARNESS_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

/* One line on stderr, prefixed "harness: ". */
void herr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Run argv to completion, output appended to logpath (NULL: inherited), as
 * postgres if as_pg and we are root. Returns 0 if it exited with 0.
 */
int hrun(const char *const argv[], bool as_pg, const char *logpath);

/* What the reaper cleans up if the test process dies. */
enum reap_kind {
	REAP_GROUP = 'g', /* a process group to SIGKILL */
	REAP_PG = 'p',    /* a PostgreSQL data dir to stop */
	REAP_DIR = 'd',   /* a directory to remove */
	REAP_NETNS = 'n', /* a network namespace to delete */
};

/* Tell the reaper that something now exists (add) or was cleaned up. */
void hreap_note(enum reap_kind kind, bool add, pid_t pgid, const char *path);

/* Delete the network namespace name (and its veth pair); 0 on success. */
int hnet_remove(const char *name);

#endif
