/*
 * TLS identities and tls+tcp:// listeners and dialers (tls.h), over NNG's
 * TLS (mbedTLS in Debian's libnng).
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/supplemental/tls/tls.h>

#define PEM_MAX (1 << 20)

struct tls_identity {
	char *ca, *cert, *key; /* PEM text */
};

static struct tls_identity *process_identity;

static char *
read_pem(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(PEM_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
	} else if ((n = fread(buf, 1, PEM_MAX + 1, f)) > PEM_MAX || ferror(f)) {
		snprintf(err, errlen, "%s: %s", path,
		         ferror(f) ? strerror(errno) : "larger than 1 MiB");
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
		if (strstr(buf, "-----BEGIN ") == NULL) {
			snprintf(err, errlen, "%s: not a PEM file", path);
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

void
tls_identity_free(struct tls_identity *id)
{
	if (id == NULL)
		return;
	free(id->ca);
	free(id->cert);
	free(id->key);
	free(id);
}

/* A config for one side; NULL with err when the PEM is refused. */
static nng_tls_config *
make_config(const struct tls_identity *id, nng_tls_mode mode,
            const char *server_name, char *err, size_t errlen)
{
	nng_tls_config *cfg;
	const char *what = "mode";
	int rv;

	if ((rv = nng_tls_config_alloc(&cfg, mode)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		return NULL;
	}
	if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
	        0 ||
	    (what = "CA", rv = nng_tls_config_ca_chain(cfg, id->ca, NULL)) !=
	        0 ||
	    (what = "certificate and key",
	     rv = nng_tls_config_own_cert(cfg, id->cert, id->key, NULL)) != 0 ||
	    (what = "server name",
	     server_name != NULL &&
	         (rv = nng_tls_config_server_name(cfg, server_name)) != 0)) {
		snprintf(err, errlen, "TLS %s: %s", what, nng_strerror(rv));
		nng_tls_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int
tls_identity_load(const char *ca, const char *cert, const char *key,
                  struct tls_identity **out, char *err, size_t errlen)
{
	struct tls_identity *id = calloc(1, sizeof(*id));
	nng_tls_config *cfg;

	*out = NULL;
	if (id == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((id->ca = read_pem(ca, err, errlen)) == NULL ||
	    (id->cert = read_pem(cert, err, errlen)) == NULL ||
	    (id->key = read_pem(key, err, errlen)) == NULL ||
	    (cfg = make_config(id, NNG_TLS_MODE_SERVER, NULL, err, errlen)) ==
	        NULL) {
		tls_identity_free(id);
		return -1;
	}
	nng_tls_config_free(cfg); /* it parsed: the files are usable */
	*out = id;
	return 0;
}

bool
tls_url(const char *url)
{
	return strncmp(url, "tls+tcp://", strlen("tls+tcp://")) == 0;
}

static int
no_identity(const char *url, char *err, size_t errlen)
{
	snprintf(err, errlen,
	         "%s: tls+tcp:// needs a TLS identity (tls.ca, tls.cert and "
	         "tls.key)",
	         url);
	return NNG_EINVAL;
}

int
tls_listen(nng_socket s, const char *url, const struct tls_identity *id,
           char *err, size_t errlen)
{
	nng_tls_config *cfg;
	nng_listener l;
	int rv;

	if (!tls_url(url)) {
		if ((rv = nng_listen(s, url, NULL, 0)) != 0)
			snprintf(err, errlen, "listen %s: %s", url,
			         nng_strerror(rv));
		return rv;
	}
	if (id == NULL)
		return no_identity(url, err, errlen);
	if ((cfg = make_config(id, NNG_TLS_MODE_SERVER, NULL, err, errlen)) ==
	    NULL)
		return NNG_EINVAL;
	if ((rv = nng_listener_create(&l, s, url)) != 0 ||
	    (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0)
		snprintf(err, errlen, "listen %s: %s", url, nng_strerror(rv));
	nng_tls_config_free(cfg); /* the listener holds its own */
	return rv;
}

int
tls_dial(nng_socket s, const char *url, const struct tls_identity *id,
         int flags, char *err, size_t errlen)
{
	nng_tls_config *cfg;
	nng_dialer d;
	nng_url *u;
	int rv;

	if (!tls_url(url)) {
		if ((rv = nng_dial(s, url, NULL, flags)) != 0)
			snprintf(err, errlen, "dial %s: %s", url,
			         nng_strerror(rv));
		return rv;
	}
	if (id == NULL)
		return no_identity(url, err, errlen);
	if ((rv = nng_url_parse(&u, url)) != 0) {
		snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
		return rv;
	}
	/* The listener's certificate must name the host dialed. */
	cfg = make_config(id, NNG_TLS_MODE_CLIENT, u->u_hostname, err, errlen);
	nng_url_free(u);
	if (cfg == NULL)
		return NNG_EINVAL;
	if ((rv = nng_dialer_create(&d, s, url)) != 0 ||
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0 ||
	    (rv = nng_dialer_start(d, flags)) != 0)
		snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
	nng_tls_config_free(cfg); /* the dialer holds its own */
	return rv;
}

int
tls_process_use(const char *ca, const char *cert, const char *key, char *err,
                size_t errlen)
{
	if (ca == NULL && cert == NULL && key == NULL)
		return 0;
	if (ca == NULL || cert == NULL || key == NULL) {
		snprintf(err, errlen,
		         "tls: ca, cert and key go together (one is missing)");
		return -1;
	}
	return tls_identity_load(ca, cert, key, &process_identity, err, errlen);
}

void
tls_process_drop(void)
{
	tls_identity_free(process_identity);
	process_identity = NULL;
}

const struct tls_identity *
tls_process_identity(void)
{
	return process_identity;
}
