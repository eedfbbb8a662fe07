/*
 * coordinator: the xact-coordinator service. It owns the client socket, the
 * in-flight transaction table, the decision log and the participant peers,
 * and drives one twopc state machine per transaction.
 */
#ifndef XACT_COORDINATOR_H
#define XACT_COORDINATOR_H

#include <stddef.h>

#include "config.h"

struct coordinator;

/*
 * Open the decision log (replay, new incarnation), connect to the
 * participants, resume phase 2 of every logged commit without END, and
 * start serving. Returns 0, or -1 with a one-line reason.
 */
int coordinator_start(const struct coord_config *cfg, struct coordinator **out,
                      char *err, size_t errlen);

/* Stop serving, stop the ticker, close the log. In-flight work that is not
 * decided is presumed aborted; decided commits finish after a restart. */
void coordinator_stop(struct coordinator *co);

#endif
