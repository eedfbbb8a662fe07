/*
 * peer: asynchronous requests to one participant (from the coordinator, or
 * from another participant running 3PC's termination protocol).
 *
 * One REQ socket per participant (a REQ socket spreads requests over all
 * its connected peers, so it must not be shared), one nng_ctx per request
 * in flight. The callback runs on an NNG thread: it must not block.
 */
#ifndef XACT_PEER_H
#define XACT_PEER_H

#include <stdint.h>

#include "wire.h"

struct peer;

/*
 * rv is 0 with the decoded reply in m and its encoded bytes in raw/rawlen
 * (for relaying), or an NNG error (m NULL). Both are valid during the call
 * only.
 */
typedef void (*peer_reply_fn)(void *arg, int rv, const struct wire_msg *m,
                              const void *raw, size_t rawlen);

int peer_open(const char *name, const char *url, struct peer **out, char *err,
              size_t errlen);
const char *peer_name(const struct peer *p);

/*
 * Send req (copied). Returns 0 and later calls cb exactly once, on an NNG
 * thread, with the reply or an error; or returns an NNG error at once and
 * never calls cb.
 */
int peer_call(struct peer *p, const struct wire_buf *req, uint32_t timeout_ms,
              peer_reply_fn cb, void *arg);

/* Close the socket: calls in flight fail, new ones are refused. */
void peer_close(struct peer *p);

/* Free a closed peer, once no callback can use it any more. */
void peer_free(struct peer *p);

#endif
