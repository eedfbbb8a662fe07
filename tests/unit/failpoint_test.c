/*
 * failpoint: the grammar of XACT_FAILPOINTS and which hits fire. A crash
 * cannot be tested in-process; every other action follows the same path.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "failpoint.h"

static void
configure(const char *spec)
{
	char err[256] = "";

	cr_assert_eq(fp_configure(spec, err, sizeof(err)), 0, "%s: %s", spec,
	             err);
}

static void
refused(const char *spec, const char *why)
{
	char err[256] = "";

	cr_assert_eq(fp_configure(spec, err, sizeof(err)), -1, "%s accepted",
	             spec);
	cr_assert(strstr(err, why) != NULL, "%s: \"%s\" lacks \"%s\"", spec,
	          err, why);
	cr_assert_not(fp_armed, "a refused spec arms nothing");
}

/* The actions of the first n hits of name, as a string of letters. */
static const char *
hits(const char *name, int n)
{
	static char out[64];

	for (int i = 0; i < n; i++) {
		switch (fp_hit(name)) {
		case FP_NONE:
			out[i] = '.';
			break;
		case FP_DROP:
			out[i] = 'D';
			break;
		case FP_DUP:
			out[i] = '2';
			break;
		case FP_ERROR:
			out[i] = 'E';
			break;
		case FP_CRASH:
		case FP_DELAY:
			out[i] = '?'; /* never returned */
			break;
		}
	}
	out[n] = '\0';
	return out;
}

Test(failpoint, unset_is_free)
{
	configure("");
	cr_assert_not(fp_armed);
	cr_assert_eq(FAILPOINT("a"), FP_NONE);
}

Test(failpoint, every_hit_by_default)
{
	configure("a=drop;b=dup;c=error");
	cr_assert(fp_armed);
	cr_assert_str_eq(hits("a", 4), "DDDD");
	cr_assert_str_eq(hits("b", 2), "22");
	cr_assert_str_eq(hits("c", 2), "EE");
	cr_assert_str_eq(hits("other", 2), "..");
}

Test(failpoint, count_fires_first_hits_only)
{
	configure("a=2*drop");
	cr_assert_str_eq(hits("a", 5), "DD...");
}

Test(failpoint, skip_lets_hits_pass_then_fires)
{
	configure("a=3+drop");
	cr_assert_str_eq(hits("a", 6), "...DDD");
}

Test(failpoint, skip_and_count)
{
	configure("a=2+1*error;b=0+2*dup");
	cr_assert_str_eq(hits("a", 6), "..E...");
	cr_assert_str_eq(hits("b", 4), "22..");
}

Test(failpoint, skip_with_delay_returns_none)
{
	configure("a=1+1*delay(0);b=1+off");
	cr_assert_str_eq(hits("a", 3), "...");
	cr_assert_str_eq(hits("b", 3), "...");
}

Test(failpoint, reconfigure_resets_budgets)
{
	configure("a=1+1*drop");
	cr_assert_str_eq(hits("a", 3), ".D.");
	configure("a=1+1*drop");
	cr_assert_str_eq(hits("a", 3), ".D.");
}

Test(failpoint, broken_specs_refused)
{
	refused("a", "expected name=action");
	refused("a=boom", "unknown action");
	refused("a=0*drop", "count must be");
	refused("a=x*drop", "count must be");
	refused("a=2*1+drop", "skip must be");
	refused("a=1x+drop", "skip must be");
	refused("a=3+", "unknown action");
	refused("a=delay(x)", "delay takes milliseconds");
	refused("a=2+delay(-1)", "delay takes milliseconds");
}
