/*
 * The scenarios: one fault each, injected while the bank workload runs,
 * then healed. Faults at a failpoint strike at a random hit (the skip
 * count), so that other transactions are in flight around it; the rest
 * strike at a random moment. The seed fixes every choice.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "clock.h"
#include "fault.h"

/* The coordinator stays stopped past every timeout of either side. */
#define PAUSE_MS (FAULT_LONGEST_TIMEOUT_MS + 1500)

/* Milliseconds until the workload ends (0 if it has). */
static int
left_ms(struct frun *r)
{
	uint64_t end = r->t0 + (uint64_t)r->seconds * 1000u;
	uint64_t now = clock_now_ms();

	return now < end ? (int)(end - now) : 0;
}

/* Sleep until the workload has run at ms. */
static void
sleep_until(struct frun *r, int ms)
{
	uint64_t at = r->t0 + (uint64_t)ms;
	uint64_t now = clock_now_ms();

	if (now < at)
		frun_sleep((int)(at - now));
}

/* A random moment of the workload, leaving time to heal before it ends. */
static int
random_moment(struct frun *r)
{
	return frun_rand(r, 1000, r->seconds * 1000 - 2500);
}

static const char *
status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status %d", status);
	return buf;
}

/* Start the coordinator again, without its failpoints. */
static int
restart_coord(struct frun *r)
{
	r->c.opts.coord_env = NULL;
	if (hcluster_restart_coord(&r->c) != 0) {
		frun_fail(r, "the coordinator did not restart");
		return -1;
	}
	return 0;
}

static int
restart_part(struct frun *r, int i)
{
	r->c.opts.part_env[i] = NULL;
	if (hcluster_restart_part(&r->c, i) != 0) {
		frun_fail(r, "participant bank%d did not restart", i + 1);
		return -1;
	}
	return 0;
}

/*
 * A failpoint ends the process (crash: 86, fsync error: 75). Wait for it,
 * check that it was the failpoint, leave it down a moment, restart it.
 */
int
inject_exit(struct frun *r)
{
	bool coord = r->s->coord_fp != NULL;
	struct hproc *p = coord ? &r->c.coord : &r->c.part[r->victim];
	char st[32];
	int status;

	if (hproc_wait(p, left_ms(r), &status) != 0) {
		frun_fail(r,
		          "the fault never fired: %s still ran when the "
		          "workload ended (skip %d too large?)",
		          p->name, r->fp_skip);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != r->s->exit_code) {
		frun_fail(r, "%s ended with %s, not exit %d from the failpoint",
		          p->name, status_str(status, st, sizeof st),
		          r->s->exit_code);
		return -1;
	}
	frun_sleep(frun_rand(r, 0, 500));
	return coord ? restart_coord(r) : restart_part(r, r->victim);
}

static int
kill9(struct frun *r, struct hproc *p)
{
	if (hproc_kill(p, SIGKILL) != 0 || hproc_wait(p, 10000, NULL) != 0) {
		frun_fail(r, "%s could not be killed (it was not running?)",
		          p->name);
		return -1;
	}
	frun_sleep(frun_rand(r, 0, 800));
	return 0;
}

int
inject_kill_coord(struct frun *r)
{
	sleep_until(r, random_moment(r));
	if (kill9(r, &r->c.coord) != 0)
		return -1;
	return restart_coord(r);
}

int
inject_kill_part(struct frun *r)
{
	sleep_until(r, random_moment(r));
	if (kill9(r, &r->c.part[r->victim]) != 0)
		return -1;
	return restart_part(r, r->victim);
}

struct log_wait {
	const char *path;
	const char *needle;
};

static bool
log_has_cond(void *arg)
{
	const struct log_wait *w = arg;

	return frun_log_has(w->path, w->needle);
}

/*
 * pg_ctl stop -m immediate: a database crash with a branch prepared. The
 * victim's participant holds one COMMIT PREPARED back for 2 s (its
 * failpoint); the database is stopped as soon as that delay has begun, so
 * at least that branch is prepared when it goes down.
 */
int
inject_pg_stop(struct frun *r)
{
	struct hpg *pg = &r->c.pg[r->victim];
	struct log_wait w = {r->c.part[r->victim].log,
	                     "failpoint participant.before_commit: delay"};

	if (!hwait_until(log_has_cond, &w, left_ms(r))) {
		frun_fail(r,
		          "the fault never fired: no COMMIT was held back "
		          "at bank%d",
		          r->victim + 1);
		return -1;
	}
	if (hpg_kill(pg) != 0) {
		frun_fail(r, "database %d could not be stopped", r->victim + 1);
		return -1;
	}
	frun_sleep(frun_rand(r, 300, 1500));
	if (hpg_restart(pg) != 0) {
		frun_fail(r, "database %d did not restart", r->victim + 1);
		return -1;
	}
	return 0;
}

/* SIGSTOP past every timeout: votes, idle branches, client requests. */
int
inject_pause_coord(struct frun *r)
{
	sleep_until(r, frun_rand(r, 800, 1500));
	if (hproc_kill(&r->c.coord, SIGSTOP) != 0) {
		frun_fail(r, "cannot stop the coordinator");
		return -1;
	}
	frun_sleep(PAUSE_MS);
	if (hproc_kill(&r->c.coord, SIGCONT) != 0) {
		frun_fail(r, "cannot resume the coordinator");
		return -1;
	}
	return 0;
}

/*
 * Partitions: the victim participant and its database run in a network
 * namespace (hcluster isolate); the cut drops every packet between it and
 * the coordinator both ways, silently, for CUT_MS: past the vote timeout,
 * the idle timeouts and several sweeps past the safety window.
 */
#define CUT_MS PAUSE_MS

static int
cut_for(struct frun *r, int ms)
{
	if (hcluster_cut(&r->c) != 0) {
		frun_fail(r, "cannot cut the link to bank%d", r->victim + 1);
		return -1;
	}
	frun_note(r, "link to bank%d cut for %d ms", r->victim + 1, ms);
	frun_sleep(ms);
	if (hcluster_heal(&r->c) != 0) {
		frun_fail(r, "cannot heal the link to bank%d", r->victim + 1);
		return -1;
	}
	return 0;
}

/* Wait for a failpoint's line in a log: the moment to cut. */
static int
wait_fired(struct frun *r, const char *log, const char *point)
{
	char needle[96];
	struct log_wait w = {log, needle};

	snprintf(needle, sizeof needle, "failpoint %s: delay", point);
	if (!hwait_until(log_has_cond, &w, left_ms(r))) {
		frun_fail(r, "the fault never fired: no \"%s\"", needle);
		return -1;
	}
	return 0;
}

/* The coordinator's log proves the cut hit the phase it was meant for. */
static int
expect_coord_log(struct frun *r, const char *fmt, const char *what)
{
	char needle[96];

	snprintf(needle, sizeof needle, fmt, r->victim + 1);
	if (frun_log_has(r->c.coord.log, needle))
		return 0;
	frun_fail(r, "the cut missed %s: no \"%s\" in the coordinator's log",
	          what, needle);
	return -1;
}

/*
 * Phase 1: the victim has prepared a branch and holds its YES vote back
 * (its failpoint) when the link is cut: the vote is lost, the coordinator
 * aborts at the vote timeout, the branch stays in doubt until healed.
 */
int
inject_partition_phase1(struct frun *r)
{
	if (wait_fired(r, r->c.part[r->victim].log,
	               "participant.after_prepare") != 0 ||
	    cut_for(r, CUT_MS) != 0)
		return -1;
	return expect_coord_log(r, "aborted by bank%d: vote timeout",
	                        "phase 1");
}

/*
 * Phase 2: a COMMIT record has just become durable (the coordinator's
 * failpoint holds the log's writer) when the link is cut: COMMITs to the
 * victim are lost and resent until it heals.
 */
int
inject_partition_phase2(struct frun *r)
{
	if (wait_fired(r, r->c.coord.log, "coord.after_commit_logged") != 0 ||
	    cut_for(r, CUT_MS) != 0)
		return -1;
	return expect_coord_log(r, "COMMIT to bank%d not acked", "phase 2");
}

/* A cut at a random moment, for a random time. */
int
inject_partition_random(struct frun *r)
{
	sleep_until(r, random_moment(r));
	return cut_for(r, frun_rand(r, 500, CUT_MS));
}

/* The failpoints armed at start are the whole fault. */
int
inject_nothing(struct frun *r)
{
	(void)r;
	return 0;
}

#define CRASH_COORD(point, lo, hi, sub)                                        \
	{                                                                      \
		.name = "crash:" point,                                        \
		.what = "the coordinator crashes at " point                    \
		        " (kill -9 by failpoint) and restarts",                \
		.submit = sub, .coord_fp = point "=@+crash", .skip_min = lo,   \
		.skip_max = hi, .inject = inject_exit, .exit_code = 86,        \
	}

#define CRASH_PART(point, lo, hi, sub)                                         \
	{                                                                      \
		.name = "crash:" point,                                        \
		.what = "a participant crashes at " point                      \
		        " (kill -9 by failpoint) and restarts",                \
		.submit = sub, .part_fp = point "=@+crash", .skip_min = lo,    \
		.skip_max = hi, .inject = inject_exit, .exit_code = 86,        \
	}

#define CRASH_3PC(who, point, lo, hi)                                          \
	{                                                                      \
		.name = "3pc:crash:" point,                                    \
		.what = "3PC: the " who " crashes at " point                   \
		        " (kill -9 by failpoint) and restarts",                \
		.three_phase = true, .submit = true,                           \
		.coord_fp = who[0] == 'c' ? point "=@+crash" : NULL,           \
		.part_fp = who[0] == 'p' ? point "=@+crash" : NULL,            \
		.skip_min = lo, .skip_max = hi, .inject = inject_exit,         \
		.exit_code = 86,                                               \
	}

const struct scenario fault_scenarios[] = {
    CRASH_COORD("coord.before_prepare_send", 20, 60, true),
    CRASH_COORD("coord.before_rollback_send", 2, 6, false),
    CRASH_COORD("coord.before_commit_log", 15, 45, false),
    CRASH_COORD("coord.after_commit_logged", 15, 45, true),
    CRASH_COORD("coord.before_commit_send", 30, 90, false),
    CRASH_COORD("coord.after_commit_send", 30, 90, true),
    CRASH_COORD("coord.before_end_log", 15, 45, false),
    CRASH_COORD("coord.before_reply", 15, 45, true),
    CRASH_COORD("wal.before_write", 10, 40, true),
    CRASH_COORD("wal.after_write", 10, 40, false),
    CRASH_COORD("wal.before_sync", 10, 40, false),
    CRASH_COORD("wal.after_sync", 10, 40, true),
    CRASH_PART("participant.before_prepare", 8, 30, false),
    CRASH_PART("participant.after_prepare", 8, 30, true),
    CRASH_PART("participant.before_commit", 8, 30, false),
    CRASH_PART("participant.after_commit", 8, 30, true),
    CRASH_PART("participant.recv_prepare", 8, 30, false),
    CRASH_PART("participant.recv_commit", 8, 30, true),
    CRASH_PART("participant.recv_exec", 8, 30, false),
    CRASH_PART("participant.recv_rollback", 1, 4, false),
    CRASH_3PC("coordinator", "coord.before_precommit_log", 15, 45),
    CRASH_3PC("coordinator", "coord.after_precommit_ack", 15, 45),
    CRASH_3PC("participant", "participant.after_accept", 8, 30),
    CRASH_3PC("participant", "participant.after_prepare", 8, 30),
    {
        .name = "3pc:kill:coordinator",
        .what = "3PC: kill -9 of the coordinator at a random moment, restart",
        .three_phase = true,
        .submit = true,
        .inject = inject_kill_coord,
    },
    {
        .name = "3pc:kill:participant",
        .what = "3PC: kill -9 of a random participant at a random moment, "
                "restart",
        .three_phase = true,
        .inject = inject_kill_part,
    },
    {
        .name = "3pc:partition:random",
        .seconds = 10,
        .what = "3PC, quorum mode: the link to a random participant is cut "
                "at a random moment for up to 5.5 s, then healed",
        .three_phase = true,
        .partition = true,
        .inject = inject_partition_random,
    },
    {
        .name = "kill:coordinator-1",
        .what = "kill -9 of the coordinator at a random moment, restart",
        .inject = inject_kill_coord,
    },
    {
        .name = "kill:coordinator-2",
        .what = "the same, transfers sent with xact_submit()",
        .submit = true,
        .inject = inject_kill_coord,
    },
    {
        .name = "kill:participant-1",
        .what = "kill -9 of a random participant at a random moment, "
                "restart",
        .inject = inject_kill_part,
    },
    {
        .name = "kill:participant-2",
        .what = "the same, transfers sent with xact_submit()",
        .submit = true,
        .inject = inject_kill_part,
    },
    {
        .name = "pgstop:database",
        .what = "immediate stop of a random database while a branch is "
                "prepared there, restart",
        .part_fp = "participant.before_commit=@+1*delay(2000)",
        .skip_min = 5,
        .skip_max = 20,
        .fired = {"participant.before_commit"},
        .inject = inject_pg_stop,
    },
    {
        .name = "pause:coordinator",
        .what = "SIGSTOP of the coordinator past every timeout, SIGCONT",
        .seconds = 10,
        .inject = inject_pause_coord,
    },
    {
        .name = "partition:phase1",
        .seconds = 10,
        .what = "the link to a participant is cut while its YES vote is on "
                "the way (lost), healed after every timeout",
        .partition = true,
        .part_fp = "participant.after_prepare=@+1*delay(1000)",
        .skip_min = 5,
        .skip_max = 20,
        .inject = inject_partition_phase1,
    },
    {
        .name = "partition:phase2",
        .seconds = 10,
        .what = "the link to a participant is cut once a COMMIT record is "
                "durable, before COMMIT is sent; healed after every "
                "timeout",
        .submit = true,
        .partition = true,
        .coord_fp = "coord.after_commit_logged=@+1*delay(1000)",
        .skip_min = 10,
        .skip_max = 40,
        .inject = inject_partition_phase2,
    },
    {
        .name = "partition:random",
        .seconds = 10,
        .what = "the link to a random participant is cut at a random "
                "moment for up to 5.5 s, then healed",
        .partition = true,
        .inject = inject_partition_random,
    },
    {
        .name = "msg:dup",
        .what = "every request to every participant handled twice",
        .part_fp = "participant.recv_exec=dup;participant.recv_prepare=dup;"
                   "participant.recv_commit=dup;"
                   "participant.recv_rollback=dup",
        .part_all = true,
        .fired = {"participant.recv_exec", "participant.recv_prepare",
                  "participant.recv_commit"},
        .inject = inject_nothing,
    },
    {
        .name = "msg:dup-submit",
        .what = "the same, transfers sent with xact_submit()",
        .submit = true,
        .part_fp = "participant.recv_prepare=dup;"
                   "participant.recv_commit=dup;"
                   "participant.recv_rollback=dup",
        .part_all = true,
        .fired = {"participant.recv_prepare", "participant.recv_commit"},
        .inject = inject_nothing,
    },
    {
        .name = "msg:delay",
        .what = "a participant holds requests back: PREPARE past the vote "
                "timeout (the ABORT overtakes it), COMMIT, EXEC, ROLLBACK",
        .part_fp = "participant.recv_prepare=@+4*delay(1500);"
                   "participant.recv_commit=@+4*delay(800);"
                   "participant.recv_exec=@+4*delay(300);"
                   "participant.recv_rollback=2*delay(500)",
        .skip_min = 5,
        .skip_max = 20,
        .fired = {"participant.recv_prepare", "participant.recv_commit",
                  "participant.recv_exec"},
        .inject = inject_nothing,
    },
    {
        .name = "msg:drop",
        .what = "a participant drops PREPAREs (vote timeout), COMMITs "
                "(resent), EXECs and ROLLBACKs (the sweeper resolves)",
        .part_fp = "participant.recv_prepare=@+3*drop;"
                   "participant.recv_commit=@+3*drop;"
                   "participant.recv_exec=@+2*drop;"
                   "participant.recv_rollback=3*drop",
        .skip_min = 5,
        .skip_max = 20,
        .fired = {"participant.recv_prepare", "participant.recv_commit",
                  "participant.recv_exec"},
        .inject = inject_nothing,
    },
    {
        .name = "msg:coord-drop",
        .what = "the coordinator drops COMMITs (resent), PREPAREs (vote "
                "timeout) and ROLLBACKs (the sweeper resolves)",
        .submit = true,
        .coord_fp = "coord.before_commit_send=@+4*drop;"
                    "coord.before_prepare_send=@+2*drop;"
                    "coord.before_rollback_send=4*drop",
        .skip_min = 10,
        .skip_max = 40,
        .fired = {"coord.before_commit_send", "coord.before_prepare_send",
                  "coord.before_rollback_send"},
        .inject = inject_nothing,
    },
    {
        .name = "fsync:decision-log",
        .what = "fdatasync of the decision log fails: the coordinator "
                "exits 75, restarts, and the outcome follows the log",
        .coord_fp = "wal.fsync=@+error",
        .skip_min = 10,
        .skip_max = 40,
        .inject = inject_exit,
        .exit_code = 75,
    },
    /* One-phase commit: half the transfers stay inside one database. */
    {
        .name = "1pc:crash:participant.after_one_phase",
        .what = "one-phase: a participant crashes after its COMMIT, before "
                "it answers (the coordinator resolves: committed)",
        .local_pct = 50,
        .submit = true,
        .part_fp = "participant.after_one_phase=@+crash",
        .skip_min = 5,
        .skip_max = 20,
        .inject = inject_exit,
        .exit_code = 86,
    },
    {
        .name = "1pc:kill:coordinator",
        .what = "one-phase: kill -9 of the coordinator at a random moment, "
                "restart (status of lost answers asks the markers)",
        .local_pct = 50,
        .submit = true,
        .inject = inject_kill_coord,
    },
    {
        .name = "1pc:msg:slow-branch",
        .what = "one-phase: branches slower than the vote timeout; the "
                "resolve overtakes them (tombstone) or finds them committed",
        .local_pct = 50,
        .part_fp = "participant.before_one_phase=@+3*delay(1500)",
        .part_all = true,
        .skip_min = 5,
        .skip_max = 20,
        .fired = {"participant.before_one_phase"},
        .inject = inject_nothing,
    },
};

const int fault_nscenarios =
    (int)(sizeof(fault_scenarios) / sizeof(fault_scenarios[0]));
