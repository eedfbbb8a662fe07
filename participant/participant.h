/*
 * participant: the xact-participant service beside one PostgreSQL database.
 * It owns the REP socket the coordinator talks to, the worker threads that
 * do all database work, the branches, and the sweeper.
 */
#ifndef XACT_PARTICIPANT_H
#define XACT_PARTICIPANT_H

#include <stddef.h>

#include "config.h"

struct participant;

/* Returns 0, or -1 with a one-line reason (bad conninfo, port in use...). */
int participant_start(const struct part_config *cfg, struct participant **out,
                      char *err, size_t errlen);

/* Stop serving; open branches die with their connections (rolled back);
 * prepared ones stay for the next start's sweeper. */
void participant_stop(struct participant *p);

#endif
