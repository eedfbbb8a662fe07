#include "net.h"

#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <string.h>

#include "tls.h"

int
net_msg_from_buf(const struct wire_buf *b, nng_msg **out)
{
	int rv;

	if (b->failed)
		return NNG_ENOMEM;
	if ((rv = nng_msg_alloc(out, b->len)) != 0)
		return rv;
	memcpy(nng_msg_body(*out), b->data, b->len);
	return 0;
}

int
net_decode(nng_msg *msg, struct wire_msg *m, char *err, size_t errlen)
{
	return wire_decode(nng_msg_body(msg), nng_msg_len(msg), m, err, errlen);
}

static int
set_common(nng_socket s)
{
	int rv;

	/* Above WIRE_MAX_MSG a frame is refused by NNG before we see it. */
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ,
	                              WIRE_MAX_MSG + 1024)) != 0)
		return rv;
	if ((rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50)) != 0)
		return rv;
	return nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
}

int
net_listen_rep(const char *url, nng_socket *out, char *err, size_t errlen)
{
	int rv;

	if ((rv = nng_rep0_open(out)) != 0) {
		snprintf(err, errlen, "rep socket: %s", nng_strerror(rv));
		return -1;
	}
	if ((rv = set_common(*out)) != 0) {
		snprintf(err, errlen, "listen %s: %s", url, nng_strerror(rv));
		nng_close(*out);
		return -1;
	}
	if (tls_listen(*out, url, tls_process_identity(), err, errlen) != 0) {
		nng_close(*out);
		return -1;
	}
	return 0;
}

int
net_dial_req(const char *url, nng_socket *out, char *err, size_t errlen)
{
	int rv;

	if ((rv = nng_req0_open(out)) != 0) {
		snprintf(err, errlen, "req socket: %s", nng_strerror(rv));
		return -1;
	}
	if ((rv = set_common(*out)) != 0 ||
	    (rv = nng_socket_set_ms(*out, NNG_OPT_REQ_RESENDTIME,
	                            NNG_DURATION_INFINITE)) != 0) {
		snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
		nng_close(*out);
		return -1;
	}
	if (tls_dial(*out, url, tls_process_identity(), NNG_FLAG_NONBLOCK, err,
	             errlen) != 0) {
		nng_close(*out);
		return -1;
	}
	return 0;
}

void
net_error_buf(struct wire_buf *b, enum wire_error code, const char *text)
{
	wire_buf_init(b, WIRE_ERROR);
	wire_put_u32(b, WIRE_T_CODE, (uint32_t)code);
	wire_put_str(b, WIRE_T_TEXT, text);
}
