/*
 * tls: a process's TLS identity (CA, certificate, key) and the listeners
 * and dialers that use it for tls+tcp:// URLs, with mutual
 * authentication: each side must present a certificate signed by the CA,
 * and a dialer checks the listener's against the host in the URL.
 */
#ifndef XACT_TLS_H
#define XACT_TLS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>

struct tls_identity;

/* Read the three PEM files. Returns 0, or -1 with a one-line reason. */
int tls_identity_load(const char *ca, const char *cert, const char *key,
                      struct tls_identity **out, char *err, size_t errlen);
void tls_identity_free(struct tls_identity *id);

/* True for a tls+tcp:// URL. */
bool tls_url(const char *url);

/*
 * Listen or dial url on s; for a tls+tcp:// URL with id (required then).
 * flags as for nng_dial(). Returns 0 or an NNG error, with a one-line
 * reason in err.
 */
int tls_listen(nng_socket s, const char *url, const struct tls_identity *id,
               char *err, size_t errlen);
int tls_dial(nng_socket s, const char *url, const struct tls_identity *id,
             int flags, char *err, size_t errlen);

/*
 * The daemon's own identity, used by net.c's listeners and dialers: load
 * it from the config's tls.ca, tls.cert and tls.key (all three or none)
 * once at start, before any socket is opened. tls_process_drop() at stop.
 */
int tls_process_use(const char *ca, const char *cert, const char *key,
                    char *err, size_t errlen);
const struct tls_identity *tls_process_identity(void);
void tls_process_drop(void);

#endif
