/*
 * recent: the one-phase commits of this incarnation of the coordinator.
 *
 * A one-phase commit leaves no record in the decision log, so once its
 * transaction leaves the in-flight table only this remembers it: the last
 * RECENT_MAX of them, by sequence number. What it has dropped (and any gid
 * of a past life) only the participants' markers can tell.
 */
#ifndef XACT_RECENT_H
#define XACT_RECENT_H

#include <stdint.h>

#define RECENT_MAX 65536

struct recent;

enum recent_answer {
	RECENT_COMMITTED,     /* committed in one phase */
	RECENT_NOT_COMMITTED, /* never committed in one phase */
	RECENT_UNKNOWN,       /* maybe, but dropped: ask the participants */
};

struct recent *recent_new(void);
void recent_free(struct recent *r);

/* Remember seq (of this incarnation) as committed in one phase. */
void recent_add(struct recent *r, uint64_t seq);

enum recent_answer recent_lookup(struct recent *r, uint64_t seq);

#endif
