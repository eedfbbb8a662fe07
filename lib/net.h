/*
 * net: the few things every xact process does with NNG.
 */
#ifndef XACT_NET_H
#define XACT_NET_H

#include <nng/nng.h>
#include <stddef.h>

#include "wire.h"

/* Copy an encoded message into a new nng_msg. Returns 0 or an NNG error. */
int net_msg_from_buf(const struct wire_buf *b, nng_msg **out);

/*
 * Decode an nng_msg's body. On success m's strings point into msg, which
 * must stay alive until wire_msg_free(m).
 */
int net_decode(nng_msg *msg, struct wire_msg *m, char *err, size_t errlen);

/*
 * Open a REP socket listening on url. Returns 0, or -1 with a one-line
 * reason ("listen tcp://127.0.0.1:7600: Address in use").
 */
int net_listen_rep(const char *url, nng_socket *out, char *err, size_t errlen);

/*
 * Open a REQ socket dialing url in the background (the peer may be down;
 * NNG reconnects). Resends are disabled: callers own their retries.
 */
int net_dial_req(const char *url, nng_socket *out, char *err, size_t errlen);

/* Build a one-message ERROR reply. */
void net_error_buf(struct wire_buf *b, enum wire_error code, const char *text);

#endif
