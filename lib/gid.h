/*
 * gid: global transaction ids.
 *
 *   xact_<node>_<incarnation>_<seq>      e.g. xact_c1_7_1042
 *
 * node is the coordinator's id ([A-Za-z0-9-]{1,32}), incarnation is made
 * durable by the decision log on every start, and seq counts within one
 * incarnation; so a gid is never reused. Always far below PostgreSQL's
 * 200-byte limit. Participants find their in-doubt branches by the prefix
 * and ask the coordinator named by node.
 */
#ifndef XACT_GID_H
#define XACT_GID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GID_PREFIX "xact_"
#define GID_MAX    96 /* buffer size, including the NUL */

struct gid_parts {
	char node[33];
	uint64_t incarnation;
	uint64_t seq;
};

/* Format into buf (GID_MAX bytes). */
void gid_format(char *buf, const char *node, uint64_t incarnation,
                uint64_t seq);

/* Parse and validate; false for anything that is not exactly our form. */
bool gid_parse(const char *gid, struct gid_parts *out);

/* True for a valid node id or participant name: [A-Za-z0-9-]{1,32}. */
bool gid_valid_name(const char *name);

#endif
