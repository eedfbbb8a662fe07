/*
 * The disk under the decision log fills up. The coordinator stops at the
 * first write that does not fit (exit 75, one clear line: it never commits
 * past a record it could not write), and once space returns it starts
 * again, cuts the torn tail and finishes every decision: nothing is lost,
 * nothing is left prepared, the money adds up. The log lives on a small
 * tmpfs of its own (the test needs root to mount it).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "harness.h"
#include "wal.h"
#include "xact.h"

static struct hcluster C;
static char logdir[HPATH_MAX + 16];
static bool mounted;

static void
finish(void)
{
	if (C.n != 0 && hproc_alive(&C.coord))
		hproc_stop(&C.coord);
	if (mounted && umount(logdir) != 0)
		fprintf(stderr, "umount %s: %s\n", logdir, strerror(errno));
	mounted = false;
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(diskfull, .fini = finish, .timeout = 180);

/* The coordinator's log moves to a tmpfs of 256 KiB, about full. */
static void
log_on_a_small_disk(char *filler, size_t len)
{
	char cmd[4 * HPATH_MAX];
	struct statvfs st;
	unsigned long long avail;
	FILE *f;

	cr_assert_eq(hproc_stop(&C.coord), 0);
	snprintf(logdir, sizeof(logdir), "%s/coord-log", C.dir);
	snprintf(cmd, sizeof(cmd), "mv %s %s.old && mkdir %s", logdir, logdir,
	         logdir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(mount("tmpfs", logdir, "tmpfs", 0, "size=256k,mode=0700"),
	             0, "mount tmpfs on %s (root needed): %s", logdir,
	             strerror(errno));
	mounted = true;
	snprintf(cmd, sizeof(cmd), "cp -p %s.old/decision.log %s/", logdir,
	         logdir);
	cr_assert_eq(system(cmd), 0);
	/* Leave one page: a few dozen records, then ENOSPC. */
	cr_assert_eq(statvfs(logdir, &st), 0);
	avail = (unsigned long long)st.f_bavail * st.f_frsize;
	cr_assert_gt(avail, 8192);
	snprintf(filler, len, "%s/filler", logdir);
	cr_assert_not_null(f = fopen(filler, "w"));
	for (unsigned long long i = 0; i < avail - 4096; i++)
		fputc('x', f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(hcluster_restart_coord(&C), 0);
}

Test(diskfull, the_coordinator_stops_and_recovers_when_space_returns)
{
	const char *debit = "UPDATE accounts SET balance = balance - 1 "
	                    "WHERE id = 1";
	const char *credit = "UPDATE accounts SET balance = balance + 1 "
	                     "WHERE id = 1";
	struct xact_branch b[] = {{"bank1", &debit, 1}, {"bank2", &credit, 1}};
	char filler[HPATH_MAX + 32], gid[XACT_GID_MAX];
	long committed = 0, aborted = 0;
	xact_outcome o;
	xact_conn *c;
	int status, i;

	cr_assert_eq(hcluster_start(&C,
	                            &(struct hcluster_opts){
	                                .n = 2,
	                                .accounts = 2,
	                                .balance = 1000,
	                                .request_timeout_ms = 3000,
	                            }),
	             0, "cluster did not start");
	log_on_a_small_disk(filler, sizeof(filler));

	/* Commits until the log has no room: the last one's outcome is
	 * unknown to the client, asked again below. */
	cr_assert_eq(xact_connect(hcluster_url(&C), 5000, &c), 0);
	for (i = 0; i < 10000; i++) {
		if (xact_submit(c, b, 2, gid, &o) != 0)
			break;
		committed += o == XACT_COMMITTED;
		aborted += o == XACT_ABORTED;
	}
	cr_assert_lt(i, 10000, "the disk never filled");
	cr_assert_gt(committed, 0);
	cr_assert_eq(hproc_wait(&C.coord, 10000, &status), 0,
	             "the coordinator went on with a full disk");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == WAL_EXIT_IO,
	          "status %d", status);
	cr_assert(hlog_contains(C.coord.log, "No space left on device"),
	          "no clear line in the log");

	/* Space returns: it starts, cuts the torn tail, finishes. */
	cr_assert_eq(unlink(filler), 0);
	cr_assert_eq(hcluster_restart_coord(&C), 0);
	xact_disconnect(c);
	cr_assert_eq(xact_connect(hcluster_url(&C), 5000, &c), 0);
	cr_assert_eq(xact_status(c, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_neq(o, XACT_IN_PROGRESS);
	committed += o == XACT_COMMITTED;
	hc_assert(&C, hcluster_wait_no_prepared(&C, 30000), "still prepared");
	/* Each transfer the client heard of is where it said: none lost. */
	cr_assert_eq(hbank_total(&C.pg[0]), 2000 - committed,
	             "%ld committed, %ld aborted", committed, aborted);
	cr_assert_eq(hbank_total(&C.pg[1]), 2000 + committed);
	/* And it commits again. */
	cr_assert_eq(xact_submit(c, b, 2, gid, &o), 0, "%s", xact_errmsg(c));
	cr_assert_eq(o, XACT_COMMITTED);
	xact_disconnect(c);
}
