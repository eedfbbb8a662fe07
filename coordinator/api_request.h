/*
 * api_request: one HTTP/JSON API request (docs/api.md), parsed and
 * checked. Pure: no I/O, so it is fuzzed as it runs (tests/fuzz/).
 *
 *   POST /v1/submit    {"branches": [{"participant": P, "sql": [S...]}...],
 *                       "protocol": "2pc"|"3pc"}
 *   POST /v1/begin     {"protocol": ...}   (the body may be empty)
 *   POST /v1/exec      {"gid": G, "seq": N, "participant": P, "sql": S}
 *   POST /v1/commit    {"gid": G}
 *   POST /v1/rollback  {"gid": G}
 *   GET  /v1/status/G
 */
#ifndef XACT_API_REQUEST_H
#define XACT_API_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "xact.h"

#define API_MAX_BODY       (1u << 20) /* bytes of a request body */
#define API_MAX_BRANCHES   64         /* participants of one submit */
#define API_MAX_STATEMENTS 1024       /* statements of one branch */

enum api_call {
	API_SUBMIT,
	API_BEGIN,
	API_EXEC,
	API_COMMIT,
	API_ROLLBACK,
	API_STATUS,
};

struct api_request {
	enum api_call call;
	char gid[XACT_GID_MAX];       /* exec, commit, rollback, status */
	uint64_t seq;                 /* exec: the statement's number, from 1 */
	const char *participant;      /* exec */
	const char *sql;              /* exec */
	xact_protocol protocol;       /* submit, begin */
	struct xact_branch *branches; /* submit */
	size_t nbranches;
	void *doc; /* the parsed body: owns the strings above */
};

/*
 * Parse method, path (may carry a ?query, ignored) and body. Returns 0,
 * or the HTTP status to answer (400, 404, 405, 413) with a one-line
 * reason in err. On 0 free the request with api_request_free().
 */
int api_request_parse(const char *method, const char *path, const void *body,
                      size_t len, struct api_request *out, char *err,
                      size_t errlen);

void api_request_free(struct api_request *r);

#endif
