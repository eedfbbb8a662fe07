/*
 * gid: global transaction ids, xact_<node>_<incarnation>_<seq>.
 *
 * gid_parse is strict on purpose: the sweeper rolls back prepared branches
 * whose gid parses as ours, so a lenient parser could make it touch a
 * branch some other transaction manager owns. Exactly one spelling of each
 * gid is accepted (no leading zeros, no signs, no spaces), so two different
 * strings never name the same transaction.
 */
#include "gid.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GID_NAME_MAX 32

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

bool
gid_valid_name(const char *name)
{
	size_t n;

	if (name == NULL)
		return false;
	for (n = 0; name[n] != '\0'; n++)
		if (n == GID_NAME_MAX || !name_char(name[n]))
			return false;
	return n > 0;
}

void
gid_format(char *buf, const char *node, uint64_t incarnation, uint64_t seq)
{
	int n;

	assert(gid_valid_name(node));
	n = snprintf(buf, GID_MAX, GID_PREFIX "%s_%" PRIu64 "_%" PRIu64, node,
	             incarnation, seq);
	assert(n > 0 && n < GID_MAX);
	(void)n;
}

/*
 * Parse a decimal u64 at *s up to the first non-digit. Refuses an empty
 * number, a leading zero (other than "0" itself) and overflow.
 */
static bool
parse_u64(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return false;
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	*s = p;
	return true;
}

bool
gid_parse(const char *gid, struct gid_parts *out)
{
	const size_t plen = sizeof(GID_PREFIX) - 1;
	struct gid_parts parts;
	const char *p;
	size_t n;

	if (gid == NULL || strnlen(gid, GID_MAX) == GID_MAX)
		return false;
	if (strncmp(gid, GID_PREFIX, plen) != 0)
		return false;
	p = gid + plen;
	for (n = 0; name_char(p[n]); n++)
		if (n == GID_NAME_MAX)
			return false;
	if (n == 0 || p[n] != '_')
		return false;
	memcpy(parts.node, p, n);
	parts.node[n] = '\0';
	p += n + 1;
	if (!parse_u64(&p, &parts.incarnation) || *p++ != '_')
		return false;
	if (!parse_u64(&p, &parts.seq) || *p != '\0')
		return false;
	if (out != NULL)
		*out = parts;
	return true;
}
