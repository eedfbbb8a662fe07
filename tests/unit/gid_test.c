/*
 * gid: format and parse agree, and parse takes exactly one spelling of each
 * gid: the sweeper acts on whatever parses, so every near miss must fail.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "gid.h"

static void
round_trip(const char *node, uint64_t inc, uint64_t seq, const char *want)
{
	char buf[GID_MAX];
	struct gid_parts p;

	memset(buf, 0x5A, sizeof(buf));
	gid_format(buf, node, inc, seq);
	cr_assert_str_eq(buf, want);
	cr_assert(gid_parse(buf, &p), "%s", buf);
	cr_assert_str_eq(p.node, node);
	cr_assert_eq(p.incarnation, inc);
	cr_assert_eq(p.seq, seq);
}

Test(gid, round_trip)
{
	round_trip("c1", 7, 1042, "xact_c1_7_1042");
	round_trip("c1", 0, 0, "xact_c1_0_0");
	round_trip("x", 1, 10, "xact_x_1_10");
	round_trip("Node-A-9", 100, 20, "xact_Node-A-9_100_20");
	round_trip("-", 5, 5, "xact_-_5_5");
}

Test(gid, largest_values)
{
	const char *node = "abcdefghijklmnopqrstuvwxyz-01234"; /* 32 */
	char want[GID_MAX];

	cr_assert_eq(strlen(node), 32);
	snprintf(want, sizeof(want), "xact_%s_%s_%s", node,
	         "18446744073709551615", "18446744073709551615");
	round_trip(node, UINT64_MAX, UINT64_MAX, want);
	cr_assert_lt(strlen(want), GID_MAX);
	cr_assert_lt(strlen(want), 200, "PostgreSQL's limit");
}

Test(gid, parse_without_out)
{
	cr_assert(gid_parse("xact_c1_7_1042", NULL));
	cr_assert_not(gid_parse("xact_c1_7_", NULL));
}

Test(gid, parse_rejects)
{
	static const char *bad[] = {
	    "",
	    "xact",
	    "xact_",
	    "xact_c1",
	    "xact_c1_",
	    "xact_c1_7",
	    "xact_c1_7_",
	    "xact__7_1",   /* empty node */
	    "xact_c1__1",  /* empty incarnation */
	    "Xact_c1_7_1", /* prefix is case sensitive */
	    "xac_c1_7_1",
	    "_xact_c1_7_1",
	    " xact_c1_7_1", /* leading space */
	    "xact_c1_7_1 ", /* trailing space */
	    "xact_c1_7_1\n",
	    "xact_c1_7_1x",  /* trailing junk */
	    "xact_c1_7_1_2", /* one part too many */
	    "xact_c1_07_1",  /* leading zero */
	    "xact_c1_7_00",
	    "xact_c1_+7_1", /* signs */
	    "xact_c1_7_-1",
	    "xact_c1_ 7_1",
	    "xact_c1_0x7_1", /* not decimal */
	    "xact_c1_7_1e3",
	    "xact_c.1_7_1", /* node outside [A-Za-z0-9-] */
	    "xact_c 1_7_1",
	    "xact_c\xc3\xa9_7_1",
	    "xact_c1_18446744073709551616_1", /* UINT64_MAX + 1 */
	    "xact_c1_1_18446744073709551616",
	    "xact_c1_1_99999999999999999999",
	    "xact_c1_1_184467440737095516150",
	    "xact_abcdefghijklmnopqrstuvwxyz-012345_1_1", /* node of 33 */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gid_parts p;

		cr_assert_not(gid_parse(bad[i], &p), "accepted \"%s\"", bad[i]);
	}
	cr_assert_not(gid_parse(NULL, NULL));
}

Test(gid, parse_rejects_overlong)
{
	char s[300];

	/* digits enough to overflow, and more than GID_MAX bytes */
	memset(s, '1', sizeof(s));
	memcpy(s, "xact_c1_1_", 10);
	s[sizeof(s) - 1] = '\0';
	cr_assert_not(gid_parse(s, NULL));
	s[GID_MAX] = '\0';
	cr_assert_not(gid_parse(s, NULL));
}

Test(gid, valid_name)
{
	char name[40];

	cr_assert(gid_valid_name("a"));
	cr_assert(gid_valid_name("db-1"));
	cr_assert(gid_valid_name("ABC-xyz-019"));
	memset(name, 'n', 32);
	name[32] = '\0';
	cr_assert(gid_valid_name(name));
	name[32] = 'n';
	name[33] = '\0';
	cr_assert_not(gid_valid_name(name));
	cr_assert_not(gid_valid_name(""));
	cr_assert_not(gid_valid_name(NULL));
	cr_assert_not(gid_valid_name("a_b"), "'_' separates gid parts");
	cr_assert_not(gid_valid_name("a b"));
	cr_assert_not(gid_valid_name("a.b"));
	cr_assert_not(gid_valid_name("a/b"));
	cr_assert_not(gid_valid_name("\xc3\xa9"));
}
