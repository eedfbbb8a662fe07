#include "peer.h"

#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net.h"

struct peer {
	char *name;
	char *url;
	nng_socket sock;
};

/* One request in flight: send, then receive on the same context. */
struct call {
	struct peer *peer;
	nng_ctx ctx;
	nng_aio *aio;
	bool sent;
	peer_reply_fn cb;
	void *arg;
};

int
peer_open(const char *name, const char *url, struct peer **out, char *err,
          size_t errlen)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->name = strdup(name)) == NULL ||
	    (p->url = strdup(url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (net_dial_req(url, &p->sock, err, errlen) != 0)
		goto fail;
	*out = p;
	return 0;
fail:
	if (p != NULL) {
		free(p->name);
		free(p->url);
	}
	free(p);
	return -1;
}

const char *
peer_name(const struct peer *p)
{
	return p->name;
}

static void
call_finish(struct call *c, int rv, nng_msg *reply)
{
	struct wire_msg m;
	char err[160];

	if (rv == 0 && net_decode(reply, &m, err, sizeof(err)) != 0) {
		xlog_warn("peer %s: bad reply dropped: %s", c->peer->name, err);
		rv = NNG_EPROTO;
	}
	c->cb(c->arg, rv, rv == 0 ? &m : NULL,
	      reply != NULL ? nng_msg_body(reply) : NULL,
	      reply != NULL ? nng_msg_len(reply) : 0);
	if (rv == 0)
		wire_msg_free(&m);
	if (reply != NULL)
		nng_msg_free(reply);
	nng_ctx_close(c->ctx);
	/* We are inside this aio's callback: nng_aio_free would wait for
	 * the callback to return, i.e. forever. */
	nng_aio_reap(c->aio);
	free(c);
}

static void
call_cb(void *arg)
{
	struct call *c = arg;
	int rv = nng_aio_result(c->aio);

	if (!c->sent) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			call_finish(c, rv, NULL);
			return;
		}
		c->sent = true;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	call_finish(c, rv, rv == 0 ? nng_aio_get_msg(c->aio) : NULL);
}

int
peer_call(struct peer *p, const struct wire_buf *req, uint32_t timeout_ms,
          peer_reply_fn cb, void *arg)
{
	struct call *c = calloc(1, sizeof(*c));
	nng_msg *msg = NULL;
	int rv = NNG_ENOMEM;

	if (c == NULL)
		goto fail;
	c->peer = p;
	c->cb = cb;
	c->arg = arg;
	if ((rv = nng_aio_alloc(&c->aio, call_cb, c)) != 0)
		goto fail;
	if ((rv = nng_ctx_open(&c->ctx, p->sock)) != 0) {
		nng_aio_free(c->aio);
		goto fail;
	}
	if ((rv = net_msg_from_buf(req, &msg)) != 0) {
		nng_ctx_close(c->ctx);
		nng_aio_free(c->aio);
		goto fail;
	}
	/* The timeout covers each step; a participant that is down makes
	 * the send wait for a pipe, so it too is bounded. */
	nng_aio_set_timeout(c->aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
	return 0;
fail:
	free(c);
	return rv;
}

void
peer_close(struct peer *p)
{
	if (p != NULL)
		nng_close(p->sock); /* a second close just fails: harmless */
}

void
peer_free(struct peer *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->url);
	free(p);
}
