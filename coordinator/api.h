/*
 * api: the coordinator's HTTP/JSON API (docs/api.md), for applications in
 * any language. A gateway: each request (api_request.h) is checked on an
 * NNG HTTP thread, then run by one of a few worker threads as a libxact
 * call to the coordinator itself over inproc://, so it keeps every rule
 * of the native protocol.
 */
#ifndef XACT_API_H
#define XACT_API_H

#include <stddef.h>

struct api;

/*
 * Serve url ("http://HOST:PORT") with workers threads calling the
 * coordinator at coord_url (each waits at most timeout_ms for an answer).
 * Returns 0, or -1 with a one-line reason in err.
 */
int api_start(const char *url, const char *coord_url, unsigned workers,
              unsigned timeout_ms, struct api **out, char *err, size_t errlen);

/*
 * Stop: new requests get 503, queued ones 503, running ones finish (the
 * coordinator must still answer), then the server closes. NULL is fine.
 */
void api_stop(struct api *a);

#endif
