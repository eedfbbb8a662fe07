/*
 * plog: a participant's own log of its 3PC branches (docs/protocols.md),
 * on lib/wal. 2PC branches never appear here: PostgreSQL and the
 * coordinator's decision log hold all they need.
 *
 * Per gid it keeps the participant list it was given (WAIT, written
 * before PREPARE TRANSACTION) and the acceptor state of lib/term (written
 * whole after every change, before the participant replies or acts). Both
 * are forced. DONE (not forced) says PostgreSQL has resolved the branch;
 * done entries are kept a while so that peers still running the
 * termination protocol learn the decision, then forgotten. A forgotten
 * gid is reported as such, never as unknown: "unknown" means this
 * participant never voted YES, which makes it answer ABORT.
 *
 * Thread-safe. A read-modify-write of one gid's state (get, apply a term_*
 * rule, put) is atomic only under the caller's per-branch lock.
 */
#ifndef XACT_PLOG_H
#define XACT_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "term.h"

#define PLOG_NAME_MAX 33  /* a participant name and its NUL */
#define PLOG_URL_MAX  256 /* a URL and its NUL */

struct plog;

struct plog_peer {
	char name[PLOG_NAME_MAX];
	char url[PLOG_URL_MAX];
};

/* What the participant was told in PREPARE. */
struct plog_wait {
	unsigned rank; /* this participant's index in peers */
	bool quorum;   /* quorum mode */
	size_t npeers;
	struct plog_peer peers[TERM_MAX_PARTS];
};

enum plog_find {
	PLOG_KNOWN,     /* *acc (and the wait info, if any) filled */
	PLOG_UNKNOWN,   /* never seen: this participant never voted YES */
	PLOG_FORGOTTEN, /* seen once, dropped by retention: no answer */
};

/*
 * Open dir/participant.log (creating dir), replay it. retain_done bounds
 * the done entries kept for peers. Returns 0, or -1 with a reason in err.
 */
int plog_open(const char *dir, uint64_t retain_done, struct plog **out,
              char *err, size_t errlen);

/* Record the participant list of gid, durably. -1 if gid is known. */
int plog_wait(struct plog *l, const char *gid, const struct plog_wait *w);

/* Record the acceptor state of gid, durably (creating the entry). */
int plog_put(struct plog *l, const char *gid, const struct term_acceptor *acc);

/* Mark gid resolved in PostgreSQL (not forced). */
int plog_done(struct plog *l, const char *gid);

/* The state of gid; acc and w (each may be NULL) get the acceptor and
 * the wait info, if any. */
enum plog_find plog_get(struct plog *l, const char *gid,
                        struct term_acceptor *acc, struct plog_wait *w,
                        bool *has_wait);

/*
 * Visit every gid not yet done (at start: branches to finish). fn runs
 * without the log's lock. Returns 0, or -1 when out of memory.
 */
int plog_foreach_open(struct plog *l, void (*fn)(void *arg, const char *gid),
                      void *arg);

/* Rewrite the file without what is no longer needed, if it has grown
 * beyond threshold bytes. Returns 0, or -1 with err. */
int plog_maybe_compact(struct plog *l, uint64_t threshold, char *err,
                       size_t errlen);

/* Write out what is queued, and free. */
void plog_close(struct plog *l);

#endif
