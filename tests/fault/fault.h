/*
 * xact-fault: the fault suite. Each scenario starts its own cluster (three
 * PostgreSQL databases, three participants, one coordinator), runs the
 * xact-bank workload with a journal, injects one fault, heals it, and then
 * holds the databases to DESIGN.md section 5 with `xact-bank check`.
 *
 *   main.c       options, the loop over scenarios, the table
 *   scenarios.c  the scenarios: which fault, when, and how it is healed
 *   run.c        one scenario run: cluster, workload, probe, check, audit
 */
#ifndef XACT_FAULT_H
#define XACT_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

#define FAULT_PARTS 3   /* participants bank1..bank3 */
#define FP_SPEC_MAX 512 /* one XACT_FAILPOINTS value */

/*
 * Every scenario's cluster: short timeouts, so that faults resolve within
 * seconds. Milliseconds.
 */
#define FAULT_VOTE_TIMEOUT_MS      1000
#define FAULT_IDLE_TIMEOUT_MS      3000 /* coordinator: idle client tx */
#define FAULT_REQUEST_TIMEOUT_MS   2000 /* a forwarded statement */
#define FAULT_COMMIT_WAIT_MS       1000
#define FAULT_RETRY_MAX_MS         500
#define FAULT_PART_IDLE_TIMEOUT_MS 3000 /* participant: unprepared branch */
#define FAULT_SWEEP_INTERVAL_MS    300
#define FAULT_SWEEP_SAFETY_MS      1000
#define FAULT_TERMINATION_MS       1000 /* 3PC: participant's timeout */
#define FAULT_CLIENT_TIMEOUT_MS    4000 /* xact-bank --timeout-ms */
#define FAULT_LONGEST_TIMEOUT_MS   4000 /* the largest of the above */

struct frun;

/* What a scenario does once the workload runs: 0, or -1 after frun_fail. */
typedef int (*fault_inject_fn)(struct frun *r);

struct scenario {
	const char *name; /* --only matches a substring of it */
	const char *what; /* one line for the README and --list */
	bool submit;      /* xact_submit() transfers, not step by step */
	bool partition;   /* the victim and its database in a namespace */
	bool three_phase; /* transfers run with 3PC (quorum mode) */
	int local_pct;    /* transfers inside one database: one-phase commit */
	int seconds;      /* workload length; 0: the default */
	/*
	 * Failpoint specs, "%d" standing for a skip count drawn from
	 * [skip_min, skip_max] so that the fault strikes mid-run. coord_fp
	 * arms the coordinator; part_fp the victim participant (part_all:
	 * every participant).
	 */
	const char *coord_fp;
	const char *part_fp;
	bool part_all;
	int skip_min, skip_max;
	/* Failpoints whose "failpoint NAME:" log line proves the fault. */
	const char *fired[4];
	fault_inject_fn inject;
	int exit_code; /* inject_exit: the expected exit status */
};

extern const struct scenario fault_scenarios[];
extern const int fault_nscenarios;

/* One scenario run, as the table shows it. */
struct fresult {
	char name[64];
	bool pass;
	long long committed, aborted, unknown, resolved;
	double seconds;
	char why[512]; /* the first failure */
};

/*
 * The state of one run, for the inject functions. Timings are in ms on
 * clock_now_ms().
 */
struct frun {
	const struct scenario *s;
	uint64_t rng;
	int seconds; /* workload length */
	int victim;  /* participant or database the fault hits */
	int fp_skip; /* the skip count put into the failpoint specs */
	uint64_t t0; /* when the workload started */
	struct hcluster c;
	struct hproc bank;
	char journal[HPATH_MAX];
	char coord_fp[FP_SPEC_MAX];
	char *coord_env[2];
	char part_fp[FP_SPEC_MAX];
	char *part_env[2];
	bool verbose;
	uint64_t begin; /* when the run started */
	bool failed;
	char why[512];
};

/* Record the first failure of the run (later ones are only printed). */
void frun_fail(struct frun *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* With --verbose, one line of progress on stderr. */
void frun_note(struct frun *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when the file at path holds a line containing needle. */
bool frun_log_has(const char *path, const char *needle);

/* A number in [lo, hi] from the run's generator. */
int frun_rand(struct frun *r, int lo, int hi);

/* Sleep ms: a fault's duration, or a wait for the workload to be busy. */
void frun_sleep(int ms);

/* Run one scenario with the given seed; fills out. */
void frun_scenario(const struct scenario *s, uint64_t seed, bool verbose,
                   struct fresult *out);

/* Inject functions (scenarios.c), also used by --soak. */
int inject_exit(struct frun *r);
int inject_kill_coord(struct frun *r);
int inject_kill_part(struct frun *r);
int inject_pg_stop(struct frun *r);
int inject_pause_coord(struct frun *r);
int inject_partition_phase1(struct frun *r);
int inject_partition_phase2(struct frun *r);
int inject_partition_random(struct frun *r);
int inject_nothing(struct frun *r);

#endif
