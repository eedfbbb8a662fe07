/*
 * sweeper: resolves this database's in-doubt branches.
 *
 * On start and every sweep interval it lists our gids in pg_prepared_xacts
 * and asks the coordinator named in each gid for the outcome: COMMIT is
 * applied at once; ABORT only for a branch seen in two consecutive scans,
 * older than the safety window and not live here, so it never races a
 * transaction that is still being decided; IN-PROGRESS or no answer leaves
 * it for the next scan. It also rolls back open branches idle too long.
 */
#ifndef XACT_SWEEPER_H
#define XACT_SWEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "branch.h"
#include "config.h"

struct sweeper;

int sweeper_start(const struct part_config *cfg, struct branches *bs,
                  struct pg_pool *pool, struct sweeper **out, char *err,
                  size_t errlen);
void sweeper_stop(struct sweeper *s);

/* What the last scan saw, for /metrics and /healthz. */
struct sweeper_stats {
	uint64_t prepared;  /* our branches prepared in the database */
	uint64_t oldest_ms; /* age of the oldest of them */
	uint64_t failures;  /* scans that could not read the database */
	bool last_failed;   /* the last scan could not */
};
void sweeper_get_stats(struct sweeper *s, struct sweeper_stats *out);

#endif
