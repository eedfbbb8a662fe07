#include "failpoint.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define FP_MAX      64
#define FP_NAME_MAX 64

struct fp_point {
	char name[FP_NAME_MAX];
	enum fp_action action;
	unsigned delay_ms;
	atomic_long skip;      /* hits still to let pass before firing */
	atomic_long remaining; /* hits left that fire; -1: every hit */
};

bool fp_armed;
static struct fp_point points[FP_MAX];
static size_t npoints;

static int
fail(char *err, size_t errlen, const char *spec, const char *why)
{
	snprintf(err, errlen, "XACT_FAILPOINTS: \"%s\": %s", spec, why);
	return -1;
}

/* Parse "[K+][N*]action" into p. */
static int
parse_action(const char *s, struct fp_point *p, char *err, size_t errlen)
{
	const char *plus = strchr(s, '+');
	const char *star;
	char *end;
	long skip = 0, count = -1;

	if (plus != NULL && isdigit((unsigned char)s[0])) {
		skip = strtol(s, &end, 10);
		if (end != plus || end == s || skip < 0)
			return fail(err, errlen, s,
			            "skip must be K+ with K >= 0");
		s = plus + 1;
	}
	atomic_store(&p->skip, skip);
	star = strchr(s, '*');
	if (star != NULL) {
		count = strtol(s, &end, 10);
		if (end != star || count <= 0)
			return fail(err, errlen, s,
			            "count must be N* with N > 0");
		s = star + 1;
	}
	atomic_store(&p->remaining, count);
	if (strcmp(s, "crash") == 0)
		p->action = FP_CRASH;
	else if (strcmp(s, "drop") == 0)
		p->action = FP_DROP;
	else if (strcmp(s, "dup") == 0)
		p->action = FP_DUP;
	else if (strcmp(s, "error") == 0)
		p->action = FP_ERROR;
	else if (strcmp(s, "off") == 0)
		p->action = FP_NONE;
	else if (strncmp(s, "delay(", 6) == 0) {
		long ms = strtol(s + 6, &end, 10);
		if (end == s + 6 || strcmp(end, ")") != 0 || ms < 0 ||
		    ms > 3600000)
			return fail(err, errlen, s,
			            "delay takes milliseconds: delay(250)");
		p->action = FP_DELAY;
		p->delay_ms = (unsigned)ms;
	} else
		return fail(err, errlen, s,
		            "unknown action (crash, drop, dup, error, "
		            "delay(ms), off)");
	return 0;
}

int
fp_configure(const char *spec, char *err, size_t errlen)
{
	char *copy, *save = NULL, *tok;
	int rc = 0;

	fp_armed = false;
	npoints = 0;
	if (spec == NULL || *spec == '\0')
		return 0;
	if ((copy = strdup(spec)) == NULL)
		return fail(err, errlen, spec, "out of memory");
	for (tok = strtok_r(copy, ";", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');
		struct fp_point *p;

		if (*tok == '\0')
			continue;
		if (eq == NULL || eq == tok)
			rc = fail(err, errlen, tok, "expected name=action");
		else if ((size_t)(eq - tok) >= FP_NAME_MAX)
			rc = fail(err, errlen, tok, "name too long");
		else if (npoints == FP_MAX)
			rc = fail(err, errlen, tok, "too many failpoints");
		else {
			p = &points[npoints];
			memset(p->name, 0, sizeof(p->name));
			memcpy(p->name, tok, (size_t)(eq - tok));
			p->delay_ms = 0;
			rc = parse_action(eq + 1, p, err, errlen);
			if (rc == 0)
				npoints++;
		}
	}
	free(copy);
	if (rc != 0) {
		npoints = 0;
		return rc;
	}
	fp_armed = npoints > 0;
	return 0;
}

int
fp_init(char *err, size_t errlen)
{
	return fp_configure(getenv("XACT_FAILPOINTS"), err, errlen);
}

/* Let one hit pass if some are still to be skipped; true if it did. */
static bool
skip_hit(struct fp_point *p)
{
	long left = atomic_load(&p->skip);

	while (left > 0)
		if (atomic_compare_exchange_weak(&p->skip, &left, left - 1))
			return true;
	return false;
}

/* Take one hit from the point's budget; false when it is used up. */
static bool
take_hit(struct fp_point *p)
{
	long left = atomic_load(&p->remaining);

	while (left != -1) {
		if (left == 0)
			return false;
		if (atomic_compare_exchange_weak(&p->remaining, &left,
		                                 left - 1))
			return true;
	}
	return true;
}

enum fp_action
fp_hit(const char *name)
{
	for (size_t i = 0; i < npoints; i++) {
		struct fp_point *p = &points[i];

		if (strcmp(p->name, name) != 0)
			continue;
		if (p->action == FP_NONE || skip_hit(p) || !take_hit(p))
			return FP_NONE;
		switch (p->action) {
		case FP_CRASH:
			xlog_error("failpoint %s: crash", name);
			_exit(FP_CRASH_EXIT);
		case FP_DELAY: {
			struct timespec ts = {
			    .tv_sec = p->delay_ms / 1000,
			    .tv_nsec = (long)(p->delay_ms % 1000) * 1000000L};
			xlog_warn("failpoint %s: delay %ums", name,
			          p->delay_ms);
			while (nanosleep(&ts, &ts) != 0)
				;
			return FP_NONE;
		}
		case FP_DROP:
		case FP_DUP:
		case FP_ERROR:
			xlog_warn("failpoint %s: %s", name,
			          p->action == FP_DROP  ? "drop"
			          : p->action == FP_DUP ? "dup"
			                                : "error");
			return p->action;
		case FP_NONE:
			return FP_NONE;
		}
	}
	return FP_NONE;
}
