/*
 * failpoint: named points in the code where a test can inject a fault.
 *
 * Switched on by the environment variable XACT_FAILPOINTS, read once at
 * start by fp_init():
 *
 *   XACT_FAILPOINTS="coord.after_commit_logged=crash;participant.before_prepare=2*drop"
 *
 *   spec    := point (';' point)*
 *   point   := name '=' [skip '+'] [count '*'] action
 *   action  := 'crash' | 'drop' | 'dup' | 'error' | 'delay(' ms ')' | 'off'
 *   skip    := the first skip hits pass untouched (default 0), so that a
 *              fault strikes in the middle of a run: "40+crash" crashes at
 *              the 41st hit
 *   count   := then the point fires on count hits only (default: every
 *              hit); "10+2*drop" drops the 11th and 12th
 *
 * A point that is not named in the variable costs one load and one branch.
 * docs/failpoints.md lists every point and what it means.
 */
#ifndef XACT_FAILPOINT_H
#define XACT_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>

enum fp_action {
	FP_NONE,  /* not armed, or its count is used up: carry on */
	FP_CRASH, /* never returned: the process _exit()s on the spot */
	FP_DROP,  /* the caller drops the message it was about to send/handle */
	FP_DUP,   /* the caller sends/handles the message twice */
	FP_ERROR, /* the caller behaves as if the operation failed */
	FP_DELAY, /* never returned: fp_hit() sleeps, then returns FP_NONE */
};

/* Exit code of a failpoint crash, so tests can tell it from a real one. */
#define FP_CRASH_EXIT 86

/*
 * Parse XACT_FAILPOINTS. Returns 0 (also when unset), or -1 with a one-line
 * reason in err when the grammar is broken.
 */
int fp_init(char *err, size_t errlen);

/* Parse a spec string directly (tests). Replaces any earlier spec. */
int fp_configure(const char *spec, char *err, size_t errlen);

extern bool fp_armed; /* true when any point is configured */

/* Evaluate the point: crashes or sleeps itself, returns the other actions. */
enum fp_action fp_hit(const char *name);

#define FAILPOINT(name) (fp_armed ? fp_hit(name) : FP_NONE)

#endif
